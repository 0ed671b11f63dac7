//! How listing scales against the sandbox: time and resident memory of reading every item of
//! runs of growing size through the lazy page iterator (`run.items()`), then every run of a
//! user with a growing number of runs (`runs().list()`), client and sandbox in this process on
//! loopback. Pages are streamed, so the client's memory while
//! listing stays flat and the time grows linearly with the number of pages.
//!
//! ```text
//! cargo run --release --example list_scale -- [MAX_ITEMS]
//! ```
//!
//! Prints one line per size: entries, pages, seconds, entries per second, and the growth of the
//! resident set while listing (its peak minus the value before; the sandbox's own copy of the
//! runs was made before).

use std::time::{Duration, Instant};

use aignostics::models::RunCreationRequest;
use aignostics_sandbox::{self as sandbox, Sandbox};

#[path = "support/rss.rs"]
mod rss;
use rss::rss_kib;

/// Reads every entry of `list` (a lazy page iterator), sampling the resident set every 250
/// entries; prints entries, pages (requests to `path`), time and the resident set's growth.
fn measure<T>(
    what: &str,
    platform: &Sandbox,
    path: &str,
    expected: usize,
    list: impl Iterator<Item = aignostics::Result<T>>,
) -> Result<(), Box<dyn std::error::Error>> {
    let requests_before = platform.request_count(path);
    let before = rss_kib();
    let mut peak = before;
    let start = Instant::now();
    let mut count = 0usize;
    for entry in list {
        entry?;
        count += 1;
        if count.is_multiple_of(250) {
            peak = peak.max(rss_kib());
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    peak = peak.max(rss_kib());
    assert_eq!(count, expected, "every entry listed once");
    let pages = platform.request_count(path) - requests_before;
    println!(
        "list_scale {what}={expected} pages={pages}: {elapsed:.3} s, {:.0} {what}/s, resident set +{} KiB while listing",
        expected as f64 / elapsed,
        peak.saturating_sub(before)
    );
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let max: usize = std::env::args().nth(1).map_or(Ok(10_000), |n| n.parse())?;
    let platform = Sandbox::builder().processing_time(Duration::ZERO).start()?;
    let client = platform.client(sandbox::ALICE_TOKEN)?;
    let item = |i: usize| sandbox::example_item(&format!("slide-{i:05}"));
    let mut size = 1_000;
    while size <= max {
        let request = RunCreationRequest::new("he-tme", (0..size).map(item));
        let run = client.runs().submit(request)?;
        let path = format!("/api/v1/runs/{}/items", run.id());
        measure("items", &platform, &path, size, run.items().iter())?;
        size *= 2;
    }
    // Runs: the user's list grows to MAX_RUNS runs of one item each (the item runs above are
    // counted too).
    let mut runs = client.runs().list().iter().count();
    let mut size = 1_000;
    while size <= max {
        for _ in runs..size {
            client
                .runs()
                .submit(RunCreationRequest::new("he-tme", [item(0)]))?;
        }
        runs = size;
        measure(
            "runs",
            &platform,
            "/api/v1/runs",
            size,
            client.runs().list().iter(),
        )?;
        size *= 2;
    }
    Ok(())
}
