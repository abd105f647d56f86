//! Per-client rate limit on run submissions: one token bucket per peer IP (refilled at
//! `rate` per second up to `burst`). Over the limit the caller learns how long to wait
//! (429 with `Retry-After`). Buckets of clients that went quiet are dropped so the map
//! cannot grow without bound. Knows nothing of HTTP beyond an IP address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Most clients tracked before idle buckets are swept.
const SWEEP_AT: usize = 10_000;

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    last: Instant,
}

/// Token buckets keyed by client IP.
#[derive(Debug)]
pub struct RateLimiter {
    rate: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

impl RateLimiter {
    /// `rate` submissions per second on average, bursts of up to `burst` (at least 1).
    /// None when `rate` is 0 (no limit) or not a positive number.
    pub fn new(rate: f64, burst: u32) -> Option<Self> {
        (rate.is_finite() && rate > 0.0).then(|| Self {
            rate,
            burst: f64::from(burst.max(1)),
            buckets: Mutex::new(HashMap::new()),
        })
    }

    /// Takes one token for `client` at `now`; Err(how long until one is available).
    pub fn try_acquire(&self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut buckets = self.buckets.lock().unwrap_or_else(|p| p.into_inner());
        if buckets.len() >= SWEEP_AT {
            // A bucket that has refilled completely carries no information.
            let full_after = Duration::from_secs_f64(self.burst / self.rate);
            buckets.retain(|_, b| now.saturating_duration_since(b.last) < full_after);
        }
        let bucket = buckets.entry(client).or_insert(Bucket {
            tokens: self.burst,
            last: now,
        });
        let elapsed = now.saturating_duration_since(bucket.last).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.rate).min(self.burst);
        bucket.last = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_secs_f64((1.0 - bucket.tokens) / self.rate))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_allowed_then_the_rate_applies_per_client() {
        let limiter = RateLimiter::new(2.0, 3).expect("limited");
        let (a, b): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(limiter.try_acquire(a, t0).is_ok());
        }
        let wait = limiter.try_acquire(a, t0).expect_err("burst used up");
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_millis(500),
            "{wait:?}"
        );
        assert!(
            limiter.try_acquire(b, t0).is_ok(),
            "other clients are not affected"
        );
        assert!(
            limiter
                .try_acquire(a, t0 + Duration::from_millis(500))
                .is_ok()
        );
        assert!(
            limiter
                .try_acquire(a, t0 + Duration::from_millis(500))
                .is_err()
        );
    }

    #[test]
    fn zero_means_no_limit() {
        assert!(RateLimiter::new(0.0, 10).is_none());
        assert!(RateLimiter::new(f64::NAN, 10).is_none());
    }
}
