//! The Python SDK's metadata CSV (`aignostics application run prepare` writes it, `run
//! submit` reads it): `;`-separated, `"`-quoted where needed, one row per slide.

use std::path::Path;

use serde::{Deserialize, Serialize};

use super::prepare_error::PrepareError;

/// The columns, in the Python SDK's order.
pub const CSV_HEADER: [&str; 9] = [
    "external_id",
    "checksum_base64_crc32c",
    "resolution_mpp",
    "width_px",
    "height_px",
    "staining_method",
    "tissue",
    "disease",
    "platform_bucket_url",
];

/// One slide's row of the metadata CSV. Empty cells are `None`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct MetadataRow {
    /// The item's external id (the Python SDK writes the absolute path; this crate the path
    /// relative to the scanned folder).
    pub external_id: String,
    /// The platform's CRC32C of the file (Base64 of the big-endian digest).
    pub checksum_base64_crc32c: String,
    /// Microns per pixel at level 0.
    pub resolution_mpp: f64,
    /// Level-0 width in pixels.
    pub width_px: u64,
    /// Level-0 height in pixels.
    pub height_px: u64,
    /// Staining, e.g. `H&E`.
    pub staining_method: Option<String>,
    /// Tissue, e.g. `LUNG`.
    pub tissue: Option<String>,
    /// Disease, e.g. `LUNG_CANCER`.
    pub disease: Option<String>,
    /// Where the file is stored: a `gs://` or `s3://` bucket URL, or an `https://` URL.
    pub platform_bucket_url: Option<String>,
}

/// The CSV text of `rows` exactly as the Python SDK writes it: the header, `;` between
/// cells, `"` around cells holding `;`, `"` or line breaks (quotes doubled), CRLF line ends.
///
/// ```
/// use aignostics::slides::{MetadataRow, write_csv};
/// let row = MetadataRow {
///     external_id: "case-1/slide.svs".into(),
///     checksum_base64_crc32c: "EfIIhA==".into(),
///     resolution_mpp: 0.25,
///     width_px: 2054,
///     height_px: 1529,
///     tissue: Some("LUNG".into()),
///     ..MetadataRow::default()
/// };
/// assert_eq!(
///     write_csv(&[row]).lines().nth(1),
///     Some("case-1/slide.svs;EfIIhA==;0.25;2054;1529;;LUNG;;")
/// );
/// ```
#[must_use]
pub fn write_csv(rows: &[MetadataRow]) -> String {
    let mut out = String::new();
    line(&mut out, CSV_HEADER.iter().copied());
    for row in rows {
        let cells = [
            row.external_id.clone(),
            row.checksum_base64_crc32c.clone(),
            row.resolution_mpp.to_string(),
            row.width_px.to_string(),
            row.height_px.to_string(),
            row.staining_method.clone().unwrap_or_default(),
            row.tissue.clone().unwrap_or_default(),
            row.disease.clone().unwrap_or_default(),
            row.platform_bucket_url.clone().unwrap_or_default(),
        ];
        line(&mut out, cells.iter().map(String::as_str));
    }
    out
}

