//! The current user and organization (`GET /v1/me`).

use std::fmt;

use serde::{Deserialize, Serialize};

/// Response of `Get current user`: the user and their organization.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MeReadResponse {
    /// The authenticated user.
    pub user: UserReadResponse,
    /// The user's organization.
    pub organization: OrganizationReadResponse,
}

/// The authenticated user, as returned by Auth0 `GET /v2/users/{id}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserReadResponse {
    /// Unique user id, e.g. `auth0|123456`.
    pub id: String,
    /// Email address.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    /// Whether the email address is verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email_verified: Option<bool>,
    /// First and last name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Given name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// Family name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family_name: Option<String>,
    /// Nickname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nickname: Option<String>,
    /// URL of the user's picture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    /// When the profile was last updated (ISO 8601 timestamp).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<String>,
}

/// The user's organization, as returned by Auth0 `GET /v2/organizations/{id}` with metadata
/// flattened, including the credentials of the Aignostics-provided bucket.
///
/// `Debug` redacts the secret access key, the Logfire token and the Sentry DSN.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
pub struct OrganizationReadResponse {
    /// Unique organization id, e.g. `org_123456`.
    pub id: String,
    /// Organization name, e.g. `aignx`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Public organization name, e.g. `Aignostics GmbH`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub display_name: Option<String>,
    /// HMAC access key id for the Aignostics-provided bucket.
    pub aignostics_bucket_hmac_access_key_id: String,
    /// HMAC secret access key paired with the access key id; keep it secure.
    pub aignostics_bucket_hmac_secret_access_key: String,
    /// Name of the Aignostics-provided bucket for input artifacts.
    pub aignostics_bucket_name: String,
    /// URL scheme of the bucket, e.g. `gs`.
    pub aignostics_bucket_protocol: String,
    /// Token for sending logs and metrics to Aignostics' Logfire.
    pub aignostics_logfire_token: String,
    /// Sentry DSN for reporting errors to Aignostics.
    pub aignostics_sentry_dsn: String,
}

impl fmt::Debug for OrganizationReadResponse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const REDACTED: &str = "<redacted>";
        f.debug_struct("OrganizationReadResponse")
            .field("id", &self.id)
            .field("name", &self.name)
            .field("display_name", &self.display_name)
            .field(
                "aignostics_bucket_hmac_access_key_id",
                &self.aignostics_bucket_hmac_access_key_id,
            )
            .field("aignostics_bucket_hmac_secret_access_key", &REDACTED)
            .field("aignostics_bucket_name", &self.aignostics_bucket_name)
            .field(
                "aignostics_bucket_protocol",
                &self.aignostics_bucket_protocol,
            )
            .field("aignostics_logfire_token", &REDACTED)
            .field("aignostics_sentry_dsn", &REDACTED)
            .finish()
    }
}
