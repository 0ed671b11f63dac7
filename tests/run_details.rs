//! `Run::details` and read-replica lag: a run just created may answer 404 for a few seconds.

mod scripted;

use std::time::{Duration, Instant};

use aignostics::{Client, Settings, TokenProvider};
use scripted::{Reply, Scripted, fixture};

const RUN_ID: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

fn client(root: &str, token: &str) -> Client {
    let mut settings = Settings::default().with_api_root(root).unwrap();
    // One call per attempt of the 404 window, so the server's count is the window's count.
    settings.run = settings.run.clone().no_wait(1);
    Client::builder()
        .settings(settings)
        .token_provider(TokenProvider::fixed(token))
        .build()
        .unwrap()
}

fn not_found() -> Reply {
    Reply::json(404, r#"{"detail":"Run not found"}"#)
}

// Proves a run that answers 404 twice and then 200 is returned after three calls. (FR-28)
#[test]
fn details_retries_not_found_until_the_run_is_visible() {
    let mut run = fixture("RunReadResponse");
    run["run_id"] = RUN_ID.into();
    let server = Scripted::start([not_found(), not_found(), Reply::json(200, &run.to_string())]);
    let details = client(&server.base_url(), "tok-details-lag")
        .run(RUN_ID)
        .details()
        .unwrap();
    assert_eq!(details.run_id, RUN_ID);
    assert_eq!(server.calls(), 3);
    assert!(
        server
            .received()
            .iter()
            .all(|r| r.target == format!("/api/v1/runs/{RUN_ID}"))
    );
}

// Proves a run that keeps answering 404 fails with the 404 only after the 5 s window. (FR-28)
#[test]
fn details_gives_up_after_the_not_found_window() {
    let server = Scripted::start((0..40).map(|_| not_found()));
    let started = Instant::now();
    let err = client(&server.base_url(), "tok-details-gone")
        .run(RUN_ID)
        .details()
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(
        started.elapsed() >= Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    assert!(server.calls() >= 2, "{} calls", server.calls());
}

// Proves a 403 from run details is returned at once, without the 404 window. (FR-28)
#[test]
fn details_does_not_retry_forbidden() {
    let server = Scripted::start([Reply::json(403, r#"{"detail":"Forbidden"}"#)]);
    let err = client(&server.base_url(), "tok-details-403")
        .run(RUN_ID)
        .details()
        .unwrap_err();
    assert!(err.is_forbidden(), "{err}");
    assert_eq!(server.calls(), 1);
}