fn line<'a>(out: &mut String, cells: impl Iterator<Item = &'a str>) {
    for (i, cell) in cells.enumerate() {
        if i > 0 {
            out.push(';');
        }
        if cell.contains([';', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&cell.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(cell);
        }
    }
    out.push_str("\r\n");
}

/// Writes [`write_csv`] to `path` (replacing it atomically: a temporary file, then a rename).
///
/// # Errors
///
/// [`PrepareError::Io`] naming the file.
pub fn write_csv_file(path: impl AsRef<Path>, rows: &[MetadataRow]) -> Result<(), PrepareError> {
    let path = path.as_ref();
    let io = |at: &Path, e| PrepareError::Io(at.to_path_buf(), e);
    crate::replace_file::replace_file(
        path,
        |tmp| std::fs::write(tmp, write_csv(rows)).map_err(|e| io(tmp, e)),
        io,
    )
}

/// Reads the file at `path` with [`read_csv`].
///
/// # Errors
///
/// [`PrepareError::Io`] or [`PrepareError::Csv`] naming the file, line and column.
pub fn read_csv_file(path: impl AsRef<Path>) -> Result<Vec<MetadataRow>, PrepareError> {
    let path = path.as_ref();
    let text =
        std::fs::read_to_string(path).map_err(|e| PrepareError::Io(path.to_path_buf(), e))?;
    read_csv(&text).map_err(|e| match e {
        PrepareError::Csv { line, message, .. } => PrepareError::Csv {
            file: Some(path.to_path_buf()),
            line,
            message,
        },
        other => other,
    })
}

/// Rows of a metadata CSV as the Python SDK (or a person with a spreadsheet) wrote it. Columns
/// are found by their header name, in any order; extra columns (the Python GUI's
/// `file_size_human`, ...) are ignored; `reference` (older Python versions) is read as
/// `external_id`; blank lines are skipped; CRLF or LF line ends, an optional UTF-8 BOM.
///
/// ```
/// let rows = aignostics::slides::read_csv(
///     "external_id;checksum_base64_crc32c;resolution_mpp;width_px;height_px;staining_method;tissue;disease;platform_bucket_url\r\n\
///      a.svs;5onqtA==;0.26268186053789266;7447;7196;H&E;LUNG;LUNG_CANCER;gs://bucket/a.svs\r\n",
/// )?;
/// assert_eq!(rows[0].width_px, 7447);
/// assert_eq!(rows[0].staining_method.as_deref(), Some("H&E"));
/// # Ok::<(), aignostics::slides::PrepareError>(())
/// ```
///
/// # Errors
///
/// [`PrepareError::Csv`] naming the line and the column of the first bad cell.
pub fn read_csv(text: &str) -> Result<Vec<MetadataRow>, PrepareError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let records = parse(text)?;
    let mut records = records
        .into_iter()
        .filter(|(_, cells)| !(cells.len() == 1 && cells[0].is_empty()));
    let Some((_, header)) = records.next() else {
        return Err(csv_error(
            1,
            "the file is empty; it needs a header row".into(),
        ));
    };
    let find = |name: &str| {
        header.iter().position(|h| h.trim() == name).or_else(|| {
            (name == "external_id")
                .then(|| header.iter().position(|h| h.trim() == "reference"))
                .flatten()
        })
    };
    let mut columns = [0usize; 9];
    for (slot, name) in columns.iter_mut().zip(CSV_HEADER) {
        *slot = find(name).ok_or_else(|| {
            csv_error(
                1,
                format!(
                    "the header has no column {name:?} (expected {})",
                    CSV_HEADER.join(";")
                ),
            )
        })?;
    }
    let mut rows = Vec::new();
    for (line, cells) in records {
        let cell = |i: usize| cells.get(columns[i]).map(String::as_str).unwrap_or("");
        let optional = |i: usize| Some(cell(i).trim().to_string()).filter(|c| !c.is_empty());
        let number = |i: usize| -> Result<u64, PrepareError> {
            cell(i).trim().parse::<u64>().map_err(|_| {
                csv_error(
                    line,
                    format!(
                        "column {}: {:?} is not a whole number",
                        CSV_HEADER[i],
                        cell(i)
                    ),
                )
            })
        };
        let mpp = cell(2).trim();
        let resolution_mpp = mpp
            .parse::<f64>()
            .ok()
            .filter(|m| m.is_finite() && *m > 0.0)
            .ok_or_else(|| {
                csv_error(
                    line,
                    format!("column resolution_mpp: {mpp:?} is not a positive number"),
                )
            })?;
        rows.push(MetadataRow {
            external_id: cell(0).to_string(),
            checksum_base64_crc32c: cell(1).trim().to_string(),
            resolution_mpp,
            width_px: number(3)?,
            height_px: number(4)?,
            staining_method: optional(5),
            tissue: optional(6),
            disease: optional(7),
            platform_bucket_url: optional(8),
        });
    }
    Ok(rows)
}

fn csv_error(line: usize, message: String) -> PrepareError {
    PrepareError::Csv {
        file: None,
        line,
        message,
    }
}

