//! Canonical JSON and the custom-metadata checksum derived from it.

use serde_json::Value;
use sha2::{Digest, Sha256};

/// Checksum of custom metadata: the first 8 hex digits of SHA-256 of its canonical JSON.
pub(crate) fn metadata_checksum(value: &Value) -> String {
    let mut text = String::new();
    canonical_json(value, &mut text);
    let digest = Sha256::digest(text.as_bytes());
    crate::util::hex(&digest[..4])
}

/// JSON with object keys sorted at every level and no whitespace.
pub(crate) fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical_json(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the metadata checksum ignores key order and whitespace. (FR-44)
    #[test]
    fn checksum_is_canonical() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2], "x": null}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"x":null,"y":[1,2]},"b":1}"#).unwrap();
        assert_eq!(metadata_checksum(&a), metadata_checksum(&b));
        assert_eq!(metadata_checksum(&a).len(), 8);
        assert_ne!(
            metadata_checksum(&a),
            metadata_checksum(&serde_json::json!({"b": 2}))
        );
    }
}
