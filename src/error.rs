//! Errors: one [`Error`] type for every failure, with predicates instead of string matching.
//!
//! No error's `Display` or `Debug` output ever contains a bearer token, a share-token secret
//! or the query string of a signed storage URL: URLs are reduced to their scheme, host and path
//! before they enter an error.

use std::path::PathBuf;
use std::time::Duration;

use crate::models::ValidationError;
use crate::percent::UNRESERVED;

/// The operation name of artifact downloads from a storage host, whose 403 means a refused
/// signed URL rather than a refused user. Error data the download engine sets; the error type
/// depends on nothing above it.
pub(crate) const STORAGE_OPERATION: &str = "download_artifact";

/// Shorthand for `std::result::Result<T, aignostics::Error>`.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in this crate.
///
/// Match on the variant when you need the details, or use the predicates
/// ([`status`](Error::status), [`is_not_found`](Error::is_not_found),
/// [`is_retryable`](Error::is_retryable), [`is_timeout`](Error::is_timeout), …) when you only
/// need to decide what to do next.
///
/// ```
/// # fn demo(err: aignostics::Error) {
/// if err.is_not_found() {
///     eprintln!("no such run");
/// } else if let Some(status) = err.status() {
///     eprintln!("the platform answered HTTP {status}: {err}");
/// }
/// # }
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The platform answered with an HTTP error status.
    #[error(transparent)]
    Api(Box<ApiError>),

    /// A connect, response or read timeout expired.
    #[error("{operation}: timed out ({what})")]
    Timeout {
        /// The operation that timed out (e.g. `get_run`) or what was waited for.
        operation: String,
        /// What timed out, e.g. `waiting for response headers after 30s`.
        what: String,
    },

    /// The request could not be sent or the response could not be read (DNS, connect, reset,
    /// truncated body, TLS, proxy).
    #[error("{operation}: {kind}: {message}")]
    Transport {
        /// The operation that failed.
        operation: String,
        /// What kind of transport failure this was.
        kind: TransportKind,
        /// Human-readable details (never contains a token or a signed URL's query).
        message: String,
    },

    /// A response body did not match the expected model.
    #[error("{operation}: could not decode the response at `{path}`: {message}")]
    Decode {
        /// The operation whose response failed to decode.
        operation: String,
        /// JSON path of the offending field (`.` for the whole document).
        path: String,
        /// What was wrong with it.
        message: String,
    },

    /// An argument was rejected before any request was made.
    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// A settings value (usually an `AIGNOSTICS_*` variable) is invalid.
    #[error("configuration error: {0}")]
    Config(String),

    /// Logging in or obtaining a token failed.
    #[error("authentication failed: {0}")]
    Auth(String),

    /// A downloaded file did not match the checksum the platform published for it.
    #[error("checksum mismatch for {}: expected {expected}, got {actual}", path.display())]
    Checksum {
        /// The file (its final name; the partial file was removed).
        path: PathBuf,
        /// The checksum the platform published.
        expected: String,
        /// The checksum of the bytes received.
        actual: String,
    },

    /// A local file-system operation failed.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory involved.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// An async call was abandoned (its future was dropped, e.g. by a timeout, or its runtime
    /// is shutting down), so its work stopped.
    #[error(
        "the operation was cancelled: its future was dropped or its async runtime is shutting down"
    )]
    Cancelled,

    /// A redirect from the platform had no usable `Location`, or another response made no sense.
    #[error("{operation}: unexpected response: {message}")]
    UnexpectedResponse {
        /// The operation.
        operation: String,
        /// What was unexpected.
        message: String,
    },
}

/// The kind of a [`Error::Transport`] failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TransportKind {
    /// The server refused the connection; nothing was sent.
    ConnectionRefused,
    /// The connection was reset or closed early.
    ConnectionReset,
    /// The body ended before its announced length.
    TruncatedBody,
    /// The host name could not be resolved.
    HostNotFound,
    /// TLS handshake or certificate failure.
    Tls,
    /// Proxy configuration or proxy connect failure.
    Proxy,
    /// The response was not valid HTTP.
    Protocol,
    /// The request URL was invalid.
    InvalidUrl,
    /// Any other I/O failure.
    Other,
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::ConnectionRefused => "connection refused",
            Self::ConnectionReset => "connection reset",
            Self::TruncatedBody => "truncated response body",
            Self::HostNotFound => "host not found",
            Self::Tls => "TLS failure",
            Self::Proxy => "proxy failure",
            Self::Protocol => "HTTP protocol error",
            Self::InvalidUrl => "invalid URL",
            Self::Other => "transport error",
        })
    }
}

