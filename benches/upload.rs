//! Throughput of `Bucket::upload` (parallel parts, Content-MD5 and CRC32C per part, the whole
//! object verified) into the sandbox's S3-compatible bucket over loopback, for a 128 MiB file,
//! by part size. Run with `cargo bench --bench upload`; compare with
//! `benches/boto3_upload.py` (boto3's `upload_file`) on the same file and server.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use aignostics_sandbox::{self as sandbox, Sandbox};
use criterion::{Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

const SIZE: usize = 128 * 1024 * 1024;

fn upload(c: &mut Criterion) {
    // Measures upload throughput with verification, the part size chosen by it (NFR-20).
    let sb = Sandbox::builder()
        .bucket_keeps_bytes(false)
        .start()
        .expect("sandbox");
    let bucket = sb.bucket(sandbox::ALICE_TOKEN).expect("bucket");
    let path = std::env::temp_dir().join(format!("aignostics-bench-upload-{}", std::process::id()));
    let mut data = vec![0u8; SIZE];
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    for b in data.iter_mut() {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *b = (x >> 24) as u8;
    }
    std::fs::write(&path, &data).expect("bench file");
    drop(data);
    let n = AtomicU64::new(0);
    let mut group = c.benchmark_group("upload_128MiB");
    group.throughput(Throughput::Bytes(SIZE as u64));
    group.sampling_mode(SamplingMode::Flat);
    group.sample_size(10);
    group.warm_up_time(Duration::from_secs(1));
    for mib in [8u64, 16, 32] {
        group.bench_function(format!("part_{mib}MiB_4_threads"), |b| {
            b.iter(|| {
                let key = format!("bench/{}", n.fetch_add(1, Ordering::Relaxed));
                bucket
                    .upload(&path, &key)
                    .part_size(mib * 1024 * 1024)
                    .send()
                    .expect("upload")
            })
        });
    }
    group.finish();
    std::fs::remove_file(&path).ok();
}

criterion_group!(benches, upload);
criterion_main!(benches);
