//! Runs, items, artifacts and custom metadata.

use std::collections::HashSet;
use std::time::{Instant, SystemTime};

use serde_json::{Value, json};

use super::canonical::metadata_checksum;
use super::http::{Answer, Req, Resp, enum_value, json_body, paging, sorted_page, uuid_value};
use super::ids::{derived_uuid, new_uuid};
use super::jsonpath::JsonPathFilter;
use super::state::{ArtifactRec, InputRec, ItemRec, Phase, RunRec, Shared, State};
use super::storage;
use super::users::SandboxUser;
use crate::util::parse_rfc3339;
use aignostics::models::{
    CustomMetadataUpdateRequest, CustomMetadataUpdateResponse, ItemTerminationReason,
    OutputArtifactScope, OutputArtifactVisibility, RunCreationRequest, RunCreationResponse,
    SchedulingResponse,
};

const RUN_SORT: &[&str] = &[
    "run_id",
    "application_id",
    "version_number",
    "custom_metadata",
    "submitted_at",
    "submitted_by",
    "terminated_at",
    "termination_reason",
];
const ITEM_SORT: &[&str] = &[
    "item_id",
    "external_id",
    "custom_metadata",
    "terminated_at",
    "termination_reason",
];
const ITEM_STATES: &[&str] = &["PENDING", "PROCESSING", "TERMINATED"];
const ITEM_REASONS: &[&str] = &["SUCCEEDED", "USER_ERROR", "SYSTEM_ERROR", "SKIPPED"];

fn not_found() -> Resp {
    Resp::detail(404, "Run not found")
}

fn forbidden(what: &str) -> Resp {
    Resp::detail(
        403,
        format!("Forbidden - You don't have permission to {what}"),
    )
}

/// The run, if `user` may read it (404 unknown, 403 invisible).
fn readable<'a>(
    state: &'a State,
    user: &SandboxUser,
    run_id: &str,
    share_token: Option<&str>,
) -> Result<&'a RunRec, Resp> {
    let run = state.run(run_id).ok_or_else(not_found)?;
    if state.can_read(run, user, share_token) {
        Ok(run)
    } else {
        Err(forbidden("see this run"))
    }
}

/// The run, if `user` owns it (404 unknown, 403 otherwise).
fn owned<'a>(
    state: &'a mut State,
    user: &SandboxUser,
    run_id: &str,
    what: &str,
) -> Result<&'a mut RunRec, Resp> {
    let run = state.run_mut(run_id).ok_or_else(not_found)?;
    if run.owner.id == user.id {
        Ok(run)
    } else {
        Err(forbidden(what))
    }
}

fn custom_metadata_filter(req: &Req) -> Result<Option<JsonPathFilter>, Resp> {
    let Some(raw) = req.query_one("custom_metadata") else {
        return Ok(None);
    };
    if raw.chars().count() > 1000 {
        return Err(Resp::invalid(
            &["query", "custom_metadata"],
            "string_too_long",
            "String should have at most 1000 characters",
            Some(json!(raw)),
            Some(json!({ "max_length": 1000 })),
        ));
    }
    JsonPathFilter::parse(raw).map(Some).map_err(|e| {
        Resp::invalid(
            &["query", "custom_metadata"],
            "value_error",
            format!("Value error, invalid JSONPath expression: {e}"),
            Some(json!(raw)),
            None,
        )
    })
}

fn metadata_matches(filter: Option<&JsonPathFilter>, metadata: Option<&Value>) -> bool {
    filter.is_none_or(|f| metadata.is_some_and(|m| f.matches(m)))
}

