//! External token providers: the caller's source of access tokens.

use std::sync::Arc;

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
    inner: Arc<dyn Fn() -> String + Send + Sync>,
}

impl TokenProvider {
    /// Wraps a closure that returns the current raw access token.
    pub fn new<F>(f: F) -> Self
    where
        F: Fn() -> String + Send + Sync + 'static,
    {
        Self { inner: Arc::new(f) }
    }

    /// A provider that always returns the same token (tests, short scripts).
    pub fn fixed(token: impl Into<String>) -> Self {
        let token: Arc<str> = token.into().into();
        Self::new(move || token.to_string())
    }

    /// Calls the provider for the current token.
    pub fn token(&self) -> String {
        (self.inner)()
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

    // Proves Debug output never contains the token. (NFR-05)
    #[test]
    fn debug_hides_token() {
        let p = TokenProvider::fixed("super-secret-token");
        assert!(!format!("{p:?}").contains("super-secret"));
        assert_eq!(p.token(), "super-secret-token");
    }
}
