//! The cohort as the platform records it: its runs (found by their custom metadata) and the
//! state of every slide across them.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::{Value, json};

use crate::client::Client;
use crate::error::Result;
use crate::models::{ItemResultReadResponse, ItemState, ItemTerminationReason, RunReadResponse};
use crate::sdk_metadata::json_path_string;

/// The custom metadata key of a cohort run's record.
pub(crate) const KEY: &str = "cohort";

/// How long the platform keeps results after an item finished.
const RETENTION: Duration = Duration::from_secs(30 * 24 * 3600);

/// What a cohort was started with, as its runs record it: enough for any machine to retry
/// its failed slides.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Definition {
    /// Where the slides are: a folder, a CSV file or a bucket prefix (`s3://…`, `gs://…`).
    pub source: String,
    /// The mapping rules, as given (`REGEX:key=value,…`).
    pub mappings: Vec<String>,
    /// The include glob, when one was given.
    pub include: Option<String>,
    /// Slides per run.
    pub batch_size: usize,
    /// When the source is a CSV file: the folder its rows' slides are in.
    pub csv_slides: Option<String>,
}

/// One run of a cohort, as its custom metadata records it.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CohortRun {
    /// The run's id.
    pub run_id: String,
    /// 0 for the cohort's first submission, then 1, 2, … for each retry of failed slides.
    pub round: u32,
    /// The batch's index within its round.
    pub batch: usize,
    /// Batches in the round.
    pub batches: usize,
    /// Slides in the round.
    pub slides: usize,
    /// A digest of the batch's slides and their metadata: another digest for the same round
    /// and batch means the source changed.
    pub content: String,
    /// The application.
    pub application_id: String,
    /// The version the cohort is pinned to.
    pub version_number: String,
    /// Cancelled without results (see `cohort cancel`): its slides are submitted again.
    pub cancelled: bool,
    /// Slides of its batch that could not be read when it was submitted.
    pub unreadable: Vec<String>,
    /// When it was submitted (RFC 3339).
    pub submitted_at: String,
    /// What the cohort was started with.
    pub definition: Definition,
}

impl CohortRun {
    /// The cohort record of a run's custom metadata, `None` when the run has none.
    fn from_run(run: &RunReadResponse) -> Option<Self> {
        let record = run.custom_metadata.as_ref()?.get(KEY)?;
        let number = |key: &str| record.get(key).and_then(Value::as_u64);
        let text = |key: &str| record.get(key).and_then(Value::as_str).map(str::to_string);
        Some(Self {
            run_id: run.run_id.clone(),
            round: u32::try_from(number("round")?).ok()?,
            batch: usize::try_from(number("batch")?).ok()?,
            batches: usize::try_from(number("batches")?).ok()?,
            slides: usize::try_from(number("slides")?).ok()?,
            content: text("content")?,
            application_id: run.application_id.clone(),
            version_number: run.version_number.clone(),
            cancelled: crate::idempotency::cancelled(run),
            unreadable: strings(record.get("unreadable")),
            submitted_at: run.submitted_at.clone(),
            definition: Definition {
                source: text("source").unwrap_or_default(),
                mappings: record
                    .get("mappings")
                    .and_then(Value::as_array)
                    .map(|m| {
                        m.iter()
                            .filter_map(Value::as_str)
                            .map(str::to_string)
                            .collect()
                    })
                    .unwrap_or_default(),
                include: text("include"),
                batch_size: usize::try_from(number("batch_size").unwrap_or(0)).unwrap_or(0),
                csv_slides: text("csv_slides"),
            },
        })
    }
}

/// The strings of a JSON array (none for anything else).
fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// The record a cohort run carries in its custom metadata.
#[allow(clippy::too_many_arguments)]
pub(crate) fn record(
    name: &str,
    round: u32,
    batch: usize,
    batches: usize,
    slides: usize,
    content: &str,
    unreadable: &[String],
    definition: &Definition,
) -> Value {
    json!({
        "unreadable": unreadable,
        "name": name,
        "round": round,
        "batch": batch,
        "batches": batches,
        "slides": slides,
        "content": content,
        "batch_size": definition.batch_size,
        "source": definition.source,
        "mappings": definition.mappings,
        "include": definition.include,
        "csv_slides": definition.csv_slides,
    })
}

/// The `custom_metadata` filter of a cohort's runs.
pub(crate) fn filter(name: &str) -> String {
    format!("$.{KEY}.name ? (@ == {})", json_path_string(name))
}

