//! How a cohort scales against the sandbox (client and sandbox in this process, on loopback):
//! a cohort of N slides (default 10,000; at least 1,000) in batches of 100 — time to read and plan it, to
//! submit it, and to compute its status, with the requests each costs and the growth of the
//! resident set; then the status of a 10-run cohort before and after 20,000 other runs are in
//! the user's listing (it asks by the cohort's record, not by listing every run).
//!
//! ```text
//! cargo run --release --example cohort_scale --features slides,bucket -- [SLIDES] [OTHER_RUNS]
//! ```

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aignostics::cohort::{self, Cohort, Progress};
use aignostics::models::RunCreationRequest;
use aignostics_sandbox::{self as sandbox, Sandbox};

#[path = "support/rss.rs"]
mod rss;
#[path = "../tests/slides_support/mod.rs"]
mod slides_support;
use rss::{peak_kib, rss_kib};

/// Seconds and the API requests (`/api/v1/`) of `f`.
fn measured<T>(platform: &Sandbox, f: impl FnOnce() -> T) -> (T, f64, usize) {
    let before = platform.request_count("/api/v1/");
    let start = Instant::now();
    let value = f();
    (
        value,
        start.elapsed().as_secs_f64(),
        platform.request_count("/api/v1/") - before,
    )
}

/// `status API_ROOT NAME`: the client alone (this example run again as a child process)
/// computes the cohort's status and prints its peak resident set, which the sandbox's memory
/// does not blur.
fn status_only(api_root: &str, name: &str) -> Result<(), Box<dyn std::error::Error>> {
    let settings = aignostics::Settings::default().with_api_root(api_root)?;
    let client = aignostics::Client::builder()
        .settings(settings)
        .token_provider(aignostics::TokenProvider::fixed(sandbox::ALICE_TOKEN))
        .build()?;
    let status = cohort::status(&client, name)?;
    println!("{} {}", status.slides.len(), peak_kib());
    Ok(())
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    if std::env::args().nth(1).as_deref() == Some("status") {
        let (root, name) = (std::env::args().nth(2), std::env::args().nth(3));
        return status_only(&root.unwrap_or_default(), &name.unwrap_or_default());
    }
    let slides: u32 = args.next().map_or(Ok(10_000), |a| a.parse())?;
    let others: usize = args.next().map_or(Ok(20_000), |a| a.parse())?;
    let dir = std::env::temp_dir().join(format!("aignostics-cohort-scale-{}", std::process::id()));
    slides_support::numbered(&dir.join("slides"), slides);
    let platform = Sandbox::builder()
        .processing_time(Duration::from_secs(24 * 3600))
        .start()?;
    let client = platform.client(sandbox::ALICE_TOKEN)?;
    let rss_start = rss_kib();

    let planned_at = Arc::new(Mutex::new(None));
    let seen = Arc::clone(&planned_at);
    let start = Instant::now();
    let (report, submit_s, submit_requests) = measured(&platform, || {
        Cohort::new(
            "scale",
            slides_support::sandbox_slides(&client, &platform, &dir.join("slides")),
        )
        .unwrap()
        .batch_size(100)
        .on_progress(move |step| {
            if let Progress::Planned { .. } = step {
                *seen.lock().unwrap() = Some(start.elapsed().as_secs_f64());
            }
        })
        .submit()
    });
    let report = report?;
    let plan_s = planned_at.lock().unwrap().unwrap_or(0.0);
    println!(
        "cohort of {} slides in {} batches: listed and planned in {plan_s:.2} s; read and submitted in \
         {submit_s:.2} s ({submit_requests} API requests, {} bucket requests); RSS +{} MiB",
        report.slides,
        report.batches,
        platform.request_count("/s3/"),
        (rss_kib().saturating_sub(rss_start)) / 1024
    );
    let rss_before = rss_kib();
    let (status, status_s, status_requests) =
        measured(&platform, || cohort::status(&client, "scale"));
    let status = status?;
    println!(
        "status of {} slides in {} runs: {status_s:.2} s, {status_requests} API requests ({:.4} \
         per slide); RSS +{} MiB",
        status.slides.len(),
        status.runs.len(),
        status_requests as f64 / status.slides.len().max(1) as f64,
        (rss_kib().saturating_sub(rss_before)) / 1024
    );
    let child = std::process::Command::new(std::env::current_exe()?)
        .args(["status", platform.base_url(), "scale"])
        .output()?;
    let told = String::from_utf8_lossy(&child.stdout);
    let mut parts = told.split_whitespace();
    println!(
        "status in a process of its own (the client alone): {} slides, peak RSS {} MiB",
        parts.next().unwrap_or("?"),
        parts
            .next()
            .and_then(|k| k.parse::<u64>().ok())
            .unwrap_or(0)
            / 1024
    );
    let (again, again_s, again_requests) = measured(&platform, || {
        Cohort::new(
            "scale",
            slides_support::sandbox_slides(&client, &platform, &dir.join("slides")),
        )
        .unwrap()
        .batch_size(100)
        .submit()
    });
    let again = again?;
    println!(
        "submit again: {} batches found, {} submitted, {again_s:.2} s, {again_requests} API \
         requests",
        again.existing.len(),
        again.submitted.len()
    );

    // A 10-run cohort's status (100 slides), before and after `others` other runs.
    Cohort::new(
        "small",
        slides_support::sandbox_slides(&client, &platform, &dir.join("slides"))
            .include("s-00??.tif"),
    )?
    .batch_size(10)
    .submit()?;
    let small = |label: &str| -> Result<(), Box<dyn std::error::Error>> {
        let mut times = Vec::new();
        let mut requests = 0;
        for _ in 0..5 {
            let (status, s, r) = measured(&platform, || cohort::status(&client, "small"));
            assert_eq!(status?.runs.len(), 10);
            times.push(s);
            requests = r;
        }
        times.sort_by(f64::total_cmp);
        println!(
            "status of a 10-run cohort {label}: median {:.1} ms, {requests} API requests",
            times[2] * 1000.0
        );
        Ok(())
    };
    small("among the cohort's runs")?;
    let start = Instant::now();
    for i in 0..others {
        client.runs().submit(RunCreationRequest::new(
            "he-tme",
            [sandbox::example_item(&format!("other-{i}"))],
        ))?;
    }
    println!(
        "{others} other runs made in {:.1} s",
        start.elapsed().as_secs_f64()
    );
    small(&format!("with {others} other runs"))?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
