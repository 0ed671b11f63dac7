//! `runs submit|list|show|items|cancel|wait|download|delete-artifacts|metadata`.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::mpsc;

use aignostics::models::{
    ItemCreationRequest, ItemResultReadResponse, RunCreationRequest, RunReadResponse,
};
use aignostics::{Client, DownloadOptions, Run, RunStatus, WaitOptions};
use serde::Serialize;
use serde_json::{Value, json};

use crate::args::{
    DownloadArgs, ListRunsArgs, MetadataArgs, ReadRunArgs, RunsCommand, ShareTokenArg, SubmitArgs,
    WaitArgs,
};
use crate::context::{Ctx, Failure, Report, Result, note};
use crate::progress::{DownloadProgress, WaitProgress};
use crate::shared::{
    count, ended_incomplete, json_object, split_app, tell_download, unknown_application,
};
use crate::table::{Table, fields};

pub fn runs(ctx: &Ctx, command: &RunsCommand) -> Result<Report> {
    match command {
        RunsCommand::Submit(args) => submit(ctx, args),
        RunsCommand::List(args) => list(ctx, args),
        RunsCommand::Show(args) => show(ctx, args),
        RunsCommand::Items(args) => items(ctx, args),
        RunsCommand::Cancel { run } => {
            ctx.client()?.run(run).cancel().map_err(|e| {
                if e.is_conflict() {
                    let hint = format!(
                        "the run has already terminated or been canceled; \
                         `aignostics runs show {run}` shows its state"
                    );
                    Failure::hinted(e, hint)
                } else {
                    not_found(e, run)
                }
            })?;
            if ctx.json {
                return Report::json(&json!({ "run_id": run, "canceled": true }));
            }
            Ok(Report::text(format!("Canceled run {run}.\n")))
        }
        RunsCommand::Wait(args) => wait(ctx, args),
        RunsCommand::Prepare(args) => super::prepare::prepare(ctx, args),
        RunsCommand::Download(args) => download(ctx, args),
        RunsCommand::DeleteArtifacts { run, .. } => {
            ctx.client()?.run(run).delete_artifacts().map_err(|e| {
                if e.is_conflict() {
                    let hint = format!(
                        "artifacts can only be deleted once the run has terminated: wait for it \
                         with `aignostics runs wait {run}`, or cancel it with `aignostics runs \
                         cancel {run}`"
                    );
                    Failure::hinted(e, hint)
                } else {
                    not_found(e, run)
                }
            })?;
            if ctx.json {
                return Report::json(&json!({ "run_id": run, "artifacts_deleted": true }));
            }
            Ok(Report::text(format!(
                "Deleted the output artifacts of run {run}; its status and metadata remain, \
                 its result files can no longer be downloaded.\n"
            )))
        }
        RunsCommand::Metadata(args) => metadata(ctx, args),
    }
}

/// A 404 or 403 for a run: where run ids come from, and how a run of someone else is read.
fn not_found(err: aignostics::Error, run: &str) -> Failure {
    if err.is_not_found() {
        let hint = format!(
            "no run {run} is visible to you: `aignostics runs list` lists yours, and a run \
             shared with you needs --share-token"
        );
        Failure::hinted(err, hint)
    } else if err.is_forbidden() {
        let hint = format!(
            "run {run} is not yours: read it with --share-token SECRET, the secret its owner \
             gets from `aignostics share-tokens create --run {run}`"
        );
        Failure::hinted(err, hint)
    } else {
        err.into()
    }
}

/// Creates a download's output directory (and its parents) when missing.
fn create_output_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::Runtime(format!("cannot create {}: {e}", dir.display())))
}

/// The application and version: the positional `APP[:VERSION]`, else --application and
/// --version.
fn app_version(args: &SubmitArgs) -> (Option<String>, Option<String>) {
    match args.app.as_deref().map(split_app) {
        Some((app, version)) => (
            Some(app.to_string()),
            version.map(str::to_string).or_else(|| args.version.clone()),
        ),
        None => (args.application.clone(), args.version.clone()),
    }
}

