//! The async surface (feature `async`): the same operations as the blocking [`Client`], as
//! `async fn`s.
//!
//! Each call runs the blocking call on tokio's blocking thread pool
//! (`tokio::task::spawn_blocking`), so it never stalls the async workers, and returns the same
//! models and the same [`Error`]s. Arguments are owned (`String` instead of `&str`) because the
//! work moves to another thread. Calls must be made inside a tokio runtime.
//!
//! ```no_run
//! # async fn demo() -> aignostics::Result<()> {
//! let blocking = aignostics::Client::builder()
//!     .token_provider(aignostics::TokenProvider::fixed("token"))
//!     .build()?;
//! let client = aignostics::nonblocking::Client::from(blocking);
//!
//! let (me, app) = tokio::join!(client.me(), client.application("he-tme".to_string()));
//! println!("{} may run {}", me?.user.id, app?.name);
//!
//! let run = client.run("3fa85f64-5717-4562-b3fc-2c963f66afa6");
//! let mut items = run.items().page_size(20).iter();
//! while let Some(item) = items.next().await {
//!     println!("{}", item?.external_id);
//! }
//! # Ok(()) }
//! ```
//!
//! Dropping a future stops its work: a call abandoned by `tokio::time::timeout`, `select!` or
//! a runtime shutting down sends no further request, stops polling and retrying, and stops a
//! download between two chunks, leaving its partial files to be resumed by the next call
//! (never under their final names). A request already on the wire finishes first (bounded by
//! its timeout). So dropping the runtime returns promptly.
//!
//! Calling the *blocking* client directly inside an async task blocks one of the runtime's
//! worker threads for the whole request (and its retries); use this facade, or wrap your own
//! blocking code in `spawn_blocking`.
//!
//! The facade is generated from one list of operations per handler, and a test fails when a
//! blocking operation has no async counterpart, so the two surfaces cannot drift apart.

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;

use crate::cancel;
use crate::error::{Error, Result};
use crate::models::{
    ApplicationReadResponse, ApplicationReadShortResponse, ApplicationVersion,
    CustomMetadataUpdateResponse, GrantCreateRequest, GrantReadResponse, ItemResultReadResponse,
    MeReadResponse, RunCreationRequest, RunReadResponse, ShareTokenCreateResponse,
    ShareTokenReadResponse, SubjectType, VersionDocumentResponse, VersionReadResponse,
};
use crate::pagination::Pages;
use crate::{DownloadOptions, DownloadReport, WaitOptions};

/// Runs blocking work on tokio's blocking pool; a panic in it is resumed here. Dropping the
/// returned future cancels the work (see the module docs).
async fn blocking<T, F>(work: F) -> Result<T>
where
    F: FnOnce() -> Result<T> + Send + 'static,
    T: Send + 'static,
{
    let token = cancel::Token::new();
    let _cancel_on_drop = token.cancel_on_drop();
    match tokio::task::spawn_blocking(move || token.enter(work)).await {
        Ok(result) => result,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(Error::Cancelled),
    }
}

