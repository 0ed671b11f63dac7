//! Uploads: one `PUT` below a threshold, otherwise a multipart upload whose parts go in
//! parallel on plain threads, each worker reading only its own part range. A re-run finds the
//! in-progress multipart upload and sends only what is missing; a finished object with the
//! same CRC32C is skipped without sending a byte; the result is verified against the file.

use crate::checksum::hex;
use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use base64::Engine as _;
use md5::{Digest, Md5};
use rusty_s3::S3Action;
use rusty_s3::actions::{CreateMultipartUpload, PutObject, UploadPart};

use super::xml;
use super::{Bucket, REQUEST_VALIDITY, Req, Resp, check_key};
use crate::checksum::{self, ChecksumIndex};
use crate::error::{Error, Result};

/// Part size of multipart uploads unless set: 16 MiB (measured with `benches/upload.rs`, parts
/// of 8, 16 and 32 MiB with 4 in flight: larger parts gain nothing on loopback and cost
/// memory; smaller ones add per-request overhead).
pub const DEFAULT_PART_SIZE: u64 = 16 * 1024 * 1024;

/// Files up to this size go in one `PUT`: 16 MiB.
pub const DEFAULT_MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;

/// Parts in flight at once unless set.
pub const DEFAULT_CONCURRENCY: usize = 4;

/// The smallest part S3 accepts (all but the last): 5 MiB.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;

/// The most parts of one multipart upload.
const MAX_PARTS: u64 = 10_000;

/// The largest part S3 accepts: 5 GiB.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;

/// Metadata key holding the file's CRC32C (base64, as item metadata carries it).
pub(crate) const CRC_META: &str = "x-amz-meta-crc32c";

/// What happened to an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UploadOutcome {
    /// The object was sent from scratch.
    Uploaded,
    /// An interrupted multipart upload was found, every part it held matched the file, and
    /// it was completed.
    Resumed,
    /// The object was already there with the same size and CRC32C; nothing was sent.
    AlreadyPresent,
}

/// How the stored object was checked against the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verification {
    /// The store's CRC32C of the whole object (`x-goog-hash`, `x-amz-checksum-crc32c`).
    Crc32c,
    /// The store's composite CRC32C (the CRC32C of the parts' CRC32Cs, `…-N`).
    CompositeCrc32c,
    /// The store's ETag: the MD5 of the object, or of the parts' MD5s for a multipart upload.
    Etag,
}

/// The result of [`Upload::send`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadReport {
    /// The object key.
    pub key: String,
    /// The file's size in bytes.
    pub size: u64,
    /// The file's CRC32C in the platform's format (base64 of the big-endian digest): the
    /// `checksum_base64_crc32c` of the item's metadata.
    pub crc32c: String,
    /// Uploaded, resumed or already present.
    pub outcome: UploadOutcome,
    /// Requests that carried file bytes (parts or the single `PUT`), retries included.
    pub parts_sent: u32,
    /// Parts of an interrupted upload that were already stored and matched the file.
    pub parts_reused: u32,
    /// File bytes sent, retries included.
    pub bytes_sent: u64,
    /// File bytes read, to check checksums and to send (0 when the object was proven
    /// present from the checksum index).
    pub bytes_read: u64,
    /// How the stored object was checked.
    pub verification: Verification,
}

/// One step of an upload, for progress output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum UploadEvent {
    /// The plan is known: `parts` parts (1 for a single `PUT`).
    Started {
        /// Number of parts.
        parts: u32,
    },
    /// A part already stored by an interrupted run matched the file and was kept.
    PartReused {
        /// Part number, from 1.
        number: u32,
    },
    /// A part was stored.
    PartSent {
        /// Part number, from 1.
        number: u32,
    },
    /// A part failed and is sent again.
    Retrying {
        /// Part number, from 1.
        number: u32,
        /// The attempt about to start (2 = first retry).
        attempt: u32,
    },
    /// An interrupted upload held a part that differs from the file; it was aborted and
    /// the upload starts over.
    Restarted,
    /// The object was already there; nothing is sent.
    Skipped,
    /// The object is stored and verified.
    Completed,
}

/// Progress of one upload: the event and the bytes accounted for so far.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct UploadProgress {
    /// The object key.
    pub key: String,
    /// What just happened.
    pub event: UploadEvent,
    /// Bytes stored or reused so far.
    pub bytes_done: u64,
    /// The file's size.
    pub bytes_total: u64,
}

type ProgressFn<'a> = Box<dyn Fn(&UploadProgress) + Send + Sync + 'a>;

/// An upload of one file to one key; options as builder methods, then [`Upload::send`].
pub struct Upload<'a> {
    bucket: &'a Bucket,
    path: PathBuf,
    key: String,
    part_size: u64,
    threshold: u64,
    concurrency: usize,
    attempts: u32,
    crc32c: Option<String>,
    index: Option<&'a ChecksumIndex>,
    progress: Option<ProgressFn<'a>>,
    /// File bytes read so far.
    read: AtomicU64,
}

