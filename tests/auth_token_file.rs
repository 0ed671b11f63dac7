//! The token file shared with the Python SDK, the refresh-token login, in-memory tokens, logout
//! and status, through the public API and a `Client`.

mod auth_support;

use aignostics::settings::Secret;
use aignostics::{Client, TokenProvider, auth};
use auth_support::*;
use httpmock::prelude::*;
use serde_json::json;

/// Mocks the JWKS endpoint of `server`.
fn jwks(server: &MockServer) -> httpmock::Mock<'_> {
    server.mock(|when, then| {
        when.method(GET).path("/.well-known/jwks.json");
        then.status(200)
            .header("content-type", "application/json")
            .body(JWKS);
    })
}

/// Mocks the refresh grant for `refresh_token`, answering `access_token`.
fn refresh<'a>(
    server: &'a MockServer,
    refresh_token: &str,
    access_token: &str,
) -> httpmock::Mock<'a> {
    server.mock(|when, then| {
        when.method(POST)
            .path("/oauth/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .form_urlencoded_tuple("grant_type", "refresh_token")
            .form_urlencoded_tuple("client_id", "interactive-client")
            .form_urlencoded_tuple("refresh_token", refresh_token);
        then.status(200).json_body(
            json!({"access_token": access_token, "token_type": "Bearer", "expires_in": 3600}),
        );
    })
}

/// Mocks `GET /api/v1/me` for exactly this bearer token.
fn me<'a>(server: &'a MockServer, token: &str) -> httpmock::Mock<'a> {
    server.mock(|when, then| {
        when.method(GET)
            .path("/api/v1/me")
            .header("authorization", format!("Bearer {token}"));
        then.status(200).json_body(me_body());
    })
}

fn refresh_token() -> Secret {
    Secret::new(unique("refresh-token-value"))
}

// Proves a token file in the Python SDK's `token:exp` format is used as-is: no token request,
// no JWKS request, and the API call carries that token. (FR-03)
#[test]
fn python_token_file_is_used_without_login() {
    let server = MockServer::start();
    let dir = TempDir::new();
    let settings = settings(&server.base_url(), &server.base_url(), &dir.cache());
    let token = token(&server.base_url(), &unique("python-user"));
    let content = format!("{token}:{}", now() + 3600);
    std::fs::create_dir_all(dir.cache()).unwrap();
    std::fs::write(settings.token_file(), &content).unwrap();
    let token_endpoint = server.mock(|when, then| {
        when.path("/oauth/token");
        then.status(500);
    });
    let keys = jwks(&server);
    let api = me(&server, &token);

    let client = Client::builder()
        .settings(settings.clone())
        .build()
        .unwrap();
    client.me().unwrap();
    let info = auth::login_with(&settings).unwrap();

    api.assert_calls(1);
    token_endpoint.assert_calls(0);
    keys.assert_calls(0);
    assert_eq!(info.organization_id.as_deref(), Some("org-test"));
    assert_eq!(
        std::fs::read_to_string(settings.token_file()).unwrap(),
        content
    );

    // The client keeps the token in memory: the file is not read again while it is fresh.
    std::fs::write(settings.token_file(), "garbage").unwrap();
    client.nocache().me().unwrap();
    api.assert_calls(2);
    token_endpoint.assert_calls(0);
}

// Proves a token within five minutes of expiry triggers the refresh grant, the new token is
// verified, used, and written back in the Python format with owner-only permissions. (FR-03, FR-04, FR-07, NFR-06)
#[test]
fn expiring_token_triggers_refresh_grant_and_private_write() {
    let server = MockServer::start();
    let dir = TempDir::new();
    let cache = dir.path().join("nested").join("cache");
    let mut settings = settings(&server.base_url(), &server.base_url(), &cache);
    let secret = refresh_token();
    settings.auth.as_mut().unwrap().refresh_token = Some(secret.clone());
    let old = token(&server.base_url(), &unique("old"));
    std::fs::create_dir_all(&cache).unwrap();
    std::fs::write(settings.token_file(), format!("{old}:{}", now() + 200)).unwrap();
    let claims = claims(&server.base_url(), &unique("refreshed"));
    let new = sign(&claims, KID);
    let grant = refresh(&server, secret.expose(), &new);
    let keys = jwks(&server);
    let api_new = me(&server, &new);
    let api_old = me(&server, &old);

    let client = Client::builder()
        .settings(settings.clone())
        .build()
        .unwrap();
    client.me().unwrap();
    client.me().unwrap();

    grant.assert_calls(1);
    keys.assert_calls(1);
    api_old.assert_calls(0);
    assert_eq!(
        api_new.calls(),
        1,
        "second me() is served from the operation cache"
    );
    let text = std::fs::read_to_string(settings.token_file()).unwrap();
    assert_eq!(text, format!("{new}:{}", claims["exp"]));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&settings.token_file()), 0o600);
    }
    let leftovers: Vec<_> = std::fs::read_dir(&cache)
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .filter(|n| Some(n.as_os_str()) != settings.token_file().file_name())
        .collect();
    assert!(leftovers.is_empty(), "temporary files left: {leftovers:?}");
}

