//! Checks `aignostics::models` against the OpenAPI schemas in `../shared/reference/openapi.json`
//! and the fully populated examples in `tests/fixtures/models.json`.

use std::path::Path;

use aignostics::models::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value, json};

/// The `components.schemas` of the OpenAPI file, or `None` (with a loud note) when it is absent.
fn spec_schemas() -> Option<Map<String, Value>> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/openapi.json");
    let Ok(text) = std::fs::read_to_string(&path) else {
        eprintln!(
            "\n!!!!! NOTE: {} is absent: the OpenAPI coverage checks are SKIPPED !!!!!\n",
            path.display()
        );
        return None;
    };
    let spec: Value = serde_json::from_str(&text).expect("openapi.json is valid JSON");
    let schemas = spec["components"]["schemas"]
        .as_object()
        .expect("openapi.json has components.schemas")
        .clone();
    Some(schemas)
}

/// Schema name -> fully populated example (a string for enums).
fn fixtures() -> Map<String, Value> {
    let text = include_str!("fixtures/models.json");
    serde_json::from_str(text).expect("tests/fixtures/models.json is a JSON object")
}

fn fixture(name: &str) -> Value {
    fixtures()
        .remove(name)
        .unwrap_or_else(|| panic!("no fixture for {name}"))
}

fn roundtrip<T: Serialize + DeserializeOwned>(value: &Value) -> Result<Value, String> {
    let decoded: T = serde_json::from_value(value.clone()).map_err(|e| format!("decode: {e}"))?;
    serde_json::to_value(&decoded).map_err(|e| format!("encode: {e}"))
}

macro_rules! model_table {
    (objects: [$($object:ident),+ $(,)?], enums: [$($enum:ident),+ $(,)?] $(,)?) => {
        /// Decodes `value` as the Rust type named `name` and re-encodes it; `None` if no such type.
        fn roundtrip_named(name: &str, value: &Value) -> Option<Result<Value, String>> {
            match name {
                $(stringify!($object) => Some(roundtrip::<$object>(value)),)+
                $(stringify!($enum) => Some(roundtrip::<$enum>(value)),)+
                _ => None,
            }
        }

        /// For an enum type named `name`: whether `wire` is one of its known variants.
        fn enum_knows(name: &str, wire: &str) -> Option<bool> {
            match name {
                $(stringify!($enum) => Some(!$enum::from(wire).is_unknown()),)+
                _ => None,
            }
        }

        const TABLE_SIZE: usize = [$(stringify!($object),)+ $(stringify!($enum),)+].len();
    };
}

model_table! {
    objects: [
        ApplicationReadResponse, ApplicationReadShortResponse, ApplicationVersion,
        CustomMetadataUpdateRequest, CustomMetadataUpdateResponse, GrantCreateRequest,
        GrantReadResponse, HTTPValidationError, InputArtifact, InputArtifactCreationRequest,
        InputArtifactResultReadResponse, ItemCreationRequest, ItemResultReadResponse,
        MeReadResponse, OrganizationReadResponse, OutputArtifact, OutputArtifactResultReadResponse,
        RunCreationRequest, RunCreationResponse, RunItemStatistics, RunReadResponse,
        SchedulingRequest, SchedulingResponse, ShareTokenCreateRequest, ShareTokenCreateResponse,
        ShareTokenReadResponse, UserReadResponse, ValidationError, VersionDocumentResponse,
        VersionReadResponse,
    ],
    enums: [
        ArtifactOutput, ArtifactState, ArtifactTerminationReason, GrantRelation, ItemOutput,
        ItemState, ItemTerminationReason, OutputArtifactScope, OutputArtifactVisibility,
        ResourceType, RunOutput, RunState, RunTerminationReason, SubjectType,
        VersionDocumentVisibility,
    ],
}

fn is_enum(schema: &Value) -> bool {
    schema.get("enum").is_some()
}

fn properties(schema: &Value) -> Map<String, Value> {
    schema["properties"]
        .as_object()
        .cloned()
        .unwrap_or_default()
}

