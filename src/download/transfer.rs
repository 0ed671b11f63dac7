//! One artifact: skip when verified, else stream into `<file>.part` with resume, verify, rename.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use std::cell::Cell;

use super::{DownloadEvent, Engine, Job};
use crate::checksum;
use crate::error::{Error, Result, TransportKind};
use crate::retry::{DeadlineExt, RetryPolicy};
use crate::signed_url;
use crate::transport::header;

/// Operation name in errors and logs.
pub(crate) const OPERATION: &str = "download_artifact";

/// Bytes read from the socket and written to disk at a time: large enough for full speed, small
/// enough that memory stays constant.
const CHUNK: usize = 256 * 1024;

/// How a job ended when it did not fail.
pub(crate) enum Outcome {
    /// The final file was already there and verified.
    Skipped,
    /// Downloaded and verified; the file's size.
    Downloaded(u64),
}

/// What we know about the `.part` file: its length and the CRC32C of those bytes.
#[derive(Clone, Copy)]
struct PartState {
    len: u64,
    crc: u32,
}

/// `<file>.part`.
fn part_path(path: &Path) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(".part");
    PathBuf::from(name)
}

/// Downloads one artifact (or proves it is already there).
pub(crate) fn download(engine: &Engine<'_>, job: &Job) -> Result<Outcome> {
    let Some(expected) = job.expected.as_deref() else {
        return Err(Error::UnexpectedResponse {
            operation: OPERATION.to_string(),
            message: format!(
                "artifact `{}` of item `{}` has no checksum metadata (`{}`), so it cannot be \
                 verified; not downloaded",
                job.artifact_name, job.external_id, engine.options.checksum_key
            ),
        });
    };
    if let Some(dir) = job.path.parent() {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    match fs::metadata(&job.path) {
        Ok(m) if m.is_file() => {
            let (crc, _) = checksum::crc32c_file(&job.path).map_err(|e| Error::io(&job.path, e))?;
            if checksum::matches(expected, crc) {
                return Ok(Outcome::Skipped);
            }
            log::warn!(
                "{} does not match its published checksum; downloading it again",
                job.path.display()
            );
            fs::remove_file(&job.path).map_err(|e| Error::io(&job.path, e))?;
        }
        Ok(_) => {
            return Err(Error::io(
                &job.path,
                io::Error::new(io::ErrorKind::AlreadyExists, "exists and is not a file"),
            ));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(Error::io(&job.path, e)),
    }

    let part = part_path(&job.path);
    let artifact = engine.run.artifact(job.artifact_id.clone());
    let client = &engine.run.client;
    let policy = RetryPolicy::from(&client.api().settings().run);
    let mut checksum_retry_left = true;
    let mut longest = 0u64;
    let mut known: Option<PartState> = None;
    // A link that keeps making progress is never given up on: an attempt that grew the part
    // past its longest length restarts the count (and the back-off). One that does not fails
    // after the configured attempts, or at the call's deadline.
    let unbounded = RetryPolicy {
        attempts: u32::MAX,
        ..policy
    };
    let stalled = Cell::new(0u32);
    let retryable =
        |err: &Error| err.is_retryable() && stalled.get() < policy.attempts && !engine.aborted();
    unbounded.run_until(OPERATION, retryable, client.deadline(), |attempt| loop {
        if engine.aborted() {
            return Err(abandoned());
        }
        // A fresh signed URL every attempt: an old one may have expired meanwhile. Failures
        // here were already retried by the API layer.
        let url = artifact.download_url()?;
        match fetch(engine, job, &url, &part, &mut known) {
            Ok(state) if checksum::matches(expected, state.crc) => {
                finish(&part, &job.path)?;
                return Ok(Outcome::Downloaded(state.len));
            }
            Ok(state) => {
                remove_part(&part)?;
                known = None;
                let actual = checksum::encode(state.crc);
                if checksum_retry_left {
                    checksum_retry_left = false;
                    log::warn!(
                        "{}: checksum {actual} does not match {expected}; downloading once more",
                        job.path.display()
                    );
                    continue;
                }
                return Err(Error::Checksum {
                    path: job.path.clone(),
                    expected: expected.to_string(),
                    actual,
                });
            }
            Err(err) => {
                let len = known.map_or(0, |k| k.len);
                if len > longest {
                    longest = len;
                    *attempt = 1;
                    stalled.set(0);
                }
                stalled.set(stalled.get() + 1);
                log::warn!(
                    "{}: attempt {attempt} failed ({err}); resuming at byte {len}",
                    job.path.display()
                );
                return Err(err);
            }
        }
    })
}

/// The error of a download stopped because the whole call is ending.
fn abandoned() -> Error {
    Error::UnexpectedResponse {
        operation: OPERATION.to_string(),
        message: "stopped before completion; the partial file is kept for resuming".to_string(),
    }
}

fn remove_part(part: &Path) -> Result<()> {
    match fs::remove_file(part) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => Err(Error::io(part, e)),
        _ => Ok(()),
    }
}

/// Moves the verified part into place (it was synced in `fetch`), then syncs the directory so
/// the rename itself survives a crash.
fn finish(part: &Path, path: &Path) -> Result<()> {
    fs::rename(part, path).map_err(|e| Error::io(path, e))?;
    #[cfg(unix)]
    if let Some(dir) = path.parent() {
        // Best effort: some file systems cannot sync directories.
        let _ = File::open(dir).and_then(|d| d.sync_all());
    }
    Ok(())
}

/// Opens the part file and works out where to resume: trusts `known` when the file still has
/// that length, otherwise hashes what is on disk.
fn open_part(part: &Path, known: &mut Option<PartState>) -> Result<(File, PartState)> {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(part)
        .map_err(|e| Error::io(part, e))?;
    let disk_len = file.metadata().map_err(|e| Error::io(part, e))?.len();
    let state = match *known {
        Some(k) if k.len == disk_len => k,
        _ => {
            let (crc, len) = checksum::crc32c_reader((&mut file).take(disk_len))
                .map_err(|e| Error::io(part, e))?;
            PartState { len, crc }
        }
    };
    *known = Some(state);
    Ok((file, state))
}

/// Empties the part file so the next bytes start the artifact from zero.
fn restart(file: &File, part: &Path, known: &mut Option<PartState>) -> Result<PartState> {
    file.set_len(0).map_err(|e| Error::io(part, e))?;
    let state = PartState { len: 0, crc: 0 };
    *known = Some(state);
    Ok(state)
}

/// One HTTP attempt: requests the rest of the artifact and appends it to the part file,
/// returning the length and CRC32C of the whole part once the body ended cleanly.
fn fetch(
    engine: &Engine<'_>,
    job: &Job,
    url: &str,
    part: &Path,
    known: &mut Option<PartState>,
) -> Result<PartState> {
    let (mut file, mut state) = open_part(part, known)?;

    let client = &engine.run.client;
    let header_timeout = client.deadline().cap(client.api().settings().run.timeout);
    let read_timeout = client.deadline().cap(engine.options.read_timeout);
    let response = signed_url::open(
        client.api(),
        OPERATION,
        url,
        state.len,
        header_timeout,
        read_timeout,
    )?;

    let status = response.status().as_u16();
    let content_length =
        header(&response, "content-length").and_then(|v| v.trim().parse::<u64>().ok());
    let content_range = header(&response, "content-range");
    let total = match status {
        206 => match content_range.as_deref().and_then(parse_content_range) {
            Some(range) if range.start == Some(state.len) => range
                .total
                .or_else(|| content_length.map(|n| state.len + n)),
            _ => {
                // A range we did not ask for: never splice it in; start over next attempt.
                restart(&file, part, known)?;
                return Err(protocol(format!(
                    "the storage host answered a range other than bytes={}-",
                    state.len
                )));
            }
        },
        200 => {
            if state.len > 0 {
                log::info!(
                    "{}: the storage host ignored the range request; downloading from zero",
                    job.path.display()
                );
                state = restart(&file, part, known)?;
            }
            content_length
        }
        416 if state.len > 0 => {
            let total = content_range
                .as_deref()
                .and_then(parse_content_range)
                .and_then(|r| r.total);
            if total == Some(state.len) {
                // The part already holds every byte (an earlier run stopped before renaming).
                file.sync_all().map_err(|e| Error::io(part, e))?;
                return Ok(state);
            }
            restart(&file, part, known)?;
            return Err(protocol(
                "the partial file is longer than the artifact; starting over".to_string(),
            ));
        }
        400..=599 => return Err(signed_url::refused(OPERATION, &response)),
        _ => {
            return Err(Error::UnexpectedResponse {
                operation: OPERATION.to_string(),
                message: format!("the storage host answered HTTP {status}"),
            });
        }
    };

    engine.emit(DownloadEvent::Started {
        path: job.path.clone(),
        total,
    });
    file.seek(SeekFrom::Start(state.len))
        .map_err(|e| Error::io(part, e))?;
    let mut body = response.into_body().into_reader();
    let mut buf = vec![0u8; CHUNK];
    loop {
        if engine.aborted() {
            return Err(abandoned());
        }
        if client.deadline().passed() {
            return Err(Error::Timeout {
                operation: OPERATION.to_string(),
                what: "the download's deadline passed; the partial file is kept for resuming"
                    .to_string(),
            });
        }
        let n = match body.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(Error::from_read(OPERATION, e)),
        };
        let chunk = &buf[..n];
        file.write_all(chunk).map_err(|e| Error::io(part, e))?;
        state = PartState {
            len: state.len + n as u64,
            crc: crc32c::crc32c_append(state.crc, chunk),
        };
        *known = Some(state);
        engine.emit(DownloadEvent::Bytes {
            path: job.path.clone(),
            received: state.len,
            total,
        });
    }
    if let Some(total) = total
        && state.len != total
    {
        return Err(Error::Transport {
            operation: OPERATION.to_string(),
            kind: TransportKind::TruncatedBody,
            message: format!("the body ended after {} of {total} bytes", state.len),
        });
    }
    file.sync_all().map_err(|e| Error::io(part, e))?;
    Ok(state)
}

