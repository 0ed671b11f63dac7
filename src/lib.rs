//! # aignostics
//!
//! The Rust client of the [Aignostics Platform](https://platform.aignostics.com), which runs
//! computational-pathology applications (such as Atlas H&E-TME) on whole-slide images.
//!
//! The crate is **blocking first**: every call is a plain function call on a [`Client`], which
//! suits scripts, batch jobs and services without an async runtime. An [async facade](#async)
//! with the same operations is one feature flag away.
//!
//! * [Quick start](#quick-start)
//! * [Authentication](#authentication)
//! * [The handlers](#the-handlers)
//! * [Caching](#caching)
//! * [Errors](#errors)
//! * [Retries and timeouts](#retries-and-timeouts)
//! * [Downloads](#downloads)
//! * [Bucket](#bucket)
//! * [Submitting safely: SDK metadata, idempotency, health](#submitting-safely-sdk-metadata-idempotency-health)
//! * [Slides](#slides)
//! * [Async](#async)
//! * [Sandbox](#sandbox)
//! * [Command-line tool](#command-line-tool)
//! * [Feature flags](#feature-flags)
//! * [Minimum supported Rust version](#minimum-supported-rust-version)
//!
//! # Quick start
//!
//! No platform account is needed to see the whole flow: the companion crate
//! [`aignostics-sandbox`](https://docs.rs/aignostics-sandbox) starts an in-process platform
//! (add it as a dev-dependency). `cargo run --example quickstart` runs this, with progress
//! output:
//!
//! ```
//! # {
//! use std::time::Duration;
//! use aignostics::models::RunCreationRequest;
//! use aignostics_sandbox::{self as sandbox, Sandbox};
//! use aignostics::{DownloadOptions, WaitOptions};
//!
//! let platform = Sandbox::builder().processing_time(Duration::from_millis(300)).start()?;
//! let client = platform.client(sandbox::ALICE_TOKEN)?;
//!
//! for app in client.applications().list().iter() {
//!     println!("application {}", app?.application_id);
//! }
//! let request = RunCreationRequest::new("he-tme", [sandbox::example_item("slide-1")]);
//! let run = client.runs().submit(request)?;            // validated before it is sent
//! run.wait(&WaitOptions::default().interval(Duration::from_millis(50)))?;
//!
//! let dir = std::env::temp_dir().join("aignostics-guide");
//! std::fs::create_dir_all(&dir).expect("temp dir");
//! let report = run.download_to(&dir, &DownloadOptions::default())?; // verified, atomic
//! assert!(report.is_complete());
//! # std::fs::remove_dir_all(&dir).ok();
//! # }
//! # Ok::<(), aignostics::Error>(())
//! ```
//!
//! Against the real platform, build the client with your credentials instead:
//!
//! ```no_run
//! use aignostics::{Client, TokenProvider};
//!
//! let client = Client::new()?; // logs in like the Python SDK, sharing its token file
//! let me = client.me()?;
//! println!("{} in {}", me.user.id, me.organization.id);
//! # Ok::<(), aignostics::Error>(())
//! ```
//!
//! # Authentication
//!
//! Every request carries `Authorization: Bearer <token>`. Where the token comes from is chosen
//! when the client is built:
//!
//! * **Internal login** ([`Client::new`]): the token in `~/.cache/aignostics/.token` (shared
//!   with the Python SDK) while it is valid for more than five minutes, otherwise a refresh
//!   token (`AIGNOSTICS_REFRESH_TOKEN`), the browser (authorization code + PKCE) or the device
//!   flow; see [`auth`]. `Client::builder().cache_token(false)` keeps the token in memory only.
//! * **Your own token source** ([`TokenProvider`]): a closure returning the raw token, called
//!   for every request. Use it for service accounts, tokens held elsewhere, and tests. The
//!   internal login and the token file are then never touched.
//! * **Machine-to-machine**: [`auth::ClientCredentials`] is a ready-made provider for the
//!   client-credentials grant (cached, refreshed ahead of expiry, one refresh in flight), and
//!   with the `redis` feature a whole fleet of workers can share one token (see
//!   `docs/FLEET_TOKENS.md`).
//!
//! ```no_run
//! use aignostics::{Client, TokenProvider, auth::ClientCredentials};
//!
//! let credentials = ClientCredentials::new(
//!     "https://login.example.com/oauth/token",
//!     "my-client-id",
//!     std::env::var("CLIENT_SECRET").unwrap_or_default(),
//!     "https://aignostics-platform-samia",
//! );
//! let client = Client::builder().token_provider(credentials.into()).build()?;
//! # Ok::<(), aignostics::Error>(())
//! ```
//!
//! Create a provider once and clone it: clones share one pooled connection agent, while every
//! [`TokenProvider::new`] is a new provider (see [Caching](#caching)). `docs/AUTHENTICATION.md`
//! has the details.
//!
//! # The handlers
//!
//! A [`Client`] reads the current user ([`Client::me`]) and hands out one handler per API
//! area, each a cheap clone of the client:
//!
//! | Handler | What it does |
//! |---|---|
//! | [`applications()`](Client::applications) → [`Applications`] | the application catalog |
//! | [`versions()`](Client::versions) → [`Versions`], [`Documents`] | versions (semver-ordered), their artifact schemas and documents |
//! | [`runs()`](Client::runs) → [`Runs`] | submit (validated first) and list runs with every filter |
//! | [`run(id)`](Client::run) → [`Run`] | details, items, artifacts, cancel, delete, custom metadata, sharing, [`wait`](Run::wait), [`download_to`](Run::download_to) |
//! | [`grants()`](Client::grants) → [`Grants`] | access grants |
//! | [`share_tokens()`](Client::share_tokens) → [`ShareTokens`] | share tokens for read-only sharing of runs |
//!
//! Required parameters are positional, optional ones are builder methods. Lists are lazy
//! [`Pages`] iterators of `Result<T>`: the next page is fetched only when needed.
//! [`run_status`], [`item_status`] and friends say what a state means, as the TypeScript SDK
//! defines it. All request and response types live in [`models`], named as in the API.
//!
//! ```no_run
//! # let client = aignostics::Client::new()?;
//! for run in client.runs().list().application_id("he-tme").submitted_by("me").iter().take(5) {
//!     let run = run?;
//!     println!("{} {} {:.0}%", run.run_id, run.status(), run.progress());
//! }
//! # Ok::<(), aignostics::Error>(())
//! ```
//!
//! # Caching
//!
//! Reads are kept for a short time in a process-wide, bounded LRU: 300 s for the user,
//! applications and versions, 15 s for anything about runs. Entries are keyed by API root,
//! **user** (a SHA-256 digest of the token), operation and arguments, so one user's data is
//! never served to another. Failures are never cached; every successful write drops the
//! writer's entries. [`Client::nocache`] skips the lookup (and still stores the fresh result);
//! [`cache::clear`] empties it. TTLs are settings (`AIGNOSTICS_RUN_CACHE_TTL`, …; 0 disables).
//! `docs/CACHING.md` explains the keys, isolation and the connection pools.
//!
//! # Errors
//!
//! Every failure is an [`Error`]. Decide with its predicates rather than matching on text:
//!
//! ```no_run
//! # let client = aignostics::Client::new()?;
//! match client.run("3fa85f64-5717-4562-b3fc-2c963f66afa6").cancel() {
//!     Ok(()) => println!("cancelled"),
//!     Err(e) if e.is_conflict() => println!("already cancelled"),
//!     Err(e) if e.is_not_found() || e.is_forbidden() => println!("no such run for you"),
//!     Err(e) => return Err(e),
//! }
//! # Ok::<(), aignostics::Error>(())
//! ```
//!
//! API errors carry the status, the operation, the server's `detail` and 422 validation
//! entries ([`ApiError`]). No error, log line or `Debug` output ever contains a token.
//!
//! # Retries and timeouts
//!
//! Reads are retried on 5xx, 429 (honouring `Retry-After`), timeouts, connection resets and
//! truncated bodies, with exponential backoff and jitter: 4 calls in all by default, waits from
//! 0.1 s up to 60 s. Writes (submit, cancel, delete, metadata updates, grants, share tokens) are
//! never retried once sent. Each operation group has its own connect/response timeout (30 s by
//! default); downloads use a per-read timeout instead of a whole-body one. All of it is in
//! [`Settings`], read from `AIGNOSTICS_*` variables ([`settings`] lists them).
//!
//! # Downloads
//!
//! [`Run::download_to`] writes `dir/{run_id}/{external_id}/{artifact}{ext}` and never presents
//! a partial or corrupt file as complete: each artifact streams into a `.part` file, resumes
//! with `Range` after a broken connection (with a fresh signed URL), is checked against its
//! CRC32C while streaming, and is renamed into place only when the checksum matches. Files
//! already complete are skipped without a request. Items are downloaded as they finish, by
//! several worker threads; a [`DownloadReport`] lists what was downloaded, skipped and failed.
//! [`checksum::crc32c_base64_file`] prepares the checksums of input slides. See
//! `docs/DOWNLOADS.md`.
//!
//! # Bucket
//!
//! The platform reads input slides from signed URLs. With the `bucket` feature,
//! [`bucket::Bucket`] puts slides into the organization's bucket (its credentials come with
//! [`Client::me`]) or any S3-compatible store, and signs the URLs:
//!
//! ```
//! # #[cfg(feature = "bucket")] {
//! use aignostics::bucket::{DEFAULT_URL_VALIDITY, KeyTemplate, UploadOutcome};
//! use aignostics_sandbox::{self as sandbox, Sandbox};
//!
//! let platform = Sandbox::start()?; // serves an S3-compatible bucket too
//! let bucket = platform.bucket(sandbox::ALICE_TOKEN)?; // from `/v1/me`
//! # let dir = std::env::temp_dir().join(format!("aignostics-guide-bucket-{}", std::process::id()));
//! # std::fs::create_dir_all(&dir).expect("temp dir");
//! let slide = dir.join("slide-1.svs");
//! std::fs::write(&slide, vec![7u8; 1 << 20]).expect("a slide on disk");
//!
//! let key = KeyTemplate::default().render(&bucket, &slide, None)?; // {user}/{crc32c}/{name}
//! let report = bucket.upload(&slide, &key).send()?; // verified by CRC32C
//! assert_eq!(report.outcome, UploadOutcome::Uploaded);
//! // Sent again (the same command after a crash, say), nothing is re-sent:
//! assert_eq!(bucket.upload(&slide, &key).send()?.outcome, UploadOutcome::AlreadyPresent);
//!
//! // What an item of a run needs: a signed URL valid for 6 days and the checksum.
//! let url = bucket.signed_url(&key, DEFAULT_URL_VALIDITY)?;
//! let metadata = serde_json::json!({
//!     "checksum_base64_crc32c": report.crc32c,
//!     "platform_bucket": bucket.platform_bucket_metadata(&key, DEFAULT_URL_VALIDITY)?,
//! });
//! # assert!(url.contains("X-Amz-Signature=") && metadata["platform_bucket"]["object_key"] == key.as_str());
//! # std::fs::remove_dir_all(&dir).ok();
//! # }
//! # Ok::<(), aignostics::Error>(())
//! ```
//!
//! Files above 16 MiB go as multipart uploads whose parts are sent in parallel on plain
//! threads, each worker reading only its own part (memory stays at about
//! `concurrency × part size` whatever the file size). Every part carries its `Content-MD5`
//! (and `x-amz-checksum-crc32c` where the store takes it); the finished object is compared
//! with the file through the store's own CRC32C or ETag, and a mismatch deletes it and fails.
//! An interrupted upload is resumed by sending it again: the in-progress multipart upload is
//! found, its parts checked against the file, and only the missing ones are sent. The HMAC
//! secret never appears in an error, a log line or `Debug` output. The CLI has the same as
//! `aignostics bucket ls|upload|download|delete|url`.
//!
//! With both `slides` and `bucket`, [`pipeline::SlidesToResults`] is the whole chain in one
//! call: a folder of slides inspected, uploaded, submitted with signed URLs under an
//! idempotency key derived from the inputs, waited for and downloaded verified, with one
//! progress stream; killed anywhere and called again, it repeats nothing. The CLI's
//! `aignostics runs submit APP --slides DIR --download OUT` is that call.
//!
//! A study of many slides is a [`cohort::Cohort`]: its slides cut into batches, one run
//! each, keyed by cohort, batch and content, with the platform as the ledger: any number of
//! machines ([`cohort::Shard`], set by Kubernetes, Slurm or AWS Batch arrays) submit it,
//! [`cohort::status`] gives every slide's state from anywhere, failed slides are retried in
//! new rounds. The guide is `docs/COHORTS.md`; the CLI has `aignostics cohort …`.
//!
//! # Submitting safely: SDK metadata, idempotency, health
//!
//! [`Runs::submit`] records `custom_metadata.sdk` on the run and its items as the Python SDK
//! does ([`sdk_metadata`]: user, interface, CI context, and your tags, note, scheduling and
//! pipeline), and gives every submission an idempotency key. [`Runs::submit_with`] takes
//! [`SubmitOptions`]: with a key of your own, submitting again returns the run already carrying
//! it, so a batch job re-run after a crash never pays twice; a `POST` whose answer is lost is
//! resolved by looking the key up ([`submission`]). [`Client::health`] says whether the
//! platform is up before you start ([`health`]). The guide `docs/FROM_SLIDES_TO_RESULTS.md`
//! walks the whole chain with the library and the CLI side by side.
//!
//! ```
//! # {
//! use aignostics::SubmitOptions;
//! use aignostics::models::RunCreationRequest;
//! use aignostics_sandbox::{self as sandbox, Sandbox};
//! use aignostics::sdk_metadata::SdkMetadata;
//!
//! let platform = Sandbox::start()?;
//! let client = platform.client(sandbox::ALICE_TOKEN)?;
//! assert!(client.health().status.is_up());
//!
//! let request = RunCreationRequest::new("he-tme", [sandbox::example_item("slide-1")]);
//! let options = SubmitOptions::new()
//!     .idempotency_key(aignostics::idempotency_key_for(&request))
//!     .sdk_metadata(SdkMetadata::new().tags(["study-17"]));
//! let first = client.runs().submit_with(request.clone(), &options)?;
//! let again = client.runs().submit_with(request, &options)?; // the job, started again
//! assert!(again.is_existing());
//! assert_eq!(first.run().id(), again.run().id());
//! assert_eq!(client.runs().list().tags(["study-17"]).iter().count(), 1);
//! # }
//! # Ok::<(), aignostics::Error>(())
//! ```
//!
//! # Slides
//!
//! With the `slides` feature (the CLI enables it), [`slides`] reads whole-slide images from
//! their headers, in pure Rust and without decoding a pixel: level-0 size, microns per pixel
//! (by OpenSlide's rules, so the values match what the Python SDK submits), media type, file
//! size and the platform's CRC32C in one pass, for the TIFF family (generic, BigTIFF, Aperio,
//! Hamamatsu, Philips, OME) and DICOM whole-slide images. [`slides::SlideItems`] turns a
//! folder into run items for an application version, with the Python SDK's mapping rules,
//! validated against the version's schema before anything is sent, and reads and writes the
//! Python SDK's metadata CSV:
//!
//! ```no_run
//! # #[cfg(feature = "slides")] {
//! use aignostics::models::RunCreationRequest;
//! use aignostics::slides::{self, SlideItems, UrlTemplate};
//!
//! let slide = slides::inspect("slides/case-1/lung.svs")?;
//! println!("{} x {} px, {} µm/px", slide.width_px, slide.height_px, slide.resolution_mpp);
//!
//! let client = aignostics::Client::new()?;
//! let version = client.application_version("he-tme", None)?;
//! let builder = SlideItems::new("he-tme", version)?
//!     .mapping("lung:staining_method=H&E,tissue=LUNG,disease=LUNG_CANCER".parse()?);
//! let prepared = builder.scan("slides/")?; // every core; failures listed, not fatal
//! slides::write_csv_file("metadata.csv", &prepared.rows)?; // editable, Python-compatible
//! let urls = UrlTemplate::new("https://storage.example.com/slides/{path}")?;
//! let items = builder.items_from(&prepared, &urls)?; // validated against the schema
//! let run = client.runs().submit(RunCreationRequest::new("he-tme", items))?;
//! # }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! On the command line: `aignostics slides inspect DIR` and
//! `aignostics runs prepare he-tme DIR --csv metadata.csv --mapping 'lung:tissue=LUNG'`.
//!
//! # Async
//!
//! With the `async` feature, [`nonblocking::Client`] (`From<Client>`) offers the same operations
//! as `async fn`s, running each blocking call on tokio's blocking pool, with the same models and
//! errors. The same steps on both surfaces, blocking:
//!
//! ```no_run
//! # fn demo(client: aignostics::Client) -> aignostics::Result<()> {
//! use aignostics::WaitOptions;
//!
//! let me = client.me()?;
//! let run = client.run("3fa85f64-5717-4562-b3fc-2c963f66afa6");
//! run.wait(&WaitOptions::default())?;
//! for item in run.items().iter() {
//!     println!("{}", item?.external_id);
//! }
//! # Ok(()) }
//! ```
//!
//! and async:
//!
//! ```no_run
//! # #[cfg(feature = "async")]
//! # async fn demo(client: aignostics::Client) -> aignostics::Result<()> {
//! use aignostics::WaitOptions;
//!
//! let client = aignostics::nonblocking::Client::from(client);
//! let me = client.me().await?;
//! let run = client.run("3fa85f64-5717-4562-b3fc-2c963f66afa6");
//! run.wait(WaitOptions::default()).await?;
//! let mut items = run.items().iter();
//! while let Some(item) = items.next().await {
//!     println!("{}", item?.external_id);
//! }
//! // Independent calls run concurrently:
//! let (me, app) = tokio::join!(client.me(), client.application("he-tme".to_string()));
//! # Ok(()) }
//! ```
//!
//! Arguments of the async methods are owned (`String`, `PathBuf`, options by value), because the
//! work moves to another thread.
//!
//! Calling the blocking client inside an async task blocks a runtime worker for the whole
//! request; use the facade (or `spawn_blocking`) there.
//!
//! # Sandbox
//!
//! The crate `aignostics-sandbox` (`aignostics_sandbox::Sandbox`) serves the whole API on a
//! loopback port, with users, runs that progress, real artifacts behind signed URLs, an
//! S3-compatible bucket, OAuth endpoints and fault injection, for examples and for testing
//! your own pipelines: add it under `[dev-dependencies]`, as `wiremock` or `httpmock` are.
//! It is built on this crate's public API only. `docs/TESTING.md` shows how to use it. (It was
//! the `sandbox` feature, `aignostics::sandbox`, before; see CHANGELOG.md.)
//!
//! # Command-line tool
//!
//! The crate `aignostics-cli` builds the `aignostics` binary (`cargo install aignostics-cli`,
//! or `cargo install --path cli` in a checkout): `login`, `whoami`,
//! `applications`, `versions`, `documents`, `runs submit|list|show|items|wait|download|…`,
//! `share-tokens`, `grants`, `completions`, and `sandbox` to serve a local platform (where
//! `aignostics login` can be practised too). `--json` prints machine-readable output, server
//! text is shown with its control characters escaped, and the exit status tells success (0),
//! failure (1), a usage error (2) and an incomplete run result (3) apart. See `docs/CLI.md`;
//! every `AIGNOSTICS_*` setting is in `docs/SETTINGS.md`.
//!
//! # Feature flags
//!
//! | Feature | Adds |
//! |---|---|
//! | *(always)* | the blocking client, internal login, M2M credentials, downloads |
//! | `validation` (default) | item metadata checked against the version's JSON Schema before a run is submitted ([`Runs::validate`]); about 40 crates (`jsonschema`). Without it, artifact names, external ids and URL lengths are still checked and the platform validates the rest |
//! | `async` | [`nonblocking`], on tokio's blocking pool (tokio with `rt` only) |
//! | `bucket` (default) | [`bucket`]: uploads to the organization's bucket, signed URLs (rusty-s3) |
//! | `slides` (default) | [`slides`]: slide metadata from headers, items from a folder, the metadata CSV; with `bucket`, [`pipeline`] and [`cohort`] |
//! | `redis` | a Redis-shared client-credentials token for fleets of workers |
//! | `platform-verifier` | TLS verification with the operating system's trust store |
//! | `results` | `results`: the cohort table of slide readouts across runs, as an Arrow `RecordBatch`, Parquet or CSV (arrow, parquet, csv) |
//!
//! # Minimum supported Rust version
//!
//! Rust 1.89 (downloads lock their part files with `std::fs::File::lock`). The MSRV is raised
//! only in a minor release, never in a patch release, and the change is noted in the changelog.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod auth;
#[cfg(feature = "bucket")]
pub mod bucket;
pub mod cache;
mod cancel;
pub mod checksum;
mod client;
#[cfg(all(feature = "slides", feature = "bucket"))]
pub mod cohort;
mod error;
mod handlers;
pub mod health;
mod idempotency;
pub mod models;
#[cfg(feature = "async")]
pub mod nonblocking;
pub mod pagination;
mod percent;
#[cfg(all(feature = "slides", feature = "bucket"))]
pub mod pipeline;
mod replace_file;
#[cfg(feature = "results")]
pub mod results;
mod retry;
pub mod sdk_metadata;
pub mod settings;
mod signed_url;
#[cfg(feature = "slides")]
pub mod slides;
mod status;
pub mod submission;
mod time;
pub mod tls;
mod token;
mod transport;

