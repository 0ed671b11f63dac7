//! One artifact: skip when verified, else stream into an own part file with resume, verify,
//! rename.

use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::part::{self, Claim, Part};
use super::sizes::{self, Mismatch};
use super::{DownloadEvent, Engine, Job, abandoned};
use crate::checksum;
use crate::error::{Error, Result, TransportKind};
use crate::retry::{DeadlineExt, RetryPolicy};
use crate::signed_url;
use crate::transport::header;

/// Operation name in errors and logs (the error type words a storage host's 403 by it).
pub(crate) const OPERATION: &str = crate::error::STORAGE_OPERATION;

/// Bytes read from the socket and written to disk at a time: large enough for full speed, small
/// enough that memory stays constant.
const CHUNK: usize = 256 * 1024;

/// How a job ended when it did not fail.
pub(crate) enum Outcome {
    /// The final file was already there and verified (perhaps written by another download
    /// meanwhile).
    Skipped,
    /// Downloaded and verified; the file's size.
    Downloaded(u64),
}

/// What we know about the part file: its length and the CRC32C of those bytes.
#[derive(Clone, Copy)]
struct PartState {
    len: u64,
    crc: u32,
}

/// Whether the final file exists and matches the published checksum. A file that does not
/// match stays until a verified download is renamed over it.
fn verified(path: &Path, expected: &str) -> Result<bool> {
    match std::fs::metadata(path) {
        Ok(m) if m.is_file() => {
            let (crc, _) = checksum::crc32c_file(path).map_err(|e| Error::io(path, e))?;
            Ok(checksum::matches(expected, crc))
        }
        Ok(_) => Err(Error::io(
            path,
            io::Error::new(io::ErrorKind::AlreadyExists, "exists and is not a file"),
        )),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(path, e)),
    }
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
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    }
    if verified(&job.path, expected)? {
        return Ok(Outcome::Skipped);
    }
    // The file as it was when it failed verification (if it exists): while it is unchanged,
    // it need not be hashed again to know it is still not complete.
    let stale = std::fs::metadata(&job.path)
        .ok()
        .map(|m| (m.len(), m.modified().ok()));
    if stale.is_some() {
        log::warn!(
            "{} does not match its published checksum; downloading it again (the file stays \
             until the new one is verified)",
            job.path.display()
        );
    }
    let complete = || {
        let now = std::fs::metadata(&job.path)
            .ok()
            .map(|m| (m.len(), m.modified().ok()));
        if now.is_none() || now == stale {
            return Ok(false);
        }
        verified(&job.path, expected)
    };
    let mut part = match part::claim(&job.path, &complete, &|| engine.aborted())? {
        Claim::Done => return Ok(Outcome::Skipped),
        Claim::Part(part) => part,
    };
    let result = attempts(engine, job, expected, &mut part);
    match result {
        Ok(len) => {
            part.finish(&job.path)?;
            Ok(Outcome::Downloaded(len))
        }
        Err(err) => {
            // A part that failed its checksum twice holds nothing worth resuming.
            if matches!(err, Error::Checksum { .. }) {
                part.remove()?;
            } else {
                part.release()?;
            }
            Err(err)
        }
    }
}

/// The attempts of one artifact into `part`, returning the verified length; the part is
/// synced but not yet renamed.
fn attempts(engine: &Engine<'_>, job: &Job, expected: &str, part: &mut Part) -> Result<u64> {
    let artifact = engine.run.artifact(job.artifact_id.clone());
    let client = &engine.run.client;
    let policy = RetryPolicy::from(&client.api().settings().run);
    let mut state = hash_part(part)?;
    let mut checksum_retry_left = true;
    let mut longest = 0u64;
    // A link that keeps making progress is never given up on: an attempt that grew the part
    // past its longest length restarts the count (and the back-off). Any other failed attempt,
    // of the signed-URL lookup too, counts; after the configured attempts, or at the call's
    // deadline, the artifact fails.
    // A refused signed URL may have expired: the next attempt fetches a fresh one.
    let retryable = |err: &Error| {
        (err.is_retryable() || signed_url::is_refusal(err, OPERATION)) && !engine.aborted()
    };
    policy.run_until(OPERATION, retryable, client.deadline(), |attempt| loop {
        if engine.aborted() {
            return Err(abandoned());
        }
        // A fresh signed URL every attempt: an old one may have expired meanwhile.
        let url = artifact.download_url()?;
        match fetch(engine, job, &url, part, &mut state) {
            Ok(()) if checksum::matches(expected, state.crc) => return Ok(state.len),
            Ok(()) => {
                let actual = checksum::encode(state.crc);
                state = restart(part)?;
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
                if state.len > longest {
                    longest = state.len;
                    *attempt = 1;
                }
                log::warn!(
                    "{}: attempt {attempt} failed ({err}); resuming at byte {}",
                    job.path.display(),
                    state.len
                );
                return Err(err);
            }
        }
    })
}

