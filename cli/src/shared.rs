//! Helpers the commands share: counts and names, the answers of submissions and downloads,
//! the health check before a submission and the bucket handle. Commands use this module and
//! the ones beside it (context, tables, progress), never each other.

use std::collections::HashSet;
use std::time::Duration;

use aignostics::bucket::Bucket;
use aignostics::health::{Health, HealthStatus};
use aignostics::models::{ArtifactOutput, RunReadResponse};
use aignostics::{ArtifactFailure, Client, DownloadReport, Run};
use serde_json::Value;

use crate::context::{Ctx, Failure, Result, note};

/// "1 item", "2 items".
pub fn count(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The failure of a run that ended without every item succeeding (exit status 3).
pub fn ended_incomplete(details: &RunReadResponse) -> Failure {
    let (done, total) = details.items_finished();
    Failure::Incomplete(format!(
        "run {} ended {}: {} of {} succeeded ({done} finished)",
        details.run_id,
        details.status(),
        details.statistics.item_succeeded_count,
        count(
            usize::try_from(total).unwrap_or(usize::MAX),
            "item",
            "items"
        )
    ))
}

/// `APP[:VERSION]` split into the application and its version (`APP:` means no version).
pub fn split_app(spec: &str) -> (&str, Option<&str>) {
    match spec.split_once(':') {
        Some((app, version)) => (app, Some(version).filter(|v| !v.is_empty())),
        None => (spec, None),
    }
}

/// A flag's value that must be a JSON object (a usage error otherwise).
/// `text` as a JSON object, or a usage error naming `flag`.
pub fn json_object(text: &str, flag: &str) -> Result<Value> {
    match serde_json::from_str::<Value>(text) {
        Ok(value @ Value::Object(_)) => Ok(value),
        Ok(_) => Err(Failure::Usage(format!("{flag} expects a JSON object"))),
        Err(e) => Err(Failure::Usage(format!("{flag} is not valid JSON: {e}"))),
    }
}

/// The ids of the failed artifacts that were deleted on the platform (by the user or after
/// retention), which no retry brings back; from the items as the platform shows them now.
pub fn deleted_artifacts(run: &Run, failed: &[ArtifactFailure]) -> HashSet<String> {
    if failed.is_empty() {
        return HashSet::new();
    }
    let mut gone: HashSet<String> = failed
        .iter()
        .filter(|f| f.error.is_gone())
        .map(|f| f.artifact_id.clone())
        .collect();
    for item in run.items().page_size(100).iter().flatten() {
        gone.extend(
            item.output_artifacts
                .into_iter()
                .filter(|a| {
                    matches!(
                        a.output,
                        ArtifactOutput::DeletedByUser | ArtifactOutput::DeletedBySystem
                    )
                })
                .map(|a| a.output_artifact_id),
        );
    }
    gone
}

/// What [`tell_download`] found.
pub struct DownloadTold {
    /// Artifacts deleted on the platform (not retryable).
    pub gone: HashSet<String>,
    /// The failure to exit with when artifacts are missing.
    pub failure: Option<Failure>,
}

/// Tells on stderr what a download report holds: items without results, items not finished,
/// artifacts that failed (those deleted on the platform apart, as such) and the totals.
pub fn tell_download(run: &Run, report: &DownloadReport) -> DownloadTold {
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
            "{} not finished yet; run the command again later",
            count(report.pending_items.len(), "item is", "items are")
        );
    }
    let gone = deleted_artifacts(run, &report.failed);
    let (deleted, retryable): (Vec<&ArtifactFailure>, Vec<&ArtifactFailure>) = report
        .failed
        .iter()
        .partition(|f| gone.contains(&f.artifact_id));
    for failure in &retryable {
        note!(
            "{} / {}: {}",
            failure.external_id,
            failure.artifact_name,
            failure.error
        );
    }
    if !deleted.is_empty() {
        note!(
            "{} deleted on the platform (`runs delete-artifacts`) and can no longer be downloaded",
            count(deleted.len(), "artifact was", "artifacts were")
        );
    }
    note!(
        "Downloaded {} ({} bytes), {} already there, {} failed",
        count(report.downloaded.len(), "file", "files"),
        report.bytes,
        report.skipped.len(),
        report.failed.len()
    );
    let failure = if !retryable.is_empty() {
        Some(Failure::Runtime(format!(
            "{} could not be downloaded; run the command again to retry {}",
            count(retryable.len(), "artifact", "artifacts"),
            if retryable.len() == 1 { "it" } else { "them" }
        )))
    } else if !deleted.is_empty() {
        Some(Failure::Runtime(format!(
            "the result is incomplete: {} of run {} deleted and cannot be downloaded again; to \
             compute {} again, submit the slides anew with another --idempotency-key",
            count(deleted.len(), "artifact was", "artifacts were"),
            run.id(),
            if deleted.len() == 1 { "it" } else { "them" }
        )))
    } else {
        None
    };
    DownloadTold { gone, failure }
}

