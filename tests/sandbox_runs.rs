//! Run lifecycle, artifacts, metadata, access control and the token endpoint of the sandbox.

mod sandbox_common;

use std::time::{Duration, Instant};

use aignostics::models::*;
use aignostics_sandbox::{self as sandbox, Sandbox, SandboxUser};
use sandbox_common::{fast_client, fresh_token, raw, raw_url, submit, wait_terminated};
use serde_json::{Value, json};

const ALICE: &str = sandbox::ALICE_TOKEN;
const BOB: &str = sandbox::BOB_TOKEN;

fn sandbox_with(processing: Duration) -> Sandbox {
    Sandbox::builder()
        .processing_time(processing)
        .artifact_size(300 * 1024)
        .start()
        .expect("sandbox")
}

fn run_path(run_id: &str, suffix: &str) -> String {
    format!("/api/v1/runs/{run_id}{suffix}")
}

// Proves a run goes PENDING -> PROCESSING -> TERMINATED in order, a `fail-` item ends with
// USER_ERROR and no artifacts, and statistics and output follow. (FR-44)
#[test]
fn run_progresses_through_states() {
    let sb = Sandbox::builder()
        .processing_time(Duration::from_secs(3))
        .pending_time(Duration::from_secs(1))
        .artifact_size(1024)
        .start()
        .unwrap();
    let started = Instant::now();
    let run_id = submit(
        &sb,
        ALICE,
        &RunCreationRequest::new(
            "he-tme",
            [
                sandbox::example_item("ok-1"),
                sandbox::example_item("fail-2"),
            ],
        ),
    );
    let mut states = Vec::new();
    let last = loop {
        let run: RunReadResponse =
            raw(&sb, "GET", &run_path(&run_id, ""), Some(ALICE), None).json();
        if states.last() != Some(&run.state) {
            states.push(run.state.clone());
        }
        if run.state == RunState::Terminated {
            break run;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "never terminated"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(
        states,
        [
            RunState::Pending,
            RunState::Processing,
            RunState::Terminated
        ]
    );
    assert!(
        started.elapsed() >= Duration::from_secs(3),
        "terminated too early"
    );
    assert_eq!(
        last.termination_reason,
        Some(RunTerminationReason::AllItemsProcessed)
    );
    assert_eq!(last.output, RunOutput::Partial);
    let s = &last.statistics;
    assert_eq!(
        (
            s.item_count,
            s.item_succeeded_count,
            s.item_user_error_count
        ),
        (2, 1, 1)
    );
    assert_eq!((s.item_pending_count, s.item_processing_count), (0, 0));
    assert!(last.terminated_at.is_some());

    let items: Vec<ItemResultReadResponse> = raw(
        &sb,
        "GET",
        &run_path(&run_id, "/items?sort=external_id"),
        Some(ALICE),
        None,
    )
    .json();
    let failed = &items[0];
    assert_eq!(failed.external_id, "fail-2");
    assert_eq!(
        failed.termination_reason,
        Some(ItemTerminationReason::UserError)
    );
    assert_eq!(failed.output, ItemOutput::None);
    assert!(failed.output_artifacts.is_empty());
    assert!(failed.error_message.is_some());
    let ok = &items[1];
    assert_eq!(
        ok.termination_reason,
        Some(ItemTerminationReason::Succeeded)
    );
    assert_eq!(ok.output, ItemOutput::Full);
    assert_eq!(ok.output_artifacts.len(), 3);
    for a in &ok.output_artifacts {
        assert_eq!(
            (a.state.clone(), a.output.clone()),
            (ArtifactState::Terminated, ArtifactOutput::Available)
        );
        assert!(a.metadata.as_ref().unwrap()["media_type"].is_string());
    }
    // Filters by state and termination reason.
    let done: Vec<ItemResultReadResponse> = raw(
        &sb,
        "GET",
        &run_path(
            &run_id,
            "/items?state=TERMINATED&termination_reason=SUCCEEDED",
        ),
        Some(ALICE),
        None,
    )
    .json();
    assert_eq!(done.len(), 1);
}

// Proves artifacts are served through the 307 with the CRC32C of their bytes in the metadata,
// with Range support, signature checks, and without needing (or receiving) the bearer token. (FR-44, NFR-07)
#[test]
fn artifacts_download_with_checksums_and_ranges() {
    let sb = sandbox_with(Duration::from_millis(200));
    let token = fresh_token(&sb, SandboxUser::alice());
    let run_id = submit(
        &sb,
        &token,
        &RunCreationRequest::new("he-tme", [sandbox::example_item("s1")]),
    );
    wait_terminated(&sb, &token, &run_id);
    let client = fast_client(&sb, &token, 1);
    let run = client.nocache().run(&run_id);
    let item = run.item("s1").unwrap();
    for artifact in &item.output_artifacts {
        let url = run
            .artifact(&artifact.output_artifact_id)
            .download_url()
            .unwrap();
        let full = raw_url("GET", &url, &[], None);
        assert_eq!(full.status, 200);
        assert_eq!(full.body.len(), 300 * 1024);
        let metadata = artifact.metadata.as_ref().unwrap();
        let crc = crc32c::crc32c(&full.body).to_be_bytes();
        // Base64 of the big-endian CRC32C, computed independently of the sandbox.
        let expected = {
            use base64::Engine;
            base64::engine::general_purpose::STANDARD.encode(crc)
        };
        assert_eq!(
            metadata["checksum_base64_crc32c"],
            json!(expected),
            "{}",
            artifact.name
        );
        assert_eq!(full.header("content-type"), metadata["media_type"].as_str());
        assert_eq!(full.header("accept-ranges"), Some("bytes"));

        let part = raw_url("GET", &url, &[("Range", "bytes=1000-1999")], None);
        assert_eq!(part.status, 206);
        assert_eq!(part.header("content-range"), Some("bytes 1000-1999/307200"));
        assert_eq!(part.body, full.body[1000..2000]);
        let tail = raw_url("GET", &url, &[("Range", "bytes=307000-")], None);
        assert_eq!(tail.status, 206);
        assert_eq!(tail.body, full.body[307_000..]);
        let beyond = raw_url("GET", &url, &[("Range", "bytes=307200-")], None);
        assert_eq!(beyond.status, 416);
        assert_eq!(beyond.header("content-range"), Some("bytes */307200"));
    }
    let url = run
        .artifact(&item.output_artifacts[0].output_artifact_id)
        .download_url()
        .unwrap();
    let tampered = url.replace("signature=", "signature=0");
    assert_eq!(raw_url("GET", &tampered, &[], None).status, 403);
    let unsigned = url.split('?').next().unwrap();
    assert_eq!(raw_url("GET", unsigned, &[], None).status, 403);
    assert_eq!(
        sb.storage_requests_with_authorization(),
        0,
        "the SDK never talks to storage"
    );
    // The counter does see a token sent to storage.
    raw_url("GET", &url, &[("Authorization", "Bearer leaked")], None);
    assert_eq!(sb.storage_requests_with_authorization(), 1);
}

// Proves deleting artifacts needs a terminated run, then files answer 410 and storage 404. (FR-44, FR-28)
#[test]
fn deleted_artifacts_are_gone() {
    let sb = sandbox_with(Duration::from_secs(2));
    let run_id = submit(
        &sb,
        ALICE,
        &RunCreationRequest::new("he-tme", [sandbox::example_item("s1")]),
    );
    let early = raw(
        &sb,
        "DELETE",
        &run_path(&run_id, "/artifacts"),
        Some(ALICE),
        None,
    );
    assert_eq!(early.status, 409, "not terminated yet");
    wait_terminated(&sb, ALICE, &run_id);
    let item: ItemResultReadResponse = raw(
        &sb,
        "GET",
        &run_path(&run_id, "/items/s1"),
        Some(ALICE),
        None,
    )
    .json();
    let file_path = run_path(
        &run_id,
        &format!(
            "/artifacts/{}/file",
            item.output_artifacts[0].output_artifact_id
        ),
    );
    let signed = raw(&sb, "GET", &file_path, Some(ALICE), None)
        .header("location")
        .unwrap()
        .to_string();
    assert_eq!(
        raw(
            &sb,
            "DELETE",
            &run_path(&run_id, "/artifacts"),
            Some(BOB),
            None
        )
        .status,
        403
    );
    assert_eq!(
        raw(
            &sb,
            "DELETE",
            &run_path(&run_id, "/artifacts"),
            Some(ALICE),
            None
        )
        .status,
        200
    );
    let r = raw(&sb, "GET", &file_path, Some(ALICE), None);
    assert_eq!(r.status, 410);
    assert!(!r.detail().is_empty());
    assert_eq!(
        raw_url("GET", &signed, &[], None).status,
        404,
        "storage object is gone"
    );
    let item: ItemResultReadResponse = raw(
        &sb,
        "GET",
        &run_path(&run_id, "/items/s1"),
        Some(ALICE),
        None,
    )
    .json();
    assert!(
        item.output_artifacts
            .iter()
            .all(|a| a.output == ArtifactOutput::DeletedByUser && a.metadata.is_none())
    );
    // Through the SDK the 410 is a "gone" error.
    let token = fresh_token(&sb, SandboxUser::alice());
    let err = fast_client(&sb, &token, 1)
        .run(&run_id)
        .artifact(&item.output_artifacts[0].output_artifact_id)
        .download_url()
        .unwrap_err();
    assert!(err.is_gone(), "{err}");
}

// Proves another user's run answers 403 (not 404) everywhere, and lists hide it. (FR-44)
#[test]
fn runs_are_private_to_their_submitter() {
    let sb = sandbox_with(Duration::from_millis(200));
    let run_id = submit(
        &sb,
        ALICE,
        &RunCreationRequest::new("he-tme", [sandbox::example_item("s1")]),
    );
    wait_terminated(&sb, ALICE, &run_id);
    let item: ItemResultReadResponse = raw(
        &sb,
        "GET",
        &run_path(&run_id, "/items/s1"),
        Some(ALICE),
        None,
    )
    .json();
    let artifact = &item.output_artifacts[0].output_artifact_id;
    for (method, suffix, body) in [
        ("GET", String::new(), None),
        ("GET", "/items".to_string(), None),
        ("GET", "/items/s1".to_string(), None),
        ("GET", format!("/artifacts/{artifact}/file"), None),
        ("POST", "/cancel".to_string(), None),
        (
            "PUT",
            "/custom-metadata".to_string(),
            Some(json!({"custom_metadata": null})),
        ),
        (
            "PUT",
            "/items/s1/custom-metadata".to_string(),
            Some(json!({"custom_metadata": null})),
        ),
        ("DELETE", "/artifacts".to_string(), None),
    ] {
        let r = raw(
            &sb,
            method,
            &run_path(&run_id, &suffix),
            Some(BOB),
            body.as_ref(),
        );
        assert_eq!(r.status, 403, "{method} {suffix}");
    }
    let bobs: Vec<RunReadResponse> = raw(&sb, "GET", "/api/v1/runs", Some(BOB), None).json();
    assert!(bobs.is_empty());
    let token = fresh_token(&sb, SandboxUser::bob());
    let err = fast_client(&sb, &token, 1)
        .run(&run_id)
        .details()
        .unwrap_err();
    assert!(err.is_forbidden(), "{err}");
}

// Proves a viewer grant to a share token lets another user read the run, its items and
// artifact files with `?share_token=`, but not change it, and revoking ends the access. (FR-44, FR-33)
#[test]
fn share_token_grants_read_access() {
    let sb = sandbox_with(Duration::from_millis(200));
    let run_id = submit(
        &sb,
        ALICE,
        &RunCreationRequest::new("he-tme", [sandbox::example_item("s1")]),
    );
    wait_terminated(&sb, ALICE, &run_id);
    let token: ShareTokenCreateResponse = raw(
        &sb,
        "POST",
        "/api/v1/access/share-tokens",
        Some(ALICE),
        Some(&json!({})),
    )
    .json();
    let secret = &token.share_token;
    assert!(
        !format!("{token:?}").contains(secret.as_str()),
        "Debug redacts the secret"
    );
    // Without a grant the token opens nothing.
    let q = format!("?share_token={secret}");
    assert_eq!(
        raw(&sb, "GET", &run_path(&run_id, &q), Some(BOB), None).status,
        403
    );

    let grant = |relation: &str| {
        raw(
            &sb,
            "POST",
            "/api/v1/access/grants",
            Some(ALICE),
            Some(&json!({
                "resource_type": "run", "resource_id": run_id, "subject_type": "share_token",
                "subject_id": token.share_token_id, "relation": relation,
            })),
        )
    };
    let owner = grant("owner");
    assert_eq!(owner.status, 422);
    assert_eq!(owner.detail(), "Only viewer grants can be created");
    let viewer = grant("viewer");
    assert_eq!(viewer.status, 201);
    let grant_id = viewer.json::<GrantReadResponse>().grant_id;
    // Bob cannot grant on Alice's run.
    let r = raw(
        &sb,
        "POST",
        "/api/v1/access/grants",
        Some(BOB),
        Some(&json!({
            "resource_type": "run", "resource_id": run_id, "subject_type": "share_token",
            "subject_id": token.share_token_id, "relation": "viewer",
        })),
    );
    assert_eq!(r.status, 403);

    let run: RunReadResponse = raw(&sb, "GET", &run_path(&run_id, &q), Some(BOB), None).json();
    assert_eq!(run.run_id, run_id);
    let items: Vec<ItemResultReadResponse> = raw(
        &sb,
        "GET",
        &run_path(&run_id, &format!("/items{q}")),
        Some(BOB),
        None,
    )
    .json();
    assert_eq!(items.len(), 1);
    let file = raw(
        &sb,
        "GET",
        &run_path(
            &run_id,
            &format!(
                "/artifacts/{}/file{q}",
                items[0].output_artifacts[0].output_artifact_id
            ),
        ),
        Some(BOB),
        None,
    );
    assert_eq!(file.status, 307);
    assert_eq!(
        raw_url("GET", file.header("location").unwrap(), &[], None).status,
        200
    );
    // Read-only: writes still need ownership.
    assert_eq!(
        raw(&sb, "POST", &run_path(&run_id, "/cancel"), Some(BOB), None).status,
        403
    );
    // Share tokens are listed with the run filter, and only to their creator.
    let listed: Vec<ShareTokenReadResponse> = raw(
        &sb,
        "GET",
        &format!("/api/v1/access/share-tokens?run_id={run_id}"),
        Some(ALICE),
        None,
    )
    .json();
    assert_eq!(listed.len(), 1);
    let bobs: Vec<ShareTokenReadResponse> =
        raw(&sb, "GET", "/api/v1/access/share-tokens", Some(BOB), None).json();
    assert!(bobs.is_empty());
    assert_eq!(
        raw(
            &sb,
            "GET",
            &format!("/api/v1/access/share-tokens/{}", token.share_token_id),
            Some(BOB),
            None
        )
        .status,
        403
    );

    // Through the SDK's share-token handle.
    let bob = fresh_token(&sb, SandboxUser::bob());
    let details = fast_client(&sb, &bob, 1)
        .run(&run_id)
        .with_share_token(secret.as_str())
        .details()
        .unwrap();
    assert_eq!(details.run_id, run_id);

    // Revoking the token (twice: 409) ends the access.
    let path = format!("/api/v1/access/share-tokens/{}", token.share_token_id);
    assert_eq!(raw(&sb, "DELETE", &path, Some(ALICE), None).status, 200);
    assert_eq!(raw(&sb, "DELETE", &path, Some(ALICE), None).status, 409);
    assert_eq!(
        raw(&sb, "GET", &run_path(&run_id, &q), Some(BOB), None).status,
        403
    );
    let grant_path = format!("/api/v1/access/grants/{grant_id}");
    assert_eq!(
        raw(&sb, "DELETE", &grant_path, Some(ALICE), None).status,
        200
    );
    assert_eq!(
        raw(&sb, "DELETE", &grant_path, Some(ALICE), None).status,
        409
    );
}

// Proves a viewer grant to a user by email opens the run to that user without a share token. (FR-44, FR-32)
#[test]
fn user_grants_open_runs() {
    let sb = sandbox_with(Duration::from_millis(200));
    let run_id = submit(
        &sb,
        ALICE,
        &RunCreationRequest::new("test-app", [sandbox::example_item("s1")]),
    );
    assert_eq!(
        raw(&sb, "GET", &run_path(&run_id, ""), Some(BOB), None).status,
        403
    );
    let r = raw(
        &sb,
        "POST",
        "/api/v1/access/grants",
        Some(ALICE),
        Some(&json!({
            "resource_type": "run", "resource_id": run_id, "subject_type": "user",
            "subject_email": "bob@sandbox.example", "relation": "viewer",
        })),
    );
    assert_eq!(r.status, 201);
    assert_eq!(r.json::<GrantReadResponse>().subject_id, "sandbox|bob");
    assert_eq!(
        raw(&sb, "GET", &run_path(&run_id, ""), Some(BOB), None).status,
        200
    );
    let listed: Vec<RunReadResponse> = raw(&sb, "GET", "/api/v1/runs", Some(BOB), None).json();
    assert_eq!(listed.len(), 1);
    let mine: Vec<RunReadResponse> =
        raw(&sb, "GET", "/api/v1/runs?submitted_by=me", Some(BOB), None).json();
    assert!(mine.is_empty());
}

// Proves custom metadata carries a checksum: a stale one is 412, the right one updates, and
// `null` clears both the metadata and the checksum; items behave the same. (FR-44, FR-31)
#[test]
fn custom_metadata_checksums() {
    let sb = sandbox_with(Duration::from_secs(60));
    let request = RunCreationRequest::new(
        "he-tme",
        [sandbox::example_item("s1").custom_metadata(json!({"case": 1}))],
    )
    .custom_metadata(json!({"study": "a"}));
    let run_id = submit(&sb, ALICE, &request);
    let put = |suffix: &str, body: Value| {
        raw(
            &sb,
            "PUT",
            &run_path(&run_id, suffix),
            Some(ALICE),
            Some(&body),
        )
    };
    let run: RunReadResponse = raw(&sb, "GET", &run_path(&run_id, ""), Some(ALICE), None).json();
    let first = run.custom_metadata_checksum.clone().unwrap();

    let r = put(
        "/custom-metadata",
        json!({"custom_metadata": {"study": "b"}, "custom_metadata_checksum": first}),
    );
    assert_eq!(r.status, 200);
    let second = r
        .json::<CustomMetadataUpdateResponse>()
        .custom_metadata_checksum
        .unwrap();
    assert_ne!(first, second);
    let stale = put(
        "/custom-metadata",
        json!({"custom_metadata": {"study": "c"}, "custom_metadata_checksum": first}),
    );
    assert_eq!(stale.status, 412);
    let run: RunReadResponse = raw(&sb, "GET", &run_path(&run_id, ""), Some(ALICE), None).json();
    assert_eq!(
        run.custom_metadata,
        Some(json!({"study": "b"})),
        "a 412 changes nothing"
    );
    assert_eq!(
        run.custom_metadata_checksum.as_deref(),
        Some(second.as_str())
    );
    // Filter runs by their metadata.
    let found: Vec<RunReadResponse> = raw(
        &sb,
        "GET",
        "/api/v1/runs?custom_metadata=%24.study%20%3F%20(%40%20%3D%3D%20%22b%22)",
        Some(ALICE),
        None,
    )
    .json();
    assert_eq!(found.len(), 1);
    let none: Vec<RunReadResponse> = raw(
        &sb,
        "GET",
        "/api/v1/runs?custom_metadata=%24.study%20%3F%20(%40%20%3D%3D%20%22x%22)",
        Some(ALICE),
        None,
    )
    .json();
    assert!(none.is_empty());

    let cleared = put("/custom-metadata", json!({"custom_metadata": null}));
    assert_eq!(cleared.status, 200);
    assert_eq!(
        cleared
            .json::<CustomMetadataUpdateResponse>()
            .custom_metadata_checksum,
        None
    );
    let run: RunReadResponse = raw(&sb, "GET", &run_path(&run_id, ""), Some(ALICE), None).json();
    assert_eq!(
        (run.custom_metadata, run.custom_metadata_checksum),
        (None, None)
    );
    assert_eq!(
        put("/custom-metadata", json!({"custom_metadata": [1]})).status,
        422
    );

    let item: ItemResultReadResponse = raw(
        &sb,
        "GET",
        &run_path(&run_id, "/items/s1"),
        Some(ALICE),
        None,
    )
    .json();
    let checksum = item.custom_metadata_checksum.unwrap();
    assert_eq!(
        put(
            "/items/s1/custom-metadata",
            json!({"custom_metadata": {"case": 2}, "custom_metadata_checksum": "00000000"})
        )
        .status,
        412
    );
    assert_eq!(
        put(
            "/items/s1/custom-metadata",
            json!({"custom_metadata": {"case": 2}, "custom_metadata_checksum": checksum})
        )
        .status,
        200
    );
    assert_eq!(
        put(
            "/items/nope/custom-metadata",
            json!({"custom_metadata": null})
        )
        .status,
        404
    );
    let item: ItemResultReadResponse = raw(
        &sb,
        "GET",
        &run_path(&run_id, "/items/s1"),
        Some(ALICE),
        None,
    )
    .json();
    assert_eq!(item.custom_metadata, Some(json!({"case": 2})));
}

// Proves cancel answers 202 once, then 409, and skips the unfinished items. (FR-44, FR-28)
#[test]
fn cancel_twice_is_a_conflict() {
    let sb = sandbox_with(Duration::from_secs(60));
    let run_id = submit(
        &sb,
        ALICE,
        &RunCreationRequest::new(
            "he-tme",
            [sandbox::example_item("a"), sandbox::example_item("b")],
        ),
    );
    assert_eq!(
        raw(
            &sb,
            "POST",
            &run_path(&run_id, "/cancel"),
            Some(ALICE),
            None
        )
        .status,
        202
    );
    let again = raw(
        &sb,
        "POST",
        &run_path(&run_id, "/cancel"),
        Some(ALICE),
        None,
    );
    assert_eq!(again.status, 409);
    assert!(!again.detail().is_empty());
    let run: RunReadResponse = raw(&sb, "GET", &run_path(&run_id, ""), Some(ALICE), None).json();
    assert_eq!(run.state, RunState::Terminated);
    assert_eq!(
        run.termination_reason,
        Some(RunTerminationReason::CanceledByUser)
    );
    assert_eq!(run.statistics.item_skipped_count, 2);
    assert_eq!(run.output, RunOutput::None);
    let token = fresh_token(&sb, SandboxUser::alice());
    assert!(
        fast_client(&sb, &token, 1)
            .run(&run_id)
            .cancel()
            .unwrap_err()
            .is_conflict()
    );
}

// Proves run submission is validated like the platform: 422 for the body's shape, 404 for an
// unknown application or version, 400 for items that do not fit the version. (FR-44)
#[test]
fn submission_is_validated() {
    let sb = sandbox_with(Duration::from_secs(60));
    let post = |body: Value| raw(&sb, "POST", "/api/v1/runs", Some(ALICE), Some(&body));
    let item = |id: &str| serde_json::to_value(sandbox::example_item(id)).unwrap();
    let with_metadata = |metadata: Value| {
        json!({"application_id": "he-tme", "items": [{
            "external_id": "x",
            "input_artifacts": [{"name": sandbox::INPUT_ARTIFACT_NAME, "download_url": "https://example.com/x.tiff", "metadata": metadata}],
        }]})
    };

    assert_eq!(
        post(json!({"application_id": "nope", "items": [item("a")]})).status,
        404
    );
    assert_eq!(
        post(json!({"application_id": "he-tme", "version_number": "7.0.0", "items": [item("a")]}))
            .status,
        404
    );
    let dup = post(json!({"application_id": "he-tme", "items": [item("a"), item("a")]}));
    assert_eq!(dup.status, 400);
    assert!(dup.detail().contains("'a'"), "{}", dup.detail());

    let mut missing = example_metadata();
    missing.as_object_mut().unwrap().remove("width_px");
    let r = post(with_metadata(missing));
    assert_eq!(r.status, 400);
    assert!(r.detail().contains("width_px"), "{}", r.detail());
    let mut wrong_type = example_metadata();
    wrong_type["height_px"] = json!("tall");
    assert_eq!(post(with_metadata(wrong_type)).status, 400);
    let mut wrong_media = example_metadata();
    wrong_media["media-type"] = json!("image/png");
    assert!(
        post(with_metadata(wrong_media))
            .detail()
            .contains("media-type")
    );

    let mut renamed = item("a");
    renamed["input_artifacts"][0]["name"] = json!("slide");
    let r = post(json!({"application_id": "he-tme", "items": [renamed]}));
    assert_eq!(r.status, 400);
    assert!(r.detail().contains("slide"));
    let mut none = item("a");
    none["input_artifacts"] = json!([]);
    assert_eq!(
        post(json!({"application_id": "he-tme", "items": [none]})).status,
        400
    );

    for (body, field) in [
        (json!({"application_id": "he-tme", "items": []}), "items"),
        (json!({"items": [item("a")]}), "application_id"),
        (
            json!({"application_id": "he-tme", "items": [item(&"x".repeat(256))]}),
            "external_id",
        ),
        (
            json!({"application_id": "he-tme", "custom_metadata": [1], "items": [item("a")]}),
            "dict[str,any]",
        ),
    ] {
        let r = post(body);
        assert_eq!(r.status, 422, "{field}");
        let v: HTTPValidationError = r.json();
        assert!(
            v.detail.unwrap()[0]
                .loc
                .iter()
                .any(|l| l.to_string() == field),
            "{field}"
        );
    }
    let bad_json = sandbox_common::raw_url(
        "POST",
        &format!("{}/api/v1/runs", sb.base_url()),
        &[("Authorization", "Bearer sandbox-token-alice")],
        Some(b"{not json"),
    );
    assert_eq!(bad_json.status, 422);
    // The latest version is used when none is given.
    let run_id = submit(
        &sb,
        ALICE,
        &RunCreationRequest::new("he-tme", [sandbox::example_item("a")]),
    );
    let run: RunReadResponse = raw(&sb, "GET", &run_path(&run_id, ""), Some(ALICE), None).json();
    assert_eq!(run.version_number, "1.1.0");
}

fn example_metadata() -> Value {
    sandbox::example_input_metadata()
}

// Proves lists page like the platform: bare arrays, `page`/`page_size`, a short last page. (FR-44)
#[test]
fn lists_paginate() {
    let sb = sandbox_with(Duration::from_secs(60));
    let items: Vec<ItemCreationRequest> = (0..12)
        .map(|i| sandbox::example_item(&format!("s{i:02}")))
        .collect();
    let run_id = submit(&sb, ALICE, &RunCreationRequest::new("he-tme", items));
    let page = |n: usize| -> Vec<String> {
        raw(
            &sb,
            "GET",
            &run_path(
                &run_id,
                &format!("/items?page={n}&page_size=5&sort=-external_id"),
            ),
            Some(ALICE),
            None,
        )
        .json::<Vec<ItemResultReadResponse>>()
        .into_iter()
        .map(|i| i.external_id)
        .collect()
    };
    assert_eq!(page(1), ["s11", "s10", "s09", "s08", "s07"]);
    assert_eq!(page(3), ["s01", "s00"]);
    assert!(page(4).is_empty());
    let token = fresh_token(&sb, SandboxUser::alice());
    let all: Vec<ItemResultReadResponse> = fast_client(&sb, &token, 1)
        .run(&run_id)
        .items()
        .page_size(5)
        .external_ids(["s03", "s04", "s05"])
        .iter()
        .collect::<aignostics::Result<_>>()
        .unwrap();
    assert_eq!(all.len(), 3);
    // Pending items report their queue position.
    let first: ItemResultReadResponse = raw(
        &sb,
        "GET",
        &run_path(&run_id, "/items/s05"),
        Some(ALICE),
        None,
    )
    .json();
    assert!(first.queue_position_org.is_some());
}

// Proves the token endpoint issues working bearer tokens for the client-credentials and
// refresh grants, and refuses bad credentials like Auth0. (FR-44)
#[test]
fn token_endpoint_grants() {
    let sb = Sandbox::builder()
        .oauth_client("ci-bot", "ci-secret")
        .token_lifetime(Duration::from_secs(120))
        .start()
        .unwrap();
    let form = |pairs: &[(&str, &str)]| {
        let body: String = pairs
            .iter()
            .map(|(k, v)| format!("{k}={}", v.replace(' ', "+")))
            .collect::<Vec<_>>()
            .join("&");
        raw_url(
            "POST",
            &sb.token_url(),
            &[("Content-Type", "application/x-www-form-urlencoded")],
            Some(body.as_bytes()),
        )
    };
    let r = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "ci-bot"),
        ("client_secret", "ci-secret"),
        ("audience", "https://x"),
    ]);
    assert_eq!(r.status, 200);
    let answer: Value = r.json();
    assert_eq!(answer["token_type"], "Bearer");
    assert_eq!(answer["expires_in"], 120);
    let access = answer["access_token"].as_str().unwrap();
    let me: MeReadResponse = raw(&sb, "GET", "/api/v1/me", Some(access), None).json();
    assert_eq!(me.user.id, "ci-bot@clients");
    assert_eq!(
        fast_client(&sb, access, 1).me().unwrap().user.id,
        "ci-bot@clients"
    );

    let wrong = form(&[
        ("grant_type", "client_credentials"),
        ("client_id", "ci-bot"),
        ("client_secret", "nope"),
    ]);
    assert_eq!(wrong.status, 401);
    assert_eq!(wrong.json::<Value>()["error"], "access_denied");

    let refreshed = form(&[
        ("grant_type", "refresh_token"),
        ("client_id", "any"),
        ("refresh_token", sandbox::ALICE_REFRESH_TOKEN),
    ]);
    assert_eq!(refreshed.status, 200);
    let token = refreshed.json::<Value>()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    let me: MeReadResponse = raw(&sb, "GET", "/api/v1/me", Some(&token), None).json();
    assert_eq!(me.user.id, "sandbox|alice");
    let bad = form(&[("grant_type", "refresh_token"), ("refresh_token", "stolen")]);
    assert_eq!(bad.status, 403);
    assert_eq!(bad.json::<Value>()["error"], "invalid_grant");
    assert_eq!(form(&[("grant_type", "password")]).status, 400);

    // JSON bodies are accepted too, and the default client exists.
    let r = raw_url(
        "POST",
        &sb.token_url(),
        &[],
        Some(json!({"grant_type": "client_credentials", "client_id": sandbox::CLIENT_ID, "client_secret": sandbox::CLIENT_SECRET}).to_string().as_bytes()),
    );
    assert_eq!(r.status, 200);
}

