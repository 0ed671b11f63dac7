//! Fault injection and request counters of the sandbox, and how the SDK copes with the faults.

mod sandbox_common;

use std::time::{Duration, Instant};

use aignostics::models::RunCreationRequest;
use aignostics::{Client, TokenProvider, TransportKind};
use aignostics_sandbox::{self as sandbox, Fault, Sandbox, SandboxUser};
use sandbox_common::{
    fast_client, fresh_token, raw, raw_url, submit, try_raw_url, wait_terminated,
};

// Proves a 503 followed by success is retried by the SDK: exactly two calls reach the server. (FR-44, FR-15)
#[test]
fn status_fault_then_success_is_retried() {
    let sb = Sandbox::start().unwrap();
    let token = fresh_token(&sb, SandboxUser::alice());
    sb.inject(Fault::status("/api/v1/me", 503));
    let me = fast_client(&sb, &token, 4).me().unwrap();
    assert_eq!(me.user.id, "sandbox|alice");
    assert_eq!(sb.request_count("/api/v1/me"), 2);
    assert!(sb.pending_faults().is_empty());
}

// Proves the fault answers with the status, a FastAPI body and Retry-After, and the SDK waits
// for Retry-After before retrying. (FR-44, FR-15)
#[test]
fn retry_after_is_sent_and_honoured() {
    let sb = Sandbox::start().unwrap();
    sb.inject(
        Fault::status("/api/v1/applications", 429)
            .retry_after(1)
            .method("GET"),
    );
    let r = raw(
        &sb,
        "GET",
        "/api/v1/applications",
        Some(sandbox::ALICE_TOKEN),
        None,
    );
    assert_eq!(r.status, 429);
    assert_eq!(r.header("retry-after"), Some("1"));
    assert!(r.detail().contains("429"));

    let token = fresh_token(&sb, SandboxUser::alice());
    let mut settings = sb.settings().unwrap();
    settings.application = settings.application.clone().no_wait(2);
    settings.application.retry_wait_max = Duration::from_secs(5);
    let client = Client::builder()
        .settings(settings)
        .token_provider(TokenProvider::fixed(token))
        .build()
        .unwrap();
    sb.inject(Fault::status("/api/v1/applications/he-tme", 503).retry_after(1));
    let started = Instant::now();
    client.application("he-tme").unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "Retry-After was not honoured"
    );
    assert_eq!(sb.request_count("/api/v1/applications/he-tme"), 2);
}

// Proves a fault applies `times` times and only to its method, and non-matching requests pass. (FR-44)
#[test]
fn faults_match_method_and_count() {
    let sb = Sandbox::start().unwrap();
    sb.inject(Fault::status("/api/v1/runs", 500).method("POST").times(2));
    let get = raw(&sb, "GET", "/api/v1/runs", Some(sandbox::ALICE_TOKEN), None);
    assert_eq!(get.status, 200);
    let body = serde_json::to_value(RunCreationRequest::new(
        "he-tme",
        [sandbox::example_item("a")],
    ))
    .unwrap();
    for _ in 0..2 {
        assert_eq!(
            raw(
                &sb,
                "POST",
                "/api/v1/runs",
                Some(sandbox::ALICE_TOKEN),
                Some(&body)
            )
            .status,
            500
        );
    }
    assert_eq!(
        raw(
            &sb,
            "POST",
            "/api/v1/runs",
            Some(sandbox::ALICE_TOKEN),
            Some(&body)
        )
        .status,
        201
    );
    assert_eq!(sb.request_count("/api/v1/runs"), 4);
    assert_eq!(
        sb.requests().iter().filter(|r| r.method == "POST").count(),
        3
    );
    // A non-idempotent call is not retried by the SDK after a 5xx.
    let token = fresh_token(&sb, SandboxUser::alice());
    let run_id = submit(
        &sb,
        &token,
        &RunCreationRequest::new("he-tme", [sandbox::example_item("b")]),
    );
    sb.reset_requests();
    sb.inject(Fault::status("/api/v1/runs/", 503).method("POST"));
    let err = fast_client(&sb, &token, 4)
        .run(&run_id)
        .cancel()
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(
        sb.request_count(&format!("/api/v1/runs/{run_id}/cancel")),
        1
    );
}

