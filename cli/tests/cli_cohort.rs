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
use slides_support::numbered;

const BIN: &str = env!("CARGO_BIN_EXE_aignostics");
const MAPPING: &str = ".*:staining_method=H&E,tissue=LUNG,disease=LUNG_CANCER";

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
    items_of(platform, sandbox::ALICE_TOKEN)
}

/// [`items_by_slide`] of the user of `token`.
fn items_of(platform: &Sandbox, token: &str) -> BTreeMap<String, Vec<String>> {
    let client = platform.client(token).unwrap().nocache();
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
    numbered(&dir.join("slides"), 400);
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
    // Shard 3's second batch (11, slides 275 to 299) hangs at its second slide's upload, so
    // the kill lands after batch 3 is in and before batch 11 is, however slow the machine.
    let bucket = platform.bucket(sandbox::ALICE_TOKEN).unwrap();
    let crc = crc32c::crc32c(&std::fs::read(dir.join("slides/s-276.tif")).unwrap());
    let key = aignostics::bucket::KeyTemplate::default()
        .render_with(bucket.user().unwrap(), None, "s-276.tif", Some(crc), 0)
        .unwrap();
    platform.inject(
        Fault::delay(
            format!("/s3/{}/{key}", sandbox::BUCKET_NAME),
            Duration::from_secs(8),
        )
        .method("PUT")
        .times(1),
    );
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
    numbered(&dir.join("slides"), 6);
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
    // One row per slide, its latest run: the failed attempts the retry replaced are left out.
    let rows: Vec<(&str, &str)> = table
        .lines()
        .skip(1)
        .map(|l| {
            let mut cells = l.split(',');
            (cells.nth(1).unwrap(), cells.next().unwrap())
        })
        .collect();
    assert_eq!(rows.len(), 6, "one row per slide: {rows:?}");
    assert!(
        rows.iter().all(|(_, state)| *state == "SUCCEEDED"),
        "{rows:?}"
    );
    // Every run's files are there: the two first-round runs and the retry's.
    let runs = std::fs::read_dir(dir.join("results/runs"))
        .unwrap()
        .filter(|e| e.as_ref().unwrap().path().join("manifest.json").is_file())
        .count();
    assert_eq!(runs, 3);
    // One folder per slide with its latest results, the same files (hard links) as the runs'.
    let slides = dir.join("results/slides");
    let mut folders: Vec<String> = std::fs::read_dir(&slides)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    folders.sort();
    assert_eq!(folders.len(), 6, "{folders:?}");
    let retried = local::files_below(&slides.join(&folders[1]));
    assert!(!retried.is_empty(), "s-001.tif (retried) has its results");
    use std::os::unix::fs::MetadataExt;
    let linked = slides.join(&folders[1]).join(&retried[0]);
    assert!(
        std::fs::metadata(&linked).unwrap().nlink() >= 2,
        "a link, not a copy"
    );
    // Again: everything verified, nothing downloaded, the same tree and no temporary files.
    let out = cli(&platform, &dir)
        .args(["--json", "cohort", "download", "retry-me", "results"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let again: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["slides"], 6);
    assert!(
        again["runs"]
            .as_array()
            .unwrap()
            .iter()
            .all(|r| r["downloaded"] == 0),
        "{again}"
    );
    let all = local::files_below(&slides);
    assert!(
        all.iter().all(|f| !f.to_string_lossy().ends_with(".link")),
        "{all:?}"
    );
    assert_eq!(all.len(), again["files"].as_u64().unwrap() as usize);
}

// Proves a refused submission exits 5 saying what is on the platform and what remains, and the same command later completes the cohort. (FR-100)
#[test]
fn a_refused_submission_exits_5_and_continues_later() {
    let dir = Scratch::new("cli-cohort-quota");
    numbered(&dir.join("slides"), 4);
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

/// A private `redis-server` on a free port, killed on drop; `None` outside CI when it is not
/// installed (under `CI=true` that fails).
struct Redis(std::process::Child, u16);

impl Redis {
    fn start() -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
            ])
            .args(["--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn();
        let child = match child {
            Ok(child) => child,
            Err(_) if std::env::var("CI").is_ok_and(|v| v == "true") => {
                panic!("redis-server is not installed, but CI must run the fleet tests")
            }
            Err(_) => {
                eprintln!("SKIPPED: redis-server not installed");
                return None;
            }
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "redis-server did not come up"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(Self(child, port))
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The CLI's environment for machine credentials against the sandbox, with Redis: the
/// sandbox's login settings and client, no access token.
fn fleet_env(platform: &Sandbox, redis: &Redis, dir: &Path) -> Vec<(String, String)> {
    let mut env = platform.login_env();
    env.extend([
        (
            "AIGNOSTICS_API_ROOT".into(),
            platform.base_url().to_string(),
        ),
        ("AIGNOSTICS_CLIENT_ID".into(), sandbox::CLIENT_ID.into()),
        (
            "AIGNOSTICS_CLIENT_SECRET".into(),
            sandbox::CLIENT_SECRET.into(),
        ),
        (
            "AIGNOSTICS_REDIS_URL".into(),
            format!("redis://127.0.0.1:{}/0", redis.1),
        ),
        (
            "AIGNOSTICS_BUCKET_ENDPOINT".into(),
            platform.bucket_endpoint(),
        ),
        (
            "AIGNOSTICS_CACHE_DIR".into(),
            dir.join("cache").display().to_string(),
        ),
        (
            "AIGNOSTICS_ENV_FILE".into(),
            dir.join("none.env").display().to_string(),
        ),
        ("COHORT".into(), "templated".into()),
        ("SLIDES".into(), dir.join("slides").display().to_string()),
        ("BATCH_SIZE".into(), "2".into()),
    ]);
    let bin_dir = Path::new(BIN).parent().unwrap().display().to_string();
    env.push((
        "PATH".into(),
        format!("{bin_dir}:{}", std::env::var("PATH").unwrap_or_default()),
    ));
    env
}

fn template(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../docs/cohort")
        .join(name)
}

/// Every batch of the cohort `templated` is on the platform, each slide in one run, all
/// submitted by one machine token (the first the token endpoint issued).
fn assert_all_submitted(platform: &Sandbox, slides: usize) {
    assert_eq!(
        platform.request_count("/oauth/token"),
        1,
        "one machine token for all workers"
    );
    let answer: Value = ureq::post(platform.token_url())
        .send_form([
            ("grant_type", "client_credentials"),
            ("client_id", sandbox::CLIENT_ID),
            ("client_secret", sandbox::CLIENT_SECRET),
        ])
        .unwrap()
        .body_mut()
        .read_json()
        .unwrap();
    let by_slide = items_of(platform, answer["access_token"].as_str().unwrap());
    assert_eq!(by_slide.len(), slides, "{by_slide:?}");
    assert!(
        by_slide.values().all(|runs| runs.len() == 1),
        "{by_slide:?}"
    );
}

// Proves the Slurm template's tasks, run with the variables Slurm sets for its array, submit every batch once and share one machine token through Redis. (FR-101)
#[test]
fn slurm_template_runs_as_an_array() {
    let Some(redis) = Redis::start() else { return };
    let dir = Scratch::new("cli-cohort-slurm");
    numbered(&dir.join("slides"), 20);
    let platform = Sandbox::start().unwrap();
    let script = std::fs::read_to_string(template("slurm-array.sh")).unwrap();
    let array = script
        .lines()
        .find_map(|l| l.strip_prefix("#SBATCH --array="))
        .expect("an --array line");
    let (first, last) = array.split_once('-').unwrap();
    let (first, last): (u32, u32) = (first.parse().unwrap(), last.parse().unwrap());
    assert!(
        script.contains("--shard auto"),
        "the tasks read their shard from Slurm"
    );
    let tasks = last - first + 1;
    assert_eq!(tasks, 8);
    for id in first..=last {
        let out = Command::new("bash")
            .arg(template("slurm-array.sh"))
            .env_clear()
            .envs(fleet_env(&platform, &redis, &dir))
            .env("HOME", &*dir)
            .env("SLURM_ARRAY_TASK_ID", id.to_string())
            .env("SLURM_ARRAY_TASK_MIN", first.to_string())
            .env("SLURM_ARRAY_TASK_COUNT", tasks.to_string())
            .current_dir(&*dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "task {id}: {}", describe(&out));
    }
    assert_all_submitted(&platform, 20);
}

// Proves the Kubernetes template is an Indexed Job whose completions, parallelism and --shard agree, and its pods' command, run with the index Kubernetes sets, submits every batch once. (FR-101)
#[test]
fn kubernetes_template_runs_as_an_indexed_job() {
    let Some(redis) = Redis::start() else { return };
    let yaml = template("kubernetes-indexed-job.yaml");
    let parsed = Command::new("python3")
        .args([
            "-c",
            "import sys, json, yaml; json.dump(yaml.safe_load(open(sys.argv[1])), sys.stdout)",
        ])
        .arg(&yaml)
        .output()
        .unwrap();
    if !parsed.status.success() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "PyYAML is missing, but CI must check the template: {}",
            describe(&parsed)
        );
        eprintln!("SKIPPED: python3 with PyYAML is missing");
        return;
    }
    let job: Value = serde_json::from_slice(&parsed.stdout).unwrap();
    assert_eq!(job["kind"], "Job");
    assert_eq!(job["spec"]["completionMode"], "Indexed");
    let completions = job["spec"]["completions"].as_u64().unwrap();
    assert_eq!(job["spec"]["parallelism"], completions);
    let container = &job["spec"]["template"]["spec"]["containers"][0];
    assert_eq!(container["command"], serde_json::json!(["aignostics"]));
    let mut args: Vec<String> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap().to_string())
        .collect();
    let shard = args.iter().position(|a| a == "--shard").unwrap();
    assert_eq!(args[shard + 1], format!("auto/{completions}"));
    let env: Vec<&str> = container["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    for name in [
        "AIGNOSTICS_CLIENT_ID",
        "AIGNOSTICS_CLIENT_SECRET",
        "AIGNOSTICS_REDIS_URL",
    ] {
        assert!(env.contains(&name), "{name} in {env:?}");
    }
    // The pods' command with the slides here instead of the placeholder bucket.
    let dir = Scratch::new("cli-cohort-k8s");
    numbered(&dir.join("slides"), 20);
    let slides = args.iter().position(|a| a == "--slides").unwrap();
    args[slides + 1] = dir.join("slides").display().to_string();
    let size = args.iter().position(|a| a == "--batch-size").unwrap();
    args[size + 1] = "2".into();
    let platform = Sandbox::start().unwrap();
    for index in 0..completions {
        let out = Command::new(BIN)
            .args(&args)
            .env_clear()
            .envs(fleet_env(&platform, &redis, &dir))
            .env("HOME", &*dir)
            .env("JOB_COMPLETION_INDEX", index.to_string())
            .current_dir(&*dir)
            .output()
            .unwrap();
        assert!(out.status.success(), "pod {index}: {}", describe(&out));
    }
    assert_all_submitted(&platform, 20);
}

// Proves `cohort cancel --dry-run` names the runs still going and cancels nothing, `cohort cancel` cancels them (status then exits 4 with every slide skipped), and machine credentials without their secret are a usage error naming the missing variable. (FR-99, FR-101)
#[test]
fn cancel_names_then_cancels_the_runs_still_going() {
    let dir = Scratch::new("cli-cohort-cancel");
    numbered(&dir.join("slides"), 4);
    let platform = Sandbox::builder()
        .processing_time(Duration::from_secs(3600))
        .start()
        .unwrap();
    let out = submit(&platform, &dir, "stop-me", &["--batch-size", "2"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", describe(&out));
    let cancel = |extra: &[&str]| {
        let out = cli(&platform, &dir)
            .args(["--json", "cohort", "cancel", "stop-me"])
            .args(extra)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()
    };
    let would = cancel(&["--dry-run"]);
    assert_eq!(would["runs"].as_array().unwrap().len(), 2, "{would}");
    let (code, status) = status_json(&platform, &dir, "stop-me");
    assert_eq!(
        (code, &status["totals"]["skipped"]),
        (3, &serde_json::json!(0))
    );
    let done = cancel(&[]);
    assert_eq!(done["runs"], would["runs"]);
    let (code, status) = status_json(&platform, &dir, "stop-me");
    assert_eq!(
        (code, &status["totals"]["skipped"]),
        (4, &serde_json::json!(4))
    );

    let out = cli(&platform, &dir)
        .env_remove("AIGNOSTICS_ACCESS_TOKEN")
        .env("AIGNOSTICS_CLIENT_ID", "worker")
        .args(["cohort", "status", "stop-me"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("AIGNOSTICS_CLIENT_SECRET"),
        "{}",
        describe(&out)
    );
}
