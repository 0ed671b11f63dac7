//! Handlers: one per API area, each holding a clone of the [`Client`](crate::Client).

mod run;

pub use run::Run;
