//! HTTP to the identity provider, shared by the login flows: form posts to the token endpoint,
//! JWKS reads, and the mapping of OAuth error answers into typed errors.

use std::time::{Duration, SystemTime};

use once_cell::sync::Lazy;
use percent_encoding::utf8_percent_encode;
use serde::Deserialize;

use crate::error::{ApiError, Error, Result, redact_url, scrub_text};
use crate::percent::UNRESERVED;
use crate::retry::{Idempotency, RetryPolicy};
use crate::settings::OperationSettings;

/// Largest answer accepted from an identity provider (a JWKS is a few kilobytes).
const MAX_BODY: u64 = 1024 * 1024;

/// One agent for every identity-provider call of the process (connection reuse).
static AGENT: Lazy<ureq::Agent> = Lazy::new(|| {
    let config = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .user_agent(crate::transport::user_agent())
        .tls_config(crate::tls::config())
        .build();
    ureq::Agent::new_with_config(config)
});

/// An answer of the identity provider.
pub(crate) use crate::transport::RawResponse as Reply;

/// `k=v&k=v` with every value percent-encoded.
pub(crate) fn encode_pairs(pairs: &[(&str, &str)]) -> String {
    pairs
        .iter()
        .map(|(k, v)| {
            format!(
                "{}={}",
                utf8_percent_encode(k, UNRESERVED),
                utf8_percent_encode(v, UNRESERVED)
            )
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// Sends one request; HTTP error statuses come back as a [`Reply`], transport failures as errors.
fn send(
    operation: &str,
    method: &str,
    url: &str,
    form: Option<&[(&str, &str)]>,
    timeout: Duration,
) -> Result<Reply> {
    let mut builder = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("Accept", "application/json");
    let body = match form {
        Some(pairs) => {
            builder = builder.header("Content-Type", "application/x-www-form-urlencoded");
            encode_pairs(pairs).into_bytes()
        }
        None => Vec::new(),
    };
    let request = builder
        .body(body.as_slice())
        .map_err(|_| Error::invalid_url(operation, url))?;
    crate::transport::exchange(&AGENT, request, operation, timeout, MAX_BODY)
}

/// POSTs a form (`application/x-www-form-urlencoded`).
pub(crate) fn post_form(
    operation: &str,
    url: &str,
    form: &[(&str, &str)],
    timeout: Duration,
) -> Result<Reply> {
    send(operation, "POST", url, Some(form), timeout)
}

/// A plain GET.
pub(crate) fn get(operation: &str, url: &str, timeout: Duration) -> Result<Reply> {
    send(operation, "GET", url, None, timeout)
}

/// The `error` and `error_description` of an OAuth error answer (RFC 6749 §5.2).
#[derive(Debug, Default, Deserialize)]
pub(crate) struct OAuthError {
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub error_description: Option<String>,
}

impl OAuthError {
    /// Parses an error answer with `secrets` scrubbed from it: from the body before it is
    /// read, and from the decoded texts (which may have held them JSON-escaped).
    pub fn parse(body: &[u8], secrets: &[&str]) -> Self {
        let body = scrub_text(&String::from_utf8_lossy(body), secrets);
        let e: Self = serde_json::from_str(&body).unwrap_or_default();
        let scrub = |t: Option<String>| t.map(|t| scrub_text(&t, secrets));
        Self {
            error: scrub(e.error),
            error_description: scrub(e.error_description),
        }
    }

    /// `error: description`, or a short excerpt of a non-OAuth body, `secrets` scrubbed.
    pub fn text(body: &[u8], secrets: &[&str]) -> Option<String> {
        let e = Self::parse(body, secrets);
        match (e.error, e.error_description) {
            (Some(code), Some(d)) => Some(format!("{code}: {d}")),
            (Some(code), None) => Some(code),
            (None, Some(d)) => Some(d),
            (None, None) => {
                let text = scrub_text(&String::from_utf8_lossy(body), secrets);
                let excerpt: String = text.chars().take(200).filter(|c| !c.is_control()).collect();
                let excerpt = excerpt.trim();
                (!excerpt.is_empty()).then(|| excerpt.to_string())
            }
        }
    }
}

/// A successful token answer (RFC 6749 §5.1).
#[derive(Deserialize)]
pub(crate) struct TokenAnswer {
    pub access_token: String,
    #[serde(default)]
    pub expires_in: Option<f64>,
}

impl std::fmt::Debug for TokenAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenAnswer")
            .field("expires_in", &self.expires_in)
            .finish_non_exhaustive()
    }
}

impl TokenAnswer {
    /// When the token expires, counted from `issued` (the moment the request was sent).
    pub fn expires_at(&self, issued: SystemTime) -> Option<SystemTime> {
        self.expires_in
            .filter(|s| s.is_finite() && *s >= 0.0)
            .map(|s| {
                crate::time::system_after(
                    issued,
                    Duration::from_secs_f64(s.min(10.0 * 365.0 * 86_400.0)),
                )
            })
    }
}

/// Parses a 2xx token answer, naming what is missing.
pub(crate) fn token_answer(operation: &str, body: &[u8]) -> Result<TokenAnswer> {
    let answer: TokenAnswer = crate::transport::decode(operation, body)?;
    if answer.access_token.is_empty() {
        return Err(Error::Auth(format!(
            "{operation}: the token endpoint answered without an access token"
        )));
    }
    Ok(answer)
}

/// Form fields whose values are credentials: an identity provider echoing them (in an error
/// description, say) must not carry them into errors or logs.
const SECRET_FIELDS: &[&str] = &[
    "client_secret",
    "refresh_token",
    "code",
    "code_verifier",
    "device_code",
    "password",
];

/// The credential values of a form (see [`SECRET_FIELDS`]).
pub(crate) fn form_secrets<'a>(form: &[(&str, &'a str)]) -> Vec<&'a str> {
    form.iter()
        .filter(|(k, _)| SECRET_FIELDS.contains(k))
        .map(|&(_, v)| v)
        .collect()
}

