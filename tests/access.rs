//! Run sharing, grants, share tokens, custom metadata and the status codes that come with them.

mod common;

use aignostics::models::*;
use common::*;
use httpmock::prelude::*;
use serde_json::json;

const SECRET: &str = "st_9Qx3vJ2kLmN8pR4tW6yZ";

#[test]
fn share_token_lets_a_second_user_read_the_run() {
    // Proves a second user reads a run with ?share_token=…, and the same read without it is a 403. (FR-33)
    let server = MockServer::start();
    let (owner, owner_token) = client(&server, "ac-owner");
    let (reader, reader_token) = client(&server, "ac-reader");
    let create_token = server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/access/share-tokens")
            .header("authorization", bearer(&owner_token));
        then.status(201)
            .json_body(fixture("ShareTokenCreateResponse"));
    });
    let grant = server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/access/grants")
            .header("authorization", bearer(&owner_token))
            .json_body_includes(r#"{"subject_type": "share_token", "relation": "viewer"}"#);
        then.status(201).json_body(fixture("GrantReadResponse"));
    });
    let token = owner.share_tokens().create(None).unwrap();
    assert_eq!(token.share_token, SECRET);
    owner
        .run(RUN_ID)
        .grant_access(SubjectType::ShareToken, &token.share_token_id)
        .unwrap();
    create_token.assert_calls(1);
    grant.assert_calls(1);

    let shared = server.mock(|when, then| {
        when.method(GET)
            .path(format!("/api/v1/runs/{RUN_ID}"))
            .header("authorization", bearer(&reader_token))
            .query_param("share_token", SECRET);
        then.status(200).json_body(fixture("RunReadResponse"));
    });
    let forbidden = server.mock(|when, then| {
        when.method(GET)
            .path(format!("/api/v1/runs/{RUN_ID}"))
            .header("authorization", bearer(&reader_token))
            .query_param_missing("share_token");
        then.status(403)
            .json_body(json!({"detail": "You don't have permission to see this run"}));
    });
    let details = reader
        .run(RUN_ID)
        .with_share_token(token.share_token.clone())
        .details()
        .unwrap();
    assert_eq!(details.run_id, RUN_ID);
    shared.assert_calls(1);

    // Without the token: a 403, not served from the cache entry of the shared read.
    let err = reader.run(RUN_ID).details().unwrap_err();
    assert!(err.is_forbidden(), "{err}");
    assert!(!format!("{err} {err:?}").contains(SECRET));
    forbidden.assert_calls(1);
}

#[test]
fn share_token_is_sent_on_item_and_artifact_reads() {
    // Proves the share token travels on items, item and artifact reads, percent-encoded. (FR-33, FR-19)
    let server = MockServer::start();
    let (client, _) = client(&server, "ac-share-reads");
    let secret = "a b&c";
    let items = server.mock(|when, then| {
        when.method(GET)
            .path(format!("/api/v1/runs/{RUN_ID}/items"))
            .is_true(query_is("share_token=a%20b%26c&page=1&page_size=50"));
        then.status(200).json_body(json!([]));
    });
    let item = server.mock(|when, then| {
        when.method(GET)
            .path(format!("/api/v1/runs/{RUN_ID}/items/slide-1"))
            .is_true(query_is("share_token=a%20b%26c"));
        then.status(200)
            .json_body(fixture("ItemResultReadResponse"));
    });
    let file = server.mock(|when, then| {
        when.method(GET)
            .path(format!(
                "/api/v1/runs/{RUN_ID}/artifacts/{ARTIFACT_ID}/file"
            ))
            .is_true(query_is("share_token=a%20b%26c"));
        then.status(307)
            .header("location", "https://storage.example.com/x?sig=1");
    });
    let run = client.run(RUN_ID).with_share_token(secret);
    assert_eq!(run.items().iter().count(), 0);
    run.item("slide-1").unwrap();
    run.artifact(ARTIFACT_ID).download_url().unwrap();
    items.assert_calls(1);
    item.assert_calls(1);
    file.assert_calls(1);
}

