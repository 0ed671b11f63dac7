//! The HTTP core: one connection agent, settings and token source per [`Api`]; every request goes
//! auth → cache → retry → decode here.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use percent_encoding::utf8_percent_encode;

use crate::percent::UNRESERVED;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::cache::user_scope;
use crate::cache::{self, CacheKey, CacheUse};
use crate::error::{ApiError, Error, Result};
use crate::retry::{Deadline, DeadlineExt, Idempotency, RetryPolicy};
use crate::settings::{OperationSettings, Settings};
use crate::token::TokenProvider;

/// Largest JSON body accepted from the API (lists of 100 runs with metadata stay far below).
const MAX_JSON_BODY: u64 = 64 * 1024 * 1024;

/// Percent-encodes one path segment: external ids are arbitrary strings, so `/`, `?`, `#`, `%`
/// and the dot segments `.` and `..` must never change the path.
#[cfg(any(test, all(feature = "slides", feature = "bucket")))]
pub(crate) fn seg(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    push_seg(&mut out, segment);
    out
}

/// Appends one percent-encoded path segment (see [`seg`]) without an intermediate string.
fn push_seg(path: &mut String, segment: &str) {
    let unreserved = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~');
    if segment == "." || segment == ".." {
        path.push_str(&segment.replace('.', "%2E"));
    } else if segment.bytes().all(unreserved) {
        // Most ids need no escaping: copied as they are.
        path.push_str(segment);
    } else {
        path.extend(utf8_percent_encode(segment, UNRESERVED));
    }
}

/// The `User-Agent` sent with every request.
pub fn user_agent() -> String {
    format!(
        "aignostics-rust/{} ({}; {})",
        env!("CARGO_PKG_VERSION"),
        std::env::consts::OS,
        std::env::consts::ARCH
    )
}

/// HTTP method of an operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
        }
    }
}

/// Settings group of an operation, as the Python SDK groups them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Group {
    Me,
    Application,
    ApplicationVersion,
    Run,
}

macro_rules! operations {
    ($($variant:ident => $name:literal, $method:ident $path:literal, $group:ident, $kind:ident, $share:ident, $operation_id:literal;)*) => {
        /// The 26 operations of the API.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub(crate) enum Op { $($variant),* }

        impl Op {
            /// Every operation, in OpenAPI order.
            #[cfg(test)]
            pub const ALL: &'static [Op] = &[$(Op::$variant),*];

            /// Short name used in errors, logs and cache keys.
            pub fn name(self) -> &'static str {
                match self { $(Op::$variant => $name),* }
            }

            /// The `operationId` in the OpenAPI file.
            #[cfg(test)]
            pub fn operation_id(self) -> &'static str {
                match self { $(Op::$variant => $operation_id),* }
            }

            pub fn method(self) -> Method {
                match self { $(Op::$variant => Method::$method),* }
            }

            /// The path template below `/api`, with `{name}` for each argument.
            pub fn path(self) -> &'static str {
                match self { $(Op::$variant => $path),* }
            }

            pub fn group(self) -> Group {
                match self { $(Op::$variant => Group::$group),* }
            }

            fn kind(self) -> OpKind {
                match self { $(Op::$variant => OpKind::$kind),* }
            }

            /// Whether the operation reads through a share token (`share_token` query).
            pub fn shared(self) -> bool {
                match self { $(Op::$variant => Share::$share == Share::shared),* }
            }
        }
    };
}

/// Whether an operation accepts a share token.
#[derive(PartialEq, Eq)]
#[allow(non_camel_case_types)]
enum Share {
    shared,
    own,
}

/// What an operation does, which decides its retries and timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum OpKind {
    Read,
    Redirect,
    Submit,
    Cancel,
    Delete,
    Write,
}

