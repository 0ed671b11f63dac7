//! Where access tokens come from: the one credentials seam ([`Credentials`]) behind every
//! token source, and [`TokenProvider`], the caller's handle on one.

use std::sync::Arc;

use crate::error::{Error, Result};

/// A source of access tokens that can fail: the internal login, `ClientCredentials`,
/// `RedisTokenCache` and plain closures all implement it. A failure ends the request with
/// [`Error::Auth`] before anything is sent to the API.
pub(crate) trait Credentials: Send + Sync {
    /// The current raw access token.
    fn token(&self) -> Result<String>;
}

impl<F: Fn() -> Result<String> + Send + Sync> Credentials for F {
    fn token(&self) -> Result<String> {
        self()
    }
}

/// A source of access tokens owned by the caller: a machine-to-machine credential, a service
/// account, a token cached elsewhere (e.g. in Redis), or a fixed token in a test.
///
/// The closure returns the raw access token, without the `Bearer ` prefix, and is called for
/// every request, so it can rotate tokens at will. An empty string sends the request without an
/// `Authorization` header (and logs a warning).
///
/// Identity is the inner `Arc`: clones are the same provider and share one pooled connection
/// agent; two calls of [`TokenProvider::new`] are two providers, even for identical closures.
/// Create a provider once and clone it.
///
/// `Debug` never shows a token.
///
/// ```
/// use aignostics::TokenProvider;
/// let provider = TokenProvider::new(|| std::env::var("MY_TOKEN").unwrap_or_default());
/// let same = provider.clone();
/// assert!(provider.same_as(&same));
/// assert!(!provider.same_as(&TokenProvider::new(|| String::new())));
/// ```
#[derive(Clone)]
pub struct TokenProvider {
    inner: Arc<dyn Credentials>,
}

impl TokenProvider {
    /// Wraps a closure that returns the current raw access token.
    pub fn new<F>(f: F) -> Self
    where
        F: Fn() -> String + Send + Sync + 'static,
    {
        Self::from_credentials(move || Ok(f()))
    }

    /// Wraps a closure that may fail to produce a token (a vault that is down, an expired
    /// service credential). A failure ends the request with [`Error::Auth`] naming the cause,
    /// before anything is sent to the API; URL query strings and bearer values in the cause are
    /// removed.
    ///
    /// ```
    /// use aignostics::{Client, Error, TokenProvider};
    /// let provider = TokenProvider::fallible(|| {
    ///     std::fs::read_to_string("/nonexistent/token").map_err(|e| format!("MY_TOKEN is not set: {e}"))
    /// });
    /// let client = Client::builder().api_root("http://127.0.0.1:9").token_provider(provider).build()?;
    /// let err = client.me().unwrap_err();
    /// assert!(matches!(err, Error::Auth(_)) && err.to_string().contains("MY_TOKEN is not set"));
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn fallible<F, E>(f: F) -> Self
    where
        F: Fn() -> std::result::Result<String, E> + Send + Sync + 'static,
        E: std::fmt::Display,
    {
        Self::from_credentials(move || {
            f().map_err(|e| {
                Error::Auth(format!(
                    "the token provider failed: {}",
                    scrub(&e.to_string())
                ))
            })
        })
    }

    /// A provider backed by any credentials of the crate.
    pub(crate) fn from_credentials(credentials: impl Credentials + 'static) -> Self {
        Self {
            inner: Arc::new(credentials),
        }
    }

    /// A provider that always returns the same token (tests, short scripts).
    pub fn fixed(token: impl Into<String>) -> Self {
        let token: Arc<str> = token.into().into();
        Self::new(move || token.to_string())
    }

    /// Calls the provider for the current token. A provider that failed (see
    /// [`fallible`](Self::fallible)) gives an empty token here and logs why; requests made
    /// through a client use [`try_token`](Self::try_token) and fail with [`Error::Auth`].
    pub fn token(&self) -> String {
        self.try_token().unwrap_or_else(|e| {
            log::error!("could not obtain an access token: {e}");
            String::new()
        })
    }

    /// Calls the provider for the current token, or says why there is none.
    pub fn try_token(&self) -> Result<String> {
        self.inner.token()
    }

    /// Whether `other` is a clone of this provider.
    pub fn same_as(&self, other: &TokenProvider) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// A number identifying this provider (equal for clones) while it is alive.
    pub(crate) fn id(&self) -> usize {
        Arc::as_ptr(&self.inner) as *const () as usize
    }
}

/// A token source's error text without URL query strings (signatures) or bearer values.
fn scrub(message: &str) -> String {
    let mut out = Vec::new();
    let mut words = message.split(' ').peekable();
    while let Some(word) = words.next() {
        if word.eq_ignore_ascii_case("bearer") && words.peek().is_some() {
            words.next();
            out.push(format!("{word} [redacted]"));
        } else if word.contains("://") {
            out.push(crate::error::redact_url(word).to_string());
        } else {
            out.push(word.to_string());
        }
    }
    out.join(" ")
}

impl std::fmt::Debug for TokenProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TokenProvider({:#x})", self.id())
    }
}

impl<F> From<F> for TokenProvider
where
    F: Fn() -> String + Send + Sync + 'static,
{
    fn from(f: F) -> Self {
        Self::new(f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves a fallible provider's error names the cause without URL signatures or bearer values. (FR-47, NFR-05)
    #[test]
    fn fallible_errors_are_auth_errors_and_scrubbed() {
        let p = TokenProvider::fallible(|| {
            Err::<String, _>("vault https://v.example/t?sig=SECRET refused Bearer abc.def")
        });
        let err = p.try_token().unwrap_err();
        let text = err.to_string();
        assert!(matches!(err, Error::Auth(_)), "{err:?}");
        assert!(text.contains("vault https://v.example/t refused"), "{text}");
        assert!(
            !text.contains("SECRET") && !text.contains("abc.def"),
            "{text}"
        );
        assert_eq!(p.token(), "");
    }

    // Proves Debug output never contains the token, only the provider's identity. (NFR-05)
    #[test]
    fn debug_hides_token() {
        let p = TokenProvider::fixed("super-secret-token");
        let shown = format!("{p:?}");
        assert!(!shown.contains("super-secret"));
        assert_eq!(shown, format!("TokenProvider({:#x})", p.id()));
        assert_eq!(p.token(), "super-secret-token");
    }

    // Proves identity is the shared closure: clones are the same provider with the same id,
    // a second provider of the same token is another one. (FR-02)
    #[test]
    fn identity_follows_clones() {
        let p = TokenProvider::fixed("t");
        let q = TokenProvider::from(|| "t".to_string());
        assert!(p.same_as(&p.clone()) && !p.same_as(&q));
        assert_eq!(p.id(), p.clone().id());
        assert_ne!(p.id(), q.id());
        assert_eq!(q.token(), "t");
    }
}
