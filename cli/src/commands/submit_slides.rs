//! `runs submit --slides DIR | --csv FILE [--wait] [--download OUT]`: the whole chain from
//! slides to results through `aignostics::pipeline::SlidesToResults`.

use std::sync::Mutex;

use aignostics::pipeline::{Outcome, Progress, SlidesToResults};
use aignostics::slides::Inspector;
use aignostics::{Client, DownloadOptions, RunStatus, WaitOptions};
use serde_json::json;

use crate::args::SubmitArgs;
use crate::commands::submit_flags::SubmitFlags;
use crate::context::{Ctx, Failure, Report, Result, note};
use crate::progress::UploadBar;
use crate::shared::{
    check_before_submit, count, ended_incomplete, json_object, organization_bucket, tell_download,
    unknown_version,
};

/// Runs the chain for `application` (with its optional version).
pub fn submit(
    ctx: &Ctx,
    args: &SubmitArgs,
    application: &str,
    version: Option<&str>,
) -> Result<Report> {
    let custom_metadata = args
        .custom_metadata
        .as_deref()
        .map(|text| json_object(text, "--custom-metadata"))
        .transpose()?;
    // Without --items, clap requires --slides or --csv; the slides of a CSV lie beside it.
    let slides = crate::shared::slides_folder(args.slides.as_deref(), args.csv.as_deref());
    // A prefix of the user's own bucket: read in place, nothing uploaded.
    let in_bucket = crate::shared::bucket_source(&slides, args.endpoint_url.as_deref())?;
    let metadata = super::submit_flags::check(&args.flags)?;
    if let Some(table) = &args.table {
        crate::shared::check_output_file(table, "--table")?;
    }
    let client = ctx.client()?;
    if !args.flags.force {
        check_before_submit(&client)?;
    }
    // A typo in the application or version gets its hint before any slide is read.
    client
        .application_version(application, version)
        .map_err(|e| unknown_version(&client, application, version, e))?;
    let chain = match in_bucket {
        Some((bucket, prefix)) => SlidesToResults::in_bucket(&client, application, bucket, &prefix)
            .accept_session_urls(args.accept_session_urls),
        None => {
            SlidesToResults::new(&client, application, &slides).bucket(organization_bucket(ctx)?)
        }
    };

    // The run, once submitted: an error after that point names it and the way to finish.
    let submitted = std::sync::Arc::new(Mutex::new(None::<String>));
    let print = printer(ctx);
    let seen = std::sync::Arc::clone(&submitted);
    let mut chain = chain
        .sdk_metadata(metadata)
        .wait_options(match args.timeout {
            Some(timeout) => WaitOptions::default()
                .interval(args.interval)
                .timeout(timeout),
            None => WaitOptions::default().interval(args.interval),
        })
        .on_progress(move |p| {
            if let Progress::Submitted { run_id, .. } = p {
                *seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(run_id.clone());
                crate::interrupt::leaves(format!(
                    "run {run_id} continues on the platform; running the same command again \
                     resumes it (it finds the run by its idempotency key)"
                ));
            }
            print(p);
        });
    crate::interrupt::leaves(
        "nothing was submitted; running the same command again continues where this one \
         stopped (slides already uploaded are not sent again)",
    );
    if let Some(version) = version {
        chain = chain.version(version);
    }
    if let Some(csv) = &args.csv {
        chain = chain.csv(csv);
    }
    for rule in args.mapping.iter().cloned() {
        chain = chain.mapping(rule);
    }
    if let Some(glob) = &args.include {
        chain = chain.include(glob.clone());
    }
    if let Some(mpp) = args.mpp {
        chain = chain.inspector(Inspector::new().fallback_mpp(mpp));
    }
    if let Some(mib) = args.part_size {
        chain = chain.part_size(mib * 1024 * 1024);
    }
    if let Some(n) = args.upload_concurrency {
        chain = chain.upload_concurrency(usize::from(n));
    }
    if let Some(key) = &args.flags.idempotency_key {
        chain = chain.idempotency_key(key.clone());
    }
    if let Some(metadata) = custom_metadata {
        chain = chain.custom_metadata(metadata);
    }
    if args.dry_run {
        return dry_run(ctx, &chain);
    }
    let result = match &args.download {
        // `run_to` creates the directory and checks it is writable before any upload.
        Some(out) => chain
            .download_options(DownloadOptions::default().poll_interval(args.interval))
            .run_to(out),
        None if args.wait => chain.submit_and_wait(),
        None => chain.submit(),
    };
    let outcome = result.map_err(|err| {
        let run = submitted.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match run {
            Some(run) => {
                let finish = match &args.download {
                    Some(out) => format!("aignostics runs download {run} {}", out.display()),
                    None => format!("aignostics runs wait {run}"),
                };
                Failure::hinted(
                    err,
                    format!(
                        "run {run} was submitted and continues on the platform; `{finish}` \
                         finishes the job (running this command again does too)"
                    ),
                )
            }
            None => err.into(),
        }
    })?;
    if let (Some(table), Some(out)) = (&args.table, &args.download) {
        let written = aignostics::results::CohortTable::from_folder(out.join(&outcome.run_id))
            .and_then(|t| t.write(table).map(|()| t.batch().num_rows()));
        match written {
            Ok(rows) => note!(
                "Wrote the table of {} to {}",
                count(rows, "item", "items"),
                table.display()
            ),
            // The results are in; only the table failed: say so, and how to make it again.
            Err(e) => note!(
                "warning: the results are downloaded, but the table was not written: {e};                  `aignostics results table --from {} --out {}` writes it",
                out.join(&outcome.run_id).display(),
                table.display()
            ),
        }
    }
    report(ctx, &client, &outcome, &args.flags)
}

