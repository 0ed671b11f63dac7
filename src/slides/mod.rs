//! Whole-slide image metadata from file headers (feature `slides`): level-0 width and height,
//! microns per pixel, media type, file size and the platform's CRC32C, without decoding a
//! single pixel and without native libraries.
//!
//! ```no_run
//! let slide = aignostics::slides::inspect("slides/case-1.svs")?;
//! println!(
//!     "{} x {} px at {} µm/px, {} ({} bytes, crc32c {})",
//!     slide.width_px,
//!     slide.height_px,
//!     slide.resolution_mpp,
//!     slide.media_type,
//!     slide.size_bytes,
//!     slide.checksum_base64_crc32c.as_deref().unwrap_or("-"),
//! );
//! # Ok::<(), aignostics::slides::SlideError>(())
//! ```
//!
//! A whole folder, on every core, with a resolution for the slides whose headers carry none:
//!
//! ```no_run
//! use aignostics::slides::{self, Inspector};
//!
//! let paths = slides::find_slides("slides/")?;
//! for result in Inspector::new().fallback_mpp(0.25).inspect_all(&paths) {
//!     match result {
//!         Ok(slide) => println!("{}: {} x {}", slide.path.display(), slide.width_px, slide.height_px),
//!         Err(err) => eprintln!("{err}"),
//!     }
//! }
//! # Ok::<(), aignostics::slides::SlideError>(())
//! ```
//!
//! # Formats and rules
//!
//! The values are those [OpenSlide](https://openslide.org) reports for the same file (its
//! level-0 `dimensions` and `openslide.mpp-x`), which is what the Python SDK submits:
//!
//! | Format | Recognised by | Level 0 | Microns per pixel |
//! |---|---|---|---|
//! | Hamamatsu NDPI | tag 65420 in the first directory | first directory | the TIFF rule |
//! | Aperio SVS | ImageDescription starts with `Aperio` | first directory | the description's `MPP = …` field |
//! | Philips TIFF | XML ImageDescription with `DPUfsImport` | first directory | 1000 × the column value of the WSI image's own `DICOM_PIXEL_SPACING` (mm; the per-level spacings do not count) |
//! | OME-TIFF | OME-XML ImageDescription | first directory | first `Pixels` element's `PhysicalSizeX` in `PhysicalSizeXUnit` (default µm); else the TIFF rule |
//! | Generic TIFF | a tiled first directory | widest of the first and the tiled reduced-resolution directories | the TIFF rule |
//! | DICOM VL WSI | `DICM` and SOP class 1.2.840.10008.5.1.4.1.1.77.1.6 | `TotalPixelMatrixColumns` × `TotalPixelMatrixRows` (of the largest `VOLUME` instance of a folder's series) | 1000 × the column spacing of `PixelSpacing` (mm) in the shared functional groups |
//!
//! The TIFF rule (OpenSlide 4): microns per pixel = 10000 / `XResolution` of the first
//! directory when `ResolutionUnit` is centimeter, 25400 / `XResolution` when it is inch (the
//! TIFF default); no unit, no resolution. The division is done in double precision as
//! OpenSlide does, so the numbers agree to the last bit.
//!
//! TIFF comes in classic and BigTIFF layout, little- and big-endian. OpenSlide knows no OME-TIFF vendor format (it reports no resolution for
//! most OME files); the crate reads the physical size OME-XML declares. The media type is
//! `image/tiff` for the TIFF family (an `.svs` is a TIFF; the Python SDK sends
//! `application/octet-stream` for it, which the platform's schemas do not list) and
//! `application/dicom` for DICOM.
//!
//! A DICOM slide is a series of files, one per level: [`inspect`] on a folder holding one
//! series reads its level 0 (the largest `VOLUME` instance); on a single file it reads the
//! level that file holds. [`find_slides`] picks the level-0 file of every series it finds.
//!
//! # Reading
//!
//! Headers are read with positional reads within the file; then the file is read once,
//! sequentially in 4 MiB blocks, for its CRC32C (the platform's checksum: Base64 of the
//! big-endian digest, see [`checksum`](crate::checksum)), which covers every byte.
//! [`Inspector::checksum`] turns that pass off when only the header is wanted.
//!
//! Every malformed input is a [`SlideError`] naming the file and what is missing or wrong:
//! truncated files, directory loops, absurd counts and lengths, unknown formats, a missing
//! resolution. Nothing panics, nothing loops forever, and nothing allocates more than the
//! file could hold.

