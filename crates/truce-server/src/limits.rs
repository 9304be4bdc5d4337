//! Bounds on what one client can make the server do.
//!
//! - Per-key rate: every accredited key may log `entries_per_second` entries on average, with
//!   bursts up to `burst`; beyond, `429 Too Many Requests` with `Retry-After`. The log's own
//!   operator key (set at `truce init`) is exempt: it is the mission's bulk channel.
//! - Request bodies, entries, pages and in-flight requests are bounded elsewhere (413, limit
//!   ≤ 1000, a global concurrency limit).
//!
//! The limiter forgets idle keys, so its memory is bounded by the number of keys active within
//! a few seconds, capped at [`MAX_TRACKED_KEYS`].

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

/// Most keys tracked at once; beyond, the fullest buckets are forgotten first.
pub const MAX_TRACKED_KEYS: usize = 100_000;

/// The `[limits]` table of `truce.toml`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Sustained entries per second per key.
    #[serde(default = "default_rate")]
    pub entries_per_second: u32,
    /// Largest burst per key.
    #[serde(default = "default_burst")]
    pub burst: u32,
    /// Requests handled at once; more wait.
    #[serde(default = "default_concurrency")]
    pub concurrent_requests: usize,
}

fn default_rate() -> u32 {
    200
}
fn default_burst() -> u32 {
    2_000
}
fn default_concurrency() -> usize {
    1_024
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            entries_per_second: default_rate(),
            burst: default_burst(),
            concurrent_requests: default_concurrency(),
        }
    }
}

/// A token bucket per key.
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<String, (f64, Instant)>>,
}

impl RateLimiter {
    /// A limiter for `limits`.
    pub fn new(limits: &Limits) -> RateLimiter {
        RateLimiter {
            rate: f64::from(limits.entries_per_second.max(1)),
            burst: f64::from(limits.burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token for `key` at `now`; `Err(wait)` when the bucket is empty.
    pub fn take(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let Ok(mut buckets) = self.buckets.lock() else {
            return Ok(());
        };
        if buckets.len() >= MAX_TRACKED_KEYS && !buckets.contains_key(key) {
            // Forget keys whose buckets have refilled: they are idle.
            let (rate, burst) = (self.rate, self.burst);
            buckets.retain(|_, (tokens, at)| {
                *tokens + now.saturating_duration_since(*at).as_secs_f64() * rate < burst
            });
            if buckets.len() >= MAX_TRACKED_KEYS {
                return Err(Duration::from_secs(1));
            }
        }
        let (tokens, at) = buckets.entry(key.to_string()).or_insert((self.burst, now));
        *tokens = (*tokens + now.saturating_duration_since(*at).as_secs_f64() * self.rate)
            .min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - *tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bursts_then_refills_at_the_rate() {
        let l = RateLimiter::new(&Limits {
            entries_per_second: 10,
            burst: 5,
            concurrent_requests: 1,
        });
        let t0 = Instant::now();
        for _ in 0..5 {
            assert!(l.take("a", t0).is_ok());
        }
        let wait = l.take("a", t0).unwrap_err();
        assert!(
            wait <= Duration::from_millis(100) && wait > Duration::ZERO,
            "{wait:?}"
        );
        // Another key has its own bucket.
        assert!(l.take("b", t0).is_ok());
        // 100 ms later, one more token.
        let t1 = t0 + Duration::from_millis(100);
        assert!(l.take("a", t1).is_ok());
        assert!(l.take("a", t1).is_err());
        // Never more than the burst, however long the key was idle.
        let t2 = t0 + Duration::from_secs(3600);
        for _ in 0..5 {
            assert!(l.take("a", t2).is_ok());
        }
        assert!(l.take("a", t2).is_err());
    }
}