// Proves the SDK's client-credentials provider gets working bearer tokens from the sandbox's
// token endpoint, and a wrong secret is an authentication error. (FR-44, FR-08)
#[test]
fn client_credentials_provider() {
    use aignostics::TokenProvider;
    use aignostics::auth::ClientCredentials;
    let sb = Sandbox::builder()
        .audience("https://sandbox.example/api")
        .start()
        .unwrap();
    let credentials = ClientCredentials::new(
        sb.token_url(),
        sandbox::CLIENT_ID,
        sandbox::CLIENT_SECRET,
        "https://sandbox.example/api",
    );
    let client = aignostics::Client::builder()
        .settings(sb.settings().unwrap())
        .token_provider(TokenProvider::from(credentials.clone()))
        .build()
        .unwrap();
    assert_eq!(client.me().unwrap().user.id, "sandbox-client@clients");
    assert!(credentials.expires_at().is_some());
    assert_eq!(sb.request_count("/oauth/token"), 1);

    let mut no_retry = sb.settings().unwrap().auth_operation;
    no_retry.retry_attempts = 1;
    let wrong = ClientCredentials::new(
        sb.token_url(),
        sandbox::CLIENT_ID,
        "wrong-secret",
        "https://sandbox.example/api",
    )
    .retry(&no_retry);
    let err = wrong.token().unwrap_err();
    assert!(matches!(err, aignostics::Error::Auth(_)), "{err:?}");
    assert!(
        !err.to_string().contains("wrong-secret"),
        "the secret stays out of errors: {err}"
    );
    let other_audience = ClientCredentials::new(
        sb.token_url(),
        sandbox::CLIENT_ID,
        sandbox::CLIENT_SECRET,
        "https://elsewhere",
    )
    .retry(&no_retry);
    assert!(other_audience.token().is_err());
}

