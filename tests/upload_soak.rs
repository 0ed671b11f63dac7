//! A fault soak of uploads: two processes upload the same folder to the sandbox's bucket while
//! random 5xx, 429, dropped connections, truncated answers, answers lost after the store acted
//! and stalls hit it, from fixed seeds; afterwards every object is the file it was uploaded
//! from (verified by downloading it), never another one.
#![cfg(feature = "bucket")]

mod local;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aignostics::bucket::Bucket;
use aignostics::{Client, Settings, TokenProvider};
use aignostics_sandbox::{self as sandbox, Fault, Sandbox};
use local::{Rng, Scratch};

const TEST_NAME: &str = "two_processes_upload_one_folder_under_random_faults";
const API_ROOT: &str = "AIGNOSTICS_UPLOAD_SOAK_API_ROOT";
const DIR: &str = "AIGNOSTICS_UPLOAD_SOAK_DIR";

const MIB: usize = 1024 * 1024;
const PART: u64 = 5 * MIB as u64;
/// Calls of `Upload::send` a process makes for one file before it gives up.
const CALLS_PER_FILE: usize = 30;

/// One random fault on the bucket's requests.
fn random_fault(rng: &mut Rng) -> Fault {
    let s3 = "/s3/";
    match rng.below(100) {
        0..=24 => Fault::status(s3, [500, 502, 503, 429][rng.below(4) as usize]).retry_after(0),
        25..=44 => Fault::drop_connection(s3),
        45..=59 => Fault::truncate_body(s3, rng.below(200) as usize),
        60..=79 => Fault::status_after_commit(s3, 503),
        80..=89 => Fault::drop_after_commit(s3),
        _ => Fault::delay(s3, Duration::from_millis(10 + rng.below(90))),
    }
}

/// The files of the folder: single-`PUT` and multipart sizes, from the seed.
fn write_folder(dir: &std::path::Path, seed: u64) -> Vec<(String, Vec<u8>)> {
    let mut rng = Rng(seed | 1);
    let sizes = [
        1000,
        MIB + 17,
        2 * PART as usize + 333,
        3 * PART as usize + 1,
    ];
    sizes
        .iter()
        .enumerate()
        .map(|(i, &len)| {
            let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
            let name = format!("slide-{i}.svs");
            std::fs::write(dir.join(&name), &data).unwrap();
            (name, data)
        })
        .collect()
}

/// Runs as an upload process when the soak's variables are set (then exits).
fn child_if_asked() {
    let (Ok(api_root), Ok(dir)) = (std::env::var(API_ROOT), std::env::var(DIR)) else {
        return;
    };
    let client = Client::builder()
        .settings(Settings::default().with_api_root(&api_root).unwrap())
        .token_provider(TokenProvider::fixed(sandbox::ALICE_TOKEN))
        .build()
        .unwrap();
    let me = client.me().unwrap();
    let bucket = Bucket::from_me_at(&me, &format!("{api_root}/s3")).unwrap();
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let mut calls = 0;
    for name in names {
        let path = std::path::Path::new(&dir).join(&name);
        let done = (0..CALLS_PER_FILE).any(|_| {
            calls += 1;
            bucket
                .upload(&path, &format!("soak/{name}"))
                .part_size(PART)
                .multipart_threshold(PART)
                .concurrency(2)
                .send()
                .inspect_err(|e| eprintln!("{name}: {e}"))
                .is_ok()
        });
        if !done {
            eprintln!("{name}: not uploaded after {CALLS_PER_FILE} calls");
            std::process::exit(1);
        }
    }
    println!("upload-soak-child calls={calls}");
    std::process::exit(0);
}

// Proves that under random 5xx, 429, dropped connections, truncated answers, answers lost
// after the store acted and stalls (seeds 3 and 8), two processes uploading the same folder of
// single-PUT and multipart files to the same keys both finish, and every object holds exactly
// the bytes of its file: verified or absent, never wrong. (NFR-15, FR-85)
#[test]
fn two_processes_upload_one_folder_under_random_faults() {
    child_if_asked();
    let exe = std::env::current_exe().unwrap();
    for seed in [3u64, 8] {
        let scratch = Scratch::new("upload-soak");
        let files = write_folder(&scratch, seed);
        let sandbox = Arc::new(Sandbox::start().unwrap());
        let stop = Arc::new(AtomicBool::new(false));
        let injected = Arc::new(AtomicUsize::new(0));
        let injector = {
            let (stop, injected, sandbox) = (
                Arc::clone(&stop),
                Arc::clone(&injected),
                Arc::clone(&sandbox),
            );
            let mut rng = Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(5 + rng.below(20)));
                    if sandbox.pending_faults().len() < 2 {
                        sandbox.inject(random_fault(&mut rng));
                        injected.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        };
        let children: Vec<_> = (0..2)
            .map(|_| {
                Command::new(&exe)
                    .args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"])
                    .env(API_ROOT, sandbox.base_url())
                    .env(DIR, &*scratch)
                    .stdout(Stdio::piped())
                    .stderr(Stdio::piped())
                    .spawn()
                    .unwrap()
            })
            .collect();
        // A guard against a hang, not a speed goal.
        let deadline = Instant::now() + Duration::from_secs(300);
        let mut outputs = Vec::new();
        for mut child in children {
            while child.try_wait().unwrap().is_none() {
                if Instant::now() > deadline {
                    let _ = child.kill();
                }
                std::thread::sleep(Duration::from_millis(20));
            }
            outputs.push(child.wait_with_output().unwrap());
        }
        stop.store(true, Ordering::Relaxed);
        injector.join().unwrap();
        sandbox.clear_faults();
        for out in &outputs {
            assert!(
                out.status.success(),
                "seed {seed}: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(injected.load(Ordering::Relaxed) > 0);
        let calls: Vec<String> = outputs
            .iter()
            .map(|o| {
                let out = String::from_utf8_lossy(&o.stdout);
                let line = out
                    .lines()
                    .find(|l| l.contains("upload-soak-child"))
                    .unwrap_or("");
                line.rsplit("calls=").next().unwrap_or("?").to_string()
            })
            .collect();
        let failures: usize = outputs
            .iter()
            .map(|o| {
                String::from_utf8_lossy(&o.stderr)
                    .lines()
                    .filter(|l| l.contains(": "))
                    .count()
            })
            .sum();
        eprintln!(
            "seed {seed}: {} faults injected, send calls per process {calls:?}, {failures} failed calls",
            injected.load(Ordering::Relaxed)
        );

        // Every object is its file, byte for byte.
        let bucket = sandbox.bucket(sandbox::ALICE_TOKEN).unwrap();
        let keys: Vec<String> = bucket
            .list("soak/")
            .unwrap()
            .into_iter()
            .map(|o| o.key)
            .collect();
        assert_eq!(keys.len(), files.len(), "seed {seed}: {keys:?}");
        for (name, data) in &files {
            let back = scratch.join(format!("{name}.back"));
            bucket.download(&format!("soak/{name}"), &back).unwrap();
            assert!(
                std::fs::read(&back).unwrap() == *data,
                "seed {seed}: {name} differs"
            );
        }
    }
}
