//! Bytes of the bucket's objects and parts, kept in files of a private folder rather than in
//! memory, so a sandbox that took gigabytes of uploads stays small; each file is removed when
//! the last object or part holding it goes, and the folder with the sandbox.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

/// The folder of one sandbox's stored bytes (removed with it).
#[derive(Debug)]
pub(crate) struct Spill {
    dir: PathBuf,
    next: AtomicU64,
}

impl Spill {
    /// A fresh folder under the system's temporary folder.
    pub(crate) fn new() -> io::Result<Self> {
        let dir = std::env::temp_dir().join(format!(
            "aignostics-sandbox-{}-{}",
            std::process::id(),
            crate::ids::random_hex(8)
        ));
        std::fs::create_dir_all(&dir)?;
        Ok(Self {
            dir,
            next: AtomicU64::new(0),
        })
    }

    /// Stores `bytes` in a new file.
    pub(crate) fn store(&self, bytes: &[u8]) -> io::Result<Blob> {
        let path = self
            .dir
            .join(self.next.fetch_add(1, Ordering::Relaxed).to_string());
        std::fs::write(&path, bytes)?;
        Ok(Blob {
            path,
            len: bytes.len() as u64,
        })
    }
}

impl Drop for Spill {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One stored byte string: a file of the spill folder, removed on drop.
#[derive(Debug)]
pub(crate) struct Blob {
    path: PathBuf,
    len: u64,
}

impl Blob {
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// A reader of `start..end` of the bytes.
    pub(crate) fn range(&self, start: u64, end: u64) -> io::Result<impl Read + Send + use<>> {
        let mut file = File::open(&self.path)?;
        file.seek(SeekFrom::Start(start))?;
        Ok(file.take(end.saturating_sub(start)))
    }

    #[cfg(test)]
    pub(crate) fn path(&self) -> &std::path::Path {
        &self.path
    }
}

impl Drop for Blob {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The bytes `start..end` across `blobs` laid end to end, as one reader.
pub(crate) fn read_across(
    blobs: &[std::sync::Arc<Blob>],
    start: u64,
    end: u64,
) -> io::Result<Box<dyn Read + Send>> {
    let mut reader: Box<dyn Read + Send> = Box::new(io::empty());
    let mut offset = 0u64;
    for blob in blobs {
        let (bs, be) = (offset, offset + blob.len());
        let (s, e) = (start.max(bs), end.min(be));
        if s < e {
            reader = Box::new(reader.chain(blob.range(s - bs, e - bs)?));
        }
        offset = be;
    }
    Ok(reader)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    // Proves ranges across stored blobs read the right bytes, and files and folder are removed
    // with their owners.
    #[test]
    fn ranges_across_blobs_and_cleanup() {
        let spill = Spill::new().unwrap();
        let dir = spill.dir.clone();
        let blobs: Vec<Arc<Blob>> = [&b"hello "[..], b"wide ", b"world"]
            .iter()
            .map(|b| Arc::new(spill.store(b).unwrap()))
            .collect();
        let read = |s, e| {
            let mut out = String::new();
            read_across(&blobs, s, e)
                .unwrap()
                .read_to_string(&mut out)
                .unwrap();
            out
        };
        assert_eq!(read(0, 16), "hello wide world");
        assert_eq!(read(4, 13), "o wide wo");
        assert_eq!(read(16, 16), "");
        let first = blobs[0].path().to_path_buf();
        assert!(first.is_file());
        drop(blobs);
        assert!(!first.exists());
        drop(spill);
        assert!(!dir.exists());
    }
}
