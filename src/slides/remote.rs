//! Slides read where they are, in a bucket: the header walk by HTTP `Range` through a small
//! block cache (a handful of requests, a tiny share of the slide), the CRC32C from the store
//! or one streamed pass. Nothing is written to disk.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::Serialize;

use super::source::{Fault, Source};
use super::{HEAD, Inspector, SLIDE_EXTENSIONS, Slide, SlideError, SlideErrorKind, read_header};
use crate::bucket::{Bucket, ChecksumSource, ObjectInfo};

/// Block size of the range cache: one request fetches at least this much.
const BLOCK: u64 = 64 * 1024;

/// Blocks kept (4 MiB): enough for any header walk.
const CACHED_BLOCKS: usize = 64;

/// A slide read in a bucket, and what reading it cost.
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct RemoteSlide {
    /// The slide; its path is the object's URL ([`Bucket::object_url`]).
    #[serde(flatten)]
    pub slide: Slide,
    /// The object's key.
    pub key: String,
    /// Range requests of the header walk.
    pub header_requests: usize,
    /// Bytes fetched by the header walk.
    pub header_bytes: u64,
    /// Where the CRC32C came from (`None` when checksums are off).
    pub checksum_source: Option<ChecksumSource>,
    /// Bytes read for the CRC32C (0 when the store had it).
    pub checksum_bytes: u64,
}

/// The slide objects under `prefix` (the extensions of [`SLIDE_EXTENSIONS`], any case), in
/// key order. The DICOM objects of one series in one folder count once, as on disk: its
/// level-0 instance (the widest `VOLUME` one), chosen by reading each instance's header in
/// place (a few ranged requests each; a folder's single DICOM object is not read).
///
/// # Errors
/// As [`Bucket::list`].
pub fn find_objects(bucket: &Bucket, prefix: &str) -> crate::Result<Vec<ObjectInfo>> {
    let mut slides = Vec::new();
    let mut dicom: std::collections::BTreeMap<String, Vec<ObjectInfo>> = Default::default();
    for object in bucket.list(prefix)? {
        let ext = Path::new(&object.key)
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match ext.as_deref() {
            Some("dcm") => {
                let folder = object
                    .key
                    .rsplit_once('/')
                    .map_or("", |(f, _)| f)
                    .to_string();
                dicom.entry(folder).or_default().push(object);
            }
            Some(e) if SLIDE_EXTENSIONS.contains(&e) => slides.push(object),
            _ => {}
        }
    }
    for (_, objects) in dicom {
        if objects.len() == 1 {
            slides.extend(objects);
            continue;
        }
        slides.extend(super::levels0(&objects, |object| {
            remote_instance(bucket, &object.key, object.size)
        }));
    }
    slides.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(slides)
}

/// The DICOM header of the object `key` (of `size` bytes), read in place; `None` when it is
/// not DICOM or cannot be read.
fn remote_instance(bucket: &Bucket, key: &str, size: u64) -> Option<super::dicom::Instance> {
    let src = Ranged::new(bucket, key, size);
    let head = src.bytes(0, size.min(132), "the file's first bytes").ok()?;
    if !super::dicom::sniff(&head) {
        return None;
    }
    super::dicom::parse(&src).ok()
}