impl std::fmt::Debug for Upload<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Upload")
            .field("bucket", &self.bucket.name())
            .field("path", &self.path)
            .field("key", &self.key)
            .field("part_size", &self.part_size)
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl Bucket {
    /// An upload of the file at `path` to `key` (see [`KeyTemplate`](super::KeyTemplate)).
    /// Nothing happens until [`Upload::send`].
    pub fn upload(&self, path: impl AsRef<Path>, key: &str) -> Upload<'_> {
        Upload {
            bucket: self,
            path: path.as_ref().to_path_buf(),
            key: key.to_string(),
            part_size: DEFAULT_PART_SIZE,
            threshold: DEFAULT_MULTIPART_THRESHOLD,
            concurrency: DEFAULT_CONCURRENCY,
            attempts: 4,
            crc32c: None,
            index: None,
            progress: None,
            read: AtomicU64::new(0),
        }
    }
}

impl<'a> Upload<'a> {
    /// Part size of a multipart upload (at least [`MIN_PART_SIZE`]; raised when the file
    /// would need more than 10 000 parts). Memory use is about `concurrency × part_size`.
    pub fn part_size(mut self, bytes: u64) -> Self {
        self.part_size = bytes;
        self
    }

    /// Files up to this size go in one `PUT` (default [`DEFAULT_MULTIPART_THRESHOLD`]).
    pub fn multipart_threshold(mut self, bytes: u64) -> Self {
        self.threshold = bytes;
        self
    }

    /// Parts in flight at once (default [`DEFAULT_CONCURRENCY`], at least 1).
    pub fn concurrency(mut self, threads: usize) -> Self {
        self.concurrency = threads.max(1);
        self
    }

    /// Tries per request before the upload fails (default 4, at least 1); a failed upload
    /// resumes where it stopped when sent again.
    pub fn attempts(mut self, attempts: u32) -> Self {
        self.attempts = attempts.max(1);
        self
    }

    /// The file's CRC32C (base64) when already known, e.g. from slide inspection, which
    /// saves one read of the file. The upload still checks every byte it sends against it.
    pub fn crc32c(mut self, base64: &str) -> Self {
        self.crc32c = Some(base64.to_string());
        self
    }

    /// Takes the file's CRC32C from `index` while the file is unchanged (see
    /// [`ChecksumIndex`]): an object the store reports with that whole-object CRC32C is then
    /// known to be present without reading the file.
    pub fn checksum_index(mut self, index: &'a ChecksumIndex) -> Self {
        self.index = Some(index);
        self
    }

    /// Calls `f` for every [`UploadEvent`], from the worker threads.
    pub fn on_progress(mut self, f: impl Fn(&UploadProgress) + Send + Sync + 'a) -> Self {
        self.progress = Some(Box::new(f));
        self
    }

    /// Uploads (or resumes, or skips) and verifies.
    ///
    /// # Errors
    /// [`Error::Io`] for the file; [`Error::Api`] with the store's code for a refused
    /// request; [`Error::Transport`]/[`Error::Timeout`] after the last attempt (send again to
    /// resume); [`Error::Checksum`] when the stored object does not match the file (it was
    /// deleted); [`Error::InvalidInput`] when another object already holds the key.
    pub fn send(self) -> Result<UploadReport> {
        check_key(&self.key)?;
        let size = std::fs::metadata(&self.path)
            .map_err(|e| Error::io(&self.path, e))?
            .len();
        let part_size = if size <= self.threshold {
            size.max(1)
        } else {
            self.part_size
                .clamp(MIN_PART_SIZE, MAX_PART_SIZE)
                .max(size.div_ceil(MAX_PARTS))
        };
        let plan = Plan {
            size,
            part_size,
            parts: size.div_ceil(part_size).max(1) as u32,
            multipart: size > self.threshold,
        };
        let given =
            match &self.crc32c {
                Some(given) => Some(checksum::decode(given).ok_or_else(|| {
                    Error::InvalidInput(format!("`{given}` is not a base64 CRC32C"))
                })?),
                None => None,
            };
        let ctx = Ctx {
            up: &self,
            plan,
            done: AtomicU64::new(0),
            sent_parts: AtomicU64::new(0),
            sent_bytes: AtomicU64::new(0),
        };

        if let Some(head) = self.bucket.head(&self.key)? {
            match ctx.existing(&head, given)? {
                Existing::Same(crc, how) => {
                    ctx.done.store(size, Ordering::Relaxed);
                    ctx.emit(UploadEvent::Started { parts: plan.parts });
                    ctx.emit(UploadEvent::Skipped);
                    return Ok(ctx.report(
                        checksum::encode(crc),
                        UploadOutcome::AlreadyPresent,
                        0,
                        how,
                    ));
                }
                // The object claims this file's CRC32C but the store cannot prove it holds
                // these bytes: it is replaced by a verified upload.
                Existing::Unproven(crc) => return ctx.upload(crc),
            }
        }
        let crc = match given {
            Some(crc) => crc,
            None => self.file_crc(&plan)?,
        };
        ctx.upload(crc)
    }

    /// The file's CRC32C, read in parallel part ranges (the hardware CRC keeps this at disk
    /// speed).
    fn file_crc(&self, plan: &Plan) -> Result<u32> {
        Ok(combine(&self.file_parts(plan, false)?))
    }

