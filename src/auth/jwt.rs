//! Access-token verification: RS256 signatures against the identity provider's JWKS, audience,
//! issuer and expiry.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use once_cell::sync::Lazy;
use parking_lot::Mutex;
use ring::signature::{RSA_PKCS1_2048_8192_SHA256, RsaPublicKeyComponents};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::idp;
use crate::error::{Error, Result, redact_url};
use crate::retry::{Idempotency, RetryPolicy};
use crate::settings::Settings;
use crate::time::now_secs;

/// Claims of a token.
pub(crate) type Claims = Map<String, Value>;

/// A `nbf` claim may lie this far in the future (clock skew between us and the provider).
const NBF_LEEWAY_SECS: u64 = 60;

/// JWKS documents kept at once (one per identity provider in practice).
const MAX_JWKS: usize = 8;

/// One RSA signing key of a JWKS.
#[derive(Debug, Clone)]
struct RsaKey {
    kid: Option<String>,
    n: Vec<u8>,
    e: Vec<u8>,
}

type KeySet = Arc<Vec<RsaKey>>;

/// JWKS documents by URL, with the moment they were fetched.
static JWKS: Lazy<Mutex<HashMap<String, (Instant, KeySet)>>> =
    Lazy::new(|| Mutex::new(HashMap::new()));

fn fail(message: impl std::fmt::Display) -> Error {
    Error::Auth(format!("token verification failed: {message}"))
}

fn b64(part: &str, what: &str) -> Result<Vec<u8>> {
    URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|_| fail(format!("the {what} is not base64url")))
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    #[serde(default)]
    kid: Option<String>,
}

/// The three parts of a compact JWS.
fn split(token: &str) -> Result<(&str, &str, &str)> {
    let mut parts = token.split('.');
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(h), Some(p), Some(s), None) if !h.is_empty() && !p.is_empty() => Ok((h, p, s)),
        _ => Err(fail("the token is not a JWT (three dot-separated parts)")),
    }
}

/// The claims of a token without checking anything (for display only).
pub(crate) fn decode_unverified(token: &str) -> Result<Claims> {
    let (_, payload, _) = split(token)?;
    serde_json::from_slice(&b64(payload, "payload")?)
        .map_err(|_| fail("the payload is not a JSON object"))
}

/// Verifies `token` for these settings and returns its claims: an RS256 signature by a key of
/// the JWKS, an `exp` in the future, the configured audience among `aud`, and the issuer of the
/// authorization URL as `iss`.
pub(crate) fn verify(settings: &Settings, token: &str) -> Result<Claims> {
    let auth = settings.require_auth()?;
    let (header_b64, payload_b64, signature_b64) = split(token)?;
    let header: Header = serde_json::from_slice(&b64(header_b64, "header")?)
        .map_err(|_| fail("the header is not a JSON object with `alg`"))?;
    if header.alg != "RS256" {
        return Err(fail(format!(
            "the algorithm is {:?}; only RS256 is accepted",
            header.alg
        )));
    }
    let signature = b64(signature_b64, "signature")?;
    let url = &auth.jws_json_url;
    let key = match find_key(&key_set(settings, false)?, header.kid.as_deref()) {
        Some(k) => k,
        // Keys rotate: an unknown key id is worth one fresh look at the JWKS.
        None => find_key(&key_set(settings, true)?, header.kid.as_deref()).ok_or_else(|| {
            fail(format!(
                "no signing key {} in the JWKS at {}",
                header
                    .kid
                    .as_deref()
                    .map(|k| format!("with kid {k:?}"))
                    .unwrap_or_else(|| "without a kid".into()),
                redact_url(url)
            ))
        })?,
    };
    let signed = &token.as_bytes()[..header_b64.len() + 1 + payload_b64.len()];
    RsaPublicKeyComponents {
        n: &key.n,
        e: &key.e,
    }
    .verify(&RSA_PKCS1_2048_8192_SHA256, signed, &signature)
    .map_err(|_| fail("the signature does not match the JWKS key"))?;

    let claims: Claims = serde_json::from_slice(&b64(payload_b64, "payload")?)
        .map_err(|_| fail("the payload is not a JSON object"))?;
    let now = now_secs();
    let exp = claims
        .get("exp")
        .and_then(Value::as_f64)
        .ok_or_else(|| fail("the token has no numeric `exp` claim"))?;
    if (now as f64) >= exp {
        return Err(fail(format!("the token expired at {exp} (now {now})")));
    }
    if let Some(nbf) = claims.get("nbf").and_then(Value::as_f64)
        && ((now + NBF_LEEWAY_SECS) as f64) < nbf
    {
        return Err(fail(format!("the token is not valid before {nbf}")));
    }
    let audiences = audiences(&claims);
    if !audiences.iter().any(|a| a == &auth.audience) {
        return Err(fail(format!(
            "audience mismatch: expected {:?}, got {audiences:?}",
            auth.audience
        )));
    }
    let issuer = auth.issuer();
    match claims.get("iss").and_then(Value::as_str) {
        Some(iss) if iss == issuer => {}
        Some(iss) => {
            return Err(fail(format!(
                "issuer mismatch: expected {issuer:?}, got {iss:?}"
            )));
        }
        None => return Err(fail("the token has no `iss` claim")),
    }
    Ok(claims)
}

