//! `slides inspect`: level-0 size, resolution, media type, size and CRC32C of slide files,
//! from their headers.

use std::path::PathBuf;

use aignostics::slides::{self, Slide};
use clap::{Args, Subcommand};

use crate::context::{Ctx, Failure, Report, Result, note};
use crate::shared::{count, inspector, positive};
use crate::table::Table;

#[derive(Debug, Subcommand)]
pub enum SlidesCommand {
    /// Show the metadata of slide files (headers only, no pixel decoding): format, level-0
    /// width and height, microns per pixel, media type, size and the platform's CRC32C.
    ///
    /// A folder is searched recursively (*.svs, *.tif, *.tiff, *.ndpi, *.btf, *.tf8, *.dcm);
    /// the DICOM files of one series count once, as their level-0 file. Reads on every core.
    /// Exits 1 when a slide cannot be read (the others are still listed).
    #[command(after_help = "Examples:\n  aignostics slides inspect slides/\n  \
        aignostics --json slides inspect a.svs b.ndpi --no-checksum | jq '.[].width_px'")]
    Inspect(InspectArgs),
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Slide files or folders, or bucket prefixes read in place (`s3://bucket/prefix/`,
    /// `gs://bucket/prefix/`; keys from AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or
    /// GCS_HMAC_ACCESS_KEY_ID and GCS_HMAC_SECRET).
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
    /// The S3-compatible endpoint of s3:// prefixes (default: AWS_ENDPOINT_URL, else AWS's).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// Microns per pixel for slides whose header has none (instead of an error).
    #[arg(long, value_name = "MPP", value_parser = positive)]
    pub mpp: Option<f64>,
    /// Skip the CRC32C (reads only the headers, not whole files).
    #[arg(long)]
    pub no_checksum: bool,
}

pub fn slides(ctx: &Ctx, command: &SlidesCommand) -> Result<Report> {
    match command {
        SlidesCommand::Inspect(args) => inspect(ctx, args),
    }
}

fn inspect(ctx: &Ctx, args: &InspectArgs) -> Result<Report> {
    let inspector = inspector(ctx, args.mpp).checksum(!args.no_checksum);
    let mut paths = Vec::new();
    let mut errors = Vec::new();
    // Paths holding no slide file at all, each with one message saying what is read.
    let mut empty = Vec::new();
    let mut remote = Vec::new();
    for path in &args.paths {
        let text = path.to_string_lossy();
        if text.starts_with("s3://") || text.starts_with("gs://") {
            match inspect_prefix(&inspector, &text, args.endpoint_url.as_deref()) {
                Ok((read, failed)) if read.is_empty() && failed.is_empty() => {
                    empty.push(format!("{text}: no slide objects under the prefix"));
                }
                Ok((read, failed)) => {
                    remote.extend(read);
                    errors.extend(failed);
                }
                Err(e) => errors.push(e.to_string()),
            }
            continue;
        }
        match slides::scan_folder(path) {
            Ok(scan) => {
                if scan.slides.is_empty() && scan.skipped.is_empty() {
                    empty.push(scan.nothing_found(path));
                }
                errors.extend(scan.skipped.iter().map(ToString::to_string));
                paths.extend(scan.slides);
            }
            Err(e) => errors.push(e.to_string()),
        }
    }
    if paths.is_empty() && remote.is_empty() && errors.is_empty() {
        return Err(Failure::Runtime(empty.join("\n")));
    }
    let mut found: Vec<Slide> = remote.iter().map(|r| r.slide.clone()).collect();
    for result in inspector.inspect_all(&paths) {
        match result {
            Ok(slide) => found.push(slide),
            Err(e) => errors.push(e.to_string()),
        }
    }
    for error in empty.iter().chain(&errors) {
        note!("error: {error}");
    }
    // What reading in place cost, and why a slide was read whole.
    for read in &remote {
        let why = match read.checksum_source {
            Some(aignostics::bucket::ChecksumSource::ReadWhole) => format!(
                "; read whole for its CRC32C ({} bytes): the store keeps none of the whole object",
                read.checksum_bytes
            ),
            Some(aignostics::bucket::ChecksumSource::Store) => {
                "; CRC32C from the store".to_string()
            }
            _ => String::new(),
        };
        note!(
            "{}: header in {} ({} bytes){why}",
            read.slide.path.display(),
            count(read.header_requests, "request", "requests"),
            read.header_bytes
        );
    }
    let report = if ctx.json && !remote.is_empty() {
        // Slides read in place carry what reading them cost.
        let mut values: Vec<serde_json::Value> = remote
            .iter()
            .map(serde_json::to_value)
            .collect::<std::result::Result<_, _>>()
            .map_err(|e| Failure::Runtime(e.to_string()))?;
        for slide in &found[remote.len()..] {
            values.push(serde_json::to_value(slide).map_err(|e| Failure::Runtime(e.to_string()))?);
        }
        Report::json(&values)?
    } else if ctx.json {
        Report::json(&found)?
    } else {
        let mut table = Table::new([
            "PATH",
            "FORMAT",
            "WIDTH",
            "HEIGHT",
            "MPP",
            "MEDIA TYPE",
            "BYTES",
            "CRC32C",
        ]);
        for s in &found {
            let mpp = if s.resolution_supplied {
                format!("{} (supplied)", s.resolution_mpp)
            } else {
                s.resolution_mpp.to_string()
            };
            table.row([
                s.path.display().to_string(),
                s.format.to_string(),
                s.width_px.to_string(),
                s.height_px.to_string(),
                mpp,
                s.media_type.clone(),
                s.size_bytes.to_string(),
                s.checksum_base64_crc32c
                    .clone()
                    .unwrap_or_else(|| "-".into()),
            ]);
        }
        Report::text(if table.is_empty() {
            String::new()
        } else {
            table.render()
        })
    };
    Ok(match (errors.len(), empty.len()) {
        (0, 0) => report,
        (0, n) => report.failing(Failure::Runtime(format!(
            "{} without slides",
            count(n, "path", "paths")
        ))),
        (n, _) => report.failing(Failure::Runtime(format!(
            "{n} of {} could not be read",
            count(found.len() + n, "slide", "slides")
        ))),
    })
}

/// The slides under a bucket prefix, read in place, and the errors of those that could not be.
fn inspect_prefix(
    inspector: &aignostics::slides::Inspector,
    url: &str,
    endpoint: Option<&str>,
) -> aignostics::Result<(Vec<slides::RemoteSlide>, Vec<String>)> {
    let (bucket, prefix) = aignostics::bucket::Bucket::from_url(url, endpoint)?;
    let mut read = Vec::new();
    let mut failed = Vec::new();
    for object in slides::find_objects(&bucket, &prefix)? {
        match inspector.inspect_object(&bucket, &object.key) {
            Ok(slide) => read.push(slide),
            Err(e) => failed.push(e.to_string()),
        }
    }
    Ok((read, failed))
}