mod csv;
mod dicom;
mod fields;
mod header;
mod items;
#[cfg(feature = "bucket")]
pub(crate) use items::{list_bucket, list_folder};
mod prepare_error;
#[cfg(feature = "bucket")]
mod remote;
mod source;
mod tiff;
mod xml;

use std::fmt;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

pub use csv::{CSV_HEADER, MetadataRow, read_csv, read_csv_file, write_csv, write_csv_file};
pub use fields::{MetadataField, MissingField, metadata_fields};
pub use items::{
    CsvUrls, DownloadUrls, Mapping, PrepareError, Prepared, SlideItems, UrlTemplate, media_type_for,
};
#[cfg(feature = "bucket")]
pub use remote::{RemoteSlide, find_objects};

use crate::checksum::ChecksumIndex;
use header::{Header, Resolution};
use source::{Fault, Source};

/// Block size of the checksum pass (large enough that the hardware CRC dominates).
const BLOCK: usize = 4 * 1024 * 1024;
/// Bytes read up front for the header parsers (most headers fit; the rest is read in place).
const HEAD: usize = 64 * 1024;

/// The file formats [`inspect`] reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SlideFormat {
    /// A tiled (pyramidal) TIFF or BigTIFF without a vendor signature.
    GenericTiff,
    /// Aperio SVS.
    Aperio,
    /// Hamamatsu NDPI.
    Ndpi,
    /// Philips TIFF.
    Philips,
    /// OME-TIFF.
    OmeTiff,
    /// DICOM VL Whole Slide Microscopy.
    Dicom,
}

impl SlideFormat {
    /// The media type the platform's input schemas name: `image/tiff` or `application/dicom`.
    #[must_use]
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Dicom => "application/dicom",
            _ => "image/tiff",
        }
    }

    /// A short name, e.g. `aperio`, `generic_tiff`, `dicom`.
    #[must_use]
    pub fn name(self) -> &'static str {
        match self {
            Self::GenericTiff => "generic_tiff",
            Self::Aperio => "aperio",
            Self::Ndpi => "ndpi",
            Self::Philips => "philips",
            Self::OmeTiff => "ome_tiff",
            Self::Dicom => "dicom",
        }
    }
}

impl fmt::Display for SlideFormat {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The metadata of one slide file.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Slide {
    /// The file read (for a DICOM folder, its level-0 file).
    pub path: PathBuf,
    /// The format recognised.
    pub format: SlideFormat,
    /// Level-0 width in pixels.
    pub width_px: u64,
    /// Level-0 height in pixels.
    pub height_px: u64,
    /// Microns per pixel at level 0 (horizontal).
    pub resolution_mpp: f64,
    /// Whether `resolution_mpp` came from [`Inspector::fallback_mpp`] because the header has
    /// none.
    pub resolution_supplied: bool,
    /// Media type for the input artifact's metadata, e.g. `image/tiff`.
    pub media_type: String,
    /// File size in bytes.
    pub size_bytes: u64,
    /// The platform's CRC32C of the whole file (Base64 of the big-endian digest); `None` when
    /// the inspector was told to skip it.
    pub checksum_base64_crc32c: Option<String>,
    /// Whether the checksum came from the inspector's [`ChecksumIndex`] because the file is
    /// unchanged since it was last read (then only its header was read this time).
    #[serde(default)]
    pub checksum_from_index: bool,
}

/// Why a slide could not be read: the file, and what is wrong with it.
#[derive(Debug)]
pub struct SlideError {
    path: PathBuf,
    kind: SlideErrorKind,
}

/// What is wrong with a slide file.
#[derive(Debug)]
#[non_exhaustive]
pub enum SlideErrorKind {
    /// Opening or reading the file failed.
    Io(io::Error),
    /// The file is neither a TIFF-family nor a DICOM whole-slide image.
    NotASlide(String),
    /// A whole-slide format this reader does not read (its name, e.g. `3DHISTECH MIRAX`).
    Unsupported(String),
    /// The file ends before the named structure does.
    Truncated(String),
    /// The header is malformed (the named problem).
    Malformed(String),
    /// The header gives no resolution (the reason); supply one with
    /// [`Inspector::fallback_mpp`].
    NoResolution(String),
}

impl SlideError {
    /// The file (or folder) concerned.
    #[must_use]
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// What is wrong.
    #[must_use]
    pub fn kind(&self) -> &SlideErrorKind {
        &self.kind
    }