    /// The CRC32C (and with `md5`, the MD5) of each part range of the file as it is now, read
    /// in parallel.
    fn file_parts(&self, plan: &Plan, md5: bool) -> Result<Vec<Part>> {
        let parts: Vec<Mutex<Option<Part>>> = (0..plan.parts).map(|_| Mutex::new(None)).collect();
        let next = AtomicUsize::new(0);
        let failed: Mutex<Option<Error>> = Mutex::new(None);
        let token = crate::cancel::current();
        std::thread::scope(|s| {
            for _ in 0..self.concurrency.min(plan.parts as usize) {
                s.spawn(|| {
                    token.enter(|| {
                        let mut file = match File::open(&self.path) {
                            Ok(f) => f,
                            Err(e) => return fail(&failed, Error::io(&self.path, e)),
                        };
                        let mut buf = vec![0u8; CHUNK];
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= plan.parts as usize || lock(&failed).is_some() {
                                return;
                            }
                            let number = i as u32 + 1;
                            let (start, len) = plan.range(number);
                            match digest_range(&mut file, start, len, &mut buf, md5) {
                                Ok((crc, md5)) => {
                                    self.read.fetch_add(len, Ordering::Relaxed);
                                    *lock(&parts[i]) = Some(Part {
                                        number,
                                        etag: String::new(),
                                        md5,
                                        crc,
                                        len,
                                    })
                                }
                                Err(e) => return fail(&failed, Error::io(&self.path, e)),
                            }
                        }
                    })
                });
            }
        });
        if let Some(e) = lock(&failed).take() {
            return Err(e);
        }
        parts
            .into_iter()
            .map(|p| p.into_inner().unwrap_or_else(|e| e.into_inner()))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| unexpected("bucket_upload", "a part range was not read"))
    }
}

/// What an object already under the key is to this upload.
enum Existing {
    /// It holds the file (whose CRC32C is given), as the store's own checksum shows.
    Same(u32, Verification),
    /// It claims the file's CRC32C in its metadata, but the store's own checksums do not
    /// show that it holds these bytes.
    Unproven(u32),
}

/// Read size when hashing.
const CHUNK: usize = 1024 * 1024;

/// The part layout.
#[derive(Debug, Clone, Copy)]
struct Plan {
    size: u64,
    part_size: u64,
    parts: u32,
    multipart: bool,
}

impl Plan {
    /// Offset and length of part `number` (from 1).
    fn range(&self, number: u32) -> (u64, u64) {
        let start = (u64::from(number) - 1) * self.part_size;
        (start, self.part_size.min(self.size - start.min(self.size)))
    }
}

/// A stored part: number, ETag, MD5 and CRC32C of its bytes, length.
#[derive(Debug, Clone)]
struct Part {
    number: u32,
    etag: String,
    md5: [u8; 16],
    crc: u32,
    len: u64,
}

/// One upload in progress.
struct Ctx<'u, 'a> {
    up: &'u Upload<'a>,
    plan: Plan,
    done: AtomicU64,
    sent_parts: AtomicU64,
    sent_bytes: AtomicU64,
}

impl Ctx<'_, '_> {
    /// Uploads the file whose CRC32C is `crc`, verifies the stored object and reports.
    fn upload(&self, crc: u32) -> Result<UploadReport> {
        self.emit(UploadEvent::Started {
            parts: self.plan.parts,
        });
        let (outcome, reused, parts) = if self.plan.multipart {
            self.multipart(crc)?
        } else {
            (UploadOutcome::Uploaded, 0, vec![self.single(crc)?])
        };
        let how = self.verify(crc, &parts)?;
        self.remember_parts(&self.plan, &parts);
        self.emit(UploadEvent::Completed);
        Ok(self.report(checksum::encode(crc), outcome, reused, how))
    }

    /// Decides about an object already under the key by the store's own checksums of it,
    /// compared with the file as it is now (read once per candidate part layout; a given
    /// CRC32C is checked against it).
    fn existing(&self, head: &Head, given: Option<u32>) -> Result<Existing> {
        let up = self.up;
        // A given CRC32C must be the file's before anything is decided.
        let checked = |crc: u32| match given {
            Some(given) if given != crc => Err(self.stale_checksum(given, crc)),
            _ => Ok(crc),
        };
        if let Some(same) = self.indexed(head) {
            return Ok(Existing::Same(checked(same.0)?, same.1));
        }
        let mut crc = None;
        for plan in self.layouts(head) {
            // A whole-object CRC32C from the store needs no MD5; the ETag and the composite
            // checksum need each part's digests in the stored object's layout.
            let parts = up.file_parts(&plan, head.crc().is_none())?;
            self.remember_parts(&plan, &parts);
            let file_crc = checked(combine(&parts))?;
            crc = Some(file_crc);
            if head.size == self.plan.size
                && let Some(how) = head.matches(file_crc, &parts, plan.multipart)
            {
                return Ok(Existing::Same(file_crc, how));
            }
        }
        let crc = match crc {
            Some(crc) => crc,
            None => checked(up.file_crc(&self.plan)?)?,
        };
        if head.recorded == Some(crc) {
            return Ok(Existing::Unproven(crc));
        }
        Err(Error::InvalidInput(format!(
            "another object ({} bytes, other content) already holds the key `{}`; choose \
             another key or delete it",
            head.size, up.key
        )))
    }

