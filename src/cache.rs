//! The process-wide operation cache.
//!
//! Read operations (`me`, applications, versions, runs, items, lists, grants, share tokens) keep
//! their results here for a short time (300 s for `me`, applications and versions; 15 s for
//! everything about runs; see [`Settings`](crate::Settings)). The cache is one bounded LRU shared
//! by every client in the process, keyed by
//!
//! * the API root,
//! * the **user scope**: the first 128 bits of SHA-256 of the access token (the token itself is
//!   never stored),
//! * the operation and its arguments (path, query, share token).
//!
//! so two users never share an entry, whatever their arguments. Failed calls are never cached;
//! every successful mutation (submit, cancel, delete, metadata updates, grants, share tokens)
//! drops every entry of that user. The lock is never held across network I/O.
//!
//! ```
//! aignostics::cache::clear(); // forget everything, for all users
//! assert_eq!(aignostics::cache::len(), 0);
//! ```

use std::any::Any;
use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use lru::LruCache;
use once_cell::sync::{Lazy, OnceCell};
use parking_lot::Mutex;

mod scope;
pub(crate) use scope::{UserScope, user_scope};

/// Default capacity when no settings chose one.
const DEFAULT_CAPACITY: usize = 4096;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct CacheKey {
    /// The API root, interned (see [`root_id`]) so keys hash and clone cheaply.
    pub root: u32,
    pub scope: UserScope,
    pub operation: &'static str,
    /// Path and query; borrowed for fixed paths such as `/v1/me`, so a hit allocates nothing.
    pub args: Cow<'static, str>,
}

#[derive(Clone)]
struct Entry {
    value: Arc<dyn Any + Send + Sync>,
    expires: Instant,
}

/// Entries each thread keeps in front of the shared LRU.
const LOCAL_CAPACITY: usize = 64;

/// Bumped after every change of the shared cache (put, invalidation, clear, resize): a thread's
/// front copies are valid only while this has not moved since they were taken.
static GENERATION: AtomicU64 = AtomicU64::new(0);

struct Local {
    generation: u64,
    entries: LruCache<CacheKey, Entry>,
}

thread_local! {
    // Repeated hits of one thread are served from here, so they write nothing shared (no lock,
    // no LRU promotion, no reference count): threads hitting the same entry do not contend.
    static LOCAL: RefCell<Local> = RefCell::new(Local {
        generation: u64::MAX,
        entries: LruCache::new(non_zero(LOCAL_CAPACITY)),
    });
}

/// Marks every thread's front copies stale.
fn changed() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
}

/// Interned API roots: a small number per process, so a key holds a number, not a string.
static ROOTS: Lazy<Mutex<HashMap<String, u32>>> = Lazy::new(|| Mutex::new(HashMap::new()));

/// The number standing for `api_root` in cache keys.
pub(crate) fn root_id(api_root: &str) -> u32 {
    let mut roots = ROOTS.lock();
    let next = roots.len() as u32;
    *roots.entry(api_root.to_string()).or_insert(next)
}

static CACHE: OnceCell<Mutex<LruCache<CacheKey, Entry>>> = OnceCell::new();

fn cache() -> &'static Mutex<LruCache<CacheKey, Entry>> {
    CACHE.get_or_init(|| Mutex::new(LruCache::new(non_zero(DEFAULT_CAPACITY))))
}

/// Creates the cache with `capacity` unless it already exists.
pub(crate) fn init(capacity: usize) {
    CACHE.get_or_init(|| Mutex::new(LruCache::new(non_zero(capacity))));
}

fn non_zero(n: usize) -> std::num::NonZeroUsize {
    std::num::NonZeroUsize::new(n).unwrap_or(std::num::NonZeroUsize::MIN)
}

/// A fresh cached value for `key`, cloned out of the cache.
pub(crate) fn get<T: Clone + Send + Sync + 'static>(key: &CacheKey) -> Option<T> {
    let now = Instant::now();
    // Read before the shared cache: a change after this point makes the copy taken below stale.
    let generation = GENERATION.load(Ordering::Acquire);
    let local_hit = LOCAL.with(|local| {
        let mut local = local.borrow_mut();
        if local.generation != generation {
            local.entries.clear();
            local.generation = generation;
            return None;
        }
        let entry = local.entries.get(key)?;
        // Cloned from the shared value without touching its reference count.
        (entry.expires > now).then(|| entry.value.downcast_ref::<T>().cloned())
    });
    if let Some(hit) = local_hit {
        return hit;
    }
    let entry = {
        let mut cache = cache().lock();
        let entry = cache.get(key)?;
        if entry.expires <= now {
            cache.pop(key);
            return None;
        }
        entry.clone()
    };
    let value = entry.value.downcast_ref::<T>().cloned();
    LOCAL.with(|local| {
        let mut local = local.borrow_mut();
        if local.generation == generation {
            local.entries.put(key.clone(), entry);
        }
    });
    value
}

/// Stores `value` for `ttl`; a zero TTL stores nothing.
pub(crate) fn put<T: Send + Sync + 'static>(key: CacheKey, value: T, ttl: Duration) {
    if ttl.is_zero() {
        return;
    }
    let entry = Entry {
        value: Arc::new(value),
        expires: Instant::now() + ttl,
    };
    cache().lock().put(key, entry);
    changed();
}

/// Drops every entry of one user at one API root (after a mutation by that user).
pub(crate) fn invalidate_scope(root: u32, scope: &UserScope) {
    let mut cache = cache().lock();
    let stale: Vec<CacheKey> = cache
        .iter()
        .filter(|(k, _)| k.root == root && &k.scope == scope)
        .map(|(k, _)| k.clone())
        .collect();
    for key in stale {
        cache.pop(&key);
    }
    drop(cache);
    changed();
}

/// Removes every entry, for all users. Returns how many were removed.
pub fn clear() -> usize {
    let mut cache = cache().lock();
    let n = cache.len();
    cache.clear();
    drop(cache);
    changed();
    n
}

/// The number of entries currently held (expired ones included until they are read or evicted).
pub fn len() -> usize {
    cache().lock().len()
}

/// The maximum number of entries.
pub fn capacity() -> usize {
    cache().lock().cap().get()
}

/// Changes the capacity, evicting the least recently used entries if needed.
#[doc(hidden)]
pub fn set_capacity(capacity: usize) {
    cache().lock().resize(non_zero(capacity));
    changed();
}