    pub(crate) fn new(path: &Path, kind: SlideErrorKind) -> Self {
        Self {
            path: path.to_path_buf(),
            kind,
        }
    }

    fn fault(path: &Path, fault: Fault) -> Self {
        let kind = match fault {
            Fault::Truncated(what) if what.is_empty() => {
                SlideErrorKind::Truncated("the header".into())
            }
            Fault::Truncated(what) => SlideErrorKind::Truncated(what),
            Fault::Malformed(what) => SlideErrorKind::Malformed(what),
            Fault::Io(e) => SlideErrorKind::Io(e),
        };
        Self::new(path, kind)
    }
}

impl fmt::Display for SlideError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.kind {
            SlideErrorKind::Io(e) => write!(f, "{path}: {e}"),
            SlideErrorKind::NotASlide(why) => write!(f, "{path}: not a whole-slide image: {why}"),
            SlideErrorKind::Unsupported(format) => write!(
                f,
                "{path}: {format} is not a format read here; convert it to OME-TIFF or DICOM \
                 (e.g. with QuPath or bfconvert) and submit that"
            ),
            SlideErrorKind::Truncated(what) => {
                write!(f, "{path}: truncated: the file ends inside {what}")
            }
            SlideErrorKind::Malformed(what) => write!(f, "{path}: malformed header: {what}"),
            SlideErrorKind::NoResolution(why) => write!(
                f,
                "{path}: no resolution (microns per pixel) in the header: {why}; supply one \
                 (Inspector::fallback_mpp, CLI --mpp)"
            ),
        }
    }
}

impl std::error::Error for SlideError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match &self.kind {
            SlideErrorKind::Io(e) => Some(e),
            _ => None,
        }
    }
}

/// Reads one slide (a file, or a folder holding one DICOM series) with the default
/// [`Inspector`]: header values and the CRC32C of the whole file.
///
/// # Errors
///
/// A [`SlideError`] naming the file and what is missing or malformed.
pub fn inspect(path: impl AsRef<Path>) -> Result<Slide, SlideError> {
    Inspector::new().inspect(path)
}

/// Options for reading slides, and parallel reading of many.
#[derive(Clone, Debug)]
pub struct Inspector {
    fallback_mpp: Option<f64>,
    checksum: bool,
    threads: usize,
    index: Option<Arc<ChecksumIndex>>,
}

impl Default for Inspector {
    fn default() -> Self {
        Self::new()
    }
}

impl Inspector {
    /// Checksums on, no fallback resolution, one thread per core.
    #[must_use]
    pub fn new() -> Self {
        Self {
            fallback_mpp: None,
            checksum: true,
            threads: std::thread::available_parallelism().map_or(1, usize::from),
            index: None,
        }
    }

