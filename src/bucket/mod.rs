//! The organization's bucket: verified, resumable uploads of slides, signed download URLs for
//! the platform, and listing, downloading and deleting objects (feature `bucket`).
//!
//! The platform fetches every input slide from a signed URL. Each organization has a bucket
//! for that; [`Client::me`](crate::Client::me) returns its name and an HMAC key pair for the
//! provider's S3-compatible endpoint. [`Bucket::from_me`] turns that into a handle;
//! [`Bucket::builder`] points one at any S3-compatible store (MinIO, moto, the sandbox).
//!
//! ```no_run
//! use aignostics::bucket::{Bucket, KeyTemplate};
//!
//! let client = aignostics::Client::new()?;
//! let me = client.me()?; // shared with the cache
//! let bucket = Bucket::from_me(&me)?;
//! let key = KeyTemplate::default().render(&bucket, "slide-1.svs", None)?;
//! let report = bucket.upload("slides/slide-1.svs", &key).send()?; // parallel, resumable
//! let url = bucket.signed_url(&key, aignostics::bucket::DEFAULT_URL_VALIDITY)?;
//! println!("{} ({}) -> {url}", report.key, report.crc32c);
//! # Ok::<(), aignostics::Error>(())
//! ```
//!
//! Requests are signed with AWS Signature Version 4 (query-string signing, so every request
//! is a presigned URL) and sent through the crate's blocking HTTP stack on plain threads. The
//! HMAC secret never appears in an error, a log line or `Debug` output, and neither does a
//! signed URL's signature.

mod key;
mod objects;
mod read;
mod url_source;
pub use url_source::{GCS_KEY_VARS, S3_KEY_VARS};
mod upload;
mod xml;

use std::fmt;
use std::io::Read;
use std::time::Duration;

use rusty_s3::{Credentials, UrlStyle};

use crate::error::{ApiError, Error, Result};
use crate::models::MeReadResponse;

pub use key::KeyTemplate;
pub use objects::ObjectInfo;
pub use read::{ChecksumSource, ObjectChecksum};
pub use upload::{
    DEFAULT_CONCURRENCY, DEFAULT_MULTIPART_THRESHOLD, DEFAULT_PART_SIZE, MAX_PART_SIZE,
    MIN_PART_SIZE, Upload, UploadEvent, UploadOutcome, UploadProgress, UploadReport, Verification,
};

/// The S3-compatible endpoint of buckets whose protocol is `gs` (Google Cloud Storage's XML
/// API, which takes HMAC keys and SigV4).
pub const GCS_ENDPOINT: &str = "https://storage.googleapis.com";

/// How long [`Bucket::signed_url`] URLs stay valid unless told otherwise: 6 days, the least
/// the platform asks of an input slide's `download_url`.
pub const DEFAULT_URL_VALIDITY: Duration = Duration::from_secs(6 * 24 * 3600);

/// The longest validity SigV4 allows for a presigned URL: 7 days.
pub const MAX_URL_VALIDITY: Duration = Duration::from_secs(7 * 24 * 3600);

/// How long each signed request of the bucket's own calls stays valid.
const REQUEST_VALIDITY: Duration = Duration::from_secs(3600);

/// A handle on one bucket of an S3-compatible store, with its credentials.
///
/// Cheap to clone; safe to share between threads. Build it with [`Bucket::from_me`] (the
/// organization's bucket) or [`Bucket::builder`] (any store).
#[derive(Clone)]
pub struct Bucket {
    inner: rusty_s3::Bucket,
    credentials: Credentials,
    endpoint: String,
    agent: ureq::Agent,
    part_checksums: bool,
    user: Option<String>,
    organization: Option<String>,
    /// The scheme of its objects' URLs: `s3`, or `gs` for a bucket opened from a `gs://` URL.
    scheme: &'static str,
    /// Addressed as `{bucket}.{host}` rather than `{host}/{bucket}`.
    virtual_host: bool,
}

impl fmt::Debug for Bucket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Bucket")
            .field("name", &self.inner.name())
            .field("endpoint", &self.endpoint)
            .field("region", &self.inner.region())
            .field("access_key_id", &self.credentials.key())
            .field("secret_access_key", &"<redacted>")
            .finish()
    }
}

