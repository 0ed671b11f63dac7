//! [`Run::download_to`]: every result of a run on disk, verified, resumable, in parallel.
//!
//! Layout: `dir/{run_id}/{external_id}/{artifact name}{ext}`, each part sanitised (see
//! [`Run::download_to`]). Per artifact the engine
//! 1. skips it when the final file exists and its CRC32C matches the published checksum (no
//!    request at all);
//! 2. otherwise takes a part file of its own, `<file>.<16 hex digits>.part`, locked while it
//!    writes: a new one, or the part a stopped download left (resumed with `Range`, starting
//!    over when the storage host ignores the range). When another download, in this process
//!    or another, is writing the same file, it waits for that one and then skips the verified
//!    file;
//! 3. asks for a fresh signed URL and computes the CRC32C while streaming; on a match it syncs
//!    the part and renames it into place atomically (replacing a file that did not match only
//!    now); on a mismatch it empties the part and downloads once more from zero, then gives up
//!    with [`Error::Checksum`];
//! 4. retries transport failures (timeouts, resets, truncated or overlong bodies, 5xx, a
//!    refused or expired signed URL) with resume, each attempt with a fresh signed URL. A part
//!    that holds no byte is removed when the artifact fails; one that holds bytes is kept for
//!    the next call to resume.

mod manifest;
#[cfg(feature = "results")]
pub(crate) use manifest::FILE as MANIFEST_FILE;
pub use manifest::{ManifestFile, ManifestItem, RunManifest};
mod names;
mod part;
mod sizes;
mod transfer;

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::Value;

use crate::error::{Error, Result};
use crate::handlers::Run;
use crate::handlers::run::wait::{DEFAULT_INTERVAL, Poller};
use crate::models::{
    ArtifactOutput, ItemOutput, ItemResultReadResponse, ItemState, ItemTerminationReason,
    RunReadResponse, RunState,
};

use names::Sibling;

/// Metadata key of the published checksum, as the platform and the Python SDK name it.
pub const DEFAULT_CHECKSUM_KEY: &str = "checksum_base64_crc32c";

/// Parallel downloads by default.
const DEFAULT_CONCURRENCY: usize = 4;

/// Most parallel downloads accepted (more threads would only contend for the link).
const MAX_CONCURRENCY: usize = 64;

/// Default per-read timeout of artifact bodies (the Python SDK's download timeout).
const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Items per page when listing a run's items.
const ITEMS_PAGE_SIZE: u32 = 100;

/// A progress callback, called from the download threads.
type EventFn = Arc<dyn Fn(&DownloadEvent) + Send + Sync>;

/// Options of [`Run::download_to`]: waiting, parallelism, checksum key, progress and timeouts.
///
/// ```
/// use std::time::Duration;
/// use aignostics::{DownloadEvent, DownloadOptions};
///
/// let options = DownloadOptions::default()
///     .concurrency(8)
///     .poll_interval(Duration::from_secs(30))
///     .timeout(Duration::from_secs(12 * 3600))
///     .on_event(|event| {
///         if let DownloadEvent::Finished { path, bytes } = event {
///             eprintln!("{} ({bytes} bytes)", path.display());
///         }
///     });
/// ```
#[derive(Clone)]
#[must_use]
pub struct DownloadOptions {
    wait: bool,
    concurrency: usize,
    checksum_key: String,
    pub(crate) on_event: Option<EventFn>,
    pub(crate) on_run: Option<crate::handlers::run::wait::ProgressFn>,
    poll_interval: Duration,
    timeout: Option<Duration>,
    read_timeout: Duration,
    /// Only artifacts of these names (all when `None`).
    only: Option<Vec<String>>,
}

impl Default for DownloadOptions {
    /// Waits for the run, 4 parallel downloads, `checksum_base64_crc32c`, polls every 5 s, no
    /// timeout, 60 s per-read timeout, no callback.
    fn default() -> Self {
        Self {
            wait: true,
            concurrency: DEFAULT_CONCURRENCY,
            checksum_key: DEFAULT_CHECKSUM_KEY.to_string(),
            on_event: None,
            on_run: None,
            poll_interval: DEFAULT_INTERVAL,
            timeout: None,
            read_timeout: DEFAULT_READ_TIMEOUT,
            only: None,
        }
    }
}

