//! The sandbox's mutable state: tokens, runs and their progress, share tokens and grants.
//!
//! Run progress is not driven by a thread: every read computes states from the time elapsed
//! since submission, so a run is always consistent with the clock.

use std::collections::HashMap;
use std::time::{Duration, Instant, SystemTime};

use parking_lot::Mutex;
use serde_json::{Value, json};

use super::RecordedRequest;
use super::catalog::Catalog;
use super::content::{Generated, content_seed};
use super::faults::FaultQueue;
use super::http::{Req, Resp};
use super::users::{OAuthClient, SandboxUser};
use crate::util::crc32c_b64 as crc32c_base64;
use crate::util::rfc3339_millis as rfc3339;
use aignostics::models::{
    ArtifactOutput, ArtifactState, ArtifactTerminationReason, GrantReadResponse,
    InputArtifactResultReadResponse, ItemOutput, ItemResultReadResponse, ItemState,
    ItemTerminationReason, OutputArtifactResultReadResponse, ResourceType, RunItemStatistics,
    RunOutput, RunReadResponse, RunState, RunTerminationReason, SchedulingResponse,
    ShareTokenReadResponse, SubjectType,
};

/// A device login waiting for (or given) confirmation at `/activate`.
#[derive(Debug, Clone)]
pub(crate) struct DeviceCode {
    pub(crate) user_code: String,
    pub(crate) confirmed: bool,
    pub(crate) expires: Instant,
}

/// Fixed settings of one sandbox.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub processing_time: Duration,
    pub pending_time: Duration,
    pub artifact_size: u64,
    /// Cells in each Atlas-shaped result.
    pub atlas_cells: usize,
    /// Whether each submitted input is fetched and checked against its CRC32C.
    pub fetch_inputs: bool,
    pub token_lifetime: Duration,
    pub audience: Option<String>,
    pub signed_url_lifetime: Duration,
}

/// Everything the request handlers share.
pub(crate) struct Shared {
    pub config: Config,
    /// The catalog as it is now (`Sandbox::release` adds versions).
    pub catalog_now: Mutex<std::sync::Arc<Catalog>>,
    pub state: Mutex<State>,
    /// CRC32C (base64) per output artifact id, computed once.
    pub checksums: Mutex<HashMap<String, String>>,
    /// The bytes of Atlas-shaped artifacts per output artifact id, rendered once.
    pub atlas: Mutex<HashMap<String, std::sync::Arc<Vec<u8>>>>,
    pub faults: Mutex<FaultQueue>,
    pub log: Mutex<Vec<RecordedRequest>>,
    pub base_url: String,
    /// Key of the storage URL signatures.
    pub secret: String,
    /// What `GET /api/v1/health` reports.
    pub health: Mutex<super::SandboxHealth>,
    /// The S3-compatible bucket's objects and uploads.
    pub bucket: super::bucket::Store,
    /// External ids whose items fail in runs submitted from now on (`Sandbox::fail_items`).
    pub failing: Mutex<std::collections::HashSet<String>>,
}

impl Shared {
    /// The catalog as it is now.
    pub(crate) fn catalog(&self) -> std::sync::Arc<Catalog> {
        self.catalog_now.lock().clone()
    }

    /// The user behind the request's bearer token, or FastAPI's 401.
    pub(crate) fn authenticate(&self, req: &Req) -> Result<SandboxUser, Resp> {
        let unauthorized =
            |message: &str| Resp::detail(401, message).header("WWW-Authenticate", "Bearer");
        let header = req.header("authorization").unwrap_or_default();
        let token = match header.split_once(' ') {
            Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => token.trim(),
            _ => return Err(unauthorized("Not authenticated")),
        };
        let state = self.state.lock();
        match state.tokens.get(token) {
            Some(entry) if entry.expires.is_none_or(|e| Instant::now() < e) => {
                Ok(entry.user.clone())
            }
            Some(_) => Err(unauthorized("Token has expired")),
            None => Err(unauthorized("Invalid authentication credentials")),
        }
    }

