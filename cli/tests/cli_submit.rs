//! `aignostics health` and the SDK metadata, idempotency and health options of
//! `aignostics runs submit`, run as processes against an in-process sandbox.

#[path = "../../tests/local/mod.rs"]
mod local;

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use aignostics::SubmitOptions;
use aignostics::models::RunCreationRequest;
use aignostics_sandbox::{self as sandbox, Sandbox, SandboxHealth};
use local::describe;
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_aignostics");

/// A sandbox and a scratch directory for the CLI's cache, removed when dropped.
struct Fixture {
    sandbox: Sandbox,
    dir: PathBuf,
}

impl Fixture {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "aignostics-cli-submit-{name}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self {
            sandbox: Sandbox::start().unwrap(),
            dir,
        }
    }

    /// The CLI with this fixture's environment only (none of the test's `AIGNOSTICS_*`,
    /// `GITHUB_*` or pytest variables).
    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = local::clean_command(BIN);
        cmd.args(args)
            .current_dir(&self.dir)
            .env("AIGNOSTICS_API_ROOT", self.sandbox.base_url())
            .env("AIGNOSTICS_ACCESS_TOKEN", sandbox::ALICE_TOKEN)
            .env("AIGNOSTICS_CACHE_DIR", self.dir.join("cache"))
            .env("AIGNOSTICS_ENV_FILE", self.dir.join("none.env"))
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().unwrap()
    }

    /// Runs with `--json`, requires exit 0, returns the document.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let out = self.run(&all);
        assert!(out.status.success(), "{args:?}: {}", describe(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn items_file(&self, ids: &[&str]) -> String {
        let items: Vec<_> = ids.iter().map(|id| sandbox::example_item(id)).collect();
        let path = self.dir.join(format!("items-{}.json", ids.join("-")));
        std::fs::write(&path, serde_json::to_vec(&items).unwrap()).unwrap();
        path.to_string_lossy().into_owned()
    }

    fn posts(&self) -> usize {
        self.sandbox
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/api/v1/runs")
            .count()
    }

    fn metadata(&self, run_id: &str) -> Value {
        let client = self.sandbox.client(sandbox::ALICE_TOKEN).unwrap();
        client
            .run(run_id)
            .details()
            .unwrap()
            .custom_metadata
            .clone()
            .unwrap()
    }
}

impl Drop for Fixture {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// `runs submit` of an items file for `he-tme`.
fn submit_args(items: &str) -> Vec<&str> {
    vec![
        "runs",
        "submit",
        "--items",
        items,
        "--application",
        "he-tme",
    ]
}

fn schema_errors(value: &Value) -> Vec<String> {
    let path = format!(
        "{}/../tests/fixtures/sdk_run_custom_metadata_schema_v0.0.7.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let schema: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    validator
        .iter_errors(value)
        .map(|e| e.to_string())
        .collect()
}

// Proves `aignostics health` prints both components, exits 0 when UP or DEGRADED and 1 when
// DOWN, with the reason on stderr. (FR-67)
#[test]
fn health_command() {
    let fx = Fixture::new("health");
    let out = fx.run(&["health"]);
    assert!(out.status.success(), "{}", describe(&out));
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains("api_public") && table.contains("api_authenticated"),
        "{table}"
    );
    let doc = fx.json(&["health"]);
    assert_eq!(doc["status"], "UP");
    assert_eq!(doc["components"]["api_authenticated"]["status"], "UP");

    fx.sandbox
        .set_health(SandboxHealth::Degraded("slow queue".into()));
    let out = fx.run(&["health"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("slow queue"));

    fx.sandbox
        .set_health(SandboxHealth::Down("maintenance".into()));
    let out = fx.run(&["--json", "health"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["status"], "DOWN");
    assert!(String::from_utf8_lossy(&out.stderr).contains("maintenance"));
}

// Proves the submit flags land in `custom_metadata.sdk` (valid against the published schema,
// interface `cli`, the CI context from GitHub's variables) and `runs list --tags` finds the
// run. (FR-67, FR-64)
#[test]
fn submit_flags_write_sdk_metadata() {
    let fx = Fixture::new("flags");
    let items = fx.items_file(&["a"]);
    let out = fx
        .command(&[
            "--json",
            "runs",
            "submit",
            "--items",
            &items,
            "--application",
            "he-tme",
            "--tags",
            "study-17,batch-3",
            "--note",
            "first pass",
            "--due-date",
            "2099-01-01T00:00:00Z",
            "--deadline",
            "2099-01-02T00:00:00Z",
            "--gpu-type",
            "a100",
            "--provisioning-mode",
            "FLEX_START",
        ])
        .env("GITHUB_RUN_ID", "777")
        .env("GITHUB_REPOSITORY", "lab/slides")
        .env("GITHUB_WORKFLOW", "nightly")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["existing"], false);
    let run_id = doc["run_id"].as_str().unwrap();
    let custom = fx.metadata(run_id);
    assert_eq!(custom["idempotency_key"], doc["idempotency_key"]);
    let sdk = &custom["sdk"];
    assert_eq!(schema_errors(sdk), Vec::<String>::new());
    assert_eq!(sdk["submission"]["interface"], "cli");
    assert_eq!(sdk["tags"], json!(["batch-3", "study-17"]));
    assert_eq!(sdk["note"], "first pass");
    assert_eq!(sdk["scheduling"]["due_date"], "2099-01-01T00:00:00Z");
    assert_eq!(sdk["pipeline"]["gpu"]["gpu_type"], "A100");
    assert_eq!(
        sdk["pipeline"]["gpu"]["flex_start_max_run_duration_minutes"],
        720
    );
    assert_eq!(
        sdk["ci"]["github"]["run_url"],
        "https://github.com/lab/slides/actions/runs/777"
    );

    let listed = fx.json(&["runs", "list", "--tags", "batch-3,study-17"]);
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["run_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [run_id]);
    assert!(
        fx.json(&["runs", "list", "--tags", "other"])
            .as_array()
            .unwrap()
            .is_empty()
    );

    let bad = fx.run(&[
        "runs",
        "submit",
        "--items",
        &items,
        "--application",
        "he-tme",
        "--gpu-type",
        "H100",
    ]);
    assert_eq!(bad.status.code(), Some(2), "{}", describe(&bad));
    let past = fx.run(&[
        "runs",
        "submit",
        "--items",
        &items,
        "--application",
        "he-tme",
        "--due-date",
        "2001-01-01T00:00:00Z",
    ]);
    assert_eq!(past.status.code(), Some(1), "{}", describe(&past));
    assert!(String::from_utf8_lossy(&past.stderr).contains("not in the future"));
    let mut dry = submit_args(&items);
    dry.extend(["--dry-run", "--deadline", "soon"]);
    let dry = fx.run(&dry);
    assert_eq!(dry.status.code(), Some(1), "{}", describe(&dry));
    assert!(String::from_utf8_lossy(&dry.stderr).contains("RFC 3339"));
    assert_eq!(fx.posts(), 1);
}

// Proves re-running the same command (a second process, default key derived from the inputs)
// returns the run of the first instead of submitting again, that a process given the key a
// library caller used gets that caller's run, and that a new key submits anew. (FR-67, FR-65)
#[test]
fn same_inputs_or_key_from_another_process_give_the_same_run() {
    let fx = Fixture::new("idempotent");
    let items = fx.items_file(&["a", "b"]);
    let args = submit_args(&items);
    let first = fx.json(&args);
    let second = fx.json(&args);
    assert_eq!(first["existing"], false);
    assert_eq!(second["existing"], true);
    assert_eq!(first["run_id"], second["run_id"]);
    assert_eq!(first["idempotency_key"], second["idempotency_key"]);
    assert_eq!(fx.posts(), 1);

    // The library submits with a key; a child process with the same key finds that run.
    let client = fx.sandbox.client(sandbox::ALICE_TOKEN).unwrap();
    let request = RunCreationRequest::new("he-tme", [sandbox::example_item("c")]);
    let library = client
        .runs()
        .submit_with(
            request,
            &SubmitOptions::new().idempotency_key("shared-key-1"),
        )
        .unwrap();
    let mut with_key = args.clone();
    with_key.extend(["--idempotency-key", "shared-key-1"]);
    let child = fx.json(&with_key);
    assert_eq!(child["run_id"], library.run().id());
    assert_eq!(child["existing"], true);
    assert_eq!(fx.posts(), 2);

    let mut new_key = args.clone();
    new_key.extend(["--idempotency-key", "second-pass"]);
    let fresh = fx.json(&new_key);
    assert_eq!(fresh["existing"], false);
    assert_ne!(fresh["run_id"], first["run_id"]);
    assert_eq!(fx.posts(), 3);
}

// Proves `runs submit` checks the platform's health first: DOWN stops it before anything is
// posted, `--force` skips the check. (FR-67)
#[test]
fn submit_checks_health_first() {
    let fx = Fixture::new("health-first");
    fx.sandbox
        .set_health(SandboxHealth::Down("maintenance".into()));
    let items = fx.items_file(&["a"]);
    let args = submit_args(&items);
    let out = fx.run(&args);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("maintenance") && stderr.contains("--force"),
        "{stderr}"
    );
    assert_eq!(fx.posts(), 0);
    let mut forced = args.clone();
    forced.push("--force");
    let out = fx.run(&forced);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(fx.posts(), 1);
}

// Proves a wrong token is an authentication problem, not an outage: `health` says the
// platform refused the credentials and gives the login hint, and `runs submit` stops before
// submitting with the same hint instead of advising --force; so does having no token at all.
// (FR-67)
#[test]
fn a_wrong_token_is_not_an_outage() {
    let fx = Fixture::new("wrong-token");
    let items = fx.items_file(&["a"]);
    let with_wrong_token = |args: &[&str]| {
        fx.command(args)
            .env("AIGNOSTICS_ACCESS_TOKEN", "not-a-valid-token")
            .output()
            .unwrap()
    };
    let out = with_wrong_token(&["health"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("refused the credentials"), "{stderr}");
    assert!(stderr.contains("AIGNOSTICS_ACCESS_TOKEN"), "{stderr}");
    assert!(!stderr.contains("DOWN"), "{stderr}");
    let out = with_wrong_token(&[
        "runs",
        "submit",
        "--items",
        &items,
        "--application",
        "he-tme",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("AIGNOSTICS_ACCESS_TOKEN is set"),
        "{stderr}"
    );
    assert!(!stderr.contains("--force"), "{stderr}");
    assert_eq!(
        fx.sandbox.request_count("/api/v1/runs"),
        0,
        "nothing submitted"
    );

    // No token at all (not logged in, no login settings for this root): the login problem
    // with its hint, not an outage.
    let without_token = |args: &[&str]| {
        fx.command(args)
            .env_remove("AIGNOSTICS_ACCESS_TOKEN")
            .output()
            .unwrap()
    };
    for args in [
        &["health"][..],
        &[
            "runs",
            "submit",
            "--items",
            &items,
            "--application",
            "he-tme",
        ][..],
    ] {
        let out = without_token(args);
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("not a known Aignostics environment")
                && stderr.contains("hint: without a login for this API root"),
            "{stderr}"
        );
        assert!(
            !stderr.contains("DOWN") && !stderr.contains("--force"),
            "{stderr}"
        );
    }
    assert_eq!(fx.sandbox.request_count("/api/v1/runs"), 0);
}

// Proves tags and a note given to a submission whose idempotency key finds an earlier run are
// not dropped silently: the command says they were not applied and how to change them.
// (FR-67)
#[test]
fn tags_for_an_existing_run_are_reported_not_applied() {
    let fx = Fixture::new("tags-existing");
    let items = fx.items_file(&["a"]);
    let submit = |tags: &str| {
        fx.run(&[
            "runs",
            "submit",
            "--items",
            &items,
            "--application",
            "he-tme",
            "--idempotency-key",
            "batch-9",
            "--tags",
            tags,
            "--note",
            "second look",
        ])
    };
    let first = submit("first");
    assert!(first.status.success(), "{}", describe(&first));
    assert!(!String::from_utf8_lossy(&first.stderr).contains("not applied"));
    let again = submit("second");
    assert!(again.status.success(), "{}", describe(&again));
    let stderr = String::from_utf8_lossy(&again.stderr);
    assert!(stderr.contains("--tags, --note not applied"), "{stderr}");
    assert!(stderr.contains("runs metadata"), "{stderr}");
}

// Proves `runs submit --wait --timeout` gives up with exit 1 when the run outlasts the timeout
// (durations take a unit), naming the run, and the run goes on. (FR-67)
#[test]
fn submit_wait_takes_a_timeout() {
    let fx = Fixture::new("wait-timeout");
    let items = fx.items_file(&["a"]);
    let out = fx.run(&[
        "runs",
        "submit",
        "--items",
        &items,
        "--application",
        "he-tme",
        "--wait",
        "--timeout",
        "300ms",
        "--interval",
        "0.1",
    ]);
    // 300ms is no duration: the units are s, m, h and d.
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let out = fx.run(&[
        "runs",
        "submit",
        "--items",
        &items,
        "--application",
        "he-tme",
        "--wait",
        "--timeout",
        "0.3s",
        "--interval",
        "0.1",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    let client = fx.sandbox.client(sandbox::ALICE_TOKEN).unwrap();
    let runs = client.nocache().runs().list().page(1).unwrap();
    assert_eq!(runs.len(), 1);
    assert!(stderr.contains(&runs[0].run_id), "{stderr}");
}