// One row per operation: short name, method and path template, settings group, kind, whether a
// share token may read it, and the OpenAPI operationId. Handlers, cache keys and the OpenAPI
// coverage test derive from these rows; no path is written anywhere else.
operations! {
    ListApplications => "list_applications", Get "/v1/applications", Application, Read, own, "list_applications_v1_applications_get";
    GetApplication => "get_application", Get "/v1/applications/{application_id}", Application, Read, own, "read_application_by_id_v1_applications__application_id__get";
    GetApplicationVersion => "get_application_version", Get "/v1/applications/{application_id}/versions/{version}", ApplicationVersion, Read, own, "application_version_details_v1_applications__application_id__versions__version__get";
    ListRuns => "list_runs", Get "/v1/runs", Run, Read, own, "list_runs_v1_runs_get";
    CreateRun => "create_run", Post "/v1/runs", Run, Submit, own, "create_run_v1_runs_post";
    GetRun => "get_run", Get "/v1/runs/{run_id}", Run, Read, shared, "get_run_v1_runs__run_id__get";
    CancelRun => "cancel_run", Post "/v1/runs/{run_id}/cancel", Run, Cancel, own, "cancel_run_v1_runs__run_id__cancel_post";
    ListRunItems => "list_run_items", Get "/v1/runs/{run_id}/items", Run, Read, shared, "list_run_items_v1_runs__run_id__items_get";
    GetRunItem => "get_run_item", Get "/v1/runs/{run_id}/items/{external_id}", Run, Read, shared, "get_item_by_run_v1_runs__run_id__items__external_id__get";
    GetArtifactUrl => "get_artifact_url", Get "/v1/runs/{run_id}/artifacts/{artifact_id}/file", Run, Redirect, shared, "get_artifact_url_v1_runs__run_id__artifacts__artifact_id__file_get";
    DeleteRunArtifacts => "delete_run_artifacts", Delete "/v1/runs/{run_id}/artifacts", Run, Delete, own, "delete_run_items_v1_runs__run_id__artifacts_delete";
    PutRunCustomMetadata => "put_run_custom_metadata", Put "/v1/runs/{run_id}/custom-metadata", Run, Submit, own, "put_run_custom_metadata_v1_runs__run_id__custom_metadata_put";
    PutItemCustomMetadata => "put_item_custom_metadata", Put "/v1/runs/{run_id}/items/{external_id}/custom-metadata", Run, Submit, own, "put_item_custom_metadata_by_run_v1_runs__run_id__items__external_id__custom_metadata_put";
    GetMe => "get_me", Get "/v1/me", Me, Read, own, "get_me_v1_me_get";
    ListVersionDocuments => "list_version_documents", Get "/v1/applications/{application_id}/versions/{version}/documents", ApplicationVersion, Read, own, "list_version_documents";
    GetVersionDocument => "get_version_document", Get "/v1/applications/{application_id}/versions/{version}/documents/{name}", ApplicationVersion, Read, own, "get_version_document";
    GetVersionDocumentFile => "get_version_document_file", Get "/v1/applications/{application_id}/versions/{version}/documents/{name}/file", ApplicationVersion, Redirect, own, "get_version_document_file";
    GetVersionDocumentContent => "get_version_document_content", Get "/v1/applications/{application_id}/versions/{version}/documents/{name}/content", ApplicationVersion, Redirect, own, "get_version_document_content";
    CreateGrant => "create_grant", Post "/v1/access/grants", Run, Write, own, "create_grant_v1_access_grants_post";
    ListGrants => "list_grants", Get "/v1/access/grants", Run, Read, own, "list_grants_v1_access_grants_get";
    GetGrant => "get_grant", Get "/v1/access/grants/{grant_id}", Run, Read, own, "get_grant_v1_access_grants__grant_id__get";
    RevokeGrant => "revoke_grant", Delete "/v1/access/grants/{grant_id}", Run, Write, own, "revoke_grant_v1_access_grants__grant_id__delete";
    CreateShareToken => "create_share_token", Post "/v1/access/share-tokens", Run, Write, own, "create_share_token_v1_access_share_tokens_post";
    ListShareTokens => "list_share_tokens", Get "/v1/access/share-tokens", Run, Read, own, "list_share_tokens_v1_access_share_tokens_get";
    GetShareToken => "get_share_token", Get "/v1/access/share-tokens/{share_token_id}", Run, Read, own, "get_share_token_v1_access_share_tokens__share_token_id__get";
    RevokeShareToken => "revoke_share_token", Delete "/v1/access/share-tokens/{share_token_id}", Run, Write, own, "revoke_share_token_v1_access_share_tokens__share_token_id__delete";
}

impl Op {
    pub fn settings(self, s: &Settings) -> &OperationSettings {
        match self.group() {
            Group::Me => &s.me,
            Group::Application => &s.application,
            Group::ApplicationVersion => &s.application_version,
            Group::Run => &s.run,
        }
    }

