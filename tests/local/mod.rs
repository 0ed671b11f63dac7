//! What many test binaries need of the machine they run on: a scratch directory, the files
//! below a directory, a child process's output for a failure message, the peak resident set,
//! a child command without the test's own settings.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

/// A fresh, empty directory under the system temp dir (unique per process and call), removed
/// when dropped.
pub struct Scratch(PathBuf);

impl Scratch {
    /// A new directory whose name starts with `aignostics-{label}`.
    pub fn new(label: &str) -> Self {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "aignostics-{label}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    /// `name` inside the directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl std::ops::Deref for Scratch {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Every file below `dir` but the downloads' `manifest.json`s, relative to it, sorted (none
/// when `dir` does not exist).
pub fn files_below(dir: &Path) -> Vec<PathBuf> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(base, &path, out);
            } else if path.file_name().is_some_and(|n| n == "manifest.json") {
                // The download's description of the results, not a result.
            } else if let Ok(relative) = path.strip_prefix(base) {
                out.push(relative.to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// A finished child's exit status, stdout and stderr, for an assertion's message.
pub fn describe(out: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The process's peak resident set ("VmHWM") in KiB.
#[cfg(target_os = "linux")]
pub fn peak_rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").expect("read /proc/self/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM line");
    line.split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmHWM value in kB")
}

/// xorshift64*: small, seeded random numbers, good enough to pick faults and bytes; the same
/// seed gives the same sequence.
pub struct Rng(pub u64);

impl Rng {
    /// The next number.
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number below `n` (0 when `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
}

/// A command for `program` that sees none of the test's own variables that steer the SDK, the
/// CLI or a store (`AIGNOSTICS_*`, `AWS_*`, `GCS_*`, `SSL_CERT_FILE`) or the SDK metadata
/// (`GITHUB_*`, `PYTEST_*`): each test sets what it means.
pub fn clean_command(program: &str) -> Command {
    let mut cmd = Command::new(program);
    for (key, _) in std::env::vars() {
        let steering = ["AIGNOSTICS_", "AWS_", "GCS_", "GITHUB_", "PYTEST_"]
            .iter()
            .any(|prefix| key.starts_with(prefix));
        if steering || key == "SSL_CERT_FILE" {
            cmd.env_remove(key);
        }
    }
    cmd
}
