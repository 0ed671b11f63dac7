//! An in-process Aignostics Platform for examples and tests (feature `sandbox`).
//!
//! [`Sandbox::start`] serves the whole API (all 26 operations, with the platform's status codes
//! and FastAPI error bodies) on a free port of 127.0.0.1, until the [`Sandbox`] is dropped:
//!
//! - a catalog ([`Catalog`]): `he-tme` and `test-app`, versions `0.9.0-beta`, `1.0.0` and
//!   `1.1.0`, input metadata checked against a real JSON Schema, output artifacts and documents;
//! - runs that go `PENDING` → `PROCESSING` → `TERMINATED` within
//!   [`processing_time`](SandboxBuilder::processing_time) (2 s by default), item by item; an
//!   item whose external id starts with `fail-` ends with `USER_ERROR`, the others `SUCCEEDED`
//!   with their output artifacts available;
//! - artifacts with real bytes and CRC32C checksums in their metadata, behind 307 redirects to
//!   signed URLs on the sandbox's own storage (`/storage/...`, no bearer token, `Range`
//!   support);
//! - custom metadata with checksums (412 on a stale one), cancel (409 twice), artifact deletion
//!   (then 410), share tokens and viewer grants;
//! - users: each bearer token is a user ([`ALICE_TOKEN`], [`BOB_TOKEN`], or your own), who sees
//!   only their runs (403 for others' runs, 401 without a valid token);
//! - a token endpoint ([`Sandbox::token_url`]) for the `client_credentials` and `refresh_token`
//!   grants;
//! - fault injection ([`Fault`]) and request counters, to test retries and broken transfers,
//!   including writes that take effect while their answer is lost
//!   ([`Fault::status_after_commit`], [`Fault::drop_after_commit`]);
//! - the health endpoint (`GET /api/v1/health`), degraded or down on demand
//!   ([`Sandbox::set_health`]).
//!
//! # Using it in your own tests
//!
//! ```
//! use aignostics::models::RunCreationRequest;
//! use aignostics_sandbox::{self as sandbox, Sandbox};
//!
//! let sandbox = Sandbox::start()?;
//! let client = sandbox.client(sandbox::ALICE_TOKEN)?;
//! assert_eq!(client.me()?.user.id, "sandbox|alice");
//!
//! // Submit through the raw API (the SDK's `runs().submit` does the same).
//! let request = RunCreationRequest::new("he-tme", [sandbox::example_item("slide-1")]);
//! let response: aignostics::models::RunCreationResponse = ureq::post(format!("{}/api/v1/runs", sandbox.base_url()))
//!     .header("Authorization", format!("Bearer {}", sandbox::ALICE_TOKEN))
//!     .send_json(&request)?
//!     .body_mut()
//!     .read_json()?;
//! let run = client.run(&response.run_id);
//! println!("{} is {}", run.id(), run.details()?.state);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! Options come from [`Sandbox::builder`]:
//!
//! ```
//! use std::time::Duration;
//! use aignostics_sandbox::{Fault, Sandbox, SandboxUser};
//!
//! let sandbox = Sandbox::builder()
//!     .processing_time(Duration::from_millis(300))
//!     .artifact_size(64 * 1024)
//!     .user("token-of-carol", SandboxUser::new("sandbox|carol", "carol@example.com", "org_c"))
//!     .start()?;
//! // The next GET of /api/v1/me answers 503 once; the SDK retries it.
//! sandbox.inject(Fault::status("/api/v1/me", 503).method("GET"));
//! let mut settings = sandbox.settings()?;
//! settings.me = settings.me.clone().no_wait(3);
//! let client = aignostics::Client::builder()
//!     .settings(settings)
//!     .token_provider(aignostics::TokenProvider::fixed("token-of-carol"))
//!     .build()?;
//! assert_eq!(client.me()?.organization.id, "org_c");
//! assert_eq!(sandbox.request_count("/api/v1/me"), 2);
//! # Ok::<(), aignostics::Error>(())
//! ```
//!
//! The SDK's operation cache is process-wide and keyed by API root and token: a sandbox that
//! reuses the port of an earlier one in the same process can see that one's cached reads for
//! the same token. Give each test its own token ([`SandboxBuilder::user`]), or call
//! [`aignostics::cache::clear`].
#![deny(missing_docs)]

mod access;
mod atlas;
mod blob;
mod bucket;
mod canonical;
mod catalog;
mod content;
mod example_slides;
mod faults;
mod health;
mod http;
mod ids;
mod jsonpath;
mod oauth;
mod routes;
mod runs;
mod server;
mod signing;
mod state;
mod storage;
mod tiff;
mod users;
mod util;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;