impl Bucket {
    /// The organization's bucket from a [`Client::me`](crate::Client::me) answer: its name,
    /// HMAC key pair and the endpoint of its protocol (`gs` → [`GCS_ENDPOINT`]). The user and
    /// organization ids fill a [`KeyTemplate`]'s `{user}` and `{org}`.
    ///
    /// # Errors
    /// [`Error::Config`] when the protocol is not `gs` (use [`Bucket::from_me_at`] with the
    /// store's endpoint) or the organization has no bucket credentials.
    pub fn from_me(me: &MeReadResponse) -> Result<Bucket> {
        match me.organization.aignostics_bucket_protocol.as_str() {
            "gs" => Self::from_me_at(me, GCS_ENDPOINT),
            other => Err(Error::Config(format!(
                "the organization's bucket uses protocol `{other}`, which has no known \
                 endpoint; build the handle with Bucket::from_me_at(me, ENDPOINT)"
            ))),
        }
    }

    /// Like [`Bucket::from_me`], with the store's endpoint given (for example
    /// `aignostics_sandbox::Sandbox::bucket_endpoint`).
    ///
    /// # Errors
    /// [`Error::Config`] when the answer has no bucket name or key, or the endpoint is invalid.
    pub fn from_me_at(me: &MeReadResponse, endpoint: &str) -> Result<Bucket> {
        let org = &me.organization;
        if org.aignostics_bucket_name.is_empty()
            || org.aignostics_bucket_hmac_access_key_id.is_empty()
            || org.aignostics_bucket_hmac_secret_access_key.is_empty()
        {
            return Err(Error::Config(
                "the organization has no bucket credentials (ask the platform's support)".into(),
            ));
        }
        let gcs = endpoint.trim_end_matches('/') == GCS_ENDPOINT;
        let mut builder = Bucket::builder(endpoint, &org.aignostics_bucket_name)
            .credentials(
                &org.aignostics_bucket_hmac_access_key_id,
                &org.aignostics_bucket_hmac_secret_access_key,
            )
            .user(&me.user.id)
            .organization(&org.id);
        if gcs {
            // Google's XML API checks each part's Content-MD5 and reports the whole object's
            // CRC32C itself (`x-goog-hash`); it has no per-part `x-amz-checksum-*`.
            builder = builder.region("auto").part_checksums(false);
        }
        builder.build()
    }

    /// A handle on bucket `name` at `endpoint` (`http://127.0.0.1:9000`, `https://s3.…`),
    /// addressed path-style (`endpoint/name/key`), which every S3-compatible store accepts.
    pub fn builder(endpoint: &str, name: &str) -> BucketBuilder {
        BucketBuilder {
            endpoint: endpoint.to_string(),
            name: name.to_string(),
            region: "us-east-1".into(),
            key_id: String::new(),
            token: None,
            secret: String::new(),
            virtual_host: false,
            part_checksums: true,
            timeout: Duration::from_secs(300),
            user: None,
            organization: None,
        }
    }

    /// The URL of the object `key`: `s3://bucket/key`, or `gs://bucket/key` for a bucket
    /// opened from a `gs://` URL ([`Bucket::from_url`]).
    ///
    /// ```no_run
    /// let (bucket, _) = aignostics::bucket::Bucket::from_url("gs://my-lab/cohort/", None)?;
    /// assert_eq!(bucket.object_url("cohort/a.svs"), "gs://my-lab/cohort/a.svs");
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn object_url(&self, key: &str) -> String {
        format!("{}://{}/{key}", self.scheme, self.name())
    }

    /// The bucket's name.
    pub fn name(&self) -> &str {
        self.inner.name()
    }

    /// The store's endpoint.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The user id a [`KeyTemplate`]'s `{user}` stands for, when known.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    /// The organization id a [`KeyTemplate`]'s `{org}` stands for, when known.
    pub fn organization(&self) -> Option<&str> {
        self.organization.as_deref()
    }

