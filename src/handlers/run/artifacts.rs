//! Output artifacts of a run.

use super::Run;
use crate::error::Result;
use crate::transport::Op;

/// A handle on one output artifact of a run; see [`Run::artifact`].
#[derive(Debug, Clone)]
pub struct Artifact {
    run: Run,
    id: String,
}

#[cfg_attr(feature = "async", aignostics_macros::twin)]
impl Artifact {
    pub(crate) fn new(run: Run, id: String) -> Self {
        Self { run, id }
    }

    /// The output artifact id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// A fresh, short-lived signed URL for the artifact's bytes: the `Location` of the 307 that
    /// `GET /v1/runs/{id}/artifacts/{artifact_id}/file` answers. The redirect is not followed,
    /// and the bearer token is never sent to the storage host. Never cached.
    ///
    /// A deleted artifact is a 410 error ([`Error::is_gone`](crate::Error::is_gone)).
    pub fn download_url(&self) -> Result<String> {
        let req = self.run.request(Op::GetArtifactUrl, &[&self.id]);
        self.run.client.redirect_location(req)
    }
}