fn required(schema: &Value) -> Vec<String> {
    schema["required"]
        .as_array()
        .map(|names| {
            names
                .iter()
                .filter_map(|n| n.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn is_nullable(property: &Value) -> bool {
    property["anyOf"]
        .as_array()
        .is_some_and(|alternatives| alternatives.iter().any(|a| a["type"] == "null"))
}

// Every schema has a Rust type of the same name, and every property of every object schema has a
// field of the same wire name: each fully populated fixture decodes and re-encodes to itself. (FR-21)
#[test]
fn every_schema_has_a_type_with_every_property() {
    let Some(schemas) = spec_schemas() else {
        return;
    };
    let fixtures = fixtures();
    assert_eq!(schemas.len(), 45, "the reference defines 45 schemas");
    assert_eq!(TABLE_SIZE, schemas.len(), "one table entry per schema");

    let mut failures = Vec::new();
    for name in fixtures.keys() {
        if !schemas.contains_key(name) {
            failures.push(format!("fixture {name} names no schema"));
        }
    }
    for (name, schema) in &schemas {
        let Some(example) = fixtures.get(name) else {
            failures.push(format!("{name}: no fixture"));
            continue;
        };
        if is_enum(schema) {
            let values = schema["enum"].as_array().cloned().unwrap_or_default();
            if !values.contains(example) {
                failures.push(format!("{name}: fixture {example} is not an enum value"));
            }
            if enum_knows(name, "").is_none() {
                failures.push(format!(
                    "{name}: is an enum schema but not in the enum table"
                ));
            }
        } else {
            let Some(object) = example.as_object() else {
                failures.push(format!("{name}: fixture is not an object"));
                continue;
            };
            let props = properties(schema);
            for property in props.keys() {
                if !object.contains_key(property) {
                    failures.push(format!("{name}: fixture lacks property {property}"));
                }
            }
            for key in object.keys() {
                if !props.contains_key(key) {
                    failures.push(format!(
                        "{name}: fixture key {key} is not a schema property"
                    ));
                }
            }
            if enum_knows(name, "").is_some() {
                failures.push(format!("{name}: is an object schema but in the enum table"));
            }
        }
        match roundtrip_named(name, example) {
            None => failures.push(format!("{name}: no Rust type of this name in the table")),
            Some(Err(e)) => failures.push(format!("{name}: {e}")),
            Some(Ok(encoded)) if &encoded != example => failures.push(format!(
                "{name}: re-encoded JSON differs\n  fixture: {example}\n  encoded: {encoded}"
            )),
            Some(Ok(_)) => {}
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// Every wire value of every enum schema decodes into a known variant and re-encodes unchanged. (FR-21)
#[test]
fn every_enum_wire_value_is_a_known_variant() {
    let Some(schemas) = spec_schemas() else {
        return;
    };
    let mut failures = Vec::new();
    for (name, schema) in schemas.iter().filter(|(_, s)| is_enum(s)) {
        for value in schema["enum"].as_array().into_iter().flatten() {
            let wire = value.as_str().expect("string enum");
            if enum_knows(name, wire) != Some(true) {
                failures.push(format!("{name}: {wire:?} is not a known variant"));
            }
            match roundtrip_named(name, value) {
                Some(Ok(encoded)) if &encoded == value => {}
                other => failures.push(format!("{name}: {wire:?} round-trips to {other:?}")),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

// Unknown enum values (including wrong case) decode into `Unknown` and re-encode unchanged,
// standalone and inside a response. (FR-21)
#[test]
fn unknown_enum_values_decode_into_unknown_and_reencode_unchanged() {
    let state: ItemState = serde_json::from_value(json!("PAUSED")).expect("decodes");
    assert_eq!(state, ItemState::Unknown("PAUSED".into()));
    assert!(state.is_unknown());
    assert_eq!(state.as_str(), "PAUSED");
    assert_eq!(state.to_string(), "PAUSED");
    assert_eq!(
        serde_json::to_value(&state).expect("encodes"),
        json!("PAUSED")
    );

    let relation: GrantRelation = serde_json::from_value(json!("Viewer")).expect("decodes");
    assert_eq!(relation, GrantRelation::Unknown("Viewer".into()));

    let mut run = fixture("RunReadResponse");
    run["state"] = json!("ARCHIVED");
    run["termination_reason"] = json!("CANCELED_BY_POLICY");
    run["output"] = json!("SOME");
    let decoded: RunReadResponse = serde_json::from_value(run.clone()).expect("decodes");
    assert_eq!(decoded.state, RunState::Unknown("ARCHIVED".into()));
    assert_eq!(
        decoded.termination_reason,
        Some(RunTerminationReason::Unknown("CANCELED_BY_POLICY".into()))
    );
    assert_eq!(serde_json::to_value(&decoded).expect("encodes"), run);
}

// Known enum values convert to and from their exact, case-sensitive wire strings. (FR-21)
#[test]
fn enum_conversions_use_the_wire_strings() {
    assert_eq!(SubjectType::ShareToken.as_str(), "share_token");
    assert_eq!(ResourceType::OutputArtifact.to_string(), "output_artifact");
    assert_eq!(GrantRelation::Viewer.as_str(), "viewer");
    assert_eq!(
        RunTerminationReason::AllItemsProcessed.as_str(),
        "ALL_ITEMS_PROCESSED"
    );
    assert_eq!(ItemState::from("TERMINATED"), ItemState::Terminated);
    assert_eq!(
        "organization_admin".parse::<SubjectType>(),
        Ok(SubjectType::OrganizationAdmin)
    );
    assert_eq!(
        ArtifactOutput::from(String::from("DELETED_BY_SYSTEM")),
        ArtifactOutput::DeletedBySystem
    );
    assert_eq!(
        serde_json::to_value(VersionDocumentVisibility::Public).expect("encodes"),
        json!("public")
    );
}

// Unknown extra fields in a response are ignored, at the top level and in nested objects. (FR-21)
#[test]
fn unknown_fields_are_ignored() {
    let expected = fixture("ItemResultReadResponse");
    let mut with_extras = expected.clone();
    with_extras["new_top_level_field"] = json!({"anything": [1, 2, 3]});
    with_extras["output_artifacts"][0]["new_nested_field"] = json!(true);
    let decoded: ItemResultReadResponse =
        serde_json::from_value(with_extras).expect("extra fields are ignored");
    assert_eq!(serde_json::to_value(&decoded).expect("encodes"), expected);

    let created: RunCreationResponse = serde_json::from_value(
        json!({"run_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6", "links": {"self": "/v1/runs/x"}}),
    )
    .expect("extra fields are ignored");
    assert_eq!(created.run_id, "3fa85f64-5717-4562-b3fc-2c963f66afa6");
}

// Required-but-nullable properties round-trip `null` (kept as `null`), and optional properties
// that are absent stay absent, for every object schema. (FR-21)
#[test]
fn nullable_and_optional_properties_round_trip() {
    let Some(schemas) = spec_schemas() else {
        return;
    };
    let fixtures = fixtures();
    let mut failures = Vec::new();
    let mut required_nullable = 0;
    for (name, schema) in schemas.iter().filter(|(_, s)| !is_enum(s)) {
        let Some(example) = fixtures.get(name).and_then(Value::as_object) else {
            failures.push(format!("{name}: no object fixture"));
            continue;
        };
        let required = required(schema);
        let mut nulled = example.clone();
        let mut minimal = example.clone();
        for (property, definition) in properties(schema) {
            let is_required = required.contains(&property);
            if is_required && is_nullable(&definition) {
                nulled.insert(property.clone(), Value::Null);
                required_nullable += 1;
            }
            if !is_required {
                minimal.remove(&property);
            }
        }
        for variant in [Value::Object(nulled), Value::Object(minimal)] {
            match roundtrip_named(name, &variant) {
                Some(Ok(encoded)) if encoded == variant => {}
                other => failures.push(format!("{name}: {variant} round-trips to {other:?}")),
            }
        }
    }
    assert!(
        required_nullable >= 5,
        "expected required-nullable properties"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let run = fixture("RunReadResponse");
    let mut pending = run.clone();
    pending["termination_reason"] = Value::Null;
    pending["error_code"] = Value::Null;
    let decoded: RunReadResponse = serde_json::from_value(pending).expect("decodes");
    assert_eq!(decoded.termination_reason, None);
    let encoded = serde_json::to_value(&decoded).expect("encodes");
    assert_eq!(encoded["termination_reason"], Value::Null);
    assert!(
        encoded
            .as_object()
            .is_some_and(|o| o.contains_key("error_code"))
    );
}

// The custom-metadata update distinguishes absent (key omitted), `null` (clear) and a value. (FR-31)
#[test]
fn custom_metadata_update_request_is_tri_state() {
    let absent = CustomMetadataUpdateRequest::default();
    let clear = CustomMetadataUpdateRequest::clear();
    let set = CustomMetadataUpdateRequest::set(json!({"study": "abc-1"}));
    assert_eq!(absent.custom_metadata, None);
    assert_eq!(clear.custom_metadata, Some(None));
    assert_eq!(set.custom_metadata, Some(Some(json!({"study": "abc-1"}))));

    let cases = [
        (absent, json!({})),
        (clear.clone(), json!({"custom_metadata": null})),
        (set, json!({"custom_metadata": {"study": "abc-1"}})),
        (
            clear.with_checksum("f54fe109"),
            json!({"custom_metadata": null, "custom_metadata_checksum": "f54fe109"}),
        ),
        (
            CustomMetadataUpdateRequest::new(Some(json!({}))),
            json!({"custom_metadata": {}}),
        ),
    ];
    for (request, expected) in cases {
        assert_eq!(serde_json::to_value(&request).expect("encodes"), expected);
        let decoded: CustomMetadataUpdateRequest =
            serde_json::from_value(expected.clone()).expect("decodes");
        assert_eq!(
            decoded, request,
            "decoding {expected} keeps the distinction"
        );
    }
}

// A wrong-typed or missing field gives a serde error, never a panic. (NFR-13)
#[test]
fn wrong_typed_fields_give_serde_errors() {
    let mut stats = fixture("RunItemStatistics");
    stats["item_count"] = json!("3");
    assert!(serde_json::from_value::<RunItemStatistics>(stats).is_err());

    let mut run = fixture("RunReadResponse");
    run["state"] = json!(7);
    assert!(serde_json::from_value::<RunReadResponse>(run).is_err());

    let mut run = fixture("RunReadResponse");
    run["statistics"] = Value::Null;
    assert!(serde_json::from_value::<RunReadResponse>(run).is_err());

    let mut item = fixture("ItemResultReadResponse");
    if let Some(object) = item.as_object_mut() {
        object.remove("item_id");
    }
    assert!(serde_json::from_value::<ItemResultReadResponse>(item).is_err());

    assert!(serde_json::from_value::<RunCreationResponse>(json!({"run_id": 5})).is_err());
    assert!(serde_json::from_value::<ItemState>(json!(null)).is_err());
    assert!(
        serde_json::from_value::<ValidationError>(json!({"loc": [true], "msg": "x", "type": "y"}))
            .is_err()
    );
    assert!(serde_json::from_str::<MeReadResponse>("{\"user\": ").is_err());
    assert!(serde_json::from_value::<HTTPValidationError>(json!({"detail": "Not found"})).is_err());
}

// Validation error locations mix field names and indices and join into a dotted path. (FR-17)
#[test]
fn validation_error_locations() {
    let error: HTTPValidationError =
        serde_json::from_value(fixture("HTTPValidationError")).expect("decodes");
    let first = &error.detail.expect("detail")[0];
    assert_eq!(
        first.loc,
        vec![
            LocationItem::Field("body".into()),
            LocationItem::Field("items".into()),
            LocationItem::Index(0),
            LocationItem::Field("external_id".into()),
        ]
    );
    assert_eq!(first.location(), "body.items.0.external_id");
    assert_eq!(first.error_type, "missing");
}

// The request builders produce the documented JSON bodies. (FR-21)
#[test]
fn request_builders_produce_the_expected_json() {
    let fixture_run = fixture("RunCreationRequest");
    let artifact = InputArtifactCreationRequest::new(
        "input_slide",
        "https://example-bucket.s3.amazonaws.com/slide1.tiff?signature=abc",
        fixture_run["items"][0]["input_artifacts"][0]["metadata"].clone(),
    );
    let item =
        ItemCreationRequest::new("slide_1", [artifact]).custom_metadata(json!({"case": "abc"}));
    let run = RunCreationRequest::new("he-tme", [item])
        .version_number("1.0.0")
        .custom_metadata(json!({"department": "D1", "study": "abc-1"}))
        .scheduling(
            SchedulingRequest::new()
                .due_date("2026-03-04T23:59:59Z")
                .deadline("2026-03-05T23:59:59Z"),
        )
        .callback_context(json!({"correlation_id": "batch-42"}));
    assert_eq!(serde_json::to_value(&run).expect("encodes"), fixture_run);

    let minimal = RunCreationRequest::new("he-tme", Vec::new())
        .item(ItemCreationRequest::new("slide_2", Vec::new()));
    assert_eq!(
        serde_json::to_value(&minimal).expect("encodes"),
        json!({"application_id": "he-tme", "items": [{"external_id": "slide_2", "input_artifacts": []}]})
    );

    let grant = GrantCreateRequest::new(
        ResourceType::Run,
        "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        SubjectType::ShareToken,
        GrantRelation::Viewer,
    )
    .subject_id("5d6e7f80-1a2b-4c3d-9e8f-0a1b2c3d4e5f");
    assert_eq!(
        serde_json::to_value(&grant).expect("encodes"),
        json!({
            "resource_type": "run",
            "resource_id": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
            "subject_type": "share_token",
            "subject_id": "5d6e7f80-1a2b-4c3d-9e8f-0a1b2c3d4e5f",
            "relation": "viewer"
        })
    );
    let by_email = GrantCreateRequest::new(
        ResourceType::Run,
        "3fa85f64-5717-4562-b3fc-2c963f66afa6",
        SubjectType::User,
        GrantRelation::Editor,
    )
    .subject_email("colleague@domain.com");
    assert_eq!(
        serde_json::to_value(&by_email).expect("encodes")["subject_email"],
        "colleague@domain.com"
    );

    assert_eq!(
        serde_json::to_value(ShareTokenCreateRequest::new()).expect("encodes"),
        json!({})
    );
    assert_eq!(
        serde_json::to_value(ShareTokenCreateRequest::default().expires_at("2026-01-01T00:00:00Z"))
            .expect("encodes"),
        fixture("ShareTokenCreateRequest")
    );
}

// `Debug` of responses that carry secrets never prints them. (NFR-05)
#[test]
fn debug_redacts_secrets() {
    let token: ShareTokenCreateResponse =
        serde_json::from_value(fixture("ShareTokenCreateResponse")).expect("decodes");
    let printed = format!("{token:?}");
    assert!(!printed.contains(&token.share_token), "{printed}");
    assert!(printed.contains(&token.share_token_id));

    let me: MeReadResponse = serde_json::from_value(fixture("MeReadResponse")).expect("decodes");
    let printed = format!("{me:?}");
    let org = &me.organization;
    for secret in [
        &org.aignostics_bucket_hmac_secret_access_key,
        &org.aignostics_logfire_token,
        &org.aignostics_sentry_dsn,
    ] {
        assert!(!printed.contains(secret.as_str()), "{printed}");
    }
    assert!(printed.contains("aignostics-platform-bucket"));
}
