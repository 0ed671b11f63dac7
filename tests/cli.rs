//! The `aignostics` binary, run as a process against an in-process sandbox.
#![cfg(feature = "cli")]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aignostics::checksum::crc32c_base64_file;
use aignostics::sandbox::{self, Sandbox};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_aignostics");

/// A scratch directory, removed when dropped.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "aignostics-cli-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

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
        &self.scratch.0
    }

    /// The CLI with this fixture's environment only (no AIGNOSTICS_* of the test's own
    /// environment, no env files, the scratch directory as cache and working directory).
    fn command(&self, token: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        for (key, _) in std::env::vars() {
            if key.starts_with("AIGNOSTICS_") {
                cmd.env_remove(key);
            }
        }
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

fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
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
// MIME types, aligned, and `runs list` filters by external id (FR-45).
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
    assert!(String::from_utf8_lossy(&out.stderr).contains("could not be downloaded"));
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
        .current_dir(&scratch.0)
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