#[test]
fn cancelling_twice_is_a_conflict() {
    // Proves the second cancel of a run surfaces the 409 as is_conflict(), sent once (never retried). (FR-28, FR-17, FR-15)
    let server = MockServer::start();
    let (client, _) = client(&server, "ac-cancel");
    let mut first = server.mock(|when, then| {
        when.method(POST)
            .path(format!("/api/v1/runs/{RUN_ID}/cancel"));
        then.status(202).json_body(json!({}));
    });
    let run = client.run(RUN_ID);
    run.cancel().unwrap();
    first.assert_calls(1);
    first.delete();
    let second = server.mock(|when, then| {
        when.method(POST)
            .path(format!("/api/v1/runs/{RUN_ID}/cancel"));
        then.status(409)
            .json_body(json!({"detail": "The Run is already cancelled"}));
    });
    let err = run.cancel().unwrap_err();
    assert!(err.is_conflict(), "{err}");
    assert_eq!(
        err.api_error().unwrap().detail.as_deref(),
        Some("The Run is already cancelled")
    );
    second.assert_calls(1);
}

#[test]
fn stale_metadata_checksum_is_a_precondition_failure() {
    // Proves a metadata update with an outdated checksum surfaces the 412 as is_precondition_failed(). (FR-31, FR-17)
    let server = MockServer::start();
    let (client, _) = client(&server, "ac-412");
    let put = server.mock(|when, then| {
        when.method(PUT)
            .path(format!("/api/v1/runs/{RUN_ID}/custom-metadata"))
            .json_body(json!({"custom_metadata": {"a": 1}, "custom_metadata_checksum": "stale"}));
        then.status(412)
            .json_body(json!({"detail": "Checksum mismatch, resource has been modified"}));
    });
    let err = client
        .run(RUN_ID)
        .update_custom_metadata(Some(json!({"a": 1})), Some("stale"))
        .unwrap_err();
    assert!(err.is_precondition_failed(), "{err}");
    put.assert_calls(1);
}

#[test]
fn deleted_artifact_is_gone() {
    // Proves reading a deleted artifact surfaces the 410 as is_gone(), without retries. (FR-28, FR-17)
    let server = MockServer::start();
    let (client, _) = client(&server, "ac-410");
    let file = server.mock(|when, then| {
        when.method(GET).path(format!(
            "/api/v1/runs/{RUN_ID}/artifacts/{ARTIFACT_ID}/file"
        ));
        then.status(410)
            .json_body(json!({"detail": "Artifact has been deleted"}));
    });
    let err = client
        .run(RUN_ID)
        .artifact(ARTIFACT_ID)
        .download_url()
        .unwrap_err();
    assert!(err.is_gone(), "{err}");
    file.assert_calls(1);
}

