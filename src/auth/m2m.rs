//! Machine-to-machine tokens: the OAuth client-credentials grant, cached in memory and
//! refreshed ahead of expiry with one request in flight at a time.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use super::flight::{Expiring, SingleFlight};
use super::idp;
use crate::error::{Result, redact_url};
use crate::retry::Idempotency;
use crate::settings::{OperationSettings, Secret, Settings};
use crate::token::{Credentials, TokenProvider};

/// How long before expiry a cached token is replaced (the margin of the internal login, too).
const DEFAULT_REFRESH_BEFORE: Duration = super::store::EXPIRY_MARGIN;

/// Lifetime assumed when the token endpoint names none and the token is not a JWT.
const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

/// A source of access tokens that knows when each token expires.
///
/// This is the seam for token caches shared between processes (for instance a fleet of
/// workers keeping one machine token in Redis): such a cache asks its `ExpiringTokenSource` for
/// a new token when the shared one nears its expiry, stores both, and hands the token to
/// [`TokenProvider`]s. [`ClientCredentials`] implements it; [`provider_from`] turns any
/// implementation into a [`TokenProvider`].
///
/// ```
/// use std::time::{Duration, SystemTime};
/// use aignostics::auth::ExpiringTokenSource;
///
/// struct Static;
/// impl ExpiringTokenSource for Static {
///     fn fetch(&self) -> aignostics::Result<(String, SystemTime)> {
///         Ok(("token".into(), SystemTime::now() + Duration::from_secs(3600)))
///     }
/// }
/// let provider = aignostics::auth::provider_from(Static);
/// assert_eq!(provider.token(), "token");
/// ```
pub trait ExpiringTokenSource: Send + Sync {
    /// A token usable now and the moment it stops being valid. Implementations may cache; a
    /// returned token should stay valid for a while (callers refresh shortly before expiry).
    fn fetch(&self) -> Result<(String, SystemTime)>;
}

/// A [`TokenProvider`] calling `source` for every request. A failure ends the request with
/// the source's error ([`Error::Auth`](crate::Error::Auth) for a refused credential) before anything is sent to
/// the API; [`TokenProvider::token`] gives an empty token instead. The source does its own
/// caching; [`ClientCredentials`] does.
pub fn provider_from<S: ExpiringTokenSource + 'static>(source: S) -> TokenProvider {
    TokenProvider::from_credentials(move || source.fetch().map(|(token, _)| token))
}

/// Machine-to-machine credentials: the OAuth 2.0 client-credentials grant (RFC 6749 §4.4).
///
/// Tokens are cached in memory and replaced five minutes before they expire. However many
/// threads ask, one token request is in flight at a time; while a replacement is fetched, the
/// current (still valid) token keeps being handed out. Server errors (5xx, 429) and connection
/// failures are retried with back-off; any other 4xx is a clear [`Error::Auth`](crate::Error::Auth).
///
/// Clones share the cache. `Debug` shows neither the secret nor the token.
///
/// ```no_run
/// use aignostics::{Client, TokenProvider, auth::ClientCredentials};
///
/// let credentials = ClientCredentials::new(
///     "https://example.eu.auth0.com/oauth/token",
///     std::env::var("M2M_CLIENT_ID").unwrap_or_default(),
///     std::env::var("M2M_CLIENT_SECRET").unwrap_or_default(),
///     "https://aignostics-platform-samia",
/// );
/// let client = Client::builder()
///     .token_provider(TokenProvider::from(credentials))
///     .build()?;
/// println!("{:?}", client.me()?.user.id);
/// # Ok::<(), aignostics::Error>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct ClientCredentials {
    token_url: String,
    client_id: String,
    client_secret: Secret,
    audience: String,
    scope: Option<String>,
    retry: OperationSettings,
    refresh_before: Duration,
    flight: Arc<SingleFlight>,
}

impl std::fmt::Debug for ClientCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCredentials")
            .field("token_url", &redact_url(&self.token_url))
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("audience", &self.audience)
            .field("scope", &self.scope)
            .field("expires_at", &self.expires_at())
            .finish()
    }
}

