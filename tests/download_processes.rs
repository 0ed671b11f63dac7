//! Two processes downloading the same run into the same directory at the same time.
//!
//! The test binary runs itself as the child processes: with the child variables set, the test
//! function downloads once and prints its report instead of spawning.

mod local;
mod support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use aignostics::{Client, DownloadOptions, Settings, TokenProvider};
use local::files_below;
use support::{Blob, Pattern, Platform, artifact_json, item_json};

const CHILD_URL: &str = "AIGNOSTICS_TEST_CHILD_API_ROOT";
const CHILD_DIR: &str = "AIGNOSTICS_TEST_CHILD_DIR";
const CHILD_RUN: &str = "AIGNOSTICS_TEST_CHILD_RUN";

/// One download as a child process: prints `child-report downloaded=N skipped=M failed=F`.
fn child(api_root: &str, dir: &str, run_id: &str) {
    let mut settings = Settings::default().with_api_root(api_root).unwrap();
    settings.run = settings.run.clone().no_wait(5);
    let client = Client::builder()
        .settings(settings)
        .token_provider(TokenProvider::fixed(format!(
            "tok-child-{}",
            std::process::id()
        )))
        .build()
        .unwrap();
    let report = client
        .run(run_id)
        .download_to(
            dir,
            &DownloadOptions::default()
                .poll_interval(Duration::from_millis(20))
                .timeout(Duration::from_secs(120)),
        )
        .unwrap();
    for failure in &report.failed {
        eprintln!("{}: {}", failure.path.display(), failure.error);
    }
    println!(
        "child-report downloaded={} skipped={} failed={}",
        report.downloaded.len(),
        report.skipped.len(),
        report.failed.len()
    );
}

/// This test binary as a child process running only `test` (which then calls [`child`]).
fn spawn_child(test: &str, api_root: &str, dir: &Path, run_id: &str) -> std::process::Child {
    Command::new(std::env::current_exe().unwrap())
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_URL, api_root)
        .env(CHILD_DIR, dir)
        .env(CHILD_RUN, run_id)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Runs [`child`] and returns `true` when this process is a child.
fn child_if_asked() -> bool {
    match (
        std::env::var(CHILD_URL),
        std::env::var(CHILD_DIR),
        std::env::var(CHILD_RUN),
    ) {
        (Ok(url), Ok(dir), Ok(run)) => {
            child(&url, &dir, &run);
            true
        }
        _ => false,
    }
}

/// A number from a `key=N` field of a child's report line.
fn field(line: &str, key: &str) -> usize {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(&format!("{key}=")))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no {key} in {line:?}"))
}