    fn timeout(self, s: &Settings) -> Duration {
        match self.kind() {
            OpKind::Submit => s.run_submit_timeout,
            OpKind::Cancel => s.run_cancel_timeout,
            OpKind::Delete => s.run_delete_timeout,
            _ => self.settings(s).timeout,
        }
    }

    fn idempotency(self) -> Idempotency {
        match self.kind() {
            OpKind::Read | OpKind::Redirect => Idempotency::Idempotent,
            _ => Idempotency::NonIdempotent,
        }
    }

    fn expects_redirect(self) -> bool {
        self.kind() == OpKind::Redirect
    }

    /// A request for this operation, the path template filled with `args` in order (each
    /// percent-encoded as one segment).
    pub fn at(self, args: &[&str]) -> Request {
        let template = self.path();
        if args.is_empty() {
            return Request::new(self, template);
        }
        let mut path = String::with_capacity(template.len() + 48);
        let mut args = args.iter();
        // One pass over the template's bytes: a pattern search per brace costs more than the
        // whole path on a cache hit.
        let mut literal = 0;
        for (i, b) in template.bytes().enumerate() {
            match b {
                b'{' => {
                    path.push_str(&template[literal..i]);
                    push_seg(&mut path, args.next().copied().unwrap_or_default());
                    literal = template.len();
                }
                b'}' => literal = i + 1,
                _ => {}
            }
        }
        path.push_str(&template[literal.min(template.len())..]);
        debug_assert!(
            args.next().is_none(),
            "{}: too many path arguments",
            self.name()
        );
        Request::new(self, path)
    }
}

/// One API request, before authentication.
#[derive(Debug, Clone)]
pub(crate) struct Request {
    pub op: Op,
    /// Path below `/api` (segments already encoded) and query, e.g. `/v1/runs/abc?page=1`. It is
    /// also the argument part of the cache key.
    target: Cow<'static, str>,
    has_query: bool,
    body: Option<Vec<u8>>,
    /// A secret sent in the query (a share token), scrubbed from error texts like the bearer.
    secret: Option<String>,
    /// When the operation that sends this request gives up (attempts and retries included).
    deadline: Deadline,
}

impl Request {
    pub fn new(op: Op, path: impl Into<Cow<'static, str>>) -> Self {
        Self {
            op,
            target: path.into(),
            has_query: false,
            body: None,
            secret: None,
            deadline: None,
        }
    }

    /// Gives up at `deadline`: no attempt or retry of this request lasts past it.
    pub fn until(mut self, deadline: Deadline) -> Self {
        self.deadline = deadline;
        self
    }

    /// Appends `key=value` (percent-encoded).
    pub fn query(mut self, key: &str, value: impl std::fmt::Display) -> Self {
        let target = self.target.to_mut();
        target.push(if self.has_query { '&' } else { '?' });
        self.has_query = true;
        target.push_str(key);
        target.push('=');
        target.extend(utf8_percent_encode(&value.to_string(), UNRESERVED));
        self
    }

    /// Appends `key=value` for a secret value, which error texts will never show.
    pub fn query_secret(mut self, key: &str, value: &str) -> Self {
        self.secret = Some(value.to_string());
        self.query(key, value)
    }

    /// Sets a JSON body.
    pub fn json(mut self, body: &impl Serialize) -> Result<Self> {
        let bytes = serde_json::to_vec(body).map_err(|e| {
            Error::InvalidInput(format!("{}: cannot encode body: {e}", self.op.name()))
        })?;
        self.body = Some(bytes);
        Ok(self)
    }

    /// Path and query.
    pub(crate) fn target(&self) -> &str {
        &self.target
    }

    /// Path and query, moved out.
    pub(crate) fn into_target(self) -> String {
        self.target.into_owned()
    }
}

/// What a redirect operation answered.
pub(crate) enum Redirect {
    /// The `Location` of a 3xx: a signed URL (absolute, or a path on the API host).
    To(String),
    /// A 2xx with the content itself (at most the JSON body limit, 64 MiB).
    Body(Vec<u8>),
}

/// A response as read from the wire, body buffered.
#[derive(Debug)]
pub(crate) struct RawResponse {
    pub status: u16,
    pub location: Option<String>,
    pub retry_after: Option<Duration>,
    pub body: Vec<u8>,
}

