//! [`Documents`]: the documents (README, instructions for use, …) of an application version.

use std::path::{Path, PathBuf};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::handlers::document_files::{self, TempFile};
use crate::handlers::versions::parse_semver;
use crate::models::VersionDocumentResponse;
use crate::retry::{Idempotency, RetryPolicy};
use crate::signed_url;
use crate::transport::{Op, Request};

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
    pub fn details(&self, name: &str) -> Result<VersionDocumentResponse> {
        self.client
            .read(self.request(Op::GetVersionDocument, Some(name))?)
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
        self.with_storage(req, |response| {
            response
                .into_body()
                .into_with_config()
                .limit(MAX_CONTENT)
                .read_to_vec()
                .map_err(|e| Error::from_ureq(op, e))
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
        let temp = self.with_storage(req, |response| {
            let mut temp = TempFile::beside(&target)?;
            let mut reader = response.into_body().into_reader();
            temp.fill(op, &mut reader)?;
            Ok(temp)
        })?;
        temp.persist(&target)?;
        Ok(target)
    }

    /// Follows the redirect of `req` to storage and hands the response to `consume`. A
    /// retryable failure of the storage read starts over with a fresh signed URL.
    fn with_storage<T>(
        &self,
        req: Request,
        mut consume: impl FnMut(ureq::http::Response<ureq::Body>) -> Result<T>,
    ) -> Result<T> {
        let api = self.client.api();
        let settings = &api.settings().application_version;
        let policy = RetryPolicy::from(settings);
        let operation = req.op.name();
        let mut attempt = 1;
        loop {
            // The redirect call has its own retries; only storage failures loop here.
            let url = api.redirect_location(req.clone())?;
            let result =
                signed_url::get(api, operation, &url, settings.timeout).and_then(&mut consume);
            match result {
                Ok(value) => return Ok(value),
                Err(err) if policy.should_retry(attempt, &err, Idempotency::Idempotent) => {
                    let wait = policy.delay(attempt, &err);
                    log::warn!(
                        "retrying {operation} in {:.2}s: attempt {attempt} of {} ended with: {err}",
                        wait.as_secs_f64(),
                        policy.attempts
                    );
                    std::thread::sleep(wait);
                    attempt += 1;
                }
                Err(err) => return Err(err),
            }
        }
    }
}
