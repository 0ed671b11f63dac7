//! The `aignostics` binary, run as a process against an in-process sandbox.

#[path = "../../tests/local/mod.rs"]
mod local;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use aignostics::checksum::crc32c_base64_file;
use aignostics_sandbox::{self as sandbox, Sandbox};
use local::{Scratch, describe};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_aignostics");

/// A sandbox with fast runs, a scratch directory, and the CLI pointed at both.
struct Fixture {
    sandbox: Sandbox,
    scratch: Scratch,
}

impl Fixture {
    fn new(name: &str) -> Self {
        let sandbox = Sandbox::builder()
            .processing_time(Duration::from_millis(400))
            .artifact_size(16 * 1024)
            .start()
            .unwrap();
        Self {
            sandbox,
            scratch: Scratch::new(name),
        }
    }

    fn dir(&self) -> &Path {
        &self.scratch
    }

    /// The CLI with this fixture's environment only (no AIGNOSTICS_* of the test's own
    /// environment, no env files, the scratch directory as cache and working directory).
    fn command(&self, token: &str, args: &[&str]) -> Command {
        let mut cmd = local::clean_command(BIN);
        cmd.args(args)
            .current_dir(self.dir())
            .env("AIGNOSTICS_API_ROOT", self.sandbox.base_url())
            .env("AIGNOSTICS_ACCESS_TOKEN", token)
            .env("AIGNOSTICS_CACHE_DIR", self.dir().join("cache"))
            .env("AIGNOSTICS_ENV_FILE", self.dir().join("none.env"))
            .stdin(Stdio::null());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.run_as(sandbox::ALICE_TOKEN, args)
    }

    fn run_as(&self, token: &str, args: &[&str]) -> Output {
        self.command(token, args).output().unwrap()
    }

    /// Runs with `input` on stdin.
    fn run_with_stdin(&self, args: &[&str], input: &str) -> Output {
        let mut child = self
            .command(sandbox::ALICE_TOKEN, args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    }

    /// Runs and requires exit 0; returns stdout.
    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(out.status.success(), "{args:?}: {}", describe(&out));
        String::from_utf8(out.stdout).unwrap()
    }

    /// Runs with --json and requires exit 0 and exactly one JSON document on stdout.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let stdout = self.ok(&all);
        serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("{args:?}: {e}: {stdout}"))
    }

    fn items_file(&self, items: &Value) -> PathBuf {
        let path = self.dir().join("items.json");
        std::fs::write(&path, serde_json::to_vec_pretty(items).unwrap()).unwrap();
        path
    }
}

fn items(ids: &[&str]) -> Value {
    json!(
        ids.iter()
            .map(|id| sandbox::example_item(id))
            .collect::<Vec<_>>()
    )
}

// Proves the main flow: submit from a file, wait, and download, with every downloaded file
// matching the CRC32C published in its item's artifact metadata (FR-45).
#[test]
fn submit_wait_download() {
    let fx = Fixture::new("flow");
    let file = fx.items_file(&items(&["slide-a", "slide-b"]));
    let stdout = fx.ok(&[
        "runs",
        "submit",
        "--items",
        file.to_str().unwrap(),
        "--application",
        "he-tme",
        "--version",
        "1.0.0",
    ]);
    let run_id = stdout.trim().to_string();
    assert_eq!(run_id.len(), 36, "stdout is the run id alone: {stdout:?}");

    let done = fx.json(&["runs", "wait", &run_id, "--interval", "0.1"]);
    assert_eq!(done["state"], "TERMINATED");
    assert_eq!(done["version_number"], "1.0.0");

    let results = fx.dir().join("results");
    std::fs::create_dir(&results).unwrap();
    let report = fx.json(&[
        "runs",
        "download",
        &run_id,
        results.to_str().unwrap(),
        "--interval",
        "0.1",
    ]);
    assert_eq!(report["complete"], true, "{report}");
    let downloaded: Vec<PathBuf> = report["downloaded"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| PathBuf::from(p.as_str().unwrap()))
        .collect();
    assert_eq!(downloaded.len(), 6, "three artifacts per slide: {report}");

    // The published checksums, per item directory.
    let client = fx.sandbox.client(sandbox::ALICE_TOKEN).unwrap().nocache();
    let mut expected: HashMap<String, Vec<String>> = HashMap::new();
    for item in client.run(&run_id).items().iter() {
        let item = item.unwrap();
        for artifact in &item.output_artifacts {
            let crc = artifact.metadata.as_ref().unwrap()["checksum_base64_crc32c"]
                .as_str()
                .unwrap()
                .to_string();
            expected
                .entry(item.external_id.clone())
                .or_default()
                .push(crc);
        }
    }
    for path in &downloaded {
        assert!(
            path.starts_with(results.join(&run_id)),
            "{}",
            path.display()
        );
        let item = path
            .parent()
            .and_then(Path::file_name)
            .unwrap()
            .to_string_lossy()
            .to_string();
        let crc = crc32c_base64_file(path).unwrap();
        let published = expected.get_mut(&item).unwrap();
        let at = published
            .iter()
            .position(|c| *c == crc)
            .unwrap_or_else(|| panic!("{}: {crc} not published", path.display()));
        published.remove(at);
    }
    assert!(expected.values().all(Vec::is_empty), "{expected:?}");

    // Again: everything is already there and verified, nothing is fetched.
    let again = fx.json(&["runs", "download", &run_id, results.to_str().unwrap()]);
    assert_eq!(again["downloaded"].as_array().unwrap().len(), 0);
    assert_eq!(again["skipped"].as_array().unwrap().len(), 6);
    assert_eq!(fx.sandbox.storage_requests_with_authorization(), 0);
}

// Proves a whole run request can come from stdin (`--items -`), and its fields reach the run (FR-45).
#[test]
fn submit_from_stdin() {
    let fx = Fixture::new("stdin");
    let request = json!({
        "application_id": "test-app",
        "version_number": "1.1.0",
        "custom_metadata": {"study": "stdin-1"},
        "items": items(&["piped-1"]),
    });
    let out = fx.run_with_stdin(&["runs", "submit", "--items", "-"], &request.to_string());
    assert!(out.status.success(), "{}", describe(&out));
    let run_id = String::from_utf8(out.stdout).unwrap().trim().to_string();
    let shown = fx.json(&["runs", "show", &run_id]);
    assert_eq!(shown["run"]["application_id"], "test-app");
    assert_eq!(shown["run"]["version_number"], "1.1.0");
    assert_eq!(shown["run"]["custom_metadata"]["study"], "stdin-1");
    assert_eq!(shown["items"][0]["external_id"], "piped-1");
}