// Proves issued tokens expire after their lifetime (then 401). (FR-44)
#[test]
fn issued_tokens_expire() {
    let sb = Sandbox::builder()
        .token_lifetime(Duration::from_millis(300))
        .start()
        .unwrap();
    let body = format!(
        "grant_type=client_credentials&client_id={}&client_secret={}",
        sandbox::CLIENT_ID,
        sandbox::CLIENT_SECRET
    );
    let answer: Value = raw_url(
        "POST",
        &sb.token_url(),
        &[("Content-Type", "application/x-www-form-urlencoded")],
        Some(body.as_bytes()),
    )
    .json();
    let access = answer["access_token"].as_str().unwrap();
    assert_eq!(
        raw(&sb, "GET", "/api/v1/me", Some(access), None).status,
        200
    );
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(
        raw(&sb, "GET", "/api/v1/me", Some(access), None).status,
        401
    );
}

// Proves the port is released on shutdown and a sandbox can be started on a chosen port. (FR-44)
#[test]
fn start_on_a_chosen_port() {
    let port = {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap().port()
    };
    let sb = Sandbox::start_on(port).unwrap();
    assert_eq!(sb.base_url(), format!("http://127.0.0.1:{port}"));
    assert_eq!(raw(&sb, "GET", "/api/v1/me", Some(ALICE), None).status, 200);
    let err = Sandbox::start_on(port).unwrap_err();
    assert!(err.to_string().contains(&port.to_string()), "{err}");
    sb.shutdown();
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

// Proves a large run's items are listed page by page in submission order, each once, with one
// request per page, and that a sorted listing returns the same items. (FR-44, NFR-25)
#[test]
fn items_are_listed_in_pages_in_submission_order() {
    let sb = sandbox_with(Duration::ZERO);
    let client = sb.client(ALICE).unwrap();
    let ids: Vec<String> = (0..120).map(|i| format!("slide-{i:03}")).collect();
    let run = client
        .runs()
        .submit(RunCreationRequest::new(
            "he-tme",
            ids.iter().map(|id| sandbox::example_item(id)),
        ))
        .unwrap();
    let path = run_path(run.id(), "/items");
    let before = sb.request_count(&path);
    let listed: Vec<String> = run
        .items()
        .into_iter()
        .map(|item| item.unwrap().external_id)
        .collect();
    assert_eq!(listed, ids);
    assert_eq!(
        sb.request_count(&path) - before,
        3,
        "pages of 50, 50 and 20"
    );
    let mut sorted: Vec<String> = run
        .items()
        .sort("-external_id")
        .into_iter()
        .map(|item| item.unwrap().external_id)
        .collect();
    sorted.reverse();
    assert_eq!(sorted, ids);
}
