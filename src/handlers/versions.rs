//! [`Versions`]: the versions of an application and their details.

use std::sync::Arc;

use crate::client::Client;
use crate::error::{ApiError, Error, Result};
use crate::handlers::Documents;
use crate::models::{ApplicationVersion, VersionReadResponse};
use crate::transport::Op;

/// The application versions handler; see [`Client::versions`].
///
/// ```no_run
/// # let client = aignostics::Client::new()?;
/// let versions = client.versions();
/// if let Some(latest) = versions.latest("he-tme")? {
///     let details = versions.details("he-tme", Some(&latest.number))?;
///     for input in &details.input_artifacts {
///         println!("input {} ({})", input.name, input.mime_type);
///     }
/// }
/// # Ok::<(), aignostics::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Versions {
    client: Client,
}

#[cfg_attr(feature = "async", aignostics_macros::twin)]
impl Versions {
    pub(crate) fn new(client: Client) -> Self {
        Self { client }
    }

    /// The versions of an application, as the platform lists them (from
    /// `GET /v1/applications/{id}`; cached 300 s).
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// for v in client.versions().list("he-tme")? {
    ///     println!("{} released {}", v.number, v.released_at);
    /// }
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn list(&self, application_id: &str) -> Result<Vec<ApplicationVersion>> {
        Ok(self
            .client
            .applications()
            .details(application_id)?
            .versions
            .clone())
    }

    /// The versions sorted by semantic version, highest first. Numbers that are not semantic
    /// versions are left out, unless none parses, in which case the list comes back as listed.
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// let newest_first = client.versions().list_sorted("he-tme")?;
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn list_sorted(&self, application_id: &str) -> Result<Vec<ApplicationVersion>> {
        Ok(sort_versions(self.list(application_id)?))
    }

    /// The highest semantic version of an application, or `None` when it has no versions.
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// let latest = client.versions().latest("he-tme")?.map(|v| v.number);
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn latest(&self, application_id: &str) -> Result<Option<ApplicationVersion>> {
        Ok(self.list_sorted(application_id)?.into_iter().next())
    }

    /// Details of a version (`GET /v1/applications/{id}/versions/{version}`; cached 300 s,
    /// shared with the cache): its input artifacts with their metadata schemas, and its output
    /// artifacts. `None` picks the latest version, which is cached too (for the shorter of the
    /// application and application-version TTLs), so a repeated call is one lookup; a version
    /// that is not semver is an [`Error::InvalidInput`](crate::Error::InvalidInput) before any
    /// request.
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// let v = client.versions().details("he-tme", Some("1.0.0"))?;
    /// println!("{}", v.changelog);
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn details(
        &self,
        application_id: &str,
        version: Option<&str>,
    ) -> Result<Arc<VersionReadResponse>> {
        let Some(version) = version else {
            let api = self.client.api();
            let s = api.settings();
            // The latest version depends on the application's version list too.
            let ttl = s.application.cache_ttl.min(s.application_version.cache_ttl);
            // No request has an empty version segment, so this target is never a real path.
            let alias = Op::GetApplicationVersion.at(&[application_id, ""]);
            return api.read_alias(
                Op::GetApplicationVersion,
                alias.into_target(),
                ttl,
                self.client.cache_use(),
                || {
                    let latest = self.latest_number(application_id)?;
                    self.details(application_id, Some(&latest))
                },
            );
        };
        // Checked before any request; a hit was checked when it was fetched.
        self.client.read_shared_checked(
            Op::GetApplicationVersion.at(&[application_id, version]),
            || parse_semver(version).map(drop),
        )
    }

    /// The highest semantic version of an application, or a not-found error when it has none.
    pub(crate) fn latest_number(&self, application_id: &str) -> Result<String> {
        let app = self.client.applications().details(application_id)?;
        app.versions
            .iter()
            .filter_map(|v| {
                semver::Version::parse(&v.number)
                    .ok()
                    .map(|s| (s, &v.number))
            })
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, n)| n.clone())
            .ok_or_else(|| {
                ApiError {
                    status: 404,
                    operation: Op::GetApplicationVersion.name().to_string(),
                    detail: Some(format!(
                        "no versions found for application '{application_id}'"
                    )),
                    validation: Vec::new(),
                    retry_after: None,
                }
                .into()
            })
    }

    /// The documents (README, instructions for use, …) of a version; `None` picks the latest
    /// version when the first document call is made. No I/O happens here.
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// let docs = client.versions().documents("he-tme", Some("1.0.0"));
    /// for doc in docs.list()? {
    ///     println!("{} ({})", doc.name, doc.mime_type);
    /// }
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn documents(&self, application_id: &str, version: Option<&str>) -> Documents {
        Documents::new(
            self.client.clone(),
            application_id.to_string(),
            version.map(str::to_string),
        )
    }
}

/// Parses a semantic version, or explains why it is not one.
pub(crate) fn parse_semver(version: &str) -> Result<semver::Version> {
    semver::Version::parse(version).map_err(|e| {
        Error::InvalidInput(format!(
            "version {version:?} is not a semantic version (e.g. 1.2.0): {e}"
        ))
    })
}

/// Sorts versions by semver, highest first; unparseable numbers are dropped unless none parses.
pub(crate) fn sort_versions(versions: Vec<ApplicationVersion>) -> Vec<ApplicationVersion> {
    let mut parsed: Vec<(semver::Version, ApplicationVersion)> = versions
        .iter()
        .filter_map(|v| parse_semver(&v.number).ok().map(|s| (s, v.clone())))
        .collect();
    if parsed.is_empty() {
        return versions;
    }
    parsed.sort_by(|a, b| b.0.cmp(&a.0));
    parsed.into_iter().map(|(_, v)| v).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(n: &str) -> ApplicationVersion {
        ApplicationVersion {
            number: n.to_string(),
            released_at: "2025-01-01T00:00:00Z".to_string(),
        }
    }

    // Proves versions sort by semver descending, dropping unparseable numbers. (FR-24)
    #[test]
    fn sorts_by_semver_descending() {
        let sorted = sort_versions(vec![v("1.2.0"), v("bogus"), v("1.10.0"), v("1.10.0-rc.1")]);
        let numbers: Vec<&str> = sorted.iter().map(|v| v.number.as_str()).collect();
        assert_eq!(numbers, ["1.10.0", "1.10.0-rc.1", "1.2.0"]);
    }

    // Proves a list with no semver number comes back unchanged. (FR-24)
    #[test]
    fn keeps_original_when_nothing_parses() {
        let sorted = sort_versions(vec![v("b"), v("a")]);
        let numbers: Vec<&str> = sorted.iter().map(|v| v.number.as_str()).collect();
        assert_eq!(numbers, ["b", "a"]);
    }
}
