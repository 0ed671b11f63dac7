//! The browser login (authorization code + PKCE): the test plays the browser by sending the
//! redirect to the local callback server. No real browser is opened.

mod auth_support;

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aignostics::auth::{Login, LoginPrompt};
use auth_support::*;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use httpmock::prelude::*;
use serde_json::json;
use sha2::{Digest, Sha256};

struct Setup {
    server: MockServer,
    _dir: TempDir,
    settings: aignostics::Settings,
    port: u16,
    redirect: String,
}

fn setup() -> Setup {
    let server = MockServer::start();
    let dir = TempDir::new();
    let mut settings = settings(&server.base_url(), &server.base_url(), &dir.cache());
    let port = free_port();
    let redirect = format!("http://127.0.0.1:{port}/callback");
    {
        let auth = settings.auth.as_mut().unwrap();
        auth.redirect_uri = redirect.clone();
        auth.organization_id = Some("org-9".into());
    }
    server.mock(|when, then| {
        when.method(GET).path("/.well-known/jwks.json");
        then.status(200).body(JWKS);
    });
    Setup {
        server,
        _dir: dir,
        settings,
        port,
        redirect,
    }
}

/// A plain GET to the callback server, as a browser would send it: (status, body).
fn browser_get(url: &str) -> (u16, String) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut response = agent.get(url).call().unwrap();
    let status = response.status().as_u16();
    (status, response.body_mut().read_to_string().unwrap())
}

/// An opener that records the authorization URL and, in the background, first requests a
/// favicon and then follows the redirect with the query `make_query(state)`. The callback
/// server's answers arrive on the returned channel.
#[allow(clippy::type_complexity)]
fn fake_browser(
    port: u16,
    make_query: impl Fn(&str) -> String + Send + Sync + 'static,
) -> (
    impl Fn(&str) -> std::io::Result<()> + Send + Sync + 'static,
    Arc<Mutex<Option<String>>>,
    mpsc::Receiver<(u16, String)>,
) {
    let (tx, rx) = mpsc::channel();
    let seen_url = Arc::new(Mutex::new(None));
    let record = Arc::clone(&seen_url);
    let tx = Mutex::new(tx);
    let opener = move |url: &str| {
        *record.lock().unwrap() = Some(url.to_string());
        let query = url.split_once('?').unwrap().1;
        let state = form_value(query, "state").unwrap();
        let callback_query = make_query(&state);
        let tx = tx.lock().unwrap().clone();
        std::thread::spawn(move || {
            let favicon = browser_get(&format!("http://127.0.0.1:{port}/favicon.ico"));
            tx.send(favicon).unwrap();
            let answer = browser_get(&format!(
                "http://127.0.0.1:{port}/callback?{callback_query}"
            ));
            tx.send(answer).unwrap();
        });
        Ok(())
    };
    (opener, seen_url, rx)
}

