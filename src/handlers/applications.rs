//! [`Applications`]: the catalogue of applications available to the user.

use crate::client::Client;
use crate::error::Result;
use crate::models::{ApplicationReadResponse, ApplicationReadShortResponse};
use crate::pagination::{check_page_size, impl_paged};
use crate::transport::{Op, Request, seg};

/// Default page size of application lists.
const DEFAULT_PAGE_SIZE: u32 = 50;

/// The applications handler; see [`Client::applications`].
///
/// ```no_run
/// # let client = aignostics::Client::new()?;
/// for app in client.applications().list().iter() {
///     let app = app?;
///     println!("{}: {}", app.application_id, app.name);
/// }
/// let he_tme = client.applications().details("he-tme")?;
/// println!("{} versions", he_tme.versions.len());
/// # Ok::<(), aignostics::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Applications {
    client: Client,
}

impl Applications {
    pub(crate) fn new(client: Client) -> Self {
        Self { client }
    }

    /// Lists the applications available to the user (`GET /v1/applications`), with optional
    /// sorting; see [`ListApplications`].
    pub fn list(&self) -> ListApplications {
        ListApplications::new(self.client.clone())
    }

    /// An application with its versions (`GET /v1/applications/{id}`; cached 300 s). The same
    /// call as [`Client::application`].
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// let app = client.applications().details("he-tme")?;
    /// assert_eq!(app.application_id, "he-tme");
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn details(&self, application_id: &str) -> Result<ApplicationReadResponse> {
        let req = Request::new(
            Op::GetApplication,
            format!("/v1/applications/{}", seg(application_id)),
        );
        self.client.api().read(req, self.client.nocache_flag())
    }
}

/// Lists applications (`GET /v1/applications`); see [`Applications::list`]. Each page is cached
/// for the application TTL (300 s).
///
/// ```no_run
/// # let client = aignostics::Client::new()?;
/// let names: Vec<String> = client
///     .applications()
///     .list()
///     .sort("name")
///     .page_size(20)
///     .iter()
///     .map(|app| app.map(|a| a.name))
///     .collect::<aignostics::Result<_>>()?;
/// # Ok::<(), aignostics::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ListApplications {
    client: Client,
    sort: Vec<String>,
    page_size: u32,
}

impl ListApplications {
    fn new(client: Client) -> Self {
        Self {
            client,
            sort: Vec::new(),
            page_size: DEFAULT_PAGE_SIZE,
        }
    }

    /// Sorts by a field (`application_id`, `name`, `description`, `regulatory_classes`; prefix
    /// `-` for descending); call again for more keys.
    pub fn sort(mut self, field: impl Into<String>) -> Self {
        self.sort.push(field.into());
        self
    }

    /// Applications per page, 5 to 100 (default 50).
    pub fn page_size(mut self, page_size: u32) -> Self {
        self.page_size = page_size;
        self
    }

    /// One page (from 1) of results.
    pub fn page(&self, page: u32) -> Result<Vec<ApplicationReadShortResponse>> {
        let page_size = check_page_size(self.page_size)?;
        // This one list names its page size with a hyphen.
        let req = Request::new(Op::ListApplications, "/v1/applications")
            .query_all("sort", &self.sort)
            .query("page", page)
            .query("page-size", page_size);
        self.client.api().read(req, self.client.nocache_flag())
    }
}

impl_paged!(ListApplications => ApplicationReadShortResponse, "application");

/// `/v1/applications/{id}/versions/{version}` with `suffix` appended.
pub(crate) fn version_path(application_id: &str, version: &str, suffix: &str) -> String {
    format!(
        "/v1/applications/{}/versions/{}{suffix}",
        seg(application_id),
        seg(version)
    )
}
