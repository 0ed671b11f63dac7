//! The async facade (feature `async`) against loopback servers: same answers and errors as the
//! blocking client, concurrency, pages.
#![cfg(feature = "async")]

mod common;

use aignostics::nonblocking;
use common::{bearer, client, fixture};
use httpmock::prelude::*;
use serde_json::json;

const RUN_ID: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

fn me_body(user: &str) -> String {
    let mut me = fixture("MeReadResponse");
    me["user"]["id"] = user.into();
    me.to_string()
}

// Proves concurrent async calls with tokio::join! each get their own decoded answer. (FR-43, NFR-10)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn join_runs_calls_concurrently() {
    let server = MockServer::start();
    let (blocking, token) = client(&server, "async-join");
    let me = server.mock(|when, then| {
        when.method(GET)
            .path("/api/v1/me")
            .header("authorization", bearer(&token));
        then.status(200).body(me_body("async-user"));
    });
    let mut app = fixture("ApplicationReadResponse");
    app["application_id"] = "he-tme".into();
    let app_mock = server.mock(|when, then| {
        when.method(GET).path("/api/v1/applications/he-tme");
        then.status(200).body(app.to_string());
    });
    let mut run = fixture("RunReadResponse");
    run["run_id"] = RUN_ID.into();
    let run_mock = server.mock(|when, then| {
        when.method(GET).path(format!("/api/v1/runs/{RUN_ID}"));
        then.status(200).body(run.to_string());
    });
    let c = nonblocking::Client::from(blocking);
    let handle = c.run(RUN_ID);
    let (me_res, app_res, run_res) = tokio::join!(
        c.me(),
        c.application("he-tme".to_string()),
        handle.details()
    );
    assert_eq!(me_res.unwrap().user.id, "async-user");
    assert_eq!(app_res.unwrap().application_id, "he-tme");
    assert_eq!(run_res.unwrap().run_id, RUN_ID);
    assert_eq!((me.calls(), app_mock.calls(), run_mock.calls()), (1, 1, 1));
    assert_eq!(handle.id(), RUN_ID);
}

// Proves async errors are the blocking client's errors: same variant, status and text. (FR-43)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_match_blocking() {
    let server = MockServer::start();
    let (blocking, _) = client(&server, "async-errors");
    server.mock(|when, then| {
        when.path(format!("/api/v1/runs/{RUN_ID}/cancel"));
        then.status(409)
            .body(r#"{"detail":"Run already canceled"}"#);
    });
    server.mock(|when, then| {
        when.path("/api/v1/applications/nope/versions/x.y");
        then.status(500);
    });
    let c = nonblocking::Client::from(blocking.clone());
    let async_err = c.run(RUN_ID).cancel().await.unwrap_err();
    let blocking_err = tokio::task::spawn_blocking(move || blocking.run(RUN_ID).cancel())
        .await
        .unwrap()
        .unwrap_err();
    assert!(async_err.is_conflict());
    assert_eq!(async_err.to_string(), blocking_err.to_string());
    assert_eq!(format!("{async_err:?}"), format!("{blocking_err:?}"));
    let invalid = c
        .application_version("nope".into(), Some("x.y".into()))
        .await
        .unwrap_err();
    assert!(
        matches!(invalid, aignostics::Error::InvalidInput(_)),
        "{invalid:?}"
    );
}

// Proves async list iteration fetches page by page and stops on the short page. (FR-43, FR-34)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn items_iterate_page_by_page() {
    let server = MockServer::start();
    let (blocking, _) = client(&server, "async-pages");
    let item = |i: usize| {
        let mut it = fixture("ItemResultReadResponse");
        it["external_id"] = format!("slide-{i}").into();
        it
    };
    let page1: Vec<_> = (0..5).map(item).collect();
    let page2: Vec<_> = (5..7).map(item).collect();
    let m1 = server.mock(|when, then| {
        when.path(format!("/api/v1/runs/{RUN_ID}/items"))
            .query_param("page", "1")
            .query_param("page_size", "5");
        then.status(200).json_body(json!(page1));
    });
    let m2 = server.mock(|when, then| {
        when.path(format!("/api/v1/runs/{RUN_ID}/items"))
            .query_param("page", "2");
        then.status(200).json_body(json!(page2));
    });
    let c = nonblocking::Client::from(blocking);
    let list = c.run(RUN_ID).items().page_size(5);
    let mut pages = list.iter();
    let first = pages.next().await.unwrap().unwrap();
    assert_eq!(first.external_id, "slide-0");
    assert_eq!(
        (m1.calls(), m2.calls()),
        (1, 0),
        "lazy: page 2 not fetched yet"
    );
    let mut rest = Vec::new();
    while let Some(item) = pages.next().await {
        rest.push(item.unwrap().external_id);
    }
    assert_eq!(rest.len(), 6);
    assert!(pages.next().await.is_none());
    let all = list.all().await.unwrap();
    assert_eq!(all.len(), 7);
    let bad = c
        .run(RUN_ID)
        .items()
        .page_size(500)
        .page(1)
        .await
        .unwrap_err();
    assert!(bad.to_string().contains("page_size"));
}

// Proves a whole run — submit, wait, download with verified checksums — works through the facade. (FR-43)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_wait_and_download_through_the_facade() {
    use aignostics::{DownloadOptions, WaitOptions, models::RunCreationRequest};
    use aignostics_sandbox::{Sandbox, SandboxUser, example_item};
    use std::time::Duration;

    let sandbox = Sandbox::builder()
        .processing_time(Duration::from_millis(600))
        .start()
        .unwrap();
    let token = common::unique_token("async-sandbox");
    sandbox.add_user(&token, SandboxUser::alice());
    let c = nonblocking::Client::from(sandbox.client(&token).unwrap());
    let request =
        RunCreationRequest::new("he-tme", [example_item("slide-a"), example_item("slide-b")]);
    let run = c.runs().submit(request).await.unwrap();
    let done = run
        .wait(WaitOptions::default().interval(Duration::from_millis(100)))
        .await
        .unwrap();
    assert_eq!(done.state.as_str(), "TERMINATED");
    let dir = std::env::temp_dir().join(format!("aignostics-async-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let report = run
        .download_to(
            dir.clone(),
            DownloadOptions::default().poll_interval(Duration::from_millis(100)),
        )
        .await
        .unwrap();
    assert!(report.is_complete(), "{report:?}");
    assert!(!report.downloaded.is_empty());
    for path in &report.downloaded {
        assert!(path.starts_with(dir.join(run.id())), "{}", path.display());
        assert!(std::fs::metadata(path).unwrap().len() > 0);
    }
    assert_eq!(sandbox.storage_requests_with_authorization(), 0);
    std::fs::remove_dir_all(dir).unwrap();
}