pub use atlas::ATLAS_OUTPUTS;
pub use catalog::{
    Catalog, CatalogApplication, CatalogDocument, CatalogVersion, INPUT_ARTIFACT_NAME,
    example_input_metadata, example_item, input_metadata_schema,
};
pub use example_slides::write_example_slides;
pub use faults::{Fault, FaultAction};
pub use health::SandboxHealth;
pub use users::{
    ALICE_REFRESH_TOKEN, ALICE_TOKEN, BOB_TOKEN, CLIENT_ID, CLIENT_SECRET, SandboxUser,
};

/// The access key id of the sandbox's bucket (returned by `/v1/me`).
pub const BUCKET_KEY_ID: &str = "SANDBOX-HMAC-KEY-ID";
/// The secret access key of the sandbox's bucket (returned by `/v1/me`).
pub const BUCKET_SECRET: &str = "sandbox-hmac-secret";
/// The name of the sandbox's bucket (returned by `/v1/me`).
pub const BUCKET_NAME: &str = "sandbox-bucket";

use aignostics::Client;
use aignostics::Result;
use aignostics::Settings;
use aignostics::TokenProvider;
use faults::FaultQueue;
use state::{Config, Shared, State, TokenEntry};
use users::OAuthClient;

/// A request the sandbox received, as recorded for tests (the query string is left out: it
/// may hold share tokens and URL signatures).
///
/// ```
/// use aignostics_sandbox::{self as sandbox, Sandbox};
/// let sandbox = Sandbox::start()?;
/// sandbox.client(sandbox::ALICE_TOKEN)?.nocache().me()?;
/// let first = &sandbox.requests()[0];
/// assert_eq!(first.path, "/api/v1/me");
/// # Ok::<(), aignostics::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// Upper-case method, e.g. `GET`.
    pub method: String,
    /// The path as sent (percent-encoded), e.g. `/api/v1/runs`.
    pub path: String,
    /// Whether the request carried an `Authorization` header.
    pub authorization: bool,
}

/// One input artifact of a submitted item (see [`Sandbox::submitted_inputs`]).
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct SubmittedInput {
    /// The item's external id.
    pub external_id: String,
    /// The input artifact's name.
    pub name: String,
    /// The URL the platform would fetch.
    pub download_url: String,
    /// The artifact's metadata as submitted.
    pub metadata: serde_json::Value,
}

/// A running sandbox platform; stops when dropped (or on [`shutdown`](Self::shutdown)).
///
/// `Send + Sync`: share it between test threads by reference or in an `Arc`.
///
/// ```
/// use aignostics_sandbox::{self as sandbox, Sandbox};
/// let sandbox = Sandbox::start()?;
/// let me = sandbox.client(sandbox::BOB_TOKEN)?.me()?;
/// assert_eq!(me.user.email.as_deref(), Some("bob@sandbox.example"));
/// sandbox.shutdown();
/// # Ok::<(), aignostics::Error>(())
/// ```
pub struct Sandbox {
    shared: Arc<Shared>,
    running: Mutex<server::Running>,
    base_url: String,
}

impl std::fmt::Debug for Sandbox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sandbox")
            .field("base_url", &self.base_url)
            .finish_non_exhaustive()
    }
}

impl Sandbox {
    /// Starts a sandbox with the default options on a free port.
    ///
    /// ```
    /// let sandbox = aignostics_sandbox::Sandbox::start()?;
    /// assert!(sandbox.base_url().starts_with("http://127.0.0.1:"));
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn start() -> Result<Self> {
        Self::builder().start()
    }

    /// Starts a sandbox with the default options on `port` (0 picks a free one); fails with
    /// [`Error::Config`](aignostics::Error::Config) when the port is taken.
    ///
    /// ```no_run
    /// let sandbox = aignostics_sandbox::Sandbox::start_on(8080)?;
    /// assert_eq!(sandbox.base_url(), "http://127.0.0.1:8080");
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn start_on(port: u16) -> Result<Self> {
        Self::builder().port(port).start()
    }

    /// Options: port, timing, artifact size, users, OAuth clients, catalog.
    ///
    /// ```
    /// use std::time::Duration;
    /// let sandbox = aignostics_sandbox::Sandbox::builder()
    ///     .processing_time(Duration::ZERO)
    ///     .start()?;
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn builder() -> SandboxBuilder {
        SandboxBuilder::default()
    }

    /// The API root to give the SDK, e.g. `http://127.0.0.1:41234` (the API is under
    /// `{base_url}/api/v1/...`).
    ///
    /// ```
    /// let sandbox = aignostics_sandbox::Sandbox::start()?;
    /// let client = aignostics::Client::builder()
    ///     .api_root(sandbox.base_url())
    ///     .token_provider(aignostics::TokenProvider::fixed(aignostics_sandbox::ALICE_TOKEN))
    ///     .build()?;
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    #[must_use]
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The port the sandbox listens on.
    ///
    /// ```
    /// let sandbox = aignostics_sandbox::Sandbox::start()?;
    /// assert!(sandbox.port() > 0);
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    #[must_use]
    pub fn port(&self) -> u16 {
        self.running.lock().addr().port()
    }

