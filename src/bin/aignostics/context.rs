//! What every command shares: settings, the client, the output mode, and how results and
//! failures travel back to `main`.

use std::io::IsTerminal;

use aignostics::{Client, Settings, TokenProvider};
use serde::Serialize;

/// The variable holding a bearer token for CI and service accounts.
pub const ACCESS_TOKEN_VAR: &str = "AIGNOSTICS_ACCESS_TOKEN";

/// Why a command failed: a usage error (exit 2) or anything else (exit 1).
#[derive(Debug)]
pub enum Failure {
    /// The command line was wrong in a way clap cannot see (exit 2).
    Usage(String),
    /// The command ran and failed (exit 1).
    Runtime(String),
    /// An SDK error (exit 1), shown with its `Display` (which never holds a token).
    Sdk(aignostics::Error),
}

impl From<aignostics::Error> for Failure {
    fn from(err: aignostics::Error) -> Self {
        Self::Sdk(err)
    }
}

pub type Result<T> = std::result::Result<T, Failure>;

/// What a command prints on stdout, and whether it failed after producing it (e.g. a
/// download report listing failed files).
#[derive(Debug, Default)]
pub struct Report {
    pub stdout: String,
    pub failure: Option<Failure>,
}

impl Report {
    pub fn text(text: impl Into<String>) -> Self {
        Self {
            stdout: text.into(),
            failure: None,
        }
    }

    /// One pretty-printed JSON document.
    pub fn json(value: &impl Serialize) -> Result<Self> {
        let mut text = serde_json::to_string_pretty(value)
            .map_err(|e| Failure::Runtime(format!("could not encode the output as JSON: {e}")))?;
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
    /// Whether stderr is a terminal (progress bars) rather than a log or a pipe.
    pub interactive: bool,
}

impl Ctx {
    pub fn new(json: bool, api_root: Option<String>) -> Self {
        Self {
            json,
            api_root,
            interactive: std::io::stderr().is_terminal(),
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

    /// A client sending AIGNOSTICS_ACCESS_TOKEN when it is set, else using the stored login
    /// (logging in when needed).
    pub fn client(&self) -> Result<Client> {
        let builder = Client::builder().settings(self.settings()?);
        let client = match access_token() {
            Some(token) => builder
                .token_provider(TokenProvider::fixed(token))
                .build()?,
            None => builder.build()?,
        };
        Ok(client)
    }
}

/// AIGNOSTICS_ACCESS_TOKEN, unless unset or blank.
pub fn access_token() -> Option<String> {
    std::env::var(ACCESS_TOKEN_VAR)
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// A message for the person at the terminal (stderr, so stdout stays parseable).
macro_rules! note {
    ($($arg:tt)*) => {
        eprintln!($($arg)*)
    };
}
pub(crate) use note;
