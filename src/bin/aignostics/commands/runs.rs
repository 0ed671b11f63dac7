//! `runs submit|list|show|cancel|wait|download|delete-artifacts|metadata`.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;

use aignostics::models::{
    ItemCreationRequest, ItemResultReadResponse, RunCreationRequest, RunReadResponse,
};
use aignostics::{Client, DownloadOptions, RunStatus, WaitOptions};
use serde_json::{Value, json};

use crate::args::{DownloadArgs, ListRunsArgs, MetadataArgs, RunsCommand, SubmitArgs, WaitArgs};
use crate::context::{Ctx, Failure, Report, Result, note};
use crate::progress::{DownloadProgress, WaitProgress};
use crate::table::{Table, fields};

pub fn runs(ctx: &Ctx, command: &RunsCommand) -> Result<Report> {
    match command {
        RunsCommand::Submit(args) => submit(ctx, args),
        RunsCommand::List(args) => list(ctx, args),
        RunsCommand::Show { run } => show(ctx, run),
        RunsCommand::Cancel { run } => {
            ctx.client()?.run(run).cancel()?;
            if ctx.json {
                return Report::json(&json!({ "run_id": run, "canceled": true }));
            }
            Ok(Report::text(format!("Canceled run {run}.\n")))
        }
        RunsCommand::Wait(args) => wait(ctx, args),
        RunsCommand::Prepare(args) => super::prepare::prepare(ctx, args),
        RunsCommand::Download(args) => download(ctx, args),
        RunsCommand::DeleteArtifacts { run, .. } => {
            ctx.client()?.run(run).delete_artifacts()?;
            if ctx.json {
                return Report::json(&json!({ "run_id": run, "artifacts_deleted": true }));
            }
            Ok(Report::text(format!(
                "Deleted the output artifacts of run {run}.\n"
            )))
        }
        RunsCommand::Metadata(args) => metadata(ctx, args),
    }
}

