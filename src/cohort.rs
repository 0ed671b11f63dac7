//! Cohorts: thousands of slides in many runs, from any number of machines, with the platform
//! as the ledger (features `slides` and `bucket`).
//!
//! A cohort is a name, a slide source (a folder, a bucket prefix or the metadata CSV, set up
//! as a [`SlidesToResults`]), an application version, the mapping and a batch size. Its slides
//! are listed, ordered by external id and cut into batches before any is read (a worker reads
//! only its own batches' slides, and an unreadable slide leaves its batch smaller); each
//! batch is one run whose custom
//! metadata records the cohort (name, round, batch, a digest of its slides, the definition)
//! and whose idempotency key derives from the cohort, the round, the batch and that digest.
//! So the platform itself is the ledger:
//!
//! - [`Cohort::submit`] submits the batches not on the platform yet; killed and run again,
//!   anywhere, it never submits a batch twice. The version is pinned by the cohort's first
//!   run: a release in between never splits a study.
//! - [`status`] gives every slide's state across all the cohort's runs, from any machine.
//! - [`Cohort::retry_failed`] submits the failed slides again in a new round (its number is
//!   in the key), never a slide that succeeded or is still going.
//! - [`cancel`] cancels the runs still going; [`download`] fetches every run's results and
//!   gives each slide's latest results one folder of their own.
//! - [`Shard`]: `N` workers, each with its own index `K`, split the batches among them
//!   (Kubernetes Indexed Jobs, Slurm and AWS Batch arrays set `K` for you, see
//!   [`Shard::from_env`]); they can share one token through [`RedisTokenCache`](crate::auth).
//!
//! ```no_run
//! use aignostics::cohort::{Cohort, Shard};
//! use aignostics::pipeline::SlidesToResults;
//!
//! let client = aignostics::Client::new()?;
//! let slides = SlidesToResults::new(&client, "he-tme", "/data/study-17/")
//!     .mapping(".*:staining_method=H&E,tissue=LUNG,disease=LUNG_CANCER".parse()?);
//! let report = Cohort::new("study-17", slides)?
//!     .batch_size(25)
//!     .shard(Shard::from_env(Some(8))?)
//!     .submit()?;
//! println!("{} batches submitted, {} already there", report.submitted.len(), report.existing.len());
//!
//! let status = aignostics::cohort::status(&client, "study-17")?;
//! println!("{:?}", status.totals());
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod download;
mod shard;
mod status;

pub use download::{CohortDownload, RUNS_FOLDER, SLIDES_FOLDER, download};
pub use shard::Shard;
pub use status::{
    CohortRun, CohortStatus, Definition, SlideRecord, SlideState, Totals, runs, status,
};

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

use serde_json::json;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::pipeline::{self, SlideFailure, SlidesToResults};
use crate::slides::MetadataRow;

/// Slides per run unless [`Cohort::batch_size`] says otherwise.
pub const DEFAULT_BATCH_SIZE: usize = 25;

/// Longest cohort name (the batch keys stay within the 128 characters a key may have).
const MAX_NAME_LEN: usize = 48;

/// Checks a cohort name: 1 to 48 letters, digits, `.`, `_` and `-` (it is part of each run's
/// idempotency key and of a metadata filter).
pub(crate) fn check_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_LEN
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "cohort name '{}' must be 1 to {MAX_NAME_LEN} letters, digits, '.', '_' and '-'",
            name.escape_debug()
        )))
    }
}

/// One step of a cohort's submission.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Progress {
    /// A step of reading the slides or of one batch's upload and submission.
    Slides(pipeline::Progress),
    /// The slides are read and cut into batches.
    Planned {
        /// The round: 0 for the cohort's first submission, then one per retry.
        round: u32,
        /// Slides in the round.
        slides: usize,
        /// Batches in the round.
        batches: usize,
        /// Batches this worker takes (its shard).
        owned: usize,
        /// Of those, batches already on the platform.
        on_platform: usize,
        /// The version the cohort is pinned to.
        version_number: String,
    },
    /// A batch is on the platform: submitted now, or found there.
    Batch {
        /// Its round.
        round: u32,
        /// Its index.
        batch: usize,
        /// Its run.
        run_id: String,
        /// Its slides.
        slides: usize,
        /// It was there already; nothing was submitted.
        existing: bool,
    },
}

