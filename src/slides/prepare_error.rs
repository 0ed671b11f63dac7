//! Why items could not be prepared from slides or a metadata CSV: the one error type of the
//! item builder and the CSV reader, below both.

use std::fmt;
use std::path::PathBuf;

use super::SlideError;

/// Why items could not be prepared: the file, line, rule or field concerned.
#[derive(Debug)]
#[non_exhaustive]
pub enum PrepareError {
    /// A slide could not be read.
    Slide(SlideError),
    /// A file could not be read or written.
    Io(PathBuf, std::io::Error),
    /// A metadata CSV is malformed.
    Csv {
        /// The CSV file, when read from one.
        file: Option<PathBuf>,
        /// The line (1 is the header).
        line: usize,
        /// What is wrong, naming the column.
        message: String,
    },
    /// A mapping rule is malformed.
    Mapping(String),
    /// The application version does not fit (e.g. not exactly one input artifact).
    Version(String),
    /// A slide's download URL could not be made.
    Url {
        /// The item.
        external_id: String,
        /// Why.
        message: String,
    },
    /// An item does not satisfy the version (its external id, artifact and the failing
    /// field are in the message).
    Invalid(crate::Error),
}

impl fmt::Display for PrepareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Slide(e) => e.fmt(f),
            Self::Io(path, e) => write!(f, "{}: {e}", path.display()),
            Self::Csv {
                file,
                line,
                message,
            } => match file {
                Some(file) => write!(f, "{}: line {line}: {message}", file.display()),
                None => write!(f, "line {line}: {message}"),
            },
            Self::Mapping(m) => write!(f, "mapping: {m}"),
            Self::Version(m) => f.write_str(m),
            Self::Url {
                external_id,
                message,
            } => write!(f, "item {external_id:?}: no download URL: {message}"),
            Self::Invalid(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for PrepareError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Slide(e) => Some(e),
            Self::Io(_, e) => Some(e),
            Self::Invalid(e) => Some(e),
            _ => None,
        }
    }
}

impl From<SlideError> for PrepareError {
    fn from(e: SlideError) -> Self {
        Self::Slide(e)
    }
}