    /// The bytes of an Atlas-shaped output artifact (see `atlas.rs`); `None` for the other
    /// artifacts, whose content is generated.
    pub(crate) fn atlas_bytes(
        &self,
        item: &ItemRec,
        artifact: &ArtifactRec,
    ) -> Option<std::sync::Arc<Vec<u8>>> {
        if !super::atlas::is_atlas(&artifact.name) {
            return None;
        }
        if let Some(bytes) = self.atlas.lock().get(&artifact.id) {
            return Some(bytes.clone());
        }
        let source = super::atlas::Item {
            id: &item.id,
            external_id: &item.external_id,
            metadata: item.inputs.first().map(|i| &i.metadata),
        };
        let bytes = std::sync::Arc::new(super::atlas::render(
            &artifact.name,
            &source,
            self.config.atlas_cells,
        )?);
        self.atlas.lock().insert(artifact.id.clone(), bytes.clone());
        Some(bytes)
    }

    /// The CRC32C (base64) of an artifact's generated content.
    pub(crate) fn checksum(&self, run_id: &str, item_id: &str, artifact_id: &str) -> String {
        if let Some(c) = self.checksums.lock().get(artifact_id) {
            return c.clone();
        }
        let crc = crc32c_base64(self.content(run_id, item_id, artifact_id, 0, None).crc32c());
        self.checksums
            .lock()
            .insert(artifact_id.to_string(), crc.clone());
        crc
    }

    /// The artifact's bytes `[start, end)` (`end` defaults to the artifact size).
    pub(crate) fn content(
        &self,
        run_id: &str,
        item_id: &str,
        artifact_id: &str,
        start: u64,
        end: Option<u64>,
    ) -> Generated {
        Generated::new(
            content_seed(&[run_id, item_id, artifact_id]),
            start,
            end.unwrap_or(self.config.artifact_size),
        )
    }
}

/// A bearer token and whose it is.
#[derive(Debug, Clone)]
pub(crate) struct TokenEntry {
    pub user: SandboxUser,
    pub expires: Option<Instant>,
}

#[derive(Debug, Clone)]
pub(crate) struct ArtifactRec {
    pub id: String,
    pub name: String,
    pub mime_type: String,
}

#[derive(Debug, Clone)]
pub(crate) struct InputRec {
    pub id: String,
    pub name: String,
    pub metadata: Value,
    pub download_url: String,
}

#[derive(Debug, Clone)]
pub(crate) struct ItemRec {
    pub id: String,
    pub external_id: String,
    pub custom_metadata: Option<Value>,
    pub checksum: Option<String>,
    pub inputs: Vec<InputRec>,
    pub artifacts: Vec<ArtifactRec>,
    /// Why its input could not be used, when the sandbox fetched it (`fetch_inputs`).
    pub input_error: Option<String>,
}

impl ItemRec {
    fn fails(&self) -> bool {
        self.external_id.starts_with("fail-") || self.input_error.is_some()
    }
}

#[derive(Debug, Clone)]
pub(crate) struct RunRec {
    pub id: String,
    pub application_id: String,
    pub version_number: String,
    pub owner: SandboxUser,
    pub submitted_at: SystemTime,
    pub started: Instant,
    pub pending: Duration,
    pub total: Duration,
    pub custom_metadata: Option<Value>,
    pub checksum: Option<String>,
    pub scheduling: Option<SchedulingResponse>,
    pub items: Vec<ItemRec>,
    /// Time since submission at which the run was cancelled.
    pub canceled_at: Option<Duration>,
    pub artifacts_deleted: bool,
}

/// Where an item is at a given time.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Phase {
    Pending,
    Processing,
    Done {
        at: Duration,
        reason: ItemTerminationReason,
    },
}

