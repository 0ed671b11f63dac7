//! Settings: API root, environments, per-operation timeouts, retries and cache TTLs.
//!
//! [`Settings::from_env`] reads every `AIGNOSTICS_*` variable the Python SDK reads, with the
//! same names, defaults and ranges, from the process environment and from the env files
//! `$AIGNOSTICS_ENV_FILE` (or `~/.aignostics/.env`) and `./.env`. The process environment wins
//! over the files, and `./.env` wins over the home file.
//!
//! | Variable | Default | Range |
//! |---|---|---|
//! | `AIGNOSTICS_API_ROOT` | `https://platform.aignostics.com` | http(s) URL |
//! | `AIGNOSTICS_{ME,APPLICATION,APPLICATION_VERSION,RUN,AUTH}_TIMEOUT` | 30 s | 0.1–300 |
//! | `AIGNOSTICS_{…}_RETRY_ATTEMPTS` (total calls) | 4 | 0–10 (0 behaves as 1) |
//! | `AIGNOSTICS_{…}_RETRY_WAIT_MIN` / `_MAX` | 0.1 s / 60 s | 0–600, min ≤ max |
//! | `AIGNOSTICS_{ME,APPLICATION,APPLICATION_VERSION}_CACHE_TTL` | 300 s | 0–604800 |
//! | `AIGNOSTICS_RUN_CACHE_TTL` | 15 s | 0–604800 |
//! | `AIGNOSTICS_RUN_{SUBMIT,CANCEL,DELETE}_TIMEOUT` | 30 s | 0.1–300 |
//! | `AIGNOSTICS_HEALTH_TIMEOUT` | 30 s | 0.1–300 |
//! | `AIGNOSTICS_AUTH_JWK_SET_CACHE_TTL` | 86400 s | 0–604800 |
//! | `AIGNOSTICS_OPERATION_CACHE_SIZE` | 4096 entries | 1–1000000 |
//! | `AIGNOSTICS_CACHE_DIR` | `~/.cache/aignostics` (platform cache dir) | path |
//! | `AIGNOSTICS_SCOPE` | `offline_access` | ≥ 3 chars, comma separated |
//! | `AIGNOSTICS_CLIENT_ID_DEVICE`, `AIGNOSTICS_ORGANIZATION_ID`, `AIGNOSTICS_REFRESH_TOKEN` | unset | |
//! | `AIGNOSTICS_AUDIENCE`, `_AUTHORIZATION_BASE_URL`, `_TOKEN_URL`, `_REDIRECT_URI`, `_DEVICE_URL`, `_JWS_JSON_URL`, `_CLIENT_ID_INTERACTIVE` | from the environment | all seven, for an unknown API root |

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};

/// The production API root.
pub const PRODUCTION_API_ROOT: &str = "https://platform.aignostics.com";

/// One of the four platform environments the crate knows the login settings of.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Environment {
    /// `https://platform.aignostics.com`
    Production,
    /// `https://platform-staging.aignostics.com`
    Staging,
    /// `https://platform-dev.aignostics.ai`
    Dev,
    /// `https://platform-test.aignostics.ai`
    Test,
}

impl Environment {
    /// All known environments.
    pub const ALL: [Environment; 4] = [Self::Production, Self::Staging, Self::Dev, Self::Test];

