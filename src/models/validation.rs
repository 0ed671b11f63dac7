//! Request validation errors: the body of a `422 Unprocessable Entity` answer.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Body of a 422 answer: `{"detail": [{loc, msg, type}, ...]}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HTTPValidationError {
    /// One entry per problem found in the request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detail: Option<Vec<ValidationError>>,
}

/// One problem found while validating a request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ValidationError {
    /// Where the problem is, e.g. `["body", "items", 0, "external_id"]`.
    pub loc: Vec<LocationItem>,
    /// Human-readable message.
    pub msg: String,
    /// Machine-readable error type, e.g. `missing` (wire name `type`).
    #[serde(rename = "type")]
    pub error_type: String,
    /// The offending input value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub input: Option<Value>,
    /// Extra context of the error (a JSON object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ctx: Option<Value>,
}

impl ValidationError {
    /// The location joined with dots, e.g. `body.items.0.external_id`.
    #[must_use]
    pub fn location(&self) -> String {
        self.loc
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(".")
    }
}

/// One segment of a [`ValidationError::loc`]: a field name or an array index.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum LocationItem {
    /// An array index.
    Index(i64),
    /// A field name (or `body`, `query`, `path`).
    Field(String),
}

impl fmt::Display for LocationItem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Index(index) => write!(f, "{index}"),
            Self::Field(field) => f.write_str(field),
        }
    }
}
