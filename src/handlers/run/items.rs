//! Items of a run: the list builder and single-item reads.

use super::Run;
use crate::error::Result;
use crate::models::{ItemResultReadResponse, ItemState, ItemTerminationReason};
use crate::pagination::{check_page_size, impl_paged};
use crate::transport::Op;

/// Default page size of item lists.
const DEFAULT_PAGE_SIZE: u32 = 50;

/// Lists the items of a run (`GET /v1/runs/{id}/items`) with optional filters; see
/// [`Run::items`]. Each page is cached for the run TTL (15 s).
///
/// ```no_run
/// # let client = aignostics::Client::new()?;
/// use aignostics::models::ItemState;
/// let run = client.run("3fa85f64-5717-4562-b3fc-2c963f66afa6");
/// for item in run.items().state(ItemState::Terminated).external_ids(["slide-1", "slide-2"]).iter() {
///     let item = item?;
///     println!("{}: {:?}", item.external_id, item.termination_reason);
/// }
/// # Ok::<(), aignostics::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ListItems {
    run: Run,
    item_ids: Vec<String>,
    external_ids: Vec<String>,
    state: Option<ItemState>,
    termination_reason: Option<ItemTerminationReason>,
    custom_metadata: Option<String>,
    sort: Vec<String>,
    page_size: u32,
}

impl ListItems {
    pub(crate) fn new(run: Run) -> Self {
        Self {
            run,
            item_ids: Vec::new(),
            external_ids: Vec::new(),
            state: None,
            termination_reason: None,
            custom_metadata: None,
            sort: Vec::new(),
            page_size: DEFAULT_PAGE_SIZE,
        }
    }

    /// Only these platform item ids (`item_id__in`).
    pub fn item_ids<S: Into<String>>(mut self, ids: impl IntoIterator<Item = S>) -> Self {
        self.item_ids.extend(ids.into_iter().map(Into::into));
        self
    }

    /// Only these external ids (`external_id__in`).
    pub fn external_ids<S: Into<String>>(mut self, ids: impl IntoIterator<Item = S>) -> Self {
        self.external_ids.extend(ids.into_iter().map(Into::into));
        self
    }

    /// Only items in this state.
    pub fn state(mut self, state: ItemState) -> Self {
        self.state = Some(state);
        self
    }

    /// Only items that ended for this reason.
    pub fn termination_reason(mut self, reason: ItemTerminationReason) -> Self {
        self.termination_reason = Some(reason);
        self
    }

    /// Only items whose custom metadata matches this JSONPath (PostgreSQL `@?` semantics).
    pub fn custom_metadata(mut self, json_path: impl Into<String>) -> Self {
        self.custom_metadata = Some(json_path.into());
        self
    }

    /// Sorts by a field (`external_id`, `-terminated_at`, …); call again for more keys.
    pub fn sort(mut self, field: impl Into<String>) -> Self {
        self.sort.push(field.into());
        self
    }

    /// Items per page, 5 to 100 (default 50).
    pub fn page_size(mut self, page_size: u32) -> Self {
        self.page_size = page_size;
        self
    }

    /// One page (from 1) of results.
    pub fn page(&self, page: u32) -> Result<Vec<ItemResultReadResponse>> {
        let page_size = check_page_size(self.page_size)?;
        let req = self
            .run
            .read_request(Op::ListRunItems, "/items")
            .query_all("item_id__in", &self.item_ids)
            .query_all("external_id__in", &self.external_ids)
            .query_opt("state", self.state.as_ref())
            .query_opt("termination_reason", self.termination_reason.as_ref())
            .query_opt("custom_metadata", self.custom_metadata.as_deref())
            .query_all("sort", &self.sort)
            .query("page", page)
            .query("page_size", page_size);
        self.run
            .client
            .api()
            .read(req, self.run.client.nocache_flag())
    }
}

impl_paged!(ListItems => ItemResultReadResponse, "matching item");
