//! Shared helpers of the integration tests: a client per test (own token, own server) and the
//! model fixtures.
#![allow(dead_code)]

use std::sync::atomic::{AtomicU32, Ordering};

use aignostics::{Client, Settings, TokenProvider};
use httpmock::MockServer;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A token no other test uses, so process-wide cache entries never collide.
pub fn unique_token(label: &str) -> String {
    static N: AtomicU32 = AtomicU32::new(0);
    format!(
        "tok-{label}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// Settings for `server` with no back-off waits and `attempts` calls per operation group.
pub fn settings(server: &MockServer, attempts: u32) -> Settings {
    let mut s = Settings::default()
        .with_api_root(&server.base_url())
        .expect("valid root");
    s.me = s.me.clone().no_wait(attempts);
    s.application = s.application.clone().no_wait(attempts);
    s.application_version = s.application_version.clone().no_wait(attempts);
    s.run = s.run.clone().no_wait(attempts);
    s
}

/// A client for `server` with a fresh token (returned too, to match the bearer header).
pub fn client(server: &MockServer, label: &str) -> (Client, String) {
    client_with(settings(server, 3), label)
}

/// A client with these settings and a fresh token.
pub fn client_with(settings: Settings, label: &str) -> (Client, String) {
    let token = unique_token(label);
    let client = Client::builder()
        .settings(settings)
        .token_provider(TokenProvider::fixed(token.clone()))
        .build()
        .expect("client builds");
    (client, token)
}

/// `Bearer {token}`.
pub fn bearer(token: &str) -> String {
    format!("Bearer {token}")
}

/// The fixture of schema `name` from `tests/fixtures/models.json`.
pub fn fixture(name: &str) -> Value {
    let all: serde_json::Map<String, Value> =
        serde_json::from_str(include_str!("../fixtures/models.json")).expect("fixtures parse");
    all.get(name)
        .cloned()
        .unwrap_or_else(|| panic!("no fixture for {name}"))
}

/// The fixture of schema `name`, decoded.
pub fn model<T: DeserializeOwned>(name: &str) -> T {
    serde_json::from_value(fixture(name)).expect("fixture decodes")
}

/// A matcher for the exact raw query string (`""` for none).
pub fn query_is(
    expected: &'static str,
) -> impl Fn(&httpmock::HttpMockRequest) -> bool + Send + Sync {
    move |req| req.uri().query().unwrap_or("") == expected
}

/// A matcher for the exact raw (still percent-encoded) path.
pub fn raw_path_is(expected: String) -> impl Fn(&httpmock::HttpMockRequest) -> bool + Send + Sync {
    move |req| req.uri().path() == expected
}

pub const RUN_ID: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";
pub const ARTIFACT_ID: &str = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
pub const GRANT_ID: &str = "0f6d1b9e-2c1e-4f55-8f3e-6e9b6d3f2a10";
pub const SHARE_TOKEN_ID: &str = "9b2f3c4d-1a2b-4c3d-8e9f-0a1b2c3d4e5f";