// Proves a cache directory the login creates is owner-only (0700) and the file 0600. (NFR-06)
#[cfg(unix)]
#[test]
fn created_cache_dir_is_private() {
    use std::os::unix::fs::PermissionsExt;
    let server = MockServer::start();
    let dir = TempDir::new();
    let cache = dir.path().join("a").join("b");
    let mut settings = settings(&server.base_url(), &server.base_url(), &cache);
    let secret = refresh_token();
    settings.auth.as_mut().unwrap().refresh_token = Some(secret.clone());
    let new = token(&server.base_url(), &unique("dir"));
    refresh(&server, secret.expose(), &new);
    jwks(&server);

    let info = auth::login_with(&settings).unwrap();

    assert!(info.subject.unwrap().starts_with("dir-"));
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&cache), 0o700);
    assert_eq!(mode(&settings.token_file()), 0o600);
}

// Proves empty, truncated, malformed and binary token files mean "not logged in" (no panic)
// and are replaced by a fresh login. (FR-03, NFR-13)
#[test]
fn corrupt_token_files_mean_not_logged_in() {
    let server = MockServer::start();
    let dir = TempDir::new();
    let mut settings = settings(&server.base_url(), &server.base_url(), &dir.cache());
    let secret = refresh_token();
    settings.auth.as_mut().unwrap().refresh_token = Some(secret.clone());
    let new = token(&server.base_url(), &unique("after-corrupt"));
    let grant = refresh(&server, secret.expose(), &new);
    jwks(&server);
    let valid = token(&server.base_url(), "x");
    let corrupt: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"\n".to_vec(),
        b"no-colon-here".to_vec(),
        format!("{valid}:").into_bytes(),
        format!("{valid}:17000000xx").into_bytes(),
        format!("{valid}:1:2").into_bytes(),
        format!(":{}", now() + 3600).into_bytes(),
        valid.as_bytes()[..10].to_vec(),
        vec![0xff, 0xfe, 0x00, b':', b'9'],
    ];
    std::fs::create_dir_all(dir.cache()).unwrap();
    for (i, bytes) in corrupt.iter().enumerate() {
        std::fs::write(settings.token_file(), bytes).unwrap();
        assert_eq!(auth::status_with(&settings).unwrap(), None, "case {i}");
        let info = auth::login_with(&settings).unwrap();
        assert!(info.subject.unwrap().starts_with("after-corrupt"));
        let text = std::fs::read_to_string(settings.token_file()).unwrap();
        assert!(text.starts_with(&format!("{new}:")), "case {i}");
    }
    grant.assert_calls(corrupt.len());
}

// Proves cache_token(false) keeps the token in memory only: a valid token file is neither
// read nor rewritten, no file appears, and one login serves many calls. (FR-03)
#[test]
fn uncached_login_never_touches_the_file() {
    let server = MockServer::start();
    let dir = TempDir::new();
    let mut settings = settings(&server.base_url(), &server.base_url(), &dir.cache());
    let secret = refresh_token();
    settings.auth.as_mut().unwrap().refresh_token = Some(secret.clone());
    let new = token(&server.base_url(), &unique("memory"));
    let grant = refresh(&server, secret.expose(), &new);
    jwks(&server);
    let api = me(&server, &new);

    // First without any file: nothing may be created.
    let client = Client::builder()
        .settings(settings.clone())
        .cache_token(false)
        .build()
        .unwrap();
    client.nocache().me().unwrap();
    client.nocache().me().unwrap();
    assert!(!dir.cache().exists());
    grant.assert_calls(1);
    api.assert_calls(2);

    // Then with someone else's valid file: it is ignored and left as it was.
    let other = token(&server.base_url(), &unique("file-user"));
    let content = format!("{other}:{}", now() + 3600);
    std::fs::create_dir_all(dir.cache()).unwrap();
    std::fs::write(settings.token_file(), &content).unwrap();
    let fresh = auth::Login::new(&settings)
        .cache_token(false)
        .token()
        .unwrap();
    assert_eq!(fresh, new);
    assert_eq!(
        std::fs::read_to_string(settings.token_file()).unwrap(),
        content
    );
}

