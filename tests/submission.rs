//! Submissions against the sandbox: SDK metadata as the Python SDK's schemas define it, tags
//! found again, idempotency keys surviving lost answers, and the health check.

mod sandbox_common;

use std::time::Duration;

use aignostics::health::{API_AUTHENTICATED, API_PUBLIC, HealthStatus};
use aignostics::models::RunCreationRequest;
use aignostics::sdk_metadata::{GpuType, Pipeline, ProvisioningMode, SdkMetadata};
use aignostics::{Client, SubmitOptions};
use aignostics_sandbox::{self as sandbox, Fault, Sandbox, SandboxHealth, SandboxUser};
use sandbox_common::{fast_client, fresh_token};
use serde_json::{Value, json};

fn validator(name: &str) -> jsonschema::Validator {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn assert_valid(schema: &str, value: &Value) {
    let v = validator(schema);
    let errors: Vec<String> = v.iter_errors(value).map(|e| e.to_string()).collect();
    assert!(errors.is_empty(), "{value} is invalid: {errors:?}");
}

fn request(ids: &[&str]) -> RunCreationRequest {
    RunCreationRequest::new("he-tme", ids.iter().map(|id| sandbox::example_item(id)))
        .version_number("1.0.0")
        .custom_metadata(json!({"study": "s-1"}))
}

/// Ids of this user's runs carrying `key`, read past the cache.
fn runs_with_key(client: &Client, key: &str) -> Vec<String> {
    client
        .nocache()
        .runs()
        .list()
        .custom_metadata(format!("$.idempotency_key ? (@ == \"{key}\")"))
        .iter()
        .map(|r| r.unwrap().run_id)
        .collect()
}

fn posts(sb: &Sandbox) -> usize {
    sb.requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/api/v1/runs")
        .count()
}

// Proves what the SDK writes into the run's and the items' `custom_metadata.sdk` is valid
// against the Python SDK's published schemas (run v0.0.7, item v0.0.3), carries the user from
// `me()` and the chosen tags, note, scheduling and pipeline, and keeps the caller's keys. (FR-64)
#[test]
fn sdk_metadata_is_valid_against_the_published_schemas() {
    let sb = Sandbox::start().unwrap();
    let token = fresh_token(&sb, SandboxUser::alice().organization_name("Lab A"));
    let client = sb.client(&token).unwrap();
    let pipeline = Pipeline::new()
        .gpu_type(GpuType::A100)
        .gpu_provisioning_mode(ProvisioningMode::OnDemand)
        .max_gpus_per_slide(2)
        .cpu_provisioning_mode(ProvisioningMode::Spot)
        .node_acquisition_timeout_minutes(45);
    let metadata = SdkMetadata::new()
        .tags(["study-17", "batch-3"])
        .note("First pass")
        .deadline("2099-01-01T00:00:00Z")
        .pipeline(pipeline);
    let options = SubmitOptions::new().sdk_metadata(metadata);
    let submitted = client
        .runs()
        .submit_with(request(&["a", "b"]), &options)
        .unwrap();
    assert!(!submitted.is_existing());
    let details = submitted.run().details().unwrap();
    let custom = details.custom_metadata.clone().unwrap();
    assert_eq!(custom["study"], "s-1");
    assert_eq!(custom["idempotency_key"], submitted.idempotency_key());
    let sdk = &custom["sdk"];
    assert_valid("sdk_run_custom_metadata_schema_v0.0.7.json", sdk);
    assert_eq!(sdk["user"]["user_id"], "sandbox|alice");
    assert_eq!(sdk["user"]["organization_name"], "Lab A");
    assert_eq!(sdk["submission"]["interface"], "script");
    assert_eq!(sdk["tags"], json!(["batch-3", "study-17"]));
    assert_eq!(sdk["pipeline"]["gpu"]["gpu_type"], "A100");
    assert_eq!(sdk["scheduling"]["deadline"], "2099-01-01T00:00:00Z");
    assert_eq!(sdk["user_agent"], aignostics::user_agent());
    for item in submitted.run().items().iter() {
        let item = item.unwrap();
        let sdk = &item.custom_metadata.unwrap()["sdk"];
        assert_valid("sdk_item_custom_metadata_schema_v0.0.3.json", sdk);
    }
}

// Proves a submission whose `me()` fails still goes through, with `custom_metadata.sdk` left
// without the user and still valid against the published run schema. (FR-64)
#[test]
fn failing_me_leaves_the_user_out() {
    let sb = Sandbox::start().unwrap();
    let client = fast_client(&sb, sandbox::ALICE_TOKEN, 1);
    sb.inject(Fault::status("/api/v1/me", 403).times(100));
    let submitted = client
        .runs()
        .submit_with(
            request(&["u-1"]),
            &SubmitOptions::new().sdk_metadata(SdkMetadata::new().tags(["no-user"])),
        )
        .unwrap();
    sb.clear_faults();
    let custom = submitted
        .run()
        .details()
        .unwrap()
        .custom_metadata
        .clone()
        .unwrap();
    let sdk = &custom["sdk"];
    assert_valid("sdk_run_custom_metadata_schema_v0.0.7.json", sdk);
    assert!(sdk.get("user").is_none(), "{sdk}");
    assert_eq!(sdk["tags"], json!(["no-user"]));
    assert!(
        sb.requests().iter().any(|r| r.path == "/api/v1/me"),
        "me() was asked"
    );
}

// Proves runs are found by their tags with `ListRuns::tags` (all tags must match) and with the
// exact filters the Python SDK sends for `run list --tags` and `--query`. (FR-64)
#[test]
fn tagged_runs_are_found_as_the_python_sdk_finds_them() {
    let sb = Sandbox::start().unwrap();
    let token = fresh_token(&sb, SandboxUser::alice());
    let client = sb.client(&token).unwrap();
    let tagged = client
        .runs()
        .submit_with(
            request(&["a"]),
            &SubmitOptions::new().sdk_metadata(
                SdkMetadata::new()
                    .tags(["study-17", "batch-3"])
                    .note("First Pass"),
            ),
        )
        .unwrap();
    let other = client
        .runs()
        .submit_with(
            request(&["a"]),
            &SubmitOptions::new().sdk_metadata(SdkMetadata::new().tags(["study-17"])),
        )
        .unwrap();
    let ids = |list: aignostics::ListRuns| -> Vec<String> {
        let mut ids: Vec<String> = list.iter().map(|r| r.unwrap().run_id).collect();
        ids.sort();
        ids
    };
    let runs = client.nocache().runs();
    let mut both = vec![tagged.run().id().to_string(), other.run().id().to_string()];
    both.sort();
    assert_eq!(ids(runs.list().tags(["study-17"])), both);
    assert_eq!(
        ids(runs.list().tags(["study-17", "batch-3"])),
        [tagged.run().id()]
    );
    assert!(ids(runs.list().tags(["study-17", "nope"])).is_empty());
    // Python's `application run list --tags batch-3` and `--query pass`.
    let python_tags = r#"$.sdk.tags ? (@ like_regex "^(batch-3)$")"#;
    assert_eq!(
        ids(runs.list().custom_metadata(python_tags)),
        [tagged.run().id()]
    );
    let python_query = r#"$.sdk.note ? (@ like_regex "pass" flag "i")"#;
    assert_eq!(
        ids(runs.list().custom_metadata(python_query)),
        [tagged.run().id()]
    );
}

// Proves opting out sends no `sdk` object on the run or its items, and still stores the
// idempotency key. (FR-64, FR-65)
#[test]
fn opting_out_sends_no_sdk_metadata() {
    let sb = Sandbox::start().unwrap();
    let token = fresh_token(&sb, SandboxUser::alice());
    let client = sb.client(&token).unwrap();
    let submitted = client
        .runs()
        .submit_with(
            request(&["a"]),
            &SubmitOptions::new().without_sdk_metadata(),
        )
        .unwrap();
    let custom = submitted
        .run()
        .details()
        .unwrap()
        .custom_metadata
        .clone()
        .unwrap();
    assert_eq!(
        custom,
        json!({"study": "s-1", "idempotency_key": submitted.idempotency_key()})
    );
    let item = submitted.run().item("a").unwrap();
    assert_eq!(item.custom_metadata, None);
}

// Proves a run committed by the platform whose answer is lost (503 after the commit, or the
// connection dropped after it) is found by its key: exactly one run exists and the caller
// gets it, with a chosen key and with the random one of a plain `submit`. (FR-65)
#[test]
fn lost_answer_after_commit_returns_the_single_run() {
    let sb = Sandbox::start().unwrap();
    let token = fresh_token(&sb, SandboxUser::alice());
    let client = fast_client(&sb, &token, 3);
    let faults = [
        Fault::status_after_commit("/api/v1/runs", 503).method("POST"),
        Fault::drop_after_commit("/api/v1/runs").method("POST"),
        Fault::truncate_body("/api/v1/runs", 4).method("POST"),
    ];
    for (n, fault) in faults.into_iter().enumerate() {
        let key = format!("lost-answer-{n}");
        let before = posts(&sb);
        sb.inject(fault.clone());
        let submitted = client
            .runs()
            .submit_with(request(&["a"]), &SubmitOptions::new().idempotency_key(&key))
            .unwrap();
        assert!(submitted.is_existing(), "{fault:?}");
        assert_eq!(runs_with_key(&client, &key), [submitted.run().id()]);
        assert_eq!(posts(&sb) - before, 1, "{fault:?}: posted once");

        // A plain submit (random key) recovers the same way.
        let before = posts(&sb);
        sb.inject(fault);
        let run = client.runs().submit(request(&["b"])).unwrap();
        let details = run.details().unwrap();
        let random = details.custom_metadata.clone().unwrap()["idempotency_key"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(runs_with_key(&client, &random), [run.id()]);
        assert_eq!(posts(&sb) - before, 1);
    }
}

// Proves that when the answer is lost and the lookup fails too, the caller gets the POST's
// error, and submitting again with the same key returns the run instead of a second one.
// (FR-65)
#[test]
fn failed_lookup_returns_the_error_and_a_retry_resolves_it() {
    let sb = Sandbox::start().unwrap();
    let token = fresh_token(&sb, SandboxUser::alice());
    let client = fast_client(&sb, &token, 2);
    sb.inject(Fault::status_after_commit("/api/v1/runs", 502).method("POST"));
    sb.inject(Fault::status("/api/v1/runs", 500).method("GET").times(2));
    // A random key: no lookup before the POST, so the failing GETs hit the recovery lookup.
    let err = client.runs().submit(request(&["a"])).unwrap_err();
    assert_eq!(err.status(), Some(502));
    sb.clear_faults();
    let existing: Vec<_> = client
        .nocache()
        .runs()
        .list()
        .iter()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(existing.len(), 1, "the lost run exists once");
    let key = existing[0].custom_metadata.as_ref().unwrap()["idempotency_key"]
        .as_str()
        .unwrap()
        .to_string();
    let again = client
        .runs()
        .submit_with(request(&["a"]), &SubmitOptions::new().idempotency_key(&key))
        .unwrap();
    assert!(again.is_existing());
    assert_eq!(again.run().id(), existing[0].run_id);
    assert_eq!(posts(&sb), 1);
}

// Proves a POST that times out while the platform is still working on it is found once the
// platform commits it (within the lookup window), instead of being posted again. (FR-65)
#[test]
fn timed_out_post_committed_later_is_found() {
    let sb = Sandbox::start().unwrap();
    let token = fresh_token(&sb, SandboxUser::alice());
    let mut settings = sb.settings().unwrap();
    settings.run_submit_timeout = Duration::from_millis(200);
    let client = Client::builder()
        .settings(settings)
        .token_provider(aignostics::TokenProvider::fixed(token))
        .build()
        .unwrap();
    // The sandbox answers (and commits) only after the client has given up waiting.
    sb.inject(Fault::delay("/api/v1/runs", Duration::from_millis(800)).method("POST"));
    let submitted = client
        .runs()
        .submit_with(
            request(&["a"]),
            &SubmitOptions::new().idempotency_key("slow-commit"),
        )
        .unwrap();
    assert!(submitted.is_existing());
    assert_eq!(
        runs_with_key(&client, "slow-commit"),
        [submitted.run().id()]
    );
    assert_eq!(posts(&sb), 1);
}

// Proves a POST that failed before the platform committed anything is posted again after the
// lookup finds nothing, and still only one run exists. (FR-65)
#[test]
fn failure_before_commit_is_posted_again_once() {
    let sb = Sandbox::start().unwrap();
    let token = fresh_token(&sb, SandboxUser::alice());
    let client = fast_client(&sb, &token, 3);
    sb.inject(Fault::status("/api/v1/runs", 503).method("POST"));
    let options = SubmitOptions::new()
        .idempotency_key("before-commit")
        .lookup_window(Duration::from_millis(300));
    let submitted = client
        .runs()
        .submit_with(request(&["a"]), &options)
        .unwrap();
    assert!(!submitted.is_existing());
    assert_eq!(
        runs_with_key(&client, "before-commit"),
        [submitted.run().id()]
    );
    assert_eq!(posts(&sb), 2);
}

// Proves a re-run with the same key never creates a second run: the existing run is returned
// without posting, and an error that is not a lost answer (a 400) is never retried. (FR-65)
#[test]
fn same_key_again_returns_the_existing_run() {
    let sb = Sandbox::start().unwrap();
    let token = fresh_token(&sb, SandboxUser::alice());
    let client = sb.client(&token).unwrap();
    let options = SubmitOptions::new().idempotency_key("batch-7");
    let first = client
        .runs()
        .submit_with(request(&["a"]), &options)
        .unwrap();
    let again = client
        .runs()
        .submit_with(request(&["a"]), &options)
        .unwrap();
    assert!(!first.is_existing());
    assert!(again.is_existing());
    assert_eq!(first.run().id(), again.run().id());
    assert_eq!(posts(&sb), 1);
    // The key in the request's metadata counts as chosen too.
    let by_metadata = request(&["a"]).custom_metadata(json!({"idempotency_key": "batch-7"}));
    let third = client.runs().submit(by_metadata).unwrap();
    assert_eq!(third.id(), first.run().id());
    assert_eq!(posts(&sb), 1);

    sb.inject(Fault::status("/api/v1/runs", 400).method("POST"));
    let err = client
        .runs()
        .submit_with(
            request(&["a"]),
            &SubmitOptions::new().idempotency_key("bad-1"),
        )
        .unwrap_err();
    assert_eq!(err.status(), Some(400));
    assert_eq!(posts(&sb), 2);
    assert!(runs_with_key(&client, "bad-1").is_empty());
}

// Proves `health()` reports both components UP, DEGRADED and DOWN with the platform's reason, a
// non-200 answer and a rejected token as DOWN, and an unreachable platform as DOWN within the
// health timeout. (FR-66)
#[test]
fn health_reports_components() {
    let sb = Sandbox::start().unwrap();
    let token = fresh_token(&sb, SandboxUser::alice());
    let client = sb.client(&token).unwrap();
    let health = client.health();
    assert_eq!(health.status, HealthStatus::Up);
    assert_eq!(health.components.len(), 2);
    assert_eq!(health.reason(), None);

    sb.set_health(SandboxHealth::Degraded("queue backlog".into()));
    let health = client.health();
    assert_eq!(health.status, HealthStatus::Degraded);
    assert_eq!(health.components[API_PUBLIC].status, HealthStatus::Degraded);
    assert_eq!(health.reason(), Some("queue backlog"));

    sb.set_health(SandboxHealth::Down("maintenance".into()));
    assert_eq!(client.health().reason(), Some("maintenance"));

    sb.set_health(SandboxHealth::Status(503));
    let health = client.health();
    assert!(health.status.is_down());
    assert!(health.reason().unwrap().contains("503"), "{health:?}");

    sb.set_health(SandboxHealth::Up);
    let stranger = sb.client("not-a-user").unwrap().health();
    assert_eq!(stranger.components[API_PUBLIC].status, HealthStatus::Up);
    assert_eq!(
        stranger.components[API_AUTHENTICATED].status,
        HealthStatus::Down
    );
    assert!(stranger.status.is_down());
    assert!(stranger.reason().unwrap().contains("401"));
    // A refused token is an authentication problem, not an outage.
    assert!(stranger.credentials_refused());
    assert!(stranger.components[API_AUTHENTICATED].credentials_refused);
    assert!(!health.credentials_refused(), "a 503 is an outage");
    assert!(!format!("{stranger:?}").contains("not-a-user"));

    let mut settings = sb.settings().unwrap();
    settings.health_timeout = Duration::from_millis(200);
    sb.inject(Fault::delay("/api/v1/health", Duration::from_secs(3)).times(2));
    let slow = Client::builder()
        .settings(settings)
        .token_provider(aignostics::TokenProvider::fixed(token.clone()))
        .build()
        .unwrap()
        .health();
    assert!(slow.status.is_down());
    assert!(slow.reason().unwrap().contains("timed out"), "{slow:?}");

    let mut settings = sb.settings().unwrap();
    settings.health_timeout = Duration::MAX;
    let patient = Client::builder()
        .settings(settings)
        .token_provider(aignostics::TokenProvider::fixed(token.clone()))
        .build()
        .unwrap()
        .health();
    assert!(patient.status.is_up(), "{patient:?}");

    let root = sb.base_url().to_string();
    sb.shutdown();
    let gone = Client::builder()
        .api_root(root)
        .token_provider(aignostics::TokenProvider::fixed(token))
        .build()
        .unwrap()
        .health();
    assert!(gone.status.is_down());
    assert!(gone.components.values().all(|c| c.status.is_down()));
}

// Proves the async facade has `health` and `submit_with` with the same results. (FR-66, FR-65)
#[cfg(feature = "async")]
#[tokio::test]
async fn async_health_and_submit() {
    let sb = Sandbox::start().unwrap();
    let token = fresh_token(&sb, SandboxUser::alice());
    let client = aignostics::nonblocking::Client::from(sb.client(&token).unwrap());
    assert!(client.health().await.unwrap().status.is_up());
    let options = SubmitOptions::new().idempotency_key("async-1");
    let first = client
        .runs()
        .submit_with(request(&["a"]), options.clone())
        .await
        .unwrap();
    let again = client
        .runs()
        .submit_with(request(&["a"]), options)
        .await
        .unwrap();
    assert!(again.is_existing());
    assert_eq!(first.run().id(), again.run().id());
}

// Proves an idempotency key finds only the caller's own submissions: a run another user
// submitted with the same key and shared with the caller is not returned as the caller's;
// the caller's run is submitted and found again on a re-run. (FR-65)
#[test]
fn a_shared_run_with_the_same_key_is_not_the_callers() {
    let sb = Sandbox::start().unwrap();
    let alice = sb.client(sandbox::ALICE_TOKEN).unwrap();
    let bob = sb.client(sandbox::BOB_TOKEN).unwrap();
    let options = SubmitOptions::new().idempotency_key("batch-1");
    let hers = alice.runs().submit_with(request(&["a"]), &options).unwrap();
    hers.run()
        .grant_access(
            aignostics::models::SubjectType::User,
            &SandboxUser::bob().id,
        )
        .unwrap();
    assert!(
        bob.run(hers.run().id()).details().is_ok(),
        "shared with Bob"
    );
    let his = bob.runs().submit_with(request(&["a"]), &options).unwrap();
    assert!(!his.is_existing(), "Alice's run is not Bob's");
    assert_ne!(his.run().id(), hers.run().id());
    let again = bob.runs().submit_with(request(&["a"]), &options).unwrap();
    assert!(again.is_existing());
    assert_eq!(again.run().id(), his.run().id());
}

// Proves a run cancelled without results never blocks its idempotency key: submitting again
// with the key posts a new run, which later submissions with the key find; asked to, the
// cancelled run is returned instead. (FR-65)
#[test]
fn a_cancelled_run_does_not_block_its_key() {
    let sb = Sandbox::builder()
        .processing_time(Duration::from_secs(3600))
        .start()
        .unwrap();
    let client = sb.client(sandbox::ALICE_TOKEN).unwrap();
    let options = SubmitOptions::new().idempotency_key("batch-c");
    let first = client
        .runs()
        .submit_with(request(&["a"]), &options)
        .unwrap();
    first.run().cancel().unwrap();
    let reused = client
        .runs()
        .submit_with(request(&["a"]), &options.clone().reuse_cancelled(true))
        .unwrap();
    assert!(reused.is_existing());
    assert_eq!(reused.run().id(), first.run().id());
    let second = client
        .runs()
        .submit_with(request(&["a"]), &options)
        .unwrap();
    assert!(!second.is_existing(), "the cancelled run is skipped");
    assert_ne!(second.run().id(), first.run().id());
    let third = client
        .runs()
        .submit_with(request(&["a"]), &options)
        .unwrap();
    assert!(third.is_existing());
    assert_eq!(third.run().id(), second.run().id());
    assert_eq!(posts(&sb), 2);
}