/// `GET /v1/runs`.
pub(crate) fn list(shared: &Shared, req: &Req, user: &SandboxUser) -> Answer {
    let paging = paging(req, "page_size")?;
    let filter = custom_metadata_filter(req)?;
    let submitted_by = req
        .query_one("submitted_by")
        .map(|s| if s == "me" { user.id.as_str() } else { s });
    let organization = req.query_one("organization_id").map(|s| {
        if s == "my_org" {
            user.organization_id.as_str()
        } else {
            s
        }
    });
    if let Some(org) = req.query_one("for_organization")
        && org != user.organization_id
    {
        return Err(forbidden("list the runs of this organization"));
    }
    let now = Instant::now();
    let state = shared.state.lock();
    let selected = state
        .runs
        .iter()
        .filter(|r| state.can_read(r, user, None))
        .filter(|r| {
            req.query_one("application_id")
                .is_none_or(|a| r.application_id == a)
        })
        .filter(|r| {
            req.query_one("application_version")
                .is_none_or(|v| r.version_number == v)
        })
        .filter(|r| {
            req.query_one("external_id")
                .is_none_or(|e| r.items.iter().any(|i| i.external_id == e))
        })
        .filter(|r| submitted_by.is_none_or(|s| r.owner.id == s))
        .filter(|r| organization.is_none_or(|o| r.owner.organization_id == o))
        .filter(|r| {
            req.query_one("for_organization")
                .is_none_or(|o| r.owner.organization_id == o)
        })
        .filter(|r| metadata_matches(filter.as_ref(), r.custom_metadata.as_ref()));
    let page = sorted_page(
        selected,
        |r| r.view(now),
        None,
        &req.query_all("sort"),
        RUN_SORT,
        paging,
    );
    drop(state);
    Ok(Resp::json(200, &page?))
}

/// `GET /v1/runs/{run_id}`.
pub(crate) fn get(shared: &Shared, req: &Req, user: &SandboxUser, run_id: &str) -> Answer {
    let run_id = uuid_value(&["path", "run_id"], run_id)?;
    let state = shared.state.lock();
    let run = readable(&state, user, &run_id, req.query_one("share_token"))?;
    Ok(Resp::json(200, &run.view(Instant::now())))
}

/// `POST /v1/runs/{run_id}/cancel`.
pub(crate) fn cancel(shared: &Shared, user: &SandboxUser, run_id: &str) -> Answer {
    let run_id = uuid_value(&["path", "run_id"], run_id)?;
    let mut state = shared.state.lock();
    let run = owned(&mut state, user, &run_id, "cancel this run")?;
    let now = Instant::now();
    if run.canceled_at.is_some() {
        return Err(Resp::detail(409, "Conflict - The Run is already cancelled"));
    }
    if run.is_terminated(now) {
        return Err(Resp::detail(
            409,
            "Conflict - The Run is already terminated",
        ));
    }
    run.canceled_at = Some(now.saturating_duration_since(run.started));
    Ok(Resp::json(202, &Value::Null))
}

/// `DELETE /v1/runs/{run_id}/artifacts`.
pub(crate) fn delete_artifacts(shared: &Shared, user: &SandboxUser, run_id: &str) -> Answer {
    let run_id = uuid_value(&["path", "run_id"], run_id)?;
    let mut state = shared.state.lock();
    let run = owned(
        &mut state,
        user,
        &run_id,
        "delete the artifacts of this run",
    )?;
    if !run.is_terminated(Instant::now()) {
        return Err(Resp::detail(
            409,
            "Conflict - Artifacts can only be deleted once the run is terminated",
        ));
    }
    run.artifacts_deleted = true;
    Ok(Resp::json(200, &Value::Null))
}

