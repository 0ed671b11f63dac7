//! `custom_metadata.sdk`: what the SDK records about a submission, in the Python SDK's published
//! format, so runs submitted from Rust and from Python look the same to people and tools.
//!
//! On every [`Runs::submit`](crate::Runs::submit) (unless opted out with
//! [`SubmitOptions::without_sdk_metadata`](crate::SubmitOptions::without_sdk_metadata)) the run's
//! custom metadata gets an `sdk` object valid against the run schema
//! [v0.0.7](https://raw.githubusercontent.com/aignostics/python-sdk/main/docs/source/_static/sdk_run_custom_metadata_schema_v0.0.7.json)
//! and each item's an `sdk` object valid against the item schema v0.0.3:
//!
//! - `schema_version`, `created_at` (kept when the metadata already has one), `updated_at`;
//! - `submission`: the date, the interface (`script`, or `cli` from the `aignostics` binary)
//!   and the initiator (`bridge` when `AIGNOSTICS_BRIDGE_VERSION` is set, `test` under
//!   `PYTEST_CURRENT_TEST`, otherwise `user`);
//! - `user_agent` ([`crate::user_agent`]) and `user` (id, email and organization from
//!   [`Client::me`](crate::Client::me), through the same client and token; left out with a
//!   warning when that call fails);
//! - `ci`: GitHub Actions (`GITHUB_RUN_ID` and the other `GITHUB_*`/`RUNNER_*` variables) and
//!   pytest context, read from the same environment variables as the Python SDK;
//! - what the caller chose with [`SdkMetadata`]: `tags`, `note`, `scheduling` (due date and
//!   deadline) and `pipeline` ([`Pipeline`]: GPU type and provisioning, GPUs per slide,
//!   flex-start duration, CPU provisioning, node acquisition timeout).
//!
//! The caller's own keys beside `sdk` are never touched. Inside a caller-supplied `sdk` object
//! the caller's `tags` are kept (merged with the chosen ones) and so are `note`, `scheduling`
//! and `pipeline`; choosing a different value for one of those as well is an
//! [`Error::InvalidInput`], and so is a key the schema does not know.
//!
//! Runs are found again by tag with [`ListRuns::tags`](crate::ListRuns::tags), which uses the
//! same `custom_metadata` filter field as the Python SDK's `application run list --tags`.
//!
//! ```no_run
//! use aignostics::SubmitOptions;
//! use aignostics::sdk_metadata::{GpuType, Pipeline, ProvisioningMode, SdkMetadata};
//! # let client = aignostics::Client::new()?;
//! # let request = aignostics::models::RunCreationRequest::new("he-tme", []);
//! let metadata = SdkMetadata::new()
//!     .tags(["study-17", "batch-3"])
//!     .note("re-scan of the March slides")
//!     .deadline("2026-12-24T18:00:00Z")
//!     .pipeline(Pipeline::new().gpu_type(GpuType::A100).gpu_provisioning_mode(ProvisioningMode::OnDemand));
//! let submitted = client.runs().submit_with(request, &SubmitOptions::new().sdk_metadata(metadata))?;
//! for run in client.runs().list().tags(["study-17"]).iter() {
//!     println!("{}", run?.run_id);
//! }
//! # Ok::<(), aignostics::Error>(())
//! ```

use std::collections::BTreeSet;
use std::str::FromStr;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{Error, Result};
use crate::models::{MeReadResponse, RunCreationRequest};
use crate::time::{parse_rfc3339, rfc3339_seconds};

/// The version of the run schema written (`sdk.schema_version` of runs).
pub const RUN_SCHEMA_VERSION: &str = "0.0.7";
/// The version of the item schema written (`sdk.schema_version` of items).
pub const ITEM_SCHEMA_VERSION: &str = "0.0.3";
/// The flex-start run duration used when [`ProvisioningMode::FlexStart`] is chosen without one
/// (12 hours, as the Python SDK).
pub const DEFAULT_FLEX_START_MAX_RUN_DURATION_MINUTES: u32 = 720;

/// Keys of a run's `sdk` object the SDK writes itself on every submission.
const RUN_SDK_OWNED: &[&str] = &[
    "schema_version",
    "created_at",
    "updated_at",
    "submission",
    "user_agent",
    "user",
    "ci",
];
/// Keys of a run's `sdk` object a caller may supply.
const RUN_SDK_CALLER: &[&str] = &["tags", "note", "scheduling", "pipeline", "workflow"];
/// Keys of an item's `sdk` object a caller may supply (besides the SDK's own).
const ITEM_SDK_CALLER: &[&str] = &["tags", "platform_bucket"];
/// Keys of an item's `sdk` object the SDK writes.
const ITEM_SDK_OWNED: &[&str] = &["schema_version", "created_at", "updated_at"];

