//! One machine token for a fleet of processes, shared through Redis: kept in memory while
//! fresh, refreshed near expiry by exactly one process (a Redis lock with a TTL), served
//! stale-while-revalidate meanwhile, and fetched from the process's own source when Redis is
//! unreachable.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};

use super::flight::{Expiring, SingleFlight};
use super::m2m::ExpiringTokenSource;
use crate::error::{Error, Result, redact_url};
use crate::token::{Credentials, TokenProvider};

const DEFAULT_REFRESH_WINDOW: Duration = Duration::from_secs(300);
const DEFAULT_LOCK_TTL: Duration = Duration::from_secs(30);
const DEFAULT_REDIS_TIMEOUT: Duration = Duration::from_millis(500);
const DEFAULT_PEER_WAIT: Duration = Duration::from_secs(5);
const DEFAULT_POLL_INTERVAL: Duration = Duration::from_millis(100);
const DEFAULT_RECONNECT_AFTER: Duration = Duration::from_secs(5);
/// At most one warning of each kind per cache in this period, however many calls fail.
const WARN_EVERY: Duration = Duration::from_secs(60);

/// Deletes the lock only if it still holds our owner id: a lock that expired and was taken by
/// another process must not be released by us.
const RELEASE_SCRIPT: &str = "if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end";

/// One machine token shared by many processes through Redis, refreshed once for the whole
/// fleet.
///
/// Each process keeps the token in memory and serves it without contacting Redis while it is
/// fresh. Once it is inside the refresh window (default 5 minutes before expiry), one process
/// of the fleet takes a lock in Redis (`SET {key}:lock <owner> NX PX <lock TTL>`), asks its
/// `source` for a new token, stores it under `key` (`{"token": …, "expires_at_ms": …}` with a
/// Redis TTL equal to the remaining validity) and releases the lock. The other processes keep
/// serving their still-valid token meanwhile and pick the new one up from Redis. An expired
/// token is never served: a process without a valid token waits for the lock holder (polling
/// Redis, at most [`peer_wait`](Self::peer_wait)) and then asks its own source. A lock holder
/// that dies is replaced once the lock TTL has passed.
///
/// When Redis is unreachable, the process uses its own source (one request in flight at a
/// time), logs a warning at most once a minute, and dials Redis again after
/// [`reconnect_after`](Self::reconnect_after). Connect and I/O timeouts are short (500 ms), so
/// a dead Redis does not stall calls.
///
/// The source should refresh its own tokens no later than this cache does: for
/// [`ClientCredentials`](super::ClientCredentials), keep its `refresh_before` at least the
/// refresh window (both default to 5 minutes).
///
/// Clones share the in-memory token and the connection. `Debug` shows neither the token nor
/// the Redis password. See `docs/FLEET_TOKENS.md` for a fleet example and failure behaviour.
///
/// ```no_run
/// use aignostics::{Client, TokenProvider, auth::{ClientCredentials, RedisTokenCache}};
///
/// let credentials = ClientCredentials::new(
///     "https://example.eu.auth0.com/oauth/token",
///     std::env::var("M2M_CLIENT_ID").unwrap_or_default(),
///     std::env::var("M2M_CLIENT_SECRET").unwrap_or_default(),
///     "https://aignostics-platform-samia",
/// );
/// let shared = RedisTokenCache::new(
///     "redis://:password@redis.internal:6379/0",
///     "aignostics:m2m-token",
///     credentials,
/// )?;
/// let client = Client::builder()
///     .token_provider(TokenProvider::from(shared))
///     .build()?;
/// # Ok::<(), aignostics::Error>(())
/// ```
#[derive(Clone)]
#[must_use]
pub struct RedisTokenCache {
    client: redis::Client,
    /// The URL without password or query, for `Debug` and log lines.
    url: String,
    /// The password, only to scrub it from messages of the Redis client.
    password: Option<String>,
    key: String,
    lock_key: String,
    /// This instance's lock owner id (random).
    owner: String,
    source: Arc<dyn ExpiringTokenSource>,
    refresh_window: Duration,
    lock_ttl: Duration,
    connect_timeout: Duration,
    io_timeout: Duration,
    peer_wait: Duration,
    poll_interval: Duration,
    reconnect_after: Duration,
    shared: Arc<Shared>,
}