    /// The environment's API root (without `/api`).
    pub fn api_root(self) -> &'static str {
        match self {
            Self::Production => PRODUCTION_API_ROOT,
            Self::Staging => "https://platform-staging.aignostics.com",
            Self::Dev => "https://platform-dev.aignostics.ai",
            Self::Test => "https://platform-test.aignostics.ai",
        }
    }

    /// The environment whose API root is `api_root` (a trailing slash is ignored).
    pub fn from_api_root(api_root: &str) -> Option<Self> {
        let root = api_root.trim_end_matches('/');
        Self::ALL.into_iter().find(|e| e.api_root() == root)
    }

    /// The login settings of this environment.
    pub fn auth(self) -> AuthSettings {
        let (tenant, audience, client_id, status) = match self {
            Self::Production => (
                "https://aignostics-platform.eu.auth0.com",
                "https://aignostics-platform-samia",
                "YtJ7F9lAtxx16SZGQlYPe6wcjlXB78MM",
                Some("https://status.platform.aignostics.com"),
            ),
            Self::Staging => (
                "https://aignostics-platform-staging.eu.auth0.com",
                "https://aignostics-platform-staging-samia",
                "fQkbvYzQPPVwLxc3uque5JsyFW00rJ7b",
                Some("https://status.platform-staging.aignostics.com"),
            ),
            Self::Dev | Self::Test => (
                "https://dev-8ouohmmrbuh2h4vu.eu.auth0.com",
                "https://dev-8ouohmmrbuh2h4vu-samia",
                "gqduveFvx7LX90drQPGzr4JGUYdh24gA",
                None,
            ),
        };
        AuthSettings {
            audience: audience.to_string(),
            authorization_base_url: format!("{tenant}/authorize"),
            token_url: format!("{tenant}/oauth/token"),
            redirect_uri: "http://localhost:8989/".to_string(),
            device_url: format!("{tenant}/oauth/device/code"),
            jws_json_url: format!("{tenant}/.well-known/jwks.json"),
            client_id_interactive: client_id.to_string(),
            client_id_device: None,
            scope: vec!["offline_access".to_string()],
            organization_id: None,
            refresh_token: None,
            status_page_url: status.map(str::to_string),
        }
    }
}

/// A secret string (refresh token, client secret) whose `Debug` output is redacted.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret value. Do not log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret(***, {} chars)", self.0.chars().count())
    }
}

/// Where and how the internal OAuth login happens.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AuthSettings {
    /// Token audience.
    pub audience: String,
    /// The `/authorize` endpoint.
    pub authorization_base_url: String,
    /// The token endpoint.
    pub token_url: String,
    /// Redirect URI of the authorization-code flow (`http://localhost:8989/`).
    pub redirect_uri: String,
    /// The device-authorization endpoint.
    pub device_url: String,
    /// The JWKS document used to verify tokens.
    pub jws_json_url: String,
    /// Public client id of the browser flow.
    pub client_id_interactive: String,
    /// Client id of the device flow (`AIGNOSTICS_CLIENT_ID_DEVICE`).
    pub client_id_device: Option<String>,
    /// OAuth scopes.
    pub scope: Vec<String>,
    /// Organization to log in to (`organization=` on `/authorize`).
    pub organization_id: Option<String>,
    /// A refresh token to log in without a browser (`AIGNOSTICS_REFRESH_TOKEN`).
    pub refresh_token: Option<Secret>,
    /// The status page of the environment.
    pub status_page_url: Option<String>,
}

impl AuthSettings {
    /// The expected `iss` claim: `{scheme}://{host}/` of the authorization URL.
    pub fn issuer(&self) -> String {
        let url = &self.authorization_base_url;
        match url.split_once("://") {
            Some((scheme, rest)) if !rest.is_empty() && !rest.starts_with('/') => {
                let host = rest.split(['/', '?', '#']).next().unwrap_or(rest);
                format!("{scheme}://{host}/")
            }
            _ => match url.rsplit_once('/') {
                Some((head, _)) => format!("{head}/"),
                None => format!("{url}/"),
            },
        }
    }
}

/// Timeout, retries and cache lifetime of one group of operations.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OperationSettings {
    /// Connect and response-header timeout of each call.
    pub timeout: Duration,
    /// Total number of calls, first one included (0 behaves as 1).
    pub retry_attempts: u32,
    /// First back-off wait.
    pub retry_wait_min: Duration,
    /// Longest back-off wait (also caps `Retry-After`).
    pub retry_wait_max: Duration,
    /// How long a result stays in the operation cache (zero disables caching).
    pub cache_ttl: Duration,
}

