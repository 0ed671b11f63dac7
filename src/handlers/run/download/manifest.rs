//! `manifest.json` beside a run's results (`dir/{run_id}/manifest.json`): what the folder holds
//! and why, so a results folder can be joined back to the slides without the platform. The
//! run, its application and version; per item its external id, its folder (the sanitised
//! name), its state, the platform's error when it failed, and its files with their CRC32C and
//! whether they are on disk, verified. Rewritten atomically (a temporary file renamed over
//! it) after every look at the run and at the end of each download call.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::ItemFailure;
use crate::models::RunReadResponse;

/// The manifest's file name inside the run's folder.
pub(crate) const FILE: &str = "manifest.json";

/// One item as the download engine knows it, before it is written.
pub(super) struct Entry {
    pub(super) external_id: String,
    pub(super) folder: String,
    pub(super) state: ItemState,
    pub(super) files: Vec<EntryFile>,
}

/// One file of an [`Entry`]: its name in the item's folder, and its artifact.
pub(super) struct EntryFile {
    pub(super) file: String,
    pub(super) artifact: String,
    pub(super) artifact_id: String,
    /// The published CRC32C.
    pub(super) crc32c: Option<String>,
}

/// Where an item stands.
pub(super) enum ItemState {
    Pending,
    Succeeded,
    Failed(ItemFailure),
}

/// `dir/{run_id}/manifest.json`, as [`Run::download_to`](crate::Run::download_to) keeps it:
/// read it to join a results folder back to the slides without the platform.
///
/// ```no_run
/// let manifest = aignostics::RunManifest::read("results/RUN_ID")?;
/// for item in &manifest.items {
///     println!("{} {} in {}/", item.external_id, item.state, item.folder);
/// }
/// # Ok::<(), aignostics::Error>(())
/// ```
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct RunManifest {
    /// The format's version (1).
    pub manifest_version: u32,
    /// The run.
    pub run_id: String,
    /// Its application.
    pub application_id: String,
    /// Its application version.
    pub version_number: String,
    /// The run's state when the manifest was written (`PENDING`, `PROCESSING`, `TERMINATED`).
    pub run_state: String,
    /// When it was written (RFC 3339, UTC).
    pub written_at: String,
    /// One entry per item of the run.
    pub items: Vec<ManifestItem>,
}

/// One item of a [`RunManifest`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ManifestItem {
    /// The caller's id of the item (its slide's path, for the pipeline).
    pub external_id: String,
    /// The item's folder inside the run's folder (the sanitised external id).
    pub folder: String,
    /// `PENDING`, `SUCCEEDED` or `FAILED`.
    pub state: String,
    /// Why it failed (`USER_ERROR`, `SYSTEM_ERROR`, `SKIPPED`).
    pub termination_reason: Option<String>,
    /// The platform's error code when it failed.
    pub error_code: Option<String>,
    /// The platform's error message when it failed.
    pub error_message: Option<String>,
    /// Its result files.
    pub files: Vec<ManifestFile>,
}

/// One result file of a [`ManifestItem`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct ManifestFile {
    /// The file, relative to the run's folder (`{folder}/{name}`).
    pub file: String,
    /// The output artifact's name, e.g. `readout_generation:slide_readouts`.
    pub artifact: String,
    /// The output artifact's id on the platform (absent in manifests of earlier versions).
    #[serde(default)]
    pub artifact_id: Option<String>,
    /// Its published CRC32C (base64).
    pub crc32c: Option<String>,
    /// Whether it is on disk and verified against that CRC32C.
    pub verified: bool,
}

impl RunManifest {
    /// Reads `run_dir/manifest.json`.
    ///
    /// # Errors
    /// [`Error::Io`](crate::Error::Io) when it cannot be read, [`Error::Decode`](crate::Error)
    /// when it is not a manifest.
    pub fn read(run_dir: impl AsRef<Path>) -> crate::Result<Self> {
        let path = run_dir.as_ref().join(FILE);
        let bytes = std::fs::read(&path).map_err(|e| crate::Error::io(&path, e))?;
        serde_json::from_slice(&bytes).map_err(|e| {
            crate::Error::InvalidInput(format!("{}: not a results manifest: {e}", path.display()))
        })
    }
}

