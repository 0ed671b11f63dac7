//! Checks a run request against its application version before anything is posted.

use std::collections::{BTreeSet, HashMap};

#[cfg(feature = "validation")]
use serde_json::Value;

use crate::error::{Error, Result};
use crate::models::{RunCreationRequest, VersionReadResponse};

/// Most schema violations reported for one artifact.
#[cfg(feature = "validation")]
const MAX_REPORTED: usize = 5;

/// The longest `download_url` the API takes (its schema's `maxLength`).
pub(crate) const MAX_DOWNLOAD_URL_LEN: usize = 2083;

/// An input artifact's `download_url` fits the API: 1 to [`MAX_DOWNLOAD_URL_LEN`] characters.
pub(crate) fn check_download_url(external_id: &str, artifact: &str, url: &str) -> Result<()> {
    let len = url.chars().count();
    if (1..=MAX_DOWNLOAD_URL_LEN).contains(&len) {
        return Ok(());
    }
    Err(Error::InvalidInput(format!(
        "item {external_id:?}: the download_url of {artifact:?} has {len} characters; the \
         platform takes 1 to {MAX_DOWNLOAD_URL_LEN} (a signed URL grows with its object key: \
         use a shorter external id or key template)"
    )))
}

/// The checks that need no application version: at least one item, unique external ids,
/// download URLs the API takes.
pub(crate) fn check_items_shape(request: &RunCreationRequest) -> Result<()> {
    if request.items.is_empty() {
        return Err(Error::InvalidInput(
            "a run needs at least one item; the request has none".to_string(),
        ));
    }
    let mut seen: HashMap<&str, usize> = HashMap::new();
    for (index, item) in request.items.iter().enumerate() {
        if let Some(first) = seen.insert(item.external_id.as_str(), index) {
            return Err(Error::InvalidInput(format!(
                "item {:?}: external_id is not unique (items #{first} and #{index} share it)",
                item.external_id
            )));
        }
        for artifact in &item.input_artifacts {
            check_download_url(&item.external_id, &artifact.name, &artifact.download_url)?;
        }
    }
    Ok(())
}

