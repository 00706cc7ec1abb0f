//! How often and how patiently one provider call is repeated after a transient error.
//!
//! Exponential backoff with *full jitter* (a uniform delay in `[0, base * 2^n]`): many
//! jobs failing at the same moment (a provider hiccup) then spread their retries instead
//! of hitting the provider again in lockstep. A call is tried at most three times; the
//! queue, not the client, decides whether a job gets another chance after that.

use std::time::Duration;

use rand::Rng;

/// The most attempts one call ever gets, whatever the configuration says.
pub const MAX_ATTEMPTS: u32 = 3;

/// Retry settings of one client. The base delay is configurable so tests run fast.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per call including the first, clamped to `1..=MAX_ATTEMPTS`.
    pub max_attempts: u32,
    /// The ceiling of the first retry's delay; doubles for each further retry.
    pub base_delay: Duration,
    /// No single delay exceeds this.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        Self {
            max_attempts: MAX_ATTEMPTS,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(10),
        }
    }
}

impl RetryPolicy {
    /// A policy that never waits (tests).
    pub fn immediate() -> Self {
        Self { base_delay: Duration::ZERO, max_delay: Duration::ZERO, ..Self::default() }
    }

    /// How many attempts a call gets.
    pub fn attempts(&self) -> u32 {
        self.max_attempts.clamp(1, MAX_ATTEMPTS)
    }

    /// The upper bound of the delay before retry number `retry` (1 = the second attempt).
    pub fn ceiling(&self, retry: u32) -> Duration {
        let factor = 2u32.saturating_pow(retry.saturating_sub(1).min(16));
        self.base_delay.saturating_mul(factor).min(self.max_delay)
    }

    /// The delay before retry number `retry`: uniform in `[0, ceiling(retry)]`.
    pub fn delay(&self, retry: u32) -> Duration {
        let ceiling = self.ceiling(retry);
        if ceiling.is_zero() {
            return Duration::ZERO;
        }
        let nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rand::rng().random_range(0..=nanos))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_more_than_three_attempts() {
        let p = RetryPolicy { max_attempts: 10, ..RetryPolicy::default() };
        assert_eq!(p.attempts(), 3);
        let p = RetryPolicy { max_attempts: 0, ..RetryPolicy::default() };
        assert_eq!(p.attempts(), 1);
        assert_eq!(RetryPolicy::default().attempts(), 3);
    }

    #[test]
    fn ceilings_double_and_cap() {
        let p = RetryPolicy {
            max_attempts: 3,
            base_delay: Duration::from_millis(500),
            max_delay: Duration::from_secs(3),
        };
        assert_eq!(p.ceiling(1), Duration::from_millis(500));
        assert_eq!(p.ceiling(2), Duration::from_millis(1000));
        assert_eq!(p.ceiling(3), Duration::from_millis(2000));
        assert_eq!(p.ceiling(4), Duration::from_secs(3));
        assert_eq!(p.ceiling(1000), Duration::from_secs(3));
    }

    #[test]
    fn jittered_delays_stay_within_bounds_and_vary() {
        let p = RetryPolicy::default();
        let mut seen = std::collections::HashSet::new();
        for retry in 1..=3 {
            for _ in 0..200 {
                let d = p.delay(retry);
                assert!(d <= p.ceiling(retry), "{d:?} > {:?}", p.ceiling(retry));
                seen.insert(d);
            }
        }
        assert!(seen.len() > 10, "full jitter should spread delays");
        assert_eq!(RetryPolicy::immediate().delay(3), Duration::ZERO);
    }
}
