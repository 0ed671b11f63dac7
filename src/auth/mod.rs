//! Authentication: the internal OAuth login (shared with the Python SDK through its token file)
//! and machine-to-machine credentials.
//!
//! A [`Client`](crate::Client) built without a token provider logs in by itself: it reuses the
//! token in `{cache_dir}/.token` (the file the Python SDK writes, `token:exp`) while it is valid
//! for more than five minutes and was issued for the settings' environment (other API roots have
//! a file of their own, see [`Settings::token_file`]), and otherwise logs in with, in this order,
//!
//! 1. the refresh token in `AIGNOSTICS_REFRESH_TOKEN`, without any interaction;
//! 2. the browser (authorization code + PKCE, with a one-shot callback server on the redirect
//!    URI's port, `localhost:8989` by default) when a browser can be opened;
//! 3. the device flow (a code to confirm on another device) on headless machines; it needs
//!    `AIGNOSTICS_CLIENT_ID_DEVICE`.
//!
//! New tokens are verified (RS256 against the provider's JWKS, audience, issuer, expiry) and
//! written back to the token file atomically, owner-only. [`login`], [`logout`] and [`status`]
//! do the same explicitly; [`Login`] has the options (device flow, custom browser opener,
//! prompts, timeouts).
//!
//! For services, [`ClientCredentials`] is a [`TokenProvider`](crate::TokenProvider) for the
//! client-credentials grant; [`ExpiringTokenSource`] and [`provider_from`] plug any other token
//! source in. See `docs/AUTHENTICATION.md` for the full picture.
//!
//! Fleets of workers on many machines can share one machine token instead of each asking the
//! identity provider: with the `redis` feature, `RedisTokenCache` keeps the token in Redis,
//! refreshes it once for the whole fleet and serves it stale-while-revalidate. See
//! `docs/FLEET_TOKENS.md` for a fleet example, the exact semantics and the failure behaviour.

mod browser;
mod device;
mod flight;
mod idp;
mod jwt;
mod m2m;
#[cfg(feature = "redis")]
mod redis_cache;
mod store;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use once_cell::sync::Lazy;
use parking_lot::Mutex;
use serde_json::Value;

use crate::error::Result;
use crate::retry::Idempotency;
use crate::settings::Settings;
use crate::token::Credentials;
use crate::transport::TokenSource;

pub use m2m::{ClientCredentials, ExpiringTokenSource, provider_from};
#[cfg(feature = "redis")]
pub use redis_cache::RedisTokenCache;

/// Opens a URL in a browser (see [`Login::browser`]).
type Opener = dyn Fn(&str) -> std::io::Result<()> + Send + Sync;
/// Shows a login prompt to the person (see [`Login::prompt`]).
type Prompter = dyn Fn(&LoginPrompt) + Send + Sync;

/// Bumped by every [`logout_with`], so a running client notices cheaply that some logout
/// happened and then checks [`LOGOUTS`] for its own token file.
static LOGOUT_GENERATION: AtomicU64 = AtomicU64::new(0);

/// The generation of the last logout, per token file: tokens held in memory for that file
/// before it are dropped.
static LOGOUTS: Lazy<Mutex<HashMap<PathBuf, u64>>> = Lazy::new(|| Mutex::new(HashMap::new()));

/// What the person has to do to finish an interactive login.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginPrompt {
    /// Log in at this URL in a browser on this machine (the flow tries to open it).
    OpenUrl {
        /// The authorization URL.
        url: String,
    },
    /// Visit the verification page on any device and confirm the code.
    DeviceCode {
        /// The code the page must show.
        user_code: String,
        /// The verification page.
        verification_uri: String,
        /// The verification page with the code filled in, when the provider offers one.
        verification_uri_complete: Option<String>,
    },
}

impl std::fmt::Display for LoginPrompt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::OpenUrl { url } => write!(
                f,
                "Log in to the Aignostics Platform in your browser. If no browser opens, visit:\n{url}"
            ),
            Self::DeviceCode {
                user_code,
                verification_uri,
                verification_uri_complete,
            } => write!(
                f,
                "Your user code is: {user_code}\nVisit {} and check that it shows the same code.",
                verification_uri_complete
                    .as_deref()
                    .unwrap_or(verification_uri)
            ),
        }
    }
}