impl OperationSettings {
    fn new(cache_ttl_secs: u64) -> Self {
        Self {
            timeout: Duration::from_secs(30),
            retry_attempts: 4,
            retry_wait_min: Duration::from_millis(100),
            retry_wait_max: Duration::from_secs(60),
            cache_ttl: Duration::from_secs(cache_ttl_secs),
        }
    }

    /// Settings with no back-off waits and the given attempts; handy in tests.
    pub fn no_wait(mut self, attempts: u32) -> Self {
        self.retry_attempts = attempts;
        self.retry_wait_min = Duration::ZERO;
        self.retry_wait_max = Duration::ZERO;
        self
    }
}

/// Every knob of the client. Build with [`Settings::from_env`] or start from
/// [`Settings::default`] (production, Python SDK defaults) and change fields.
///
/// ```
/// use std::time::Duration;
/// let mut settings = aignostics::Settings::default();
/// settings.run.timeout = Duration::from_secs(10);
/// settings.run.retry_attempts = 2;
/// assert_eq!(settings.api_root, "https://platform.aignostics.com");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub struct Settings {
    /// API root without `/api` and without a trailing slash.
    pub api_root: String,
    /// Internal OAuth settings; `None` for an unknown API root without explicit auth settings,
    /// in which case a [`TokenProvider`](crate::TokenProvider) is required.
    pub auth: Option<AuthSettings>,
    /// Where the token file (`.token`) lives.
    pub cache_dir: PathBuf,
    /// `GET /me`.
    pub me: OperationSettings,
    /// Applications, application details, version lists.
    pub application: OperationSettings,
    /// Version details and documents.
    pub application_version: OperationSettings,
    /// Runs, items, artifacts, grants and share tokens.
    pub run: OperationSettings,
    /// Token endpoint and JWKS calls (`cache_ttl` is the JWKS cache lifetime).
    pub auth_operation: OperationSettings,
    /// Timeout of `POST /runs` and custom-metadata updates.
    pub run_submit_timeout: Duration,
    /// Timeout of run cancellation.
    pub run_cancel_timeout: Duration,
    /// Timeout of artifact deletion.
    pub run_delete_timeout: Duration,
    /// Timeout of health checks (`AIGNOSTICS_HEALTH_TIMEOUT`, default 30 s). Parsed and kept
    /// for the platform health check; no request of the API operations uses it.
    pub health_timeout: Duration,
    /// Capacity of the process-wide operation cache (read when the cache is first used).
    pub operation_cache_size: usize,
    /// A bearer token to send instead of any login (`AIGNOSTICS_ACCESS_TOKEN`: CI, service
    /// accounts, the sandbox). [`Client::new`](crate::Client::new) and the command line use
    /// it when set; an explicit token provider wins.
    pub access_token: Option<Secret>,
    /// The S3 endpoint of the organization's bucket when its protocol has none built in
    /// (`AIGNOSTICS_BUCKET_ENDPOINT`: the sandbox, a self-hosted store), for the pipeline and
    /// the command line alike.
    pub bucket_endpoint: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        let mut auth_operation = OperationSettings::new(86_400);
        auth_operation.timeout = Duration::from_secs(30);
        Self {
            api_root: PRODUCTION_API_ROOT.to_string(),
            auth: Some(Environment::Production.auth()),
            cache_dir: default_cache_dir(),
            me: OperationSettings::new(300),
            application: OperationSettings::new(300),
            application_version: OperationSettings::new(300),
            run: OperationSettings::new(15),
            auth_operation,
            run_submit_timeout: Duration::from_secs(30),
            run_cancel_timeout: Duration::from_secs(30),
            run_delete_timeout: Duration::from_secs(30),
            health_timeout: Duration::from_secs(30),
            operation_cache_size: 4096,
            access_token: None,
            bucket_endpoint: None,
        }
    }
}