    /// Microns per pixel for slides whose header has no resolution (instead of an error);
    /// such slides report [`Slide::resolution_supplied`]. Values that are not positive and
    /// finite are ignored.
    #[must_use]
    pub fn fallback_mpp(mut self, mpp: f64) -> Self {
        self.fallback_mpp = (mpp > 0.0 && mpp.is_finite()).then_some(mpp);
        self
    }

    /// Whether to read the whole file for its CRC32C (default on).
    #[must_use]
    pub fn checksum(mut self, on: bool) -> Self {
        self.checksum = on;
        self
    }

    /// Takes checksums of unchanged files from `index` and records the ones it computes, so
    /// inspecting a folder again reads only the slides' headers (see [`ChecksumIndex`]; the
    /// pipeline uses the one in the settings' cache folder).
    ///
    /// ```no_run
    /// use std::sync::Arc;
    /// use aignostics::checksum::ChecksumIndex;
    /// use aignostics::slides::Inspector;
    ///
    /// let index = Arc::new(ChecksumIndex::open("/tmp/checksums.jsonl"));
    /// let inspector = Inspector::new().checksum_index(index);
    /// let first = inspector.inspect("slide-1.svs")?; // reads the whole file
    /// let again = inspector.inspect("slide-1.svs")?; // reads its header only
    /// assert!(again.checksum_from_index || !first.checksum_from_index);
    /// # Ok::<(), aignostics::slides::SlideError>(())
    /// ```
    #[must_use]
    pub fn checksum_index(mut self, index: Arc<ChecksumIndex>) -> Self {
        self.index = Some(index);
        self
    }

    /// Threads of [`inspect_all`](Self::inspect_all) (default: one per core; at least 1).
    #[must_use]
    pub fn threads(mut self, threads: usize) -> Self {
        self.threads = threads.max(1);
        self
    }

    /// Reads one slide: a file, or a folder holding one DICOM series (its level-0 file).
    ///
    /// # Errors
    ///
    /// A [`SlideError`] naming the file and what is missing or malformed.
    pub fn inspect(&self, path: impl AsRef<Path>) -> Result<Slide, SlideError> {
        let path = path.as_ref();
        let mut buf = Vec::new();
        if path.is_dir() {
            let file = dicom_series_level0(path)?;
            return self.inspect_file(&file, &mut buf);
        }
        self.inspect_file(path, &mut buf)
    }