/// Every run of the cohort `name` this user submitted, oldest first, read past the cache:
/// one filtered listing, whatever the number of other runs.
///
/// # Errors
/// The listing's errors.
pub fn runs(client: &Client, name: &str) -> Result<Vec<CohortRun>> {
    super::check_name(name)?;
    let me = client.me()?;
    let list = client
        .bypass_cache()
        .runs()
        .list()
        .custom_metadata(filter(name))
        .submitted_by(me.user.id.clone())
        .sort("submitted_at")
        .page_size(100);
    let mut runs = Vec::new();
    for run in list.iter() {
        let run = run?;
        // Checked here too: a platform that ignored a filter must not mix in others' runs.
        let ours = run.submitted_by == me.user.id
            && run
                .custom_metadata
                .as_ref()
                .and_then(|m| m.get(KEY)?.get("name")?.as_str().map(|n| n == name))
                .unwrap_or(false);
        if !ours {
            continue;
        }
        match CohortRun::from_run(&run) {
            Some(record) => runs.push(record),
            None => log::warn!(
                "run {} names the cohort {name:?} but its record is incomplete; it is left out",
                run.run_id
            ),
        }
    }
    Ok(runs)
}

/// Where a slide stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum SlideState {
    /// In no run yet.
    NotSubmitted,
    /// Waiting in a run.
    Pending,
    /// Being processed.
    Processing,
    /// Its results are ready.
    Succeeded,
    /// The platform failed it (see the record's error code and message); `cohort retry
    /// --failed` submits it again.
    Failed,
    /// Not processed: its run was cancelled.
    Skipped,
    /// It could not be read when its batch was submitted, so its batch went without it;
    /// `cohort retry --failed` reads it again.
    Unreadable,
}

impl SlideState {
    /// The state's name as `--json` and the table print it.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotSubmitted => "not_submitted",
            Self::Pending => "pending",
            Self::Processing => "processing",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Skipped => "skipped",
            Self::Unreadable => "unreadable",
        }
    }

    fn of(item: &ItemResultReadResponse) -> Self {
        match (&item.state, &item.termination_reason) {
            (ItemState::Pending, _) => Self::Pending,
            (ItemState::Processing, _) => Self::Processing,
            (_, Some(ItemTerminationReason::Succeeded)) => Self::Succeeded,
            (_, Some(ItemTerminationReason::Skipped)) => Self::Skipped,
            (ItemState::Terminated, _) => Self::Failed,
            // A state this version does not know yet: still going.
            _ => Self::Processing,
        }
    }
}

/// A slide's latest record: the run of the highest round it is in.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct SlideRecord {
    /// The slide's external id.
    pub external_id: String,
    /// Its state.
    pub state: SlideState,
    /// The run, with its round and batch.
    pub run_id: String,
    /// The round of that run.
    pub round: u32,
    /// The batch of that run.
    pub batch: usize,
    /// The platform's error code, for a failed slide.
    pub error_code: Option<String>,
    /// The platform's error message, for a failed slide.
    pub error_message: Option<String>,
    /// Items ahead of it in the organization's queue, where the platform says.
    pub queue_position: Option<i64>,
    /// When the platform deletes its results (30 days after it finished, RFC 3339).
    pub results_until: Option<String>,
}

/// Slides per state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Totals {
    /// Slides the cohort was planned with (its first round).
    pub slides: usize,
    /// In no run yet.
    pub not_submitted: usize,
    /// Waiting.
    pub pending: usize,
    /// Being processed.
    pub processing: usize,
    /// Done, results ready.
    pub succeeded: usize,
    /// Failed.
    pub failed: usize,
    /// Not processed (cancelled).
    pub skipped: usize,
    /// Not read when their batch was submitted.
    pub unreadable: usize,
}

/// Every slide of a cohort across all its runs; see [`status`].
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CohortStatus {
    /// The cohort's name.
    pub name: String,
    /// Its runs, oldest first.
    pub runs: Vec<CohortRun>,
    /// Each slide's latest record, by external id.
    pub slides: Vec<SlideRecord>,
    /// Batches of the first round not on the platform yet.
    pub missing_batches: Vec<usize>,
}

impl CohortStatus {
    /// The application version the cohort is pinned to, once a run exists.
    pub fn version_number(&self) -> Option<&str> {
        self.runs.first().map(|r| r.version_number.as_str())
    }

    /// The application, once a run exists.
    pub fn application_id(&self) -> Option<&str> {
        self.runs.first().map(|r| r.application_id.as_str())
    }

    /// What the cohort was started with, once a run exists.
    pub fn definition(&self) -> Option<&Definition> {
        self.runs.first().map(|r| &r.definition)
    }

    /// Slides per state; slides of missing batches count as not submitted.
    pub fn totals(&self) -> Totals {
        let planned = self
            .runs
            .iter()
            .filter(|r| r.round == 0)
            .map(|r| r.slides)
            .max()
            .unwrap_or(0);
        let mut totals = Totals {
            slides: planned.max(self.slides.len()),
            ..Totals::default()
        };
        totals.not_submitted = totals.slides - self.slides.len();
        for slide in &self.slides {
            match slide.state {
                SlideState::NotSubmitted => totals.not_submitted += 1,
                SlideState::Pending => totals.pending += 1,
                SlideState::Processing => totals.processing += 1,
                SlideState::Succeeded => totals.succeeded += 1,
                SlideState::Failed => totals.failed += 1,
                SlideState::Skipped => totals.skipped += 1,
                SlideState::Unreadable => totals.unreadable += 1,
            }
        }
        totals
    }

