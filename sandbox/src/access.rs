//! Grants and share tokens (`/v1/access/...`).

use std::time::SystemTime;

use serde_json::{Value, json};

use super::http::{
    Answer, Req, Resp, bool_query, enum_value, json_body, page_of, paging, sort_rows, uuid_value,
};
use super::ids::{new_uuid, random_hex};
use super::state::{ShareTokenRec, Shared};
use super::users::SandboxUser;
use crate::util::parse_date_time;
use crate::util::rfc3339_millis as rfc3339;
use aignostics::models::{
    GrantCreateRequest, GrantReadResponse, GrantRelation, ResourceType, ShareTokenCreateRequest,
    ShareTokenCreateResponse, SubjectType,
};

const RESOURCE_TYPES: &[&str] = &["run", "item", "output_artifact", "share_token"];
const SUBJECT_TYPES: &[&str] = &[
    "user",
    "organization_admin",
    "organization_user",
    "share_token",
];
const RELATIONS: &[&str] = &["owner", "editor", "viewer"];
const GRANT_SORT: &[&str] = &[
    "grant_id",
    "resource_type",
    "resource_id",
    "subject_type",
    "subject_id",
    "relation",
    "created_by",
    "created_at",
    "revoked",
];
const SHARE_TOKEN_SORT: &[&str] = &["share_token_id", "created_at", "expires_at", "revoked"];

/// `POST /v1/access/grants`.
pub(crate) fn create_grant(shared: &Shared, req: &Req, user: &SandboxUser) -> Answer {
    let request: GrantCreateRequest = json_body(req)?;
    enum_value(
        &["body", "resource_type"],
        request.resource_type.as_str(),
        RESOURCE_TYPES,
    )?;
    enum_value(
        &["body", "subject_type"],
        request.subject_type.as_str(),
        SUBJECT_TYPES,
    )?;
    enum_value(&["body", "relation"], request.relation.as_str(), RELATIONS)?;
    let resource_id = uuid_value(&["body", "resource_id"], &request.resource_id)?;
    if request.relation != GrantRelation::Viewer {
        return Err(Resp::detail(422, "Only viewer grants can be created"));
    }
    let mut state = shared.state.lock();

    // The resource must exist and belong to the caller.
    let owner = match request.resource_type {
        ResourceType::Run => state.run(&resource_id).map(|r| r.owner.id.clone()),
        ResourceType::Item => state
            .runs
            .iter()
            .find(|r| r.items.iter().any(|i| i.id == resource_id))
            .map(|r| r.owner.id.clone()),
        ResourceType::OutputArtifact => state
            .runs
            .iter()
            .find(|r| {
                r.items
                    .iter()
                    .any(|i| i.artifacts.iter().any(|a| a.id == resource_id))
            })
            .map(|r| r.owner.id.clone()),
        _ => state
            .share_tokens
            .iter()
            .find(|t| t.id == resource_id)
            .map(|t| t.created_by.clone()),
    }
    .ok_or_else(|| Resp::detail(404, "Resource not found"))?;
    if owner != user.id {
        return Err(Resp::detail(
            403,
            "Forbidden - You don't have permission to grant access to this resource",
        ));
    }

    let subject_id = match request.subject_type {
        SubjectType::User => {
            let users = state.known_users();
            let found = match (&request.subject_id, &request.subject_email) {
                (Some(id), _) => users.iter().find(|u| &u.id == id),
                (None, Some(email)) => users.iter().find(|u| u.email.eq_ignore_ascii_case(email)),
                (None, None) => {
                    return Err(Resp::detail(
                        422,
                        "subject_id or subject_email is required for user grants",
                    ));
                }
            };
            found
                .map(|u| u.id.clone())
                .ok_or_else(|| Resp::detail(404, "Subject not found"))?
        }
        SubjectType::ShareToken => {
            let id = request.subject_id.as_deref().ok_or_else(|| {
                Resp::detail(422, "subject_id is required for share_token grants")
            })?;
            let id = uuid_value(&["body", "subject_id"], id)?;
            let token = state
                .share_tokens
                .iter()
                .find(|t| t.id == id)
                .ok_or_else(|| Resp::detail(404, "Share token not found"))?;
            if token.created_by != user.id {
                return Err(Resp::detail(
                    403,
                    "Forbidden - You don't have permission to use this share token",
                ));
            }
            id
        }
        _ => request
            .subject_id
            .clone()
            .unwrap_or_else(|| user.organization_id.clone()),
    };
    let grant = GrantReadResponse {
        grant_id: new_uuid(),
        resource_type: request.resource_type,
        resource_id,
        subject_type: request.subject_type,
        subject_id,
        relation: request.relation,
        created_by: user.id.clone(),
        created_at: rfc3339(SystemTime::now()),
        revoked: false,
    };
    state.grants.push(grant.clone());
    Ok(Resp::json(201, &grant))
}

