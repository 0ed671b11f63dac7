//! Throughput of `Run::download_to` (CRC32C verified, fsynced, atomically renamed) against a
//! plain `ureq` stream of the same signed URL into a file, for a 256 MiB artifact served over
//! loopback. Run with `cargo bench --bench download`.

#[path = "../tests/support/mod.rs"]
mod support;

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use aignostics::DownloadOptions;
use criterion::{BatchSize, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use support::{Blob, Pattern, Platform, artifact_json, item_json};

const SIZE: u64 = 256 * 1024 * 1024;

fn scratch_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("aignostics-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("create the scratch directory");
    dir
}

fn download(c: &mut Criterion) {
    // Measures download_to against a plain ureq stream of the same URL (NFR-03).
    let data = Pattern::pseudo_random(1, SIZE);
    let platform = Platform::start("bench-run");
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
    let client = platform.client("bench-token");
    let dir = scratch_dir();
    let run_dir = dir.join("bench-run");
    let plain_file = dir.join("plain.bin");
    let url = platform.storage_url("big");
    let options = DownloadOptions::default()
        .wait_for_run(false)
        .concurrency(1);
    let agent = ureq::Agent::new_with_defaults();

    let mut group = c.benchmark_group("download_256MiB");
    group.throughput(Throughput::Bytes(SIZE));
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    group.measurement_time(Duration::from_secs(8));

    group.bench_function("download_to", |b| {
        b.iter_batched(
            || {
                let _ = std::fs::remove_dir_all(&run_dir);
            },
            |()| {
                let report = client
                    .run("bench-run")
                    .download_to(&dir, &options)
                    .expect("download_to");
                assert_eq!(report.bytes, SIZE);
            },
            BatchSize::PerIteration,
        );
    });

    let plain = |sync: bool| {
        let mut response = agent.get(&url).call().expect("GET");
        let mut file = std::fs::File::create(&plain_file).expect("create");
        let n = std::io::copy(&mut response.body_mut().as_reader(), &mut file).expect("copy");
        assert_eq!(n, SIZE);
        file.flush().expect("flush");
        if sync {
            file.sync_all().expect("sync");
        }
    };
    group.bench_function("plain_ureq_to_file", |b| {
        b.iter_batched(
            || {
                let _ = std::fs::remove_file(&plain_file);
            },
            |()| plain(false),
            BatchSize::PerIteration,
        );
    });
    group.bench_function("plain_ureq_to_file_fsync", |b| {
        b.iter_batched(
            || {
                let _ = std::fs::remove_file(&plain_file);
            },
            |()| plain(true),
            BatchSize::PerIteration,
        );
    });
    group.finish();
    let _ = std::fs::remove_dir_all(&dir);
}

criterion_group!(benches, download);
criterion_main!(benches);
