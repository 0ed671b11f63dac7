//! `POST /oauth/token`: the client-credentials and refresh-token grants, answering like Auth0.

use std::time::Instant;

use serde_json::{Value, json};

use super::http::{Answer, Req, Resp, parse_form};
use super::ids::random_hex;
use super::signing::constant_time_eq;
use super::state::{Shared, TokenEntry};
use super::users::SandboxUser;

fn oauth_error(status: u16, error: &str, description: &str) -> Resp {
    Resp::json(
        status,
        &json!({ "error": error, "error_description": description }),
    )
    .header("Cache-Control", "no-store")
}

/// The request parameters, from a form or a JSON body.
fn params(req: &Req) -> Vec<(String, String)> {
    let is_json = req
        .header("content-type")
        .is_some_and(|c| c.to_ascii_lowercase().contains("json"));
    if is_json {
        match serde_json::from_slice::<Value>(&req.body) {
            Ok(Value::Object(map)) => map
                .into_iter()
                .filter_map(|(k, v)| match v {
                    Value::String(s) => Some((k, s)),
                    Value::Null => None,
                    other => Some((k, other.to_string())),
                })
                .collect(),
            _ => Vec::new(),
        }
    } else {
        parse_form(&String::from_utf8_lossy(&req.body))
    }
}

pub(crate) fn token(shared: &Shared, req: &Req) -> Answer {
    let params = params(req);
    let get = |name: &str| {
        params
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let user = match get("grant_type") {
        Some("client_credentials") => {
            let (Some(id), Some(secret)) = (get("client_id"), get("client_secret")) else {
                return Err(oauth_error(401, "access_denied", "Unauthorized"));
            };
            if let (Some(expected), Some(given)) = (&shared.config.audience, get("audience"))
                && expected != given
            {
                return Err(oauth_error(
                    403,
                    "access_denied",
                    &format!("Service not enabled within domain: {given}"),
                ));
            }
            let state = shared.state.lock();
            state
                .clients
                .iter()
                .find(|c| c.client_id == id && constant_time_eq(&c.client_secret, secret))
                .map(|c| c.user.clone())
                .ok_or_else(|| oauth_error(401, "access_denied", "Unauthorized"))?
        }
        Some("refresh_token") => {
            let Some(refresh) = get("refresh_token") else {
                return Err(oauth_error(
                    400,
                    "invalid_request",
                    "Missing required parameter: refresh_token",
                ));
            };
            shared
                .state
                .lock()
                .refresh_tokens
                .get(refresh)
                .cloned()
                .ok_or_else(|| {
                    oauth_error(403, "invalid_grant", "Unknown or invalid refresh token.")
                })?
        }
        Some(other) => {
            return Err(oauth_error(
                400,
                "unsupported_grant_type",
                &format!("Grant type '{other}' not allowed for the client."),
            ));
        }
        None => {
            return Err(oauth_error(
                400,
                "invalid_request",
                "Missing required parameter: grant_type",
            ));
        }
    };
    Ok(issue(shared, user))
}

fn issue(shared: &Shared, user: SandboxUser) -> Resp {
    let access_token = format!("sandbox-at-{}", random_hex(20));
    let lifetime = shared.config.token_lifetime;
    shared.state.lock().tokens.insert(
        access_token.clone(),
        TokenEntry {
            user,
            expires: Some(Instant::now() + lifetime),
        },
    );
    Resp::json(
        200,
        &json!({
            "access_token": access_token,
            "token_type": "Bearer",
            "expires_in": lifetime.as_secs(),
            "scope": "openid profile email offline_access",
        }),
    )
    .header("Cache-Control", "no-store")
}