/// An HTTP error answer as an [`ApiError`] so the retry policy can classify it (5xx and 429 are
/// retried, other 4xx are not), with `secrets` (see [`form_secrets`]) scrubbed from its text.
pub(crate) fn status_error(operation: &str, reply: &Reply, secrets: &[&str]) -> Error {
    ApiError {
        status: reply.status,
        operation: operation.to_string(),
        detail: OAuthError::text(&reply.body, secrets),
        validation: Vec::new(),
        retry_after: reply.retry_after,
    }
    .into()
}

/// A token grant (refresh, client credentials, code exchange) with retries: 5xx, 429 and
/// transport failures are retried for idempotent grants; a 4xx answer is final and becomes an
/// [`Error::Auth`] naming the grant, the endpoint and the provider's error text.
pub(crate) fn token_grant(
    operation: &str,
    what: &str,
    url: &str,
    form: &[(&str, &str)],
    settings: &OperationSettings,
    idempotency: Idempotency,
) -> Result<(TokenAnswer, SystemTime)> {
    let policy = RetryPolicy::from(settings);
    let secrets = form_secrets(form);
    let mut issued = SystemTime::now();
    let result = policy.run(operation, idempotency, |_| {
        issued = SystemTime::now();
        let reply = post_form(operation, url, form, settings.timeout)?;
        if (200..300).contains(&reply.status) {
            token_answer(operation, &reply.body)
        } else {
            Err(status_error(operation, &reply, &secrets))
        }
    });
    match result {
        Ok(answer) => Ok((answer, issued)),
        Err(Error::Api(e)) => Err(Error::Auth(format!(
            "the {what} was rejected by {} with HTTP {}{}",
            redact_url(url),
            e.status,
            e.detail.map(|d| format!(": {d}")).unwrap_or_default()
        ))),
        Err(other) => Err(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves form values are percent-encoded so secrets with `&`, `=` or `+` stay intact. (FR-04, FR-08)
    #[test]
    fn form_values_are_encoded() {
        assert_eq!(
            encode_pairs(&[("a", "x y&z=+/"), ("scope", "openid offline_access")]),
            "a=x%20y%26z%3D%2B%2F&scope=openid%20offline_access"
        );
    }

    // Proves OAuth error bodies are summarised and non-JSON bodies are excerpted. (FR-08)
    #[test]
    fn oauth_error_text() {
        assert_eq!(
            OAuthError::text(
                br#"{"error":"invalid_grant","error_description":"bad"}"#,
                &[]
            )
            .as_deref(),
            Some("invalid_grant: bad")
        );
        assert_eq!(
            OAuthError::text(b"<html>oops</html>", &[]).as_deref(),
            Some("<html>oops</html>")
        );
        assert_eq!(OAuthError::text(b"", &[]).as_deref(), None);
    }

    // Proves credentials sent in a form are scrubbed from the provider's error text, whether
    // echoed as sent, form-encoded, JSON-escaped (\u escapes included) or cut off by the
    // excerpt of a non-JSON body. (NFR-05)
    #[test]
    fn oauth_error_text_is_scrubbed() {
        let secret = "s3cr+t/\"v=lue";
        let form = [
            ("grant_type", "client_credentials"),
            ("client_secret", secret),
        ];
        let secrets = form_secrets(&form);
        assert_eq!(secrets, [secret]);
        let encoded = encode_pairs(&form);
        let json_escaped = serde_json::to_string(secret).unwrap();
        let bodies = [
            format!(r#"{{"error":"invalid_client","error_description":"bad {json_escaped}"}}"#),
            format!(r#"{{"error":"invalid_client","error_description":"echo {encoded}"}}"#),
            r#"{"error_description":"s3cr\u002bt/\"v=lue"}"#.to_string(),
            format!("{}{secret}", "x".repeat(195)),
            format!("<html>{encoded}</html>"),
        ];
        for body in &bodies {
            let text = OAuthError::text(body.as_bytes(), &secrets).unwrap_or_default();
            assert!(!text.contains("s3cr"), "{body} -> {text}");
            let error = status_error(
                "op",
                &Reply {
                    status: 401,
                    location: None,
                    retry_after: None,
                    body: body.clone().into_bytes(),
                },
                &secrets,
            );
            assert!(!format!("{error} {error:?}").contains("s3cr"), "{body}");
        }
    }
}
