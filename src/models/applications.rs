//! Applications, their versions, input/output artifact declarations and version documents.
//!
//! Returned by `GET /v1/applications`, `GET /v1/applications/{application_id}`,
//! `GET /v1/applications/{application_id}/versions/{version}` and the version documents endpoints.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::macros::string_enum;

/// An application with every version available to the user (`Read Application by Id`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplicationReadResponse {
    /// Application id, e.g. `he-tme`.
    pub application_id: String,
    /// Application display name, e.g. `Atlas H&E-TME`.
    pub name: String,
    /// Regulatory classes the application complies with, e.g. `RUO`, `IVDR`, `FDA`.
    pub regulatory_classes: Vec<String>,
    /// What the application can do.
    pub description: String,
    /// All versions available to the user.
    pub versions: Vec<ApplicationVersion>,
}

/// An application as listed by `List available applications`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplicationReadShortResponse {
    /// Application id, e.g. `he-tme`.
    pub application_id: String,
    /// Application display name, e.g. `Atlas H&E-TME`.
    pub name: String,
    /// Regulatory classes the application complies with, e.g. `RUO`, `IVDR`, `FDA`.
    pub regulatory_classes: Vec<String>,
    /// What the application can do.
    pub description: String,
    /// The version with the highest version number available to the user.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latest_version: Option<ApplicationVersion>,
}

/// A version number of an application and when it was released.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApplicationVersion {
    /// Semantic version number, e.g. `1.0.0`.
    pub number: String,
    /// When the version was made available on the Platform (ISO 8601 timestamp).
    pub released_at: String,
}

/// Details of one application version (`Application Version Details`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionReadResponse {
    /// Semantic version of the application, e.g. `1.0.0`.
    pub version_number: String,
    /// Changes relative to the previous version.
    pub changelog: String,
    /// The input artifacts the user provides for each item.
    pub input_artifacts: Vec<InputArtifact>,
    /// The output artifacts the application generates.
    pub output_artifacts: Vec<OutputArtifact>,
    /// When the version was registered (ISO 8601 timestamp).
    pub released_at: String,
}

/// An input artifact declared by an application version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct InputArtifact {
    /// Artifact name, e.g. `whole_slide_image`.
    pub name: String,
    /// MIME type, e.g. `image/tiff`.
    pub mime_type: String,
    /// JSON Schema the artifact's metadata must satisfy.
    pub metadata_schema: Value,
}

/// An output artifact declared by an application version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct OutputArtifact {
    /// Artifact name, e.g. `tissue_qc:tiff_heatmap`.
    pub name: String,
    /// MIME type, e.g. `application/vnd.apache.parquet`.
    pub mime_type: String,
    /// JSON Schema of the artifact's metadata.
    pub metadata_schema: Value,
    /// Whether the artifact is produced per item or once per run.
    pub scope: OutputArtifactScope,
    /// Whether the artifact is visible to users.
    pub visibility: OutputArtifactVisibility,
}

string_enum! {
    /// Whether an output artifact is produced per item or once for the whole run.
    OutputArtifactScope {
        /// Produced for each item (`ITEM`).
        Item = "ITEM",
        /// Produced once for the run (`GLOBAL`).
        Global = "GLOBAL",
    }
}

string_enum! {
    /// Whether an output artifact is exposed to users.
    OutputArtifactVisibility {
        /// Only used inside the Platform (`INTERNAL`).
        Internal = "INTERNAL",
        /// Delivered to users (`EXTERNAL`).
        External = "EXTERNAL",
    }
}

/// A document attached to an application version (e.g. a README or IFU).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionDocumentResponse {
    /// Document id (UUID).
    pub id: String,
    /// Document name, e.g. `readme.pdf`.
    pub name: String,
    /// MIME type, e.g. `application/pdf`.
    pub mime_type: String,
    /// Who may see the document.
    pub visibility: VersionDocumentVisibility,
    /// When the document was created (ISO 8601 timestamp).
    pub created_at: String,
    /// When the document was last updated (ISO 8601 timestamp).
    pub updated_at: String,
}

string_enum! {
    /// Who may see a version document.
    VersionDocumentVisibility {
        /// Visible to every user of the application (`public`).
        Public = "public",
        /// Restricted to internal users (`internal`).
        Internal = "internal",
    }
}