/// GPU types of the pipeline configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum GpuType {
    /// NVIDIA L4 (the platform's default).
    #[serde(rename = "L4")]
    L4,
    /// NVIDIA A100.
    #[serde(rename = "A100")]
    A100,
    /// NVIDIA RTX PRO 6000.
    #[serde(rename = "RTX_PRO_6000")]
    RtxPro6000,
}

impl GpuType {
    /// The wire name, e.g. `RTX_PRO_6000`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::L4 => "L4",
            Self::A100 => "A100",
            Self::RtxPro6000 => "RTX_PRO_6000",
        }
    }
}

impl FromStr for GpuType {
    type Err = Error;

    /// Parses `L4`, `A100` or `RTX_PRO_6000` (any case).
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_uppercase().as_str() {
            "L4" => Ok(Self::L4),
            "A100" => Ok(Self::A100),
            "RTX_PRO_6000" => Ok(Self::RtxPro6000),
            _ => Err(Error::InvalidInput(format!(
                "unknown GPU type '{s}'; expected L4, A100 or RTX_PRO_6000"
            ))),
        }
    }
}

/// How compute nodes are provisioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
#[non_exhaustive]
pub enum ProvisioningMode {
    /// Preemptible capacity (the platform's default).
    Spot,
    /// Guaranteed capacity.
    OnDemand,
    /// Capacity reserved for a bounded duration (GPUs only; see
    /// [`Pipeline::flex_start_max_run_duration_minutes`]).
    FlexStart,
}

impl ProvisioningMode {
    /// The wire name, e.g. `ON_DEMAND`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Spot => "SPOT",
            Self::OnDemand => "ON_DEMAND",
            Self::FlexStart => "FLEX_START",
        }
    }
}

impl FromStr for ProvisioningMode {
    type Err = Error;

    /// Parses `SPOT`, `ON_DEMAND` or `FLEX_START` (any case, `-` for `_` accepted).
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_uppercase().replace('-', "_").as_str() {
            "SPOT" => Ok(Self::Spot),
            "ON_DEMAND" => Ok(Self::OnDemand),
            "FLEX_START" => Ok(Self::FlexStart),
            _ => Err(Error::InvalidInput(format!(
                "unknown provisioning mode '{s}'; expected SPOT, ON_DEMAND or FLEX_START"
            ))),
        }
    }
}

/// The pipeline configuration (`sdk.pipeline`): what the run's compute looks like. Unset fields
/// are left to the platform's defaults.
///
/// ```
/// use aignostics::sdk_metadata::{GpuType, Pipeline, ProvisioningMode};
/// let pipeline = Pipeline::new()
///     .gpu_type(GpuType::L4)
///     .gpu_provisioning_mode(ProvisioningMode::FlexStart)
///     .flex_start_max_run_duration_minutes(90)
///     .max_gpus_per_slide(2);
/// assert!(pipeline.validate().is_ok());
/// assert!(Pipeline::new().max_gpus_per_slide(9).validate().is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct Pipeline {
    gpu_type: Option<GpuType>,
    gpu_provisioning_mode: Option<ProvisioningMode>,
    max_gpus_per_slide: Option<u32>,
    flex_start_max_run_duration_minutes: Option<u32>,
    cpu_provisioning_mode: Option<ProvisioningMode>,
    node_acquisition_timeout_minutes: Option<u32>,
}

impl Pipeline {
    /// No choices: the platform's defaults.
    pub fn new() -> Self {
        Self::default()
    }

    /// The GPU type.
    pub fn gpu_type(mut self, gpu_type: GpuType) -> Self {
        self.gpu_type = Some(gpu_type);
        self
    }

    /// How GPU nodes are provisioned.
    pub fn gpu_provisioning_mode(mut self, mode: ProvisioningMode) -> Self {
        self.gpu_provisioning_mode = Some(mode);
        self
    }

    /// GPUs per slide, 1 to 8.
    pub fn max_gpus_per_slide(mut self, gpus: u32) -> Self {
        self.max_gpus_per_slide = Some(gpus);
        self
    }

    /// Longest run time in minutes (1 to 3600) under [`ProvisioningMode::FlexStart`], which
    /// requires it (defaulting to [`DEFAULT_FLEX_START_MAX_RUN_DURATION_MINUTES`]); any other
    /// GPU provisioning mode forbids it.
    pub fn flex_start_max_run_duration_minutes(mut self, minutes: u32) -> Self {
        self.flex_start_max_run_duration_minutes = Some(minutes);
        self
    }

    /// How CPU nodes are provisioned.
    pub fn cpu_provisioning_mode(mut self, mode: ProvisioningMode) -> Self {
        self.cpu_provisioning_mode = Some(mode);
        self
    }

