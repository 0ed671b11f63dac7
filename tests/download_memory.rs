//! Memory of a large download (its own test binary, so no other test shares the process's peak
//! resident set).

#[cfg(target_os = "linux")]
mod local;
#[cfg(target_os = "linux")]
mod support;

/// The artifact is four times the memory bound, so buffering it would exceed the bound.
#[cfg(target_os = "linux")]
const SIZE: u64 = 256 * 1024 * 1024;
#[cfg(target_os = "linux")]
const BOUND_KIB: u64 = 64 * 1024;

// Proves a 256 MiB artifact downloads and verifies with the process's peak RSS below 64 MiB. (NFR-04)
#[cfg(target_os = "linux")]
#[test]
fn large_download_keeps_memory_flat() {
    use aignostics::DownloadOptions;
    use local::peak_rss_kib;
    use support::{Blob, Pattern, Platform, artifact_json, item_json};

    let data = Pattern::pseudo_random(11, SIZE);
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
    let client = platform.client("tok-download-memory");
    let dir = std::env::temp_dir().join(format!("aignostics-memory-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    let report = client
        .run("rss-run")
        .download_to(&dir, &DownloadOptions::default().wait_for_run(false))
        .unwrap();
    let peak = peak_rss_kib();
    let written = std::fs::metadata(dir.join("rss-run/slide/big.tiff"))
        .unwrap()
        .len();
    std::fs::remove_dir_all(&dir).unwrap();

    assert!(report.is_complete(), "{report:?}");
    assert_eq!((report.bytes, written), (SIZE, SIZE));
    assert!(
        peak < BOUND_KIB,
        "peak RSS {peak} KiB is not below {BOUND_KIB} KiB"
    );
}
