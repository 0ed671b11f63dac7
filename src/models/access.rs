//! Access control: grants of a relation on a resource to a subject, and share tokens.
//!
//! Used by the `/v1/grants` and `/v1/share-tokens` endpoints.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::macros::string_enum;

/// Body of `Create grant`: gives `subject` the `relation` on a resource.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GrantCreateRequest {
    /// Kind of resource the grant is on.
    pub resource_type: ResourceType,
    /// Id (UUID) of the resource.
    pub resource_id: String,
    /// Kind of subject receiving the grant.
    pub subject_type: SubjectType,
    /// Id of the subject (e.g. a share token id or user id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_id: Option<String>,
    /// Email of the subject, as an alternative to `subject_id` for users.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_email: Option<String>,
    /// The relation granted.
    pub relation: GrantRelation,
}

impl GrantCreateRequest {
    /// A grant of `relation` on the resource to a subject of `subject_type`; name the subject with
    /// [`subject_id`](Self::subject_id) or [`subject_email`](Self::subject_email).
    #[must_use]
    pub fn new(
        resource_type: ResourceType,
        resource_id: impl Into<String>,
        subject_type: SubjectType,
        relation: GrantRelation,
    ) -> Self {
        Self {
            resource_type,
            resource_id: resource_id.into(),
            subject_type,
            subject_id: None,
            subject_email: None,
            relation,
        }
    }

    /// Sets the subject's id.
    #[must_use]
    pub fn subject_id(mut self, subject_id: impl Into<String>) -> Self {
        self.subject_id = Some(subject_id.into());
        self
    }

    /// Sets the subject's email.
    #[must_use]
    pub fn subject_email(mut self, subject_email: impl Into<String>) -> Self {
        self.subject_email = Some(subject_email.into());
        self
    }
}

/// A grant as stored by the Platform.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct GrantReadResponse {
    /// Grant id (UUID).
    pub grant_id: String,
    /// Kind of resource the grant is on.
    pub resource_type: ResourceType,
    /// Id (UUID) of the resource.
    pub resource_id: String,
    /// Kind of subject holding the grant.
    pub subject_type: SubjectType,
    /// Id of the subject.
    pub subject_id: String,
    /// The relation granted.
    pub relation: GrantRelation,
    /// Id of the user who created the grant.
    pub created_by: String,
    /// When the grant was created (ISO 8601 timestamp).
    pub created_at: String,
    /// Whether the grant has been revoked.
    pub revoked: bool,
}

string_enum! {
    /// Relation a grant gives on a resource.
    GrantRelation {
        /// Full control (`owner`).
        Owner = "owner",
        /// May modify (`editor`).
        Editor = "editor",
        /// May read (`viewer`).
        Viewer = "viewer",
    }
}

string_enum! {
    /// Kind of resource a grant is on.
    ResourceType {
        /// A run (`run`).
        Run = "run",
        /// An item (`item`).
        Item = "item",
        /// An output artifact (`output_artifact`).
        OutputArtifact = "output_artifact",
        /// A share token (`share_token`).
        ShareToken = "share_token",
    }
}

string_enum! {
    /// Kind of subject holding a grant.
    SubjectType {
        /// A user (`user`).
        User = "user",
        /// The administrators of an organization (`organization_admin`).
        OrganizationAdmin = "organization_admin",
        /// The users of an organization (`organization_user`).
        OrganizationUser = "organization_user",
        /// Whoever presents a share token (`share_token`).
        ShareToken = "share_token",
    }
}

/// Body of `Create share token`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ShareTokenCreateRequest {
    /// When the token expires (ISO 8601 timestamp); never when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

impl ShareTokenCreateRequest {
    /// A request for a token that does not expire.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the expiry (ISO 8601 timestamp).
    #[must_use]
    pub fn expires_at(mut self, expires_at: impl Into<String>) -> Self {
        self.expires_at = Some(expires_at.into());
        self
    }
}

/// Response of `Create share token`: the only time the secret token is returned.
///
/// `Debug` redacts `share_token`.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct ShareTokenCreateResponse {
    /// Share token id (UUID).
    pub share_token_id: String,
    /// The secret token; returned once, keep it safe.
    pub share_token: String,
    /// When the token was created (ISO 8601 timestamp).
    pub created_at: String,
    /// When the token expires (ISO 8601 timestamp); `null` for never.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Whether the token has been revoked.
    pub revoked: bool,
}

impl fmt::Debug for ShareTokenCreateResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShareTokenCreateResponse")
            .field("share_token_id", &self.share_token_id)
            .field("share_token", &"<redacted>")
            .field("created_at", &self.created_at)
            .field("expires_at", &self.expires_at)
            .field("revoked", &self.revoked)
            .finish()
    }
}

/// A share token as listed or read back (without the secret).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ShareTokenReadResponse {
    /// Share token id (UUID).
    pub share_token_id: String,
    /// When the token was created (ISO 8601 timestamp).
    pub created_at: String,
    /// When the token expires (ISO 8601 timestamp); `null` for never.
    #[serde(default)]
    pub expires_at: Option<String>,
    /// Whether the token has been revoked.
    pub revoked: bool,
}
