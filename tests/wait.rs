//! `Run::wait` against a loopback platform whose run changes state between polls.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aignostics::models::RunState;
use aignostics::{Client, Settings, TokenProvider, WaitOptions};
use parking_lot::Mutex;
use support::Platform;

static UNIQUE: AtomicUsize = AtomicUsize::new(0);

fn client(platform: &Platform) -> Client {
    let mut settings = Settings::default()
        .with_api_root(&platform.base_url())
        .unwrap();
    settings.run = settings.run.clone().no_wait(2);
    Client::builder()
        .settings(settings)
        .token_provider(TokenProvider::fixed(format!(
            "tok-wait-{}-{}",
            std::process::id(),
            UNIQUE.fetch_add(1, Ordering::Relaxed)
        )))
        .build()
        .unwrap()
}

// Proves wait polls past the cache through PENDING -> PROCESSING -> TERMINATED, reports each
// state, and returns the terminated run. (FR-36, FR-12)
#[test]
fn returns_the_terminated_run() {
    let platform = Platform::start("run-wait");
    platform.run_states(&["PENDING", "PROCESSING", "TERMINATED"]);
    let client = client(&platform);
    // A cached PENDING read first: wait must not be fooled by it.
    assert_eq!(
        client.run("run-wait").details().unwrap().state,
        RunState::Pending
    );

    let states = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&states);
    let run = client
        .run("run-wait")
        .wait(
            &WaitOptions::default()
                .interval(Duration::from_millis(10))
                .timeout(Duration::from_secs(30))
                .on_progress(move |r| seen.lock().push(r.state.clone())),
        )
        .unwrap();

    assert_eq!(run.state, RunState::Terminated);
    assert_eq!(run.run_id, "run-wait");
    assert_eq!(
        *states.lock(),
        vec![RunState::Processing, RunState::Terminated]
    );
    assert_eq!(platform.seen_under("/api/v1/runs/run-wait").len(), 3);
}

// Proves a run that never terminates ends the wait with a timeout error naming the run and its
// last state, after at least the timeout. (FR-36)
#[test]
fn times_out_naming_run_and_state() {
    let platform = Platform::start("run-slow");
    platform.run_states(&["PENDING", "PROCESSING"]);
    let started = Instant::now();

    let err = client(&platform)
        .run("run-slow")
        .wait(
            &WaitOptions::default()
                .interval(Duration::from_millis(50))
                .timeout(Duration::from_millis(300)),
        )
        .unwrap_err();

    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(err.is_timeout(), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("run-slow"), "{text}");
    assert!(text.contains("PROCESSING"), "{text}");
    assert!(platform.seen_under("/api/v1/runs/run-slow").len() >= 2);
}

// Proves the defaults: 5 s interval, no timeout, no callback. (FR-36)
#[test]
fn defaults() {
    let text = format!("{:?}", WaitOptions::default());
    assert!(text.contains("interval: 5s"), "{text}");
    assert!(text.contains("timeout: None"), "{text}");
    assert!(text.contains("on_progress: false"), "{text}");
}

// Proves the longest timeouts are accepted instead of panicking: `Duration::MAX` for the wait
// (and for polling inside a download) means "no practical limit". (NFR-13)
#[test]
fn longest_timeout_does_not_panic() {
    let platform = Platform::start("run-wait-max");
    platform.run_states(&["PROCESSING", "TERMINATED"]);
    let run = client(&platform)
        .run("run-wait-max")
        .wait(
            &WaitOptions::default()
                .interval(Duration::from_millis(10))
                .timeout(Duration::MAX),
        )
        .unwrap();
    assert_eq!(run.state, RunState::Terminated);
}