// Proves every list and show command's --json output is one parseable JSON document with
// the expected content, and whoami masks the bucket's HMAC secret unless asked (FR-45, FR-68).
#[test]
fn json_output_parses() {
    let fx = Fixture::new("json");
    let file = fx.items_file(&items(&["j-1"]));
    let run_id = fx
        .ok(&[
            "runs",
            "submit",
            "--items",
            file.to_str().unwrap(),
            "--application",
            "he-tme",
        ])
        .trim()
        .to_string();

    let apps = fx.json(&["applications", "list"]);
    let ids: Vec<&str> = apps
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["application_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["he-tme", "test-app"]);
    assert_eq!(
        fx.json(&["applications", "show", "he-tme"])["versions"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let versions = fx.json(&["versions", "list", "he-tme"]);
    assert_eq!(versions[0]["number"], "1.1.0", "newest first: {versions}");
    let version = fx.json(&["versions", "show", "he-tme", "1.0.0"]);
    assert_eq!(version["version_number"], "1.0.0");
    assert_eq!(version["input_artifacts"][0]["mime_type"], "image/tiff");
    let runs = fx.json(&["runs", "list", "--application", "he-tme", "--mine"]);
    assert_eq!(runs[0]["run_id"], run_id.as_str());
    let shown = fx.json(&["runs", "show", &run_id]);
    assert_eq!(shown["run"]["run_id"], run_id.as_str());
    assert_eq!(shown["items"].as_array().unwrap().len(), 1);
    let tokens = fx.json(&["share-tokens", "list"]);
    assert_eq!(tokens, json!([]));
    let me = fx.json(&["whoami"]);
    assert_eq!(me["user"]["id"], "sandbox|alice");
    assert_eq!(me["organization"]["id"], "org_sandbox_a");
    let org = &me["organization"];
    let secret = org["aignostics_bucket_hmac_secret_access_key"]
        .as_str()
        .unwrap();
    assert!(secret.starts_with("***MASKED("), "{me}");
    let shown = fx.json(&["whoami", "--show-secrets"]);
    let revealed = shown["organization"]["aignostics_bucket_hmac_secret_access_key"]
        .as_str()
        .unwrap();
    assert!(!revealed.is_empty() && !revealed.contains("MASKED"));
    assert!(!me.to_string().contains(revealed), "{me}");
    assert!(!fx.ok(&["whoami"]).contains(revealed));
}

// Proves the plain output of `versions show` lists input and output artifacts with their
// MIME types, aligned, and each input's metadata fields with the values they allow, and
// `runs list` filters by external id (FR-45, FR-90).
#[test]
fn plain_tables() {
    let fx = Fixture::new("plain");
    let text = fx.ok(&["versions", "show", "he-tme"]);
    assert!(text.contains("Version:      1.1.0"), "{text}");
    assert!(
        text.contains("whole_slide_image  image/tiff"),
        "input table: {text}"
    );
    assert!(
        text.contains("cell_classification:parquet  application/vnd.apache.parquet  ITEM"),
        "output table: {text}"
    );
    // Every metadata field, required or not, with its allowed values or range (FR-90).
    for line in [
        "FIELD                   TYPE     REQUIRED  ALLOWED",
        "resolution_mpp          number   yes       > 0, ≤ 10",
        "specimen.tissue         string   no        BLADDER, BREAST, COLON, LIVER, LUNG,",
        "staining_method         string   no        H&E",
    ] {
        assert!(text.contains(line), "{line:?} in {text}");
    }
    let file = fx.items_file(&items(&["find-me"]));
    let file = file.to_str().unwrap();
    let run_id = fx.ok(&["runs", "submit", "--items", file, "--application", "he-tme"]);
    fx.ok(&[
        "runs",
        "submit",
        "--items",
        file,
        "--application",
        "test-app",
    ]);
    let listed = fx.ok(&[
        "runs",
        "list",
        "--external-id",
        "find-me",
        "--application",
        "he-tme",
    ]);
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), 2, "header and one run: {listed}");
    assert!(lines[0].starts_with("RUN ID"), "{listed}");
    assert!(lines[1].starts_with(run_id.trim()), "{listed}");
}

// Proves an unknown token exits 1 with a readable error on stderr, and the token appears in
// neither stdout nor stderr (FR-45).
#[test]
fn bad_token_is_a_readable_error() {
    let fx = Fixture::new("badtoken");
    let token = "tok-cli-secret-1f9e8d7c";
    for args in [&["whoami"][..], &["--json", "runs", "list"]] {
        let out = fx.run_as(token, args);
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(stderr.contains("401"), "{stderr}");
        assert!(
            stderr.contains("AIGNOSTICS_ACCESS_TOKEN"),
            "a hint: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{}", describe(&out));
        assert!(!stderr.contains(token));
    }
}

// Proves usage errors exit 2: an unknown command, a missing required option, an array of
// items without --application, and delete-artifacts without --yes (FR-45).
#[test]
fn usage_errors_exit_2() {
    let fx = Fixture::new("usage");
    let file = fx.items_file(&items(&["u-1"]));
    let file = file.to_str().unwrap();
    for args in [
        &["runs", "frobnicate"][..],
        &["runs", "submit"],
        &["runs", "submit", "--items", file],
        &[
            "runs",
            "delete-artifacts",
            "00000000-0000-0000-0000-000000000000",
        ],
        &["runs", "metadata", "r", "--set", "[1]"],
        &["runs", "list", "--limit", "0"],
    ] {
        let out = fx.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
        assert!(out.stdout.is_empty(), "{args:?}: {}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    }
    assert_eq!(fx.sandbox.request_count("/api/v1/runs"), 0);
}

// Proves metadata can be shown, set (from stdin too), guarded by a checksum, and cleared, on
// a run and on an item; a stale checksum exits 1 naming the precondition (FR-45).
#[test]
fn metadata_commands() {
    let fx = Fixture::new("metadata");
    let file = fx.items_file(&items(&["m-1"]));
    let run_id = fx
        .ok(&[
            "runs",
            "submit",
            "--items",
            file.to_str().unwrap(),
            "--application",
            "he-tme",
        ])
        .trim()
        .to_string();
    let set = fx.json(&["runs", "metadata", &run_id, "--set", r#"{"study": "a"}"#]);
    let checksum = set["custom_metadata_checksum"]
        .as_str()
        .unwrap()
        .to_string();
    let shown = fx.json(&["runs", "metadata", &run_id]);
    assert_eq!(shown["custom_metadata"], json!({"study": "a"}));
    assert_eq!(shown["custom_metadata_checksum"], checksum.as_str());

    let out = fx.run_with_stdin(
        &[
            "runs",
            "metadata",
            &run_id,
            "--set",
            "-",
            "--checksum",
            &checksum,
        ],
        r#"{"study": "b"}"#,
    );
    assert!(out.status.success(), "{}", describe(&out));
    let stale = fx.run(&[
        "runs",
        "metadata",
        &run_id,
        "--clear",
        "--checksum",
        &checksum,
    ]);
    assert_eq!(stale.status.code(), Some(1), "{}", describe(&stale));
    assert!(String::from_utf8_lossy(&stale.stderr).contains("412"));
    fx.ok(&["runs", "metadata", &run_id, "--clear"]);
    assert_eq!(
        fx.json(&["runs", "metadata", &run_id])["custom_metadata"],
        Value::Null
    );

    fx.ok(&[
        "runs",
        "metadata",
        &run_id,
        "--item",
        "m-1",
        "--set",
        r#"{"score": 1}"#,
    ]);
    let item = fx.json(&["runs", "metadata", &run_id, "--item", "m-1"]);
    assert_eq!(item["custom_metadata"], json!({"score": 1}));
}

// Proves cancel, a second cancel (409, exit 1), share tokens with a grant on the run, and
// artifact deletion after which a download reports the deleted files and exits 1 (FR-45).
#[test]
fn cancel_share_and_delete() {
    let fx = Fixture::new("lifecycle");
    let slow = Sandbox::builder()
        .processing_time(Duration::from_secs(600))
        .start()
        .unwrap();
    let file = fx.items_file(&items(&["c-1"]));
    let file = file.to_str().unwrap();
    let submit = |fx_root: &str| {
        let out = fx
            .command(
                sandbox::ALICE_TOKEN,
                &[
                    "--api-root",
                    fx_root,
                    "runs",
                    "submit",
                    "--items",
                    file,
                    "--application",
                    "he-tme",
                ],
            )
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    };
    let pending = submit(slow.base_url());
    let cancel = |run: &str| {
        fx.command(
            sandbox::ALICE_TOKEN,
            &["--api-root", slow.base_url(), "runs", "cancel", run],
        )
        .output()
        .unwrap()
    };
    assert!(cancel(&pending).status.success());
    let again = cancel(&pending);
    assert_eq!(again.status.code(), Some(1), "{}", describe(&again));
    assert!(String::from_utf8_lossy(&again.stderr).contains("409"));

    let run_id = submit(fx.sandbox.base_url());
    let token = fx.json(&["share-tokens", "create", "--run", &run_id]);
    let token_id = token["share_token_id"].as_str().unwrap().to_string();
    assert_eq!(token["grant"]["resource_id"], run_id.as_str());
    let listed = fx.json(&["share-tokens", "list", "--run", &run_id]);
    assert_eq!(listed[0]["share_token_id"], token_id.as_str());
    assert!(
        listed[0].get("share_token").is_none(),
        "secrets are not listed"
    );
    fx.ok(&["share-tokens", "revoke", &token_id]);
    assert_eq!(fx.json(&["share-tokens", "list"]), json!([]));

    fx.json(&["runs", "wait", &run_id, "--interval", "0.1"]);
    fx.ok(&["runs", "delete-artifacts", &run_id, "--yes"]);
    let results = fx.dir().join("deleted");
    std::fs::create_dir(&results).unwrap();
    let out = fx.run(&[
        "--json",
        "runs",
        "download",
        &run_id,
        results.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["failed"].as_array().unwrap().len(), 3, "{report}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("deleted on the platform"));
}

// Proves `aignostics sandbox --port N` serves on that port and answers /api/v1/me for the
// example token it prints (FR-45).
#[test]
fn sandbox_command_serves() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let scratch = Scratch::new("serve");
    let mut child = Command::new(BIN)
        .args(["sandbox", "--port", &port.to_string()])
        .current_dir(&*scratch)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    // Read the printed `export` line on a thread, so a silent child cannot hang the test.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if line.trim_start().starts_with("export ") {
                let _ = tx.send(line);
                break;
            }
        }
    });
    let line = rx.recv_timeout(Duration::from_secs(60));
    let answer = line.as_ref().ok().map(|line| {
        let vars: HashMap<&str, &str> = line
            .split_whitespace()
            .filter_map(|word| word.split_once('='))
            .collect();
        let root = vars["AIGNOSTICS_API_ROOT"].to_string();
        let token = vars["AIGNOSTICS_ACCESS_TOKEN"].to_string();
        let me: Result<Value, _> = ureq::get(format!("{root}/api/v1/me"))
            .header("Authorization", format!("Bearer {token}"))
            .call()
            .and_then(|mut r| r.body_mut().read_json());
        (root, me)
    });
    child.kill().unwrap();
    child.wait().unwrap();
    let (root, me) = answer.expect("the sandbox printed its export line");
    assert_eq!(root, format!("http://127.0.0.1:{port}"));
    assert_eq!(me.unwrap()["user"]["id"], "sandbox|alice");
}

// Proves a sandbox asked for a port another program holds fails at once with the hint that
// `--port 0` picks a free one. (FR-45)
#[test]
fn busy_sandbox_port_suggests_port_zero() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port().to_string();
    let scratch = Scratch::new("busy");
    let out = Command::new(BIN)
        .args(["sandbox", "--port", &port])
        .current_dir(&*scratch)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!out.status.success(), "{}", describe(&out));
    assert!(
        stderr(&out).contains(&format!(
            "hint: port {port} is taken (another sandbox?): `aignostics sandbox --port 0`"
        )),
        "{}",
        describe(&out)
    );
    drop(holder);
}

