//! Machine-to-machine tokens: the client-credentials grant, its cache, single flight, refresh
//! ahead of expiry, errors, and use as a `TokenProvider`.

mod auth_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Barrier};
use std::time::{Duration, SystemTime};

use aignostics::auth::{ClientCredentials, ExpiringTokenSource, provider_from};
use aignostics::{Client, OperationSettings, Settings, TokenProvider};
use auth_support::*;
use httpmock::prelude::*;
use serde_json::json;

const SECRET: &str = "very-secret-client-secret";

fn fast_retry(attempts: u32) -> OperationSettings {
    Settings::default().auth_operation.no_wait(attempts)
}

fn grant<'a>(server: &'a MockServer, token: &str, expires_in: u64) -> httpmock::Mock<'a> {
    server.mock(|when, then| {
        when.method(POST)
            .path("/oauth/token")
            .header("content-type", "application/x-www-form-urlencoded")
            .form_urlencoded_tuple("grant_type", "client_credentials")
            .form_urlencoded_tuple("client_id", "m2m-client")
            .form_urlencoded_tuple("client_secret", SECRET)
            .form_urlencoded_tuple("audience", AUDIENCE);
        then.status(200)
            // A slow answer widens the window in which the other threads pile up.
            .delay(Duration::from_millis(200))
            .json_body(
                json!({"access_token": token, "token_type": "Bearer", "expires_in": expires_in}),
            );
    })
}

fn credentials(token_url: String) -> ClientCredentials {
    ClientCredentials::new(token_url, "m2m-client", SECRET, AUDIENCE).retry(&fast_retry(3))
}

// Proves 8 threads × 50 calls cause exactly one token request and all get the same token. (FR-08, NFR-10)
#[test]
fn concurrent_callers_share_one_request() {
    let server = MockServer::start();
    let token = unique("m2m-token");
    let mock = grant(&server, &token, 3600);
    let credentials = credentials(server.url("/oauth/token"));
    let barrier = Arc::new(Barrier::new(8));
    let before = SystemTime::now();

    let handles: Vec<_> = (0..8)
        .map(|_| {
            let c = credentials.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                (0..50).map(|_| c.token().unwrap()).collect::<Vec<_>>()
            })
        })
        .collect();

    for h in handles {
        assert!(h.join().unwrap().iter().all(|t| *t == token));
    }
    let after = SystemTime::now();
    mock.assert_calls(1);
    let expires = credentials.expires_at().unwrap();
    let lifetime = Duration::from_secs(3600);
    assert!(expires >= before + lifetime && expires <= after + lifetime);
}

// Proves a token entering the refresh margin is replaced by exactly one new request while
// many threads keep asking, and everyone gets a valid token throughout. (FR-08)
#[test]
fn expiry_approaching_causes_one_refresh() {
    let calls = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let idp = Scripted::start(move |_| {
        let n = counter.fetch_add(1, Ordering::SeqCst);
        std::thread::sleep(Duration::from_millis(200));
        // The first token is good for one second beyond the five-minute margin.
        let expires_in = if n == 0 { 301 } else { 3600 };
        (
            200,
            json!({"access_token": format!("tok-{n}"), "expires_in": expires_in}).to_string(),
        )
    });
    let credentials = credentials(format!("{}/oauth/token", idp.base_url));
    assert_eq!(credentials.token().unwrap(), "tok-0");
    let first_expiry = credentials.expires_at().unwrap();
    std::thread::sleep(Duration::from_millis(1500));

    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let c = credentials.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                (0..50).map(|_| c.token().unwrap()).collect::<Vec<_>>()
            })
        })
        .collect();
    let tokens: Vec<String> = handles
        .into_iter()
        .flat_map(|h| h.join().unwrap())
        .collect();

    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert!(tokens.iter().all(|t| t == "tok-0" || t == "tok-1"));
    assert!(tokens.iter().any(|t| t == "tok-1"));
    assert_eq!(credentials.token().unwrap(), "tok-1");
    assert!(credentials.expires_at().unwrap() > first_expiry + Duration::from_secs(3000));
}

