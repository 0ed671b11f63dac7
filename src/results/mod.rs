//! Results as data: the cohort table (feature `results`).
//!
//! Every Atlas H&E-TME item returns a slide readout, a CSV of one row with thousands of
//! measurements (tissue areas, cell counts, densities, shapes). What a lab wants is one table
//! for the cohort: one row per item, across runs, with the item's state beside its numbers.
//! [`CohortTable`] builds it from the folders [`Run::download_to`](crate::Run::download_to)
//! wrote, using their [`RunManifest`]s:
//!
//! - one row per item, failed ones included, with `run_id`, `external_id`, `item_state`,
//!   `termination_reason`, `error_code`, `error_message`, `application_id`,
//!   `version_number`, and where the numbers came from (`readout_file`,
//!   `readout_artifact_id`, `readout_crc32c`);
//! - then every readout column (the union across slides, in the order first seen), typed:
//!   integers, decimals or text, with `N/A` as null;
//! - every readout is checked against its published CRC32C before it is read.
//!
//! ```no_run
//! use aignostics::results::CohortTable;
//!
//! let table = CohortTable::from_folder("results/")?; // every run folder below
//! table.write("cohort.parquet")?; // or .csv
//! let batch = table.batch(); // an Arrow RecordBatch, for DataFusion, Polars, …
//! println!("{} items × {} columns", batch.num_rows(), batch.num_columns());
//! # Ok::<(), aignostics::Error>(())
//! ```
//!
//! In pandas: `pd.read_parquet("cohort.parquet")`; in Polars: `pl.read_parquet(…)`.
//!
//! [`write_qupath`] turns each slide's cell, tissue and QC polygons into one GeoJSON QuPath
//! imports: cells as detections, regions as annotations, holes and MultiPolygons kept.

mod cells;
mod column;
mod qupath;
mod readout;

pub use cells::{CELL_READOUTS, CellsReport, write_cells};
pub use qupath::{
    CELL_POLYGONS, POLYGON_ARTIFACTS, QC_POLYGONS, QupathReport, TISSUE_POLYGONS, write_qupath,
};

/// The Arrow crates of [`CohortTable::batch`], re-exported so your code uses the same versions.
pub use arrow_array;
/// The Arrow schema types of [`CohortTable::batch`].
pub use arrow_schema;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::RecordBatch;
use arrow_schema::{Field, Schema};

use crate::error::{Error, Result};
use crate::{ManifestItem, RunManifest};
use column::Column;

/// The output artifact holding an item's slide readout (Atlas H&E-TME).
pub const SLIDE_READOUTS: &str = "readout_generation:slide_readouts";

/// The columns before the readout's, in order.
pub const ITEM_COLUMNS: [&str; 11] = [
    "run_id",
    "external_id",
    "item_state",
    "termination_reason",
    "error_code",
    "error_message",
    "application_id",
    "version_number",
    "readout_file",
    "readout_artifact_id",
    "readout_crc32c",
];

/// One table across runs: one row per item, then the slide-readout columns. See the
/// [module](self).
#[derive(Clone, Debug)]
pub struct CohortTable {
    batch: RecordBatch,
}

/// Options of a [`CohortTable`]: the folders and the readout artifact.
#[derive(Clone, Debug)]
pub struct TableBuilder {
    folders: Vec<PathBuf>,
    artifact: String,
    cells: bool,
    /// Only these items (run id, external id), when set.
    only: Option<std::collections::HashSet<(String, String)>>,
}

impl TableBuilder {
    /// Adds a folder: a run's folder (holding `manifest.json`), or a folder of run folders
    /// (as `download_to` fills it).
    #[must_use]
    pub fn folder(mut self, dir: impl Into<PathBuf>) -> Self {
        self.folders.push(dir.into());
        self
    }

    /// The output artifact whose file is the readout (default [`SLIDE_READOUTS`]).
    #[must_use]
    pub fn readout_artifact(mut self, name: impl Into<String>) -> Self {
        self.artifact = name.into();
        self
    }

    /// Whether [`runs`](Self::runs) also downloads the cell readouts ([`CELL_READOUTS`]), for
    /// [`write_cells`] (default no).
    #[must_use]
    pub fn with_cells(mut self, cells: bool) -> Self {
        self.cells = cells;
        self
    }

    /// Only rows of these items, each named by its run id and external id: e.g. each slide's
    /// latest record of a cohort ([`cohort::CohortStatus`](crate::cohort)), leaving out a
    /// failed attempt that a retry superseded. Default: every item of every run.
    #[must_use]
    pub fn items<I, R, E>(mut self, items: I) -> Self
    where
        I: IntoIterator<Item = (R, E)>,
        R: Into<String>,
        E: Into<String>,
    {
        self.only = Some(
            items
                .into_iter()
                .map(|(run, id)| (run.into(), id.into()))
                .collect(),
        );
        self
    }