fn submit(ctx: &Ctx, args: &SubmitArgs) -> Result<Report> {
    let Some(items) = &args.items else {
        let (application, version) = app_version(args);
        let application = application.ok_or_else(|| {
            Failure::Usage(
                "--slides and --csv need the application: `runs submit APP[:VERSION] --slides DIR` \
                 (`aignostics applications list` shows the ids)"
                    .into(),
            )
        })?;
        return super::submit_slides::submit(ctx, args, &application, version.as_deref());
    };
    let text = read_input(items)?;
    let mut request = build_request(&text, &source_name(items), args)?;
    let client = ctx.client()?;
    if request.version_number.is_none() {
        // Pinned here, so the run uses the version this command names.
        let latest = client
            .versions()
            .latest(&request.application_id)
            .map_err(|e| unknown_application(&client, &request.application_id, e))?;
        request.version_number = latest.map(|v| v.number);
    }
    let what = format!(
        "{} for {} {}",
        count(request.items.len(), "item", "items"),
        request.application_id,
        request.version_number.as_deref().unwrap_or("(no version)")
    );
    if args.dry_run {
        // Only the check: a dry run sends nothing.
        let _metadata = super::submit_flags::check(&args.flags)?;
        client.runs().validate(&request)?;
        if ctx.json {
            return Report::json(&json!({
                "valid": true,
                "items": request.items.len(),
                "application_id": request.application_id,
                "version_number": request.version_number,
            }));
        }
        return Ok(Report::text(format!("Valid: {what}; nothing submitted.\n")));
    }
    let submitted = super::submit_flags::submit(&client, request, &args.flags)?;
    let run = submitted.run();
    let key = submitted.idempotency_key();
    if submitted.is_existing() {
        note!(
            "Run {} already exists for idempotency key {key}; not submitted again",
            run.id()
        );
        args.flags.tell_not_applied(run.id());
    } else {
        note!("Submitted run {} ({what}, idempotency key {key})", run.id());
    }
    if args.wait || args.download.is_some() {
        crate::interrupt::leaves(match &args.download {
            Some(out) => format!(
                "run {0} continues on the platform; `aignostics runs download {0} {1}` fetches \
                 its results (running the same command again does too)",
                run.id(),
                out.display()
            ),
            None => format!(
                "run {0} continues on the platform; `aignostics runs wait {0}` waits again",
                run.id()
            ),
        });
        return wait_and_download(ctx, &client, run.id(), args);
    }
    if ctx.json {
        return Report::json(&json!({
            "run_id": run.id(),
            "idempotency_key": key,
            "existing": submitted.is_existing(),
        }));
    }
    Ok(Report::text(format!("{}\n", run.id())))
}

/// `runs submit --items … --wait [--download OUT]`: waits, then downloads, with the exit codes
/// of `runs wait --require-success` and `runs download`.
fn wait_and_download(
    ctx: &Ctx,
    client: &Client,
    run_id: &str,
    args: &SubmitArgs,
) -> Result<Report> {
    let run = client.run(run_id);
    let mut wait = WaitOptions::default().interval(args.interval);
    let mut download = DownloadOptions::default().poll_interval(args.interval);
    if let Some(timeout) = args.timeout {
        wait = wait.timeout(timeout);
        download = download.timeout(timeout);
    }
    // With --download, items download as they finish while the run goes on.
    let report = match &args.download {
        Some(out) => {
            create_output_dir(out)?;
            Some(run.download_to(out, &download)?)
        }
        None => None,
    };
    let details = run.wait(&wait)?;
    let out = if ctx.json {
        Report::json(&json!({
            "run_id": run_id,
            "status": details.status().to_string(),
            "downloaded": report.as_ref().map(|r| r.downloaded.len()),
            "skipped": report.as_ref().map(|r| r.skipped.len()),
            "failed": report.as_ref().map(|r| r.failed.len()),
        }))?
    } else {
        Report::text(format!("{run_id}\n"))
    };
    if let Some(failure) = report.as_ref().and_then(|r| tell_download(&run, r).failure) {
        return Ok(out.failing(failure));
    }
    if details.status() != RunStatus::Completed || report.as_ref().is_some_and(|r| !r.is_complete())
    {
        return Ok(out.failing(ended_incomplete(&details)));
    }
    Ok(out)
}

