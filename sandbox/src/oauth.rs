//! The sandbox's identity provider, answering like Auth0: `POST /oauth/token` (client
//! credentials, refresh token and device code grants), `POST /oauth/device/code`,
//! `GET /activate` (where a person confirms a device login) and `GET /.well-known/jwks.json`.
//!
//! Access tokens are RS256 JWTs signed by a key published with this crate, so the SDK's
//! login verifies them as it verifies real ones, and `aignostics login` can be practised
//! against the sandbox (see [`Sandbox::login_env`](super::Sandbox::login_env)). The key is
//! public: its tokens mean something only to a sandbox.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::{Value, json};

use super::http::{Answer, Body, Req, Resp, parse_form};
use super::ids::random_hex;
use super::signing::constant_time_eq;
use super::state::{DeviceCode, Shared, TokenEntry};
use super::users::SandboxUser;

/// The signing key (PKCS#8 DER) and its public half as a JWKS, key id `test-key-1`.
const SIGNING_KEY: &[u8] = include_bytes!("login_key.pk8.der");
const JWKS: &str = include_str!("login_jwks.json");
const KEY_ID: &str = "test-key-1";

/// The `aud` of the sandbox's tokens unless the builder names one.
pub(crate) const LOGIN_AUDIENCE: &str = "https://sandbox.aignostics.local/api";
/// Client id of the browser login in the sandbox's login settings.
pub(crate) const CLIENT_ID_INTERACTIVE: &str = "sandbox-interactive";
/// Client id of the device flow in the sandbox's login settings.
pub(crate) const CLIENT_ID_DEVICE: &str = "sandbox-device";
/// How long a device code can be confirmed.
const DEVICE_CODE_LIFETIME: Duration = Duration::from_secs(600);

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
        Some("urn:ietf:params:oauth:grant-type:device_code") => {
            device_grant(shared, get("device_code"))?
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

/// `POST /oauth/device/code`: starts a device login for Alice.
pub(crate) fn device_code(shared: &Shared, req: &Req) -> Answer {
    let params = params(req);
    let client_id = params
        .iter()
        .rev()
        .find(|(k, _)| k == "client_id")
        .map(|(_, v)| v.as_str());
    if client_id != Some(CLIENT_ID_DEVICE) {
        return Err(oauth_error(401, "unauthorized_client", "Unknown client."));
    }
    let device_code = random_hex(20);
    let hex = random_hex(4).to_ascii_uppercase();
    let user_code = format!("{}-{}", &hex[..4], &hex[4..]);
    shared.state.lock().device_codes.insert(
        device_code.clone(),
        DeviceCode {
            user_code: user_code.clone(),
            confirmed: false,
            expires: Instant::now() + DEVICE_CODE_LIFETIME,
        },
    );
    let verify = format!("{}/activate", shared.base_url);
    Ok(Resp::json(
        200,
        &json!({
            "device_code": device_code,
            "user_code": user_code,
            "verification_uri": verify,
            "verification_uri_complete": format!("{verify}?user_code={user_code}"),
            "expires_in": DEVICE_CODE_LIFETIME.as_secs(),
            "interval": 1,
        }),
    )
    .header("Cache-Control", "no-store"))
}

/// `GET /activate?user_code=…`: the person confirms the device login (as Alice).
pub(crate) fn activate(shared: &Shared, req: &Req) -> Answer {
    let page = |status: u16, text: &str| {
        Resp::new(
            status,
            "text/plain; charset=utf-8",
            Body::Bytes(format!("{text}\n").into_bytes()),
        )
    };
    let Some(code) = req.query_one("user_code") else {
        return Err(page(
            400,
            "Open the link the login printed, or add ?user_code=CODE to this address.",
        ));
    };
    let now = Instant::now();
    let mut state = shared.state.lock();
    match state
        .device_codes
        .values_mut()
        .find(|d| constant_time_eq(&d.user_code, code) && d.expires > now)
    {
        Some(pending) => {
            pending.confirmed = true;
            Ok(page(
                200,
                "Sandbox login confirmed as alice@sandbox.example; return to your terminal.",
            ))
        }
        None => Err(page(404, "Unknown or expired code; start the login again.")),
    }
}

/// `GET /.well-known/jwks.json`: the public key of the sandbox's tokens.
pub(crate) fn jwks() -> Resp {
    Resp::new(
        200,
        "application/json",
        Body::Bytes(JWKS.as_bytes().to_vec()),
    )
}

/// The device-code grant: pending until confirmed at `/activate`, then Alice's token once.
fn device_grant(shared: &Shared, device_code: Option<&str>) -> Result<SandboxUser, Resp> {
    let Some(device_code) = device_code else {
        return Err(oauth_error(
            400,
            "invalid_request",
            "Missing required parameter: device_code",
        ));
    };
    let mut state = shared.state.lock();
    let Some(pending) = state.device_codes.get(device_code).cloned() else {
        return Err(oauth_error(
            403,
            "invalid_grant",
            "Invalid or expired device code.",
        ));
    };
    if pending.expires <= Instant::now() {
        state.device_codes.remove(device_code);
        return Err(oauth_error(
            403,
            "expired_token",
            "The device code expired.",
        ));
    }
    if !pending.confirmed {
        return Err(oauth_error(
            403,
            "authorization_pending",
            "User has yet to authorize device code.",
        ));
    }
    state.device_codes.remove(device_code);
    Ok(SandboxUser::alice())
}

/// An RS256 JWT for `user` that the SDK's login verifies with the sandbox's login settings.
fn jwt(shared: &Shared, user: &SandboxUser, lifetime: Duration) -> Option<String> {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    let audience = shared
        .config
        .audience
        .clone()
        .unwrap_or_else(|| LOGIN_AUDIENCE.to_string());
    let claims = json!({
        "iss": format!("{}/", shared.base_url),
        "sub": user.id,
        "aud": [audience],
        "iat": now,
        "exp": now.saturating_add(lifetime.as_secs().max(1)),
        "org_id": user.organization_id,
        "scope": "openid profile email offline_access",
        // A unique id, so two tokens issued within a second differ.
        "jti": random_hex(8),
    });
    let header = json!({ "alg": "RS256", "typ": "JWT", "kid": KEY_ID });
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let key = RsaKeyPair::from_pkcs8(SIGNING_KEY).ok()?;
    let mut signature = vec![0u8; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut signature,
    )
    .ok()?;
    Some(format!("{input}.{}", URL_SAFE_NO_PAD.encode(signature)))
}

fn issue(shared: &Shared, user: SandboxUser) -> Resp {
    let lifetime = shared.config.token_lifetime;
    let access_token =
        jwt(shared, &user, lifetime).unwrap_or_else(|| format!("sandbox-at-{}", random_hex(20)));
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
