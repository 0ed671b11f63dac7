//! The SDK end to end in one command, without a platform account:
//!
//! ```text
//! cargo run --features sandbox --example quickstart
//! cargo run --features sandbox --example quickstart -- ./results   # keep the files
//! ```
//!
//! It starts the in-process sandbox platform, lists the applications, writes a few small slide
//! files, submits a run for them (each input carrying its CRC32C checksum), waits for the run
//! while printing its progress, downloads the results, checks every file against the checksum
//! the platform published for it, and prints a summary. Against the real platform the same code
//! works with `Client::new()` instead of `sandbox.client(..)`, and slide URLs that the platform
//! can read (e.g. signed bucket URLs) instead of `file://` ones.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aignostics::models::{InputArtifactCreationRequest, ItemCreationRequest, RunCreationRequest};
use aignostics::sandbox::{self, Sandbox};
use aignostics::{DownloadEvent, DownloadOptions, WaitOptions, checksum};
use serde_json::json;

/// Slides the quickstart submits.
const SLIDES: [&str; 3] = ["slide-1", "slide-2", "slide-3"];

/// What a quickstart run did, for the summary and for the test that runs it.
#[derive(Debug)]
pub struct Summary {
    /// The run's id.
    pub run_id: String,
    /// The run's final status word, e.g. `COMPLETED`.
    pub status: String,
    /// Every result file, verified against its published CRC32C.
    pub verified: Vec<PathBuf>,
    /// Bytes downloaded.
    pub bytes: u64,
}

fn main() {
    let keep = std::env::args_os().nth(1).map(PathBuf::from);
    let dir = keep.clone().unwrap_or_else(|| {
        std::env::temp_dir().join(format!("aignostics-quickstart-{}", std::process::id()))
    });
    let result = run(&dir);
    if keep.is_none() {
        // Best effort: a leftover temporary directory is no reason to fail.
        let _ = std::fs::remove_dir_all(&dir);
    }
    match result {
        Ok(summary) => {
            println!();
            println!(
                "Done: run {} is {}; {} files ({} bytes) downloaded and verified.",
                summary.run_id,
                summary.status,
                summary.verified.len(),
                summary.bytes
            );
            if keep.is_none() {
                println!(
                    "(The files were in a temporary directory, now removed; pass a directory \
                     as the first argument to keep them.)"
                );
            }
        }
        Err(err) => {
            eprintln!("quickstart failed: {err}");
            std::process::exit(1);
        }
    }
}

