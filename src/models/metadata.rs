//! Custom metadata updates of runs and items.
//!
//! Used by `PUT /v1/runs/{run_id}/custom_metadata` and
//! `PUT /v1/runs/{run_id}/items/{external_id}/custom_metadata`.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Body of a custom metadata update.
///
/// `custom_metadata` is tri-state, because on the wire an absent field and `null` differ:
///
/// | value              | JSON sent                        | built with                       |
/// |--------------------|----------------------------------|----------------------------------|
/// | `None`             | field omitted                    | `CustomMetadataUpdateRequest::default()` |
/// | `Some(None)`       | `"custom_metadata": null` (clears) | [`clear`](Self::clear)         |
/// | `Some(Some(json))` | `"custom_metadata": {...}`       | [`set`](Self::set)               |
///
/// ```
/// use aignostics::models::CustomMetadataUpdateRequest;
/// use serde_json::json;
///
/// let set = CustomMetadataUpdateRequest::set(json!({"study": "abc-1"})).with_checksum("f54fe109");
/// assert_eq!(
///     serde_json::to_value(&set).unwrap(),
///     json!({"custom_metadata": {"study": "abc-1"}, "custom_metadata_checksum": "f54fe109"})
/// );
/// let clear = CustomMetadataUpdateRequest::clear();
/// assert_eq!(serde_json::to_value(&clear).unwrap(), json!({"custom_metadata": null}));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct CustomMetadataUpdateRequest {
    /// The new metadata: `None` omits the field, `Some(None)` sends `null` (clears the metadata),
    /// `Some(Some(json))` sets it to `json` (a JSON object).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "double_option::deserialize"
    )]
    pub custom_metadata: Option<Option<Value>>,
    /// Checksum of the metadata the caller last read; the update fails (412) if it changed since.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub custom_metadata_checksum: Option<String>,
}

impl CustomMetadataUpdateRequest {
    /// Sets the metadata when `Some`, clears it (sends `null`) when `None`.
    #[must_use]
    pub fn new(custom_metadata: Option<Value>) -> Self {
        Self {
            custom_metadata: Some(custom_metadata),
            custom_metadata_checksum: None,
        }
    }

    /// Replaces the metadata with `custom_metadata` (a JSON object).
    #[must_use]
    pub fn set(custom_metadata: Value) -> Self {
        Self::new(Some(custom_metadata))
    }

    /// Clears the metadata (sends `"custom_metadata": null`).
    #[must_use]
    pub fn clear() -> Self {
        Self::new(None)
    }

    /// Only applies the update if the current metadata still has this checksum.
    #[must_use]
    pub fn with_checksum(mut self, checksum: impl Into<String>) -> Self {
        self.custom_metadata_checksum = Some(checksum.into());
        self
    }
}

/// Response of a custom metadata update.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CustomMetadataUpdateResponse {
    /// Checksum of the updated metadata; `null` when the metadata was cleared.
    #[serde(default)]
    pub custom_metadata_checksum: Option<String>,
}

/// Decodes a present field into `Some(..)`, so that a present `null` becomes `Some(None)`;
/// `#[serde(default)]` turns an absent field into `None`.
mod double_option {
    use serde::{Deserialize, Deserializer};

    pub(super) fn deserialize<'de, T, D>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
    where
        T: Deserialize<'de>,
        D: Deserializer<'de>,
    {
        Option::<T>::deserialize(deserializer).map(Some)
    }
}