    /// The file's CRC32C and how the store's own CRC32C (whole or composite) shows it holds
    /// the file, from the checksum index alone (no read of the file), when the index knows the
    /// unchanged file in a layout the object may have.
    fn indexed(&self, head: &Head) -> Option<(u32, Verification)> {
        let index = self.up.index?;
        let crc = index.lookup(&self.up.path)?;
        if head.size != self.plan.size || (head.goog.is_none() && head.amz.is_none()) {
            return None;
        }
        if head.crc() == Some(crc) {
            return Some((crc, Verification::Crc32c));
        }
        self.layouts(head).into_iter().find_map(|plan| {
            let crcs = index.parts(&self.up.path, plan.part_size)?;
            let parts: Vec<Part> = (1..)
                .zip(crcs)
                .map(|(number, crc)| Part {
                    number,
                    etag: String::new(),
                    md5: [0; 16],
                    crc,
                    len: plan.range(number).1,
                })
                .collect();
            let how = head.matches(crc, &parts, plan.multipart)?;
            Some((crc, how))
        })
    }

    /// Keeps the part checksums of a multipart layout in the checksum index, if any.
    fn remember_parts(&self, plan: &Plan, parts: &[Part]) {
        if let Some(index) = self.up.index
            && plan.multipart
        {
            index.record_parts(
                &self.up.path,
                plan.part_size,
                parts.iter().map(|p| p.crc).collect(),
            );
        }
    }

    /// The part layouts the stored object may have been uploaded with: one part for a single
    /// `PUT`; for `N` parts, those of this upload's part sizes and the common defaults (16, 8
    /// and 5 MiB) that cut the file into exactly `N` parts. Empty when none fits (then only a
    /// whole-object checksum can prove the object).
    fn layouts(&self, head: &Head) -> Vec<Plan> {
        let size = self.plan.size;
        if head.crc().is_some() {
            return vec![self.plan];
        }
        let stored_parts = head.amz_parts.or_else(|| {
            let etag = head.etag.as_deref()?.trim_matches('"');
            etag.rsplit_once('-')?.1.parse().ok()
        });
        let Some(n) = stored_parts else {
            return vec![Plan {
                size,
                part_size: size.max(1),
                parts: 1,
                multipart: false,
            }];
        };
        let sizes = [
            self.plan.part_size,
            self.up.part_size.clamp(MIN_PART_SIZE, MAX_PART_SIZE),
            DEFAULT_PART_SIZE,
            8 * 1024 * 1024,
            MIN_PART_SIZE,
        ];
        let mut plans: Vec<Plan> = Vec::new();
        for part_size in sizes {
            if size.div_ceil(part_size) == u64::from(n)
                && !plans.iter().any(|p| p.part_size == part_size)
            {
                plans.push(Plan {
                    size,
                    part_size,
                    parts: n,
                    multipart: true,
                });
            }
        }
        plans
    }

    /// The error for a file whose bytes do not have the CRC32C it was uploaded with.
    fn stale_checksum(&self, given: u32, actual: u32) -> Error {
        Error::Checksum {
            path: self.up.path.clone(),
            expected: format!(
                "{} (the CRC32C given for the file; nothing was stored)",
                checksum::encode(given)
            ),
            actual: checksum::encode(actual),
        }
    }

    fn emit(&self, event: UploadEvent) {
        if let Some(f) = &self.up.progress {
            f(&UploadProgress {
                key: self.up.key.clone(),
                event,
                bytes_done: self.done.load(Ordering::Relaxed),
                bytes_total: self.plan.size,
            });
        }
    }

    fn report(
        &self,
        crc32c: String,
        outcome: UploadOutcome,
        reused: u32,
        verification: Verification,
    ) -> UploadReport {
        UploadReport {
            key: self.up.key.clone(),
            size: self.plan.size,
            crc32c,
            outcome,
            parts_sent: self.sent_parts.load(Ordering::Relaxed) as u32,
            parts_reused: reused,
            bytes_sent: self.sent_bytes.load(Ordering::Relaxed),
            bytes_read: self.up.read.load(Ordering::Relaxed),
            verification,
        }
    }

