//! Results as data: the cohort table of 1,000 slides × 4,548 readout columns from local files
//! (FR-91), and the cells of 200 slides into one Parquet file (FR-95). The fixtures stay in
//! `target/results-bench/` for the memory and pandas comparison:
//! `/usr/bin/time -v target/release/examples/results_from_folder table target/results-bench/cohort-1000 /tmp/t.parquet`
//! and `/usr/bin/time -v python3 benches/pandas_concat.py target/results-bench/cohort-1000`.

#[path = "support/results_fixture.rs"]
mod results_fixture;

use std::hint::black_box;

use aignostics::results::{CohortTable, write_cells};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn table(c: &mut Criterion) {
    let dir = results_fixture::cohort(1000);
    let out = results_fixture::root().join("cohort.parquet");
    let mut group = c.benchmark_group("cohort_table");
    group.sample_size(10);
    group.throughput(Throughput::Elements(1000));
    group.bench_function("1000_slides_4548_columns", |b| {
        b.iter(|| black_box(CohortTable::from_folder(&dir).unwrap()))
    });
    group.bench_function("1000_slides_4548_columns_to_parquet", |b| {
        b.iter(|| CohortTable::from_folder(&dir).unwrap().write(&out).unwrap())
    });
    group.finish();
}

fn cells(c: &mut Criterion) {
    let dir = results_fixture::cells(200, 10_000);
    let bytes: u64 = walk(&dir);
    let out = results_fixture::root().join("cells.parquet");
    let mut group = c.benchmark_group("cohort_cells");
    group.sample_size(10);
    group.throughput(Throughput::Bytes(bytes));
    group.bench_function("200_slides_10000_cells_to_parquet", |b| {
        b.iter(|| black_box(write_cells(std::slice::from_ref(&dir), &out).unwrap()))
    });
    group.finish();
}

/// Bytes of the CSV files below `dir`.
fn walk(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                walk(&p)
            } else if p.extension().is_some_and(|x| x == "csv") {
                e.metadata().unwrap().len()
            } else {
                0
            }
        })
        .sum()
}

criterion_group!(benches, table, cells);
criterion_main!(benches);
