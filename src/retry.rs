//! Retry policy: which failures are retried, and how long to wait between attempts.
//!
//! Retried: HTTP 5xx, 429 (honouring `Retry-After`, capped at the maximum wait), timeouts,
//! connection resets and refusals, and truncated bodies. Never retried: any other 4xx, decode
//! errors, and — for non-idempotent calls (submit, cancel, delete, metadata updates,
//! create/revoke) — anything except a connection refused before a byte was sent.
//!
//! Waits grow as `min(max, min_wait * 2^(n-1) + U(0, 1) s)`, like the Python SDK's tenacity
//! policy; `attempts` counts total calls, so 4 means one call and up to three retries.
//!
//! [`RetryPolicy::run_until`] is the one retry loop of the crate: API reads, redirect plus
//! storage reads, the 404 window after submit and download attempts all go through it. It
//! carries the deadline of the operation that started them: no wait is slept past it, each
//! attempt's timeouts end at it ([`Deadline::cap`]), and once it has passed the last error is
//! returned.

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::time::{Duration, Instant, SystemTime};

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

/// The moment a timed operation (a wait with a timeout, a download with a timeout) gives up:
/// every read and retry it makes ends by then. `None` means no deadline.
pub(crate) type Deadline = Option<Instant>;

/// Helpers on a [`Deadline`].
pub(crate) trait DeadlineExt {
    /// `timeout`, shortened so it ends at the deadline (at least 1 ms, so a timeout of zero
    /// never means "no timeout" to the HTTP client).
    fn cap(self, timeout: Duration) -> Duration;
    /// Whether the deadline has passed.
    fn passed(self) -> bool;
}

impl DeadlineExt for Deadline {
    fn cap(self, timeout: Duration) -> Duration {
        match self {
            Some(deadline) => timeout
                .min(deadline.saturating_duration_since(Instant::now()))
                .max(Duration::from_millis(1)),
            None => timeout,
        }
    }

    fn passed(self) -> bool {
        self.is_some_and(|d| Instant::now() >= d)
    }
}

/// The deadline `timeout` from now (a timeout beyond what the clock represents saturates).
pub(crate) fn deadline_in(timeout: Duration) -> Deadline {
    Some(crate::time::instant_after(Instant::now(), timeout))
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
    /// The 404 window after a run is created (read-replica lag): 0.5 s, 1 s, 2 s, … (at most
    /// 3 s) plus jitter between calls, for as long as the window lasts.
    pub const NOT_FOUND: RetryPolicy = RetryPolicy {
        attempts: u32::MAX,
        wait_min: Duration::from_millis(500),
        wait_max: Duration::from_secs(3),
    };

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

    /// Runs `call` (given the attempt number, from 1) until it succeeds, fails for good, or the
    /// attempts are used up; the last error is returned unchanged.
    pub fn run<T>(
        &self,
        operation: &str,
        idempotency: Idempotency,
        mut call: impl FnMut(u32) -> Result<T>,
    ) -> Result<T> {
        self.run_until(operation, |e| idempotency.may_retry(e), None, |n| call(*n))
    }

    /// The retry loop: runs `call` (given the attempt number, from 1) until it succeeds, fails
    /// with an error `retryable` rejects, uses up the attempts, or `deadline` passes; the last
    /// error is returned unchanged. Waits between attempts never reach past the deadline. A
    /// call that made progress (a download that grew) may set the attempt number back to 1,
    /// which restarts both the attempt count and the back-off.
    pub fn run_until<T>(
        &self,
        operation: &str,
        retryable: impl Fn(&Error) -> bool,
        deadline: Deadline,
        mut call: impl FnMut(&mut u32) -> Result<T>,
    ) -> Result<T> {
        let mut n = 1;
        loop {
            match call(&mut n) {
                Err(err) if n < self.attempts && retryable(&err) && !deadline.passed() => {
                    let wait = match deadline {
                        Some(d) => self
                            .delay(n, &err)
                            .min(d.saturating_duration_since(Instant::now())),
                        None => self.delay(n, &err),
                    };
                    log::warn!(
                        "retrying {operation} in {:.2}s: attempt {n} of {} ended with: {err}",
                        wait.as_secs_f64(),
                        self.attempts
                    );
                    crate::cancel::sleep(wait)?;
                    n += 1;
                }
                other => return other,
            }
        }
    }
}

