//! Every API operation of the sandbox answers with the platform's status codes and bodies that
//! decode into the crate's models, over raw HTTP and through the SDK.

mod sandbox_common;

use std::time::Duration;

use aignostics::models::*;
use aignostics_sandbox::{self as sandbox, Sandbox, SandboxUser};
use sandbox_common::{fast_client, fresh_token, raw, raw_url, submit, wait_terminated};
use serde_json::{Value, json};

const ALICE: &str = sandbox::ALICE_TOKEN;

/// Runs finish in 1.5 s: long enough to cancel one right after submitting it on a busy
/// machine, short enough to wait for.
fn quick() -> Sandbox {
    Sandbox::builder()
        .processing_time(Duration::from_millis(1500))
        .artifact_size(4096)
        .start()
        .expect("sandbox")
}

// Proves all 26 operations answer over raw HTTP with the documented success status and a body
// that decodes into the operation's model. (FR-44)
#[test]
fn all_operations_over_raw_http() {
    let sb = quick();
    let get = |path: &str| raw(&sb, "GET", path, Some(ALICE), None);
    let mut seen = std::collections::BTreeSet::new();
    let mut mark = |op: &str| assert!(seen.insert(op.to_string()), "{op} twice");

    // 1. list applications (`page-size` with a hyphen)
    let r = get("/api/v1/applications?page=1&page-size=5&sort=-application_id");
    assert_eq!(r.status, 200);
    let apps: Vec<ApplicationReadShortResponse> = r.json();
    assert_eq!(
        apps.iter()
            .map(|a| a.application_id.as_str())
            .collect::<Vec<_>>(),
        ["test-app", "he-tme"]
    );
    assert_eq!(
        apps[1].latest_version.as_ref().map(|v| v.number.as_str()),
        Some("1.1.0")
    );
    mark("list_applications");

    // 2. application
    let app: ApplicationReadResponse = get("/api/v1/applications/he-tme").json();
    assert_eq!(app.versions.len(), 3);
    mark("get_application");

    // 3. version
    let r = get("/api/v1/applications/he-tme/versions/1.0.0");
    assert_eq!(r.status, 200);
    let version: VersionReadResponse = r.json();
    assert_eq!(
        version.input_artifacts[0].name,
        sandbox::INPUT_ARTIFACT_NAME
    );
    let schema = &version.input_artifacts[0].metadata_schema;
    for field in [
        "checksum_base64_crc32c",
        "width_px",
        "height_px",
        "resolution_mpp",
        "media-type",
    ] {
        assert!(
            schema["required"]
                .as_array()
                .unwrap()
                .contains(&json!(field)),
            "{field}"
        );
    }
    let outputs: Vec<(&str, &str)> = version
        .output_artifacts
        .iter()
        .map(|o| (o.name.as_str(), o.mime_type.as_str()))
        .collect();
    assert!(outputs.contains(&("tissue_qc:geojson", "application/geo+json")));
    assert!(outputs.contains(&(
        "cell_classification:parquet",
        "application/vnd.apache.parquet"
    )));
    assert!(outputs.contains(&("heatmap:tiff", "image/tiff")));
    assert!(
        version
            .output_artifacts
            .iter()
            .all(|o| o.scope == OutputArtifactScope::Item)
    );
    mark("get_application_version");

    // 15-18. documents
    let docs: Vec<VersionDocumentResponse> =
        get("/api/v1/applications/he-tme/versions/1.0.0/documents").json();
    let names: Vec<&str> = docs.iter().map(|d| d.name.as_str()).collect();
    assert_eq!(
        names,
        ["README.md", "ifu.pdf"],
        "internal documents are not listed"
    );
    mark("list_version_documents");
    let doc: VersionDocumentResponse =
        get("/api/v1/applications/he-tme/versions/1.0.0/documents/README.md").json();
    assert_eq!(doc.mime_type, "text/markdown");
    mark("get_version_document");
    for (suffix, op) in [
        ("file", "get_version_document_file"),
        ("content", "get_version_document_content"),
    ] {
        let r = get(&format!(
            "/api/v1/applications/he-tme/versions/1.0.0/documents/README.md/{suffix}"
        ));
        assert_eq!(r.status, 307, "{op}");
        assert_eq!(r.header("cache-control"), Some("no-store"));
        let location = r.header("location").expect("Location").to_string();
        let content = raw_url("GET", &location, &[], None);
        assert_eq!(content.status, 200);
        assert!(String::from_utf8_lossy(&content.body).contains("version 1.0.0"));
        assert_eq!(content.header("content-type"), Some("text/markdown"));
        assert_eq!(
            content.header("content-disposition").is_some(),
            suffix == "file",
            "only /file asks for an attachment"
        );
        mark(op);
    }

    // 14. me
    let me: MeReadResponse = get("/api/v1/me").json();
    assert_eq!(me.user.id, "sandbox|alice");
    assert_eq!(me.organization.id, "org_sandbox_a");
    mark("get_me");

    // 5. create run
    let request = RunCreationRequest::new(
        "he-tme",
        [
            sandbox::example_item("slide-1"),
            sandbox::example_item("fail-2"),
        ],
    )
    .version_number("1.0.0")
    .custom_metadata(json!({"study": "abc-1"}));
    let run_id = submit(&sb, ALICE, &request);
    mark("create_run");

    // 4. list runs
    let runs: Vec<RunReadResponse> =
        get("/api/v1/runs?application_id=he-tme&page=1&page_size=5&sort=-submitted_at").json();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].run_id, run_id);
    mark("list_runs");

    // 6. run details
    let run: RunReadResponse = get(&format!("/api/v1/runs/{run_id}")).json();
    assert_eq!(run.custom_metadata, Some(json!({"study": "abc-1"})));
    assert_eq!(run.submitted_by, "sandbox|alice");
    mark("get_run");

    let run = wait_terminated(&sb, ALICE, &run_id);
    assert_eq!(
        run.termination_reason,
        Some(RunTerminationReason::AllItemsProcessed)
    );

    // 8. list items, 9. one item
    let items: Vec<ItemResultReadResponse> = get(&format!(
        "/api/v1/runs/{run_id}/items?page_size=5&sort=external_id"
    ))
    .json();
    assert_eq!(items.len(), 2);
    mark("list_run_items");
    let item: ItemResultReadResponse = get(&format!("/api/v1/runs/{run_id}/items/slide-1")).json();
    assert_eq!(
        item.termination_reason,
        Some(ItemTerminationReason::Succeeded)
    );
    mark("get_run_item");

    // 10. artifact URL
    let artifact = &item.output_artifacts[0];
    let r = get(&format!(
        "/api/v1/runs/{run_id}/artifacts/{}/file",
        artifact.output_artifact_id
    ));
    assert_eq!(r.status, 307);
    assert!(r.header("location").unwrap().contains("/storage/"));
    mark("get_artifact_url");

    // 12, 13. custom metadata
    let checksum = run.custom_metadata_checksum.clone().expect("checksum");
    let body = json!({"custom_metadata": {"study": "abc-2"}, "custom_metadata_checksum": checksum});
    let r = raw(
        &sb,
        "PUT",
        &format!("/api/v1/runs/{run_id}/custom-metadata"),
        Some(ALICE),
        Some(&body),
    );
    assert_eq!(r.status, 200);
    let updated: CustomMetadataUpdateResponse = r.json();
    assert!(updated.custom_metadata_checksum.is_some());
    mark("put_run_custom_metadata");
    let body = json!({"custom_metadata": {"case": "x"}});
    let r = raw(
        &sb,
        "PUT",
        &format!("/api/v1/runs/{run_id}/items/slide-1/custom-metadata"),
        Some(ALICE),
        Some(&body),
    );
    assert_eq!(r.status, 200);
    let _: CustomMetadataUpdateResponse = r.json();
    mark("put_item_custom_metadata");

    // 23-26. share tokens
    let r = raw(
        &sb,
        "POST",
        "/api/v1/access/share-tokens",
        Some(ALICE),
        Some(&json!({})),
    );
    assert_eq!(r.status, 201);
    let token: ShareTokenCreateResponse = r.json();
    assert!(token.share_token.starts_with("sst_"));
    mark("create_share_token");
    let tokens: Vec<ShareTokenReadResponse> =
        get("/api/v1/access/share-tokens?revoked=false&page_size=5").json();
    assert_eq!(tokens.len(), 1);
    assert!(
        !String::from_utf8_lossy(&get("/api/v1/access/share-tokens").body)
            .contains(&token.share_token)
    );
    mark("list_share_tokens");
    let one: ShareTokenReadResponse = get(&format!(
        "/api/v1/access/share-tokens/{}",
        token.share_token_id
    ))
    .json();
    assert_eq!(one.share_token_id, token.share_token_id);
    mark("get_share_token");

    // 19-22. grants
    let grant_request = GrantCreateRequest::new(
        ResourceType::Run,
        &run_id,
        SubjectType::ShareToken,
        GrantRelation::Viewer,
    )
    .subject_id(&token.share_token_id);
    let r = raw(
        &sb,
        "POST",
        "/api/v1/access/grants",
        Some(ALICE),
        Some(&serde_json::to_value(&grant_request).unwrap()),
    );
    assert_eq!(r.status, 201);
    let grant: GrantReadResponse = r.json();
    assert_eq!(grant.created_by, "sandbox|alice");
    mark("create_grant");
    let grants: Vec<GrantReadResponse> = get(&format!(
        "/api/v1/access/grants?resource_type=run&resource_id={run_id}&relation=viewer&relation=owner&revoked=false"
    ))
    .json();
    assert_eq!(grants.len(), 1);
    mark("list_grants");
    let _: GrantReadResponse = get(&format!("/api/v1/access/grants/{}", grant.grant_id)).json();
    mark("get_grant");
    let r = raw(
        &sb,
        "DELETE",
        &format!("/api/v1/access/grants/{}", grant.grant_id),
        Some(ALICE),
        None,
    );
    assert_eq!(r.status, 200);
    assert!(r.json::<GrantReadResponse>().revoked);
    mark("revoke_grant");
    let r = raw(
        &sb,
        "DELETE",
        &format!("/api/v1/access/share-tokens/{}", token.share_token_id),
        Some(ALICE),
        None,
    );
    assert_eq!(r.status, 200);
    assert!(r.json::<ShareTokenReadResponse>().revoked);
    mark("revoke_share_token");

    // 11. delete artifacts
    let r = raw(
        &sb,
        "DELETE",
        &format!("/api/v1/runs/{run_id}/artifacts"),
        Some(ALICE),
        None,
    );
    assert_eq!(r.status, 200);
    let _: Value = r.json();
    mark("delete_run_artifacts");

    // 7. cancel (a fresh run; 202)
    let other = submit(
        &sb,
        ALICE,
        &RunCreationRequest::new("test-app", [sandbox::example_item("a")]),
    );
    let r = raw(
        &sb,
        "POST",
        &format!("/api/v1/runs/{other}/cancel"),
        Some(ALICE),
        None,
    );
    assert_eq!(r.status, 202);
    let _: Value = r.json();
    mark("cancel_run");

    assert_eq!(seen.len(), 26, "{seen:?}");
}