impl std::fmt::Debug for DownloadOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DownloadOptions")
            .field("wait", &self.wait)
            .field("concurrency", &self.concurrency)
            .field("checksum_key", &self.checksum_key)
            .field("on_event", &self.on_event.is_some())
            .field("on_run", &self.on_run.is_some())
            .field("poll_interval", &self.poll_interval)
            .field("timeout", &self.timeout)
            .field("read_timeout", &self.read_timeout)
            .field("only", &self.only)
            .finish()
    }
}

impl DownloadOptions {
    /// Downloads only the output artifacts of these names, e.g.
    /// `["readout_generation:slide_readouts"]` for a cohort table without the large polygon
    /// files (default: every artifact). The others keep their place in the manifest, not
    /// downloaded; file names do not depend on the choice.
    ///
    /// ```
    /// let options = aignostics::DownloadOptions::default()
    ///     .artifacts(["readout_generation:slide_readouts"]);
    /// # let _ = options;
    /// ```
    pub fn artifacts<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.only = Some(names.into_iter().map(Into::into).collect());
        self
    }

    /// Whether to wait for the run to terminate, downloading items as they finish (default
    /// `true`). With `false`, one pass downloads the items finished so far and lists the others
    /// in [`DownloadReport::pending_items`].
    pub fn wait_for_run(mut self, wait: bool) -> Self {
        self.wait = wait;
        self
    }

    /// Calls `f` with the run's details at every look at the run (each poll while waiting),
    /// from the calling thread: the run's progress while its items download.
    pub fn on_run(mut self, f: impl Fn(&RunReadResponse) + Send + Sync + 'static) -> Self {
        self.on_run = Some(Arc::new(f));
        self
    }

    /// Number of parallel downloads (default 4, at least 1, at most 64).
    pub fn concurrency(mut self, workers: usize) -> Self {
        self.concurrency = workers.clamp(1, MAX_CONCURRENCY);
        self
    }

    /// The artifact metadata key holding the published checksum (default
    /// `checksum_base64_crc32c`).
    pub fn checksum_key(mut self, key: impl Into<String>) -> Self {
        self.checksum_key = key.into();
        self
    }

    /// Called for every [`DownloadEvent`], from the download threads (so possibly from several
    /// at once).
    pub fn on_event(mut self, f: impl Fn(&DownloadEvent) + Send + Sync + 'static) -> Self {
        self.on_event = Some(Arc::new(f));
        self
    }

    /// Pause between two looks at the run while waiting (default 5 s).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// Give up with [`Error::Timeout`] when the run has not terminated after this long. The
    /// same deadline ends every read, retry and download attempt of the call: artifacts still
    /// unfinished then are reported in [`DownloadReport::failed`], their partial files kept for
    /// the next call to resume. A timeout too long to represent (such as `Duration::MAX`) means
    /// no timeout.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Longest silence while reading an artifact's body before the attempt counts as failed and
    /// is retried with resume (default 60 s). There is deliberately no whole-body timeout: a
    /// large artifact on a slow link may take hours.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }
}

/// Progress of one artifact; see [`DownloadOptions::on_event`]. Paths are final file paths.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DownloadEvent {
    /// The storage host answered; bytes are about to flow (also sent again after a retry).
    Started {
        /// The file being written.
        path: PathBuf,
        /// The artifact's size, when the storage host told it.
        total: Option<u64>,
    },
    /// More bytes arrived.
    Bytes {
        /// The file being written.
        path: PathBuf,
        /// Bytes of the artifact on disk so far (a resumed prefix included).
        received: u64,
        /// The artifact's size, when known.
        total: Option<u64>,
    },
    /// The file is complete, verified and in place.
    Finished {
        /// The file.
        path: PathBuf,
        /// Its size.
        bytes: u64,
    },
    /// The file was already complete and verified (or another download, perhaps in another
    /// process, completed it while this one waited); nothing was requested.
    Skipped {
        /// The file.
        path: PathBuf,
    },
    /// The artifact could not be downloaded; see [`DownloadReport::failed`].
    Failed {
        /// The file it would have been.
        path: PathBuf,
        /// What went wrong.
        error: String,
    },
}

/// One artifact that could not be downloaded.
#[derive(Debug)]
#[non_exhaustive]
pub struct ArtifactFailure {
    /// External id of the artifact's item.
    pub external_id: String,
    /// Output artifact id.
    pub artifact_id: String,
    /// Artifact name, e.g. `tissue_qc:geojson_polygons`.
    pub artifact_name: String,
    /// The file it would have been written to.
    pub path: PathBuf,
    /// Why it failed (e.g. [`Error::is_gone`] for a deleted artifact, [`Error::Checksum`]).
    pub error: Error,
}