impl Idempotency {
    /// Whether `err` may be retried for a call of this kind.
    pub fn may_retry(self, err: &Error) -> bool {
        match self {
            Idempotency::Idempotent => err.is_retryable(),
            Idempotency::NonIdempotent => err.nothing_was_sent(),
        }
    }
}

/// Retries 404 answers for up to `window` (read-replica lag right after a run is created), and
/// never past `deadline`.
pub(crate) fn retry_not_found<T>(
    window: Duration,
    deadline: Deadline,
    mut call: impl FnMut(u32) -> Result<T>,
) -> Result<T> {
    let window_end = deadline_in(window);
    let deadline = match (window_end, deadline) {
        (Some(w), Some(d)) => Some(w.min(d)),
        (w, d) => w.or(d),
    };
    RetryPolicy::NOT_FOUND.run_until("not found yet", Error::is_not_found, deadline, |n| call(*n))
}

/// The longest wait a `Retry-After` header is taken for.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(86_400);

/// The wait a response's `Retry-After` header asks for (RFC 9110 §10.2.3), from now.
pub(crate) fn retry_after(headers: &ureq::http::HeaderMap) -> Option<Duration> {
    let value = headers.get("retry-after")?.to_str().ok()?;
    retry_after_at(value, SystemTime::now())
}

/// A `Retry-After` value as a wait from `now`: delay-seconds, or an HTTP-date (read by
/// `httpdate`: IMF-fixdate and the two obsolete forms) that lies `now` or later. At most a
/// day; a date in the past is no wait; anything else is ignored.
pub(crate) fn retry_after_at(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = match value.parse::<f64>() {
        Ok(secs) if secs.is_finite() && secs >= 0.0 => {
            Duration::from_secs_f64(secs.min(MAX_RETRY_AFTER.as_secs_f64()))
        }
        Ok(_) => return None,
        Err(_) => {
            let at = httpdate::parse_http_date(value).ok()?;
            at.duration_since(now).unwrap_or(Duration::ZERO)
        }
    };
    Some(wait.min(MAX_RETRY_AFTER))
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
        use Idempotency::{Idempotent, NonIdempotent};
        for s in [500, 502, 503, 429] {
            assert!(Idempotent.may_retry(&api(s, None)));
            assert!(!NonIdempotent.may_retry(&api(s, None)));
        }
        for s in [400, 401, 403, 404, 409, 410, 412, 422] {
            assert!(!Idempotent.may_retry(&api(s, None)));
        }
        assert!(Idempotent.may_retry(&reset));
        assert!(!NonIdempotent.may_retry(&reset));
        assert!(NonIdempotent.may_retry(&refused));
        // The loop itself stops after the configured attempts, whatever may be retried.
        let mut calls = 0;
        let err = p
            .run::<()>("op", NonIdempotent, |_| {
                calls += 1;
                Err(Error::Transport {
                    operation: "x".into(),
                    kind: TransportKind::ConnectionRefused,
                    message: String::new(),
                })
            })
            .unwrap_err();
        assert!(matches!(err, Error::Transport { .. }));
        assert_eq!(calls, 3);
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

    // Proves the loop stops at the deadline: no wait is slept past it and the last error comes back. (FR-48)
    #[test]
    fn run_until_stops_at_the_deadline() {
        let p = RetryPolicy {
            attempts: u32::MAX,
            wait_min: Duration::from_secs(60),
            wait_max: Duration::from_secs(60),
        };
        let started = Instant::now();
        let mut calls = 0;
        let err = p
            .run_until::<()>(
                "op",
                Error::is_retryable,
                deadline_in(Duration::from_millis(200)),
                |_| {
                    calls += 1;
                    Err(api(503, None))
                },
            )
            .unwrap_err();
        assert_eq!(err.status(), Some(503));
        assert!((1..=3).contains(&calls), "{calls}");
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{:?}",
            started.elapsed()
        );
        assert!(!deadline_in(Duration::MAX).passed());
        assert_eq!(None.cap(Duration::from_secs(5)), Duration::from_secs(5));
        assert_eq!(
            Some(Instant::now()).cap(Duration::from_secs(5)),
            Duration::from_millis(1)
        );
    }
}
