//! The command tree: every command, option and help text (the help texts are the CLI's
//! reference documentation).

use std::path::PathBuf;
use std::time::Duration;

use clap::{ArgGroup, Args, Parser, Subcommand};
use clap_complete::Shell;

use crate::shared::{parse_interval, parse_seconds};

const ENVIRONMENT_HELP: &str = "\
Environment:
  AIGNOSTICS_ACCESS_TOKEN  Bearer token to send (CI, service accounts, the sandbox); without it
                           the stored login is used (see `aignostics login`)
  AIGNOSTICS_API_ROOT      API root (default https://platform.aignostics.com); --api-root wins
  AIGNOSTICS_*             Timeouts, retries, cache and login settings, also read from
                           ~/.aignostics/.env and ./.env

Exit status: 0 on success, 1 when a command fails, 2 for a usage error, 3 when a run's result
is incomplete (`runs download` without --allow-incomplete, `runs wait --require-success`), 130
when interrupted (Ctrl-C).

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

    /// No notes and no progress on stderr; errors are still printed.
    #[arg(long, short, global = true)]
    pub quiet: bool,

    /// API root, e.g. https://platform.aignostics.com or a sandbox's http://127.0.0.1:8080
    /// (default: AIGNOSTICS_API_ROOT, else production).
    #[arg(long, global = true, value_name = "URL")]
    pub api_root: Option<String>,

    #[command(subcommand)]
    pub command: Command,
}

impl Cli {
    /// Commands that talk to no platform, so `--api-root` means nothing to them.
    pub const LOCAL_COMMANDS: [&str; 2] = ["sandbox", "completions"];

    /// The command tree as users see it: `--api-root` (global for the commands that talk to
    /// a platform) is hidden where it means nothing. Such a command gets its own hidden
    /// `--api-root`, which stops the global one from reaching it; `main` refuses a value.
    pub fn command_tree() -> clap::Command {
        let mut cmd = <Self as clap::CommandFactory>::command();
        for local in Self::LOCAL_COMMANDS {
            cmd = cmd.mut_subcommand(local, |sub| {
                sub.arg(
                    clap::Arg::new("api_root")
                        .long("api-root")
                        .value_name("URL")
                        .hide(true),
                )
            });
        }
        cmd
    }
}

/// The top-level commands.
#[derive(Debug, Subcommand)]
// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    /// Log in and store the token for later commands (and the Python SDK).
    ///
    /// Uses AIGNOSTICS_REFRESH_TOKEN when set, else the browser, else (or with --device) the
    /// device flow, which needs AIGNOSTICS_CLIENT_ID_DEVICE. A stored token still valid for more
    /// than five minutes is reused unless --force is given.
    #[command(
        after_help = "Examples:\n  aignostics login\n  aignostics login --device      \
        # on a machine without a browser\n  aignostics login --force       # a fresh token"
    )]
    Login(LoginArgs),
    /// Remove the stored token.
    #[command(after_help = "Examples:\n  aignostics logout")]
    Logout,
    /// Show the current user and organization.
    #[command(
        after_help = "Examples:\n  aignostics whoami\n  aignostics --json whoami | jq -r .user.email"
    )]
    Whoami(WhoamiArgs),
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
    /// Upload slides to the organization's bucket; list, download and delete its objects.
    #[command(subcommand)]
    Bucket(crate::commands::bucket::BucketCommand),
    /// Serve a local sandbox platform in the foreground until Ctrl-C.
    ///
    /// Prints the API root and example bearer tokens (as `export` lines), then serves every
    /// API operation with runs that finish after --processing-time; an item whose external id
    /// starts with `fail-` fails. Nothing is stored: stopping it forgets every run. It also
    /// prints the settings to practise `aignostics login` against it (refresh token and device
    /// flow).
    #[command(
        after_help = "Examples:\n  aignostics sandbox\n  aignostics sandbox --port 0 --processing-time 10\n  \
        aignostics sandbox --json      # one line of JSON for programs"
    )]
    Sandbox(SandboxArgs),
    /// Print a shell completion script.
    ///
    /// Load it in the running shell, or save it where the shell looks for completions.
    #[command(after_help = "Examples:\n  \
        source <(aignostics completions bash)\n  \
        aignostics completions zsh > \"${fpath[1]}/_aignostics\"\n  \
        aignostics completions fish > ~/.config/fish/completions/aignostics.fish\n  \
        aignostics completions powershell | Out-String | Invoke-Expression")]
    Completions {
        /// The shell: bash, zsh, fish, powershell or elvish.
        shell: Shell,
    },
    /// List, show and download the documents of an application version (README, instructions
    /// for use, …).
    #[command(subcommand)]
    Documents(DocumentsCommand),
    /// List, show and revoke grants (who may read which run).
    #[command(subcommand)]
    Grants(GrantsCommand),
    /// Check that the platform is reachable and accepts your token (exit 1 when DOWN).
    #[command(
        after_help = "Examples:\n  aignostics health\n  aignostics health && aignostics runs submit …"
    )]
    Health,
    /// Read slide metadata from file headers (size, resolution, checksum).
    #[command(subcommand)]
    Slides(crate::commands::slides::SlidesCommand),
    /// Results as data: the cohort table of slide readouts across runs.
    #[command(subcommand)]
    Results(crate::commands::results::ResultsCommand),
    /// A study of many slides in many runs, from any number of machines: submit in batches,
    /// status of every slide, retry the failed ones, cancel, download.
    #[command(subcommand)]
    Cohort(crate::commands::cohort::CohortCommand),
}