    /// Sends the request `make` builds (part `number`, 0 for none) through the bucket's
    /// retry loop, up to the upload's attempts, reporting each retry.
    fn retried<'b>(
        &self,
        op: &'static str,
        number: u32,
        make: impl Fn() -> Req<'b>,
    ) -> Result<Resp> {
        self.up.bucket.call(
            op,
            self.up.attempts,
            |attempt| self.emit(UploadEvent::Retrying { number, attempt }),
            make,
        )
    }

    /// The whole file in one `PUT`, only when its bytes have the CRC32C `crc`.
    fn single(&self, crc: u32) -> Result<Part> {
        let up = self.up;
        let mut file = File::open(&up.path).map_err(|e| Error::io(&up.path, e))?;
        let mut buf = Vec::with_capacity(self.plan.size as usize);
        (&mut file)
            .take(self.plan.size)
            .read_to_end(&mut buf)
            .map_err(|e| Error::io(&up.path, e))?;
        up.read.fetch_add(buf.len() as u64, Ordering::Relaxed);
        let part = digest(1, &buf);
        if part.crc != crc {
            return Err(self.stale_checksum(crc, part.crc));
        }
        let crc_b64 = checksum::encode(crc);
        let b = up.bucket;
        let resp = self.retried("bucket_put_object", 1, || {
            let mut action = PutObject::new(&b.inner, Some(&b.credentials), &up.key);
            action.headers_mut().insert(CRC_META, crc_b64.clone());
            let crc_header = b.part_checksums.then(|| crate::checksum::encode(part.crc));
            if let Some(c) = &crc_header {
                action
                    .headers_mut()
                    .insert("x-amz-checksum-crc32c", c.clone());
            }
            let mut req = Req::new("PUT", action.sign(REQUEST_VALIDITY));
            req.headers.push((CRC_META, crc_b64.clone()));
            if let Some(c) = crc_header {
                req.headers.push(("x-amz-checksum-crc32c", c));
            }
            req.headers.push(("content-md5", b64(&part.md5)));
            req.body = Some(&buf);
            self.count_sent(buf.len() as u64);
            req
        })?;
        self.done.store(self.plan.size, Ordering::Relaxed);
        self.emit(UploadEvent::PartSent { number: 1 });
        Ok(Part {
            etag: resp.header("etag").unwrap_or_default().to_string(),
            ..part
        })
    }

    fn count_sent(&self, bytes: u64) {
        self.sent_parts.fetch_add(1, Ordering::Relaxed);
        self.sent_bytes.fetch_add(bytes, Ordering::Relaxed);
    }

    /// A multipart upload, resumed when one is in progress for the key. A resumed upload
    /// holding a part that differs from the file (tampered with, or the file changed since)
    /// is not trusted: it is aborted and the upload starts over. So is a resumed upload
    /// whose metadata records another CRC32C (the file changed in a part not yet sent): the
    /// object holds the new bytes but would name the old checksum, so it is deleted and sent
    /// again. Parts whose bytes do not have the CRC32C `crc` are never completed.
    fn multipart(&self, crc: u32) -> Result<(UploadOutcome, u32, Vec<Part>)> {
        let up = self.up;
        let b = up.bucket;
        if let Some(id) = b.find_upload(&up.key)? {
            let existing = b
                .list_parts(&up.key, &id)?
                .into_iter()
                .map(|p| (p.number, p))
                .collect();
            match self.parts(&id, &existing)? {
                Some((parts, reused)) => {
                    self.complete(crc, &id, &parts)?;
                    let recorded = b.head(&up.key)?.and_then(|h| h.recorded);
                    if recorded == Some(crc) {
                        return Ok((UploadOutcome::Resumed, reused, parts));
                    }
                    b.delete(&up.key)?;
                }
                None => b.abort_upload(&up.key, &id)?,
            }
            self.done.store(0, Ordering::Relaxed);
            self.emit(UploadEvent::Restarted);
        }
        let id = self.create(crc)?;
        let (parts, _) = self
            .parts(&id, &std::collections::HashMap::new())?
            .ok_or_else(|| unexpected("bucket_upload_part", "a new upload had stored parts"))?;
        self.complete(crc, &id, &parts)?;
        Ok((UploadOutcome::Uploaded, 0, parts))
    }

    /// `CreateMultipartUpload`, recording the file's CRC32C in the object's metadata.
    fn create(&self, crc: u32) -> Result<String> {
        let b = self.up.bucket;
        let mut action = CreateMultipartUpload::new(&b.inner, Some(&b.credentials), &self.up.key);
        let crc_b64 = crate::checksum::encode(crc);
        action.headers_mut().insert(CRC_META, crc_b64.clone());
        if b.part_checksums {
            action
                .headers_mut()
                .insert("x-amz-checksum-algorithm", "CRC32C");
        }
        let mut req = Req::new("POST", action.sign(REQUEST_VALIDITY));
        req.headers.push((CRC_META, crc_b64));
        if b.part_checksums {
            req.headers
                .push(("x-amz-checksum-algorithm", "CRC32C".to_string()));
        }
        let resp = self.retried("bucket_create_multipart_upload", 0, || req.clone())?;
        let text = resp.text();
        Ok(CreateMultipartUpload::parse_response(&text)
            .map_err(|e| unexpected("bucket_create_multipart_upload", e))?
            .upload_id()
            .to_string())
    }

    /// Every part of upload `upload_id`, in parallel: kept when `existing` holds it with the
    /// same bytes, else sent. `None` when an existing part differs from the file.
    fn parts(
        &self,
        upload_id: &str,
        existing: &std::collections::HashMap<u32, xml::PartEntry>,
    ) -> Result<Option<(Vec<Part>, u32)>> {
        let up = self.up;
        let parts: Vec<Mutex<Option<Part>>> =
            (0..self.plan.parts).map(|_| Mutex::new(None)).collect();
        let reused = AtomicU64::new(0);
        let next = AtomicUsize::new(0);
        let failed: Mutex<Option<Error>> = Mutex::new(None);
        let stop = AtomicBool::new(false);
        let differs = AtomicBool::new(false);
        // The workers share the caller's cancellation (a dropped async upload stops them).
        let token = crate::cancel::current();
        std::thread::scope(|s| {
            for _ in 0..up.concurrency.min(self.plan.parts as usize) {
                s.spawn(|| {
                    token.enter(|| {
                        let mut file = match File::open(&up.path) {
                            Ok(f) => f,
                            Err(e) => return fail(&failed, Error::io(&up.path, e)),
                        };
                        // One part-sized buffer per worker, reused for every part it sends.
                        let mut buf = Vec::with_capacity(self.plan.part_size as usize);
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed);
                            if i >= self.plan.parts as usize || stop.load(Ordering::Relaxed) {
                                return;
                            }
                            let number = i as u32 + 1;
                            match self.part(&mut file, &mut buf, number, upload_id, existing) {
                                Ok(Some((part, was_reused))) => {
                                    self.done.fetch_add(part.len, Ordering::Relaxed);
                                    if was_reused {
                                        reused.fetch_add(1, Ordering::Relaxed);
                                        self.emit(UploadEvent::PartReused { number });
                                    } else {
                                        self.emit(UploadEvent::PartSent { number });
                                    }
                                    *lock(&parts[i]) = Some(part);
                                }
                                Ok(None) => {
                                    differs.store(true, Ordering::Relaxed);
                                    stop.store(true, Ordering::Relaxed);
                                    return;
                                }
                                Err(e) => {
                                    stop.store(true, Ordering::Relaxed);
                                    return fail(&failed, e);
                                }
                            }
                        }
                    })
                });
            }
        });
        if let Some(e) = lock(&failed).take() {
            return Err(e);
        }
        if differs.load(Ordering::Relaxed) {
            return Ok(None);
        }
        let parts: Vec<Part> = parts
            .into_iter()
            .map(|p| p.into_inner().unwrap_or_else(|e| e.into_inner()))
            .collect::<Option<_>>()
            .ok_or_else(|| unexpected("bucket_upload_part", "a part was not uploaded"))?;
        Ok(Some((parts, reused.load(Ordering::Relaxed) as u32)))
    }

    /// Part `number`: kept when the interrupted upload stored the same bytes, else sent.
    fn part(
        &self,
        file: &mut File,
        buf: &mut Vec<u8>,
        number: u32,
        upload_id: &str,
        existing: &std::collections::HashMap<u32, xml::PartEntry>,
    ) -> Result<Option<(Part, bool)>> {
        let up = self.up;
        let (start, len) = self.plan.range(number);
        buf.resize(len as usize, 0);
        file.seek(SeekFrom::Start(start))
            .and_then(|_| file.read_exact(buf))
            .map_err(|e| match e.kind() {
                std::io::ErrorKind::UnexpectedEof => Error::io(
                    &up.path,
                    std::io::Error::new(e.kind(), "the file shrank during the upload"),
                ),
                _ => Error::io(&up.path, e),
            })?;
        up.read.fetch_add(len, Ordering::Relaxed);
        let part = digest(number, buf);
        if let Some(stored) = existing.get(&number) {
            let crc_ok = stored
                .crc32c
                .as_deref()
                .is_none_or(|c| checksum::decode(c) == Some(part.crc));
            if stored.size != len || !crc_ok || !etag_is_md5(&stored.etag, &part.md5) {
                return Ok(None);
            }
            return Ok(Some((
                Part {
                    etag: stored.etag.clone(),
                    ..part
                },
                true,
            )));
        }
        let b = up.bucket;
        let crc_header = b.part_checksums.then(|| crate::checksum::encode(part.crc));
        let resp = self.retried("bucket_upload_part", number, || {
            let mut action = UploadPart::new(
                &b.inner,
                Some(&b.credentials),
                &up.key,
                number as u16,
                upload_id,
            );
            if let Some(c) = &crc_header {
                action
                    .headers_mut()
                    .insert("x-amz-checksum-crc32c", c.clone());
            }
            let mut req = Req::new("PUT", action.sign(REQUEST_VALIDITY));
            if let Some(c) = &crc_header {
                req.headers.push(("x-amz-checksum-crc32c", c.clone()));
            }
            req.headers.push(("content-md5", b64(&part.md5)));
            req.body = Some(buf.as_slice());
            self.count_sent(len);
            req
        })?;
        let etag = resp
            .header("etag")
            .ok_or_else(|| unexpected("bucket_upload_part", "the store sent no ETag for a part"))?
            .to_string();
        Ok(Some((Part { etag, ..part }, false)))
    }

    /// `CompleteMultipartUpload` when the parts' bytes have the CRC32C `crc`; otherwise the
    /// upload is aborted, so no object with other bytes than its checksum names is made. S3
    /// may answer 200 with an error document.
    fn complete(&self, crc: u32, upload_id: &str, parts: &[Part]) -> Result<()> {
        let up = self.up;
        let b = up.bucket;
        let sent = combine(parts);
        if sent != crc {
            b.abort_upload(&up.key, upload_id)?;
            return Err(self.stale_checksum(crc, sent));
        }
        let crcs: Vec<Option<String>> = parts
            .iter()
            .map(|p| b.part_checksums.then(|| crate::checksum::encode(p.crc)))
            .collect();
        let body = xml::complete_body(
            parts
                .iter()
                .zip(&crcs)
                .map(|(p, c)| (p.number, p.etag.as_str(), c.as_deref())),
        );
        let action = rusty_s3::actions::CompleteMultipartUpload::new(
            &b.inner,
            Some(&b.credentials),
            &up.key,
            upload_id,
            std::iter::empty::<&str>(),
        );
        let url = action.sign(REQUEST_VALIDITY);
        let resp = self.retried("bucket_complete_multipart_upload", 0, || {
            let mut req = Req::new("POST", url.clone());
            req.body = Some(body.as_bytes());
            req
        })?;
        let text = resp.text();
        if text.contains("<Error>") {
            let headers = ureq::http::HeaderMap::new();
            return Err(super::s3_error(
                "bucket_complete_multipart_upload",
                500,
                &headers,
                text.as_bytes(),
            ));
        }
        Ok(())
    }

    /// Checks the stored object against the file; a mismatch removes the object.
    fn verify(&self, crc: u32, parts: &[Part]) -> Result<Verification> {
        let up = self.up;
        let head = up.bucket.head(&up.key)?.ok_or_else(|| {
            unexpected(
                "bucket_head_object",
                "the object is missing after its upload",
            )
        })?;
        let checked = if head.size != self.plan.size {
            Err(format!("{} bytes stored", head.size))
        } else if let Some(recorded) = head.recorded.filter(|&r| r != crc) {
            Err(format!(
                "metadata recording CRC32C {}",
                checksum::encode(recorded)
            ))
        } else {
            match head.matches(crc, parts, self.plan.multipart) {
                Some(how) => Ok(how),
                None => Err(head.describe()),
            }
        };
        match checked {
            Ok(how) => Ok(how),
            Err(actual) => {
                let _ = up.bucket.delete(&up.key);
                Err(Error::Checksum {
                    path: up.path.clone(),
                    expected: format!(
                        "{} ({} bytes)",
                        crate::checksum::encode(crc),
                        self.plan.size
                    ),
                    actual: format!("{actual} (the object was deleted)"),
                })
            }
        }
    }
}