/// The whole of `path`, or of stdin for `-`.
fn read_input(path: &Path) -> Result<String> {
    let mut text = String::new();
    if path == Path::new("-") {
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Failure::Runtime(format!("reading stdin: {e}")))?;
    } else {
        text = std::fs::read_to_string(path)
            .map_err(|e| Failure::Runtime(format!("{}: {e}", path.display())))?;
    }
    Ok(text)
}

fn source_name(path: &Path) -> String {
    if path == Path::new("-") {
        "stdin".into()
    } else {
        path.display().to_string()
    }
}

/// A run request from the `--items` JSON (a whole request or an array of items) and the flags.
fn build_request(text: &str, source: &str, args: &SubmitArgs) -> Result<RunCreationRequest> {
    let value: Value = serde_json::from_str(text)
        .map_err(|e| Failure::Runtime(format!("{source} is not valid JSON: {e}")))?;
    let (application, version) = app_version(args);
    let mut request = match value {
        Value::Array(_) => {
            let items: Vec<ItemCreationRequest> = decode(value, source)?;
            let application = application.clone().ok_or_else(|| {
                Failure::Usage(format!(
                    "{source} holds an array of items: pass --application (and optionally --version)"
                ))
            })?;
            RunCreationRequest::new(application, items)
        }
        Value::Object(mut object) => {
            if let Some(application) = &application {
                object.insert("application_id".into(), json!(application));
            } else if !object.contains_key("application_id") {
                return Err(Failure::Usage(format!(
                    "{source} names no application: add \"application_id\" to the request, or \
                     pass --application ID (`aignostics applications list` shows the ids)"
                )));
            }
            decode(Value::Object(object), source)?
        }
        _ => {
            return Err(Failure::Runtime(format!(
                "{source} must hold a run request (a JSON object) or an array of items"
            )));
        }
    };
    if let Some(version) = version {
        request.version_number = Some(version);
    }
    if let Some(metadata) = &args.custom_metadata {
        request.custom_metadata = Some(json_object(metadata, "--custom-metadata")?);
    }
    Ok(request)
}

/// Decodes `value`, naming the JSON path of a field that does not fit.
fn decode<T: serde::de::DeserializeOwned>(value: Value, source: &str) -> Result<T> {
    serde_path_to_error::deserialize(value).map_err(|e| {
        let path = e.path().to_string();
        Failure::Runtime(format!("{source}: at `{path}`: {}", e.into_inner()))
    })
}

fn list(ctx: &Ctx, args: &ListRunsArgs) -> Result<Report> {
    let limit = (!args.all).then_some(args.limit as usize);
    let mut list = ctx
        .client()?
        .runs()
        .list()
        .page_size(limit.map_or(100, |l| (l as u32).saturating_add(1).clamp(5, 100)));
    if let Some(application) = &args.application {
        list = list.application_id(application);
    }
    if let Some(version) = &args.version {
        list = list.application_version(version);
    }
    if let Some(external_id) = &args.external_id {
        list = list.external_id(external_id);
    }
    if let Some(path) = &args.custom_metadata {
        list = list.custom_metadata(path);
    }
    list = list.tags(args.tags.iter().cloned());
    if args.mine {
        list = list.submitted_by("me");
    } else if let Some(user) = &args.submitted_by {
        list = list.submitted_by(user);
    }
    if args.sort.is_empty() {
        list = list.sort("-submitted_at");
    }
    for field in &args.sort {
        list = list.sort(field);
    }
    // One more than shown tells whether the list was cut.
    let mut runs = list
        .iter()
        .take(limit.map_or(usize::MAX, |l| l.saturating_add(1)))
        .collect::<aignostics::Result<Vec<_>>>()?;
    let cut = limit.is_some_and(|l| runs.len() > l);
    if let Some(limit) = limit {
        runs.truncate(limit);
    }
    if cut {
        note!(
            "{} shown, more available: --limit N shows more, --all shows every run",
            runs.len()
        );
    }
    if ctx.json {
        return Report::json(&runs);
    }
    let mut table = Table::new(["RUN ID", "APPLICATION", "STATUS", "ITEMS", "SUBMITTED"]);
    for run in &runs {
        let (done, total) = run.items_finished();
        table.row([
            run.run_id.clone(),
            format!("{} {}", run.application_id, run.version_number),
            run.status().to_string(),
            format!("{done}/{total}"),
            run.submitted_at.clone(),
        ]);
    }
    if table.is_empty() {
        note!("No runs.");
        return Ok(Report::default());
    }
    Ok(Report::text(table.render()))
}

