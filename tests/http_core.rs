//! The HTTP core against real loopback servers: headers, error mapping, retries, decoding and
//! redaction.

mod scripted;

use std::time::{Duration, Instant};

use aignostics::{Client, Error, Settings, TokenProvider, TransportKind};
use httpmock::prelude::*;
use scripted::{Reply, Scripted, me_json};

/// Settings for `root` with retries that do not wait.
fn fast(root: &str, attempts: u32) -> Settings {
    let mut s = Settings::default().with_api_root(root).unwrap();
    s.me = s.me.clone().no_wait(attempts);
    s.application = s.application.clone().no_wait(attempts);
    s.run = s.run.clone().no_wait(attempts);
    s
}

fn client(root: &str, token: &str, attempts: u32) -> Client {
    Client::builder()
        .settings(fast(root, attempts))
        .token_provider(TokenProvider::fixed(token))
        .build()
        .unwrap()
}

const RUN_ID: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

// Proves every request carries the bearer token, the crate's User-Agent and JSON Accept header. (FR-01, FR-19)
#[test]
fn sends_bearer_user_agent_and_accept() {
    let server = MockServer::start();
    let ua = aignostics::user_agent();
    let mock = server.mock(|when, then| {
        when.method(GET)
            .path("/api/v1/me")
            .header("authorization", "Bearer tok-headers")
            .header("user-agent", ua.as_str())
            .header("accept", "application/json");
        then.status(200).body(me_json("u-1"));
    });
    let me = client(&server.base_url(), "tok-headers", 1).me().unwrap();
    assert_eq!(me.user.id, "u-1");
    mock.assert();
    assert!(ua.starts_with("aignostics-rust/"), "{ua}");
    assert!(ua.contains(std::env::consts::OS) && ua.contains(std::env::consts::ARCH));
}

// Proves an empty token sends no Authorization header at all. (FR-01)
#[test]
fn empty_token_sends_no_authorization_header() {
    let server = Scripted::start([Reply::json(200, &me_json("u-1"))]);
    client(&server.base_url(), "", 1).me().unwrap();
    let got = server.received();
    assert_eq!(got.len(), 1);
    assert!(
        got[0].header("authorization").is_none(),
        "{:?}",
        got[0].headers
    );
}

