//! From a folder of slides to verified results in one call (features `slides` and `bucket`).
//!
//! [`SlidesToResults`] runs the whole chain of the guide `docs/FROM_SLIDES_TO_RESULTS.md`:
//!
//! 1. **Inspecting**: every slide under the folder is read ([`slides::SlideItems`]: width,
//!    height, microns per pixel, media type, CRC32C), mapping rules applied; or the rows of the
//!    Python SDK's metadata CSV are taken as they are.
//! 2. **Uploading**: each slide goes to the bucket under a [`KeyTemplate`] key (default
//!    `{user}/{crc32c}/{name}`, so a re-run gives the same keys): an object already there with
//!    the same CRC32C is skipped, an interrupted multipart upload is resumed.
//! 3. **Submitting**: each item's `download_url` is a signed `GET` URL (6 days unless set) and
//!    its `custom_metadata.sdk.platform_bucket` names the object; the run is submitted with an
//!    idempotency key derived from the inputs (application, version, external ids, metadata,
//!    object keys; not the URLs' signatures), so the same call again returns the run it made.
//! 4. **Waiting** for the run and **Downloading** its results as items finish
//!    ([`Run::download_to`](crate::Run::download_to) waiting for the run): verified by CRC32C,
//!    resumed, files already verified skipped.
//!
//! Killed at any point and called again with the same arguments, it finishes without a
//! duplicate upload, run or download. One progress callback sees every phase in order (after
//! the submission, looks at the run and downloads interleave).
//!
//! ```no_run
//! use aignostics::pipeline::{Progress, SlidesToResults};
//!
//! let client = aignostics::Client::new()?;
//! let outcome = SlidesToResults::new(&client, "he-tme", "slides/")
//!     .mapping(".*:staining_method=H&E,tissue=LUNG,disease=LUNG_CANCER".parse()?)
//!     .tags(["study-17"])
//!     .on_progress(|p: &Progress| eprintln!("{p}"))
//!     .run_to("results/")?;
//! println!("run {}: {} files", outcome.run_id, outcome.download.as_ref().map_or(0, |d| d.downloaded.len()));
//! for failure in &outcome.slide_errors {
//!     eprintln!("not in the run: {}", failure.message); // names the file
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::bucket::{
    Bucket, DEFAULT_URL_VALIDITY, KeyTemplate, UploadEvent, UploadOutcome, UploadReport,
};
use crate::checksum::ChecksumIndex;
use crate::client::Client;
use crate::error::{Error, Result};
use crate::handlers::WaitOptions;
use crate::models::{RunCreationRequest, RunReadResponse};
use crate::sdk_metadata::SdkMetadata;
use crate::slides::{self, Inspector, Mapping, MetadataRow, MissingField, SlideItems};
use crate::submission::SubmitOptions;
use crate::{DownloadEvent, DownloadOptions, DownloadReport};

/// One step of [`SlidesToResults`], in the order they happen.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Progress {
    /// Reading the slides' headers (or the CSV) is about to start.
    Inspecting {
        /// The folder (or CSV file) being read.
        source: PathBuf,
    },
    /// The slides are read.
    Inspected {
        /// Slides that become items.
        slides: usize,
        /// Slides that could not be read (see [`Outcome::slide_errors`]).
        failed: usize,
        /// Slides not read again because they are unchanged since an earlier attempt (their
        /// checksums came from the checksum index).
        unchanged: usize,
    },
    /// Fields the version's schema declares and a row could set (specimen tissue and
    /// disease, staining method) are missing from some items: the application may expect
    /// them. Each is also logged as a warning.
    FieldsMissing {
        /// The fields, each with the items without it and the values allowed.
        fields: Vec<MissingField>,
    },
    /// A slide's upload moved on (a part stored or found stored).
    Uploading {
        /// The slide's external id (its path relative to the folder).
        external_id: String,
        /// Which slide, from 1.
        slide: usize,
        /// Of how many.
        slides: usize,
        /// Bytes of this slide stored so far (reused parts count).
        bytes_done: u64,
        /// The slide's size.
        bytes_total: u64,
    },
    /// A slide is in the bucket, verified: reported once per slide.
    Uploaded {
        /// The slide's external id.
        external_id: String,
        /// Which slide, from 1.
        slide: usize,
        /// Of how many.
        slides: usize,
        /// Sent, resumed, or already there (nothing sent).
        outcome: UploadOutcome,
        /// The slide's size.
        size: u64,
    },
    /// The run is submitted, or was found by its idempotency key.
    Submitted {
        /// The run's id.
        run_id: String,
        /// The run already existed (an earlier call made it); nothing was submitted.
        existing: bool,
        /// The idempotency key it carries.
        idempotency_key: String,
    },
    /// The run's state was polled.
    Waiting {
        /// Items that have finished (succeeded, failed or skipped).
        items_done: u64,
        /// Items of the run.
        items_total: u64,
    },
    /// A result file is finished or was already there.
    Downloading {
        /// Files finished or verified so far.
        files_done: usize,
        /// Bytes downloaded so far.
        bytes: u64,
        /// The file.
        path: PathBuf,
        /// The file was already there, verified; nothing was downloaded.
        already_there: bool,
    },
    /// Everything asked for is done.
    Done {
        /// The run's id.
        run_id: String,
    },
}