impl fmt::Display for Progress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Slides(step) => step.fmt(f),
            Self::Planned {
                round,
                slides,
                batches,
                owned,
                on_platform,
                version_number,
            } => {
                let what = if *round == 0 {
                    "cohort".to_string()
                } else {
                    format!("retry round {round}")
                };
                write!(
                    f,
                    "{what}: {slides} slide(s) in {batches} batch(es) on version \
                     {version_number}; this worker takes {owned}, {on_platform} of them already \
                     on the platform"
                )
            }
            Self::Batch {
                round,
                batch,
                run_id,
                slides,
                existing,
            } => {
                let how = if *existing {
                    "already on the platform"
                } else {
                    "submitted"
                };
                write!(
                    f,
                    "batch {batch} (round {round}, {slides} slides): {how} as run {run_id}"
                )
            }
        }
    }
}

/// A batch on the platform.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct BatchRun {
    /// The round.
    pub round: u32,
    /// The batch's index within the round.
    pub batch: usize,
    /// Its run.
    pub run_id: String,
    /// Its slides.
    pub slides: usize,
}

/// The platform refused a submission (a quota, HTTP 403 or 429 after the retries): the
/// submission stopped there; invoking again later continues.
#[derive(Debug)]
#[non_exhaustive]
pub struct Refusal {
    /// The batch refused.
    pub batch: usize,
    /// The platform's answer.
    pub error: Error,
}

/// What [`Cohort::submit`] or [`Cohort::retry_failed`] did.
#[derive(Debug)]
#[non_exhaustive]
pub struct SubmitReport {
    /// The round: 0 for the cohort, then one per retry.
    pub round: u32,
    /// The version the cohort is pinned to (empty when a retry found nothing to do).
    pub version_number: String,
    /// Slides in the round.
    pub slides: usize,
    /// Batches in the round.
    pub batches: usize,
    /// The batches this worker takes.
    pub owned: Vec<usize>,
    /// Batches submitted by this call.
    pub submitted: Vec<BatchRun>,
    /// Batches found on the platform; nothing was submitted for them.
    pub existing: Vec<BatchRun>,
    /// Slides of this worker's batches that could not be read: their batches went without
    /// them.
    pub slide_errors: Vec<SlideFailure>,
    /// Set when the platform refused a submission: what remains is for a later call.
    pub refused: Option<Refusal>,
}

impl SubmitReport {
    /// This worker's batches on the platform after this call.
    pub fn on_platform(&self) -> usize {
        self.submitted.len() + self.existing.len()
    }

    /// This worker's batches still to submit (after a refusal).
    pub fn remaining(&self) -> usize {
        self.owned.len().saturating_sub(self.on_platform())
    }
}

type ProgressFn = Arc<dyn Fn(&Progress) + Send + Sync>;

/// A cohort; see the [module](self).
#[must_use]
pub struct Cohort<'a> {
    name: String,
    slides: SlidesToResults<'a>,
    batch_size: usize,
    shard: Shard,
    progress: Option<ProgressFn>,
}

impl fmt::Debug for Cohort<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Cohort")
            .field("name", &self.name)
            .field("slides", &self.slides)
            .field("batch_size", &self.batch_size)
            .field("shard", &self.shard)
            .finish_non_exhaustive()
    }
}

impl<'a> Cohort<'a> {
    /// The cohort `name` over the slides `slides` is set up for: source, application,
    /// version, mappings, bucket and URL options, tags; its own idempotency key and progress
    /// callback are not used (each batch gets its key, and [`on_progress`](Self::on_progress)
    /// sees every step).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for a name that is not 1 to 48 letters, digits, `.`, `_`, `-`.
    pub fn new(name: &str, slides: SlidesToResults<'a>) -> Result<Self> {
        check_name(name)?;
        Ok(Self {
            name: name.to_string(),
            slides,
            batch_size: DEFAULT_BATCH_SIZE,
            shard: Shard::default(),
            progress: None,
        })
    }

    /// Slides per run (default [`DEFAULT_BATCH_SIZE`]); at least 1. Fixed when the cohort
    /// starts: another size later is refused, as it would cut other batches.
    pub fn batch_size(mut self, slides: usize) -> Self {
        self.batch_size = slides.max(1);
        self
    }