impl RunRec {
    /// Items run one after the other, evenly spread over the processing time after the
    /// pending time; a cancel skips every item not finished by then.
    pub(crate) fn phase(&self, index: usize, now: Instant) -> Phase {
        let elapsed = now.saturating_duration_since(self.started);
        let n = u32::try_from(self.items.len()).unwrap_or(u32::MAX).max(1);
        let i = u32::try_from(index).unwrap_or(u32::MAX);
        let span = self.total.saturating_sub(self.pending);
        let start = self.pending + span * i / n;
        let end = self.pending + span * (i + 1) / n;
        let natural = if self.items[index].fails() {
            ItemTerminationReason::UserError
        } else {
            ItemTerminationReason::Succeeded
        };
        if let Some(canceled) = self.canceled_at.filter(|c| *c <= elapsed) {
            return if end <= canceled {
                Phase::Done {
                    at: end,
                    reason: natural,
                }
            } else {
                Phase::Done {
                    at: canceled,
                    reason: ItemTerminationReason::Skipped,
                }
            };
        }
        if elapsed >= end {
            Phase::Done {
                at: end,
                reason: natural,
            }
        } else if elapsed >= start {
            Phase::Processing
        } else {
            Phase::Pending
        }
    }

    pub(crate) fn is_terminated(&self, now: Instant) -> bool {
        (0..self.items.len()).all(|i| matches!(self.phase(i, now), Phase::Done { .. }))
    }

    /// `GET /v1/runs/{id}` as of `now`.
    pub(crate) fn view(&self, now: Instant) -> RunReadResponse {
        let phases: Vec<Phase> = (0..self.items.len()).map(|i| self.phase(i, now)).collect();
        let count = |f: &dyn Fn(&Phase) -> bool| phases.iter().filter(|p| f(p)).count() as i64;
        let done_with = |r: ItemTerminationReason| {
            count(&|p| matches!(p, Phase::Done { reason, .. } if *reason == r))
        };
        let statistics = RunItemStatistics {
            item_count: phases.len() as i64,
            item_pending_count: count(&|p| *p == Phase::Pending),
            item_processing_count: count(&|p| *p == Phase::Processing),
            item_user_error_count: done_with(ItemTerminationReason::UserError),
            item_system_error_count: done_with(ItemTerminationReason::SystemError),
            item_skipped_count: done_with(ItemTerminationReason::Skipped),
            item_succeeded_count: done_with(ItemTerminationReason::Succeeded),
        };
        let finished_at: Vec<Duration> = phases
            .iter()
            .filter_map(|p| match p {
                Phase::Done { at, .. } => Some(*at),
                _ => None,
            })
            .collect();
        let terminated = finished_at.len() == phases.len();
        let state = if terminated {
            RunState::Terminated
        } else if finished_at.is_empty() && statistics.item_processing_count == 0 {
            RunState::Pending
        } else {
            RunState::Processing
        };
        let output = match statistics.item_succeeded_count {
            0 => RunOutput::None,
            n if n == statistics.item_count => RunOutput::Full,
            _ => RunOutput::Partial,
        };
        let termination_reason = terminated.then(|| {
            if self.canceled_at.is_some() {
                RunTerminationReason::CanceledByUser
            } else {
                RunTerminationReason::AllItemsProcessed
            }
        });
        let terminated_at = terminated
            .then(|| finished_at.iter().max().copied().unwrap_or_default())
            .map(|at| rfc3339(self.submitted_at + at));
        RunReadResponse {
            run_id: self.id.clone(),
            application_id: self.application_id.clone(),
            version_number: self.version_number.clone(),
            state,
            output,
            termination_reason,
            error_code: None,
            error_message: None,
            statistics,
            custom_metadata: self.custom_metadata.clone(),
            custom_metadata_checksum: self.checksum.clone(),
            submitted_at: rfc3339(self.submitted_at),
            submitted_by: self.owner.id.clone(),
            organization_id: Some(self.owner.organization_id.clone()),
            terminated_at,
            num_preceding_items_org: (!terminated).then_some(0),
            num_preceding_items_platform: (!terminated).then_some(0),
            scheduling: self.scheduling.clone(),
        }
    }

