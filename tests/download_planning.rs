//! What a download keeps while planning (its own test binary: it counts the process-wide cache).

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aignostics::{DownloadOptions, cache};
use support::{Blob, Pattern, Platform, artifact_json, item_json};

// Proves a download's run and item pages are neither read from the cache nor stored in it, so
// a large run's items are not kept for the cache's lifetime, while an ordinary listing is
// cached; and that its open files stay bounded, not one per item. (NFR-29)
#[test]
fn download_pages_stay_out_of_the_cache_and_files_stay_bounded() {
    let platform = Platform::start("planning-run");
    let items = (0..250)
        .map(|i| {
            let id = format!("a{i}");
            let data = Pattern::pseudo_random(i, 64);
            let artifact = artifact_json(&id, "result", "image/tiff", Some(&data.checksum()));
            platform.blob(&id, Blob::new(data));
            item_json(&format!("slide-{i:03}"), vec![artifact])
        })
        .collect();
    platform.items(items);
    let client = platform.client("planning-token");
    let dir = std::env::temp_dir().join(format!("aignostics-planning-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    cache::clear();

    let run = client.run("planning-run");
    let open_files = || std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count());
    let before = open_files();
    let peak = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&peak);
    let options = DownloadOptions::default().on_event(move |_| {
        seen.fetch_max(open_files(), Ordering::Relaxed);
    });
    let report = run.download_to(&dir, &options).unwrap();
    assert_eq!(report.downloaded.len(), 250, "every artifact downloaded");
    // Client and loopback server share this process: workers, their connections and the
    // server's ends of them, never one descriptor per item.
    let peak = peak.load(Ordering::Relaxed);
    if cfg!(target_os = "linux") {
        assert!(
            peak > 0 && peak <= before + 64,
            "open files stay bounded: {before} before, {peak} at the peak"
        );
    }
    let listings = platform.seen_under("/api/v1/runs/planning-run/items").len();
    assert!(listings >= 1, "the items were listed");
    assert_eq!(cache::len(), 0, "the download left nothing in the cache");

    // The same listing through the run handle is cached: the count above could have failed.
    run.items().page(1).unwrap();
    assert_eq!(cache::len(), 1);
    let _ = std::fs::remove_dir_all(&dir);
}