// Proves a client with a token provider never creates, reads or writes the token file, even
// when the settings could log in. (FR-01)
#[test]
fn provider_client_never_touches_token_file() {
    let server = MockServer::start();
    let dir = TempDir::new();
    let mut settings = settings(&server.base_url(), &server.base_url(), &dir.cache());
    settings.auth.as_mut().unwrap().refresh_token = Some(refresh_token());
    let grant = server.mock(|when, then| {
        when.path("/oauth/token");
        then.status(500);
    });
    let token = unique("provider-token");
    let api = me(&server, &token);

    for cache_token in [true, false] {
        let client = Client::builder()
            .settings(settings.clone())
            .cache_token(cache_token)
            .token_provider(TokenProvider::fixed(token.clone()))
            .build()
            .unwrap();
        client.nocache().me().unwrap();
    }

    api.assert_calls(2);
    grant.assert_calls(0);
    assert!(!dir.cache().exists());
}

// Proves logout removes the file (true, then false), status turns None, and a running client
// forgets its in-memory token and logs in again. (FR-03)
#[test]
fn logout_removes_file_and_forgets_memory() {
    let server = MockServer::start();
    let dir = TempDir::new();
    let mut settings = settings(&server.base_url(), &server.base_url(), &dir.cache());
    let secret = refresh_token();
    settings.auth.as_mut().unwrap().refresh_token = Some(secret.clone());
    let new = token(&server.base_url(), &unique("logout"));
    let grant = refresh(&server, secret.expose(), &new);
    jwks(&server);
    let api = me(&server, &new);
    let client = Client::builder()
        .settings(settings.clone())
        .build()
        .unwrap();
    client.nocache().me().unwrap();
    let status = auth::status_with(&settings).unwrap().unwrap();
    assert!(status.subject.as_deref().unwrap().starts_with("logout-"));
    assert_eq!(status.role.as_deref(), Some("admin"));
    assert!(status.remaining().as_secs() > 3000);
    assert!(!format!("{status:?}").contains(&new));

    assert!(auth::logout_with(&settings).unwrap());
    assert!(!auth::logout_with(&settings).unwrap());
    assert_eq!(auth::status_with(&settings).unwrap(), None);

    client.nocache().me().unwrap();
    grant.assert_calls(2);
    api.assert_calls(2);
    assert!(settings.token_file().exists());
}

// Proves a 4xx refresh answer is final (one request) and a clear error without the refresh
// token, while 5xx answers are retried. (FR-04, NFR-05)
#[test]
fn refresh_grant_retries_5xx_but_not_4xx() {
    let server = MockServer::start();
    let dir = TempDir::new();
    let mut settings = settings(&server.base_url(), &server.base_url(), &dir.cache());
    let secret = refresh_token();
    settings.auth.as_mut().unwrap().refresh_token = Some(secret.clone());
    let mut rejected = server.mock(|when, then| {
        when.method(POST).path("/oauth/token");
        then.status(403).json_body(
            json!({"error": "invalid_grant", "error_description": "Unknown or invalid refresh token."}),
        );
    });

    let err = auth::login_with(&settings).unwrap_err();
    rejected.assert_calls(1);
    let text = err.to_string();
    assert!(matches!(err, aignostics::Error::Auth(_)), "{err:?}");
    assert!(
        text.contains("HTTP 403") && text.contains("invalid_grant"),
        "{text}"
    );
    assert!(!text.contains(secret.expose()) && !format!("{err:?}").contains(secret.expose()));
    assert!(!settings.token_file().exists());
    rejected.delete();

    let failing = server.mock(|when, then| {
        when.method(POST).path("/oauth/token");
        then.status(503);
    });
    let err = auth::login_with(&settings).unwrap_err();
    failing.assert_calls(3);
    assert!(err.to_string().contains("HTTP 503"), "{err}");
}

