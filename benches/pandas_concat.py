"""The cohort table as users build it today with pandas, for comparison with
`examples/results_from_folder.rs` on the same folder: every slide readout read with
`pd.read_csv(f, skiprows=1)` and concatenated, then written as Parquet.

    /usr/bin/time -v python3 benches/pandas_concat.py target/results-bench/cohort-1000
"""

import glob
import sys
import time

import pandas as pd


def main() -> None:
    folder = sys.argv[1]
    started = time.perf_counter()
    files = sorted(glob.glob(f"{folder}/**/readout_generation_slide_readouts.csv", recursive=True))
    table = pd.concat([pd.read_csv(f, skiprows=1) for f in files], ignore_index=True)
    table.to_parquet("/tmp/pandas_cohort.parquet")
    print(f"{len(table)} rows x {len(table.columns)} columns in {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
