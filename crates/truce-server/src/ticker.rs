//! Ticks: time passing, as entries.
//!
//! Deadlines (milestones, commitments) fall due at log times, and log time only moves when an
//! entry is logged. So that a deadline passes even when nobody submits anything, the server
//! logs a `tick` — signed by the operator key, like any other entry — whenever `tick_seconds`
//! have gone by without an entry. Ticks go through the sequencer like everything else: replay
//! sees them as ordinary entries and derives the same state.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use truce_model::dsse::Envelope;
use truce_model::keys::PrivateKey;

use truce_engine::Prepared;

use crate::blobs::BlobResolver;
use crate::intake::Submission;
use crate::shared::SharedState;

/// The tick payload for log time `now_ms`.
pub fn tick_envelope(operator: &PrivateKey, now_ms: i64) -> Envelope {
    let time = jiff::Timestamp::from_millisecond(now_ms)
        .map(|t| t.to_string())
        .unwrap_or_default();
    let payload = serde_json::json!({"id": format!("tick-{now_ms}"), "time": time});
    Envelope::sign("tick", payload.to_string().as_bytes(), &[operator])
}

/// Runs until the sequencer goes away or the state is lost: every `every`, logs a tick if
/// nothing was logged for that long.
pub async fn run(
    operator: Arc<PrivateKey>,
    state: SharedState,
    submit: mpsc::Sender<Submission>,
    every: Duration,
) {
    let mut interval = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        interval.tick().await;
        let now = jiff::Timestamp::now().as_millisecond();
        let Ok(last) = state.read().map(|s| s.last_time_ms()) else {
            return;
        };
        if now.saturating_sub(last) < every.as_millis() as i64 {
            continue;
        }
        let (reply, rx) = oneshot::channel();
        let envelope = tick_envelope(&operator, now);
        let canonical = envelope.canonical_json();
        let Ok(prepared) = Prepared::new(envelope) else {
            return;
        };
        let sub = Submission {
            prepared,
            canonical,
            resolver: BlobResolver::default(),
            reply,
        };
        if submit.send(sub).await.is_err() {
            return;
        }
        match rx.await {
            Ok(Ok(r)) => tracing::debug!(index = r.index, "tick logged"),
            Ok(Err(e)) => tracing::warn!(detail = %e, "tick refused"),
            Err(_) => return,
        }
    }
}