impl ClientCredentials {
    /// Credentials for `token_url` (e.g. `https://{tenant}/oauth/token`). `audience` is sent as
    /// the `audience` form field (Auth0 needs it; pass `""` to leave it out).
    pub fn new(
        token_url: impl Into<String>,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
        audience: impl Into<String>,
    ) -> Self {
        Self {
            token_url: token_url.into(),
            client_id: client_id.into(),
            client_secret: Secret::new(client_secret),
            audience: audience.into(),
            scope: None,
            retry: Settings::default().auth_operation,
            refresh_before: DEFAULT_REFRESH_BEFORE,
            flight: Arc::default(),
        }
    }

    /// Credentials for a known environment's token endpoint and audience.
    ///
    /// ```
    /// use aignostics::{Environment, auth::ClientCredentials};
    /// let c = ClientCredentials::for_environment(Environment::Staging, "id", "secret");
    /// assert!(format!("{c:?}").contains("aignostics-platform-staging"));
    /// ```
    pub fn for_environment(
        environment: crate::Environment,
        client_id: impl Into<String>,
        client_secret: impl Into<String>,
    ) -> Self {
        let auth = environment.auth();
        Self::new(auth.token_url, client_id, client_secret, auth.audience)
    }

    /// Requests these scopes (space separated), sent as the `scope` form field.
    pub fn scope(mut self, scope: impl Into<String>) -> Self {
        self.scope = Some(scope.into()).filter(|s: &String| !s.is_empty());
        self
    }

    /// Timeout and retries of token requests (default: the `AIGNOSTICS_AUTH_*` defaults, 30 s
    /// and 4 attempts).
    pub fn retry(mut self, settings: &OperationSettings) -> Self {
        self.retry = settings.clone();
        self
    }

    /// How long before expiry a token is replaced (default 5 minutes). A token whose whole
    /// lifetime is shorter than this is fetched for every call; keep it well below the lifetime.
    pub fn refresh_before(mut self, margin: Duration) -> Self {
        self.refresh_before = margin;
        self
    }

    /// When the cached token expires; `None` before the first token.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.flight.expires_at()
    }

    /// A valid access token: the cached one, or a new one when it is about to expire.
    pub fn token(&self) -> Result<String> {
        self.token_with_expiry().map(|(token, _)| token)
    }

    /// A valid access token and its expiry.
    pub fn token_with_expiry(&self) -> Result<(String, SystemTime)> {
        let fresh = |(_, exp): &Expiring| {
            crate::time::system_after(SystemTime::now(), self.refresh_before) < *exp
        };
        self.flight
            .get(fresh, Duration::ZERO, |held| match (self.request(), held) {
                // A refresh ahead of expiry failed: the current token still works for now.
                (Err(e), Some(held)) => {
                    log::warn!("refreshing the machine token failed, using the current one: {e}");
                    Ok(held)
                }
                (result, _) => result,
            })
    }

    /// One client-credentials grant, with retries.
    fn request(&self) -> Result<(String, SystemTime)> {
        let mut form = vec![
            ("grant_type", "client_credentials"),
            ("client_id", self.client_id.as_str()),
            ("client_secret", self.client_secret.expose()),
        ];
        if !self.audience.is_empty() {
            form.push(("audience", &self.audience));
        }
        if let Some(scope) = &self.scope {
            form.push(("scope", scope));
        }
        let (answer, issued) = idp::token_grant(
            "client_credentials_grant",
            "client-credentials grant",
            &self.token_url,
            &form,
            &self.retry,
            Idempotency::Idempotent,
        )?;
        let expires_at = answer
            .expires_at(issued)
            .or_else(|| {
                super::jwt::decode_unverified(&answer.access_token)
                    .ok()?
                    .get("exp")?
                    .as_u64()
                    .map(crate::time::unix_time)
            })
            .unwrap_or_else(|| crate::time::system_after(issued, DEFAULT_LIFETIME));
        Ok((answer.access_token, expires_at))
    }
}

impl ExpiringTokenSource for ClientCredentials {
    fn fetch(&self) -> Result<(String, SystemTime)> {
        self.token_with_expiry()
    }
}

impl Credentials for ClientCredentials {
    fn token(&self) -> Result<String> {
        ClientCredentials::token(self)
    }
}

impl From<ClientCredentials> for TokenProvider {
    /// A provider whose failures (a wrong secret, an unreachable identity provider) end each
    /// request with [`Error::Auth`](crate::Error::Auth) naming the identity provider's reason.
    fn from(credentials: ClientCredentials) -> Self {
        TokenProvider::from_credentials(credentials)
    }
}
