//! `aignostics slides inspect` and `aignostics runs prepare`, run as processes on synthetic
//! slides (and against an in-process sandbox for prepare).

#[path = "../../tests/bucket_support/mod.rs"]
mod bucket_support;
#[path = "../../tests/local/mod.rs"]
mod local;
#[path = "../../tests/slides_support/mod.rs"]
mod slides_support;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};

use aignostics_sandbox::{self as sandbox, Sandbox};
use local::Scratch;
use local::describe;
use serde_json::{Value, json};
use slides_support::*;

const BIN: &str = env!("CARGO_BIN_EXE_aignostics");
/// The CLI without the test's own AIGNOSTICS_* environment, against `api_root`.
fn run(dir: &Path, api_root: &str, args: &[&str]) -> Output {
    let mut cmd = local::clean_command(BIN);
    cmd.args(args)
        .current_dir(dir)
        .env("AIGNOSTICS_API_ROOT", api_root)
        .env("AIGNOSTICS_ACCESS_TOKEN", sandbox::ALICE_TOKEN)
        .env("AIGNOSTICS_CACHE_DIR", dir.join("cache"))
        .env("AIGNOSTICS_ENV_FILE", dir.join("none.env"))
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn slides(dir: &Path) {
    std::fs::create_dir_all(dir.join("slides/case-1")).unwrap();
    aperio(4000, 3000, "0.2520")
        .tile(64)
        .write(&dir.join("slides/case-1/lung.svs"));
    generic(3000, 2000, 40_000, 1, 3)
        .tile(64)
        .write(&dir.join("slides/liver.tif"));
}

// Proves `slides inspect` lists each slide as a table and as JSON, with the crate's values,
// and that an unreadable file is reported on stderr with exit 1 while the rest is listed and
// counted in words ("1 of 3 slides"). (FR-60, FR-61, FR-77)
#[test]
fn slides_inspect() {
    let scratch = Scratch::new("inspect");
    let dir = &*scratch;
    slides(dir);
    let out = run(dir, "http://127.0.0.1:9", &["slides", "inspect", "slides"]);
    assert!(out.status.success(), "{}", describe(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.starts_with("PATH"), "{stdout}");
    assert!(
        stdout.contains("aperio") && stdout.contains("4000") && stdout.contains("0.252"),
        "{stdout}"
    );

    let out = run(
        dir,
        "http://127.0.0.1:9",
        &[
            "--json",
            "slides",
            "inspect",
            "slides/liver.tif",
            "slides/case-1",
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let json: Value = serde_json::from_slice(&out.stdout).unwrap();
    let expected = aignostics::slides::inspect(dir.join("slides/liver.tif")).unwrap();
    assert_eq!(json[0]["width_px"], 3000);
    assert_eq!(json[0]["resolution_mpp"], 0.25);
    assert_eq!(
        json[0]["checksum_base64_crc32c"],
        expected.checksum_base64_crc32c.unwrap()
    );
    assert_eq!(json[1]["format"], "aperio");

    std::fs::write(dir.join("slides/broken.svs"), b"II*\0\xff\xff\xff\xff").unwrap();
    let out = run(dir, "http://127.0.0.1:9", &["slides", "inspect", "slides"]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("broken.svs"), "{stderr}");
    assert!(
        stderr.contains("1 of 3 slides could not be read"),
        "{stderr}"
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("lung.svs"));
}

// Proves `runs prepare` writes the Python SDK's CSV with mapping rules applied, warns while
// the rows break the version's schema, writes validated items with --url-template/--items that
// `runs submit` accepts, and refuses a malformed mapping as a usage error. (FR-62, FR-63)
#[test]
fn runs_prepare() {
    let platform = Sandbox::start().unwrap();
    let root = platform.base_url();
    let scratch = Scratch::new("prepare");
    let dir = &*scratch;
    slides(dir);
    let out = run(
        dir,
        root,
        &[
            "runs",
            "prepare",
            "he-tme",
            "slides",
            "--csv",
            "metadata.csv",
            "--mapping",
            ".*:staining_method=H&E",
            "--mapping",
            "lung:tissue=LUNG,disease=LUNG_CANCER",
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Wrote 2 slides of he-tme"),
        "{}",
        describe(&out)
    );
    let csv = std::fs::read_to_string(dir.join("metadata.csv")).unwrap();
    let lines: Vec<&str> = csv.split("\r\n").collect();
    assert_eq!(lines[0], aignostics::slides::CSV_HEADER.join(";"));
    assert!(
        lines[1].starts_with("case-1/lung.svs;")
            && lines[1].ends_with(";4000;3000;H&E;LUNG;LUNG_CANCER;"),
        "{csv}"
    );
    assert!(
        lines[2].starts_with("liver.tif;") && lines[2].contains(";0.25;3000;2000;H&E;;;"),
        "{csv}"
    );

    let out = run(
        dir,
        root,
        &[
            "--json",
            "runs",
            "prepare",
            "he-tme",
            "slides",
            "--csv",
            "m2.csv",
            "--url-template",
            "https://storage.example.com/{path}",
            "--items",
            "items.json",
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["rows"].as_array().unwrap().len(), 2);
    let out = run(
        dir,
        root,
        &[
            "runs",
            "submit",
            "--items",
            "items.json",
            "--application",
            "he-tme",
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));

    // Rows that break the schema (at most 10 µm/px) are written, with a warning.
    let out = run(
        dir,
        root,
        &[
            "runs",
            "prepare",
            "he-tme",
            "slides",
            "--csv",
            "w.csv",
            "--mapping",
            "liver:resolution_mpp=12",
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("not ready to submit") && stderr.contains("liver.tif"),
        "{stderr}"
    );

    let out = run(
        dir,
        root,
        &[
            "runs",
            "prepare",
            "he-tme",
            "slides",
            "--csv",
            "x.csv",
            "--mapping",
            "lung:organ=LUNG",
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("organ"));
}

// Proves `runs prepare` checks its output files before anything else: a `--csv` in a missing
// folder, or naming a folder, is a usage error (exit 2) naming the folder, sent to no server
// and leaving no file. (FR-87)
#[test]
fn prepare_checks_its_outputs_first() {
    let platform = Sandbox::start().unwrap();
    let scratch = Scratch::new("prepare-out");
    let dir = &*scratch;
    slides(dir);
    for (csv, says) in [
        ("nodir/x.csv", "the folder nodir does not exist"),
        ("slides", "is a folder"),
    ] {
        let out = run(
            dir,
            platform.base_url(),
            &["runs", "prepare", "he-tme", "slides", "--csv", csv],
        );
        assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
        assert!(
            String::from_utf8_lossy(&out.stderr).contains(says),
            "{}",
            describe(&out)
        );
    }
    assert!(platform.requests().is_empty(), "{:?}", platform.requests());
    assert!(!dir.join("nodir").exists());
}

// Proves `slides inspect` remembers checksums: run again on unchanged slides (written an hour
// "ago"), every slide's CRC32C comes from the checksum index in the cache folder and equals the
// one read the first time; a rewritten slide is read again. (FR-89)
#[test]
fn inspect_again_reads_headers_only() {
    let scratch = Scratch::new("inspect-index");
    let dir = &*scratch;
    slides(dir);
    let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
    for file in ["slides/case-1/lung.svs", "slides/liver.tif"] {
        std::fs::File::options()
            .write(true)
            .open(dir.join(file))
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
    }
    let inspect = || {
        let out = run(
            dir,
            "http://127.0.0.1:9",
            &["--json", "slides", "inspect", "slides"],
        );
        assert!(out.status.success(), "{}", describe(&out));
        let found: Value = serde_json::from_slice(&out.stdout).unwrap();
        found
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["checksum_base64_crc32c"].as_str().unwrap().to_string(),
                    s["checksum_from_index"].as_bool().unwrap(),
                )
            })
            .collect::<Vec<_>>()
    };
    let first = inspect();
    assert!(first.iter().all(|(_, cached)| !cached), "{first:?}");
    let second = inspect();
    assert!(second.iter().all(|(_, cached)| *cached), "{second:?}");
    assert_eq!(
        first.iter().map(|f| &f.0).collect::<Vec<_>>(),
        second.iter().map(|s| &s.0).collect::<Vec<_>>()
    );
    assert!(dir.join("cache/checksums.jsonl").is_file());
    generic(3000, 2000, 40_000, 1, 3)
        .tile(64)
        .write(&dir.join("slides/liver.tif"));
    let third = inspect();
    assert_eq!(
        third.iter().map(|t| t.1).collect::<Vec<_>>(),
        [true, false],
        "{third:?}"
    );
}

// Proves slide folders explain themselves: an empty folder (or one of other files) gets one
// message naming the formats read; a `.mrxs` file is reported as a format not read, with the
// way out, while the slides beside it are listed; `runs prepare` says the same. (FR-60)
#[test]
fn folders_say_what_is_read_and_what_is_not() {
    let platform = Sandbox::start().unwrap();
    let scratch = Scratch::new("folders");
    let dir = &*scratch;
    std::fs::create_dir_all(dir.join("empty")).unwrap();
    std::fs::create_dir_all(dir.join("notes")).unwrap();
    std::fs::write(dir.join("notes/readme.txt"), "x").unwrap();
    for folder in ["empty", "notes"] {
        let out = run(dir, "http://127.0.0.1:9", &["slides", "inspect", folder]);
        assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.contains(&format!("{folder}: no slides found (read: Aperio SVS,"))
                && stderr.contains(".svs .tif .tiff .ndpi .btf .tf8 .dcm"),
            "{stderr}"
        );
        if folder == "notes" {
            assert!(
                stderr.contains("1 file of other kinds passed over"),
                "{stderr}"
            );
        }
    }
    slides(dir);
    std::fs::write(dir.join("slides/case-1/scan.mrxs"), "MIRAX").unwrap();
    let out = run(
        dir,
        "http://127.0.0.1:9",
        &["--json", "slides", "inspect", "slides"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let found: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(found.as_array().unwrap().len(), 2);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("scan.mrxs: 3DHISTECH MIRAX (.mrxs) is not a format read here; convert it")
            && stderr.contains("1 of 3 slides could not be read"),
        "{stderr}"
    );
    let out = run(
        dir,
        platform.base_url(),
        &["runs", "prepare", "he-tme", "empty", "--csv", "x.csv"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("empty: no slides found (read: "),
        "{}",
        describe(&out)
    );
}

/// A sandbox returning Atlas-shaped results (with `cells` cells per slide when given) and a
/// run of it over these slides (`fail-…` ones fail).
fn atlas_run(cells: Option<usize>, slides: &[&str]) -> (Sandbox, String) {
    let mut builder = Sandbox::builder()
        .catalog(sandbox::Catalog::atlas())
        .processing_time(std::time::Duration::from_millis(200));
    if let Some(cells) = cells {
        builder = builder.atlas_cells(cells);
    }
    let platform = builder.start().unwrap();
    let client = platform.client(sandbox::ALICE_TOKEN).unwrap();
    let items = slides.iter().map(|s| sandbox::example_item(s));
    let request = aignostics::models::RunCreationRequest::new("he-tme", items);
    let run_id = client.runs().submit(request).unwrap().id().to_string();
    (platform, run_id)
}

// Proves `results table` writes the cohort table of runs given by id (a unique prefix works),
// downloading their slide readouts alone, and of folders `runs download` filled (--from),
// failed items counted; an output in a missing folder is a usage error before any download.
// (FR-91, FR-92)
#[test]
fn results_table_from_runs_and_folders() {
    let (platform, run_id) = atlas_run(None, &["a.svs", "b.svs", "fail-c.svs"]);
    let prefix = &run_id[..8];
    let scratch = Scratch::new("results-table");
    let dir = &*scratch;
    let root = platform.base_url();
    let out = run(
        dir,
        root,
        &["results", "table", prefix, "--out", "nodir/t.csv"],
    );
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(!dir.join("results").exists());
    let out = run(
        dir,
        root,
        &[
            "--json",
            "results",
            "table",
            prefix,
            "--out",
            "cohort.parquet",
            "--cells",
            "cells.parquet",
            "--interval",
            "0.1",
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&summary["rows"], &summary["succeeded"], &summary["failed"]),
        (&json!(3), &json!(2), &json!(1)),
        "{summary}"
    );
    assert_eq!(summary["columns"], 4559);
    assert!(dir.join("cohort.parquet").is_file());
    assert_eq!(summary["cells"]["cells"], 400, "{summary}");
    assert!(dir.join("cells.parquet").is_file());
    let out = run(
        dir,
        root,
        &[
            "results",
            "table",
            "--from",
            "results",
            "--out",
            "cohort.csv",
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let csv = std::fs::read_to_string(dir.join("cohort.csv")).unwrap();
    assert_eq!(csv.lines().count(), 4, "a header and three rows");
    assert!(csv.starts_with("run_id,external_id,item_state,"));
}

// Proves `results qupath` downloads the polygons of a run (by a unique prefix) and writes one
// GeoJSON per slide, named after it, reporting detections and annotations. (FR-94)
#[test]
fn results_qupath_writes_one_file_per_slide() {
    let (platform, run_id) = atlas_run(Some(30), &["case/x.svs", "fail-y.svs"]);
    let scratch = Scratch::new("results-qupath");
    let dir = &*scratch;
    let out = run(
        dir,
        platform.base_url(),
        &[
            "--json",
            "results",
            "qupath",
            &run_id[..8],
            "--out",
            "qupath",
            "--interval",
            "0.1",
        ],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["detections"], 30, "{report}");
    assert_eq!(report["annotations"], 11, "{report}");
    assert_eq!(report["skipped_items"], json!(["fail-y.svs"]));
    let doc: Value =
        serde_json::from_slice(&std::fs::read(dir.join("qupath/x.svs.geojson")).unwrap()).unwrap();
    assert_eq!(doc["features"].as_array().unwrap().len(), 41);
}

// Proves `slides inspect s3://bucket/prefix/` reads slides where they are (a real S3 server):
// the same values as from disk, what each read cost, keys from the AWS variables or a profile
// of the shared credentials file and never shown; a missing key or profile is named. (FR-96)
#[test]
fn slides_inspect_a_bucket_prefix() {
    let Some(moto) = bucket_support::Moto::start() else {
        return;
    };
    moto.create_bucket("lab");
    let scratch = Scratch::new("inspect-s3");
    let dir = &*scratch;
    slides(dir);
    let bucket = bucket_support::bucket(&moto.endpoint(), "lab");
    for name in ["case-1/lung.svs", "liver.tif"] {
        bucket
            .upload(dir.join("slides").join(name), &format!("cohort/{name}"))
            .send()
            .unwrap();
    }
    let credentials = dir.join("aws-credentials");
    std::fs::write(
        &credentials,
        format!(
            "[default]\naws_access_key_id = other\n\n[lab]\naws_access_key_id = {}\n\
             aws_secret_access_key = {}\n",
            bucket_support::KEY_ID,
            bucket_support::SECRET
        ),
    )
    .unwrap();
    let inspect_with = |env: &[(&str, &str)]| {
        let mut cmd = local::clean_command(BIN);
        // No real ~/.aws is read.
        cmd.env("HOME", dir);
        for (key, value) in env {
            cmd.env(key, value);
        }
        cmd.args([
            "--json",
            "slides",
            "inspect",
            "s3://lab/cohort/",
            "--endpoint-url",
        ])
        .arg(moto.endpoint())
        .env("AIGNOSTICS_CACHE_DIR", dir.join("cache"))
        .current_dir(dir)
        .output()
        .unwrap()
    };
    let inspect = |with_keys: bool| {
        if with_keys {
            inspect_with(&[
                ("AWS_ACCESS_KEY_ID", bucket_support::KEY_ID),
                ("AWS_SECRET_ACCESS_KEY", bucket_support::SECRET),
            ])
        } else {
            inspect_with(&[])
        }
    };
    let out = inspect(true);
    assert!(out.status.success(), "{}", describe(&out));
    let both = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!both.contains(bucket_support::SECRET), "{both}");
    let remote: Value = serde_json::from_slice(&out.stdout).unwrap();
    let local = run(
        dir,
        "http://127.0.0.1:9",
        &["--json", "slides", "inspect", "slides"],
    );
    let local: Value = serde_json::from_slice(&local.stdout).unwrap();
    let pick = |v: &Value| {
        let mut rows: Vec<(u64, u64, String)> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["width_px"].as_u64().unwrap(),
                    s["size_bytes"].as_u64().unwrap(),
                    s["checksum_base64_crc32c"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        rows.sort();
        rows
    };
    assert_eq!(pick(&remote), pick(&local));
    assert!(
        remote[0]["path"]
            .as_str()
            .unwrap()
            .starts_with("s3://lab/cohort/")
    );
    assert!(remote[0]["header_requests"].as_u64().unwrap() >= 1);
    // moto keeps no CRC32C: the report says each slide was read whole, and why.
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("read whole for its CRC32C")
            && String::from_utf8_lossy(&out.stderr)
                .contains("the store keeps none of the whole object"),
        "{}",
        describe(&out)
    );
    let out = inspect(false);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"),
        "{}",
        describe(&out)
    );
    // The keys of a profile in the shared credentials file, as the AWS tools read them.
    let file = credentials.to_str().unwrap();
    let out = inspect_with(&[
        ("AWS_SHARED_CREDENTIALS_FILE", file),
        ("AWS_PROFILE", "lab"),
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let out = inspect_with(&[("AWS_SHARED_CREDENTIALS_FILE", file)]);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("the profile [default] of") && stderr.contains("aws-credentials"),
        "{stderr}"
    );
    assert!(!stderr.contains(bucket_support::SECRET), "{stderr}");
}

// Proves `runs submit APP --slides s3://bucket/prefix/` submits the slides where they are: one
// run whose items' URLs fetch the exact bytes from the bucket, nothing uploaded to the
// organization's bucket; temporary keys are refused unless --accept-session-urls; `runs
// prepare` of the prefix writes the CSV naming the objects, and that CSV submits in place.
// (FR-97)
#[test]
fn runs_submit_from_a_bucket_prefix() {
    let Some(moto) = bucket_support::Moto::start() else {
        return;
    };
    moto.create_bucket("lab");
    let platform = Sandbox::start().unwrap();
    let scratch = Scratch::new("submit-s3");
    let dir = &*scratch;
    slides(dir);
    let lab = bucket_support::bucket(&moto.endpoint(), "lab");
    for name in ["case-1/lung.svs", "liver.tif"] {
        lab.upload(dir.join("slides").join(name), &format!("cohort/{name}"))
            .send()
            .unwrap();
    }
    let submit = |session: bool, accept: bool| {
        let mut cmd = s3_cli(dir, &platform, &moto.endpoint(), &SUBMIT_S3);
        if session {
            cmd.env("AWS_SESSION_TOKEN", "token-of-a-session");
        }
        if accept {
            cmd.arg("--accept-session-urls");
        }
        cmd.output().unwrap()
    };
    let out = submit(true, false);
    assert_eq!(out.status.code(), Some(1), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("temporary") && !stderr.contains("token-of-a-session"),
        "{stderr}"
    );
    let out = submit(false, false);
    assert!(out.status.success(), "{}", describe(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let run_id = report["run_id"].as_str().unwrap();
    let inputs = platform.submitted_inputs(run_id).unwrap();
    assert_eq!(inputs.len(), 2);
    for input in inputs {
        let bytes = ureq::get(&input.download_url)
            .call()
            .unwrap()
            .body_mut()
            .read_to_vec()
            .unwrap();
        let local = std::fs::read(dir.join("slides").join(&input.external_id)).unwrap();
        assert_eq!(bytes, local, "{}", input.external_id);
    }
    assert!(
        !platform
            .requests()
            .iter()
            .any(|r| r.method == "PUT" && r.path.starts_with("/s3/")),
        "nothing uploaded to the organization's bucket"
    );
    let out = submit(true, true);
    assert!(out.status.success(), "{}", describe(&out));

    // `runs prepare` of the prefix writes the CSV naming each object; submitted with the
    // prefix, its rows are signed in place.
    let with_keys = |args: &[&str]| {
        s3_cli(dir, &platform, &moto.endpoint(), args)
            .output()
            .unwrap()
    };
    let out = with_keys(&[
        "runs",
        "prepare",
        "he-tme",
        "s3://lab/cohort/",
        "--csv",
        "items.csv",
        "--mapping",
        ".*:tissue=LUNG,disease=LUNG_CANCER,staining_method=H&E",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let csv = std::fs::read_to_string(dir.join("items.csv")).unwrap();
    assert!(csv.contains(";s3://lab/cohort/liver.tif"), "{csv}");
    let out = with_keys(&[
        "--json",
        "runs",
        "submit",
        "he-tme",
        "--csv",
        "items.csv",
        "--slides",
        "s3://lab/cohort/",
    ]);
    assert!(out.status.success(), "{}", describe(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let inputs = platform
        .submitted_inputs(report["run_id"].as_str().unwrap())
        .unwrap();
    assert_eq!(inputs.len(), 2);
}

// Proves the in-place path is crash-safe as a folder's: `runs submit --slides s3://…` killed
// with SIGKILL during the metadata pass, then after the submission, and run again, ends with
// exactly one run holding every slide. (FR-97)
#[test]
fn in_place_submission_killed_and_run_again() {
    let Some(moto) = bucket_support::Moto::start() else {
        return;
    };
    moto.create_bucket("lab");
    let platform = Sandbox::start().unwrap();
    let scratch = Scratch::new("kill-s3");
    let dir = &*scratch;
    let lab = bucket_support::bucket(&moto.endpoint(), "lab");
    for i in 0..4 {
        let path = dir.join(format!("s{i}.svs"));
        // Large enough that reading them for their CRC32C takes a while.
        aperio(8_000 + i, 6_000, "0.2520")
            .tile(256)
            .body_at(24 << 20)
            .write(&path);
        lab.upload(&path, &format!("cohort/s{i}.svs"))
            .send()
            .unwrap();
    }
    let command = || s3_cli(dir, &platform, &moto.endpoint(), &SUBMIT_S3);
    let runs = || {
        platform
            .requests()
            .iter()
            .filter(|r| r.method == "POST" && r.path == "/api/v1/runs")
            .count()
    };
    // Killed while the slides are read (before anything is submitted).
    let mut child = command()
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.starts_with("inspecting"), "{first}");
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(runs(), 0, "killed before the submission");
    // Killed after the submission.
    let mut child = command()
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let lines = BufReader::new(child.stderr.take().unwrap()).lines();
    for line in lines {
        if line.unwrap().starts_with("submitted run") {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(runs(), 1);
    // Run again: the same run, found by its key.
    let out = command().output().unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["existing"], true, "{report}");
    assert_eq!(runs(), 1, "exactly one run");
    let inputs = platform
        .submitted_inputs(report["run_id"].as_str().unwrap())
        .unwrap();
    assert_eq!(inputs.len(), 4);
}

/// The CLI in `dir` against the sandbox `platform`, with the test's AWS keys (and no variable of
/// the test's own environment), its `args` followed by `--endpoint-url` of the S3 server.
fn s3_cli(dir: &Path, platform: &Sandbox, endpoint: &str, args: &[&str]) -> Command {
    let mut cmd = local::clean_command(BIN);
    cmd.env("AWS_ACCESS_KEY_ID", bucket_support::KEY_ID)
        .env("AWS_SECRET_ACCESS_KEY", bucket_support::SECRET)
        .env("AIGNOSTICS_API_ROOT", platform.base_url())
        .env("AIGNOSTICS_ACCESS_TOKEN", sandbox::ALICE_TOKEN)
        .env("AIGNOSTICS_CACHE_DIR", dir.join("cache"))
        .env("AIGNOSTICS_ENV_FILE", dir.join("none.env"))
        .current_dir(dir)
        .args(args)
        .args(["--endpoint-url", endpoint]);
    cmd
}

/// The arguments of `runs submit` from the S3 prefix `s3://lab/cohort/`.
const SUBMIT_S3: [&str; 10] = [
    "--json",
    "runs",
    "submit",
    "he-tme",
    "--slides",
    "s3://lab/cohort/",
    "--mapping",
    ".*:tissue=LUNG,disease=LUNG_CANCER,staining_method=H&E",
    "--interval",
    "0.1",
];

// Proves a `gs://` prefix is read through Google's S3-compatible XML API with an HMAC key
// (GCS_HMAC_ACCESS_KEY_ID, GCS_HMAC_SECRET), here against the sandbox's S3-compatible bucket
// standing in for storage.googleapis.com: the same values as from disk, the secret never
// shown. (FR-96)
#[test]
fn slides_inspect_a_gs_prefix() {
    let platform = Sandbox::start().unwrap();
    let client = platform.client(sandbox::ALICE_TOKEN).unwrap();
    let org = client.me().unwrap().organization.clone();
    let bucket = platform.bucket(sandbox::ALICE_TOKEN).unwrap();
    let scratch = Scratch::new("inspect-gs");
    let dir = &*scratch;
    slides(dir);
    bucket
        .upload(dir.join("slides/liver.tif"), "gcs/liver.tif")
        .send()
        .unwrap();
    let mut cmd = local::clean_command(BIN);
    let out = cmd
        .env(
            "GCS_HMAC_ACCESS_KEY_ID",
            &org.aignostics_bucket_hmac_access_key_id,
        )
        .env(
            "GCS_HMAC_SECRET",
            &org.aignostics_bucket_hmac_secret_access_key,
        )
        .env("AIGNOSTICS_CACHE_DIR", dir.join("cache"))
        .current_dir(dir)
        .args(["--json", "slides", "inspect"])
        .arg(format!("gs://{}/gcs/", org.aignostics_bucket_name))
        .args(["--endpoint-url", &platform.bucket_endpoint()])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let both = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !both.contains(&org.aignostics_bucket_hmac_secret_access_key),
        "{both}"
    );
    let remote: Value = serde_json::from_slice(&out.stdout).unwrap();
    let local = inspector_json(dir, "slides/liver.tif");
    assert_eq!(
        remote[0]["checksum_base64_crc32c"],
        local[0]["checksum_base64_crc32c"]
    );
    assert_eq!(remote[0]["width_px"], local[0]["width_px"]);
    assert_eq!(remote[0]["checksum_source"], "store");
    assert_eq!(
        remote[0]["path"],
        format!("gs://{}/gcs/liver.tif", org.aignostics_bucket_name)
    );
    // The report says what reading cost and where the checksum came from.
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("gcs/liver.tif: header in ")
            && String::from_utf8_lossy(&out.stderr).contains("; CRC32C from the store"),
        "{}",
        describe(&out)
    );
}

/// `slides inspect --json` of a local path.
fn inspector_json(dir: &Path, path: &str) -> Value {
    let out = run(
        dir,
        "http://127.0.0.1:9",
        &["--json", "slides", "inspect", path],
    );
    assert!(out.status.success(), "{}", describe(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}
