//! A local index of computed file checksums, so a restart does not read every slide again.
//!
//! An entry is keyed by the file's canonical path and remembers what the file looked like when
//! it was read: size, modification and change times, inode and device (as `git`'s index and
//! `rsync` do). On use the file is looked at again and the entry counts only when all of these
//! still match; a file changed in the same instant it was read (a "racily clean" file) is never
//! recorded. The index is a cache, never the truth: a torn, foreign or damaged line is ignored
//! (each line carries its own CRC32C), and losing the file costs one more read of each slide.
//!
//! The file is an append-only log of JSON lines, so two processes can record at once (each line
//! is one `write`); it is rewritten without superseded lines when they outnumber the live ones.

use std::collections::HashMap;
use std::fs::{self, File, Metadata, OpenOptions};
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

/// A file touched less than this before its read began may change again within the file
/// system's timestamp granularity (2 s on FAT) without its modification time showing it.
const RACY: Duration = Duration::from_secs(2);

/// Superseded lines tolerated before the log is rewritten.
const SLACK: usize = 1024;

/// A local index of CRC32C checksums of files, verified against each file's metadata on every
/// use. See [`Inspector::checksum_index`](crate::slides::Inspector::checksum_index).
///
/// ```no_run
/// use aignostics::checksum::ChecksumIndex;
///
/// let index = ChecksumIndex::open("/tmp/checksums.jsonl");
/// let (crc, bytes) = index.crc32c_file("slide-1.svs")?; // read once …
/// let again = index.crc32c_file("slide-1.svs")?; // … then from the index, while unchanged
/// assert_eq!((crc, bytes), again);
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Debug)]
pub struct ChecksumIndex {
    path: PathBuf,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    loaded: bool,
    entries: HashMap<String, Entry>,
    /// Lines in the log, live or superseded.
    lines: usize,
}

/// What a file looked like when its checksum was computed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Stamp {
    size: u64,
    mtime_ns: i64,
    ctime_ns: i64,
    inode: u64,
    device: u64,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Entry {
    path: String,
    stamp: Stamp,
    crc32c: u32,
    /// The CRC32C of each part of a multipart upload's layout, so a store's composite
    /// checksum can be met without reading the file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    parts: Option<Parts>,
}

/// Part checksums of one layout: every part `part_size` bytes but the last.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Parts {
    part_size: u64,
    crc32c: Vec<u32>,
}

/// One line of the log: an entry and the CRC32C of its JSON.
#[derive(Serialize, Deserialize)]
struct Line {
    entry: Entry,
    check: u32,
}