const AUTH_FIELDS: [&str; 7] = [
    "AUDIENCE",
    "AUTHORIZATION_BASE_URL",
    "TOKEN_URL",
    "REDIRECT_URI",
    "DEVICE_URL",
    "JWS_JSON_URL",
    "CLIENT_ID_INTERACTIVE",
];

impl Settings {
    /// Settings for another API root. A known environment's root brings its login settings;
    /// any other root (a sandbox, a proxy) has none and needs a token provider.
    ///
    /// ```
    /// let s = aignostics::Settings::default().with_api_root("http://127.0.0.1:8080/")?;
    /// assert_eq!(s.api_root, "http://127.0.0.1:8080");
    /// assert!(s.auth.is_none());
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn with_api_root(mut self, api_root: &str) -> Result<Self> {
        self.api_root = normalize_root(api_root, "api_root")?;
        self.auth = Environment::from_api_root(&self.api_root).map(Environment::auth);
        Ok(self)
    }

    /// Reads the process environment and the env files (see the module docs).
    pub fn from_env() -> Result<Self> {
        let mut vars: HashMap<String, String> = HashMap::new();
        let home_env = std::env::var_os("AIGNOSTICS_ENV_FILE")
            .map(PathBuf::from)
            .or_else(|| home_dir().map(|h| h.join(".aignostics").join(".env")));
        for file in home_env.into_iter().chain([PathBuf::from(".env")]) {
            if let Ok(text) = std::fs::read_to_string(&file) {
                vars.extend(parse_env_file(&text));
            }
        }
        for (k, v) in std::env::vars() {
            if k.starts_with("AIGNOSTICS_") {
                vars.insert(k, v);
            }
        }
        Self::from_vars(vars)
    }

