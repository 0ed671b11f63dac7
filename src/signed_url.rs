//! Reads from signed storage URLs (the targets of the platform's 307 redirects).
//!
//! The bearer token is never sent to the storage host, and neither errors nor logs ever show
//! a signed URL's query string.

use std::time::Duration;

use crate::error::{ApiError, Error, Result};
use crate::transport::Api;

/// Sends `GET url` to a storage host: no `Authorization` header, connect and response-header
/// timeouts of `timeout`, a per-read (never whole-body) timeout of `timeout`.
///
/// A non-2xx answer is an [`Error::Api`] with the status and no body text, since storage error
/// bodies can echo parts of the signed request.
pub(crate) fn get(
    api: &Api,
    operation: &str,
    url: &str,
    timeout: Duration,
) -> Result<ureq::http::Response<ureq::Body>> {
    // A relative Location names a path on the API host itself.
    let absolute;
    let url = if url.starts_with('/') {
        absolute = format!("{}{url}", api.api_root());
        absolute.as_str()
    } else {
        url
    };
    let response = api
        .agent()
        .get(url)
        .config()
        .timeout_connect(Some(timeout))
        .timeout_recv_response(Some(timeout))
        .timeout_recv_body(None)
        .timeout_per_read(Some(timeout))
        .build()
        .header("Accept-Encoding", "identity")
        .call()
        .map_err(|e| Error::from_ureq(operation, e))?;
    let status = response.status().as_u16();
    if (200..=299).contains(&status) {
        return Ok(response);
    }
    let retry_after = crate::transport::retry_after(&response);
    Err(ApiError {
        status,
        operation: operation.to_string(),
        detail: Some(format!("the signed storage URL answered HTTP {status}")),
        validation: Vec::new(),
        retry_after,
    }
    .into())
}
