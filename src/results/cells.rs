//! The cells of a cohort as one Parquet file: every slide's cell readouts with `run_id` and
//! `external_id` in front, one row group per slide, written as the slides are read, so memory
//! holds one slide at a time whatever the cohort's size.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow_array::{ArrayRef, RecordBatch, StringArray};
use arrow_schema::{DataType, Field, Schema, SchemaRef};
use parquet::arrow::ArrowWriter;
use serde::Serialize;

use super::column::Column;
use crate::error::{Error, Result};
use crate::{ManifestItem, RunManifest};

/// The output artifact holding an item's cell readouts (Atlas H&E-TME).
pub const CELL_READOUTS: &str = "readout_generation:cell_readouts";

/// What [`write_cells`] wrote.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct CellsReport {
    /// Slides whose cells are in the file.
    pub slides: usize,
    /// Cells (rows) written.
    pub cells: usize,
    /// Items without cell readouts (failed, pending, or not downloaded).
    pub skipped_items: Vec<String>,
}

/// Writes the cell readouts of every succeeded item of the runs in `folders` into one Parquet
/// file at `out`: `run_id`, `external_id`, then the readout's columns (numbers as `Float64`,
/// the rest as text, `N/A` as null). The first slide's columns are the schema; a slide with
/// other columns, or text where the schema has numbers, is refused naming its file. Each file is
/// checked against its CRC32C. The output appears only complete.
///
/// ```no_run
/// let report = aignostics::results::write_cells(&["results/".into()], "cells.parquet".as_ref())?;
/// println!("{} cells of {} slides", report.cells, report.slides);
/// # Ok::<(), aignostics::Error>(())
/// ```
///
/// # Errors
/// As [`CohortTable`](super::CohortTable) for the readouts; [`Error::InvalidInput`] when no
/// item has cell readouts.
pub fn write_cells(folders: &[PathBuf], out: &Path) -> Result<CellsReport> {
    let mut items: Vec<(PathBuf, String, ManifestItem)> = Vec::new();
    for folder in folders {
        for run_dir in super::run_folders(folder)? {
            let manifest = RunManifest::read(&run_dir)?;
            let run_id = manifest.run_id.clone();
            items.extend(
                manifest
                    .items
                    .into_iter()
                    .map(|i| (run_dir.clone(), run_id.clone(), i)),
            );
        }
    }
    let mut report = CellsReport::default();
    super::atomic_write(out, |file| {
        let mut writer: Option<(ArrowWriter<std::fs::File>, SchemaRef)> = None;
        let mut file = Some(file);
        for (run_dir, run_id, item) in &items {
            let source = item.files.iter().find(|f| f.artifact == CELL_READOUTS);
            let Some(source) = source.filter(|_| item.state == "SUCCEEDED") else {
                report.skipped_items.push(item.external_id.clone());
                continue;
            };
            let path = run_dir.join(&source.file);
            let readout = super::readout::read(&path, source.crc32c.as_deref())?;
            let schema = match &writer {
                Some((_, schema)) => schema.clone(),
                None => {
                    let schema = schema_of(&readout);
                    let props = parquet::file::properties::WriterProperties::builder()
                        .set_compression(parquet::basic::Compression::SNAPPY)
                        .build();
                    let sink = file.take().ok_or_else(|| unexpected("no file"))?;
                    let w = ArrowWriter::try_new(sink, schema.clone(), Some(props))
                        .map_err(parquet_error)?;
                    writer = Some((w, schema.clone()));
                    schema
                }
            };
            let batch = batch_of(&path, &schema, run_id, &item.external_id, &readout)?;
            report.cells += batch.num_rows();
            report.slides += 1;
            if let Some((w, _)) = &mut writer {
                w.write(&batch).map_err(parquet_error)?;
                // One row group per slide: memory is one slide's, not the cohort's.
                w.flush().map_err(parquet_error)?;
            }
        }
        match writer {
            Some((w, _)) => {
                w.close().map_err(parquet_error)?;
                Ok(())
            }
            None => Err(Error::InvalidInput(format!(
                "no item of {} has cell readouts ({CELL_READOUTS}); download them first",
                folders
                    .iter()
                    .map(|f| f.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    })?;
    Ok(report)
}

/// The dataset's schema from the first slide: numbers as `Float64`, the rest as text.
fn schema_of(readout: &super::readout::Readout) -> SchemaRef {
    let mut fields = vec![
        Field::new("run_id", DataType::Utf8, false),
        Field::new("external_id", DataType::Utf8, false),
    ];
    for (i, name) in readout.columns.iter().enumerate() {
        let mut column = Column::nulls(0);
        for row in &readout.rows {
            column.push(&row[i]);
        }
        let kind = match column.data_type() {
            DataType::Utf8 => DataType::Utf8,
            _ => DataType::Float64,
        };
        fields.push(Field::new(name, kind, true));
    }
    Arc::new(Schema::new(fields))
}

/// One slide's cells as a batch of `schema`.
fn batch_of(
    path: &Path,
    schema: &SchemaRef,
    run_id: &str,
    external_id: &str,
    readout: &super::readout::Readout,
) -> Result<RecordBatch> {
    let expected: Vec<&str> = schema.fields()[2..]
        .iter()
        .map(|f| f.name().as_str())
        .collect();
    if readout.columns != expected {
        return Err(Error::InvalidInput(format!(
            "{}: its columns differ from the first slide's ({} vs {}); a cohort's cell readouts \
             must share their columns",
            path.display(),
            readout.columns.len(),
            expected.len()
        )));
    }
    let rows = readout.rows.len();
    let mut arrays: Vec<ArrayRef> = vec![
        Arc::new(StringArray::from(vec![run_id; rows])),
        Arc::new(StringArray::from(vec![external_id; rows])),
    ];
    for (i, field) in schema.fields()[2..].iter().enumerate() {
        let mut column = if field.data_type() == &DataType::Utf8 {
            Column::text(0)
        } else {
            Column::nulls(0)
        };
        // A text column stays text; `push` reads `N/A` and empty cells as null either way.
        for row in &readout.rows {
            column.push(&row[i]);
        }
        let array = match (field.data_type(), column.data_type()) {
            (DataType::Utf8, _) => column.into_array(),
            (_, DataType::Utf8) => {
                return Err(Error::InvalidInput(format!(
                    "{}: column {:?} holds text where the first slide has numbers",
                    path.display(),
                    field.name()
                )));
            }
            _ => column.into_float_array(),
        };
        arrays.push(array);
    }
    RecordBatch::try_new(schema.clone(), arrays)
        .map_err(|e| Error::InvalidInput(format!("{}: {e}", path.display())))
}

fn parquet_error(e: parquet::errors::ParquetError) -> Error {
    Error::InvalidInput(format!("writing Parquet: {e}"))
}

fn unexpected(what: &str) -> Error {
    Error::InvalidInput(format!("writing Parquet: {what}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the first slide sets the dataset's schema (numbers as decimals, text as text),
    // and a later slide with other columns, or text where the schema has numbers, is refused
    // naming its file. (FR-95)
    #[test]
    fn later_slides_must_fit_the_first() {
        let p = Path::new("first.csv");
        let first = super::super::readout::parse(p, b"ID,X,CLASS\n1,2.5,Other\n2,N/A,Lymphocyte\n")
            .unwrap();
        let schema = schema_of(&first);
        let types: Vec<&DataType> = schema.fields().iter().map(|f| f.data_type()).collect();
        assert_eq!(
            types,
            [
                &DataType::Utf8,
                &DataType::Utf8,
                &DataType::Float64,
                &DataType::Float64,
                &DataType::Utf8
            ]
        );
        let batch = batch_of(p, &schema, "run", "a.svs", &first).unwrap();
        assert_eq!((batch.num_rows(), batch.column(3).null_count()), (2, 1));
        for (bytes, says) in [
            (
                &b"ID,X\n1,2\n"[..],
                "its columns differ from the first slide's",
            ),
            (
                b"ID,X,CLASS\n1,wide,Other\n",
                "column \"X\" holds text where the first slide has numbers",
            ),
        ] {
            let later = super::super::readout::parse(Path::new("later.csv"), bytes).unwrap();
            let err = batch_of(Path::new("later.csv"), &schema, "run", "b.svs", &later)
                .unwrap_err()
                .to_string();
            assert!(err.contains("later.csv") && err.contains(says), "{err}");
        }
    }
}