    /// Reads many slides on [`threads`](Self::threads) threads, each with one block buffer
    /// (memory stays flat whatever the count), and returns the results in the order of
    /// `paths`.
    pub fn inspect_all(&self, paths: &[PathBuf]) -> Vec<Result<Slide, SlideError>> {
        let next = AtomicUsize::new(0);
        let results: Mutex<Vec<Option<Result<Slide, SlideError>>>> =
            Mutex::new((0..paths.len()).map(|_| None).collect());
        let workers = self.threads.min(paths.len()).max(1);
        std::thread::scope(|scope| {
            for _ in 0..workers {
                scope.spawn(|| {
                    let mut buf = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = paths.get(i) else { break };
                        let result = if path.is_dir() {
                            dicom_series_level0(path)
                                .and_then(|file| self.inspect_file(&file, &mut buf))
                        } else {
                            self.inspect_file(path, &mut buf)
                        };
                        results.lock().unwrap_or_else(|p| p.into_inner())[i] = Some(result);
                    }
                });
            }
        });
        results
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .into_iter()
            .zip(paths)
            .map(|(r, path)| {
                r.unwrap_or_else(|| {
                    Err(SlideError::new(
                        path,
                        SlideErrorKind::Io(io::Error::other("the reading thread stopped")),
                    ))
                })
            })
            .collect()
    }

    /// Reads a slide already in memory (e.g. fetched from object storage); `name` labels
    /// errors and becomes [`Slide::path`]. A DICOM series needs its files, so only single
    /// files are read this way.
    ///
    /// ```
    /// let err = aignostics::slides::Inspector::new()
    ///     .inspect_bytes("upload.svs", b"not a slide")
    ///     .unwrap_err();
    /// assert!(err.to_string().starts_with("upload.svs: not a whole-slide image"));
    /// ```
    ///
    /// # Errors
    ///
    /// A [`SlideError`] naming `name` and what is missing or malformed.
    pub fn inspect_bytes(&self, name: impl AsRef<Path>, bytes: &[u8]) -> Result<Slide, SlideError> {
        let path = name.as_ref();
        let head = &bytes[..bytes.len().min(HEAD)];
        let header = read_header(&bytes, head).map_err(|e| match e {
            Ok(kind) => SlideError::new(path, kind),
            Err(fault) => SlideError::fault(path, fault),
        })?;
        let mut slide = self.slide(path, header, bytes.len() as u64)?;
        slide.checksum_base64_crc32c = self.checksum.then(|| crate::checksum::crc32c_base64(bytes));
        Ok(slide)
    }

    /// The slide described by `header`, with the resolution settled by [`Self::resolution`] and
    /// no checksum yet.
    fn slide(
        &self,
        path: &Path,
        header: header::Header,
        size_bytes: u64,
    ) -> Result<Slide, SlideError> {
        let (resolution_mpp, resolution_supplied) = self.resolution(path, header.resolution)?;
        Ok(Slide {
            path: path.to_path_buf(),
            format: header.format,
            width_px: header.width,
            height_px: header.height,
            resolution_mpp,
            resolution_supplied,
            media_type: header.format.media_type().to_string(),
            size_bytes,
            checksum_base64_crc32c: None,
            checksum_from_index: false,
        })
    }

    /// The header's resolution, else the fallback, else the error naming why there is none.
    fn resolution(&self, path: &Path, found: Resolution) -> Result<(f64, bool), SlideError> {
        match (found, self.fallback_mpp) {
            (Resolution::Found(mpp), _) => Ok((mpp, false)),
            (Resolution::Missing(_), Some(mpp)) => Ok((mpp, true)),
            (Resolution::Missing(why), None) => {
                Err(SlideError::new(path, SlideErrorKind::NoResolution(why)))
            }
        }
    }

    fn inspect_file(&self, path: &Path, buf: &mut Vec<u8>) -> Result<Slide, SlideError> {
        let io_err = |e| SlideError::new(path, SlideErrorKind::Io(e));
        let mut file = open_regular(path)?;
        let meta = file.metadata().map_err(io_err)?;
        let len = meta.len();
        let head_len = usize::try_from(len).unwrap_or(HEAD).min(HEAD);
        let mut head = vec![0u8; head_len];
        file.read_exact(&mut head).map_err(io_err)?;
        let src = source::Buffered::new(&file, len, &head);
        let header = read_header(&src, &head).map_err(|e| match e {
            Ok(kind) => SlideError::new(path, kind),
            Err(fault) => SlideError::fault(path, fault),
        })?;
        // Settled before the checksum pass: a slide without a resolution fails without reading
        // the whole file.
        let mut slide = self.slide(path, header, len)?;
        if !self.checksum {
            return Ok(slide);
        }
        if let Some(crc) = self
            .index
            .as_ref()
            .and_then(|index| index.lookup_unchanged(path, &meta))
        {
            slide.checksum_base64_crc32c = Some(crate::checksum::encode(crc));
            slide.checksum_from_index = true;
            return Ok(slide);
        }
        let began = std::time::SystemTime::now();
        // The rest of the file, after the head already read, in one sequential pass.
        let mut crc = crc32c::crc32c(&head);
        let mut size = head.len() as u64;
        file.seek(SeekFrom::Start(size)).map_err(io_err)?;
        if buf.len() < BLOCK {
            buf.resize(BLOCK, 0);
        }
        loop {
            match file.read(buf) {
                Ok(0) => break,
                Ok(n) => {
                    crc = crc32c::crc32c_append(crc, &buf[..n]);
                    size += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(io_err(e)),
            }
        }
        slide.size_bytes = size;
        slide.checksum_base64_crc32c = Some(crate::checksum::encode(crc));
        if let Some(index) = &self.index {
            index.record(path, &meta, began, crc);
        }
        Ok(slide)
    }
}

