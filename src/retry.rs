//! Retry policy: which failures are retried, and how long to wait between attempts.
//!
//! Retried: HTTP 5xx, 429 (honouring `Retry-After`, capped at the maximum wait), timeouts,
//! connection resets and refusals, and truncated bodies. Never retried: any other 4xx, decode
//! errors, and — for non-idempotent calls (submit, cancel, delete, metadata updates,
//! create/revoke) — anything except a connection refused before a byte was sent.
//!
//! Waits grow as `min(max, min_wait * 2^(n-1) + U(0, 1) s)`, like the Python SDK's tenacity
//! policy; `attempts` counts total calls, so 4 means one call and up to three retries.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::settings::OperationSettings;

/// How often and how patiently to retry one operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RetryPolicy {
    pub attempts: u32,
    pub wait_min: Duration,
    pub wait_max: Duration,
}

impl From<&OperationSettings> for RetryPolicy {
    fn from(s: &OperationSettings) -> Self {
        Self {
            attempts: s.retry_attempts.max(1),
            wait_min: s.retry_wait_min,
            wait_max: s.retry_wait_max,
        }
    }
}

/// Whether a request may be repeated without changing its effect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Idempotency {
    /// Reads: any retryable failure is retried.
    Idempotent,
    /// Writes: retried only when nothing reached the server.
    NonIdempotent,
}

impl RetryPolicy {
    /// A policy that makes exactly one call.
    #[cfg(test)]
    pub const ONCE: RetryPolicy = RetryPolicy {
        attempts: 1,
        wait_min: Duration::ZERO,
        wait_max: Duration::ZERO,
    };

    /// The wait after failed attempt `n` (1-based) that ended with `err`.
    pub fn delay(&self, n: u32, err: &Error) -> Duration {
        if let Some(after) = err.api_error().and_then(|e| e.retry_after) {
            return after.min(self.wait_max);
        }
        let exp = self
            .wait_min
            .saturating_mul(2u32.saturating_pow(n.saturating_sub(1)));
        exp.saturating_add(jitter()).min(self.wait_max)
    }

    /// Whether `err` after attempt `n` should be retried.
    pub fn should_retry(&self, n: u32, err: &Error, idempotency: Idempotency) -> bool {
        if n >= self.attempts {
            return false;
        }
        match idempotency {
            Idempotency::Idempotent => err.is_retryable(),
            Idempotency::NonIdempotent => err.nothing_was_sent(),
        }
    }