    /// The run folders (or folders of them) added so far, e.g. for [`write_cells`].
    pub fn folders(&self) -> &[PathBuf] {
        &self.folders
    }

    /// Downloads the readout artifact (and nothing else: not the large polygon files) of every
    /// item of each run into `dir` (created when missing), verified and resuming what is there, and adds the runs'
    /// folders. `options` says whether to wait for runs still processing (their unfinished
    /// items are rows with the state `PENDING`).
    ///
    /// ```no_run
    /// use aignostics::results::CohortTable;
    ///
    /// let client = aignostics::Client::new()?;
    /// let options = aignostics::DownloadOptions::default().wait_for_run(false);
    /// let table = CohortTable::builder()
    ///     .runs(&client, ["RUN_ID_1", "RUN_ID_2"], "results/", &options)?
    ///     .build()?;
    /// table.write("cohort.parquet")?;
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    ///
    /// # Errors
    /// As [`Run::download_to`](crate::Run::download_to).
    pub fn runs<I, S>(
        mut self,
        client: &crate::Client,
        runs: I,
        dir: impl AsRef<Path>,
        options: &crate::DownloadOptions,
    ) -> Result<Self>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let mut wanted = vec![self.artifact.clone()];
        if self.cells {
            wanted.push(CELL_READOUTS.to_string());
        }
        let options = options.clone().artifacts(wanted);
        for run in runs {
            let run = client.run(run.as_ref());
            run.download_to(dir, &options)?;
            self.folders
                .push(dir.join(crate::handlers::run::download::run_folder(run.id())));
        }
        Ok(self)
    }

    /// Reads every run's manifest and readouts into the table.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a folder without runs, a manifest that is not one, or a
    /// readout that is not one (naming the file and what is wrong); [`Error::Checksum`] for
    /// a readout whose bytes lack its published CRC32C; [`Error::Io`] for unreadable files.
    pub fn build(&self) -> Result<CohortTable> {
        let mut runs = Vec::new();
        for folder in &self.folders {
            runs.extend(run_folders(folder)?);
        }
        let mut table = Builder::default();
        for run_dir in &runs {
            let manifest = RunManifest::read(run_dir)?;
            for item in &manifest.items {
                let wanted = self.only.as_ref().is_none_or(|only| {
                    only.contains(&(manifest.run_id.clone(), item.external_id.clone()))
                });
                if wanted {
                    table.item(run_dir, &manifest, item, &self.artifact)?;
                }
            }
        }
        table.finish()
    }
}

impl CohortTable {
    /// Options: folders and the readout artifact.
    #[must_use]
    pub fn builder() -> TableBuilder {
        TableBuilder {
            folders: Vec::new(),
            artifact: SLIDE_READOUTS.to_string(),
            cells: false,
            only: None,
        }
    }

    /// The table of every run folder in `dir` (or of `dir`, a run's folder).
    ///
    /// # Errors
    /// As [`TableBuilder::build`].
    pub fn from_folder(dir: impl Into<PathBuf>) -> Result<Self> {
        Self::builder().folder(dir).build()
    }

    /// The table as an Arrow record batch.
    pub fn batch(&self) -> &RecordBatch {
        &self.batch
    }

    /// Writes the table as Parquet (`.parquet`) or CSV (any other extension), completely or
    /// not at all: into a temporary file beside `path`, renamed over it at the end.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be written.
    pub fn write(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let parquet = path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("parquet"));
        atomic_write(path, |file| {
            if parquet {
                self.parquet(file)
            } else {
                self.csv(file)
            }
        })
    }

    fn parquet(&self, file: std::fs::File) -> Result<()> {
        use parquet::arrow::ArrowWriter;
        use parquet::basic::Compression;
        use parquet::file::properties::WriterProperties;
        let props = WriterProperties::builder()
            .set_compression(Compression::SNAPPY)
            .build();
        let failed =
            |e: parquet::errors::ParquetError| Error::InvalidInput(format!("writing Parquet: {e}"));
        let mut writer =
            ArrowWriter::try_new(file, self.batch.schema(), Some(props)).map_err(failed)?;
        writer.write(&self.batch).map_err(failed)?;
        writer.close().map_err(failed)?;
        Ok(())
    }

    fn csv(&self, file: std::fs::File) -> Result<()> {
        let failed = |e: csv::Error| Error::InvalidInput(format!("writing CSV: {e}"));
        let mut out = csv::Writer::from_writer(std::io::BufWriter::new(file));
        let schema = self.batch.schema();
        out.write_record(schema.fields().iter().map(|f| f.name().as_str()))
            .map_err(failed)?;
        let columns = self.batch.columns();
        for row in 0..self.batch.num_rows() {
            out.write_record(columns.iter().map(|c| column::cell_text(c.as_ref(), row)))
                .map_err(failed)?;
        }
        out.flush()
            .map_err(|e| Error::InvalidInput(format!("writing CSV: {e}")))
    }
}