    /// How long to wait for compute nodes, 1 to 3600 minutes.
    pub fn node_acquisition_timeout_minutes(mut self, minutes: u32) -> Self {
        self.node_acquisition_timeout_minutes = Some(minutes);
        self
    }

    /// Whether nothing was chosen.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }

    /// Checks the schema's rules: GPUs per slide 1–8, durations and timeouts 1–3600 minutes, a
    /// flex-start duration only with [`ProvisioningMode::FlexStart`].
    pub fn validate(&self) -> Result<()> {
        let range = |what: &str, v: Option<u32>, max: u32| match v {
            Some(n) if !(1..=max).contains(&n) => Err(Error::InvalidInput(format!(
                "pipeline: {what} must be between 1 and {max}, got {n}"
            ))),
            _ => Ok(()),
        };
        range("max GPUs per slide", self.max_gpus_per_slide, 8)?;
        range(
            "flex-start max run duration (minutes)",
            self.flex_start_max_run_duration_minutes,
            3600,
        )?;
        range(
            "node acquisition timeout (minutes)",
            self.node_acquisition_timeout_minutes,
            3600,
        )?;
        if self.flex_start_max_run_duration_minutes.is_some()
            && self.gpu_provisioning_mode != Some(ProvisioningMode::FlexStart)
        {
            return Err(Error::InvalidInput(
                "pipeline: a flex-start max run duration needs the GPU provisioning mode \
                 FLEX_START"
                    .into(),
            ));
        }
        Ok(())
    }

    /// The `sdk.pipeline` object, `None` when nothing was chosen.
    fn to_value(&self) -> Option<Value> {
        if self.is_empty() {
            return None;
        }
        let mut pipeline = Map::new();
        let has_gpu = self.gpu_type.is_some()
            || self.gpu_provisioning_mode.is_some()
            || self.max_gpus_per_slide.is_some()
            || self.flex_start_max_run_duration_minutes.is_some();
        if has_gpu {
            let mut gpu = Map::new();
            if let Some(t) = self.gpu_type {
                gpu.insert("gpu_type".into(), json!(t.as_str()));
            }
            if let Some(m) = self.gpu_provisioning_mode {
                gpu.insert("provisioning_mode".into(), json!(m.as_str()));
                if m == ProvisioningMode::FlexStart {
                    let minutes = self
                        .flex_start_max_run_duration_minutes
                        .unwrap_or(DEFAULT_FLEX_START_MAX_RUN_DURATION_MINUTES);
                    gpu.insert("flex_start_max_run_duration_minutes".into(), json!(minutes));
                }
            }
            if let Some(n) = self.max_gpus_per_slide {
                gpu.insert("max_gpus_per_slide".into(), json!(n));
            }
            pipeline.insert("gpu".into(), Value::Object(gpu));
        }
        if let Some(m) = self.cpu_provisioning_mode {
            pipeline.insert("cpu".into(), json!({"provisioning_mode": m.as_str()}));
        }
        if let Some(n) = self.node_acquisition_timeout_minutes {
            pipeline.insert("node_acquisition_timeout_minutes".into(), json!(n));
        }
        Some(Value::Object(pipeline))
    }
}

/// How the SDK was used (`sdk.submission.interface`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Interface {
    /// A program using the library (the default).
    #[default]
    Script,
    /// The `aignostics` command-line tool.
    Cli,
    /// The Launchpad desktop application.
    Launchpad,
}

impl Interface {
    fn as_str(self) -> &'static str {
        match self {
            Self::Script => "script",
            Self::Cli => "cli",
            Self::Launchpad => "launchpad",
        }
    }
}

/// What a submission records in `custom_metadata.sdk` beyond the automatic fields: tags, a
/// note, scheduling and the pipeline configuration. See the [module docs](self).
///
/// ```
/// use aignostics::sdk_metadata::SdkMetadata;
/// let metadata = SdkMetadata::new().tags(["study-17"]).note("first pass").due_date("2030-01-31T12:00:00Z");
/// assert!(metadata.validate().is_ok());
/// assert!(SdkMetadata::new().due_date("next friday").validate().is_err());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[must_use]
pub struct SdkMetadata {
    tags: BTreeSet<String>,
    note: Option<String>,
    due_date: Option<String>,
    deadline: Option<String>,
    pipeline: Pipeline,
    interface: Interface,
}

impl SdkMetadata {
    /// Only the automatic fields.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds tags (`sdk.tags`, a set: duplicates collapse), the handle for
    /// [`ListRuns::tags`](crate::ListRuns::tags).
    pub fn tags<I, S>(mut self, tags: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.tags.extend(tags.into_iter().map(Into::into));
        self
    }