    /// The token endpoint (`{base_url}/oauth/token`): `client_credentials` with
    /// [`CLIENT_ID`]/[`CLIENT_SECRET`] (or clients added with
    /// [`SandboxBuilder::oauth_client`]), and `refresh_token` with [`ALICE_REFRESH_TOKEN`].
    /// Tokens it issues are bearer tokens of the client's user.
    ///
    /// ```
    /// use aignostics_sandbox::{self as sandbox, Sandbox};
    /// let sandbox = Sandbox::start()?;
    /// let answer: serde_json::Value = ureq::post(sandbox.token_url())
    ///     .send_form([
    ///         ("grant_type", "client_credentials"),
    ///         ("client_id", sandbox::CLIENT_ID),
    ///         ("client_secret", sandbox::CLIENT_SECRET),
    ///         ("audience", "https://sandbox"),
    ///     ])?
    ///     .body_mut()
    ///     .read_json()?;
    /// let token = answer["access_token"].as_str().unwrap_or_default();
    /// assert_eq!(sandbox.client(token)?.me()?.user.id, "sandbox-client@clients");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn token_url(&self) -> String {
        format!("{}/oauth/token", self.base_url)
    }

    /// The `AIGNOSTICS_*` variables that point the SDK's own login at this sandbox, so that
    /// [`auth::Login`](aignostics::auth::Login) and `aignostics login` can be practised: the
    /// refresh-token grant with [`ALICE_REFRESH_TOKEN`] (add `AIGNOSTICS_REFRESH_TOKEN`), and
    /// the device flow, confirmed by opening the printed `{base_url}/activate?user_code=…`
    /// link. Tokens are RS256 JWTs the login verifies against the sandbox's JWKS. Login
    /// settings must be complete for an API root that is not a known environment, so all are
    /// given.
    ///
    /// ```
    /// use aignostics_sandbox::{self as sandbox, Sandbox};
    /// let sandbox = Sandbox::start()?;
    /// let mut vars = sandbox.login_env();
    /// vars.push(("AIGNOSTICS_REFRESH_TOKEN".into(), sandbox::ALICE_REFRESH_TOKEN.into()));
    /// let dir = std::env::temp_dir().join(format!("login-env-doc-{}", std::process::id()));
    /// vars.push(("AIGNOSTICS_CACHE_DIR".into(), dir.display().to_string()));
    /// let settings = aignostics::Settings::from_vars(vars)?;
    /// let info = aignostics::auth::Login::new(&settings).cache_token(false).run()?;
    /// assert_eq!(info.subject.as_deref(), Some("sandbox|alice"));
    /// # let _ = std::fs::remove_dir_all(dir);
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    #[must_use]
    pub fn login_env(&self) -> Vec<(String, String)> {
        let root = &self.base_url;
        let audience = self
            .shared
            .config
            .audience
            .clone()
            .unwrap_or_else(|| oauth::LOGIN_AUDIENCE.to_string());
        [
            ("API_ROOT", root.clone()),
            ("AUDIENCE", audience),
            ("AUTHORIZATION_BASE_URL", format!("{root}/authorize")),
            ("TOKEN_URL", self.token_url()),
            ("REDIRECT_URI", "http://localhost:8989/".to_string()),
            ("DEVICE_URL", format!("{root}/oauth/device/code")),
            ("JWS_JSON_URL", format!("{root}/.well-known/jwks.json")),
            (
                "CLIENT_ID_INTERACTIVE",
                oauth::CLIENT_ID_INTERACTIVE.to_string(),
            ),
            ("CLIENT_ID_DEVICE", oauth::CLIENT_ID_DEVICE.to_string()),
        ]
        .into_iter()
        .map(|(name, value)| (format!("AIGNOSTICS_{name}"), value))
        .collect()
    }

    /// Default SDK settings pointed at this sandbox (no login settings: use a token provider).
    ///
    /// ```
    /// let sandbox = aignostics_sandbox::Sandbox::start()?;
    /// let settings = sandbox.settings()?;
    /// assert_eq!(settings.api_root, sandbox.base_url());
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn settings(&self) -> Result<Settings> {
        Settings::default().with_api_root(&self.base_url)
    }

    /// A [`Client`] for this sandbox that sends `token` (default settings otherwise).
    ///
    /// Each call creates a new token provider, so the client gets its own pooled connection;
    /// in a loop, build one client and clone it.
    ///
    /// ```
    /// let sandbox = aignostics_sandbox::Sandbox::start()?;
    /// let client = sandbox.client(aignostics_sandbox::ALICE_TOKEN)?;
    /// assert_eq!(client.application("he-tme")?.versions.len(), 3);
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn client(&self, token: &str) -> Result<Client> {
        Client::builder()
            .settings(self.settings()?)
            .token_provider(TokenProvider::fixed(token))
            .build()
    }

    /// The sandbox's S3-compatible endpoint (`{base_url}/s3`, feature `bucket`): every
    /// request must be signed (SigV4) with the credentials `/v1/me` returns; see
    /// [`Sandbox::bucket`].
    #[must_use]
    pub fn bucket_endpoint(&self) -> String {
        format!("{}/{}", self.base_url, bucket::S3_PATH)
    }

    /// The organization's bucket as `token`'s user sees it: the handle
    /// [`Bucket::from_me_at`](aignostics::bucket::Bucket::from_me_at) builds from `/v1/me`, at
    /// [`Sandbox::bucket_endpoint`] (feature `bucket`).
    ///
    /// ```
    /// let sandbox = aignostics_sandbox::Sandbox::start()?;
    /// let bucket = sandbox.bucket(aignostics_sandbox::ALICE_TOKEN)?;
    /// assert_eq!(bucket.name(), aignostics_sandbox::BUCKET_NAME);
    /// assert!(bucket.list("")?.is_empty());
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn bucket(&self, token: &str) -> Result<aignostics::bucket::Bucket> {
        let me = self.client(token)?.me()?;
        aignostics::bucket::Bucket::from_me_at(&me, &self.bucket_endpoint())
    }

    /// Registers another bearer token while running.
    ///
    /// ```
    /// use aignostics_sandbox::{Sandbox, SandboxUser};
    /// let sandbox = Sandbox::start()?;
    /// sandbox.add_user("tok-dave", SandboxUser::new("sandbox|dave", "dave@example.com", "org_d"));
    /// assert_eq!(sandbox.client("tok-dave")?.me()?.user.id, "sandbox|dave");
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn add_user(&self, token: impl Into<String>, user: SandboxUser) {
        self.shared.state.lock().tokens.insert(
            token.into(),
            TokenEntry {
                user,
                expires: None,
            },
        );
    }

    /// Queues a fault for the next matching request(s); see [`Fault`].
    ///
    /// ```
    /// use aignostics_sandbox::{self as sandbox, Fault, Sandbox};
    /// let sandbox = Sandbox::start()?;
    /// sandbox.inject(Fault::status("/api/v1/applications", 500).times(10));
    /// let err = sandbox.client(sandbox::ALICE_TOKEN)?.nocache().application("he-tme").unwrap_err();
    /// assert_eq!(err.status(), Some(500));
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn inject(&self, fault: Fault) {
        self.shared.faults.lock().push(fault);
    }

    /// Releases `version` of the application `application_id` now, as the platform does
    /// between two calls of a long job: it is listed, and it is the latest when its number is
    /// the highest.
    ///
    /// ```
    /// use aignostics_sandbox::{self as sandbox, CatalogVersion, Sandbox};
    /// let sandbox = Sandbox::start()?;
    /// sandbox.release("he-tme", CatalogVersion::standard("2.0.0"))?;
    /// let client = sandbox.client(sandbox::ALICE_TOKEN)?;
    /// assert_eq!(client.application_version("he-tme", None)?.version_number, "2.0.0");
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`aignostics::Error::InvalidInput`] when the catalog has no such application.
    pub fn release(&self, application_id: &str, version: CatalogVersion) -> Result<()> {
        let mut catalog = self.shared.catalog_now.lock();
        let mut next = Catalog::clone(&catalog);
        if !next.release(application_id, version) {
            return Err(aignostics::Error::InvalidInput(format!(
                "the sandbox's catalog has no application {application_id}"
            )));
        }
        *catalog = Arc::new(next);
        Ok(())
    }

    /// Items with these external ids fail (`USER_ERROR`, `SANDBOX_INPUT_UNUSABLE`) in runs
    /// submitted from now on; an empty list ends it. A transient failure that a retry
    /// overcomes.
    ///
    /// ```
    /// use aignostics::models::RunCreationRequest;
    /// use aignostics_sandbox::{self as sandbox, Sandbox};
    /// let sandbox = Sandbox::builder().processing_time(std::time::Duration::ZERO).start()?;
    /// sandbox.fail_items(["slide-2"]);
    /// let client = sandbox.client(sandbox::ALICE_TOKEN)?;
    /// let items = ["slide-1", "slide-2"].map(sandbox::example_item);
    /// let run = client.runs().submit(RunCreationRequest::new("he-tme", items))?;
    /// let failed: Vec<_> = run.items().iter().filter_map(|i| i.ok()).filter(|i| i.error_code.is_some()).collect();
    /// assert_eq!(failed.len(), 1);
    /// assert_eq!(failed[0].external_id, "slide-2");
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn fail_items<I, S>(&self, external_ids: I)
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        *self.shared.failing.lock() = external_ids.into_iter().map(Into::into).collect();
    }

    /// Sets what the health endpoint (`GET /api/v1/health`) reports from now on.
    ///
    /// ```
    /// use aignostics_sandbox::{self as sandbox, Sandbox, SandboxHealth};
    /// let sandbox = Sandbox::start()?;
    /// sandbox.set_health(SandboxHealth::Down("maintenance".into()));
    /// let health = sandbox.client(sandbox::ALICE_TOKEN)?.health();
    /// assert!(health.status.is_down());
    /// assert_eq!(health.reason(), Some("maintenance"));
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn set_health(&self, health: SandboxHealth) {
        *self.shared.health.lock() = health;
    }

    /// Removes every queued fault.
    ///
    /// ```
    /// use aignostics_sandbox::{Fault, Sandbox};
    /// let sandbox = Sandbox::start()?;
    /// sandbox.inject(Fault::drop_connection("/"));
    /// sandbox.clear_faults();
    /// assert!(sandbox.pending_faults().is_empty());
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn clear_faults(&self) {
        self.shared.faults.lock().clear();
    }

    /// The faults still queued, with their remaining counts.
    ///
    /// ```
    /// use aignostics_sandbox::{Fault, Sandbox};
    /// let sandbox = Sandbox::start()?;
    /// sandbox.inject(Fault::status("/api/v1/me", 503).times(2));
    /// assert_eq!(sandbox.pending_faults()[0].remaining(), 2);
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    #[must_use]
    pub fn pending_faults(&self) -> Vec<Fault> {
        self.shared.faults.lock().pending()
    }

    /// How many requests (of any method, faulted or not) had a path starting with
    /// `path_prefix`, e.g. `/api/v1/me`, `/api/v1/runs/` or `/storage/`.
    ///
    /// ```
    /// use aignostics_sandbox::{self as sandbox, Sandbox};
    /// let sandbox = Sandbox::start()?;
    /// sandbox.client(sandbox::ALICE_TOKEN)?.nocache().me()?;
    /// assert_eq!(sandbox.request_count("/api/v1/me"), 1);
    /// assert_eq!(sandbox.request_count("/storage/"), 0);
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    #[must_use]
    pub fn request_count(&self, path_prefix: &str) -> usize {
        self.shared
            .log
            .lock()
            .iter()
            .filter(|r| r.path.starts_with(path_prefix))
            .count()
    }

    /// Every request received so far, oldest first.
    ///
    /// ```
    /// use aignostics_sandbox::{self as sandbox, Sandbox};
    /// let sandbox = Sandbox::start()?;
    /// sandbox.client(sandbox::ALICE_TOKEN)?.nocache().me()?;
    /// let log = sandbox.requests();
    /// assert_eq!((log[0].method.as_str(), log[0].path.as_str()), ("GET", "/api/v1/me"));
    /// assert!(log[0].authorization);
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    #[must_use]
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.log.lock().clone()
    }

    /// The input artifacts of a run's items as they were submitted: what the platform would
    /// fetch (`None` for an unknown run).
    ///
    /// ```
    /// use aignostics::models::RunCreationRequest;
    /// use aignostics_sandbox::{self as sandbox, Sandbox};
    /// let sandbox = Sandbox::start()?;
    /// let client = sandbox.client(sandbox::ALICE_TOKEN)?;
    /// let run = client.runs().submit(RunCreationRequest::new("he-tme", [sandbox::example_item("a")]))?;
    /// let inputs = sandbox.submitted_inputs(run.id()).unwrap();
    /// assert_eq!(inputs[0].external_id, "a");
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    #[must_use]
    pub fn submitted_inputs(&self, run_id: &str) -> Option<Vec<SubmittedInput>> {
        let state = self.shared.state.lock();
        let run = state.run(run_id)?;
        Some(
            run.items
                .iter()
                .flat_map(|item| {
                    item.inputs.iter().map(|input| SubmittedInput {
                        external_id: item.external_id.clone(),
                        name: input.name.clone(),
                        download_url: input.download_url.clone(),
                        metadata: input.metadata.clone(),
                    })
                })
                .collect(),
        )
    }

    /// Forgets the recorded requests (counters start again from zero).
    ///
    /// ```
    /// use aignostics_sandbox::{self as sandbox, Sandbox};
    /// let sandbox = Sandbox::start()?;
    /// sandbox.client(sandbox::ALICE_TOKEN)?.nocache().me()?;
    /// sandbox.reset_requests();
    /// assert!(sandbox.requests().is_empty());
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn reset_requests(&self) {
        self.shared.log.lock().clear();
    }

    /// How many storage requests (signed URLs) carried an `Authorization` header: a client
    /// must never send its bearer token to storage, so tests assert this stays 0.
    ///
    /// ```
    /// let sandbox = aignostics_sandbox::Sandbox::start()?;
    /// assert_eq!(sandbox.storage_requests_with_authorization(), 0);
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    #[must_use]
    pub fn storage_requests_with_authorization(&self) -> usize {
        self.shared
            .log
            .lock()
            .iter()
            .filter(|r| r.path.starts_with("/storage/") && r.authorization)
            .count()
    }

    /// Stops the server and waits for its threads; the port is closed when this returns.
    /// Dropping the sandbox does the same.
    ///
    /// ```
    /// let sandbox = aignostics_sandbox::Sandbox::start()?;
    /// let port = sandbox.port();
    /// sandbox.shutdown();
    /// assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn shutdown(self) {
        drop(self);
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        self.running.lock().stop();
    }
}