    /// Takes only this shard's batches (default: all of them).
    pub fn shard(mut self, shard: Shard) -> Self {
        self.shard = shard;
        self
    }

    /// Called with every step, from this thread.
    pub fn on_progress(mut self, f: impl Fn(&Progress) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(f));
        self
    }

    fn emit(&self, step: &Progress) {
        if let Some(f) = &self.progress {
            f(step);
        }
    }

    /// The cohort's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Reads the slides and submits this worker's batches that are not on the platform yet,
    /// one run at a time. Safe to kill and call again, here or on another machine.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] when the cohort's runs were made from other slides or another
    /// batch size (the source changed since it started), or when another version is asked
    /// for than the one the cohort is pinned to; the reading's and uploads' errors. A refusal
    /// of the platform (quota) is not an error: see [`SubmitReport::refused`].
    pub fn submit(&self) -> Result<SubmitReport> {
        let runs = status::runs(self.slides.client(), &self.name)?;
        self.submit_round(0, &runs, None)
    }

    /// Submits the slides whose latest run failed again, in a new round: their batches get
    /// keys of that round, so calling again while they run submits nothing, and a slide that
    /// succeeded or is still going is never submitted. The slides are read again from the
    /// source (only the failed ones).
    ///
    /// # Errors
    /// As [`submit`](Self::submit).
    pub fn retry_failed(&self) -> Result<SubmitReport> {
        let client = self.slides.client();
        let runs = status::runs(client, &self.name)?;
        let state = status::status_of(client, &self.name, runs.clone())?;
        let failed: HashSet<String> = state.failed().map(|s| s.external_id.clone()).collect();
        let round = runs.iter().map(|r| r.round).max().map_or(0, |r| r + 1);
        if failed.is_empty() {
            return Ok(SubmitReport {
                round,
                version_number: state.version_number().unwrap_or_default().to_string(),
                slides: 0,
                batches: 0,
                owned: Vec::new(),
                submitted: Vec::new(),
                existing: Vec::new(),
                slide_errors: Vec::new(),
                refused: None,
            });
        }
        self.submit_round(round, &runs, Some(Arc::new(failed)))
    }

    fn submit_round(
        &self,
        round: u32,
        runs: &[CohortRun],
        only: Option<Arc<HashSet<String>>>,
    ) -> Result<SubmitReport> {
        // Checked before any slide is read.
        if let Some(other) = runs
            .iter()
            .find(|r| r.definition.batch_size != 0 && r.definition.batch_size != self.batch_size)
        {
            return Err(Error::InvalidInput(format!(
                "cohort {} was started with batches of {} slides (run {}); this call asks for \
                 {}: the batches would be cut differently. Use --batch-size {} or a new cohort \
                 name. Nothing was submitted",
                self.name,
                other.definition.batch_size,
                other.run_id,
                self.batch_size,
                other.definition.batch_size
            )));
        }
        let version = self.pinned_version(runs)?;
        let forward = self.progress.clone();
        let chain = self
            .slides
            .clone()
            .version(version.clone())
            .tags([format!("cohort:{}", self.name)])
            .on_progress(move |step| {
                if let Some(f) = &forward {
                    f(&Progress::Slides(step.clone()));
                }
            });
        // Batches are cut from the listing, before any slide is read: each worker reads only
        // the slides of its own batches, and a slide that cannot be read leaves its batch
        // smaller instead of moving every later slide to another batch.
        let ids: Vec<String> = match only {
            Some(ids) => {
                let mut ids: Vec<String> = ids.iter().cloned().collect();
                ids.sort();
                ids
            }
            None => chain.listed_ids()?,
        };
        let batches: Vec<&[String]> = ids.chunks(self.batch_size).collect();
        let definition = self.definition();
        let on_platform: HashMap<usize, &CohortRun> = runs
            .iter()
            .filter(|r| r.round == round && !r.cancelled)
            .map(|r| (r.batch, r))
            .collect();
        let owned: Vec<usize> = (0..batches.len()).filter(|&b| self.shard.owns(b)).collect();
        self.emit(&Progress::Planned {
            round,
            slides: ids.len(),
            batches: batches.len(),
            owned: owned.len(),
            on_platform: owned.iter().filter(|b| on_platform.contains_key(b)).count(),
            version_number: version.clone(),
        });
        let mut report = SubmitReport {
            round,
            version_number: version.clone(),
            slides: ids.len(),
            batches: batches.len(),
            owned: owned.clone(),
            submitted: Vec::new(),
            existing: Vec::new(),
            slide_errors: Vec::new(),
            refused: None,
        };
        let wanted: HashSet<String> = owned
            .iter()
            .flat_map(|&b| batches[b].iter().cloned())
            .collect();
        if wanted.is_empty() {
            return Ok(report);
        }
        let (builder, rows, media, slide_errors, version_number) =
            chain.clone().only(Arc::new(wanted)).checked_rows()?;
        report.slide_errors = slide_errors;
        let index: HashMap<&str, usize> = rows
            .iter()
            .enumerate()
            .map(|(i, row)| (row.external_id.as_str(), i))
            .collect();
        // Each batch's rows; a slide listed but neither read nor reported went away between
        // the listing and the reading.
        let mut members: Vec<Vec<usize>> = vec![Vec::new(); batches.len()];
        for &b in &owned {
            for id in batches[b] {
                match index.get(id.as_str()) {
                    Some(&i) => members[b].push(i),
                    None if !report.slide_errors.iter().any(|f| f.slide.ends_with(id)) => {
                        report.slide_errors.push(SlideFailure {
                            slide: id.into(),
                            message: format!("{id}: listed, then gone before it was read"),
                        });
                    }
                    None => {}
                }
            }
        }
        let digests: Vec<String> = members
            .iter()
            .map(|batch| content_digest(&builder, &rows, &media, batch, &version_number))
            .collect();
        // Every batch this worker takes is checked against the ledger before any is sent.
        for &b in &owned {
            if let Some(run) = on_platform.get(&b)
                && run.content != digests[b]
            {
                return Err(Error::InvalidInput(format!(
                    "cohort {}: batch {b} of round {round} is on the platform as run {} with \
                     other slides or metadata than the source now gives: the slides changed \
                     since the cohort started (added, removed, changed, or readable now). A \
                     cohort's slides are fixed when it starts: put new slides in a new cohort. \
                     Nothing was submitted",
                    self.name, run.run_id
                )));
            }
        }
        for &b in &owned {
            let batch = &members[b];
            if batch.is_empty() {
                // Not one of its slides could be read: they are in the slide errors.
                continue;
            }
            if let Some(run) = on_platform.get(&b) {
                let found = BatchRun {
                    round,
                    batch: b,
                    run_id: run.run_id.clone(),
                    slides: batch.len(),
                };
                self.emit_batch(&found, true);
                report.existing.push(found);
                continue;
            }
            let batch_rows: Vec<MetadataRow> = batch.iter().map(|&i| rows[i].clone()).collect();
            let batch_media: Vec<_> = batch.iter().map(|&i| media[i]).collect();
            let unreadable: Vec<String> = batches[b]
                .iter()
                .filter(|id| !index.contains_key(id.as_str()))
                .cloned()
                .collect();
            let record = status::record(
                &self.name,
                round,
                b,
                batches.len(),
                ids.len(),
                &digests[b],
                &unreadable,
                &definition,
            );
            let mut metadata = self
                .slides
                .custom_metadata_value()
                .cloned()
                .unwrap_or(json!({}));
            if let Some(object) = metadata.as_object_mut() {
                object.insert(status::KEY.into(), record);
            }
            let key = batch_key(&self.name, round, b, &digests[b]);
            let outcome = chain
                .clone()
                .custom_metadata(metadata)
                .idempotency_key(key)
                .submit_rows(
                    &builder,
                    &batch_rows,
                    &batch_media,
                    Vec::new(),
                    &version_number,
                );
            match outcome {
                Ok(outcome) => {
                    let run = BatchRun {
                        round,
                        batch: b,
                        run_id: outcome.run_id,
                        slides: batch.len(),
                    };
                    self.emit_batch(&run, outcome.existing);
                    if outcome.existing {
                        report.existing.push(run);
                    } else {
                        report.submitted.push(run);
                    }
                }
                Err(error) if refused(&error) => {
                    report.refused = Some(Refusal { batch: b, error });
                    break;
                }
                Err(error) => return Err(error),
            }
        }
        Ok(report)
    }

    fn emit_batch(&self, run: &BatchRun, existing: bool) {
        self.emit(&Progress::Batch {
            round: run.round,
            batch: run.batch,
            run_id: run.run_id.clone(),
            slides: run.slides,
            existing,
        });
    }

    /// The version of the cohort's runs, or the one asked for (the latest when none) when it
    /// has none yet.
    fn pinned_version(&self, runs: &[CohortRun]) -> Result<String> {
        let asked = self.slides.version_asked();
        let Some(first) = runs.first() else {
            let client = self.slides.client();
            return Ok(client
                .application_version(self.slides.application(), asked)?
                .version_number
                .clone());
        };
        if first.application_id != self.slides.application() {
            return Err(Error::InvalidInput(format!(
                "cohort {} runs the application {} (run {}), not {}; use a new cohort name for \
                 another application. Nothing was submitted",
                self.name,
                first.application_id,
                first.run_id,
                self.slides.application()
            )));
        }
        if let Some(asked) = asked
            && asked != first.version_number
        {
            return Err(Error::InvalidInput(format!(
                "cohort {} is pinned to {} {} (its first run, {}); this call asks for {asked}. \
                 Leave the version out to continue the cohort, or use a new cohort name. Nothing \
                 was submitted",
                self.name, first.application_id, first.version_number, first.run_id
            )));
        }
        Ok(first.version_number.clone())
    }

    /// The definition the runs record, for any machine to retry from.
    fn definition(&self) -> Definition {
        let (source, csv_slides) = self.slides.source_description();
        Definition {
            source,
            mappings: self.slides.mapping_texts(),
            include: self.slides.include_glob().map(str::to_string),
            batch_size: self.batch_size,
            csv_slides,
        }
    }
}