/// Sends `request` with connect, response-header and body timeouts of `timeout` and reads at
/// most `limit` body bytes. HTTP error statuses are returned, not turned into errors.
pub(crate) fn exchange(
    agent: &ureq::Agent,
    request: ureq::http::Request<&[u8]>,
    operation: &str,
    timeout: Duration,
    limit: u64,
) -> Result<RawResponse> {
    use ureq::RequestExt;
    let timeout = Some(timeout);
    let mut response = request
        .with_agent(agent)
        .configure()
        .timeout_connect(timeout)
        .timeout_recv_response(timeout)
        .timeout_recv_body(timeout)
        .build()
        .run()
        .map_err(|e| Error::from_ureq(operation, e))?;
    let status = response.status().as_u16();
    let location = header(&response, "location");
    let retry_after = crate::retry::retry_after(response.headers());
    let body = response
        .body_mut()
        .with_config()
        .limit(limit)
        .read_to_vec()
        .map_err(|e| Error::from_ureq(operation, e))?;
    Ok(RawResponse {
        status,
        location,
        retry_after,
        body,
    })
}

/// Where tokens come from; either may fail, which ends the request before anything is sent.
#[derive(Clone)]
pub(crate) enum TokenSource {
    /// A caller's provider: called for every request.
    Provider(TokenProvider),
    /// The internal OAuth login (fails e.g. when nobody is logged in).
    Internal(TokenProvider),
}

/// An authenticated connection to one platform: a `ureq` agent (connection reuse), the settings
/// it was built with, and its token source.
///
/// Get one from [`Client::get_api_client`](crate::Client::get_api_client) (pooled) or use a
/// [`Client`](crate::Client), which holds one. `Api` has no request methods of its own; it is
/// the shared engine behind clients and handlers.
pub struct Api {
    agent: ureq::Agent,
    settings: Settings,
    source: TokenSource,
    root_id: u32,
    base: String,
    warned_empty_token: AtomicBool,
}

impl std::fmt::Debug for Api {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let source = match &self.source {
            TokenSource::Provider(p) => format!("{p:?}"),
            TokenSource::Internal(_) => "internal login".to_string(),
        };
        f.debug_struct("Api")
            .field("api_root", &self.settings.api_root)
            .field("token_source", &source)
            .finish_non_exhaustive()
    }
}

/// A fresh entry of `key`, for a read that may be answered from the cache
/// ([`CacheUse::Read`]).
fn lookup<T: Send + Sync + 'static>(key: &CacheKey, cache_use: CacheUse) -> Option<Arc<T>> {
    match cache_use {
        CacheUse::Read => cache::get::<T>(key),
        CacheUse::Refresh | CacheUse::Bypass => None,
    }
}

/// A read the cache did not answer: `fetch` finds the value and its lifetime, and it is stored
/// under `key` unless the read is [`CacheUse::Bypass`] or an invalidation of this user came
/// after the fetch started (the ticket is taken before it, so an invalidation while a request
/// is in flight wins).
fn fill<T: Clone + Send + Sync + 'static>(
    key: CacheKey,
    cache_use: CacheUse,
    fetch: impl FnOnce(&CacheKey) -> Result<(Arc<T>, Duration)>,
) -> Result<Arc<T>> {
    let sent = cache::ticket();
    let (value, ttl) = fetch(&key)?;
    if cache_use != CacheUse::Bypass {
        cache::put(key, Arc::clone(&value), ttl, sent);
    }
    Ok(value)
}

impl Api {
    pub(crate) fn new(settings: Settings, source: TokenSource) -> Self {
        cache::init(settings.operation_cache_size);
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .user_agent(user_agent())
            .timeout_connect(Some(settings.run.timeout))
            .tls_config(crate::tls::config())
            .build();
        Self {
            agent: ureq::Agent::new_with_config(config),
            base: format!("{}/api", settings.api_root),
            root_id: cache::root_id(&settings.api_root),
            settings,
            source,
            warned_empty_token: AtomicBool::new(false),
        }
    }

    /// The settings this `Api` was built with.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// The API root, e.g. `https://platform.aignostics.com`.
    pub fn api_root(&self) -> &str {
        &self.settings.api_root
    }

    /// The external token provider, when this `Api` uses one.
    pub fn token_provider(&self) -> Option<&TokenProvider> {
        match &self.source {
            TokenSource::Provider(p) => Some(p),
            TokenSource::Internal(_) => None,
        }
    }

    pub(crate) fn agent(&self) -> &ureq::Agent {
        &self.agent
    }

    /// The current access token.
    pub(crate) fn token(&self) -> Result<String> {
        match &self.source {
            TokenSource::Provider(p) | TokenSource::Internal(p) => p.try_token(),
        }
    }