/// Writes the manifest of `run_dir`: `verified` holds the paths on disk and verified.
pub(super) fn write(
    run_dir: &Path,
    run: &RunReadResponse,
    entries: &[Entry],
    verified: &HashSet<PathBuf>,
) -> std::io::Result<()> {
    let items = entries
        .iter()
        .map(|e| {
            let files = e
                .files
                .iter()
                .map(|f| ManifestFile {
                    file: format!("{}/{}", e.folder, f.file),
                    artifact: f.artifact.clone(),
                    artifact_id: Some(f.artifact_id.clone()),
                    crc32c: f.crc32c.clone(),
                    verified: verified.contains(&run_dir.join(&e.folder).join(&f.file)),
                })
                .collect();
            let (state, failure) = match &e.state {
                ItemState::Pending => ("PENDING", None),
                ItemState::Succeeded => ("SUCCEEDED", None),
                ItemState::Failed(f) => ("FAILED", Some(f)),
            };
            ManifestItem {
                external_id: e.external_id.clone(),
                folder: e.folder.clone(),
                state: state.into(),
                termination_reason: failure
                    .and_then(|f| f.termination_reason.as_ref())
                    .map(ToString::to_string),
                error_code: failure.and_then(|f| f.error_code.clone()),
                error_message: failure.and_then(|f| f.error_message.clone()),
                files,
            }
        })
        .collect();
    let doc = RunManifest {
        manifest_version: 1,
        run_id: run.run_id.clone(),
        application_id: run.application_id.clone(),
        version_number: run.version_number.clone(),
        run_state: run.state.to_string(),
        written_at: crate::time::rfc3339_seconds(std::time::SystemTime::now()),
        items,
    };
    sweep(run_dir);
    let text = serde_json::to_string_pretty(&doc)?;
    loop {
        let tmp = run_dir.join(format!(
            ".{FILE}.{}.{:?}.{:x}.tmp",
            std::process::id(),
            std::thread::current().id(),
            super::part::random_tag()
        ));
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)?;
        file.lock()?;
        // A sweeper that took the lock between our create and lock removed the file: start
        // again under a new name.
        if !tmp.exists() {
            continue;
        }
        let written = (|| {
            file.write_all(text.as_bytes())?;
            file.sync_all()?;
            // Renamed while locked, so no sweeper removes it half-way.
            std::fs::rename(&tmp, run_dir.join(FILE))
        })();
        if written.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        return written;
    }
}

/// Removes temporary manifests of writers that stopped mid-write (killed, or interrupted):
/// one whose lock can be taken has no live writer (the OS drops a lock with its process).
fn sweep(run_dir: &Path) {
    let Ok(entries) = std::fs::read_dir(run_dir) else {
        return;
    };
    let prefix = format!(".{FILE}.");
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !name.starts_with(&prefix) || !name.ends_with(".tmp") {
            continue;
        }
        let path = entry.path();
        let Ok(file) = std::fs::OpenOptions::new().write(true).open(&path) else {
            continue;
        };
        if file.try_lock().is_ok() {
            let _ = std::fs::remove_file(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves a temporary manifest left by a writer that stopped is removed by the next
    // writer, while one whose writer still holds its lock is kept. (FR-88)
    #[test]
    fn orphaned_temporary_manifests_are_swept() {
        let dir = std::env::temp_dir().join(format!(
            "aignostics-manifest-sweep-{}-{:x}",
            std::process::id(),
            super::super::part::random_tag()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let orphan = dir.join(format!(".{FILE}.1.ThreadId(1).tmp"));
        std::fs::write(&orphan, "{").unwrap();
        let live = dir.join(format!(".{FILE}.2.ThreadId(1).ab.tmp"));
        let held = std::fs::File::create(&live).unwrap();
        held.lock().unwrap();
        let other = dir.join("notes.tmp");
        std::fs::write(&other, "x").unwrap();
        let run: RunReadResponse = serde_json::from_value(serde_json::json!({
            "run_id": "r", "application_id": "a", "version_number": "1", "state": "PENDING",
            "output": "NONE", "termination_reason": null, "error_code": null,
            "error_message": null, "statistics": {"item_count": 0, "item_pending_count": 0,
            "item_processing_count": 0, "item_user_error_count": 0,
            "item_system_error_count": 0, "item_skipped_count": 0,
            "item_succeeded_count": 0},
            "custom_metadata": null, "submitted_at": "2026-01-01T00:00:00Z",
            "submitted_by": "u", "terminated_at": null
        }))
        .unwrap();
        write(&dir, &run, &[], &HashSet::new()).unwrap();
        assert!(!orphan.exists());
        assert!(live.exists() && other.exists());
        assert!(dir.join(FILE).is_file());
        drop(held);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