// Proves two processes downloading the same run (a 32 MiB artifact and smaller ones) into one
// directory at once, 10 rounds: both succeed, every file is complete and verified by CRC32C,
// and no part file is left behind. (FR-50, NFR-09, NFR-15)
#[test]
fn two_processes_download_one_run_into_one_directory() {
    if child_if_asked() {
        return;
    }

    let run_id = "run-two";
    let platform = Platform::start(run_id);
    let mut expected: Vec<(PathBuf, String)> = Vec::new();
    let mut items = Vec::new();
    for (slide, sizes) in [
        ("slide-1", vec![32u64 << 20, 150_000, 1]),
        ("slide-2", vec![70_000, 0]),
    ] {
        let mut artifacts = Vec::new();
        for (j, size) in sizes.into_iter().enumerate() {
            let id = format!("{slide}-{j}");
            let data = Pattern::pseudo_random(size ^ j as u64, size);
            let checksum = data.checksum();
            artifacts.push(artifact_json(
                &id,
                &format!("out{j}"),
                "image/tiff",
                Some(&checksum),
            ));
            platform.blob(&id, Blob::new(data));
            expected.push((
                PathBuf::from(format!("{run_id}/{slide}/out{j}.tiff")),
                checksum,
            ));
        }
        items.push(item_json(slide, artifacts));
    }
    platform.items(items);
    expected.sort();

    for round in 0..10 {
        let dir = std::env::temp_dir().join(format!(
            "aignostics-two-processes-{}-{round}",
            std::process::id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let children: Vec<_> = (0..2)
            .map(|_| {
                spawn_child(
                    "two_processes_download_one_run_into_one_directory",
                    &platform.base_url(),
                    &dir,
                    run_id,
                )
            })
            .collect();
        for child in children {
            let out = child.wait_with_output().unwrap();
            let stdout = String::from_utf8_lossy(&out.stdout);
            let stderr = String::from_utf8_lossy(&out.stderr);
            assert!(out.status.success(), "round {round}: {stdout}\n{stderr}");
            let line = stdout
                .lines()
                .find_map(|l| l.find("child-report ").map(|at| &l[at..]))
                .unwrap_or_else(|| panic!("round {round}: no report in {stdout}\n{stderr}"));
            assert_eq!(field(line, "failed"), 0, "round {round}: {line}\n{stderr}");
            assert_eq!(
                field(line, "downloaded") + field(line, "skipped"),
                expected.len(),
                "round {round}: {line}"
            );
        }
        let paths: Vec<PathBuf> = expected.iter().map(|(p, _)| p.clone()).collect();
        assert_eq!(
            files_below(&dir),
            paths,
            "round {round}: stray or missing files"
        );
        for (path, checksum) in &expected {
            assert_eq!(
                &aignostics::checksum::crc32c_base64_file(dir.join(path)).unwrap(),
                checksum,
                "round {round}: {path:?}"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

// Proves a part left by a process killed with SIGKILL in the middle of a download is picked up
// by the next download (the lock died with the process) and resumed with `Range`, not
// restarted; the file comes out verified and no part is left. (FR-50, FR-38)
#[cfg(unix)]
#[test]
fn part_of_a_killed_process_is_resumed() {
    if child_if_asked() {
        return;
    }
    let run_id = "run-killed";
    let platform = Platform::start(run_id);
    let data = Pattern::pseudo_random(77, 4 << 20);
    platform.items(vec![item_json(
        "slide-1",
        vec![artifact_json(
            "a1",
            "out",
            "image/tiff",
            Some(&data.checksum()),
        )],
    )]);
    let mut blob = Blob::new(data.clone());
    blob.stall_after = 1 << 20;
    blob.stall = Duration::from_secs(30);
    blob.stall_times = 1;
    platform.blob("a1", blob);
    let dir = std::env::temp_dir().join(format!("aignostics-killed-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let mut child = spawn_child(
        "part_of_a_killed_process_is_resumed",
        &platform.base_url(),
        &dir,
        run_id,
    );
    let item_dir = dir.join(run_id).join("slide-1");
    let mut part_len = 0;
    for _ in 0..1_500 {
        part_len = std::fs::read_dir(&item_dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(".part"))
            .filter_map(|e| e.metadata().ok())
            .map(|m| m.len())
            .max()
            .unwrap_or(0);
        if part_len >= 1 << 20 {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(part_len, 1 << 20, "the child never reached the stall");
    child.kill().unwrap();
    child.wait().unwrap();

    let mut settings = Settings::default()
        .with_api_root(&platform.base_url())
        .unwrap();
    settings.run = settings.run.clone().no_wait(3);
    let report = Client::builder()
        .settings(settings)
        .token_provider(TokenProvider::fixed("tok-after-kill"))
        .build()
        .unwrap()
        .run(run_id)
        .download_to(&dir, &DownloadOptions::default())
        .unwrap();

    assert_eq!(
        report.downloaded,
        vec![item_dir.join("out.tiff")],
        "{report:?}"
    );
    assert_eq!(
        aignostics::checksum::crc32c_base64_file(item_dir.join("out.tiff")).unwrap(),
        data.checksum()
    );
    let storage = platform.storage_requests("a1");
    assert_eq!(storage.len(), 2);
    assert_eq!(storage[1].header("range"), Some("bytes=1048576-"));
    assert_eq!(
        files_below(&dir),
        vec![PathBuf::from("run-killed/slide-1/out.tiff")]
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