/// Who a token belongs to and until when, read from its claims. Never holds the token.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TokenInfo {
    /// The user or machine (`sub`).
    pub subject: Option<String>,
    /// The organization (`org_id`).
    pub organization_id: Option<String>,
    /// The role in the organization (the `{audience}/role` claim).
    pub role: Option<String>,
    /// The issuer (`iss`).
    pub issuer: Option<String>,
    /// The audiences (`aud`).
    pub audience: Vec<String>,
    /// The granted scopes (`scope`, split on spaces).
    pub scope: Vec<String>,
    /// The client the token was issued to (`azp`).
    pub authorized_party: Option<String>,
    /// When the token was issued (`iat`).
    pub issued_at: Option<SystemTime>,
    /// When the token expires.
    pub expires_at: SystemTime,
}

impl TokenInfo {
    fn from_claims(claims: &jwt::Claims, exp: u64) -> Self {
        let text = |k: &str| claims.get(k).and_then(Value::as_str).map(str::to_string);
        let audience = jwt::audiences(claims);
        let role = audience
            .first()
            .and_then(|aud| text(&format!("{aud}/role")));
        Self {
            subject: text("sub"),
            organization_id: text("org_id"),
            role,
            issuer: text("iss"),
            scope: text("scope")
                .map(|s| s.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default(),
            audience,
            authorized_party: text("azp"),
            issued_at: claims
                .get("iat")
                .and_then(Value::as_u64)
                .map(crate::time::unix_time),
            expires_at: crate::time::unix_time(exp),
        }
    }

    /// The expiry as RFC 3339 text in UTC, e.g. `2025-06-01T12:00:00Z`.
    ///
    /// ```
    /// # fn show(info: &aignostics::auth::TokenInfo) {
    /// println!("logged in until {}", info.expires_at_rfc3339());
    /// # }
    /// ```
    pub fn expires_at_rfc3339(&self) -> String {
        crate::time::rfc3339_seconds(self.expires_at)
    }

    /// How long the token stays valid (zero once expired).
    pub fn remaining(&self) -> Duration {
        self.expires_at
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO)
    }
}

