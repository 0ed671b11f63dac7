//! [`Runs`]: submitting runs and listing them.

use crate::client::Client;
use crate::error::Result;
use crate::handlers::Run;
use crate::handlers::list::list;
use crate::handlers::run_checks::validate_request;
use crate::models::{RunCreationRequest, RunCreationResponse, RunReadResponse};
use crate::submission::{SubmitOptions, Submitted};
use crate::transport::Op;

/// The runs handler; see [`Client::runs`].
///
/// ```no_run
/// use aignostics::models::{InputArtifactCreationRequest, ItemCreationRequest, RunCreationRequest};
/// use serde_json::json;
///
/// # let client = aignostics::Client::new()?;
/// let slide = InputArtifactCreationRequest::new(
///     "whole_slide_image",
///     "https://storage.example.com/slide-1.tiff?signature=…",
///     json!({"checksum_base64_crc32c": "64RKKA==", "width_px": 136223, "height_px": 87761, "resolution_mpp": 0.25}),
/// );
/// let request = RunCreationRequest::new("he-tme", [ItemCreationRequest::new("slide-1", [slide])])
///     .version_number("1.0.0");
/// let run = client.runs().submit(request)?;
/// println!("submitted {}", run.id());
///
/// for run in client.runs().list().application_id("he-tme").submitted_by("me").iter().take(10) {
///     let run = run?;
///     println!("{} {}", run.run_id, run.state);
/// }
/// # Ok::<(), aignostics::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Runs {
    client: Client,
}

#[cfg_attr(feature = "async", aignostics_macros::twin)]
impl Runs {
    pub(crate) fn new(client: Client) -> Self {
        Self { client }
    }

    /// Submits a run (`POST /v1/runs`) and returns a handle on it; the same as
    /// [`submit_with`](Self::submit_with) with default [`SubmitOptions`].
    ///
    /// The request is first checked with [`validate`](Self::validate); an invalid request is an
    /// [`Error::InvalidInput`](crate::Error::InvalidInput) and nothing is posted. The run and its
    /// items get `custom_metadata.sdk` ([`crate::sdk_metadata`]) and the run a random
    /// idempotency key, so a lost answer is recovered by looking the key up instead of posting
    /// blindly again. On success this user's cached reads are cleared.
    ///
    /// ```no_run
    /// # use aignostics::models::*;
    /// # let client = aignostics::Client::new()?;
    /// # let request = RunCreationRequest::new("he-tme", []);
    /// let run = client.runs().submit(request)?;
    /// let details = run.details()?;
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn submit(&self, request: RunCreationRequest) -> Result<Run> {
        self.submit_with(request, &SubmitOptions::default())
            .map(Submitted::into_run)
    }

    /// Submits a run with options: an idempotency key (a run already carrying it is returned
    /// instead of creating another), the SDK metadata to record (tags, note, scheduling,
    /// pipeline) or none, and how long to look for a run whose creation answer was lost. See
    /// [`crate::submission`].
    ///
    /// ```no_run
    /// # use aignostics::models::*;
    /// use aignostics::SubmitOptions;
    /// use aignostics::sdk_metadata::SdkMetadata;
    /// # let client = aignostics::Client::new()?;
    /// # let request = RunCreationRequest::new("he-tme", []);
    /// let options = SubmitOptions::new()
    ///     .idempotency_key("study-17-batch-3")
    ///     .sdk_metadata(SdkMetadata::new().tags(["study-17"]).note("first pass"));
    /// let submitted = client.runs().submit_with(request, &options)?;
    /// if submitted.is_existing() {
    ///     println!("already submitted as {}", submitted.run().id());
    /// }
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn submit_with(
        &self,
        request: RunCreationRequest,
        options: &SubmitOptions,
    ) -> Result<Submitted> {
        crate::submission::submit(&self.client, request, options)
    }

    /// The bare `POST /v1/runs` of an already prepared request (never retried once sent).
    pub(crate) fn post(&self, request: &RunCreationRequest) -> Result<Run> {
        let req = Op::CreateRun.at(&[]).json(request)?;
        let created: RunCreationResponse = self.client.mutate_json(req)?;
        Ok(self.client.run(created.run_id))
    }

