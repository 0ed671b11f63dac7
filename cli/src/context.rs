//! What every command shares: settings, the client, the output mode, and how results and
//! failures travel back to `main`.

use std::io::IsTerminal;

use aignostics::{Client, Settings};
use serde::Serialize;

/// The variable holding a bearer token for CI and service accounts.
pub const ACCESS_TOKEN_VAR: &str = "AIGNOSTICS_ACCESS_TOKEN";

/// Why a command failed; each kind has its exit status (see `main`).
#[derive(Debug)]
pub enum Failure {
    /// The command line was wrong in a way clap cannot see (exit 2).
    Usage(String),
    /// The command ran and failed (exit 1).
    Runtime(String),
    /// An SDK error (exit 1), shown with its `Display` (which never holds a token), and what
    /// to do about it when the command knows better than the generic hints.
    Sdk(aignostics::Error, Option<String>),
    /// The command worked, but the run's result is incomplete: items failed, were skipped or
    /// have not finished (exit 3).
    Incomplete(String),
    /// Everything finished, and some slides failed (exit 4).
    Failed(String),
    /// The platform refused a submission, e.g. over a quota: what was submitted stays, the
    /// same command later continues (exit 5).
    Refused(String),
}

impl From<aignostics::Error> for Failure {
    fn from(err: aignostics::Error) -> Self {
        Self::Sdk(err, None)
    }
}

impl Failure {
    /// An SDK error with the next step for the user.
    pub fn hinted(err: aignostics::Error, hint: impl Into<String>) -> Self {
        Self::Sdk(err, Some(hint.into()))
    }
}

pub type Result<T> = std::result::Result<T, Failure>;

/// What a command prints on stdout, and whether it failed after producing it (e.g. a
/// download report listing failed files).
#[derive(Debug, Default)]
pub struct Report {
    pub stdout: String,
    pub failure: Option<Failure>,
    /// The CLI's own text (a completion script), printed exactly; everything else that is
    /// not JSON has its control characters escaped.
    pub verbatim: bool,
}

impl Report {
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            stdout: text.into(),
            ..Self::default()
        }
    }

    /// Text the CLI generated itself, printed exactly.
    pub fn verbatim(text: impl Into<String>) -> Self {
        Self {
            verbatim: true,
            ..Self::text(text)
        }
    }

    /// One pretty-printed JSON document, or a failure when `value` has no JSON form (a file
    /// path that is not UTF-8, for instance).
    pub fn json(value: &impl Serialize) -> Result<Self> {
        let mut text = serde_json::to_string_pretty(value).map_err(|e| {
            Failure::Runtime(format!(
                "the result cannot be printed as JSON ({e}); run the command without --json"
            ))
        })?;
        text.push('\n');
        Ok(Self::text(text))
    }

    pub fn failing(mut self, failure: Failure) -> Self {
        self.failure = Some(failure);
        self
    }
}

/// The global options and the environment, read once.
#[derive(Debug)]
pub struct Ctx {
    pub json: bool,
    api_root: Option<String>,
    /// Whether progress is drawn as bars: stderr is a terminal (not a log or a pipe) and
    /// --quiet was not given.
    pub interactive: bool,
}

impl Ctx {
    pub fn new(json: bool, quiet: bool, api_root: Option<String>) -> Self {
        Self {
            json,
            api_root,
            interactive: !quiet && std::io::stderr().is_terminal(),
        }
    }

    /// Settings from the environment and env files, with --api-root applied.
    pub fn settings(&self) -> Result<Settings> {
        let settings = Settings::from_env()?;
        match &self.api_root {
            Some(root) => {
                let moved = settings.clone().with_api_root(root)?;
                // The same root as configured keeps login settings given in the environment.
                Ok(if moved.api_root == settings.api_root {
                    settings
                } else {
                    moved
                })
            }
            None => Ok(settings),
        }
    }

    /// The client of the settings: it sends AIGNOSTICS_ACCESS_TOKEN when that is set; else,
    /// with AIGNOSTICS_CLIENT_ID and AIGNOSTICS_CLIENT_SECRET, a machine token of the client
    /// credentials grant (shared by every process through Redis when AIGNOSTICS_REDIS_URL is
    /// set: one token for a whole fleet of workers); else the stored login (logging in when
    /// needed).
    pub fn client(&self) -> Result<Client> {
        let settings = self.settings()?;
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
        let machine = match (var(CLIENT_ID_VAR), var(CLIENT_SECRET_VAR)) {
            (Some(id), Some(secret)) if settings.access_token.is_none() => Some((id, secret)),
            (Some(_), None) | (None, Some(_)) if settings.access_token.is_none() => {
                return Err(Failure::Usage(format!(
                    "machine credentials need both {CLIENT_ID_VAR} and {CLIENT_SECRET_VAR}"
                )));
            }
            _ => None,
        };
        let Some((id, secret)) = machine else {
            return Ok(Client::builder().settings(settings).build()?);
        };
        let auth = settings.auth.clone().ok_or_else(|| {
            Failure::Usage(format!(
                "{CLIENT_ID_VAR} is set, but the API root {} has no login settings: set                  AIGNOSTICS_TOKEN_URL and AIGNOSTICS_AUDIENCE (see docs/SETTINGS.md)",
                settings.api_root
            ))
        })?;
        let credentials =
            aignostics::auth::ClientCredentials::new(auth.token_url, &id, secret, auth.audience);
        let provider = match var(REDIS_URL_VAR) {
            Some(url) => aignostics::TokenProvider::from(aignostics::auth::RedisTokenCache::new(
                &url,
                format!("aignostics:m2m:{id}"),
                credentials,
            )?),
            None => aignostics::TokenProvider::from(credentials),
        };
        Ok(Client::builder()
            .settings(settings)
            .token_provider(provider)
            .build()?)
    }
}

/// The machine client id of the client credentials grant (with [`CLIENT_SECRET_VAR`]).
pub const CLIENT_ID_VAR: &str = "AIGNOSTICS_CLIENT_ID";
/// The machine client's secret.
pub const CLIENT_SECRET_VAR: &str = "AIGNOSTICS_CLIENT_SECRET";
/// Redis shared by a fleet of workers for one machine token (`redis://[:password@]host:port/db`).
pub const REDIS_URL_VAR: &str = "AIGNOSTICS_REDIS_URL";

/// Whether the settings hold an access token (AIGNOSTICS_ACCESS_TOKEN, from the environment
/// or an env file, as the client reads it).
pub fn access_token_set() -> bool {
    Settings::from_env().is_ok_and(|s| s.access_token.is_some())
}

/// A message for the person at the terminal (see [`crate::terminal::note`]).
macro_rules! note {
    ($($arg:tt)*) => {
        $crate::terminal::note(&format!($($arg)*))
    };
}
pub(crate) use note;