// Proves a 4xx answer is a clear error after one request, never showing the secret, and that
// concurrent waiters share that failure instead of each sending a request. (FR-08, NFR-05)
#[test]
fn client_errors_are_final_and_hide_the_secret() {
    let server = MockServer::start();
    let mock = server.mock(|when, then| {
        when.method(POST).path("/oauth/token");
        then.status(401)
            .delay(Duration::from_millis(200))
            .json_body(json!({"error": "access_denied", "error_description": "Unauthorized"}));
    });
    let credentials = credentials(server.url("/oauth/token"));
    let barrier = Arc::new(Barrier::new(4));

    let handles: Vec<_> = (0..4)
        .map(|_| {
            let c = credentials.clone();
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                c.token().unwrap_err()
            })
        })
        .collect();

    for h in handles {
        let err = h.join().unwrap();
        let text = err.to_string();
        assert!(matches!(err, aignostics::Error::Auth(_)), "{err:?}");
        assert!(
            text.contains("HTTP 401") && text.contains("access_denied"),
            "{text}"
        );
        assert!(!text.contains(SECRET) && !format!("{err:?}").contains(SECRET));
    }
    mock.assert_calls(1);
    assert_eq!(credentials.expires_at(), None);
}

// Proves server errors are retried (three attempts here) before failing. (FR-08)
#[test]
fn server_errors_are_retried() {
    let server = MockServer::start();
    let mock = server.mock(|when, then| {
        when.method(POST).path("/oauth/token");
        then.status(502);
    });
    let err = credentials(server.url("/oauth/token")).token().unwrap_err();
    mock.assert_calls(3);
    assert!(err.to_string().contains("HTTP 502"), "{err}");
}

// Proves Debug shows neither the secret nor the token. (NFR-05)
#[test]
fn debug_hides_secret_and_token() {
    let server = MockServer::start();
    let token = unique("debug-token");
    grant(&server, &token, 3600);
    let credentials = credentials(server.url("/oauth/token"));
    credentials.token().unwrap();
    let debug = format!("{credentials:?}");
    assert!(
        !debug.contains(SECRET) && !debug.contains(&token),
        "{debug}"
    );
    assert!(debug.contains("m2m-client"), "{debug}");
}

// Proves ClientCredentials works as a client's TokenProvider (bearer header, no token file)
// and that a failing provider's plain `token()` is empty. (FR-08, FR-01)
#[test]
fn credentials_as_token_provider() {
    let server = MockServer::start();
    let dir = TempDir::new();
    let token = unique("provider-m2m");
    grant(&server, &token, 3600);
    let me = server.mock(|when, then| {
        when.method(GET)
            .path("/api/v1/me")
            .header("authorization", format!("Bearer {token}"));
        then.status(200).json_body(me_body());
    });
    let mut settings = Settings::default()
        .with_api_root(&server.base_url())
        .unwrap();
    settings.cache_dir = dir.cache();
    settings.me = settings.me.clone().no_wait(1);
    let provider = TokenProvider::from(credentials(server.url("/oauth/token")));
    let client = Client::builder()
        .settings(settings.clone())
        .token_provider(provider)
        .build()
        .unwrap();

    client.me().unwrap();
    me.assert_calls(1);
    assert!(!dir.cache().exists());

    let broken =
        provider_from(credentials("http://127.0.0.1:1/oauth/token".into()).retry(&fast_retry(1)));
    assert_eq!(broken.token(), "");
}

// Proves the ExpiringTokenSource seam returns the token with its expiry. (FR-09)
#[test]
fn expiring_source_reports_expiry() {
    let server = MockServer::start();
    let token = unique("source-token");
    grant(&server, &token, 1800);
    let credentials = credentials(server.url("/oauth/token"));
    let source: &dyn ExpiringTokenSource = &credentials;
    let before = SystemTime::now();
    let (got, expires) = source.fetch().unwrap();
    let after = SystemTime::now();
    assert_eq!(got, token);
    assert_eq!(Some(expires), credentials.expires_at());
    let lifetime = Duration::from_secs(1800);
    assert!(expires >= before + lifetime && expires <= after + lifetime);
}

