//! [`Client`], [`ClientBuilder`] and the process-wide pools of [`Api`]s.

use std::collections::HashMap;
use std::sync::Arc;

use once_cell::sync::Lazy;
use parking_lot::Mutex;

use crate::cache::CacheUse;
use crate::error::Result;
use crate::handlers::{Applications, Grants, Run, Runs, ShareTokens, Versions};
use crate::models::{ApplicationReadResponse, MeReadResponse, VersionReadResponse};
use crate::retry::Deadline;
use crate::settings::Settings;
use crate::token::TokenProvider;
use crate::transport::{Api, Op, Redirect, Request, TokenSource};

/// Most external providers pooled at once; a 17th clears the pool.
pub(crate) const MAX_EXTERNAL_APIS: usize = 16;

/// The entry point: a cheap-to-clone, `Send + Sync` handle on the platform.
///
/// ```no_run
/// use aignostics::{Client, TokenProvider};
///
/// // Internal login (token shared with the Python SDK's token file):
/// let client = Client::new()?;
/// // Or your own token source (service accounts, tokens held in Redis, tests):
/// let provider = TokenProvider::new(|| std::env::var("AIGNOSTICS_ACCESS_TOKEN").unwrap_or_default());
/// let client = Client::builder().token_provider(provider).build()?;
///
/// let me = client.me()?;
/// // Cached values are shared (`Arc`): read fields in place, clone what you keep.
/// println!("{}", me.user.email.as_deref().unwrap_or_default());
/// # Ok::<(), aignostics::Error>(())
/// ```
#[derive(Clone, Debug)]
pub struct Client {
    api: Arc<Api>,
    cache_use: CacheUse,
    /// When every call through this view gives up (a timed wait or download sets it).
    deadline: Deadline,
}

/// Builds a [`Client`]; see [`Client::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ClientBuilder {
    api_root: Option<String>,
    token_provider: Option<TokenProvider>,
    cache_token: bool,
    settings: Option<Settings>,
}

impl Default for ClientBuilder {
    fn default() -> Self {
        Self {
            api_root: None,
            token_provider: None,
            cache_token: true,
            settings: None,
        }
    }
}

impl ClientBuilder {
    /// Talks to another platform root (a known environment, a sandbox, a proxy).
    pub fn api_root(mut self, api_root: impl Into<String>) -> Self {
        self.api_root = Some(api_root.into());
        self
    }

    /// Uses the caller's token source; internal login and the token file are never touched.
    pub fn token_provider(mut self, provider: TokenProvider) -> Self {
        self.token_provider = Some(provider);
        self
    }

    /// With internal login: keep the token in the token file (default `true`) or in memory only.
    /// Ignored with a token provider.
    pub fn cache_token(mut self, cache_token: bool) -> Self {
        self.cache_token = cache_token;
        self
    }

    /// Uses these settings instead of reading `AIGNOSTICS_*` from the environment.
    pub fn settings(mut self, settings: Settings) -> Self {
        self.settings = Some(settings);
        self
    }

    /// Builds the client. No network I/O happens here; tokens are fetched per request.
    ///
    /// # Errors
    /// [`Error::Config`](crate::Error::Config) for settings that cannot be used: an invalid
    /// `AIGNOSTICS_*` value, or a CA bundle ([`tls`](crate::tls)) that cannot be read.
    pub fn build(self) -> Result<Client> {
        crate::tls::check()?;
        let mut settings = match self.settings {
            Some(s) => s,
            None => Settings::from_env()?,
        };
        if let Some(root) = &self.api_root {
            settings = settings.with_api_root(root)?;
        }
        // AIGNOSTICS_ACCESS_TOKEN stands in for a login unless a provider was given.
        let from_settings = settings
            .access_token
            .as_ref()
            .filter(|_| self.token_provider.is_none())
            .map(settings_token_provider);
        let provider = self.token_provider.as_ref().or(from_settings.as_ref());
        let api = pooled_api(self.cache_token, provider, settings)?;
        Ok(Client {
            api,
            cache_use: CacheUse::Read,
            deadline: None,
        })
    }
}

#[cfg_attr(feature = "async", aignostics_macros::twin)]
impl Client {
    /// A client with settings from the environment and the internal login.
    #[cfg_attr(feature = "async", twin(skip))]
    pub fn new() -> Result<Self> {
        Self::builder().build()
    }

    /// A builder for the optional parts: API root, token provider, token caching, settings.
    #[cfg_attr(feature = "async", twin(skip))]
    pub fn builder() -> ClientBuilder {
        ClientBuilder::default()
    }

    /// A client on an existing [`Api`] (e.g. one from [`Client::get_api_client`]).
    #[cfg_attr(feature = "async", twin(skip))]
    pub fn from_api(api: Arc<Api>) -> Self {
        Self {
            api,
            cache_use: CacheUse::Read,
            deadline: None,
        }
    }

