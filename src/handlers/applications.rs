//! [`Applications`]: the catalogue of applications available to the user.

use std::sync::Arc;

use crate::client::Client;
use crate::error::Result;
use crate::handlers::list::list;
use crate::models::{ApplicationReadResponse, ApplicationReadShortResponse};
use crate::transport::Op;

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

#[cfg_attr(feature = "async", aignostics_macros::twin)]
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
    pub fn details(&self, application_id: &str) -> Result<Arc<ApplicationReadResponse>> {
        self.client
            .read_shared(Op::GetApplication.at(&[application_id]))
    }
}

list! {
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
    ListApplications(Client, Op::ListApplications) => ApplicationReadShortResponse, "application", page_size "page-size" {
        /// Sorts by a field (`application_id`, `name`, `description`, `regulatory_classes`;
        /// prefix `-` for descending); call again for more keys.
        sort: each String,
    }
}
