//! The one reader of signed storage URLs (the targets of the platform's 307 redirects), for
//! documents and artifacts alike.
//!
//! Requests go through the [`Api`]'s agent, which carries no credentials: the bearer token is
//! added per API request only, so it never reaches the storage host. Neither errors nor logs
//! ever show a signed URL's query string, and storage error bodies are never quoted (they can
//! echo parts of the signed request).

use std::time::Duration;

use crate::error::{ApiError, Error, Result};
use crate::retry::retry_after;
use crate::transport::Api;

/// Sends `GET url` to a storage host, asking for the bytes from `from` on (a `Range` request
/// when `from > 0`) without content encoding. `header_timeout` bounds connecting and the
/// response headers; the body has only a per-read timeout (`read_timeout`), since a large
/// artifact may legitimately take hours. Every status is returned as it is; see [`refused`].
///
/// A relative URL (`/…`) names a path on the API host itself.
pub(crate) fn open(
    api: &Api,
    operation: &str,
    url: &str,
    from: u64,
    header_timeout: Duration,
    read_timeout: Duration,
) -> Result<ureq::http::Response<ureq::Body>> {
    let absolute;
    let url = if url.starts_with('/') {
        absolute = format!("{}{url}", api.api_root());
        absolute.as_str()
    } else {
        url
    };
    let mut builder = ureq::http::Request::get(url).header("Accept-Encoding", "identity");
    if from > 0 {
        builder = builder.header("Range", format!("bytes={from}-"));
    }
    let request = builder
        .body(())
        .map_err(|_| Error::invalid_url(operation, url))?;
    use ureq::RequestExt;
    request
        .with_agent(api.agent())
        .configure()
        .timeout_connect(Some(header_timeout))
        .timeout_recv_response(Some(header_timeout))
        .timeout_recv_body(None)
        .timeout_per_read(Some(read_timeout))
        .build()
        .run()
        .map_err(|e| Error::from_ureq(operation, e))
}

/// The error of a storage answer with an HTTP error status: the status and `Retry-After`, no
/// body text.
pub(crate) fn refused<B>(operation: &str, response: &ureq::http::Response<B>) -> Error {
    let status = response.status().as_u16();
    ApiError {
        status,
        operation: operation.to_string(),
        detail: Some(if matches!(status, 400 | 401 | 403) {
            "the storage host refused the signed URL (expired or not valid); a fresh one is \
             fetched for each attempt"
                .to_string()
        } else {
            format!("the signed storage URL answered HTTP {status}")
        }),
        validation: Vec::new(),
        retry_after: retry_after(response.headers()),
    }
    .into()
}

/// Whether `err` is a storage host's refusal of a signed URL of `operation` (expired, or its
/// signature not accepted): a fresh URL may well work.
pub(crate) fn is_refusal(err: &Error, operation: &str) -> bool {
    err.api_error()
        .is_some_and(|e| e.operation == operation && matches!(e.status, 400 | 401 | 403))
}

/// Reads the whole object at `url` (a 2xx answer), or the storage host's refusal.
pub(crate) fn get(
    api: &Api,
    operation: &str,
    url: &str,
    timeout: Duration,
) -> Result<ureq::http::Response<ureq::Body>> {
    let response = open(api, operation, url, 0, timeout, timeout)?;
    if response.status().is_success() {
        Ok(response)
    } else {
        Err(refused(operation, &response))
    }
}