/// An item that terminated without output, so no files exist for it.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct ItemFailure {
    /// The caller's id of the item.
    pub external_id: String,
    /// The platform's id of the item.
    pub item_id: String,
    /// Why it terminated: `USER_ERROR` or `SYSTEM_ERROR` when it failed, `SKIPPED` when it was
    /// not processed (e.g. the run was cancelled).
    pub termination_reason: Option<ItemTerminationReason>,
    /// The platform's error code, if any.
    pub error_code: Option<String>,
    /// The platform's error message, if any.
    pub error_message: Option<String>,
}

/// What [`Run::download_to`] did. Paths are sorted.
#[derive(Debug, Default)]
#[non_exhaustive]
pub struct DownloadReport {
    /// Files downloaded and verified by this call.
    pub downloaded: Vec<PathBuf>,
    /// Files already complete and verified, or completed meanwhile by another download of the
    /// same directory; nothing was requested for them.
    pub skipped: Vec<PathBuf>,
    /// Artifacts that could not be downloaded (deleted, no checksum metadata, checksum
    /// mismatch twice, transport failures beyond the retries, …). Partial files of transport
    /// failures are kept so the next call resumes them.
    pub failed: Vec<ArtifactFailure>,
    /// Items that terminated without output (failed or skipped on the platform).
    pub failed_items: Vec<ItemFailure>,
    /// External ids of items that had not terminated when the call returned (only without
    /// [`DownloadOptions::wait_for_run`]).
    pub pending_items: Vec<String>,
    /// Bytes in the files downloaded by this call.
    pub bytes: u64,
}

impl DownloadReport {
    /// Whether every item produced output and every artifact is on disk, verified.
    pub fn is_complete(&self) -> bool {
        self.failed.is_empty() && self.failed_items.is_empty() && self.pending_items.is_empty()
    }
}

/// The error of a download stopped because the whole call is ending.
fn abandoned() -> Error {
    Error::UnexpectedResponse {
        operation: transfer::OPERATION.to_string(),
        message: "stopped before completion; the partial file is kept for resuming".to_string(),
    }
}

/// One artifact to fetch.
struct Job {
    external_id: String,
    artifact_id: String,
    artifact_name: String,
    path: PathBuf,
    /// The published checksum; `None` when the metadata lacks it.
    expected: Option<String>,
}

/// Shared state of one `download_to` call.
struct Engine<'a> {
    /// The run, read until the call's deadline, neither from the cache nor into it.
    run: Run,
    options: &'a DownloadOptions,
    abort: AtomicBool,
    /// The caller's cancellation (a dropped async future), seen by every worker thread.
    cancel: crate::cancel::Token,
    report: Mutex<DownloadReport>,
    /// The run and its items at the last look, for the manifest.
    manifest: Mutex<Option<(Arc<RunReadResponse>, Vec<manifest::Entry>)>>,
}

