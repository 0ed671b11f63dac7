//! The SDK end to end in one command, without a platform account:
//!
//! ```text
//! cargo run --example quickstart
//! cargo run --example quickstart -- ./results   # keep the files
//! ```
//!
//! It starts the in-process sandbox platform, lists the applications, writes a few small but
//! real slide files (tiled TIFF with an Aperio description), reads their headers for the
//! dimensions, resolution and CRC32C, uploads them to the sandbox's S3-compatible bucket and
//! submits a run whose items download them from signed URLs, waits for the run while printing
//! its progress, downloads the results, checks every file against the checksum the platform
//! published for it, and prints a summary. Against the real platform the same code works with
//! `Client::new()` instead of `sandbox.client(..)` and `Bucket::from_me(&client.me()?)` instead
//! of `sandbox.bucket(..)`. `aignostics::pipeline::SlidesToResults` does steps 3 to 7 in one
//! call.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aignostics::bucket::{DEFAULT_URL_VALIDITY, KeyTemplate};
use aignostics::models::RunCreationRequest;
use aignostics::slides::{MetadataRow, SlideItems};
use aignostics::{DownloadEvent, DownloadOptions, WaitOptions, checksum};
use aignostics_sandbox::{self as sandbox, Sandbox};
use serde_json::json;

/// Slides the quickstart submits.
const SLIDES: [&str; 3] = ["slide-1", "slide-2", "slide-3"];

/// Their level-0 sizes in pixels.
const SIZES: [(u32, u32); 3] = [(4000, 3000), (6144, 4096), (5120, 3840)];

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

    // 3. Slides on disk (small but real tiled TIFF files with an Aperio description), read
    //    by their headers: width, height and microns per pixel come from the files, the
    //    CRC32C checksum (which the platform checks) from their bytes.
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
    for (n, name) in SLIDES.iter().enumerate() {
        let (width, height) = SIZES[n];
        std::fs::write(
            slides_dir.join(format!("{name}.svs")),
            aperio_slide(width, height, n),
        )?;
    }
    let details = client.application_version("he-tme", Some(&version.version_number))?;
    let builder = SlideItems::new("he-tme", details)?
        .mapping(".*:staining_method=H&E,tissue=LUNG,disease=LUNG_CANCER".parse()?);
    let prepared = builder.scan(&slides_dir)?;
    if let Some(failure) = prepared.failures.first() {
        return Err(failure.to_string().into());
    }

    // 4. Each slide into the organization's bucket (the sandbox serves an S3-compatible one
    //    that checks every SigV4 signature), then a signed URL the platform downloads it from.
    let bucket = sandbox.bucket(sandbox::ALICE_TOKEN)?;
    let mut urls: HashMap<String, String> = HashMap::new();
    for row in &prepared.rows {
        let path = slides_dir.join(&row.external_id);
        let key = KeyTemplate::default().render(&bucket, &path, None)?;
        let report = bucket
            .upload(&path, &key)
            .crc32c(&row.checksum_base64_crc32c)
            .send()?;
        println!(
            "  {} {} x {} px at {} µm/px -> {} ({:?}, crc32c {})",
            row.external_id,
            row.width_px,
            row.height_px,
            row.resolution_mpp,
            report.key,
            report.outcome,
            report.crc32c
        );
        urls.insert(
            row.external_id.clone(),
            bucket.signed_url(&key, DEFAULT_URL_VALIDITY)?,
        );
    }
    let signed = |row: &MetadataRow| {
        urls.get(&row.external_id)
            .cloned()
            .ok_or_else(|| "not uploaded".to_string())
    };
    let items = builder.items_from(&prepared, &signed)?;

    // 5. Submit: the request is checked against the version's schemas before it is sent.
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

    // 6. Wait, printing a line whenever the state or progress changes.
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

    // 7. Download every result; each file is checked against its published CRC32C while it
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

    // 8. Check for ourselves: every downloaded file's CRC32C must be one the platform
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

/// Edge of the tiles of the slides the quickstart writes.
const TILE: u32 = 256;

/// A small but real Aperio SVS file: one tiled level whose tiles all share one block of
/// pixel data (different for every slide), and the description with `MPP = 0.25`.
fn aperio_slide(width: u32, height: u32, n: usize) -> Vec<u8> {
    let tiles = width.div_ceil(TILE) * height.div_ceil(TILE);
    let tile_bytes = TILE * TILE * 3;
    let description = format!(
        "Aperio Image Library v12.0.15 \r\n{width}x{height} ({TILE}x{TILE}) RAW|AppMag = 40|MPP = 0.25\0"
    );
    let mut out = b"II*\0".to_vec();
    out.extend_from_slice(&[0; 4]); // first directory's offset, patched below
    let pixels = out.len() as u32;
    out.extend((0..tile_bytes).map(|i| (i as usize).wrapping_mul(n + 3) as u8));
    let offsets = out.len() as u32;
    out.extend((0..tiles).flat_map(|_| pixels.to_le_bytes()));
    let counts = out.len() as u32;
    out.extend((0..tiles).flat_map(|_| tile_bytes.to_le_bytes()));
    let bits = out.len() as u32;
    out.extend([8u16, 8, 8].iter().flat_map(|b| b.to_le_bytes()));
    let text = out.len() as u32;
    out.extend_from_slice(description.as_bytes());
    if out.len() % 2 == 1 {
        out.push(0);
    }
    let ifd = out.len() as u32;
    out[4..8].copy_from_slice(&ifd.to_le_bytes());
    // (tag, type: 3 SHORT / 4 LONG / 2 ASCII, count, value or offset)
    let entries: [(u16, u16, u32, u32); 11] = [
        (256, 4, 1, width),
        (257, 4, 1, height),
        (258, 3, 3, bits),
        (259, 3, 1, 1),
        (262, 3, 1, 2),
        (270, 2, description.len() as u32, text),
        (277, 3, 1, 3),
        (322, 3, 1, TILE),
        (323, 3, 1, TILE),
        (324, 4, tiles, offsets),
        (325, 4, tiles, counts),
    ];
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    for (tag, kind, count, value) in entries {
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        out.extend_from_slice(&value.to_le_bytes());
    }
    out.extend_from_slice(&[0; 4]); // no next directory
    out
}
