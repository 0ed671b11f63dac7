//! `aignostics`: the command-line client of the Aignostics Platform (feature `cli`).
//!
//! ```text
//! cargo install aignostics --features cli
//! aignostics login
//! aignostics applications list
//! aignostics versions show he-tme
//! aignostics runs submit --items items.json --application he-tme
//! aignostics runs download RUN_ID results/
//! ```
//!
//! `aignostics --help` and `aignostics COMMAND --help` document every command; `docs/CLI.md`
//! has the command tree and worked examples. Conventions: results on stdout (aligned tables,
//! or exactly one JSON document with `--json`), messages and progress on stderr, exit status 0
//! on success, 1 when a command fails and 2 for usage errors. The bearer token comes from
//! `AIGNOSTICS_ACCESS_TOKEN` when set (CI, service accounts, the sandbox), else from the
//! stored login. No token ever appears in an error message.

mod args;
mod commands;
mod context;
mod progress;
mod table;

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

use args::Cli;
use context::{ACCESS_TOKEN_VAR, Ctx, Failure, access_token};

fn main() -> ExitCode {
    // clap prints help, version and usage errors itself, exiting 0 or 2.
    let cli = Cli::parse();
    let ctx = Ctx::new(cli.json, cli.api_root.clone());
    match commands::dispatch(&ctx, &cli.command) {
        Ok(report) => {
            if let Err(e) = print(&report.stdout) {
                return fail(Failure::Runtime(format!("writing to stdout: {e}")));
            }
            match report.failure {
                Some(failure) => fail(failure),
                None => ExitCode::SUCCESS,
            }
        }
        Err(failure) => fail(failure),
    }
}

/// Writes the command's output; a closed pipe (`aignostics runs list | head -1`) is not an
/// error.
fn print(text: &str) -> std::io::Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Reports a failure on stderr and picks the exit status.
fn fail(failure: Failure) -> ExitCode {
    match failure {
        Failure::Usage(message) => {
            eprintln!("error: {message}\n\nFor more information, try '--help'.");
            ExitCode::from(2)
        }
        Failure::Runtime(message) => {
            eprintln!("error: {message}");
            ExitCode::from(1)
        }
        Failure::Sdk(err) => {
            eprintln!("error: {err}");
            if let Some(hint) = hint(&err) {
                eprintln!("hint: {hint}");
            }
            ExitCode::from(1)
        }
    }
}

/// What to try next after an authentication problem.
fn hint(err: &aignostics::Error) -> Option<String> {
    if matches!(err, aignostics::Error::Config(m) if m.contains("token provider")) {
        // No login is possible for an API root that is not a known environment.
        return Some(format!(
            "set {ACCESS_TOKEN_VAR} to a bearer token for this API root"
        ));
    }
    if err.status() != Some(401) && !matches!(err, aignostics::Error::Auth(_)) {
        return None;
    }
    Some(if access_token().is_some() {
        format!("{ACCESS_TOKEN_VAR} is set; check that it holds a valid token for this API root")
    } else {
        format!("run `aignostics login`, or set {ACCESS_TOKEN_VAR} to a bearer token")
    })
}