// Proves the browser flow: the authorization URL carries the PKCE S256 challenge, state,
// audience, scopes and organization; the callback with the right state exchanges the code
// with the matching verifier; the browser sees a success page; stray requests are ignored. (FR-05)
#[test]
fn pkce_flow_exchanges_code_for_token() {
    let s = setup();
    let token = token(&s.server.base_url(), &unique("pkce-user"));
    let challenge: Arc<Mutex<Option<String>>> = Arc::new(Mutex::new(None));
    let expected = Arc::clone(&challenge);
    let exchange = s.server.mock(|when, then| {
        when.method(POST)
            .path("/oauth/token")
            .form_urlencoded_tuple("grant_type", "authorization_code")
            .form_urlencoded_tuple("code", "the-code")
            .form_urlencoded_tuple("client_id", "interactive-client")
            .form_urlencoded_tuple("redirect_uri", s.redirect.as_str())
            .is_true(move |req| {
                let verifier = form_value(&req.body_string(), "code_verifier").unwrap_or_default();
                let digest = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
                verifier.len() >= 43 && expected.lock().unwrap().as_deref() == Some(&digest)
            });
        then.status(200)
            .json_body(json!({"access_token": token, "expires_in": 3600}));
    });
    let (opener, seen_url, answers) =
        fake_browser(s.port, |state| format!("code=the-code&state={state}"));
    let record = Arc::clone(&challenge);
    let opener = move |url: &str| {
        let query = url.split_once('?').unwrap().1;
        *record.lock().unwrap() = form_value(query, "code_challenge");
        opener(url)
    };
    let prompts = Arc::new(Mutex::new(Vec::new()));
    let shown = Arc::clone(&prompts);

    let got = Login::new(&s.settings)
        .cache_token(false)
        .browser(opener)
        .prompt(move |p| shown.lock().unwrap().push(p.clone()))
        .token()
        .unwrap();

    assert_eq!(got, token);
    exchange.assert_calls(1);
    let url = seen_url.lock().unwrap().clone().unwrap();
    let (base, query) = url.split_once('?').unwrap();
    assert_eq!(base, format!("{}/authorize", s.server.base_url()));
    for (key, value) in [
        ("response_type", "code"),
        ("client_id", "interactive-client"),
        ("redirect_uri", s.redirect.as_str()),
        ("code_challenge_method", "S256"),
        ("audience", AUDIENCE),
        ("scope", "openid offline_access"),
        ("organization", "org-9"),
    ] {
        assert_eq!(form_value(query, key).as_deref(), Some(value), "{key}");
    }
    assert!(form_value(query, "state").unwrap().len() >= 16);
    assert_eq!(
        prompts.lock().unwrap().as_slice(),
        [LoginPrompt::OpenUrl { url: url.clone() }]
    );
    assert_eq!(
        answers.recv().unwrap().0,
        404,
        "favicon is not the callback"
    );
    let (status, body) = answers.recv().unwrap();
    assert_eq!(status, 200);
    assert!(body.contains("logged in"), "{body}");
    assert!(!s.settings.token_file().exists());
}

// Proves callbacks without this login's state are answered 400 and ignored, whatever they
// carry (an `error`, a code, no state at all): none ends the login, none is exchanged, and the
// browser coming back with the right state still logs in. (FR-57, FR-05)
#[test]
fn forged_callbacks_are_ignored() {
    let s = setup();
    let token = token(&s.server.base_url(), &unique("after-forgery"));
    let forged_exchange = s.server.mock(|when, then| {
        when.path("/oauth/token")
            .form_urlencoded_tuple("code", "forged-code");
        then.status(500);
    });
    let exchange = s.server.mock(|when, then| {
        when.path("/oauth/token")
            .form_urlencoded_tuple("code", "the-code");
        then.status(200)
            .json_body(json!({"access_token": token, "expires_in": 3600}));
    });
    let (tx, answers) = mpsc::channel();
    let tx = Mutex::new(tx);
    let port = s.port;
    let opener = move |url: &str| {
        let query = url.split_once('?').unwrap().1;
        let state = form_value(query, "state").unwrap();
        let tx = tx.lock().unwrap().clone();
        std::thread::spawn(move || {
            for forged in [
                "error=access_denied&error_description=Chosen%20by%20an%20attacker&state=forged"
                    .to_string(),
                "error=access_denied&error_description=No%20state".to_string(),
                "code=forged-code&state=forged".to_string(),
                "code=forged-code".to_string(),
                format!("code=forged-code&state={state}x"),
            ] {
                let answer = browser_get(&format!("http://127.0.0.1:{port}/callback?{forged}"));
                tx.send(answer).unwrap();
            }
            let answer = browser_get(&format!(
                "http://127.0.0.1:{port}/callback?code=the-code&state={state}"
            ));
            tx.send(answer).unwrap();
        });
        Ok(())
    };

    let got = Login::new(&s.settings)
        .cache_token(false)
        .browser(opener)
        .prompt(|_| {})
        .timeout(Duration::from_secs(60))
        .token()
        .unwrap();

    assert_eq!(got, token);
    for i in 0..5 {
        let (status, body) = answers.recv().unwrap();
        assert_eq!(status, 400, "forged callback {i}");
        assert!(!body.contains("attacker"), "{body}");
    }
    assert_eq!(answers.recv().unwrap().0, 200);
    forged_exchange.assert_calls(0);
    exchange.assert_calls(1);
}