/// `GET /v1/access/grants`: the grants the caller created.
pub(crate) fn list_grants(shared: &Shared, req: &Req, user: &SandboxUser) -> Answer {
    let paging = paging(req, "page_size")?;
    let resource_type = req
        .query_one("resource_type")
        .map(|v| enum_value(&["query", "resource_type"], v, RESOURCE_TYPES))
        .transpose()?;
    let subject_type = req
        .query_one("subject_type")
        .map(|v| enum_value(&["query", "subject_type"], v, SUBJECT_TYPES))
        .transpose()?;
    let resource_id = req
        .query_one("resource_id")
        .map(|v| uuid_value(&["query", "resource_id"], v))
        .transpose()?;
    let relations = req
        .query_all("relation")
        .into_iter()
        .map(|v| enum_value(&["query", "relation"], v, RELATIONS))
        .collect::<Result<Vec<_>, _>>()?;
    let revoked = bool_query(req, "revoked")?;
    let subject_id = req.query_one("subject_id");
    let state = shared.state.lock();
    let mut rows: Vec<(Value, GrantReadResponse)> = state
        .grants
        .iter()
        .filter(|g| g.created_by == user.id)
        .filter(|g| {
            resource_type
                .as_deref()
                .is_none_or(|t| g.resource_type.as_str() == t)
        })
        .filter(|g| {
            subject_type
                .as_deref()
                .is_none_or(|t| g.subject_type.as_str() == t)
        })
        .filter(|g| resource_id.as_deref().is_none_or(|r| g.resource_id == r))
        .filter(|g| subject_id.is_none_or(|s| g.subject_id == s))
        .filter(|g| relations.is_empty() || relations.iter().any(|r| g.relation.as_str() == r))
        .filter(|g| revoked.is_none_or(|r| g.revoked == r))
        .map(|g| (serde_json::to_value(g).unwrap_or_default(), g.clone()))
        .collect();
    drop(state);
    sort_rows(&mut rows, &req.query_all("sort"), GRANT_SORT)?;
    let page = page_of(rows.into_iter().map(|(_, g)| g).collect(), paging);
    Ok(Resp::json(200, &page))
}

fn grant_index(
    shared: &Shared,
    user: &SandboxUser,
    grant_id: &str,
    what: &str,
) -> Result<usize, Resp> {
    let grant_id = uuid_value(&["path", "grant_id"], grant_id)?;
    let state = shared.state.lock();
    let index = state
        .grants
        .iter()
        .position(|g| g.grant_id == grant_id)
        .ok_or_else(|| Resp::detail(404, "Grant not found"))?;
    if state.grants[index].created_by != user.id {
        return Err(Resp::detail(
            403,
            format!("Forbidden - You don't have permission to {what} this grant"),
        ));
    }
    Ok(index)
}

/// `GET /v1/access/grants/{grant_id}`.
pub(crate) fn get_grant(shared: &Shared, user: &SandboxUser, grant_id: &str) -> Answer {
    let index = grant_index(shared, user, grant_id, "view")?;
    Ok(Resp::json(200, &shared.state.lock().grants[index]))
}

/// `DELETE /v1/access/grants/{grant_id}`.
pub(crate) fn revoke_grant(shared: &Shared, user: &SandboxUser, grant_id: &str) -> Answer {
    let index = grant_index(shared, user, grant_id, "revoke")?;
    let mut state = shared.state.lock();
    let grant = &mut state.grants[index];
    if grant.revoked {
        return Err(Resp::detail(409, "Conflict - Grant is already revoked"));
    }
    grant.revoked = true;
    Ok(Resp::json(200, grant))
}