    /// A free-text note (`sdk.note`).
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.note = Some(note.into());
        self
    }

    /// The requested completion time (RFC 3339, in the future); also sent as the run's
    /// `scheduling.due_date` unless the request sets its own scheduling.
    pub fn due_date(mut self, due_date: impl Into<String>) -> Self {
        self.due_date = Some(due_date.into());
        self
    }

    /// The hard deadline (RFC 3339, in the future, not before the due date); also sent as the
    /// run's `scheduling.deadline` unless the request sets its own scheduling.
    pub fn deadline(mut self, deadline: impl Into<String>) -> Self {
        self.deadline = Some(deadline.into());
        self
    }

    /// The pipeline configuration.
    pub fn pipeline(mut self, pipeline: Pipeline) -> Self {
        self.pipeline = pipeline;
        self
    }

    /// The interface recorded in `sdk.submission.interface` (default [`Interface::Script`]).
    pub fn interface(mut self, interface: Interface) -> Self {
        self.interface = interface;
        self
    }

    /// The caller's choices as one JSON value (tags, note, scheduling, pipeline, interface):
    /// what changes the submitted run, as opposed to the circumstances (times, user, CI)
    /// filled in at submission. Part of a derived idempotency key.
    #[cfg(all(feature = "slides", feature = "bucket"))]
    pub(crate) fn chosen(&self) -> Value {
        json!({
            "tags": self.tags,
            "note": self.note,
            "due_date": self.due_date,
            "deadline": self.deadline,
            "pipeline": self.pipeline.to_value(),
            "interface": self.interface.as_str(),
        })
    }

    /// Checks the choices: non-empty tags, RFC 3339 due date and deadline in the future (the
    /// deadline not before the due date), and the [`Pipeline`] rules.
    pub fn validate(&self) -> Result<()> {
        if self.tags.iter().any(|t| t.trim().is_empty()) {
            return Err(Error::InvalidInput("tags must not be empty".into()));
        }
        let now = SystemTime::now();
        let mut parsed = [None, None];
        for (slot, (name, value)) in parsed
            .iter_mut()
            .zip([("due date", &self.due_date), ("deadline", &self.deadline)])
        {
            let Some(text) = value else { continue };
            let t = parse_rfc3339(text).ok_or_else(|| {
                Error::InvalidInput(format!(
                    "{name} '{text}' is not an RFC 3339 timestamp such as 2026-03-04T23:59:59Z"
                ))
            })?;
            if t <= now {
                return Err(Error::InvalidInput(format!(
                    "{name} '{text}' is not in the future"
                )));
            }
            *slot = Some(t);
        }
        if let [Some(due), Some(deadline)] = parsed
            && deadline < due
        {
            return Err(Error::InvalidInput(
                "the deadline is before the due date".into(),
            ));
        }
        self.pipeline.validate()
    }
}

/// Where the automatic fields come from: the user, the environment and the clock.
pub(crate) struct Context<'a> {
    /// The current user, when [`Client::me`](crate::Client::me) answered.
    pub me: Option<&'a MeReadResponse>,
    /// Reads an environment variable.
    pub env: &'a dyn Fn(&str) -> Option<String>,
    /// The submission time.
    pub now: SystemTime,
}

/// Reads the process environment (empty values count as unset, as the Python SDK tests them).
pub(crate) fn process_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Adds the `sdk` objects to the run and its items (and the run's scheduling when the request
/// has none), keeping every caller key; see the [module docs](self).
pub(crate) fn apply(
    request: &mut RunCreationRequest,
    metadata: &SdkMetadata,
    ctx: &Context<'_>,
) -> Result<()> {
    metadata.validate()?;
    let root = object_of(&mut request.custom_metadata, "the run's custom_metadata")?;
    let existing = root.remove("sdk");
    let sdk = run_sdk(existing, metadata, ctx)?;
    root.insert("sdk".into(), sdk);
    if request.scheduling.is_none() && (metadata.due_date.is_some() || metadata.deadline.is_some())
    {
        request.scheduling = Some(crate::models::SchedulingRequest {
            due_date: metadata.due_date.clone(),
            deadline: metadata.deadline.clone(),
        });
    }
    let now = rfc3339_seconds(ctx.now);
    for item in &mut request.items {
        let what = format!("custom_metadata of item '{}'", item.external_id);
        let root = object_of(&mut item.custom_metadata, &what)?;
        let existing = root.remove("sdk");
        let sdk = item_sdk(existing, &now, &item.external_id)?;
        root.insert("sdk".into(), sdk);
    }
    Ok(())
}

/// The custom metadata as an object, creating an empty one when absent.
fn object_of<'a>(slot: &'a mut Option<Value>, what: &str) -> Result<&'a mut Map<String, Value>> {
    let value = slot.get_or_insert_with(|| Value::Object(Map::new()));
    if value.is_null() {
        *value = Value::Object(Map::new());
    }
    value.as_object_mut().ok_or_else(|| {
        Error::InvalidInput(format!(
            "{what} must be a JSON object to carry the SDK metadata (or opt out of it)"
        ))
    })
}

