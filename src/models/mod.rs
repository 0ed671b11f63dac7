//! Request and response types of the Platform API, one per OpenAPI schema and named exactly
//! as the schema (`RunReadResponse`, `HTTPValidationError`, ...), all re-exported here.
//!
//! Conventions:
//! - a required property is a plain field; a required but nullable one is an `Option` that
//!   encodes `None` as `null`; an optional property is an `Option` omitted when `None`;
//! - free-form JSON objects are [`serde_json::Value`]; timestamps (ISO 8601) and UUIDs are `String`;
//! - unknown fields in responses are ignored;
//! - string enums are `#[non_exhaustive]` and decode values this crate does not know into an
//!   `Unknown(String)` variant that re-encodes unchanged.

mod macros;

mod access;
mod applications;
mod artifacts;
mod items;
mod me;
mod metadata;
mod runs;
mod validation;

pub use access::{
    GrantCreateRequest, GrantReadResponse, GrantRelation, ResourceType, ShareTokenCreateRequest,
    ShareTokenCreateResponse, ShareTokenReadResponse, SubjectType,
};
pub use applications::{
    ApplicationReadResponse, ApplicationReadShortResponse, ApplicationVersion, InputArtifact,
    OutputArtifact, OutputArtifactScope, OutputArtifactVisibility, VersionDocumentResponse,
    VersionDocumentVisibility, VersionReadResponse,
};
pub use artifacts::{
    ArtifactOutput, ArtifactState, ArtifactTerminationReason, OutputArtifactResultReadResponse,
};
pub use items::{
    InputArtifactCreationRequest, InputArtifactResultReadResponse, ItemCreationRequest, ItemOutput,
    ItemResultReadResponse, ItemState, ItemTerminationReason,
};
pub use me::{MeReadResponse, OrganizationReadResponse, UserReadResponse};
pub use metadata::{CustomMetadataUpdateRequest, CustomMetadataUpdateResponse};
pub use runs::{
    RunCreationRequest, RunCreationResponse, RunItemStatistics, RunOutput, RunReadResponse,
    RunState, RunTerminationReason, SchedulingRequest, SchedulingResponse,
};
pub use validation::{HTTPValidationError, LocationItem, ValidationError};