impl Engine<'_> {
    /// Rewrites the manifest from the last look at the run and the files verified so far; a
    /// failure to write it is logged, never a failed download.
    fn write_manifest(&self, run_dir: &Path) {
        let last = self.manifest.lock();
        let Some((details, entries)) = last.as_ref() else {
            return;
        };
        let verified: HashSet<PathBuf> = {
            let report = self.report.lock();
            report
                .downloaded
                .iter()
                .chain(&report.skipped)
                .cloned()
                .collect()
        };
        if let Err(e) = manifest::write(run_dir, details, entries, &verified) {
            log::warn!(
                "could not write {}: {e}",
                run_dir.join(manifest::FILE).display()
            );
        }
    }

    fn emit(&self, event: DownloadEvent) {
        if let Some(f) = &self.options.on_event {
            f(&event);
        }
    }

    fn aborted(&self) -> bool {
        self.abort.load(Ordering::Relaxed) || self.cancel.is_cancelled()
    }

    /// Takes jobs until the queue closes.
    fn work(&self, queue: &Mutex<mpsc::Receiver<Job>>) {
        loop {
            let next = queue.lock().recv();
            let Ok(job) = next else { return };
            if self.aborted() {
                continue;
            }
            match transfer::download(self, &job) {
                Ok(transfer::Outcome::Skipped) => {
                    self.emit(DownloadEvent::Skipped {
                        path: job.path.clone(),
                    });
                    self.report.lock().skipped.push(job.path);
                }
                Ok(transfer::Outcome::Downloaded(bytes)) => {
                    self.emit(DownloadEvent::Finished {
                        path: job.path.clone(),
                        bytes,
                    });
                    let mut report = self.report.lock();
                    report.downloaded.push(job.path);
                    report.bytes = report.bytes.saturating_add(bytes);
                }
                Err(error) => {
                    log::warn!("could not download {}: {error}", job.path.display());
                    self.emit(DownloadEvent::Failed {
                        path: job.path.clone(),
                        error: error.to_string(),
                    });
                    self.report.lock().failed.push(ArtifactFailure {
                        external_id: job.external_id,
                        artifact_id: job.artifact_id,
                        artifact_name: job.artifact_name,
                        path: job.path,
                        error,
                    });
                }
            }
        }
    }

    /// Looks at the run (and, when waiting, keeps looking) and queues every artifact of every
    /// newly finished item. Each page of items is reduced to what planning needs as it
    /// arrives, so a pass holds a few hundred bytes per item, not the items themselves.
    fn plan(&self, run_dir: &Path, queue: &mpsc::Sender<Job>, poller: &Poller) -> Result<()> {
        let mut seen: HashSet<String> = HashSet::new();
        loop {
            // Read the run before its items: when it says TERMINATED, the items read next
            // are final, so this pass is the last one.
            let details = self
                .run
                .details()
                .map_err(|e| poller.failed(self.run.id(), e))?;
            if let Some(f) = &self.options.on_run {
                f(&details);
            }
            let items: Vec<Planned> = self
                .run
                .items()
                .page_size(ITEMS_PAGE_SIZE)
                .iter()
                .at_most(u64::try_from(details.statistics.item_count).unwrap_or(u64::MAX))
                .map(|item| item.map(|i| Planned::new(i, &self.options.checksum_key)))
                .collect::<Result<_>>()
                .map_err(|e| poller.failed(self.run.id(), e))?;
            let item_dirs = item_dir_names(&items);
            *self.manifest.lock() = Some((details.clone(), manifest_entries(&items, &item_dirs)));
            self.write_manifest(run_dir);
            for (item, dir_name) in items.iter().zip(&item_dirs) {
                if matches!(item.outcome, Outcome::Pending) || !seen.insert(item.item_id.clone()) {
                    continue;
                }
                match &item.outcome {
                    Outcome::Artifacts(artifacts) => {
                        for job in self.jobs(&item.external_id, artifacts, &run_dir.join(dir_name))
                        {
                            // The receivers live until every sender is gone, so this cannot fail.
                            let _ = queue.send(job);
                        }
                    }
                    Outcome::Failed(failure) => {
                        self.report.lock().failed_items.push(failure.clone());
                    }
                    Outcome::Pending => {}
                }
            }
            if details.state == RunState::Terminated || !self.options.wait {
                self.report.lock().pending_items = items
                    .into_iter()
                    .filter(|i| matches!(i.outcome, Outcome::Pending))
                    .map(|i| i.external_id)
                    .collect();
                return Ok(());
            }
            poller.pause(self.run.id(), &details)?;
        }
    }

    /// The downloads of one item: every `AVAILABLE` artifact. Deleted artifacts are reported
    /// as failures (their results are gone); artifacts without output are ignored.
    fn jobs(&self, external_id: &str, artifacts: &[PlannedArtifact], item_dir: &Path) -> Vec<Job> {
        let file_names = artifact_file_names(artifacts);
        let mut jobs = Vec::new();
        for (artifact, file_name) in artifacts.iter().zip(file_names) {
            if self
                .options
                .only
                .as_ref()
                .is_some_and(|only| !only.contains(&artifact.name))
            {
                continue;
            }
            let path = item_dir.join(file_name);
            match &artifact.output {
                ArtifactOutput::Available => jobs.push(Job {
                    external_id: external_id.to_string(),
                    artifact_id: artifact.id.clone(),
                    artifact_name: artifact.name.clone(),
                    path,
                    expected: artifact.expected.clone(),
                }),
                ArtifactOutput::DeletedByUser | ArtifactOutput::DeletedBySystem => {
                    let error = Error::UnexpectedResponse {
                        operation: transfer::OPERATION.to_string(),
                        message: format!(
                            "artifact `{}` of item `{}` is no longer available ({})",
                            artifact.name, external_id, artifact.output
                        ),
                    };
                    self.emit(DownloadEvent::Failed {
                        path: path.clone(),
                        error: error.to_string(),
                    });
                    self.report.lock().failed.push(ArtifactFailure {
                        external_id: external_id.to_string(),
                        artifact_id: artifact.id.clone(),
                        artifact_name: artifact.name.clone(),
                        path,
                        error,
                    });
                }
                _ => {}
            }
        }
        jobs
    }
}

