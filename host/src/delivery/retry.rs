//! The retry policy for `PutEvents`: which failures are worth another attempt, how long
//! to wait before it, and which entries to re-send.
//!
//! EventBridge fails entries one by one inside an HTTP 200 (`FailedEntryCount`), and the
//! AWS SDK retries whole calls only, so logbridge owns the retry: up to
//! [`RetryPolicy::max_retries`] more attempts after the first, each re-sending only the
//! entries that failed with a retryable code, after an exponential backoff with full
//! jitter. The SDK's own retries are switched off so "up to 3 retries" holds end to end.

use std::time::Duration;

/// Per-entry and whole-request error codes worth retrying: throttling, internal errors,
/// timeouts and connection failures. Everything else is permanent.
pub const RETRYABLE_CODES: &[&str] = &[
    "ThrottlingException",
    "InternalFailure",
    "InternalException",
    "ServiceUnavailableException",
    "ServiceUnavailable",
    "Timeout",
    "ConnectionError",
];

/// Whether a failure with `code` (and, for whole-request failures, HTTP `status`) is
/// worth retrying. Any 5xx is; a 413 (request too large) or other 4xx is not, unless its
/// code is a throttling one.
pub(super) fn is_retryable(code: &str, status: Option<u16>) -> bool {
    RETRYABLE_CODES.contains(&code) || status.is_some_and(|s| (500..600).contains(&s))
}

/// What to do after an attempt, from the per-entry answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RetryAction {
    /// Every entry was delivered.
    Successful,
    /// Some entries failed with retryable codes: re-send those (each entry's own answer
    /// says which). Others may have failed for good.
    RetryPartial,
    /// Every entry failed with a retryable code: re-send them all.
    Retry,
    /// The failures are permanent, or the attempts are used up.
    DontRetry,
}

/// How often and how patiently to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts after the first; default 3.
    pub max_retries: u32,
    /// The first backoff's ceiling; it doubles each retry. Default 100 ms.
    pub base: Duration,
    /// The most any backoff may be. Default 5 s.
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_retries: 3,
            base: Duration::from_millis(100),
            cap: Duration::from_secs(5),
        }
    }
}

impl RetryPolicy {
    /// Decides what follows attempt number `attempt` (0 is the first) given, for each
    /// entry, `None` when delivered or `Some(retryable)` when it failed.
    pub fn action(&self, attempt: u32, failures: &[Option<bool>]) -> RetryAction {
        let retryable = failures.iter().filter(|f| **f == Some(true)).count();
        if failures.iter().all(Option::is_none) {
            RetryAction::Successful
        } else if retryable == 0 || attempt >= self.max_retries {
            RetryAction::DontRetry
        } else if retryable == failures.len() {
            RetryAction::Retry
        } else {
            RetryAction::RetryPartial
        }
    }

    /// The backoffs between attempts, with jitter drawn from `rng`.
    pub fn backoff(&self, rng: SplitMix64) -> Backoff {
        Backoff {
            base: self.base,
            cap: self.cap,
            retry: 0,
            rng,
        }
    }
}

/// Exponential backoff with full jitter: before retry `n` (from 0) it waits a uniformly
/// random time between zero and `min(cap, base × 2ⁿ)`. Never ends; the policy decides how
/// many retries there are.
#[derive(Debug, Clone)]
pub struct Backoff {
    base: Duration,
    cap: Duration,
    retry: u32,
    rng: SplitMix64,
}

impl Iterator for Backoff {
    type Item = Duration;

    fn next(&mut self) -> Option<Duration> {
        let ceiling = self
            .base
            .saturating_mul(1u32.checked_shl(self.retry).unwrap_or(u32::MAX))
            .min(self.cap);
        self.retry = self.retry.saturating_add(1);
        Some(ceiling.mul_f64(self.rng.next_unit()))
    }
}

/// A small, fast pseudo-random generator (SplitMix64) for jitter: seeded explicitly in
/// tests so backoffs are deterministic, from the clock otherwise.
#[derive(Debug, Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator with a fixed seed.
    pub fn seeded(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// A generator seeded from the clock and a per-process counter.
    pub fn from_entropy() -> Self {
        use std::sync::atomic::{AtomicU64, Ordering};
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        SplitMix64(nanos ^ COUNTER.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed))
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A uniform number in `[0, 1)`.
    pub fn next_unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification_follows_eventbridge() {
        for code in [
            "ThrottlingException",
            "InternalFailure",
            "InternalException",
            "Timeout",
        ] {
            assert!(is_retryable(code, None), "{code}");
        }
        for code in [
            "ValidationException",
            "AccessDeniedException",
            "MalformedDetail",
            "InvalidArgument",
            "ResourceNotFoundException",
        ] {
            assert!(!is_retryable(code, Some(400)), "{code}");
        }
        assert!(is_retryable("Whatever", Some(503)));
        assert!(!is_retryable("RequestEntityTooLarge", Some(413)));
    }

    #[test]
    fn actions() {
        let policy = RetryPolicy::default();
        assert_eq!(policy.action(0, &[None, None]), RetryAction::Successful);
        assert_eq!(
            policy.action(0, &[Some(true), Some(true)]),
            RetryAction::Retry
        );
        assert_eq!(
            policy.action(0, &[None, Some(true), Some(false), Some(true)]),
            RetryAction::RetryPartial
        );
        assert_eq!(
            policy.action(0, &[Some(false), None]),
            RetryAction::DontRetry
        );
        assert_eq!(
            policy.action(3, &[Some(true)]),
            RetryAction::DontRetry,
            "attempts used up"
        );
        assert_eq!(policy.action(2, &[Some(true)]), RetryAction::Retry);
    }

    #[test]
    fn backoff_has_full_jitter_under_an_exponential_capped_ceiling() {
        let policy = RetryPolicy {
            max_retries: 3,
            base: Duration::from_millis(100),
            cap: Duration::from_millis(350),
        };
        let ceilings = [100, 200, 350, 350, 350];
        let mut seen_low = false;
        for seed in 0..200 {
            for (delay, ceiling) in policy.backoff(SplitMix64::seeded(seed)).zip(ceilings) {
                assert!(
                    delay < Duration::from_millis(ceiling),
                    "{delay:?} ≥ {ceiling} ms"
                );
                seen_low |= delay < Duration::from_millis(ceiling / 4);
            }
        }
        assert!(seen_low, "jitter reaches down towards zero");
    }

    #[test]
    fn backoff_is_deterministic_for_a_seed() {
        let policy = RetryPolicy::default();
        let a: Vec<_> = policy.backoff(SplitMix64::seeded(7)).take(4).collect();
        let b: Vec<_> = policy.backoff(SplitMix64::seeded(7)).take(4).collect();
        assert_eq!(a, b);
        let c: Vec<_> = policy.backoff(SplitMix64::seeded(8)).take(4).collect();
        assert_ne!(a, c);
    }
}
