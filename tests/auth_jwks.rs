//! Token verification against the JWKS: signature, audience, issuer, expiry, key ids, caching
//! and which JWKS failures are retried.

mod auth_support;

use aignostics::auth;
use auth_support::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use httpmock::prelude::*;
use serde_json::json;

fn jwks(server: &MockServer) -> httpmock::Mock<'_> {
    server.mock(|when, then| {
        when.method(GET).path("/.well-known/jwks.json");
        then.status(200)
            .header("content-type", "application/json")
            .body(JWKS);
    })
}

fn setup() -> (MockServer, TempDir, aignostics::Settings) {
    let server = MockServer::start();
    let dir = TempDir::new();
    let s = settings(&server.base_url(), &server.base_url(), &dir.cache());
    (server, dir, s)
}

// Proves a correctly signed token with the right audience, issuer and expiry is accepted and
// described, and that the JWKS is fetched once for several verifications. (FR-07)
#[test]
fn valid_token_is_accepted_and_jwks_cached() {
    let (server, _dir, settings) = setup();
    let keys = jwks(&server);
    let claims = claims(&server.base_url(), "auth0|user-1");
    let token = sign(&claims, KID);

    let info = auth::verify_token(&settings, &token).unwrap();
    auth::verify_token(&settings, &token).unwrap();
    auth::verify_token(&settings, &token).unwrap();

    keys.assert_calls(1);
    assert_eq!(info.subject.as_deref(), Some("auth0|user-1"));
    assert_eq!(info.issuer, Some(format!("{}/", server.base_url())));
    assert_eq!(info.audience, [AUDIENCE, "https://other"]);
    assert_eq!(info.scope, ["openid", "offline_access"]);
    assert_eq!(info.authorized_party.as_deref(), Some("interactive-client"));
    assert_eq!(
        info.expires_at,
        std::time::UNIX_EPOCH + std::time::Duration::from_secs(claims["exp"].as_u64().unwrap())
    );
}

// Proves tokens for another audience, from another issuer, without an issuer, or expired are
// rejected with an Auth error naming the reason. (FR-07)
#[test]
fn wrong_audience_issuer_or_expiry_is_rejected() {
    let (server, _dir, settings) = setup();
    jwks(&server);
    let base = server.base_url();
    let mut wrong_aud = claims(&base, "u");
    wrong_aud["aud"] = json!("https://someone-else");
    let mut wrong_iss = claims(&base, "u");
    wrong_iss["iss"] = json!("https://evil.example.com/");
    let mut no_iss = claims(&base, "u");
    no_iss.as_object_mut().unwrap().remove("iss");
    let mut expired = claims(&base, "u");
    expired["exp"] = json!(now() - 1);
    let mut no_exp = claims(&base, "u");
    no_exp.as_object_mut().unwrap().remove("exp");

    for (claims, expected) in [
        (wrong_aud, "audience mismatch"),
        (wrong_iss, "issuer mismatch"),
        (no_iss, "no `iss`"),
        (expired, "expired"),
        (no_exp, "`exp`"),
    ] {
        let err = auth::verify_token(&settings, &sign(&claims, KID)).unwrap_err();
        assert!(matches!(err, aignostics::Error::Auth(_)), "{err:?}");
        assert!(err.to_string().contains(expected), "{expected}: {err}");
    }
}

// Proves an unknown key id is rejected after one fresh look at the JWKS (key rotation). (FR-07)
#[test]
fn unknown_kid_is_rejected_after_one_refetch() {
    let (server, _dir, settings) = setup();
    let keys = jwks(&server);
    let token = sign(&claims(&server.base_url(), "u"), "rotated-away");

    let err = auth::verify_token(&settings, &token).unwrap_err();

    assert!(err.to_string().contains("rotated-away"), "{err}");
    keys.assert_calls(2);
}

// Proves a tampered payload, an `alg: none` token and garbage are rejected. (FR-07, NFR-13)
#[test]
fn tampered_and_unsigned_tokens_are_rejected() {
    let (server, _dir, settings) = setup();
    jwks(&server);
    let good = sign(&claims(&server.base_url(), "user"), KID);
    let parts: Vec<&str> = good.split('.').collect();
    let mut forged = claims(&server.base_url(), "admin");
    forged["exp"] = json!(now() + 999_999);
    let forged_payload = URL_SAFE_NO_PAD.encode(forged.to_string());
    let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    let none_header = URL_SAFE_NO_PAD.encode(r#"{"alg":"none","kid":"test-key-1"}"#);
    let unsigned = format!("{none_header}.{forged_payload}.");

    let err = auth::verify_token(&settings, &tampered).unwrap_err();
    assert!(err.to_string().contains("signature"), "{err}");
    let err = auth::verify_token(&settings, &unsigned).unwrap_err();
    assert!(err.to_string().contains("RS256"), "{err}");
    for garbage in ["", "abc", "a.b", "a.b.c.d", "%%.%%.%%"] {
        assert!(
            auth::verify_token(&settings, garbage).is_err(),
            "{garbage:?}"
        );
    }
}

// Proves JWKS server errors are retried while a 404 is not. (FR-07)
#[test]
fn jwks_failures_retry_only_when_transient() {
    let (server, _dir, settings) = setup();
    let token = sign(&claims(&server.base_url(), "u"), KID);
    let mut failing = server.mock(|when, then| {
        when.method(GET).path("/.well-known/jwks.json");
        then.status(503);
    });
    auth::verify_token(&settings, &token).unwrap_err();
    failing.assert_calls(3);
    failing.delete();

    let missing = server.mock(|when, then| {
        when.method(GET).path("/.well-known/jwks.json");
        then.status(404);
    });
    let err = auth::verify_token(&settings, &token).unwrap_err();
    assert!(err.to_string().contains("HTTP 404"), "{err}");
    missing.assert_calls(1);
}

// Proves a JWKS endpoint that drops connections is retried (three attempts with these
// settings) and reported as a retryable transport error. (FR-07)
#[test]
fn jwks_connection_errors_are_retried() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = std::sync::Arc::clone(&accepted);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            drop(stream);
        }
    });
    let dir = TempDir::new();
    let settings = settings(&base, &base, &dir.cache());
    let token = sign(&claims(&base, "u"), KID);

    let err = auth::verify_token(&settings, &token).unwrap_err();

    assert!(err.is_retryable(), "{err:?}");
    assert!(err.to_string().contains("fetch_jwks"), "{err}");
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 3);
}