/// What planning keeps of an item: its ids and what it came to.
struct Planned {
    item_id: String,
    external_id: String,
    outcome: Outcome,
}

/// Where an item stands for the download.
enum Outcome {
    /// Not terminated yet.
    Pending,
    /// Terminated with output `FULL`: its artifacts.
    Artifacts(Vec<PlannedArtifact>),
    /// Terminated without output: the failure it is reported as.
    Failed(ItemFailure),
}

/// What planning keeps of an output artifact.
struct PlannedArtifact {
    id: String,
    name: String,
    /// The file extension its MIME type gives.
    ext: &'static str,
    output: ArtifactOutput,
    /// The published checksum; `None` when the metadata lacks it.
    expected: Option<String>,
}

impl Planned {
    fn new(item: ItemResultReadResponse, checksum_key: &str) -> Self {
        let outcome = if item.state != ItemState::Terminated {
            Outcome::Pending
        } else if item.output == ItemOutput::Full {
            Outcome::Artifacts(
                item.output_artifacts
                    .into_iter()
                    .map(|a| PlannedArtifact {
                        ext: names::extension(a.metadata.as_ref()),
                        expected: a
                            .metadata
                            .as_ref()
                            .and_then(|m| m.get(checksum_key))
                            .and_then(Value::as_str)
                            .filter(|s| !s.trim().is_empty())
                            .map(str::to_string),
                        id: a.output_artifact_id,
                        name: a.name,
                        output: a.output,
                    })
                    .collect(),
            )
        } else {
            Outcome::Failed(ItemFailure {
                external_id: item.external_id.clone(),
                item_id: item.item_id.clone(),
                termination_reason: item.termination_reason,
                error_code: item.error_code,
                error_message: item.error_message,
            })
        };
        Self {
            item_id: item.item_id,
            external_id: item.external_id,
            outcome,
        }
    }
}

/// Directory names of a run's items, decided over the whole set so they never collide.
/// The file names of one item's artifacts (unique within its folder).
fn artifact_file_names(artifacts: &[PlannedArtifact]) -> Vec<String> {
    let siblings: Vec<Sibling<'_>> = artifacts
        .iter()
        .map(|a| Sibling {
            key: &a.id,
            name: &a.name,
            ext: a.ext,
        })
        .collect();
    names::unique_names(&siblings)
}

/// The manifest's view of planned items in their folders.
fn manifest_entries(items: &[Planned], dirs: &[String]) -> Vec<manifest::Entry> {
    items
        .iter()
        .zip(dirs)
        .map(|(item, folder)| {
            let (state, files) = match &item.outcome {
                Outcome::Pending => (manifest::ItemState::Pending, Vec::new()),
                Outcome::Failed(f) => (manifest::ItemState::Failed(f.clone()), Vec::new()),
                Outcome::Artifacts(artifacts) => {
                    let files = artifacts
                        .iter()
                        .zip(artifact_file_names(artifacts))
                        .map(|(a, file)| manifest::EntryFile {
                            file,
                            artifact: a.name.clone(),
                            artifact_id: a.id.clone(),
                            crc32c: a.expected.clone(),
                        })
                        .collect();
                    (manifest::ItemState::Succeeded, files)
                }
            };
            manifest::Entry {
                external_id: item.external_id.clone(),
                folder: folder.clone(),
                state,
                files,
            }
        })
        .collect()
}

fn item_dir_names(items: &[Planned]) -> Vec<String> {
    let siblings: Vec<Sibling<'_>> = items
        .iter()
        .map(|i| Sibling {
            key: &i.external_id,
            name: &i.external_id,
            ext: "",
        })
        .collect();
    names::unique_names(&siblings)
}

