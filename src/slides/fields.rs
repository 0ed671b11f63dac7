//! The metadata fields an application version's input schema declares, and the ones a set of
//! rows leaves out: what `versions show` lists and what a submission warns about before a
//! billed run.

use serde::Serialize;
use serde_json::Value;

use super::MetadataRow;

/// One field of an input artifact's metadata, as the version's JSON Schema declares it.
///
/// ```
/// let schema = serde_json::json!({
///     "type": "object",
///     "required": ["specimen"],
///     "properties": {
///         "specimen": {
///             "type": "object",
///             "required": ["tissue"],
///             "properties": {
///                 "tissue": {"type": "string", "enum": ["LUNG", "LIVER"]},
///                 "disease": {"type": "string"}
///             }
///         }
///     }
/// });
/// let fields = aignostics::slides::metadata_fields(&schema);
/// let tissue = fields.iter().find(|f| f.path == "specimen.tissue").unwrap();
/// assert!(tissue.required);
/// assert_eq!(tissue.allowed, ["LUNG", "LIVER"]);
/// ```
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct MetadataField {
    /// The field's path, nested names joined by `.` (e.g. `specimen.tissue`).
    pub path: String,
    /// Its JSON type(s), e.g. `string` or `integer` (empty when the schema gives none).
    pub kind: String,
    /// Whether the schema requires it (and every object around it).
    pub required: bool,
    /// The values allowed (`enum` or `const`), as text; empty for any value of the type.
    pub allowed: Vec<String>,
    /// The range of a number, e.g. `> 0, ≤ 10`; empty when unbounded.
    pub range: String,
}

/// Every field `schema` declares, depth first in the schema's order (nested objects' fields
/// follow the object; local `$ref`s to `#/$defs/…` or `#/definitions/…` are followed).
#[must_use]
pub fn metadata_fields(schema: &Value) -> Vec<MetadataField> {
    let mut out = Vec::new();
    walk(schema, schema, "", true, 0, &mut out);
    out
}

/// Nesting followed at most (a schema that refers to itself stops here).
const DEPTH: usize = 8;

fn walk(
    root: &Value,
    node: &Value,
    prefix: &str,
    required_here: bool,
    depth: usize,
    out: &mut Vec<MetadataField>,
) {
    let node = resolve(root, node);
    let Some(properties) = node.get("properties").and_then(Value::as_object) else {
        return;
    };
    let required: Vec<&str> = node
        .get("required")
        .and_then(Value::as_array)
        .map(|r| r.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    for (name, property) in properties {
        let property = resolve(root, property);
        let path = format!("{prefix}{name}");
        let is_required = required_here && required.contains(&name.as_str());
        out.push(MetadataField {
            path: path.clone(),
            kind: kind(property),
            required: is_required,
            allowed: allowed(property),
            range: range(property),
        });
        if depth < DEPTH {
            walk(
                root,
                property,
                &format!("{path}."),
                is_required,
                depth + 1,
                out,
            );
        }
    }
}

/// The node a local `$ref` points at (the node itself otherwise, or when the target is missing).
fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    let mut node = node;
    for _ in 0..DEPTH {
        let Some(target) = node
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix('#'))
            .and_then(|pointer| root.pointer(pointer))
        else {
            break;
        };
        node = target;
    }
    node
}

fn kind(property: &Value) -> String {
    match property.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(types)) => types
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" or "),
        _ => String::new(),
    }
}

fn allowed(property: &Value) -> Vec<String> {
    let text = |v: &Value| match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    if let Some(values) = property.get("enum").and_then(Value::as_array) {
        return values.iter().map(text).collect();
    }
    property.get("const").map(text).into_iter().collect()
}

fn range(property: &Value) -> String {
    let bound = |key: &str, sign: &str| {
        property
            .get(key)
            .and_then(Value::as_f64)
            .map(|n| format!("{sign} {n}"))
    };
    [
        bound("exclusiveMinimum", ">"),
        bound("minimum", "≥"),
        bound("exclusiveMaximum", "<"),
        bound("maximum", "≤"),
    ]
    .into_iter()
    .flatten()
    .collect::<Vec<_>>()
    .join(", ")
}

/// A field the version's schema declares, that a row could set (`staining_method`,
/// `specimen.tissue`, `specimen.disease`), and that some rows leave out: the run would go
/// without it. The schema does not require it (a required one fails the schema check), but the
/// application may still expect it (Atlas H&E-TME documents specimen tissue and disease as
/// required).
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct MissingField {
    /// The field, e.g. `specimen.tissue`.
    pub path: String,
    /// The `--mapping` key that sets it, e.g. `tissue`.
    pub mapping_key: &'static str,
    /// The external ids of the rows without it.
    pub items: Vec<String>,
    /// The values the schema allows, if it lists them.
    pub allowed: Vec<String>,
}