/// Runs the whole flow with `dir` as the working directory (created if missing): slides go to
/// `dir/slides`, results to `dir/results`.
pub fn run(dir: &Path) -> Result<Summary, Box<dyn std::error::Error>> {
    let started = Instant::now();

    // 1. A platform of our own, with runs that finish in about a second.
    let sandbox = Sandbox::builder()
        .processing_time(Duration::from_millis(1200))
        .artifact_size(64 * 1024)
        .start()?;
    println!("Sandbox platform at {}", sandbox.base_url());
    let client = sandbox.client(sandbox::ALICE_TOKEN)?;
    let me = client.me()?;
    println!(
        "Signed in as {} ({})",
        me.user.email.as_deref().unwrap_or(&me.user.id),
        me.organization.id
    );

    // 2. What can we run?
    println!();
    println!("Applications:");
    for app in client.applications().list().iter() {
        let app = app?;
        let latest = app.latest_version.map(|v| v.number).unwrap_or_default();
        println!(
            "  {:<10} {:<28} latest {latest}",
            app.application_id, app.name
        );
    }
    let version = client.versions().details("he-tme", None)?;
    let input = version
        .input_artifacts
        .first()
        .ok_or("he-tme declares no input artifact")?;

    // 3. Slides on disk, each described by the metadata the application asks for, including
    //    the CRC32C checksum the platform uses to check what it reads.
    println!();
    println!(
        "he-tme {} takes `{}` ({}) and produces {} result files per slide",
        version.version_number,
        input.name,
        input.mime_type,
        version.output_artifacts.len()
    );
    let slides_dir = dir.join("slides");
    std::fs::create_dir_all(&slides_dir)?;
    let mut items = Vec::new();
    for (n, name) in SLIDES.iter().enumerate() {
        let path = slides_dir.join(format!("{name}.tiff"));
        std::fs::write(&path, fake_slide(n))?;
        let crc = checksum::crc32c_base64_file(&path)?;
        let metadata = json!({
            "checksum_base64_crc32c": crc,
            "width_px": 4096,
            "height_px": 3072,
            "resolution_mpp": 0.25,
            "media-type": "image/tiff",
            "staining_method": "H&E",
        });
        let url = format!("file://{}", path.display());
        items.push(ItemCreationRequest::new(
            *name,
            [InputArtifactCreationRequest::new(
                &input.name,
                url,
                metadata,
            )],
        ));
        println!("  wrote {} (crc32c {crc})", path.display());
    }

    // 4. Submit: the request is checked against the version's schemas before it is sent.
    let request = RunCreationRequest::new("he-tme", items)
        .version_number(&version.version_number)
        .custom_metadata(json!({"source": "quickstart"}));
    let run = client.runs().submit(request)?;
    println!();
    println!(
        "Submitted run {} (he-tme {})",
        run.id(),
        version.version_number
    );

    // 5. Wait, printing a line whenever the state or progress changes.
    let last_line = Mutex::new(String::new());
    let wait = WaitOptions::default()
        .interval(Duration::from_millis(200))
        .timeout(Duration::from_secs(120))
        .on_progress(move |details| {
            let s = &details.statistics;
            let line = format!(
                "  {:<10} {:>3.0}%  ({} of {} items done)",
                details.status().as_str(),
                details.progress(),
                s.item_succeeded_count
                    + s.item_user_error_count
                    + s.item_system_error_count
                    + s.item_skipped_count,
                s.item_count
            );
            let mut last = last_line.lock().unwrap_or_else(|e| e.into_inner());
            if *last != line {
                println!("{line}");
                *last = line;
            }
        });
    let finished = run.wait(&wait)?;
    let status = finished.status().as_str().to_string();
    if !finished.can_download_items() {
        return Err(format!("run ended {status}, no results to download").into());
    }

    // 6. Download every result; each file is checked against its published CRC32C while it
    //    is written and only then moved into place.
    let results = dir.join("results");
    std::fs::create_dir_all(&results)?;
    println!();
    println!("Downloading results to {}", results.display());
    let shown = results.clone();
    let options = DownloadOptions::default()
        .wait_for_run(false)
        .on_event(move |event| {
            if let DownloadEvent::Finished { path, bytes } = event {
                let short = path.strip_prefix(&shown).unwrap_or(path);
                println!("  {} ({bytes} bytes)", short.display());
            }
        });
    let report = run.download_to(&results, &options)?;
    if let Some(failure) = report.failed.first() {
        return Err(format!("{}: {}", failure.path.display(), failure.error).into());
    }
    if !report.is_complete() {
        return Err(format!("download incomplete: {report:?}").into());
    }

    // 7. Check for ourselves: every downloaded file's CRC32C must be one the platform
    //    published for an artifact of its item, and every artifact must have its file.
    let verified = verify(&run, &results)?;
    println!(
        "Verified {} files against the artifacts' checksums in {:.1} s",
        verified.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(Summary {
        run_id: run.id().to_string(),
        status,
        verified,
        bytes: report.bytes,
    })
}

/// Re-computes the CRC32C of every file under `results/{run_id}/{external_id}/` and matches it
/// with the checksums in the item's output artifact metadata.
fn verify(
    run: &aignostics::Run,
    results: &Path,
) -> Result<Vec<PathBuf>, Box<dyn std::error::Error>> {
    let mut verified = Vec::new();
    for item in run.items().iter() {
        let item = item?;
        // Published checksum -> artifact name, for this item.
        let mut expected: HashMap<String, String> = HashMap::new();
        for artifact in &item.output_artifacts {
            let crc = artifact
                .metadata
                .as_ref()
                .and_then(|m| m.get(aignostics::DEFAULT_CHECKSUM_KEY))
                .and_then(|v| v.as_str())
                .ok_or_else(|| format!("artifact {} has no checksum", artifact.name))?;
            expected.insert(crc.to_string(), artifact.name.clone());
        }
        // The quickstart's external ids are plain names, so they are the directory names.
        let item_dir = results.join(run.id()).join(&item.external_id);
        let mut files: Vec<PathBuf> = std::fs::read_dir(&item_dir)
            .map_err(|e| format!("{}: {e}", item_dir.display()))?
            .map(|entry| entry.map(|e| e.path()))
            .collect::<Result<_, _>>()?;
        files.sort();
        if files.len() != expected.len() {
            return Err(format!(
                "{}: {} files for {} artifacts",
                item_dir.display(),
                files.len(),
                expected.len()
            )
            .into());
        }
        for file in files {
            let actual = checksum::crc32c_base64_file(&file)?;
            if expected.remove(&actual).is_none() {
                return Err(format!(
                    "{}: CRC32C {actual} matches no artifact of item {}",
                    file.display(),
                    item.external_id
                )
                .into());
            }
            verified.push(file);
        }
    }
    Ok(verified)
}

/// A few KiB that start like a little-endian TIFF file, different for every slide.
fn fake_slide(n: usize) -> Vec<u8> {
    let mut bytes = b"II*\0".to_vec();
    bytes.extend((0..8192u32).map(|i| (i.wrapping_mul(31).wrapping_add(n as u32 * 7) % 251) as u8));
    bytes
}