/// An interactive or refresh-token login with options; [`login`] runs one with defaults.
///
/// ```no_run
/// use aignostics::{Settings, auth::Login};
///
/// let settings = Settings::from_env()?;
/// // On a server without a browser, with AIGNOSTICS_CLIENT_ID_DEVICE set:
/// let info = Login::new(&settings).device_flow().run()?;
/// println!("logged in as {:?} until {:?}", info.subject, info.expires_at);
/// # Ok::<(), aignostics::Error>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct Login {
    settings: Settings,
    cache_token: bool,
    force: bool,
    use_device_flow: bool,
    browser: Option<Arc<Opener>>,
    prompt: Option<Arc<Prompter>>,
    timeout: Duration,
    callback_port_attempts: u32,
    callback_port_delay: Duration,
    slow_down_step: Duration,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("api_root", &self.settings.api_root)
            .field("cache_token", &self.cache_token)
            .field("force", &self.force)
            .field("device_flow", &self.use_device_flow)
            .field("custom_browser", &self.browser.is_some())
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl Login {
    /// A login with these settings: token file on, browser when possible, 10-minute timeout.
    pub fn new(settings: &Settings) -> Self {
        Self {
            settings: settings.clone(),
            cache_token: true,
            force: false,
            use_device_flow: false,
            browser: None,
            prompt: None,
            timeout: Duration::from_secs(600),
            callback_port_attempts: 20,
            callback_port_delay: Duration::from_secs(1),
            slow_down_step: Duration::from_secs(5),
        }
    }

    /// Read and write the token file (default `true`); with `false` nothing touches the file.
    pub fn cache_token(mut self, cache_token: bool) -> Self {
        self.cache_token = cache_token;
        self
    }

    /// Log in again even when the token file holds a valid token.
    pub fn force(mut self) -> Self {
        self.force = true;
        self
    }

    /// Use the device flow instead of the browser (when no refresh token is configured).
    pub fn device_flow(mut self) -> Self {
        self.use_device_flow = true;
        self
    }

    /// Open the login URL with this function instead of the system browser (a GUI's web
    /// view, a test). With an opener set, the browser flow is used even without a display.
    pub fn browser<F>(mut self, opener: F) -> Self
    where
        F: Fn(&str) -> std::io::Result<()> + Send + Sync + 'static,
    {
        self.browser = Some(Arc::new(opener));
        self
    }

    /// Show prompts (the URL to open, the device code) with this function instead of printing
    /// them to stderr.
    pub fn prompt<F>(mut self, prompt: F) -> Self
    where
        F: Fn(&LoginPrompt) + Send + Sync + 'static,
    {
        self.prompt = Some(Arc::new(prompt));
        self
    }

    /// Give up an interactive login after this long (default 10 minutes; the device flow also
    /// stops when its code expires).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// How often to try binding the callback port while another program holds it, and how long
    /// to wait between tries (default 20 × 1 s).
    pub fn callback_port_retries(mut self, attempts: u32, delay: Duration) -> Self {
        self.callback_port_attempts = attempts;
        self.callback_port_delay = delay;
        self
    }

    /// How much a device-flow `slow_down` answer adds to the polling interval (RFC 8628: 5 s).
    /// Only tests have a reason to change it.
    #[doc(hidden)]
    pub fn slow_down_step(mut self, step: Duration) -> Self {
        self.slow_down_step = step;
        self
    }

    /// Logs in (or reuses a valid token from the token file) and describes the token.
    pub fn run(&self) -> Result<TokenInfo> {
        let (token, exp) = self.obtain(true)?;
        Ok(info_of(&token, exp))
    }

    /// Logs in (or reuses a valid token) and returns the raw access token. Do not log it.
    pub fn token(&self) -> Result<String> {
        self.obtain(true).map(|(token, _)| token)
    }

    fn show(&self, prompt: &LoginPrompt) {
        match &self.prompt {
            Some(f) => f(prompt),
            None => eprintln!("{prompt}"),
        }
    }

    fn browser_opener(&self) -> Arc<Opener> {
        match &self.browser {
            Some(f) => Arc::clone(f),
            None => Arc::new(browser::open_system_browser),
        }
    }

    /// A token and its expiry: from the token file when allowed and fresh, otherwise from a
    /// login flow, verified and (when allowed) written to the file. A failed write is an error
    /// when `strict_write`, a warning otherwise.
    fn obtain(&self, strict_write: bool) -> Result<(String, u64)> {
        let path = self.settings.token_file();
        if self.cache_token
            && !self.force
            && let Some(found) = store::read_fresh(&self.settings)
        {
            return Ok(found);
        }
        let token = self.authenticate()?;
        let claims = jwt::verify(&self.settings, &token)?;
        let exp = claims
            .get("exp")
            .and_then(Value::as_f64)
            .map(|e| e as u64)
            .unwrap_or(0);
        if self.cache_token
            && let Err(e) = store::write(&path, &token, exp)
        {
            if strict_write {
                return Err(e);
            }
            log::warn!("logged in, but the token could not be saved: {e}");
        }
        Ok((token, exp))
    }

    /// Picks and runs a flow: refresh token, browser, device.
    fn authenticate(&self) -> Result<String> {
        let auth = self.settings.require_auth()?;
        if let Some(refresh_token) = &auth.refresh_token {
            let form = [
                ("grant_type", "refresh_token"),
                ("client_id", auth.client_id_interactive.as_str()),
                ("refresh_token", refresh_token.expose()),
            ];
            let (answer, _) = idp::token_grant(
                "refresh_token_grant",
                "refresh-token grant",
                &auth.token_url,
                &form,
                &self.settings.auth_operation,
                Idempotency::Idempotent,
            )?;
            return Ok(answer.access_token);
        }
        if !self.use_device_flow && (self.browser.is_some() || browser::browser_plausible()) {
            return browser::login(self);
        }
        device::login(self)
    }
}

fn info_of(token: &str, exp: u64) -> TokenInfo {
    let claims = jwt::decode_unverified(token).unwrap_or_default();
    TokenInfo::from_claims(&claims, exp)
}

/// Logs in with settings from the environment (or reuses a valid token in the token file);
/// see [`login_with`].
///
/// ```no_run
/// let info = aignostics::auth::login()?;
/// println!("logged in as {:?}", info.subject);
/// # Ok::<(), aignostics::Error>(())
/// ```
pub fn login() -> Result<TokenInfo> {
    login_with(&Settings::from_env()?)
}

/// Logs in with these settings unless the token file holds a token valid for more than five
/// minutes, writes the new token to the token file, and describes it. Runs the first flow that
/// applies: refresh token, browser, device flow. [`Login`] has the options.
pub fn login_with(settings: &Settings) -> Result<TokenInfo> {
    Login::new(settings).run()
}