#[derive(Debug, Args)]
pub struct WhoamiArgs {
    /// Show the bucket's HMAC secret instead of masking it.
    #[arg(long)]
    pub show_secrets: bool,
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
    #[command(
        after_help = "Examples:\n  aignostics applications list\n  aignostics applications list --sort -name"
    )]
    List {
        /// Sort by a field, e.g. `name` or `-application_id` (repeatable).
        #[arg(long, value_name = "FIELD")]
        sort: Vec<String>,
    },
    /// Show one application and its versions.
    #[command(after_help = "Examples:\n  aignostics applications show he-tme")]
    Show {
        /// Application id, e.g. `he-tme`.
        application: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum VersionsCommand {
    /// List an application's versions, newest first.
    #[command(after_help = "Examples:\n  aignostics versions list he-tme")]
    List {
        /// Application id, e.g. `he-tme`.
        application: String,
    },
    /// Show a version: changelog, input artifacts and output artifacts with MIME types.
    #[command(
        after_help = "Examples:\n  aignostics versions show he-tme\n  aignostics versions show he-tme 1.0.0"
    )]
    Show {
        /// Application id, e.g. `he-tme`.
        application: String,
        /// Version number, e.g. `1.0.0` (default: the latest).
        version: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
// Parsed once per process: the size of the largest variant costs nothing.
#[allow(clippy::large_enum_variant)]
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
    ///
    /// With --slides DIR (or --csv FILE) instead of --items, the whole chain runs in one
    /// command: slides inspected, uploaded to the organization's bucket, submitted with signed
    /// URLs, and with --wait / --download OUT waited for and downloaded. Killed at any point and
    /// run again with the same arguments, it finishes without a second upload, run or download:
    /// uploads resume or are skipped by CRC32C, the run is found by its idempotency key, and
    /// verified files are skipped. Exits 0 when done, 1 on an error (run it again), 3 when the
    /// result is incomplete (slides unreadable, items failed), 130 when interrupted.
    #[command(
        verbatim_doc_comment,
        after_help = "Examples:\n  \
        aignostics runs submit he-tme --slides slides/ --mapping '.*:tissue=LUNG,disease=LUNG_CANCER,staining_method=H&E' --download results/\n  \
        aignostics runs submit he-tme:1.0.0 --csv slides/metadata.csv --wait   # the CSV `runs prepare` wrote\n  \
        aignostics runs submit --items items.json --application he-tme --dry-run\n  \
        RUN=$(aignostics runs submit --items items.json --application he-tme --version 1.1.0)\n  \
        generate-request | aignostics runs submit --items -"
    )]
    Submit(SubmitArgs),
    /// List runs, newest first.
    #[command(after_help = "Examples:\n  aignostics runs list --mine --limit 5\n  \
        aignostics runs list --application he-tme --version 1.1.0 --all\n  \
        aignostics runs list --custom-metadata '$.study ? (@ == \"abc-1\")' --json")]
    List(ListRunsArgs),
    /// Show a run and its items.
    #[command(after_help = "Examples:\n  aignostics runs show \"$RUN\"\n  \
        aignostics runs show \"$RUN\" --share-token \"$SECRET\"   # a run shared with you")]
    Show(ReadRunArgs),
    /// Cancel a run.
    #[command(after_help = "Examples:\n  aignostics runs cancel \"$RUN\"")]
    Cancel {
        /// Run id (or a unique prefix of it).
        run: String,
    },
    /// Wait until a run has terminated; prints its final status.
    #[command(after_help = "Examples:\n  aignostics runs wait \"$RUN\"\n  \
        aignostics runs wait \"$RUN\" --timeout 7200 --require-success && echo all good")]
    Wait(WaitArgs),
    /// Download a run's results into DIR/RUN_ID/EXTERNAL_ID/, verifying every file's CRC32C.
    ///
    /// Waits for the run and downloads items as they finish (--no-wait: only what is ready).
    /// Files already downloaded and verified are skipped, partial files are resumed, so running
    /// it again after an interruption fetches only what is missing. DIR is created when missing.
    ///
    /// Exits 1 when an artifact could not be downloaded (run it again to retry), and 3 when
    /// the result is incomplete because items failed, were skipped or are not finished
    /// (unless --allow-incomplete).
    #[command(
        after_help = "Examples:\n  aignostics runs download \"$RUN\" results/\n  \
        aignostics runs download \"$RUN\" results/ --allow-incomplete   # keep going past failed slides\n  \
        aignostics --json runs download \"$RUN\" results/ | jq '.failed_items'"
    )]
    Download(DownloadArgs),
    /// Delete a terminated run's output artifacts (cannot be undone).
    #[command(after_help = "Examples:\n  aignostics runs delete-artifacts \"$RUN\" --yes")]
    DeleteArtifacts {
        /// Run id (or a unique prefix of it).
        run: String,
        /// Confirm the deletion.
        #[arg(long, required = true)]
        yes: bool,
    },
    /// Show, set or clear the custom metadata of a run or of one of its items.
    ///
    /// Without --set or --clear, prints the current metadata and its checksum. Pass that
    /// checksum with --checksum to update only if nobody changed the metadata meanwhile.
    #[command(after_help = "Examples:\n  aignostics runs metadata \"$RUN\"\n  \
        aignostics runs metadata \"$RUN\" --set '{\"study\": \"abc-1\"}' --checksum 1a2b3c4d\n  \
        aignostics runs metadata \"$RUN\" --item slide-1 --clear")]
    Metadata(MetadataArgs),
    /// List a run's items with their status and output artifacts.
    #[command(after_help = "Examples:\n  aignostics runs items \"$RUN\"\n  \
        aignostics --json runs items \"$RUN\" --share-token \"$SECRET\" | jq -r '.[].external_id'")]
    Items(ReadRunArgs),
    /// Turn a folder of slides into the metadata CSV for an application version
    ///
    /// Reads every slide's header (level-0 size, microns per pixel, CRC32C), applies the
    /// --mapping rules and writes the CSV the Python SDK also reads and writes: edit it (staining,
    /// tissue, disease), then submit. Warns when the rows do not yet satisfy the version's
    /// schema; exits 1 when a slide cannot be read (the CSV holds the others).
    #[command(
        after_help = "Examples:\n  aignostics runs prepare he-tme slides/ --csv metadata.csv\n  \
        aignostics runs prepare he-tme:1.0.0 slides/ --csv metadata.csv \\\n      \
        --mapping '.*lung.*:tissue=LUNG,disease=LUNG_CANCER'"
    )]
    Prepare(crate::commands::prepare::PrepareArgs),
}