#[test]
fn custom_metadata_tri_state_on_the_wire() {
    // Proves Some(value) sends the value and None sends "custom_metadata": null, for runs and items. (FR-31)
    let server = MockServer::start();
    let (client, _) = client(&server, "ac-tristate");
    let set = server.mock(|when, then| {
        when.method(PUT)
            .path(format!("/api/v1/runs/{RUN_ID}/custom-metadata"))
            .json_body(json!({"custom_metadata": {"study": "abc-1"}}));
        then.status(200)
            .json_body(json!({"custom_metadata_checksum": "c1"}));
    });
    let clear = server.mock(|when, then| {
        when.method(PUT)
            .path(format!("/api/v1/runs/{RUN_ID}/custom-metadata"))
            .body(r#"{"custom_metadata":null}"#);
        then.status(200)
            .json_body(json!({"custom_metadata_checksum": null}));
    });
    let item_clear = server.mock(|when, then| {
        when.method(PUT)
            .path(format!(
                "/api/v1/runs/{RUN_ID}/items/slide-1/custom-metadata"
            ))
            .body(r#"{"custom_metadata":null,"custom_metadata_checksum":"c9"}"#);
        then.status(200)
            .json_body(json!({"custom_metadata_checksum": null}));
    });
    let run = client.run(RUN_ID);
    let r = run
        .update_custom_metadata(Some(json!({"study": "abc-1"})), None)
        .unwrap();
    assert_eq!(r.custom_metadata_checksum.as_deref(), Some("c1"));
    let r = run.update_custom_metadata(None, None).unwrap();
    assert_eq!(r.custom_metadata_checksum, None);
    run.update_item_custom_metadata("slide-1", None, Some("c9"))
        .unwrap();
    set.assert_calls(1);
    clear.assert_calls(1);
    item_clear.assert_calls(1);
}

#[test]
fn grant_access_creates_a_viewer_grant_on_the_run() {
    // Proves Run::grant_access posts a viewer grant for the run and Run::share_grants lists active run grants. (FR-32)
    let server = MockServer::start();
    let (client, token) = client(&server, "ac-grant");
    let create = server.mock(|when, then| {
        when.method(POST)
            .path("/api/v1/access/grants")
            .header("authorization", bearer(&token))
            .json_body(json!({
                "resource_type": "run", "resource_id": RUN_ID,
                "subject_type": "share_token", "subject_id": SHARE_TOKEN_ID,
                "relation": "viewer"
            }));
        then.status(201).json_body(fixture("GrantReadResponse"));
    });
    let list = server.mock(|when, then| {
        when.method(GET)
            .path("/api/v1/access/grants")
            .is_true(query_is(
                "resource_type=run&resource_id=3fa85f64-5717-4562-b3fc-2c963f66afa6\
             &subject_type=share_token&revoked=false&page=1&page_size=50",
            ));
        then.status(200)
            .json_body(json!([fixture("GrantReadResponse")]));
    });
    let run = client.run(RUN_ID);
    let grant = run
        .grant_access(SubjectType::ShareToken, SHARE_TOKEN_ID)
        .unwrap();
    assert_eq!(grant.relation, GrantRelation::Viewer);
    let grants: Vec<_> = run
        .share_grants()
        .subject_type(SubjectType::ShareToken)
        .iter()
        .map(Result::unwrap)
        .collect();
    assert_eq!(grants.len(), 1);
    create.assert_calls(1);
    list.assert_calls(1);
}

#[test]
fn creates_and_revokes_are_never_retried() {
    // Proves grant and share-token creates and revokes are sent once on a 503, even with retries configured. (FR-15, FR-32, FR-33)
    let server = MockServer::start();
    let (client, _) = client_with(settings(&server, 4), "ac-no-retry");
    let any = server.mock(|when, then| {
        when.any_request();
        then.status(503).json_body(json!({"detail": "unavailable"}));
    });
    let request = GrantCreateRequest::new(
        ResourceType::Run,
        RUN_ID,
        SubjectType::User,
        GrantRelation::Viewer,
    )
    .subject_email("jane@example.com");
    assert_eq!(
        client.grants().create(request).unwrap_err().status(),
        Some(503)
    );
    assert_eq!(
        client.grants().revoke(GRANT_ID).unwrap_err().status(),
        Some(503)
    );
    assert_eq!(
        client.share_tokens().create(None).unwrap_err().status(),
        Some(503)
    );
    assert_eq!(
        client
            .share_tokens()
            .revoke(SHARE_TOKEN_ID)
            .unwrap_err()
            .status(),
        Some(503)
    );
    assert_eq!(
        client.run(RUN_ID).delete_artifacts().unwrap_err().status(),
        Some(503)
    );
    any.assert_calls(5);
    // A read is retried: 4 more calls.
    assert_eq!(
        client.grants().get(GRANT_ID).unwrap_err().status(),
        Some(503)
    );
    any.assert_calls(9);
}

#[test]
fn revoke_clears_cached_reads_and_second_revoke_conflicts() {
    // Proves a revoke invalidates the cached share-token read, and revoking again is a 409. (FR-13, FR-33)
    let server = MockServer::start();
    let (client, _) = client(&server, "ac-revoke");
    let get = server.mock(|when, then| {
        when.method(GET)
            .path(format!("/api/v1/access/share-tokens/{SHARE_TOKEN_ID}"));
        then.status(200)
            .json_body(fixture("ShareTokenReadResponse"));
    });
    let mut revoke = server.mock(|when, then| {
        when.method(DELETE)
            .path(format!("/api/v1/access/share-tokens/{SHARE_TOKEN_ID}"));
        then.status(200)
            .json_body(fixture("ShareTokenReadResponse"));
    });
    client.share_tokens().get(SHARE_TOKEN_ID).unwrap();
    client.share_tokens().get(SHARE_TOKEN_ID).unwrap();
    get.assert_calls(1);
    client.share_tokens().revoke(SHARE_TOKEN_ID).unwrap();
    client.share_tokens().get(SHARE_TOKEN_ID).unwrap();
    get.assert_calls(2);
    revoke.delete();
    let _conflict = server.mock(|when, then| {
        when.method(DELETE)
            .path(format!("/api/v1/access/share-tokens/{SHARE_TOKEN_ID}"));
        then.status(409)
            .json_body(json!({"detail": "Share token is already revoked"}));
    });
    assert!(
        client
            .share_tokens()
            .revoke(SHARE_TOKEN_ID)
            .unwrap_err()
            .is_conflict()
    );
}

#[test]
fn malformed_uuid_is_a_typed_validation_error() {
    // Proves a 422 for a malformed run id surfaces as an API error carrying the validation entries. (FR-17)
    let server = MockServer::start();
    let (client, _) = client(&server, "ac-422");
    let get = server.mock(|when, then| {
        when.method(GET).path("/api/v1/runs/not-a-uuid");
        then.status(422).json_body(json!({"detail": [{
            "loc": ["path", "run_id"],
            "msg": "Input should be a valid UUID, invalid character",
            "type": "uuid_parsing"
        }]}));
    });
    let err = client.run("not-a-uuid").details().unwrap_err();
    assert!(err.is_validation(), "{err}");
    let api = err.api_error().unwrap();
    assert_eq!(api.operation, "get_run");
    assert_eq!(api.validation.len(), 1);
    assert_eq!(api.validation[0].error_type, "uuid_parsing");
    assert!(err.to_string().contains("valid UUID"), "{err}");
    get.assert_calls(1);
}

#[test]
fn share_token_expiry_is_checked_before_the_request() {
    // Proves a share token's expiry is read by the one strict date-time parser before any request: impossible dates, times and offsets are typed errors that send nothing, while a timestamp with an offset and a plain date are sent as given. (FR-33, NFR-30)
    let server = MockServer::start();
    let (client, _) = client(&server, "ac-expiry");
    let create = server.mock(|when, then| {
        when.method(POST).path("/api/v1/access/share-tokens");
        then.status(201)
            .json_body(fixture("ShareTokenCreateResponse"));
    });
    for bad in [
        "2026-02-31",
        "2026-12-31T99:99:99Z",
        "2026-12-31T12:00:00+99:99",
        "next friday",
    ] {
        let err = client
            .share_tokens()
            .create(Some(bad.to_string()))
            .unwrap_err();
        assert!(
            matches!(err, aignostics::Error::InvalidInput(_)),
            "{bad}: {err}"
        );
    }
    create.assert_calls(0);
    for good in ["2030-12-31T12:00:00+01:00", "2030-12-31"] {
        client
            .share_tokens()
            .create(Some(good.to_string()))
            .unwrap();
    }
    create.assert_calls(2);
}
