//! One module per command group; [`dispatch`] runs the command the user asked for.

mod account;
pub mod bucket;
mod catalog;
pub mod cohort;
mod grants;
mod health;
pub mod prepare;
pub mod results;
pub mod runs;
mod sandbox;
mod share_tokens;
pub mod slides;
pub mod submit_flags;
mod submit_slides;

use crate::args::Command;
use crate::context::{Ctx, Report, Result};

pub fn dispatch(ctx: &Ctx, command: &mut Command) -> Result<Report> {
    match command {
        Command::Login(args) => account::login(ctx, args),
        Command::Logout => account::logout(ctx),
        Command::Whoami(args) => account::whoami(ctx, args),
        Command::Applications(command) => catalog::applications(ctx, command),
        Command::Versions(command) => catalog::versions(ctx, command),
        Command::Runs(command) => {
            if let Some(run) = command.run_id_mut() {
                *run = crate::shared::full_run_id(ctx, run)?;
            }
            runs::runs(ctx, command)
        }
        Command::ShareTokens(command) => share_tokens::share_tokens(ctx, command),
        Command::Bucket(command) => bucket::bucket(ctx, command),
        Command::Sandbox(args) => sandbox::serve(ctx, args),
        Command::Health => health::health(ctx),
        Command::Completions { shell } => {
            let mut script = Vec::new();
            clap_complete::generate(
                *shell,
                &mut crate::args::Cli::command_tree(),
                "aignostics",
                &mut script,
            );
            Ok(Report::verbatim(String::from_utf8_lossy(&script)))
        }
        Command::Documents(command) => catalog::documents(ctx, command),
        Command::Grants(command) => grants::grants(ctx, command),
        Command::Slides(command) => slides::slides(ctx, command),
        Command::Results(command) => results::results(ctx, command),
        Command::Cohort(command) => cohort::cohort(ctx, command),
    }
}
