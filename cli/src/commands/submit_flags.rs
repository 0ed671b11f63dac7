//! The `runs submit` options for SDK metadata, the idempotency key and the health check, and
//! the submission they shape.

use aignostics::models::RunCreationRequest;
use aignostics::sdk_metadata::{GpuType, Interface, Pipeline, ProvisioningMode, SdkMetadata};
use aignostics::{Client, SubmitOptions, Submitted};
use clap::Args;

use crate::context::{Result, note};
use crate::shared::check_before_submit;

/// Tags, note, scheduling, pipeline, idempotency key and health check of `runs submit`.
#[derive(Debug, Default, Args)]
pub struct SubmitFlags {
    /// Tags to find the run by later (`runs list --tags`, the Python SDK's `--tags`),
    /// comma-separated or repeated.
    #[arg(long, value_name = "TAG,...", value_delimiter = ',')]
    pub tags: Vec<String>,
    /// A note stored with the run.
    #[arg(long)]
    pub note: Option<String>,
    /// Requested completion time, RFC 3339 (e.g. 2026-03-04T23:59:59Z); must be in the future.
    #[arg(long, value_name = "TIME")]
    pub due_date: Option<String>,
    /// Hard deadline, RFC 3339; the run may be cancelled when it is exceeded.
    #[arg(long, value_name = "TIME")]
    pub deadline: Option<String>,
    /// GPU type: L4, A100 or RTX_PRO_6000.
    #[arg(long, value_name = "TYPE", value_parser = parse_gpu_type)]
    pub gpu_type: Option<GpuType>,
    /// GPU provisioning mode: SPOT, ON_DEMAND or FLEX_START (FLEX_START runs at most 12 hours).
    #[arg(
        long,
        visible_alias = "gpu-provisioning-mode",
        value_name = "MODE",
        value_parser = parse_provisioning_mode
    )]
    pub provisioning_mode: Option<ProvisioningMode>,
    /// Key that makes the submission idempotent: a run of yours already carrying it is shown
    /// instead of submitting again (default: derived from the application, version and items,
    /// so re-running the same command never starts a second run; pass a new key to do that).
    #[arg(long, value_name = "KEY")]
    pub idempotency_key: Option<String>,
    /// Skip the platform health check before submitting.
    #[arg(long)]
    pub force: bool,
}

fn parse_gpu_type(s: &str) -> std::result::Result<GpuType, String> {
    s.parse().map_err(|e: aignostics::Error| e.to_string())
}

fn parse_provisioning_mode(s: &str) -> std::result::Result<ProvisioningMode, String> {
    s.parse().map_err(|e: aignostics::Error| e.to_string())
}

impl SubmitFlags {
    /// The SDK metadata these flags describe.
    pub fn sdk_metadata(&self) -> SdkMetadata {
        let mut pipeline = Pipeline::new();
        if let Some(t) = self.gpu_type {
            pipeline = pipeline.gpu_type(t);
        }
        if let Some(m) = self.provisioning_mode {
            pipeline = pipeline.gpu_provisioning_mode(m);
        }
        let mut metadata = SdkMetadata::new()
            .interface(Interface::Cli)
            .tags(self.tags.iter().cloned())
            .pipeline(pipeline);
        if let Some(n) = &self.note {
            metadata = metadata.note(n);
        }
        if let Some(d) = &self.due_date {
            metadata = metadata.due_date(d);
        }
        if let Some(d) = &self.deadline {
            metadata = metadata.deadline(d);
        }
        metadata
    }
}

/// Checks the flags without any request (for `--dry-run` too); the SDK metadata they give.
pub fn check(flags: &SubmitFlags) -> Result<SdkMetadata> {
    let metadata = flags.sdk_metadata();
    metadata.validate()?;
    Ok(metadata)
}

/// Checks the flags and the platform's health, then submits with the chosen or derived key.
pub fn submit(
    client: &Client,
    mut request: RunCreationRequest,
    flags: &SubmitFlags,
) -> Result<Submitted> {
    let metadata = check(flags)?;
    if !flags.force {
        check_before_submit(client)?;
    }
    let key = match &flags.idempotency_key {
        Some(key) => key.clone(),
        None => {
            // Pin the version first, so the derived key names what actually runs.
            if request.version_number.is_none() {
                let version = client.application_version(&request.application_id, None)?;
                request.version_number = Some(version.version_number.clone());
            }
            aignostics::idempotency_key_for(&request)
        }
    };
    let options = SubmitOptions::new()
        .idempotency_key(key)
        .sdk_metadata(metadata);
    Ok(client.runs().submit_with(request, &options)?)
}

impl SubmitFlags {
    /// Says that the metadata flags were not applied when the idempotency key found a run
    /// submitted before: the found run keeps its own tags and note.
    pub fn tell_not_applied(&self, run_id: &str) {
        let mut given: Vec<&str> = Vec::new();
        if !self.tags.is_empty() {
            given.push("--tags");
        }
        if self.note.is_some() {
            given.push("--note");
        }
        if self.due_date.is_some() || self.deadline.is_some() {
            given.push("--due-date/--deadline");
        }
        if !given.is_empty() {
            note!(
                "{} not applied: run {run_id} was submitted before and keeps its own metadata \
                 (change it with `aignostics runs metadata {run_id} --set JSON`, or submit anew \
                 with another --idempotency-key)",
                given.join(", ")
            );
        }
    }
}
