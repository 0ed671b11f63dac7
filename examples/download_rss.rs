//! Downloads one N-MiB artifact (N from the first argument, default 64) from an in-process
//! loopback platform, to show that memory stays flat whatever the artifact size:
//!
//! ```text
//! cargo build --release --example download_rss
//! /usr/bin/time -v target/release/examples/download_rss 64
//! /usr/bin/time -v target/release/examples/download_rss 512
//! ```
//!
//! The server generates the bytes on the fly from a 64 KiB block, so the process's peak RSS
//! ("Maximum resident set size") is the client's.

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use aignostics::{Client, DownloadOptions, Settings, TokenProvider};
use support::{Blob, Pattern, Platform, artifact_json, item_json};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mib: u64 = match std::env::args().nth(1) {
        Some(arg) => arg.parse()?,
        None => 64,
    };
    let data = Pattern::pseudo_random(7, mib * 1024 * 1024);
    let platform = Platform::start("rss-run");
    platform.items(vec![item_json(
        "slide",
        vec![artifact_json(
            "big",
            "big",
            "image/tiff",
            Some(&data.checksum()),
        )],
    )]);
    platform.blob("big", Blob::new(data));

    let settings = Settings::default().with_api_root(&platform.base_url())?;
    let client = Client::builder()
        .settings(settings)
        .token_provider(TokenProvider::fixed("rss-token"))
        .build()?;
    let dir = std::env::temp_dir().join(format!("aignostics-rss-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;

    let started = Instant::now();
    let report = client
        .run("rss-run")
        .download_to(&dir, &DownloadOptions::default().wait_for_run(false))?;
    let secs = started.elapsed().as_secs_f64();
    std::fs::remove_dir_all(&dir)?;

    if !report.is_complete() || report.bytes != mib * 1024 * 1024 {
        return Err(format!("download incomplete: {report:?}").into());
    }
    println!(
        "downloaded {mib} MiB in {secs:.2} s ({:.0} MiB/s), verified",
        mib as f64 / secs
    );
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(line) = status.lines().find(|l| l.starts_with("VmHWM"))
    {
        let value: Vec<&str> = line.split_whitespace().skip(1).collect();
        println!("peak RSS ({})", value.join(" "));
    }
    Ok(())
}