struct Shared {
    /// The token in memory; a token inside the refresh window is served without asking Redis
    /// again for one poll interval after each revalidation.
    flight: SingleFlight,
    link: Mutex<Link>,
}

/// The connection to Redis and what is known about its health.
#[derive(Default)]
struct Link {
    conn: Option<redis::Connection>,
    /// Redis failed; it is not dialled again before this moment.
    down_until: Option<Instant>,
    down: bool,
    /// When each kind of warning was last logged.
    warned: [Option<Instant>; 4],
}

/// Kinds of warnings, each rate-limited on its own so one kind never hides another.
#[derive(Clone, Copy)]
enum Warning {
    RedisDown = 0,
    PeerWait = 1,
    RefreshFailed = 2,
    BadEntry = 3,
}

/// The entry stored in Redis.
#[derive(Serialize, Deserialize)]
struct Entry {
    token: String,
    expires_at_ms: u64,
}

/// Why a revalidation through Redis did not produce a token.
enum Failure {
    /// Redis could not be used (already logged).
    Redis,
    /// The source failed.
    Source(Error),
}

type Step<T> = std::result::Result<T, Failure>;

impl std::fmt::Debug for RedisTokenCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisTokenCache")
            .field("redis_url", &self.url)
            .field("key", &self.key)
            .field("refresh_window", &self.refresh_window)
            .field("lock_ttl", &self.lock_ttl)
            .field("expires_at", &self.expires_at())
            .finish_non_exhaustive()
    }
}

impl RedisTokenCache {
    /// A cache of `source`'s tokens in Redis at `redis_url` (`redis://[:password@]host[:port][/db]`)
    /// under `key`; the lock is `{key}:lock`. Nothing is contacted yet. Fails with
    /// [`Error::Config`] for a URL the Redis client does not accept and with
    /// [`Error::InvalidInput`] for an empty key.
    pub fn new<S>(redis_url: &str, key: impl Into<String>, source: S) -> Result<Self>
    where
        S: ExpiringTokenSource + 'static,
    {
        let url = redact_redis_url(redis_url);
        let client = redis::Client::open(redis_url).map_err(|e| {
            let reason = scrub_user_info(redis_url, &e.to_string());
            Error::Config(format!("invalid Redis URL {url}: {reason}"))
        })?;
        let password = client
            .get_connection_info()
            .redis_settings()
            .password()
            .filter(|p| !p.is_empty())
            .map(str::to_string);
        let key = key.into();
        if key.is_empty() {
            return Err(Error::InvalidInput(
                "the Redis key of the token cache is empty".into(),
            ));
        }
        Ok(Self {
            client,
            url,
            password,
            lock_key: format!("{key}:lock"),
            key,
            owner: owner_id(),
            source: Arc::new(source),
            refresh_window: DEFAULT_REFRESH_WINDOW,
            lock_ttl: DEFAULT_LOCK_TTL,
            connect_timeout: DEFAULT_REDIS_TIMEOUT,
            io_timeout: DEFAULT_REDIS_TIMEOUT,
            peer_wait: DEFAULT_PEER_WAIT,
            poll_interval: DEFAULT_POLL_INTERVAL,
            reconnect_after: DEFAULT_RECONNECT_AFTER,
            shared: Arc::new(Shared {
                flight: SingleFlight::default(),
                link: Mutex::new(Link::default()),
            }),
        })
    }

    /// How long before expiry the token is replaced (default 5 minutes). Keep it well below
    /// the token lifetime.
    pub fn refresh_window(mut self, window: Duration) -> Self {
        self.refresh_window = window;
        self
    }

    /// How long the refresh lock lives if its holder never releases it, e.g. because the
    /// process died (default 30 s). Make it longer than a token request takes.
    pub fn lock_ttl(mut self, ttl: Duration) -> Self {
        self.lock_ttl = ttl.max(Duration::from_millis(1));
        self
    }

    /// Timeout for connecting to Redis (default 500 ms).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// Timeout for each read and write on the Redis connection (default 500 ms).
    pub fn io_timeout(mut self, timeout: Duration) -> Self {
        self.io_timeout = timeout.max(Duration::from_millis(1));
        self
    }

