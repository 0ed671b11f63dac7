//! Internal login: the token file shared with the Python SDK.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::api::TokenSource;
use crate::error::{Error, Result};
use crate::settings::Settings;

/// A token is reused while it is valid for at least this long.
const EXPIRY_MARGIN: Duration = Duration::from_secs(300);

/// The token source of a client without a token provider.
pub(crate) fn internal_source(settings: &Settings, cache_token: bool) -> TokenSource {
    let settings = settings.clone();
    TokenSource::Internal(Arc::new(move || token(&settings, cache_token)))
}

fn token(settings: &Settings, cache_token: bool) -> Result<String> {
    if cache_token && let Some(token) = read_token_file(settings) {
        return Ok(token);
    }
    settings.require_auth()?;
    Err(Error::Auth(
        "not logged in: log in with the Python SDK or pass a TokenProvider".into(),
    ))
}

/// A still-valid token from `{cache_dir}/.token` (`token:exp`), if there is one.
fn read_token_file(settings: &Settings) -> Option<String> {
    let text = std::fs::read_to_string(settings.token_file()).ok()?;
    let (token, exp) = text.trim().split_once(':')?;
    let exp: u64 = exp.parse().ok()?;
    let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?.as_secs();
    (!token.is_empty() && now + EXPIRY_MARGIN.as_secs() < exp).then(|| token.to_string())
}