    /// A cached read returning an owned value (list pages, whose items the iterators hand out
    /// one by one); see [`read_shared`](Self::read_shared).
    pub(crate) fn read<T>(&self, req: Request, cache_use: CacheUse) -> Result<T>
    where
        T: DeserializeOwned + Clone + Send + Sync + 'static,
    {
        // Unshared (so not copied) unless the cache holds it too.
        self.read_shared(req, cache_use).map(Arc::unwrap_or_clone)
    }

    /// A cached read: returns a fresh cached value of this user (for [`CacheUse::Read`]), otherwise
    /// fetches (with retries), decodes and stores the result. The value is shared with the
    /// cache, so a hit costs one reference count whatever the size of the document.
    pub(crate) fn read_shared<T>(&self, req: Request, cache_use: CacheUse) -> Result<Arc<T>>
    where
        T: DeserializeOwned + Clone + Send + Sync + 'static,
    {
        self.read_shared_checked(req, cache_use, || Ok(()))
    }

    /// [`read_shared`](Self::read_shared) running `check` (input validation) only when the
    /// request is about to be sent: a target that fails it is never sent, so never cached, and a
    /// hit needs no validation.
    pub(crate) fn read_shared_checked<T>(
        &self,
        req: Request,
        cache_use: CacheUse,
        check: impl FnOnce() -> Result<()>,
    ) -> Result<Arc<T>>
    where
        T: DeserializeOwned + Clone + Send + Sync + 'static,
    {
        let token = self.token()?;
        let Request {
            op,
            target,
            body,
            secret,
            deadline,
            ..
        } = req;
        let key = CacheKey {
            root: self.root_id,
            scope: user_scope(&token),
            operation: op.name(),
            args: target,
        };
        if let Some(hit) = lookup(&key, cache_use) {
            return Ok(hit);
        }
        fill(key, cache_use, |key| {
            check()?;
            // The target moved into the key; the request needs only the operation and body.
            let req = Request {
                op,
                target: Cow::Borrowed(""),
                has_query: false,
                body,
                secret,
                deadline,
            };
            let raw = self.execute_with(&req, &key.args, token)?;
            let value = Arc::new(decode(op.name(), &raw.body)?);
            Ok((value, op.settings(&self.settings).cache_ttl))
        })
    }

    /// A value found through other reads (such as the latest version of an application),
    /// cached under `alias` (a target no request uses) of `op` for `ttl`: a hit is one lookup.
    /// Otherwise `resolve` finds it; see [`fill`].
    pub(crate) fn read_alias<T>(
        &self,
        op: Op,
        alias: String,
        ttl: Duration,
        cache_use: CacheUse,
        resolve: impl FnOnce() -> Result<Arc<T>>,
    ) -> Result<Arc<T>>
    where
        T: Clone + Send + Sync + 'static,
    {
        let key = CacheKey {
            root: self.root_id,
            scope: user_scope(&self.token()?),
            operation: op.name(),
            args: Cow::Owned(alias),
        };
        if let Some(hit) = lookup(&key, cache_use) {
            return Ok(hit);
        }
        fill(key, cache_use, |_| Ok((resolve()?, ttl)))
    }

    /// A mutation: never retried once sent; on success every cached entry of this user goes.
    pub(crate) fn mutate(&self, req: Request) -> Result<RawResponse> {
        let token = self.token()?;
        let scope = user_scope(&token);
        let raw = self.execute_with(&req, req.target(), token)?;
        cache::invalidate_scope(self.root_id, &scope);
        Ok(raw)
    }

    /// A mutation whose JSON answer is decoded.
    pub(crate) fn mutate_json<T: DeserializeOwned>(&self, req: Request) -> Result<T> {
        let op = req.op;
        let raw = self.mutate(req)?;
        decode(op.name(), &raw.body)
    }

    /// A call expected to answer with a redirect to a signed URL: its `Location`, unfollowed,
    /// or the content itself when the platform answers 2xx with the bytes.
    pub(crate) fn redirect(&self, req: Request) -> Result<Redirect> {
        let raw = self.execute(&req)?;
        match raw.location {
            Some(location) if (300..=399).contains(&raw.status) => Ok(Redirect::To(location)),
            _ if (200..=299).contains(&raw.status) => Ok(Redirect::Body(raw.body)),
            _ => Err(Error::UnexpectedResponse {
                operation: req.op.name().to_string(),
                message: format!("HTTP {} without a Location header", raw.status),
            }),
        }
    }