// Proves the error answers have FastAPI's shapes and the platform's status codes. (FR-44)
#[test]
fn error_bodies() {
    let sb = quick();
    // 401 without or with an unknown token, before anything else.
    for token in [None, Some("nobody")] {
        let r = raw(&sb, "GET", "/api/v1/applications", token, None);
        assert_eq!(r.status, 401);
        assert!(!r.detail().is_empty());
        assert_eq!(r.header("www-authenticate"), Some("Bearer"));
    }
    let get = |path: &str| raw(&sb, "GET", path, Some(ALICE), None);
    // 404s with a detail string.
    for path in [
        "/api/v1/applications/nope",
        "/api/v1/applications/he-tme/versions/9.9.9",
        "/api/v1/applications/he-tme/versions/1.0.0/documents/internal-notes.md",
        "/api/v1/applications/he-tme/versions/1.0.0/documents/internal-notes.md/file",
        "/api/v1/runs/3fa85f64-5717-4562-b3fc-2c963f66afa6",
        "/api/v1/nothing-here",
    ] {
        let r = get(path);
        assert_eq!(r.status, 404, "{path}");
        assert!(!r.detail().is_empty(), "{path}");
    }
    // 422s with validation entries.
    for (path, field) in [
        ("/api/v1/runs?page_size=4", "page_size"),
        ("/api/v1/runs?page_size=101", "page_size"),
        ("/api/v1/runs?page=0", "page"),
        ("/api/v1/applications?page-size=500", "page-size"),
        ("/api/v1/runs/not-a-uuid", "run_id"),
        ("/api/v1/applications/he-tme/versions/latest", "version"),
        ("/api/v1/access/grants?relation=admin", "relation"),
        ("/api/v1/access/share-tokens?revoked=maybe", "revoked"),
        ("/api/v1/runs?sort=colour", "sort"),
        (
            "/api/v1/runs?custom_metadata=%24.a%20%26%26%20%24.b",
            "custom_metadata",
        ),
    ] {
        let r = get(path);
        assert_eq!(r.status, 422, "{path}");
        let body: HTTPValidationError = r.json();
        let entry = &body.detail.expect("detail")[0];
        assert_eq!(
            entry.loc.last().map(ToString::to_string).as_deref(),
            Some(field),
            "{path}"
        );
    }
    // `page_size` is not the applications' parameter, so it is ignored there.
    assert_eq!(get("/api/v1/applications?page_size=1").status, 200);
    // Unknown method on a known path.
    assert_eq!(
        raw(&sb, "DELETE", "/api/v1/me", Some(ALICE), None).status,
        405
    );
    // A trailing slash redirects like FastAPI.
    let r = get("/api/v1/runs/?page=1");
    assert_eq!(r.status, 307);
    assert_eq!(
        r.header("location"),
        Some(format!("{}/api/v1/runs?page=1", sb.base_url()).as_str())
    );
}

