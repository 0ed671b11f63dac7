//! [`Runs`]: submitting runs and listing them.

use crate::api::{Op, Request};
use crate::client::Client;
use crate::error::Result;
use crate::models::{RunCreationRequest, RunCreationResponse, RunReadResponse};
use crate::pagination::{check_page_size, impl_paged};
use crate::resources::Run;
use crate::resources::validation::validate_request;
use crate::submission::{SubmitOptions, Submitted};

/// Default page size of run lists.
const DEFAULT_PAGE_SIZE: u32 = 50;

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
        let req = Request::new(Op::CreateRun, "/v1/runs").json(request)?;
        let created: RunCreationResponse = self.client.api().mutate_json(req)?;
        Ok(self.client.run(created.run_id))
    }

    /// Checks a run request against its application version without submitting it: at least
    /// one item, unique external ids, each item carrying exactly the version's input artifacts
    /// (once each), and each artifact's metadata valid against the artifact's
    /// `metadata_schema`. The version comes from [`Client::application_version`] (cached;
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
        crate::resources::validation::check_items_shape(request)?;
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
#[derive(Debug, Clone)]
#[must_use]
pub struct ListRuns {
    client: Client,
    application_id: Option<String>,
    application_version: Option<String>,
    external_id: Option<String>,
    custom_metadata: Option<String>,
    submitted_by: Option<String>,
    organization_id: Option<String>,
    for_organization: Option<String>,
    sort: Vec<String>,
    page_size: u32,
}

impl ListRuns {
    fn new(client: Client) -> Self {
        Self {
            client,
            application_id: None,
            application_version: None,
            external_id: None,
            custom_metadata: None,
            submitted_by: None,
            organization_id: None,
            for_organization: None,
            sort: Vec::new(),
            page_size: DEFAULT_PAGE_SIZE,
        }
    }

    /// Only runs of this application.
    pub fn application_id(mut self, application_id: impl Into<String>) -> Self {
        self.application_id = Some(application_id.into());
        self
    }

    /// Only runs of this application version (e.g. `1.0.0`).
    pub fn application_version(mut self, version: impl Into<String>) -> Self {
        self.application_version = Some(version.into());
        self
    }

    /// Only runs with an item of this external id.
    pub fn external_id(mut self, external_id: impl Into<String>) -> Self {
        self.external_id = Some(external_id.into());
        self
    }

    /// Only runs whose custom metadata matches this JSONPath (PostgreSQL `@?` semantics, at
    /// most 1000 characters), e.g. `$.study ? (@ == "abc-1")`.
    pub fn custom_metadata(mut self, json_path: impl Into<String>) -> Self {
        self.custom_metadata = Some(json_path.into());
        self
    }

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
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let tags = tags.into_iter().map(Into::into).collect();
        if let Some(filter) = crate::sdk_metadata::tags_filter(&tags) {
            self.custom_metadata = Some(filter);
        }
        self
    }

    /// Only runs submitted by this user; `me` for the current user.
    pub fn submitted_by(mut self, user_id: impl Into<String>) -> Self {
        self.submitted_by = Some(user_id.into());
        self
    }

    /// Only runs whose submitter belongs to this organization; `my_org` for the user's own.
    pub fn organization_id(mut self, organization_id: impl Into<String>) -> Self {
        self.organization_id = Some(organization_id.into());
        self
    }

    /// Every run of this organization (administrators only).
    pub fn for_organization(mut self, organization_id: impl Into<String>) -> Self {
        self.for_organization = Some(organization_id.into());
        self
    }

    /// Sorts by a field (`submitted_at`, `-terminated_at`, `application_id`, …); call again for
    /// more keys.
    pub fn sort(mut self, field: impl Into<String>) -> Self {
        self.sort.push(field.into());
        self
    }

    /// Runs per page, 5 to 100 (default 50).
    pub fn page_size(mut self, page_size: u32) -> Self {
        self.page_size = page_size;
        self
    }

    /// One page (from 1) of results.
    pub fn page(&self, page: u32) -> Result<Vec<RunReadResponse>> {
        let page_size = check_page_size(self.page_size)?;
        let req = Request::new(Op::ListRuns, "/v1/runs")
            .query_opt("application_id", self.application_id.as_deref())
            .query_opt("application_version", self.application_version.as_deref())
            .query_opt("external_id", self.external_id.as_deref())
            .query_opt("custom_metadata", self.custom_metadata.as_deref())
            .query_opt("submitted_by", self.submitted_by.as_deref())
            .query_opt("organization_id", self.organization_id.as_deref())
            .query_opt("for_organization", self.for_organization.as_deref())
            .query_all("sort", &self.sort)
            .query("page", page)
            .query("page_size", page_size);
        self.client.api().read(req, self.client.nocache_flag())
    }
}

impl_paged!(ListRuns => RunReadResponse, "matching run");