// Proves a callback without a code is refused with a clear error, and a callback carrying an
// OAuth error reports that error. (FR-05)
#[test]
fn missing_code_or_provider_error_is_rejected() {
    for (query, expected) in [
        ("", "no authorization code"),
        (
            "error=access_denied&error_description=User%20said%20no",
            "access_denied: User said no",
        ),
    ] {
        let s = setup();
        let exchange = s.server.mock(|when, then| {
            when.path("/oauth/token");
            then.status(500);
        });
        let (opener, _, answers) =
            fake_browser(s.port, move |state| format!("{query}&state={state}"));

        let err = Login::new(&s.settings)
            .cache_token(false)
            .browser(opener)
            .prompt(|_| {})
            .token()
            .unwrap_err();

        assert!(err.to_string().contains(expected), "{err}");
        answers.recv().unwrap();
        assert_eq!(answers.recv().unwrap().0, 400);
        exchange.assert_calls(0);
    }
}

// Proves a rejected code exchange shows the browser an error page and fails with the
// provider's reason. (FR-05)
#[test]
fn rejected_exchange_is_reported() {
    let s = setup();
    let exchange = s.server.mock(|when, then| {
        when.method(POST).path("/oauth/token");
        then.status(400)
            .json_body(json!({"error": "invalid_grant", "error_description": "code reused"}));
    });
    let (opener, _, answers) = fake_browser(s.port, |state| format!("code=c&state={state}"));

    let err = Login::new(&s.settings)
        .cache_token(false)
        .browser(opener)
        .prompt(|_| {})
        .token()
        .unwrap_err();

    assert!(
        err.to_string().contains("invalid_grant: code reused"),
        "{err}"
    );
    exchange.assert_calls(1);
    answers.recv().unwrap();
    let (status, body) = answers.recv().unwrap();
    assert_eq!(status, 500);
    assert!(body.contains("invalid_grant"), "{body}");
}

// Proves a busy callback port is retried and then fails with an error suggesting the device
// flow, without opening a browser. (FR-05)
#[test]
fn busy_port_is_retried_then_suggests_device_flow() {
    let s = setup();
    let _occupant = std::net::TcpListener::bind(("127.0.0.1", s.port)).unwrap();
    let opened = Arc::new(Mutex::new(false));
    let flag = Arc::clone(&opened);
    let started = std::time::Instant::now();

    let err = Login::new(&s.settings)
        .cache_token(false)
        .callback_port_retries(3, Duration::from_millis(100))
        .browser(move |_| {
            *flag.lock().unwrap() = true;
            Ok(())
        })
        .prompt(|_| {})
        .token()
        .unwrap_err();

    let text = err.to_string();
    assert!(text.contains("still in use after 3 attempts"), "{text}");
    assert!(text.contains("device flow"), "{text}");
    assert!(
        started.elapsed() >= Duration::from_millis(200),
        "waited between attempts"
    );
    assert!(!*opened.lock().unwrap());
}

// Proves the browser flow gives up after the configured timeout when no browser comes back. (FR-05)
#[test]
fn browser_flow_times_out() {
    let s = setup();
    let err = Login::new(&s.settings)
        .cache_token(false)
        .timeout(Duration::from_millis(300))
        .browser(|_| Ok(()))
        .prompt(|_| {})
        .token()
        .unwrap_err();
    assert!(err.is_timeout(), "{err:?}");
}