/// The header of a TIFF-family or DICOM file; `Err(Ok(kind))` for a file of neither kind.
fn read_header(src: &dyn Source, head: &[u8]) -> Result<Header, Result<SlideErrorKind, Fault>> {
    if head.is_empty() {
        return Err(Ok(SlideErrorKind::NotASlide("the file is empty".into())));
    }
    if tiff::sniff(head) {
        return tiff::parse(src).map_err(Err);
    }
    if dicom::sniff(head) {
        let instance = dicom::parse(src).map_err(Err)?;
        return dicom_header(&instance).map_err(Ok);
    }
    Err(Ok(SlideErrorKind::NotASlide(
        "neither a TIFF (II*/MM* header) nor a DICOM file (DICM after the preamble)".into(),
    )))
}

fn dicom_header(instance: &dicom::Instance) -> Result<Header, SlideErrorKind> {
    match instance.sop_class.as_deref() {
        Some(dicom::WSI_SOP_CLASS) => {}
        other => {
            return Err(SlideErrorKind::NotASlide(format!(
                "a DICOM file, but not a VL Whole Slide Microscopy image (SOP class {})",
                other.unwrap_or("missing")
            )));
        }
    }
    if let Some(flavor @ ("LABEL" | "OVERVIEW")) = instance.flavor() {
        return Err(SlideErrorKind::NotASlide(format!(
            "a DICOM {flavor} image, not a level of the slide"
        )));
    }
    let (width, height) = instance.size().ok_or_else(|| {
        SlideErrorKind::Malformed(
            "no TotalPixelMatrixColumns/Rows (or Columns/Rows) in the DICOM header".into(),
        )
    })?;
    let resolution = match instance.spacing {
        Some((_, column)) => Resolution::measured(column * 1000.0, "PixelSpacing"),
        None => Resolution::Missing("no PixelSpacing in the DICOM header".into()),
    };
    Ok(Header::new(SlideFormat::Dicom, width, height, resolution))
}

/// File name extensions of slide files [`find_slides`] picks up (case-insensitive).
pub const SLIDE_EXTENSIONS: &[&str] = &["svs", "tif", "tiff", "ndpi", "btf", "tf8", "dcm"];

/// The slides under `root` (recursively, sorted by path): every file with one of
/// [`SLIDE_EXTENSIONS`], where the DICOM files of one series in one folder count once, as
/// their level-0 file (the largest `VOLUME` instance; labels, overviews and thumbnails are
/// left out). DICOM files whose header cannot be read are kept, so that reading them reports
/// the problem.
///
/// # Errors
///
/// A [`SlideError`] when `root` or a folder under it cannot be listed.
pub fn find_slides(root: impl AsRef<Path>) -> Result<Vec<PathBuf>, SlideError> {
    scan_folder(root).map(|scan| scan.slides)
}

/// Whole-slide formats this reader does not read, by extension: the vendor format's name.
const UNSUPPORTED: &[(&str, &str)] = &[
    ("mrxs", "3DHISTECH MIRAX"),
    ("vsi", "Olympus VSI"),
    ("czi", "Zeiss CZI"),
    ("isyntax", "Philips iSyntax"),
    ("kfb", "KFBio KFB"),
    ("sdpc", "SQRAY SDPC"),
    ("svslide", "Sakura SVSlide"),
    (
        "ndpis",
        "Hamamatsu NDPIS (a set of NDPI files: give the .ndpi files)",
    ),
];

