//! `bucket ls|upload|download|delete|url`: the organization's bucket (or any S3-compatible
//! store given by --endpoint, --bucket and the key variables).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use aignostics::bucket::{
    Bucket, DEFAULT_PART_SIZE, KeyTemplate, MAX_PART_SIZE, MIN_PART_SIZE, UploadEvent,
    UploadOutcome,
};
use clap::{Args, Subcommand};
use serde_json::json;

use crate::context::{Ctx, Failure, Report, Result, note};
use crate::progress::UploadBar;
use crate::shared::count;
use crate::table::Table;

/// `aignostics bucket …`.
#[derive(Debug, Subcommand)]
pub enum BucketCommand {
    /// List objects under a prefix (all of them without one).
    #[command(
        after_help = "Examples:\n  aignostics bucket ls\n  aignostics --json bucket ls \"$USER_ID/\" | jq -r '.[].key'"
    )]
    Ls {
        /// Key prefix, e.g. `USER_ID/`.
        prefix: Option<String>,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Upload files (multipart, parallel, resumable, verified by CRC32C).
    ///
    /// Each key comes from --key-template; the default `{user}/{crc32c}/{name}` never collides
    /// across runs and gives a re-run the same key, so an interrupted upload resumes (only the
    /// missing parts are sent) and a finished one is skipped without sending a byte.
    #[command(
        after_help = "Examples:\n  aignostics bucket upload slides/*.svs --signed-urls\n  \
        aignostics bucket upload big.svs --part-size 64 --concurrency 8"
    )]
    Upload(UploadArgs),
    /// Download one object to a file (written to FILE.part, verified, then renamed).
    #[command(after_help = "Examples:\n  aignostics bucket download \"$KEY\" slide.svs")]
    Download {
        /// Object key.
        key: String,
        /// Destination file.
        dest: PathBuf,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Delete one object, or with --prefix every object under a prefix.
    #[command(
        after_help = "Examples:\n  aignostics bucket delete \"$KEY\"\n  aignostics bucket delete --prefix \"$USER_ID/old-study/\" --yes"
    )]
    Delete {
        /// Object key, or with --prefix a key prefix.
        key: String,
        /// Treat KEY as a prefix and delete every object under it (needs --yes; without it,
        /// lists what would be deleted).
        #[arg(long)]
        prefix: bool,
        /// Confirm deleting every object under the prefix.
        #[arg(long, requires = "prefix")]
        yes: bool,
        #[command(flatten)]
        store: StoreArgs,
    },
    /// Print a signed download URL of an object (for an item's `download_url`).
    #[command(
        after_help = "Examples:\n  aignostics bucket url \"$KEY\"\n  aignostics bucket url \"$KEY\" --days 1"
    )]
    Url {
        /// Object key.
        key: String,
        /// Validity in days (at most 7, the SigV4 limit).
        #[arg(long, default_value_t = 6.0)]
        days: f64,
        #[command(flatten)]
        store: StoreArgs,
    },
}

/// Which store: the organization's (from `whoami`'s credentials) unless --bucket is given.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// The store's S3 endpoint (default: AIGNOSTICS_BUCKET_ENDPOINT, else the one of the
    /// organization's protocol, e.g. https://storage.googleapis.com for `gs`).
    #[arg(long, value_name = "URL")]
    endpoint: Option<String>,
    /// A bucket of your own instead of the organization's, with the keys from
    /// AIGNOSTICS_BUCKET_ACCESS_KEY_ID and AIGNOSTICS_BUCKET_SECRET_ACCESS_KEY (needs --endpoint).
    #[arg(long, value_name = "NAME", requires = "endpoint")]
    bucket: Option<String>,
}

#[derive(Debug, Args)]
pub struct UploadArgs {
    /// Files to upload.
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Object key template: {user}, {org}, {date}, {timestamp}, {crc32c}, {name}.
    #[arg(long, default_value = "{user}/{crc32c}/{name}")]
    key_template: String,
    /// Part size in MiB (5 to 5120).
    #[arg(long, value_name = "MIB", default_value_t = DEFAULT_PART_SIZE / (1024 * 1024), value_parser = part_size_mib)]
    part_size: u64,
    /// Parts in flight at once.
    #[arg(long, default_value_t = aignostics::bucket::DEFAULT_CONCURRENCY)]
    concurrency: usize,
    /// Also print a signed download URL (valid 6 days) of each object.
    #[arg(long)]
    signed_urls: bool,
    #[command(flatten)]
    store: StoreArgs,
}

