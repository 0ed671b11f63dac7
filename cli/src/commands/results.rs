//! `results table`: the cohort table of slide readouts across runs, as Parquet or CSV;
//! `results qupath`: each slide's polygons as GeoJSON QuPath imports.

use std::path::PathBuf;
use std::time::Duration;

use aignostics::DownloadOptions;
use aignostics::results::CohortTable;
use clap::{Args, Subcommand};
use serde_json::json;

use crate::context::{Ctx, Failure, Report, Result, note};
use crate::shared::count;

#[derive(Debug, Subcommand)]
pub enum ResultsCommand {
    /// Write one table for a cohort: a row per item of every run (failed items included, with
    /// their error), then every column of the slide readouts, numbers as numbers.
    ///
    /// For runs given by id, only their slide readouts are downloaded (verified, into --dir,
    /// resuming what is there), never the large polygon files; folders that `runs download`
    /// filled are read as they are (--from). The file's extension picks the format:
    /// `.parquet` (for pandas, Polars, DuckDB, Spark) or `.csv`. It appears only complete.
    #[command(after_help = "Examples:\n  \
        aignostics results table RUN_1 RUN_2 --out cohort.parquet\n  \
        aignostics results table --from results/ --out cohort.csv\n  \
        python -c 'import pandas as pd; print(pd.read_parquet(\"cohort.parquet\"))'")]
    Table(TableArgs),
    /// Write one GeoJSON per slide that QuPath imports as it is: cells as detections, tissue
    /// and quality-control regions as annotations, with classes and colours; holes and
    /// MultiPolygons kept, coordinates in level-0 pixels.
    ///
    /// For runs given by id, only the three polygon files of each slide are downloaded
    /// (verified, into --dir, resuming what is there); --from reads folders `runs download`
    /// filled. Files are named after the slides (`a.svs.geojson`): drag one onto its image in
    /// QuPath, or import a whole project with the script in docs/QUPATH.md.
    #[command(after_help = "Examples:\n  \
        aignostics results qupath RUN_ID --out qupath/\n  \
        aignostics results qupath --from results/ --out qupath/")]
    Qupath(QupathArgs),
}

/// Where results come from: runs (downloaded, only what is needed) and folders.
#[derive(Debug, Args)]
pub struct Sources {
    /// Runs to download from and use (ids or unique prefixes).
    #[arg(value_name = "RUN")]
    pub runs: Vec<String>,
    /// Also folders `runs download` filled (a folder of runs, or one run's folder).
    #[arg(long = "from", value_name = "DIR")]
    pub from: Vec<PathBuf>,
    /// Where the runs' files are downloaded.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub dir: PathBuf,
    /// Do not wait for runs still processing (their unfinished items are PENDING).
    #[arg(long)]
    pub no_wait: bool,
    /// Time between looks at runs still processing, in seconds or with a unit (0.1 s to 1 h;
    /// e.g. 30s, 2m).
    #[arg(long, value_name = "DURATION", default_value = "5", value_parser = crate::shared::parse_interval)]
    pub interval: Duration,
}

impl Sources {
    /// A usage error when neither runs nor folders are named.
    fn check(&self, command: &str) -> Result<()> {
        if self.runs.is_empty() && self.from.is_empty() {
            return Err(Failure::Usage(format!(
                "name runs (`aignostics results {command} RUN… --out …`) or folders (--from DIR)"
            )));
        }
        Ok(())
    }

    /// How the runs are downloaded.
    fn options(&self) -> DownloadOptions {
        DownloadOptions::default()
            .wait_for_run(!self.no_wait)
            .poll_interval(self.interval)
    }

    /// The full ids of the runs named.
    fn run_ids(&self, ctx: &Ctx) -> Result<Vec<String>> {
        self.runs
            .iter()
            .map(|run| crate::shared::full_run_id(ctx, run))
            .collect()
    }
}

#[derive(Debug, Args)]
pub struct QupathArgs {
    #[command(flatten)]
    pub sources: Sources,
    /// The folder to write the GeoJSON files into (created when missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
}

