//! Handlers: one per API area, each holding a clone of the [`Client`](crate::Client).

mod access;
mod applications;
mod artifacts;
mod documents;
mod items;
mod run;
mod runs;
mod storage;
pub(crate) mod validation;
mod versions;

pub use access::{Grants, ListGrants, ListShareTokens, ShareTokens};
pub use applications::{Applications, ListApplications};
pub use artifacts::Artifact;
pub use documents::Documents;
pub use items::ListItems;
pub use run::Run;
pub use runs::{ListRuns, Runs};
pub use versions::Versions;