impl Progress {
    /// The phase's name: `inspecting`, `uploading`, `submitted`, `waiting`, `downloading`,
    /// `done`.
    pub fn phase(&self) -> &'static str {
        match self {
            Self::Inspecting { .. } | Self::Inspected { .. } | Self::FieldsMissing { .. } => {
                "inspecting"
            }
            Self::Uploading { .. } | Self::Uploaded { .. } => "uploading",
            Self::Submitted { .. } => "submitted",
            Self::Waiting { .. } => "waiting",
            Self::Downloading { .. } => "downloading",
            Self::Done { .. } => "done",
        }
    }
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Inspecting { source } => write!(f, "inspecting {}", source.display()),
            Self::Inspected {
                slides,
                failed,
                unchanged,
            } => {
                write!(f, "inspected {slides} slide(s), {failed} unreadable")?;
                if *unchanged > 0 {
                    write!(f, ", {unchanged} unchanged since the last read")?;
                }
                Ok(())
            }
            Self::FieldsMissing { fields } => {
                let lines: Vec<String> = fields
                    .iter()
                    .map(|m| format!("warning: {}", m.describe()))
                    .collect();
                f.write_str(&lines.join("\n"))
            }
            Self::Uploading {
                external_id,
                slide,
                slides,
                bytes_done,
                bytes_total,
            } => write!(
                f,
                "uploading {slide}/{slides} {external_id}: {bytes_done}/{bytes_total} bytes"
            ),
            Self::Uploaded {
                external_id,
                slide,
                slides,
                outcome,
                size,
            } => {
                let what = match outcome {
                    UploadOutcome::AlreadyPresent => "already in the bucket, not sent again",
                    UploadOutcome::Resumed => "uploaded (resumed)",
                    _ => "uploaded",
                };
                write!(f, "slide {slide}/{slides} {external_id}: {what} (")?;
                match *size {
                    n if n >= 1 << 20 => write!(f, "{:.1} MiB)", n as f64 / 1_048_576.0),
                    n if n >= 1 << 10 => write!(f, "{:.1} KiB)", n as f64 / 1024.0),
                    n => write!(f, "{n} bytes)"),
                }
            }
            Self::Submitted {
                run_id,
                existing,
                idempotency_key,
            } => {
                let how = if *existing {
                    "already submitted"
                } else {
                    "submitted"
                };
                write!(f, "{how} run {run_id} (idempotency key {idempotency_key})")
            }
            Self::Waiting {
                items_done,
                items_total,
            } => write!(f, "waiting: {items_done}/{items_total} items finished"),
            Self::Downloading {
                files_done,
                bytes,
                path,
                already_there,
            } => {
                let what = if *already_there {
                    "already there, verified"
                } else {
                    "downloaded"
                };
                write!(
                    f,
                    "file {files_done} {what}: {} ({bytes} bytes downloaded so far)",
                    path.display()
                )
            }
            Self::Done { run_id } => write!(f, "done: run {run_id}"),
        }
    }
}

/// A slide left out of the run: it could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct SlideFailure {
    /// The slide's path.
    pub slide: PathBuf,
    /// Why.
    pub message: String,
}

/// What [`SlidesToResults`] did.
#[derive(Debug)]
#[non_exhaustive]
pub struct Outcome {
    /// The run's id.
    pub run_id: String,
    /// The run existed before this call (found by its idempotency key).
    pub existing: bool,
    /// The idempotency key the run carries.
    pub idempotency_key: String,
    /// One report per uploaded (or skipped) slide, in item order.
    pub uploads: Vec<UploadReport>,
    /// Slides that could not be read and are not in the run.
    pub slide_errors: Vec<SlideFailure>,
    /// The run as it ended, when waited for.
    pub run: Option<Arc<RunReadResponse>>,
    /// The download, when asked for ([`SlidesToResults::run_to`]).
    pub download: Option<DownloadReport>,
}

impl Outcome {
    /// Every slide became an item and, when downloaded, every item's results are on disk and
    /// verified.
    pub fn is_complete(&self) -> bool {
        self.slide_errors.is_empty() && self.download.as_ref().is_none_or(|d| d.is_complete())
    }
}

/// What [`SlidesToResults::dry_run`] found: the run request as it would be submitted (with
/// placeholder download URLs) and the slides left out.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DryRun {
    /// The application.
    pub application_id: String,
    /// The version pinned for the run.
    pub version_number: String,
    /// The items, checked against the version's schema.
    pub items: Vec<crate::models::ItemCreationRequest>,
    /// Slides that could not be read and would not be in the run.
    pub slide_errors: Vec<SlideFailure>,
    /// Fields the version declares that some items leave out (see
    /// [`Progress::FieldsMissing`]).
    pub missing_fields: Vec<MissingField>,
}

type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// The checked rows: their builder, the rows, their media types, the unreadable slides and the
/// pinned version number.
pub(crate) type Checked = (
    SlideItems,
    Vec<MetadataRow>,
    Vec<Option<&'static str>>,
    Vec<SlideFailure>,
    String,
);

/// The rows to submit, each one's media type when known, the unreadable slides, and how many
/// slides were unchanged since an earlier read.
type Rows = (
    Vec<MetadataRow>,
    Vec<Option<&'static str>>,
    Vec<SlideFailure>,
    usize,
);

