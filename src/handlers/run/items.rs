//! Items of a run: the list builder.

use super::Run;
use crate::handlers::list::list;
use crate::models::{ItemResultReadResponse, ItemState, ItemTerminationReason};
use crate::transport::Op;

list! {
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
    ListItems(Run, Op::ListRunItems) => ItemResultReadResponse, "matching item" {
        /// Only these platform item ids.
        item_ids: many String as "item_id__in",
        /// Only these external ids.
        external_ids: many String as "external_id__in",
        /// Only items in this state.
        state: one ItemState,
        /// Only items that ended for this reason.
        termination_reason: one ItemTerminationReason,
        /// Only items whose custom metadata matches this JSONPath (PostgreSQL `@?` semantics).
        custom_metadata: one String,
        /// Sorts by a field (`external_id`, `-terminated_at`, …); call again for more keys.
        sort: each String,
    }
}
