//! The file-system side of document downloads: safe file names, no overwrites, and temporary
//! files renamed into place only when complete.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::error::{Error, Result};

/// A file name that is safe to join to a directory: no separators, no control characters, no
/// characters Windows reserves, not `.` or `..`, at most 255 bytes.
pub(crate) fn sanitize_file_name(name: &str) -> Result<String> {
    let mut out: String = name
        .chars()
        .map(|c| match c {
            '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|' => '_',
            c if c.is_control() => '_',
            c => c,
        })
        .collect();
    // Windows drops trailing dots and spaces; `.` and `..` become empty here and are refused.
    out = out.trim_matches(' ').trim_end_matches('.').to_string();
    if out.is_empty() {
        return Err(Error::InvalidInput(format!(
            "{name:?} cannot be used as a file name"
        )));
    }
    if out.len() > 255 {
        let mut end = 255;
        while !out.is_char_boundary(end) {
            end -= 1;
        }
        out.truncate(end);
    }
    Ok(out)
}

/// Fails with a clear error when `path` exists (files are never overwritten).
pub(crate) fn refuse_existing(path: &Path) -> Result<()> {
    if fs::symlink_metadata(path).is_ok() {
        return Err(Error::io(
            path,
            io::Error::new(
                io::ErrorKind::AlreadyExists,
                "the file already exists; refusing to overwrite it",
            ),
        ));
    }
    Ok(())
}

/// A temporary file beside a final path; removed on drop unless [`persist`](Self::persist)ed.
pub(crate) struct TempFile {
    path: PathBuf,
    file: Option<File>,
}

impl TempFile {
    /// Creates a new, empty temporary file in the directory of `final_path`.
    pub fn beside(final_path: &Path) -> Result<Self> {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let dir = final_path.parent().unwrap_or_else(|| Path::new("."));
        let stem = final_path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        loop {
            let n = COUNTER.fetch_add(1, Ordering::Relaxed);
            let path = dir.join(format!(".{stem}.{}-{n}.part", std::process::id()));
            match OpenOptions::new().write(true).create_new(true).open(&path) {
                Ok(file) => {
                    return Ok(Self {
                        path,
                        file: Some(file),
                    });
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(Error::io(path, e)),
            }
        }
    }

    /// Streams `reader` into the file; read failures are mapped with [`Error::from_read`].
    pub fn fill(&mut self, operation: &str, reader: &mut dyn Read) -> Result<u64> {
        let Some(file) = self.file.as_mut() else {
            return Ok(0);
        };
        let mut buf = vec![0u8; 256 * 1024];
        let mut total = 0u64;
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::from_read(operation, e)),
            };
            file.write_all(&buf[..n])
                .map_err(|e| Error::io(&self.path, e))?;
            total += n as u64;
        }
        Ok(total)
    }

    /// Flushes to disk and moves the file to `final_path`, never replacing an existing file.
    pub fn persist(mut self, final_path: &Path) -> Result<()> {
        if let Some(file) = self.file.take() {
            file.sync_all().map_err(|e| Error::io(&self.path, e))?;
        }
        // A hard link fails when the target exists, so a file that appeared meanwhile is kept.
        match fs::hard_link(&self.path, final_path) {
            Ok(()) => {
                let _ = fs::remove_file(&self.path);
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return refuse_existing(final_path);
            }
            Err(_) => {
                // File systems without hard links: check, then rename.
                refuse_existing(final_path)?;
                fs::rename(&self.path, final_path).map_err(|e| Error::io(final_path, e))?;
            }
        }
        self.path = PathBuf::new();
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        self.file.take();
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves names cannot escape the target directory or carry control characters. (FR-25)
    #[test]
    fn sanitizes_names() {
        assert_eq!(sanitize_file_name("readme.pdf").unwrap(), "readme.pdf");
        assert_eq!(
            sanitize_file_name("../etc/passwd").unwrap(),
            ".._etc_passwd"
        );
        assert_eq!(sanitize_file_name("a\\b\nc").unwrap(), "a_b_c");
        assert!(sanitize_file_name("..").is_err());
        assert!(sanitize_file_name("").is_err());
        assert!(sanitize_file_name("   ").is_err());
        assert_eq!(
            sanitize_file_name("x".repeat(300).as_str()).unwrap().len(),
            255
        );
    }
}
