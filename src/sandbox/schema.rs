//! A small JSON Schema checker for input-artifact metadata.
//!
//! Covers the keywords the sandbox catalog uses: `type` (one or a list), `required`,
//! `properties`, `additionalProperties` (boolean or schema), `enum`, `const`, `minimum`,
//! `maximum`, `exclusiveMinimum`, `exclusiveMaximum` (numbers), `minLength`, `maxLength`,
//! `items`, `minItems`, `maxItems`. Other keywords (`pattern`, `format`, `$ref`, ...) are
//! ignored, so a custom catalog using them is checked less strictly, never rejected wrongly.

use serde_json::Value;

/// The first problem found in `value`, as `location: message` (e.g. `width_px: 'abc' is not
/// of type 'integer'`), or `None` when the value satisfies the schema.
pub(crate) fn first_error(schema: &Value, value: &Value) -> Option<String> {
    let mut path = Vec::new();
    check(schema, value, &mut path).err()
}

fn at(path: &[String], message: String) -> String {
    if path.is_empty() {
        message
    } else {
        format!("{}: {message}", path.join("."))
    }
}

fn type_matches(name: &str, value: &Value) -> bool {
    match name {
        "object" => value.is_object(),
        "array" => value.is_array(),
        "string" => value.is_string(),
        "boolean" => value.is_boolean(),
        "null" => value.is_null(),
        "number" => value.is_number(),
        "integer" => {
            value.is_i64() || value.is_u64() || value.as_f64().is_some_and(|f| f.fract() == 0.0)
        }
        _ => true,
    }
}

fn check(schema: &Value, value: &Value, path: &mut Vec<String>) -> Result<(), String> {
    let Some(schema) = schema.as_object() else {
        // `true` accepts everything, `false` nothing.
        return match schema {
            Value::Bool(false) => Err(at(path, "no value is allowed here".into())),
            _ => Ok(()),
        };
    };
    if let Some(t) = schema.get("type") {
        let names: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(list) => list.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        if !names.is_empty() && !names.iter().any(|n| type_matches(n, value)) {
            return Err(at(
                path,
                format!("{value} is not of type '{}'", names.join("', '")),
            ));
        }
    }
    if let Some(Value::Array(options)) = schema.get("enum") {
        if !options.contains(value) {
            let list: Vec<String> = options.iter().map(Value::to_string).collect();
            return Err(at(
                path,
                format!("{value} is not one of [{}]", list.join(", ")),
            ));
        }
    }
    if let Some(expected) = schema.get("const") {
        if expected != value {
            return Err(at(path, format!("{expected} was expected")));
        }
    }
    if let Some(n) = value.as_f64() {
        let bound = |k: &str| schema.get(k).and_then(Value::as_f64);
        if let Some(min) = bound("minimum").filter(|m| n < *m) {
            return Err(at(
                path,
                format!("{value} is less than the minimum of {min}"),
            ));
        }
        if let Some(max) = bound("maximum").filter(|m| n > *m) {
            return Err(at(
                path,
                format!("{value} is greater than the maximum of {max}"),
            ));
        }
        if let Some(min) = bound("exclusiveMinimum").filter(|m| n <= *m) {
            return Err(at(
                path,
                format!("{value} is less than or equal to the minimum of {min}"),
            ));
        }
        if let Some(max) = bound("exclusiveMaximum").filter(|m| n >= *m) {
            return Err(at(
                path,
                format!("{value} is greater than or equal to the maximum of {max}"),
            ));
        }
    }
    if let Some(s) = value.as_str() {
        let len = s.chars().count() as u64;
        if let Some(min) = schema.get("minLength").and_then(Value::as_u64) {
            if len < min {
                return Err(at(path, format!("{value} is too short")));
            }
        }
        if let Some(max) = schema.get("maxLength").and_then(Value::as_u64) {
            if len > max {
                return Err(at(path, format!("{value} is too long")));
            }
        }
    }
    if let Some(items) = value.as_array() {
        let len = items.len() as u64;
        if let Some(min) = schema.get("minItems").and_then(Value::as_u64) {
            if len < min {
                return Err(at(path, format!("{value} should be non-empty or longer")));
            }
        }
        if let Some(max) = schema.get("maxItems").and_then(Value::as_u64) {
            if len > max {
                return Err(at(path, format!("{value} is too long")));
            }
        }
        if let Some(item_schema) = schema.get("items") {
            for (i, item) in items.iter().enumerate() {
                path.push(i.to_string());
                check(item_schema, item, path)?;
                path.pop();
            }
        }
    }
    if let Some(object) = value.as_object() {
        if let Some(Value::Array(required)) = schema.get("required") {
            for name in required.iter().filter_map(Value::as_str) {
                if !object.contains_key(name) {
                    return Err(at(path, format!("'{name}' is a required property")));
                }
            }
        }
        let properties = schema.get("properties").and_then(Value::as_object);
        for (key, v) in object {
            let sub = properties.and_then(|p| p.get(key));
            let sub = match (sub, schema.get("additionalProperties")) {
                (Some(s), _) => s,
                (None, Some(Value::Bool(false))) => {
                    return Err(at(
                        path,
                        format!("additional property '{key}' is not allowed"),
                    ));
                }
                (None, Some(s)) => s,
                (None, None) => continue,
            };
            path.push(key.clone());
            check(sub, v, path)?;
            path.pop();
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Proves each supported keyword rejects what it should and names the field.
    #[test]
    fn keywords() {
        let schema = json!({
            "type": "object",
            "required": ["w", "kind"],
            "properties": {
                "w": {"type": "integer", "minimum": 1},
                "mpp": {"type": "number", "exclusiveMinimum": 0},
                "kind": {"type": "string", "enum": ["a", "b"]},
                "tags": {"type": "array", "items": {"type": "string", "maxLength": 3}},
            },
            "additionalProperties": true,
        });
        assert_eq!(first_error(&schema, &json!({"w": 1, "kind": "a"})), None);
        let err = |v: Value| first_error(&schema, &v).unwrap();
        assert!(err(json!({"kind": "a"})).contains("'w' is a required property"));
        assert!(err(json!({"w": "1", "kind": "a"})).starts_with("w: "));
        assert!(err(json!({"w": 0, "kind": "a"})).contains("minimum"));
        assert!(err(json!({"w": 1, "kind": "c"})).contains("is not one of"));
        assert!(err(json!({"w": 1, "kind": "a", "mpp": 0})).starts_with("mpp: "));
        assert!(err(json!({"w": 1, "kind": "a", "tags": ["ok", "long"]})).starts_with("tags.1: "));
        assert!(err(json!([1])).contains("is not of type 'object'"));
        let closed = json!({"type": "object", "additionalProperties": false});
        assert!(first_error(&closed, &json!({"x": 1})).is_some());
    }
}