    /// Builds settings from `AIGNOSTICS_*` variables given explicitly (no process environment,
    /// no files). Unknown variables are ignored.
    ///
    /// ```
    /// let s = aignostics::Settings::from_vars([("AIGNOSTICS_RUN_CACHE_TTL", "0")])?;
    /// assert!(s.run.cache_ttl.is_zero());
    /// let err = aignostics::Settings::from_vars([
    ///     ("AIGNOSTICS_ME_RETRY_WAIT_MIN", "10"),
    ///     ("AIGNOSTICS_ME_RETRY_WAIT_MAX", "5"),
    /// ]).unwrap_err();
    /// assert!(err.to_string().contains("AIGNOSTICS_ME_RETRY_WAIT_MIN"));
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn from_vars<K, V>(vars: impl IntoIterator<Item = (K, V)>) -> Result<Self>
    where
        K: Into<String>,
        V: Into<String>,
    {
        let vars: HashMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .filter(|(k, _)| k.starts_with("AIGNOSTICS_"))
            .collect();
        let env = Env(&vars);
        let mut s = Settings::default();

        if let Some(root) = env.get("API_ROOT") {
            s.api_root = normalize_root(root, "AIGNOSTICS_API_ROOT")?;
        }
        s.access_token = env.get("ACCESS_TOKEN").map(|t| Secret::new(t.trim()));
        if let Some(endpoint) = env.get("BUCKET_ENDPOINT") {
            s.bucket_endpoint = Some(normalize_root(endpoint, "AIGNOSTICS_BUCKET_ENDPOINT")?);
        }
        let explicit: Vec<Option<&str>> = AUTH_FIELDS.iter().map(|f| env.get(f)).collect();
        let mut auth = if explicit.iter().all(Option::is_some) {
            let v: Vec<String> = explicit.iter().flatten().map(|s| s.to_string()).collect();
            Some(AuthSettings {
                audience: v[0].clone(),
                authorization_base_url: v[1].clone(),
                token_url: v[2].clone(),
                redirect_uri: v[3].clone(),
                device_url: v[4].clone(),
                jws_json_url: v[5].clone(),
                client_id_interactive: v[6].clone(),
                ..Environment::Production.auth()
            })
        } else {
            Environment::from_api_root(&s.api_root).map(Environment::auth)
        };
        if let Some(a) = auth.as_mut() {
            let len = a.audience.chars().count();
            if !(10..=100).contains(&len) {
                return Err(Error::Config(format!(
                    "AIGNOSTICS_AUDIENCE must be 10 to 100 characters long, got {len}"
                )));
            }
            for (name, url) in [
                ("AIGNOSTICS_TOKEN_URL", &a.token_url),
                ("AIGNOSTICS_REDIRECT_URI", &a.redirect_uri),
                ("AIGNOSTICS_DEVICE_URL", &a.device_url),
                ("AIGNOSTICS_JWS_JSON_URL", &a.jws_json_url),
            ] {
                normalize_root(url, name)?;
            }
            if let Some(id) = env.get("CLIENT_ID_DEVICE") {
                a.client_id_device = Some(id.to_string());
            }
            if let Some(org) = env.get("ORGANIZATION_ID") {
                a.organization_id = Some(org.to_string());
            }
            if let Some(scope) = env.get("SCOPE") {
                if scope.chars().count() < 3 {
                    return Err(Error::Config(
                        "AIGNOSTICS_SCOPE must be at least 3 characters long".into(),
                    ));
                }
                a.scope = scope
                    .split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect();
            }
            if let Some(token) = env.get("REFRESH_TOKEN") {
                let len = token.chars().count();
                if !(10..=1000).contains(&len) {
                    return Err(Error::Config(format!(
                        "AIGNOSTICS_REFRESH_TOKEN must be 10 to 1000 characters long, got {len}"
                    )));
                }
                a.refresh_token = Some(Secret::new(token));
            }
            if let Some(url) = env.get("STATUS_PAGE_URL") {
                a.status_page_url = (!url.is_empty()).then(|| url.to_string());
            }
        }
        s.auth = auth;

        if let Some(dir) = env.get("CACHE_DIR") {
            s.cache_dir = PathBuf::from(dir);
        }
        for (prefix, group) in [
            ("ME", &mut s.me),
            ("APPLICATION", &mut s.application),
            ("APPLICATION_VERSION", &mut s.application_version),
            ("RUN", &mut s.run),
            ("AUTH", &mut s.auth_operation),
        ] {
            env.read_group(prefix, group)?;
        }
        s.auth_operation.cache_ttl = env
            .secs("AUTH_JWK_SET_CACHE_TTL", 0.0, 604_800.0)?
            .unwrap_or(s.auth_operation.cache_ttl);
        for (name, field) in [
            ("RUN_SUBMIT_TIMEOUT", &mut s.run_submit_timeout),
            ("RUN_CANCEL_TIMEOUT", &mut s.run_cancel_timeout),
            ("RUN_DELETE_TIMEOUT", &mut s.run_delete_timeout),
            ("HEALTH_TIMEOUT", &mut s.health_timeout),
        ] {
            if let Some(d) = env.secs(name, 0.1, 300.0)? {
                *field = d;
            }
        }
        if let Some(n) = env.int("OPERATION_CACHE_SIZE", 1, 1_000_000)? {
            s.operation_cache_size = n as usize;
        }
        Ok(s)
    }

    /// The token file of the internal login.
    ///
    /// For the four known environments with their own login settings it is `{cache_dir}/.token`,
    /// the file the Python SDK shares; a token in it is used only when its `aud` and `iss`
    /// claims are this environment's. Any other API root (or login settings of one's own) gets
    /// `{cache_dir}/.token-{16 hex digits of SHA-256 of the API root}`, so a token is never read
    /// for a root it was not obtained for, e.g. after a `.env` names another root.
    ///
    /// ```
    /// let production = aignostics::Settings::default();
    /// assert!(production.token_file().ends_with(".token"));
    /// let local = production.with_api_root("http://127.0.0.1:8000")?;
    /// assert_ne!(local.token_file().file_name().unwrap(), ".token");
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn token_file(&self) -> PathBuf {
        let shared = Environment::from_api_root(&self.api_root).is_some_and(|env| {
            let own = env.auth();
            self.auth.as_ref().is_some_and(|a| {
                a.audience == own.audience
                    && a.issuer() == own.issuer()
                    && a.token_url == own.token_url
            })
        });
        if shared {
            return self.cache_dir.join(".token");
        }
        let digest = crate::checksum::sha256(self.api_root.as_bytes());
        let hex = crate::checksum::hex(&digest[..8]);
        self.cache_dir.join(format!(".token-{hex}"))
    }