/// An HTTP error answered by the platform.
#[derive(Debug, Clone, PartialEq)]
pub struct ApiError {
    /// The HTTP status code.
    pub status: u16,
    /// The operation, named as in the OpenAPI file's short form (e.g. `get_run`).
    pub operation: String,
    /// The server's `detail` text, when the body had one.
    pub detail: Option<String>,
    /// FastAPI validation entries of a 422 answer.
    pub validation: Vec<ValidationError>,
    /// Seconds from a `Retry-After` header, when the server sent one.
    pub retry_after: Option<Duration>,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} failed with HTTP {} ({})",
            self.operation,
            self.status,
            // A storage host judges a signed URL, not a user; the detail says what happened.
            if self.status == 403 && self.operation == STORAGE_OPERATION {
                "forbidden"
            } else {
                reason(self.status, &self.operation)
            }
        )?;
        if let Some(detail) = &self.detail {
            write!(f, ": {detail}")?;
        }
        for v in &self.validation {
            write!(f, "; {}: {}", v.location(), v.msg)?;
        }
        Ok(())
    }
}

impl std::error::Error for ApiError {}

/// The status explained; a conflict means something else for each operation.
fn reason(status: u16, operation: &str) -> &'static str {
    match (status, operation) {
        (409, "cancel_run") => "conflict: the run has already terminated or been canceled",
        (409, "delete_run_artifacts") => "conflict: the run has not terminated yet",
        (409, "revoke_grant" | "revoke_share_token") => "conflict: already revoked",
        (409, _) => "conflict with the resource's current state",
        _ => reason_of_status(status),
    }
}

fn reason_of_status(status: u16) -> &'static str {
    match status {
        400 => "bad request",
        401 => "unauthorized: the token is missing, invalid or expired",
        403 => "forbidden: this user may not access the resource",
        404 => "not found",
        410 => "gone: the artifact was deleted",
        412 => "precondition failed: the custom metadata checksum is stale",
        422 => "validation error",
        429 => "too many requests",
        500..=599 => "server error",
        _ => "error",
    }
}

/// What a scrubbed secret is replaced with.
const REDACTED: &str = "[redacted]";

/// Values shorter than this are not scrubbed: no real credential is that short, and replacing
/// every `c` of a message because a test sent the code `c` would garble it.
pub(crate) const MIN_SECRET_LEN: usize = 8;

/// `text` with every occurrence of each secret replaced by `[redacted]`: the secret as sent,
/// percent-encoded as in a form or query (also with `+` for spaces), and escaped as inside a
/// JSON string, the forms in which a server may echo what it was sent. Secrets shorter than
/// [`MIN_SECRET_LEN`] bytes are ignored.
pub(crate) fn scrub_text(text: &str, secrets: &[&str]) -> String {
    let mut forms: Vec<String> = Vec::new();
    for secret in secrets.iter().filter(|s| s.len() >= MIN_SECRET_LEN) {
        let encoded = percent_encoding::utf8_percent_encode(secret, UNRESERVED).to_string();
        let json = serde_json::to_string(secret).unwrap_or_default();
        let json = json
            .get(1..json.len().saturating_sub(1))
            .unwrap_or_default();
        forms.push(encoded.replace("%20", "+"));
        forms.extend([secret.to_string(), encoded, json.to_string()]);
    }
    // Longest first, so no part of a longer form is left behind by a shorter one.
    forms.sort_by_key(|f| std::cmp::Reverse(f.len()));
    forms.dedup();
    let mut text = text.to_string();
    for form in forms.iter().filter(|f| !f.is_empty()) {
        if text.contains(form.as_str()) {
            text = text.replace(form.as_str(), REDACTED);
        }
    }
    text
}

/// Scrubs every string (and object key) inside a JSON value.
fn scrub_value(value: &mut serde_json::Value, secrets: &[&str]) {
    use serde_json::Value;
    match value {
        Value::String(s) => *s = scrub_text(s, secrets),
        Value::Array(items) => items.iter_mut().for_each(|v| scrub_value(v, secrets)),
        Value::Object(map) => {
            let entries = std::mem::take(map);
            for (key, mut v) in entries {
                scrub_value(&mut v, secrets);
                map.insert(scrub_text(&key, secrets), v);
            }
        }
        _ => {}
    }
}

