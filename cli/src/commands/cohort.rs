//! `cohort submit | status | retry | cancel | download`: a study of many slides in many runs,
//! from any number of machines, through `aignostics::cohort`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use aignostics::DownloadOptions;
use aignostics::cohort::{self, Cohort, CohortStatus, Progress, Shard, SubmitReport};
use aignostics::pipeline::SlidesToResults;
use clap::{Args, Subcommand};
use serde_json::json;

use crate::context::{Ctx, Failure, Report, Result, note};
use crate::shared::{count, organization_bucket, split_app, unknown_version};

#[derive(Debug, Subcommand)]
pub enum CohortCommand {
    /// Submit a cohort's batches that are not on the platform yet: the slides, listed and
    /// ordered by path, cut into batches of --batch-size, one run each, tagged with the cohort
    /// and keyed by cohort, batch and content; a worker reads only its own batches' slides.
    /// Safe to kill and run again, on any machine: a batch is never submitted twice. The version is pinned by the cohort's first run. Exit 5 when
    /// the platform refuses a submission (a quota): run again later to continue.
    #[command(after_help = "Examples:\n  \
        aignostics cohort submit study-17 --slides /data/study-17 --app he-tme \\\n      \
        --mapping '.*:staining_method=H&E,tissue=LUNG,disease=LUNG_CANCER' --batch-size 25\n  \
        aignostics cohort submit study-17 --slides s3://lab/study-17/ --app he-tme --shard auto/8\n  \
        aignostics cohort submit study-17 --slides /data/study-17 --app he-tme --shard 3/8")]
    Submit(SubmitArgs),
    /// Every slide's state across all the cohort's runs, from any machine: pending,
    /// processing, succeeded, failed (with the platform's error), unreadable, skipped, not
    /// submitted;
    /// queue positions and when results are deleted. Exit 0 when every slide succeeded, 3
    /// while slides are still to do, 4 when all finished and some failed.
    #[command(after_help = "Examples:\n  \
        aignostics cohort status study-17\n  \
        aignostics cohort status study-17 --json | jq '.slides[] | select(.state == \"failed\")'")]
    Status(NameArgs),
    /// Submit the slides whose latest run failed (or that could not be read) again, in new
    /// runs of a new round: never a slide that succeeded or is still going, and twice in a
    /// row submits nothing the second time. The slides are read again from where the cohort
    /// recorded them, or --slides.
    #[command(after_help = "Examples:\n  aignostics cohort retry study-17 --failed")]
    Retry(RetryArgs),
    /// Cancel the cohort's runs still going; `cohort submit` submits their batches again.
    #[command(after_help = "Examples:\n  aignostics cohort cancel study-17 --dry-run")]
    Cancel(CancelArgs),
    /// Download every run's results into OUT/runs/RUN_ID/, verified and resuming what is
    /// there, waiting for runs still going; then give each slide OUT/slides/EXTERNAL_ID/ with
    /// the files of its latest run (hard links, no second copy). --table writes the cohort
    /// table at the end, one row per slide (a failed attempt a retry replaced is left out).
    #[command(after_help = "Examples:\n  \
        aignostics cohort download study-17 results/ --table study-17.parquet")]
    Download(DownloadArgs),
}

/// The cohort's name.
#[derive(Debug, Args)]
pub struct NameArgs {
    /// The cohort's name (letters, digits, '.', '_', '-').
    pub name: String,
}

/// Which batches this worker takes.
#[derive(Debug, Args)]
pub struct ShardArgs {
    /// Take only shard K of N (batches whose index ≡ K mod N), e.g. 3/8. `auto` reads K and N
    /// from a Slurm array; `auto/N` reads K from a Kubernetes Indexed Job
    /// (JOB_COMPLETION_INDEX), Slurm or AWS Batch (AWS_BATCH_JOB_ARRAY_INDEX).
    #[arg(long, value_name = "K/N|auto|auto/N", value_parser = parse_shard)]
    pub shard: Option<ShardSpec>,
}

/// `--shard` as given.
#[derive(Debug, Clone, Copy)]
pub enum ShardSpec {
    Fixed(Shard),
    Auto(Option<u32>),
}