    /// Runs `call` (given the attempt number, from 1) until it succeeds, fails for good, or the
    /// attempts are used up; the last error is returned unchanged.
    pub fn run<T>(
        &self,
        operation: &str,
        idempotency: Idempotency,
        mut call: impl FnMut(u32) -> Result<T>,
    ) -> Result<T> {
        let mut n = 1;
        loop {
            match call(n) {
                Ok(v) => return Ok(v),
                Err(err) if self.should_retry(n, &err, idempotency) => {
                    let wait = self.delay(n, &err);
                    log::warn!(
                        "retrying {operation} in {:.2}s: attempt {n} of {} ended with: {err}",
                        wait.as_secs_f64(),
                        self.attempts
                    );
                    crate::cancel::sleep(wait)?;
                    n += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }
}

/// Retries 404 answers for up to `window` (read-replica lag right after a run is created),
/// waiting 0.5 s, 1 s, 2 s, … (at most 3 s) plus jitter between calls.
pub(crate) fn retry_not_found<T>(
    window: Duration,
    mut call: impl FnMut() -> Result<T>,
) -> Result<T> {
    let policy = RetryPolicy {
        attempts: u32::MAX,
        wait_min: Duration::from_millis(500),
        wait_max: Duration::from_secs(3),
    };
    let deadline = crate::time::instant_after(std::time::Instant::now(), window);
    let mut n = 1;
    loop {
        match call() {
            Err(err) if err.is_not_found() => {
                let now = std::time::Instant::now();
                if now >= deadline {
                    return Err(err);
                }
                let wait = policy.delay(n, &err).min(deadline - now);
                log::debug!(
                    "not found yet, retrying in {:.2}s: {err}",
                    wait.as_secs_f64()
                );
                crate::cancel::sleep(wait)?;
                n += 1;
            }
            other => return other,
        }
    }
}

thread_local! {
    static RNG: Cell<u64> = Cell::new({
        let mut h = RandomState::new().build_hasher();
        h.write_u64(0x9e37_79b9_7f4a_7c15);
        h.finish() | 1
    });
}

/// A uniform random duration in `[0, 1)` seconds (xorshift; jitter needs no crypto).
fn jitter() -> Duration {
    RNG.with(|state| {
        let mut x = state.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        Duration::from_nanos(x % 1_000_000_000)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::{ApiError, TransportKind};

    fn api(status: u16, retry_after: Option<u64>) -> Error {
        ApiError {
            status,
            operation: "op".into(),
            detail: None,
            validation: vec![],
            retry_after: retry_after.map(Duration::from_secs),
        }
        .into()
    }

    // Proves the backoff formula: min(max, min*2^(n-1) + U(0,1)) and the Retry-After cap. (FR-15)
    #[test]
    fn delays_follow_exponential_jitter() {
        let p = RetryPolicy {
            attempts: 4,
            wait_min: Duration::from_millis(100),
            wait_max: Duration::from_secs(60),
        };
        for n in 1..=3 {
            let base = Duration::from_millis(100 * (1 << (n - 1)));
            let d = p.delay(n, &api(503, None));
            assert!(d >= base && d < base + Duration::from_secs(1), "{n}: {d:?}");
        }
        let capped = RetryPolicy {
            wait_max: Duration::from_millis(300),
            ..p
        };
        assert!(capped.delay(10, &api(503, None)) <= Duration::from_millis(300));
        assert_eq!(p.delay(1, &api(429, Some(2))), Duration::from_secs(2));
        assert_eq!(
            capped.delay(1, &api(429, Some(2))),
            Duration::from_millis(300)
        );
    }

    // Proves which errors are retried for reads and for writes. (FR-15)
    #[test]
    fn classification() {
        let p = RetryPolicy {
            attempts: 3,
            ..RetryPolicy::ONCE
        };
        let refused = Error::Transport {
            operation: "x".into(),
            kind: TransportKind::ConnectionRefused,
            message: String::new(),
        };
        let reset = Error::Transport {
            operation: "x".into(),
            kind: TransportKind::ConnectionReset,
            message: String::new(),
        };
        for s in [500, 502, 503, 429] {
            assert!(p.should_retry(1, &api(s, None), Idempotency::Idempotent));
            assert!(!p.should_retry(1, &api(s, None), Idempotency::NonIdempotent));
        }
        for s in [400, 401, 403, 404, 409, 410, 412, 422] {
            assert!(!p.should_retry(1, &api(s, None), Idempotency::Idempotent));
        }
        assert!(p.should_retry(1, &reset, Idempotency::Idempotent));
        assert!(!p.should_retry(1, &reset, Idempotency::NonIdempotent));
        assert!(p.should_retry(2, &refused, Idempotency::NonIdempotent));
        assert!(!p.should_retry(3, &refused, Idempotency::NonIdempotent));
    }

    // Proves attempts counts total calls and the last error comes back unchanged. (FR-15)
    #[test]
    fn run_counts_total_calls() {
        let p = RetryPolicy {
            attempts: 4,
            ..RetryPolicy::ONCE
        };
        let mut calls = 0;
        let err = p
            .run::<()>("op", Idempotency::Idempotent, |_| {
                calls += 1;
                Err(api(503, None))
            })
            .unwrap_err();
        assert_eq!(calls, 4);
        assert_eq!(err.status(), Some(503));
    }
}
