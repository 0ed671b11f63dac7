//! `aignostics`: the command-line client of the Aignostics Platform (feature `cli`).
//!
//! ```text
//! cargo install aignostics-cli        # or, in a checkout:
//! cargo install --path cli
//! aignostics login
//! aignostics applications list
//! aignostics versions show he-tme
//! aignostics runs submit --items items.json --application he-tme
//! aignostics runs download RUN_ID results/
//! ```
//!
//! `aignostics --help` and `aignostics COMMAND --help` document every command; `docs/CLI.md`
//! has the command tree and worked examples. Conventions: results on stdout (aligned tables,
//! or exactly one JSON document with `--json`), messages and progress on stderr (none with
//! `--quiet`), server text with its control characters shown escaped. Exit status 0 on
//! success, 1 when a command fails, 2 for usage errors, 3 for an incomplete run result (or a
//! cohort not done yet), 4 for a cohort finished with failed slides, 5 when the platform
//! refused a submission (a quota; run the command again later), 130 when interrupted (Ctrl-C: what continues on the platform and how to resume is printed), and
//! nothing else (an internal error is reported and exits 1). The bearer token comes from
//! `AIGNOSTICS_ACCESS_TOKEN` when set (CI, service accounts, the sandbox), else from the
//! stored login. No token ever appears in an error message.

mod args;
mod commands;
mod context;
#[cfg(test)]
mod doc_tree;
mod hints;
mod interrupt;
mod progress;
mod shared;
mod table;
mod terminal;

use std::io::Write;
use std::panic::AssertUnwindSafe;
use std::process::ExitCode;

use clap::FromArgMatches;

use args::Cli;
use context::{Ctx, Failure, Report};
use terminal::{Keep, escape};

fn main() -> ExitCode {
    // A bug must not end the process with Rust's exit status 101, which no script expects:
    // it is reported as an internal error with the documented failure status 1.
    std::panic::set_hook(Box::new(|info| {
        let text = escape(&info.to_string(), Keep::Lines).into_owned();
        eprintln!("error: internal error: {text}\nPlease report this as a bug.");
    }));
    match std::panic::catch_unwind(AssertUnwindSafe(run)) {
        Ok(code) => code,
        Err(_) => ExitCode::from(1),
    }
}

fn run() -> ExitCode {
    // clap prints help, version and usage errors itself, exiting 0 or 2.
    let matches = Cli::command_tree().get_matches();
    let mut cli = match Cli::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    terminal::set_quiet(cli.quiet);
    if let Some((local, sub)) = matches.subcommand()
        && Cli::LOCAL_COMMANDS.contains(&local)
        && sub.contains_id("api_root")
    {
        return fail(
            Failure::Usage(format!(
                "--api-root does not apply to `{local}`, which talks to no platform"
            )),
            None,
        );
    }
    let ctx = Ctx::new(cli.json, cli.quiet, cli.api_root.clone());
    match commands::dispatch(&ctx, &mut cli.command) {
        Ok(report) => {
            if let Err(e) = print(&report, &ctx) {
                return fail(Failure::Runtime(format!("writing to stdout: {e}")), None);
            }
            match report.failure {
                Some(failure) => fail(failure, Some(&ctx)),
                None => ExitCode::SUCCESS,
            }
        }
        Err(failure) => fail(failure, Some(&ctx)),
    }
}

/// Writes the command's output (escaped unless it is JSON or the CLI's own verbatim text); a
/// closed pipe (`aignostics runs list | head -1`) is not an error.
fn print(report: &Report, ctx: &Ctx) -> std::io::Result<()> {
    let text = if ctx.json || report.verbatim {
        report.stdout.as_str().into()
    } else {
        escape(&report.stdout, Keep::Lines)
    };
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other,
    }
}

/// Reports a failure on stderr (escaped) and picks the exit status.
fn fail(failure: Failure, ctx: Option<&Ctx>) -> ExitCode {
    let say = |text: &str| eprintln!("{}", escape(text, Keep::Lines));
    match failure {
        Failure::Usage(message) => {
            say(&format!(
                "error: {message}\n\nFor more information, try '--help'."
            ));
            ExitCode::from(2)
        }
        Failure::Runtime(message) => {
            say(&format!("error: {message}"));
            ExitCode::from(1)
        }
        Failure::Incomplete(message) => {
            say(&format!("error: {message}"));
            ExitCode::from(3)
        }
        Failure::Failed(message) => {
            say(&format!("error: {message}"));
            ExitCode::from(4)
        }
        Failure::Refused(message) => {
            say(&format!("error: {message}"));
            ExitCode::from(5)
        }
        Failure::Sdk(err, hint) => {
            say(&format!("error: {err}"));
            if let Some(hint) = hint.or_else(|| ctx.and_then(|ctx| hints::hint(&err, ctx))) {
                say(&format!("hint: {hint}"));
            }
            ExitCode::from(1)
        }
    }
}
