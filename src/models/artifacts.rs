//! Output artifacts of an item: their state, termination reason and availability.
//!
//! Reported inside [`ItemResultReadResponse`](super::ItemResultReadResponse).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::macros::string_enum;

/// An output artifact of an item, as reported by the Platform.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputArtifactResultReadResponse {
    /// Artifact id (UUID).
    pub output_artifact_id: String,
    /// Output name as declared by the version, e.g. `tissue_qc:tiff_heatmap`.
    pub name: String,
    /// Metadata provided by the application; absent only when the artifact was deleted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<Value>,
    /// `PENDING` → `PROCESSING` → `TERMINATED`.
    pub state: ArtifactState,
    /// Why the artifact terminated, once `TERMINATED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub termination_reason: Option<ArtifactTerminationReason>,
    /// Availability of the artifact's file.
    pub output: ArtifactOutput,
    /// Structured error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
    /// Error message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_message: Option<String>,
    /// Deprecated: signed download URL valid for 1 hour; use the artifact file endpoint instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_url: Option<String>,
}

string_enum! {
    /// Processing state of an output artifact.
    ArtifactState {
        /// Not started (`PENDING`).
        Pending = "PENDING",
        /// Being produced (`PROCESSING`).
        Processing = "PROCESSING",
        /// Finished; see the termination reason (`TERMINATED`).
        Terminated = "TERMINATED",
    }
}

string_enum! {
    /// Why an output artifact terminated.
    ArtifactTerminationReason {
        /// Produced successfully (`SUCCEEDED`).
        Succeeded = "SUCCEEDED",
        /// The provided input was invalid (`USER_ERROR`).
        UserError = "USER_ERROR",
        /// An error in the model or Platform (`SYSTEM_ERROR`).
        SystemError = "SYSTEM_ERROR",
        /// Not produced (`SKIPPED`).
        Skipped = "SKIPPED",
    }
}

string_enum! {
    /// Availability of an output artifact's file.
    ArtifactOutput {
        /// No file (`NONE`).
        None = "NONE",
        /// The file can be downloaded (`AVAILABLE`).
        Available = "AVAILABLE",
        /// Deleted by the user (`DELETED_BY_USER`).
        DeletedByUser = "DELETED_BY_USER",
        /// Deleted by the Platform, e.g. after retention (`DELETED_BY_SYSTEM`).
        DeletedBySystem = "DELETED_BY_SYSTEM",
    }
}
