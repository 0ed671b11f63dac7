//! `aignostics cohort …` as child processes against an in-process sandbox: 400 slides in 16
//! batches submitted by 8 shard processes, one killed with SIGKILL mid-submit and restarted;
//! status from a ninth process; retry of failed slides; a refused submission; download.
#![cfg(unix)]

#[path = "../../tests/local/mod.rs"]
mod local;
#[path = "../../tests/slides_support/mod.rs"]
mod slides_support;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use aignostics_sandbox::{self as sandbox, Fault, Sandbox};
use local::{Scratch, describe};
use serde_json::Value;
use slides_support::generic;

const BIN: &str = env!("CARGO_BIN_EXE_aignostics");
const MAPPING: &str = ".*:staining_method=H&E,tissue=LUNG,disease=LUNG_CANCER";

fn write_slides(root: &Path, n: u32) {
    std::fs::create_dir_all(root).unwrap();
    for i in 0..n {
        generic(1000 + i, 800, 40_000, 1, 3)
            .tile(256)
            .write(&root.join(format!("s-{i:03}.tif")));
    }
}

fn cli(platform: &Sandbox, dir: &Path) -> Command {
    let mut cmd = local::clean_command(BIN);
    cmd.current_dir(dir)
        .env("AIGNOSTICS_API_ROOT", platform.base_url())
        .env("AIGNOSTICS_ACCESS_TOKEN", sandbox::ALICE_TOKEN)
        .env("AIGNOSTICS_BUCKET_ENDPOINT", platform.bucket_endpoint())
        .env("AIGNOSTICS_CACHE_DIR", dir.join("cache"))
        .env("AIGNOSTICS_ENV_FILE", dir.join("none.env"))
        .stdin(Stdio::null());
    cmd
}

fn submit(platform: &Sandbox, dir: &Path, name: &str, extra: &[&str]) -> Command {
    let mut cmd = cli(platform, dir);
    cmd.args(["cohort", "submit", name, "--slides"])
        .arg(dir.join("slides"))
        .args(["--app", "he-tme", "--mapping", MAPPING])
        .args(extra);
    cmd
}

/// Each external id with the runs it is in, from the sandbox's own records.
fn items_by_slide(platform: &Sandbox) -> BTreeMap<String, Vec<String>> {
    let client = platform.client(sandbox::ALICE_TOKEN).unwrap().nocache();
    let mut by_slide: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for run in client.runs().list().iter() {
        let run = run.unwrap();
        for item in client.run(&run.run_id).items().iter() {
            by_slide
                .entry(item.unwrap().external_id)
                .or_default()
                .push(run.run_id.clone());
        }
    }
    by_slide
}

fn status_json(platform: &Sandbox, dir: &Path, name: &str) -> (i32, Value) {
    let out = cli(platform, dir)
        .args(["--json", "cohort", "status", name])
        .output()
        .unwrap();
    let code = out.status.code().unwrap();
    (
        code,
        serde_json::from_slice(&out.stdout).unwrap_or_else(|_| panic!("{}", describe(&out))),
    )
}

// Proves 8 shard processes (one killed mid-submit and restarted) put 400 slides in exactly 16 runs, each slide in one, and status from a ninth process agrees with the platform's records. (FR-98, FR-99)
#[test]
fn eight_shards_one_killed_mid_submit() {
    let dir = Scratch::new("cli-cohort-shards");
    write_slides(&dir.join("slides"), 400);
    let platform = Sandbox::builder()
        .processing_time(Duration::from_secs(3600))
        .artifact_size(1024)
        .start()
        .unwrap();
    let shard = |k: u32| {
        let mut cmd = submit(
            &platform,
            &dir,
            "big",
            &["--batch-size", "25", "--shard", &format!("{k}/8")],
        );
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        cmd
    };
    let mut children: Vec<_> = (0..8).map(|k| shard(k).spawn().unwrap()).collect();
    // Shard 3 is killed while its second batch (11) is being uploaded, after batch 3 is in.
    let stderr = children[3].stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines().map_while(Result::ok);
    let mut seen = Vec::new();
    let mut after_first = false;
    for line in lines.by_ref() {
        seen.push(line.clone());
        if line.starts_with("batch 3 ") {
            after_first = true;
        } else if after_first && line.starts_with("slide ") {
            break;
        }
    }
    assert!(after_first, "{seen:#?}");
    children[3].kill().unwrap();
    children[3].wait().unwrap();
    for (k, mut child) in children.into_iter().enumerate() {
        if k != 3 {
            let status = child.wait().unwrap();
            let mut rest = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut rest).unwrap();
            assert!(status.success(), "shard {k}: {rest}");
        }
    }
    // Before the restart: batch 11 is missing.
    let (code, status) = status_json(&platform, &dir, "big");
    assert_eq!(code, 3, "not done");
    assert_eq!(
        status["missing_batches"],
        serde_json::json!([11]),
        "{status}"
    );
    assert_eq!(status["totals"]["not_submitted"], 25);

    let out = shard(3).stderr(Stdio::piped()).output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let told = String::from_utf8_lossy(&out.stderr);
    assert!(
        told.contains("batch 3 (round 0, 25 slides): already on the platform"),
        "{told}"
    );
    assert!(
        told.contains("batch 11 (round 0, 25 slides): submitted"),
        "{told}"
    );

    let by_slide = items_by_slide(&platform);
    assert_eq!(by_slide.len(), 400);
    assert!(
        by_slide.values().all(|runs| runs.len() == 1),
        "a slide in two runs"
    );
    let runs: std::collections::BTreeSet<&String> = by_slide.values().flatten().collect();
    assert_eq!(runs.len(), 16, "exactly 16 runs");

    // A ninth process sees what the platform records.
    let (code, status) = status_json(&platform, &dir, "big");
    assert_eq!(code, 3, "runs still processing");
    assert_eq!(status["totals"]["slides"], 400);
    assert_eq!(status["totals"]["not_submitted"], 0);
    assert_eq!(status["missing_batches"], serde_json::json!([]));
    assert_eq!(status["version_number"], "1.1.0");
    let slides = status["slides"].as_array().unwrap();
    assert_eq!(slides.len(), 400);
    for slide in slides {
        let id = slide["external_id"].as_str().unwrap();
        assert_eq!(
            by_slide[id],
            [slide["run_id"].as_str().unwrap().to_string()]
        );
        assert!(["pending", "processing"].contains(&slide["state"].as_str().unwrap()));
    }
    let table = cli(&platform, &dir)
        .args(["cohort", "status", "big"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&table.stdout);
    assert!(
        text.starts_with("EXTERNAL ID") && text.contains("s-399.tif"),
        "{text}"
    );
}