// Proves each HTTP error status maps to an API error with status, operation and detail. (FR-17)
#[test]
fn error_statuses_map_to_api_errors() {
    let cases: [(u16, &str); 10] = [
        (400, r#"{"detail":"input validation failed"}"#),
        (401, r#"{"detail":"Not authenticated"}"#),
        (403, r#"{"detail":"Forbidden"}"#),
        (404, r#"{"detail":"Run not found"}"#),
        (409, r#"{"detail":"Run already canceled"}"#),
        (410, r#"{"detail":"Artifact deleted"}"#),
        (412, r#"{"detail":"Checksum mismatch"}"#),
        (
            422,
            r#"{"detail":[{"loc":["path","run_id"],"msg":"Input should be a valid UUID","type":"uuid_parsing","input":"x"}]}"#,
        ),
        (500, r#"{"detail":"Internal Server Error"}"#),
        (503, "<html>Service Unavailable</html>"),
    ];
    for (i, (status, body)) in cases.into_iter().enumerate() {
        let server = Scripted::start([Reply::json(status, body)]);
        let err = client(&server.base_url(), &format!("tok-status-{i}"), 1)
            .application("he-tme")
            .unwrap_err();
        assert_eq!(err.status(), Some(status), "{err}");
        let api = err.api_error().expect("api error");
        assert_eq!(api.operation, "get_application");
        assert_eq!(err.is_not_found(), status == 404);
        assert_eq!(err.is_forbidden(), status == 403);
        assert_eq!(err.is_unauthorized(), status == 401);
        assert_eq!(err.is_conflict(), status == 409);
        assert_eq!(err.is_gone(), status == 410);
        assert_eq!(err.is_precondition_failed(), status == 412);
        assert_eq!(err.is_validation(), status == 422);
        assert_eq!(err.is_retryable(), status >= 500);
        let text = err.to_string();
        assert!(text.contains(&format!("HTTP {status}")), "{text}");
        match status {
            422 => {
                assert!(api.detail.is_none());
                assert_eq!(api.validation.len(), 1);
                assert_eq!(api.validation[0].location(), "path.run_id");
                assert!(
                    text.contains("path.run_id: Input should be a valid UUID"),
                    "{text}"
                );
            }
            503 => assert_eq!(
                api.detail.as_deref(),
                Some("<html>Service Unavailable</html>")
            ),
            _ => assert!(api.detail.as_deref().is_some_and(|d| text.contains(d))),
        }
    }
}

// Proves 503, 503, 200 makes exactly three calls and returns the success. (FR-15)
#[test]
fn retries_server_errors_until_success() {
    let server = Scripted::start([
        Reply::json(503, r#"{"detail":"busy"}"#),
        Reply::json(503, r#"{"detail":"busy"}"#),
        Reply::json(200, &me_json("u-1")),
    ]);
    let me = client(&server.base_url(), "tok-retry", 4).me().unwrap();
    assert_eq!(me.user.id, "u-1");
    assert_eq!(server.calls(), 3);
}

// Proves attempts counts total calls: persistent 503 with attempts=2 is called twice. (FR-15)
#[test]
fn attempts_bound_total_calls() {
    let server = Scripted::start([]);
    let err = client(&server.base_url(), "tok-attempts", 2)
        .me()
        .unwrap_err();
    assert_eq!(err.status(), Some(500));
    assert_eq!(server.calls(), 2);
}

// Proves 429 honours Retry-After: the retry comes at least one second later. (FR-15)
#[test]
fn too_many_requests_honours_retry_after() {
    let server = Scripted::start([
        Reply::json(429, r#"{"detail":"slow down"}"#).with_header("Retry-After", "1"),
        Reply::json(200, &me_json("u-1")),
    ]);
    let mut settings = fast(&server.base_url(), 3);
    settings.me.retry_wait_max = Duration::from_secs(5);
    let c = Client::builder()
        .settings(settings)
        .token_provider(TokenProvider::fixed("tok-429"))
        .build()
        .unwrap();
    let start = Instant::now();
    c.me().unwrap();
    assert!(
        start.elapsed() >= Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    assert_eq!(server.calls(), 2);
}

// Proves a 404 is not retried. (FR-15)
#[test]
fn not_found_is_called_once() {
    let server = Scripted::start([Reply::json(404, r#"{"detail":"no such app"}"#)]);
    let err = client(&server.base_url(), "tok-404", 4)
        .application("nope")
        .unwrap_err();
    assert!(err.is_not_found());
    assert_eq!(server.calls(), 1);
}

// Proves a non-idempotent POST answered 503 is sent once. (FR-15)
#[test]
fn post_is_never_retried_on_server_error() {
    let server = Scripted::start([Reply::json(503, r#"{"detail":"busy"}"#)]);
    let err = client(&server.base_url(), "tok-post", 4)
        .run(RUN_ID)
        .cancel()
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert_eq!(server.calls(), 1);
    assert_eq!(server.received()[0].method, "POST");
    assert_eq!(
        server.received()[0].target,
        format!("/api/v1/runs/{RUN_ID}/cancel")
    );
}

// Proves a refused connection is retried even for a POST, since nothing was sent. (FR-15, FR-17)
#[test]
fn refused_connection_is_retryable_and_typed() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = client(&format!("http://127.0.0.1:{port}"), "tok-refused", 2)
        .run(RUN_ID)
        .cancel()
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Transport {
                kind: TransportKind::ConnectionRefused,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.is_retryable());
}

// Proves malformed JSON is a decode error naming the operation and field, never a panic. (FR-17, NFR-13)
#[test]
fn malformed_json_is_a_decode_error() {
    let server = Scripted::start([
        Reply::json(200, "{not json"),
        Reply::json(200, r#"{"user":{"id":42},"organization":{"id":"o"}}"#),
    ]);
    let c = client(&server.base_url(), "tok-decode", 1);
    let err = c.me().unwrap_err();
    assert!(matches!(err, Error::Decode { .. }), "{err:?}");
    assert!(err.to_string().contains("get_me"));
    let err = c.me().unwrap_err();
    let text = err.to_string();
    assert!(text.contains("user.id"), "{text}");
    assert!(!err.is_retryable());
}

// Proves a body cut short is a retryable transport error and is retried to success. (FR-15)
#[test]
fn truncated_body_is_retried() {
    let server = Scripted::start([
        Reply::Truncated {
            announced: 500,
            body: br#"{"user":{"id":"u-1""#.to_vec(),
        },
        Reply::json(200, &me_json("u-1")),
    ]);
    client(&server.base_url(), "tok-trunc", 3).me().unwrap();
    assert_eq!(server.calls(), 2);
    let server = Scripted::start([Reply::Truncated {
        announced: 500,
        body: b"{".to_vec(),
    }]);
    let err = client(&server.base_url(), "tok-trunc-1", 1)
        .me()
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
}

// Proves a slow server turns into a timeout error that is retried. (FR-16)
#[test]
fn slow_response_times_out() {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.path("/api/v1/me");
        then.status(200)
            .body(me_json("u-1"))
            .delay(Duration::from_millis(1500));
    });
    let mut settings = fast(&server.base_url(), 1);
    settings.me.timeout = Duration::from_millis(200);
    let c = Client::builder()
        .settings(settings)
        .token_provider(TokenProvider::fixed("tok-timeout"))
        .build()
        .unwrap();
    let err = c.me().unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
    assert!(err.is_retryable());
    assert!(err.to_string().contains("get_me"));
}

// Proves path segments are percent-encoded on the wire. (FR-19)
#[test]
fn path_segments_are_encoded_on_the_wire() {
    let server = Scripted::start([Reply::json(404, r#"{"detail":"x"}"#)]);
    let _ = client(&server.base_url(), "tok-enc", 1).application("a/b c?d#e");
    assert_eq!(
        server.received()[0].target,
        "/api/v1/applications/a%2Fb%20c%3Fd%23e"
    );
}

// Proves no token ever appears in an error's Display or Debug, even when the server echoes it. (NFR-05)
#[test]
fn tokens_never_appear_in_errors() {
    let token = "eyJhbGciOiJSUzI1NiJ9.secret-token-value.signature";
    let server = Scripted::start([
        Reply::json(401, &format!(r#"{{"detail":"invalid token {token}"}}"#)),
        Reply::json(
            422,
            &format!(
                r#"{{"detail":[{{"loc":["header"],"msg":"bad {token}","type":"x","input":"{token}"}}]}}"#
            ),
        ),
        Reply::json(200, "{oops"),
        Reply::Drop,
    ]);
    let c = client(&server.base_url(), token, 1);
    let mut errors = vec![
        c.me().unwrap_err(),
        c.me().unwrap_err(),
        c.me().unwrap_err(),
        c.me().unwrap_err(),
    ];
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    errors.push(
        client(&format!("http://127.0.0.1:{port}"), token, 1)
            .me()
            .unwrap_err(),
    );
    for err in &errors {
        let shown = format!("{err} / {err:?}");
        assert!(!shown.contains("secret-token-value"), "{shown}");
    }
    assert!(errors[0].to_string().contains("[redacted]"));
    assert!(!format!("{c:?}").contains("secret-token-value"));
}

// Proves a share token never shows in a Run's Debug output or in an error whose body echoes it
// (NFR-05).
#[test]
fn share_tokens_never_appear_in_debug_or_errors() {
    let secret = "st-very-secret-share-token";
    let server = Scripted::start([Reply::json(
        403,
        &format!(r#"{{"detail":"share token {secret} has no grant"}}"#),
    )]);
    let run = client(&server.base_url(), "tok-share-debug", 1)
        .run(RUN_ID)
        .with_share_token(secret);
    let shown = format!("{run:?} {:?}", run.artifact("a-1"));
    assert!(!shown.contains(secret), "{shown}");
    assert!(shown.contains(RUN_ID));
    let err = run.details().unwrap_err();
    let text = format!("{err} / {err:?}");
    assert!(err.is_forbidden());
    assert!(!text.contains(secret), "{text}");
    assert!(text.contains("[redacted]"), "{text}");
    assert!(
        server.received()[0].target.contains(secret),
        "the token is still sent"
    );
}