/// Whether the platform refused a submission outright (a quota): 403 or 429 to the run's
/// creation. Another submission later may succeed.
fn refused(error: &Error) -> bool {
    matches!(error, Error::Api(api)
        if api.operation == crate::transport::Op::CreateRun.name()
            && matches!(api.status, 403 | 429))
}

/// A digest of a batch: the application's version and each slide's external id and input
/// metadata (its checksum included), in order. It leaves out where the slides are (mount
/// points differ between machines) and the URLs' signatures.
fn content_digest(
    builder: &crate::slides::SlideItems,
    rows: &[MetadataRow],
    media: &[Option<&'static str>],
    batch: &[usize],
    version: &str,
) -> String {
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    hash.update(version.as_bytes());
    for &i in batch {
        let row = &rows[i];
        let identity = json!({
            "external_id": row.external_id,
            "metadata": builder.metadata(row, media[i]),
            "object": row.platform_bucket_url.as_deref().filter(|u| !u.starts_with("http")),
        });
        hash.update(identity.to_string().as_bytes());
        hash.update(&[0]);
    }
    crate::checksum::hex(&hash.finish().as_ref()[..16])
}

/// The idempotency key of a batch: the cohort, the round, the batch and its content.
fn batch_key(name: &str, round: u32, batch: usize, digest: &str) -> String {
    format!("cohort.{name}.r{round}.b{batch}.{digest}")
}

/// Cancels the cohort's runs still going (`dry_run`: only says which): the runs, each
/// cancelled or to be. Their slides are submitted again by the next
/// [`Cohort::submit`] (first round) or [`Cohort::retry_failed`].
///
/// # Errors
/// The listing's and cancellations' errors (runs cancelled before one stay cancelled).
pub fn cancel(client: &Client, name: &str, dry_run: bool) -> Result<Vec<String>> {
    let mut cancelled = Vec::new();
    for run in status::runs(client, name)? {
        let details = client.nocache().run(&run.run_id).details()?;
        if details.state == crate::models::RunState::Terminated {
            continue;
        }
        if !dry_run {
            client.run(&run.run_id).cancel()?;
        }
        cancelled.push(run.run_id);
    }
    Ok(cancelled)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves cohort names are checked before they reach a key or a filter. (FR-98)
    #[test]
    fn names_are_checked() {
        for good in ["study-17", "a", "A.b_c-9"] {
            check_name(good).unwrap();
        }
        for bad in ["", "has space", "quote\"", "x".repeat(49).as_str(), "ü"] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
        let key = batch_key(&"x".repeat(48), u32::MAX, usize::MAX, &"f".repeat(32));
        crate::idempotency::check_key(&key).unwrap();
    }
}
