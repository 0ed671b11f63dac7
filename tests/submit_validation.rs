//! `Runs::submit` validates requests against the application version before posting, and
//! posts at most once.

mod common;

use aignostics::Error;
use aignostics::models::*;
use common::*;
use httpmock::prelude::*;
use serde_json::{Value, json};

/// Metadata valid against the fixture version's `whole_slide_image` schema.
fn good_metadata() -> Value {
    json!({
        "checksum_base64_crc32c": "64RKKA==", "resolution_mpp": 0.25,
        "width_px": 136223, "height_px": 87761
    })
}

fn slide(external_id: &str, metadata: Value) -> ItemCreationRequest {
    ItemCreationRequest::new(
        external_id,
        [InputArtifactCreationRequest::new(
            "whole_slide_image",
            format!("https://storage.example.com/{external_id}.tiff"),
            metadata,
        )],
    )
}

struct Platform {
    server: MockServer,
}

impl Platform {
    fn start() -> Self {
        Self {
            server: MockServer::start(),
        }
    }

    /// `GET …/versions/1.0.0` answered with the fixture version.
    fn version(&self) -> httpmock::Mock<'_> {
        self.server.mock(|when, then| {
            when.method(GET)
                .path("/api/v1/applications/he-tme/versions/1.0.0");
            then.status(200).json_body(fixture("VersionReadResponse"));
        })
    }

    /// `POST /v1/runs` answered with `status`.
    fn post(&self, status: u16) -> httpmock::Mock<'_> {
        self.server.mock(|when, then| {
            when.method(POST).path("/api/v1/runs");
            then.status(status).json_body(json!({"run_id": RUN_ID}));
        })
    }
}

/// Submits `request` and returns the `InvalidInput` message, asserting nothing was posted.
fn rejected(label: &str, request: RunCreationRequest) -> String {
    let platform = Platform::start();
    let (client, _) = client(&platform.server, label);
    let _version = platform.version();
    let post = platform.post(201);
    let err = client.runs().submit(request).unwrap_err();
    post.assert_calls(0);
    match err {
        Error::InvalidInput(message) => message,
        other => panic!("expected InvalidInput, got {other:?}"),
    }
}

#[test]
fn duplicate_external_ids_are_rejected() {
    // Proves two items with one external id fail before any request, naming the id. (FR-26)
    let request = RunCreationRequest::new(
        "he-tme",
        [
            slide("slide-1", good_metadata()),
            slide("slide-1", good_metadata()),
        ],
    )
    .version_number("1.0.0");
    let message = rejected("sv-dup", request);
    assert!(
        message.contains("\"slide-1\"") && message.contains("not unique"),
        "{message}"
    );
}

#[test]
fn unknown_artifact_is_rejected() {
    // Proves an artifact the version does not declare fails, naming item, artifact and the expected names. (FR-26)
    let mut item = slide("slide-1", good_metadata());
    item.input_artifacts.push(InputArtifactCreationRequest::new(
        "mask",
        "https://storage.example.com/mask.tiff",
        json!({}),
    ));
    let message = rejected(
        "sv-unknown",
        RunCreationRequest::new("he-tme", [item]).version_number("1.0.0"),
    );
    assert!(message.contains("\"slide-1\""), "{message}");
    assert!(
        message.contains("unknown input artifact \"mask\""),
        "{message}"
    );
    assert!(message.contains("\"whole_slide_image\""), "{message}");
}

#[test]
fn missing_artifact_is_rejected() {
    // Proves an item without a declared artifact fails, naming the item and the missing artifact. (FR-26)
    let item = ItemCreationRequest::new("slide-2", []);
    let message = rejected(
        "sv-missing",
        RunCreationRequest::new("he-tme", [slide("slide-1", good_metadata()), item])
            .version_number("1.0.0"),
    );
    assert!(message.contains("\"slide-2\""), "{message}");
    assert!(
        message.contains("missing input artifact(s) \"whole_slide_image\""),
        "{message}"
    );
}

#[test]
fn metadata_of_the_wrong_type_is_rejected() {
    // Proves metadata failing the artifact's schema fails, naming item, artifact and the JSON pointer. (FR-26)
    let mut metadata = good_metadata();
    metadata["width_px"] = json!("wide");
    let message = rejected(
        "sv-type",
        RunCreationRequest::new("he-tme", [slide("slide-7", metadata)]).version_number("1.0.0"),
    );
    assert!(message.contains("\"slide-7\""), "{message}");
    assert!(message.contains("\"whole_slide_image\""), "{message}");
    assert!(message.contains("/width_px"), "{message}");
    assert!(message.contains("integer"), "{message}");
}