// Proves a dropped connection is a transport error to a client, and the SDK retries reads. (FR-44, FR-15)
#[test]
fn dropped_connections() {
    let sb = Sandbox::start().unwrap();
    sb.inject(Fault::drop_connection("/api/v1/me"));
    let url = format!("{}/api/v1/me", sb.base_url());
    let auth = format!("Bearer {}", sandbox::ALICE_TOKEN);
    assert!(try_raw_url("GET", &url, &[("Authorization", &auth)], None).is_err());
    assert_eq!(
        raw_url("GET", &url, &[("Authorization", &auth)], None).status,
        200,
        "only once"
    );

    let token = fresh_token(&sb, SandboxUser::alice());
    sb.inject(Fault::drop_connection("/api/v1/me"));
    let client = fast_client(&sb, &token, 3);
    client.me().unwrap();
    assert_eq!(sb.request_count("/api/v1/me"), 4);

    let token = fresh_token(&sb, SandboxUser::alice());
    sb.inject(Fault::drop_connection("/api/v1/me"));
    let err = fast_client(&sb, &token, 1).me().unwrap_err();
    assert!(err.is_retryable(), "{err}");
    assert!(
        matches!(err, aignostics::Error::Transport { .. }),
        "{err:?}"
    );
}

// Proves a truncated body (full Content-Length announced, connection closed early) is a
// transport error: on storage downloads after K bytes, and on API answers the SDK retries. (FR-44, FR-15)
#[test]
fn truncated_bodies() {
    let sb = Sandbox::builder()
        .processing_time(Duration::from_millis(100))
        .artifact_size(200_000)
        .start()
        .unwrap();
    let token = fresh_token(&sb, SandboxUser::alice());
    let run_id = submit(
        &sb,
        &token,
        &RunCreationRequest::new("he-tme", [sandbox::example_item("s1")]),
    );
    wait_terminated(&sb, &token, &run_id);
    let client = fast_client(&sb, &token, 1);
    let item = client.run(&run_id).item("s1").unwrap();
    let url = client
        .run(&run_id)
        .artifact(&item.output_artifacts[0].output_artifact_id)
        .download_url()
        .unwrap();

    sb.inject(Fault::truncate_body("/storage/", 50_000));
    let mut response = sandbox_common::agent().get(&url).call().unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-length"], "200000");
    let mut received = Vec::new();
    let err = std::io::Read::read_to_end(&mut response.body_mut().as_reader(), &mut received)
        .unwrap_err();
    assert_eq!(
        received.len(),
        50_000,
        "exactly K bytes arrive before the cut"
    );
    assert!(
        matches!(
            err.kind(),
            std::io::ErrorKind::UnexpectedEof
                | std::io::ErrorKind::ConnectionReset
                | std::io::ErrorKind::ConnectionAborted
        ),
        "{err:?}"
    );
    // The bytes that did arrive are the start of the real content.
    let full = raw_url("GET", &url, &[], None);
    assert_eq!(&full.body[..50_000], &received[..]);
    // A truncated range answer is cut the same way.
    sb.inject(Fault::truncate_body("/storage/", 10));
    assert!(try_raw_url("GET", &url, &[("Range", "bytes=100-199")], None).is_err());

    // API answers: the SDK sees a truncated body as a transport error and retries reads.
    let token = fresh_token(&sb, SandboxUser::alice());
    sb.inject(Fault::truncate_body("/api/v1/me", 5));
    let err = fast_client(&sb, &token, 1).me().unwrap_err();
    assert!(
        matches!(
            err,
            aignostics::Error::Transport {
                kind: TransportKind::TruncatedBody,
                ..
            }
        ),
        "{err:?}"
    );
    sb.reset_requests();
    let token = fresh_token(&sb, SandboxUser::alice());
    sb.inject(Fault::truncate_body("/api/v1/me", 5));
    fast_client(&sb, &token, 2).me().unwrap();
    assert_eq!(sb.request_count("/api/v1/me"), 2);
}