/// The fields of a run, as `runs show` and `runs wait` print them.
fn run_fields(run: &RunReadResponse) -> String {
    let s = &run.statistics;
    let mut rows = vec![
        ("Run", run.run_id.clone()),
        (
            "Application",
            format!("{} {}", run.application_id, run.version_number),
        ),
        ("Status", run.status().to_string()),
        (
            "Items",
            format!(
                "{} total: {} succeeded, {} failed, {} skipped, {} pending, {} processing",
                s.item_count,
                s.item_succeeded_count,
                s.item_user_error_count
                    .saturating_add(s.item_system_error_count),
                s.item_skipped_count,
                s.item_pending_count,
                s.item_processing_count
            ),
        ),
        (
            "Submitted",
            format!("{} by {}", run.submitted_at, run.submitted_by),
        ),
    ];
    if let Some(at) = &run.terminated_at {
        rows.push(("Terminated", at.clone()));
    }
    if let Some(message) = &run.error_message {
        rows.push(("Error", message.clone()));
    }
    if let Some(metadata) = &run.custom_metadata {
        rows.push(("Custom metadata", metadata.to_string()));
    }
    fields(rows)
}

/// The share-token secret to read with, if one was given (`-`: read once from stdin).
fn share_secret(share: &ShareTokenArg) -> Result<Option<String>> {
    match share.share_token.as_deref() {
        None => Ok(None),
        Some("-") => {
            let secret = read_input(Path::new("-"))?;
            let secret = secret.trim();
            if secret.is_empty() {
                return Err(Failure::Usage(
                    "--share-token - read an empty secret from stdin".into(),
                ));
            }
            Ok(Some(secret.to_string()))
        }
        Some(secret) => Ok(Some(secret.to_string())),
    }
}

/// A run handle, reading through `secret` when there is one.
fn run_handle(client: &Client, run: &str, secret: Option<&str>) -> Run {
    let handle = client.run(run);
    match secret {
        Some(secret) => handle.with_share_token(secret),
        None => handle,
    }
}

/// The run handle for a read, through the share token when one is given.
fn read_handle(client: &Client, run: &str, share: &ShareTokenArg) -> Result<Run> {
    Ok(run_handle(client, run, share_secret(share)?.as_deref()))
}

fn all_items(run: &Run) -> Result<Vec<ItemResultReadResponse>> {
    run.items()
        .page_size(100)
        .iter()
        .collect::<aignostics::Result<Vec<_>>>()
        .map_err(|e| not_found(e, run.id()))
}

fn show(ctx: &Ctx, args: &ReadRunArgs) -> Result<Report> {
    let run = read_handle(&ctx.client()?, &args.run, &args.share)?;
    let details = run.details().map_err(|e| not_found(e, &args.run))?;
    let items = all_items(&run)?;
    if ctx.json {
        return Report::json(&json!({ "run": details, "items": items }));
    }
    let mut out = run_fields(&details);
    out.push('\n');
    out.push_str(&items_table(&items));
    Ok(Report::text(out))
}