/// Options of a [`Sandbox`]; see [`Sandbox::builder`].
///
/// ```
/// use std::time::Duration;
/// use aignostics_sandbox::{Catalog, Sandbox, SandboxUser};
///
/// let sandbox = Sandbox::builder()
///     .port(0)
///     .processing_time(Duration::from_secs(1))
///     .pending_time(Duration::from_millis(100))
///     .artifact_size(1024)
///     .without_default_users()
///     .user("tok", SandboxUser::alice())
///     .oauth_client("ci", "ci-secret")
///     .refresh_token("refresh-1", SandboxUser::alice())
///     .token_lifetime(Duration::from_secs(60))
///     .audience("https://sandbox.example/api")
///     .catalog(Catalog::standard().without_application("test-app"))
///     .start()?;
/// # Ok::<(), aignostics::Error>(())
/// ```
#[must_use]
pub struct SandboxBuilder {
    port: u16,
    processing_time: Duration,
    pending_time: Option<Duration>,
    artifact_size: u64,
    atlas_cells: usize,
    fetch_inputs: bool,
    default_users: bool,
    users: Vec<(String, SandboxUser)>,
    clients: Vec<OAuthClient>,
    refresh_tokens: Vec<(String, SandboxUser)>,
    token_lifetime: Duration,
    audience: Option<String>,
    catalog: Catalog,
    bucket_keeps_bytes: bool,
    bucket_list_page: usize,
}

