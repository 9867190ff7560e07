//! The web config's `rate_limit`: one token bucket for every client together, as
//! exporter-toolkit has it (Go's `rate.NewLimiter(rate.Every(interval), burst)`): it
//! starts full with `burst` tokens and gains one every `interval`.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub(crate) struct RateLimiter {
    interval: Duration,
    burst: u32,
    bucket: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    pub(crate) fn new(interval: Duration, burst: u32) -> RateLimiter {
        RateLimiter {
            interval,
            burst,
            bucket: Mutex::new(Bucket {
                tokens: f64::from(burst),
                updated: Instant::now(),
            }),
        }
    }

    pub(crate) fn same_settings(&self, other: &RateLimiter) -> bool {
        (self.interval, self.burst) == (other.interval, other.burst)
    }

    /// Takes a token if there is one.
    pub(crate) fn allow(&self) -> bool {
        self.allow_at(Instant::now())
    }

    fn allow_at(&self, now: Instant) -> bool {
        let mut bucket = self.bucket.lock().unwrap_or_else(PoisonError::into_inner);
        let earned = now.saturating_duration_since(bucket.updated).as_secs_f64()
            / self.interval.as_secs_f64();
        bucket.tokens = (bucket.tokens + earned).min(f64::from(self.burst));
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_per_interval() {
        let limiter = RateLimiter::new(Duration::from_secs(1), 3);
        let start = Instant::now();
        assert!((0..3).all(|_| limiter.allow_at(start)));
        assert!(!limiter.allow_at(start));
        assert!(!limiter.allow_at(start + Duration::from_millis(500)));
        assert!(limiter.allow_at(start + Duration::from_millis(1000)));
        assert!(!limiter.allow_at(start + Duration::from_millis(1000)));
        // A long pause refills to the burst, no more.
        let later = start + Duration::from_secs(60);
        assert!((0..3).all(|_| limiter.allow_at(later)));
        assert!(!limiter.allow_at(later));
    }
}