impl ApiError {
    /// Replaces every occurrence of each of `secrets` in the server's texts (see [`scrub_text`]).
    fn scrub_all(&mut self, secrets: &[&str]) {
        if secrets.iter().all(|s| s.len() < MIN_SECRET_LEN) {
            return;
        }
        if let Some(detail) = &mut self.detail {
            *detail = scrub_text(detail, secrets);
        }
        for v in &mut self.validation {
            v.msg = scrub_text(&v.msg, secrets);
            v.error_type = scrub_text(&v.error_type, secrets);
            for loc in &mut v.loc {
                if let crate::models::LocationItem::Field(s) = loc {
                    *s = scrub_text(s, secrets);
                }
            }
            for value in v.input.iter_mut().chain(v.ctx.iter_mut()) {
                scrub_value(value, secrets);
            }
        }
    }

    /// Like [`ApiError::from_body`], with `secrets` scrubbed from the body before anything is
    /// read from it (so no excerpt can keep part of one) and from every decoded text after.
    pub(crate) fn from_body_scrubbed(
        operation: &str,
        status: u16,
        body: &[u8],
        retry_after: Option<Duration>,
        secrets: &[&str],
    ) -> Self {
        if secrets.iter().all(|s| s.len() < MIN_SECRET_LEN) {
            return Self::from_body(operation, status, body, retry_after);
        }
        let body = scrub_text(&String::from_utf8_lossy(body), secrets);
        let mut error = Self::from_body(operation, status, body.as_bytes(), retry_after);
        error.scrub_all(secrets);
        error
    }

    /// Builds an API error from a status and a (FastAPI) response body.
    pub(crate) fn from_body(
        operation: &str,
        status: u16,
        body: &[u8],
        retry_after: Option<Duration>,
    ) -> Self {
        let mut detail = None;
        let mut validation = Vec::new();
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(body) {
            match value.get("detail") {
                Some(serde_json::Value::String(s)) => detail = Some(s.clone()),
                Some(serde_json::Value::Array(entries)) => {
                    validation = entries
                        .iter()
                        .filter_map(|e| serde_json::from_value(e.clone()).ok())
                        .collect();
                    if validation.is_empty() {
                        detail = Some(serde_json::Value::Array(entries.clone()).to_string());
                    }
                }
                Some(other) if !other.is_null() => detail = Some(other.to_string()),
                _ => {}
            }
        } else if !body.is_empty() {
            // Not JSON (a proxy's HTML page, say): keep a short, printable excerpt.
            let text = String::from_utf8_lossy(body);
            let excerpt: String = text.chars().take(200).filter(|c| !c.is_control()).collect();
            if !excerpt.trim().is_empty() {
                detail = Some(excerpt.trim().to_string());
            }
        }
        Self {
            status,
            operation: operation.to_string(),
            detail,
            validation,
            retry_after,
        }
    }
}

impl Error {
    /// The HTTP status of an API error; `None` for every other kind of error.
    pub fn status(&self) -> Option<u16> {
        match self {
            Self::Api(e) => Some(e.status),
            _ => None,
        }
    }

    /// The API error details, when this is an HTTP error from the platform.
    pub fn api_error(&self) -> Option<&ApiError> {
        match self {
            Self::Api(e) => Some(e),
            _ => None,
        }
    }

    /// HTTP 404: the resource does not exist (or is not visible to this user).
    pub fn is_not_found(&self) -> bool {
        self.status() == Some(404)
    }

    /// HTTP 401: the token is missing, invalid or expired.
    pub fn is_unauthorized(&self) -> bool {
        self.status() == Some(401)
    }

    /// HTTP 403: the user may not access the resource.
    pub fn is_forbidden(&self) -> bool {
        self.status() == Some(403)
    }

    /// HTTP 409: the run was already cancelled or the grant/token already revoked.
    pub fn is_conflict(&self) -> bool {
        self.status() == Some(409)
    }

    /// HTTP 410: the artifact was deleted.
    pub fn is_gone(&self) -> bool {
        self.status() == Some(410)
    }

