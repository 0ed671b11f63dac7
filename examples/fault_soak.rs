//! The long fault soak: two processes download many runs into one directory while random
//! 5xx, 429, dropped connections, truncated bodies and stalls hit the sandbox, from a fixed
//! seed; afterwards every file must match its published CRC32C, with no part file left.
//!
//! ```text
//! cargo run --release --example fault_soak -- [SEED] [ROUNDS] [RUNS] [ITEMS] [KIB]
//! ```
//!
//! Defaults: seed 1, 10 rounds of 5 runs x 5 items (three artifacts each) of 1024 KiB.

#[path = "../tests/local/mod.rs"]
mod local;
#[path = "../tests/soak/mod.rs"]
mod soak;

use std::process::Command;
use std::time::Duration;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    soak::child_if_asked();
    let args: Vec<u64> = std::env::args()
        .skip(1)
        .map(|a| a.parse::<u64>())
        .collect::<Result<_, _>>()?;
    let arg = |i: usize, default: u64| args.get(i).copied().unwrap_or(default);
    let config = soak::Config {
        seed: arg(0, 1),
        rounds: usize::try_from(arg(1, 10))?,
        runs: usize::try_from(arg(2, 5))?,
        items: usize::try_from(arg(3, 5))?,
        artifact_size: arg(4, 1024).saturating_mul(1024),
        round_limit: Duration::from_secs(600),
    };
    let exe = std::env::current_exe()?;
    let figures = soak::run(&config, || Command::new(&exe));
    println!(
        "seed {}: {} rounds, {} runs, {} files verified ({} bytes), {} faults injected, \
         {} download_to calls ({} files downloaded, {} skipped by the other process or an \
         earlier call), {:.1}s in all, slowest round {:.1}s",
        config.seed,
        figures.rounds,
        figures.runs,
        figures.files,
        figures.bytes,
        figures.faults,
        figures.download_calls,
        figures.downloaded,
        figures.skipped,
        figures.elapsed.as_secs_f64(),
        figures.slowest_round.as_secs_f64()
    );
    Ok(())
}