impl RunsCommand {
    /// The run id the command names, if it names one (to complete a unique prefix).
    pub fn run_id_mut(&mut self) -> Option<&mut String> {
        match self {
            Self::Show(args) | Self::Items(args) => Some(&mut args.run),
            Self::Cancel { run } | Self::DeleteArtifacts { run, .. } => Some(run),
            Self::Wait(args) => Some(&mut args.run),
            Self::Download(args) => Some(&mut args.run),
            Self::Metadata(args) => Some(&mut args.run),
            Self::Submit(_) | Self::List(_) | Self::Prepare(_) => None,
        }
    }
}

/// A run to read, possibly one shared with you.
#[derive(Debug, Args)]
pub struct ReadRunArgs {
    /// Run id (or a unique prefix of it, e.g. its first 8 characters).
    pub run: String,
    #[command(flatten)]
    pub share: ShareTokenArg,
}

/// Reading a run through a share token.
#[derive(Debug, Args)]
pub struct ShareTokenArg {
    /// Read through this share token (the secret `share-tokens create` printed); `-` reads it
    /// from stdin, which keeps it out of the process list.
    #[arg(long, value_name = "SECRET")]
    pub share_token: Option<String>,
}

#[derive(Debug, Args)]
pub struct SubmitArgs {
    /// Application and optional version, e.g. `he-tme` or `he-tme:1.0.0` (instead of
    /// --application and --version).
    #[arg(value_name = "APP[:VERSION]", conflicts_with = "application")]
    pub app: Option<String>,
    /// JSON file with the run request or its items; `-` reads stdin.
    #[arg(long, value_name = "FILE", required_unless_present_any = ["slides", "csv"], conflicts_with_all = ["slides", "csv"])]
    pub items: Option<PathBuf>,
    /// Folder of slides (searched recursively): each is inspected, uploaded to the bucket
    /// (skipped when already there) and submitted with a signed URL valid 6 days. Or a prefix
    /// of your own bucket, `s3://bucket/prefix/` or `gs://bucket/prefix/`: the slides are read
    /// there and their URLs signed with your keys (AWS_ACCESS_KEY_ID and
    /// AWS_SECRET_ACCESS_KEY, or GCS_HMAC_ACCESS_KEY_ID and GCS_HMAC_SECRET); nothing is
    /// downloaded or uploaded.
    #[arg(long, value_name = "DIR|URL")]
    pub slides: Option<PathBuf>,
    /// With --slides s3://…: the S3-compatible endpoint (default: AWS_ENDPOINT_URL, else
    /// AWS's).
    #[arg(long, value_name = "URL", requires = "slides")]
    pub endpoint_url: Option<String>,
    /// With --slides s3://…: accept download URLs signed with temporary keys
    /// (AWS_SESSION_TOKEN), which stop working when the session ends.
    #[arg(long, requires = "slides")]
    pub accept_session_urls: bool,
    /// The metadata CSV `runs prepare` wrote (slides relative to --slides, default: the CSV's
    /// folder); a row's `platform_bucket_url` is used (an http(s) URL as is, a bucket object
    /// signed), an empty one is uploaded.
    #[arg(long, value_name = "FILE")]
    pub csv: Option<PathBuf>,
    /// With --slides or --csv: set metadata of slides whose path matches REGEX, e.g.
    /// '.*lung.*:tissue=LUNG,disease=LUNG_CANCER' (as `runs prepare --mapping`). Repeatable.
    #[arg(long, value_name = "REGEX:KEY=VALUE,...", conflicts_with = "items")]
    pub mapping: Vec<aignostics::slides::Mapping>,
    /// With --slides: only slides whose relative path matches this glob, e.g. '**/*.svs'.
    #[arg(long, value_name = "GLOB", requires = "slides", conflicts_with = "csv")]
    pub include: Option<String>,
    /// With --slides: microns per pixel for slides whose header has none.
    #[arg(long, value_name = "MPP", value_parser = crate::shared::positive, requires = "slides")]
    pub mpp: Option<f64>,
    /// Upload part size in MiB (5 to 5120) for slides above 16 MiB.
    #[arg(long, value_name = "MIB", conflicts_with = "items", value_parser = crate::commands::bucket::part_size_mib)]
    pub part_size: Option<u64>,
    /// Parts of one slide uploaded at once (default 4).
    #[arg(long, value_name = "N", conflicts_with = "items", value_parser = clap::value_parser!(u16).range(1..=64))]
    pub upload_concurrency: Option<u16>,
    /// Wait for the run to terminate (exit 3 unless every item succeeded).
    #[arg(long)]
    pub wait: bool,
    /// Wait, then download the results into OUT/RUN_ID/, every file verified (implies --wait).
    #[arg(long, value_name = "OUT")]
    pub download: Option<PathBuf>,
    /// With --slides and --download: also write the cohort table of the run's slide readouts
    /// (`.parquet` or `.csv`; see `results table`) once the results are in.
    #[arg(long, value_name = "FILE", requires = "download", requires = "slides")]
    pub table: Option<PathBuf>,
    /// With --wait or --download: time between two looks at the run, in seconds or with a
    /// unit (0.1 s to 1 h; e.g. 30s, 2m).
    #[arg(long, value_name = "DURATION", default_value = "5", value_parser = parse_interval)]
    pub interval: Duration,
    /// With --wait or --download: give up (exit 1) after this long, in seconds or with a unit
    /// (90m, 2h, 1d); the run goes on and the command finishes it when run again.
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,
    /// Application id, e.g. `he-tme` (required when the JSON is an array of items).
    #[arg(long, value_name = "ID")]
    pub application: Option<String>,
    /// Application version, e.g. `1.0.0` (default: the latest).
    #[arg(long)]
    pub version: Option<String>,
    /// Custom metadata of the run, a JSON object.
    #[arg(long, value_name = "JSON")]
    pub custom_metadata: Option<String>,
    /// Only check: with --items, the request against the version's schemas; with --slides,
    /// also inspect the slides and print the items as they would be submitted. Nothing is
    /// uploaded or submitted.
    #[arg(long, conflicts_with_all = ["wait", "download"])]
    pub dry_run: bool,
    #[command(flatten)]
    pub flags: crate::commands::submit_flags::SubmitFlags,
}

