//! Reading objects in place: byte ranges, and the object's CRC32C from the store's own
//! checksum when it holds the whole object's, else from one streamed pass over a few parallel
//! ranges (combined with `crc32c_combine`), never touching the disk.

use std::io::Read;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rusty_s3::S3Action;
use rusty_s3::actions::GetObject;
use serde::Serialize;

use super::upload::Head;
use super::{Bucket, REQUEST_VALIDITY, Req, check_key};
use crate::error::{Error, Result};

/// Smallest range of the checksum pass: smaller objects are read in fewer ranges.
const MIN_RANGE: u64 = 16 * 1024 * 1024;

/// Ranges of the checksum pass, all in flight at once, each streamed through a small buffer.
/// As few as give the parallelism: a store that reads the whole object for every range
/// request (some S3-compatible servers do) then pays a few reads, not one per 16 MiB.
const PARALLEL: u64 = 4;

/// Buffer of each streamed range.
const BUFFER: usize = 1024 * 1024;

/// Where an object's CRC32C came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ChecksumSource {
    /// The store's CRC32C of the whole object (`x-goog-hash`, or S3's full-object
    /// `x-amz-checksum-crc32c`): nothing was read.
    Store,
    /// The store holds none for the whole object (a plain upload, or a multipart upload's
    /// composite checksum, which is not the object's): the object was read once, in ranges.
    ReadWhole,
}

/// An object's size and CRC32C, and how they were found.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct ObjectChecksum {
    /// Size in bytes.
    pub size: u64,
    /// CRC32C in the platform's format (base64 of the big-endian digest).
    pub crc32c: String,
    /// Where it came from.
    pub source: ChecksumSource,
    /// Bytes of the object read to find it (0 from the store).
    pub bytes_read: u64,
}

impl Bucket {
    /// `len` bytes of `key` from `start` (fewer at the object's end), by one ranged `GET`.
    ///
    /// # Errors
    /// [`Error::Api`] (404 when there is no such object, 416 past its end), transport errors
    /// after retries, [`Error::UnexpectedResponse`] when the store answers another range.
    pub fn read_range(&self, key: &str, start: u64, len: u64) -> Result<Vec<u8>> {
        check_key(key)?;
        if len == 0 {
            return Ok(Vec::new());
        }
        let end = start.saturating_add(len - 1);
        let action = GetObject::new(&self.inner, Some(&self.credentials), key);
        let mut req = Req::new("GET", action.sign(REQUEST_VALIDITY));
        req.headers.push(("range", format!("bytes={start}-{end}")));
        let resp = self.request("bucket_get_object_range", req)?;
        // A store that ignores Range answers 200 with the whole object: take the range of it.
        let body = if resp.status == 200 {
            let from = usize::try_from(start)
                .unwrap_or(usize::MAX)
                .min(resp.body.len());
            let to = usize::try_from(end.saturating_add(1))
                .unwrap_or(usize::MAX)
                .min(resp.body.len());
            resp.body[from..to].to_vec()
        } else {
            resp.body
        };
        if body.len() as u64 > len {
            return Err(Error::UnexpectedResponse {
                operation: "bucket_get_object_range".into(),
                message: format!(
                    "asked for {len} bytes of `{key}` from {start}, got {}",
                    body.len()
                ),
            });
        }
        Ok(body)
    }

    /// The object's size and CRC32C: the store's own whole-object CRC32C when it has one,
    /// else computed from one pass over the object in parallel ranges (no disk).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when there is no such object; [`Error::Api`] for a refused
    /// request; transport errors after retries.
    pub fn object_crc32c(&self, key: &str) -> Result<ObjectChecksum> {
        check_key(key)?;
        let head = self.head(key)?.ok_or_else(|| {
            Error::InvalidInput(format!("no object `{key}` in bucket `{}`", self.name()))
        })?;
        self.checksum_of(key, &head)
    }

