//! Part files: each writer streams into its own exclusively created `<file>.<16 hex>.part` and
//! holds an exclusive lock on it while it writes, so several `download_to` calls, in one
//! process or in several, can share a directory.
//!
//! The rules, which together make every part owned by exactly one writer:
//! - a part is created with `create_new` under a random name, so no two writers ever open the
//!   same new file, and a name is never reused;
//! - whoever holds a part's lock owns it; only the owner writes, renames or removes it, and
//!   only while holding the lock;
//! - a lock is released when its writer ends, even by `kill -9` (the OS drops it with the
//!   process), so a part whose lock can be taken belongs to a writer that stopped: it is
//!   picked up and resumed;
//! - after taking a lock, the owner checks the part still exists: an owner that renamed or
//!   removed it released the lock only afterwards, and the name never comes back.
//!
//! A writer that finds a part locked by someone else waits for that writer to finish and then
//! looks again: usually the final file is in place and verified, and there is nothing to do.

use std::fs::{self, File, OpenOptions, TryLockError};
use std::hash::{BuildHasher, Hasher};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};

/// Pause between two looks at a part another writer holds.
const WAIT_STEP: Duration = Duration::from_millis(25);

/// Hex digits of the random part of a part file's name.
const TAG_LEN: usize = 16;

/// A part file this writer owns: created or picked up, and locked until dropped.
pub(crate) struct Part {
    path: PathBuf,
    file: File,
}

/// What [`claim`] found.
pub(crate) enum Claim {
    /// A part to write into (new, or left by a writer that stopped, to resume).
    Part(Part),
    /// Another writer completed the target while this one waited.
    Done,
}

impl Part {
    /// The open, locked part file.
    pub(crate) fn file(&mut self) -> &mut File {
        &mut self.file
    }

    /// Its path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Moves the (synced) part into place under the lock, then syncs the directory so the
    /// rename itself survives a crash. An existing file at `target` is replaced atomically.
    /// Parts of the same target that stopped writers left (two writers can start at the same
    /// moment, and one may then fail) are removed: the target is complete.
    pub(crate) fn finish(self, target: &Path) -> Result<()> {
        fs::rename(&self.path, target).map_err(|e| Error::io(target, e))?;
        #[cfg(unix)]
        if let Some(dir) = target.parent() {
            // Best effort: some file systems cannot sync directories.
            let _ = File::open(dir).and_then(|d| d.sync_all());
        }
        for path in parts_of(target).unwrap_or_default() {
            if let Ok(Take::Owned(left)) = take(&path) {
                // Best effort too: a part left here only takes space.
                let _ = left.remove();
            }
        }
        Ok(())
    }

    /// Removes the part (under the lock).
    pub(crate) fn remove(self) -> Result<()> {
        match fs::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io(&self.path, e)),
            _ => Ok(()),
        }
    }

    /// Gives the part up: removed when it holds no byte, otherwise kept (and unlocked) for a
    /// later resume.
    pub(crate) fn release(mut self) -> Result<()> {
        match self.file().metadata() {
            Ok(m) if m.len() == 0 => self.remove(),
            _ => Ok(()),
        }
    }
}

/// `<file name>.<16 hex digits>.part`, next to `target`.
fn part_path(target: &Path, tag: u64) -> PathBuf {
    let mut name = target.file_name().unwrap_or_default().to_owned();
    name.push(format!(".{tag:0width$x}.part", width = TAG_LEN));
    target.with_file_name(name)
}

/// Whether `name` is a part file name of the file named `file_name`.
fn is_part_of(name: &str, file_name: &str) -> bool {
    name.strip_prefix(file_name)
        .and_then(|rest| rest.strip_prefix('.'))
        .and_then(|rest| rest.strip_suffix(".part"))
        .is_some_and(|tag| tag.len() == TAG_LEN && tag.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// The part files of `target` now on disk, sorted by name.
fn parts_of(target: &Path) -> Result<Vec<PathBuf>> {
    let dir = target.parent().unwrap_or_else(|| Path::new("."));
    let Some(file_name) = target.file_name().and_then(|n| n.to_str()) else {
        return Ok(Vec::new());
    };
    let mut parts = Vec::new();
    for entry in fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
        let entry = entry.map_err(|e| Error::io(dir, e))?;
        if entry
            .file_name()
            .to_str()
            .is_some_and(|n| is_part_of(n, file_name))
        {
            parts.push(entry.path());
        }
    }
    parts.sort();
    Ok(parts)
}

/// Whether a part path still names a file (it does unless its owner renamed or removed it).
fn exists(path: &Path) -> Result<bool> {
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// Opens an existing part for writing; `None` when it is gone.
fn open(path: &Path) -> Result<Option<File>> {
    match OpenOptions::new().read(true).write(true).open(path) {
        Ok(file) => Ok(Some(file)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::io(path, e)),
    }
}

/// What taking an existing part's lock gave.
enum Take {
    /// The lock is ours and the part still exists.
    Owned(Part),
    /// Another writer holds it.
    Busy,
    /// It no longer exists.
    Gone,
}

/// Tries to lock `file`: `Ok(false)` while another writer holds it. On a file system without
/// locks every lock is granted (with a warning), so downloads still work, only without the
/// guard between writers.
fn try_lock(file: &File, path: &Path) -> Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(e)) if e.kind() == io::ErrorKind::Unsupported => {
            static WARNED: std::sync::Once = std::sync::Once::new();
            WARNED.call_once(|| {
                log::warn!(
                    "{}: the file system does not support file locks; downloads into this \
                     directory are not guarded against other processes",
                    path.display()
                );
            });
            Ok(true)
        }
        Err(TryLockError::Error(e)) => Err(Error::io(path, e)),
    }
}