/// `POST /v1/access/share-tokens`: the secret is in this answer only.
pub(crate) fn create_share_token(shared: &Shared, req: &Req, user: &SandboxUser) -> Answer {
    let request: ShareTokenCreateRequest = json_body(req)?;
    let expires = match &request.expires_at {
        None => None,
        Some(text) => {
            let t = parse_date_time(text).ok_or_else(|| {
                Resp::invalid(
                    &["body", "expires_at"],
                    "datetime_from_date_parsing",
                    "Input should be a valid datetime or date, invalid character in year",
                    Some(json!(text)),
                    None,
                )
            })?;
            if t <= SystemTime::now() {
                return Err(Resp::invalid(
                    &["body", "expires_at"],
                    "value_error",
                    "Value error, expires_at must be in the future",
                    Some(json!(text)),
                    None,
                ));
            }
            Some(t)
        }
    };
    let token = ShareTokenRec {
        id: new_uuid(),
        secret: format!("sst_{}", random_hex(24)),
        created_by: user.id.clone(),
        created_at: rfc3339(SystemTime::now()),
        expires_at: expires.map(rfc3339),
        expires,
        revoked: false,
    };
    let response = ShareTokenCreateResponse {
        share_token_id: token.id.clone(),
        share_token: token.secret.clone(),
        created_at: token.created_at.clone(),
        expires_at: token.expires_at.clone(),
        revoked: false,
    };
    shared.state.lock().share_tokens.push(token);
    Ok(Resp::json(201, &response))
}

/// `GET /v1/access/share-tokens`: the tokens the caller created.
pub(crate) fn list_share_tokens(shared: &Shared, req: &Req, user: &SandboxUser) -> Answer {
    let paging = paging(req, "page_size")?;
    let run_id = req
        .query_one("run_id")
        .map(|v| uuid_value(&["query", "run_id"], v))
        .transpose()?;
    let revoked = bool_query(req, "revoked")?;
    let created_by = req
        .query_one("created_by")
        .map(|c| if c == "me" { user.id.as_str() } else { c });
    let state = shared.state.lock();
    let mut rows: Vec<(Value, aignostics::models::ShareTokenReadResponse)> = state
        .share_tokens
        .iter()
        .filter(|t| t.created_by == user.id)
        .filter(|t| created_by.is_none_or(|c| t.created_by == c))
        .filter(|t| revoked.is_none_or(|r| t.revoked == r))
        .filter(|t| {
            run_id.as_deref().is_none_or(|run| {
                state.grants.iter().any(|g| {
                    g.resource_type == ResourceType::Run
                        && g.resource_id == run
                        && g.subject_type == SubjectType::ShareToken
                        && g.subject_id == t.id
                })
            })
        })
        .map(|t| {
            let view = t.view();
            (serde_json::to_value(&view).unwrap_or_default(), view)
        })
        .collect();
    drop(state);
    sort_rows(&mut rows, &req.query_all("sort"), SHARE_TOKEN_SORT)?;
    let page = page_of(rows.into_iter().map(|(_, t)| t).collect(), paging);
    Ok(Resp::json(200, &page))
}

fn share_token_index(
    shared: &Shared,
    user: &SandboxUser,
    id: &str,
    what: &str,
) -> Result<usize, Resp> {
    let id = uuid_value(&["path", "share_token_id"], id)?;
    let state = shared.state.lock();
    let index = state
        .share_tokens
        .iter()
        .position(|t| t.id == id)
        .ok_or_else(|| Resp::detail(404, "Share token not found"))?;
    if state.share_tokens[index].created_by != user.id {
        return Err(Resp::detail(
            403,
            format!("Forbidden - You don't have permission to {what} this share token"),
        ));
    }
    Ok(index)
}

/// `GET /v1/access/share-tokens/{share_token_id}` (never the secret).
pub(crate) fn get_share_token(shared: &Shared, user: &SandboxUser, id: &str) -> Answer {
    let index = share_token_index(shared, user, id, "view")?;
    Ok(Resp::json(
        200,
        &shared.state.lock().share_tokens[index].view(),
    ))
}

/// `DELETE /v1/access/share-tokens/{share_token_id}`.
pub(crate) fn revoke_share_token(shared: &Shared, user: &SandboxUser, id: &str) -> Answer {
    let index = share_token_index(shared, user, id, "revoke")?;
    let mut state = shared.state.lock();
    let token = &mut state.share_tokens[index];
    if token.revoked {
        return Err(Resp::detail(
            409,
            "Conflict - Share token is already revoked",
        ));
    }
    token.revoked = true;
    Ok(Resp::json(200, &token.view()))
}
