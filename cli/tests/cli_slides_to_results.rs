//! `aignostics runs submit APP --slides DIR --download OUT` as child processes against an
//! in-process sandbox: the whole chain, and the same command killed with SIGKILL during the
//! upload, right after the submission and during the download, then run again.
#![cfg(unix)]

#[path = "../../tests/local/mod.rs"]
mod local;
#[path = "../../tests/slides_support/mod.rs"]
mod slides_support;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use aignostics::DownloadOptions;
use aignostics::bucket::KeyTemplate;
use aignostics_sandbox::{self as sandbox, Fault, Sandbox};
use local::{Scratch, describe, files_below};
use serde_json::Value;
use slides_support::{aperio, generic};

const BIN: &str = env!("CARGO_BIN_EXE_aignostics");

/// Size of the big slide: five 5 MiB parts at `--part-size 5`.
const BIG: u64 = 21 << 20;

/// Results per slide in the sandbox.
const FILES: usize = 6;

struct Fixture {
    sandbox: Sandbox,
    dir: Scratch,
}

impl Fixture {
    fn new(name: &str, artifact_size: u64) -> Self {
        let dir = Scratch::new(&format!("slides-to-results-{name}"));
        std::fs::create_dir_all(dir.join("slides/case-1")).unwrap();
        aperio(4000, 3000, "0.2520")
            .tile(64)
            .write(&dir.join("slides/case-1/a.svs"));
        // A real tiled TIFF header, padded to a size that needs a multipart upload.
        let big = dir.join("slides/big.tif");
        generic(3000, 2000, 40_000, 1, 3).tile(64).write(&big);
        let mut bytes = std::fs::read(&big).unwrap();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        while (bytes.len() as u64) < BIG {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            bytes.extend_from_slice(&x.to_le_bytes());
        }
        std::fs::write(&big, bytes).unwrap();
        let sandbox = Sandbox::builder()
            .processing_time(Duration::from_millis(1500))
            .artifact_size(artifact_size)
            .start()
            .unwrap();
        Self { sandbox, dir }
    }

    fn out(&self) -> PathBuf {
        self.dir.join("results")
    }

    /// The command under test, always the same arguments.
    fn command(&self) -> Command {
        let mut cmd = self.cli();
        cmd.args(["--json", "runs", "submit", "he-tme", "--slides"])
            .arg(self.dir.join("slides"))
            .args([
                "--mapping",
                ".*:staining_method=H&E,tissue=LUNG,disease=LUNG_CANCER",
                "--download",
            ])
            .arg(self.out())
            .args([
                "--part-size",
                "5",
                "--upload-concurrency",
                "1",
                "--interval",
                "0.1",
            ]);
        cmd
    }

    /// The CLI without the test's own environment (AIGNOSTICS_*, CI variables the SDK
    /// metadata reads), pointed at this sandbox and its bucket, run in the scratch directory.
    fn cli(&self) -> Command {
        let mut cmd = local::clean_command(BIN);
        cmd.current_dir(&*self.dir)
            .env("AIGNOSTICS_API_ROOT", self.sandbox.base_url())
            .env("AIGNOSTICS_ACCESS_TOKEN", sandbox::ALICE_TOKEN)
            .env("AIGNOSTICS_BUCKET_ENDPOINT", self.sandbox.bucket_endpoint())
            .env("AIGNOSTICS_CACHE_DIR", self.dir.join("cache"))
            .env("AIGNOSTICS_ENV_FILE", self.dir.join("none.env"))
            .stdin(Stdio::null());
        cmd
    }

    /// Starts the command with its stderr lines sent to the returned channel.
    fn spawn(&self) -> (Child, mpsc::Receiver<String>) {
        let mut child = self
            .command()
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        (child, rx)
    }