    /// Every slide submitted and finished (succeeded, failed or skipped).
    pub fn is_finished(&self) -> bool {
        let t = self.totals();
        !self.runs.is_empty() && t.not_submitted == 0 && t.pending == 0 && t.processing == 0
    }

    /// The slides whose latest record failed, or that could not be read: what
    /// [`Cohort::retry_failed`](super::Cohort::retry_failed) submits again.
    pub fn failed(&self) -> impl Iterator<Item = &SlideRecord> {
        self.slides
            .iter()
            .filter(|s| matches!(s.state, SlideState::Failed | SlideState::Unreadable))
    }

    /// Each slide's latest record as (run id, external id): the rows of the cohort's table
    /// ([`TableBuilder::items`](crate::results::TableBuilder::items), feature `results`).
    pub fn latest_items(&self) -> impl Iterator<Item = (&str, &str)> {
        self.slides
            .iter()
            .map(|s| (s.run_id.as_str(), s.external_id.as_str()))
    }

    /// The earliest time the platform deletes results of this cohort (RFC 3339).
    pub fn earliest_deletion(&self) -> Option<&str> {
        self.slides
            .iter()
            .filter_map(|s| s.results_until.as_deref())
            .min()
    }
}

/// Every slide of the cohort `name` across its runs: one listing of the cohort's runs and one
/// of each run's items (requests grow with runs, not with the user's other runs), read past
/// the cache.
///
/// ```no_run
/// let client = aignostics::Client::new()?;
/// let status = aignostics::cohort::status(&client, "study-17")?;
/// let totals = status.totals();
/// println!("{} of {} slides succeeded", totals.succeeded, totals.slides);
/// for slide in status.failed() {
///     println!("{}: {:?}", slide.external_id, slide.error_message);
/// }
/// # Ok::<(), aignostics::Error>(())
/// ```
///
/// # Errors
/// [`Error::InvalidInput`](crate::Error::InvalidInput) for a malformed name; the listings'
/// errors.
pub fn status(client: &Client, name: &str) -> Result<CohortStatus> {
    let runs = runs(client, name)?;
    status_of(client, name, runs)
}

pub(crate) fn status_of(client: &Client, name: &str, runs: Vec<CohortRun>) -> Result<CohortStatus> {
    // Read past the cache and not stored in it: a cohort's item pages are read once, and
    // would otherwise stay in memory for the cache's lifetime.
    let fresh = client.bypass_cache();
    let mut latest: BTreeMap<String, SlideRecord> = BTreeMap::new();
    for run in &runs {
        for item in fresh.run(&run.run_id).items().page_size(100).iter() {
            let item = item?;
            let record = SlideRecord {
                state: SlideState::of(&item),
                run_id: run.run_id.clone(),
                round: run.round,
                batch: run.batch,
                error_code: item.error_code.clone(),
                error_message: item.error_message.clone(),
                queue_position: item.queue_position_org,
                results_until: match SlideState::of(&item) {
                    SlideState::Succeeded => item
                        .terminated_at
                        .as_deref()
                        .and_then(crate::time::parse_rfc3339)
                        .map(|t| {
                            crate::time::rfc3339_seconds(crate::time::system_after(t, RETENTION))
                        }),
                    _ => None,
                },
                external_id: item.external_id,
            };
            // The highest round wins; within a round, a run that was not cancelled.
            let newer = latest.get(&record.external_id).is_none_or(|old| {
                (record.round, record.state != SlideState::Skipped)
                    >= (old.round, old.state != SlideState::Skipped)
            });
            if newer {
                latest.insert(record.external_id.clone(), record);
            }
        }
    }
    // Slides a batch went without: their record, unless a later round holds them.
    for run in &runs {
        for id in &run.unreadable {
            if latest.get(id).is_none_or(|old| old.round < run.round) {
                latest.insert(
                    id.clone(),
                    SlideRecord {
                        external_id: id.clone(),
                        state: SlideState::Unreadable,
                        run_id: run.run_id.clone(),
                        round: run.round,
                        batch: run.batch,
                        error_code: None,
                        error_message: Some(
                            "it could not be read when its batch was submitted".into(),
                        ),
                        queue_position: None,
                        results_until: None,
                    },
                );
            }
        }
    }
    let present: BTreeSet<usize> = runs
        .iter()
        .filter(|r| r.round == 0 && !r.cancelled)
        .map(|r| r.batch)
        .collect();
    let batches = runs
        .iter()
        .filter(|r| r.round == 0)
        .map(|r| r.batches)
        .max()
        .unwrap_or(0);
    Ok(CohortStatus {
        name: name.to_string(),
        missing_batches: (0..batches).filter(|b| !present.contains(b)).collect(),
        slides: latest.into_values().collect(),
        runs,
    })
}