impl ChecksumIndex {
    /// The index kept in the file `path` (created on the first record; its folder too). An
    /// unreadable or damaged file is an empty index.
    pub fn open(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            state: Mutex::new(State::default()),
        }
    }

    /// The index in the settings' cache folder (`{cache_dir}/checksums.jsonl`), shared by
    /// every program of the user.
    #[must_use]
    pub fn in_cache_dir(settings: &crate::Settings) -> Self {
        Self::open(settings.cache_dir.join("checksums.jsonl"))
    }

    /// The file holding the index.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The CRC32C of the file at `path` when the index holds it and the file has not changed
    /// since (size, times, inode and device all as recorded).
    pub fn lookup(&self, path: &Path) -> Option<u32> {
        self.lookup_unchanged(path, &fs::metadata(path).ok()?)
    }

    /// [`lookup`](Self::lookup) with the file's metadata as already read (from the open file
    /// whose header is used with the checksum).
    pub(crate) fn lookup_unchanged(&self, path: &Path, meta: &Metadata) -> Option<u32> {
        self.entry(path, meta).map(|e| e.crc32c)
    }

    /// The entry of an unchanged file.
    fn entry(&self, path: &Path, meta: &Metadata) -> Option<Entry> {
        let key = key(path)?;
        let now = stamp(meta)?;
        let mut state = self.lock();
        self.load(&mut state);
        let entry = state.entries.get(&key)?;
        (entry.stamp == now).then(|| entry.clone())
    }

    /// The CRC32C of each `part_size` part of the unchanged file at `path`, when recorded.
    pub(crate) fn parts(&self, path: &Path, part_size: u64) -> Option<Vec<u32>> {
        let entry = self.entry(path, &fs::metadata(path).ok()?)?;
        entry
            .parts
            .filter(|p| p.part_size == part_size)
            .map(|p| p.crc32c)
    }

    /// Records the CRC32C of each `part_size` part of the file at `path`, when the index
    /// holds the unchanged file and the parts combine into its CRC32C (so a wrong list is
    /// never kept).
    pub(crate) fn record_parts(&self, path: &Path, part_size: u64, crcs: Vec<u32>) {
        let Some(meta) = fs::metadata(path).ok() else {
            return;
        };
        let Some(mut entry) = self.entry(path, &meta) else {
            return;
        };
        let size = entry.stamp.size;
        if part_size == 0 || size.div_ceil(part_size) != crcs.len() as u64 {
            return;
        }
        let combined = crcs.iter().enumerate().fold(0u32, |acc, (i, crc)| {
            let len = part_size.min(size - i as u64 * part_size);
            crc32c::crc32c_combine(acc, *crc, len as usize)
        });
        if combined != entry.crc32c {
            return;
        }
        entry.parts = Some(Parts {
            part_size,
            crc32c: crcs,
        });
        self.store(entry);
    }

    /// Records the CRC32C of the file at `path`, computed from a read that began at `began`
    /// with the file's metadata `before`. Nothing is recorded when the file changed during the
    /// read or too shortly before it to be told apart from a later change.
    pub(crate) fn record(&self, path: &Path, before: &Metadata, began: SystemTime, crc32c: u32) {
        let (Some(key), Some(stamp)) = (key(path), stamp(before)) else {
            return;
        };
        let Ok(after) = fs::metadata(path) else {
            return;
        };
        let unchanged = self::stamp(&after).as_ref() == Some(&stamp);
        let settled = before
            .modified()
            .is_ok_and(|m| m.checked_add(RACY).is_some_and(|m| m <= began));
        if !unchanged || !settled {
            return;
        }
        let known = self.entry(path, before);
        if known.as_ref().is_some_and(|e| e.crc32c == crc32c) {
            return;
        }
        self.store(Entry {
            path: key,
            stamp,
            crc32c,
            parts: None,
        });
    }

    /// Appends `entry`, superseding the path's earlier one.
    fn store(&self, entry: Entry) {
        let mut state = self.lock();
        self.load(&mut state);
        if state.entries.get(&entry.path) == Some(&entry) {
            return;
        }
        // A failed write loses a cache entry, nothing else.
        let _ = self.append(&entry);
        state.lines += 1;
        state.entries.insert(entry.path.clone(), entry);
        if state.lines > 2 * state.entries.len() + SLACK {
            let _ = self.rewrite(&mut state);
        }
    }

    /// The CRC32C and length of the file at `path`: from the index while the file is
    /// unchanged, else read (and recorded).
    ///
    /// # Errors
    /// The file cannot be read.
    pub fn crc32c_file(&self, path: impl AsRef<Path>) -> io::Result<(u32, u64)> {
        let path = path.as_ref();
        let before = fs::metadata(path)?;
        if let Some(crc) = self.lookup_unchanged(path, &before) {
            return Ok((crc, before.len()));
        }
        let began = SystemTime::now();
        let (crc, len) = super::crc32c_file(path)?;
        self.record(path, &before, began, crc);
        Ok((crc, len))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reads the log once (later lines win; lines failing their check are skipped).
    fn load(&self, state: &mut State) {
        if state.loaded {
            return;
        }
        state.loaded = true;
        let Ok(file) = File::open(&self.path) else {
            return;
        };
        for line in BufReader::new(file).split(b'\n') {
            let Ok(line) = line else { break };
            state.lines += 1;
            if let Some(entry) = parse(&line) {
                state.entries.insert(entry.path.clone(), entry);
            }
        }
    }

    fn append(&self, entry: &Entry) -> io::Result<()> {
        if let Some(dir) = self.path.parent() {
            fs::create_dir_all(dir)?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        // One write per line: appends of two processes interleave whole lines.
        file.write_all(&line(entry)?)
    }

    /// Replaces the log by its live entries (through a temporary file and a rename, so a
    /// reader sees the old log or the new one).
    fn rewrite(&self, state: &mut State) -> io::Result<()> {
        let mut out = Vec::new();
        for entry in state.entries.values() {
            out.extend(line(entry)?);
        }
        crate::replace_file::replace_file(&self.path, |tmp| fs::write(tmp, &out), |_, e| e)?;
        state.lines = state.entries.len();
        Ok(())
    }
}

/// The text of one log line, newline included.
fn line(entry: &Entry) -> io::Result<Vec<u8>> {
    let body = serde_json::to_vec(entry)?;
    let mut out = serde_json::to_vec(&Line {
        entry: entry.clone(),
        check: crc32c::crc32c(&body),
    })?;
    out.push(b'\n');
    Ok(out)
}

/// The entry of a log line whose check holds.
fn parse(line: &[u8]) -> Option<Entry> {
    let line: Line = serde_json::from_slice(line).ok()?;
    let body = serde_json::to_vec(&line.entry).ok()?;
    (crc32c::crc32c(&body) == line.check).then_some(line.entry)
}

/// The index key of a file: its canonical path, when it is valid UTF-8 (other paths are not
/// indexed).
fn key(path: &Path) -> Option<String> {
    fs::canonicalize(path)
        .ok()?
        .into_os_string()
        .into_string()
        .ok()
}

/// Nanoseconds since 1970 (saturating: ±292 years).
fn nanos(t: SystemTime) -> i64 {
    match t.duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_nanos()).unwrap_or(i64::MAX),
        Err(e) => i64::try_from(e.duration().as_nanos()).map_or(i64::MIN, |n| -n),
    }
}