// Proves retry --failed resubmits exactly the failed slides and nothing the second time, status exits 4 then 0, and download fetches every run into one folder with the table. (FR-99, FR-100)
#[test]
fn retry_failed_then_download() {
    let dir = Scratch::new("cli-cohort-retry");
    write_slides(&dir.join("slides"), 6);
    let platform = Sandbox::builder()
        .processing_time(Duration::ZERO)
        .artifact_size(1024)
        .catalog(aignostics_sandbox::Catalog::atlas())
        .start()
        .unwrap();
    platform.fail_items(["s-001.tif", "s-004.tif"]);
    let out = submit(&platform, &dir, "retry-me", &["--batch-size", "4"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let (code, status) = status_json(&platform, &dir, "retry-me");
    assert_eq!(code, 4, "finished with failures: {status}");
    assert_eq!(status["totals"]["failed"], 2);
    let failed: Vec<&str> = status["slides"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["state"] == "failed")
        .map(|s| s["external_id"].as_str().unwrap())
        .collect();
    assert_eq!(failed, ["s-001.tif", "s-004.tif"]);

    platform.fail_items(Vec::<String>::new());
    let retry = |platform: &Sandbox| {
        let out = cli(platform, &dir)
            .args(["--json", "cohort", "retry", "retry-me", "--failed"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let first = retry(&platform);
    assert_eq!(first["round"], 1);
    assert_eq!(first["slides"], 2);
    assert_eq!(first["submitted"].as_array().unwrap().len(), 1, "{first}");
    let second = retry(&platform);
    assert_eq!(second["submitted"], serde_json::json!([]), "{second}");
    let (code, status) = status_json(&platform, &dir, "retry-me");
    assert_eq!(code, 0, "{status}");
    assert_eq!(status["totals"]["succeeded"], 6);

    let out = cli(&platform, &dir)
        .args([
            "cohort",
            "download",
            "retry-me",
            "results",
            "--table",
            "cohort.csv",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let table = std::fs::read_to_string(dir.join("cohort.csv")).unwrap();
    // 6 slides in the first round (2 failed) and 2 retried: 8 items, 6 of them succeeded.
    assert_eq!(table.lines().count(), 1 + 8, "{table}");
    assert_eq!(
        table.lines().filter(|l| l.contains(",SUCCEEDED,")).count(),
        6,
        "{table}"
    );
}

// Proves a refused submission exits 5 saying what is on the platform and what remains, and the same command later completes the cohort. (FR-100)
#[test]
fn a_refused_submission_exits_5_and_continues_later() {
    let dir = Scratch::new("cli-cohort-quota");
    write_slides(&dir.join("slides"), 4);
    let platform = Sandbox::builder()
        .processing_time(Duration::ZERO)
        .start()
        .unwrap();
    platform.inject(Fault::status("/api/v1/runs", 403).method("POST").times(1));
    let out = submit(&platform, &dir, "quota", &["--batch-size", "2"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(5), "{}", describe(&out));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("refused batch 0")
            && said.contains("0 of this worker's 2 batches are on the platform, 2 remain"),
        "{said}"
    );
    let out = submit(&platform, &dir, "quota", &["--batch-size", "2"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    assert_eq!(items_by_slide(&platform).len(), 4);
}
