//! Runs: the submission request and response, run details, statistics, states and scheduling.
//!
//! Used by `POST /v1/runs`, `GET /v1/runs` and `GET /v1/runs/{run_id}`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::ItemCreationRequest;
use super::macros::string_enum;

/// Body of `Initiate Run`: the application version to use and the items (slides) to process.
///
/// ```
/// use aignostics::models::{InputArtifactCreationRequest, ItemCreationRequest, RunCreationRequest};
/// use serde_json::json;
///
/// let artifact = InputArtifactCreationRequest::new(
///     "input_slide",
///     "https://example.com/case-no-1-slide.tiff",
///     json!({"checksum_base64_crc32c": "64RKKA==", "width_px": 136223}),
/// );
/// let request = RunCreationRequest::new("he-tme", [ItemCreationRequest::new("slide_1", [artifact])])
///     .version_number("1.0.0")
///     .custom_metadata(json!({"study": "abc-1"}));
/// assert_eq!(request.items.len(), 1);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunCreationRequest {
    /// Application to use, e.g. `he-tme`.
    pub application_id: String,
    /// Semantic version to use; the latest available version when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_number: Option<String>,
    /// JSON object stored alongside the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_metadata: Option<Value>,
    /// Scheduling constraints for the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduling: Option<SchedulingRequest>,
    /// Opaque JSON object echoed in state-change events (at most 1 KB serialised).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_context: Option<Value>,
    /// The items (slides) to process; at least one.
    pub items: Vec<ItemCreationRequest>,
}

impl RunCreationRequest {
    /// A request for `application_id` with `items`, using the latest version and no metadata.
    #[must_use]
    pub fn new(
        application_id: impl Into<String>,
        items: impl IntoIterator<Item = ItemCreationRequest>,
    ) -> Self {
        Self {
            application_id: application_id.into(),
            version_number: None,
            custom_metadata: None,
            scheduling: None,
            callback_context: None,
            items: items.into_iter().collect(),
        }
    }

    /// Pins the application version, e.g. `1.0.0`.
    #[must_use]
    pub fn version_number(mut self, version_number: impl Into<String>) -> Self {
        self.version_number = Some(version_number.into());
        self
    }

    /// Sets the run's custom metadata (a JSON object).
    #[must_use]
    pub fn custom_metadata(mut self, custom_metadata: Value) -> Self {
        self.custom_metadata = Some(custom_metadata);
        self
    }

    /// Sets the scheduling constraints.
    #[must_use]
    pub fn scheduling(mut self, scheduling: SchedulingRequest) -> Self {
        self.scheduling = Some(scheduling);
        self
    }

    /// Sets the callback context (a JSON object, at most 1 KB serialised).
    #[must_use]
    pub fn callback_context(mut self, callback_context: Value) -> Self {
        self.callback_context = Some(callback_context);
        self
    }

    /// Appends one item.
    #[must_use]
    pub fn item(mut self, item: ItemCreationRequest) -> Self {
        self.items.push(item);
        self
    }
}

/// Response of `Initiate Run`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunCreationResponse {
    /// The new run's id (UUID).
    pub run_id: String,
}

