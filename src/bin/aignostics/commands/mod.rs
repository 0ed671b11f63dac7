//! One module per command group; [`dispatch`] runs the command the user asked for.

mod account;
mod catalog;
pub mod prepare;
mod runs;
mod sandbox;
mod share_tokens;
pub mod slides;

use crate::args::Command;
use crate::context::{Ctx, Report, Result};

pub fn dispatch(ctx: &Ctx, command: &Command) -> Result<Report> {
    match command {
        Command::Login(args) => account::login(ctx, args),
        Command::Logout => account::logout(ctx),
        Command::Whoami => account::whoami(ctx),
        Command::Applications(command) => catalog::applications(ctx, command),
        Command::Versions(command) => catalog::versions(ctx, command),
        Command::Runs(command) => runs::runs(ctx, command),
        Command::ShareTokens(command) => share_tokens::share_tokens(ctx, command),
        Command::Sandbox(args) => sandbox::serve(ctx, args),
        Command::Slides(command) => slides::slides(ctx, command),
    }
}