fn items(ctx: &Ctx, args: &ReadRunArgs) -> Result<Report> {
    let run = read_handle(&ctx.client()?, &args.run, &args.share)?;
    let items = all_items(&run)?;
    if ctx.json {
        return Report::json(&items);
    }
    Ok(Report::text(items_table(&items)))
}

fn items_table(items: &[ItemResultReadResponse]) -> String {
    let mut table = Table::new(["EXTERNAL ID", "STATUS", "ARTIFACTS", "MESSAGE"]);
    for item in items {
        let available = item
            .output_artifacts
            .iter()
            .filter(|a| a.output.as_str() == "AVAILABLE")
            .count();
        let message = item
            .error_message
            .clone()
            .or_else(|| item.termination_reason.as_ref().map(|r| r.to_string()))
            .unwrap_or_default();
        table.row([
            item.external_id.clone(),
            item.status().to_string(),
            format!("{available}/{}", item.output_artifacts.len()),
            message,
        ]);
    }
    table.render()
}

fn wait(ctx: &Ctx, args: &WaitArgs) -> Result<Report> {
    let run = ctx.client()?.run(&args.run);
    crate::interrupt::leaves(format!(
        "run {0} continues on the platform; `aignostics runs wait {0}` waits again",
        args.run
    ));
    let progress = Arc::new(WaitProgress::new(ctx));
    let mut options = WaitOptions::default().interval(args.interval).on_progress({
        let progress = Arc::clone(&progress);
        move |details| progress.update(details)
    });
    if let Some(timeout) = args.timeout {
        options = options.timeout(timeout);
    }
    let result = run.wait(&options);
    progress.finish();
    let details = result.map_err(|e| not_found(e, &args.run))?;
    let report = if ctx.json {
        Report::json(&details)?
    } else {
        Report::text(run_fields(&details))
    };
    let status = details.status();
    if args.require_success && status != RunStatus::Completed {
        return Ok(report.failing(ended_incomplete(&details)));
    }
    Ok(report)
}

/// The `--json` report of `runs download`. Built as a typed value so that a path without a
/// JSON form (not UTF-8) is an error message, never a crash.
#[derive(Serialize)]
struct DownloadJson<'a> {
    run_id: &'a str,
    directory: &'a Path,
    complete: bool,
    downloaded: &'a [PathBuf],
    skipped: &'a [PathBuf],
    failed: Vec<FailedJson<'a>>,
    failed_items: Vec<Value>,
    pending_items: &'a [String],
    bytes: u64,
}

#[derive(Serialize)]
struct FailedJson<'a> {
    external_id: &'a str,
    artifact_id: &'a str,
    artifact_name: &'a str,
    path: &'a Path,
    deleted: bool,
    error: String,
}

