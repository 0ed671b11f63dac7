//! Builds a cohort table (or the cells' Parquet file) from a results folder and prints the
//! time, for memory measurements beside pandas (`benches/pandas_concat.py`):
//!
//! ```text
//! cargo bench --features results --bench results   # makes target/results-bench/
//! cargo build --release --features results --example results_from_folder
//! /usr/bin/time -v target/release/examples/results_from_folder table target/results-bench/cohort-1000 /tmp/t.parquet
//! /usr/bin/time -v target/release/examples/results_from_folder cells target/results-bench/cells-200x10000 /tmp/c.parquet
//! ```

use std::path::PathBuf;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [what, dir, out] = args.as_slice() else {
        return Err("usage: results_from_folder table|cells DIR OUT".into());
    };
    let started = Instant::now();
    match what.as_str() {
        "table" => {
            let table = aignostics::results::CohortTable::from_folder(dir)?;
            table.write(out)?;
            let batch = table.batch();
            println!(
                "{} rows × {} columns in {:.2?}",
                batch.num_rows(),
                batch.num_columns(),
                started.elapsed()
            );
        }
        "cells" => {
            let report = aignostics::results::write_cells(&[PathBuf::from(dir)], out.as_ref())?;
            println!(
                "{} cells of {} slides in {:.2?}",
                report.cells,
                report.slides,
                started.elapsed()
            );
        }
        _ => return Err("the first argument is table or cells".into()),
    }
    Ok(())
}