/// A positive, finite number.
pub fn positive(text: &str) -> std::result::Result<f64, String> {
    match text.parse::<f64>() {
        Ok(v) if v > 0.0 && v.is_finite() => Ok(v),
        _ => Err(format!("`{text}` is not a positive number")),
    }
}

/// A 404 for an application: the command that lists them, and the closest id.
pub fn unknown_application(client: &Client, application: &str, err: aignostics::Error) -> Failure {
    if !err.is_not_found() {
        return err.into();
    }
    let ids: Vec<String> = client
        .applications()
        .list()
        .iter()
        .filter_map(|app| app.ok().map(|a| a.application_id))
        .collect();
    let mut hint =
        String::from("`aignostics applications list` shows the applications you can run");
    if let Some(close) = closest(application, &ids) {
        hint = format!("did you mean `{close}`? {hint}");
    }
    Failure::hinted(err, hint)
}

/// A 404 for a version: the application's versions (or the application hint when it is the
/// application that does not exist).
pub fn unknown_version(
    client: &Client,
    application: &str,
    version: Option<&str>,
    err: aignostics::Error,
) -> Failure {
    if !err.is_not_found() && !err.is_validation() {
        return err.into();
    }
    match client.versions().list_sorted(application) {
        Ok(versions) => {
            let numbers: Vec<String> = versions.into_iter().map(|v| v.number).collect();
            let mut hint = format!(
                "{application} has the versions {} (`aignostics versions list {application}`)",
                numbers.join(", ")
            );
            if let Some(close) = version.and_then(|v| closest(v, &numbers)) {
                hint = format!("did you mean `{close}`? {hint}");
            }
            Failure::hinted(err, hint)
        }
        Err(e) if e.is_not_found() => unknown_application(client, application, err),
        Err(_) => err.into(),
    }
}

/// The candidate nearest to `given` by edit distance (optimal string alignment: a swap of
/// two neighbours is one edit), when it is plausibly a typo.
pub fn closest<'a>(given: &str, candidates: &'a [String]) -> Option<&'a str> {
    candidates
        .iter()
        .map(|c| (strsim::osa_distance(given, c), c))
        .filter(|(d, c)| *d > 0 && *d <= 2.max(c.chars().count() / 3))
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| c.as_str())
}

/// The failure of a platform that answered but refused the credentials: an authentication
/// problem with the login hint, not an outage (`--force` would meet the same refusal).
pub fn credentials_refused(health: &Health) -> Failure {
    Failure::hinted(
        aignostics::Error::Auth(format!(
            "the platform is reachable but refused the credentials ({})",
            reason(health)
        )),
        crate::hints::login_hint(),
    )
}

/// The failure of a health check that had no token to send: the error of getting one (not
/// logged in, a login setting missing), with its own hint, not an outage.
pub fn credentials_missing(client: &Client, health: &Health) -> Failure {
    match client.me() {
        Err(e) => e.into(),
        Ok(_) => Failure::Runtime(down_message(health)),
    }
}

/// The health check before a submission: a DOWN platform stops it (unless `--force`), and
/// refused or missing credentials stop it with the login hint.
pub fn check_before_submit(client: &aignostics::Client) -> Result<()> {
    let health = client.health();
    if health.credentials_refused() {
        return Err(credentials_refused(&health));
    }
    if health.credentials_missing() {
        return Err(credentials_missing(client, &health));
    }
    match health.status {
        HealthStatus::Down => Err(Failure::Runtime(format!(
            "{}; nothing submitted (--force skips this check)",
            down_message(&health)
        ))),
        HealthStatus::Degraded => {
            note!(
                "The platform is DEGRADED ({}); submitting anyway",
                reason(&health)
            );
            Ok(())
        }
        HealthStatus::Up => Ok(()),
    }
}

pub fn reason(health: &Health) -> &str {
    health.reason().unwrap_or("no reason given")
}

pub fn down_message(health: &Health) -> String {
    format!("the platform is DOWN: {}", reason(health))
}

/// The store's endpoint when the organization's protocol has none built in (the sandbox, a
/// self-hosted store).
pub const ENDPOINT_VAR: &str = "AIGNOSTICS_BUCKET_ENDPOINT";