fn parse_shard(text: &str) -> std::result::Result<ShardSpec, String> {
    match text.strip_prefix("auto") {
        Some("") => Ok(ShardSpec::Auto(None)),
        Some(rest) => rest
            .strip_prefix('/')
            .and_then(|n| n.parse().ok())
            .filter(|&n| n > 0)
            .map(|n| ShardSpec::Auto(Some(n)))
            .ok_or_else(|| format!("{text:?}: expected auto or auto/N with N ≥ 1")),
        None => text
            .parse::<Shard>()
            .map(ShardSpec::Fixed)
            .map_err(|e| e.to_string()),
    }
}

impl ShardArgs {
    fn shard(&self) -> Result<Shard> {
        Ok(match self.shard {
            None => Shard::default(),
            Some(ShardSpec::Fixed(shard)) => shard,
            Some(ShardSpec::Auto(count)) => {
                Shard::from_env(count).map_err(|e| Failure::Usage(e.to_string()))?
            }
        })
    }
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// The cohort's name (letters, digits, '.', '_', '-'; at most 48).
    pub name: String,
    /// Folder of slides (searched recursively), or a prefix of your own bucket
    /// (`s3://bucket/prefix/`, `gs://bucket/prefix/`), as `runs submit --slides`.
    #[arg(long, value_name = "DIR|URL", required_unless_present = "csv")]
    pub slides: Option<PathBuf>,
    /// The metadata CSV `runs prepare` wrote (its slides relative to --slides, default the
    /// CSV's folder).
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// Application and optional version, e.g. `he-tme` or `he-tme:1.0.0` (default: the
    /// latest when the cohort starts; later calls continue on the cohort's version).
    #[arg(long, value_name = "APP[:VERSION]")]
    pub app: String,
    /// Set metadata of slides whose path matches REGEX (as `runs submit --mapping`).
    /// Repeatable.
    #[arg(long, value_name = "REGEX:KEY=VALUE,...")]
    pub mapping: Vec<aignostics::slides::Mapping>,
    /// Only slides whose relative path matches this glob, e.g. '**/*.svs'.
    #[arg(long, value_name = "GLOB")]
    pub include: Option<String>,
    /// Slides per run; fixed when the cohort starts.
    #[arg(long, value_name = "N", default_value_t = cohort::DEFAULT_BATCH_SIZE, value_parser = parse_batch_size)]
    pub batch_size: usize,
    #[command(flatten)]
    pub shard: ShardArgs,
    #[command(flatten)]
    pub source: SourceArgs,
}

/// How slides in a bucket of your own are read.
#[derive(Debug, Args)]
pub struct SourceArgs {
    /// With an s3:// source: the S3-compatible endpoint (default: AWS_ENDPOINT_URL, else
    /// AWS's).
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
    /// With a bucket source: accept download URLs signed with temporary keys
    /// (AWS_SESSION_TOKEN), which stop working when the session ends.
    #[arg(long)]
    pub accept_session_urls: bool,
}

fn parse_batch_size(text: &str) -> std::result::Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=10_000).contains(&n) => Ok(n),
        _ => Err(format!(
            "{text:?}: expected a number of slides from 1 to 10000"
        )),
    }
}

#[derive(Debug, Args)]
pub struct RetryArgs {
    /// The cohort's name.
    pub name: String,
    /// Retry the slides whose latest run failed (the only retry there is; required so the
    /// command says what it does).
    #[arg(long, required = true)]
    pub failed: bool,
    /// Where the slides are on this machine, when not where the cohort recorded them.
    #[arg(long, value_name = "DIR|URL")]
    pub slides: Option<PathBuf>,
    #[command(flatten)]
    pub shard: ShardArgs,
    #[command(flatten)]
    pub source: SourceArgs,
}

#[derive(Debug, Args)]
pub struct CancelArgs {
    /// The cohort's name.
    pub name: String,
    /// Only say which runs would be cancelled.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// The cohort's name.
    pub name: String,
    /// The results folder (created when missing).
    pub out: PathBuf,
    /// Also write the cohort table of the slide readouts (`.parquet` or `.csv`).
    #[arg(long, value_name = "FILE")]
    pub table: Option<PathBuf>,
    /// Do not wait for runs still processing (download what is ready).
    #[arg(long)]
    pub no_wait: bool,
    /// Time between looks at runs still processing, in seconds or with a unit (0.1 s to 1 h).
    #[arg(long, value_name = "DURATION", default_value = "5", value_parser = crate::shared::parse_interval)]
    pub interval: Duration,
}

