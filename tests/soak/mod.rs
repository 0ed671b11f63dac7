//! A fault soak against the sandbox: runs with several items downloaded by two processes at
//! once into one directory, while a generator with a fixed seed injects 5xx and 429 answers,
//! dropped connections, truncated bodies and stalls. Afterwards every file must be there and
//! match its published CRC32C, with no part file left.
//!
//! Shared by `tests/download_soak.rs` (short) and `examples/fault_soak.rs` (long). The calling
//! binary runs itself as the two download processes: [`child_if_asked`] first thing.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aignostics::models::RunCreationRequest;
use aignostics::{Client, DownloadOptions, Settings, TokenProvider};
use aignostics_sandbox::{self as sandbox, Fault, Sandbox};

use crate::local::Rng;

const API_ROOT: &str = "AIGNOSTICS_SOAK_API_ROOT";
const DIR: &str = "AIGNOSTICS_SOAK_DIR";
const RUNS: &str = "AIGNOSTICS_SOAK_RUNS";

/// Most `download_to` calls a child makes for one run before it gives up.
const CALLS_PER_RUN: usize = 30;

/// The soak's size and seed.
#[derive(Debug, Clone)]
pub struct Config {
    /// Seed of the fault generator.
    pub seed: u64,
    /// Rounds, each with new runs and a new directory.
    pub rounds: usize,
    /// Runs per round.
    pub runs: usize,
    /// Items per run (three artifacts each).
    pub items: usize,
    /// Bytes per artifact.
    pub artifact_size: u64,
    /// Longest a round may take before its children are killed and the soak fails.
    pub round_limit: Duration,
}

/// What a soak did.
#[derive(Debug, Default)]
pub struct Figures {
    pub rounds: usize,
    pub runs: usize,
    pub files: usize,
    pub bytes: u64,
    pub faults: usize,
    pub download_calls: usize,
    pub downloaded: usize,
    pub skipped: usize,
    pub elapsed: Duration,
    pub slowest_round: Duration,
}

/// One random fault: mostly on storage, some on the API's run reads.
fn random_fault(rng: &mut Rng, artifact_size: u64) -> Fault {
    match rng.below(100) {
        0..=29 => {
            let status = [500, 502, 503, 429][rng.below(4) as usize];
            Fault::status("/storage/", status).retry_after(0)
        }
        30..=49 => Fault::drop_connection("/storage/"),
        50..=74 => Fault::truncate_body("/storage/", rng.below(artifact_size) as usize),
        75..=84 => Fault::delay("/storage/", Duration::from_millis(20 + rng.below(180))),
        85..=94 => Fault::status("/api/v1/runs/", 503)
            .method("GET")
            .retry_after(0),
        _ => Fault::drop_connection("/api/v1/runs/").method("GET"),
    }
}

/// Runs as a download process when the soak's variables are set (then exits); returns
/// otherwise.
pub fn child_if_asked() {
    let (Ok(api_root), Ok(dir), Ok(runs)) = (
        std::env::var(API_ROOT),
        std::env::var(DIR),
        std::env::var(RUNS),
    ) else {
        return;
    };
    let mut settings = Settings::default().with_api_root(&api_root).unwrap();
    settings.run = settings.run.clone().no_wait(6);
    let client = Client::builder()
        .settings(settings)
        .token_provider(TokenProvider::fixed(sandbox::ALICE_TOKEN))
        .build()
        .unwrap();
    let options = DownloadOptions::default()
        .poll_interval(Duration::from_millis(50))
        .read_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(300));
    let (mut calls, mut downloaded, mut skipped) = (0, 0, 0);
    for run_id in runs.split(',') {
        let mut complete = false;
        for _ in 0..CALLS_PER_RUN {
            calls += 1;
            match client.run(run_id).download_to(&dir, &options) {
                Ok(report) => {
                    downloaded += report.downloaded.len();
                    skipped += report.skipped.len();
                    if report.is_complete() {
                        complete = true;
                        break;
                    }
                }
                Err(e) => eprintln!("{run_id}: {e}"),
            }
        }
        if !complete {
            eprintln!("{run_id}: incomplete after {CALLS_PER_RUN} calls");
            std::process::exit(1);
        }
    }
    println!("soak-child calls={calls} downloaded={downloaded} skipped={skipped}");
    std::process::exit(0);
}

/// A number from a `key=N` field of a child's report line.
fn field(line: &str, key: &str) -> usize {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
}

/// Every file below `dir`, sorted.
fn files_below(dir: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, out);
            } else {
                out.push(path);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, &mut out);
    out.sort();
    out
}

