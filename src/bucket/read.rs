//! Reading objects in place: byte ranges, and the object's CRC32C from the store's own
//! checksum when it holds the whole object's, else from one streamed pass over parallel ranges
//! (combined with `crc32c_combine`), never touching the disk.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use rusty_s3::S3Action;
use rusty_s3::actions::GetObject;
use serde::Serialize;

use super::upload::Head;
use super::{Bucket, REQUEST_VALIDITY, Req, check_key};
use crate::error::{Error, Result};

/// Range size of the checksum pass.
const CHUNK: u64 = 16 * 1024 * 1024;

/// Ranges of the checksum pass in flight at once.
const PARALLEL: usize = 4;

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
        let ranges = size.div_ceil(CHUNK).max(1) as usize;
        let parts: Vec<Mutex<Option<(u32, u64)>>> = (0..ranges).map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        let read = AtomicU64::new(0);
        let failed: Mutex<Option<Error>> = Mutex::new(None);
        let token = crate::cancel::current();
        std::thread::scope(|s| {
            for _ in 0..PARALLEL.min(ranges) {
                s.spawn(|| {
                    token.enter(|| {
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= ranges || lock(&failed).is_some() {
                                return;
                            }
                            let start = i as u64 * CHUNK;
                            let len = CHUNK.min(size - start.min(size));
                            match self.read_range(key, start, len) {
                                Ok(bytes) if bytes.len() as u64 == len => {
                                    read.fetch_add(len, Ordering::Relaxed);
                                    *lock(&parts[i]) = Some((crc32c::crc32c(&bytes), len));
                                }
                                Ok(bytes) => {
                                    *lock(&failed) = Some(Error::UnexpectedResponse {
                                        operation: "bucket_get_object_range".into(),
                                        message: format!(
                                            "`{key}` ended at {} of {size} bytes: it changed \
                                             while it was read",
                                            start + bytes.len() as u64
                                        ),
                                    });
                                    return;
                                }
                                Err(e) => {
                                    lock(&failed).get_or_insert(e);
                                    return;
                                }
                            }
                        }
                    });
                });
            }
        });
        if let Some(e) = lock(&failed).take() {
            return Err(e);
        }
        let mut crc = 0u32;
        for part in parts {
            let (c, len) = part
                .into_inner()
                .unwrap_or_else(|p| p.into_inner())
                .ok_or_else(|| Error::UnexpectedResponse {
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

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