/// The access key id of a store given explicitly (with --bucket); no platform call is made.
pub const KEY_ID_VAR: &str = "AIGNOSTICS_BUCKET_ACCESS_KEY_ID";
/// The secret access key of a store given explicitly (with --bucket).
pub const SECRET_VAR: &str = "AIGNOSTICS_BUCKET_SECRET_ACCESS_KEY";

/// The organization's bucket, at AIGNOSTICS_BUCKET_ENDPOINT when set.
pub fn organization_bucket(ctx: &Ctx) -> Result<Bucket> {
    bucket(ctx, None, None)
}

/// The bucket handle: `name` at `endpoint` with the keys of [`KEY_ID_VAR`] and
/// [`SECRET_VAR`], or the organization's (at `endpoint`, else AIGNOSTICS_BUCKET_ENDPOINT, else
/// its protocol's).
pub fn bucket(ctx: &Ctx, endpoint: Option<&str>, name: Option<&str>) -> Result<Bucket> {
    let endpoint = endpoint
        .map(str::to_string)
        .or(ctx.settings()?.bucket_endpoint);
    if let Some(name) = name {
        let var = |name: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.is_empty())
                .ok_or_else(|| Failure::Usage(format!("--bucket needs {name} to be set")))
        };
        let endpoint = endpoint.unwrap_or_default();
        return Ok(Bucket::builder(&endpoint, name)
            .credentials(&var(KEY_ID_VAR)?, &var(SECRET_VAR)?)
            .build()?);
    }
    let me = ctx.client()?.me()?;
    Ok(match endpoint {
        Some(endpoint) => Bucket::from_me_at(&me, &endpoint)?,
        None => Bucket::from_me(&me)?,
    })
}

/// The bucket and prefix `path` names when it is a bucket URL (`s3://…`, `gs://…`) read in
/// place; `None` for a local path, which must exist.
pub fn bucket_source(
    path: &std::path::Path,
    endpoint: Option<&str>,
) -> Result<Option<(Bucket, String)>> {
    let text = path.to_string_lossy();
    if text.starts_with("s3://") || text.starts_with("gs://") {
        return Ok(Some(Bucket::from_url(&text, endpoint)?));
    }
    if !path.exists() {
        return Err(Failure::Runtime(format!(
            "{}: no such folder",
            path.display()
        )));
    }
    Ok(None)
}

/// The slides' folder of `--slides` and `--csv`: the folder given, else the CSV's folder
/// (its rows name slides beside it), else the current folder.
pub fn slides_folder(
    slides: Option<&std::path::Path>,
    csv: Option<&std::path::Path>,
) -> std::path::PathBuf {
    match slides {
        Some(dir) => dir.to_path_buf(),
        None => csv
            .and_then(std::path::Path::parent)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."))
            .to_path_buf(),
    }
}

/// The table of slides as items: the columns `runs prepare` and `runs submit --dry-run` show.
pub fn slides_table() -> crate::table::Table {
    crate::table::Table::new([
        "EXTERNAL ID",
        "WIDTH",
        "HEIGHT",
        "MPP",
        "STAINING",
        "TISSUE",
        "DISEASE",
    ])
}

/// An inspector that remembers checksums in the settings' checksum index, so inspecting a
/// folder again reads only the headers of unchanged slides (no index when the settings cannot
/// be read: inspecting needs no platform).
pub fn inspector(ctx: &Ctx, mpp: Option<f64>) -> aignostics::slides::Inspector {
    let mut inspector = aignostics::slides::Inspector::new();
    if let Ok(settings) = ctx.settings() {
        inspector = inspector.checksum_index(std::sync::Arc::new(
            aignostics::checksum::ChecksumIndex::in_cache_dir(&settings),
        ));
    }
    match mpp {
        Some(mpp) => inspector.fallback_mpp(mpp),
        None => inspector,
    }
}