    /// How long a process without a valid token waits for another process's refresh before
    /// asking its own source (default 5 s).
    pub fn peer_wait(mut self, wait: Duration) -> Self {
        self.peer_wait = wait;
        self
    }

    /// How often Redis is polled while waiting for another process's refresh, and how long a
    /// token inside the refresh window is served before Redis is asked again (default 100 ms).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// How long to use the own source only, after Redis failed, before dialling Redis again
    /// (default 5 s).
    pub fn reconnect_after(mut self, backoff: Duration) -> Self {
        self.reconnect_after = backoff;
        self
    }

    /// When the token held in memory expires; `None` before the first token.
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.shared.flight.expires_at()
    }

    /// A valid access token: from memory, from Redis, or from the source.
    pub fn token(&self) -> Result<String> {
        self.token_with_expiry().map(|(token, _)| token)
    }

    /// A valid access token and its expiry.
    pub fn token_with_expiry(&self) -> Result<(String, SystemTime)> {
        let fresh = |(_, exp): &Expiring| {
            crate::time::system_after(SystemTime::now(), self.refresh_window) < *exp
        };
        let flight = &self.shared.flight;
        flight.get(fresh, self.poll_interval, |held| {
            match self.revalidate(held.as_ref()) {
                Ok((_, exp)) if SystemTime::now() >= exp => Err(Error::Auth(
                    "the token source returned an already expired token".into(),
                )),
                // A failed refresh ahead of expiry keeps the current token while it is valid.
                Err(e) => match held {
                    Some((token, exp)) if SystemTime::now() < exp => {
                        self.warn(
                            Warning::RefreshFailed,
                            format_args!(
                                "refreshing the shared machine token failed, using the current \
                                 one: {e}"
                            ),
                        );
                        Ok((token, exp))
                    }
                    _ => Err(e),
                },
                ok => ok,
            }
        })
    }

    /// A new or shared token, through Redis when it is usable, else from the source.
    fn revalidate(&self, held: Option<&(String, SystemTime)>) -> Result<(String, SystemTime)> {
        match self.through_redis(held) {
            Ok(Some(found)) => Ok(found),
            Ok(None) => {
                self.warn(
                    Warning::PeerWait,
                    format_args!(
                        "no shared machine token appeared in Redis at {} (key {:?}) within {:?} \
                     while another process held the refresh lock; fetching this process's own",
                        self.url, self.key, self.peer_wait
                    ),
                );
                self.source.fetch()
            }
            Err(Failure::Source(e)) => Err(e),
            Err(Failure::Redis) => self.source.fetch(),
        }
    }

    /// The shared flow. `Ok(None)`: another process held the lock and no token appeared within
    /// the peer wait.
    fn through_redis(
        &self,
        held: Option<&(String, SystemTime)>,
    ) -> Step<Option<(String, SystemTime)>> {
        let entry = self.read_entry()?;
        let now = SystemTime::now();
        if let Some((token, exp)) = &entry
            && now + self.refresh_window < *exp
        {
            return Ok(Some((token.clone(), *exp)));
        }
        if let Some(found) = self.refresh_if_lock_free()? {
            return Ok(Some(found));
        }
        // Another process is refreshing: a token that is still valid is good enough meanwhile.
        let valid = [entry.as_ref(), held]
            .into_iter()
            .flatten()
            .filter(|(_, exp)| now < *exp)
            .max_by_key(|(_, exp)| *exp);
        if let Some(found) = valid {
            return Ok(Some(found.clone()));
        }
        let deadline = crate::time::instant_after(Instant::now(), self.peer_wait);
        while Instant::now() < deadline {
            std::thread::sleep(self.poll_interval.min(deadline - Instant::now()));
            if let Some((token, exp)) = self.read_entry()?
                && SystemTime::now() < exp
            {
                return Ok(Some((token, exp)));
            }
            // The holder may have died: once its lock expires, this process refreshes.
            if let Some(found) = self.refresh_if_lock_free()? {
                return Ok(Some(found));
            }
        }
        Ok(None)
    }

    /// Takes the lock and refreshes; `None` when another process holds the lock.
    fn refresh_if_lock_free(&self) -> Step<Option<(String, SystemTime)>> {
        let ttl_ms = u64::try_from(self.lock_ttl.as_millis()).unwrap_or(u64::MAX);
        let taken: Option<String> = self.redis(|c| {
            redis::cmd("SET")
                .arg(&self.lock_key)
                .arg(&self.owner)
                .arg("NX")
                .arg("PX")
                .arg(ttl_ms)
                .query(c)
        })?;
        if taken.is_none() {
            return Ok(None);
        }
        let result = self.refresh_locked();
        // A failed release is harmless: the lock expires with its TTL.
        let _ = self.redis(|c| {
            redis::cmd("EVAL")
                .arg(RELEASE_SCRIPT)
                .arg(1)
                .arg(&self.lock_key)
                .arg(&self.owner)
                .query::<i64>(c)
        });
        result.map(Some)
    }

    /// With the lock held: the token another process stored just before, or a new one from the
    /// source, stored in Redis.
    fn refresh_locked(&self) -> Step<(String, SystemTime)> {
        // The previous holder may have stored a token between our read and our lock.
        if let Some((token, exp)) = self.read_entry()?
            && SystemTime::now() + self.refresh_window < exp
        {
            return Ok((token, exp));
        }
        let (token, exp) = self.source.fetch().map_err(Failure::Source)?;
        let remaining = exp
            .duration_since(SystemTime::now())
            .unwrap_or(Duration::ZERO);
        let remaining_ms = u64::try_from(remaining.as_millis()).unwrap_or(u64::MAX);
        if remaining_ms > 0 {
            let entry = Entry {
                token: token.clone(),
                expires_at_ms: unix_ms(exp),
            };
            // Not storing it only costs the fleet a second request; this process has its token.
            if let Ok(value) = serde_json::to_string(&entry) {
                let _ = self.redis(|c| {
                    redis::cmd("SET")
                        .arg(&self.key)
                        .arg(value)
                        .arg("PX")
                        .arg(remaining_ms)
                        .query::<()>(c)
                });
            }
        }
        Ok((token, exp))
    }

    /// The stored token and its expiry, if any is stored and readable.
    fn read_entry(&self) -> Step<Option<(String, SystemTime)>> {
        let raw: Option<String> = self.redis(|c| redis::cmd("GET").arg(&self.key).query(c))?;
        let Some(raw) = raw else {
            return Ok(None);
        };
        match serde_json::from_str::<Entry>(&raw) {
            Ok(entry) => Ok(Some((
                entry.token,
                crate::time::system_after(UNIX_EPOCH, Duration::from_millis(entry.expires_at_ms)),
            ))),
            Err(_) => {
                self.warn(
                    Warning::BadEntry,
                    format_args!(
                        "the value under key {:?} in Redis at {} is not a token entry; ignoring it",
                        self.key, self.url
                    ),
                );
                Ok(None)
            }
        }
    }

    /// Runs `op` on the connection, connecting first if needed. While Redis is backing off
    /// after a failure, fails at once without dialling.
    fn redis<T>(
        &self,
        op: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Step<T> {
        let mut link = self.shared.link.lock();
        if link.conn.is_none() {
            if link.down_until.is_some_and(|t| Instant::now() < t) {
                return Err(Failure::Redis);
            }
            match self.connect() {
                Ok(conn) => link.conn = Some(conn),
                Err(e) => return Err(self.fail(&mut link, &e)),
            }
        }
        let Some(conn) = link.conn.as_mut() else {
            return Err(Failure::Redis);
        };
        match op(conn) {
            Ok(value) => {
                if link.down {
                    link.down = false;
                    link.down_until = None;
                    log::info!(
                        "Redis at {} (key {:?}) is reachable again; sharing the machine token",
                        self.url,
                        self.key
                    );
                }
                Ok(value)
            }
            Err(e) => Err(self.fail(&mut link, &e)),
        }
    }

    fn connect(&self) -> redis::RedisResult<redis::Connection> {
        let conn = self
            .client
            .get_connection_with_timeout(self.connect_timeout)?;
        conn.set_read_timeout(Some(self.io_timeout))?;
        conn.set_write_timeout(Some(self.io_timeout))?;
        Ok(conn)
    }

    /// Drops the connection, starts the back-off and warns (rate-limited).
    fn fail(&self, link: &mut Link, error: &redis::RedisError) -> Failure {
        let message = self.scrub(&error.to_string());
        link.conn = None;
        link.down = true;
        link.down_until = Some(crate::time::instant_after(
            Instant::now(),
            self.reconnect_after,
        ));
        if due(&mut link.warned[Warning::RedisDown as usize]) {
            log::warn!(
                "Redis at {} (key {:?}) is not usable ({message}); using this process's own \
                 token source, trying Redis again after {:?}",
                self.url,
                self.key,
                self.reconnect_after
            );
        }
        Failure::Redis
    }

    /// Logs a warning unless one of its kind was logged within the last minute.
    fn warn(&self, kind: Warning, message: std::fmt::Arguments<'_>) {
        let due = due(&mut self.shared.link.lock().warned[kind as usize]);
        if due {
            log::warn!("{message}");
        }
    }

    /// Removes the password from a message of the Redis client, should it ever contain it.
    fn scrub(&self, message: &str) -> String {
        match &self.password {
            Some(p) => message.replace(p.as_str(), "***"),
            None => message.to_string(),
        }
    }
}