#[test]
fn missing_required_metadata_field_is_rejected() {
    // Proves a metadata object without a required field fails, naming that field. (FR-26)
    let mut metadata = good_metadata();
    metadata
        .as_object_mut()
        .unwrap()
        .remove("checksum_base64_crc32c");
    let message = rejected(
        "sv-required",
        RunCreationRequest::new("he-tme", [slide("slide-1", metadata)]).version_number("1.0.0"),
    );
    assert!(message.contains("checksum_base64_crc32c"), "{message}");
}

#[test]
fn empty_request_and_bad_version_make_no_request_at_all() {
    // Proves an empty item list and a non-semver version fail before even the version is read. (FR-26)
    let platform = Platform::start();
    let (client, _) = client(&platform.server, "sv-empty");
    let version = platform.version();
    let post = platform.post(201);
    let err = client
        .runs()
        .submit(RunCreationRequest::new("he-tme", []).version_number("1.0.0"))
        .unwrap_err();
    assert!(err.to_string().contains("at least one item"), "{err}");
    let err = client
        .runs()
        .submit(
            RunCreationRequest::new("he-tme", [slide("s", good_metadata())]).version_number("v1"),
        )
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
    version.assert_calls(0);
    post.assert_calls(0);
}

#[test]
fn valid_request_is_posted_once_and_latest_version_is_used_when_unnamed() {
    // Proves a request without a version is validated against the latest version and posted once. (FR-26, FR-24)
    let platform = Platform::start();
    let (client, _) = client(&platform.server, "sv-latest");
    let app = platform.server.mock(|when, then| {
        when.method(GET).path("/api/v1/applications/he-tme");
        then.status(200).json_body(json!({
            "application_id": "he-tme", "name": "Atlas H&E-TME", "regulatory_classes": [],
            "description": "",
            "versions": [
                {"number": "0.9.0", "released_at": "2025-01-01T00:00:00Z"},
                {"number": "1.0.0", "released_at": "2025-09-15T10:30:45.123Z"}
            ]
        }));
    });
    let version = platform.version();
    let post = platform.server.mock(|when, then| {
        when.method(POST).path("/api/v1/runs").is_true(|req| {
            let body: Value = serde_json::from_slice(req.body().as_ref()).unwrap_or_default();
            // The request is sent as given: no version pinned by the client.
            body.get("version_number").is_none() && body["items"][0]["external_id"] == "slide-1"
        });
        then.status(201).json_body(json!({"run_id": RUN_ID}));
    });
    let request = RunCreationRequest::new("he-tme", [slide("slide-1", good_metadata())]);
    client.runs().validate(&request).unwrap();
    let run = client.runs().submit(request).unwrap();
    assert_eq!(run.id(), RUN_ID);
    app.assert_calls(1);
    version.assert_calls(1);
    post.assert_calls(1);
}

#[test]
fn submit_is_not_retried_on_503() {
    // Proves a 503 answer to the POST is returned after exactly one call, although reads would retry 4 times. (FR-26, FR-15)
    let platform = Platform::start();
    let (client, _) = client_with(settings(&platform.server, 4), "sv-503");
    let _version = platform.version();
    let post = platform.post(503);
    let request = RunCreationRequest::new("he-tme", [slide("slide-1", good_metadata())])
        .version_number("1.0.0");
    let err = client.runs().submit(request).unwrap_err();
    assert_eq!(err.status(), Some(503));
    post.assert_calls(1);
}

#[test]
fn server_side_rejection_is_a_typed_error() {
    // Proves a 422 from the POST surfaces with its validation entries. (FR-26, FR-17)
    let platform = Platform::start();
    let (client, _) = client(&platform.server, "sv-422");
    let _version = platform.version();
    let post = platform.server.mock(|when, then| {
        when.method(POST).path("/api/v1/runs");
        then.status(422).json_body(fixture("HTTPValidationError"));
    });
    let request = RunCreationRequest::new("he-tme", [slide("slide-1", good_metadata())])
        .version_number("1.0.0");
    let err = client.runs().submit(request).unwrap_err();
    assert!(err.is_validation());
    let api = err.api_error().unwrap();
    assert_eq!(api.validation.len(), 1);
    assert_eq!(api.validation[0].msg, "Field required");
    post.assert_calls(1);
}

#[test]
fn submit_clears_the_users_cached_reads() {
    // Proves a successful submit invalidates the cache, so the next list goes to the server. (FR-13)
    let platform = Platform::start();
    let (client, _) = client(&platform.server, "sv-cache");
    let _version = platform.version();
    let _post = platform.post(201);
    let list = platform.server.mock(|when, then| {
        when.method(GET).path("/api/v1/runs");
        then.status(200).json_body(json!([]));
    });
    client.runs().list().iter().for_each(drop);
    client.runs().list().iter().for_each(drop);
    list.assert_calls(1);
    client
        .runs()
        .submit(
            RunCreationRequest::new("he-tme", [slide("s", good_metadata())])
                .version_number("1.0.0"),
        )
        .unwrap();
    client.runs().list().iter().for_each(drop);
    list.assert_calls(2);
}