impl std::fmt::Debug for SandboxBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxBuilder")
            .field("port", &self.port)
            .field("processing_time", &self.processing_time)
            .field("pending_time", &self.pending_time)
            .field("artifact_size", &self.artifact_size)
            .field("users", &self.users.len())
            .field("clients", &self.clients)
            .field("token_lifetime", &self.token_lifetime)
            .finish_non_exhaustive()
    }
}

impl Default for SandboxBuilder {
    fn default() -> Self {
        Self {
            port: 0,
            processing_time: Duration::from_secs(2),
            pending_time: None,
            artifact_size: 256 * 1024,
            atlas_cells: 200,
            fetch_inputs: false,
            default_users: true,
            users: Vec::new(),
            clients: vec![OAuthClient {
                client_id: CLIENT_ID.into(),
                client_secret: CLIENT_SECRET.into(),
                user: SandboxUser::machine(CLIENT_ID),
            }],
            refresh_tokens: vec![(ALICE_REFRESH_TOKEN.into(), SandboxUser::alice())],
            token_lifetime: Duration::from_secs(3600),
            audience: None,
            catalog: Catalog::standard(),
            bucket_keeps_bytes: true,
            bucket_list_page: 1000,
        }
    }
}

impl SandboxBuilder {
    /// Whether the bucket keeps the bytes of uploaded objects (default true), in files of a
    /// temporary folder removed with the sandbox (never in memory, so gigabytes of uploads
    /// cost disk, not memory). Off, it keeps only their sizes and checksums, so uploads larger
    /// than the disk can be tried; downloads then answer 501.
    ///
    /// ```
    /// let sandbox = aignostics_sandbox::Sandbox::builder().bucket_keeps_bytes(false).start()?;
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn bucket_keeps_bytes(mut self, keep: bool) -> Self {
        self.bucket_keeps_bytes = keep;
        self
    }