pub fn bucket(ctx: &Ctx, command: &BucketCommand) -> Result<Report> {
    match command {
        BucketCommand::Ls { prefix, store } => ls(
            ctx,
            &crate::shared::bucket(ctx, store.endpoint.as_deref(), store.bucket.as_deref())?,
            prefix.as_deref(),
        ),
        BucketCommand::Upload(args) => upload(
            ctx,
            &crate::shared::bucket(
                ctx,
                args.store.endpoint.as_deref(),
                args.store.bucket.as_deref(),
            )?,
            args,
        ),
        BucketCommand::Download { key, dest, store } => {
            let (size, crc) =
                crate::shared::bucket(ctx, store.endpoint.as_deref(), store.bucket.as_deref())?
                    .download(key, dest)?;
            if ctx.json {
                return Report::json(&json!({"key": key, "size": size, "crc32c": crc}));
            }
            Ok(Report::text(format!(
                "{key} -> {} ({size} bytes, CRC32C {crc})\n",
                dest.display()
            )))
        }
        BucketCommand::Delete {
            key,
            prefix,
            yes,
            store,
        } => {
            let b = crate::shared::bucket(ctx, store.endpoint.as_deref(), store.bucket.as_deref())?;
            if *prefix && !*yes {
                let objects = b.list(key)?;
                for o in &objects {
                    note!("would delete {}", o.key);
                }
                return Err(Failure::Usage(format!(
                    "deleting every object under {key:?} ({}) cannot be undone: add --yes",
                    count(objects.len(), "object", "objects")
                )));
            }
            let deleted = if *prefix {
                b.delete_prefix(key)?
            } else if b.delete(key)? {
                vec![key.clone()]
            } else {
                Vec::new()
            };
            if ctx.json {
                return Report::json(&json!({ "deleted": deleted }));
            }
            if deleted.is_empty() {
                return Ok(Report::text(format!("No object {key}\n")));
            }
            Ok(Report::text(
                deleted
                    .iter()
                    .map(|k| format!("deleted {k}\n"))
                    .collect::<String>(),
            ))
        }
        BucketCommand::Url { key, days, store } => {
            let validity = Duration::try_from_secs_f64(days * 86_400.0)
                .map_err(|_| Failure::Usage(format!("--days {days} is not a duration")))?;
            let url =
                crate::shared::bucket(ctx, store.endpoint.as_deref(), store.bucket.as_deref())?
                    .signed_url(key, validity)?;
            if ctx.json {
                return Report::json(&json!({ "key": key, "signed_download_url": url }));
            }
            Ok(Report::text(format!("{url}\n")))
        }
    }
}

fn ls(ctx: &Ctx, b: &Bucket, prefix: Option<&str>) -> Result<Report> {
    let objects = b.list(prefix.unwrap_or(""))?;
    if ctx.json {
        return Report::json(&json!(
            objects
                .iter()
                .map(|o| json!({
                    "key": o.key,
                    "size": o.size,
                    "last_modified": o.last_modified,
                    "etag": o.etag,
                }))
                .collect::<Vec<_>>()
        ));
    }
    let mut table = Table::new(["KEY", "SIZE", "LAST MODIFIED"]);
    for o in &objects {
        table.row([
            o.key.clone(),
            o.size.to_string(),
            o.last_modified.clone().unwrap_or_default(),
        ]);
    }
    if table.is_empty() {
        return Ok(Report::text("No objects.\n"));
    }
    Ok(Report::text(table.render()))
}

fn upload(ctx: &Ctx, b: &Bucket, args: &UploadArgs) -> Result<Report> {
    let template = KeyTemplate::new(args.key_template.as_str());
    let mut rows = Vec::new();
    let mut table = Table::new(["OUTCOME", "KEY", "SIZE", "CRC32C"]);
    for path in &args.files {
        let key = template.render(b, path, None)?;
        let started = Instant::now();
        let bar = UploadBar::new(ctx);
        let report = b
            .upload(path, &key)
            .part_size(args.part_size.saturating_mul(1024 * 1024))
            .concurrency(args.concurrency)
            .on_progress(|p| match p.event {
                UploadEvent::Restarted => bar.line(&format!(
                    "{}: the interrupted upload differs from the file; starting over",
                    p.key
                )),
                _ => bar.update(&p.key, p.bytes_done, p.bytes_total),
            })
            .send();
        bar.finish();
        let report = report?;
        let outcome = match report.outcome {
            UploadOutcome::Uploaded => "uploaded",
            UploadOutcome::Resumed => "resumed",
            UploadOutcome::AlreadyPresent => "present",
            _ => "done",
        };
        // One line per file: sent (with its speed), or found already stored.
        let secs = started.elapsed().as_secs_f64().max(1e-3);
        if report.bytes_sent > 0 {
            note!(
                "{}: {outcome}, {:.1} MiB at {:.1} MiB/s",
                report.key,
                report.size as f64 / 1_048_576.0,
                report.bytes_sent as f64 / 1_048_576.0 / secs
            );
        } else {
            note!("{}: already stored, nothing sent", report.key);
        }
        let url = if args.signed_urls {
            Some(b.signed_url(&report.key, aignostics::bucket::DEFAULT_URL_VALIDITY)?)
        } else {
            None
        };
        table.row([
            outcome.to_string(),
            report.key.clone(),
            report.size.to_string(),
            report.crc32c.clone(),
        ]);
        if let Some(u) = &url {
            table.row(["url".to_string(), u.clone(), String::new(), String::new()]);
        }
        rows.push(json!({
            "outcome": outcome,
            "key": report.key,
            "size": report.size,
            "crc32c": report.crc32c,
            "parts_sent": report.parts_sent,
            "parts_reused": report.parts_reused,
            "bytes_sent": report.bytes_sent,
            "signed_download_url": url,
        }));
    }
    if ctx.json {
        return Report::json(&json!(rows));
    }
    Ok(Report::text(table.render()))
}

/// `--part-size` in MiB, within what S3 accepts for a part (5 MiB to 5 GiB).
pub fn part_size_mib(text: &str) -> std::result::Result<u64, String> {
    let (min, max) = (MIN_PART_SIZE >> 20, MAX_PART_SIZE >> 20);
    match text.parse::<u64>() {
        Ok(mib) if (min..=max).contains(&mib) => Ok(mib),
        _ => Err(format!(
            "expected a number of MiB from {min} to {max} (what S3 accepts for a part)"
        )),
    }
}
