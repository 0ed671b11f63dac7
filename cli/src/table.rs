//! Plain aligned text: tables with a header row, and `name: value` field lists. Cells and
//! values come from the platform, so their control characters are shown escaped (a cell also
//! keeps to its line).

use crate::terminal::{Keep, escape};

/// A table: a header and rows of cells, rendered with columns padded to their widest cell and
/// separated by two spaces (the last column is not padded, so lines have no trailing blanks).
#[derive(Debug, Default)]
pub struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new<S: Into<String>>(header: impl IntoIterator<Item = S>) -> Self {
        Self {
            header: header.into_iter().map(Into::into).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row<S: Into<String>>(&mut self, cells: impl IntoIterator<Item = S>) {
        self.rows.push(
            cells
                .into_iter()
                .map(|cell| escape(&cell.into(), Keep::Nothing).into_owned())
                .collect(),
        );
    }

    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The table as lines ending in `\n`.
    pub fn render(&self) -> String {
        let columns = std::iter::once(&self.header)
            .chain(&self.rows)
            .map(Vec::len)
            .max()
            .unwrap_or(0);
        let mut widths = vec![0; columns];
        for row in std::iter::once(&self.header).chain(&self.rows) {
            for (i, cell) in row.iter().enumerate() {
                widths[i] = widths[i].max(width(cell));
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i > 0 {
                    line.push_str("  ");
                }
                line.push_str(cell);
                if i + 1 < row.len() {
                    line.extend(std::iter::repeat_n(' ', widths[i] - width(cell)));
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

/// `name: value` lines with the values aligned; values with line breaks are indented.
pub fn fields<'a>(pairs: impl IntoIterator<Item = (&'a str, String)>) -> String {
    let pairs: Vec<(&str, String)> = pairs.into_iter().collect();
    let key_width = pairs.iter().map(|(k, _)| width(k) + 1).max().unwrap_or(0);
    let mut out = String::new();
    for (key, value) in pairs {
        let label = format!("{key}:");
        out.push_str(&label);
        out.extend(std::iter::repeat_n(' ', key_width - width(&label) + 2));
        let indent = " ".repeat(key_width + 2);
        let value = escape(&value, Keep::Lines);
        out.push_str(&value.replace('\n', &format!("\n{indent}")));
        out.push('\n');
    }
    out
}

/// Display width in terminal columns: a wide (CJK, emoji) character takes two, a combining
/// mark none.
fn width(text: &str) -> usize {
    unicode_width::UnicodeWidthStr::width(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves columns are padded to the widest cell, including non-ASCII cells, with no
    // trailing blanks.
    #[test]
    fn columns_align() {
        let mut table = Table::new(["ID", "STATE", "NOTE"]);
        table.row(["run-1", "PENDING", ""]);
        table.row(["r2", "TERMINATED", "Zürich"]);
        assert_eq!(
            table.render(),
            "ID     STATE       NOTE\nrun-1  PENDING\nr2     TERMINATED  Zürich\n"
        );
    }

    // Proves a server string cannot reach the terminal as a control sequence or break a row
    // (FR-78).
    #[test]
    fn cells_and_values_are_escaped() {
        let mut table = Table::new(["ID"]);
        table.row(["a\u{1b}]52;c;eA==\u{7}\nb"]);
        assert_eq!(table.render(), "ID\na\\u{1b}]52;c;eA==\\u{7}\\u{a}b\n");
        let text = fields([("Error", "x\u{1b}[2J".to_string())]);
        assert_eq!(text, "Error:  x\\u{1b}[2J\n");
    }

    // Proves columns align by display width: wide characters take two columns and combining
    // marks none. (FR-78, NFR-30)
    #[test]
    fn wide_characters_align() {
        let mut table = Table::new(["NAME", "STATE"]);
        table.row(["肺癌切片", "DONE"]);
        table.row(["Zu\u{308}rich", "DONE"]);
        table.row(["ab", "DONE"]);
        assert_eq!(
            table.render(),
            "NAME      STATE\n肺癌切片  DONE\nZu\u{308}rich    DONE\nab        DONE\n"
        );
    }

    // Proves field lists align their values and indent continuation lines.
    #[test]
    fn fields_align() {
        let text = fields([("Run", "abc".to_string()), ("Changelog", "a\nb".into())]);
        assert_eq!(text, "Run:        abc\nChangelog:  a\n            b\n");
    }
}
