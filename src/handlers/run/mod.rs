//! [`Run`]: one application run and everything hanging off it: details, items, artifacts,
//! waiting and downloading.

use std::sync::Arc;

mod artifacts;
pub(crate) mod download;
mod items;
pub(crate) mod wait;

use std::time::Duration;

use crate::client::Client;
use crate::error::Result;
use crate::handlers::{Grants, ListGrants};
use crate::models::{
    CustomMetadataUpdateRequest, CustomMetadataUpdateResponse, GrantCreateRequest,
    GrantReadResponse, GrantRelation, ItemResultReadResponse, ResourceType, RunReadResponse,
    SubjectType,
};
use crate::transport::{Op, Request};

use crate::retry::{Deadline, retry_not_found};
pub use artifacts::Artifact;
pub use items::ListItems;
pub use wait::WaitOptions;

/// How long a freshly created run may answer 404 (read-replica lag) before `details` gives up.
const NOT_FOUND_WINDOW: Duration = Duration::from_secs(5);

/// A handle on one run. Creating it does no I/O; every method is one API call (or a few).
///
/// ```no_run
/// # let client = aignostics::Client::new()?;
/// let run = client.run("3fa85f64-5717-4562-b3fc-2c963f66afa6");
/// let details = run.details()?;
/// println!("{} is {}", run.id(), details.state);
/// # Ok::<(), aignostics::Error>(())
/// ```
#[derive(Clone)]
pub struct Run {
    pub(crate) client: Client,
    id: String,
    share_token: Option<String>,
}

impl std::fmt::Debug for Run {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The share token is a secret: say whether there is one, never what it is.
        f.debug_struct("Run")
            .field("id", &self.id)
            .field("share_token", &self.share_token.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
    }
}

#[cfg_attr(feature = "async", aignostics_macros::twin)]
impl Run {
    pub(crate) fn new(client: Client, id: String) -> Self {
        Self {
            client,
            id,
            share_token: None,
        }
    }

    /// The run id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Reads through a share token (sent as the `share_token` query parameter on run, item,
    /// items and artifact reads, and part of the cache key). The bearer token is still sent.
    #[must_use]
    pub fn with_share_token(mut self, share_token: impl Into<String>) -> Self {
        self.share_token = Some(share_token.into());
        self
    }

    /// The share token this handle reads with, if any.
    pub fn share_token(&self) -> Option<&str> {
        self.share_token.as_deref()
    }

    /// A handle on the same run (and share token) whose reads bypass the operation cache.
    pub(crate) fn uncached(&self) -> Run {
        Run {
            client: self.client.nocache(),
            ..self.clone()
        }
    }

    /// A handle on the same run whose reads neither look in the operation cache nor store in
    /// it: for reads nobody repeats, such as the item pages a download lists.
    pub(crate) fn bypassing_cache(&self) -> Run {
        Run {
            client: self.client.bypass_cache(),
            ..self.clone()
        }
    }

    /// A handle on the same run whose calls give up at `deadline`.
    pub(crate) fn until(&self, deadline: Deadline) -> Run {
        Run {
            client: self.client.until(deadline),
            ..self.clone()
        }
    }

    /// A request on this run; `args` fill the path after the run id. Operations a share token
    /// may read carry this handle's share token, when there is one.
    pub(crate) fn request(&self, op: Op, args: &[&str]) -> Request {
        let mut all = Vec::with_capacity(args.len() + 1);
        all.push(self.id.as_str());
        all.extend_from_slice(args);
        let req = op.at(&all);
        match &self.share_token {
            Some(token) if op.shared() => req.query_secret("share_token", token),
            _ => req,
        }
    }

    /// The run's state, statistics and metadata (`GET /v1/runs/{id}`; cached 15 s, shared with
    /// the cache).
    ///
    /// A 404 is retried for up to 5 s, since a run just created may not be visible yet.
    pub fn details(&self) -> Result<Arc<RunReadResponse>> {
        retry_not_found(NOT_FOUND_WINDOW, self.client.deadline(), |_| {
            self.client.read_shared(self.request(Op::GetRun, &[]))
        })
    }

    /// Cancels the run (`POST /v1/runs/{id}/cancel`). Cancelling twice is a 409 error
    /// ([`Error::is_conflict`](crate::Error::is_conflict)). Never retried.
    pub fn cancel(&self) -> Result<()> {
        self.client.mutate(self.request(Op::CancelRun, &[]))
    }

    /// The run's items, with optional filters; see [`ListItems`].
    pub fn items(&self) -> ListItems {
        ListItems::new(self.clone())
    }

    /// One item by its external id (`GET /v1/runs/{id}/items/{external_id}`; cached 15 s,
    /// shared with the cache).
    pub fn item(&self, external_id: &str) -> Result<Arc<ItemResultReadResponse>> {
        self.client
            .read_shared(self.request(Op::GetRunItem, &[external_id]))
    }