// Proves the SDK's existing methods work against the sandbox and decode its answers. (FR-44)
#[test]
fn sdk_methods() {
    let sb = quick();
    let token = fresh_token(&sb, SandboxUser::alice());
    let client = fast_client(&sb, &token, 1);
    assert_eq!(
        client.me().unwrap().user.email.as_deref(),
        Some("alice@sandbox.example")
    );
    assert_eq!(
        client.application("test-app").unwrap().name,
        "Test Application"
    );
    let latest = client.application_version("he-tme", None).unwrap();
    assert_eq!(latest.version_number, "1.1.0");
    let beta = client
        .application_version("he-tme", Some("0.9.0-beta"))
        .unwrap();
    assert_eq!(beta.version_number, "0.9.0-beta");
    assert!(
        client
            .application_version("nope", None)
            .unwrap_err()
            .is_not_found()
    );

    let run_id = submit(
        &sb,
        &token,
        &RunCreationRequest::new(
            "he-tme",
            [
                sandbox::example_item("s/1 ?#"),
                sandbox::example_item("fail-x"),
            ],
        ),
    );
    let run = client.nocache().run(&run_id);
    assert_eq!(run.details().unwrap().run_id, run_id);
    wait_terminated(&sb, &token, &run_id);
    let items: Vec<ItemResultReadResponse> = run
        .items()
        .page_size(5)
        .iter()
        .collect::<aignostics::Result<_>>()
        .unwrap();
    assert_eq!(items.len(), 2);
    // External ids with separators survive the path encoding.
    let item = run.item("s/1 ?#").unwrap();
    assert_eq!(item.state, ItemState::Terminated);
    let failed = run
        .items()
        .termination_reason(ItemTerminationReason::UserError)
        .iter()
        .collect::<aignostics::Result<Vec<_>>>()
        .unwrap();
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0].external_id, "fail-x");
    let url = run
        .artifact(&item.output_artifacts[0].output_artifact_id)
        .download_url()
        .unwrap();
    assert!(url.starts_with(&format!("{}/storage/", sb.base_url())));
    // Cancelling a terminated run is a conflict.
    assert!(run.cancel().unwrap_err().is_conflict());

    let pending = submit(
        &sb,
        &token,
        &RunCreationRequest::new("he-tme", [sandbox::example_item("a")]),
    );
    client.run(&pending).cancel().unwrap();
    let details = client.nocache().run(&pending).details().unwrap();
    assert_eq!(
        details.termination_reason,
        Some(RunTerminationReason::CanceledByUser)
    );
}