/// Polls the run's item counts for the progress display until dropped.
struct ItemWatcher {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl ItemWatcher {
    fn start(run: Run, interval: std::time::Duration, progress: Arc<DownloadProgress>) -> Self {
        let (stop, stopped) = mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            loop {
                if let Ok(details) = run.details() {
                    let (done, total) = details.items_finished();
                    progress.items(done, total, details.terminated_at.is_some());
                }
                if !matches!(
                    stopped.recv_timeout(interval),
                    Err(mpsc::RecvTimeoutError::Timeout)
                ) {
                    break;
                }
            }
        });
        Self {
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for ItemWatcher {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn download(ctx: &Ctx, args: &DownloadArgs) -> Result<Report> {
    let client: Client = ctx.client()?;
    let secret = share_secret(&args.share)?;
    if args.run.contains(['/', '\\']) || Path::new(&args.run).is_dir() {
        return Err(Failure::Usage(format!(
            "{:?} looks like a folder, not a run id: the order is `aignostics runs download RUN \
             DIR` (`aignostics runs list` shows run ids)",
            args.run
        )));
    }
    let run = run_handle(&client, &args.run, secret.as_deref());
    // The run is read before the folder is made: a mistyped id leaves no empty folder behind.
    run.details().map_err(|e| not_found(e, &args.run))?;
    create_output_dir(&args.dir)?;
    crate::interrupt::leaves(format!(
        "run {} continues on the platform; running the same command again resumes the download \
         (files already verified are kept)",
        args.run
    ));
    if !args.no_wait {
        note!(
            "Downloading the results of run {} into {} as its items finish",
            args.run,
            args.dir.display()
        );
    }
    // Created after the note, so the bar is drawn below it.
    let progress = Arc::new(DownloadProgress::new(ctx, &args.run));
    // Fresh reads, so the counts are as current as the download's own polls.
    let watched = run_handle(&client.nocache(), &args.run, secret.as_deref());
    let watcher = ItemWatcher::start(watched, args.interval, Arc::clone(&progress));
    let mut options = DownloadOptions::default()
        .wait_for_run(!args.no_wait)
        .concurrency(args.concurrency as usize)
        .poll_interval(args.interval)
        .on_event({
            let progress = Arc::clone(&progress);
            move |event| progress.event(event)
        });
    if let Some(timeout) = args.timeout {
        options = options.timeout(timeout);
    }
    let result = run.download_to(&args.dir, &options);
    drop(watcher);
    progress.finish();
    let report = result.map_err(|e| not_found(e, &args.run))?;

    let told = tell_download(&run, &report);
    let gone = &told.gone;
    let out = if ctx.json {
        let failed = report
            .failed
            .iter()
            .map(|f| FailedJson {
                external_id: &f.external_id,
                artifact_id: &f.artifact_id,
                artifact_name: &f.artifact_name,
                path: &f.path,
                deleted: gone.contains(&f.artifact_id),
                error: f.error.to_string(),
            })
            .collect();
        let failed_items = report
            .failed_items
            .iter()
            .map(|i| {
                json!({
                    "external_id": i.external_id,
                    "item_id": i.item_id,
                    "termination_reason": i.termination_reason,
                    "error_code": i.error_code,
                    "error_message": i.error_message,
                })
            })
            .collect();
        Report::json(&DownloadJson {
            run_id: &args.run,
            directory: &args.dir,
            complete: report.is_complete(),
            downloaded: &report.downloaded,
            skipped: &report.skipped,
            failed,
            failed_items,
            pending_items: &report.pending_items,
            bytes: report.bytes,
        })?
    } else {
        let mut text = String::new();
        for path in report.downloaded.iter().chain(&report.skipped) {
            text.push_str(&format!("{}\n", path.display()));
        }
        Report::text(text)
    };
    if let Some(failure) = told.failure {
        return Ok(out.failing(failure));
    }
    if !report.is_complete() && !args.allow_incomplete {
        let failed = report.failed_items.len();
        let pending = report.pending_items.len();
        return Ok(out.failing(Failure::Incomplete(format!(
            "the result of run {} is incomplete: {} without results, {} not finished \
             (--allow-incomplete exits 0 anyway)",
            args.run,
            count(failed, "item", "items"),
            count(pending, "item", "items"),
        ))));
    }
    Ok(out)
}

fn metadata(ctx: &Ctx, args: &MetadataArgs) -> Result<Report> {
    let run = ctx.client()?.run(&args.run);
    let change = if args.clear {
        Some(None)
    } else if let Some(text) = &args.set {
        let text = if text == "-" {
            read_input(Path::new("-"))?
        } else {
            text.clone()
        };
        Some(Some(json_object(&text, "--set")?))
    } else {
        None
    };
    let Some(new_value) = change else {
        let (value, checksum) = match &args.item {
            Some(external_id) => {
                let item = run.item(external_id)?;
                (
                    item.custom_metadata.clone(),
                    item.custom_metadata_checksum.clone(),
                )
            }
            None => {
                let details = run.details()?;
                (
                    details.custom_metadata.clone(),
                    details.custom_metadata_checksum.clone(),
                )
            }
        };
        if ctx.json {
            return Report::json(&json!({
                "custom_metadata": value,
                "custom_metadata_checksum": checksum,
            }));
        }
        let pretty = match &value {
            Some(v) => serde_json::to_string_pretty(v).unwrap_or_else(|_| v.to_string()),
            None => "(none)".into(),
        };
        return Ok(Report::text(fields([
            ("Checksum", checksum.unwrap_or_else(|| "-".into())),
            ("Metadata", pretty),
        ])));
    };
    let cleared = new_value.is_none();
    let checksum = args.checksum.as_deref();
    let response = match &args.item {
        Some(external_id) => run.update_item_custom_metadata(external_id, new_value, checksum),
        None => run.update_custom_metadata(new_value, checksum),
    }
    .map_err(|e| {
        if e.is_precondition_failed() {
            let item = args
                .item
                .as_ref()
                .map(|i| format!(" --item {i}"))
                .unwrap_or_default();
            let hint = format!(
                "the metadata changed since that checksum was read: `aignostics runs metadata {}{item}` \
                 shows the current metadata and checksum; apply your change to it and pass the new checksum",
                args.run
            );
            Failure::hinted(e, hint)
        } else {
            not_found(e, &args.run)
        }
    })?;
    if ctx.json {
        return Report::json(&response);
    }
    let target = match &args.item {
        Some(external_id) => format!("item {external_id} of run {}", args.run),
        None => format!("run {}", args.run),
    };
    let verb = if cleared { "Cleared" } else { "Updated" };
    let checksum = response
        .custom_metadata_checksum
        .map(|c| format!("; new checksum {c}"))
        .unwrap_or_default();
    Ok(Report::text(format!(
        "{verb} the custom metadata of {target}{checksum}.\n"
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn args(application: Option<&str>) -> SubmitArgs {
        SubmitArgs {
            app: None,
            items: Some(PathBuf::from("items.json")),
            slides: None,
            csv: None,
            mapping: Vec::new(),
            include: None,
            mpp: None,
            part_size: None,
            upload_concurrency: None,
            wait: false,
            download: None,
            table: None,
            endpoint_url: None,
            accept_session_urls: false,
            interval: std::time::Duration::from_secs(5),
            application: application.map(str::to_string),
            version: Some("1.0.0".into()),
            custom_metadata: Some(r#"{"study": "s1"}"#.into()),
            dry_run: false,
            timeout: None,
            flags: Default::default(),
        }
    }

    // Proves an array of items becomes a request for --application, with the flags applied.
    #[test]
    fn items_array_needs_application() {
        let items = r#"[{"external_id": "s1", "input_artifacts": []}]"#;
        let request = build_request(items, "items.json", &args(Some("he-tme"))).unwrap();
        assert_eq!(request.application_id, "he-tme");
        assert_eq!(request.version_number.as_deref(), Some("1.0.0"));
        assert_eq!(request.custom_metadata, Some(json!({"study": "s1"})));
        let err = build_request(items, "items.json", &args(None)).unwrap_err();
        assert!(matches!(err, Failure::Usage(m) if m.contains("--application")));
    }

    // Proves a whole request is read as is, and a bad field is named by its JSON path.
    #[test]
    fn whole_request_and_bad_field() {
        let text = r#"{"application_id": "test-app", "items": []}"#;
        let request = build_request(text, "f", &args(None)).unwrap();
        assert_eq!(request.application_id, "test-app");
        let bad =
            r#"{"application_id": "x", "items": [{"external_id": 5, "input_artifacts": []}]}"#;
        let err = build_request(bad, "f", &args(None)).unwrap_err();
        assert!(
            matches!(&err, Failure::Runtime(m) if m.contains("items[0].external_id")),
            "{err:?}"
        );
        let err = build_request("42", "f", &args(None)).unwrap_err();
        assert!(matches!(err, Failure::Runtime(_)));
    }
}