#[derive(Debug, Args)]
pub struct ListRunsArgs {
    /// Only runs of this application.
    #[arg(long, value_name = "ID")]
    pub application: Option<String>,
    /// Only runs of this application version (with --application).
    #[arg(long, requires = "application")]
    pub version: Option<String>,
    /// Only runs with an item of this external id.
    #[arg(long, value_name = "ID")]
    pub external_id: Option<String>,
    /// Only runs whose custom metadata matches this JSONPath, e.g. '$.study ? (@ == "abc-1")'.
    #[arg(long, value_name = "JSONPATH", conflicts_with = "tags")]
    pub custom_metadata: Option<String>,
    /// Only runs carrying all these tags (set with `runs submit --tags`), comma-separated.
    #[arg(long, value_name = "TAG,...", value_delimiter = ',')]
    pub tags: Vec<String>,
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
    /// Show at most this many runs (at least 1).
    #[arg(long, default_value = "20", value_parser = parse_limit)]
    pub limit: u32,
    /// Show every run (no --limit).
    #[arg(long, conflicts_with = "limit")]
    pub all: bool,
}

#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Run id (or a unique prefix of it, e.g. its first 8 characters).
    pub run: String,
    /// Time between two looks at the run, in seconds or with a unit (0.1 s to 1 h; e.g. 30s).
    #[arg(long, value_name = "DURATION", default_value = "5", value_parser = parse_interval)]
    pub interval: Duration,
    /// Give up (exit 1) after this long, in seconds or with a unit (90m, 2h, 1d); the run goes
    /// on (at most a year; without it, wait as long as the run takes).
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,
    /// Exit 3 unless every item succeeded (status COMPLETED).
    #[arg(long)]
    pub require_success: bool,
}

