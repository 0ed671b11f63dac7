//! Submitting a run safely: SDK metadata, an idempotency key, and recovery when the platform's
//! answer to the `POST` is lost.
//!
//! Every submission carries an idempotency key in its custom metadata (see
//! [`idempotency_key_for`](crate::idempotency_key_for) and
//! [`SubmitOptions::idempotency_key`]). When the outcome of the `POST /v1/runs` is unknown — a
//! timeout, a reset connection, a truncated or undecodable answer, or a 5xx/429 after the
//! request was sent — the SDK looks the key up (for up to
//! [`lookup_window`](SubmitOptions::lookup_window)) and returns the run it finds; only when
//! there is none does it post again. With a key chosen by the caller, the key is also looked up
//! *before* posting, so re-running a batch job after a crash returns the runs it already
//! created instead of paying for them twice.
//!
//! A run the key finds that was cancelled without results (by its user, or by the platform
//! before any item succeeded) does not count: the request is submitted again under the same
//! key, and later lookups find the new run ([`SubmitOptions::reuse_cancelled`] returns the
//! cancelled one instead). A run whose results were deleted still counts; submit with another
//! key to compute them again.
//!
//! Limit: two processes submitting the same key at the same instant can both find nothing and
//! both post; the platform has no server-side key. Run one submitter per key (a job array
//! gives each task its own batch and key).

use std::time::{Duration, SystemTime};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::handlers::Run;
use crate::idempotency;
use crate::models::RunCreationRequest;
use crate::sdk_metadata::{self, Context, SdkMetadata};

/// How long a lost answer is looked for by default (a new run may take a moment to be listed).
const DEFAULT_LOOKUP_WINDOW: Duration = Duration::from_secs(5);

/// Most `POST`s one submission makes when outcomes stay unknown and lookups find nothing.
const MAX_POSTS: u32 = 3;

/// Options of [`Runs::submit_with`](crate::Runs::submit_with): SDK metadata (on by default),
/// the idempotency key and the lookup window.
///
/// ```
/// use std::time::Duration;
/// use aignostics::SubmitOptions;
/// use aignostics::sdk_metadata::SdkMetadata;
///
/// let options = SubmitOptions::new()
///     .idempotency_key("study-17-batch-3")
///     .sdk_metadata(SdkMetadata::new().tags(["study-17"]))
///     .lookup_window(Duration::from_secs(10));
/// assert_eq!(options.key(), Some("study-17-batch-3"));
/// let bare = SubmitOptions::new().without_sdk_metadata();
/// # let _ = bare;
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct SubmitOptions {
    key: Option<String>,
    sdk: Option<SdkMetadata>,
    lookup_window: Duration,
    reuse_cancelled: bool,
}

impl Default for SubmitOptions {
    fn default() -> Self {
        Self {
            key: None,
            sdk: Some(SdkMetadata::default()),
            lookup_window: DEFAULT_LOOKUP_WINDOW,
            reuse_cancelled: false,
        }
    }
}

impl SubmitOptions {
    /// SDK metadata with the automatic fields only, a random key, a 5 s lookup window.
    pub fn new() -> Self {
        Self::default()
    }

    /// The idempotency key (1 to 128 characters of letters, digits, `.`, `_`, `:`, `-`). A run
    /// of this user already carrying it is returned instead of submitting again. Without one,
    /// a key in the request's `custom_metadata.idempotency_key` is used, else a random one
    /// (which still protects this one call against a lost answer).
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.key = Some(key.into());
        self
    }

    /// The chosen key, if any.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// What to record in `custom_metadata.sdk`; see [`SdkMetadata`].
    pub fn sdk_metadata(mut self, metadata: SdkMetadata) -> Self {
        self.sdk = Some(metadata);
        self
    }

    /// Sends no `sdk` metadata (neither on the run nor on its items); the idempotency key is
    /// still stored.
    pub fn without_sdk_metadata(mut self) -> Self {
        self.sdk = None;
        self
    }

    /// How long to look for the run after a lost answer before posting again (default 5 s;
    /// `Duration::ZERO` looks once).
    pub fn lookup_window(mut self, window: Duration) -> Self {
        self.lookup_window = window;
        self
    }

    /// Whether a run the key finds that was cancelled without results (by its user, or by the
    /// platform before any item succeeded) is returned as the submission (default `false`:
    /// such a run is skipped and the request is submitted again under the same key, so a
    /// cancelled run never blocks a batch job for good).
    pub fn reuse_cancelled(mut self, yes: bool) -> Self {
        self.reuse_cancelled = yes;
        self
    }
}