/// `GET /v1/runs/{run_id}/items`.
pub(crate) fn list_items(shared: &Shared, req: &Req, user: &SandboxUser, run_id: &str) -> Answer {
    let run_id = uuid_value(&["path", "run_id"], run_id)?;
    let paging = paging(req, "page_size")?;
    let filter = custom_metadata_filter(req)?;
    let item_ids = req
        .query_all("item_id__in")
        .into_iter()
        .map(|id| uuid_value(&["query", "item_id__in"], id))
        .collect::<Result<HashSet<String>, Resp>>()?;
    let external_ids: HashSet<&str> = req.query_all("external_id__in").into_iter().collect();
    let state_filter = req
        .query_one("state")
        .map(|s| enum_value(&["query", "state"], s, ITEM_STATES))
        .transpose()?;
    let reason_filter = req
        .query_one("termination_reason")
        .map(|s| enum_value(&["query", "termination_reason"], s, ITEM_REASONS))
        .transpose()?;
    let now = Instant::now();
    let state = shared.state.lock();
    let run = readable(&state, user, &run_id, req.query_one("share_token"))?;
    let selected = (0..run.items.len())
        .filter(|&i| item_ids.is_empty() || item_ids.contains(&run.items[i].id))
        .filter(|&i| {
            external_ids.is_empty() || external_ids.contains(run.items[i].external_id.as_str())
        })
        .filter(|&i| metadata_matches(filter.as_ref(), run.items[i].custom_metadata.as_ref()));
    let keep = |v: &aignostics::models::ItemResultReadResponse| {
        state_filter
            .as_deref()
            .is_none_or(|s| v.state.as_str() == s)
            && reason_filter.as_deref().is_none_or(|r| {
                v.termination_reason
                    .as_ref()
                    .is_some_and(|t| t.as_str() == r)
            })
    };
    let filtered = state_filter.is_some() || reason_filter.is_some();
    let page = sorted_page(
        selected,
        |i| run.item_view(i, now, shared),
        filtered.then_some(&keep as &dyn Fn(&_) -> bool),
        &req.query_all("sort"),
        ITEM_SORT,
        paging,
    );
    drop(state);
    let page = page?;
    Ok(Resp::json(200, &page))
}

/// `GET /v1/runs/{run_id}/items/{external_id}`.
pub(crate) fn get_item(
    shared: &Shared,
    req: &Req,
    user: &SandboxUser,
    run_id: &str,
    external_id: &str,
) -> Answer {
    let run_id = uuid_value(&["path", "run_id"], run_id)?;
    let state = shared.state.lock();
    let run = readable(&state, user, &run_id, req.query_one("share_token"))?;
    let index = run
        .items
        .iter()
        .position(|i| i.external_id == external_id)
        .ok_or_else(|| Resp::detail(404, "Not Found - Item with given ID does not exist"))?;
    Ok(Resp::json(
        200,
        &run.item_view(index, Instant::now(), shared),
    ))
}

/// `PUT /v1/runs/{run_id}/custom-metadata` and the item variant.
pub(crate) fn put_metadata(
    shared: &Shared,
    req: &Req,
    user: &SandboxUser,
    run_id: &str,
    external_id: Option<&str>,
) -> Answer {
    let run_id = uuid_value(&["path", "run_id"], run_id)?;
    let update: CustomMetadataUpdateRequest = json_body(req)?;
    let new_value = update.custom_metadata.clone().flatten();
    if let Some(v) = new_value.as_ref().filter(|v| !v.is_object()) {
        return Err(Resp::invalid(
            &["body", "custom_metadata", "dict[any,any]"],
            "dict_type",
            "Input should be a valid dictionary",
            Some(v.clone()),
            None,
        ));
    }
    let mut state = shared.state.lock();
    let run = owned(&mut state, user, &run_id, "update this run")?;
    let (metadata, checksum) = match external_id {
        None => (&mut run.custom_metadata, &mut run.checksum),
        Some(e) => {
            let item = run
                .items
                .iter_mut()
                .find(|i| i.external_id == e)
                .ok_or_else(|| Resp::detail(404, "Item not found"))?;
            (&mut item.custom_metadata, &mut item.checksum)
        }
    };
    if let Some(expected) = &update.custom_metadata_checksum
        && checksum.as_deref() != Some(expected.as_str())
    {
        return Err(Resp::detail(
            412,
            "Precondition Failed - Checksum mismatch, resource has been modified",
        ));
    }
    *checksum = new_value.as_ref().map(metadata_checksum);
    *metadata = new_value;
    Ok(Resp::json(
        200,
        &CustomMetadataUpdateResponse {
            custom_metadata_checksum: checksum.clone(),
        },
    ))
}

