//! A cohort's results on disk: every run's download, and one folder per slide holding the
//! files of its latest record (hard links to the verified files, no second copy).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

use super::status::{self, SlideState};
use crate::client::Client;
use crate::error::{Error, Result};
use crate::{DownloadOptions, DownloadReport, RunManifest};

/// The folder of `out` holding each run's download (`runs/{run_id}/{item}/…`, with its
/// manifest).
pub const RUNS_FOLDER: &str = "runs";

/// The folder of `out` holding one folder per slide (`slides/{item}/…`): the verified files of
/// its latest record, whatever run holds them.
pub const SLIDES_FOLDER: &str = "slides";

/// What [`download`] did.
#[derive(Debug)]
#[non_exhaustive]
pub struct CohortDownload {
    /// Each run's download report, by run id, oldest run first.
    pub runs: Vec<(String, DownloadReport)>,
    /// Slides whose latest record succeeded and whose files are in `slides/`.
    pub slides: usize,
    /// Files in `slides/` (hard links to the verified files in `runs/`).
    pub files: usize,
}

impl CohortDownload {
    /// Every run's files are on disk and verified.
    pub fn is_complete(&self) -> bool {
        self.runs.iter().all(|(_, r)| r.is_complete())
    }
}

/// Downloads the results of every run of the cohort `name` into `out/runs/` (verified,
/// resuming what is there; one run after another, each waited for as `options` says), then
/// gives each slide whose latest record succeeded the folder `out/slides/{item}/` with its
/// files: one tree keyed by the slides, a failed attempt that a retry replaced left out.
/// The files there are hard links to the verified ones (copies where the file system has
/// none), put in place atomically; calling again relinks what changed.
///
/// ```no_run
/// let client = aignostics::Client::new()?;
/// let options = aignostics::DownloadOptions::default();
/// let done = aignostics::cohort::download(&client, "study-17", "results/", &options)?;
/// println!("{} slides in results/slides/", done.slides);
/// # Ok::<(), aignostics::Error>(())
/// ```
///
/// # Errors
/// The listing's errors, [`Run::download_to`](crate::Run::download_to)'s, and
/// [`Error::Io`] naming a file that could not be linked or copied.
pub fn download(
    client: &Client,
    name: &str,
    out: impl AsRef<Path>,
    options: &DownloadOptions,
) -> Result<CohortDownload> {
    let out = out.as_ref();
    let runs_dir = out.join(RUNS_FOLDER);
    std::fs::create_dir_all(&runs_dir).map_err(|e| Error::io(&runs_dir, e))?;
    let mut runs = Vec::new();
    for run in status::runs(client, name)? {
        if run.cancelled {
            continue;
        }
        let report = client.run(&run.run_id).download_to(&runs_dir, options)?;
        runs.push((run.run_id, report));
    }
    let latest = status::status(client, name)?;
    let mut by_run: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for slide in latest
        .slides
        .iter()
        .filter(|s| s.state == SlideState::Succeeded)
    {
        by_run
            .entry(slide.run_id.as_str())
            .or_default()
            .push(slide.external_id.as_str());
    }
    let slides_dir = out.join(SLIDES_FOLDER);
    let mut owners: HashMap<String, String> = HashMap::new();
    let (mut slides, mut files) = (0, 0);
    for (run_id, ids) in by_run {
        let run_dir = runs_dir.join(crate::handlers::run::download::run_folder(run_id));
        let Ok(manifest) = RunManifest::read(&run_dir) else {
            // Not downloaded (e.g. not waited for): its slides get their folder next time.
            continue;
        };
        for item in manifest
            .items
            .iter()
            .filter(|i| ids.contains(&i.external_id.as_str()))
        {
            if let Some(other) = owners.insert(item.folder.clone(), item.external_id.clone())
                && other != item.external_id
            {
                return Err(Error::InvalidInput(format!(
                    "the slides {other:?} and {:?} both have the folder {:?}: rename one",
                    item.external_id, item.folder
                )));
            }
            let verified: Vec<_> = item.files.iter().filter(|f| f.verified).collect();
            if verified.is_empty() {
                continue;
            }
            for file in verified {
                link(&run_dir.join(&file.file), &slides_dir.join(&file.file))?;
                files += 1;
            }
            slides += 1;
        }
    }
    Ok(CohortDownload {
        runs,
        slides,
        files,
    })
}

/// Puts a hard link to `src` at `dest` (a copy where links are not possible), replacing
/// `dest` at once, so it is always either the old file or the new.
fn link(src: &Path, dest: &Path) -> Result<()> {
    if let Some(parent) = dest.parent() {
        std::fs::create_dir_all(parent).map_err(|e| Error::io(parent, e))?;
    }
    crate::replace_file::replace_file(
        dest,
        |tmp| {
            std::fs::hard_link(src, tmp)
                .or_else(|_| std::fs::copy(src, tmp).map(drop))
                .map_err(|e| Error::io(src, e))
        },
        |at, e| Error::io(at, e),
    )
}