/// `/api/v1/runs/3fa8…/items/x` -> `/api/v1/runs/{}/items/{}`: the operation of a path.
fn template(path: &str) -> String {
    let segments: Vec<&str> = path.split('/').collect();
    segments
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let parent = if i > 0 { segments[i - 1] } else { "" };
            let is_argument = matches!(
                parent,
                "applications"
                    | "versions"
                    | "documents"
                    | "runs"
                    | "items"
                    | "artifacts"
                    | "grants"
                    | "share-tokens"
            ) && !matches!(*s, "artifacts" | "items");
            if is_argument { "{}" } else { s }
        })
        .collect::<Vec<_>>()
        .join("/")
}

// Proves every one of the 26 operations is reachable through the SDK against the sandbox, and
// the SDK decodes each answer into its model (the request log shows 26 distinct operations). (FR-44, FR-21)
#[test]
fn all_operations_through_the_sdk() {
    let sb = quick();
    let token = fresh_token(&sb, SandboxUser::alice());
    let client = fast_client(&sb, &token, 1).nocache();

    let apps: Vec<ApplicationReadShortResponse> = client
        .applications()
        .list()
        .page_size(5)
        .iter()
        .collect::<aignostics::Result<_>>()
        .unwrap();
    assert_eq!(apps.len(), 2);
    assert_eq!(
        client
            .applications()
            .details("he-tme")
            .unwrap()
            .application_id,
        "he-tme"
    );
    assert_eq!(
        client
            .versions()
            .details("he-tme", Some("1.0.0"))
            .unwrap()
            .version_number,
        "1.0.0"
    );
    let docs = client.versions().documents("he-tme", Some("1.0.0"));
    assert_eq!(docs.list().unwrap().len(), 2);
    assert_eq!(
        docs.details("ifu.pdf").unwrap().mime_type,
        "application/pdf"
    );
    assert!(docs.read_content("ifu.pdf").unwrap().starts_with(b"%PDF"));
    let dir = std::env::temp_dir().join(format!(
        "aignostics-sandbox-docs-{}-{}",
        std::process::id(),
        sb.port()
    ));
    let _ = std::fs::remove_dir_all(&dir);
    let path = docs.download_to("README.md", &dir).unwrap();
    assert!(std::fs::read_to_string(&path).unwrap().contains("1.0.0"));
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(client.me().unwrap().user.id, "sandbox|alice");

    let request = RunCreationRequest::new(
        "he-tme",
        [sandbox::example_item("s1"), sandbox::example_item("fail-2")],
    )
    .custom_metadata(json!({"study": "abc"}));
    let run = client.runs().submit(request).unwrap();
    let listed: Vec<RunReadResponse> = client
        .runs()
        .list()
        .application_id("he-tme")
        .sort("-submitted_at")
        .page_size(5)
        .iter()
        .collect::<aignostics::Result<_>>()
        .unwrap();
    assert_eq!(listed[0].run_id, run.id());
    let details = run.details().unwrap();
    wait_terminated(&sb, &token, run.id());
    let items: Vec<ItemResultReadResponse> = run
        .items()
        .iter()
        .collect::<aignostics::Result<_>>()
        .unwrap();
    assert_eq!(items.len(), 2);
    let item = run.item("s1").unwrap();
    assert!(
        run.artifact(&item.output_artifacts[0].output_artifact_id)
            .download_url()
            .is_ok()
    );
    let updated = run
        .update_custom_metadata(
            Some(json!({"study": "def"})),
            details.custom_metadata_checksum.as_deref(),
        )
        .unwrap();
    assert!(updated.custom_metadata_checksum.is_some());
    assert!(
        run.update_item_custom_metadata("s1", None, None)
            .unwrap()
            .custom_metadata_checksum
            .is_none()
    );

    let share = client.share_tokens().create(None).unwrap();
    let grant = run
        .grant_access(SubjectType::ShareToken, &share.share_token_id)
        .unwrap();
    let grants: Vec<GrantReadResponse> = run
        .share_grants()
        .iter()
        .collect::<aignostics::Result<_>>()
        .unwrap();
    assert_eq!(grants.len(), 1);
    assert_eq!(
        client.grants().get(&grant.grant_id).unwrap().grant_id,
        grant.grant_id
    );
    let tokens: Vec<ShareTokenReadResponse> = client
        .share_tokens()
        .list()
        .run_id(run.id())
        .iter()
        .collect::<aignostics::Result<_>>()
        .unwrap();
    assert_eq!(tokens.len(), 1);
    assert!(
        !client
            .share_tokens()
            .get(&share.share_token_id)
            .unwrap()
            .revoked
    );
    assert!(client.grants().revoke(&grant.grant_id).unwrap().revoked);
    assert!(
        client
            .share_tokens()
            .revoke(&share.share_token_id)
            .unwrap()
            .revoked
    );
    assert!(
        client
            .share_tokens()
            .revoke(&share.share_token_id)
            .unwrap_err()
            .is_conflict()
    );
    run.delete_artifacts().unwrap();

    let other = client
        .runs()
        .submit(RunCreationRequest::new(
            "test-app",
            [sandbox::example_item("a")],
        ))
        .unwrap();
    other.cancel().unwrap();

    let operations: std::collections::BTreeSet<(String, String)> = sb
        .requests()
        .into_iter()
        .filter(|r| r.path.starts_with("/api/"))
        .map(|r| (r.method, template(&r.path)))
        .collect();
    assert_eq!(operations.len(), 26, "{operations:#?}");
    // Document downloads went to storage without the bearer token.
    assert!(sb.request_count("/storage/documents/") >= 2);
    assert_eq!(sb.storage_requests_with_authorization(), 0);
}