#[derive(Debug, Args)]
pub struct DownloadArgs {
    /// Run id (or a unique prefix of it, e.g. its first 8 characters).
    pub run: String,
    /// Directory to download into (created when missing).
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    #[command(flatten)]
    pub share: ShareTokenArg,
    /// Exit 0 even when items failed, were skipped or are not finished (the default is exit 3,
    /// so `download && analyse` stops at an incomplete result).
    #[arg(long)]
    pub allow_incomplete: bool,
    /// Download only the items finished so far instead of waiting for the run.
    #[arg(long)]
    pub no_wait: bool,
    /// Parallel downloads (1 to 64).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=64))]
    pub concurrency: u32,
    /// Time between two looks at the run while waiting, in seconds or with a unit (0.1 s to
    /// 1 h).
    #[arg(long, value_name = "DURATION", default_value = "5", value_parser = parse_interval)]
    pub interval: Duration,
    /// Give up (exit 1) when the run has not terminated after this long, in seconds or with a
    /// unit (90m, 2h, 1d; at most a year).
    #[arg(long, value_name = "DURATION", value_parser = parse_timeout)]
    pub timeout: Option<Duration>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("change").args(["set", "clear"])))]
pub struct MetadataArgs {
    /// Run id (or a unique prefix of it, e.g. its first 8 characters).
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
    ///
    /// With --run, the run is checked first, so a token is only created for a run you can
    /// read; should the grant still fail, the new token is revoked again.
    #[command(after_help = "Examples:\n  \
        aignostics share-tokens create --run \"$RUN\" --expires-at 2026-12-31\n  \
        aignostics share-tokens create --expires-at 2026-12-31T12:00:00+01:00")]
    Create {
        /// When the token stops working: a date (the end of that day, UTC), e.g. 2026-12-31,
        /// or an RFC 3339 time, e.g. 2026-12-31T23:59:59Z (default: never).
        #[arg(long, value_name = "TIME", value_parser = parse_expiry)]
        expires_at: Option<String>,
        /// Also let the token read this run (a viewer grant).
        #[arg(long, value_name = "RUN_ID")]
        run: Option<String>,
    },
    /// List your share tokens.
    #[command(
        after_help = "Examples:\n  aignostics share-tokens list\n  aignostics share-tokens list --run \"$RUN\" --all"
    )]
    List {
        /// Only tokens with a grant on this run.
        #[arg(long, value_name = "RUN_ID")]
        run: Option<String>,
        /// Include revoked tokens.
        #[arg(long)]
        all: bool,
    },
    /// Revoke a share token.
    #[command(after_help = "Examples:\n  aignostics share-tokens revoke SHARE_TOKEN_ID")]
    Revoke {
        /// Share token id (not the secret).
        id: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum DocumentsCommand {
    /// List a version's documents.
    #[command(
        after_help = "Examples:\n  aignostics documents list he-tme\n  aignostics documents list he-tme --version 1.0.0"
    )]
    List {
        /// Application id, e.g. `he-tme`.
        application: String,
        #[command(flatten)]
        version: VersionArg,
    },
    /// Show one document's metadata.
    #[command(after_help = "Examples:\n  aignostics documents show he-tme README.md")]
    Show {
        /// Application id, e.g. `he-tme`.
        application: String,
        /// Document name, as `documents list` shows it.
        name: String,
        #[command(flatten)]
        version: VersionArg,
    },
    /// Download a document into DIR (created when missing); an existing file is kept.
    #[command(after_help = "Examples:\n  aignostics documents download he-tme README.md docs/")]
    Download {
        /// Application id, e.g. `he-tme`.
        application: String,
        /// Document name, as `documents list` shows it.
        name: String,
        /// Directory to save it in.
        #[arg(default_value = ".")]
        dir: PathBuf,
        #[command(flatten)]
        version: VersionArg,
    },
}

