//! A short fault soak: two processes download several runs into one directory under random
//! faults from a fixed seed (the long one is `examples/fault_soak.rs`).

mod local;
mod soak;

use std::process::Command;
use std::time::Duration;

const TEST_NAME: &str = "two_processes_under_random_faults_lose_nothing";

// Proves that under random 5xx, 429, dropped connections, truncated bodies and stalls (seed
// 14), two processes downloading 2 rounds of 3 runs x 3 items into one directory both finish
// within the bound, every file matches its published CRC32C and no part file is left. (NFR-15, NFR-09, FR-50)
#[test]
fn two_processes_under_random_faults_lose_nothing() {
    soak::child_if_asked();
    let exe = std::env::current_exe().unwrap();
    let config = soak::Config {
        seed: 14,
        rounds: 2,
        runs: 3,
        items: 3,
        artifact_size: 256 * 1024,
        round_limit: Duration::from_secs(120),
    };
    let figures = soak::run(&config, || {
        let mut command = Command::new(&exe);
        command.args([TEST_NAME, "--exact", "--nocapture", "--test-threads=1"]);
        command
    });
    eprintln!("{figures:?}");
    assert_eq!(figures.rounds, 2);
    assert_eq!(figures.files, 2 * 3 * 3 * 3);
    // A call that ends incomplete is followed by another, whose report counts the files already
    // there as skipped again: each process accounts for every file at least once.
    assert!(
        figures.downloaded + figures.skipped >= 2 * figures.files,
        "{figures:?}"
    );
    assert!(figures.faults > 0, "{figures:?}");
}