    /// The auth settings, or a configuration error telling the caller what to set.
    pub fn require_auth(&self) -> Result<&AuthSettings> {
        self.auth.as_ref().ok_or_else(|| {
            Error::Config(format!(
                "AIGNOSTICS_API_ROOT is set to {}, which is not a known Aignostics environment: \
                 pass a token provider, or set all of AIGNOSTICS_{}",
                self.api_root,
                AUTH_FIELDS.join(", AIGNOSTICS_")
            ))
        })
    }
}

struct Env<'a>(&'a HashMap<String, String>);

impl Env<'_> {
    fn get(&self, field: &str) -> Option<&str> {
        self.0
            .get(&format!("AIGNOSTICS_{field}"))
            .map(|s| s.trim())
            .filter(|s| !s.is_empty())
    }

    fn number(&self, field: &str, min: f64, max: f64) -> Result<Option<f64>> {
        let Some(raw) = self.get(field) else {
            return Ok(None);
        };
        match raw.parse::<f64>() {
            Ok(v) if v.is_finite() && (min..=max).contains(&v) => Ok(Some(v)),
            _ => Err(Error::Config(format!(
                "AIGNOSTICS_{field} must be a number from {min} to {max}, got {raw:?}"
            ))),
        }
    }

    fn secs(&self, field: &str, min: f64, max: f64) -> Result<Option<Duration>> {
        Ok(self.number(field, min, max)?.map(Duration::from_secs_f64))
    }

    fn int(&self, field: &str, min: u64, max: u64) -> Result<Option<u64>> {
        let Some(raw) = self.get(field) else {
            return Ok(None);
        };
        match raw.parse::<u64>() {
            Ok(v) if (min..=max).contains(&v) => Ok(Some(v)),
            _ => Err(Error::Config(format!(
                "AIGNOSTICS_{field} must be a whole number from {min} to {max}, got {raw:?}"
            ))),
        }
    }

    fn read_group(&self, prefix: &str, group: &mut OperationSettings) -> Result<()> {
        if let Some(d) = self.secs(&format!("{prefix}_TIMEOUT"), 0.1, 300.0)? {
            group.timeout = d;
        }
        if let Some(n) = self.int(&format!("{prefix}_RETRY_ATTEMPTS"), 0, 10)? {
            group.retry_attempts = n as u32;
        }
        if let Some(d) = self.secs(&format!("{prefix}_RETRY_WAIT_MIN"), 0.0, 600.0)? {
            group.retry_wait_min = d;
        }
        if let Some(d) = self.secs(&format!("{prefix}_RETRY_WAIT_MAX"), 0.0, 600.0)? {
            group.retry_wait_max = d;
        }
        if group.retry_wait_min > group.retry_wait_max {
            return Err(Error::Config(format!(
                "AIGNOSTICS_{prefix}_RETRY_WAIT_MIN ({}) must be less than or equal to \
                 AIGNOSTICS_{prefix}_RETRY_WAIT_MAX ({})",
                group.retry_wait_min.as_secs_f64(),
                group.retry_wait_max.as_secs_f64()
            )));
        }
        if prefix != "AUTH"
            && let Some(d) = self.secs(&format!("{prefix}_CACHE_TTL"), 0.0, 604_800.0)?
        {
            group.cache_ttl = d;
        }
        Ok(())
    }
}

