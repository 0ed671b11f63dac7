//! [`Documents`]: the documents (README, instructions for use, …) of an application version.

use std::cell::Cell;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::client::Client;
use crate::error::{Error, Result};
use crate::handlers::document_files::{self, TempFile};
use crate::handlers::versions::parse_semver;
use crate::models::VersionDocumentResponse;
use crate::retry::{DeadlineExt, RetryPolicy};
use crate::signed_url;
use crate::transport::{Op, Redirect, Request};

/// Largest document [`Documents::read_content`] keeps in memory.
const MAX_CONTENT: u64 = 1024 * 1024 * 1024;

/// The documents of one application version; see [`Versions::documents`](crate::Versions::documents).
///
/// Listing and metadata reads are cached for the application-version TTL (300 s); content
/// reads and downloads are never cached. Everything is retried with the application-version
/// retry settings. Content comes from a short-lived signed storage URL that the platform
/// redirects to; the bearer token is never sent there.
///
/// ```no_run
/// # let client = aignostics::Client::new()?;
/// let docs = client.versions().documents("he-tme", None); // latest version
/// for doc in docs.list()? {
///     let path = docs.download_to(&doc.name, "docs")?;
///     println!("saved {}", path.display());
/// }
/// # Ok::<(), aignostics::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct Documents {
    client: Client,
    application_id: String,
    version: Option<String>,
}

#[cfg_attr(feature = "async", aignostics_macros::twin)]
impl Documents {
    pub(crate) fn new(client: Client, application_id: String, version: Option<String>) -> Self {
        Self {
            client,
            application_id,
            version,
        }
    }

    /// The application id.
    pub fn application_id(&self) -> &str {
        &self.application_id
    }

    /// The version asked for; `None` means the latest, resolved on each call.
    pub fn version(&self) -> Option<&str> {
        self.version.as_deref()
    }

    /// The version to use: the one given (checked to be semver) or the latest.
    fn resolved_version(&self) -> Result<String> {
        match &self.version {
            Some(v) => {
                parse_semver(v)?;
                Ok(v.clone())
            }
            None => self.client.versions().latest_number(&self.application_id),
        }
    }

    /// A request on this version's documents; `name` is the document, when the call has one.
    fn request(&self, op: Op, name: Option<&str>) -> Result<Request> {
        let version = self.resolved_version()?;
        let mut args = vec![self.application_id.as_str(), version.as_str()];
        args.extend(name);
        Ok(op.at(&args))
    }

    /// The version's public documents
    /// (`GET /v1/applications/{id}/versions/{version}/documents`; cached 300 s).
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// let docs = client.versions().documents("he-tme", Some("1.0.0")).list()?;
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn list(&self) -> Result<Vec<VersionDocumentResponse>> {
        self.client
            .read(self.request(Op::ListVersionDocuments, None)?)
    }

    /// One document's metadata (`GET …/documents/{name}`; cached 300 s).
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// let doc = client.versions().documents("he-tme", None).details("readme.pdf")?;
    /// println!("{}", doc.mime_type);
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn details(&self, name: &str) -> Result<Arc<VersionDocumentResponse>> {
        match &self.version {
            // Checked only before a request, as `Versions::details` does: a hit was checked
            // when it was fetched, so it costs no semver parse.
            Some(version) => self.client.read_shared_checked(
                Op::GetVersionDocument.at(&[&self.application_id, version, name]),
                || parse_semver(version).map(drop),
            ),
            None => self
                .client
                .read_shared(self.request(Op::GetVersionDocument, Some(name))?),
        }
    }

    /// A document's bytes, in memory (`GET …/documents/{name}/content`, then the signed URL it
    /// redirects to). Not cached; documents larger than 1 GiB are refused.
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// let bytes = client.versions().documents("he-tme", None).read_content("readme.md")?;
    /// println!("{}", String::from_utf8_lossy(&bytes));
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn read_content(&self, name: &str) -> Result<Vec<u8>> {
        let req = self.request(Op::GetVersionDocumentContent, Some(name))?;
        let op = req.op.name();
        self.with_storage(req, |reader| {
            let mut bytes = Vec::new();
            reader
                .take(MAX_CONTENT + 1)
                .read_to_end(&mut bytes)
                .map_err(|e| Error::from_read(op, e))?;
            if bytes.len() as u64 > MAX_CONTENT {
                return Err(Error::UnexpectedResponse {
                    operation: op.to_string(),
                    message: format!(
                        "the document is larger than {MAX_CONTENT} bytes, too large to read into \
                         memory; save it to a file with `Documents::download_to`"
                    ),
                });
            }
            Ok(bytes)
        })
    }

