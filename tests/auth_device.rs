//! The device flow (RFC 8628) against a scripted identity provider.

mod auth_support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aignostics::auth::{Login, LoginPrompt};
use auth_support::*;
use serde_json::json;

/// An identity provider whose token endpoint answers `script[n]` to the n-th poll (the last
/// entry repeats) with `(status, error code or "token")`.
fn provider(script: Vec<(u16, &'static str)>, access_token: Arc<Mutex<String>>) -> Scripted {
    let polls = AtomicUsize::new(0);
    Scripted::start(move |req| match req.path.as_str() {
        "/oauth/device/code" => (
            200,
            json!({
                "device_code": "dev-code-1",
                "user_code": "ABCD-EFGH",
                "verification_uri": "https://idp.example/activate",
                "verification_uri_complete": "https://idp.example/activate?user_code=ABCD-EFGH",
                "expires_in": 900,
                "interval": 0
            })
            .to_string(),
        ),
        "/oauth/token" => {
            let n = polls.fetch_add(1, Ordering::SeqCst).min(script.len() - 1);
            match script[n] {
                (status, "token") => (
                    status,
                    json!({"access_token": *access_token.lock().unwrap(), "expires_in": 3600})
                        .to_string(),
                ),
                (status, error) => (status, json!({"error": error}).to_string()),
            }
        }
        "/.well-known/jwks.json" => (200, JWKS.to_string()),
        _ => (404, "{}".into()),
    })
}

fn start(script: Vec<(u16, &'static str)>) -> (Scripted, TempDir, aignostics::Settings, String) {
    let slot = Arc::new(Mutex::new(String::new()));
    let idp = provider(script, Arc::clone(&slot));
    let dir = TempDir::new();
    let settings = settings(&idp.base_url, &idp.base_url, &dir.cache());
    let token = token(&idp.base_url, &unique("device-user"));
    *slot.lock().unwrap() = token.clone();
    (idp, dir, settings, token)
}

// Proves the device flow shows the user code, keeps polling through two `authorization_pending`
// answers and a `slow_down` (which lengthens the interval), then returns the token and stores it. (FR-06)
#[test]
fn device_flow_polls_until_token() {
    let (idp, _dir, settings, token) = start(vec![
        (400, "authorization_pending"),
        (400, "authorization_pending"),
        (400, "slow_down"),
        (200, "token"),
    ]);
    let prompts = Arc::new(Mutex::new(Vec::new()));
    let shown = Arc::clone(&prompts);
    let started = Instant::now();

    let info = Login::new(&settings)
        .device_flow()
        .slow_down_step(Duration::from_millis(300))
        .prompt(move |p| shown.lock().unwrap().push(p.clone()))
        .run()
        .unwrap();

    assert!(
        started.elapsed() >= Duration::from_millis(300),
        "slow_down lengthened the interval"
    );
    assert!(info.subject.unwrap().starts_with("device-user"));
    let polls = idp.hits("/oauth/token");
    assert_eq!(polls.len(), 4);
    for poll in &polls {
        assert_eq!(
            form_value(&poll.body, "grant_type").as_deref(),
            Some("urn:ietf:params:oauth:grant-type:device_code")
        );
        assert_eq!(
            form_value(&poll.body, "device_code").as_deref(),
            Some("dev-code-1")
        );
        assert_eq!(
            form_value(&poll.body, "client_id").as_deref(),
            Some("device-client")
        );
    }
    let start = idp.hits("/oauth/device/code");
    assert_eq!(start.len(), 1);
    assert_eq!(
        form_value(&start[0].body, "client_id").as_deref(),
        Some("device-client")
    );
    assert_eq!(
        form_value(&start[0].body, "audience").as_deref(),
        Some(AUDIENCE)
    );
    assert_eq!(
        form_value(&start[0].body, "scope").as_deref(),
        Some("openid offline_access")
    );
    assert_eq!(
        prompts.lock().unwrap().as_slice(),
        [LoginPrompt::DeviceCode {
            user_code: "ABCD-EFGH".into(),
            verification_uri: "https://idp.example/activate".into(),
            verification_uri_complete: Some(
                "https://idp.example/activate?user_code=ABCD-EFGH".into()
            ),
        }]
    );
    let stored = std::fs::read_to_string(settings.token_file()).unwrap();
    assert!(stored.starts_with(&format!("{token}:")));
}

// Proves `access_denied` and `expired_token` end the flow with clear errors and nothing stored. (FR-06)
#[test]
fn denied_or_expired_device_login_fails() {
    for (error, expected) in [
        ("access_denied", "denied"),
        ("expired_token", "expired"),
        ("invalid_client", "invalid_client"),
    ] {
        let (idp, _dir, settings, _) = start(vec![(400, "authorization_pending"), (403, error)]);

        let err = Login::new(&settings)
            .device_flow()
            .prompt(|_| {})
            .run()
            .unwrap_err();

        assert!(matches!(err, aignostics::Error::Auth(_)), "{err:?}");
        assert!(err.to_string().contains(expected), "{error}: {err}");
        assert_eq!(idp.hits("/oauth/token").len(), 2);
        assert!(!settings.token_file().exists());
    }
}

// Proves a login nobody confirms stops at the overall timeout. (FR-06)
#[test]
fn unconfirmed_device_login_times_out() {
    let (_idp, _dir, settings, _) = start(vec![(400, "authorization_pending")]);
    let started = Instant::now();

    let err = Login::new(&settings)
        .device_flow()
        .timeout(Duration::from_millis(400))
        .prompt(|_| {})
        .run()
        .unwrap_err();

    assert!(err.is_timeout(), "{err:?}");
    assert!(started.elapsed() >= Duration::from_millis(400));
}

// Proves a device login whose token endpoint accepts the poll and never answers ends at the
// login's timeout as a timeout of the login, not after the retry budget of 30 s attempts. (FR-48, FR-06)
#[test]
fn silent_token_endpoint_ends_at_the_login_timeout() {
    let idp = Scripted::start(|req| match req.path.as_str() {
        "/oauth/device/code" => (
            200,
            json!({
                "device_code": "dev-code-silent",
                "user_code": "SILE-NT00",
                "verification_uri": "https://idp.example/activate",
                "expires_in": 900,
                "interval": 0
            })
            .to_string(),
        ),
        "/oauth/token" => {
            // Longer than the test: every poll (and every retry queued behind it) is unanswered.
            std::thread::sleep(Duration::from_secs(600));
            (500, "{}".into())
        }
        _ => (404, "{}".into()),
    });
    let dir = TempDir::new();
    let mut settings = settings(&idp.base_url, &idp.base_url, &dir.cache());
    settings.auth_operation.timeout = Duration::from_secs(30);

    let err = Login::new(&settings)
        .device_flow()
        .timeout(Duration::from_millis(500))
        .prompt(|_| {})
        .run()
        .unwrap_err();

    assert!(
        matches!(&err, aignostics::Error::Timeout { operation, .. } if operation == "device_login"),
        "{err:?}"
    );
    assert_eq!(idp.hits("/oauth/token").len(), 1);
    assert!(!settings.token_file().exists());
}

// Proves the device flow without a device client id is a configuration error naming the
// variable, before any request. (FR-06)
#[test]
fn device_flow_needs_client_id() {
    let (idp, _dir, mut settings, _) = start(vec![(200, "token")]);
    settings.auth.as_mut().unwrap().client_id_device = None;

    let err = Login::new(&settings).device_flow().run().unwrap_err();

    assert!(
        err.to_string().contains("AIGNOSTICS_CLIENT_ID_DEVICE"),
        "{err}"
    );
    assert!(idp.seen.lock().unwrap().is_empty());
}

// Proves token-endpoint server errors while polling are retried instead of ending the login. (FR-06)
#[test]
fn device_polling_retries_server_errors() {
    let (idp, _dir, settings, _) = start(vec![
        (503, "temporarily_unavailable"),
        (400, "authorization_pending"),
        (200, "token"),
    ]);
    Login::new(&settings)
        .device_flow()
        .cache_token(false)
        .prompt(|_| {})
        .run()
        .unwrap();
    assert_eq!(idp.hits("/oauth/token").len(), 3);
    assert!(!settings.token_file().exists());
}