/// The length and CRC32C of what the part holds (a picked-up part resumes after it).
fn hash_part(part: &mut Part) -> Result<PartState> {
    let path = part.path().to_path_buf();
    let file = part.file();
    file.seek(SeekFrom::Start(0))
        .map_err(|e| Error::io(&path, e))?;
    let (crc, len) = checksum::crc32c_reader(file).map_err(|e| Error::io(&path, e))?;
    Ok(PartState { len, crc })
}

/// Empties the part so the next bytes start the artifact from zero.
fn restart(part: &mut Part) -> Result<PartState> {
    let path = part.path().to_path_buf();
    part.file().set_len(0).map_err(|e| Error::io(&path, e))?;
    Ok(PartState { len: 0, crc: 0 })
}

/// One HTTP attempt: requests the rest of the artifact and appends it to the part, keeping
/// `state` in step with what is on disk; `Ok` once the body ended cleanly and the part is
/// synced.
fn fetch(
    engine: &Engine<'_>,
    job: &Job,
    url: &str,
    part: &mut Part,
    state: &mut PartState,
) -> Result<()> {
    let part_path = part.path().to_path_buf();
    let io_err = |e| Error::io(&part_path, e);

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
        header(&response, "content-length").and_then(|v| sizes::parse_content_length(&v));
    let content_range = header(&response, "content-range")
        .as_deref()
        .and_then(sizes::parse_content_range);
    let total = match status {
        206 => match sizes::total_of_partial(state.len, content_range, content_length) {
            Ok(total) => total,
            Err(Mismatch::OtherRange) => {
                // A range we did not ask for: never splice it in; start over next attempt.
                let asked = state.len;
                *state = restart(part)?;
                return Err(protocol(format!(
                    "the storage host answered a range other than bytes={asked}-"
                )));
            }
            Err(Mismatch::Length {
                range_len,
                content_length,
            }) => {
                return Err(protocol(if content_length > range_len {
                    format!(
                        "the storage host sent more bytes than announced: a body of \
                         {content_length} bytes for a range of {range_len}"
                    )
                } else {
                    format!(
                        "the storage host announced a body of {content_length} bytes for a \
                         range of {range_len}"
                    )
                }));
            }
        },
        200 => {
            if state.len > 0 {
                log::info!(
                    "{}: the storage host ignored the range request; downloading from zero",
                    job.path.display()
                );
                *state = restart(part)?;
            }
            content_length
        }
        416 if state.len > 0 => {
            if content_range.and_then(|r| r.total) == Some(state.len) {
                // The part already holds every byte (an earlier run stopped before renaming).
                part.file().sync_all().map_err(io_err)?;
                return Ok(());
            }
            *state = restart(part)?;
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
    let file = part.file();
    file.seek(SeekFrom::Start(state.len)).map_err(io_err)?;
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
        // Never store a byte past the announced end: what came before it is still checked by
        // the checksum, what comes after it belongs to no artifact.
        let room = total.map_or(u64::MAX, |t| t.saturating_sub(state.len));
        let keep = n.min(usize::try_from(room).unwrap_or(usize::MAX));
        let chunk = &buf[..keep];
        file.write_all(chunk).map_err(io_err)?;
        *state = PartState {
            len: state.len.saturating_add(keep as u64),
            crc: crc32c::crc32c_append(state.crc, chunk),
        };
        engine.emit(DownloadEvent::Bytes {
            path: job.path.clone(),
            received: state.len,
            total,
        });
        if keep < n {
            return Err(protocol(format!(
                "the storage host sent more bytes than announced ({} in all); the extra bytes \
                 were discarded",
                total.unwrap_or_default()
            )));
        }
    }
    if let Some(total) = total
        && state.len < total
    {
        return Err(Error::Transport {
            operation: OPERATION.to_string(),
            kind: TransportKind::TruncatedBody,
            message: format!("the body ended after {} of {total} bytes", state.len),
        });
    }
    file.sync_all().map_err(io_err)?;
    Ok(())
}

fn protocol(message: String) -> Error {
    Error::Transport {
        operation: OPERATION.to_string(),
        kind: TransportKind::Protocol,
        message,
    }
}
