//! `runs prepare`: a folder of slides to the metadata CSV (and optionally the items JSON) for
//! an application version.

use std::path::PathBuf;

use aignostics::slides::{self, SlideItems, UrlTemplate};
use clap::Args;
use serde_json::json;

use crate::context::{Ctx, Failure, Report, Result, note};
use crate::shared::{
    check_output_file, count, inspector, positive, slides_table, split_app, unknown_version,
};

#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct PrepareArgs {
    /// Application and optional version, e.g. `he-tme` or `he-tme:1.0.0` (default: latest).
    #[arg(value_name = "APP[:VERSION]")]
    pub application: String,
    /// Folder of slides (searched recursively; a DICOM series counts once), or a prefix of your
    /// own bucket read in place (`s3://bucket/prefix/`, `gs://bucket/prefix/`): each row's
    /// platform_bucket_url then names its object.
    #[arg(value_name = "DIR|URL")]
    pub dir: PathBuf,
    /// With an s3:// prefix: the S3-compatible endpoint (default: AWS_ENDPOINT_URL, else AWS's).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// The metadata CSV to write (the Python SDK's format; edit it, then submit it).
    #[arg(long, value_name = "FILE")]
    pub csv: PathBuf,
    /// Set CSV columns for slides whose path matches REGEX, e.g.
    /// '.*lung.*:tissue=LUNG,disease=LUNG_CANCER'. Keys: staining_method, tissue, disease,
    /// resolution_mpp, platform_bucket_url. Repeatable; later rules win.
    #[arg(long, value_name = "REGEX:KEY=VALUE,...")]
    pub mapping: Vec<aignostics::slides::Mapping>,
    /// Only slides whose relative path matches this glob, e.g. '**/*.svs'.
    #[arg(long, value_name = "GLOB")]
    pub include: Option<String>,
    /// Microns per pixel for slides whose header has none (instead of skipping them).
    #[arg(long, value_name = "MPP", value_parser = positive)]
    pub mpp: Option<f64>,
    /// Download URL of each slide, `{path}` being its path relative to DIR, e.g.
    /// 'https://storage.example.com/slides/{path}' (needed for --items).
    #[arg(long, value_name = "TEMPLATE", requires = "items")]
    pub url_template: Option<String>,
    /// Also write the run items as JSON for `runs submit --items FILE --application APP`,
    /// checked against the version's schema.
    #[arg(long, value_name = "FILE", requires = "url_template")]
    pub items: Option<PathBuf>,
}

pub fn prepare(ctx: &Ctx, args: &PrepareArgs) -> Result<Report> {
    let (application, version) = split_app(&args.application);
    let template = args
        .url_template
        .as_deref()
        .map(UrlTemplate::new)
        .transpose()
        .map_err(|e| Failure::Usage(e.to_string()))?;
    let in_bucket = crate::shared::bucket_source(&args.dir, args.endpoint_url.as_deref())?;
    // Both outputs are proven writable before a slide is read (a large folder takes minutes).
    check_output_file(&args.csv, "--csv")?;
    if let Some(items) = &args.items {
        check_output_file(items, "--items")?;
    }
    let client = ctx.client()?;
    let version = client
        .application_version(application, version)
        .map_err(|e| unknown_version(&client, application, version, e))?;
    let version_number = version.version_number.clone();
    let mut builder = SlideItems::new(application, version)
        .map_err(runtime)?
        .inspector(inspector(ctx, args.mpp));
    for rule in args.mapping.iter().cloned() {
        builder = builder.mapping(rule);
    }
    if let Some(glob) = &args.include {
        builder = builder
            .include(glob)
            .map_err(|e| Failure::Usage(e.to_string()))?;
    }
    let prepared = match &in_bucket {
        Some((bucket, prefix)) => builder.scan_bucket(bucket, prefix),
        None => builder.scan(&args.dir),
    }
    .map_err(runtime)?;
    for failure in &prepared.failures {
        note!("error: {failure}");
    }
    if prepared.rows.is_empty() {
        return Err(Failure::Runtime(match slides::scan_folder(&args.dir) {
            Ok(scan) if scan.slides.is_empty() => scan.nothing_found(&args.dir),
            _ => format!("no readable slides under {}", args.dir.display()),
        }));
    }
    slides::write_csv_file(&args.csv, &prepared.rows).map_err(runtime)?;
    note!(
        "Wrote {} of {application} {version_number} to {}.",
        count(prepared.rows.len(), "slide", "slides"),
        args.csv.display()
    );
    for missing in builder.missing_fields(&prepared.rows) {
        note!("warning: {}", missing.describe());
    }
    let ready = builder.check(&prepared.rows);
    if let Err(problem) = &ready {
        note!("warning: not ready to submit yet: {problem}");
        note!("hint: fill in the CSV, or pass --mapping rules");
    }
    if let (Some(path), Some(template)) = (&args.items, &template) {
        let items = builder.items_from(&prepared, template).map_err(runtime)?;
        let text = serde_json::to_vec_pretty(&items)
            .map_err(|e| Failure::Runtime(format!("encoding the items: {e}")))?;
        std::fs::write(path, text)
            .map_err(|e| Failure::Runtime(format!("{}: {e}", path.display())))?;
        note!(
            "Wrote {} to {}.",
            count(items.len(), "item", "items"),
            path.display()
        );
    }
    let report = if ctx.json {
        Report::json(&json!({
            "application_id": application,
            "version_number": version_number,
            "csv": args.csv,
            "rows": prepared.rows,
            "ready": ready.is_ok(),
            "failures": prepared.failures.iter().map(ToString::to_string).collect::<Vec<_>>(),
        }))?
    } else {
        let mut table = slides_table();
        for r in &prepared.rows {
            table.row([
                r.external_id.clone(),
                r.width_px.to_string(),
                r.height_px.to_string(),
                r.resolution_mpp.to_string(),
                r.staining_method.clone().unwrap_or_default(),
                r.tissue.clone().unwrap_or_default(),
                r.disease.clone().unwrap_or_default(),
            ]);
        }
        Report::text(table.render())
    };
    Ok(match prepared.failures.len() {
        0 => report,
        n => report.failing(Failure::Runtime(format!(
            "{} could not be read",
            count(n, "slide", "slides")
        ))),
    })
}

fn runtime(e: impl std::fmt::Display) -> Failure {
    Failure::Runtime(e.to_string())
}