    /// Runs the command to its end; requires exit 0 and returns its JSON report.
    fn finish(&self) -> Value {
        let out = self.command().output().unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// The object path (as the sandbox records it) of a slide's default key.
    fn object_path(&self, slide: &str) -> String {
        let bucket = self.sandbox.bucket(sandbox::ALICE_TOKEN).unwrap();
        let file = self.dir.join("slides").join(slide);
        let crc = crc32c::crc32c(&std::fs::read(&file).unwrap());
        let key = KeyTemplate::default()
            .render_with(bucket.user().unwrap(), None, slide, Some(crc), 0)
            .unwrap();
        format!("/s3/{}/{key}", sandbox::BUCKET_NAME)
    }

    fn puts(&self, path: &str) -> usize {
        self.sandbox
            .requests()
            .iter()
            .filter(|r| r.method == "PUT" && r.path == path)
            .count()
    }

    /// Every claim of a finished command: one run, both slides stored once, every result
    /// file on disk and verified (a fresh download skips them all).
    fn check_finished(&self, report: &Value) {
        assert_eq!(report["complete"], true, "{report}");
        assert_eq!(report["status"], "COMPLETED", "{report}");
        let client = self.sandbox.client(sandbox::ALICE_TOKEN).unwrap();
        let runs: Vec<_> = client
            .runs()
            .list()
            .iter()
            .collect::<aignostics::Result<_>>()
            .unwrap();
        assert_eq!(runs.len(), 1, "exactly one run");
        assert_eq!(runs[0].run_id, report["run_id"].as_str().unwrap());
        let bucket = self.sandbox.bucket(sandbox::ALICE_TOKEN).unwrap();
        assert_eq!(bucket.list("").unwrap().len(), 2, "two objects");
        let again = client
            .run(&runs[0].run_id)
            .download_to(self.out(), &DownloadOptions::default().wait_for_run(false))
            .unwrap();
        assert!(again.downloaded.is_empty(), "{again:?}");
        assert_eq!(again.skipped.len(), FILES, "{again:?}");
        assert!(again.is_complete());
        let files = files_below(&self.out());
        assert_eq!(files.len(), FILES, "no stray part files: {files:?}");
    }
}

/// Waits for a stderr line containing `needle`; panics with what was seen when the child
/// ends first.
fn wait_for_line(rx: &mpsc::Receiver<String>, needle: &str) -> Vec<String> {
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(120)) {
            Ok(line) => {
                let hit = line.contains(needle);
                seen.push(line);
                if hit {
                    return seen;
                }
            }
            Err(_) => panic!("no line with {needle:?}; saw {seen:#?}"),
        }
    }
}

fn kill(mut child: Child) {
    child.kill().unwrap();
    child.wait().unwrap();
}

// Proves `runs submit APP --slides DIR --download OUT` runs the whole chain in one process:
// both slides uploaded (one line each), one run, every result file downloaded and verified,
// exit 0; run again, it uploads, submits and downloads nothing, saying each slide was already
// there. (FR-84, FR-82)
#[test]
fn whole_chain_in_one_command() {
    let fx = Fixture::new("whole", 64 * 1024);
    // Each slide's upload is one line (not one per part), saying what happened.
    let uploads = |stderr: &[u8]| -> Vec<String> {
        String::from_utf8_lossy(stderr)
            .lines()
            .filter(|l| l.starts_with("slide ") || l.contains("part"))
            .map(str::to_string)
            .collect()
    };
    let out = fx.command().output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let lines = uploads(&out.stderr);
    assert_eq!(
        lines,
        [
            "slide 1/2 big.tif: uploaded (21.0 MiB)",
            "slide 2/2 case-1/a.svs: uploaded (43.3 KiB)"
        ],
        "{}",
        describe(&out)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["existing"], false);
    assert_eq!(report["downloaded"], FILES);
    fx.check_finished(&report);
    let out = fx.command().output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(
        uploads(&out.stderr),
        [
            "slide 1/2 big.tif: already in the bucket, not sent again (21.0 MiB)",
            "slide 2/2 case-1/a.svs: already in the bucket, not sent again (43.3 KiB)"
        ]
    );
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["existing"], true);
    assert_eq!(again["run_id"], report["run_id"]);
    assert_eq!(again["downloaded"], 0);
    assert_eq!(again["skipped"], FILES);
    for upload in again["uploads"].as_array().unwrap() {
        assert_eq!(upload["outcome"], "AlreadyPresent", "{again}");
        assert_eq!(upload["bytes_sent"], 0);
    }
    fx.check_finished(&again);
}