/// The stamp of a regular file's metadata.
fn stamp(meta: &Metadata) -> Option<Stamp> {
    if !meta.is_file() {
        return None;
    }
    let mtime_ns = nanos(meta.modified().ok()?);
    #[cfg(unix)]
    let (ctime_ns, inode, device) = {
        use std::os::unix::fs::MetadataExt;
        (
            meta.ctime()
                .saturating_mul(1_000_000_000)
                .saturating_add(meta.ctime_nsec()),
            meta.ino(),
            meta.dev(),
        )
    };
    // Elsewhere the creation time stands in for the change time, and there is no inode.
    #[cfg(not(unix))]
    let (ctime_ns, inode, device) = (meta.created().map(nanos).unwrap_or(0), 0, 0);
    Some(Stamp {
        size: meta.len(),
        mtime_ns,
        ctime_ns,
        inode,
        device,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file in a fresh temporary folder, last modified an hour ago (so it is settled).
    fn settled_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let path = dir.join(name);
        fs::write(&path, bytes).unwrap();
        let hour_ago = SystemTime::now() - Duration::from_secs(3600);
        File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        path
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "aignostics-index-{tag}-{}-{}",
            std::process::id(),
            nanos(SystemTime::now())
        ));
        fs::create_dir_all(&dir).unwrap();
        dir
    }

    // Proves an entry is used while the file is unchanged and dropped as soon as its content,
    // size or times change, and that a second index on the same file sees the first's entries.
    #[test]
    fn entries_hold_only_while_the_file_is_unchanged() {
        let dir = temp_dir("unchanged");
        let slide = settled_file(&dir, "a.svs", b"123456789");
        let index = ChecksumIndex::open(dir.join("idx/checksums.jsonl"));
        assert_eq!(index.lookup(&slide), None);
        assert_eq!(index.crc32c_file(&slide).unwrap(), (0xE306_9283, 9));
        assert_eq!(index.lookup(&slide), Some(0xE306_9283));
        // Another process (a second index on the same file) finds it.
        let other = ChecksumIndex::open(dir.join("idx/checksums.jsonl"));
        assert_eq!(other.lookup(&slide), Some(0xE306_9283));
        // Same size, new content and times: not taken.
        let slide = settled_file(&dir, "a.svs", b"987654321");
        assert_eq!(index.lookup(&slide), None);
        assert_eq!(
            index.crc32c_file(&slide).unwrap().0,
            crc32c::crc32c(b"987654321")
        );
        fs::remove_dir_all(dir).unwrap();
    }

    // Proves part checksums are kept only when they combine into the file's CRC32C, and
    // only for the layout they were recorded with.
    #[test]
    fn part_checksums_must_combine_into_the_file_checksum() {
        let dir = temp_dir("parts");
        let bytes: Vec<u8> = (0..10u8).collect();
        let slide = settled_file(&dir, "a.svs", &bytes);
        let index = ChecksumIndex::open(dir.join("checksums.jsonl"));
        let parts = vec![
            crc32c::crc32c(&bytes[..4]),
            crc32c::crc32c(&bytes[4..8]),
            crc32c::crc32c(&bytes[8..]),
        ];
        // Before the file's own entry exists nothing is kept.
        index.record_parts(&slide, 4, parts.clone());
        assert_eq!(index.parts(&slide, 4), None);
        index.crc32c_file(&slide).unwrap();
        let mut wrong = parts.clone();
        wrong[1] ^= 1;
        index.record_parts(&slide, 4, wrong);
        assert_eq!(index.parts(&slide, 4), None);
        index.record_parts(&slide, 4, parts[..2].to_vec());
        assert_eq!(index.parts(&slide, 4), None);
        index.record_parts(&slide, 4, parts.clone());
        assert_eq!(index.parts(&slide, 4), Some(parts.clone()));
        assert_eq!(index.parts(&slide, 5), None);
        let reopened = ChecksumIndex::open(dir.join("checksums.jsonl"));
        assert_eq!(reopened.parts(&slide, 4), Some(parts));
        assert_eq!(reopened.lookup(&slide), Some(crc32c::crc32c(&bytes)));
        fs::remove_dir_all(dir).unwrap();
    }

    // Proves a file modified just before (or while) it is read is not recorded: its time
    // cannot tell a later change apart.
    #[test]
    fn racily_clean_files_are_not_recorded() {
        let dir = temp_dir("racy");
        let slide = dir.join("fresh.svs");
        fs::write(&slide, b"fresh").unwrap();
        let index = ChecksumIndex::open(dir.join("checksums.jsonl"));
        index.crc32c_file(&slide).unwrap();
        assert_eq!(index.lookup(&slide), None);
        assert!(!dir.join("checksums.jsonl").exists());
        fs::remove_dir_all(dir).unwrap();
    }

    // Proves damaged, torn and forged lines are ignored, and that superseded lines are
    // dropped when the log is rewritten.
    #[test]
    fn damaged_lines_are_ignored_and_the_log_is_compacted() {
        let dir = temp_dir("damaged");
        let slide = settled_file(&dir, "a.svs", b"abc");
        let log = dir.join("checksums.jsonl");
        let index = ChecksumIndex::open(&log);
        index.crc32c_file(&slide).unwrap();
        let good = fs::read_to_string(&log).unwrap();
        // A forged CRC32C with the old check, a torn line, and garbage.
        let real = crc32c::crc32c(b"abc");
        let forged = good.replace(
            &format!("\"crc32c\":{real}"),
            &format!("\"crc32c\":{}", real ^ 1),
        );
        assert_ne!(forged, good);
        fs::write(
            &log,
            format!("{forged}{}\n\u{0}garbage\n", &good[..good.len() / 2]),
        )
        .unwrap();
        assert_eq!(ChecksumIndex::open(&log).lookup(&slide), None);
        // Many superseded lines are compacted away.
        fs::write(&log, good.repeat(3 * SLACK)).unwrap();
        let index = ChecksumIndex::open(&log);
        let other = settled_file(&dir, "b.svs", b"def");
        index.crc32c_file(&other).unwrap();
        let lines = fs::read_to_string(&log).unwrap().lines().count();
        assert_eq!(lines, 2);
        assert_eq!(ChecksumIndex::open(&log).lookup(&slide), Some(real));
        fs::remove_dir_all(dir).unwrap();
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        // Proves any bytes in the index file (damaged lines, random JSON-like text) load
        // without a panic, and that a line whose fields were altered is never taken. (NFR-16)
        #[test]
        fn any_index_file_loads_and_altered_lines_are_refused(
            noise in proptest::collection::vec(proptest::num::u8::ANY, 0..400),
            crc in proptest::num::u32::ANY,
            flip in 0usize..64,
        ) {
            let entry = Entry {
                path: "/slides/a.svs".into(),
                stamp: Stamp { size: 9, mtime_ns: 1, ctime_ns: 2, inode: 3, device: 4 },
                crc32c: crc,
                parts: None,
            };
            let good = line(&entry).unwrap();
            proptest::prop_assert_eq!(parse(&good[..good.len() - 1]), Some(entry.clone()));
            // One digit changed anywhere: refused, or (when it hit a digit) a different check.
            let mut bad = good.clone();
            let digits: Vec<usize> = (0..bad.len()).filter(|i| bad[*i].is_ascii_digit()).collect();
            let at = digits[flip % digits.len()];
            bad[at] = if bad[at] == b'9' { b'0' } else { bad[at] + 1 };
            proptest::prop_assert_ne!(parse(&bad[..bad.len() - 1]), Some(entry));
            let _ = parse(&noise);
            let mut state = State::default();
            let dir = std::env::temp_dir().join(format!("aignostics-prop-index-{}", std::process::id()));
            fs::create_dir_all(&dir).unwrap();
            let log = dir.join("checksums.jsonl");
            fs::write(&log, [&noise[..], b"\n", &good[..], &noise[..]].concat()).unwrap();
            let index = ChecksumIndex::open(&log);
            index.load(&mut state);
            proptest::prop_assert!(state.entries.len() <= 1);
            fs::remove_dir_all(&dir).unwrap();
        }
    }
}