fn take(path: &Path) -> Result<Take> {
    let Some(file) = open(path)? else {
        return Ok(Take::Gone);
    };
    if !try_lock(&file, path)? {
        return Ok(Take::Busy);
    }
    if !exists(path)? {
        return Ok(Take::Gone);
    }
    Ok(Take::Owned(Part {
        path: path.to_path_buf(),
        file,
    }))
}

/// A random tag for a new part's name (std's per-process random keys, the process id and a
/// counter; `create_new` settles any clash).
pub(super) fn random_tag() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos(),
    );
    h.finish()
}

/// Creates and locks a new part; `None` when another writer took it first (it then owns it).
fn create(target: &Path) -> Result<Option<Part>> {
    loop {
        let path = part_path(target, random_tag());
        let file = match OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
        {
            Ok(file) => file,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(Error::io(&path, e)),
        };
        let owned = try_lock(&file, &path)? && exists(&path)?;
        return Ok(owned.then(|| Part { path, file }));
    }
}

/// Waits until the writer holding `path` lets go of it (or `stop()` says to give up).
fn wait_for(path: &Path, stop: &dyn Fn() -> bool) -> Result<()> {
    let Some(file) = open(path)? else {
        return Ok(());
    };
    log::info!(
        "{}: another download is writing this file; waiting for it",
        path.display()
    );
    while !try_lock(&file, path)? {
        if stop() {
            return Err(super::abandoned());
        }
        std::thread::sleep(WAIT_STEP);
    }
    Ok(())
}