// Proves the command killed with SIGKILL in the middle of the big slide's multipart upload
// and run again resumes it: the parts already stored are reused, no object is sent twice
// beyond the part in flight, one run, every file verified. (FR-84, FR-82)
#[test]
fn killed_during_upload_then_run_again() {
    let fx = Fixture::new("upload", 64 * 1024);
    let small = fx.object_path("case-1/a.svs");
    let big = fx.object_path("big.tif");
    let (child, _lines) = fx.spawn();
    let mut injected = false;
    for _ in 0..12_000 {
        let n = fx.puts(&big);
        if n >= 2 && !injected {
            // Later parts hang, so the kill lands with the upload unfinished.
            fx.sandbox.inject(
                Fault::delay(&big, Duration::from_secs(3))
                    .method("PUT")
                    .times(10),
            );
            injected = true;
        }
        if n >= 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(fx.puts(&big) >= 3, "the child never reached the third part");
    kill(child);
    let bucket = fx.sandbox.bucket(sandbox::ALICE_TOKEN).unwrap();
    let stored: Vec<String> = bucket
        .list("")
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    // Slides go in path order: `big.tif` first, so nothing is stored yet.
    assert!(stored.is_empty(), "the big slide is unfinished: {stored:?}");
    assert_eq!(
        fx.sandbox.request_count("/api/v1/runs"),
        0,
        "nothing submitted yet"
    );
    fx.sandbox.clear_faults();

    let report = fx.finish();
    let outcomes: Vec<&str> = report["uploads"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["outcome"].as_str().unwrap())
        .collect();
    assert!(outcomes.contains(&"Resumed"), "{report}");
    assert_eq!(fx.puts(&small), 1, "the small slide was sent once");
    assert!(
        fx.puts(&big) <= 5 + 1,
        "five parts, at most one sent twice: {}",
        fx.puts(&big)
    );
    fx.check_finished(&report);
}

// Proves the command killed with SIGKILL right after the run was submitted (while it waits)
// and run again finds that run by its idempotency key instead of submitting another, then
// downloads every file verified. (FR-84, FR-82)
#[test]
fn killed_after_submit_then_run_again() {
    let fx = Fixture::new("submit", 64 * 1024);
    let (child, lines) = fx.spawn();
    let seen = wait_for_line(&lines, "submitted run");
    kill(child);
    let line = seen.last().unwrap();
    let run_id = line
        .split_whitespace()
        .skip_while(|w| *w != "run")
        .nth(1)
        .unwrap()
        .to_string();
    let report = fx.finish();
    assert_eq!(report["existing"], true, "{report}");
    assert_eq!(report["run_id"], run_id.as_str());
    assert_eq!(
        fx.sandbox
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/api/v1/runs")
            .count(),
        1,
        "one POST of a run"
    );
    fx.check_finished(&report);
}

// Proves Ctrl-C (SIGINT) says what it leaves behind and exits 130: during the upload, that
// nothing was submitted and a re-run continues; after the submission, that the run continues on
// the platform and how to finish; run again, the one run is found and finished. (FR-84)
#[cfg(unix)]
#[test]
fn ctrl_c_says_what_continues_and_how_to_resume() {
    let fx = Fixture::new("ctrl-c", 64 * 1024);
    let interrupt = |child: Child| {
        let status = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
        child.wait_with_output().unwrap()
    };
    // During the upload: the big slide's parts hang.
    let big = fx.object_path("big.tif");
    fx.sandbox.inject(
        Fault::delay(&big, Duration::from_secs(3))
            .method("PUT")
            .times(4),
    );
    let (child, lines) = fx.spawn();
    for _ in 0..12_000 {
        if fx.puts(&big) >= 1 {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let out = interrupt(child);
    // Every line the child wrote: its stderr is closed, so the reader ends the channel.
    let rest: Vec<String> = lines.iter().collect();
    assert_eq!(out.status.code(), Some(130), "{rest:#?}");
    assert!(
        rest.iter()
            .any(|l| l
                .starts_with("interrupted: nothing was submitted; running the same command again")),
        "{rest:#?}"
    );

    // While waiting for the run.
    let (child, lines) = fx.spawn();
    let seen = wait_for_line(&lines, "submitted run");
    let run_id = seen
        .last()
        .unwrap()
        .split_whitespace()
        .skip_while(|w| *w != "run")
        .nth(1)
        .unwrap()
        .to_string();
    let out = interrupt(child);
    // Every line the child wrote: its stderr is closed, so the reader ends the channel.
    let rest: Vec<String> = lines.iter().collect();
    assert_eq!(out.status.code(), Some(130), "{rest:#?}");
    assert!(
        rest.iter().any(|l| l
            == &format!(
                "interrupted: run {run_id} continues on the platform; running the same command \
                 again resumes it (it finds the run by its idempotency key)"
            )),
        "{rest:#?}"
    );
    let report = fx.finish();
    assert_eq!(report["run_id"], run_id.as_str());
    assert_eq!(report["existing"], true, "{report}");
    fx.check_finished(&report);
}

// Proves the command killed with SIGKILL while it downloads results and run again downloads
// only what is missing (files already verified are skipped), with one run and every file
// verified. (FR-84, FR-82)
#[test]
fn killed_during_download_then_run_again() {
    let fx = Fixture::new("download", 2 << 20);
    // The first result file hangs, so the kill lands with the download unfinished.
    fx.sandbox.inject(
        Fault::delay("/storage/", Duration::from_secs(5))
            .method("GET")
            .times(1),
    );
    let (child, lines) = fx.spawn();
    wait_for_line(&lines, " downloaded: ");
    kill(child);
    let before = files_below(&fx.out())
        .iter()
        .filter(|p| !p.to_string_lossy().ends_with(".part"))
        .count();
    assert!(
        before < FILES,
        "the download was unfinished ({before} files)"
    );
    fx.sandbox.clear_faults();

    let report = fx.finish();
    assert_eq!(report["existing"], true, "{report}");
    assert_eq!(report["skipped"], before, "{report}");
    assert_eq!(report["downloaded"], FILES - before, "{report}");
    fx.check_finished(&report);
}

// Proves the documented exit codes of the chain: 2 for a usage error (no application, or
// --items with --slides) before anything is sent, 3 when the result is incomplete because a
// slide could not be read (the others are submitted, and the unreadable one is named).
// (FR-84)
#[test]
fn exit_codes_of_the_chain() {
    let fx = Fixture::new("exits", 64 * 1024);
    let slides = fx.dir.join("slides");
    // No application: the chain's own usage error, naming what to add.
    let usage = fx
        .cli()
        .args(["runs", "submit", "--slides"])
        .arg(&slides)
        .output()
        .unwrap();
    assert_eq!(usage.status.code(), Some(2), "{}", describe(&usage));
    assert!(
        String::from_utf8_lossy(&usage.stderr).contains("need the application"),
        "{}",
        describe(&usage)
    );
    let out = fx
        .cli()
        .args([
            "runs",
            "submit",
            "he-tme",
            "--items",
            "items.json",
            "--slides",
        ])
        .arg(&slides)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert_eq!(fx.sandbox.request_count("/api/v1/runs"), 0);

    std::fs::write(slides.join("broken.svs"), b"II*\0not a slide").unwrap();
    let out = fx.command().output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["complete"], false);
    assert_eq!(report["downloaded"], FILES);
    let errors = report["slide_errors"].as_array().unwrap();
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].as_str().unwrap().contains("broken.svs"),
        "{report}"
    );
}