fn api_settings(server: &MockServer, dir: &TempDir) -> Settings {
    let mut settings = Settings::default()
        .with_api_root(&server.base_url())
        .unwrap();
    settings.cache_dir = dir.cache();
    settings.me = settings.me.clone().no_wait(3);
    settings
}

// Proves a wrong client secret ends the request with Error::Auth carrying the identity
// provider's reason, and that nothing is sent to the API. (FR-47, FR-08)
#[test]
fn wrong_secret_is_an_auth_error_and_sends_nothing() {
    let server = MockServer::start();
    let dir = TempDir::new();
    let idp = server.mock(|when, then| {
        when.method(POST).path("/oauth/token");
        then.status(401).json_body(
            json!({"error": "access_denied", "error_description": "Wrong client secret"}),
        );
    });
    let api = server.mock(|when, then| {
        when.path_includes("/api/");
        then.status(200).json_body(me_body());
    });
    let provider = TokenProvider::from(credentials(server.url("/oauth/token")));
    let client = Client::builder()
        .settings(api_settings(&server, &dir))
        .token_provider(provider)
        .build()
        .unwrap();
    let err = client.me().unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, aignostics::Error::Auth(_)), "{err:?}");
    assert!(text.contains("Wrong client secret"), "{text}");
    assert!(!text.contains(SECRET), "{text}");
    idp.assert_calls(1);
    api.assert_calls(0);
}

// Proves a fallible provider's failure is Error::Auth naming the cause, sending nothing to the
// API, and that a provider_from source that cannot reach its identity provider fails with that
// failure (not an API 401), sending nothing either. (FR-47)
#[test]
fn fallible_provider_error_is_an_auth_error_and_sends_nothing() {
    let server = MockServer::start();
    let dir = TempDir::new();
    let api = server.mock(|when, then| {
        when.path_includes("/api/");
        then.status(200).json_body(me_body());
    });
    let failing = TokenProvider::fallible(|| Err::<String, _>("the vault is sealed"));
    let client = Client::builder()
        .settings(api_settings(&server, &dir))
        .token_provider(failing)
        .build()
        .unwrap();
    let err = client.me().unwrap_err();
    assert!(matches!(err, aignostics::Error::Auth(_)), "{err:?}");
    assert!(err.to_string().contains("the vault is sealed"), "{err}");

    let unreachable =
        provider_from(credentials("http://127.0.0.1:1/oauth/token".into()).retry(&fast_retry(1)));
    let client = Client::builder()
        .settings(api_settings(&server, &dir))
        .token_provider(unreachable)
        .build()
        .unwrap();
    let err = client.me().unwrap_err();
    assert!(!err.is_unauthorized(), "{err:?}");
    api.assert_calls(0);
}

// Proves a token answer without `expires_in` whose JWT claims the largest `exp` gives a capped
// expiry instead of a panic, and a 401 echoing the client secret (as sent and form-encoded)
// keeps it out of the error. (NFR-13, NFR-05)
#[test]
fn hostile_token_answers_neither_panic_nor_leak() {
    let server = MockServer::start();
    let forever = sign(&json!({"sub": "m2m", "exp": u64::MAX}), KID);
    server.mock(|when, then| {
        when.method(POST).path("/oauth/token");
        then.status(200)
            .json_body(json!({"access_token": forever, "token_type": "Bearer"}));
    });
    let (token, expires_at) = credentials(server.url("/oauth/token"))
        .token_with_expiry()
        .unwrap();
    assert_eq!(token, forever);
    assert!(expires_at > SystemTime::now() + Duration::from_secs(100 * 365 * 86_400));

    let echo = MockServer::start();
    let secret = "s3cret+with/odd=chars&more";
    let encoded = "s3cret%2Bwith%2Fodd%3Dchars%26more";
    echo.mock(|when, then| {
        when.method(POST).path("/oauth/token");
        then.status(401).json_body(json!({
            "error": "invalid_client",
            "error_description": format!("wrong secret {secret} (sent as client_secret={encoded})"),
        }));
    });
    let err = ClientCredentials::new(echo.url("/oauth/token"), "m2m-client", secret, AUDIENCE)
        .retry(&fast_retry(1))
        .token()
        .unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(
        text.contains("invalid_client") && text.contains("[redacted]"),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");
}
