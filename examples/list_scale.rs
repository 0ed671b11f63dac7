//! How listing a run's items scales against the sandbox: time and resident memory of reading
//! every item of runs of growing size through the lazy page iterator (`run.items()`), client
//! and sandbox in this process on loopback. Pages are streamed, so the client's memory while
//! listing stays flat and the time grows linearly with the number of pages.
//!
//! ```text
//! cargo run --release --features sandbox --example list_scale -- [MAX_ITEMS]
//! ```
//!
//! Prints one line per size: items, pages, seconds, items per second, and the growth of the
//! resident set while listing (its peak minus the value before; the sandbox's own copy of the
//! run was made before).

use std::time::{Duration, Instant};

use aignostics::models::RunCreationRequest;
use aignostics::sandbox::{self, Sandbox};

/// The resident set of this process in KiB (0 where `/proc` is not there).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let max: usize = std::env::args().nth(1).map_or(Ok(10_000), |n| n.parse())?;
    let platform = Sandbox::builder().processing_time(Duration::ZERO).start()?;
    let client = platform.client(sandbox::ALICE_TOKEN)?;
    let mut size = 1_000;
    while size <= max {
        let request = RunCreationRequest::new(
            "he-tme",
            (0..size).map(|i| sandbox::example_item(&format!("slide-{i:05}"))),
        );
        let run = client.runs().submit(request)?;
        let items_path = format!("/api/v1/runs/{}/items", run.id());
        let requests_before = platform.request_count(&items_path);
        let before = rss_kib();
        let mut peak = before;
        let start = Instant::now();
        let mut count = 0usize;
        for item in run.items() {
            item?;
            count += 1;
            if count.is_multiple_of(250) {
                peak = peak.max(rss_kib());
            }
        }
        let elapsed = start.elapsed().as_secs_f64();
        peak = peak.max(rss_kib());
        assert_eq!(count, size, "every item listed once");
        let pages = platform.request_count(&items_path) - requests_before;
        println!(
            "list_scale items={size} pages={pages}: {elapsed:.3} s, {:.0} items/s, resident set +{} KiB while listing",
            size as f64 / elapsed,
            peak.saturating_sub(before)
        );
        size *= 2;
    }
    Ok(())
}