// Proves `runs submit APP --csv FILE --slides DIR` takes the CSV `runs prepare` wrote: the
// slides are uploaded (their `platform_bucket_url` is empty), the run is submitted and waited
// for, and the same command again finds that run. (FR-84, FR-83)
#[test]
fn csv_from_prepare_is_submitted() {
    let fx = Fixture::new("csv", 64 * 1024);
    let slides = fx.dir.join("slides");
    let csv = fx.dir.join("metadata.csv");
    let mut prepare = fx.cli();
    prepare
        .args(["runs", "prepare", "he-tme"])
        .arg(&slides)
        .arg("--csv")
        .arg(&csv)
        .args([
            "--mapping",
            ".*:staining_method=H&E,tissue=LUNG,disease=LUNG_CANCER",
        ]);
    let out = prepare.output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));

    let submit = || {
        let mut cmd = fx.cli();
        cmd.args(["--json", "runs", "submit", "he-tme", "--csv"])
            .arg(&csv)
            .arg("--slides")
            .arg(&slides)
            .args(["--wait", "--interval", "0.1"]);
        let out = cmd.output().unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let first = submit();
    assert_eq!(first["existing"], false);
    assert_eq!(first["status"], "COMPLETED");
    assert_eq!(first["uploads"].as_array().unwrap().len(), 2);
    let second = submit();
    assert_eq!(second["existing"], true);
    assert_eq!(second["run_id"], first["run_id"]);
    let bucket = fx.sandbox.bucket(sandbox::ALICE_TOKEN).unwrap();
    assert_eq!(bucket.list("").unwrap().len(), 2);
}

// Proves an unusable results folder is found before the first byte is uploaded (nothing stored,
// no run), and an error after the submission names the run and the command that finishes the
// job. (FR-84)
#[test]
fn results_folder_checked_first_and_later_errors_name_the_run() {
    let fx = Fixture::new("unwritable", 64 * 1024);
    // The results folder would be below a file: it can never be created.
    std::fs::write(fx.out(), b"a file").unwrap();
    let out = fx.command().output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("results"),
        "{}",
        describe(&out)
    );
    let bucket = fx.sandbox.bucket(sandbox::ALICE_TOKEN).unwrap();
    assert!(bucket.list("").unwrap().is_empty(), "nothing uploaded");
    let client = fx.sandbox.client(sandbox::ALICE_TOKEN).unwrap();
    assert!(client.runs().list().page(1).unwrap().is_empty(), "no run");

    // Reads of the run fail for good once it is submitted.
    std::fs::remove_file(fx.out()).unwrap();
    fx.sandbox.inject(
        aignostics_sandbox::Fault::status("/api/v1/runs/", 400)
            .method("GET")
            .times(1000),
    );
    let out = fx.command().output().unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    fx.sandbox.clear_faults();
    let runs = client.nocache().runs().list().page(1).unwrap();
    assert_eq!(runs.len(), 1, "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains(&format!("run {} was submitted", runs[0].run_id))
            && stderr.contains(&format!("aignostics runs download {}", runs[0].run_id)),
        "{stderr}"
    );
}