pub use client::{Client, ClientBuilder};
#[doc(hidden)]
pub use client::{external_pool_len, reset_pools};
pub use error::{ApiError, Error, Result, TransportKind};
pub use handlers::run::download::{
    ArtifactFailure, DEFAULT_CHECKSUM_KEY, DownloadEvent, DownloadOptions, DownloadReport,
    ItemFailure, ManifestFile, ManifestItem, RunManifest,
};
pub use handlers::*;
pub use idempotency::idempotency_key_for;
pub use pagination::Pages;
pub use settings::{Environment, OperationSettings, Settings};
pub use status::{
    ERROR_TERMINATION_REASONS, ItemStatus, RunStatus, can_download_item, can_download_run_items,
    item_status, run_progress, run_status,
};
pub use submission::{SubmitOptions, Submitted};
pub use token::TokenProvider;
pub use transport::{Api, user_agent};

// Compiles the README's examples as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

// Compiles the fleet token guide's example.
#[cfg(all(doctest, feature = "redis"))]
#[doc = include_str!("../docs/FLEET_TOKENS.md")]
struct FleetTokensDoctests;

// Compiles the results guides' examples.
#[cfg(all(doctest, feature = "results"))]
mod results_doctests {
    #[doc = include_str!("../docs/QUPATH.md")]
    struct Qupath;
    #[doc = include_str!("../docs/RESULTS.md")]
    struct Results;
}

// Compiles the guides' examples (they use the sandbox, the async facade, slides and the bucket).
#[cfg(all(
    doctest,
    feature = "async",
    feature = "slides",
    feature = "bucket",
    feature = "results"
))]
mod guide_doctests {
    #[doc = include_str!("../docs/ARCHITECTURE.md")]
    struct Architecture;
    #[doc = include_str!("../docs/AUTHENTICATION.md")]
    struct Authentication;
    #[doc = include_str!("../docs/DOWNLOADS.md")]
    struct Downloads;
    #[doc = include_str!("../docs/FROM_SLIDES_TO_RESULTS.md")]
    struct FromSlidesToResults;
    #[doc = include_str!("../docs/MIGRATING_FROM_PYTHON.md")]
    struct MigratingFromPython;
    #[doc = include_str!("../docs/TESTING.md")]
    struct Testing;
    #[doc = include_str!("../docs/SLIDES_IN_YOUR_BUCKET.md")]
    struct SlidesInYourBucket;
    #[doc = include_str!("../docs/COHORTS.md")]
    struct Cohorts;
}
