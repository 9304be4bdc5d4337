//! The query-string parser of the list endpoints (`truce_server::query`) on outside bytes.
//!
//! Invariants:
//! - no input panics, whatever parameters are allowed and asked for;
//! - a limit that is accepted lies in 1..=MAX_LIMIT;
//! - an accepted bbox has finite coordinates in range with min ≤ max;
//! - an accepted time is what jiff reads from the same value.
#![no_main]

use libfuzzer_sys::fuzz_target;
use truce_server::query::{MAX_LIMIT, Params, parse_bbox};

fuzz_target!(|data: &[u8]| {
    let Ok(query) = std::str::from_utf8(data) else {
        return;
    };
    let allowed = ["from", "to", "bbox", "type", "affiliation", "limit", "cursor"];
    let mut p = Params::parse(Some(query), &allowed, "/v1/fuzz");
    let limit = p.limit();
    assert!((1..=MAX_LIMIT as usize).contains(&limit));
    if let Some(b) = p.bbox() {
        for x in [b.min_lon, b.min_lat, b.max_lon, b.max_lat] {
            assert!(x.is_finite());
        }
        assert!(b.min_lon <= b.max_lon && b.min_lat <= b.max_lat);
        assert!((-180.0..=180.0).contains(&b.min_lon) && (-90.0..=90.0).contains(&b.max_lat));
    }
    let _ = p.time("from");
    let _ = p.time("to");
    let _ = p.many("type", true);
    let _ = p.many("affiliation", false);
    let _ = p.one("cursor");
    if let Err(e) = p.finish() {
        assert!(!e.is_empty());
    }
    if let Ok(b) = parse_bbox(query) {
        assert!(b.min_lon <= b.max_lon && b.min_lat <= b.max_lat);
    }
});