    /// The most entries one page of the bucket's object and multipart-upload lists holds
    /// (default 1000, as S3; 1 to 1000), so code that must follow list markers can be tried
    /// with a few entries.
    ///
    /// ```
    /// let sandbox = aignostics_sandbox::Sandbox::builder().bucket_list_page(2).start()?;
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn bucket_list_page(mut self, entries: usize) -> Self {
        self.bucket_list_page = entries;
        self
    }

    /// Listens on this port of 127.0.0.1 (default 0: a free port).
    ///
    /// ```
    /// let sandbox = aignostics_sandbox::Sandbox::builder().port(0).start()?;
    /// assert_ne!(sandbox.port(), 0);
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn port(mut self, port: u16) -> Self {
        self.port = port;
        self
    }

    /// Time from submission until a run is `TERMINATED` (default 2 s). Zero terminates runs
    /// at once.
    ///
    /// ```
    /// use std::time::Duration;
    /// use aignostics::models::{RunCreationRequest, RunState};
    /// use aignostics_sandbox::{self as sandbox, Sandbox};
    /// let sandbox = Sandbox::builder().processing_time(Duration::ZERO).start()?;
    /// let client = sandbox.client(sandbox::ALICE_TOKEN)?;
    /// let run = client.runs().submit(RunCreationRequest::new("he-tme", [sandbox::example_item("s1")]))?;
    /// assert_eq!(run.details()?.state, RunState::Terminated);
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn processing_time(mut self, processing_time: Duration) -> Self {
        self.processing_time = processing_time;
        self
    }