fn check_dir(dir: &Path) -> Result<()> {
    match std::fs::metadata(dir) {
        Ok(m) if m.is_dir() => Ok(()),
        Ok(_) => Err(Error::InvalidInput(format!(
            "download target {} is not a directory",
            dir.display()
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(Error::InvalidInput(format!(
            "download target {} does not exist",
            dir.display()
        ))),
        Err(e) => Err(Error::io(dir, e)),
    }
}

/// The name of a run's folder inside a download's directory.
pub(crate) fn run_folder(run_id: &str) -> String {
    names::unique_alone(run_id)
}

/// Downloads every result of `run` into `dir`; see [`Run::download_to`].
pub(crate) fn download_run(
    run: &Run,
    dir: &Path,
    options: &DownloadOptions,
) -> Result<DownloadReport> {
    check_dir(dir)?;
    let run_dir = dir.join(run_folder(run.id()));
    std::fs::create_dir_all(&run_dir).map_err(|e| Error::io(&run_dir, e))?;

    // One deadline for the whole call: the engine's reads stop where the poller times out.
    let poller = Poller::new(options.poll_interval, options.timeout);
    let engine = Engine {
        run: run.bypassing_cache().until(poller.deadline()),
        options,
        abort: AtomicBool::new(false),
        cancel: crate::cancel::current(),
        report: Mutex::new(DownloadReport::default()),
        manifest: Mutex::new(None),
    };
    let (sender, receiver) = mpsc::channel::<Job>();
    let queue = Mutex::new(receiver);
    let planned = std::thread::scope(|scope| {
        for _ in 0..options.concurrency.clamp(1, MAX_CONCURRENCY) {
            scope.spawn(|| engine.cancel.enter(|| engine.work(&queue)));
        }
        let planned = engine.plan(&run_dir, &sender, &poller);
        if planned.is_err() {
            // Stop the workers at their next chunk; partial files stay for a later resume.
            engine.abort.store(true, Ordering::Relaxed);
        }
        drop(sender);
        planned
    });
    engine.write_manifest(&run_dir);
    planned?;
    let mut report = engine.report.into_inner();
    report.downloaded.sort();
    report.skipped.sort();
    report.failed.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(report)
}

#[cfg_attr(feature = "async", aignostics_macros::twin)]
impl Run {
    /// Downloads every result of the run into `dir/{run_id}/{external_id}/{artifact name}{ext}`
    /// and returns what happened; per-artifact failures are in the report, not an error.
    ///
    /// - `dir` must exist and be a directory.
    /// - Names are sanitised into single path components (no separators, `.`/`..`, control or
    ///   Windows-reserved characters or device names), so external ids like `../../x` stay
    ///   inside `dir`. Names that collide after sanitising, even only by case, get a short
    ///   hash suffix, so two artifacts never share a file.
    /// - The extension follows the artifact's MIME type (`metadata.media_type`, else
    ///   `mime_type`): `.png`, `.tiff`, `.parquet`, `.json` (JSON and GeoJSON), `.csv`, else
    ///   `.bin`.
    /// - Like the Python SDK, only items that are `TERMINATED` with output `FULL` are
    ///   downloaded, and of those only artifacts whose output is `AVAILABLE`. Items that
    ///   terminated without output are listed in [`DownloadReport::failed_items`]; deleted
    ///   artifacts and artifacts without checksum metadata in [`DownloadReport::failed`].
    /// - Every file is verified against its published CRC32C before it appears under its
    ///   final name; existing verified files are skipped without any request, so calling
    ///   again after an interruption only fetches what is missing, resuming partial files.
    /// - By default the call waits for the run and downloads items as they finish, polling
    ///   the run and its items without the cache; see [`DownloadOptions`].
    ///
    /// Errors: an invalid `dir`, a failure reading the run or its items (after retries), or
    /// [`Error::Timeout`](crate::Error::Timeout) when [`DownloadOptions::timeout`] expires before the run terminates.
    /// Files completed before such an error stay on disk and are skipped next time.
    ///
    /// The bearer token is only sent to the platform, never to the storage host; each
    /// download uses a fresh signed URL, asks for `Accept-Encoding: identity`, and reads the
    /// body in bounded chunks, so memory stays constant whatever the artifact size.
    ///
    /// ```no_run
    /// use aignostics::DownloadOptions;
    /// # let client = aignostics::Client::new()?;
    /// let run = client.run("3fa85f64-5717-4562-b3fc-2c963f66afa6");
    /// let report = run.download_to("results", &DownloadOptions::default())?;
    /// println!("{} new files, {} bytes", report.downloaded.len(), report.bytes);
    /// for failure in &report.failed {
    ///     eprintln!("{}: {}", failure.path.display(), failure.error);
    /// }
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn download_to(
        &self,
        dir: impl AsRef<Path>,
        options: &DownloadOptions,
    ) -> Result<DownloadReport> {
        download_run(self, dir.as_ref(), options)
    }
}