    /// HTTP 412: the custom metadata checksum sent with an update is stale; re-read and retry.
    pub fn is_precondition_failed(&self) -> bool {
        self.status() == Some(412)
    }

    /// HTTP 422: the platform rejected the request's parameters or body.
    pub fn is_validation(&self) -> bool {
        self.status() == Some(422)
    }

    /// A timeout of any kind.
    pub fn is_timeout(&self) -> bool {
        matches!(self, Self::Timeout { .. })
    }

    /// Whether trying the same idempotent request again may succeed: 5xx, 429, timeouts,
    /// connection resets and refusals, and truncated bodies.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Api(e) => e.status == 429 || (500..=599).contains(&e.status),
            Self::Timeout { .. } => true,
            Self::Transport { kind, .. } => matches!(
                kind,
                TransportKind::ConnectionRefused
                    | TransportKind::ConnectionReset
                    | TransportKind::TruncatedBody
                    | TransportKind::Protocol
                    | TransportKind::Proxy
            ),
            _ => false,
        }
    }

    /// Whether the request certainly never reached the server (so even a non-idempotent call
    /// may be sent again).
    pub(crate) fn nothing_was_sent(&self) -> bool {
        matches!(
            self,
            Self::Transport {
                kind: TransportKind::ConnectionRefused,
                ..
            }
        )
    }

    /// Maps an I/O error from reading a response body (ureq wraps its own errors, such as
    /// timeouts, in the `io::Error` its body reader returns).
    pub(crate) fn from_read(operation: &str, err: std::io::Error) -> Self {
        Self::from_ureq(operation, ureq::Error::from(err))
    }

    /// A request URL that could not be turned into a request (shown without its query).
    pub(crate) fn invalid_url(operation: &str, url: &str) -> Self {
        Self::Transport {
            operation: operation.to_string(),
            kind: TransportKind::InvalidUrl,
            message: format!("invalid request URL {}", redact_url(url)),
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }

    /// Maps a `ureq` failure of `operation` into a typed error.
    pub(crate) fn from_ureq(operation: &str, err: ureq::Error) -> Self {
        use std::io::ErrorKind as K;
        let operation = operation.to_string();
        let transport = |kind, message: String| Self::Transport {
            operation: operation.clone(),
            kind,
            message,
        };
        match err {
            ureq::Error::Timeout(t) => Self::Timeout {
                operation,
                what: timeout_name(t).to_string(),
            },
            // rustls reports a refused certificate as an I/O error of kind `InvalidData`.
            ureq::Error::Io(io)
                if io.kind() == K::InvalidData && io.to_string().contains("certificate") =>
            {
                transport(TransportKind::Tls, tls_message(io.to_string()))
            }
            ureq::Error::Io(io) => match io.kind() {
                K::TimedOut | K::WouldBlock => Self::Timeout {
                    operation,
                    what: "socket read or write".to_string(),
                },
                K::ConnectionRefused => transport(TransportKind::ConnectionRefused, io.to_string()),
                K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => {
                    transport(TransportKind::ConnectionReset, io.to_string())
                }
                K::UnexpectedEof => transport(TransportKind::TruncatedBody, io.to_string()),
                _ => transport(TransportKind::Other, io.to_string()),
            },
            ureq::Error::HostNotFound => {
                transport(TransportKind::HostNotFound, "could not resolve host".into())
            }
            ureq::Error::ConnectionFailed => transport(
                TransportKind::ConnectionRefused,
                "could not connect to the server".into(),
            ),
            ureq::Error::BadUri(_) | ureq::Error::Http(_) => transport(
                TransportKind::InvalidUrl,
                "the request URL is invalid".into(),
            ),
            ureq::Error::Protocol(p) => transport(TransportKind::Protocol, p.to_string()),
            ureq::Error::InvalidProxyUrl | ureq::Error::ConnectProxyFailed(_) => {
                transport(TransportKind::Proxy, "proxy connection failed".into())
            }
            ureq::Error::Tls(m) => transport(TransportKind::Tls, tls_message(m.to_string())),
            ureq::Error::Rustls(e) => transport(TransportKind::Tls, tls_message(e.to_string())),
            ureq::Error::BodyStalled => Self::Timeout {
                operation,
                what: "the response body stalled".to_string(),
            },
            other => transport(TransportKind::Other, other.to_string()),
        }
    }
}