    /// Downloads a document to `dir/{name}` (`GET …/documents/{name}/file`, then the signed URL
    /// it redirects to) and returns the path written.
    ///
    /// The name is sanitised (no separators, control characters or `..`); `dir` is created if
    /// needed. An existing file is never overwritten: that is an [`Error::Io`] with
    /// [`std::io::ErrorKind::AlreadyExists`], raised before any request. The bytes stream into a
    /// temporary file in `dir` that is renamed into place only when complete, so the final
    /// name never holds a partial document. Not cached.
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// let path = client.versions().documents("he-tme", Some("1.0.0")).download_to("readme.pdf", "docs")?;
    /// assert!(path.ends_with("readme.pdf"));
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn download_to(&self, name: &str, dir: impl AsRef<Path>) -> Result<PathBuf> {
        let dir = dir.as_ref();
        let file_name = document_files::sanitize_file_name(name)?;
        let target = dir.join(file_name);
        document_files::refuse_existing(&target)?;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        let req = self.request(Op::GetVersionDocumentFile, Some(name))?;
        let op = req.op.name();
        let temp = self.with_storage(req, |reader| {
            let mut temp = TempFile::beside(&target)?;
            temp.fill(op, reader)?;
            Ok(temp)
        })?;
        temp.persist(&target)?;
        Ok(target)
    }

    /// Follows the redirect of `req` to storage and hands the body to `consume`; a 2xx answer
    /// of the platform with the content itself is handed over directly. A retryable failure of
    /// the storage read starts over with a fresh signed URL, until the client's deadline.
    fn with_storage<T>(
        &self,
        req: Request,
        mut consume: impl FnMut(&mut dyn Read) -> Result<T>,
    ) -> Result<T> {
        let client = &self.client;
        let settings = &client.api().settings().application_version;
        let operation = req.op.name();
        // The redirect call has its own retries; only storage failures are retried here.
        let redirect_failed = Cell::new(false);
        // A refused signed URL may have expired: the next attempt fetches a fresh one.
        let retryable = |e: &Error| {
            !redirect_failed.get() && (e.is_retryable() || signed_url::is_refusal(e, operation))
        };
        RetryPolicy::from(settings).run_until(operation, retryable, client.deadline(), |_| {
            let redirect = client.redirect(req.clone());
            redirect_failed.set(redirect.is_err());
            match redirect? {
                Redirect::Body(bytes) => consume(&mut bytes.as_slice()),
                Redirect::To(url) => {
                    let timeout = client.deadline().cap(settings.timeout);
                    let response = signed_url::get(client.api(), operation, &url, timeout)?;
                    consume(&mut response.into_body().into_reader())
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use httpmock::prelude::*;

    use crate::retry::deadline_in;
    use crate::{Client, Settings, TokenProvider};

    // Proves retries of a storage read stop at the caller's deadline, even when storage asks for 30 s. (FR-48, FR-25)
    #[test]
    fn storage_read_retries_stop_at_the_deadline() {
        let server = MockServer::start();
        server.mock(|when, then| {
            when.method(GET)
                .path("/api/v1/applications/app/versions/1.0.0/documents/r.md/content");
            then.status(307)
                .header("location", server.url("/storage/r.md"));
        });
        let storage = server.mock(|when, then| {
            when.method(GET).path("/storage/r.md");
            then.status(503).header("retry-after", "30");
        });
        let client = Client::builder()
            .settings(
                Settings::default()
                    .with_api_root(&server.base_url())
                    .unwrap(),
            )
            .token_provider(TokenProvider::fixed("documents-deadline"))
            .build()
            .unwrap()
            .until(deadline_in(Duration::from_millis(500)));
        let started = Instant::now();
        let err = client
            .versions()
            .documents("app", Some("1.0.0"))
            .read_content("r.md")
            .unwrap_err();
        assert_eq!(err.status(), Some(503), "{err:?}");
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{:?}",
            started.elapsed()
        );
        assert!(storage.calls() >= 1);
    }
}
