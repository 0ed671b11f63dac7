//! One refresh at a time: the single-flight token cache shared by every source that refreshes
//! (client credentials, the Redis fleet cache).
//!
//! While one thread refreshes, the others are handed the current token if it is still good
//! enough, or wait for that refresh and share its outcome (a failure included), so a burst of
//! calls never sends more than one token request.

use std::time::{Duration, Instant, SystemTime};

use parking_lot::{Condvar, Mutex};

use crate::error::{Error, Result};

/// A token and the moment it stops being valid.
pub(crate) type Expiring = (String, SystemTime);

/// The shared state of one token cache; clones of a credential hold it in an `Arc`.
#[derive(Default)]
pub(crate) struct SingleFlight {
    state: Mutex<State>,
    done: Condvar,
}

#[derive(Default)]
struct State {
    current: Option<Expiring>,
    in_flight: bool,
    /// Completed refreshes so far.
    round: u64,
    /// The message of the last failed refresh and its round.
    last_error: Option<(u64, String)>,
    /// A token that is not fresh is served without refreshing again until then.
    quiet_until: Option<Instant>,
}

impl SingleFlight {
    /// When the cached token expires; `None` before the first token.
    pub(crate) fn expires_at(&self) -> Option<SystemTime> {
        self.state.lock().current.as_ref().map(|(_, exp)| *exp)
    }

    /// The cached token when `fresh` says it is, else the outcome of one `refresh` (run by this
    /// thread or by the one already refreshing). `refresh` is given the current token while it
    /// is valid, to fall back on. After a refresh, a token that is not fresh is still served for
    /// `quiet` before the next refresh.
    pub(crate) fn get(
        &self,
        fresh: impl Fn(&Expiring) -> bool,
        quiet: Duration,
        refresh: impl FnOnce(Option<Expiring>) -> Result<Expiring>,
    ) -> Result<Expiring> {
        let mut state = self.state.lock();
        loop {
            if let Some(current) = &state.current
                && SystemTime::now() < current.1
            {
                let quiet = state.quiet_until.is_some_and(|q| Instant::now() < q);
                // A still-valid token is good enough while another thread refreshes.
                if fresh(current) || quiet || state.in_flight {
                    return Ok(current.clone());
                }
                break;
            }
            if !state.in_flight {
                break;
            }
            let round = state.round;
            while state.in_flight && state.round == round {
                self.done.wait(&mut state);
            }
            if let Some((failed, message)) = &state.last_error
                && *failed == state.round
                && state.round == round + 1
            {
                return Err(Error::Auth(message.clone()));
            }
        }
        state.in_flight = true;
        let held = state
            .current
            .clone()
            .filter(|(_, exp)| SystemTime::now() < *exp);
        drop(state);

        // Clears the in-flight flag even if the refresh panics, so waiters never hang.
        struct Finish<'a> {
            flight: &'a SingleFlight,
            quiet: Duration,
            outcome: Option<std::result::Result<Expiring, String>>,
        }
        impl Drop for Finish<'_> {
            fn drop(&mut self) {
                let mut state = self.flight.state.lock();
                state.in_flight = false;
                state.round += 1;
                state.quiet_until = Some(crate::time::instant_after(Instant::now(), self.quiet));
                match self.outcome.take() {
                    Some(Ok(current)) => {
                        state.current = Some(current);
                        state.last_error = None;
                    }
                    Some(Err(message)) => state.last_error = Some((state.round, message)),
                    None => {
                        state.last_error =
                            Some((state.round, "the token refresh was interrupted".into()))
                    }
                }
                self.flight.done.notify_all();
            }
        }
        let mut finish = Finish {
            flight: self,
            quiet,
            outcome: None,
        };
        let result = refresh(held);
        finish.outcome = Some(match &result {
            Ok(current) => Ok(current.clone()),
            Err(e) => Err(e.to_string()),
        });
        result
    }
}
