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
//! A read notes its place in the cache's history before its request is sent, and its answer is
//! stored only if no invalidation of that user (or [`clear`]) happened since and no answer to a
//! later request is already stored: a read in flight across a mutation never brings the
//! pre-mutation answer back, and an older response never overwrites a newer one.
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

/// How one read uses the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum CacheUse {
    /// A fresh entry answers; a fetched answer is stored.
    Read,
    /// The lookup is skipped; the fetched answer is stored ([`Client::nocache`](crate::Client::nocache)).
    Refresh,
    /// Neither looked up nor stored: reads nobody repeats, such as the item pages a download
    /// lists, which would otherwise keep a whole run's items in memory for the TTL.
    Bypass,
}

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
    /// A deep copy of `value` (of its stored type), for a thread's own copy of a hot entry.
    copy: fn(&Arc<dyn Any + Send + Sync>) -> Arc<dyn Any + Send + Sync>,
    expires: Instant,
    /// When the request that produced the value was sent.
    sent: Ticket,
}

/// A deep copy of a value stored as `T` (the value itself, shared, if it is not a `T`).
fn deep_copy<T: Clone + Send + Sync + 'static>(
    value: &Arc<dyn Any + Send + Sync>,
) -> Arc<dyn Any + Send + Sync> {
    match value.downcast_ref::<T>() {
        Some(v) => Arc::new(v.clone()),
        None => Arc::clone(value),
    }
}

impl Entry {
    /// Whether the entry may still be served at `now`: the one TTL rule of the shared cache and
    /// of every thread's front copies.
    fn fresh(&self, now: Instant) -> bool {
        self.expires > now
    }
}

/// A moment in the cache's history, taken just before a read's request is sent (see
/// [`ticket`]); later moments compare greater.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Ticket(u64);

/// The source of tickets.
static CLOCK: AtomicU64 = AtomicU64::new(1);

/// Per user slot, the ticket of the last invalidation of a user in that slot. A scope is a hash,
/// so its first byte picks the slot: the record stays bounded whatever the number of tokens and
/// roots, and a collision only skips a store, never keeps a stale answer.
static INVALIDATED: [AtomicU64; 256] = [const { AtomicU64::new(0) }; 256];

/// The ticket of the last [`clear`], which invalidates every user.
static CLEARED: AtomicU64 = AtomicU64::new(0);

/// The moment a read is sent: take it before the request, pass it to [`put`] with the answer.
pub(crate) fn ticket() -> Ticket {
    Ticket(CLOCK.fetch_add(1, Ordering::SeqCst))
}

fn slot(scope: &UserScope) -> &'static AtomicU64 {
    &INVALIDATED[usize::from(scope[0])]
}

/// Entries each thread keeps in front of the shared LRU.
const LOCAL_CAPACITY: usize = 64;

/// Hits of one front entry after which the thread serves a copy of its own: hot entries stop
/// sharing a reference count (a cache line every hit writes) with other threads, while entries
/// read once or twice cost no copy.
const OWN_COPY_AFTER: u32 = 16;

/// Bumped after every change of the shared cache (put, invalidation, clear, resize): a thread's
/// front copies are valid only while this has not moved since they were taken.
static GENERATION: AtomicU64 = AtomicU64::new(0);

struct Local {
    generation: u64,
    entries: LruCache<CacheKey, Front>,
}

/// A thread's front copy of an entry.
struct Front {
    entry: Entry,
    /// Hits served from this front copy; from [`OWN_COPY_AFTER`] on, `entry.value` is this
    /// thread's own copy.
    hits: u32,
}