/// The run folders `dir` stands for: itself when it holds a manifest, else its subfolders that
/// do, sorted by name.
fn run_folders(dir: &Path) -> Result<Vec<PathBuf>> {
    if dir
        .join(crate::handlers::run::download::MANIFEST_FILE)
        .is_file()
    {
        return Ok(vec![dir.to_path_buf()]);
    }
    let mut runs: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| Error::io(dir, e))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.join(crate::handlers::run::download::MANIFEST_FILE)
                .is_file()
        })
        .collect();
    runs.sort();
    if runs.is_empty() {
        return Err(Error::InvalidInput(format!(
            "{}: no run folders (folders holding manifest.json, as `runs download` writes them)",
            dir.display()
        )));
    }
    Ok(runs)
}

/// The table as rows arrive.
#[derive(Default)]
struct Builder {
    names: Vec<String>,
    index: HashMap<String, usize>,
    columns: Vec<Column>,
    rows: usize,
}

impl Builder {
    fn item(
        &mut self,
        run_dir: &Path,
        manifest: &RunManifest,
        item: &ManifestItem,
        artifact: &str,
    ) -> Result<()> {
        let file = item.files.iter().find(|f| f.artifact == artifact);
        let readout = match file {
            Some(f) if item.state == "SUCCEEDED" => {
                Some(readout::read(&run_dir.join(&f.file), f.crc32c.as_deref())?)
            }
            _ => None,
        };
        let meta: [Option<&str>; 11] = [
            Some(&manifest.run_id),
            Some(&item.external_id),
            Some(&item.state),
            item.termination_reason.as_deref(),
            item.error_code.as_deref(),
            item.error_message.as_deref(),
            Some(&manifest.application_id),
            Some(&manifest.version_number),
            file.map(|f| f.file.as_str()),
            file.and_then(|f| f.artifact_id.as_deref()),
            file.and_then(|f| f.crc32c.as_deref()),
        ];
        let rows = readout.as_ref().map_or(1, |r| r.rows.len());
        for row in 0..rows {
            for (name, value) in ITEM_COLUMNS.iter().zip(meta) {
                let at = self.column(name, true);
                self.columns[at].push_text(value);
            }
            if let Some(r) = &readout {
                for (name, value) in r.columns.iter().zip(&r.rows[row]) {
                    let at = self.column(name, false);
                    self.columns[at].push(value);
                }
            }
            self.rows += 1;
            // Columns this row did not name get a null.
            for column in &mut self.columns {
                if column.len() < self.rows {
                    column.push_null();
                }
            }
        }
        Ok(())
    }

    /// The index of column `name`, added (null for the rows so far) when new.
    fn column(&mut self, name: &str, text: bool) -> usize {
        if let Some(&at) = self.index.get(name) {
            return at;
        }
        let at = self.columns.len();
        self.names.push(name.to_string());
        self.index.insert(name.to_string(), at);
        self.columns.push(if text {
            Column::text(self.rows)
        } else {
            Column::nulls(self.rows)
        });
        at
    }

    fn finish(self) -> Result<CohortTable> {
        let fields: Vec<Field> = self
            .names
            .iter()
            .zip(&self.columns)
            .map(|(name, c)| Field::new(name, c.data_type(), true))
            .collect();
        let arrays = self.columns.into_iter().map(Column::into_array).collect();
        let batch = RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)
            .map_err(|e| Error::InvalidInput(format!("building the table: {e}")))?;
        Ok(CohortTable { batch })
    }
}

/// Writes `path` through `fill` into a temporary file beside it, renamed over it only when
/// complete (a failure leaves no file).
fn atomic_write(path: &Path, fill: impl FnOnce(std::fs::File) -> Result<()>) -> Result<()> {
    crate::replace_file::replace_file(
        path,
        |tmp| fill(std::fs::File::create(tmp).map_err(|e| Error::io(tmp, e))?),
        |at, e| Error::io(at, e),
    )
}