/// Submits `ids` to he-tme and returns the run id.
fn submit_items(fx: &Fixture, ids: &[&str]) -> String {
    let file = fx.items_file(&items(ids));
    fx.ok(&[
        "runs",
        "submit",
        "--items",
        file.to_str().unwrap(),
        "--application",
        "he-tme",
    ])
    .trim()
    .to_string()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

// Proves `runs download` creates a missing output directory, reports items done of total
// while it waits, exits 3 on a result with a failed item (the documented code for an
// incomplete result) and 0 with --allow-incomplete, speaks of "1 item", and says nothing on
// stderr with --quiet (FR-73, FR-75, FR-77).
#[test]
fn download_creates_dir_and_exits_3_when_incomplete() {
    let fx = Fixture::new("incomplete");
    let run_id = submit_items(&fx, &["ok-1", "fail-2"]);
    let results = fx.dir().join("new").join("nested");
    let out = fx.run(&[
        "--json",
        "runs",
        "download",
        &run_id,
        results.to_str().unwrap(),
        "--interval",
        "0.1",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["complete"], false, "{report}");
    assert_eq!(
        report["downloaded"].as_array().unwrap().len(),
        3,
        "{report}"
    );
    assert_eq!(report["failed_items"][0]["external_id"], "fail-2");
    let err = stderr(&out);
    assert!(
        err.contains("items finished"),
        "progress counts items: {err}"
    );
    assert!(err.contains("incomplete: 1 item without results"), "{err}");
    assert!(err.contains("--allow-incomplete"), "{err}");
    assert!(results.join(&run_id).join("ok-1").is_dir());

    let allowed = fx.run(&[
        "runs",
        "download",
        &run_id,
        results.to_str().unwrap(),
        "--allow-incomplete",
    ]);
    assert_eq!(allowed.status.code(), Some(0), "{}", describe(&allowed));
    // Quiet: the same download says nothing on stderr.
    let quiet = fx.run(&[
        "--quiet",
        "runs",
        "download",
        &run_id,
        results.to_str().unwrap(),
        "--allow-incomplete",
    ]);
    assert_eq!(quiet.status.code(), Some(0), "{}", describe(&quiet));
    assert!(quiet.stderr.is_empty(), "{}", describe(&quiet));
    assert_eq!(String::from_utf8_lossy(&quiet.stdout).lines().count(), 3);
}

// Proves `runs wait --require-success` exits 3 on a run with a failed item and names the
// counts in the singular where there is one (FR-73, FR-77).
#[test]
fn wait_require_success_exits_3() {
    let fx = Fixture::new("waitfail");
    let run_id = submit_items(&fx, &["fail-1"]);
    let out = fx.run(&[
        "runs",
        "wait",
        &run_id,
        "--interval",
        "0.1",
        "--require-success",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    assert!(
        stderr(&out).contains("0 of 1 item succeeded"),
        "{}",
        describe(&out)
    );
}

// Proves a download after `delete-artifacts` says once that the artifacts were deleted (by
// artifact, not as `.bin` paths) and does not tell the user to retry, through `runs download`
// and through `runs submit --items … --wait --download` (FR-73).
#[test]
fn download_after_delete_artifacts_says_what_happened() {
    let fx = Fixture::new("deleted");
    let run_id = submit_items(&fx, &["d-1"]);
    fx.json(&["runs", "wait", &run_id, "--interval", "0.1"]);
    let deleted = fx.ok(&["runs", "delete-artifacts", &run_id, "--yes"]);
    assert!(deleted.contains("can no longer be downloaded"), "{deleted}");
    let out = fx.run(&["runs", "download", &run_id, "results"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = stderr(&out);
    assert_eq!(err.matches("deleted on the platform").count(), 1, "{err}");
    assert!(err.contains("3 artifacts were deleted"), "{err}");
    assert!(!err.contains("again to retry"), "{err}");
    assert!(!err.contains(".bin"), "{err}");

    // `runs submit --items … --wait --download` (the same inputs: the same run) tells it the
    // same way, with the same exit status.
    let file = fx.items_file(&items(&["d-1"]));
    let out = fx.run(&[
        "runs",
        "submit",
        "--items",
        file.to_str().unwrap(),
        "--application",
        "he-tme",
        "--wait",
        "--download",
        "chained",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = stderr(&out);
    assert_eq!(err.matches("deleted on the platform").count(), 1, "{err}");
    assert!(err.contains(&run_id), "the same run: {err}");
    assert!(!err.contains("again to retry"), "{err}");
    assert!(
        err.contains("another --idempotency-key"),
        "the way out: {err}"
    );
}

// Proves errors name the next step: a mistyped application id suggests the closest id and
// `applications list`; a refused connection names the API root and how to change it; a 409
// on delete-artifacts says the run has not terminated; a 412 points to `runs metadata RUN`;
// a request without application_id mentions --application; an unknown run points to
// `runs list` (FR-74).
#[test]
fn errors_say_what_to_do_next() {
    let fx = Fixture::new("hints");
    let out = fx.run(&["applications", "show", "he-tmee"]);
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("did you mean `he-tme`?"), "{err}");
    assert!(err.contains("aignostics applications list"), "{err}");
    let out = fx.run(&["versions", "show", "he-tme", "1.0.1"]);
    assert!(
        stderr(&out).contains("aignostics versions list he-tme"),
        "{}",
        describe(&out)
    );

    let refused = fx.run(&["--api-root", "http://127.0.0.1:9", "whoami"]);
    assert_eq!(refused.status.code(), Some(1));
    let err = stderr(&refused);
    assert!(
        err.contains("API root tried was http://127.0.0.1:9"),
        "{err}"
    );
    assert!(
        err.contains("--api-root") && err.contains("AIGNOSTICS_API_ROOT"),
        "{err}"
    );

    let slow = Sandbox::builder()
        .processing_time(Duration::from_secs(600))
        .start()
        .unwrap();
    let file = fx.items_file(&items(&["p-1"]));
    let submitted = fx
        .command(
            sandbox::ALICE_TOKEN,
            &[
                "--api-root",
                slow.base_url(),
                "runs",
                "submit",
                "--items",
                file.to_str().unwrap(),
                "--application",
                "he-tme",
            ],
        )
        .output()
        .unwrap();
    let pending = String::from_utf8(submitted.stdout)
        .unwrap()
        .trim()
        .to_string();
    let out = fx
        .command(
            sandbox::ALICE_TOKEN,
            &[
                "--api-root",
                slow.base_url(),
                "runs",
                "delete-artifacts",
                &pending,
                "--yes",
            ],
        )
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("the run has not terminated yet"), "{err}");
    assert!(!err.contains("already cancelled or revoked"), "{err}");
    assert!(
        err.contains(&format!("aignostics runs wait {pending}")),
        "{err}"
    );

    let run_id = submit_items(&fx, &["m-1"]);
    let set = fx.json(&["runs", "metadata", &run_id, "--set", r#"{"a": 1}"#]);
    let checksum = set["custom_metadata_checksum"]
        .as_str()
        .unwrap()
        .to_string();
    fx.ok(&["runs", "metadata", &run_id, "--set", r#"{"a": 2}"#]);
    let stale = fx.run(&[
        "runs",
        "metadata",
        &run_id,
        "--clear",
        "--checksum",
        &checksum,
    ]);
    assert_eq!(stale.status.code(), Some(1));
    assert!(
        stderr(&stale).contains(&format!("`aignostics runs metadata {run_id}`")),
        "{}",
        describe(&stale)
    );

    let request = json!({ "items": items(&["x-1"]) });
    let out = fx.run_with_stdin(&["runs", "submit", "--items", "-"], &request.to_string());
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(stderr(&out).contains("--application"), "{}", describe(&out));

    let missing = fx.run(&["runs", "show", "00000000-0000-0000-0000-000000000000"]);
    assert_eq!(missing.status.code(), Some(1));
    assert!(
        stderr(&missing).contains("aignostics runs list"),
        "{}",
        describe(&missing)
    );
}

// Proves the login dead ends read plainly: `login --device` without a device client id says
// where it comes from and the ways in without it, in plain words; and with
// AIGNOSTICS_ACCESS_TOKEN set, a failing login gives no hint contradicting its note (FR-74).
#[test]
fn login_dead_ends_read_plainly() {
    let fx = Fixture::new("login");
    let root = fx.sandbox.base_url().to_string();
    let mut cmd = fx.command(sandbox::ALICE_TOKEN, &["login", "--device"]);
    cmd.env_remove("AIGNOSTICS_ACCESS_TOKEN");
    for (key, path) in [
        ("AIGNOSTICS_AUTHORIZATION_BASE_URL", "/authorize"),
        ("AIGNOSTICS_TOKEN_URL", "/oauth/token"),
        ("AIGNOSTICS_REDIRECT_URI", "/callback"),
        ("AIGNOSTICS_DEVICE_URL", "/oauth/device/code"),
        ("AIGNOSTICS_JWS_JSON_URL", "/.well-known/jwks.json"),
    ] {
        cmd.env(key, format!("{root}{path}"));
    }
    cmd.env("AIGNOSTICS_AUDIENCE", "https://sandbox-audience")
        .env("AIGNOSTICS_CLIENT_ID_INTERACTIVE", "sandbox-interactive");
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains("AIGNOSTICS_CLIENT_ID_DEVICE"), "{err}");
    assert!(err.contains("ask your Aignostics contact"), "{err}");
    assert!(!err.contains("token provider"), "library words: {err}");

    // A sandbox API root has no login: the hint says what works, never that the set
    // AIGNOSTICS_ACCESS_TOKEN should be checked.
    let out = fx.run(&["login"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains("hint: `aignostics login` needs"), "{err}");
    assert!(!err.contains("check that it holds"), "{err}");
}

// Proves completion scripts are generated for bash, zsh, fish, powershell and elvish, naming
// the commands, and that `sandbox --help` has no --api-root (refused there) while `runs list
// --help` has, and help texts end with examples (FR-75, FR-77).
#[test]
fn completions_and_help() {
    let fx = Fixture::new("completions");
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let script = fx.ok(&["completions", shell]);
        assert!(script.contains("aignostics"), "{shell}");
        assert!(
            script.contains("delete-artifacts"),
            "{shell}: every command is completed"
        );
        assert!(script.len() > 2_000, "{shell}: {} bytes", script.len());
    }
    let out = fx.run(&["completions", "tcsh"]);
    assert_eq!(out.status.code(), Some(2));

    let help = fx.ok(&["sandbox", "--help"]);
    assert!(!help.contains("--api-root"), "{help}");
    assert!(help.contains("Examples:"), "{help}");
    let out = fx.run(&["sandbox", "--api-root", "http://x"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let help = fx.ok(&["runs", "list", "--help"]);
    assert!(help.contains("--api-root"), "{help}");
    for args in [
        &["runs", "download", "--help"][..],
        &["share-tokens", "create", "--help"],
        &["grants", "revoke", "--help"],
    ] {
        let help = fx.ok(args);
        assert!(
            help.contains("Examples:\n  aignostics "),
            "{args:?}: {help}"
        );
    }
}

// Proves every command and subcommand of the command tree, found by walking `--help`, ends its
// help with examples of the binary's own invocations (FR-75).
#[test]
fn every_command_help_ends_with_examples() {
    let fx = Fixture::new("examples");
    let mut queue = vec![Vec::<String>::new()];
    let mut leaves = 0;
    while let Some(path) = queue.pop() {
        let mut args: Vec<&str> = path.iter().map(String::as_str).collect();
        args.push("--help");
        let help = fx.ok(&args);
        let subcommands: Vec<String> = help
            .split("\nCommands:\n")
            .nth(1)
            .map(|section| {
                section
                    .lines()
                    .take_while(|line| line.starts_with("  "))
                    .filter_map(|line| line.split_whitespace().next())
                    .filter(|name| *name != "help")
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        if subcommands.is_empty() {
            leaves += 1;
            let (_, examples) = help
                .rsplit_once("Examples:\n")
                .unwrap_or_else(|| panic!("{path:?} --help has no examples:\n{help}"));
            assert!(
                examples
                    .lines()
                    .next()
                    .is_some_and(|line| line.starts_with("  ") && line.contains("aignostics ")),
                "{path:?}: {examples}"
            );
        }
        for name in subcommands {
            let mut next = path.clone();
            next.push(name);
            queue.push(next);
        }
    }
    assert!(leaves > 30, "only {leaves} commands found");
}

// Proves a list cut by --limit says so on stderr, --all lists everything, and an uncut list
// says nothing (FR-75).
#[test]
fn list_says_when_cut() {
    let fx = Fixture::new("limit");
    for id in ["l-1", "l-2", "l-3"] {
        submit_items(&fx, &[id]);
    }
    let out = fx.run(&["runs", "list", "--limit", "2"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    let err = stderr(&out);
    assert!(err.contains("2 shown, more available"), "{err}");
    assert!(err.contains("--all"), "{err}");
    let all = fx.json(&["runs", "list", "--all"]);
    assert_eq!(all.as_array().unwrap().len(), 3);
    let out = fx.run(&["runs", "list", "--limit", "3"]);
    assert!(stderr(&out).is_empty(), "{}", describe(&out));
}

// Proves a run shared through a share token can be shown, listed by item and downloaded by
// another user with --share-token (also from stdin), and not without it, the refusal saying how
// (FR-76).
#[test]
fn share_token_reads() {
    let fx = Fixture::new("shared");
    let run_id = submit_items(&fx, &["s-1"]);
    fx.json(&["runs", "wait", &run_id, "--interval", "0.1"]);
    let token = fx.json(&["share-tokens", "create", "--run", &run_id]);
    let secret = token["share_token"].as_str().unwrap().to_string();

    let denied = fx.run_as(sandbox::BOB_TOKEN, &["runs", "show", &run_id]);
    assert_eq!(denied.status.code(), Some(1), "{}", describe(&denied));
    // The 403 says how to read it.
    assert!(
        stderr(&denied).contains(&format!(
            "hint: run {run_id} is not yours: read it with --share-token SECRET"
        )),
        "{}",
        describe(&denied)
    );
    let shown = fx.run_as(
        sandbox::BOB_TOKEN,
        &["--json", "runs", "show", &run_id, "--share-token", &secret],
    );
    assert!(shown.status.success(), "{}", describe(&shown));
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    assert_eq!(shown["run"]["run_id"], run_id.as_str());
    let listed = fx.run_as(
        sandbox::BOB_TOKEN,
        &["--json", "runs", "items", &run_id, "--share-token", &secret],
    );
    assert!(listed.status.success(), "{}", describe(&listed));
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["external_id"], "s-1");
    let mut child = fx
        .command(
            sandbox::BOB_TOKEN,
            &[
                "--json",
                "runs",
                "download",
                &run_id,
                "bob",
                "--share-token",
                "-",
            ],
        )
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{secret}\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        report["downloaded"].as_array().unwrap().len(),
        3,
        "{report}"
    );
    assert!(!stderr(&out).contains(&secret));
}

// Proves the documents commands list, show and download a version's documents, and the
// grants commands list, show and revoke the grant of a shared run (FR-76).
#[test]
fn documents_and_grants_commands() {
    let fx = Fixture::new("docs");
    let docs = fx.json(&["documents", "list", "he-tme", "--version", "1.0.0"]);
    let names: Vec<&str> = docs
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["name"].as_str().unwrap())
        .collect();
    assert!(names.contains(&"README.md"), "{docs}");
    let shown = fx.ok(&["documents", "show", "he-tme", "README.md"]);
    assert!(shown.contains("text/markdown"), "{shown}");
    let saved = fx.json(&["documents", "download", "he-tme", "README.md", "docs"]);
    let path = PathBuf::from(saved["path"].as_str().unwrap());
    assert_eq!(path, Path::new("docs").join("README.md"));
    assert!(!std::fs::read(fx.dir().join(&path)).unwrap().is_empty());
    let missing = fx.run(&["documents", "show", "he-tme", "READ.md"]);
    assert!(stderr(&missing).contains("aignostics documents list he-tme"));

    let run_id = submit_items(&fx, &["g-1"]);
    fx.json(&["share-tokens", "create", "--run", &run_id]);
    let grants = fx.json(&["grants", "list", "--run", &run_id]);
    assert_eq!(grants.as_array().unwrap().len(), 1, "{grants}");
    let id = grants[0]["grant_id"].as_str().unwrap().to_string();
    let shown = fx.ok(&["grants", "show", &id]);
    assert!(shown.contains(&run_id), "{shown}");
    fx.ok(&["grants", "revoke", &id]);
    assert_eq!(fx.json(&["grants", "list", "--run", &run_id]), json!([]));
    let again = fx.run(&["grants", "revoke", &id]);
    assert_eq!(again.status.code(), Some(1));
    assert!(
        stderr(&again).contains("already revoked"),
        "{}",
        describe(&again)
    );
}

// Proves option validation: a zero interval, --version without --application, --limit 0 and
// a huge timeout (`1e19`, which used to crash with exit 101) are usage errors (exit 2),
// while a date is accepted as an expiry (the end of that day, UTC) as well as an RFC 3339
// time, and a dry run names the resolved version and "1 item" (FR-77).
#[test]
fn options_are_validated() {
    let fx = Fixture::new("validate");
    let run = "00000000-0000-0000-0000-000000000000";
    for (args, says) in [
        (&["runs", "wait", run, "--interval", "0"][..], "from 0.1"),
        (&["runs", "download", run, "--interval", "0"], "from 0.1"),
        (&["runs", "list", "--version", "1.0.0"], "--application"),
        (&["runs", "list", "--limit", "0"], "--all"),
        (&["runs", "wait", run, "--timeout", "1e19"], "--timeout"),
        (&["runs", "download", run, "--timeout", "inf"], "--timeout"),
        (
            &["share-tokens", "create", "--expires-at", "2027-02-30"],
            "date",
        ),
        (
            &[
                "runs",
                "submit",
                "he-tme",
                "--slides",
                ".",
                "--part-size",
                "3",
            ],
            "from 5 to 5120",
        ),
        (
            &["bucket", "upload", "f.svs", "--part-size", "6000"],
            "from 5 to 5120",
        ),
    ] {
        let out = fx.run(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", describe(&out));
        assert!(stderr(&out).contains(says), "{args:?}: {}", describe(&out));
    }
    let token = fx.json(&["share-tokens", "create", "--expires-at", "2027-12-31"]);
    assert!(
        token["expires_at"]
            .as_str()
            .unwrap()
            .starts_with("2027-12-31T23:59:59"),
        "{token}"
    );
    let token = fx.json(&[
        "share-tokens",
        "create",
        "--expires-at",
        "2027-06-30T12:00:00+02:00",
    ]);
    let expires = token["expires_at"].as_str().unwrap();
    assert!(expires.starts_with("2027-06-30T10:00:00"), "{token}");
    let file = fx.items_file(&items(&["v-1"]));
    let text = fx.ok(&[
        "runs",
        "submit",
        "--items",
        file.to_str().unwrap(),
        "--application",
        "he-tme",
        "--dry-run",
    ]);
    assert_eq!(text, "Valid: 1 item for he-tme 1.1.0; nothing submitted.\n");
}

// Proves server strings cannot act on the terminal: an external id carrying an OSC 52
// clipboard sequence and cursor controls is shown escaped in tables, notes and errors, and
// exactly in --json output (FR-78).
#[test]
fn control_characters_never_reach_the_terminal() {
    let fx = Fixture::new("escape");
    let evil = "x\u{1b}]52;c;cm0gLXJmIH4=\u{7}\u{1b}[2J\u{202e}";
    let run_id = submit_items(&fx, &[evil]);
    let table = fx.run(&["runs", "show", &run_id]);
    assert!(table.status.success(), "{}", describe(&table));
    assert!(!table.stdout.contains(&0x1b) && !table.stdout.contains(&0x07));
    assert!(
        String::from_utf8_lossy(&table.stdout).contains("x\\u{1b}]52;c;cm0gLXJmIH4=\\u{7}"),
        "{}",
        describe(&table)
    );
    let items = fx.run(&["runs", "items", &run_id]);
    assert!(!items.stdout.contains(&0x1b), "{}", describe(&items));
    let json = fx.json(&["runs", "show", &run_id]);
    assert_eq!(json["items"][0]["external_id"], evil);

    // An error quoting the id, and a note naming the downloaded paths.
    let out = fx.run(&["runs", "metadata", &run_id, "--item", "y\u{1b}[31m"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(!out.stderr.contains(&0x1b), "{}", describe(&out));
    fx.json(&["runs", "wait", &run_id, "--interval", "0.1"]);
    let out = fx.run(&["runs", "download", &run_id, "results"]);
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        !out.stderr.contains(&0x1b) && !out.stdout.contains(&0x1b),
        "{}",
        describe(&out)
    );
}

// Proves the CLI never exits with a code it does not document: `--json runs download` into
// a directory whose name is not UTF-8 downloads, then fails with exit 1 and a message
// instead of a panic (exit 101) (FR-78).
#[cfg(unix)]
#[test]
fn non_utf8_directory_is_an_error_not_a_crash() {
    use std::os::unix::ffi::OsStrExt;
    let fx = Fixture::new("nonutf8");
    let run_id = submit_items(&fx, &["n-1"]);
    fx.json(&["runs", "wait", &run_id, "--interval", "0.1"]);
    let dir = fx.dir().join(std::ffi::OsStr::from_bytes(b"res\xff"));
    let out = fx
        .command(
            sandbox::ALICE_TOKEN,
            &["--json", "runs", "download", &run_id],
        )
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(out.stdout.is_empty(), "{}", describe(&out));
    let err = stderr(&out);
    assert!(err.contains("cannot be printed as JSON"), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(dir.join(&run_id).join("n-1").is_dir());
    // Without --json, the same download lists the files.
    let plain = fx
        .command(sandbox::ALICE_TOKEN, &["runs", "download", &run_id])
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(plain.status.code(), Some(0), "{}", describe(&plain));
}

// Proves `share-tokens create --run` for a run that does not exist creates no token: it
// exits 1 and the token list stays empty (no active, never-expiring secret left behind)
// (FR-76).
#[test]
fn share_token_for_missing_run_leaves_nothing() {
    let fx = Fixture::new("sharemissing");
    let out = fx.run(&[
        "share-tokens",
        "create",
        "--run",
        "00000000-0000-0000-0000-000000000000",
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains("no share token was created"),
        "{}",
        describe(&out)
    );
    assert!(out.stdout.is_empty());
    assert_eq!(fx.json(&["share-tokens", "list", "--all"]), json!([]));
}

// Proves `aignostics login` can be practised against the sandbox with the settings it
// prints: the refresh-token login stores a token that later commands use without
// AIGNOSTICS_ACCESS_TOKEN, and the device flow completes once the printed link is opened
// (FR-74, FR-44).
#[test]
fn login_practised_against_the_sandbox() {
    let fx = Fixture::new("practise");
    let login = |args: &[&str]| {
        let mut cmd = fx.command(sandbox::ALICE_TOKEN, args);
        cmd.env_remove("AIGNOSTICS_ACCESS_TOKEN");
        for (key, value) in fx.sandbox.login_env() {
            cmd.env(key, value);
        }
        cmd
    };
    let out = login(&["login"])
        .env("AIGNOSTICS_REFRESH_TOKEN", sandbox::ALICE_REFRESH_TOKEN)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("sandbox|alice"));
    // The sandbox is not a known environment, so the login is stored under its API root's name.
    let stored = std::fs::read_dir(fx.dir().join("cache"))
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().starts_with(".token-") && e.path().is_file());
    assert!(stored, "no per-root token file in the cache directory");
    let me = login(&["--json", "whoami"]).output().unwrap();
    assert!(me.status.success(), "{}", describe(&me));
    let me: Value = serde_json::from_slice(&me.stdout).unwrap();
    assert_eq!(me["user"]["id"], "sandbox|alice");

    let mut child = login(&["login", "--device", "--force"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if let Some(at) = line.find("http://") {
                let url = line[at..].split_whitespace().next().unwrap().to_string();
                let _ = tx.send(url);
            }
        }
    });
    let url = rx.recv_timeout(Duration::from_secs(60));
    if let Ok(url) = &url {
        assert!(url.contains("/activate?user_code="), "{url}");
        let page = ureq::get(url).call().unwrap().into_body().read_to_string();
        assert!(page.unwrap().contains("confirmed"));
    } else {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    assert!(url.is_ok(), "the device flow printed its link");
    assert!(out.status.success(), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stdout).contains("sandbox|alice"));
}

// Proves a share token whose grant on the run fails is revoked again: the command exits 1
// saying so, and no active token is left (FR-76).
#[test]
fn share_token_whose_grant_fails_is_revoked() {
    let fx = Fixture::new("grantfails");
    let run_id = submit_items(&fx, &["r-1"]);
    fx.sandbox
        .inject(sandbox::Fault::status("/api/v1/access/grants", 500).method("POST"));
    let out = fx.run(&["share-tokens", "create", "--run", &run_id]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        stderr(&out).contains("was revoked again"),
        "{}",
        describe(&out)
    );
    assert_eq!(fx.json(&["share-tokens", "list"]), json!([]));
    let all = fx.json(&["share-tokens", "list", "--all"]);
    assert_eq!(all.as_array().unwrap().len(), 1, "{all}");
    assert_eq!(all[0]["revoked"], true, "{all}");
}

// Proves `runs download` with a mistyped run id fails without leaving an empty folder, and a
// folder where the run id belongs is refused as a usage error saying the order. (FR-45)
#[test]
fn download_mistakes_leave_nothing_behind() {
    let fx = Fixture::new("download-typo");
    let target = fx.dir().join("never-made");
    let out = fx.run(&["runs", "download", "no-such-run", target.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(!target.exists(), "no empty folder left behind");
    let results = fx.dir().join("results");
    std::fs::create_dir(&results).unwrap();
    let out = fx.run(&["runs", "download", results.to_str().unwrap(), "out"]);
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("looks like a folder"),
        "{}",
        describe(&out)
    );
}

// Proves a run id may be given as a unique prefix (as `git` and `docker` accept), for reading
// and waiting, in any case; a prefix of no run says where run ids are listed.
// (FR-74)
#[test]
fn run_id_prefixes() {
    let fx = Fixture::new("prefix");
    let run_id = submit_items(&fx, &["p-1"]);
    let prefix = &run_id[..8];
    let shown = fx.json(&["runs", "show", &prefix.to_ascii_uppercase()]);
    assert_eq!(shown["run"]["run_id"], run_id.as_str());
    let waited = fx.json(&["runs", "wait", prefix, "--interval", "0.1"]);
    assert_eq!(waited["run_id"], run_id.as_str(), "{waited}");
    // A prefix of no run: flip its first digit.
    let other = format!(
        "{}{}",
        if prefix.starts_with('0') { '1' } else { '0' },
        &prefix[1..]
    );
    let out = fx.run(&["runs", "show", &other]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(stderr(&out).contains("runs list"), "{}", describe(&out));
}

/// The resident memory of process `pid` in KiB (Linux).
#[cfg(target_os = "linux")]
fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

// Proves `aignostics sandbox` keeps uploaded objects on disk, not in memory: after 256 MiB of
// uploads (a multipart object and a single PUT) its resident memory grew by far less than that,
// and both objects download back with the file's CRC32C. (FR-45)
#[cfg(target_os = "linux")]
#[test]
fn sandbox_keeps_uploads_on_disk() {
    let scratch = Scratch::new("sandbox-disk");
    let (mut child, info) = sandbox_child(&scratch, &[]);
    let client = aignostics::Client::builder()
        .api_root(info["api_root"].as_str().unwrap())
        .token_provider(aignostics::TokenProvider::fixed(
            info["access_token"].as_str().unwrap(),
        ))
        .build()
        .unwrap();
    let bucket = aignostics::bucket::Bucket::from_me_at(
        &client.me().unwrap(),
        info["bucket_endpoint"].as_str().unwrap(),
    )
    .unwrap();
    let before = rss_kib(child.id());
    let big = scratch.join("big.bin");
    let mut rng = local::Rng(7);
    let block: Vec<u8> = (0..1 << 20).map(|_| rng.next() as u8).collect();
    let mut file = std::fs::File::create(&big).unwrap();
    for i in 0..224u32 {
        file.write_all(&block).unwrap();
        file.write_all(&i.to_le_bytes()).unwrap();
    }
    drop(file);
    let small = scratch.join("small.bin");
    std::fs::write(&small, block.repeat(32)).unwrap();
    bucket
        .upload(&big, "u/big.bin")
        .concurrency(2)
        .send()
        .unwrap();
    bucket.upload(&small, "u/small.bin").send().unwrap();
    let grown_mib = rss_kib(child.id()).saturating_sub(before) / 1024;
    for (path, key) in [(&big, "u/big.bin"), (&small, "u/small.bin")] {
        let back = scratch.join("back.bin");
        bucket.download(key, &back).unwrap();
        assert_eq!(
            crc32c_base64_file(&back).unwrap(),
            crc32c_base64_file(path).unwrap()
        );
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        grown_mib < 96,
        "the sandbox grew by {grown_mib} MiB for 256 MiB of uploads"
    );
}

/// `aignostics --json sandbox --port 0 EXTRA…` started in `dir`, and the settings it prints
/// on its first line.
fn sandbox_child(dir: &std::path::Path, extra: &[&str]) -> (std::process::Child, Value) {
    let mut child = Command::new(BIN)
        .args(["--json", "sandbox", "--port", "0"])
        .args(extra)
        .current_dir(dir)
        .env("AIGNOSTICS_CACHE_DIR", dir.join("cache"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, serde_json::from_str(&line).unwrap())
}

// Proves the new user's path works as the sandbox prints it: `aignostics sandbox
// --example-slides DIR` writes three slides, and from another process, with only the printed
// settings, `slides inspect DIR` lists them and the printed `runs submit … --slides DIR
// --download results` uploads, runs and downloads every result verified (exit 0), with the
// manifest beside them, and `--table` writes the cohort table. (FR-45, FR-84, FR-91)
#[test]
fn example_slides_walkthrough() {
    let scratch = Scratch::new("walkthrough");
    let (mut child, info) = sandbox_child(
        &scratch,
        &["--processing-time", "0.5", "--example-slides", "ex"],
    );
    assert_eq!(
        info["example_slides"].as_array().unwrap().len(),
        3,
        "{info}"
    );
    let cli = |args: &[&str]| {
        let mut cmd = local::clean_command(BIN);
        cmd.args(args)
            .current_dir(&*scratch)
            .env("AIGNOSTICS_API_ROOT", info["api_root"].as_str().unwrap())
            .env(
                "AIGNOSTICS_ACCESS_TOKEN",
                info["access_token"].as_str().unwrap(),
            )
            .env(
                "AIGNOSTICS_BUCKET_ENDPOINT",
                info["bucket_endpoint"].as_str().unwrap(),
            )
            .env("AIGNOSTICS_CACHE_DIR", scratch.join("cache"))
            .env("AIGNOSTICS_ENV_FILE", scratch.join("none.env"))
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let inspected = cli(&["--json", "slides", "inspect", "ex"]);
    let submitted = cli(&[
        "--json",
        "runs",
        "submit",
        "he-tme",
        "--slides",
        "ex",
        "--download",
        "results",
        "--mapping",
        ".*:tissue=LUNG,disease=LUNG_CANCER,staining_method=H&E",
        "--interval",
        "0.2",
        "--table",
        "cohort.csv",
    ]);
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(inspected.status.success(), "{}", describe(&inspected));
    let slides: Value = serde_json::from_slice(&inspected.stdout).unwrap();
    assert_eq!(slides.as_array().unwrap().len(), 3);
    assert!(submitted.status.success(), "{}", describe(&submitted));
    let report: Value = serde_json::from_slice(&submitted.stdout).unwrap();
    assert_eq!(report["complete"], true, "{report}");
    let run_id = report["run_id"].as_str().unwrap();
    let manifest: Value = serde_json::from_slice(
        &std::fs::read(scratch.join("results").join(run_id).join("manifest.json")).unwrap(),
    )
    .unwrap();
    let items = manifest["items"].as_array().unwrap();
    assert_eq!(items.len(), 3, "{manifest}");
    assert!(
        items.iter().all(|i| i["state"] == "SUCCEEDED"),
        "{manifest}"
    );
    assert!(
        !String::from_utf8_lossy(&submitted.stderr).contains("warning"),
        "{}",
        describe(&submitted)
    );
    // The cohort table of the three slides' Atlas-shaped readouts.
    let table = std::fs::read_to_string(scratch.join("cohort.csv")).unwrap();
    assert_eq!(table.lines().count(), 4, "{}", describe(&submitted));
    assert!(
        table
            .lines()
            .next()
            .unwrap()
            .contains(",SLIDE_UUID,SLIDE_NAME,")
    );
}