/// A caller-supplied `sdk` object, checked against the keys the schema allows.
fn caller_sdk(
    existing: Option<Value>,
    allowed: &[&str],
    owned: &[&str],
    what: &str,
) -> Result<Map<String, Value>> {
    let map = match existing {
        None | Some(Value::Null) => return Ok(Map::new()),
        Some(Value::Object(map)) => map,
        Some(_) => {
            return Err(Error::InvalidInput(format!(
                "{what}: `sdk` must be a JSON object"
            )));
        }
    };
    if let Some(key) = map
        .keys()
        .find(|k| !allowed.contains(&k.as_str()) && !owned.contains(&k.as_str()))
    {
        return Err(Error::InvalidInput(format!(
            "{what}: `sdk.{key}` is not part of the SDK metadata schema; put your own keys \
             beside `sdk`"
        )));
    }
    Ok(map)
}

fn run_sdk(existing: Option<Value>, metadata: &SdkMetadata, ctx: &Context<'_>) -> Result<Value> {
    let caller = caller_sdk(
        existing,
        RUN_SDK_CALLER,
        RUN_SDK_OWNED,
        "run custom_metadata",
    )?;
    let now = rfc3339_seconds(ctx.now);
    let kept = |key: &str| caller.get(key).filter(|v| v.is_string()).cloned();
    let created_at = kept("created_at").unwrap_or_else(|| json!(now));
    let submission_date = caller
        .get("submission")
        .and_then(|s| s.get("date"))
        .filter(|v| v.is_string())
        .cloned()
        .unwrap_or_else(|| json!(now));

    let mut sdk = Map::new();
    sdk.insert("schema_version".into(), json!(RUN_SCHEMA_VERSION));
    sdk.insert("created_at".into(), created_at);
    sdk.insert("updated_at".into(), json!(now));
    sdk.insert(
        "submission".into(),
        json!({
            "date": submission_date,
            "interface": metadata.interface.as_str(),
            "initiator": initiator(ctx.env),
        }),
    );
    sdk.insert("user_agent".into(), json!(crate::transport::user_agent()));
    if let Some(user) = ctx.me.and_then(user_value) {
        sdk.insert("user".into(), user);
    }
    if let Some(ci) = ci_value(ctx.env) {
        sdk.insert("ci".into(), ci);
    }

    // Tags: the caller's and the chosen ones, as a set.
    let mut tags = metadata.tags.clone();
    match caller.get("tags") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for tag in list {
                let Some(tag) = tag.as_str() else {
                    return Err(Error::InvalidInput(
                        "run custom_metadata: `sdk.tags` must hold strings".into(),
                    ));
                };
                tags.insert(tag.to_string());
            }
        }
        Some(_) => {
            return Err(Error::InvalidInput(
                "run custom_metadata: `sdk.tags` must be an array of strings".into(),
            ));
        }
    }
    if !tags.is_empty() {
        sdk.insert("tags".into(), json!(tags));
    }

    let mut scheduling = Map::new();
    if let Some(d) = &metadata.due_date {
        scheduling.insert("due_date".into(), json!(d));
    }
    if let Some(d) = &metadata.deadline {
        scheduling.insert("deadline".into(), json!(d));
    }
    let chosen = [
        ("note", metadata.note.as_ref().map(|n| json!(n))),
        (
            "scheduling",
            (!scheduling.is_empty()).then_some(Value::Object(scheduling)),
        ),
        ("pipeline", metadata.pipeline.to_value()),
    ];
    for (key, value) in chosen {
        match (caller.get(key), value) {
            (Some(mine), Some(theirs)) if !mine.is_null() && *mine != theirs => {
                return Err(Error::InvalidInput(format!(
                    "run custom_metadata already sets `sdk.{key}`; set it there or in the \
                     submission's SDK metadata, not both"
                )));
            }
            (_, Some(v)) => {
                sdk.insert(key.into(), v);
            }
            (Some(mine), None) => {
                sdk.insert(key.into(), mine.clone());
            }
            (None, None) => {}
        }
    }
    if let Some(workflow) = caller.get("workflow") {
        sdk.insert("workflow".into(), workflow.clone());
    }
    Ok(Value::Object(sdk))
}

fn item_sdk(existing: Option<Value>, now: &str, external_id: &str) -> Result<Value> {
    let what = format!("custom_metadata of item '{external_id}'");
    let caller = caller_sdk(existing, ITEM_SDK_CALLER, ITEM_SDK_OWNED, &what)?;
    let mut sdk = Map::new();
    sdk.insert("schema_version".into(), json!(ITEM_SCHEMA_VERSION));
    let created_at = caller
        .get("created_at")
        .filter(|v| v.is_string())
        .cloned()
        .unwrap_or_else(|| json!(now));
    sdk.insert("created_at".into(), created_at);
    sdk.insert("updated_at".into(), json!(now));
    for key in ITEM_SDK_CALLER {
        if let Some(v) = caller.get(*key) {
            sdk.insert((*key).into(), v.clone());
        }
    }
    Ok(Value::Object(sdk))
}