/// `--dry-run`: the items as they would be submitted, checked; nothing sent.
fn dry_run(ctx: &Ctx, chain: &SlidesToResults<'_>) -> Result<Report> {
    let plan = chain.dry_run()?;
    for failure in &plan.slide_errors {
        note!("would be left out: {}", failure.message);
    }
    note!(
        "Valid: {} for {} {}; nothing uploaded or submitted",
        count(plan.items.len(), "item", "items"),
        plan.application_id,
        plan.version_number
    );
    if ctx.json {
        return Report::json(&json!({
            "valid": true,
            "application_id": plan.application_id,
            "version_number": plan.version_number,
            "items": plan.items,
            "slides_left_out": plan.slide_errors.iter().map(|f| f.message.clone()).collect::<Vec<_>>(),
            "missing_fields": plan.missing_fields,
        }));
    }
    let mut table = crate::shared::slides_table();
    for item in &plan.items {
        let meta = item.input_artifacts.first().map(|a| &a.metadata);
        let field = |path: &[&str]| {
            let mut value = meta;
            for key in path {
                value = value.and_then(|v| v.get(*key));
            }
            match value {
                Some(serde_json::Value::String(s)) => s.clone(),
                Some(other) => other.to_string(),
                None => String::new(),
            }
        };
        table.row([
            item.external_id.clone(),
            field(&["width_px"]),
            field(&["height_px"]),
            field(&["resolution_mpp"]),
            field(&["staining_method"]),
            field(&["specimen", "tissue"]),
            field(&["specimen", "disease"]),
        ]);
    }
    Ok(Report::text(table.render()))
}

/// Prints each phase's progress to stderr: a bar for the bytes of the upload in flight on a
/// terminal, one line per slide uploaded (or found already there), per change of the run's
/// item counts and per file downloaded.
fn printer(ctx: &Ctx) -> impl Fn(&Progress) + Send + Sync + 'static {
    let last_wait = Mutex::new(None::<(u64, u64)>);
    let uploads = UploadBar::new(ctx);
    move |step: &Progress| match step {
        Progress::Uploading {
            external_id,
            slide,
            slides,
            bytes_done,
            bytes_total,
        } => uploads.update(
            &format!("slide {slide}/{slides} {external_id}"),
            *bytes_done,
            *bytes_total,
        ),
        Progress::Uploaded { .. } => uploads.line(&step.to_string()),
        Progress::Waiting {
            items_done,
            items_total,
        } => {
            uploads.finish();
            let now = Some((*items_done, *items_total));
            let mut last = last_wait.lock().unwrap_or_else(|e| e.into_inner());
            if *last != now {
                *last = now;
                note!("{step}");
            }
        }
        _ => {
            uploads.finish();
            note!("{step}");
        }
    }
}

fn report(ctx: &Ctx, client: &Client, outcome: &Outcome, flags: &SubmitFlags) -> Result<Report> {
    if outcome.existing {
        flags.tell_not_applied(&outcome.run_id);
    }
    for failure in &outcome.slide_errors {
        note!("not submitted: {}", failure.message);
    }
    let download = outcome.download.as_ref();
    let download_failure = match download {
        Some(d) => tell_download(&client.run(&outcome.run_id), d).failure,
        None => None,
    };
    let out = if ctx.json {
        Report::json(&json!({
            "run_id": outcome.run_id,
            "idempotency_key": outcome.idempotency_key,
            "existing": outcome.existing,
            "uploads": outcome.uploads.iter().map(|u| json!({
                "key": u.key,
                "size": u.size,
                "crc32c": u.crc32c,
                "bytes_sent": u.bytes_sent,
                "outcome": format!("{:?}", u.outcome),
            })).collect::<Vec<_>>(),
            "slide_errors": outcome.slide_errors.iter().map(|f| f.message.clone()).collect::<Vec<_>>(),
            "status": outcome.run.as_ref().map(|r| r.status().to_string()),
            "downloaded": download.map(|d| d.downloaded.len()),
            "skipped": download.map(|d| d.skipped.len()),
            "failed": download.map(|d| d.failed.len()),
            "complete": outcome.is_complete(),
        }))?
    } else {
        Report::text(format!("{}\n", outcome.run_id))
    };
    if let Some(failure) = download_failure {
        return Ok(out.failing(failure));
    }
    if !outcome.slide_errors.is_empty() {
        return Ok(out.failing(Failure::Incomplete(format!(
            "{} could not be read and {} not in run {}",
            count(outcome.slide_errors.len(), "slide", "slides"),
            if outcome.slide_errors.len() == 1 {
                "is"
            } else {
                "are"
            },
            outcome.run_id
        ))));
    }
    if let Some(run) = &outcome.run
        && run.status() != RunStatus::Completed
    {
        return Ok(out.failing(ended_incomplete(run)));
    }
    if download.is_some_and(|d| !d.is_complete()) {
        return Ok(out.failing(Failure::Incomplete(format!(
            "the result of run {} is incomplete",
            outcome.run_id
        ))));
    }
    Ok(out)
}