/// What a folder holds: the slides [`find_slides`] returns, the whole-slide files of formats
/// not read (each an error saying so and what to do), and how many other files were passed
/// over.
#[derive(Debug)]
#[non_exhaustive]
pub struct FolderScan {
    /// The slides, as [`find_slides`] returns them.
    pub slides: Vec<PathBuf>,
    /// Files of whole-slide formats that are not read (`.mrxs`, `.vsi`, `.czi`, …).
    pub skipped: Vec<SlideError>,
    /// Other files passed over (not slide formats: notes, CSVs, images of other kinds).
    pub other_files: usize,
}

impl FolderScan {
    /// One message for a folder without a slide: what was looked for, and what was found
    /// instead.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join(format!("aignostics-doc-empty-{}", std::process::id()));
    /// std::fs::create_dir_all(&dir)?;
    /// let scan = aignostics::slides::scan_folder(&dir)?;
    /// assert!(scan.nothing_found(&dir).contains("no slides found"));
    /// # std::fs::remove_dir_all(&dir)?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn nothing_found(&self, root: &Path) -> String {
        let mut message = format!(
            "{}: no slides found (read: {}; files named {})",
            root.display(),
            SUPPORTED_FORMATS,
            SLIDE_EXTENSIONS
                .iter()
                .map(|e| format!(".{e}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        if !self.skipped.is_empty() {
            message.push_str(&format!(
                "; {} of formats not read",
                count(self.skipped.len(), "file", "files")
            ));
        }
        if self.other_files > 0 {
            message.push_str(&format!(
                "; {} of other kinds passed over",
                count(self.other_files, "file", "files")
            ));
        }
        message
    }
}

/// The formats read, in words.
pub const SUPPORTED_FORMATS: &str = "Aperio SVS, Hamamatsu NDPI, Philips TIFF, OME-TIFF, \
                                     tiled (Big)TIFF and DICOM WSI";

fn count(n: usize, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// [`find_slides`] with what was left out: whole-slide files of formats not read, each as
/// an error naming the format and what to do, and the count of other files.
///
/// # Errors
///
/// A [`SlideError`] for a folder that cannot be listed.
pub fn scan_folder(root: impl AsRef<Path>) -> Result<FolderScan, SlideError> {
    let root = root.as_ref();
    let mut scan = FolderScan {
        slides: Vec::new(),
        skipped: Vec::new(),
        other_files: 0,
    };
    if root.is_file() {
        scan.slides.push(root.to_path_buf());
        return Ok(scan);
    }
    let mut dirs = vec![root.to_path_buf()];
    // Symbolic links may lead back to a folder already listed: each folder is listed once.
    let mut listed = std::collections::HashSet::new();
    while let Some(dir) = dirs.pop() {
        if !listed.insert(std::fs::canonicalize(&dir).unwrap_or_else(|_| dir.clone())) {
            continue;
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| SlideError::new(&dir, SlideErrorKind::Io(e)))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .collect();
        entries.sort();
        let mut dicom_files = Vec::new();
        for path in entries {
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            if !path.is_file() {
                // Pipes, sockets and devices are never slides, whatever their name.
                continue;
            }
            let ext = extension(&path).unwrap_or_default();
            if ext == "dcm" {
                dicom_files.push(path);
            } else if SLIDE_EXTENSIONS.contains(&ext.as_str()) {
                scan.slides.push(path);
            } else if let Some((_, format)) = UNSUPPORTED.iter().find(|(e, _)| *e == ext) {
                let format = format!("{format} (.{ext})");
                scan.skipped
                    .push(SlideError::new(&path, SlideErrorKind::Unsupported(format)));
            } else {
                scan.other_files += 1;
            }
        }
        scan.slides.extend(dicom_levels0(&dicom_files));
    }
    scan.slides.sort();
    scan.skipped.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(scan)
}

/// Opens a slide file: only a regular file (after following links) is one. A named pipe,
/// socket or device with a slide's name is refused before it is opened, since opening or
/// reading one can block for ever.
fn open_regular(path: &Path) -> Result<File, SlideError> {
    let io_err = |e| SlideError::new(path, SlideErrorKind::Io(e));
    if !std::fs::metadata(path).map_err(io_err)?.is_file() {
        return Err(SlideError::new(
            path,
            SlideErrorKind::NotASlide("not a regular file (a pipe, socket or device)".into()),
        ));
    }
    File::open(path).map_err(io_err)
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

/// Reads the DICOM header of `path` (no checksum).
fn dicom_instance(path: &Path) -> Result<dicom::Instance, SlideError> {
    let io_err = |e| SlideError::new(path, SlideErrorKind::Io(e));
    let file = open_regular(path)?;
    let src = source::FileSource::new(file).map_err(io_err)?;
    let mut head = [0u8; 132];
    let n = src.len().min(132) as usize;
    src.read_at(0, &mut head[..n])
        .map_err(|f| SlideError::fault(path, f))?;
    if !dicom::sniff(&head[..n]) {
        return Err(SlideError::new(
            path,
            SlideErrorKind::NotASlide("not a DICOM file (no DICM after the preamble)".into()),
        ));
    }
    dicom::parse(&src).map_err(|f| SlideError::fault(path, f))
}

/// The level-0 file of each series among `files` (all in one folder); unreadable files are
/// kept as they are.
fn dicom_levels0(files: &[PathBuf]) -> Vec<PathBuf> {
    levels0(files, |path| dicom_instance(path).ok())
}

/// The level-0 instance (the widest of the `VOLUME` whole-slide instances) of each series among
/// `instances` of one folder, whose headers `read` gives; labels, overviews and other levels
/// are left out, and instances `read` cannot read are kept as they are (their reading fails
/// later, naming them). For files on disk and objects in a bucket alike.
pub(crate) fn levels0<T: Clone>(
    instances: &[T],
    read: impl Fn(&T) -> Option<dicom::Instance>,
) -> Vec<T> {
    let mut best: Vec<(String, u64, T)> = Vec::new();
    let mut kept = Vec::new();
    for candidate in instances {
        match read(candidate) {
            Some(instance) => {
                if instance.sop_class.as_deref() != Some(dicom::WSI_SOP_CLASS)
                    || !matches!(instance.flavor(), None | Some("VOLUME"))
                {
                    continue;
                }
                let series = instance.series_uid.clone().unwrap_or_default();
                let width = instance.size().map_or(0, |(w, _)| w);
                match best.iter_mut().find(|(s, _, _)| *s == series) {
                    Some(entry) if entry.1 < width => {
                        *entry = (series, width, candidate.clone());
                    }
                    Some(_) => {}
                    None => best.push((series, width, candidate.clone())),
                }
            }
            None => kept.push(candidate.clone()),
        }
    }
    kept.extend(best.into_iter().map(|(_, _, c)| c));
    kept
}

/// The level-0 file of the single DICOM series in folder `dir`.
fn dicom_series_level0(dir: &Path) -> Result<PathBuf, SlideError> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(|e| SlideError::new(dir, SlideErrorKind::Io(e)))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && extension(p).as_deref() == Some("dcm"))
        .collect();
    files.sort();
    let mut series = std::collections::BTreeSet::new();
    for path in &files {
        let instance = dicom_instance(path)?;
        if instance.sop_class.as_deref() == Some(dicom::WSI_SOP_CLASS) {
            series.insert(instance.series_uid.unwrap_or_default());
        }
    }
    let levels = dicom_levels0(&files);
    match (series.len(), levels.as_slice()) {
        (1, [level0]) => Ok(level0.clone()),
        (0, _) => Err(SlideError::new(
            dir,
            SlideErrorKind::NotASlide(
                "a folder without DICOM whole-slide files (*.dcm) of a VOLUME level".into(),
            ),
        )),
        (n, _) => Err(SlideError::new(
            dir,
            SlideErrorKind::NotASlide(format!(
                "the folder holds {n} DICOM series; a slide folder holds one"
            )),
        )),
    }
}