    /// The pooled [`Api`] for these inputs, with settings from the environment.
    ///
    /// Three process-wide pools: one `Api` for the internal login with the token file, one for
    /// the internal login in memory, and up to 16 for external providers (a 17th distinct
    /// provider clears that pool first and logs a warning: create providers once and clone
    /// them). The same inputs return the same `Arc` (`Arc::ptr_eq`); distinct providers never
    /// share one; an `Api` built with other settings is never returned.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use aignostics::{Client, TokenProvider};
    /// let provider = TokenProvider::fixed("token");
    /// let a = Client::get_api_client(true, Some(&provider))?;
    /// let b = Client::get_api_client(false, Some(&provider.clone()))?;
    /// assert!(Arc::ptr_eq(&a, &b));
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    #[cfg_attr(feature = "async", twin(skip))]
    pub fn get_api_client(cache_token: bool, provider: Option<&TokenProvider>) -> Result<Arc<Api>> {
        pooled_api(cache_token, provider, Settings::from_env()?)
    }

    /// The engine behind this client.
    #[cfg_attr(feature = "async", twin(skip))]
    pub fn api(&self) -> &Arc<Api> {
        &self.api
    }

    /// A view of the same client whose reads skip the operation cache (results are still
    /// written to it, so later cached reads see them).
    pub fn nocache(&self) -> Client {
        Client {
            cache_use: CacheUse::Refresh,
            ..self.clone()
        }
    }

    /// A view whose reads neither look in the cache nor store in it (reads nobody repeats).
    pub(crate) fn bypass_cache(&self) -> Client {
        Client {
            cache_use: CacheUse::Bypass,
            ..self.clone()
        }
    }

    /// A view of the same client whose calls (attempts and retries included) give up at
    /// `deadline`.
    pub(crate) fn until(&self, deadline: Deadline) -> Client {
        Client {
            deadline,
            ..self.clone()
        }
    }

    /// The deadline of this view, if any.
    pub(crate) fn deadline(&self) -> Deadline {
        self.deadline
    }

    /// The current user and organization (`GET /v1/me`; cached 300 s). The value is shared with
    /// the cache (a hit copies nothing); `Arc::unwrap_or_clone` gives an owned copy.
    pub fn me(&self) -> Result<Arc<MeReadResponse>> {
        self.read_shared(Op::GetMe.at(&[]))
    }

    /// A read through this client, using the cache as the view says ([`CacheUse`]),
    /// returning an owned value (list pages).
    pub(crate) fn read<T>(&self, request: Request) -> Result<T>
    where
        T: serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
    {
        self.api.read(request.until(self.deadline), self.cache_use)
    }

    /// A cached read through this client whose value is shared with the cache.
    pub(crate) fn read_shared<T>(&self, request: Request) -> Result<Arc<T>>
    where
        T: serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
    {
        self.api
            .read_shared(request.until(self.deadline), self.cache_use)
    }

    /// [`read_shared`](Self::read_shared) validating the input (`check`) only before sending.
    pub(crate) fn read_shared_checked<T>(
        &self,
        request: Request,
        check: impl FnOnce() -> Result<()>,
    ) -> Result<Arc<T>>
    where
        T: serde::de::DeserializeOwned + Clone + Send + Sync + 'static,
    {
        self.api
            .read_shared_checked(request.until(self.deadline), self.cache_use, check)
    }

    /// How this view's reads use the cache.
    pub(crate) fn cache_use(&self) -> CacheUse {
        self.cache_use
    }

    /// A call answered with a redirect to a signed URL, or with the content itself.
    pub(crate) fn redirect(&self, request: Request) -> Result<Redirect> {
        self.api.redirect(request.until(self.deadline))
    }

    /// A call answered with a redirect: its `Location`, unfollowed.
    pub(crate) fn redirect_location(&self, request: Request) -> Result<String> {
        self.api.redirect_location(request.until(self.deadline))
    }

    /// A mutation whose answer is not needed.
    pub(crate) fn mutate(&self, request: Request) -> Result<()> {
        self.api.mutate(request.until(self.deadline)).map(drop)
    }

    /// A mutation whose JSON answer is decoded.
    pub(crate) fn mutate_json<T: serde::de::DeserializeOwned>(
        &self,
        request: Request,
    ) -> Result<T> {
        self.api.mutate_json(request.until(self.deadline))
    }

    /// An application with its versions (`GET /v1/applications/{id}`; cached 300 s, shared with
    /// the cache); the same call as [`Applications::details`].
    pub fn application(&self, application_id: &str) -> Result<Arc<ApplicationReadResponse>> {
        self.applications().details(application_id)
    }

