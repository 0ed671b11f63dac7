//! Handlers: one per API area, each holding a clone of the [`Client`](crate::Client).

mod access;
mod applications;
mod document_files;
mod documents;
mod list;
pub(crate) mod run;
pub(crate) mod run_checks;
mod runs;
mod versions;

pub use access::{Grants, ListGrants, ListShareTokens, ShareTokens};
pub use applications::{Applications, ListApplications};
pub use documents::Documents;
pub use run::{Artifact, ListItems, Run, WaitOptions};
pub use runs::{ListRuns, Runs};
pub use versions::Versions;