/// Records with the line each starts on: `;` between cells, `"` quoting with doubled quotes,
/// line breaks inside quotes kept.
fn parse(text: &str) -> Result<Vec<(usize, Vec<String>)>, PrepareError> {
    let mut records = Vec::new();
    let mut cells = Vec::new();
    let mut cell = String::new();
    let mut line = 1;
    let mut start = 1;
    let mut chars = text.chars().peekable();
    let mut quoted = false;
    let mut at_start = true;
    while let Some(c) = chars.next() {
        if quoted {
            match c {
                '"' if chars.peek() == Some(&'"') => {
                    chars.next();
                    cell.push('"');
                }
                '"' => quoted = false,
                '\n' => {
                    line += 1;
                    cell.push(c);
                }
                _ => cell.push(c),
            }
            continue;
        }
        match c {
            '"' if at_start => {
                quoted = true;
                at_start = false;
            }
            ';' => {
                cells.push(std::mem::take(&mut cell));
                at_start = true;
            }
            '\r' if chars.peek() == Some(&'\n') => {}
            '\n' | '\r' => {
                cells.push(std::mem::take(&mut cell));
                records.push((start, std::mem::take(&mut cells)));
                line += 1;
                start = line;
                at_start = true;
            }
            _ => {
                cell.push(c);
                at_start = false;
            }
        }
    }
    if quoted {
        return Err(csv_error(start, "a quoted cell is not closed".into()));
    }
    if !cell.is_empty() || !cells.is_empty() {
        cells.push(cell);
        records.push((start, cells));
    }
    Ok(records)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Proves a CSV exactly as the Python SDK's prepare writes it (CRLF, empty cells) reads
    // back, and that this crate writes the same bytes. (FR-62)
    #[test]
    fn python_written_csv() {
        let python = "external_id;checksum_base64_crc32c;resolution_mpp;width_px;height_px;staining_method;tissue;disease;platform_bucket_url\r\n/data/run/small-pyramidal.dcm;EfIIhA==;8.065226874391001;2054;1529;;;;\r\n";
        let rows = read_csv(python).unwrap();
        assert_eq!(
            rows,
            vec![MetadataRow {
                external_id: "/data/run/small-pyramidal.dcm".into(),
                checksum_base64_crc32c: "EfIIhA==".into(),
                resolution_mpp: 8.065_226_874_391_001,
                width_px: 2054,
                height_px: 1529,
                ..MetadataRow::default()
            }]
        );
        assert_eq!(write_csv(&rows), python);
    }

    // Proves the columns are found by name, extra columns are ignored, `reference` stands for
    // external_id, and a bad cell names its line and column. (FR-62)
    #[test]
    fn columns_by_name_and_errors() {
        let gui = "reference;source;checksum_base64_crc32c;resolution_mpp;width_px;height_px;staining_method;tissue;disease;file_size_human;file_upload_progress;platform_bucket_url\n;;5onqtA==;0.26268186053789266;7447;7196;H&E;LUNG;LUNG_CANCER;;;gs://bucket/test\n";
        let rows = read_csv(gui).unwrap();
        assert_eq!(
            rows[0].platform_bucket_url.as_deref(),
            Some("gs://bucket/test")
        );
        assert_eq!(rows[0].external_id, "");
        let bad = "external_id;checksum_base64_crc32c;resolution_mpp;width_px;height_px;staining_method;tissue;disease;platform_bucket_url\na;x;0.25;wide;1;;;;\n";
        let err = read_csv(bad).unwrap_err().to_string();
        assert!(err.contains("line 2") && err.contains("width_px"), "{err}");
        let err = read_csv("external_id;width_px\n").unwrap_err().to_string();
        assert!(err.contains("checksum_base64_crc32c"), "{err}");
        assert!(read_csv("").is_err());
        assert!(read_csv("\"open").is_err());
    }

    fn cell() -> impl Strategy<Value = Option<String>> {
        proptest::option::of("[a-zA-Z0-9 ;\"&\r\n/_.-]{1,12}")
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        // Proves any rows survive a write and a read unchanged, whatever the cells hold
        // (separators, quotes, line breaks). (FR-62)
        #[test]
        fn round_trip(rows in proptest::collection::vec(
            ("[a-zA-Z0-9 ;\"/_.\r\n-]{0,20}", "[A-Za-z0-9+/=]{1,8}", 1e-6f64..100.0, 1u64..1_000_000, 1u64..1_000_000, cell(), cell(), cell(), cell()),
            0..8,
        )) {
            let rows: Vec<MetadataRow> = rows.into_iter().map(|(e, c, m, w, h, s, t, d, u)| MetadataRow {
                external_id: e,
                checksum_base64_crc32c: c,
                resolution_mpp: m,
                width_px: w,
                height_px: h,
                staining_method: s.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()),
                tissue: t.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()),
                disease: d.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()),
                platform_bucket_url: u.map(|v| v.trim().to_string()).filter(|v| !v.is_empty()),
            }).collect();
            prop_assert_eq!(read_csv(&write_csv(&rows)).unwrap(), rows);
        }

        // Proves arbitrary text is read or refused with an error, never a panic. (FR-62)
        #[test]
        fn arbitrary_text(text in "[a-z0-9;\"\r\n_]{0,200}") {
            let _ = read_csv(&text);
            let with_header = format!("{}\n{text}", CSV_HEADER.join(";"));
            let _ = read_csv(&with_header);
        }
    }
}
