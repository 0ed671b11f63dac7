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
    let tmp = run_dir.join(format!(
        ".{FILE}.{}.{:?}.tmp",
        std::process::id(),
        std::thread::current().id()
    ));
    let written = (|| {
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(serde_json::to_string_pretty(&doc)?.as_bytes())?;
        file.sync_all()?;
        std::fs::rename(&tmp, run_dir.join(FILE))
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}
