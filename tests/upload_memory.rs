//! Memory of a large upload (its own test binary, so no other test shares the process's peak
//! resident set).
#![cfg(all(feature = "bucket", target_os = "linux"))]

/// The file is larger than the memory bound, so buffering it would exceed the bound (the
/// bound covers the in-process store's request buffers too).
const SIZE: u64 = 256 * 1024 * 1024;
const BOUND_KIB: u64 = 192 * 1024;

mod local;
use local::peak_rss_kib;

// Proves a 256 MiB (sparse) file uploads in parallel parts, verified, with the process's peak
// RSS below 192 MiB, the in-process store included (NFR-21).
#[test]
fn large_upload_keeps_memory_flat() {
    use aignostics::bucket::UploadOutcome;
    use aignostics_sandbox::{self as sandbox, Sandbox};

    let sb = Sandbox::builder()
        .bucket_keeps_bytes(false)
        .start()
        .unwrap();
    let bucket = sb.bucket(sandbox::ALICE_TOKEN).unwrap();
    let path =
        std::env::temp_dir().join(format!("aignostics-upload-memory-{}", std::process::id()));
    std::fs::File::create(&path).unwrap().set_len(SIZE).unwrap();
    let report = bucket
        .upload(&path, "memory/sparse.bin")
        .part_size(5 * 1024 * 1024)
        .concurrency(2)
        .send();
    std::fs::remove_file(&path).ok();
    let report = report.unwrap();
    assert_eq!(report.outcome, UploadOutcome::Uploaded);
    assert_eq!(report.size, SIZE);
    let peak = peak_rss_kib();
    assert!(
        peak < BOUND_KIB,
        "peak RSS {peak} KiB for a {} MiB upload",
        SIZE >> 20
    );
}