fn submit(ctx: &Ctx, args: &SubmitArgs) -> Result<Report> {
    let text = read_input(&args.items)?;
    let request = build_request(&text, &source_name(&args.items), args)?;
    let client = ctx.client()?;
    let version = request.version_number.as_deref().unwrap_or("latest");
    let what = format!(
        "{} items for {} {version}",
        request.items.len(),
        request.application_id
    );
    if args.dry_run {
        client.runs().validate(&request)?;
        if ctx.json {
            return Report::json(&json!({ "valid": true, "items": request.items.len() }));
        }
        return Ok(Report::text(format!("Valid: {what}; nothing submitted.\n")));
    }
    let run = client.runs().submit(request)?;
    note!("Submitted run {} ({what})", run.id());
    if ctx.json {
        return Report::json(&json!({ "run_id": run.id() }));
    }
    Ok(Report::text(format!("{}\n", run.id())))
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
    let mut request = match value {
        Value::Array(_) => {
            let items: Vec<ItemCreationRequest> = decode(value, source)?;
            let application = args.application.clone().ok_or_else(|| {
                Failure::Usage(format!(
                    "{source} holds an array of items: pass --application (and optionally --version)"
                ))
            })?;
            RunCreationRequest::new(application, items)
        }
        Value::Object(mut object) => {
            if let Some(application) = &args.application {
                object.insert("application_id".into(), json!(application));
            }
            decode(Value::Object(object), source)?
        }
        _ => {
            return Err(Failure::Runtime(format!(
                "{source} must hold a run request (a JSON object) or an array of items"
            )));
        }
    };
    if let Some(version) = &args.version {
        request.version_number = Some(version.clone());
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

/// A flag's value that must be a JSON object (a usage error otherwise).
fn json_object(text: &str, flag: &str) -> Result<Value> {
    match serde_json::from_str::<Value>(text) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(Failure::Usage(format!("{flag} expects a JSON object"))),
        Err(e) => Err(Failure::Usage(format!("{flag} is not valid JSON: {e}"))),
    }
}

fn list(ctx: &Ctx, args: &ListRunsArgs) -> Result<Report> {
    let limit = args.limit as usize;
    let mut list = ctx
        .client()?
        .runs()
        .list()
        .page_size(args.limit.clamp(5, 100));
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
    let runs = list
        .iter()
        .take(limit)
        .collect::<aignostics::Result<Vec<_>>>()?;
    if ctx.json {
        return Report::json(&runs);
    }
    let mut table = Table::new(["RUN ID", "APPLICATION", "STATUS", "ITEMS", "SUBMITTED"]);
    for run in &runs {
        let (done, total) = item_counts(run);
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

fn item_counts(run: &RunReadResponse) -> (i64, i64) {
    let s = &run.statistics;
    let done = s.item_succeeded_count
        + s.item_user_error_count
        + s.item_system_error_count
        + s.item_skipped_count;
    (done, s.item_count)
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
                s.item_user_error_count + s.item_system_error_count,
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

fn show(ctx: &Ctx, run_id: &str) -> Result<Report> {
    let run = ctx.client()?.run(run_id);
    let details = run.details()?;
    let items = run
        .items()
        .page_size(100)
        .iter()
        .collect::<aignostics::Result<Vec<_>>>()?;
    if ctx.json {
        return Report::json(&json!({ "run": details, "items": items }));
    }
    let mut out = run_fields(&details);
    out.push('\n');
    out.push_str(&items_table(&items));
    Ok(Report::text(out))
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
    let details = result?;
    let report = if ctx.json {
        Report::json(&details)?
    } else {
        Report::text(run_fields(&details))
    };
    let status = details.status();
    if args.require_success && status != RunStatus::Completed {
        let (done, total) = item_counts(&details);
        let succeeded = details.statistics.item_succeeded_count;
        return Ok(report.failing(Failure::Runtime(format!(
            "run {} ended {status}: {succeeded} of {total} items succeeded ({done} finished)",
            details.run_id
        ))));
    }
    Ok(report)
}

fn download(ctx: &Ctx, args: &DownloadArgs) -> Result<Report> {
    let client: Client = ctx.client()?;
    let run = client.run(&args.run);
    if !args.no_wait {
        note!(
            "Downloading the results of run {} as its items finish",
            args.run
        );
    }
    // Created after the note, so the bar is drawn below it.
    let progress = Arc::new(DownloadProgress::new(ctx));
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
    progress.finish();
    let report = result?;

    for item in &report.failed_items {
        let reason = item
            .termination_reason
            .as_ref()
            .map(|r| r.to_string())
            .unwrap_or_else(|| "no output".into());
        let message = item.error_message.as_deref().unwrap_or("");
        note!(
            "item {} has no results: {reason} {message}",
            item.external_id
        );
    }
    if !report.pending_items.is_empty() {
        note!(
            "{} items are not finished yet; run the command again later",
            report.pending_items.len()
        );
    }
    note!(
        "Downloaded {} files ({} bytes), {} already there, {} failed",
        report.downloaded.len(),
        report.bytes,
        report.skipped.len(),
        report.failed.len()
    );

    let out = if ctx.json {
        let failed: Vec<Value> = report
            .failed
            .iter()
            .map(|f| {
                json!({
                    "external_id": f.external_id,
                    "artifact_id": f.artifact_id,
                    "artifact_name": f.artifact_name,
                    "path": f.path,
                    "error": f.error.to_string(),
                })
            })
            .collect();
        let failed_items: Vec<Value> = report
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
        Report::json(&json!({
            "run_id": args.run,
            "directory": args.dir,
            "complete": report.is_complete(),
            "downloaded": report.downloaded,
            "skipped": report.skipped,
            "failed": failed,
            "failed_items": failed_items,
            "pending_items": report.pending_items,
            "bytes": report.bytes,
        }))?
    } else {
        let mut text = String::new();
        for path in report.downloaded.iter().chain(&report.skipped) {
            text.push_str(&format!("{}\n", path.display()));
        }
        Report::text(text)
    };
    if report.failed.is_empty() {
        return Ok(out);
    }
    for failure in &report.failed {
        note!("{}: {}", failure.path.display(), failure.error);
    }
    Ok(out.failing(Failure::Runtime(format!(
        "{} artifacts could not be downloaded; run the command again to retry them",
        report.failed.len()
    ))))
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
                (item.custom_metadata, item.custom_metadata_checksum)
            }
            None => {
                let details = run.details()?;
                (details.custom_metadata, details.custom_metadata_checksum)
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
        Some(external_id) => run.update_item_custom_metadata(external_id, new_value, checksum)?,
        None => run.update_custom_metadata(new_value, checksum)?,
    };
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
            items: PathBuf::from("items.json"),
            application: application.map(str::to_string),
            version: Some("1.0.0".into()),
            custom_metadata: Some(r#"{"study": "s1"}"#.into()),
            dry_run: false,
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
