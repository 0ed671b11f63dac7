//! Fault injection: a queue of misbehaviours for the next matching requests.

use std::time::Duration;

/// A misbehaviour for the next request(s) whose path starts with a prefix; see
/// [`Sandbox::inject`](super::Sandbox::inject).
///
/// The prefix is compared with the path as sent (still percent-encoded, without the query),
/// e.g. `/api/v1/me`, `/api/v1/runs/`, `/storage/` or `/oauth/token`. A fault applies to the
/// next `times` matching requests (default 1), then disappears. When several queued faults
/// match, the oldest applies. Faulted requests are still counted by
/// [`Sandbox::request_count`](super::Sandbox::request_count).
///
/// ```
/// use std::time::Duration;
/// use aignostics_sandbox::Fault;
///
/// let busy = Fault::status("/api/v1/runs", 503).retry_after(0).times(2).method("GET");
/// let cut = Fault::truncate_body("/storage/", 1024);
/// let gone = Fault::drop_connection("/api/v1/me");
/// let slow = Fault::delay("/api/v1/applications", Duration::from_millis(200));
/// assert_eq!(busy.remaining(), 2);
/// # let _ = (cut, gone, slow);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Fault {
    path_prefix: String,
    method: Option<String>,
    times: usize,
    action: FaultAction,
}

/// What a [`Fault`] does to a request.
///
/// ```
/// use aignostics_sandbox::{Fault, FaultAction};
/// let fault = Fault::status("/api/v1/me", 503).retry_after(2);
/// assert_eq!(fault.action(), &FaultAction::Status { status: 503, retry_after: Some(2) });
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FaultAction {
    /// Answer with this status and a FastAPI body `{"detail": "..."}` instead of the real
    /// answer, with a `Retry-After` header (whole seconds) when set.
    Status {
        /// The HTTP status, e.g. 503.
        status: u16,
        /// Seconds for `Retry-After`.
        retry_after: Option<u64>,
    },
    /// Close the connection without answering.
    DropConnection,
    /// Send the real status and headers, announcing the full `Content-Length`, then only the
    /// first `after_bytes` bytes of the body, and close the connection.
    TruncateBody {
        /// Body bytes sent before the connection closes.
        after_bytes: usize,
    },
    /// Wait this long, then answer normally.
    Delay(Duration),
    /// Handle the request for real (a `POST /api/v1/runs` creates the run), then answer this
    /// status instead of the real answer: the client cannot know the request took effect.
    StatusAfterCommit {
        /// The HTTP status, e.g. 503.
        status: u16,
    },
    /// Handle the request for real, then close the connection without answering.
    DropAfterCommit,
}

impl Fault {
    fn new(path_prefix: impl Into<String>, action: FaultAction) -> Self {
        Self {
            path_prefix: path_prefix.into(),
            method: None,
            times: 1,
            action,
        }
    }

    /// Answer `status` (e.g. 503, 429, 500) instead of the real answer.
    ///
    /// ```
    /// let fault = aignostics_sandbox::Fault::status("/api/v1/runs", 500);
    /// assert_eq!(fault.remaining(), 1);
    /// ```
    #[must_use]
    pub fn status(path_prefix: impl Into<String>, status: u16) -> Self {
        Self::new(
            path_prefix,
            FaultAction::Status {
                status,
                retry_after: None,
            },
        )
    }

    /// Close the connection without answering.
    ///
    /// ```
    /// use aignostics_sandbox::{Fault, FaultAction};
    /// let fault = Fault::drop_connection("/storage/");
    /// assert_eq!(fault.action(), &FaultAction::DropConnection);
    /// ```
    #[must_use]
    pub fn drop_connection(path_prefix: impl Into<String>) -> Self {
        Self::new(path_prefix, FaultAction::DropConnection)
    }

    /// Cut the body after `after_bytes` bytes (the headers announce the full length).
    ///
    /// ```
    /// use aignostics_sandbox::{Fault, FaultAction};
    /// let fault = Fault::truncate_body("/storage/", 4096);
    /// assert_eq!(fault.action(), &FaultAction::TruncateBody { after_bytes: 4096 });
    /// ```
    #[must_use]
    pub fn truncate_body(path_prefix: impl Into<String>, after_bytes: usize) -> Self {
        Self::new(path_prefix, FaultAction::TruncateBody { after_bytes })
    }

    /// Wait `delay` before answering normally.
    ///
    /// ```
    /// use std::time::Duration;
    /// use aignostics_sandbox::{Fault, FaultAction};
    /// let fault = Fault::delay("/api/v1/me", Duration::from_secs(1));
    /// assert_eq!(fault.action(), &FaultAction::Delay(Duration::from_secs(1)));
    /// ```
    #[must_use]
    pub fn delay(path_prefix: impl Into<String>, delay: Duration) -> Self {
        Self::new(path_prefix, FaultAction::Delay(delay))
    }

    /// Handle the request (its effects happen), then answer `status` instead: the lost answer
    /// of a write that did succeed.
    ///
    /// ```
    /// use aignostics_sandbox::{Fault, FaultAction};
    /// let fault = Fault::status_after_commit("/api/v1/runs", 503).method("POST");
    /// assert_eq!(fault.action(), &FaultAction::StatusAfterCommit { status: 503 });
    /// ```
    #[must_use]
    pub fn status_after_commit(path_prefix: impl Into<String>, status: u16) -> Self {
        Self::new(path_prefix, FaultAction::StatusAfterCommit { status })
    }