thread_local! {
    // Repeated hits of one thread are served from here, so they take no lock and promote nothing
    // in the shared LRU; a hot entry becomes the thread's own copy, so threads hitting the same
    // entry share no reference count either.
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

/// A fresh cached value for `key`: the stored value itself, shared (one reference count), or
/// for an entry this thread hits often its own copy of it (made once); never a copy per hit, so
/// a hit costs the same whatever the size of the document.
pub(crate) fn get<T: Send + Sync + 'static>(key: &CacheKey) -> Option<Arc<T>> {
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
        let front = local.entries.get_mut(key)?;
        if !front.entry.fresh(now) {
            return None;
        }
        front.hits = front.hits.saturating_add(1);
        if front.hits == OWN_COPY_AFTER {
            front.entry.value = (front.entry.copy)(&front.entry.value);
        }
        Some(shared::<T>(&front.entry.value))
    });
    if let Some(hit) = local_hit {
        return hit;
    }
    let entry = {
        let mut cache = cache().lock();
        let entry = cache.get(key)?;
        if !entry.fresh(now) {
            cache.pop(key);
            return None;
        }
        entry.clone()
    };
    let value = shared::<T>(&entry.value);
    LOCAL.with(|local| {
        let mut local = local.borrow_mut();
        if local.generation == generation {
            let front = Front { entry, hits: 0 };
            local.entries.put(key.clone(), front);
        }
    });
    value
}

/// The stored value as an `Arc<T>` (`None` if it was stored as another type).
fn shared<T: Send + Sync + 'static>(value: &Arc<dyn Any + Send + Sync>) -> Option<Arc<T>> {
    Arc::clone(value).downcast::<T>().ok()
}

/// Stores `value` (shared with the caller, not copied), the answer to a request sent at `sent`,
/// for `ttl`. Nothing is stored for a zero TTL, when the user's entries were invalidated (or the
/// cache cleared) after `sent`, or when the entry already holds the answer to a later request.
pub(crate) fn put<T: Clone + Send + Sync + 'static>(
    key: CacheKey,
    value: Arc<T>,
    ttl: Duration,
    sent: Ticket,
) {
    if ttl.is_zero() {
        return;
    }
    let entry = Entry {
        value,
        copy: deep_copy::<T>,
        expires: crate::time::instant_after(Instant::now(), ttl),
        sent,
    };
    // Checked under the lock that invalidations take too, so none can slip in between.
    let mut cache = cache().lock();
    let invalidated = slot(&key.scope)
        .load(Ordering::SeqCst)
        .max(CLEARED.load(Ordering::SeqCst));
    if invalidated > sent.0 || cache.peek(&key).is_some_and(|old| old.sent > sent) {
        return;
    }
    cache.put(key, entry);
    drop(cache);
    changed();
}