/// `GET /v1/runs/{run_id}/artifacts/{artifact_id}/file`: 307 to a signed storage URL.
pub(crate) fn artifact_file(
    shared: &Shared,
    req: &Req,
    user: &SandboxUser,
    run_id: &str,
    artifact_id: &str,
) -> Answer {
    let run_id = uuid_value(&["path", "run_id"], run_id)?;
    let artifact_id = uuid_value(&["path", "artifact_id"], artifact_id)?;
    let state = shared.state.lock();
    let run = readable(&state, user, &run_id, req.query_one("share_token"))?;
    let now = Instant::now();
    let (index, _) = run
        .items
        .iter()
        .enumerate()
        .find(|(_, item)| item.artifacts.iter().any(|a| a.id == artifact_id))
        .ok_or_else(|| Resp::detail(404, "Not Found - Artifact not found for the specified run"))?;
    match run.phase(index, now) {
        Phase::Done {
            reason: ItemTerminationReason::Succeeded,
            ..
        } if run.artifacts_deleted => Err(Resp::detail(410, "Gone - Artifact has been deleted")),
        Phase::Done {
            reason: ItemTerminationReason::Succeeded,
            ..
        } => Ok(Resp::redirect(storage::signed_url(
            shared,
            &storage::artifact_key(&run.id, &artifact_id),
            None,
        ))),
        _ => Err(Resp::detail(
            404,
            "Not Found - The artifact has no file (not produced yet, or the item failed)",
        )),
    }
}