impl Inspector {
    /// Reads the slide `key` of `bucket` in place: its header through ranged reads, its
    /// CRC32C from the store when it holds the whole object's, else by one streamed pass (see
    /// [`Bucket::object_crc32c`]). A DICOM object is read as the level it holds;
    /// [`find_objects`] picks each series' level 0.
    ///
    /// ```no_run
    /// # let bucket: aignostics::bucket::Bucket = todo!();
    /// let read = aignostics::slides::Inspector::new().inspect_object(&bucket, "cohort/a.svs")?;
    /// println!("{} × {} px, {} requests", read.slide.width_px, read.slide.height_px, read.header_requests);
    /// # Ok::<(), aignostics::slides::SlideError>(())
    /// ```
    ///
    /// # Errors
    /// A [`SlideError`] naming `s3://bucket/key`: the object is missing or unreadable
    /// (`Io`), or not a slide.
    pub fn inspect_object(&self, bucket: &Bucket, key: &str) -> Result<RemoteSlide, SlideError> {
        let path = PathBuf::from(bucket.object_url(key));
        let fail = |e: crate::Error| {
            SlideError::new(&path, SlideErrorKind::Io(io::Error::other(e.to_string())))
        };
        let object = bucket.head(key).map_err(fail)?.ok_or_else(|| {
            SlideError::new(
                &path,
                SlideErrorKind::Io(io::Error::new(io::ErrorKind::NotFound, "no such object")),
            )
        })?;
        let size = object.size;
        let src = Ranged::new(bucket, key, size);
        let head = src
            .bytes(0, size.min(HEAD as u64), "the file's first bytes")
            .map_err(|f| SlideError::fault(&path, f))?;
        let header = read_header(&src, &head).map_err(|e| match e {
            Ok(kind) => SlideError::new(&path, kind),
            Err(fault) => SlideError::fault(&path, fault),
        })?;
        let mut slide = self.slide(&path, header, size)?;
        // The HEAD answer already read holds the store's checksums: no second HEAD.
        let sum = if self.checksum {
            Some(bucket.checksum_of(key, &object).map_err(fail)?)
        } else {
            None
        };
        let (header_requests, header_bytes) = src.counts();
        slide.checksum_base64_crc32c = sum.as_ref().map(|s| s.crc32c.clone());
        Ok(RemoteSlide {
            slide,
            key: key.to_string(),
            header_requests,
            header_bytes,
            checksum_source: sum.as_ref().map(|s| s.source),
            checksum_bytes: sum.map_or(0, |s| s.bytes_read),
        })
    }
}

/// An object read by ranges, through a cache of aligned blocks.
struct Ranged<'a> {
    bucket: &'a Bucket,
    key: &'a str,
    len: u64,
    state: Mutex<RangeState>,
}

#[derive(Default)]
struct RangeState {
    blocks: HashMap<u64, Vec<u8>>,
    requests: usize,
    bytes: u64,
}

impl<'a> Ranged<'a> {
    fn new(bucket: &'a Bucket, key: &'a str, len: u64) -> Self {
        Self {
            bucket,
            key,
            len,
            state: Mutex::new(RangeState::default()),
        }
    }

    /// Range requests made and bytes fetched so far.
    fn counts(&self) -> (usize, u64) {
        let state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        (state.requests, state.bytes)
    }
}

impl Source for Ranged<'_> {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), Fault> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&end| end <= self.len)
            .ok_or_else(|| Fault::Truncated(String::new()))?;
        if buf.is_empty() {
            return Ok(());
        }
        let (first, last) = (offset / BLOCK, (end - 1) / BLOCK);
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if state.blocks.len() >= CACHED_BLOCKS {
            state.blocks.clear();
        }
        // The missing blocks of the span, fetched in one request.
        let missing: Vec<u64> = (first..=last)
            .filter(|b| !state.blocks.contains_key(b))
            .collect();
        if let (Some(&from), Some(&to)) = (missing.first(), missing.last()) {
            let start = from * BLOCK;
            let stop = ((to + 1) * BLOCK).min(self.len);
            let bytes = self
                .bucket
                .read_range(self.key, start, stop - start)
                .map_err(|e| Fault::Io(io::Error::other(e.to_string())))?;
            if (bytes.len() as u64) < stop - start {
                return Err(Fault::Truncated(String::new()));
            }
            state.requests += 1;
            state.bytes += bytes.len() as u64;
            for (i, block) in (from..=to).enumerate() {
                let at = i * BLOCK as usize;
                let chunk = bytes[at..(at + BLOCK as usize).min(bytes.len())].to_vec();
                state.blocks.insert(block, chunk);
            }
        }
        let mut filled = 0usize;
        for block in first..=last {
            let data = state
                .blocks
                .get(&block)
                .ok_or_else(|| Fault::Truncated(String::new()))?;
            let block_start = block * BLOCK;
            let from = (offset + filled as u64 - block_start) as usize;
            let take = (data.len() - from).min(buf.len() - filled);
            buf[filled..filled + take].copy_from_slice(&data[from..from + take]);
            filled += take;
        }
        Ok(())
    }
}