/// Waits for a child until `deadline`, killing it (and failing) past it.
fn wait_bounded(mut child: Child, deadline: Instant) -> std::process::Output {
    loop {
        if child.try_wait().unwrap().is_some() {
            return child.wait_with_output().unwrap();
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let out = child.wait_with_output().unwrap();
            panic!(
                "a download process did not finish in time\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Runs the soak; `command` gives the command line that runs this binary as a child (with
/// [`child_if_asked`] at its start). Panics on the first broken promise.
pub fn run(config: &Config, command: impl Fn() -> Command) -> Figures {
    let started = Instant::now();
    let mut figures = Figures::default();
    let mut rng = Rng(config.seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    for round in 0..config.rounds {
        let round_started = Instant::now();
        let sandbox = Sandbox::builder()
            .processing_time(Duration::from_millis(400))
            .artifact_size(config.artifact_size)
            .start()
            .unwrap();
        let client = sandbox.client(sandbox::ALICE_TOKEN).unwrap().nocache();
        let run_ids: Vec<String> = (0..config.runs)
            .map(|r| {
                let items =
                    (0..config.items).map(|i| sandbox::example_item(&format!("slide-{r}-{i}")));
                let run = client
                    .runs()
                    .submit(RunCreationRequest::new("he-tme", items))
                    .unwrap();
                run.id().to_string()
            })
            .collect();
        let dir =
            std::env::temp_dir().join(format!("aignostics-soak-{}-{round}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();

        // Faults while the children download: a few pending at a time, from the seeded rng.
        let stop = Arc::new(AtomicBool::new(false));
        let injected = Arc::new(AtomicUsize::new(0));
        let sandbox = Arc::new(sandbox);
        let mut fault_rng = Rng(rng.next() | 1);
        let injector = {
            let (stop, injected, sandbox) = (
                Arc::clone(&stop),
                Arc::clone(&injected),
                Arc::clone(&sandbox),
            );
            let size = config.artifact_size;
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(2 + fault_rng.below(10)));
                    if sandbox.pending_faults().len() < 3 {
                        sandbox.inject(random_fault(&mut fault_rng, size));
                        injected.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        };
        let children: Vec<Child> = (0..2)
            .map(|_| {
                command()
                    .env(API_ROOT, sandbox.base_url())
                    .env(DIR, &dir)
                    .env(RUNS, run_ids.join(","))
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        let deadline = round_started + config.round_limit;
        for child in children {
            let out = wait_bounded(child, deadline);
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "round {round}: {stdout}\n{stderr}");
            let line = stdout
                .lines()
                .find_map(|l| l.find("soak-child ").map(|at| &l[at..]))
                .unwrap_or_else(|| panic!("round {round}: no report\n{stdout}\n{stderr}"));
            figures.download_calls += field(line, "calls");
            figures.downloaded += field(line, "downloaded");
            figures.skipped += field(line, "skipped");
        }
        stop.store(true, Ordering::Relaxed);
        injector.join().unwrap();
        sandbox.clear_faults();
        figures.faults += injected.load(Ordering::Relaxed);

        // Every artifact in its place with its published checksum, nothing else on disk.
        let mut expected: HashMap<PathBuf, Vec<String>> = HashMap::new();
        for run_id in &run_ids {
            for item in client.run(run_id).items().iter() {
                let item = item.unwrap();
                let sums = expected
                    .entry(dir.join(run_id).join(&item.external_id))
                    .or_default();
                for artifact in &item.output_artifacts {
                    let sum = artifact
                        .metadata
                        .as_ref()
                        .and_then(|m| m.get(aignostics::DEFAULT_CHECKSUM_KEY))
                        .and_then(|v| v.as_str())
                        .expect("a published checksum");
                    sums.push(sum.to_string());
                }
            }
        }
        let mut found: HashMap<PathBuf, Vec<String>> = HashMap::new();
        for file in files_below(&dir) {
            let name = file.file_name().unwrap().to_string_lossy().to_string();
            if name == "manifest.json" {
                // The last writer saw every file of the run verified.
                let doc: serde_json::Value =
                    serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
                for item in doc["items"].as_array().unwrap() {
                    assert_eq!(item["state"], "SUCCEEDED", "round {round}: {item}");
                    for f in item["files"].as_array().unwrap() {
                        assert_eq!(f["verified"], true, "round {round}: {f}");
                    }
                }
                continue;
            }
            assert!(
                !name.ends_with(".part"),
                "round {round}: part left: {file:?}"
            );
            figures.bytes += std::fs::metadata(&file).unwrap().len();
            figures.files += 1;
            found
                .entry(file.parent().unwrap().to_path_buf())
                .or_default()
                .push(aignostics::checksum::crc32c_base64_file(&file).unwrap());
        }
        for sums in expected.values_mut().chain(found.values_mut()) {
            sums.sort();
        }
        assert_eq!(found, expected, "round {round}: files or checksums differ");
        std::fs::remove_dir_all(&dir).unwrap();
        figures.rounds += 1;
        figures.runs += run_ids.len();
        figures.slowest_round = figures.slowest_round.max(round_started.elapsed());
    }
    figures.elapsed = started.elapsed();
    figures
}