/// Drops every entry of one user at one API root (after a mutation by that user).
pub(crate) fn invalidate_scope(root: u32, scope: &UserScope) {
    let mut cache = cache().lock();
    // Front copies go stale before the ticket is taken: a read whose ticket is later than this
    // invalidation can no longer be served a copy from before it.
    changed();
    slot(scope).fetch_max(ticket().0, Ordering::SeqCst);
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
    changed();
    CLEARED.fetch_max(ticket().0, Ordering::SeqCst);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn key(root: &str, token: &str) -> CacheKey {
        CacheKey {
            root: root_id(root),
            scope: crate::cache::user_scope(token),
            operation: "unit",
            args: Cow::Borrowed("/x"),
        }
    }

    const TTL: Duration = Duration::from_secs(60);

    // Proves an answer is stored only when no invalidation of its user (or clear) came after its
    // ticket, that other users' and other roots' entries survive an invalidation, and that an
    // older answer never replaces a newer one. (FR-55, FR-13, FR-11)
    #[test]
    fn tickets_order_stores_and_invalidations() {
        let mine = key("unit://tickets", "tok-mine");
        let other_user = key("unit://tickets", "tok-other");
        let other_root = key("unit://tickets-2", "tok-mine");
        let sent = ticket();
        put(other_user.clone(), Arc::new(1u32), TTL, ticket());
        put(other_root.clone(), Arc::new(2u32), TTL, ticket());
        invalidate_scope(mine.root, &mine.scope);
        put(mine.clone(), Arc::new(3u32), TTL, sent);
        assert_eq!(
            get::<u32>(&mine).as_deref().copied(),
            None,
            "sent before the invalidation"
        );
        assert_eq!(
            get::<u32>(&other_user).as_deref().copied(),
            Some(1),
            "another user's entry stays"
        );
        assert_eq!(
            get::<u32>(&other_root).as_deref().copied(),
            Some(2),
            "another root's entry stays"
        );

        let older = ticket();
        let newer = ticket();
        put(mine.clone(), Arc::new(5u32), TTL, newer);
        put(mine.clone(), Arc::new(4u32), TTL, older);
        assert_eq!(get::<u32>(&mine).as_deref().copied(), Some(5));
        put(mine.clone(), Arc::new(6u32), TTL, ticket());
        assert_eq!(
            get::<u32>(&mine).as_deref().copied(),
            Some(6),
            "a later answer replaces"
        );

        let before_clear = ticket();
        clear();
        put(mine.clone(), Arc::new(7u32), TTL, before_clear);
        assert_eq!(
            get::<u32>(&mine).as_deref().copied(),
            None,
            "sent before the clear"
        );
        put(mine.clone(), Arc::new(8u32), TTL, ticket());
        assert_eq!(get::<u32>(&mine).as_deref().copied(), Some(8));
    }

    // Proves a thread's front copy is served only while fresh and dropped by any change. (FR-12)
    #[test]
    fn front_copies_expire_and_follow_changes() {
        let k = key("unit://front", "tok-front");
        put(
            k.clone(),
            Arc::new(1u32),
            Duration::from_millis(30),
            ticket(),
        );
        assert_eq!(
            get::<u32>(&k).as_deref().copied(),
            Some(1),
            "from the shared cache"
        );
        assert_eq!(
            get::<u32>(&k).as_deref().copied(),
            Some(1),
            "from this thread's front copy"
        );
        std::thread::sleep(Duration::from_millis(40));
        assert_eq!(
            get::<u32>(&k).as_deref().copied(),
            None,
            "an expired front copy is not served"
        );
        put(k.clone(), Arc::new(2u32), TTL, ticket());
        assert_eq!(get::<u32>(&k).as_deref().copied(), Some(2));
        assert_eq!(get::<u32>(&k).as_deref().copied(), Some(2));
        let t = std::thread::spawn({
            let k = k.clone();
            move || put(k, Arc::new(3u32), TTL, ticket())
        });
        t.join().unwrap();
        assert_eq!(
            get::<u32>(&k).as_deref().copied(),
            Some(3),
            "a put on another thread reaches this one"
        );
        put(k.clone(), Arc::new(4u32), Duration::ZERO, ticket());
        assert_eq!(
            get::<u32>(&k).as_deref().copied(),
            Some(3),
            "a zero TTL stores nothing"
        );
    }

    // Proves a thread that keeps hitting one entry serves a copy of its own (equal, not the
    // stored allocation, so threads share no reference count), reuses it, and loses it to an
    // invalidation like any front copy. (NFR-02, NFR-22)
    #[test]
    fn hot_entries_become_a_threads_own_copy() {
        let k = key("unit://own-copy", "tok-own-copy");
        let stored = Arc::new(String::from("a cached document"));
        put(k.clone(), Arc::clone(&stored), TTL, ticket());
        let first = get::<String>(&k).expect("a hit");
        assert!(
            Arc::ptr_eq(&first, &stored),
            "the first hits share the stored value"
        );
        // Other tests' stores clear this thread's front now and then, so look for the switch
        // over many hits: a hit that is not the stored value, followed by one that is the same
        // copy again.
        let mut previous = first;
        let mut copied = false;
        for _ in 0..100_000 {
            let hit = get::<String>(&k).expect("a hit");
            assert_eq!(*hit, *stored);
            if !Arc::ptr_eq(&hit, &stored) && Arc::ptr_eq(&hit, &previous) {
                copied = true;
                break;
            }
            previous = hit;
        }
        assert!(copied, "a hot entry became this thread's own copy");
        invalidate_scope(k.root, &k.scope);
        assert!(
            get::<String>(&k).is_none(),
            "an invalidation drops the own copy too"
        );
    }
}
