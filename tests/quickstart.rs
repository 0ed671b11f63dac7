//! The quickstart example's flow, run in the test suite so the README's first command keeps
//! working.
#![cfg(all(feature = "slides", feature = "bucket"))]

#[path = "../examples/quickstart.rs"]
#[allow(dead_code)]
mod quickstart;

// Proves the quickstart completes from slide files on disk, inspected and uploaded through the
// sandbox's bucket with signed URLs: a run of three slides ends COMPLETED and every one of its
// result files (three artifacts per slide) is downloaded and matches its published CRC32C
// (FR-45, FR-44, FR-81).
#[test]
fn quickstart_runs_to_completion() {
    let dir =
        std::env::temp_dir().join(format!("aignostics-quickstart-test-{}", std::process::id()));
    let result = quickstart::run(&dir);
    let _ = std::fs::remove_dir_all(&dir);
    let summary = result.expect("quickstart flow");
    assert_eq!(summary.status, "COMPLETED");
    assert_eq!(summary.verified.len(), 9, "{summary:?}");
    assert_eq!(summary.bytes, 9 * 64 * 1024);
}