    /// One item of `GET /v1/runs/{id}/items` as of `now`.
    pub(crate) fn item_view(
        &self,
        index: usize,
        now: Instant,
        shared: &Shared,
    ) -> ItemResultReadResponse {
        let item = &self.items[index];
        let phase = self.phase(index, now);
        let queue_position = (phase == Phase::Pending).then(|| {
            (0..index)
                .filter(|i| self.phase(*i, now) == Phase::Pending)
                .count() as i64
        });
        let artifact =
            |a: &ArtifactRec, state, reason, output, metadata| OutputArtifactResultReadResponse {
                output_artifact_id: a.id.clone(),
                name: a.name.clone(),
                metadata,
                state,
                termination_reason: reason,
                output,
                error_code: None,
                error_message: None,
                download_url: None,
            };
        let unfinished = |state: ArtifactState| {
            item.artifacts
                .iter()
                .map(|a| artifact(a, state.clone(), None, ArtifactOutput::None, None))
                .collect()
        };
        let (state, output, reason, terminated_at, outputs) = match &phase {
            Phase::Pending => (
                ItemState::Pending,
                ItemOutput::None,
                None,
                None,
                unfinished(ArtifactState::Pending),
            ),
            Phase::Processing => (
                ItemState::Processing,
                ItemOutput::None,
                None,
                None,
                unfinished(ArtifactState::Processing),
            ),
            Phase::Done { at, reason } => {
                let outputs = match reason {
                    ItemTerminationReason::Succeeded => item
                        .artifacts
                        .iter()
                        .map(|a| {
                            if self.artifacts_deleted {
                                artifact(
                                    a,
                                    ArtifactState::Terminated,
                                    Some(ArtifactTerminationReason::Succeeded),
                                    ArtifactOutput::DeletedByUser,
                                    None,
                                )
                            } else {
                                let (crc, size) = match shared.atlas_bytes(item, a) {
                                    Some(bytes) => (
                                        crate::util::crc32c_b64(crc32c::crc32c(&bytes)),
                                        bytes.len() as u64,
                                    ),
                                    None => (
                                        shared.checksum(&self.id, &item.id, &a.id),
                                        shared.config.artifact_size,
                                    ),
                                };
                                let metadata = json!({
                                    "checksum_base64_crc32c": crc,
                                    "media_type": a.mime_type,
                                    "size_bytes": size,
                                });
                                artifact(
                                    a,
                                    ArtifactState::Terminated,
                                    Some(ArtifactTerminationReason::Succeeded),
                                    ArtifactOutput::Available,
                                    Some(metadata),
                                )
                            }
                        })
                        .collect(),
                    ItemTerminationReason::Skipped => item
                        .artifacts
                        .iter()
                        .map(|a| {
                            artifact(
                                a,
                                ArtifactState::Terminated,
                                Some(ArtifactTerminationReason::Skipped),
                                ArtifactOutput::None,
                                None,
                            )
                        })
                        .collect(),
                    _ => Vec::new(),
                };
                let output = if *reason == ItemTerminationReason::Succeeded {
                    ItemOutput::Full
                } else {
                    ItemOutput::None
                };
                (
                    ItemState::Terminated,
                    output,
                    Some(reason.clone()),
                    Some(rfc3339(self.submitted_at + *at)),
                    outputs,
                )
            }
        };
        let (error_code, error_message) = match reason {
            Some(ItemTerminationReason::UserError) if item.input_error.is_some() => (
                Some("SANDBOX_INPUT_UNUSABLE".to_string()),
                item.input_error.clone(),
            ),
            Some(ItemTerminationReason::UserError) => (
                Some("SANDBOX_INVALID_INPUT".to_string()),
                Some(
                    "The input slide could not be processed (sandbox: external ids starting \
                     with 'fail-' end with USER_ERROR)."
                        .to_string(),
                ),
            ),
            _ => (None, None),
        };
        ItemResultReadResponse {
            item_id: item.id.clone(),
            external_id: item.external_id.clone(),
            custom_metadata: item.custom_metadata.clone(),
            custom_metadata_checksum: item.checksum.clone(),
            queue_position_org: queue_position,
            queue_position_platform: queue_position,
            state,
            output,
            termination_reason: reason,
            error_code,
            error_message,
            terminated_at,
            input_artifacts: item
                .inputs
                .iter()
                .map(|i| InputArtifactResultReadResponse {
                    input_artifact_id: i.id.clone(),
                    name: i.name.clone(),
                    metadata: Some(i.metadata.clone()),
                    download_url: Some(i.download_url.clone()),
                })
                .collect(),
            output_artifacts: outputs,
        }
    }
}