// Proves a delay fault holds the answer back at least that long and does not block others. (FR-44)
#[test]
fn delays() {
    let sb = Sandbox::start().unwrap();
    sb.inject(Fault::delay("/api/v1/me", Duration::from_millis(700)));
    let base = sb.base_url().to_string();
    let slow = std::thread::spawn(move || {
        let started = Instant::now();
        let r = raw_url(
            "GET",
            &format!("{base}/api/v1/me"),
            &[("Authorization", "Bearer sandbox-token-alice")],
            None,
        );
        (r.status, started.elapsed(), Instant::now())
    });
    // Wait until the delayed request has reached the server.
    while sb.request_count("/api/v1/me") == 0 {
        std::thread::sleep(Duration::from_millis(10));
    }
    // Another request is answered while the first one waits.
    assert_eq!(
        raw(
            &sb,
            "GET",
            "/api/v1/applications",
            Some(sandbox::ALICE_TOKEN),
            None
        )
        .status,
        200
    );
    let fast_done = Instant::now();
    let (status, waited, slow_done) = slow.join().unwrap();
    assert_eq!(status, 200);
    assert!(waited >= Duration::from_millis(700));
    assert!(
        fast_done < slow_done,
        "the delayed answer held up another request"
    );
    assert!(sb.pending_faults().is_empty());
}

// Proves the sandbox is usable from several threads at once. (FR-44, NFR-10)
#[test]
fn concurrent_clients() {
    let sb = std::sync::Arc::new(
        Sandbox::builder()
            .processing_time(Duration::ZERO)
            .start()
            .unwrap(),
    );
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let sb = std::sync::Arc::clone(&sb);
            std::thread::spawn(move || {
                let request =
                    RunCreationRequest::new("test-app", [sandbox::example_item(&format!("t{i}"))]);
                let run_id = submit(&sb, sandbox::BOB_TOKEN, &request);
                wait_terminated(&sb, sandbox::BOB_TOKEN, &run_id).run_id
            })
        })
        .collect();
    let mut ids: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 8);
    let listed: Vec<aignostics::models::RunReadResponse> = raw(
        &sb,
        "GET",
        "/api/v1/runs?page_size=100",
        Some(sandbox::BOB_TOKEN),
        None,
    )
    .json();
    assert_eq!(listed.len(), 8);
}

// Proves a new connection is answered at once however many idle keep-alive connections are
// open: each connection has its own thread, none waits in a queue behind idle ones. (FR-44, NFR-24)
#[test]
fn idle_keep_alive_connections_never_hold_up_a_new_one() {
    use std::io::{BufRead, BufReader, Write};
    use std::net::TcpStream;

    let sb = Sandbox::start().unwrap();
    let request = b"GET /api/v1/health HTTP/1.1\r\nHost: sandbox\r\n\r\n";
    let status_line = |stream: &TcpStream| {
        let mut line = String::new();
        BufReader::new(stream).read_line(&mut line).unwrap();
        line
    };
    // Connections that each got an answer and stay open, as a client's idle pool holds them.
    let idle: Vec<TcpStream> = (0..24)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", sb.port())).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            s.write_all(request).unwrap();
            assert!(status_line(&s).starts_with("HTTP/1.1 200"));
            s
        })
        .collect();
    let mut fresh = TcpStream::connect(("127.0.0.1", sb.port())).unwrap();
    fresh
        .set_read_timeout(Some(Duration::from_secs(60)))
        .unwrap();
    fresh.write_all(request).unwrap();
    assert!(status_line(&fresh).starts_with("HTTP/1.1 200"));
    assert_eq!(sb.request_count("/api/v1/health"), 25);
    drop(idle);
}