/// Finds the part to write `target` into: waits while another writer holds one (then returns
/// [`Claim::Done`] when `complete()` says the target is now in place), else picks up the
/// longest part left by stopped writers (removing the others), else creates a new one.
pub(crate) fn claim(
    target: &Path,
    complete: &dyn Fn() -> Result<bool>,
    stop: &dyn Fn() -> bool,
) -> Result<Claim> {
    loop {
        if stop() {
            return Err(super::abandoned());
        }
        let mut owned = Vec::new();
        let mut busy = None;
        for path in parts_of(target)? {
            match take(&path)? {
                Take::Owned(part) => owned.push(part),
                Take::Busy => {
                    busy.get_or_insert(path);
                }
                Take::Gone => {}
            }
        }
        if let Some(path) = busy {
            // Leave the stopped writers' parts to whoever ends up writing.
            drop(owned);
            wait_for(&path, stop)?;
            if complete()? {
                return Ok(Claim::Done);
            }
            continue;
        }
        if !owned.is_empty() {
            // A part left beside a target another writer has completed meanwhile (it removes
            // such parts only after its rename) is not worth resuming.
            if complete()? {
                for extra in owned {
                    extra.remove()?;
                }
                return Ok(Claim::Done);
            }
            let len = |p: &Part| p.file.metadata().map_or(0, |m| m.len());
            owned.sort_by_key(|p| std::cmp::Reverse(len(p)));
            let mut owned = owned.into_iter();
            let keep = owned.next();
            for extra in owned {
                extra.remove()?;
            }
            if let Some(part) = keep {
                return Ok(Claim::Part(part));
            }
        }
        let Some(mine) = create(target)? else {
            continue;
        };
        // Another writer holding a part now either looked before this part existed, and is
        // writing, or will see this part and yield. Either way this writer yields: it removes
        // its part and waits for the other. Two that see each other both yield and look again
        // after a random pause, so that they do not meet again.
        let mut other = None;
        for path in parts_of(target)? {
            if path != mine.path
                && let Take::Busy = take(&path)?
            {
                other = Some(path);
                break;
            }
        }
        let Some(path) = other else {
            // Another writer may have completed the target between the first look and now.
            if complete()? {
                mine.remove()?;
                return Ok(Claim::Done);
            }
            return Ok(Claim::Part(mine));
        };
        mine.remove()?;
        std::thread::sleep(WAIT_STEP.mul_f64((random_tag() % 1000) as f64 / 1000.0));
        wait_for(&path, stop)?;
        if complete()? {
            return Ok(Claim::Done);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves part names carry a 16-digit random tag next to the final file and are recognised
    // only for their own file. (FR-50)
    #[test]
    fn part_names() {
        let p = part_path(Path::new("a/b/c.json"), 0xab);
        assert_eq!(p, PathBuf::from("a/b/c.json.00000000000000ab.part"));
        assert!(is_part_of("c.json.00000000000000ab.part", "c.json"));
        assert!(!is_part_of("c.json.part", "c.json"));
        assert!(!is_part_of("c.json.00000000000000ab.part", "c"));
        assert!(!is_part_of("c.json.0000000000000zab.part", "c.json"));
        assert!(!is_part_of("d.json.00000000000000ab.part", "c.json"));
        assert_ne!(random_tag(), random_tag());
    }

    // Proves one writer at a time owns a part: a second claim in the same process waits while
    // the first holds it, a released non-empty part is picked up, an empty one is removed. (FR-50)
    #[test]
    fn one_owner_at_a_time() {
        let dir = std::env::temp_dir().join(format!("aignostics-part-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let target = dir.join("x.bin");
        let never = || false;
        let Claim::Part(mut first) = claim(&target, &|| Ok(false), &never).unwrap() else {
            panic!("nothing to wait for");
        };
        std::io::Write::write_all(first.file(), b"abc").unwrap();
        let first_path = first.path().to_path_buf();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter_target = target.clone();
        let waiter = std::thread::spawn(move || {
            let claimed = claim(&waiter_target, &|| Ok(false), &|| false).unwrap();
            tx.send(()).unwrap();
            match claimed {
                Claim::Part(p) => p.path().to_path_buf(),
                Claim::Done => PathBuf::new(),
            }
        });
        assert!(
            rx.recv_timeout(Duration::from_millis(300)).is_err(),
            "waits"
        );
        first.release().unwrap();
        assert_eq!(waiter.join().unwrap(), first_path, "picked up to resume");

        let Claim::Part(empty) = claim(&dir.join("y.bin"), &|| Ok(false), &never).unwrap() else {
            panic!("nothing to wait for");
        };
        let empty_path = empty.path().to_path_buf();
        empty.release().unwrap();
        assert!(!empty_path.exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    // Proves a part left beside a target that is already complete is removed, not resumed, so
    // a second writer never downloads a finished file again. (FR-50)
    #[test]
    fn leftover_part_of_a_complete_target_is_not_resumed() {
        let dir = std::env::temp_dir().join(format!("aignostics-leftover-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let target = dir.join("x.bin");
        fs::write(&target, b"complete").unwrap();
        fs::write(part_path(&target, 7), b"comp").unwrap();
        let claimed = claim(&target, &|| Ok(true), &|| false).unwrap();
        assert!(matches!(claimed, Claim::Done));
        assert!(!part_path(&target, 7).exists());
        fs::remove_dir_all(&dir).unwrap();
    }

    // Proves finishing a target removes the parts stopped writers left for it, and a claim
    // picks up the longest stopped part and removes the others. (FR-50, NFR-09)
    #[test]
    fn stopped_writers_parts_are_cleaned_up() {
        let dir = std::env::temp_dir().join(format!("aignostics-parts-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let target = dir.join("x.bin");
        fs::write(part_path(&target, 1), b"short").unwrap();
        fs::write(part_path(&target, 2), b"the longest").unwrap();
        let Claim::Part(mut part) = claim(&target, &|| Ok(false), &|| false).unwrap() else {
            panic!("nothing to wait for");
        };
        assert_eq!(part.path(), part_path(&target, 2));
        assert!(!part_path(&target, 1).exists());
        fs::write(part_path(&target, 3), b"left by a writer that failed").unwrap();
        // A resumed writer appends after what the stopped one wrote.
        std::io::Seek::seek(part.file(), std::io::SeekFrom::End(0)).unwrap();
        std::io::Write::write_all(part.file(), b"!").unwrap();
        part.finish(&target).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"the longest!");
        assert_eq!(
            fs::read_dir(&dir).unwrap().count(),
            1,
            "only the file is left"
        );
        fs::remove_dir_all(&dir).unwrap();
    }
}