pub fn cohort(ctx: &Ctx, command: &CohortCommand) -> Result<Report> {
    match command {
        CohortCommand::Submit(args) => submit(ctx, args),
        CohortCommand::Status(args) => status(ctx, &args.name),
        CohortCommand::Retry(args) => retry(ctx, args),
        CohortCommand::Cancel(args) => cancel(ctx, args),
        CohortCommand::Download(args) => download(ctx, args),
    }
}

/// The slides of a cohort as a chain: a bucket prefix read in place, or a folder (with a
/// CSV) uploaded to the organization's bucket.
#[allow(clippy::too_many_arguments)]
fn chain<'a>(
    ctx: &Ctx,
    client: &'a aignostics::Client,
    application: &str,
    slides: &Path,
    csv: Option<&Path>,
    mappings: &[aignostics::slides::Mapping],
    include: Option<&str>,
    source: &SourceArgs,
) -> Result<SlidesToResults<'a>> {
    let mut chain = match crate::shared::bucket_source(slides, source.endpoint_url.as_deref())? {
        Some((bucket, prefix)) => SlidesToResults::in_bucket(client, application, bucket, &prefix)
            .accept_session_urls(source.accept_session_urls),
        None => SlidesToResults::new(client, application, slides)
            .bucket(organization_bucket(ctx)?)
            .inspector(crate::shared::inspector(ctx, None)),
    };
    if let Some(csv) = csv {
        chain = chain.csv(csv);
    }
    for rule in mappings {
        chain = chain.mapping(rule.clone());
    }
    if let Some(glob) = include {
        chain = chain.include(glob);
    }
    Ok(chain)
}

fn submit(ctx: &Ctx, args: &SubmitArgs) -> Result<Report> {
    let (application, version) = split_app(&args.app);
    let shard = args.shard.shard()?;
    let client = ctx.client()?;
    client
        .application_version(application, version)
        .map_err(|e| unknown_version(&client, application, version, e))?;
    let slides = crate::shared::slides_folder(args.slides.as_deref(), args.csv.as_deref());
    let mut chain = chain(
        ctx,
        &client,
        application,
        &slides,
        args.csv.as_deref(),
        &args.mapping,
        args.include.as_deref(),
        &args.source,
    )?;
    if let Some(version) = version {
        chain = chain.version(version);
    }
    crate::interrupt::leaves(format!(
        "the batches submitted so far are on the platform; running the same command again \
         submits the rest (`aignostics cohort status {}` shows where it stands)",
        args.name
    ));
    let report = Cohort::new(&args.name, chain)?
        .batch_size(args.batch_size)
        .shard(shard)
        .on_progress(printer())
        .submit()?;
    told(ctx, &args.name, &report, "cohort submit")
}

fn retry(ctx: &Ctx, args: &RetryArgs) -> Result<Report> {
    let client = ctx.client()?;
    let runs = cohort::runs(&client, &args.name)?;
    let Some(first) = runs.first() else {
        return Err(Failure::Runtime(format!(
            "no run of the cohort {} is on the platform: `aignostics cohort submit {} …` \
             starts it",
            args.name, args.name
        )));
    };
    let definition = &first.definition;
    let mappings = definition
        .mappings
        .iter()
        .map(|m| m.parse())
        .collect::<std::result::Result<Vec<aignostics::slides::Mapping>, _>>()
        .map_err(|e| Failure::Runtime(format!("the cohort's recorded mapping: {e}")))?;
    let (slides, csv) = match (&args.slides, &definition.csv_slides) {
        (Some(dir), Some(_)) => (dir.clone(), Some(PathBuf::from(&definition.source))),
        (Some(dir), None) => (dir.clone(), None),
        (None, Some(dir)) => (PathBuf::from(dir), Some(PathBuf::from(&definition.source))),
        (None, None) => (PathBuf::from(&definition.source), None),
    };
    let chain = chain(
        ctx,
        &client,
        &first.application_id,
        &slides,
        csv.as_deref(),
        &mappings,
        definition.include.as_deref(),
        &args.source,
    )
    .map_err(|e| match e {
        Failure::Runtime(message) => Failure::Runtime(format!(
            "{message}: the cohort's slides were recorded there; give --slides where they are \
             on this machine"
        )),
        other => other,
    })?;
    let report = Cohort::new(&args.name, chain)?
        .batch_size(definition.batch_size.max(1))
        .shard(args.shard.shard()?)
        .on_progress(printer())
        .retry_failed()?;
    if report.batches == 0 {
        note!("No failed slide to retry in cohort {}", args.name);
    }
    told(ctx, &args.name, &report, "cohort retry --failed")
}