/// What a `HEAD` tells about a stored object.
#[derive(Debug, Clone)]
pub(crate) struct Head {
    pub(crate) size: u64,
    /// Google's own CRC32C of the whole object (`x-goog-hash: crc32c=…`).
    pub(crate) goog: Option<u32>,
    /// `x-amz-checksum-crc32c`: the whole object's CRC32C, or for a multipart upload the
    /// CRC32C of its parts' CRC32Cs (S3 appends `-N`; some stores do not).
    pub(crate) amz: Option<u32>,
    /// The `N` of a `…-N` checksum.
    pub(crate) amz_parts: Option<u32>,
    /// The CRC32C recorded in the object's metadata at upload.
    pub(crate) recorded: Option<u32>,
    pub(crate) etag: Option<String>,
}

impl Head {
    pub(crate) fn from_headers(headers: &ureq::http::HeaderMap) -> Head {
        let get = |n: &str| headers.get(n).and_then(|v| v.to_str().ok());
        let goog = headers
            .get_all("x-goog-hash")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .find_map(|v| v.trim().strip_prefix("crc32c=").and_then(checksum::decode));
        let (amz, amz_parts) = match get("x-amz-checksum-crc32c").map(|v| v.split_once('-')) {
            Some(Some((c, n))) => (checksum::decode(c), n.parse().ok()),
            Some(None) => (
                get("x-amz-checksum-crc32c").and_then(checksum::decode),
                None,
            ),
            None => (None, None),
        };
        Head {
            size: get("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            goog,
            amz,
            amz_parts,
            recorded: get(CRC_META).and_then(checksum::decode),
            etag: get("etag").map(str::to_string),
        }
    }

    /// The store's own CRC32C of the whole object, when it reports one.
    pub(crate) fn crc(&self) -> Option<u32> {
        self.goog.or(self
            .amz
            .filter(|_| self.amz_parts.is_none() && !self.is_multipart()))
    }

    fn is_multipart(&self) -> bool {
        self.etag.as_deref().is_some_and(|e| e.contains('-'))
    }

    /// How the store's own checksums show that the object holds the file with CRC32C `crc`
    /// and these `parts` (each part's CRC32C and MD5 in the upload's layout), if they do. The
    /// CRC32C recorded in the object's metadata is never taken as proof: it says what the
    /// uploader meant to store, not what the store holds.
    fn matches(&self, crc: u32, parts: &[Part], multipart: bool) -> Option<Verification> {
        if let Some(stored) = self.goog {
            return (stored == crc).then_some(Verification::Crc32c);
        }
        if let Some(stored) = self.amz {
            if self.amz_parts.is_none() && stored == crc {
                return Some(Verification::Crc32c);
            }
            if !multipart {
                return None;
            }
            let mut joined = Vec::with_capacity(parts.len() * 4);
            for p in parts {
                joined.extend_from_slice(&p.crc.to_be_bytes());
            }
            let count_ok = self.amz_parts.is_none_or(|n| n as usize == parts.len());
            return (count_ok && stored == crc32c::crc32c(&joined))
                .then_some(Verification::CompositeCrc32c);
        }
        let etag = self.etag.as_deref()?;
        let expected = if multipart {
            let mut h = Md5::new();
            for p in parts {
                h.update(p.md5);
            }
            format!("{}-{}", hex(&h.finalize()), parts.len())
        } else {
            hex(&parts.first()?.md5)
        };
        (etag.trim_matches('"').eq_ignore_ascii_case(&expected)).then_some(Verification::Etag)
    }

    fn describe(&self) -> String {
        match (self.goog.or(self.amz), &self.etag) {
            (Some(c), _) => format!("CRC32C {}", crate::checksum::encode(c)),
            (None, Some(e)) => format!("ETag {e}"),
            _ => "no checksum reported by the store".into(),
        }
    }
}

/// MD5 and CRC32C of a part's bytes.
fn digest(number: u32, data: &[u8]) -> Part {
    Part {
        number,
        etag: String::new(),
        md5: Md5::digest(data).into(),
        crc: crc32c::crc32c(data),
        len: data.len() as u64,
    }
}

/// The CRC32C and, with `md5`, the MD5 (else zeros) of a byte range of `file`.
fn digest_range(
    file: &mut File,
    start: u64,
    len: u64,
    buf: &mut [u8],
    md5: bool,
) -> std::io::Result<(u32, [u8; 16])> {
    file.seek(SeekFrom::Start(start))?;
    let mut crc = 0u32;
    let mut hasher = md5.then(Md5::new);
    let mut left = len;
    while left > 0 {
        let want = buf.len().min(left as usize);
        let n = file.read(&mut buf[..want])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file shrank while it was read",
            ));
        }
        crc = crc32c::crc32c_append(crc, &buf[..n]);
        if let Some(h) = &mut hasher {
            h.update(&buf[..n]);
        }
        left -= n as u64;
    }
    Ok((crc, hasher.map(|h| h.finalize().into()).unwrap_or_default()))
}

