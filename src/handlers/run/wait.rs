//! [`Run::wait`]: poll a run until it terminates.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Run;
use crate::error::{Error, Result};
use crate::models::{RunReadResponse, RunState};
use crate::retry::{Deadline, DeadlineExt, deadline_in};

/// Default pause between two polls of a run (as the Python SDK).
pub(crate) const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

/// A progress callback, called with every state read while waiting.
pub(crate) type ProgressFn = Arc<dyn Fn(&RunReadResponse) + Send + Sync>;

/// How [`Run::wait`] polls: interval, optional timeout and an optional progress callback.
///
/// ```
/// use std::time::Duration;
/// use aignostics::WaitOptions;
///
/// let options = WaitOptions::default()
///     .interval(Duration::from_secs(10))
///     .timeout(Duration::from_secs(6 * 3600))
///     .on_progress(|run| eprintln!("{}: {}", run.run_id, run.state));
/// ```
#[derive(Clone)]
#[must_use]
pub struct WaitOptions {
    pub(crate) interval: Duration,
    pub(crate) timeout: Option<Duration>,
    pub(crate) on_progress: Option<ProgressFn>,
}

impl Default for WaitOptions {
    /// Polls every 5 s, without a timeout and without a callback.
    fn default() -> Self {
        Self {
            interval: DEFAULT_INTERVAL,
            timeout: None,
            on_progress: None,
        }
    }
}

impl std::fmt::Debug for WaitOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WaitOptions")
            .field("interval", &self.interval)
            .field("timeout", &self.timeout)
            .field("on_progress", &self.on_progress.is_some())
            .finish()
    }
}

impl WaitOptions {
    /// Pause between two polls (default 5 s).
    pub fn interval(mut self, interval: Duration) -> Self {
        self.interval = interval;
        self
    }

    /// Give up with [`Error::Timeout`] when the run has not terminated after this long.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Called with the run's details after every poll, the last one included.
    pub fn on_progress(mut self, f: impl Fn(&RunReadResponse) + Send + Sync + 'static) -> Self {
        self.on_progress = Some(Arc::new(f));
        self
    }
}

/// The run's id, the time waited and its last state, as the timeout error names them.
pub(crate) fn timeout_error(run_id: &str, waited: Duration, last: &RunState) -> Error {
    Error::Timeout {
        operation: format!("waiting for run {run_id}"),
        what: format!("still {last} after {:.1}s", waited.as_secs_f64()),
    }
}

/// Polls `run` (which must bypass the cache) until it terminates or `deadline` passes.
pub(crate) struct Poller {
    started: Instant,
    deadline: Deadline,
    interval: Duration,
    /// The state seen by the last poll, for the timeout error.
    last: RefCell<Option<RunState>>,
}

impl Poller {
    pub(crate) fn new(interval: Duration, timeout: Option<Duration>) -> Self {
        Self {
            started: Instant::now(),
            deadline: timeout.and_then(deadline_in),
            interval,
            last: RefCell::new(None),
        }
    }

    /// When the polling gives up; every read it makes ends by then.
    pub(crate) fn deadline(&self) -> Deadline {
        self.deadline
    }

    /// A failed poll: past the deadline it becomes a timeout naming the run (the read was cut
    /// short by the deadline), otherwise it is returned as it is.
    pub(crate) fn failed(&self, run_id: &str, err: Error) -> Error {
        if !self.deadline.passed() {
            return err;
        }
        let waited = self.started.elapsed();
        match &*self.last.borrow() {
            Some(last) => timeout_error(run_id, waited, last),
            None => Error::Timeout {
                operation: format!("waiting for run {run_id}"),
                what: format!("no answer within {:.1}s: {err}", waited.as_secs_f64()),
            },
        }
    }

    /// After a poll that saw a run still going: a timeout error when the deadline has passed,
    /// otherwise sleeps one interval (never past the deadline, so the last poll is at it).
    pub(crate) fn pause(&self, run_id: &str, last: &RunReadResponse) -> Result<()> {
        *self.last.borrow_mut() = Some(last.state.clone());
        let now = Instant::now();
        let wait = match self.deadline {
            Some(deadline) if now >= deadline => {
                return Err(timeout_error(run_id, now - self.started, &last.state));
            }
            Some(deadline) => self.interval.min(deadline - now),
            None => self.interval,
        };
        crate::cancel::sleep(wait)
    }
}

#[cfg_attr(feature = "async", aignostics_macros::twin)]
impl Run {
    /// Polls the run's details, bypassing the cache, until its state is `TERMINATED`, and
    /// returns those final details.
    ///
    /// With a timeout, a run still going when it expires ends the wait with
    /// [`Error::Timeout`] naming the run and its last state (the run itself goes on). Failed
    /// polls are retried like every read; an error that survives the retries ends the wait.
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use aignostics::WaitOptions;
    /// # let client = aignostics::Client::new()?;
    /// let run = client.run("3fa85f64-5717-4562-b3fc-2c963f66afa6");
    /// let done = run.wait(&WaitOptions::default().timeout(Duration::from_secs(3600)))?;
    /// println!("{:?}", done.termination_reason);
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn wait(&self, options: &WaitOptions) -> Result<Arc<RunReadResponse>> {
        let poller = Poller::new(options.interval, options.timeout);
        let run = self.uncached().until(poller.deadline());
        loop {
            let details = run.details().map_err(|e| poller.failed(self.id(), e))?;
            if let Some(f) = &options.on_progress {
                f(&details);
            }
            if details.state == RunState::Terminated {
                return Ok(details);
            }
            poller.pause(self.id(), &details)?;
        }
    }
}
