//! [`Run`]: one application run and everything hanging off it.

use std::time::Duration;

use crate::api::{Op, Request, seg};
use crate::client::Client;
use crate::error::Result;
use crate::models::{ItemResultReadResponse, RunReadResponse};
use crate::resources::{Artifact, ListItems};
use crate::retry::retry_not_found;

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
#[derive(Debug, Clone)]
pub struct Run {
    pub(crate) client: Client,
    id: String,
    share_token: Option<String>,
}

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

    /// `/v1/runs/{id}` with `suffix` appended.
    pub(crate) fn path(&self, suffix: &str) -> String {
        format!("/v1/runs/{}{suffix}", seg(&self.id))
    }

    /// A read request on this run, carrying the share token when there is one.
    pub(crate) fn read_request(&self, op: Op, suffix: &str) -> Request {
        Request::new(op, self.path(suffix)).query_opt("share_token", self.share_token.as_deref())
    }

    /// The run's state, statistics and metadata (`GET /v1/runs/{id}`; cached 15 s).
    ///
    /// A 404 is retried for up to 5 s, since a run just created may not be visible yet.
    pub fn details(&self) -> Result<RunReadResponse> {
        retry_not_found(NOT_FOUND_WINDOW, || {
            self.client.api().read(
                self.read_request(Op::GetRun, ""),
                self.client.nocache_flag(),
            )
        })
    }

    /// Cancels the run (`POST /v1/runs/{id}/cancel`). Cancelling twice is a 409 error
    /// ([`Error::is_conflict`](crate::Error::is_conflict)). Never retried.
    pub fn cancel(&self) -> Result<()> {
        self.client
            .api()
            .mutate(Request::new(Op::CancelRun, self.path("/cancel")))
            .map(drop)
    }

    /// The run's items, with optional filters; see [`ListItems`].
    pub fn items(&self) -> ListItems {
        ListItems::new(self.clone())
    }

    /// One item by its external id (`GET /v1/runs/{id}/items/{external_id}`; cached 15 s).
    pub fn item(&self, external_id: &str) -> Result<ItemResultReadResponse> {
        self.client.api().read(
            self.read_request(Op::GetRunItem, &format!("/items/{}", seg(external_id))),
            self.client.nocache_flag(),
        )
    }

    /// A handle on one of the run's output artifacts.
    pub fn artifact(&self, artifact_id: impl Into<String>) -> Artifact {
        Artifact::new(self.clone(), artifact_id.into())
    }
}
