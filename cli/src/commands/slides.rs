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
    /// Slide files or folders.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
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
    for path in &args.paths {
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
    if paths.is_empty() && errors.is_empty() {
        return Err(Failure::Runtime(empty.join("\n")));
    }
    let mut found: Vec<Slide> = Vec::new();
    for result in inspector.inspect_all(&paths) {
        match result {
            Ok(slide) => found.push(slide),
            Err(e) => errors.push(e.to_string()),
        }
    }
    for error in empty.iter().chain(&errors) {
        note!("error: {error}");
    }
    let report = if ctx.json {
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