/// The application version a document belongs to.
#[derive(Debug, Args)]
pub struct VersionArg {
    /// Application version, e.g. `1.0.0` (default: the latest).
    #[arg(long)]
    pub version: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum GrantsCommand {
    /// List grants (who may read which run).
    #[command(
        after_help = "Examples:\n  aignostics grants list\n  aignostics grants list --run \"$RUN\" --all"
    )]
    List {
        /// Only grants on this run.
        #[arg(long, value_name = "RUN_ID")]
        run: Option<String>,
        /// Include revoked grants.
        #[arg(long)]
        all: bool,
    },
    /// Show one grant.
    #[command(after_help = "Examples:\n  aignostics grants show GRANT_ID")]
    Show {
        /// Grant id.
        id: String,
    },
    /// Revoke a grant: its subject can no longer read the run.
    #[command(after_help = "Examples:\n  aignostics grants revoke GRANT_ID")]
    Revoke {
        /// Grant id.
        id: String,
    },
}

#[derive(Debug, Args)]
pub struct SandboxArgs {
    /// Port on 127.0.0.1 (0 picks a free one).
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Seconds from submission until a run has terminated.
    #[arg(long, value_name = "SECONDS", default_value = "2", value_parser = parse_processing_time)]
    pub processing_time: Duration,
    /// Also write three small example slides (Aperio SVS and tiled TIFF, in two case folders)
    /// into DIR, to practise `runs prepare` and `runs submit --slides` with.
    #[arg(long, value_name = "DIR")]
    pub example_slides: Option<std::path::PathBuf>,
}