/// Declares an async handler wrapping a blocking one, with one `async fn` per listed operation.
/// Each entry names the blocking call to run with the (cloned) blocking handler bound to `$b`.
macro_rules! facade {
    (
        $(#[$tmeta:meta])*
        $name:ident wraps $blocking:ty {
            $(
                $(#[$mmeta:meta])*
                async fn $method:ident($($arg:ident: $ty:ty),*) -> $ret:ty = |$b:ident| $body:expr;
            )*
        }
    ) => {
        $(#[$tmeta])*
        #[derive(Debug, Clone)]
        pub struct $name {
            inner: $blocking,
        }

        impl From<$blocking> for $name {
            fn from(inner: $blocking) -> Self {
                Self { inner }
            }
        }

        impl $name {
            /// The blocking handler behind this one.
            pub fn blocking(&self) -> &$blocking {
                &self.inner
            }

            $(
                $(#[$mmeta])*
                pub async fn $method(&self, $($arg: $ty),*) -> Result<$ret> {
                    let $b = self.inner.clone();
                    blocking(move || $body).await
                }
            )*
        }
    };
}

/// Declares an async list builder: `page`, `all` and `iter` fetch on the blocking pool. Its
/// filters are generated with the blocking builder's (see `handlers::list`), from the same
/// declaration.
macro_rules! list_facade {
    (
        $(#[$tmeta:meta])*
        $name:ident wraps $blocking:ty => $item:ty;
    ) => {
        $(#[$tmeta])*
        #[derive(Debug, Clone)]
        #[must_use]
        pub struct $name {
            inner: $blocking,
        }

        impl From<$blocking> for $name {
            fn from(inner: $blocking) -> Self {
                Self { inner }
            }
        }

        impl $name {
            /// This builder with its blocking builder changed by `f` (how filters forward).
            pub(crate) fn map(self, f: impl FnOnce($blocking) -> $blocking) -> Self {
                Self { inner: f(self.inner) }
            }

            /// Items per page, 5 to 100.
            pub fn page_size(self, page_size: u32) -> Self {
                Self { inner: self.inner.page_size(page_size) }
            }

            /// One page (from 1) of results.
            pub async fn page(&self, page: u32) -> Result<Vec<$item>> {
                let inner = self.inner.clone();
                blocking(move || inner.page(page)).await
            }

            /// Every matching item, fetched page by page as [`AsyncPages::next`] is awaited.
            pub fn iter(&self) -> AsyncPages<$item> {
                AsyncPages::new(self.inner.iter())
            }

            /// Every matching item, collected (stops at the first error).
            pub async fn all(&self) -> Result<Vec<$item>> {
                let inner = self.inner.clone();
                blocking(move || inner.iter().collect()).await
            }
        }
    };
}

/// An async iterator over a paged list: each `next().await` returns the next item, fetching the
/// next page on the blocking pool when the current one is used up.
pub struct AsyncPages<T> {
    pages: Option<Pages<T>>,
}

impl<T> std::fmt::Debug for AsyncPages<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AsyncPages")
            .field("pages", &self.pages)
            .finish()
    }
}

impl<T: Send + 'static> AsyncPages<T> {
    fn new(pages: Pages<T>) -> Self {
        Self { pages: Some(pages) }
    }

    /// The next item, or `None` at the end (and after an error was returned).
    pub async fn next(&mut self) -> Option<Result<T>> {
        let mut pages = self.pages.take()?;
        let token = cancel::Token::new();
        let _cancel_on_drop = token.cancel_on_drop();
        let joined = tokio::task::spawn_blocking(move || {
            let item = token.enter(|| pages.next());
            (pages, item)
        })
        .await;
        match joined {
            Ok((pages, item)) => {
                self.pages = Some(pages);
                item
            }
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => Some(Err(Error::Cancelled)),
        }
    }
}

facade! {
    /// The async client: the same operations as [`crate::Client`]. Cheap to clone.
    Client wraps crate::Client {
        /// The current user and organization; see [`crate::Client::me`].
        async fn me() -> Arc<MeReadResponse> = |c| c.me();
        /// An application with its versions; see [`crate::Client::application`].
        async fn application(application_id: String) -> Arc<ApplicationReadResponse> =
            |c| c.application(&application_id);
        /// Details of an application version (`None` = latest); see
        /// [`crate::Client::application_version`].
        async fn application_version(application_id: String, version: Option<String>) -> Arc<VersionReadResponse> =
            |c| c.application_version(&application_id, version.as_deref());
        /// The platform's health (never fails); see [`crate::Client::health`].
        async fn health() -> crate::health::Health = |c| Ok(c.health());
    }
}

impl Client {
    /// A view whose reads skip the operation cache; see [`crate::Client::nocache`].
    pub fn nocache(&self) -> Client {
        Client::from(self.inner.nocache())
    }

    /// A handle on a run (no I/O).
    pub fn run(&self, run_id: impl Into<String>) -> Run {
        Run::from(self.inner.run(run_id))
    }

    /// The applications handler.
    pub fn applications(&self) -> Applications {
        Applications::from(self.inner.applications())
    }

    /// The versions handler.
    pub fn versions(&self) -> Versions {
        Versions::from(self.inner.versions())
    }

    /// The runs handler.
    pub fn runs(&self) -> Runs {
        Runs::from(self.inner.runs())
    }

    /// The grants handler.
    pub fn grants(&self) -> Grants {
        Grants::from(self.inner.grants())
    }

    /// The share-tokens handler.
    pub fn share_tokens(&self) -> ShareTokens {
        ShareTokens::from(self.inner.share_tokens())
    }
}

facade! {
    /// Applications; see [`crate::Applications`].
    Applications wraps crate::Applications {
        /// One application; see [`crate::Applications::details`].
        async fn details(application_id: String) -> Arc<ApplicationReadResponse> =
            |a| a.details(&application_id);
    }
}

impl Applications {
    /// The application list; see [`crate::Applications::list`].
    pub fn list(&self) -> ListApplications {
        ListApplications::from(self.inner.list())
    }
}

list_facade! {
    /// The application list; see [`crate::ListApplications`].
    ListApplications wraps crate::ListApplications => ApplicationReadShortResponse;
}

facade! {
    /// Application versions; see [`crate::Versions`].
    Versions wraps crate::Versions {
        /// Versions of an application; see [`crate::Versions::list`].
        async fn list(application_id: String) -> Vec<ApplicationVersion> = |v| v.list(&application_id);
        /// Versions, newest first; see [`crate::Versions::list_sorted`].
        async fn list_sorted(application_id: String) -> Vec<ApplicationVersion> =
            |v| v.list_sorted(&application_id);
        /// The newest version; see [`crate::Versions::latest`].
        async fn latest(application_id: String) -> Option<ApplicationVersion> = |v| v.latest(&application_id);
        /// Version details; see [`crate::Versions::details`].
        async fn details(application_id: String, version: Option<String>) -> Arc<VersionReadResponse> =
            |v| v.details(&application_id, version.as_deref());
    }
}

impl Versions {
    /// The documents of a version (`None` = latest); see [`crate::Versions::documents`].
    pub fn documents(&self, application_id: String, version: Option<String>) -> Documents {
        Documents::from(self.inner.documents(&application_id, version.as_deref()))
    }
}

facade! {
    /// Documents of an application version; see [`crate::Documents`].
    Documents wraps crate::Documents {
        /// The version's public documents; see [`crate::Documents::list`].
        async fn list() -> Vec<VersionDocumentResponse> = |d| d.list();
        /// One document's metadata; see [`crate::Documents::details`].
        async fn details(name: String) -> Arc<VersionDocumentResponse> = |d| d.details(&name);
        /// A document's bytes; see [`crate::Documents::read_content`].
        async fn read_content(name: String) -> Vec<u8> = |d| d.read_content(&name);
        /// Saves a document into `dir`; see [`crate::Documents::download_to`].
        async fn download_to(name: String, dir: PathBuf) -> PathBuf = |d| d.download_to(&name, &dir);
    }
}

impl Documents {
    /// The application id.
    pub fn application_id(&self) -> &str {
        self.inner.application_id()
    }

    /// The version asked for (`None` = latest).
    pub fn version(&self) -> Option<&str> {
        self.inner.version()
    }
}

facade! {
    /// Runs; see [`crate::Runs`].
    Runs wraps crate::Runs {
        /// Validates and submits a run; see [`crate::Runs::submit`].
        async fn submit(request: RunCreationRequest) -> Run = |r| r.submit(request).map(Run::from);
        /// Submits with an idempotency key and SDK metadata options; see
        /// [`crate::Runs::submit_with`]. The run inside is a blocking handle:
        /// `Run::from(submitted.into_run())` makes it an async one.
        async fn submit_with(request: RunCreationRequest, options: crate::SubmitOptions) -> crate::Submitted =
            |r| r.submit_with(request, &options);
        /// Checks a request without submitting it; see [`crate::Runs::validate`].
        async fn validate(request: RunCreationRequest) -> () = |r| r.validate(&request);
    }
}

impl Runs {
    /// The run list; see [`crate::Runs::list`].
    pub fn list(&self) -> ListRuns {
        ListRuns::from(self.inner.list())
    }

    /// A handle on a run (no I/O).
    pub fn run(&self, run_id: impl Into<String>) -> Run {
        Run::from(self.inner.run(run_id))
    }
}

list_facade! {
    /// The run list; see [`crate::ListRuns`].
    ListRuns wraps crate::ListRuns => RunReadResponse;
}

facade! {
    /// A run; see [`crate::Run`].
    Run wraps crate::Run {
        /// State, statistics and metadata; see [`crate::Run::details`].
        async fn details() -> Arc<RunReadResponse> = |r| r.details();
        /// Cancels the run; see [`crate::Run::cancel`].
        async fn cancel() -> () = |r| r.cancel();
        /// One item; see [`crate::Run::item`].
        async fn item(external_id: String) -> Arc<ItemResultReadResponse> = |r| r.item(&external_id);
        /// Deletes the run's artifacts; see [`crate::Run::delete_artifacts`].
        async fn delete_artifacts() -> () = |r| r.delete_artifacts();
        /// Sets (`Some`) or clears (`None`) the run's custom metadata; see
        /// [`crate::Run::update_custom_metadata`].
        async fn update_custom_metadata(custom_metadata: Option<Value>, checksum: Option<String>) -> CustomMetadataUpdateResponse =
            |r| r.update_custom_metadata(custom_metadata, checksum.as_deref());
        /// Sets or clears an item's custom metadata; see
        /// [`crate::Run::update_item_custom_metadata`].
        async fn update_item_custom_metadata(external_id: String, custom_metadata: Option<Value>, checksum: Option<String>) -> CustomMetadataUpdateResponse =
            |r| r.update_item_custom_metadata(&external_id, custom_metadata, checksum.as_deref());
        /// Lets a subject read the run; see [`crate::Run::grant_access`].
        async fn grant_access(subject_type: SubjectType, subject_id: String) -> GrantReadResponse =
            |r| r.grant_access(subject_type, &subject_id);
        /// Waits until the run terminates; see [`crate::Run::wait`].
        async fn wait(options: WaitOptions) -> Arc<RunReadResponse> = |r| r.wait(&options);
        /// Downloads the run's results into `dir`; see [`crate::Run::download_to`].
        async fn download_to(dir: PathBuf, options: DownloadOptions) -> DownloadReport =
            |r| r.download_to(&dir, &options);
    }
}

impl Run {
    /// The run id.
    pub fn id(&self) -> &str {
        self.inner.id()
    }

    /// Reads through a share token; see [`crate::Run::with_share_token`].
    pub fn with_share_token(self, share_token: impl Into<String>) -> Self {
        Run::from(self.inner.with_share_token(share_token))
    }

    /// The share token this handle reads with, if any.
    pub fn share_token(&self) -> Option<&str> {
        self.inner.share_token()
    }

    /// The run's items; see [`crate::Run::items`].
    pub fn items(&self) -> ListItems {
        ListItems::from(self.inner.items())
    }

    /// A handle on one output artifact.
    pub fn artifact(&self, artifact_id: impl Into<String>) -> Artifact {
        Artifact::from(self.inner.artifact(artifact_id))
    }

    /// Grants on this run; see [`crate::Run::share_grants`].
    pub fn share_grants(&self) -> ListGrants {
        ListGrants::from(self.inner.share_grants())
    }
}

list_facade! {
    /// The items of a run; see [`crate::ListItems`].
    ListItems wraps crate::ListItems => ItemResultReadResponse;
}

facade! {
    /// An output artifact; see [`crate::Artifact`].
    Artifact wraps crate::Artifact {
        /// A fresh signed URL; see [`crate::Artifact::download_url`].
        async fn download_url() -> String = |a| a.download_url();
    }
}

impl Artifact {
    /// The output artifact id.
    pub fn id(&self) -> &str {
        self.inner.id()
    }
}

facade! {
    /// Access grants; see [`crate::Grants`].
    Grants wraps crate::Grants {
        /// Creates a grant; see [`crate::Grants::create`].
        async fn create(request: GrantCreateRequest) -> GrantReadResponse = |g| g.create(request);
        /// One grant; see [`crate::Grants::get`].
        async fn get(grant_id: String) -> Arc<GrantReadResponse> = |g| g.get(&grant_id);
        /// Revokes a grant; see [`crate::Grants::revoke`].
        async fn revoke(grant_id: String) -> GrantReadResponse = |g| g.revoke(&grant_id);
    }
}

impl Grants {
    /// The grant list; see [`crate::Grants::list`].
    pub fn list(&self) -> ListGrants {
        ListGrants::from(self.inner.list())
    }
}

list_facade! {
    /// The grant list; see [`crate::ListGrants`].
    ListGrants wraps crate::ListGrants => GrantReadResponse;
}

facade! {
    /// Share tokens; see [`crate::ShareTokens`].
    ShareTokens wraps crate::ShareTokens {
        /// Creates a share token (the secret is returned only here); see
        /// [`crate::ShareTokens::create`].
        async fn create(expires_at: Option<String>) -> ShareTokenCreateResponse = |s| s.create(expires_at);
        /// One share token; see [`crate::ShareTokens::get`].
        async fn get(share_token_id: String) -> Arc<ShareTokenReadResponse> = |s| s.get(&share_token_id);
        /// Revokes a share token; see [`crate::ShareTokens::revoke`].
        async fn revoke(share_token_id: String) -> ShareTokenReadResponse = |s| s.revoke(&share_token_id);
    }
}

impl ShareTokens {
    /// The share-token list; see [`crate::ShareTokens::list`].
    pub fn list(&self) -> ListShareTokens {
        ListShareTokens::from(self.inner.list())
    }
}

list_facade! {
    /// The share-token list; see [`crate::ListShareTokens`].
    ListShareTokens wraps crate::ListShareTokens => ShareTokenReadResponse;
}

#[cfg(test)]
mod drift;