    /// A presigned `GET` URL of `key`, valid for `validity` (use [`DEFAULT_URL_VALIDITY`],
    /// 6 days, for an item's `download_url`). The URL is a bearer credential: treat it as a
    /// secret.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when `validity` is under a second (SigV4 signs whole seconds:
    /// the URL would be dead on creation) or above [`MAX_URL_VALIDITY`] (7 days, the SigV4
    /// limit), or the key is not one a URL carries as it is.
    pub fn signed_url(&self, key: &str, validity: Duration) -> Result<String> {
        check_key(key)?;
        check_validity(validity)?;
        let action = rusty_s3::actions::GetObject::new(&self.inner, Some(&self.credentials), key);
        Ok(rusty_s3::S3Action::sign(&action, validity).to_string())
    }

    /// The `platform_bucket` object of an item's metadata, as the Python SDK writes it:
    /// `{bucket_name, object_key, signed_download_url}`, with a URL valid for `validity`.
    ///
    /// ```no_run
    /// # fn demo(bucket: &aignostics::bucket::Bucket) -> aignostics::Result<()> {
    /// let meta = bucket.platform_bucket_metadata("u/slide.svs", aignostics::bucket::DEFAULT_URL_VALIDITY)?;
    /// assert_eq!(meta["object_key"], "u/slide.svs");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As [`Bucket::signed_url`].
    pub fn platform_bucket_metadata(
        &self,
        key: &str,
        validity: Duration,
    ) -> Result<serde_json::Value> {
        Ok(serde_json::json!({
            "bucket_name": self.name(),
            "object_key": key,
            "signed_download_url": self.signed_url(key, validity)?,
        }))
    }

    /// Sends a signed request through the crate's one retry loop: transient failures
    /// (transport, 5xx, 429) are tried again up to [`ATTEMPTS`] times with jittered back-off,
    /// honouring `Retry-After`.
    fn request(&self, op: &'static str, req: Req<'_>) -> Result<Resp> {
        self.call(op, ATTEMPTS, |_| {}, || req.clone())
    }

    /// Sends the request `make` builds up to `attempts` times while it fails transiently,
    /// through [`RetryPolicy::run_until`](crate::retry::RetryPolicy::run_until): back-off of
    /// 0.2 s doubling plus jitter, or what `Retry-After` asks (at most a minute). `on_retry`
    /// hears of each attempt after the first. A cancelled call (a dropped async upload) stops
    /// before the next attempt and during the wait, with [`Error::Cancelled`].
    fn call<'b>(
        &self,
        op: &'static str,
        attempts: u32,
        on_retry: impl Fn(u32),
        make: impl Fn() -> Req<'b>,
    ) -> Result<Resp> {
        self.attempts(op, attempts, on_retry, || self.send(op, make()))
    }

    /// Runs `attempt` (a request, or a request and the reading of its streamed body) up to
    /// `attempts` times while it fails transiently, as [`call`](Self::call) describes.
    fn attempts<T>(
        &self,
        op: &'static str,
        attempts: u32,
        on_retry: impl Fn(u32),
        mut attempt: impl FnMut() -> Result<T>,
    ) -> Result<T> {
        let policy = crate::retry::RetryPolicy {
            attempts: attempts.max(1),
            wait_min: Duration::from_millis(200),
            wait_max: Duration::from_secs(60),
        };
        policy.run_until(op, Error::is_retryable, None, |n| {
            crate::cancel::check()?;
            if *n > 1 {
                on_retry(*n);
            }
            attempt()
        })
    }

    /// Sends one signed request and returns the response when its status is a success.
    fn send(&self, op: &'static str, req: Req<'_>) -> Result<Resp> {
        let url = req.url.as_str();
        let mut builder = ureq::http::Request::builder().method(req.method).uri(url);
        for (name, value) in &req.headers {
            builder = builder.header(*name, value.as_str());
        }
        let request = builder
            .body(req.body.unwrap_or(&[]))
            .map_err(|_| Error::invalid_url(op, url))?;
        let response = self
            .agent
            .run(request)
            .map_err(|e| scrub(Error::from_ureq(op, e), url))?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let mut body = response.into_body();
        if (200..300).contains(&status) && req.stream {
            return Ok(Resp {
                status,
                headers,
                body: Vec::new(),
                stream: Some(body),
            });
        }
        let mut bytes = Vec::new();
        body.as_reader()
            .take(MAX_RESPONSE_BODY)
            .read_to_end(&mut bytes)
            .map_err(|e| scrub(Error::from_read(op, e), url))?;
        if !(200..300).contains(&status) {
            return Err(s3_error(op, status, &headers, &bytes));
        }
        Ok(Resp {
            status,
            headers,
            body: bytes,
            stream: None,
        })
    }
}

