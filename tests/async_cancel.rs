//! Dropping an async call stops its work: waits stop polling, downloads stop writing and leave
//! no final file, and a runtime with abandoned calls drops at once. Against the sandbox, whose
//! request counters show what is still being sent.
#![cfg(feature = "async")]

mod local;
mod sandbox_common;

use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Duration;

use aignostics::models::RunCreationRequest;
use aignostics::nonblocking;
use aignostics::{DownloadOptions, WaitOptions};
use aignostics_sandbox::{self as sandbox, Fault, Sandbox, SandboxUser};
use local::files_below;
use sandbox_common::{fast_client, fresh_token, submit};

/// A sandbox whose runs stay PROCESSING far longer than any test.
fn endless_sandbox() -> Sandbox {
    Sandbox::builder()
        .processing_time(Duration::from_secs(3600))
        .start()
        .expect("sandbox")
}

/// A run of `items` items submitted as a fresh user of `sb`: (async client, run id).
fn submitted(sb: &Sandbox, items: usize) -> (nonblocking::Client, String) {
    let token = fresh_token(sb, SandboxUser::alice());
    let items = (0..items).map(|i| sandbox::example_item(&format!("slide-{i}")));
    let run_id = submit(sb, &token, &RunCreationRequest::new("he-tme", items));
    (
        nonblocking::Client::from(fast_client(sb, &token, 1)),
        run_id,
    )
}

/// How many requests the sandbox saw for `prefix`, after giving abandoned work well over the
/// time of many poll intervals to show itself.
fn settled_count(sb: &Sandbox, prefix: &str) -> usize {
    std::thread::sleep(Duration::from_millis(600));
    sb.request_count(prefix)
}

// Proves a `wait` dropped by `tokio::time::timeout` stops polling: the sandbox's counter for
// the run stops growing once the future is gone. (FR-58, FR-43)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_wait_stops_polling() {
    let sb = endless_sandbox();
    let (client, run_id) = submitted(&sb, 1);
    let run = client.run(run_id.clone());
    let options = WaitOptions::default().interval(Duration::from_millis(20));
    let waited = tokio::time::timeout(Duration::from_millis(200), run.wait(options)).await;
    assert!(
        waited.is_err(),
        "the run never terminates, so the timeout fires"
    );
    let path = format!("/api/v1/runs/{run_id}");
    let after_drop = settled_count(&sb, &path);
    assert!(after_drop >= 2, "it did poll while it ran: {after_drop}");
    assert_eq!(settled_count(&sb, &path), after_drop, "still polling");
}

// Proves a runtime holding an abandoned `wait` and `download_to` drops promptly instead of
// waiting for them forever. (FR-58)
#[test]
fn runtime_with_abandoned_calls_drops() {
    let sb = endless_sandbox();
    let (client, run_id) = submitted(&sb, 1);
    let dir = std::env::temp_dir().join(format!("aignostics-cancel-rt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (dropped, done) = mpsc::channel();
    let path = format!("/api/v1/runs/{run_id}");
    std::thread::spawn({
        let dir = dir.clone();
        move || {
            let runtime = tokio::runtime::Runtime::new().unwrap();
            let run = client.run(run_id);
            let options = WaitOptions::default().interval(Duration::from_millis(20));
            runtime.spawn({
                let run = run.clone();
                async move { run.wait(options).await }
            });
            let download = DownloadOptions::default().poll_interval(Duration::from_millis(20));
            runtime.spawn(async move { run.download_to(dir, download).await });
            std::thread::sleep(Duration::from_millis(200));
            drop(runtime);
            dropped.send(()).unwrap();
        }
    });
    // A hang detector, not a speed check: without cancellation the drop never returns.
    done.recv_timeout(Duration::from_secs(30))
        .expect("dropping the runtime hung on its abandoned blocking work");
    let after_drop = sb.request_count(&path);
    assert_eq!(settled_count(&sb, &path), after_drop, "still polling");
    std::fs::remove_dir_all(&dir).unwrap();
}

// Proves a `download_to` dropped while its storage requests are in flight stops: no further
// storage request is made and no file ever appears under its final name, only partial files
// that the next call resumes. (FR-58, NFR-09)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_download_leaves_no_final_file() {
    let sb = Sandbox::builder()
        .processing_time(Duration::from_millis(50))
        .artifact_size(256 * 1024)
        .start()
        .expect("sandbox");
    let (client, run_id) = submitted(&sb, 4);
    // Each storage answer is held back well past the drop, so the drop lands while the first
    // files are in flight and none can be complete before it.
    sb.inject(Fault::delay("/storage/", Duration::from_millis(1000)).times(10_000));
    let dir = std::env::temp_dir().join(format!("aignostics-cancel-dl-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let run = client.run(run_id.clone());
    let options = DownloadOptions::default().poll_interval(Duration::from_millis(20));
    let downloaded = tokio::time::timeout(
        Duration::from_millis(400),
        run.download_to(dir.clone(), options),
    )
    .await;
    assert!(downloaded.is_err(), "the timeout fires mid-download");
    let storage = settled_count(&sb, "/storage/");
    assert!(
        storage >= 1,
        "storage was being read when the call was dropped"
    );
    assert_eq!(
        settled_count(&sb, "/storage/"),
        storage,
        "still downloading"
    );
    let finals: Vec<PathBuf> = files_below(&dir)
        .into_iter()
        .filter(|p| !p.to_string_lossy().ends_with(".part"))
        .collect();
    assert!(finals.is_empty(), "final files appeared: {finals:?}");
    std::fs::remove_dir_all(&dir).unwrap();
}