    /// [`object_crc32c`](Self::object_crc32c) of the object `key` whose `HEAD` answer is
    /// `head` (asked once by a caller that needed it anyway).
    pub(crate) fn checksum_of(&self, key: &str, head: &Head) -> Result<ObjectChecksum> {
        if let Some(crc) = head.crc() {
            return Ok(ObjectChecksum {
                size: head.size,
                crc32c: crate::checksum::encode(crc),
                source: ChecksumSource::Store,
                bytes_read: 0,
            });
        }
        let size = head.size;
        let ranges = PARALLEL.min(size.div_ceil(MIN_RANGE)).max(1);
        let span = size.div_ceil(ranges).max(1);
        let read = AtomicU64::new(0);
        let failed: Mutex<Option<Error>> = Mutex::new(None);
        let token = crate::cancel::current();
        let parts: Vec<Option<(u32, u64)>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..ranges)
                .map(|i| {
                    let (read, failed, token) = (&read, &failed, &token);
                    s.spawn(move || {
                        let start = (i * span).min(size);
                        let len = span.min(size - start);
                        token.enter(|| match self.crc_of_range_again(key, start, len, size) {
                            Ok(crc) => {
                                read.fetch_add(len, Ordering::Relaxed);
                                Some((crc, len))
                            }
                            Err(e) => {
                                lock(failed).get_or_insert(e);
                                None
                            }
                        })
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().ok().flatten())
                .collect()
        });
        if let Some(e) = lock(&failed).take() {
            return Err(naming(key, e));
        }
        let mut crc = 0u32;
        for part in parts {
            let (c, len) = part.ok_or_else(|| Error::UnexpectedResponse {
                operation: "bucket_get_object_range".into(),
                message: format!("a range of `{key}` was not read"),
            })?;
            crc = crc32c::crc32c_combine(crc, c, len as usize);
        }
        Ok(ObjectChecksum {
            size,
            crc32c: crate::checksum::encode(crc),
            source: ChecksumSource::ReadWhole,
            bytes_read: read.into_inner(),
        })
    }
}

impl Bucket {
    /// [`crc_of_range`](Self::crc_of_range) through the bucket's one retry loop: a request
    /// refused transiently, or a stream that breaks midway, is read again from its start.
    fn crc_of_range_again(&self, key: &str, start: u64, len: u64, size: u64) -> Result<u32> {
        self.attempts(
            "bucket_get_object_range",
            super::ATTEMPTS,
            |_| {},
            || self.crc_of_range(key, start, len, size),
        )
    }

    /// The CRC32C of `len` bytes of `key` from `start` (of an object of `size`), by one ranged
    /// `GET` streamed through a small buffer. A store that ignores `Range` answers the whole
    /// object: the bytes before `start` are skipped.
    fn crc_of_range(&self, key: &str, start: u64, len: u64, size: u64) -> Result<u32> {
        const OP: &str = "bucket_get_object_range";
        if len == 0 {
            return Ok(0);
        }
        let action = GetObject::new(&self.inner, Some(&self.credentials), key);
        let mut req = Req::new("GET", action.sign(REQUEST_VALIDITY));
        req.headers
            .push(("range", format!("bytes={start}-{}", start + len - 1)));
        req.stream = true;
        let resp = self.send(OP, req)?;
        let mut reader = resp
            .stream
            .ok_or_else(|| Error::UnexpectedResponse {
                operation: OP.into(),
                message: "no body".into(),
            })?
            .into_reader();
        if resp.status == 200 && start > 0 {
            let skipped = std::io::copy(&mut (&mut reader).take(start), &mut std::io::sink())
                .map_err(|e| Error::from_read(OP, e))?;
            if skipped < start {
                return Err(changed(key, skipped, size));
            }
        }
        let mut reader = reader.take(len);
        let mut buf = vec![0u8; BUFFER.min(usize::try_from(len).unwrap_or(BUFFER))];
        let (mut crc, mut got) = (0u32, 0u64);
        loop {
            match std::io::Read::read(&mut reader, &mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    crc = crc32c::crc32c_append(crc, &buf[..n]);
                    got += n as u64;
                }
                Err(e) => return Err(Error::from_read(OP, e)),
            }
        }
        if got < len {
            return Err(changed(key, start + got, size));
        }
        Ok(crc)
    }
}

/// `error` of the checksum pass, naming the object it was reading (a transport failure or a
/// timeout only names the operation).
fn naming(key: &str, error: Error) -> Error {
    match error {
        Error::Transport {
            operation,
            kind,
            message,
        } => Error::Transport {
            operation,
            kind,
            message: format!("{message} (reading `{key}` for its CRC32C)"),
        },
        Error::Timeout { operation, what } => Error::Timeout {
            operation,
            what: format!("{what}, reading `{key}` for its CRC32C"),
        },
        other => other,
    }
}

/// An object that ended early: it changed (or was cut) while it was read.
fn changed(key: &str, at: u64, size: u64) -> Error {
    Error::UnexpectedResponse {
        operation: "bucket_get_object_range".into(),
        message: format!("`{key}` ended at {at} of {size} bytes: it changed while it was read"),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