/// `aud` as a list (a single string or an array).
pub(crate) fn audiences(claims: &Claims) -> Vec<String> {
    match claims.get("aud") {
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

fn find_key(keys: &[RsaKey], kid: Option<&str>) -> Option<RsaKey> {
    match kid {
        Some(kid) => keys.iter().find(|k| k.kid.as_deref() == Some(kid)).cloned(),
        // Without a key id, only an unambiguous set will do.
        None if keys.len() == 1 => keys.first().cloned(),
        None => None,
    }
}

/// The JWKS of these settings: from the cache while younger than `auth_operation.cache_ttl`,
/// otherwise fetched (connection failures and 5xx retried).
fn key_set(settings: &Settings, refresh: bool) -> Result<KeySet> {
    let auth = settings.require_auth()?;
    let url = auth.jws_json_url.as_str();
    let ttl = settings.auth_operation.cache_ttl;
    if !refresh
        && !ttl.is_zero()
        && let Some((at, keys)) = JWKS.lock().get(url)
        && at.elapsed() < ttl
    {
        return Ok(Arc::clone(keys));
    }
    let keys = Arc::new(fetch(settings, url)?);
    let mut cache = JWKS.lock();
    if cache.len() >= MAX_JWKS && !cache.contains_key(url) {
        cache.clear();
    }
    cache.insert(url.to_string(), (Instant::now(), Arc::clone(&keys)));
    Ok(keys)
}

#[derive(Deserialize)]
struct JwkSet {
    keys: Vec<Jwk>,
}

#[derive(Deserialize)]
struct Jwk {
    kty: String,
    #[serde(default)]
    kid: Option<String>,
    #[serde(default, rename = "use")]
    use_: Option<String>,
    #[serde(default)]
    n: Option<String>,
    #[serde(default)]
    e: Option<String>,
}

fn fetch(settings: &Settings, url: &str) -> Result<Vec<RsaKey>> {
    const OP: &str = "fetch_jwks";
    let group = &settings.auth_operation;
    let reply = RetryPolicy::from(group).run(OP, Idempotency::Idempotent, |_| {
        let reply = idp::get(OP, url, group.timeout)?;
        if (200..300).contains(&reply.status) {
            Ok(reply)
        } else {
            Err(idp::status_error(OP, &reply, &[]))
        }
    });
    let reply = match reply {
        Ok(r) => r,
        Err(Error::Api(e)) => {
            return Err(fail(format!(
                "the JWKS at {} answered HTTP {}",
                redact_url(url),
                e.status
            )));
        }
        Err(e) => return Err(e),
    };
    let set: JwkSet = serde_json::from_slice(&reply.body).map_err(|e| {
        fail(format!(
            "the JWKS at {} is not a JWK set: {e}",
            redact_url(url)
        ))
    })?;
    let keys: Vec<RsaKey> = set
        .keys
        .into_iter()
        .filter(|k| k.kty == "RSA" && k.use_.as_deref().is_none_or(|u| u == "sig"))
        .filter_map(|k| {
            let n = URL_SAFE_NO_PAD.decode(k.n?.trim_end_matches('=')).ok()?;
            let e = URL_SAFE_NO_PAD.decode(k.e?.trim_end_matches('=')).ok()?;
            Some(RsaKey { kid: k.kid, n, e })
        })
        .collect();
    Ok(keys)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves malformed tokens are rejected with a message and never panic. (FR-07, NFR-13)
    #[test]
    fn malformed_tokens_are_errors() {
        for bad in ["", "a", "a.b", "a.b.c.d", ".b.c", "!!.??.c"] {
            assert!(decode_unverified(bad).is_err(), "{bad:?}");
        }
        let payload = URL_SAFE_NO_PAD.encode(br#"{"sub":"u1","aud":["x","y"]}"#);
        let claims = decode_unverified(&format!("e30.{payload}.sig")).unwrap();
        assert_eq!(claims["sub"], "u1");
        assert_eq!(audiences(&claims), ["x", "y"]);
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(3000))]

        // Proves decoding any text as a JWT is an error or claims, never a panic. (NFR-16, NFR-13)
        #[test]
        fn any_text_decodes_without_panic(text in proptest::prelude::any::<String>()) {
            let _ = decode_unverified(&text);
        }

        // Proves any claims (numbers of any size and sign, strings, nesting) describe a token
        // without panicking, with times at most the last second RFC 3339 can write. (NFR-16, NFR-13)
        #[test]
        fn any_claims_describe_a_token(
            exp in proptest::prelude::any::<u64>(),
            iat in proptest::prelude::any::<i64>(),
            float in proptest::prelude::any::<f64>(),
            aud in proptest::prelude::any::<String>(),
        ) {
            let claims = serde_json::json!({
                "exp": exp, "iat": iat, "nbf": if float.is_finite() { serde_json::json!(float) } else { serde_json::json!(null) },
                "aud": [aud.clone(), 1, null], "iss": aud, "scope": float.to_string(),
            });
            let token = format!("e30.{}.sig", URL_SAFE_NO_PAD.encode(claims.to_string()));
            let info = crate::auth::info_of(&token, exp);
            proptest::prop_assert!(info.expires_at <= crate::time::unix_time(u64::MAX));
            proptest::prop_assert_eq!(info.expires_at_rfc3339().len(), 20);
            let _ = info.remaining();
        }
    }
}