/// A timeout: at most a year (a longer one is no timeout at all; leave the option out).
fn parse_timeout(text: &str) -> Result<Duration, String> {
    parse_seconds(text, 0.0, 365.0 * 86_400.0)
}

/// How long the sandbox takes per run.
fn parse_processing_time(text: &str) -> Result<Duration, String> {
    parse_seconds(text, 0.0, 86_400.0)
}

/// A list limit of at least 1.
fn parse_limit(text: &str) -> Result<u32, String> {
    match text.trim().parse::<u32>() {
        Ok(0) => Err("must be at least 1; use --all to list everything".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("`{text}` is not a whole number")),
    }
}

/// An expiry time for the platform: an RFC 3339 time as given, or a date `YYYY-MM-DD`
/// meaning the end of that day in UTC.
fn parse_expiry(text: &str) -> Result<String, String> {
    let text = text.trim();
    let bytes = text.as_bytes();
    let digits = |range: std::ops::Range<usize>| {
        bytes
            .get(range.clone())
            .filter(|b| b.iter().all(u8::is_ascii_digit))
            .and_then(|_| text.get(range)?.parse::<u32>().ok())
    };
    let (Some(year), Some(month), Some(day)) = (digits(0..4), digits(5..7), digits(8..10)) else {
        return Err(bad_expiry(text));
    };
    let leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    let days = match month {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return Err(bad_expiry(text)),
    };
    if bytes[4] != b'-' || bytes[7] != b'-' || !(1..=days).contains(&day) {
        return Err(bad_expiry(text));
    }
    if bytes.len() == 10 {
        return Ok(format!("{text}T23:59:59Z"));
    }
    // A time: `T` or a space, HH:MM:SS, optional fraction, then `Z` or ±HH:MM.
    let time = text.get(11..).unwrap_or_default();
    let ok = matches!(bytes[10], b'T' | b't' | b' ')
        && time.len() >= 9
        && time.as_bytes()[2] == b':'
        && time.as_bytes()[5] == b':'
        && [0..2, 3..5, 6..8]
            .into_iter()
            .all(|r| time.as_bytes()[r].iter().all(u8::is_ascii_digit))
        && {
            let rest = time[8..].trim_start_matches(|c: char| c == '.' || c.is_ascii_digit());
            matches!(rest, "Z" | "z")
                || (rest.len() == 6
                    && matches!(rest.as_bytes()[0], b'+' | b'-')
                    && rest.as_bytes()[3] == b':')
        };
    if ok {
        Ok(text.to_string())
    } else {
        Err(bad_expiry(text))
    }
}