/// The whole chain from a folder of slides to verified results; see the [module](self).
///
/// Required parts are positional ([`new`](Self::new): client, application, folder;
/// [`run_to`](Self::run_to): the results folder); everything else is a builder method.
#[must_use]
#[derive(Clone)]
pub struct SlidesToResults<'a> {
    client: &'a Client,
    application: String,
    slides: PathBuf,
    version: Option<String>,
    csv: Option<PathBuf>,
    mappings: Vec<Mapping>,
    include: Option<String>,
    inspector: Inspector,
    index: Option<Arc<ChecksumIndex>>,
    /// Slides read in place in a bucket of the user's: the bucket and the key prefix.
    source: Option<(Bucket, String)>,
    /// Whether URLs signed with temporary credentials are accepted.
    session_urls: bool,
    /// Only the slides with these external ids (a cohort's retry).
    only: Option<Arc<std::collections::HashSet<String>>>,
    bucket: Option<Bucket>,
    bucket_endpoint: Option<String>,
    key_template: KeyTemplate,
    url_validity: Duration,
    part_size: Option<u64>,
    multipart_threshold: Option<u64>,
    upload_concurrency: Option<usize>,
    sdk: SdkMetadata,
    idempotency_key: Option<String>,
    custom_metadata: Option<Value>,
    wait: WaitOptions,
    download: DownloadOptions,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for SlidesToResults<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SlidesToResults")
            .field("application", &self.application)
            .field("version", &self.version)
            .field("slides", &self.slides)
            .field("csv", &self.csv)
            .field("bucket", &self.bucket)
            .field("key_template", &self.key_template)
            .finish_non_exhaustive()
    }
}

impl<'a> SlidesToResults<'a> {
    /// The chain for the slides under `slides` (searched recursively) and `application`
    /// (latest version unless [`version`](Self::version) is set).
    pub fn new(client: &'a Client, application: &str, slides: impl AsRef<Path>) -> Self {
        Self {
            client,
            application: application.to_string(),
            slides: slides.as_ref().to_path_buf(),
            version: None,
            csv: None,
            mappings: Vec::new(),
            include: None,
            inspector: Inspector::new(),
            index: Some(Arc::new(ChecksumIndex::in_cache_dir(
                client.api().settings(),
            ))),
            source: None,
            session_urls: false,
            only: None,
            bucket: None,
            bucket_endpoint: None,
            key_template: KeyTemplate::default(),
            url_validity: DEFAULT_URL_VALIDITY,
            part_size: None,
            multipart_threshold: None,
            upload_concurrency: None,
            sdk: SdkMetadata::new(),
            idempotency_key: None,
            custom_metadata: None,
            wait: WaitOptions::default(),
            download: DownloadOptions::default(),
            progress: None,
        }
    }