/// Every check of [`Runs::validate`](crate::Runs::validate) against `version`.
pub(crate) fn validate_request(
    request: &RunCreationRequest,
    version: &VersionReadResponse,
) -> Result<()> {
    check_items_shape(request)?;
    let expected: BTreeSet<&str> = version
        .input_artifacts
        .iter()
        .map(|a| a.name.as_str())
        .collect();
    let expected_list = || {
        expected
            .iter()
            .map(|n| format!("{n:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let what = format!("{} {}", request.application_id, version.version_number);

    // Compiled lazily: only schemas of artifacts actually present are built, each once.
    #[cfg(feature = "validation")]
    let mut validators: HashMap<&str, Option<jsonschema::Validator>> = HashMap::new();

    for item in &request.items {
        let mut given: BTreeSet<&str> = BTreeSet::new();
        for artifact in &item.input_artifacts {
            if !expected.contains(artifact.name.as_str()) {
                return Err(Error::InvalidInput(format!(
                    "item {:?}: unknown input artifact {:?}; {what} expects {}",
                    item.external_id,
                    artifact.name,
                    expected_list()
                )));
            }
            if !given.insert(artifact.name.as_str()) {
                return Err(Error::InvalidInput(format!(
                    "item {:?}: input artifact {:?} is given more than once",
                    item.external_id, artifact.name
                )));
            }
        }
        let missing: Vec<String> = expected
            .difference(&given)
            .map(|n| format!("{n:?}"))
            .collect();
        if !missing.is_empty() {
            return Err(Error::InvalidInput(format!(
                "item {:?}: missing input artifact(s) {}; {what} expects {}",
                item.external_id,
                missing.join(", "),
                expected_list()
            )));
        }
        #[cfg(feature = "validation")]
        for artifact in &item.input_artifacts {
            let validator = validators
                .entry(artifact.name.as_str())
                .or_insert_with(|| compile(version, &artifact.name));
            let Some(validator) = validator else { continue };
            let problems: Vec<String> = validator
                .iter_errors(&artifact.metadata)
                .take(MAX_REPORTED)
                .map(|e| describe(&e))
                .collect();
            if !problems.is_empty() {
                return Err(Error::InvalidInput(format!(
                    "item {:?}, input artifact {:?}: metadata does not match the schema of {what}: {}",
                    item.external_id,
                    artifact.name,
                    problems.join("; ")
                )));
            }
        }
    }
    Ok(())
}

/// The validator of one input artifact's `metadata_schema`, or `None` (with a warning) when
/// the schema cannot be compiled here, e.g. because it refers to remote schemas.
#[cfg(feature = "validation")]
fn compile(version: &VersionReadResponse, name: &str) -> Option<jsonschema::Validator> {
    let schema: &Value = &version
        .input_artifacts
        .iter()
        .find(|a| a.name == name)?
        .metadata_schema;
    match jsonschema::validator_for(schema) {
        Ok(v) => Some(v),
        Err(e) => {
            log::warn!(
                "the metadata schema of input artifact {name:?} (version {}) cannot be compiled \
                 locally, so its metadata is not checked before submitting: {e}",
                version.version_number
            );
            None
        }
    }
}

/// `at /width_px: "12" is not of type "integer"`, with the JSON pointer of the failing value.
#[cfg(feature = "validation")]
fn describe(err: &jsonschema::ValidationError<'_>) -> String {
    let pointer = err.instance_path().as_str();
    let pointer = if pointer.is_empty() { "/" } else { pointer };
    let mut message = err.to_string();
    // The message quotes the offending value, which may be large.
    if message.chars().count() > 200 {
        message = message.chars().take(200).collect::<String>() + "…";
    }
    format!("at {pointer}: {message}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::models::{InputArtifactCreationRequest, ItemCreationRequest};
    use serde_json::Value;
    use serde_json::json;

    fn version() -> VersionReadResponse {
        serde_json::from_value(json!({
            "version_number": "1.0.0",
            "changelog": "",
            "released_at": "2025-01-01T00:00:00Z",
            "output_artifacts": [],
            "input_artifacts": [{
                "name": "whole_slide_image",
                "mime_type": "image/tiff",
                "metadata_schema": {
                    "$schema": "http://json-schema.org/draft-07/schema#",
                    "type": "object",
                    "required": ["checksum_base64_crc32c", "width_px"],
                    "properties": {
                        "checksum_base64_crc32c": {"type": "string"},
                        "width_px": {"type": "integer"},
                        "specimen": {
                            "type": "object",
                            "properties": {"tissue": {"type": "string"}}
                        }
                    }
                }
            }]
        }))
        .unwrap()
    }

    fn request(metadata: Value) -> RunCreationRequest {
        RunCreationRequest::new(
            "he-tme",
            [ItemCreationRequest::new(
                "slide-1",
                [InputArtifactCreationRequest::new(
                    "whole_slide_image",
                    "https://example.com/s.tiff",
                    metadata,
                )],
            )],
        )
    }

    // Proves valid metadata passes. (FR-26)
    #[test]
    fn valid_request_passes() {
        validate_request(
            &request(json!({"checksum_base64_crc32c": "AAAAAA==", "width_px": 3})),
            &version(),
        )
        .unwrap();
    }

    // Proves a nested type error names the item, the artifact and the JSON pointer. (FR-26)
    #[cfg(feature = "validation")]
    #[test]
    fn nested_error_names_pointer() {
        let err = validate_request(
            &request(
                json!({"checksum_base64_crc32c": "A", "width_px": 3, "specimen": {"tissue": 7}}),
            ),
            &version(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("\"slide-1\""), "{err}");
        assert!(err.contains("\"whole_slide_image\""), "{err}");
        assert!(err.contains("/specimen/tissue"), "{err}");
    }

    // Proves a missing required field is reported against the artifact's metadata. (FR-26)
    #[cfg(feature = "validation")]
    #[test]
    fn missing_required_field_is_named() {
        let err = validate_request(&request(json!({"checksum_base64_crc32c": "A"})), &version())
            .unwrap_err()
            .to_string();
        assert!(err.contains("width_px"), "{err}");
    }

    // Proves an uncompilable schema is skipped rather than blocking the submission. (FR-26)
    #[cfg(feature = "validation")]
    #[test]
    fn uncompilable_schema_is_skipped() {
        let mut v = version();
        v.input_artifacts[0].metadata_schema = json!({"$ref": "https://example.com/remote.json"});
        validate_request(&request(json!({"anything": true})), &v).unwrap();
    }

    // Proves an artifact given twice in one item is refused. (FR-26)
    #[test]
    fn artifact_twice_is_refused() {
        let mut r = request(json!({"checksum_base64_crc32c": "A", "width_px": 1}));
        let a = r.items[0].input_artifacts[0].clone();
        r.items[0].input_artifacts.push(a);
        let err = validate_request(&r, &version()).unwrap_err().to_string();
        assert!(err.contains("more than once"), "{err}");
    }
}