    /// Details of an application version (cached 300 s, shared with the cache); `None` picks
    /// the latest by semantic version, and a cached latest version is one lookup. A version
    /// that is not semver is rejected before any request. The same call as
    /// [`Versions::details`].
    pub fn application_version(
        &self,
        application_id: &str,
        version: Option<&str>,
    ) -> Result<Arc<VersionReadResponse>> {
        self.versions().details(application_id, version)
    }

    /// A handle on a run; no I/O until you call one of its methods.
    pub fn run(&self, run_id: impl Into<String>) -> Run {
        Run::new(self.clone(), run_id.into())
    }

    /// The applications handler: list applications and read their details.
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// let first = client.applications().list().iter().next().transpose()?;
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn applications(&self) -> Applications {
        Applications::new(self.clone())
    }

    /// The versions handler: versions of an application, their details and documents.
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// let latest = client.versions().latest("he-tme")?;
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn versions(&self) -> Versions {
        Versions::new(self.clone())
    }

    /// The runs handler: submit (validated first) and list runs.
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// let mine = client.runs().list().submitted_by("me").iter().take(5);
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn runs(&self) -> Runs {
        Runs::new(self.clone())
    }

    /// The grants handler: create, list, read and revoke access grants.
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// let grants = client.grants().list().revoked(false).iter().count();
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn grants(&self) -> Grants {
        Grants::new(self.clone())
    }

    /// The share-tokens handler: create, list, read and revoke share tokens.
    ///
    /// ```no_run
    /// # let client = aignostics::Client::new()?;
    /// let token = client.share_tokens().create(None)?;
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    pub fn share_tokens(&self) -> ShareTokens {
        ShareTokens::new(self.clone())
    }
}

// ---- pools -------------------------------------------------------------------------------

type Slot = Mutex<Option<Arc<Api>>>;

static CACHED_TOKEN: Lazy<Slot> = Lazy::new(|| Mutex::new(None));
static UNCACHED_TOKEN: Lazy<Slot> = Lazy::new(|| Mutex::new(None));

/// External providers: keyed by provider identity and settings; the entry keeps the provider
/// alive so a freed provider's address can never alias a new one.
type ExternalPool = HashMap<(usize, Settings), (TokenProvider, Arc<Api>)>;
static EXTERNAL: Lazy<Mutex<ExternalPool>> = Lazy::new(|| Mutex::new(HashMap::new()));

/// The provider of a settings' access token: one per token for the process, so clients
/// built again and again share one `Api` from the pool instead of filling it.
fn settings_token_provider(token: &crate::settings::Secret) -> TokenProvider {
    static LAST: Mutex<Option<(crate::settings::Secret, TokenProvider)>> = Mutex::new(None);
    let mut last = LAST.lock();
    match &*last {
        Some((t, provider)) if t == token => provider.clone(),
        _ => {
            let provider = TokenProvider::fixed(token.expose().to_string());
            *last = Some((token.clone(), provider.clone()));
            provider
        }
    }
}

fn pooled_api(
    cache_token: bool,
    provider: Option<&TokenProvider>,
    settings: Settings,
) -> Result<Arc<Api>> {
    if let Some(provider) = provider {
        // The lock is held while building so concurrent first calls build one Api; building
        // does no I/O.
        let mut pool = EXTERNAL.lock();
        let key = (provider.id(), settings);
        if let Some((_, api)) = pool.get(&key) {
            return Ok(Arc::clone(api));
        }
        if pool.len() >= MAX_EXTERNAL_APIS {
            log::warn!(
                "more than {MAX_EXTERNAL_APIS} distinct token providers were used; clearing the \
                 provider pool to bound memory. Create one TokenProvider and clone it instead of \
                 creating a new one per client."
            );
            pool.clear();
        }
        let api = Arc::new(Api::new(
            key.1.clone(),
            TokenSource::Provider(provider.clone()),
        ));
        pool.insert(key, (provider.clone(), Arc::clone(&api)));
        return Ok(api);
    }
    let slot = if cache_token {
        &CACHED_TOKEN
    } else {
        &UNCACHED_TOKEN
    };
    let mut slot = slot.lock();
    if let Some(api) = slot.as_ref()
        && api.settings() == &settings
    {
        return Ok(Arc::clone(api));
    }
    let source = crate::auth::internal_source(&settings, cache_token);
    let api = Arc::new(Api::new(settings, source));
    *slot = Some(Arc::clone(&api));
    Ok(api)
}

/// Empties the three pools (tests start clean with this).
#[doc(hidden)]
pub fn reset_pools() {
    *CACHED_TOKEN.lock() = None;
    *UNCACHED_TOKEN.lock() = None;
    EXTERNAL.lock().clear();
}

/// How many external providers are pooled.
#[doc(hidden)]
pub fn external_pool_len() -> usize {
    EXTERNAL.lock().len()
}
