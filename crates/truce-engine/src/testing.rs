//! Support shared by the engine's tests: a two-party agreement text, and logging one entry the
//! way the server does.

use std::collections::BTreeMap;

use truce_model::agreement::MapResolver;
use truce_model::dsse::Envelope;
use truce_model::keys::PrivateKey;

use crate::{Refusal, State};

/// 2027-01-15T08:00:00Z: the log time of the first entry; each later one is a second later.
pub(crate) const T0: i64 = 1_800_000_000_000;

/// The agreement `test-ceasefire` between UA and RU (keys `ua`, `ru`) entering into force at
/// `at`, with one rule against explosions and shots everywhere.
pub(crate) fn agreement_doc(title: &str, ua: &PrivateKey, ru: &PrivateKey, at: &str) -> String {
    format!(
        r#"id = "test-ceasefire"
title = "{title}"
parties = [
  {{ id = "UA", name = "Ukraine", role = "belligerent", key = "{}" }},
  {{ id = "RU", name = "Russian Federation", role = "belligerent", key = "{}" }},
]
entry_into_force = {{ at = "{at}", consent = ["UA", "RU"] }}

[[rules]]
id = "no-fire"
clause = "Art. 1"
severity = "major"
zone = "*"
events = ["explosion", "shot"]
"#,
        ua.verifier(),
        ru.verifier()
    )
}

/// Signs `payload` as `kind` with `key`, admits it at the next log time (`T0` + one second per
/// entry) and applies it; returns its index. Every admission is also made against the
/// admission-only copy the server's sequencer uses, which must give the same verdict.
pub(crate) fn log(
    state: &mut State,
    key: &PrivateKey,
    kind: &str,
    payload: &serde_json::Value,
) -> Result<u64, Refusal> {
    let env = Envelope::sign(kind, payload.to_string().as_bytes(), &[key]);
    let index = state.size();
    let time = T0 + index as i64 * 1000;
    let resolver = MapResolver(BTreeMap::new());
    let result = state.admit(&env, time, &resolver);
    // The sequencer's copy looks incident names up in the last committed state.
    let shadow = crate::Prepared::new(env.clone()).and_then(|p| {
        state
            .for_admission()
            .admit_prepared_with(&p, time, &resolver, state)
    });
    assert_eq!(format!("{shadow:?}"), format!("{result:?}"));
    state.apply(result?, index, time);
    Ok(index)
}

/// A `tick` entry signed by `operator` for log time `time_ms` (as the server's ticker writes it).
pub(crate) fn tick(operator: &PrivateKey, time_ms: i64) -> Envelope {
    let payload = serde_json::json!({"id": format!("tick-{time_ms}"),
        "time": crate::rfc3339(time_ms)});
    Envelope::sign("tick", payload.to_string().as_bytes(), &[operator])
}