// Proves an unknown API root without login settings fails with a configuration error naming
// what to set, instead of reusing whatever token file exists. (FR-03, FR-18)
#[test]
fn unknown_root_without_auth_settings_is_a_config_error() {
    let server = MockServer::start();
    let dir = TempDir::new();
    let mut settings = settings(&server.base_url(), &server.base_url(), &dir.cache());
    settings.auth = None;
    std::fs::create_dir_all(dir.cache()).unwrap();
    std::fs::write(settings.token_file(), format!("abc:{}", now() + 3600)).unwrap();
    let api = server.mock(|when, then| {
        when.path("/api/v1/me");
        then.status(200).json_body(me_body());
    });
    let client = Client::builder().settings(settings).build().unwrap();
    let err = client.me().unwrap_err();
    assert!(matches!(err, aignostics::Error::Config(_)), "{err:?}");
    assert!(err.to_string().contains("AIGNOSTICS_TOKEN_URL"), "{err}");
    api.assert_calls(0);
}

/// A token with the claims of `environment`'s login (signature irrelevant: not verified here).
fn environment_token(environment: aignostics::settings::Environment, subject: &str) -> String {
    let auth = environment.auth();
    sign(
        &json!({
            "sub": subject,
            "aud": [auth.audience.clone()],
            "iss": auth.issuer(),
            "exp": now() + 3600,
        }),
        KID,
    )
}

// Proves a stored token is only used for the environment it was issued for: the shared
// `.token` serves production only with a production token (not a staging one), any other API
// root has a file of its own, and two roots with identical login settings never share a
// token. (FR-56, FR-03)
#[test]
fn stored_tokens_stay_with_their_environment() {
    use aignostics::settings::Environment;
    let dir = TempDir::new();
    std::fs::create_dir_all(dir.cache()).unwrap();
    let mut production = aignostics::Settings::default();
    production.cache_dir = dir.cache();
    assert_eq!(production.token_file(), dir.cache().join(".token"));
    let write = |path: std::path::PathBuf, token: &str| {
        std::fs::write(path, format!("{token}:{}", now() + 3600)).unwrap();
    };

    write(
        production.token_file(),
        &environment_token(Environment::Staging, "staging-user"),
    );
    assert_eq!(auth::status_with(&production).unwrap(), None);
    write(
        production.token_file(),
        &environment_token(Environment::Production, "prod-user"),
    );
    let info = auth::status_with(&production).unwrap().unwrap();
    assert_eq!(info.subject.as_deref(), Some("prod-user"));

    // The production login settings under another API root (what a crafted `.env` does):
    // another file, so the production token is not found.
    let mut elsewhere = production
        .clone()
        .with_api_root("http://127.0.0.1:9")
        .unwrap();
    elsewhere.auth = production.auth.clone();
    assert_ne!(elsewhere.token_file(), production.token_file());
    assert_eq!(auth::status_with(&elsewhere).unwrap(), None);

    // Two test roots with the same identity provider: each root's token stays its own.
    let idp = "http://127.0.0.1:7";
    let a = settings(idp, "http://127.0.0.1:10", &dir.cache());
    let b = settings(idp, "http://127.0.0.1:11", &dir.cache());
    assert_ne!(a.token_file(), b.token_file());
    write(a.token_file(), &token(idp, "user-of-a"));
    assert_eq!(
        auth::status_with(&a).unwrap().unwrap().subject.as_deref(),
        Some("user-of-a")
    );
    assert_eq!(auth::status_with(&b).unwrap(), None);
    assert_eq!(
        auth::status_with(&production)
            .unwrap()
            .unwrap()
            .subject
            .as_deref(),
        Some("prod-user"),
        "the shared file is untouched"
    );
}

// Proves a token file whose expiry is the largest integer reads as a login lasting until the
// last representable second instead of panicking. (NFR-13, FR-03)
#[test]
fn huge_token_file_expiry_does_not_panic() {
    let server = MockServer::start();
    let dir = TempDir::new();
    let settings = settings(&server.base_url(), &server.base_url(), &dir.cache());
    std::fs::create_dir_all(dir.cache()).unwrap();
    let token = token(&server.base_url(), "forever");
    std::fs::write(
        settings.token_file(),
        format!("{token}:18446744073709551615"),
    )
    .unwrap();
    let info = auth::status_with(&settings).unwrap().unwrap();
    assert_eq!(info.expires_at_rfc3339(), "9999-12-30T22:00:00Z");
    assert!(info.remaining().as_secs() > 100 * 365 * 86_400);
}