/// Checks that `url` is an http(s) URL with a host (read by the `http` crate's URI parser: no
/// user info, a port in range, no query or fragment) and strips trailing slashes.
pub(crate) fn normalize_root(url: &str, name: &str) -> Result<String> {
    let trimmed = url.trim().trim_end_matches('/');
    let invalid = || {
        Error::Config(format!(
            "{name} must be an http:// or https:// URL with a host, got {url:?}"
        ))
    };
    let parsed: ureq::http::Uri = trimmed.parse().map_err(|_| invalid())?;
    let authority = parsed.authority().ok_or_else(invalid)?;
    // The text after the host (past an IPv6 literal's `]`): empty, or `:` and a port 1-65535.
    let text = authority.as_str();
    let after_host = &text[text.rfind(']').map_or(0, |i| i + 1)..];
    let port_ok = match after_host.rsplit_once(':') {
        None => true,
        Some((_, port)) => port.parse::<u16>().is_ok_and(|p| p != 0),
    };
    if !matches!(parsed.scheme_str(), Some("http" | "https"))
        || authority.host().is_empty()
        || authority.as_str().contains('@')
        || !port_ok
        || parsed.query().is_some()
        || trimmed.contains('#')
    {
        return Err(invalid());
    }
    Ok(trimmed.to_string())
}

fn parse_env_file(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                return None;
            }
            let line = line.strip_prefix("export ").unwrap_or(line);
            let (key, value) = line.split_once('=')?;
            let value = value.trim();
            let value = value
                .strip_prefix('"')
                .and_then(|v| v.strip_suffix('"'))
                .or_else(|| value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')))
                .unwrap_or(value);
            Some((key.trim().to_string(), value.to_string()))
        })
        .collect()
}

fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME")
        .or_else(|| std::env::var_os("USERPROFILE"))
        .filter(|h| !h.is_empty())
        .map(PathBuf::from)
}

