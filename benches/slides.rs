//! Slide metadata speed: one header (no checksum) per format, the CRC32C pass from the page
//! cache, and a folder of 1,000 slides on every core; each pass again with the checksum index
//! (a restart: unchanged slides' checksums remembered, headers read). The folder stays in
//! `target/slides-bench/folder` for a memory measurement of the CLI:
//! `/usr/bin/time -v target/release/aignostics slides inspect target/slides-bench/folder`.

#[path = "../tests/slides_support/mod.rs"]
mod slides_support;

use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aignostics::checksum::ChecksumIndex;
use aignostics::slides::{self, Inspector};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use slides_support::*;

/// Size of the file of the checksum benchmark.
const BIG: usize = 256 * 1024 * 1024;
/// Slides in the folder benchmark.
const FOLDER: usize = 1000;

/// An inspector with a fresh checksum index that already holds every slide of `paths`, which
/// are set as last modified an hour ago (slides copied long before the run).
fn indexed(paths: &[PathBuf]) -> Inspector {
    let hour_ago = SystemTime::now() - Duration::from_secs(3600);
    for path in paths {
        let file = std::fs::File::options().write(true).open(path).unwrap();
        file.set_modified(hour_ago).unwrap();
    }
    let log = dir().join("checksums.jsonl");
    let _ = std::fs::remove_file(&log);
    let inspector = Inspector::new().checksum_index(Arc::new(ChecksumIndex::open(log)));
    for slide in inspector.inspect_all(paths) {
        assert!(!slide.unwrap().checksum_from_index);
    }
    inspector
}

fn dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/slides-bench");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// Measures reading one slide's header apart from the checksum, per format (NFR-18: < 1 ms).
fn header(c: &mut Criterion) {
    let dir = dir();
    let mut dicom = Dicom::new(98_304, 65_536, "0.00025\\0.00025");
    dicom.undefined_lengths = true;
    let cases: Vec<(&str, PathBuf)> = vec![
        ("aperio", aperio(98_304, 65_536, "0.2520")),
        (
            "generic_bigtiff",
            generic(98_304, 65_536, 40_000, 1, 3).bigtiff(),
        ),
        ("philips", philips(98_304, 65_536, "0.00025")),
        ("ome", ome(98_304, 65_536, "0.25", "µm")),
    ]
    .into_iter()
    .map(|(name, tiff)| {
        let path = dir.join(format!("{name}.tif"));
        tiff.write(&path);
        (name, path)
    })
    .chain(std::iter::once({
        let path = dir.join("dicom.dcm");
        dicom.write(&path);
        ("dicom", path)
    }))
    .collect();
    let inspector = Inspector::new().checksum(false);
    let mut group = c.benchmark_group("slide_header");
    for (name, path) in &cases {
        group.bench_function(*name, |b| {
            b.iter(|| black_box(inspector.inspect(path).unwrap()))
        });
    }
    group.finish();
}

// Measures the CRC32C pass over a 256 MiB slide in the page cache (NFR-18: ≥ 1 GB/s).
fn checksum(c: &mut Criterion) {
    let path = dir().join("big.svs");
    if std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0) < BIG as u64 {
        let mut bytes = aperio(98_304, 65_536, "0.25").to_vec();
        let filler: Vec<u8> = (0..BIG - bytes.len())
            .map(|i| (i * 31 % 251) as u8)
            .collect();
        bytes.extend(filler);
        std::fs::File::create(&path)
            .unwrap()
            .write_all(&bytes)
            .unwrap();
    }
    let inspector = Inspector::new();
    inspector.inspect(&path).unwrap(); // into the page cache
    let mut group = c.benchmark_group("slide_checksum");
    group.throughput(Throughput::Bytes(std::fs::metadata(&path).unwrap().len()));
    group.sample_size(10);
    group.bench_function("256_mib", |b| {
        b.iter(|| black_box(inspector.inspect(&path).unwrap()))
    });
    // FR-89: the same slide unchanged since its last read.
    let again = indexed(std::slice::from_ref(&path));
    group.bench_function("256_mib_unchanged_from_index", |b| {
        b.iter(|| {
            let slide = again.inspect(&path).unwrap();
            assert!(slide.checksum_from_index);
            black_box(slide)
        })
    });
    group.finish();
}

// Measures a folder of 1,000 slides with checksums on every core (NFR-19).
fn folder(c: &mut Criterion) {
    let folder = dir().join("folder");
    if slides::find_slides(&folder).map(|f| f.len()).unwrap_or(0) != FOLDER {
        let _ = std::fs::remove_dir_all(&folder);
        for i in 0..FOLDER {
            let case = folder.join(format!("case-{:02}", i / 50));
            std::fs::create_dir_all(&case).unwrap();
            aperio(8_000 + i as u32, 6_000, "0.25")
                .tile(64)
                .write(&case.join(format!("slide-{i:04}.svs")));
        }
    }
    let paths = slides::find_slides(&folder).unwrap();
    let bytes: u64 = paths
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    let mut group = c.benchmark_group("slide_folder");
    group.throughput(Throughput::Elements(paths.len() as u64));
    group.sample_size(10);
    for threads in [
        1,
        std::thread::available_parallelism().map_or(1, usize::from),
    ] {
        let inspector = Inspector::new().threads(threads);
        group.bench_function(
            format!("1000_slides_{threads}_threads_{}_mib", bytes >> 20),
            |b| b.iter(|| black_box(inspector.inspect_all(&paths))),
        );
    }
    // FR-89: a restart on the unchanged folder.
    let again = indexed(&paths).threads(1);
    group.bench_function(
        format!(
            "1000_slides_1_threads_{}_mib_unchanged_from_index",
            bytes >> 20
        ),
        |b| b.iter(|| black_box(again.inspect_all(&paths))),
    );
    group.finish();
}

criterion_group!(benches, header, checksum, folder);
criterion_main!(benches);