/// The outcome of [`Runs::submit_with`](crate::Runs::submit_with): the run, its key, and
/// whether it already existed.
#[derive(Debug, Clone)]
pub struct Submitted {
    run: Run,
    key: String,
    existing: bool,
}

impl Submitted {
    /// The run.
    pub fn run(&self) -> &Run {
        &self.run
    }

    /// The run, by value.
    pub fn into_run(self) -> Run {
        self.run
    }

    /// The idempotency key stored in the run's custom metadata.
    pub fn idempotency_key(&self) -> &str {
        &self.key
    }

    /// Whether the run was found by its key (submitted earlier, or by the `POST` whose answer
    /// was lost) rather than created by a `POST` answered here.
    pub fn is_existing(&self) -> bool {
        self.existing
    }
}

/// Whether the `POST` may have created the run although no answer says so.
fn outcome_unknown(err: &Error) -> bool {
    (err.is_retryable() && !err.nothing_was_sent()) || matches!(err, Error::Decode { .. })
}

/// The whole submission; see the [module docs](self).
pub(crate) fn submit(
    client: &Client,
    mut request: RunCreationRequest,
    options: &SubmitOptions,
) -> Result<Submitted> {
    let explicit = options.key.is_some()
        || request
            .custom_metadata
            .as_ref()
            .is_some_and(|m| m.get(idempotency::METADATA_KEY).is_some());
    let key = idempotency::stamp(&mut request, options.key.as_deref())?;
    if let Some(sdk) = &options.sdk {
        sdk.validate()?;
    }
    let runs = client.runs();
    runs.validate(&request)?;
    let found = |run, key: &str| Submitted {
        run,
        key: key.to_string(),
        existing: true,
    };
    if explicit && let Some(run) = idempotency::find(client, &key, options.reuse_cancelled)? {
        if options
            .sdk
            .as_ref()
            .is_some_and(|s| *s != SdkMetadata::default())
        {
            log::warn!(
                "run {} already carries idempotency key {key}; the SDK metadata given now (tags, \
                 note, scheduling, pipeline) was not applied to it",
                run.id()
            );
        }
        return Ok(found(run, &key));
    }
    if let Some(sdk) = &options.sdk {
        let me = client
            .me()
            .inspect_err(|e| log::warn!("SDK metadata without the user: {e}"))
            .ok();
        let ctx = Context {
            me: me.as_deref(),
            env: &sdk_metadata::process_env,
            now: SystemTime::now(),
        };
        sdk_metadata::apply(&mut request, sdk, &ctx)?;
    }
    let mut posts = 0;
    loop {
        posts += 1;
        let err = match runs.post(&request) {
            Ok(run) => {
                return Ok(Submitted {
                    run,
                    key,
                    existing: false,
                });
            }
            Err(e) if outcome_unknown(&e) => e,
            Err(e) => return Err(e),
        };
        log::warn!(
            "the outcome of submitting idempotency key {key} is unknown ({err}); looking it up"
        );
        match idempotency::find_within(client, &key, options.lookup_window, options.reuse_cancelled)
        {
            Ok(Some(run)) => return Ok(found(run, &key)),
            Ok(None) if posts < MAX_POSTS => {}
            Ok(None) => return Err(err),
            Err(lookup) => {
                log::warn!(
                    "could not look up idempotency key {key} ({lookup}); submit again with the \
                     same key to resolve"
                );
                return Err(err);
            }
        }
    }
}