/// A TLS failure, with the way out of the usual one: a network that re-signs connections
/// with its own CA (TLS inspection).
fn tls_message(what: String) -> String {
    if what.contains("certificate") || what.contains("UnknownIssuer") {
        format!(
            "{what} (behind TLS inspection, trust the network's CA: name a PEM bundle with \
             AIGNOSTICS_CA_BUNDLE or SSL_CERT_FILE, or use the system's trust store, as the \
             `aignostics` command and the feature platform-verifier do)"
        )
    } else {
        what
    }
}

fn timeout_name(t: ureq::Timeout) -> &'static str {
    use ureq::Timeout as T;
    match t {
        T::Global => "whole call",
        T::PerCall => "whole call",
        T::Resolve => "resolving the host",
        T::Connect => "connecting",
        T::SendRequest => "sending the request",
        T::Await100 => "awaiting 100-continue",
        T::SendBody => "sending the body",
        T::RecvResponse => "waiting for the response headers",
        T::RecvBody => "reading the response body",
        T::PerRead => "reading from the socket",
        T::PerWrite => "writing to the socket",
        _ => "socket read or write",
    }
}

impl From<ApiError> for Error {
    fn from(e: ApiError) -> Self {
        Self::Api(Box::new(e))
    }
}

/// Reduces a URL to scheme, host and path so no query secret (share token, URL signature)
/// ever reaches an error or a log line.
pub(crate) fn redact_url(url: &str) -> &str {
    url.split(['?', '#']).next().unwrap_or(url)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Whether `shown` holds `secret` as is or as `Debug` escapes it.
    fn leaks(shown: &str, secret: &str) -> bool {
        let escaped = format!("{secret:?}");
        shown.contains(secret) || shown.contains(&escaped[1..escaped.len() - 1])
    }

    /// A secret long enough to be scrubbed that the replacement text cannot contain.
    fn secret() -> impl Strategy<Value = String> {
        prop_oneof![
            r"[!-~]{8,40}",
            r"\PC{8,24}",
            r"[a-z]{4}[ &=+/%?#\x22\\]{2,6}[a-z]{4}"
        ]
        .prop_filter("not part of the replacement", |s| {
            !REDACTED.contains(s.as_str())
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        // Proves no secret survives in an API error's Display or Debug, whether the body echoes
        // it in a JSON detail, in validation entries (message, location, input, context), in a
        // non-JSON body at any offset (so the excerpt may cut it), percent-encoded or
        // JSON-escaped; and that no body panics. (NFR-16, NFR-05, NFR-13)
        #[test]
        fn no_secret_survives_error_bodies(
            secret in secret(),
            other in secret(),
            prefix in r"\PC{0,240}",
            status in 400u16..600,
            shape in 0usize..6,
        ) {
            let json = serde_json::to_string(&secret).unwrap();
            let encoded = percent_encoding::utf8_percent_encode(&secret, UNRESERVED).to_string();
            let body = match shape {
                0 => format!(r#"{{"detail":"{prefix} {}"}}"#, &json[1..json.len() - 1]),
                1 => format!(
                    r#"{{"detail":[{{"loc":["body",{json}],"msg":{json},"type":"x","input":{{"k":[{json}]}},"ctx":{{{json}:1}}}}]}}"#
                ),
                2 => format!("{prefix}{secret}{prefix}"),
                3 => format!("{prefix}token={encoded}&x=1"),
                4 => format!(r#"{{"detail":{{"echo":{json}}}}}"#),
                _ => format!(r#"{{"detail":[{json}, 1]}}"#),
            };
            let error: Error = ApiError::from_body_scrubbed(
                "op",
                status,
                body.as_bytes(),
                None,
                &[other.as_str(), secret.as_str()],
            )
            .into();
            let shown = format!("{error} {error:?}");
            prop_assert!(!leaks(&shown, &secret), "{} in {}", secret, shown);
        }

        // Proves arbitrary bytes as an error body never panic. (NFR-16, NFR-13)
        #[test]
        fn any_error_body_is_an_error(body in proptest::collection::vec(any::<u8>(), 0..512)) {
            let e = ApiError::from_body_scrubbed("op", 500, &body, None, &["a-secret-value"]);
            let _ = format!("{e} {e:?}");
        }
    }
}
