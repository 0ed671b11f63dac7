//! `manifest.json` beside a run's results (`dir/{run_id}/manifest.json`): what the folder holds
//! and why, so a results folder can be joined back to the slides without the platform. The
//! run, its application and version; per item its external id, its folder (the sanitised
//! name), its state, the platform's error when it failed, and its files with their CRC32C and
//! whether they are on disk, verified. Rewritten atomically (a temporary file renamed over
//! it) after every look at the run and at the end of each download call.

use std::collections::HashSet;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use super::ItemFailure;
use crate::models::RunReadResponse;

/// The manifest's file name inside the run's folder.
pub(crate) const FILE: &str = "manifest.json";

/// One item as the manifest describes it.
pub(super) struct Entry {
    pub(super) external_id: String,
    pub(super) folder: String,
    pub(super) state: ItemState,
    /// Files: file name, artifact name, published CRC32C.
    pub(super) files: Vec<(String, String, Option<String>)>,
}

/// Where an item stands.
pub(super) enum ItemState {
    Pending,
    Succeeded,
    Failed(ItemFailure),
}

/// Writes the manifest of `run_dir`: `verified` holds the paths on disk and verified.
pub(super) fn write(
    run_dir: &Path,
    run: &RunReadResponse,
    entries: &[Entry],
    verified: &HashSet<PathBuf>,
) -> std::io::Result<()> {
    let items: Vec<Value> = entries
        .iter()
        .map(|e| {
            let files: Vec<Value> = e
                .files
                .iter()
                .map(|(file, artifact, crc)| {
                    json!({
                        "file": format!("{}/{file}", e.folder),
                        "artifact": artifact,
                        "crc32c": crc,
                        "verified": verified.contains(&run_dir.join(&e.folder).join(file)),
                    })
                })
                .collect();
            let (state, failure) = match &e.state {
                ItemState::Pending => ("PENDING", None),
                ItemState::Succeeded => ("SUCCEEDED", None),
                ItemState::Failed(f) => ("FAILED", Some(f)),
            };
            json!({
                "external_id": e.external_id,
                "folder": e.folder,
                "state": state,
                "termination_reason": failure.and_then(|f| f.termination_reason.as_ref()).map(|r| r.to_string()),
                "error_code": failure.and_then(|f| f.error_code.clone()),
                "error_message": failure.and_then(|f| f.error_message.clone()),
                "files": files,
            })
        })
        .collect();
    let doc = json!({
        "manifest_version": 1,
        "run_id": run.run_id,
        "application_id": run.application_id,
        "version_number": run.version_number,
        "run_state": run.state.to_string(),
        "written_at": crate::time::rfc3339_seconds(std::time::SystemTime::now()),
        "items": items,
    });
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