    /// The first part of the processing time, during which a run stays `PENDING` (default a
    /// quarter of it); afterwards items are processed one after another.
    ///
    /// ```
    /// use std::time::Duration;
    /// use aignostics::models::{RunCreationRequest, RunState};
    /// use aignostics_sandbox::{self as sandbox, Sandbox};
    /// let sandbox = Sandbox::builder()
    ///     .processing_time(Duration::from_secs(120))
    ///     .pending_time(Duration::from_secs(60))
    ///     .start()?;
    /// let client = sandbox.client(sandbox::ALICE_TOKEN)?;
    /// let run = client.runs().submit(RunCreationRequest::new("he-tme", [sandbox::example_item("s1")]))?;
    /// assert_eq!(run.details()?.state, RunState::Pending);
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn pending_time(mut self, pending_time: Duration) -> Self {
        self.pending_time = Some(pending_time);
        self
    }

    /// Size of every output artifact in bytes (default 256 KiB).
    ///
    /// ```
    /// let sandbox = aignostics_sandbox::Sandbox::builder().artifact_size(10 * 1024 * 1024).start()?;
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn artifact_size(mut self, bytes: u64) -> Self {
        self.artifact_size = bytes;
        self
    }

    /// Fetches each submitted item's input URL as the platform would, and fails the item
    /// (`USER_ERROR`, `SANDBOX_INPUT_UNUSABLE`) when the URL does not answer or its bytes lack
    /// the CRC32C the item's metadata names (default off: example items name made-up URLs).
    ///
    /// ```
    /// let sandbox = aignostics_sandbox::Sandbox::builder().fetch_inputs(true).start()?;
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn fetch_inputs(mut self, fetch: bool) -> Self {
        self.fetch_inputs = fetch;
        self
    }

    /// Cells in each Atlas-shaped result of the [`Catalog::atlas`] catalog (default 200, so
    /// tests stay fast; a real slide has hundreds of thousands).
    ///
    /// ```
    /// let sandbox = aignostics_sandbox::Sandbox::builder().atlas_cells(10_000).start()?;
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn atlas_cells(mut self, cells: usize) -> Self {
        self.atlas_cells = cells;
        self
    }

    /// Drops Alice's and Bob's tokens ([`ALICE_TOKEN`], [`BOB_TOKEN`]).
    ///
    /// ```
    /// use aignostics_sandbox::{self as sandbox, Sandbox};
    /// let sandbox = Sandbox::builder().without_default_users().start()?;
    /// let err = sandbox.client(sandbox::ALICE_TOKEN)?.me().unwrap_err();
    /// assert_eq!(err.status(), Some(401));
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn without_default_users(mut self) -> Self {
        self.default_users = false;
        self
    }

    /// Adds a bearer token for `user` (tokens never expire).
    ///
    /// ```
    /// use aignostics_sandbox::{Sandbox, SandboxUser};
    /// let sandbox = Sandbox::builder().user("tok-alice-2", SandboxUser::alice()).start()?;
    /// assert_eq!(sandbox.client("tok-alice-2")?.me()?.user.id, "sandbox|alice");
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn user(mut self, token: impl Into<String>, user: SandboxUser) -> Self {
        self.users.push((token.into(), user));
        self
    }

