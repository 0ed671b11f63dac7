//! Artifacts per second the sandbox serves to `Run::download_to` (what `aignostics runs
//! download` calls, with its default concurrency), client and sandbox in this process on
//! loopback: runs of ITEMS/8, ITEMS/4, ITEMS/2 and ITEMS items (default 1,000) × 3 artifacts of
//! 256 KiB, each downloaded three times into DIR (default `/dev/shm` when it exists). Prints per
//! size the median time, artifacts per second, time per artifact (flat when no work is
//! quadratic), item-list pages fetched per download, and the peak growth of the resident set
//! and the peak of open files (client and sandbox together) (NFR-24, NFR-25).
//!
//! ```text
//! cargo run --release --example sandbox_download -- [ITEMS] [DIR]
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use aignostics::DownloadOptions;
use aignostics::models::RunCreationRequest;
use aignostics_sandbox::{self as sandbox, Sandbox};

#[path = "support/rss.rs"]
mod rss;
use rss::rss_kib;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let items: usize = args.next().map_or(Ok(1000), |n| n.parse())?;
    let dir = args.next().map(PathBuf::from).unwrap_or_else(|| {
        let shm = PathBuf::from("/dev/shm");
        if shm.is_dir() {
            shm
        } else {
            std::env::temp_dir()
        }
    });
    let dir = dir.join(format!(
        "aignostics-sandbox-download-{}",
        std::process::id()
    ));

    let platform = Sandbox::builder().processing_time(Duration::ZERO).start()?;
    let client = platform.client(sandbox::ALICE_TOKEN)?;
    let options = DownloadOptions::default();
    // The curve: items/8, items/4, items/2 and items, so time per artifact, memory and open
    // files can be read against the run's size.
    let sizes: Vec<usize> = [8, 4, 2, 1]
        .iter()
        .map(|d| items / d)
        .filter(|n| *n > 0)
        .collect();
    for (i, &size) in sizes.iter().enumerate() {
        if i > 0 && size == sizes[i - 1] {
            continue;
        }
        let request = RunCreationRequest::new(
            "he-tme",
            (0..size).map(|i| sandbox::example_item(&format!("slide-{i:05}"))),
        );
        let run = client.runs().submit(request)?;
        let artifacts = size * 3;
        let listing = format!("/api/v1/runs/{}/items", run.id());
        let pages_before = platform.request_count(&listing);
        let mut samples = Vec::new();
        for _ in 0..3 {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir)?;
            let sampler = Sampler::start();
            let start = Instant::now();
            let report = run.download_to(&dir, &options)?;
            let elapsed = start.elapsed();
            let (rss_growth, fds) = sampler.stop();
            samples.push((elapsed, rss_growth, fds));
            assert_eq!(
                report.downloaded.len(),
                artifacts,
                "every artifact downloaded"
            );
        }
        let pages = (platform.request_count(&listing) - pages_before) / 3;
        samples.sort_by_key(|s| s.0);
        let (t, _, _) = samples[1];
        let t = t.as_secs_f64();
        let rss = samples.iter().map(|s| s.1).max().unwrap_or(0);
        let fds = samples.iter().map(|s| s.2).max().unwrap_or(0);
        println!(
            "sandbox_download items={size} artifacts={artifacts}: {t:.3} s, {:.0} artifacts/s, \
             {:.0} MB/s, {:.1} µs per artifact (median of 3); item-list pages per download \
             {pages}; peak resident set +{rss} KiB; peak open files {fds}",
            artifacts as f64 / t,
            (artifacts as u64 * 256 * 1024) as f64 / t / 1e6,
            t * 1e6 / artifacts as f64,
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    platform.shutdown();
    Ok(())
}

/// Samples this process's resident set and open file descriptors every 2 ms until stopped.
struct Sampler {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: std::thread::JoinHandle<(u64, usize)>,
}

impl Sampler {
    fn start() -> Self {
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let flag = std::sync::Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let before = rss_kib();
            let (mut rss, mut fds) = (before, 0);
            while !flag.load(std::sync::atomic::Ordering::Relaxed) {
                rss = rss.max(rss_kib());
                fds = fds.max(std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count()));
                std::thread::sleep(Duration::from_millis(2));
            }
            (rss.saturating_sub(before), fds)
        });
        Self { stop, thread }
    }

    /// Peak growth of the resident set (KiB) and peak open descriptors while sampling.
    fn stop(self) -> (u64, usize) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        self.thread.join().unwrap_or((0, 0))
    }
}