/// The platform's user cache directory for `aignostics`, as Python's `platformdirs` picks it.
fn default_cache_dir() -> PathBuf {
    let home = home_dir().unwrap_or_else(|| PathBuf::from("."));
    if cfg!(target_os = "macos") {
        home.join("Library/Caches/aignostics")
    } else if cfg!(windows) {
        std::env::var_os("LOCALAPPDATA")
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join("AppData/Local"))
            .join("aignostics/aignostics/Cache")
    } else {
        std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| home.join(".cache"))
            .join("aignostics")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the known environments resolve every login field from the API root alone. (FR-18)
    #[test]
    fn environments_resolve_auth_from_root() {
        let s = Settings::from_vars([(
            "AIGNOSTICS_API_ROOT",
            "https://platform-staging.aignostics.com/",
        )])
        .unwrap();
        assert_eq!(s.api_root, "https://platform-staging.aignostics.com");
        let a = s.auth.unwrap();
        assert_eq!(a.client_id_interactive, "fQkbvYzQPPVwLxc3uque5JsyFW00rJ7b");
        assert_eq!(
            a.token_url,
            "https://aignostics-platform-staging.eu.auth0.com/oauth/token"
        );
        assert_eq!(
            a.issuer(),
            "https://aignostics-platform-staging.eu.auth0.com/"
        );
    }

    // Proves an unknown root has no login settings until all seven fields are given. (FR-18)
    #[test]
    fn unknown_root_needs_all_auth_fields() {
        let s = Settings::from_vars([("AIGNOSTICS_API_ROOT", "http://127.0.0.1:9")]).unwrap();
        let err = s.require_auth().unwrap_err();
        assert!(err.to_string().contains("AIGNOSTICS_TOKEN_URL"), "{err}");
        let mut vars = vec![(
            "AIGNOSTICS_API_ROOT".to_string(),
            "http://127.0.0.1:9".to_string(),
        )];
        for f in AUTH_FIELDS {
            vars.push((
                format!("AIGNOSTICS_{f}"),
                "https://idp.example.com/x".to_string(),
            ));
        }
        let s = Settings::from_vars(vars).unwrap();
        assert_eq!(
            s.require_auth().unwrap().token_url,
            "https://idp.example.com/x"
        );
    }

    // Proves out-of-range values name the variable and the allowed range. (FR-18, NFR-13)
    #[test]
    fn invalid_values_name_variable_and_range() {
        let err = Settings::from_vars([("AIGNOSTICS_RUN_TIMEOUT", "0")]).unwrap_err();
        assert!(
            err.to_string()
                .contains("AIGNOSTICS_RUN_TIMEOUT must be a number from 0.1 to 300")
        );
        let err = Settings::from_vars([("AIGNOSTICS_ME_RETRY_ATTEMPTS", "11")]).unwrap_err();
        assert!(err.to_string().contains("AIGNOSTICS_ME_RETRY_ATTEMPTS"));
        let err = Settings::from_vars([
            ("AIGNOSTICS_RUN_RETRY_WAIT_MIN", "10"),
            ("AIGNOSTICS_RUN_RETRY_WAIT_MAX", "5"),
        ])
        .unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("AIGNOSTICS_RUN_RETRY_WAIT_MIN (10)"),
            "{text}"
        );
        assert!(text.contains("AIGNOSTICS_RUN_RETRY_WAIT_MAX (5)"), "{text}");
        let err = Settings::from_vars([("AIGNOSTICS_OPERATION_CACHE_SIZE", "0")]).unwrap_err();
        assert!(err.to_string().contains("1 to 1000000"));
        let err = Settings::from_vars([("AIGNOSTICS_API_ROOT", "ftp://x")]).unwrap_err();
        assert!(err.to_string().contains("AIGNOSTICS_API_ROOT"));
    }

    // Proves API roots are read by a real URI parser: user info, ports out of range, queries
    // and other schemes are refused naming the setting; trailing slashes go. (FR-18, NFR-30)
    #[test]
    fn api_roots_are_uris() {
        assert_eq!(
            normalize_root("http://127.0.0.1:8080//", "api_root").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(normalize_root("https://platform.aignostics.com", "x").is_ok());
        assert!(normalize_root("http://[::1]:9/api", "x").is_ok());
        for bad in [
            "http://u@localhost:8989/",
            "http://localhost:99999",
            "http://localhost:0",
            "ftp://host",
            "https://",
            "https://host/?q=1",
            "host:80",
            "http://ho st",
        ] {
            let err = normalize_root(bad, "AIGNOSTICS_API_ROOT").unwrap_err();
            assert!(err.to_string().contains("AIGNOSTICS_API_ROOT"), "{bad}");
        }
    }

    // Proves the defaults match the Python SDK (run TTL 15 s, others 300 s, 4 attempts). (FR-18, FR-12)
    #[test]
    fn defaults_match_python_sdk() {
        let s = Settings::from_vars(Vec::<(String, String)>::new()).unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!(s.run.cache_ttl, Duration::from_secs(15));
        assert_eq!(s.me.cache_ttl, Duration::from_secs(300));
        assert_eq!(s.application_version.retry_attempts, 4);
        assert_eq!(s.auth_operation.cache_ttl, Duration::from_secs(86_400));
        assert_eq!(s.token_file(), s.cache_dir.join(".token"));
    }

    // Proves env files parse comments, quotes and `export`, and that the refresh token is redacted. (FR-18, NFR-05)
    #[test]
    fn env_file_and_secret_redaction() {
        let vars = parse_env_file(
            "# comment\nexport AIGNOSTICS_SCOPE = \"offline_access, openid\"\nAIGNOSTICS_REFRESH_TOKEN='abcdefghijkl'\n",
        );
        let s = Settings::from_vars(vars).unwrap();
        let a = s.auth.clone().unwrap();
        assert_eq!(a.scope, ["offline_access", "openid"]);
        assert_eq!(a.refresh_token.as_ref().unwrap().expose(), "abcdefghijkl");
        assert!(!format!("{s:?}").contains("abcdefghijkl"));
    }
}