/// `bridge`, `test` or `user`, from the same variables as the Python SDK.
fn initiator(env: &dyn Fn(&str) -> Option<String>) -> &'static str {
    if env("AIGNOSTICS_BRIDGE_VERSION").is_some() {
        "bridge"
    } else if env("PYTEST_CURRENT_TEST").is_some() {
        "test"
    } else {
        "user"
    }
}

/// `sdk.user`; the schema requires all four fields, so a profile missing one is left out.
fn user_value(me: &MeReadResponse) -> Option<Value> {
    let email = me.user.email.as_deref()?;
    let org_name = me.organization.name.as_deref()?;
    Some(json!({
        "organization_id": me.organization.id,
        "organization_name": org_name,
        "user_email": email,
        "user_id": me.user.id,
    }))
}

/// `sdk.ci`: GitHub Actions and pytest context, when present.
fn ci_value(env: &dyn Fn(&str) -> Option<String>) -> Option<Value> {
    let mut ci = Map::new();
    if let Some(run_id) = env("GITHUB_RUN_ID") {
        let server = env("GITHUB_SERVER_URL").unwrap_or_else(|| "https://github.com".into());
        let repository = env("GITHUB_REPOSITORY").unwrap_or_default();
        let mut github = Map::new();
        for (key, var) in [
            ("action", "GITHUB_ACTION"),
            ("job", "GITHUB_JOB"),
            ("ref", "GITHUB_REF"),
            ("ref_name", "GITHUB_REF_NAME"),
            ("ref_type", "GITHUB_REF_TYPE"),
            ("run_attempt", "GITHUB_RUN_ATTEMPT"),
            ("run_number", "GITHUB_RUN_NUMBER"),
            ("runner_arch", "RUNNER_ARCH"),
            ("runner_os", "RUNNER_OS"),
            ("sha", "GITHUB_SHA"),
            ("workflow", "GITHUB_WORKFLOW"),
            ("workflow_ref", "GITHUB_WORKFLOW_REF"),
        ] {
            if let Some(v) = env(var) {
                github.insert(key.into(), json!(v));
            }
        }
        github.insert(
            "run_url".into(),
            json!(format!("{server}/{repository}/actions/runs/{run_id}")),
        );
        github.insert("repository".into(), json!(repository));
        github.insert("run_id".into(), json!(run_id));
        ci.insert("github".into(), Value::Object(github));
    }
    if let Some(test) = env("PYTEST_CURRENT_TEST") {
        let mut pytest = Map::new();
        pytest.insert("current_test".into(), json!(test));
        if let Some(markers) = env("PYTEST_MARKERS") {
            pytest.insert(
                "markers".into(),
                json!(markers.split(',').collect::<Vec<_>>()),
            );
        }
        ci.insert("pytest".into(), Value::Object(pytest));
    }
    (!ci.is_empty()).then_some(Value::Object(ci))
}

/// A JSONPath string literal. SQL/JSON path strings take JSON's escapes, so JSON's own
/// encoding of the string is one (quotes, backslashes and control characters escaped).
pub(crate) fn json_path_string(s: &str) -> String {
    Value::String(s.to_string()).to_string()
}