    /// Checks a run request against its application version without submitting it: at least
    /// one item, unique external ids, each item carrying exactly the version's input artifacts
    /// (once each), download URLs the API takes, and (with the default feature `validation`)
    /// each artifact's metadata valid against the artifact's `metadata_schema`. The version
    /// comes from [`Client::application_version`] (cached;
    /// the latest when the request names none).
    ///
    /// Errors are [`Error::InvalidInput`](crate::Error::InvalidInput) naming the item (its
    /// external id), the artifact and the failing field as a JSON pointer. A schema that cannot
    /// be compiled locally (e.g. one referring to remote schemas) is skipped with a warning;
    /// the platform still validates on submit.
    ///
    /// ```no_run
    /// # use aignostics::models::*;
    /// # let client = aignostics::Client::new()?;
    /// # let request = RunCreationRequest::new("he-tme", []);
    /// if let Err(err) = client.runs().validate(&request) {
    ///     eprintln!("not submitting: {err}");
    /// }
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn validate(&self, request: &RunCreationRequest) -> Result<()> {
        // Cheap checks first, so an obviously bad request costs no request at all.
        crate::handlers::run_checks::check_items_shape(request)?;
        let version = self
            .client
            .application_version(&request.application_id, request.version_number.as_deref())?;
        validate_request(request, &version)
    }

    /// Lists runs (`GET /v1/runs`) with optional filters; see [`ListRuns`].
    pub fn list(&self) -> ListRuns {
        ListRuns::new(self.client.clone())
    }

    /// A handle on a run; the same as [`Client::run`].
    pub fn run(&self, run_id: impl Into<String>) -> Run {
        self.client.run(run_id)
    }
}

list! {
    /// Lists runs (`GET /v1/runs`) with optional filters; see [`Runs::list`]. Each page is cached
    /// for the run TTL (15 s).
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// let runs = client
    ///     .runs()
    ///     .list()
    ///     .application_id("he-tme")
    ///     .custom_metadata("$.study ? (@ == \"abc-1\")")
    ///     .sort("-submitted_at")
    ///     .page_size(20)
    ///     .iter()
    ///     .collect::<aignostics::Result<Vec<_>>>()?;
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    ListRuns(Client, Op::ListRuns) => RunReadResponse, "matching run" {
        /// Only runs of this application.
        application_id: one String,
        /// Only runs of this application version (e.g. `1.0.0`).
        application_version: one String,
        /// Only runs with an item of this external id.
        external_id: one String,
        /// Only runs whose custom metadata matches this JSONPath (PostgreSQL `@?` semantics, at
        /// most 1000 characters), e.g. `$.study ? (@ == "abc-1")`.
        custom_metadata: one String,
        /// Only runs submitted by this user; `me` for the current user.
        submitted_by: one String,
        /// Only runs whose submitter belongs to this organization; `my_org` for the user's own.
        organization_id: one String,
        /// Every run of this organization (administrators only).
        for_organization: one String,
        /// Sorts by a field (`submitted_at`, `-terminated_at`, `application_id`, …); call again
        /// for more keys.
        sort: each String,
    }
}

impl ListRuns {
    /// Only runs whose `custom_metadata.sdk.tags` hold every one of `tags` (as written by
    /// [`SdkMetadata::tags`](crate::sdk_metadata::SdkMetadata::tags) here or `--tags` in the
    /// Python SDK). This is a [`custom_metadata`](Self::custom_metadata) filter and replaces
    /// any other one; no tags leave the filter unchanged.
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// for run in client.runs().list().tags(["study-17", "batch-3"]).iter() {
    ///     println!("{}", run?.run_id);
    /// }
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn tags<I, S>(self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let tags: std::collections::BTreeSet<String> = tags.into_iter().map(Into::into).collect();
        match crate::sdk_metadata::tags_filter(&tags) {
            Some(filter) => self.custom_metadata(filter),
            None => self,
        }
    }
}

#[cfg(feature = "async")]
impl crate::nonblocking::ListRuns {
    /// Only runs with all these SDK tags; see [`crate::ListRuns::tags`].
    pub fn tags(self, tags: Vec<String>) -> Self {
        self.map(|list| list.tags(tags))
    }
}