/// `POST /v1/runs`: validates like the platform (422 for the body's shape, 404 for an unknown
/// application or version, 400 for items that do not fit the version), then creates the run.
pub(crate) fn create(shared: &Shared, req: &Req, user: &SandboxUser) -> Answer {
    let request: RunCreationRequest = json_body(req)?;
    validate_shape(&request)?;
    let catalog = shared.catalog();
    let application = catalog
        .application(&request.application_id)
        .ok_or_else(|| Resp::detail(404, "Application not found"))?;
    let version = match &request.version_number {
        Some(v) => application.find_version(v),
        None => application.latest(),
    }
    .ok_or_else(|| Resp::detail(404, "Application version not found"))?;

    let mut seen = HashSet::new();
    for item in &request.items {
        if !seen.insert(item.external_id.as_str()) {
            return Err(Resp::detail(
                400,
                format!(
                    "Bad Request - Input validation failed: duplicate external_id '{}'; external ids must be unique within a run",
                    item.external_id
                ),
            ));
        }
        let mut names = HashSet::new();
        for artifact in &item.input_artifacts {
            let Some(declared) = version
                .input_artifacts
                .iter()
                .find(|d| d.name == artifact.name)
            else {
                return Err(bad_item(
                    &item.external_id,
                    format!("unknown input artifact '{}'", artifact.name),
                ));
            };
            if !names.insert(artifact.name.as_str()) {
                return Err(bad_item(
                    &item.external_id,
                    format!("input artifact '{}' is given twice", artifact.name),
                ));
            }
            if let Some(problem) = schema_problem(&declared.metadata_schema, &artifact.metadata) {
                return Err(bad_item(
                    &item.external_id,
                    format!(
                        "metadata of input artifact '{}' is invalid: {problem}",
                        artifact.name
                    ),
                ));
            }
        }
        if let Some(missing) = version
            .input_artifacts
            .iter()
            .find(|d| !names.contains(d.name.as_str()))
        {
            return Err(bad_item(
                &item.external_id,
                format!("missing input artifact '{}'", missing.name),
            ));
        }
    }

    let run_id = new_uuid();
    let outputs: Vec<_> = version
        .output_artifacts
        .iter()
        .filter(|o| {
            o.scope == OutputArtifactScope::Item
                && o.visibility == OutputArtifactVisibility::External
        })
        .collect();
    let items = request
        .items
        .iter()
        .map(|item| {
            let item_id = new_uuid();
            ItemRec {
                external_id: item.external_id.clone(),
                checksum: item.custom_metadata.as_ref().map(metadata_checksum),
                custom_metadata: item.custom_metadata.clone(),
                inputs: item
                    .input_artifacts
                    .iter()
                    .map(|a| InputRec {
                        id: derived_uuid(&[&run_id, &item_id, "input", &a.name]),
                        name: a.name.clone(),
                        metadata: a.metadata.clone(),
                        download_url: a.download_url.clone(),
                    })
                    .collect(),
                artifacts: outputs
                    .iter()
                    .map(|o| ArtifactRec {
                        id: derived_uuid(&[&run_id, &item_id, "output", &o.name]),
                        name: o.name.clone(),
                        mime_type: o.mime_type.clone(),
                    })
                    .collect(),
                input_error: if shared.failing.lock().contains(&item.external_id) {
                    Some("the sandbox was told to fail this item (Sandbox::fail_items)".into())
                } else {
                    shared
                        .config
                        .fetch_inputs
                        .then(|| unusable_input(item))
                        .flatten()
                },
                id: item_id,
            }
        })
        .collect();
    let run = RunRec {
        id: run_id.clone(),
        application_id: application.application_id.clone(),
        version_number: version.number.clone(),
        owner: user.clone(),
        submitted_at: SystemTime::now(),
        started: Instant::now(),
        pending: shared.config.pending_time,
        total: shared.config.processing_time,
        checksum: request.custom_metadata.as_ref().map(metadata_checksum),
        custom_metadata: request.custom_metadata.clone(),
        scheduling: request.scheduling.as_ref().map(|s| SchedulingResponse {
            due_date: s.due_date.clone(),
            deadline: s.deadline.clone(),
        }),
        items,
        canceled_at: None,
        artifacts_deleted: false,
    };
    shared.state.lock().runs.push(run);
    Ok(Resp::json(201, &RunCreationResponse { run_id }))
}

/// The first way `metadata` violates `schema`, e.g. `at /width_px: "12" is not of type
/// "integer"`; a schema that does not compile checks nothing.
fn schema_problem(schema: &Value, metadata: &Value) -> Option<String> {
    let validator = jsonschema::validator_for(schema).ok()?;
    validator.validate(metadata).err().map(|e| {
        let pointer = e.instance_path().as_str();
        format!("at {}: {e}", if pointer.is_empty() { "/" } else { pointer })
    })
}

fn bad_item(external_id: &str, problem: String) -> Resp {
    Resp::detail(
        400,
        format!("Bad Request - Input validation failed: item '{external_id}': {problem}"),
    )
}

