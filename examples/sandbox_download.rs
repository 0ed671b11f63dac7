//! Artifacts per second the sandbox serves to `Run::download_to` (what `aignostics runs
//! download` calls, with its default concurrency), client and sandbox in this process on
//! loopback: one run of ITEMS items (default 1,000) × 3 artifacts of 256 KiB, downloaded three
//! times into DIR (default `/dev/shm` when it exists); prints the median (NFR-24).
//!
//! ```text
//! cargo run --release --features sandbox --example sandbox_download -- [ITEMS] [DIR]
//! ```

use std::path::PathBuf;
use std::time::{Duration, Instant};

use aignostics::DownloadOptions;
use aignostics::models::RunCreationRequest;
use aignostics::sandbox::{self, Sandbox};

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
    let request = RunCreationRequest::new(
        "he-tme",
        (0..items).map(|i| sandbox::example_item(&format!("slide-{i:05}"))),
    );
    let run = client.runs().submit(request)?;
    let options = DownloadOptions::default();
    let artifacts = items * 3;

    let mut times = Vec::new();
    for _ in 0..3 {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let start = Instant::now();
        let report = run.download_to(&dir, &options)?;
        times.push(start.elapsed());
        assert_eq!(
            report.downloaded.len(),
            artifacts,
            "every artifact downloaded"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
    times.sort();
    let t = times[1].as_secs_f64();
    println!(
        "sandbox_download items={items} artifacts={artifacts}: {t:.3} s, {:.0} artifacts/s, \
         {:.0} MB/s (median of 3)",
        artifacts as f64 / t,
        (artifacts as u64 * 256 * 1024) as f64 / t / 1e6,
    );
    platform.shutdown();
    Ok(())
}
