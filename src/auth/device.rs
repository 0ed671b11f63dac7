//! Device authorization grant (RFC 8628): for machines without a browser. The person confirms
//! a short code on another device while this process polls the token endpoint.

use std::time::{Duration, Instant};

use serde::Deserialize;

use super::idp::{self, OAuthError};
use super::{Login, LoginPrompt};
use crate::error::{Error, Result, redact_url};
use crate::retry::{Deadline, DeadlineExt, Idempotency, RetryPolicy};

/// Polling interval when the provider names none (RFC 8628 §3.2).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(5);

#[derive(Deserialize)]
struct DeviceAnswer {
    device_code: String,
    user_code: String,
    verification_uri: String,
    #[serde(default)]
    verification_uri_complete: Option<String>,
    #[serde(default)]
    expires_in: Option<f64>,
    #[serde(default)]
    interval: Option<f64>,
}

/// What one poll of the token endpoint said.
enum Poll {
    Token(String),
    Pending,
    SlowDown,
    Failed(Error),
}

fn secs(value: Option<f64>) -> Option<Duration> {
    value
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(86_400.0)))
}

/// Runs the device flow and returns the access token.
pub(crate) fn login(login: &Login) -> Result<String> {
    let auth = login.settings.require_auth()?;
    let client_id = auth.client_id_device.as_deref().ok_or_else(|| {
        Error::Config(
            "no client id is configured for the device flow: set AIGNOSTICS_CLIENT_ID_DEVICE, \
             or log in with a refresh token (AIGNOSTICS_REFRESH_TOKEN), or pass a token provider"
                .into(),
        )
    })?;
    let group = &login.settings.auth_operation;
    let scope = auth.scope.join(" ");
    let mut form = vec![
        ("client_id", client_id),
        ("audience", auth.audience.as_str()),
    ];
    if !scope.is_empty() {
        form.push(("scope", &scope));
    }
    const START: &str = "device_authorization";
    let reply = RetryPolicy::from(group).run(START, Idempotency::Idempotent, |_| {
        let reply = idp::post_form(START, &auth.device_url, &form, group.timeout)?;
        if (200..300).contains(&reply.status) {
            Ok(reply)
        } else {
            Err(idp::status_error(START, &reply, &[]))
        }
    });
    let reply = match reply {
        Ok(r) => r,
        Err(Error::Api(e)) => {
            return Err(Error::Auth(format!(
                "the device authorization request was rejected by {} with HTTP {}{}",
                redact_url(&auth.device_url),
                e.status,
                e.detail.map(|d| format!(": {d}")).unwrap_or_default()
            )));
        }
        Err(e) => return Err(e),
    };
    let start: DeviceAnswer = crate::transport::decode(START, &reply.body)?;
    login.show(&LoginPrompt::DeviceCode {
        user_code: start.user_code.clone(),
        verification_uri: start.verification_uri.clone(),
        verification_uri_complete: start.verification_uri_complete.clone(),
    });

    let started = Instant::now();
    let mut limit = login.timeout;
    if let Some(expires) = secs(start.expires_in) {
        limit = limit.min(expires);
    }
    let deadline = crate::time::instant_after(started, limit);
    let timed_out = || Error::Timeout {
        operation: "device_login".into(),
        what: format!(
            "the login was not confirmed within {}s",
            limit.as_secs_f64().round()
        ),
    };
    let mut interval = secs(start.interval).unwrap_or(DEFAULT_INTERVAL);
    loop {
        if crate::time::instant_after(Instant::now(), interval) >= deadline {
            return Err(timed_out());
        }
        std::thread::sleep(interval);
        // Each poll and its retries end at the login's deadline, even against a token endpoint
        // that never answers.
        let polled = match poll(login, client_id, &start.device_code, Some(deadline)) {
            Err(_) if Instant::now() >= deadline => return Err(timed_out()),
            other => other?,
        };
        match polled {
            Poll::Token(token) => return Ok(token),
            Poll::Pending => {}
            Poll::SlowDown => interval = interval.saturating_add(login.slow_down_step),
            Poll::Failed(e) => return Err(e),
        }
    }
}

/// One poll, with retries for server and connection failures, none past `deadline`.
fn poll(login: &Login, client_id: &str, device_code: &str, deadline: Deadline) -> Result<Poll> {
    const OP: &str = "device_code_grant";
    let auth = login.settings.require_auth()?;
    let group = &login.settings.auth_operation;
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:device_code"),
        ("device_code", device_code),
        ("client_id", client_id),
    ];
    let secrets = idp::form_secrets(&form);
    let retryable = |e: &Error| Idempotency::Idempotent.may_retry(e);
    let result = RetryPolicy::from(group).run_until(OP, retryable, deadline, |_| {
        let reply = idp::post_form(OP, &auth.token_url, &form, deadline.cap(group.timeout))?;
        if (200..300).contains(&reply.status) {
            return idp::token_answer(OP, &reply.body).map(|a| Poll::Token(a.access_token));
        }
        if (400..500).contains(&reply.status) && reply.status != 429 {
            let e = OAuthError::parse(&reply.body, &secrets);
            let description = e
                .error_description
                .map(|d| format!(": {d}"))
                .unwrap_or_default();
            return Ok(match e.error.as_deref() {
                Some("authorization_pending") => Poll::Pending,
                Some("slow_down") => Poll::SlowDown,
                Some("expired_token") => Poll::Failed(Error::Auth(format!(
                    "the device code expired before the login was confirmed; log in again{description}"
                ))),
                Some("access_denied") => Poll::Failed(Error::Auth(format!(
                    "the login was denied on the verification page{description}"
                ))),
                Some(other) => Poll::Failed(Error::Auth(format!(
                    "the device login failed with {other}{description}"
                ))),
                None => Poll::Failed(Error::Auth(format!(
                    "the device login failed with HTTP {}",
                    reply.status
                ))),
            });
        }
        Err(idp::status_error(OP, &reply, &secrets))
    });
    match result {
        Err(Error::Api(e)) => Err(Error::Auth(format!(
            "polling {} for the device login failed with HTTP {}{}",
            redact_url(&auth.token_url),
            e.status,
            e.detail.map(|d| format!(": {d}")).unwrap_or_default()
        ))),
        other => other,
    }
}
