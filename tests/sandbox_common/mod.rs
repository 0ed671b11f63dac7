//! Helpers shared by the sandbox tests: raw HTTP calls and run polling.
#![allow(dead_code)]

use std::time::Duration;

use aignostics::models::{RunCreationRequest, RunCreationResponse, RunReadResponse, RunState};
use aignostics::{Client, TokenProvider};
use aignostics_sandbox::{Sandbox, SandboxUser};
use serde::de::DeserializeOwned;
use serde_json::Value;

/// A raw answer.
#[derive(Debug)]
pub struct Raw {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Raw {
    /// The body decoded into `T`; panics naming the body when it does not decode.
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "HTTP {} body does not decode into {}: {e}\n{}",
                self.status,
                std::any::type_name::<T>(),
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// The `detail` string of a FastAPI error body.
    pub fn detail(&self) -> String {
        let v: Value = self.json();
        v["detail"].as_str().unwrap_or_default().to_string()
    }
}

/// An agent that reports every status and follows no redirect.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .new_agent()
}

/// One request to an absolute URL.
pub fn raw_url(method: &str, url: &str, headers: &[(&str, &str)], body: Option<&[u8]>) -> Raw {
    try_raw_url(method, url, headers, body).unwrap_or_else(|e| panic!("{method} {url}: {e}"))
}

/// One request to an absolute URL; transport errors are returned.
pub fn try_raw_url(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&[u8]>,
) -> Result<Raw, ureq::Error> {
    let mut builder = ureq::http::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    if body.is_some() {
        builder = builder.header("Content-Type", "application/json");
    }
    let request = builder
        .body(body.unwrap_or_default().to_vec())
        .expect("request");
    let mut response = agent().run(request)?;
    let headers = response
        .headers()
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or_default().to_string()))
        .collect();
    let status = response.status().as_u16();
    let body = response
        .body_mut()
        .with_config()
        .limit(64 * 1024 * 1024)
        .read_to_vec()?;
    Ok(Raw {
        status,
        headers,
        body,
    })
}

/// One API request (`path` below the base URL, e.g. `/api/v1/me`) with a bearer token.
pub fn raw(
    sandbox: &Sandbox,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&Value>,
) -> Raw {
    let auth = token.map(|t| format!("Bearer {t}"));
    let headers: Vec<(&str, &str)> = auth
        .as_deref()
        .map(|a| vec![("Authorization", a)])
        .unwrap_or_default();
    let bytes = body.map(|b| serde_json::to_vec(b).expect("json"));
    raw_url(
        method,
        &format!("{}{path}", sandbox.base_url()),
        &headers,
        bytes.as_deref(),
    )
}

/// Submits a run and returns its id.
pub fn submit(sandbox: &Sandbox, token: &str, request: &RunCreationRequest) -> String {
    let body = serde_json::to_value(request).expect("json");
    let r = raw(sandbox, "POST", "/api/v1/runs", Some(token), Some(&body));
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    r.json::<RunCreationResponse>().run_id
}

/// Polls the run until it is `TERMINATED` (at most 15 s).
pub fn wait_terminated(sandbox: &Sandbox, token: &str, run_id: &str) -> RunReadResponse {
    for _ in 0..300 {
        let run: RunReadResponse = raw(
            sandbox,
            "GET",
            &format!("/api/v1/runs/{run_id}"),
            Some(token),
            None,
        )
        .json();
        if run.state == RunState::Terminated {
            return run;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("run {run_id} did not terminate");
}

/// A new token for `user`, unique to this call, so SDK cache entries never leak between tests.
pub fn fresh_token(sandbox: &Sandbox, user: SandboxUser) -> String {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static N: AtomicUsize = AtomicUsize::new(0);
    let token = format!(
        "tok-{}-{}-{}",
        sandbox.port(),
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    );
    sandbox.add_user(token.clone(), user);
    token
}

/// An SDK client for `token` whose retries do not wait (`attempts` calls per operation).
pub fn fast_client(sandbox: &Sandbox, token: &str, attempts: u32) -> Client {
    let mut settings = sandbox.settings().expect("settings");
    settings.me = settings.me.clone().no_wait(attempts);
    settings.application = settings.application.clone().no_wait(attempts);
    settings.application_version = settings.application_version.clone().no_wait(attempts);
    settings.run = settings.run.clone().no_wait(attempts);
    Client::builder()
        .settings(settings)
        .token_provider(TokenProvider::fixed(token))
        .build()
        .expect("client")
}