    /// Handle the request (its effects happen), then close the connection without answering.
    ///
    /// ```
    /// use aignostics_sandbox::{Fault, FaultAction};
    /// let fault = Fault::drop_after_commit("/api/v1/runs").method("POST");
    /// assert_eq!(fault.action(), &FaultAction::DropAfterCommit);
    /// ```
    #[must_use]
    pub fn drop_after_commit(path_prefix: impl Into<String>) -> Self {
        Self::new(path_prefix, FaultAction::DropAfterCommit)
    }

    /// Adds `Retry-After: seconds` to a [`status`](Self::status) fault (ignored by others).
    ///
    /// ```
    /// use aignostics_sandbox::{Fault, FaultAction};
    /// let fault = Fault::status("/api/v1/me", 429).retry_after(3);
    /// assert!(matches!(fault.action(), FaultAction::Status { retry_after: Some(3), .. }));
    /// ```
    #[must_use]
    pub fn retry_after(mut self, seconds: u64) -> Self {
        if let FaultAction::Status { retry_after, .. } = &mut self.action {
            *retry_after = Some(seconds);
        }
        self
    }

    /// Applies to the next `times` matching requests instead of one.
    ///
    /// ```
    /// let fault = aignostics_sandbox::Fault::status("/api/v1/me", 503).times(3);
    /// assert_eq!(fault.remaining(), 3);
    /// ```
    #[must_use]
    pub fn times(mut self, times: usize) -> Self {
        self.times = times;
        self
    }

    /// Only matches requests with this method (e.g. `GET`; case-insensitive).
    ///
    /// ```
    /// // Only submissions fail; reads of /api/v1/runs pass.
    /// let fault = aignostics_sandbox::Fault::status("/api/v1/runs", 503).method("post");
    /// # let _ = fault;
    /// ```
    #[must_use]
    pub fn method(mut self, method: &str) -> Self {
        self.method = Some(method.to_ascii_uppercase());
        self
    }

    /// The path prefix this fault matches.
    ///
    /// ```
    /// let fault = aignostics_sandbox::Fault::drop_connection("/storage/");
    /// assert_eq!(fault.path_prefix(), "/storage/");
    /// ```
    #[must_use]
    pub fn path_prefix(&self) -> &str {
        &self.path_prefix
    }

    /// What the fault does.
    ///
    /// ```
    /// use aignostics_sandbox::{Fault, FaultAction};
    /// assert_eq!(Fault::drop_connection("/").action(), &FaultAction::DropConnection);
    /// ```
    #[must_use]
    pub fn action(&self) -> &FaultAction {
        &self.action
    }

    /// How many more matching requests it applies to.
    ///
    /// ```
    /// let fault = aignostics_sandbox::Fault::status("/", 500).times(4);
    /// assert_eq!(fault.remaining(), 4);
    /// ```
    #[must_use]
    pub fn remaining(&self) -> usize {
        self.times
    }

    fn matches(&self, method: &str, path: &str) -> bool {
        self.times > 0
            && path.starts_with(&self.path_prefix)
            && self.method.as_deref().is_none_or(|m| m == method)
    }
}

/// The queue of pending faults.
#[derive(Debug, Default)]
pub(crate) struct FaultQueue {
    faults: Vec<Fault>,
}

impl FaultQueue {
    pub(crate) fn push(&mut self, fault: Fault) {
        if fault.times > 0 {
            self.faults.push(fault);
        }
    }

    pub(crate) fn clear(&mut self) {
        self.faults.clear();
    }

    pub(crate) fn pending(&self) -> Vec<Fault> {
        self.faults.clone()
    }

    /// Takes one application of the oldest fault matching this request.
    pub(crate) fn take(&mut self, method: &str, path: &str) -> Option<FaultAction> {
        let index = self.faults.iter().position(|f| f.matches(method, path))?;
        let fault = &mut self.faults[index];
        fault.times -= 1;
        let action = fault.action.clone();
        if fault.times == 0 {
            self.faults.remove(index);
        }
        Some(action)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves faults match by prefix and method, apply `times` times, oldest first. (FR-44)
    #[test]
    fn queue_order_and_counts() {
        let mut q = FaultQueue::default();
        q.push(Fault::status("/api/v1/runs", 503).times(2).method("get"));
        q.push(Fault::drop_connection("/api/v1/"));
        assert_eq!(
            q.take("POST", "/api/v1/runs"),
            Some(FaultAction::DropConnection)
        );
        assert_eq!(q.take("POST", "/api/v1/runs"), None);
        let busy = FaultAction::Status {
            status: 503,
            retry_after: None,
        };
        assert_eq!(q.take("GET", "/api/v1/runs/x"), Some(busy.clone()));
        assert_eq!(q.take("GET", "/storage/x"), None);
        assert_eq!(q.take("GET", "/api/v1/runs"), Some(busy));
        assert_eq!(q.take("GET", "/api/v1/runs"), None);
        assert!(q.pending().is_empty());
        q.push(Fault::status("/", 500).times(0));
        assert!(
            q.pending().is_empty(),
            "a fault for zero requests is not queued"
        );
    }
}