// Proves `runs submit --slides … --dry-run` inspects, checks and prints the items (table and
// `--json`) as they would be submitted, warns about specimen fields left out, and uploads and
// submits nothing. (FR-84, FR-90)
#[test]
fn dry_run_with_slides_sends_nothing() {
    let fx = Fixture::new("dry", 64 * 1024);
    let run_with = |json: bool, mapping: &str| {
        let mut cmd = fx.cli();
        if json {
            cmd.arg("--json");
        }
        cmd.args(["runs", "submit", "he-tme", "--slides"])
            .arg(fx.dir.join("slides"))
            .args(["--mapping", mapping, "--dry-run"])
            .output()
            .unwrap()
    };
    let run = |json: bool| {
        run_with(
            json,
            ".*:staining_method=H&E,tissue=LUNG,disease=LUNG_CANCER",
        )
    };
    let out = run(true);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("warning"),
        "{}",
        describe(&out)
    );
    assert!(out.status.success(), "{}", describe(&out));
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(doc["valid"], true);
    let items = doc["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{doc}");
    let metadata = &items[0]["input_artifacts"][0]["metadata"];
    assert_eq!(metadata["specimen"]["tissue"], "LUNG", "{doc}");
    let table = run(false);
    assert!(table.status.success(), "{}", describe(&table));
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.contains("case-1/a.svs") && text.contains("LUNG_CANCER"),
        "{text}"
    );
    // Tissue and disease left out: valid for the schema, but warned about with the allowed
    // values and the rule that sets them, and listed in the JSON.
    let out = run_with(true, "case-1:staining_method=H&E,tissue=LUNG");
    assert!(out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("warning: 1 item (")
            && stderr.contains(") has no specimen.tissue (allowed: BLADDER, BREAST,")
            && stderr.contains("set it with --mapping '.*:tissue=BLADDER'")
            && stderr.contains("warning: 2 items (")
            && stderr.contains(") have no specimen.disease"),
        "{stderr}"
    );
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap();
    let missing = doc["missing_fields"].as_array().unwrap();
    assert_eq!(missing.len(), 3, "{doc}");
    assert_eq!(missing[1]["path"], "specimen.tissue");
    assert_eq!(missing[1]["items"].as_array().unwrap().len(), 1);

    let bucket = fx.sandbox.bucket(sandbox::ALICE_TOKEN).unwrap();
    assert!(bucket.list("").unwrap().is_empty(), "nothing uploaded");
    let client = fx.sandbox.client(sandbox::ALICE_TOKEN).unwrap();
    assert!(
        client.runs().list().page(1).unwrap().is_empty(),
        "nothing submitted"
    );
}

// Proves a typo in the application or version of `runs submit --slides` and `runs prepare`
// gets the closest name or the versions that exist, before any slide is read or uploaded.
// (FR-74, FR-84)
#[test]
fn typos_in_the_application_get_the_closest_name() {
    let fx = Fixture::new("typo", 1024);
    let slides = fx.dir.join("slides");
    for (app, says) in [
        ("he-tmee", "did you mean `he-tme`?"),
        (
            "he-tme:1.0.9",
            "did you mean `1.0.0`? he-tme has the versions",
        ),
    ] {
        let submit = fx
            .cli()
            .args(["runs", "submit", app, "--slides"])
            .arg(&slides)
            .args(["--mapping", ".*:tissue=LUNG"])
            .output()
            .unwrap();
        let prepare = fx
            .cli()
            .args(["runs", "prepare", app])
            .arg(&slides)
            .args(["--csv", "x.csv"])
            .output()
            .unwrap();
        for out in [submit, prepare] {
            assert!(!out.status.success(), "{}", describe(&out));
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(stderr.contains(says), "{app}: {}", describe(&out));
        }
    }
    let bucket = fx.sandbox.bucket(sandbox::ALICE_TOKEN).unwrap();
    assert!(bucket.list("").unwrap().is_empty(), "nothing uploaded");
    assert!(!fx.dir.join("x.csv").exists());
}