/// The largest XML answer read into memory (list pages are ~1 MB at 1000 keys).
const MAX_RESPONSE_BODY: u64 = 16 * 1024 * 1024;

/// Tries of a bucket request outside an upload's parts (listing, `HEAD`, deletes).
pub(super) const ATTEMPTS: u32 = 4;

/// One request: method, signed URL, extra headers (those in the signature too), body.
#[derive(Clone)]
struct Req<'a> {
    method: &'static str,
    url: url::Url,
    headers: Vec<(&'static str, String)>,
    body: Option<&'a [u8]>,
    stream: bool,
}

impl<'a> Req<'a> {
    fn new(method: &'static str, url: url::Url) -> Self {
        Req {
            method,
            url,
            headers: Vec::new(),
            body: None,
            stream: false,
        }
    }
}

/// A successful response: headers and either the read body or the body still to stream.
struct Resp {
    #[allow(dead_code)]
    status: u16,
    headers: ureq::http::HeaderMap,
    body: Vec<u8>,
    stream: Option<ureq::Body>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// An S3 error answer as [`Error::Api`]: the status, the operation and `Code: Message`.
fn s3_error(op: &str, status: u16, headers: &ureq::http::HeaderMap, body: &[u8]) -> Error {
    let text = String::from_utf8_lossy(body);
    let (code, message) = xml::error_code_message(&text);
    let detail = match (code, message) {
        (Some(c), Some(m)) => Some(format!("{c}: {m}")),
        (Some(c), None) => Some(c),
        (None, Some(m)) => Some(m),
        (None, None) => None,
    };
    let retry_after = crate::retry::retry_after(headers);
    Error::Api(Box::new(ApiError {
        status,
        operation: op.to_string(),
        detail,
        validation: Vec::new(),
        retry_after,
    }))
}

/// Removes a signed URL's query (its signature) from an error's text, should the transport
/// have quoted it.
fn scrub(mut err: Error, url: &str) -> Error {
    if let Some((_, query)) = url.split_once('?') {
        let hide = |s: &mut String| {
            if s.contains(query) {
                *s = s.replace(query, "<signed query>");
            }
        };
        match &mut err {
            Error::Transport { message, .. } => hide(message),
            Error::UnexpectedResponse { message, .. } => hide(message),
            _ => {}
        }
    }
    err
}

/// A signed URL's validity: whole seconds from 1 s to [`MAX_URL_VALIDITY`].
pub(crate) fn check_validity(validity: Duration) -> Result<()> {
    if validity < Duration::from_secs(1) || validity > MAX_URL_VALIDITY {
        return Err(Error::InvalidInput(format!(
            "a signed URL is valid for 1 s to 7 days (the SigV4 limit), not {:?}",
            validity
        )));
    }
    Ok(())
}

/// Rejects keys S3 cannot hold, and keys a URL would not carry as they are: a `.` or `..`
/// segment is resolved away in a URL's path (`a/../b` becomes `b`, `..` the bucket itself),
/// so the request would reach another object than the one named. S3 keys are opaque, so
/// such keys are refused before any request rather than rewritten.
pub(crate) fn check_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > 1024 {
        return Err(Error::InvalidInput(format!(
            "an object key has 1 to 1024 bytes, not {}",
            key.len()
        )));
    }
    if key.split('/').any(|s| s == "." || s == "..") {
        return Err(Error::InvalidInput(format!(
            "object key {key:?} has a `.` or `..` segment, which a URL would resolve to \
             another key; name the object without them"
        )));
    }
    if key.split('/').all(str::is_empty) {
        return Err(Error::InvalidInput(format!(
            "object key {key:?} names no object (only `/`)"
        )));
    }
    Ok(())
}

