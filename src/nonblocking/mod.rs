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
//! No async method is written by hand: each one is derived, at compile time, from the
//! declaration of its blocking method (`#[twin]` on the blocking handlers' `impl` blocks, from
//! the `aignostics-macros` crate). A public blocking method either has its twin or is marked at its
//! declaration as having none (the blocking client's constructors and its engine), else the
//! crate does not compile, so the two surfaces cannot drift apart. Each twin's doc links the
//! blocking method it runs. The list builders' filters come from their one declaration
//! (`handlers::list`) too.

use crate::cancel;
use crate::error::{Error, Result};
use crate::models::{
    ApplicationReadShortResponse, GrantReadResponse, ItemResultReadResponse, RunReadResponse,
    ShareTokenReadResponse,
};
use crate::pagination::Pages;

/// Runs blocking work on tokio's blocking pool; a panic in it is resumed here. Dropping the
/// returned future cancels the work (see the module docs). Every derived `async fn` calls this.
pub(crate) async fn blocking<T, F>(work: F) -> Result<T>
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

/// Declares an async handler wrapping a blocking one. Its methods are derived from the blocking
/// handler's `impl` blocks (`#[twin]`), next to them.
macro_rules! handler {
    (
        $(#[$tmeta:meta])*
        $name:ident wraps $blocking:ty;
    ) => {
        $(#[$tmeta])*
        #[derive(Debug, Clone)]
        pub struct $name {
            /// The blocking handler every method runs.
            pub(crate) inner: $blocking,
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

handler! {
    /// The async client: the same operations as [`crate::Client`]. Cheap to clone.
    Client wraps crate::Client;
}

handler! {
    /// Applications; see [`crate::Applications`].
    Applications wraps crate::Applications;
}

list_facade! {
    /// The application list; see [`crate::ListApplications`].
    ListApplications wraps crate::ListApplications => ApplicationReadShortResponse;
}

handler! {
    /// Application versions; see [`crate::Versions`].
    Versions wraps crate::Versions;
}

handler! {
    /// Documents of an application version; see [`crate::Documents`].
    Documents wraps crate::Documents;
}

handler! {
    /// Runs; see [`crate::Runs`].
    Runs wraps crate::Runs;
}

list_facade! {
    /// The run list; see [`crate::ListRuns`].
    ListRuns wraps crate::ListRuns => RunReadResponse;
}

handler! {
    /// A run; see [`crate::Run`]. The run of a [`crate::Submitted`] (from
    /// [`Runs::submit_with`]) is a blocking handle: `Run::from(submitted.into_run())` makes it an
    /// async one.
    Run wraps crate::Run;
}

list_facade! {
    /// The items of a run; see [`crate::ListItems`].
    ListItems wraps crate::ListItems => ItemResultReadResponse;
}

handler! {
    /// An output artifact; see [`crate::Artifact`].
    Artifact wraps crate::Artifact;
}

handler! {
    /// Access grants; see [`crate::Grants`].
    Grants wraps crate::Grants;
}

list_facade! {
    /// The grant list; see [`crate::ListGrants`].
    ListGrants wraps crate::ListGrants => GrantReadResponse;
}

handler! {
    /// Share tokens; see [`crate::ShareTokens`].
    ShareTokens wraps crate::ShareTokens;
}

list_facade! {
    /// The share-token list; see [`crate::ListShareTokens`].
    ListShareTokens wraps crate::ListShareTokens => ShareTokenReadResponse;
}

#[cfg(test)]
mod tests {
    // Proves the async list builders carry the blocking builders' filters, from the one declaration. (FR-43, FR-46)
    #[test]
    fn async_lists_have_the_blocking_filters() {
        let client = crate::Client::builder()
            .api_root("http://127.0.0.1:9")
            .token_provider(crate::TokenProvider::fixed("t"))
            .build()
            .unwrap();
        let runs = super::ListRuns::from(client.runs().list())
            .application_id("he-tme")
            .sort("-submitted_at".to_string());
        let items = super::ListItems::from(client.run("r").items())
            .external_ids(vec!["a".to_string()])
            .state(crate::models::ItemState::Terminated);
        let grants = super::ListGrants::from(client.grants().list()).revoked(false);
        let debug = format!("{runs:?} {items:?} {grants:?}");
        for filter in [
            "he-tme",
            "-submitted_at",
            "\"a\"",
            "Terminated",
            "revoked: Some(false)",
        ] {
            assert!(debug.contains(filter), "{filter} missing in {debug}");
        }
    }
}