/// Logs out with settings from the environment; see [`logout_with`].
///
/// ```no_run
/// if aignostics::auth::logout()? {
///     println!("logged out");
/// }
/// # Ok::<(), aignostics::Error>(())
/// ```
pub fn logout() -> Result<bool> {
    logout_with(&Settings::from_env()?)
}

/// Removes the token file and forgets tokens held in memory by this process's clients; returns
/// whether a token file existed.
pub fn logout_with(settings: &Settings) -> Result<bool> {
    let path = settings.token_file();
    let mut logouts = LOGOUTS.lock();
    let generation = LOGOUT_GENERATION.fetch_add(1, Ordering::SeqCst) + 1;
    logouts.insert(path.clone(), generation);
    drop(logouts);
    store::remove(&path)
}

/// Who is logged in (settings from the environment); see [`status_with`].
///
/// ```no_run
/// match aignostics::auth::status()? {
///     Some(info) => println!("{:?} until {:?}", info.subject, info.expires_at),
///     None => println!("not logged in"),
/// }
/// # Ok::<(), aignostics::Error>(())
/// ```
pub fn status() -> Result<Option<TokenInfo>> {
    status_with(&Settings::from_env()?)
}

/// Who is logged in and until when, from the token file: `None` when there is no token valid
/// for more than five minutes that was issued for these settings' environment (see
/// [`Settings::token_file`]). Reads the claims without contacting anyone (the token was
/// verified when it was obtained).
pub fn status_with(settings: &Settings) -> Result<Option<TokenInfo>> {
    Ok(store::read_fresh(settings).map(|(token, exp)| info_of(&token, exp)))
}

/// Verifies an access token for these settings — RS256 signature by a key of the JWKS
/// (fetched once a day), audience, issuer and expiry — and describes it.
pub fn verify_token(settings: &Settings, token: &str) -> Result<TokenInfo> {
    let claims = jwt::verify(settings, token)?;
    let exp = claims
        .get("exp")
        .and_then(Value::as_f64)
        .map(|e| e as u64)
        .unwrap_or(0);
    Ok(TokenInfo::from_claims(&claims, exp))
}

/// The internal login of one pooled `Api`: the token in memory, re-read from the file or
/// renewed only near expiry, one login at a time.
struct Session {
    login: Login,
    held: Mutex<Option<Held>>,
    flight: Mutex<()>,
}

struct Held {
    token: String,
    exp: u64,
    /// The logout generation when the token was obtained.
    acquired: u64,
    /// The logout generation when the token was last checked against [`LOGOUTS`].
    checked: u64,
}

impl Session {
    /// The token in memory, unless it nears expiry or its token file was logged out since.
    fn fresh(&self) -> Option<String> {
        let mut held = self.held.lock();
        let h = held.as_mut()?;
        let generation = LOGOUT_GENERATION.load(Ordering::SeqCst);
        if generation != h.checked {
            let path = self.login.settings.token_file();
            if LOGOUTS.lock().get(&path).is_some_and(|g| *g > h.acquired) {
                *held = None;
                return None;
            }
            h.checked = generation;
        }
        store::is_fresh(h.exp).then(|| h.token.clone())
    }
}

impl Credentials for Session {
    fn token(&self) -> Result<String> {
        self.login.settings.require_auth()?;
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        // One login at a time: threads arriving meanwhile use its result.
        let _flight = self.flight.lock();
        if let Some(token) = self.fresh() {
            return Ok(token);
        }
        let generation = LOGOUT_GENERATION.load(Ordering::SeqCst);
        let (token, exp) = self.login.obtain(false)?;
        *self.held.lock() = Some(Held {
            token: token.clone(),
            exp,
            acquired: generation,
            checked: generation,
        });
        Ok(token)
    }
}

/// The token source of a client without a token provider. Without auth settings (an unknown
/// API root) every call fails with a configuration error saying what to set.
pub(crate) fn internal_source(settings: &Settings, cache_token: bool) -> TokenSource {
    let session = Session {
        login: Login::new(settings).cache_token(cache_token),
        held: Mutex::new(None),
        flight: Mutex::new(()),
    };
    TokenSource::Internal(crate::TokenProvider::from_credentials(session))
}