/// The `custom_metadata` filter matching runs whose `sdk.tags` hold every one of `tags` (one
/// path expression: the platform rejects `&&` between separate ones), as
/// [`ListRuns::tags`](crate::ListRuns::tags) sends it; `None` for no tags.
///
/// ```
/// let tags = ["study-17".to_string()].into_iter().collect();
/// let filter = aignostics::sdk_metadata::tags_filter(&tags).unwrap();
/// assert!(filter.contains("\"study-17\""));
/// ```
pub fn tags_filter(tags: &BTreeSet<String>) -> Option<String> {
    let mut tags = tags.iter();
    let first = tags.next()?;
    let rest: Vec<_> = tags.collect();
    if rest.is_empty() {
        return Some(format!(
            "$.sdk.tags[*] ? (@ == {})",
            json_path_string(first)
        ));
    }
    let conditions: Vec<String> = std::iter::once(first)
        .chain(rest)
        .map(|t| format!("@.tags[*] == {}", json_path_string(t)))
        .collect();
    Some(format!("$.sdk ? ({})", conditions.join(" && ")))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use super::*;
    use crate::models::{InputArtifactCreationRequest, ItemCreationRequest};

    fn schema(name: &str) -> jsonschema::Validator {
        let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap();
        jsonschema::validator_for(&serde_json::from_str(&text).unwrap()).unwrap()
    }

    fn run_schema() -> jsonschema::Validator {
        schema("sdk_run_custom_metadata_schema_v0.0.7.json")
    }

    fn item_schema() -> jsonschema::Validator {
        schema("sdk_item_custom_metadata_schema_v0.0.3.json")
    }

    fn me() -> MeReadResponse {
        serde_json::from_value(json!({
            "user": {"id": "auth0|1", "email": "a@example.com"},
            "organization": {
                "id": "org_1", "name": "lab",
                "aignostics_bucket_hmac_access_key_id": "k", "aignostics_bucket_hmac_secret_access_key": "s",
                "aignostics_bucket_name": "b", "aignostics_bucket_protocol": "gs",
                "aignostics_logfire_token": "t", "aignostics_sentry_dsn": "d"
            }
        }))
        .unwrap()
    }

    fn request(custom: Option<Value>) -> RunCreationRequest {
        let artifact = InputArtifactCreationRequest::new("wsi", "https://x/y", json!({}));
        let mut item = ItemCreationRequest::new("slide-1", [artifact]);
        item.custom_metadata = Some(json!({"mine": 1, "sdk": {"tags": ["x"]}}));
        let mut r = RunCreationRequest::new("he-tme", [item]);
        r.custom_metadata = custom;
        r
    }

    fn env_of(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name: &str| map.get(name).cloned()
    }

    fn errors(v: &jsonschema::Validator, value: &Value) -> Vec<String> {
        v.iter_errors(value).map(|e| e.to_string()).collect()
    }

    // Proves everything written into `sdk`, with every option and CI context set, is valid
    // against the published run and item schemas, and caller keys survive. (FR-64)
    #[test]
    fn full_metadata_is_valid_against_the_published_schemas() {
        let env = env_of(&[
            ("GITHUB_RUN_ID", "42"),
            ("GITHUB_REPOSITORY", "lab/pipeline"),
            ("GITHUB_SHA", "abc"),
            ("RUNNER_OS", "Linux"),
            ("PYTEST_CURRENT_TEST", "test_x.py::test_y (call)"),
            ("PYTEST_MARKERS", "e2e,long"),
        ]);
        let me = me();
        let ctx = Context {
            me: Some(&me),
            env: &env,
            now: SystemTime::now(),
        };
        let later = rfc3339_seconds(SystemTime::now() + Duration::from_secs(3600));
        let latest = rfc3339_seconds(SystemTime::now() + Duration::from_secs(7200));
        let metadata = SdkMetadata::new()
            .tags(["a", "b", "a"])
            .note("n")
            .due_date(&later)
            .deadline(&latest)
            .interface(Interface::Cli)
            .pipeline(
                Pipeline::new()
                    .gpu_type(GpuType::RtxPro6000)
                    .gpu_provisioning_mode(ProvisioningMode::FlexStart)
                    .max_gpus_per_slide(8)
                    .cpu_provisioning_mode(ProvisioningMode::OnDemand)
                    .node_acquisition_timeout_minutes(3600),
            );
        let mut r = request(Some(json!({"study": "s1"})));
        apply(&mut r, &metadata, &ctx).unwrap();
        let custom = r.custom_metadata.as_ref().unwrap();
        assert_eq!(custom["study"], "s1");
        let sdk = &custom["sdk"];
        assert_eq!(errors(&run_schema(), sdk), Vec::<String>::new());
        assert_eq!(sdk["tags"], json!(["a", "b"]));
        assert_eq!(sdk["submission"]["interface"], "cli");
        assert_eq!(sdk["submission"]["initiator"], "test");
        assert_eq!(sdk["user"]["user_email"], "a@example.com");
        assert_eq!(
            sdk["ci"]["github"]["run_url"],
            "https://github.com/lab/pipeline/actions/runs/42"
        );
        assert_eq!(sdk["ci"]["pytest"]["markers"], json!(["e2e", "long"]));
        assert_eq!(
            sdk["pipeline"]["gpu"]["flex_start_max_run_duration_minutes"],
            DEFAULT_FLEX_START_MAX_RUN_DURATION_MINUTES
        );
        assert_eq!(
            r.scheduling.as_ref().unwrap().deadline.as_deref(),
            Some(latest.as_str())
        );
        let item = r.items[0].custom_metadata.as_ref().unwrap();
        assert_eq!(item["mine"], 1);
        assert_eq!(item["sdk"]["tags"], json!(["x"]));
        assert_eq!(errors(&item_schema(), &item["sdk"]), Vec::<String>::new());
    }

    // Proves the minimal metadata (no user, no CI) is valid too, and that a re-submission keeps
    // `created_at` and the submission date while `updated_at` moves on. (FR-64)
    #[test]
    fn created_at_is_kept_and_minimal_metadata_is_valid() {
        let env = env_of(&[("AIGNOSTICS_BRIDGE_VERSION", "1")]);
        let ctx = Context {
            me: None,
            env: &env,
            now: SystemTime::UNIX_EPOCH + Duration::from_secs(2_000_000_000),
        };
        let old = json!({"sdk": {"created_at": "2020-01-01T00:00:00Z", "submission": {"date": "2020-01-01T00:00:00Z", "interface": "script", "initiator": "user"}, "note": "kept"}});
        let mut r = request(Some(old));
        apply(&mut r, &SdkMetadata::new(), &ctx).unwrap();
        let sdk = &r.custom_metadata.as_ref().unwrap()["sdk"];
        assert_eq!(errors(&run_schema(), sdk), Vec::<String>::new());
        assert_eq!(sdk["created_at"], "2020-01-01T00:00:00Z");
        assert_eq!(sdk["submission"]["date"], "2020-01-01T00:00:00Z");
        assert_eq!(sdk["submission"]["initiator"], "bridge");
        assert_eq!(sdk["updated_at"], "2033-05-18T03:33:20Z");
        assert_eq!(sdk["note"], "kept");
        assert!(sdk.get("user").is_none() && sdk.get("ci").is_none());
    }

    // Proves conflicting or unknown caller keys and non-object metadata are refused instead of
    // being overwritten or sent invalid. (FR-64)
    #[test]
    fn caller_keys_are_never_overwritten() {
        let env = env_of(&[]);
        let ctx = Context {
            me: None,
            env: &env,
            now: SystemTime::now(),
        };
        let mut r = request(Some(json!({"sdk": {"note": "mine"}})));
        let err = apply(&mut r, &SdkMetadata::new().note("other"), &ctx).unwrap_err();
        assert!(err.to_string().contains("sdk.note"), "{err}");
        let mut r = request(Some(json!({"sdk": {"colour": "red"}})));
        let err = apply(&mut r, &SdkMetadata::new(), &ctx).unwrap_err();
        assert!(err.to_string().contains("sdk.colour"), "{err}");
        let mut r = request(Some(json!(["not", "an", "object"])));
        assert!(apply(&mut r, &SdkMetadata::new(), &ctx).is_err());
        let mut r = request(Some(json!({"sdk": {"tags": ["t1"]}})));
        apply(&mut r, &SdkMetadata::new().tags(["t2"]), &ctx).unwrap();
        assert_eq!(
            r.custom_metadata.unwrap()["sdk"]["tags"],
            json!(["t1", "t2"])
        );
    }

    // Proves the schema's pipeline and scheduling rules are enforced before sending. (FR-64)
    #[test]
    fn pipeline_and_scheduling_rules() {
        assert!(Pipeline::new().max_gpus_per_slide(0).validate().is_err());
        assert!(
            Pipeline::new()
                .node_acquisition_timeout_minutes(3601)
                .validate()
                .is_err()
        );
        assert!(
            Pipeline::new()
                .gpu_provisioning_mode(ProvisioningMode::Spot)
                .flex_start_max_run_duration_minutes(10)
                .validate()
                .is_err()
        );
        assert!(
            SdkMetadata::new()
                .due_date("2001-01-01T00:00:00Z")
                .validate()
                .is_err()
        );
        let soon = rfc3339_seconds(SystemTime::now() + Duration::from_secs(600));
        let later = rfc3339_seconds(SystemTime::now() + Duration::from_secs(1200));
        assert!(
            SdkMetadata::new()
                .due_date(&later)
                .deadline(&soon)
                .validate()
                .is_err()
        );
        assert!(SdkMetadata::new().tags([" "]).validate().is_err());
        assert_eq!(
            "rtx_pro_6000".parse::<GpuType>().unwrap(),
            GpuType::RtxPro6000
        );
        assert_eq!(
            "on-demand".parse::<ProvisioningMode>().unwrap(),
            ProvisioningMode::OnDemand
        );
        assert!("H100".parse::<GpuType>().is_err());
    }

    // Proves tag filters escape quotes and use one path expression for several tags. (FR-64)
    #[test]
    fn tag_filters() {
        let one: BTreeSet<String> = ["a\"b".to_string()].into();
        assert_eq!(
            tags_filter(&one).unwrap(),
            r#"$.sdk.tags[*] ? (@ == "a\"b")"#
        );
        let two: BTreeSet<String> = ["x".to_string(), "y".to_string()].into();
        assert_eq!(
            tags_filter(&two).unwrap(),
            r#"$.sdk ? (@.tags[*] == "x" && @.tags[*] == "y")"#
        );
        assert_eq!(tags_filter(&BTreeSet::new()), None);
    }
}