/// What a submission did, and its exit status: 5 when the platform refused a submission.
fn told(ctx: &Ctx, name: &str, report: &SubmitReport, again: &str) -> Result<Report> {
    for failure in &report.slide_errors {
        note!("not submitted: {}", failure.message);
    }
    let out = if ctx.json {
        Report::json(&json!({
            "cohort": name,
            "round": report.round,
            "version_number": report.version_number,
            "slides": report.slides,
            "batches": report.batches,
            "owned": report.owned,
            "submitted": report.submitted.iter().map(|b| json!({"batch": b.batch, "run_id": b.run_id, "slides": b.slides})).collect::<Vec<_>>(),
            "existing": report.existing.iter().map(|b| json!({"batch": b.batch, "run_id": b.run_id, "slides": b.slides})).collect::<Vec<_>>(),
            "slide_errors": report.slide_errors.iter().map(|f| f.message.clone()).collect::<Vec<_>>(),
            "refused": report.refused.as_ref().map(|r| r.error.to_string()),
        }))?
    } else {
        let runs: Vec<String> = report
            .submitted
            .iter()
            .chain(&report.existing)
            .map(|b| format!("{}\n", b.run_id))
            .collect();
        Report::text(runs.concat())
    };
    if let Some(refusal) = &report.refused {
        return Ok(out.failing(Failure::Refused(format!(
            "the platform refused batch {} of cohort {name}: {}. {} of this worker's {} are on \
             the platform, {} remain; `aignostics {again} {name} …` continues once the platform \
             accepts runs again",
            refusal.batch,
            refusal.error,
            report.on_platform(),
            count(report.owned.len(), "batch", "batches"),
            report.remaining()
        ))));
    }
    if !report.slide_errors.is_empty() {
        return Ok(out.failing(Failure::Incomplete(format!(
            "{} could not be read: their batches went without them (fix them and start a new \
             cohort for them)",
            count(report.slide_errors.len(), "slide", "slides"),
        ))));
    }
    Ok(out)
}

/// One line per step on stderr (uploads and reads of each batch included).
fn printer() -> impl Fn(&Progress) + Send + Sync + 'static {
    |step: &Progress| match step {
        // Per-slide upload bytes would drown the batches' lines.
        Progress::Slides(aignostics::pipeline::Progress::Uploading { .. }) => {}
        _ => note!("{step}"),
    }
}

fn status(ctx: &Ctx, name: &str) -> Result<Report> {
    let client = ctx.client()?;
    let status = cohort::status(&client, name)?;
    if status.runs.is_empty() {
        return Err(Failure::Runtime(format!(
            "no run of the cohort {name} is on the platform (of the runs you submitted): \
             `aignostics cohort submit {name} …` starts it"
        )));
    }
    let totals = status.totals();
    let out = if ctx.json {
        Report::json(&json!({
            "cohort": name,
            "application_id": status.application_id(),
            "version_number": status.version_number(),
            "runs": status.runs.iter().map(|r| json!({
                "run_id": r.run_id, "round": r.round, "batch": r.batch, "cancelled": r.cancelled,
            })).collect::<Vec<_>>(),
            "missing_batches": status.missing_batches,
            "totals": {
                "slides": totals.slides,
                "not_submitted": totals.not_submitted,
                "pending": totals.pending,
                "processing": totals.processing,
                "succeeded": totals.succeeded,
                "failed": totals.failed,
                "skipped": totals.skipped,
                "unreadable": totals.unreadable,
            },
            "results_deleted_from": status.earliest_deletion(),
            "slides": status.slides.iter().map(|s| json!({
                "external_id": s.external_id,
                "state": s.state.as_str(),
                "run_id": s.run_id,
                "round": s.round,
                "batch": s.batch,
                "error_code": s.error_code,
                "error_message": s.error_message,
                "queue_position": s.queue_position,
                "results_until": s.results_until,
            })).collect::<Vec<_>>(),
        }))?
    } else {
        Report::text(status_table(&status))
    };
    let state = format!(
        "cohort {name}: {} slides; {} succeeded, {} failed, {} unreadable, {} skipped, {} \
         pending, {} processing, {} not submitted",
        totals.slides,
        totals.succeeded,
        totals.failed,
        totals.unreadable,
        totals.skipped,
        totals.pending,
        totals.processing,
        totals.not_submitted
    );
    if !status.is_finished() {
        return Ok(out.failing(Failure::Incomplete(format!("{state} (not done)"))));
    }
    if totals.failed + totals.skipped + totals.unreadable > 0 {
        return Ok(out.failing(Failure::Failed(format!(
            "{state}; `aignostics cohort retry {name} --failed` submits the failed slides again"
        ))));
    }
    note!("{state}");
    Ok(out)
}