    /// A call that must answer with a redirect: its `Location`, unfollowed.
    pub(crate) fn redirect_location(&self, req: Request) -> Result<String> {
        let op = req.op;
        match self.redirect(req)? {
            Redirect::To(location) => Ok(location),
            Redirect::Body(_) => Err(Error::UnexpectedResponse {
                operation: op.name().to_string(),
                message: "answered with content instead of a redirect to a signed URL".into(),
            }),
        }
    }

    /// Sends `req` with the operation's retry policy.
    pub(crate) fn execute(&self, req: &Request) -> Result<RawResponse> {
        let token = self.token()?;
        self.execute_with(req, req.target(), token)
    }

    fn execute_with(
        &self,
        req: &Request,
        target: &str,
        first_token: String,
    ) -> Result<RawResponse> {
        let policy = RetryPolicy::from(req.op.settings(&self.settings));
        let mut first = Some(first_token);
        let idempotency = req.op.idempotency();
        let retryable = |e: &Error| idempotency.may_retry(e);
        policy.run_until(req.op.name(), retryable, req.deadline, |_| {
            crate::cancel::check()?;
            let token = match first.take() {
                Some(t) => t,
                None => self.token()?,
            };
            self.attempt(req, target, &token)
        })
    }

    /// One HTTP exchange.
    fn attempt(&self, req: &Request, target: &str, token: &str) -> Result<RawResponse> {
        let op = req.op.name();
        let url = format!("{}{}", self.base, target);
        let mut builder = ureq::http::Request::builder()
            .method(req.op.method().as_str())
            .uri(&url)
            .header("Accept", "application/json");
        if token.is_empty() {
            if !self.warned_empty_token.swap(true, Ordering::Relaxed) {
                log::warn!(
                    "the token provider returned an empty token; requests are sent without an \
                     Authorization header"
                );
            }
        } else {
            builder = builder.header("Authorization", format!("Bearer {token}"));
        }
        if req.body.is_some() {
            builder = builder.header("Content-Type", "application/json");
        }
        let body: &[u8] = req.body.as_deref().unwrap_or_default();
        let request = builder
            .body(body)
            .map_err(|_| Error::invalid_url(op, &url))?;
        let raw = exchange(
            &self.agent,
            request,
            op,
            req.deadline.cap(req.op.timeout(&self.settings)),
            MAX_JSON_BODY,
        )?;
        match raw.status {
            200..=299 => Ok(raw),
            300..=399 if req.op.expects_redirect() => Ok(raw),
            300..=399 => Err(Error::UnexpectedResponse {
                operation: op.to_string(),
                message: format!("unexpected redirect (HTTP {})", raw.status),
            }),
            _ => {
                // A server may echo the credential it rejected; it must not reach the caller's logs.
                let secrets = [token, req.secret.as_deref().unwrap_or_default()];
                Err(ApiError::from_body_scrubbed(
                    op,
                    raw.status,
                    &raw.body,
                    raw.retry_after,
                    &secrets,
                )
                .into())
            }
        }
    }
}