fn protocol(message: String) -> Error {
    Error::Transport {
        operation: OPERATION.to_string(),
        kind: TransportKind::Protocol,
        message,
    }
}

/// A parsed `Content-Range` (`bytes START-END/TOTAL` or `bytes */TOTAL`).
#[derive(Debug, PartialEq, Eq)]
struct ContentRange {
    start: Option<u64>,
    total: Option<u64>,
}

fn parse_content_range(value: &str) -> Option<ContentRange> {
    let rest = value.trim().strip_prefix("bytes")?.trim_start();
    let (range, total) = rest.split_once('/')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    let start = match range.trim() {
        "*" => None,
        r => {
            let (start, end) = r.split_once('-')?;
            let start: u64 = start.trim().parse().ok()?;
            let end: u64 = end.trim().parse().ok()?;
            if end < start {
                return None;
            }
            Some(start)
        }
    };
    Some(ContentRange { start, total })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves Content-Range parsing accepts the RFC 9110 forms and rejects malformed ones. (FR-38, NFR-13)
    #[test]
    fn content_range() {
        let r = |start, total| Some(ContentRange { start, total });
        assert_eq!(
            parse_content_range("bytes 300000-999999/1000000"),
            r(Some(300_000), Some(1_000_000))
        );
        assert_eq!(parse_content_range("bytes 0-9/*"), r(Some(0), None));
        assert_eq!(parse_content_range("bytes */1000"), r(None, Some(1000)));
        assert_eq!(parse_content_range("bytes 9-0/10"), None);
        assert_eq!(parse_content_range("items 0-9/10"), None);
        assert_eq!(parse_content_range("bytes x-9/10"), None);
    }

    // Proves the part file sits next to the final file. (FR-38)
    #[test]
    fn part_next_to_file() {
        assert_eq!(
            part_path(Path::new("a/b/c.json")),
            PathBuf::from("a/b/c.json.part")
        );
    }
}