impl ExpiringTokenSource for RedisTokenCache {
    fn fetch(&self) -> Result<(String, SystemTime)> {
        self.token_with_expiry()
    }
}

impl Credentials for RedisTokenCache {
    fn token(&self) -> Result<String> {
        RedisTokenCache::token(self)
    }
}

impl From<RedisTokenCache> for TokenProvider {
    /// A provider whose failures end each request with the cache's error, before anything is
    /// sent to the API.
    fn from(cache: RedisTokenCache) -> Self {
        TokenProvider::from_credentials(cache)
    }
}

/// Whether a rate-limited warning last logged at `last` is due again; if so, records now.
fn due(last: &mut Option<Instant>) -> bool {
    if last.is_some_and(|t| t.elapsed() < WARN_EVERY) {
        return false;
    }
    *last = Some(Instant::now());
    true
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// A random lock owner id, unique across the fleet.
fn owner_id() -> String {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    if ring::rand::SystemRandom::new().fill(&mut bytes).is_ok() {
        return crate::checksum::hex(&bytes);
    }
    // Without system randomness, process id and clock still tell owners apart.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    format!("{}-{nanos}", std::process::id())
}

/// A Redis URL split for printing: scheme, user info, and what follows it up to the query.
///
/// The user info runs from after `://` to the **last** `@`, whatever lies between: passwords
/// are often written unencoded and may hold `/`, `?`, `#`, `:` or `@`, so splitting at the first
/// of those (as a strict URL parser would) would leave all or part of a password in the host or
/// path.
struct RedisUrlParts<'a> {
    /// The scheme, when it is a well-formed one (letters, digits, `+`, `-`, `.`); otherwise the
    /// whole URL is searched for user info.
    scheme: Option<&'a str>,
    /// Everything between `://` and the last `@`, when there is an `@`.
    user_info: Option<&'a str>,
    /// Host, port and path, without query or fragment.
    location: &'a str,
}