/// A response header as text, when present and printable.
pub(crate) fn header<B>(response: &ureq::http::Response<B>, name: &str) -> Option<String> {
    response
        .headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

/// Decodes JSON, naming the operation and the JSON path of a bad field on failure.
pub(crate) fn decode<T: DeserializeOwned>(operation: &str, body: &[u8]) -> Result<T> {
    // Tracking the path costs about as much as decoding itself, so only a failed decode (which
    // fails the same way again) is repeated with it.
    if let Ok(value) = serde_json::from_slice(body) {
        return Ok(value);
    }
    let de = &mut serde_json::Deserializer::from_slice(body);
    serde_path_to_error::deserialize(de).map_err(|e| Error::Decode {
        operation: operation.to_string(),
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves path segments cannot escape their position in the URL. (FR-19)
    #[test]
    fn segments_are_encoded() {
        assert_eq!(seg("slide 1/../x?y#z%"), "slide%201%2F..%2Fx%3Fy%23z%25");
        assert_eq!(seg(".."), "%2E%2E");
        assert_eq!(seg("he-tme_1.0~x"), "he-tme_1.0~x");
    }

    // Proves query values are encoded. (FR-19)
    #[test]
    fn query_values_are_encoded() {
        let r = Op::ListRuns
            .at(&[])
            .query("custom_metadata", "$.study ? (@ == \"a\")");
        assert_eq!(
            r.target(),
            "/v1/runs?custom_metadata=%24.study%20%3F%20%28%40%20%3D%3D%20%22a%22%29"
        );
    }

    // Proves path templates are filled in order, each argument one encoded segment. (FR-19, FR-46)
    #[test]
    fn templates_take_encoded_segments() {
        let r = Op::GetRunItem.at(&["run 1", "../x"]);
        assert_eq!(r.target(), "/v1/runs/run%201/items/..%2Fx");
        assert_eq!(Op::GetMe.at(&[]).target(), "/v1/me");
    }

    // Proves every OpenAPI operation has exactly one Op, with the method and path the file gives it. (FR-21, FR-46)
    #[test]
    fn operations_match_openapi() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../shared/reference/openapi.json");
        let Ok(text) = std::fs::read_to_string(&path) else {
            eprintln!(
                "NOTE: {} not found; operation check skipped",
                path.display()
            );
            return;
        };
        let spec: serde_json::Value = serde_json::from_str(&text).unwrap();
        let mut ids: Vec<&str> = spec["paths"]
            .as_object()
            .unwrap()
            .values()
            .flat_map(|m| m.as_object().unwrap().values())
            .filter_map(|o| o["operationId"].as_str())
            .collect();
        ids.sort();
        let mut ours: Vec<&str> = Op::ALL.iter().map(|o| o.operation_id()).collect();
        ours.sort();
        assert_eq!(ids, ours);
        for op in Op::ALL {
            let declared = &spec["paths"][op.path()][op.method().as_str().to_lowercase()];
            assert_eq!(
                declared["operationId"].as_str(),
                Some(op.operation_id()),
                "{}: {} {} is not that operation in the OpenAPI file",
                op.name(),
                op.method().as_str(),
                op.path()
            );
        }
    }

    // Proves malformed JSON becomes a decode error naming the operation and the field path. (FR-17)
    #[test]
    fn decode_names_path() {
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct T {
            items: Vec<U>,
        }
        #[derive(Debug, serde::Deserialize)]
        #[allow(dead_code)]
        struct U {
            n: u32,
        }
        let err = decode::<T>("get_x", br#"{"items":[{"n":1},{"n":"x"}]}"#).unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("get_x") && text.contains("items[1].n"),
            "{text}"
        );
        assert!(decode::<T>("get_x", b"{not json").is_err());
    }

    // Proves the one-pass decode of a good body gives the same value as the path-tracking
    // decoder, and a failing body still names the operation and path after it. (NFR-23, FR-17)
    #[test]
    fn fast_decode_matches_tracked_decode() {
        let body = br#"{"user":{"id":"u1","email":"a@b.c"},"organization":{"id":"o1","aignostics_bucket_hmac_access_key_id":"k","aignostics_bucket_hmac_secret_access_key":"s","aignostics_bucket_name":"b","aignostics_bucket_protocol":"gs","aignostics_logfire_token":"l","aignostics_sentry_dsn":"d"}}"#;
        let fast: crate::models::MeReadResponse = decode("get_me", body).unwrap();
        let de = &mut serde_json::Deserializer::from_slice(body);
        let tracked: crate::models::MeReadResponse = serde_path_to_error::deserialize(de).unwrap();
        assert_eq!(fast, tracked);
        let err = decode::<crate::models::MeReadResponse>("get_me", br#"{"user":{"id":7}}"#)
            .unwrap_err()
            .to_string();
        assert!(err.contains("get_me") && err.contains("user.id"), "{err}");
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        // Proves any Retry-After value is ignored or read as a wait of at most a day, never a
        // panic (huge, negative, fractional, NaN, dates, garbage). (NFR-16, NFR-13)
        #[test]
        fn retry_after_is_bounded(value in r"\PC{0,40}|[0-9]{1,30}(\.[0-9]{0,20})?|-?[0-9.eE+-]{1,12}|inf|NaN") {
            let Ok(response) = ureq::http::Response::builder().header("retry-after", value.as_str()).body(()) else {
                return Ok(());
            };
            if let Some(wait) = crate::retry::retry_after(response.headers()) {
                proptest::prop_assert!(wait <= Duration::from_secs(86_400), "{}: {:?}", value, wait);
            }
        }
    }
}