    /// A handle on one of the run's output artifacts.
    pub fn artifact(&self, artifact_id: impl Into<String>) -> Artifact {
        Artifact::new(self.clone(), artifact_id.into())
    }
    /// Deletes the run's output artifacts (`DELETE /v1/runs/{id}/artifacts`); allowed once the
    /// run has terminated. Never retried. Reading a deleted artifact afterwards is a 410 error
    /// ([`Error::is_gone`](crate::Error::is_gone)).
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// client.run("3fa85f64-5717-4562-b3fc-2c963f66afa6").delete_artifacts()?;
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn delete_artifacts(&self) -> Result<()> {
        self.client
            .mutate(self.request(Op::DeleteRunArtifacts, &[]))
    }

    /// Replaces the run's custom metadata (`PUT /v1/runs/{id}/custom-metadata`): `Some(json)`
    /// sets it, `None` clears it (sends `"custom_metadata": null`). With a `checksum` (from
    /// [`details`](Self::details)), the update only applies if nobody changed the metadata
    /// since; otherwise it is a 412 error
    /// ([`Error::is_precondition_failed`](crate::Error::is_precondition_failed)). Never retried.
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// use serde_json::json;
    /// let run = client.run("3fa85f64-5717-4562-b3fc-2c963f66afa6");
    /// let current = run.details()?;
    /// let mut metadata = current.custom_metadata.clone().unwrap_or_else(|| json!({}));
    /// metadata["reviewed"] = json!(true);
    /// match run.update_custom_metadata(Some(metadata), current.custom_metadata_checksum.as_deref()) {
    ///     Err(e) if e.is_precondition_failed() => eprintln!("changed meanwhile; read again"),
    ///     other => { other?; }
    /// }
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn update_custom_metadata(
        &self,
        custom_metadata: Option<serde_json::Value>,
        checksum: Option<&str>,
    ) -> Result<CustomMetadataUpdateResponse> {
        let req = self
            .request(Op::PutRunCustomMetadata, &[])
            .json(&metadata_update(custom_metadata, checksum))?;
        self.client.mutate_json(req)
    }

    /// Replaces the custom metadata of one item
    /// (`PUT /v1/runs/{id}/items/{external_id}/custom-metadata`), with the same `None` (clear)
    /// and checksum rules as [`update_custom_metadata`](Self::update_custom_metadata).
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// use serde_json::json;
    /// let run = client.run("3fa85f64-5717-4562-b3fc-2c963f66afa6");
    /// run.update_item_custom_metadata("slide-1", Some(json!({"score": 0.9})), None)?;
    /// run.update_item_custom_metadata("slide-2", None, None)?; // clears it
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn update_item_custom_metadata(
        &self,
        external_id: &str,
        custom_metadata: Option<serde_json::Value>,
        checksum: Option<&str>,
    ) -> Result<CustomMetadataUpdateResponse> {
        let req = self
            .request(Op::PutItemCustomMetadata, &[external_id])
            .json(&metadata_update(custom_metadata, checksum))?;
        self.client.mutate_json(req)
    }

    /// Lets a subject read this run: creates a `viewer` grant on it
    /// (`POST /v1/access/grants`). Never retried.
    ///
    /// ```no_run
    /// use aignostics::models::SubjectType;
    /// # let client = aignostics::Client::new()?;
    /// let token = client.share_tokens().create(None)?;
    /// let run = client.run("3fa85f64-5717-4562-b3fc-2c963f66afa6");
    /// let grant = run.grant_access(SubjectType::ShareToken, &token.share_token_id)?;
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn grant_access(
        &self,
        subject_type: SubjectType,
        subject_id: &str,
    ) -> Result<GrantReadResponse> {
        Grants::new(self.client.clone()).create(
            GrantCreateRequest::new(
                ResourceType::Run,
                self.id.clone(),
                subject_type,
                GrantRelation::Viewer,
            )
            .subject_id(subject_id),
        )
    }

    /// The active grants on this run: a [`ListGrants`] already filtered to
    /// `resource_type=run`, `resource_id={id}` and `revoked=false`; add subject filters as
    /// needed.
    ///
    /// ```no_run
    /// use aignostics::models::SubjectType;
    /// # let client = aignostics::Client::new()?;
    /// let run = client.run("3fa85f64-5717-4562-b3fc-2c963f66afa6");
    /// for grant in run.share_grants().subject_type(SubjectType::ShareToken).iter() {
    ///     println!("{}", grant?.subject_id);
    /// }
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn share_grants(&self) -> ListGrants {
        ListGrants::new(self.client.clone())
            .resource_type(ResourceType::Run)
            .resource_id(self.id.clone())
            .revoked(false)
    }
}

/// The body of a custom metadata update: `None` clears (sends `null`).
fn metadata_update(
    custom_metadata: Option<serde_json::Value>,
    checksum: Option<&str>,
) -> CustomMetadataUpdateRequest {
    let request = CustomMetadataUpdateRequest::new(custom_metadata);
    match checksum {
        Some(c) => request.with_checksum(c),
        None => request,
    }
}