/// The whole file's CRC32C from its parts'.
fn combine(parts: &[Part]) -> u32 {
    parts.iter().fold(0u32, |acc, p| {
        crc32c::crc32c_combine(acc, p.crc, p.len as usize)
    })
}

/// Whether an ETag is the (quoted) hex MD5 `md5`.
fn etag_is_md5(etag: &str, md5: &[u8; 16]) -> bool {
    etag.trim_matches('"').eq_ignore_ascii_case(&hex(md5))
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
fn unexpected(op: &str, what: impl std::fmt::Display) -> Error {
    Error::UnexpectedResponse {
        operation: op.to_string(),
        message: what.to_string(),
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn fail(slot: &Mutex<Option<Error>>, e: Error) {
    lock(slot).get_or_insert(e);
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the platform's CRC32C format round-trips and part ranges tile the file (FR-69).
    #[test]
    fn crc_format_and_ranges() {
        assert_eq!(
            crate::checksum::encode(crc32c::crc32c(b"123456789")),
            "4waSgw=="
        );
        assert_eq!(
            checksum::decode("4waSgw=="),
            Some(crc32c::crc32c(b"123456789"))
        );
        assert_eq!(checksum::decode("not base64"), None);
        assert_eq!(checksum::decode("AAAAAAA="), None);
        let plan = Plan {
            size: 11,
            part_size: 5,
            parts: 3,
            multipart: true,
        };
        assert_eq!(
            (1..=3).map(|n| plan.range(n)).collect::<Vec<_>>(),
            vec![(0, 5), (5, 5), (10, 1)]
        );
    }

    // Proves the ETag and composite checks accept only the parts that were sent, and the
    // recorded CRC32C alone is never proof (FR-69).
    #[test]
    fn head_checks() {
        let parts = vec![digest(1, b"hello "), digest(2, b"world")];
        let whole = crc32c::crc32c(b"hello world");
        assert_eq!(combine(&parts), whole);
        let mut h = Md5::new();
        h.update(parts[0].md5);
        h.update(parts[1].md5);
        let etag = format!("\"{}-2\"", hex(&h.finalize()));
        let head = Head {
            size: 11,
            goog: None,
            amz: None,
            amz_parts: None,
            recorded: Some(whole),
            etag: Some(etag),
        };
        assert_eq!(head.matches(whole, &parts, true), Some(Verification::Etag));
        let swapped = vec![parts[1].clone(), parts[0].clone()];
        assert_eq!(head.matches(whole, &swapped, true), None);
        // The recorded CRC32C alone proves nothing.
        let recorded_only = Head {
            etag: None,
            ..head.clone()
        };
        assert_eq!(recorded_only.matches(whole, &parts, true), None);
        let stored = Head {
            goog: Some(whole),
            ..head.clone()
        };
        assert_eq!(stored.matches(whole, &[], true), Some(Verification::Crc32c));
        assert_eq!(stored.matches(whole ^ 1, &parts, true), None);
        let mut joined = parts[0].crc.to_be_bytes().to_vec();
        joined.extend_from_slice(&parts[1].crc.to_be_bytes());
        let composite = Head {
            amz: Some(crc32c::crc32c(&joined)),
            amz_parts: Some(2),
            ..head.clone()
        };
        assert_eq!(
            composite.matches(whole, &parts, true),
            Some(Verification::CompositeCrc32c)
        );
        assert_eq!(composite.matches(whole, &parts[..1], true), None);
        assert_eq!(composite.matches(whole, &parts, false), None);
    }
}