    /// Adds a `client_credentials` client acting as [`SandboxUser::machine`].
    ///
    /// ```
    /// let sandbox = aignostics_sandbox::Sandbox::builder().oauth_client("ci", "ci-secret").start()?;
    /// let answer: serde_json::Value = ureq::post(sandbox.token_url())
    ///     .send_form([("grant_type", "client_credentials"), ("client_id", "ci"), ("client_secret", "ci-secret")])?
    ///     .body_mut()
    ///     .read_json()?;
    /// assert_eq!(answer["token_type"], "Bearer");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn oauth_client(self, client_id: &str, client_secret: &str) -> Self {
        let user = SandboxUser::machine(client_id);
        self.oauth_client_as(client_id, client_secret, user)
    }

    /// Adds a `client_credentials` client acting as `user`.
    ///
    /// ```
    /// use aignostics_sandbox::{Sandbox, SandboxUser};
    /// let sandbox = Sandbox::builder().oauth_client_as("bob-bot", "s3cret", SandboxUser::bob()).start()?;
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn oauth_client_as(
        mut self,
        client_id: &str,
        client_secret: &str,
        user: SandboxUser,
    ) -> Self {
        self.clients.push(OAuthClient {
            client_id: client_id.into(),
            client_secret: client_secret.into(),
            user,
        });
        self
    }

    /// Adds a refresh token for the `refresh_token` grant.
    ///
    /// ```
    /// use aignostics_sandbox::{Sandbox, SandboxUser};
    /// let sandbox = Sandbox::builder().refresh_token("refresh-bob", SandboxUser::bob()).start()?;
    /// let answer: serde_json::Value = ureq::post(sandbox.token_url())
    ///     .send_form([("grant_type", "refresh_token"), ("refresh_token", "refresh-bob")])?
    ///     .body_mut()
    ///     .read_json()?;
    /// let token = answer["access_token"].as_str().unwrap_or_default();
    /// assert_eq!(sandbox.client(token)?.me()?.user.id, "sandbox|bob");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn refresh_token(mut self, refresh_token: impl Into<String>, user: SandboxUser) -> Self {
        self.refresh_tokens.push((refresh_token.into(), user));
        self
    }

    /// Lifetime of tokens issued by the token endpoint (default 1 hour); they answer 401
    /// afterwards.
    ///
    /// ```
    /// use std::time::Duration;
    /// let sandbox = aignostics_sandbox::Sandbox::builder().token_lifetime(Duration::from_secs(5)).start()?;
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn token_lifetime(mut self, lifetime: Duration) -> Self {
        self.token_lifetime = lifetime;
        self
    }

    /// Makes the `client_credentials` grant reject any other `audience` (default: any).
    ///
    /// ```
    /// use aignostics_sandbox::{self as sandbox, Sandbox};
    /// let sandbox = Sandbox::builder().audience("https://api.example").start()?;
    /// let answer = ureq::post(sandbox.token_url())
    ///     .config().http_status_as_error(false).build()
    ///     .send_form([
    ///         ("grant_type", "client_credentials"),
    ///         ("client_id", sandbox::CLIENT_ID),
    ///         ("client_secret", sandbox::CLIENT_SECRET),
    ///         ("audience", "https://elsewhere.example"),
    ///     ])?;
    /// assert_eq!(answer.status(), 403);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// Replaces the catalog (default [`Catalog::standard`]).
    ///
    /// ```
    /// use aignostics_sandbox::{self as sandbox, Catalog, Sandbox};
    /// let sandbox = Sandbox::builder().catalog(Catalog::standard().without_application("test-app")).start()?;
    /// let err = sandbox.client(sandbox::ALICE_TOKEN)?.application("test-app").unwrap_err();
    /// assert!(err.is_not_found());
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn catalog(mut self, catalog: Catalog) -> Self {
        self.catalog = catalog;
        self
    }

    /// Starts the sandbox.
    ///
    /// ```
    /// let sandbox = aignostics_sandbox::Sandbox::builder().start()?;
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn start(self) -> Result<Sandbox> {
        let listener = server::bind(self.port)?;
        let addr = listener
            .local_addr()
            .map_err(|e| aignostics::Error::Config(format!("sandbox: no local address: {e}")))?;
        let base_url = format!("http://127.0.0.1:{}", addr.port());
        let mut tokens = HashMap::new();
        let defaults = [
            (ALICE_TOKEN.to_string(), SandboxUser::alice()),
            (BOB_TOKEN.to_string(), SandboxUser::bob()),
        ];
        let defaults = if self.default_users {
            &defaults[..]
        } else {
            &[]
        };
        for (token, user) in defaults.iter().cloned().chain(self.users) {
            tokens.insert(
                token,
                TokenEntry {
                    user,
                    expires: None,
                },
            );
        }
        let pending_time = self
            .pending_time
            .unwrap_or(self.processing_time / 4)
            .min(self.processing_time);
        let shared = Arc::new(Shared {
            config: Config {
                processing_time: self.processing_time,
                pending_time,
                artifact_size: self.artifact_size,
                atlas_cells: self.atlas_cells,
                fetch_inputs: self.fetch_inputs,
                token_lifetime: self.token_lifetime,
                audience: self.audience,
                signed_url_lifetime: Duration::from_secs(3600),
            },
            catalog_now: Mutex::new(Arc::new(self.catalog)),
            state: Mutex::new(State {
                tokens,
                refresh_tokens: self.refresh_tokens.into_iter().collect(),
                clients: self.clients,
                ..State::default()
            }),
            checksums: Mutex::new(HashMap::new()),
            atlas: Mutex::new(HashMap::new()),
            faults: Mutex::new(FaultQueue::default()),
            log: Mutex::new(Vec::new()),
            base_url: base_url.clone(),
            secret: ids::random_hex(32),
            health: Mutex::new(SandboxHealth::default()),
            bucket: bucket::Store::new(self.bucket_keeps_bytes, self.bucket_list_page).map_err(
                |e| aignostics::Error::Config(format!("sandbox: no folder for the bucket: {e}")),
            )?,
            failing: Mutex::default(),
        });
        let running = server::start(listener, Arc::clone(&shared))?;
        Ok(Sandbox {
            shared,
            running: Mutex::new(running),
            base_url,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the sandbox can be shared between threads. (FR-44, NFR-10)
    #[test]
    fn sandbox_is_send_and_sync() {
        fn check<T: Send + Sync>() {}
        check::<Sandbox>();
    }
}
