//! Cohorts against the in-process sandbox (FR-98, FR-99): the status of a 10-run cohort of 100
//! slides, alone and among 20,000 other runs of the same user (it asks by the cohort's record,
//! so the other runs cost the client no request), and a second `submit` of a 1,000-slide
//! cohort whose 40 batches are all on the platform (one listing, nothing sent). The
//! 10,000-slide figures and memory are in `examples/cohort_scale.rs`.

#[path = "../tests/local/mod.rs"]
mod local;
#[path = "../tests/slides_support/mod.rs"]
mod slides_support;

use std::hint::black_box;
use std::time::Duration;

use aignostics::cohort::{self, Cohort};
use aignostics::models::RunCreationRequest;
use aignostics_sandbox::{self as sandbox, Sandbox};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn cohorts(c: &mut Criterion) {
    let dir = local::Scratch::new("bench-cohort");
    slides_support::numbered(&dir.join("slides"), 1000);
    let platform = Sandbox::builder()
        .processing_time(Duration::from_secs(24 * 3600))
        .start()
        .unwrap();
    let client = platform.client(sandbox::ALICE_TOKEN).unwrap();
    // 1,000 slides in 40 batches.
    let big = || {
        Cohort::new(
            "big",
            slides_support::sandbox_slides(&client, &platform, &dir.join("slides")),
        )
        .unwrap()
        .batch_size(25)
    };
    big().submit().unwrap();
    Cohort::new(
        "small",
        slides_support::sandbox_slides(&client, &platform, &dir.join("slides"))
            .include("s-0??.tif"),
    )
    .unwrap()
    .batch_size(10)
    .submit()
    .unwrap();

    let mut group = c.benchmark_group("cohort");
    group.sample_size(20);
    group.throughput(Throughput::Elements(1000));
    group.bench_function("submit_again_1000_slides_40_batches", |b| {
        b.iter(|| {
            let report = big().submit().unwrap();
            assert_eq!(report.existing.len(), 40);
        })
    });
    group.throughput(Throughput::Elements(100));
    group.bench_function("status_10_runs", |b| {
        b.iter(|| black_box(cohort::status(&client, "small").unwrap()))
    });
    for i in 0..20_000 {
        client
            .runs()
            .submit(RunCreationRequest::new(
                "he-tme",
                [sandbox::example_item(&format!("other-{i}"))],
            ))
            .unwrap();
    }
    group.bench_function("status_10_runs_among_20000_others", |b| {
        b.iter(|| black_box(cohort::status(&client, "small").unwrap()))
    });
    group.finish();
}

criterion_group!(benches, cohorts);
criterion_main!(benches);
