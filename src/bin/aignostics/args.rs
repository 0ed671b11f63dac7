//! The command tree: every command, option and help text (the help texts are the CLI's
//! reference documentation).

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args, Parser, Subcommand};

const ENVIRONMENT_HELP: &str = "\
Environment:
  AIGNOSTICS_ACCESS_TOKEN  Bearer token to send (CI, service accounts, the sandbox); without it
                           the stored login is used (see `aignostics login`)
  AIGNOSTICS_API_ROOT      API root (default https://platform.aignostics.com); --api-root wins
  AIGNOSTICS_*             Timeouts, retries, cache and login settings, also read from
                           ~/.aignostics/.env and ./.env

Exit status: 0 on success, 1 when a command fails, 2 for a usage error.

Try it without an account: `aignostics sandbox` serves a local platform and prints the two
variables to export in another terminal.";

/// Command-line client of the Aignostics Platform.
///
/// Tables go to stdout, messages and progress to stderr; with --json, stdout holds exactly one
/// JSON document.
#[derive(Debug, Parser)]
#[command(name = "aignostics", version, after_long_help = ENVIRONMENT_HELP)]
pub struct Cli {
    /// Print one JSON document on stdout instead of tables.
    #[arg(long, global = true)]
    pub json: bool,

    /// API root, e.g. https://platform.aignostics.com or a sandbox's http://127.0.0.1:8080
    /// (default: AIGNOSTICS_API_ROOT, else production).
    #[arg(long, global = true, value_name = "URL")]
    pub api_root: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Log in and store the token for later commands (and the Python SDK).
    ///
    /// Uses AIGNOSTICS_REFRESH_TOKEN when set, else the browser, else (or with --device) the
    /// device flow, which needs AIGNOSTICS_CLIENT_ID_DEVICE. A stored token still valid for more
    /// than five minutes is reused unless --force is given.
    Login(LoginArgs),
    /// Remove the stored token.
    Logout,
    /// Show the current user and organization.
    Whoami,
    /// List and inspect applications.
    #[command(subcommand)]
    Applications(ApplicationsCommand),
    /// List and inspect application versions (inputs and outputs).
    #[command(subcommand)]
    Versions(VersionsCommand),
    /// Submit, list, follow and download runs.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Create, list and revoke share tokens (read access to runs for others).
    #[command(subcommand)]
    ShareTokens(ShareTokensCommand),
    /// Serve a local sandbox platform in the foreground until Ctrl-C.
    ///
    /// Prints the API root and example bearer tokens (as `export` lines), then serves every
    /// API operation with runs that finish after --processing-time; an item whose external id
    /// starts with `fail-` fails. Nothing is stored: stopping it forgets every run.
    Sandbox(SandboxArgs),
    /// Read slide metadata from file headers (size, resolution, checksum).
    #[command(subcommand)]
    Slides(crate::commands::slides::SlidesCommand),
}

#[derive(Debug, Args)]
pub struct LoginArgs {
    /// Use the device flow (a code to confirm on another device) instead of the browser.
    #[arg(long)]
    pub device: bool,
    /// Log in again even when the stored token is still valid.
    #[arg(long)]
    pub force: bool,
}

#[derive(Debug, Subcommand)]
pub enum ApplicationsCommand {
    /// List the applications you can run.
    List {
        /// Sort by a field, e.g. `name` or `-application_id` (repeatable).
        #[arg(long, value_name = "FIELD")]
        sort: Vec<String>,
    },
    /// Show one application and its versions.
    Show {
        /// Application id, e.g. `he-tme`.
        application: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum VersionsCommand {
    /// List an application's versions, newest first.
    List {
        /// Application id, e.g. `he-tme`.
        application: String,
    },
    /// Show a version: changelog, input artifacts and output artifacts with MIME types.
    Show {
        /// Application id, e.g. `he-tme`.
        application: String,
        /// Version number, e.g. `1.0.0` (default: the latest).
        version: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum RunsCommand {
    /// Submit a run and print its id
    ///
    /// The JSON read from --items (a file, or `-` for stdin) is either a whole run request:
    ///
    ///   {"application_id": "he-tme", "version_number": "1.0.0",
    ///    "custom_metadata": {"study": "abc-1"},
    ///    "items": [{"external_id": "slide-1",
    ///               "input_artifacts": [{"name": "whole_slide_image",
    ///                                    "download_url": "https://...signed URL...",
    ///                                    "metadata": {"checksum_base64_crc32c": "64RKKA==",
    ///                                                 "width_px": 136223, "height_px": 87761,
    ///                                                 "resolution_mpp": 0.25,
    ///                                                 "media-type": "image/tiff"}}]}]}
    ///
    /// or just the array of items (the value of "items" above), with --application (and
    /// optionally --version). --application, --version and --custom-metadata replace the
    /// request's own fields. `aignostics versions show APP` lists the input artifacts an item
    /// needs; their metadata is checked against the version's schemas before anything is sent.
    #[command(verbatim_doc_comment)]
    Submit(SubmitArgs),
    /// List runs, newest first.
    List(ListRunsArgs),
    /// Show a run and its items.
    Show {
        /// Run id.
        run: String,
    },
    /// Cancel a run.
    Cancel {
        /// Run id.
        run: String,
    },
    /// Wait until a run has terminated; prints its final status.
    Wait(WaitArgs),
    /// Download a run's results into DIR/RUN_ID/EXTERNAL_ID/, verifying every file's CRC32C.
    ///
    /// Waits for the run and downloads items as they finish (--no-wait: only what is ready).
    /// Files already downloaded and verified are skipped, partial files are resumed, so running
    /// it again after an interruption fetches only what is missing. Exits 1 when an artifact
    /// could not be downloaded.
    Download(DownloadArgs),
    /// Delete a terminated run's output artifacts (cannot be undone).
    DeleteArtifacts {
        /// Run id.
        run: String,
        /// Confirm the deletion.
        #[arg(long, required = true)]
        yes: bool,
    },
    /// Show, set or clear the custom metadata of a run or of one of its items.
    ///
    /// Without --set or --clear, prints the current metadata and its checksum. Pass that
    /// checksum with --checksum to update only if nobody changed the metadata meanwhile.
    Metadata(MetadataArgs),
    /// Turn a folder of slides into the metadata CSV for an application version
    ///
    /// Reads every slide's header (level-0 size, microns per pixel, CRC32C), applies the
    /// --mapping rules and writes the CSV the Python SDK also reads and writes: edit it (staining,
    /// tissue, disease), then submit. Warns when the rows do not yet satisfy the version's
    /// schema; exits 1 when a slide cannot be read (the CSV holds the others).
    Prepare(crate::commands::prepare::PrepareArgs),
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// JSON file with the run request or its items; `-` reads stdin.
    #[arg(long, value_name = "FILE")]
    pub items: PathBuf,
    /// Application id, e.g. `he-tme` (required when the JSON is an array of items).
    #[arg(long, value_name = "ID")]
    pub application: Option<String>,
    /// Application version, e.g. `1.0.0` (default: the latest).
    #[arg(long)]
    pub version: Option<String>,
    /// Custom metadata of the run, a JSON object.
    #[arg(long, value_name = "JSON")]
    pub custom_metadata: Option<String>,
    /// Only check the request against the version's schemas; submit nothing.
    #[arg(long)]
    pub dry_run: bool,
}

#[derive(Debug, Args)]
pub struct ListRunsArgs {
    /// Only runs of this application.
    #[arg(long, value_name = "ID")]
    pub application: Option<String>,
    /// Only runs of this application version (with --application).
    #[arg(long)]
    pub version: Option<String>,
    /// Only runs with an item of this external id.
    #[arg(long, value_name = "ID")]
    pub external_id: Option<String>,
    /// Only runs whose custom metadata matches this JSONPath, e.g. '$.study ? (@ == "abc-1")'.
    #[arg(long, value_name = "JSONPATH")]
    pub custom_metadata: Option<String>,
    /// Only runs you submitted.
    #[arg(long, conflicts_with = "submitted_by")]
    pub mine: bool,
    /// Only runs submitted by this user id (`me` for yourself).
    #[arg(long, value_name = "USER")]
    pub submitted_by: Option<String>,
    /// Sort by a field, e.g. `submitted_at` or `-terminated_at` (repeatable; default
    /// `-submitted_at`).
    #[arg(long, value_name = "FIELD")]
    pub sort: Vec<String>,
    /// Show at most this many runs.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Run id.
    pub run: String,
    /// Seconds between two looks at the run.
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = parse_seconds)]
    pub interval: Duration,
    /// Give up (exit 1) after this many seconds; the run goes on.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,
    /// Exit 1 unless every item succeeded (status COMPLETED).
    #[arg(long)]
    pub require_success: bool,
}

#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// Run id.
    pub run: String,
    /// Directory to download into (must exist).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Download only the items finished so far instead of waiting for the run.
    #[arg(long)]
    pub no_wait: bool,
    /// Parallel downloads (1 to 64).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub concurrency: u32,
    /// Seconds between two looks at the run while waiting.
    #[arg(long, value_name = "SECONDS", default_value = "5", value_parser = parse_seconds)]
    pub interval: Duration,
    /// Give up (exit 1) when the run has not terminated after this many seconds.
    #[arg(long, value_name = "SECONDS", value_parser = parse_seconds)]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("change").args(["set", "clear"])))]
pub struct MetadataArgs {
    /// Run id.
    pub run: String,
    /// Act on this item (external id) instead of the run.
    #[arg(long, value_name = "EXTERNAL_ID")]
    pub item: Option<String>,
    /// Replace the metadata with this JSON object (`-` reads it from stdin).
    #[arg(long, value_name = "JSON")]
    pub set: Option<String>,
    /// Remove the metadata.
    #[arg(long)]
    pub clear: bool,
    /// Update only if the current metadata still has this checksum.
    #[arg(long, requires = "change")]
    pub checksum: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ShareTokensCommand {
    /// Create a share token; prints its secret once.
    Create {
        /// When the token stops working (RFC 3339, e.g. 2026-12-31T23:59:59Z; default never).
        #[arg(long, value_name = "TIME")]
        expires_at: Option<String>,
        /// Also let the token read this run (a viewer grant).
        #[arg(long, value_name = "RUN_ID")]
        run: Option<String>,
    },
    /// List your share tokens.
    List {
        /// Only tokens with a grant on this run.
        #[arg(long, value_name = "RUN_ID")]
        run: Option<String>,
        /// Include revoked tokens.
        #[arg(long)]
        all: bool,
    },
    /// Revoke a share token.
    Revoke {
        /// Share token id (not the secret).
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Seconds from submission until a run has terminated.
    #[arg(long, value_name = "SECONDS", default_value = "2", value_parser = parse_seconds)]
    pub processing_time: Duration,
}

/// Seconds as a decimal number, e.g. `5` or `0.5`.
fn parse_seconds(text: &str) -> Result<Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    Duration::try_from_secs_f64(secs).map_err(|_| format!("`{text}` is not a valid duration"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    // Proves the command tree is consistent (clap's own checks of names, groups and conflicts).
    #[test]
    fn command_tree_is_valid() {
        Cli::command().debug_assert();
    }

    // Proves seconds parse as decimals and negative values are refused.
    #[test]
    fn seconds_parse() {
        assert_eq!(parse_seconds("0.25"), Ok(Duration::from_millis(250)));
        assert!(parse_seconds("-1").is_err());
        assert!(parse_seconds("soon").is_err());
    }
}