/// Options of a [`Bucket`] handle; required parts are the endpoint, the name and the
/// credentials.
#[derive(Clone)]
pub struct BucketBuilder {
    endpoint: String,
    name: String,
    region: String,
    key_id: String,
    secret: String,
    token: Option<String>,
    virtual_host: bool,
    part_checksums: bool,
    timeout: Duration,
    user: Option<String>,
    organization: Option<String>,
}

impl fmt::Debug for BucketBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BucketBuilder")
            .field("endpoint", &self.endpoint)
            .field("name", &self.name)
            .field("region", &self.region)
            .field("access_key_id", &self.key_id)
            .field("secret_access_key", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl BucketBuilder {
    /// The access key id and secret (an HMAC key pair, or any S3 access key).
    pub fn credentials(mut self, access_key_id: &str, secret_access_key: &str) -> Self {
        self.key_id = access_key_id.to_string();
        self.secret = secret_access_key.to_string();
        self
    }

    /// A session token of temporary credentials (`AWS_SESSION_TOKEN`), sent with every
    /// request. URLs such credentials sign die with the session.
    pub fn session_token(mut self, token: &str) -> Self {
        self.token = Some(token.to_string()).filter(|t| !t.is_empty());
        self
    }

    /// The signing region (default `us-east-1`; Google's endpoint takes `auto`).
    pub fn region(mut self, region: &str) -> Self {
        self.region = region.to_string();
        self
    }

    /// Address the bucket as a host name (`name.endpoint/key`) instead of a path.
    pub fn virtual_host(mut self, yes: bool) -> Self {
        self.virtual_host = yes;
        self
    }

    /// Send each part's CRC32C (`x-amz-checksum-crc32c`) so the store checks it (default on;
    /// off for stores that reject the header). Every part carries `Content-MD5` regardless.
    pub fn part_checksums(mut self, yes: bool) -> Self {
        self.part_checksums = yes;
        self
    }

    /// The longest a single request (one part) may take before it fails and is retried
    /// (default 300 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// The user id for a [`KeyTemplate`]'s `{user}`.
    pub fn user(mut self, user: &str) -> Self {
        self.user = Some(user.to_string());
        self
    }

    /// The organization id for a [`KeyTemplate`]'s `{org}`.
    pub fn organization(mut self, organization: &str) -> Self {
        self.organization = Some(organization.to_string());
        self
    }

    /// Builds the handle.
    ///
    /// # Errors
    /// [`Error::Config`] when the endpoint is not an `http(s)` URL with a host, the name is
    /// empty, the credentials are missing, or a CA bundle is named
    /// ([`tls`](crate::tls)) that cannot be used.
    pub fn build(self) -> Result<Bucket> {
        crate::tls::check()?;
        if self.key_id.is_empty() || self.secret.is_empty() {
            return Err(Error::Config(
                "bucket credentials are missing (BucketBuilder::credentials)".into(),
            ));
        }
        if self.name.is_empty() {
            return Err(Error::Config("the bucket name is empty".into()));
        }
        let inner = addressed(&self.endpoint, self.virtual_host, &self.name, self.region)?;
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .user_agent(crate::user_agent())
            .timeout_connect(Some(Duration::from_secs(30)))
            .timeout_global(Some(self.timeout))
            .max_idle_connections_per_host(64)
            .tls_config(crate::tls::config())
            .build();
        Ok(Bucket {
            inner,
            credentials: match self.token {
                Some(token) => Credentials::new_with_token(self.key_id, self.secret, token),
                None => Credentials::new(self.key_id, self.secret),
            },
            endpoint: self.endpoint,
            agent: ureq::Agent::new_with_config(config),
            part_checksums: self.part_checksums,
            user: self.user,
            organization: self.organization,
            scheme: "s3",
            virtual_host: self.virtual_host,
        })
    }
}

/// The bucket `name` at `endpoint` in `region`, addressed as `{bucket}.{host}` when
/// `virtual_host`, else as `{host}/{bucket}`.
fn addressed(
    endpoint: &str,
    virtual_host: bool,
    name: &str,
    region: String,
) -> Result<rusty_s3::Bucket> {
    let url = url::Url::parse(endpoint)
        .map_err(|e| Error::Config(format!("invalid bucket endpoint `{endpoint}`: {e}")))?;
    let style = if virtual_host {
        UrlStyle::VirtualHost
    } else {
        UrlStyle::Path
    };
    rusty_s3::Bucket::new(url, style, name.to_string(), region)
        .map_err(|e| Error::Config(format!("invalid bucket `{name}` at `{endpoint}`: {e}")))
}

impl Bucket {
    /// The bucket `name` at the same endpoint, with the same keys and settings (a CSV row may
    /// name an object of another bucket of the same account).
    pub(crate) fn sibling(&self, name: &str) -> Result<Bucket> {
        let region = self.inner.region().to_string();
        let inner = addressed(&self.endpoint, self.virtual_host, name, region)?;
        Ok(Bucket {
            inner,
            ..self.clone()
        })
    }

    /// The scheme of this bucket's object URLs (`s3` or `gs`).
    pub(crate) fn scheme(&self) -> &'static str {
        self.scheme
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bucket() -> Bucket {
        Bucket::builder("http://127.0.0.1:9/", "slides")
            .credentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
            .build()
            .unwrap()
    }

    // Proves the HMAC secret never shows in Debug output of a handle or its builder (FR-68).
    #[test]
    fn debug_hides_the_secret() {
        let b = bucket();
        let text = format!("{b:?}");
        assert!(text.contains("AKIDEXAMPLE") && text.contains("slides"));
        assert!(!text.contains("wJalrXUtnFEMI"), "{text}");
        let builder = Bucket::builder("http://x", "b").credentials("id", "topsecret");
        assert!(!format!("{builder:?}").contains("topsecret"));
    }

    // Proves signed URLs default to path style with SigV4 query parameters and refuse
    // validities above seven days or of zero (FR-70).
    #[test]
    fn signed_url_validity() {
        let b = bucket();
        let url = b.signed_url("a b/slide.svs", DEFAULT_URL_VALIDITY).unwrap();
        assert!(
            url.starts_with("http://127.0.0.1:9/slides/a%20b/slide.svs?"),
            "{url}"
        );
        assert!(url.contains("X-Amz-Expires=518400"), "{url}");
        assert!(url.contains("X-Amz-Signature="));
        assert!(b.signed_url("k", MAX_URL_VALIDITY).is_ok());
        let err = b
            .signed_url("k", MAX_URL_VALIDITY + Duration::from_secs(1))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err}");
        assert!(b.signed_url("k", Duration::ZERO).is_err());
        // Under a second would sign `X-Amz-Expires=0`: dead on creation.
        assert!(b.signed_url("k", Duration::from_millis(999)).is_err());
        assert!(b.signed_url("k", Duration::MAX).is_err());
        assert!(b.signed_url("k", Duration::from_secs(1)).is_ok());
        assert!(b.signed_url("", DEFAULT_URL_VALIDITY).is_err());
        let meta = b
            .platform_bucket_metadata("k/x", DEFAULT_URL_VALIDITY)
            .unwrap();
        assert_eq!(meta["bucket_name"], "slides");
        assert_eq!(meta["object_key"], "k/x");
        assert!(
            meta["signed_download_url"]
                .as_str()
                .unwrap()
                .contains("/slides/k/x?")
        );
    }

    // Proves a handle from `me()` goes to Google's endpoint for `gs` and refuses unknown
    // protocols or missing keys with a configuration error (FR-68).
    #[test]
    fn from_me_protocols() {
        let mut me: MeReadResponse = serde_json::from_value(serde_json::json!({
            "user": {"id": "u1"},
            "organization": {
                "id": "o1",
                "aignostics_bucket_hmac_access_key_id": "GOOGKEY",
                "aignostics_bucket_hmac_secret_access_key": "s3cr3t",
                "aignostics_bucket_name": "org-bucket",
                "aignostics_bucket_protocol": "gs",
                "aignostics_logfire_token": "",
                "aignostics_sentry_dsn": ""
            }
        }))
        .unwrap();
        let b = Bucket::from_me(&me).unwrap();
        assert_eq!(b.endpoint(), GCS_ENDPOINT);
        assert_eq!(b.name(), "org-bucket");
        assert_eq!(b.user(), Some("u1"));
        let url = b.signed_url("k", DEFAULT_URL_VALIDITY).unwrap();
        assert!(
            url.starts_with("https://storage.googleapis.com/org-bucket/k?"),
            "{url}"
        );
        me.organization.aignostics_bucket_protocol = "az".into();
        let err = Bucket::from_me(&me).unwrap_err();
        assert!(matches!(err, Error::Config(_)) && !err.to_string().contains("s3cr3t"));
        me.organization
            .aignostics_bucket_hmac_secret_access_key
            .clear();
        assert!(Bucket::from_me_at(&me, "http://127.0.0.1:1").is_err());
    }

    /// A scripted answer: the status and body for a request line.
    type Answer = fn(&str) -> (u16, &'static str);

    /// A server on loopback that answers each request with `answer(request line)`: a status
    /// and a body, with `Retry-After: 30`. Returns its endpoint and the request lines seen.
    fn scripted_store(answer: Answer) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use std::io::{BufRead, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = std::sync::Arc::clone(&seen);
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(mut conn) = conn else { continue };
                let log = std::sync::Arc::clone(&log);
                std::thread::spawn(move || {
                    let mut reader = std::io::BufReader::new(conn.try_clone().unwrap());
                    let (mut first, mut line, mut len) = (String::new(), String::new(), 0usize);
                    reader.read_line(&mut first).unwrap_or(0);
                    while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                            len = v.trim().parse().unwrap_or(0);
                        }
                        line.clear();
                    }
                    let _ = (&mut reader).take(len as u64).read_to_end(&mut Vec::new());
                    log.lock().unwrap().push(first.trim().to_string());
                    let (status, body) = answer(&first);
                    let _ = write!(
                        conn,
                        "HTTP/1.1 {status} X\r\nRetry-After: 30\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                });
            }
        });
        (endpoint, seen)
    }

    /// Runs `work` under a cancellation token, cancels it once `ready` holds for the request
    /// lines seen, and returns what `work` returned (a guard of 20 s against a hang, not a
    /// speed goal: the waits asked for are 30 s).
    fn cancelled_during<T: Send + 'static>(
        seen: &std::sync::Mutex<Vec<String>>,
        ready: impl Fn(&[String]) -> bool,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> T {
        let token = crate::cancel::Token::new();
        let (tx, rx) = std::sync::mpsc::channel();
        let entered = token.clone();
        std::thread::spawn(move || {
            let _ = tx.send(entered.enter(work));
        });
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !ready(&seen.lock().unwrap()) {
            // Work that ended before it was ready to be cancelled is a failure to look at.
            if let Ok(early) = rx.try_recv() {
                return early;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{:?}",
                seen.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(5));
        }
        token.cancel();
        rx.recv_timeout(Duration::from_secs(20))
            .expect("cancelled promptly")
    }

    // Proves bucket requests go through the one retry loop: a 503 or 429 with Retry-After is
    // waited on as the server asks, and work cancelled during that wait (a dropped async
    // call) ends with Error::Cancelled before any further attempt. (FR-69, NFR-30)
    #[test]
    fn retries_honour_retry_after_and_cancellation() {
        let answers: [Answer; 2] = [|_| (503, ""), |_| (429, "")];
        for answer in answers {
            let (endpoint, seen) = scripted_store(answer);
            let b = Bucket::builder(&endpoint, "slides")
                .credentials("AKIDEXAMPLE", "secret")
                .build()
                .unwrap();
            let result = cancelled_during(&seen, |s| !s.is_empty(), move || b.list("u/"));
            assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
            assert_eq!(seen.lock().unwrap().len(), 1);
        }
    }

    // Proves the upload's part workers share the caller's cancellation: parts answered 503
    // with Retry-After: 30 stop waiting when the upload is cancelled (a dropped async call),
    // with Error::Cancelled and no second attempt of any part. (FR-69)
    #[test]
    fn upload_workers_are_cancelled_with_the_call() {
        let (endpoint, seen) = scripted_store(|line| {
            if line.starts_with("HEAD") {
                (404, "")
            } else if line.starts_with("GET") {
                (
                    200,
                    "<ListMultipartUploadsResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>",
                )
            } else if line.starts_with("POST") {
                (
                    200,
                    "<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Bucket>slides</Bucket><Key>k</Key><UploadId>u1</UploadId></InitiateMultipartUploadResult>",
                )
            } else {
                (503, "")
            }
        });
        let b = Bucket::builder(&endpoint, "slides")
            .credentials("AKIDEXAMPLE", "secret")
            .build()
            .unwrap();
        let dir = std::env::temp_dir().join(format!("aignostics-cancel-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("slide.bin");
        std::fs::write(&path, vec![7u8; 3 * MIN_PART_SIZE as usize]).unwrap();
        let file = path.clone();
        let puts = |s: &[String]| s.iter().filter(|l| l.starts_with("PUT")).count();
        let result = cancelled_during(
            &seen,
            |s| puts(s) == 2,
            move || {
                b.upload(&file, "u/slide.bin")
                    .part_size(MIN_PART_SIZE)
                    .multipart_threshold(MIN_PART_SIZE)
                    .concurrency(2)
                    .send()
            },
        );
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(matches!(result, Err(Error::Cancelled)), "{result:?}");
        assert_eq!(puts(&seen.lock().unwrap()), 2, "no part was tried again");
    }

    // Proves Retry-After is read in both of its forms, delay-seconds and an HTTP-date (each
    // of the three date formats), as a wait from now of at most a day. (FR-69, NFR-30)
    #[test]
    fn retry_after_both_forms() {
        use crate::retry::retry_after_at;
        let now = std::time::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(retry_after_at("120", now), Some(Duration::from_secs(120)));
        for date in [
            "Sun, 06 Nov 1994 08:51:37 GMT",
            "Sunday, 06-Nov-94 08:51:37 GMT",
            "Sun Nov  6 08:51:37 1994",
        ] {
            assert_eq!(
                retry_after_at(date, now),
                Some(Duration::from_secs(120)),
                "{date}"
            );
        }
        assert_eq!(
            retry_after_at("Sun, 06 Nov 1994 08:40:00 GMT", now),
            Some(Duration::ZERO),
            "a date in the past is no wait"
        );
        assert_eq!(
            retry_after_at("Fri, 31 Dec 9999 23:59:59 GMT", now),
            Some(Duration::from_secs(86_400))
        );
        assert_eq!(retry_after_at("-1", now), None);
        assert_eq!(retry_after_at("soon", now), None);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        // Proves every key either is refused before any request or reaches the store exactly
        // as named: the signed URL's path decodes back to the key, whatever dots, slashes,
        // percent signs or other characters it holds. (FR-86, NFR-16)
        #[test]
        fn keys_are_sent_exactly_as_named(key in "(\\.|\\.\\.|/|%2e|%2E|%|a|b|ü| |\\\\|\\?|#|;|\\+){0,12}") {
            let b = bucket();
            match b.signed_url(&key, DEFAULT_URL_VALIDITY) {
                Ok(url) => {
                    let parsed = url::Url::parse(&url).unwrap();
                    let path = parsed.path().strip_prefix("/slides/").unwrap();
                    let sent = percent_encoding::percent_decode_str(path).decode_utf8().unwrap();
                    proptest::prop_assert_eq!(sent, key.as_str());
                }
                Err(e) => {
                    proptest::prop_assert!(matches!(e, Error::InvalidInput(_)));
                    proptest::prop_assert!(
                        key.is_empty()
                            || key.split('/').any(|s| s == "." || s == "..")
                            || key.split('/').all(str::is_empty)
                    );
                }
            }
        }
    }
}