    /// The chain for the slides under `prefix` of a bucket of your own (see
    /// [`Bucket::from_url`]), read where they are: their headers by ranged reads, their
    /// CRC32Cs from the store or one streamed pass, and each item's download URL signed with
    /// the bucket's keys. Nothing is downloaded or uploaded. The idempotency key covers each
    /// object's bucket, key and CRC32C, so a changed object is a new submission.
    ///
    /// ```no_run
    /// use aignostics::bucket::Bucket;
    /// use aignostics::pipeline::SlidesToResults;
    ///
    /// let client = aignostics::Client::new()?;
    /// let (bucket, prefix) = Bucket::from_url("s3://my-lab/cohort-7/", None)?;
    /// let outcome = SlidesToResults::in_bucket(&client, "he-tme", bucket, &prefix)
    ///     .mapping(".*:tissue=LUNG,disease=LUNG_CANCER".parse()?)
    ///     .submit()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn in_bucket(client: &'a Client, application: &str, bucket: Bucket, prefix: &str) -> Self {
        let mut chain = Self::new(client, application, bucket.object_url(prefix));
        chain.source = Some((bucket, prefix.to_string()));
        chain
    }

    pub(crate) fn client(&self) -> &'a Client {
        self.client
    }

    pub(crate) fn application(&self) -> &str {
        &self.application
    }

    pub(crate) fn version_asked(&self) -> Option<&str> {
        self.version.as_deref()
    }

    pub(crate) fn custom_metadata_value(&self) -> Option<&Value> {
        self.custom_metadata.as_ref()
    }

    pub(crate) fn mapping_texts(&self) -> Vec<String> {
        self.mappings.iter().map(ToString::to_string).collect()
    }

    pub(crate) fn include_glob(&self) -> Option<&str> {
        self.include.as_deref()
    }

    /// Where the slides are, as text any machine can be told (an absolute folder, a CSV file
    /// with its slides' folder, or a bucket URL).
    pub(crate) fn source_description(&self) -> (String, Option<String>) {
        let absolute = |path: &Path| {
            std::path::absolute(path)
                .unwrap_or_else(|_| path.to_path_buf())
                .display()
                .to_string()
        };
        let slides = match &self.source {
            Some(_) => self.slides.display().to_string(),
            None => absolute(&self.slides),
        };
        match &self.csv {
            Some(csv) => (absolute(csv), Some(slides)),
            None => (slides, None),
        }
    }

    /// The external ids of the slides this chain would read, sorted, without reading any:
    /// the folder's or bucket prefix's slides (include glob applied), or the CSV's rows.
    pub(crate) fn listed_ids(&self) -> Result<Vec<String>> {
        let mut ids = match (&self.csv, &self.source) {
            (Some(csv), _) => slides::read_csv_file(csv)
                .map_err(prepare)?
                .into_iter()
                .map(|row| row.external_id)
                .collect(),
            (None, Some((bucket, prefix))) => {
                slides::list_bucket(bucket, prefix, self.include.as_deref()).map_err(prepare)?
            }
            (None, None) => {
                slides::list_folder(&self.slides, self.include.as_deref()).map_err(prepare)?
            }
        };
        ids.sort();
        Ok(ids)
    }

    /// Only the slides with these external ids are read and submitted.
    pub(crate) fn only(mut self, ids: Arc<std::collections::HashSet<String>>) -> Self {
        self.only = Some(ids);
        self
    }

    /// Accepts download URLs signed with temporary credentials (a session token), which stop
    /// working when the session ends, usually hours later (default: refused before anything
    /// is submitted, as the platform may fetch a slide days after the submission).
    pub fn accept_session_urls(mut self, accept: bool) -> Self {
        self.session_urls = accept;
        self
    }

    /// Where checksums of unchanged slides are remembered between attempts, so a re-run
    /// reads each slide's header only (default: the index in the settings' cache folder, see
    /// [`ChecksumIndex`]; `None` reads every slide on every attempt).
    pub fn checksum_index(mut self, index: Option<Arc<ChecksumIndex>>) -> Self {
        self.index = index;
        self
    }

    /// The application version, e.g. `1.0.0` (default: the latest, pinned before submitting).
    pub fn version(mut self, version: impl Into<String>) -> Self {
        self.version = Some(version.into());
        self
    }

    /// Rows from the Python SDK's metadata CSV (as `runs prepare` writes it) instead of
    /// inspecting the folder: each row's slide is `slides/{external_id}`; a row whose
    /// `platform_bucket_url` holds an `http(s)://` URL is used as is, a `gs://` or `s3://` URL
    /// of the bucket is signed, an empty one is uploaded. The CSV holds the slides' metadata
    /// already, so [`include`](Self::include) and [`inspector`](Self::inspector) have no effect
    /// with it (mappings still apply).
    pub fn csv(mut self, path: impl AsRef<Path>) -> Self {
        self.csv = Some(path.as_ref().to_path_buf());
        self
    }

    /// Adds a mapping rule (`REGEX:key=value,...`); rules apply in order, later ones winning.
    pub fn mapping(mut self, rule: Mapping) -> Self {
        self.mappings.push(rule);
        self
    }

    /// Only slides whose relative path matches the glob, e.g. `**/*.svs` (not with
    /// [`csv`](Self::csv), whose rows are the selection).
    pub fn include(mut self, glob: impl Into<String>) -> Self {
        self.include = Some(glob.into());
        self
    }

    /// Reads slides with `inspector` (threads, fallback resolution); not with
    /// [`csv`](Self::csv), whose rows carry the metadata.
    pub fn inspector(mut self, inspector: Inspector) -> Self {
        self.inspector = inspector;
        self
    }

    /// Uploads to `bucket` (default: the organization's, from [`Client::me`]).
    pub fn bucket(mut self, bucket: Bucket) -> Self {
        self.bucket = Some(bucket);
        self
    }

    /// The organization's bucket at this S3 endpoint (for protocols without a known one, such
    /// as the sandbox's `bucket_endpoint`; default: the client's
    /// [`Settings::bucket_endpoint`](crate::Settings::bucket_endpoint), from
    /// `AIGNOSTICS_BUCKET_ENDPOINT`).
    pub fn bucket_endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.bucket_endpoint = Some(endpoint.into());
        self
    }

    /// Object keys (default `{user}/{crc32c}/{name}`, `{name}` being the external id). Keep a
    /// template without `{date}` or `{timestamp}` for re-runs to find their objects.
    pub fn key_template(mut self, template: KeyTemplate) -> Self {
        self.key_template = template;
        self
    }

    /// Validity of the signed download URLs (default 6 days, at most 7).
    pub fn url_validity(mut self, validity: Duration) -> Self {
        self.url_validity = validity;
        self
    }

    /// Part size of multipart uploads (see [`Upload::part_size`](crate::bucket::Upload::part_size)).
    pub fn part_size(mut self, bytes: u64) -> Self {
        self.part_size = Some(bytes);
        self
    }

    /// Slides up to this size go in one `PUT` (see
    /// [`Upload::multipart_threshold`](crate::bucket::Upload::multipart_threshold)).
    pub fn multipart_threshold(mut self, bytes: u64) -> Self {
        self.multipart_threshold = Some(bytes);
        self
    }

    /// Parts of one slide in flight at once.
    pub fn upload_concurrency(mut self, threads: usize) -> Self {
        self.upload_concurrency = Some(threads);
        self
    }

    /// SDK metadata of the run (tags, note, scheduling, pipeline).
    pub fn sdk_metadata(mut self, metadata: SdkMetadata) -> Self {
        self.sdk = metadata;
        self
    }

    /// Tags of the run (shorthand for the SDK metadata's tags).
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.sdk = self.sdk.tags(tags);
        self
    }

    /// The idempotency key (default: derived from the inputs, so the same call returns the
    /// same run; a new key submits the same slides again).
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// Custom metadata of the run (a JSON object; part of the derived key).
    pub fn custom_metadata(mut self, metadata: Value) -> Self {
        self.custom_metadata = Some(metadata);
        self
    }

    /// How the run is waited for (interval, timeout). Its own progress callback is kept and
    /// called too.
    pub fn wait_options(mut self, options: WaitOptions) -> Self {
        self.wait = options;
        self
    }

    /// How results are downloaded (concurrency, timeouts). Its own event callback is kept
    /// and called too.
    pub fn download_options(mut self, options: DownloadOptions) -> Self {
        self.download = options;
        self
    }

    /// Calls `f` for every step, from the calling thread and the upload and download
    /// threads; steps of one phase never follow a later phase's, except that waiting and
    /// downloading interleave (items download as they finish).
    pub fn on_progress(mut self, f: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    /// Inspects, uploads and submits (or finds the run already submitted); nothing is waited
    /// for or downloaded.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when no slide can be read, a mapping or CSV is malformed or an
    /// item does not fit the version's schema; [`Error::Io`] for the folder; the upload's and
    /// the submission's errors (each safe to retry by calling again).
    pub fn submit(&self) -> Result<Outcome> {
        let outcome = self.submit_inner()?;
        self.emit(&Progress::Done {
            run_id: outcome.run_id.clone(),
        });
        Ok(outcome)
    }

    /// [`submit`](Self::submit), then waits for the run to terminate.
    ///
    /// # Errors
    /// As [`submit`](Self::submit), and [`Run::wait`](crate::Run::wait)'s.
    pub fn submit_and_wait(&self) -> Result<Outcome> {
        let mut outcome = self.submit_inner()?;
        outcome.run = Some(self.wait_for(&outcome.run_id)?);
        self.emit(&Progress::Done {
            run_id: outcome.run_id.clone(),
        });
        Ok(outcome)
    }

    /// The whole chain: inspect, upload, submit, wait, and download the results into `out`
    /// (`out/{run_id}/{external_id}/…`, every file verified by CRC32C; `out` is created when
    /// missing, and proven writable before any slide is uploaded).
    ///
    /// # Errors
    /// [`Error::Io`] naming `out` when it cannot be created or written, before anything is
    /// sent; otherwise as [`submit_and_wait`](Self::submit_and_wait), and
    /// [`Run::download_to`](crate::Run::download_to)'s; artifacts that failed are in the
    /// report, not an error. An error after the submission leaves the run going on the
    /// platform: calling again (same inputs, same key) finds it and finishes the job.
    pub fn run_to(&self, out: impl AsRef<Path>) -> Result<Outcome> {
        let out = out.as_ref();
        check_writable(out)?;
        let mut outcome = self.submit_inner()?;
        // Items are downloaded as they finish, while the run goes on: the download waits for
        // the run (at the wait options' interval and timeout) and reports each look at it.
        let last: Arc<parking_lot::Mutex<Option<RunReadResponse>>> = Arc::default();
        let mut options = self
            .download
            .clone()
            .wait_for_run(true)
            .poll_interval(self.wait.interval);
        if let Some(timeout) = self.wait.timeout {
            options = options.timeout(timeout);
        }
        let (seen, waiting) = (Arc::clone(&last), self.waiting());
        options = options.on_run(move |details| {
            waiting(details);
            *seen.lock() = Some(details.clone());
        });
        let files = Arc::new(parking_lot::Mutex::new((0usize, 0u64)));
        let inner = self.download.on_event.clone();
        let progress = self.progress.clone();
        options = options.on_event(move |event| {
            if let Some(f) = &inner {
                f(event);
            }
            // Counted and reported under one lock, so the steps arrive in their order.
            let mut state = files.lock();
            let (path, already_there) = match event {
                DownloadEvent::Finished { path, bytes } => {
                    state.1 = state.1.saturating_add(*bytes);
                    (path, false)
                }
                DownloadEvent::Skipped { path } => (path, true),
                _ => return,
            };
            state.0 += 1;
            if let Some(f) = &progress {
                f(&Progress::Downloading {
                    files_done: state.0,
                    bytes: state.1,
                    path: path.clone(),
                    already_there,
                });
            }
        });
        let run = self.client.run(&outcome.run_id);
        outcome.download = Some(run.download_to(out, &options)?);
        outcome.run = last.lock().take().map(Arc::new);
        self.emit(&Progress::Done {
            run_id: outcome.run_id.clone(),
        });
        Ok(outcome)
    }

    fn emit(&self, step: &Progress) {
        if let Some(f) = &self.progress {
            f(step);
        }
    }

    /// What every look at the run calls: the wait options' own callback, then
    /// [`Progress::Waiting`].
    fn waiting(&self) -> impl Fn(&RunReadResponse) + Send + Sync + 'static {
        let inner = self.wait.on_progress.clone();
        let progress = self.progress.clone();
        move |details| {
            if let Some(f) = &inner {
                f(details);
            }
            if let Some(f) = &progress {
                let (items_done, items_total) = details.items_finished();
                f(&Progress::Waiting {
                    items_done,
                    items_total,
                });
            }
        }
    }

    fn wait_for(&self, run_id: &str) -> Result<Arc<RunReadResponse>> {
        let options = self.wait.clone().on_progress(self.waiting());
        self.client.run(run_id).wait(&options)
    }

    /// The rows to submit with each slide's file, and the slides that could not be read.
    fn rows(&self, builder: &SlideItems) -> Result<Rows> {
        if let Some(csv) = &self.csv {
            let mut rows = slides::read_csv_file(csv).map_err(prepare)?;
            if let Some(ids) = &self.only {
                rows.retain(|row| ids.contains(&row.external_id));
            }
            for row in &mut rows {
                for rule in &self.mappings {
                    rule.apply(row);
                }
            }
            let media = vec![None; rows.len()];
            return Ok((rows, media, Vec::new(), 0));
        }
        let prepared = match &self.source {
            Some((bucket, prefix)) => builder.scan_bucket(bucket, prefix),
            None => builder.scan(&self.slides),
        }
        .map_err(prepare)?;
        let failures = prepared
            .failures
            .iter()
            .map(|e| SlideFailure {
                slide: e.path().to_path_buf(),
                message: e.to_string(),
            })
            .collect();
        let media = prepared.media_types.iter().map(|m| Some(*m)).collect();
        Ok((
            prepared.rows,
            media,
            failures,
            prepared.checksums_from_index,
        ))
    }

    fn open_bucket(&self) -> Result<Bucket> {
        if let Some(bucket) = &self.bucket {
            return Ok(bucket.clone());
        }
        let me = self.client.me()?;
        let endpoint =
            self.bucket_endpoint
                .as_ref()
                .or(self.client.api().settings().bucket_endpoint.as_ref());
        match endpoint {
            Some(endpoint) => Bucket::from_me_at(&me, endpoint),
            None => Bucket::from_me(&me),
        }
    }

    /// Inspects the slides (or reads the CSV), applies the mappings and checks every item
    /// against the version's schema: the items as they would be submitted, with placeholder
    /// download URLs, and the slides that could not be read. Nothing is uploaded or submitted
    /// (`runs submit --slides … --dry-run`).
    ///
    /// # Errors
    /// As [`submit`](Self::submit) before its first upload: no readable slide, a malformed
    /// mapping or CSV, an item that does not fit the schema.
    pub fn dry_run(&self) -> Result<DryRun> {
        let (builder, rows, media, slide_errors, version_number) = self.checked_rows()?;
        let placeholder = |row: &MetadataRow| {
            Ok(format!(
                "https://bucket.invalid/{}",
                crate::transport::seg(&row.external_id)
            ))
        };
        let media: Option<Vec<&'static str>> = media.iter().copied().collect();
        let items = builder
            .items_with(&rows, media.as_deref(), &placeholder)
            .map_err(prepare)?;
        Ok(DryRun {
            application_id: self.application.clone(),
            version_number,
            missing_fields: builder.missing_fields(&rows),
            items,
            slide_errors,
        })
    }

    /// The rows to submit, checked, with their builder, media types, the unreadable slides
    /// and the pinned version number.
    pub(crate) fn checked_rows(&self) -> Result<Checked> {
        self.emit(&Progress::Inspecting {
            source: self.csv.clone().unwrap_or_else(|| self.slides.clone()),
        });
        let version = self
            .client
            .application_version(&self.application, self.version.as_deref())?;
        let version_number = version.version_number.clone();
        let mut inspector = self.inspector.clone();
        if let Some(index) = &self.index {
            inspector = inspector.checksum_index(index.clone());
        }
        let mut builder = SlideItems::new(&self.application, version)
            .map_err(prepare)?
            .inspector(inspector);
        for rule in &self.mappings {
            builder = builder.mapping(rule.clone());
        }
        if let Some(glob) = &self.include {
            builder = builder.include(glob).map_err(prepare)?;
        }
        if let Some(ids) = &self.only {
            builder = builder.only(ids.clone());
        }
        let (rows, media, slide_errors, unchanged) = self.rows(&builder)?;
        self.emit(&Progress::Inspected {
            slides: rows.len(),
            failed: slide_errors.len(),
            unchanged,
        });
        if rows.is_empty() {
            let scan = slides::scan_folder(&self.slides).ok();
            return Err(Error::InvalidInput(match (&self.csv, scan) {
                (None, Some(scan)) if scan.slides.is_empty() => scan.nothing_found(&self.slides),
                (source, _) => format!(
                    "no readable slides in {} ({} could not be read)",
                    source.as_ref().unwrap_or(&self.slides).display(),
                    slide_errors.len()
                ),
            }));
        }
        // Checked before any byte is sent, with placeholder URLs.
        builder.check(&rows).map_err(prepare)?;
        let missing = builder.missing_fields(&rows);
        if !missing.is_empty() {
            for field in &missing {
                log::warn!("{}", field.describe());
            }
            self.emit(&Progress::FieldsMissing { fields: missing });
        }
        Ok((builder, rows, media, slide_errors, version_number))
    }

    fn submit_inner(&self) -> Result<Outcome> {
        let (builder, rows, media, slide_errors, version_number) = self.checked_rows()?;
        self.submit_rows(&builder, &rows, &media, slide_errors, &version_number)
    }

    /// Uploads (or signs in place) and submits `rows`, checked by
    /// [`checked_rows`](Self::checked_rows), as one run.
    pub(crate) fn submit_rows(
        &self,
        builder: &SlideItems,
        rows: &[MetadataRow],
        media: &[Option<&'static str>],
        slide_errors: Vec<SlideFailure>,
        version_number: &str,
    ) -> Result<Outcome> {
        check_url_validity(self.url_validity)?;
        if let Some((source, _)) = &self.source
            && source.has_session_token()
            && !self.session_urls
        {
            return Err(Error::Config(format!(
                "the keys for {} are temporary (a session token is set): the download URLs \
                 they sign stop working when the session ends, usually hours from now, while the \
                 platform may fetch a slide days later. Use the long-lived keys of a read-only \
                 user (s3:GetObject and s3:ListBucket on the prefix), or accept short-lived URLs \
                 knowingly (accept_session_urls, CLI --url-validity). Nothing was submitted",
                source.object_url("")
            )));
        }
        let bucket = match &self.source {
            // Slides in the user's own bucket: nothing is uploaded to the organization's.
            Some((source, _)) => source.clone(),
            None => self.open_bucket()?,
        };
        // Every object key is known, and every URL checked against the API's limit, before
        // the first byte is sent: a URL the platform would refuse costs no upload.
        let mut plans = Vec::with_capacity(rows.len());
        for row in rows {
            let (plan, url) = match self.given_url(&bucket, row)? {
                // An object of the user's bucket: its identity (bucket, key, CRC32C) keys the
                // submission, so a changed object is a new one.
                Some((url, Some(key))) if self.source.is_some() => (
                    Source::InPlace(
                        url.clone(),
                        format!("{}#{}", bucket.object_url(&key), row.checksum_base64_crc32c),
                    ),
                    url,
                ),
                Some((url, key)) => (Source::Given(url.clone(), key), url),
                None => {
                    let path = self.slide_path(row)?;
                    let crc = self.local_crc(row, &path)?;
                    let key = self.object_key(&bucket, row, crc)?;
                    // Signed again after the upload, so its validity starts then; the length
                    // does not change.
                    let url = bucket.signed_url(&key, self.url_validity)?;
                    (Source::Upload(path, crc, key), url)
                }
            };
            crate::handlers::run_checks::check_download_url(&row.external_id, "slide", &url)?;
            plans.push(plan);
        }
        let count = rows.len();
        let mut uploads = Vec::with_capacity(count);
        let mut objects: Vec<Option<String>> = Vec::with_capacity(count);
        // What keys each item's submission: its object in either bucket.
        let mut identities: Vec<Option<String>> = Vec::with_capacity(count);
        let mut urls: Vec<String> = Vec::with_capacity(count);
        for (i, (row, plan)) in rows.iter().zip(plans).enumerate() {
            match plan {
                Source::Given(url, key) => {
                    urls.push(url);
                    identities.push(key.clone());
                    objects.push(key);
                }
                Source::InPlace(url, identity) => {
                    urls.push(url);
                    identities.push(Some(identity));
                    objects.push(None);
                }
                Source::Upload(path, crc, key) => {
                    let report = self.upload(&bucket, row, &path, crc, &key, i + 1, count)?;
                    self.emit(&Progress::Uploaded {
                        external_id: row.external_id.clone(),
                        slide: i + 1,
                        slides: count,
                        outcome: report.outcome,
                        size: report.size,
                    });
                    urls.push(bucket.signed_url(&key, self.url_validity)?);
                    uploads.push(report);
                    identities.push(Some(key.clone()));
                    objects.push(Some(key));
                }
            }
        }

        let by_id: std::collections::HashMap<&str, &str> = rows
            .iter()
            .zip(&urls)
            .map(|(row, url)| (row.external_id.as_str(), url.as_str()))
            .collect();
        let url_of = |row: &MetadataRow| {
            by_id
                .get(row.external_id.as_str())
                .map(|u| (*u).to_string())
                .ok_or_else(|| "no URL".to_string())
        };
        let media: Option<Vec<&'static str>> = media.iter().copied().collect();
        let items = builder
            .items_with(rows, media.as_deref(), &url_of)
            .map_err(prepare)?;
        let mut request =
            RunCreationRequest::new(self.application.clone(), items).version_number(version_number);
        if let Some(metadata) = &self.custom_metadata {
            request = request.custom_metadata(metadata.clone());
        }
        // The key covers the object keys and the SDK metadata chosen (tags, note, …) but not
        // the URLs' signatures, which change on every call while the slides do not.
        // Without either, the key is the one earlier versions derived.
        let mut keyed = request.clone();
        if request.custom_metadata.is_some() || self.sdk != SdkMetadata::default() {
            keyed.custom_metadata = Some(json!({
                "custom": request.custom_metadata,
                "sdk": self.sdk.chosen(),
            }));
        }
        for (item, object) in keyed.items.iter_mut().zip(&identities) {
            if let Some(object) = object {
                item.custom_metadata = Some(json!({"object_key": object}));
            }
        }
        let key = match &self.idempotency_key {
            Some(key) => key.clone(),
            None => crate::idempotency_key_for(&keyed),
        };
        for (item, object) in request.items.iter_mut().zip(&objects) {
            if let Some(object) = object {
                item.custom_metadata = Some(json!({
                    "sdk": {"platform_bucket": bucket.platform_bucket_metadata(object, self.url_validity)?}
                }));
            }
        }
        let options = SubmitOptions::new()
            .idempotency_key(key)
            .sdk_metadata(self.sdk.clone());
        let submitted = self.client.runs().submit_with(request, &options)?;
        let outcome = Outcome {
            run_id: submitted.run().id().to_string(),
            existing: submitted.is_existing(),
            idempotency_key: submitted.idempotency_key().to_string(),
            uploads,
            slide_errors,
            run: None,
            download: None,
        };
        self.emit(&Progress::Submitted {
            run_id: outcome.run_id.clone(),
            existing: outcome.existing,
            idempotency_key: outcome.idempotency_key.clone(),
        });
        Ok(outcome)
    }

    /// A row's URL when the CSV names one: `http(s)://` as is; `gs://` or `s3://` of this
    /// bucket signed (with its object key). `None`: the slide is uploaded.
    fn given_url(
        &self,
        bucket: &Bucket,
        row: &MetadataRow,
    ) -> Result<Option<(String, Option<String>)>> {
        let Some(url) = row.platform_bucket_url.as_deref().map(str::trim) else {
            return Ok(None);
        };
        if url.is_empty() {
            return Ok(None);
        }
        if url.starts_with("https://") || url.starts_with("http://") {
            return Ok(Some((url.to_string(), None)));
        }
        let rest = url
            .strip_prefix("gs://")
            .or_else(|| url.strip_prefix("s3://"));
        match rest.and_then(|r| r.split_once('/')) {
            Some((name, key)) if name == bucket.name() && !key.is_empty() => Ok(Some((
                bucket.signed_url(key, self.url_validity)?,
                Some(key.to_string()),
            ))),
            // Slides read in place: an object of another bucket of the same account and store
            // is signed with the same keys (the item's checksum keys its submission).
            Some((name, key))
                if self.source.is_some()
                    && !key.is_empty()
                    && url.starts_with(&format!("{}://", bucket.scheme())) =>
            {
                Ok(Some((
                    bucket.sibling(name)?.signed_url(key, self.url_validity)?,
                    None,
                )))
            }
            _ => Err(Error::InvalidInput(format!(
                "item {:?}: platform_bucket_url {url:?} is neither an http(s) URL nor an object of \
                 the bucket {}",
                row.external_id,
                bucket.name()
            ))),
        }
    }

    /// The CRC32C of a row's local slide. From a folder it is the one just read from the file;
    /// from a CSV the file is read and must have the CSV's CRC32C (a CSV written before the
    /// file changed is refused, naming the row, before anything is uploaded).
    fn local_crc(&self, row: &MetadataRow, path: &Path) -> Result<u32> {
        let given = crate::checksum::decode(&row.checksum_base64_crc32c);
        if let (Some(crc), None) = (given, &self.csv) {
            return Ok(crc);
        }
        let actual = match &self.index {
            Some(index) => index.crc32c_file(path),
            None => crate::checksum::crc32c_file(path),
        }
        .map_err(|e| Error::io(path, e))?
        .0;
        match given {
            Some(crc) if crc != actual => Err(Error::InvalidInput(format!(
                "item {:?}: the CSV's checksum_base64_crc32c {} is not the CRC32C of {} ({}); \
                 the file changed after the CSV was written: run `runs prepare` again or fix the \
                 row. Nothing was uploaded or submitted",
                row.external_id,
                row.checksum_base64_crc32c,
                path.display(),
                crate::checksum::encode(actual)
            ))),
            _ => Ok(actual),
        }
    }

    /// The object key of a row's slide whose CRC32C is `crc`.
    fn object_key(&self, bucket: &Bucket, row: &MetadataRow, crc: u32) -> Result<String> {
        let millis = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis() as u64;
        self.key_template.render_with(
            bucket.user().unwrap_or("anonymous"),
            bucket.organization(),
            &row.external_id,
            Some(crc),
            millis,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn upload(
        &self,
        bucket: &Bucket,
        row: &MetadataRow,
        path: &Path,
        crc: u32,
        key: &str,
        slide: usize,
        slides: usize,
    ) -> Result<UploadReport> {
        let progress = self.progress.clone();
        let external_id = row.external_id.clone();
        let mut upload = bucket
            .upload(path, key)
            .crc32c(&crate::checksum::encode(crc))
            .on_progress(move |p| {
                let moved = matches!(
                    p.event,
                    UploadEvent::Started { .. }
                        | UploadEvent::PartSent { .. }
                        | UploadEvent::PartReused { .. }
                );
                if let (Some(f), true) = (&progress, moved) {
                    f(&Progress::Uploading {
                        external_id: external_id.clone(),
                        slide,
                        slides,
                        bytes_done: p.bytes_done,
                        bytes_total: p.bytes_total,
                    });
                }
            });
        if let Some(bytes) = self.part_size {
            upload = upload.part_size(bytes);
        }
        if let Some(bytes) = self.multipart_threshold {
            upload = upload.multipart_threshold(bytes);
        }
        if let Some(threads) = self.upload_concurrency {
            upload = upload.concurrency(threads);
        }
        if let Some(index) = &self.index {
            upload = upload.checksum_index(index);
        }
        upload.send()
    }

    /// The file of a row: `slides/{external_id}` (or `slides` itself for a single file).
    fn slide_path(&self, row: &MetadataRow) -> Result<PathBuf> {
        if row.external_id.split(['/', '\\']).any(|s| s == "..") {
            return Err(Error::InvalidInput(format!(
                "item {:?}: the external id may not contain `..`",
                row.external_id
            )));
        }
        let base = if self.slides.is_file() {
            self.slides.parent().unwrap_or(Path::new("")).to_path_buf()
        } else {
            self.slides.clone()
        };
        Ok(base.join(&row.external_id))
    }
}

/// Creates the results folder `out` when missing and proves a file can be written there,
/// before anything is uploaded or submitted: a folder found unwritable after the wait would
/// cost the whole wait.
fn check_writable(out: &Path) -> Result<()> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let probe = out.join(format!(".aignostics-write-check-{}", std::process::id()));
    let written = std::fs::write(&probe, b"");
    let _ = std::fs::remove_file(&probe);
    written.map_err(|e| {
        Error::io(
            out,
            std::io::Error::new(
                e.kind(),
                format!(
                    "the results folder is not writable ({e}); nothing was uploaded or submitted"
                ),
            ),
        )
    })
}

/// Where an item's slide comes from.
enum Source {
    /// A URL the CSV gave (and the object key, when it names one of the bucket).
    Given(String, Option<String>),
    /// An object of the user's own bucket, read in place: its signed URL and identity
    /// (`s3://bucket/key#crc32c`).
    InPlace(String, String),
    /// A local file to upload: path, CRC32C, object key.
    Upload(PathBuf, u32, String),
}

/// The validity of the slides' signed URLs: 1 s to 7 days (what SigV4 signs), refused before
/// anything is sent. Under the 6 days the platform asks for it is accepted with a warning (a
/// short validity is useful against a test platform; on the real one, items whose URL expires
/// before their slide is fetched fail).
fn check_url_validity(validity: Duration) -> Result<()> {
    crate::bucket::check_validity(validity)?;
    if validity < DEFAULT_URL_VALIDITY {
        log::warn!(
            "signed slide URLs are valid for {} s, less than the 6 days the platform asks for: \
             items whose slide is fetched after that fail",
            validity.as_secs()
        );
    }
    Ok(())
}

fn prepare(e: slides::PrepareError) -> Error {
    match e {
        slides::PrepareError::Invalid(e) => e,
        slides::PrepareError::Io(path, e) => Error::io(path, e),
        other => Error::InvalidInput(other.to_string()),
    }
}
