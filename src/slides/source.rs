//! Positional reads of a file's header bytes, and the faults a parser reports.

use std::fs::File;
use std::io;

/// Where a header parser reads from: a file (positional reads, no shared cursor) or bytes in
/// memory (tests, property tests).
pub(crate) trait Source {
    /// Length in bytes.
    fn len(&self) -> u64;
    /// Fills `buf` from `offset`; `Truncated` when the source ends first.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), Fault>;

    /// `len` bytes from `offset`, refusing lengths past the end of the source before allocating.
    fn bytes(&self, offset: u64, len: u64, what: &str) -> Result<Vec<u8>, Fault> {
        let end = offset
            .checked_add(len)
            .ok_or_else(|| Fault::truncated(what))?;
        if end > self.len() {
            return Err(Fault::truncated(what));
        }
        let len = usize::try_from(len).map_err(|_| Fault::truncated(what))?;
        let mut buf = vec![0u8; len];
        self.read_at(offset, &mut buf)
            .map_err(|f| f.context(what))?;
        Ok(buf)
    }
}

impl Source for &[u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), Fault> {
        let start = usize::try_from(offset).map_err(|_| Fault::Truncated(String::new()))?;
        let end = start
            .checked_add(buf.len())
            .filter(|&end| end <= <[u8]>::len(self))
            .ok_or_else(|| Fault::Truncated(String::new()))?;
        buf.copy_from_slice(&self[start..end]);
        Ok(())
    }
}

/// A file and its length, read with positional reads.
pub(crate) struct FileSource {
    file: File,
    len: u64,
}

impl FileSource {
    pub(crate) fn new(file: File) -> io::Result<Self> {
        let len = file.metadata()?.len();
        Ok(Self { file, len })
    }
}

impl Source for FileSource {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), Fault> {
        if offset.saturating_add(buf.len() as u64) > self.len {
            return Err(Fault::Truncated(String::new()));
        }
        read_exact_at(&self.file, offset, buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => Fault::Truncated(String::new()),
            _ => Fault::Io(e),
        })
    }
}

#[cfg(unix)]
fn read_exact_at(file: &File, offset: u64, buf: &mut [u8]) -> io::Result<()> {
    std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
}

#[cfg(windows)]
fn read_exact_at(file: &File, mut offset: u64, mut buf: &mut [u8]) -> io::Result<()> {
    use std::os::windows::fs::FileExt;
    while !buf.is_empty() {
        match file.seek_read(buf, offset) {
            Ok(0) => return Err(io::ErrorKind::UnexpectedEof.into()),
            Ok(n) => {
                buf = &mut buf[n..];
                offset += n as u64;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

#[cfg(not(any(unix, windows)))]
fn read_exact_at(file: &File, offset: u64, buf: &mut [u8]) -> io::Result<()> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = file.try_clone()?;
    file.seek(SeekFrom::Start(offset))?;
    file.read_exact(buf)
}

/// Why a header could not be read; turned into a [`SlideErrorKind`](super::SlideErrorKind)
/// with the file's name.
#[derive(Debug)]
pub(crate) enum Fault {
    /// The file ends before the named structure does.
    Truncated(String),
    /// The bytes are not a well-formed structure of the format.
    Malformed(String),
    /// Reading failed.
    Io(io::Error),
}

impl Fault {
    pub(crate) fn truncated(what: &str) -> Self {
        Self::Truncated(what.to_string())
    }

    pub(crate) fn malformed(what: impl Into<String>) -> Self {
        Self::Malformed(what.into())
    }

    /// Names the structure being read when a lower layer did not.
    pub(crate) fn context(self, what: &str) -> Self {
        match self {
            Self::Truncated(w) if w.is_empty() => Self::Truncated(what.to_string()),
            other => other,
        }
    }
}

/// Byte order of a TIFF file or a DICOM transfer syntax.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endian {
    Little,
    Big,
}

impl Endian {
    pub(crate) fn u16(self, b: &[u8]) -> u16 {
        let b = [b[0], b[1]];
        match self {
            Self::Little => u16::from_le_bytes(b),
            Self::Big => u16::from_be_bytes(b),
        }
    }

    pub(crate) fn u32(self, b: &[u8]) -> u32 {
        let b = [b[0], b[1], b[2], b[3]];
        match self {
            Self::Little => u32::from_le_bytes(b),
            Self::Big => u32::from_be_bytes(b),
        }
    }

    pub(crate) fn u64(self, b: &[u8]) -> u64 {
        let mut a = [0u8; 8];
        a.copy_from_slice(&b[..8]);
        match self {
            Self::Little => u64::from_le_bytes(a),
            Self::Big => u64::from_be_bytes(a),
        }
    }
}

/// A file whose first bytes are already in memory: reads within them cost no system call.
pub(crate) struct Buffered<'a> {
    file: &'a File,
    len: u64,
    head: &'a [u8],
}

impl<'a> Buffered<'a> {
    pub(crate) fn new(file: &'a File, len: u64, head: &'a [u8]) -> Self {
        Self { file, len, head }
    }
}

impl Source for Buffered<'_> {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), Fault> {
        let end = offset.saturating_add(buf.len() as u64);
        if end > self.len {
            return Err(Fault::Truncated(String::new()));
        }
        if end <= self.head.len() as u64 {
            buf.copy_from_slice(&self.head[offset as usize..end as usize]);
            return Ok(());
        }
        read_exact_at(self.file, offset, buf).map_err(|e| match e.kind() {
            io::ErrorKind::UnexpectedEof => Fault::Truncated(String::new()),
            _ => Fault::Io(e),
        })
    }
}