/// A share token with its secret.
#[derive(Debug, Clone)]
pub(crate) struct ShareTokenRec {
    pub id: String,
    pub secret: String,
    pub created_by: String,
    pub created_at: String,
    pub expires_at: Option<String>,
    pub expires: Option<SystemTime>,
    pub revoked: bool,
}

impl ShareTokenRec {
    pub(crate) fn view(&self) -> ShareTokenReadResponse {
        ShareTokenReadResponse {
            share_token_id: self.id.clone(),
            created_at: self.created_at.clone(),
            expires_at: self.expires_at.clone(),
            revoked: self.revoked,
        }
    }

    fn usable(&self) -> bool {
        !self.revoked && self.expires.is_none_or(|e| SystemTime::now() < e)
    }
}

/// All mutable state.
#[derive(Debug, Default)]
pub(crate) struct State {
    pub tokens: HashMap<String, TokenEntry>,
    pub refresh_tokens: HashMap<String, SandboxUser>,
    pub clients: Vec<OAuthClient>,
    pub runs: Vec<RunRec>,
    pub share_tokens: Vec<ShareTokenRec>,
    pub grants: Vec<GrantReadResponse>,
    /// Device-flow logins by device code (see `oauth.rs`).
    pub device_codes: HashMap<String, DeviceCode>,
}

impl State {
    pub(crate) fn run(&self, run_id: &str) -> Option<&RunRec> {
        self.runs.iter().find(|r| r.id == run_id)
    }

    pub(crate) fn run_mut(&mut self, run_id: &str) -> Option<&mut RunRec> {
        self.runs.iter_mut().find(|r| r.id == run_id)
    }

    /// Every user known by a token, refresh token or client.
    pub(crate) fn known_users(&self) -> Vec<SandboxUser> {
        let mut users: Vec<SandboxUser> = self
            .tokens
            .values()
            .map(|t| t.user.clone())
            .chain(self.refresh_tokens.values().cloned())
            .chain(self.clients.iter().map(|c| c.user.clone()))
            .collect();
        users.sort_by(|a, b| a.id.cmp(&b.id));
        users.dedup_by(|a, b| a.id == b.id);
        users
    }

    fn granted(&self, run_id: &str, subject_type: &SubjectType, subject_id: &str) -> bool {
        self.grants.iter().any(|g| {
            !g.revoked
                && g.resource_type == ResourceType::Run
                && g.resource_id == run_id
                && &g.subject_type == subject_type
                && g.subject_id == subject_id
        })
    }

    /// Whether `user` may read the run: its owner, a user or organization with a grant, or
    /// anybody presenting a usable share token that has a grant.
    pub(crate) fn can_read(
        &self,
        run: &RunRec,
        user: &SandboxUser,
        share_token: Option<&str>,
    ) -> bool {
        if run.owner.id == user.id
            || self.granted(&run.id, &SubjectType::User, &user.id)
            || self.granted(
                &run.id,
                &SubjectType::OrganizationUser,
                &user.organization_id,
            )
            || self.granted(
                &run.id,
                &SubjectType::OrganizationAdmin,
                &user.organization_id,
            )
        {
            return true;
        }
        share_token.is_some_and(|secret| {
            self.share_tokens.iter().any(|t| {
                t.usable()
                    && super::signing::constant_time_eq(&t.secret, secret)
                    && self.granted(&run.id, &SubjectType::ShareToken, &t.id)
            })
        })
    }
}
