//! One deadline through every retried step of a timed operation (waits and downloads with a
//! timeout), and the one signed-URL reader of documents (a 307 to storage or the bytes directly).
//!
//! Bounds on elapsed time are generous: each test only shows that the call ends near its
//! deadline instead of after the whole retry budget (tens of seconds or minutes).

mod common;
mod support;

use std::net::TcpListener;
use std::time::{Duration, Instant};

use aignostics::{Client, DownloadOptions, Settings, TokenProvider, WaitOptions};
use common::*;
use httpmock::prelude::*;
use serde_json::json;
use support::{artifact_json, item_json, run_json};

/// Generous: the deadline plus one connect timeout's worth of slack on a busy machine.
const SLACK: Duration = Duration::from_secs(8);

/// A client with the default timeouts (30 s) and retries (4 attempts with back-off).
fn patient_client(api_root: &str, label: &str) -> Client {
    Client::builder()
        .settings(Settings::default().with_api_root(api_root).unwrap())
        .token_provider(TokenProvider::fixed(unique_token(label)))
        .build()
        .unwrap()
}

fn half_second_wait() -> WaitOptions {
    WaitOptions::default()
        .interval(Duration::from_millis(50))
        .timeout(Duration::from_millis(500))
}

// Proves a wait against a server that accepts connections and never answers returns at its deadline, not after the retry budget. (FR-48, FR-36)
#[test]
fn wait_against_a_silent_server_ends_at_its_deadline() {
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let root = format!("http://{}", silent.local_addr().unwrap());
    // Connections are accepted by the kernel's backlog and never answered.
    let client = patient_client(&root, "dl-silent");
    let started = Instant::now();
    let err = client
        .run("r-silent")
        .wait(&half_second_wait())
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(err.to_string().contains("r-silent"), "{err}");
    assert!(started.elapsed() < SLACK, "{:?}", started.elapsed());
    drop(silent);
}

// Proves retries of an API read never wait past the deadline, even when the server asks for 30 s. (FR-48, FR-15)
#[test]
fn api_read_retries_stop_at_the_deadline() {
    let server = MockServer::start();
    let busy = server.mock(|when, then| {
        when.method(GET).path("/api/v1/runs/r-busy");
        then.status(503).header("retry-after", "30");
    });
    let client = patient_client(&server.base_url(), "dl-busy");
    let started = Instant::now();
    let err = client.run("r-busy").wait(&half_second_wait()).unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(started.elapsed() < SLACK, "{:?}", started.elapsed());
    assert!(busy.calls() >= 1);
}

// Proves the 404 window of a fresh run ends at the wait's deadline, not after its 5 s. (FR-48, FR-28)
#[test]
fn not_found_window_stops_at_the_deadline() {
    let server = MockServer::start();
    let missing = server.mock(|when, then| {
        when.method(GET).path("/api/v1/runs/r-missing");
        then.status(404).json_body(json!({"detail": "not found"}));
    });
    let client = patient_client(&server.base_url(), "dl-missing");
    let started = Instant::now();
    let err = client
        .run("r-missing")
        .wait(
            &WaitOptions::default()
                .interval(Duration::from_millis(50))
                .timeout(Duration::from_millis(300)),
        )
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "{:?}",
        started.elapsed()
    );
    assert!(missing.calls() >= 1);
}

// Proves download attempts against a storage host that never answers end at the download's deadline, reported as a failure with the partial file kept. (FR-48, FR-41)
#[test]
fn download_attempts_stop_at_the_deadline() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/api/v1/runs/r-slow");
        then.status(200).json_body(run_json("r-slow", "TERMINATED"));
    });
    server.mock(|when, then| {
        when.method(GET).path("/api/v1/runs/r-slow/items");
        then.status(200).json_body(json!([item_json(
            "slide-1",
            vec![artifact_json(
                "a1",
                "cells",
                "application/json",
                Some("AAAAAA==")
            )]
        )]));
    });
    server.mock(|when, then| {
        when.method(GET)
            .path("/api/v1/runs/r-slow/artifacts/a1/file");
        then.status(307)
            .header("location", server.url("/storage/a1"));
    });
    let storage = server.mock(|when, then| {
        when.method(GET).path("/storage/a1");
        then.status(200).delay(Duration::from_secs(40)).body("{}");
    });
    let dir = std::env::temp_dir().join(unique_token("dl-slow"));
    std::fs::create_dir_all(&dir).unwrap();
    let client = patient_client(&server.base_url(), "dl-slow");
    let started = Instant::now();
    let report = client
        .run("r-slow")
        .download_to(
            &dir,
            &DownloadOptions::default()
                .poll_interval(Duration::from_millis(50))
                .timeout(Duration::from_secs(1)),
        )
        .unwrap();
    assert!(started.elapsed() < SLACK, "{:?}", started.elapsed());
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(report.failed[0].error.is_timeout() || report.failed[0].error.is_retryable());
    assert!(report.downloaded.is_empty());
    assert!(storage.calls() >= 1);
    let _ = std::fs::remove_dir_all(&dir);
}

const DOCS: &str = "/api/v1/applications/he-tme/versions/1.0.0/documents";

// Proves a document the platform answers with directly (200 with the bytes) is read and downloaded like one behind a redirect. (FR-49, FR-25)
#[test]
fn document_served_directly_is_read() {
    let server = MockServer::start();
    let (client, _) = client(&server, "doc-direct");
    for kind in ["content", "file"] {
        server.mock(|when, then| {
            when.method(GET).path(format!("{DOCS}/readme.md/{kind}"));
            then.status(200).body("# Direct");
        });
    }
    let docs = client.versions().documents("he-tme", Some("1.0.0"));
    assert_eq!(docs.read_content("readme.md").unwrap(), b"# Direct");
    let dir = std::env::temp_dir().join(unique_token("doc-direct"));
    let path = docs.download_to("readme.md", &dir).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), b"# Direct");
    let _ = std::fs::remove_dir_all(&dir);
}

// Proves a document behind a 307 with a relative Location is read from the API host without the bearer, and one with an absolute Location from storage. (FR-49, FR-25, NFR-07)
#[test]
fn document_behind_a_redirect_is_read() {
    let server = MockServer::start();
    let storage = MockServer::start();
    let (client, _) = client(&server, "doc-redirect");
    server.mock(|when, then| {
        when.method(GET).path(format!("{DOCS}/a.md/content"));
        then.status(307).header("location", "/signed/a.md?sig=1");
    });
    server.mock(|when, then| {
        when.method(GET)
            .path("/signed/a.md")
            .header_missing("authorization");
        then.status(200).body("relative");
    });
    server.mock(|when, then| {
        when.method(GET).path(format!("{DOCS}/b.md/content"));
        then.status(307)
            .header("location", storage.url("/bucket/b.md?sig=2"));
    });
    storage.mock(|when, then| {
        when.method(GET)
            .path("/bucket/b.md")
            .header_missing("authorization");
        then.status(200).body("absolute");
    });
    let docs = client.versions().documents("he-tme", Some("1.0.0"));
    assert_eq!(docs.read_content("a.md").unwrap(), b"relative");
    assert_eq!(docs.read_content("b.md").unwrap(), b"absolute");
}
