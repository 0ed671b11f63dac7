//! Replacing a file at once: written under a temporary name beside it, then renamed over it,
//! so a reader sees the old file or the new one, and a failure or a crash leaves the old one.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

/// Replaces `path` with what `make` puts at the temporary path it is given (a file written, a
/// link made). On any failure the temporary file is removed and `path` is left as it was;
/// `io_err` names the path of a failed rename in the caller's error type.
pub(crate) fn replace_file<E>(
    path: &Path,
    make: impl FnOnce(&Path) -> Result<(), E>,
    io_err: impl FnOnce(&Path, io::Error) -> E,
) -> Result<(), E> {
    let tmp = temporary(path);
    let _ = std::fs::remove_file(&tmp);
    let done = make(&tmp).and_then(|()| std::fs::rename(&tmp, path).map_err(|e| io_err(path, e)));
    // Gone after a rename, except when `path` was already a link to the same file: POSIX
    // renames such a pair by doing nothing.
    let _ = std::fs::remove_file(&tmp);
    done
}

/// A temporary name beside `path`, unique to this process and call.
fn temporary(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    path.with_file_name(format!(
        ".{name}.{}-{}.tmp",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves a replacement is whole or absent: a failing writer leaves the old file and no temporary one, a link over the same file leaves no temporary one. (FR-89, FR-91, FR-99)
    #[test]
    fn replaced_whole_or_not_at_all() {
        let dir = std::env::temp_dir().join(format!("aignostics-replace-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("f.txt");
        std::fs::write(&path, "old").unwrap();
        let failed: io::Result<()> = replace_file(
            &path,
            |tmp| {
                std::fs::write(tmp, "half")?;
                Err(io::Error::other("stopped"))
            },
            |_, e| e,
        );
        assert!(failed.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        replace_file(&path, |tmp| std::fs::write(tmp, "new"), |_, e| e).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        let link = dir.join("link.txt");
        for _ in 0..2 {
            replace_file(&link, |tmp| std::fs::hard_link(&path, tmp), |_, e| e).unwrap();
        }
        let names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names.len(), 2, "no temporary file left: {names:?}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
