//! Cancellation of blocking work: the async facade runs each call on a blocking thread under a
//! [`Token`] that is cancelled when the call's future is dropped (a `tokio::time::timeout`, a
//! `select!`, a runtime shutting down). The blocking code checks the thread's token before
//! every request, while it sleeps between polls and retries, and between download chunks, so
//! dropped work stops promptly and ends with [`Error::Cancelled`].
//!
//! Blocking callers never set a token, so for them every check passes and [`sleep`] is a plain
//! sleep.

use std::cell::RefCell;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};

#[derive(Default)]
struct Flag {
    cancelled: Mutex<bool>,
    wake: Condvar,
}

/// A cancellation flag shared by the owner of some work and the threads doing it.
#[derive(Clone, Default)]
pub(crate) struct Token(Option<Arc<Flag>>);

thread_local! {
    static CURRENT: RefCell<Token> = const { RefCell::new(Token(None)) };
}

impl Token {
    /// A token that is not cancelled yet.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn new() -> Self {
        Self(Some(Arc::default()))
    }

    /// Cancels the work and wakes its sleeps.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn cancel(&self) {
        if let Some(flag) = &self.0 {
            *flag.cancelled.lock() = true;
            flag.wake.notify_all();
        }
    }

    /// Whether [`Token::cancel`] was called.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.0.as_ref().is_some_and(|flag| *flag.cancelled.lock())
    }

    /// Runs `work` with this token as the current thread's token (restoring the previous one
    /// afterwards).
    pub(crate) fn enter<T>(&self, work: impl FnOnce() -> T) -> T {
        struct Restore(Token);
        impl Drop for Restore {
            fn drop(&mut self) {
                let previous = std::mem::take(&mut self.0);
                CURRENT.with(|c| *c.borrow_mut() = previous);
            }
        }
        let previous = CURRENT.with(|c| std::mem::replace(&mut *c.borrow_mut(), self.clone()));
        let _restore = Restore(previous);
        work()
    }

    /// A guard that cancels this token when it is dropped.
    #[cfg_attr(not(feature = "async"), allow(dead_code))]
    pub(crate) fn cancel_on_drop(&self) -> CancelOnDrop {
        CancelOnDrop(self.clone())
    }
}

/// Cancels its token when dropped: held by a future, it cancels the work when the future is.
#[cfg_attr(not(feature = "async"), allow(dead_code))]
pub(crate) struct CancelOnDrop(Token);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// The current thread's token (one that is never cancelled outside [`Token::enter`]).
pub(crate) fn current() -> Token {
    CURRENT.with(|c| c.borrow().clone())
}

/// [`Error::Cancelled`] when the current thread's work was cancelled.
pub(crate) fn check() -> Result<()> {
    if CURRENT.with(|c| c.borrow().is_cancelled()) {
        return Err(Error::Cancelled);
    }
    Ok(())
}

/// Sleeps for `d`, or until the current thread's work is cancelled ([`Error::Cancelled`]).
pub(crate) fn sleep(d: Duration) -> Result<()> {
    let Some(flag) = current().0 else {
        std::thread::sleep(d);
        return Ok(());
    };
    let deadline = crate::time::instant_after(Instant::now(), d);
    let mut cancelled = flag.cancelled.lock();
    while !*cancelled {
        if flag.wake.wait_until(&mut cancelled, deadline).timed_out() {
            return Ok(());
        }
    }
    Err(Error::Cancelled)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves a cancel wakes a long sleep at once and later checks fail, while threads without
    // a token and finished scopes are unaffected. (FR-58)
    #[test]
    fn cancel_wakes_sleep_and_fails_checks() {
        assert!(check().is_ok());
        assert!(sleep(Duration::from_millis(1)).is_ok());
        let token = Token::new();
        let inner = token.clone();
        let (entered, started) = std::sync::mpsc::channel();
        let worker = std::thread::spawn(move || {
            inner.enter(|| {
                let before = check().is_ok();
                entered.send(()).unwrap();
                let slept = sleep(Duration::from_secs(3600));
                (before, slept.is_err(), check().is_err())
            })
        });
        started.recv().unwrap();
        drop(token.cancel_on_drop());
        assert_eq!(worker.join().unwrap(), (true, true, true));
        assert!(token.is_cancelled());
        token.enter(|| assert!(matches!(check(), Err(Error::Cancelled))));
        assert!(
            check().is_ok(),
            "the scope ended; this thread has no token again"
        );
        assert!(!Token::default().is_cancelled());
    }
}