fn status_table(status: &CohortStatus) -> String {
    let mut table = crate::table::Table::new([
        "EXTERNAL ID",
        "STATE",
        "RUN",
        "ROUND",
        "BATCH",
        "QUEUE",
        "RESULTS UNTIL",
        "ERROR",
    ]);
    for s in &status.slides {
        table.row([
            s.external_id.clone(),
            s.state.as_str().to_string(),
            s.run_id.clone(),
            s.round.to_string(),
            s.batch.to_string(),
            s.queue_position.map(|q| q.to_string()).unwrap_or_default(),
            s.results_until.clone().unwrap_or_default(),
            match (&s.error_code, &s.error_message) {
                (Some(code), Some(message)) => format!("{code}: {message}"),
                (code, message) => code.clone().or(message.clone()).unwrap_or_default(),
            },
        ]);
    }
    let mut text = table.render();
    if !status.missing_batches.is_empty() {
        text.push_str(&format!(
            "batches not on the platform yet: {:?}\n",
            status.missing_batches
        ));
    }
    text
}

fn cancel(ctx: &Ctx, args: &CancelArgs) -> Result<Report> {
    let client = ctx.client()?;
    let runs = cohort::cancel(&client, &args.name, args.dry_run)?;
    let verb = if args.dry_run {
        "would cancel"
    } else {
        "cancelled"
    };
    note!(
        "{verb} {} of cohort {}",
        count(runs.len(), "run", "runs"),
        args.name
    );
    if ctx.json {
        return Report::json(&json!({"cohort": args.name, "dry_run": args.dry_run, "runs": runs}));
    }
    Ok(Report::text(
        runs.iter().map(|r| format!("{r}\n")).collect::<String>(),
    ))
}

fn download(ctx: &Ctx, args: &DownloadArgs) -> Result<Report> {
    if let Some(table) = &args.table {
        crate::shared::check_output_file(table, "--table")?;
    }
    std::fs::create_dir_all(&args.out)
        .map_err(|e| Failure::Runtime(format!("{}: {e}", args.out.display())))?;
    let client = ctx.client()?;
    crate::interrupt::leaves(format!(
        "files verified so far stay; running the same command again downloads the rest \
         (`aignostics cohort download {} {}`)",
        args.name,
        args.out.display()
    ));
    let options = DownloadOptions::default()
        .wait_for_run(!args.no_wait)
        .poll_interval(args.interval);
    let done = cohort::download(&client, &args.name, &args.out, &options)?;
    let mut incomplete = Vec::new();
    for (run, report) in &done.runs {
        note!(
            "run {run}: {} downloaded, {} already there",
            count(report.downloaded.len(), "file", "files"),
            report.skipped.len()
        );
        if !report.failed.is_empty() {
            incomplete.push(run.clone());
        }
    }
    note!(
        "{} with their latest results in {}",
        count(done.slides, "slide", "slides"),
        args.out.join(cohort::SLIDES_FOLDER).display()
    );
    if let Some(table) = &args.table {
        // One row per slide: its latest record, not a failed attempt a retry superseded.
        let status = cohort::status(&client, &args.name)?;
        let table_of = aignostics::results::CohortTable::builder()
            .folder(args.out.join(cohort::RUNS_FOLDER))
            .items(status.latest_items())
            .build()?;
        table_of.write(table)?;
        note!(
            "Wrote the table of {} to {}",
            count(table_of.batch().num_rows(), "slide", "slides"),
            table.display()
        );
    }
    let out = if ctx.json {
        Report::json(&json!({
            "cohort": args.name,
            "slides": done.slides,
            "files": done.files,
            "runs": done.runs.iter().map(|(run, r)| json!({
                "run_id": run,
                "downloaded": r.downloaded.len(),
                "skipped": r.skipped.len(),
                "failed": r.failed.len(),
            })).collect::<Vec<_>>(),
        }))?
    } else {
        Report::text(format!("{}\n", args.out.display()))
    };
    if !incomplete.is_empty() {
        return Ok(out.failing(Failure::Incomplete(format!(
            "files of {} could not be downloaded: run the command again",
            count(incomplete.len(), "run", "runs")
        ))));
    }
    Ok(out)
}