/// The checks pydantic makes on the body before the endpoint runs (422).
fn validate_shape(request: &RunCreationRequest) -> Result<(), Resp> {
    let dict = |loc: &[&str], v: &Value| {
        Resp::invalid(
            loc,
            "dict_type",
            "Input should be a valid dictionary",
            Some(v.clone()),
            None,
        )
    };
    if request.items.is_empty() {
        return Err(Resp::invalid(
            &["body", "items"],
            "too_short",
            "List should have at least 1 item after validation, not 0",
            Some(json!([])),
            Some(json!({"field_type": "List", "min_length": 1, "actual_length": 0})),
        ));
    }
    if let Some(v) = request.custom_metadata.as_ref().filter(|v| !v.is_object()) {
        return Err(dict(&["body", "custom_metadata", "dict[str,any]"], v));
    }
    if let Some(v) = &request.callback_context {
        if !v.is_object() {
            return Err(dict(&["body", "callback_context", "dict[str,any]"], v));
        }
        if v.to_string().len() > 1024 {
            return Err(Resp::invalid(
                &["body", "callback_context"],
                "value_error",
                "Value error, callback_context must be at most 1 KB once serialized",
                None,
                None,
            ));
        }
    }
    if let Some(s) = &request.scheduling {
        for (name, value) in [("due_date", &s.due_date), ("deadline", &s.deadline)] {
            if let Some(v) = value.as_ref().filter(|v| parse_rfc3339(v).is_none()) {
                return Err(Resp::invalid(
                    &["body", "scheduling", name],
                    "datetime_from_date_parsing",
                    "Input should be a valid datetime or date, invalid character in year",
                    Some(json!(v)),
                    None,
                ));
            }
        }
    }
    for (i, item) in request.items.iter().enumerate() {
        let index = i.to_string();
        if item.external_id.chars().count() > 255 {
            return Err(Resp::invalid(
                &["body", "items", &index, "external_id"],
                "string_too_long",
                "String should have at most 255 characters",
                Some(json!(item.external_id)),
                Some(json!({ "max_length": 255 })),
            ));
        }
        if let Some(v) = item.custom_metadata.as_ref().filter(|v| !v.is_object()) {
            return Err(dict(
                &["body", "items", &index, "custom_metadata", "dict[str,any]"],
                v,
            ));
        }
        for (j, artifact) in item.input_artifacts.iter().enumerate() {
            let j = j.to_string();
            let loc = |field: &'static str| {
                ["body", "items", &index, "input_artifacts", &j, field].map(str::to_string)
            };
            let url = &artifact.download_url;
            let valid_url = !url.is_empty()
                && url.len() <= 2083
                && url.split_once("://").is_some_and(|(scheme, rest)| {
                    !scheme.is_empty()
                        && scheme
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "+-.".contains(c))
                        && !rest.is_empty()
                });
            if !valid_url {
                let loc = loc("download_url");
                let loc: Vec<&str> = loc.iter().map(String::as_str).collect();
                return Err(Resp::invalid(
                    &loc,
                    "url_parsing",
                    "Input should be a valid URL",
                    Some(json!(url)),
                    None,
                ));
            }
            if !artifact.metadata.is_object() {
                let loc = loc("metadata");
                let loc: Vec<&str> = loc.iter().map(String::as_str).collect();
                return Err(dict(&loc, &artifact.metadata));
            }
        }
    }
    Ok(())
}

/// Why an item's inputs cannot be used, fetched as the platform would fetch them: a URL that
/// does not answer with the bytes, or bytes without the CRC32C their metadata names.
fn unusable_input(item: &aignostics::models::ItemCreationRequest) -> Option<String> {
    for input in &item.input_artifacts {
        let expected = input
            .metadata
            .get("checksum_base64_crc32c")
            .and_then(serde_json::Value::as_str)
            .unwrap_or_default();
        let fetched = ureq::get(&input.download_url)
            .call()
            .map_err(|e| e.to_string());
        let mut response = match fetched {
            Ok(r) => r,
            Err(e) => {
                return Some(format!(
                    "the input `{}` could not be fetched: {e}",
                    input.name
                ));
            }
        };
        let mut reader = response.body_mut().with_config().limit(u64::MAX).reader();
        let mut crc = 0u32;
        let mut buf = vec![0u8; 1 << 20];
        loop {
            match std::io::Read::read(&mut reader, &mut buf) {
                Ok(0) => break,
                Ok(n) => crc = crc32c::crc32c_append(crc, &buf[..n]),
                Err(e) => {
                    return Some(format!("the input `{}` could not be read: {e}", input.name));
                }
            }
        }
        let actual = crate::util::crc32c_b64(crc);
        if actual != expected {
            return Some(format!(
                "the input `{}` has the CRC32C {actual}, its metadata says {expected:?}",
                input.name
            ));
        }
    }
    None
}