/// Details of a run (`Get run details`, and each entry of `List runs`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunReadResponse {
    /// Run id (UUID).
    pub run_id: String,
    /// Application id, e.g. `he-tme`.
    pub application_id: String,
    /// Application version number, e.g. `1.0.0`.
    pub version_number: String,
    /// `PENDING` → `PROCESSING` (→ back to `PENDING` when idle) → `TERMINATED`.
    pub state: RunState,
    /// `NONE` until an item succeeds, then `PARTIAL`, and `FULL` once all items succeeded.
    pub output: RunOutput,
    /// Why the run terminated; `null` until the run is `TERMINATED`.
    #[serde(default)]
    pub termination_reason: Option<RunTerminationReason>,
    /// Structured error code when the run was `CANCELED_BY_SYSTEM`.
    #[serde(default)]
    pub error_code: Option<String>,
    /// Error message when the run was `CANCELED_BY_SYSTEM`.
    #[serde(default)]
    pub error_message: Option<String>,
    /// Aggregated item statistics.
    pub statistics: RunItemStatistics,
    /// JSON metadata stored alongside the run by the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_metadata: Option<Value>,
    /// Checksum of `custom_metadata`, for optimistic concurrency in metadata updates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_metadata_checksum: Option<String>,
    /// When the run was submitted (ISO 8601 timestamp).
    pub submitted_at: String,
    /// Id of the user who submitted the run, e.g. `auth0|123456`.
    pub submitted_by: String,
    /// The organization the run was created for.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_id: Option<String>,
    /// When the run reached a terminal state (ISO 8601 timestamp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub terminated_at: Option<String>,
    /// Items of other runs of the same organization due to start before this run's next item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_preceding_items_org: Option<i64>,
    /// Items of other runs on the Platform due to start before this run's next item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub num_preceding_items_platform: Option<i64>,
    /// Scheduling constraints set for the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scheduling: Option<SchedulingResponse>,
}

/// Item counts of a run, by state and termination reason.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunItemStatistics {
    /// Total number of items in the run.
    pub item_count: i64,
    /// Items in `PENDING` state.
    pub item_pending_count: i64,
    /// Items in `PROCESSING` state.
    pub item_processing_count: i64,
    /// Items `TERMINATED` with `USER_ERROR`.
    pub item_user_error_count: i64,
    /// Items `TERMINATED` with `SYSTEM_ERROR`.
    pub item_system_error_count: i64,
    /// Items `TERMINATED` with `SKIPPED`.
    pub item_skipped_count: i64,
    /// Items `TERMINATED` with `SUCCEEDED`.
    pub item_succeeded_count: i64,
}

string_enum! {
    /// Processing state of a run.
    RunState {
        /// Received, no item processing (`PENDING`).
        Pending = "PENDING",
        /// At least one item is processing (`PROCESSING`).
        Processing = "PROCESSING",
        /// Finished; see the termination reason (`TERMINATED`).
        Terminated = "TERMINATED",
    }
}

string_enum! {
    /// How much output a run has produced.
    RunOutput {
        /// No item succeeded (`NONE`).
        None = "NONE",
        /// Some items succeeded (`PARTIAL`).
        Partial = "PARTIAL",
        /// All items succeeded (`FULL`).
        Full = "FULL",
    }
}

string_enum! {
    /// Why a run terminated.
    RunTerminationReason {
        /// Every item was processed, successfully or not (`ALL_ITEMS_PROCESSED`).
        AllItemsProcessed = "ALL_ITEMS_PROCESSED",
        /// Cancelled by the Platform, see the error code (`CANCELED_BY_SYSTEM`).
        CanceledBySystem = "CANCELED_BY_SYSTEM",
        /// Cancelled by the user (`CANCELED_BY_USER`).
        CanceledByUser = "CANCELED_BY_USER",
    }
}

/// Scheduling constraints requested for a run.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SchedulingRequest {
    /// Requested completion time (ISO 8601); items are prioritised to meet it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
    /// Hard deadline (ISO 8601); the run is cancelled if not completed by then.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
}

impl SchedulingRequest {
    /// No constraints; add them with [`due_date`](Self::due_date) and [`deadline`](Self::deadline).
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the requested completion time (ISO 8601 timestamp).
    #[must_use]
    pub fn due_date(mut self, due_date: impl Into<String>) -> Self {
        self.due_date = Some(due_date.into());
        self
    }

    /// Sets the hard deadline (ISO 8601 timestamp).
    #[must_use]
    pub fn deadline(mut self, deadline: impl Into<String>) -> Self {
        self.deadline = Some(deadline.into());
        self
    }
}

/// Scheduling constraints as returned in run details.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SchedulingResponse {
    /// Requested completion time (ISO 8601 timestamp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub due_date: Option<String>,
    /// Hard deadline (ISO 8601 timestamp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline: Option<String>,
}