impl MissingField {
    /// A sentence naming the field, how many items lack it, the allowed values and the
    /// mapping rule that sets it.
    #[must_use]
    pub fn describe(&self) -> String {
        let values = if self.allowed.is_empty() {
            String::new()
        } else {
            format!(" (allowed: {})", self.allowed.join(", "))
        };
        let example = self.allowed.first().map_or("VALUE", String::as_str);
        let (count, verb) = match self.items.len() {
            1 => ("1 item".to_string(), "has"),
            n => (format!("{n} items"), "have"),
        };
        format!(
            "{count} ({}) {verb} no {}{values}, which the application version declares; \
             set it with --mapping '.*:{}={example}' or in the CSV",
            self.items
                .iter()
                .take(3)
                .cloned()
                .chain((self.items.len() > 3).then(|| "…".to_string()))
                .collect::<Vec<_>>()
                .join(", "),
            self.path,
            self.mapping_key,
        )
    }
}

/// A field a row can set: its path, its `--mapping` key, and whether a row has it.
type Settable = (&'static str, &'static str, fn(&MetadataRow) -> bool);

/// The fields `schema` declares that a row can set but some of `rows` leave out.
pub(crate) fn missing_fields(schema: &Value, rows: &[MetadataRow]) -> Vec<MissingField> {
    let declared = metadata_fields(schema);
    let settable: [Settable; 3] = [
        ("staining_method", "staining_method", |r| {
            r.staining_method.is_some()
        }),
        ("specimen.tissue", "tissue", |r| r.tissue.is_some()),
        ("specimen.disease", "disease", |r| r.disease.is_some()),
    ];
    settable
        .into_iter()
        .filter_map(|(path, mapping_key, has)| {
            let field = declared.iter().find(|f| f.path == path)?;
            let items: Vec<String> = rows
                .iter()
                .filter(|r| !has(r))
                .map(|r| r.external_id.clone())
                .collect();
            (!items.is_empty()).then(|| MissingField {
                path: path.to_string(),
                mapping_key,
                items,
                allowed: field.allowed.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    // Proves the walk follows nesting, local `$ref`s and `required` only through required
    // parents, and reads enums, consts, types and ranges. (FR-90)
    #[test]
    fn fields_of_a_schema() {
        let schema = json!({
            "$defs": {"Cancer": {"type": "object", "required": ["tissue"],
                "properties": {"tissue": {"enum": ["lung", "liver"]}, "type": {"const": "lung"}}}},
            "required": ["cancer", "base_mpp"],
            "properties": {
                "base_mpp": {"type": "number", "exclusiveMinimum": 0, "maximum": 10},
                "cancer": {"$ref": "#/$defs/Cancer"},
                "specimen": {"type": "object", "required": ["disease"],
                    "properties": {"disease": {"type": ["string", "null"]}}},
                "loop": {"$ref": "#"}
            }
        });
        let fields = metadata_fields(&schema);
        let get = |p: &str| fields.iter().find(|f| f.path == p).unwrap();
        assert_eq!(get("base_mpp").range, "> 0, ≤ 10");
        assert!(get("base_mpp").required);
        assert!(get("cancer.tissue").required);
        assert_eq!(get("cancer.tissue").allowed, ["lung", "liver"]);
        assert_eq!(get("cancer.type").allowed, ["lung"]);
        // Required inside an optional object: not required.
        assert!(!get("specimen.disease").required);
        assert_eq!(get("specimen.disease").kind, "string or null");
        // A schema referring to itself stops.
        assert!(fields.len() < 200);
    }

    // Proves the rows' gaps are found per settable field the schema declares, and only those.
    // (FR-90)
    #[test]
    fn missing_fields_of_rows() {
        let schema = json!({"properties": {
            "specimen": {"properties": {"tissue": {"enum": ["LUNG"]}, "disease": {}}},
        }});
        let rows = [
            MetadataRow {
                external_id: "a.svs".into(),
                tissue: Some("LUNG".into()),
                ..MetadataRow::default()
            },
            MetadataRow {
                external_id: "b.svs".into(),
                ..MetadataRow::default()
            },
        ];
        let missing = missing_fields(&schema, &rows);
        assert_eq!(missing.len(), 2, "{missing:?}");
        assert_eq!(missing[0].path, "specimen.tissue");
        assert_eq!(missing[0].items, ["b.svs"]);
        assert!(
            missing[0]
                .describe()
                .contains("1 item (b.svs) has no specimen.tissue (allowed: LUNG)"),
            "{}",
            missing[0].describe()
        );
        assert!(missing[0].describe().contains("--mapping '.*:tissue=LUNG'"));
        assert_eq!(missing[1].items, ["a.svs", "b.svs"]);
        // No staining_method in the schema: never reported.
        assert!(missing.iter().all(|m| m.path != "staining_method"));
    }
}