fn bad_expiry(text: &str) -> String {
    format!("`{text}` is neither a date (2026-12-31) nor an RFC 3339 time (2026-12-31T23:59:59Z)")
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    // Proves the command tree is consistent (clap's own checks of names, groups and conflicts).
    #[test]
    fn command_tree_is_valid() {
        Cli::command().debug_assert();
        Cli::command_tree().debug_assert();
    }

    // Proves seconds parse as decimals, and negative, zero intervals, huge and non-finite
    // values are refused with a message instead of reaching the SDK (FR-77, FR-78).
    #[test]
    fn seconds_parse() {
        assert_eq!(parse_interval("0.25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_timeout("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_timeout("90m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_timeout("1d"), Ok(Duration::from_secs(86_400)));
        assert_eq!(parse_timeout("1.5H"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_interval("30s"), Ok(Duration::from_secs(30)));
        assert!(parse_timeout("2w").unwrap_err().contains("s, m, h or d"));
        assert!(parse_timeout("h").is_err());
        assert!(parse_timeout("400d").is_err());
        assert!(parse_interval("-1").is_err());
        assert!(parse_interval("soon").is_err());
        assert!(parse_interval("0").unwrap_err().contains("from 0.1"));
        for huge in ["1e19", "inf", "NaN", "1e400", "31536001"] {
            assert!(parse_timeout(huge).is_err(), "{huge}");
        }
        assert_eq!(parse_timeout("0"), Ok(Duration::ZERO));
        assert!(parse_limit("0").unwrap_err().contains("--all"));
        assert_eq!(parse_limit("7"), Ok(7));
    }

    // Proves an expiry is a date (the end of that day, UTC) or an RFC 3339 time, and that
    // anything else, impossible dates included, is refused (FR-77).
    #[test]
    fn expiry_parses() {
        assert_eq!(parse_expiry("2027-12-31").unwrap(), "2027-12-31T23:59:59Z");
        assert_eq!(parse_expiry("2028-02-29").unwrap(), "2028-02-29T23:59:59Z");
        for ok in [
            "2026-12-31T23:59:59Z",
            "2026-12-31T23:59:59.123Z",
            "2026-12-31T12:00:00+01:00",
        ] {
            assert_eq!(parse_expiry(ok).unwrap(), ok);
        }
        for bad in [
            "2027-02-29",
            "2027-13-01",
            "2027-1-1",
            "tomorrow",
            "2027-12-31T25",
            "2027-12-31T23:59:59",
            "２０２７-12-31",
            "",
        ] {
            assert!(parse_expiry(bad).is_err(), "{bad}");
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4096))]
        // Proves no text makes the option parsers panic (FR-78).
        #[test]
        fn option_parsers_never_panic(text in proptest::prelude::any::<String>()) {
            let _ = parse_expiry(&text);
            let _ = parse_timeout(&text);
            let _ = parse_interval(&text);
            let _ = parse_limit(&text);
        }
    }

    // Proves every command a user can run documents examples in its --help (FR-75).
    #[test]
    fn every_command_has_examples() {
        fn walk(cmd: &clap::Command, path: String, missing: &mut Vec<String>) {
            let mut subs = cmd
                .get_subcommands()
                .filter(|s| s.get_name() != "help")
                .peekable();
            if subs.peek().is_none() {
                let text = cmd
                    .get_after_help()
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                if !text.contains("Examples:\n  aignostics ")
                    && !text.contains("Examples:\n  source")
                {
                    missing.push(path.clone());
                }
            }
            for sub in subs {
                walk(sub, format!("{path} {}", sub.get_name()), missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "aignostics".into(), &mut missing);
        assert!(missing.is_empty(), "without examples: {missing:?}");
    }
}