#[derive(Debug, Args)]
pub struct TableArgs {
    #[command(flatten)]
    pub sources: Sources,
    /// The table to write: `.parquet` or `.csv`.
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Also write every cell of the cohort into this Parquet file (run and external id, then
    /// the cell readouts' columns; one row group per slide).
    #[arg(long, value_name = "FILE.parquet")]
    pub cells: Option<PathBuf>,
}

pub fn results(ctx: &Ctx, command: &ResultsCommand) -> Result<Report> {
    match command {
        ResultsCommand::Table(args) => table(ctx, args),
        ResultsCommand::Qupath(args) => qupath(ctx, args),
    }
}

fn qupath(ctx: &Ctx, args: &QupathArgs) -> Result<Report> {
    let sources = &args.sources;
    sources.check("qupath")?;
    let mut folders = sources.from.clone();
    let runs = sources.run_ids(ctx)?;
    if !runs.is_empty() {
        let client = ctx.client()?;
        std::fs::create_dir_all(&sources.dir).map_err(|e| {
            Failure::Runtime(format!("cannot create {}: {e}", sources.dir.display()))
        })?;
        let options = sources
            .options()
            .artifacts(aignostics::results::POLYGON_ARTIFACTS.map(|(name, _)| name));
        for run in runs {
            note!(
                "Downloading the polygons of run {run} into {}",
                sources.dir.display()
            );
            client.run(&run).download_to(&sources.dir, &options)?;
            folders.push(sources.dir.join(&run));
        }
    }
    let report = aignostics::results::write_qupath(&folders, &args.out)?;
    note!(
        "Wrote {} for QuPath into {} ({} annotations, {} detections){}",
        count(report.files.len(), "slide", "slides"),
        args.out.display(),
        report.annotations,
        report.detections,
        if report.skipped_items.is_empty() {
            String::new()
        } else {
            format!(
                "; {} without polygons",
                count(report.skipped_items.len(), "item", "items")
            )
        }
    );
    if ctx.json {
        return Report::json(&report);
    }
    let mut text = String::new();
    for file in &report.files {
        text.push_str(&format!("{}\n", file.display()));
    }
    Ok(Report::text(text))
}

fn table(ctx: &Ctx, args: &TableArgs) -> Result<Report> {
    let sources = &args.sources;
    sources.check("table")?;
    crate::shared::check_output_file(&args.out, "--out")?;
    if let Some(cells) = &args.cells {
        crate::shared::check_output_file(cells, "--cells")?;
    }
    let mut builder = CohortTable::builder().with_cells(args.cells.is_some());
    for dir in &sources.from {
        builder = builder.folder(dir);
    }
    let runs = sources.run_ids(ctx)?;
    if !runs.is_empty() {
        note!(
            "Downloading the slide readouts of {} into {}",
            count(runs.len(), "run", "runs"),
            sources.dir.display()
        );
        builder = builder.runs(&ctx.client()?, &runs, &sources.dir, &sources.options())?;
    }
    let table = builder.build()?;
    table.write(&args.out)?;
    let cells = match &args.cells {
        Some(path) => {
            let report = aignostics::results::write_cells(builder.folders(), path)?;
            note!(
                "Wrote {} of {} to {}",
                count(report.cells, "cell", "cells"),
                count(report.slides, "slide", "slides"),
                path.display()
            );
            Some(report)
        }
        None => None,
    };
    let batch = table.batch();
    let states = batch
        .column_by_name("item_state")
        .and_then(|c| {
            c.as_any()
                .downcast_ref::<aignostics::results::arrow_array::StringArray>()
        })
        .map(|c| {
            let of = |s: &str| c.iter().filter(|v| *v == Some(s)).count();
            (of("SUCCEEDED"), of("FAILED"), of("PENDING"))
        })
        .unwrap_or_default();
    note!(
        "Wrote {} × {} columns to {} ({} succeeded, {} failed, {} pending)",
        count(batch.num_rows(), "item", "items"),
        batch.num_columns(),
        args.out.display(),
        states.0,
        states.1,
        states.2
    );
    if ctx.json {
        return Report::json(&json!({
            "out": args.out,
            "rows": batch.num_rows(),
            "columns": batch.num_columns(),
            "succeeded": states.0,
            "failed": states.1,
            "pending": states.2,
            "cells": cells,
        }));
    }
    Ok(Report::text(format!("{}\n", args.out.display())))
}
