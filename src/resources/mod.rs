//! Handlers: one per API area, each holding a clone of the [`Client`](crate::Client).

mod artifacts;
mod items;
mod run;

pub use artifacts::Artifact;
pub use items::ListItems;
pub use run::Run;
