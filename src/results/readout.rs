//! One slide-readout CSV: `# For Research Use Only` (comment lines), the header row, and one row
//! of values per slide. Read by the `csv` crate, checked against its published CRC32C first.

use std::path::Path;

use crate::error::{Error, Result};

/// The largest readout file read (real ones are 300–350 KB): anything bigger is not a slide
/// readout, and is refused before it fills memory.
pub(crate) const MAX_READOUT_BYTES: u64 = 64 * 1024 * 1024;

/// A readout's columns and its rows of values (text as written; `N/A` kept).
#[derive(Debug)]
pub(crate) struct Readout {
    pub(crate) columns: Vec<String>,
    pub(crate) rows: Vec<Vec<String>>,
}

/// Reads the readout at `path`, whose bytes must have the CRC32C `expected` (base64) when one
/// is given.
pub(crate) fn read(path: &Path, expected: Option<&str>) -> Result<Readout> {
    let bytes = read_verified(path, expected, MAX_READOUT_BYTES, "a slide readout")?;
    parse(path, &bytes)
}

/// The bytes of a results file, refused when larger than `max` (before they fill memory) or
/// when they lack the CRC32C `expected` (base64) the platform published.
pub(crate) fn read_verified(
    path: &Path,
    expected: Option<&str>,
    max: u64,
    what: &str,
) -> Result<Vec<u8>> {
    let size = std::fs::metadata(path)
        .map_err(|e| Error::io(path, e))?
        .len();
    if size > max {
        return Err(Error::InvalidInput(format!(
            "{}: {size} bytes is too large for {what} (at most {max})",
            path.display()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
    if let Some(expected) = expected {
        let actual = crc32c::crc32c(&bytes);
        if !crate::checksum::matches(expected, actual) {
            return Err(Error::Checksum {
                path: path.to_path_buf(),
                expected: expected.to_string(),
                actual: crate::checksum::encode(actual),
            });
        }
    }
    Ok(bytes)
}

/// Parses readout bytes; `path` names them in errors.
pub(crate) fn parse(path: &Path, bytes: &[u8]) -> Result<Readout> {
    let mut reader = csv::ReaderBuilder::new()
        .comment(Some(b'#'))
        .has_headers(true)
        .from_reader(bytes);
    let header = reader
        .byte_headers()
        .map_err(|e| csv_error(path, &e))?
        .clone();
    if header.is_empty() || (header.len() == 1 && header[0].is_empty()) {
        return Err(invalid(path, "no header row"));
    }
    let columns = header
        .iter()
        .enumerate()
        .map(|(i, name)| text(path, name, 1, i))
        .collect::<Result<Vec<String>>>()?;
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = columns.iter().find(|c| !seen.insert(c.as_str())) {
        return Err(invalid(path, &format!("the column {dup:?} appears twice")));
    }
    let mut rows = Vec::new();
    for record in reader.byte_records() {
        let record = record.map_err(|e| csv_error(path, &e))?;
        let line = record.position().map_or(0, |p| p.line());
        let row = record
            .iter()
            .enumerate()
            .map(|(i, v)| text(path, v, line, i))
            .collect::<Result<Vec<String>>>()?;
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(invalid(path, "a header but no row of values"));
    }
    Ok(Readout { columns, rows })
}

/// A cell as UTF-8 text, or the error naming where it is not.
fn text(path: &Path, bytes: &[u8], line: u64, column: usize) -> Result<String> {
    String::from_utf8(bytes.to_vec()).map_err(|_| {
        invalid(
            path,
            &format!("line {line}, column {}: not UTF-8 text", column + 1),
        )
    })
}

fn csv_error(path: &Path, e: &csv::Error) -> Error {
    let what = match e.kind() {
        csv::ErrorKind::UnequalLengths {
            pos,
            expected_len,
            len,
        } => format!(
            "line {}: {len} values where the header has {expected_len} (a truncated or damaged \
             file)",
            pos.as_ref().map_or(0, csv::Position::line)
        ),
        _ => e.to_string(),
    };
    invalid(path, &what)
}

fn invalid(path: &Path, what: &str) -> Error {
    Error::InvalidInput(format!("{}: not a slide readout: {what}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves a readout is read past its comment line, and that damaged ones are refused with
    // the file and the problem named: duplicate columns, a short row, non-UTF-8 bytes, no
    // header, no row. (FR-91)
    #[test]
    fn readouts_and_their_damage() {
        let p = Path::new("slide/readout.csv");
        let ok = parse(p, b"# For Research Use Only\nA,B,C\n1,N/A,x\n").unwrap();
        assert_eq!(ok.columns, ["A", "B", "C"]);
        assert_eq!(ok.rows, [["1", "N/A", "x"]]);
        for (bytes, says) in [
            (&b"A,B,A\n1,2,3\n"[..], "the column \"A\" appears twice"),
            (b"A,B,C\n1,2\n", "line 2: 2 values where the header has 3"),
            (b"A,B\n1,\xff\n", "line 2, column 2: not UTF-8 text"),
            (b"# only a comment\n", "no header row"),
            (b"A,B\n", "a header but no row of values"),
        ] {
            let err = parse(p, bytes).unwrap_err().to_string();
            assert!(
                err.contains("slide/readout.csv: not a slide readout") && err.contains(says),
                "{err}"
            );
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        // Proves any bytes parse to a readout or an error naming the file, never a panic.
        // (NFR-16)
        #[test]
        fn any_bytes_are_read_or_refused(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..300)) {
            if let Err(e) = parse(Path::new("x.csv"), &bytes) {
                proptest::prop_assert!(e.to_string().contains("x.csv"));
            }
        }
    }
}