fn split_redis_url(url: &str) -> RedisUrlParts<'_> {
    let well_formed = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
    };
    let (scheme, rest) = match url.split_once("://") {
        Some((scheme, rest)) if well_formed(scheme) => (Some(scheme), rest),
        _ => (None, url),
    };
    let (user_info, location) = match rest.rfind('@') {
        Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
        None => (None, rest),
    };
    RedisUrlParts {
        scheme,
        user_info,
        location: redact_url(location),
    }
}

/// The URL without user info (password), query or fragment.
fn redact_redis_url(url: &str) -> String {
    let parts = split_redis_url(url);
    let scheme = parts.scheme.map(|s| format!("{s}://")).unwrap_or_default();
    let user_info = if parts.user_info.is_some() {
        "***@"
    } else {
        ""
    };
    format!("{scheme}{user_info}{}", parts.location)
}

/// `message` with the URL's user info, and each part of it, replaced by `***`.
fn scrub_user_info(url: &str, message: &str) -> String {
    let Some(user_info) = split_redis_url(url).user_info else {
        return message.to_string();
    };
    let mut secrets: Vec<&str> = std::iter::once(user_info)
        .chain(user_info.split(':'))
        .filter(|s| !s.is_empty())
        .collect();
    // Longest first, so a part inside a longer secret never leaves the rest of it behind.
    secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    secrets
        .into_iter()
        .fold(message.to_string(), |m, s| m.replace(s, "***"))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves user info, password and query are removed from Redis URLs, and nothing else. (NFR-05)
    #[test]
    fn redis_urls_are_redacted() {
        assert_eq!(
            redact_redis_url("redis://:s3cret@host:6379/0"),
            "redis://***@host:6379/0"
        );
        assert_eq!(
            redact_redis_url("redis://user:s3cret@host/1?protocol=resp3"),
            "redis://***@host/1"
        );
        assert_eq!(redact_redis_url("redis://host:6379"), "redis://host:6379");
        assert_eq!(
            redact_redis_url("redis+unix:///run/redis.sock?pass=s3cret"),
            "redis+unix:///run/redis.sock"
        );
        assert!(!redact_redis_url("redis://a:b@c@host").contains('b'));
        // Passwords written unencoded, with the characters that end a URL's authority.
        for (url, expected) in [
            ("redis://:pa/ss+word==@host", "redis://***@host"),
            ("redis://:pa#ss@host:6379/0", "redis://***@host:6379/0"),
            ("redis://:pa?ss@host/2?x=1", "redis://***@host/2"),
            ("redis://u:p@ss:w/rd@host", "redis://***@host"),
            (":secret@host", "***@host"),
            ("sec ret@x://host", "***@x://host"),
        ] {
            assert_eq!(redact_redis_url(url), expected, "{url}");
        }
    }

    // Proves a Redis client message naming the user info or its parts is scrubbed. (NFR-05)
    #[test]
    fn client_messages_lose_user_info() {
        let url = "redis://admin:pa/ss@host";
        assert_eq!(
            scrub_user_info(url, "bad admin:pa/ss or pa/ss or admin"),
            "bad *** or *** or ***"
        );
        assert_eq!(scrub_user_info("redis://host", "as is"), "as is");
    }

    // Proves a bad URL and an empty key are typed errors that never show the password. (FR-10, NFR-05)
    #[test]
    fn bad_input_is_a_typed_error() {
        struct Never;
        impl ExpiringTokenSource for Never {
            fn fetch(&self) -> Result<(String, SystemTime)> {
                Err(Error::Auth("never".into()))
            }
        }
        let err = RedisTokenCache::new("http://:s3cret@host", "k", Never).unwrap_err();
        assert!(matches!(err, Error::Config(_)), "{err:?}");
        assert!(!err.to_string().contains("s3cret"), "{err}");
        let err = RedisTokenCache::new("redis://127.0.0.1:1", "", Never).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
    }

    /// A source that is never asked (nothing is contacted while a cache is built).
    struct Unused;
    impl ExpiringTokenSource for Unused {
        fn fetch(&self) -> Result<(String, SystemTime)> {
            Err(Error::Auth("unused".into()))
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        // Proves no password, nor any part of it, ever shows in a redacted Redis URL, in the
        // configuration error of a URL the client rejects, or in the cache's Debug output,
        // whatever characters it holds (`/`, `?`, `#`, `@`, `:`, unicode). (NFR-16, NFR-05)
        #[test]
        fn redis_passwords_never_show(
            password in r"\PC{0,30}",
            user in "[a-z]{0,6}",
            tail in r"(:[0-9]{1,5})?(/[0-9a-z]{0,3})?(\?[a-z=&]{0,12})?(#[a-z]{0,5})?",
        ) {
            // A marker starts every password: any leaked prefix shows it.
            let password = format!("Zq7{password}");
            for url in [
                format!("redis://:{password}@host{tail}"),
                format!("redis://{user}:{password}@127.0.0.1{tail}"),
                format!("rediss://{user}:{password}@h{tail}"),
                format!("{user}:{password}@host{tail}"),
            ] {
                let shown = match RedisTokenCache::new(&url, "k", Unused) {
                    Ok(cache) => format!("{cache:?}"),
                    Err(e) => format!("{e} {e:?}"),
                };
                let shown = format!("{shown} {}", redact_redis_url(&url));
                proptest::prop_assert!(!shown.contains("Zq7"), "{} -> {}", url, shown);
            }
        }
    }
}