/// Proves the file `path` (given with `flag`) can be written, before any slow work: its
/// folder exists and accepts a file, and it is not itself a folder. Nothing is left behind.
pub fn check_output_file(path: &std::path::Path, flag: &str) -> Result<()> {
    let shown = path.display();
    if path.is_dir() {
        return Err(Failure::Usage(format!(
            "{flag} {shown}: is a folder; name a file, e.g. {flag} {}",
            path.join("items.csv").display()
        )));
    }
    let folder = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    if !folder.is_dir() {
        return Err(Failure::Usage(format!(
            "{flag} {shown}: the folder {} does not exist; create it first (nothing was read)",
            folder.display()
        )));
    }
    let probe = folder.join(format!(".aignostics-write-check-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .and_then(|_| std::fs::remove_file(&probe))
        .map_err(|e| {
            Failure::Runtime(format!(
                "{flag} {shown}: cannot write to {}: {e} (nothing was read)",
                folder.display()
            ))
        })
}

/// A duration from `min` to `max` seconds: seconds as a decimal number (`5`, `0.5`), or a
/// number with a unit, `s`, `m`, `h` or `d` (`90m`, `2h`, `1.5d`).
pub fn parse_seconds(text: &str, min: f64, max: f64) -> std::result::Result<Duration, String> {
    let trimmed = text.trim();
    let (number, unit) = match trimmed.char_indices().last() {
        Some((at, c)) if c.is_ascii_alphabetic() => (&trimmed[..at], c.to_ascii_lowercase()),
        _ => (trimmed, 's'),
    };
    let scale = match unit {
        's' => 1.0,
        'm' => 60.0,
        'h' => 3600.0,
        'd' => 86_400.0,
        _ => {
            return Err(format!(
                "`{text}`: the unit is s, m, h or d (e.g. 90m, 2h, 1d)"
            ));
        }
    };
    let secs = number
        .trim()
        .parse::<f64>()
        .map_err(|_| format!("`{text}` is not a duration (seconds, or e.g. 90m, 2h, 1d)"))?
        * scale;
    if !(min..=max).contains(&secs) {
        return Err(format!("must be from {min} to {max} seconds, got {text}"));
    }
    Duration::try_from_secs_f64(secs).map_err(|_| format!("`{text}` is not a valid duration"))
}

/// The pause between two polls: long enough not to hammer the platform, at most an hour.
pub fn parse_interval(text: &str) -> std::result::Result<Duration, String> {
    parse_seconds(text, 0.1, 3600.0)
}

/// The full id of the run `given` names: `given` itself unless it looks like the start of an
/// id (4 to 35 hex digits and dashes), else the one visible run whose id starts with it (as
/// `git` and `docker` accept unique prefixes).
pub fn full_run_id(ctx: &Ctx, given: &str) -> Result<String> {
    let id_like =
        (4..36).contains(&given.len()) && given.chars().all(|c| c.is_ascii_hexdigit() || c == '-');
    if !id_like {
        return Ok(given.to_string());
    }
    let prefix = given.to_ascii_lowercase();
    let mut found = Vec::new();
    for run in ctx.client()?.runs().list().page_size(100).iter() {
        let id = run?.run_id;
        if id.starts_with(&prefix) {
            found.push(id);
            if found.len() > 3 {
                break;
            }
        }
    }
    one_run(given, found)
}

/// The one run id of those `found` starting with `given`.
fn one_run(given: &str, mut found: Vec<String>) -> Result<String> {
    match found.len() {
        0 => Err(Failure::Runtime(format!(
            "no run visible to you has an id starting with {given}: `aignostics runs list` lists \
             them, and a run shared with you needs its full id and --share-token"
        ))),
        1 => Ok(found.remove(0)),
        n => Err(Failure::Usage(format!(
            "the run id prefix {given} is ambiguous ({}{}); give more of the id",
            found[..n.min(3)].join(", "),
            if n > 3 { ", …" } else { "" }
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves a prefix matching one run gives its id, none is an error pointing at `runs list`,
    // and several is a usage error naming at most three. (FR-74)
    #[test]
    fn run_id_prefixes() {
        let ids = |n: usize| (0..n).map(|i| format!("abcd{i}-rest")).collect::<Vec<_>>();
        assert_eq!(one_run("abcd", ids(1)).unwrap(), "abcd0-rest");
        let Err(Failure::Runtime(none)) = one_run("abcd", Vec::new()) else {
            panic!("no match is an error");
        };
        assert!(none.contains("aignostics runs list"), "{none}");
        for n in [2, 4] {
            let Err(Failure::Usage(message)) = one_run("abcd", ids(n)) else {
                panic!("{n} matches are ambiguous");
            };
            assert!(message.contains("abcd0-rest, abcd1-rest"), "{message}");
            assert_eq!(message.contains("…"), n > 3, "{message}");
        }
    }

    // Proves a typo finds the intended id (a transposition being one edit), and an unrelated
    // word finds nothing (FR-74, NFR-30).
    #[test]
    fn closest_id() {
        let ids = vec!["he-tme".to_string(), "test-app".to_string()];
        assert_eq!(closest("he-tmee", &ids), Some("he-tme"));
        assert_eq!(closest("hetme", &ids), Some("he-tme"));
        assert_eq!(closest("tset-app", &ids), Some("test-app"));
        // A transposition is one edit: found even where two edits would be too many.
        let short = vec!["ab-cd".to_string()];
        assert_eq!(closest("ba-dc", &short), Some("ab-cd"));
        assert_eq!(closest("atlas", &ids), None);
        assert_eq!(closest("he-tme", &ids), None);
    }
}
