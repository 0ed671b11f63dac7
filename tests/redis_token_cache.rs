//! The fleet token cache on a real `redis-server`: one refresh per window across processes,
//! Redis outages and recovery, a dead lock holder, and redaction.
#![cfg(feature = "redis")]

mod redis_support;

use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use aignostics::TokenProvider;
use aignostics::auth::{ClientCredentials, RedisTokenCache};
use redis_support::*;

const SECRET: &str = "fleet-client-secret";

/// Client credentials against `idp` that refresh `window` before expiry, with fast retries.
fn credentials(idp: &Idp, window: Duration) -> ClientCredentials {
    let retry = aignostics::Settings::default().auth_operation.no_wait(2);
    ClientCredentials::new(idp.token_url(), "fleet-client", SECRET, "https://aud")
        .retry(&retry)
        .refresh_before(window)
}

/// A cache as one process of the fleet would build it, with test-sized timings.
fn cache(url: &str, key: &str, idp: &Idp, window: Duration) -> RedisTokenCache {
    RedisTokenCache::new(url, key, credentials(idp, window))
        .unwrap()
        .refresh_window(window)
        .lock_ttl(Duration::from_secs(2))
        .peer_wait(Duration::from_secs(3))
        .poll_interval(Duration::from_millis(25))
        .reconnect_after(Duration::from_millis(300))
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap().as_millis() as u64
}

/// The token stored under `key`, if any.
fn stored_token(conn: &mut redis::Connection, key: &str) -> Option<String> {
    let raw: Option<String> = redis::cmd("GET").arg(key).query(conn).unwrap();
    raw.map(|raw| {
        let entry: serde_json::Value = serde_json::from_str(&raw).unwrap();
        entry["token"].as_str().unwrap().to_string()
    })
}

// Proves four processes (separate caches) × 200 calls across several refresh windows cause
// exactly one token request per window, and every call gets an unexpired token. (FR-10)
#[test]
fn fleet_refreshes_once_per_window() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let lifetime = Duration::from_secs(3);
    let window = Duration::from_secs(1);
    let idp = Arc::new(Idp::start("fleet", 3, Duration::from_millis(200)));
    let key = unique("fleet-key");
    let barrier = Arc::new(Barrier::new(4));

    let handles: Vec<_> = (0..4)
        .map(|_| {
            let cache = cache(&redis.url(), &key, &idp, window);
            let barrier = Arc::clone(&barrier);
            std::thread::spawn(move || {
                barrier.wait();
                (0..200)
                    .map(|_| {
                        let token = cache.token().unwrap();
                        let at = Instant::now();
                        std::thread::sleep(Duration::from_millis(25));
                        (token, at)
                    })
                    .collect::<Vec<_>>()
            })
        })
        .collect();
    let per_process: Vec<Vec<(String, Instant)>> =
        handles.into_iter().map(|h| h.join().unwrap()).collect();

    for calls in &per_process {
        for (token, at) in calls {
            let valid_until = idp.valid_until(token).expect("a token the endpoint issued");
            assert!(*at < valid_until, "an expired token was served");
        }
        let mut distinct: Vec<&String> = calls.iter().map(|(t, _)| t).collect();
        distinct.dedup();
        assert!(
            distinct.len() >= 2,
            "every process picked up refreshed tokens"
        );
    }
    let issued = idp.issue_times();
    assert!(issued.len() >= 2, "the run crossed a refresh window");
    // A token is refreshed only once it is inside its window, i.e. lifetime - window after the
    // previous one; a second request in the same window would come sooner (slack: latency).
    for pair in issued.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= lifetime - window - Duration::from_millis(500),
            "two token requests {gap:?} apart"
        );
    }
}

// Proves calls keep working from each process's own source while Redis is down (warning at
// most once per process), and that sharing resumes when Redis comes back on the same port. (FR-10)
#[test]
fn redis_outage_falls_back_and_recovers() {
    let Some(mut redis) = RedisServer::start(&[]) else {
        return;
    };
    install_logger();
    let window = Duration::from_secs(1);
    let idp_a = Idp::start("outage-a", 3, Duration::ZERO);
    let idp_b = Idp::start("outage-b", 3, Duration::ZERO);
    let key = unique("outage-key");
    let a = cache(&redis.url(), &key, &idp_a, window);
    let b = cache(&redis.url(), &key, &idp_b, window);
    let valid_until = |token: &str| {
        idp_a
            .valid_until(token)
            .or_else(|| idp_b.valid_until(token))
            .expect("a token one of the endpoints issued")
    };

    let first = a.token().unwrap();
    assert_eq!(b.token().unwrap(), first, "b shares a's token");
    assert_eq!(idp_b.count(), 0);

    redis.stop();
    let outage_end = Instant::now() + Duration::from_secs(4);
    while Instant::now() < outage_end {
        for cache in [&a, &b] {
            let token = cache.token().unwrap();
            assert!(
                Instant::now() < valid_until(&token),
                "an expired token was served"
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(idp_b.count() >= 1, "b fell back to its own source");
    assert!(idp_a.count() >= 2, "a fell back to its own source");
    let port = redis.port().to_string();
    let warnings = captured_logs()
        .into_iter()
        .filter(|(level, text)| {
            *level == log::Level::Warn && text.contains(&port) && text.contains(&key)
        })
        .count();
    assert!(
        (1..=2).contains(&warnings),
        "{warnings} warnings for two processes"
    );

    redis.restart();
    let mut conn = redis.conn(&redis.url());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (ta, tb) = (a.token().unwrap(), b.token().unwrap());
        for token in [&ta, &tb] {
            assert!(
                Instant::now() < valid_until(token),
                "an expired token was served"
            );
        }
        if ta == tb && stored_token(&mut conn, &key).as_ref() == Some(&ta) {
            // One process wrote it and the other, with a different token endpoint, took it.
            break;
        }
        assert!(Instant::now() < deadline, "sharing did not resume");
        std::thread::sleep(Duration::from_millis(20));
    }
}

// Proves a lock left by a dead refresher is taken over only after its TTL, that the stale
// shared token is served only while it is valid, and that exactly one new token is fetched. (FR-10)
#[test]
fn dead_lock_holder_is_replaced_after_lock_ttl() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let idp = Idp::start("dead-holder", 3600, Duration::ZERO);
    let key = unique("dead-holder-key");
    let mut conn = redis.conn(&redis.url());
    let stale = unique("stale-token");
    let stale_expiry = SystemTime::now() + Duration::from_millis(800);
    let entry = serde_json::json!({"token": stale, "expires_at_ms": unix_ms(stale_expiry)});
    let () = redis::cmd("SET")
        .arg(&key)
        .arg(entry.to_string())
        .arg("PX")
        .arg(800)
        .query(&mut conn)
        .unwrap();
    let locked_at = Instant::now();
    let () = redis::cmd("SET")
        .arg(format!("{key}:lock"))
        .arg("owner-of-a-dead-process")
        .arg("PX")
        .arg(2000)
        .query(&mut conn)
        .unwrap();
    let cache =
        cache(&redis.url(), &key, &idp, Duration::from_secs(5)).peer_wait(Duration::from_secs(10));

    let mut served_stale = 0;
    let fresh = loop {
        let token = cache.token().unwrap();
        if token != stale {
            break token;
        }
        assert!(
            SystemTime::now() < stale_expiry,
            "the expired token was served"
        );
        served_stale += 1;
        std::thread::sleep(Duration::from_millis(20));
    };

    assert!(
        served_stale >= 1,
        "the valid shared token was served meanwhile"
    );
    assert!(
        locked_at.elapsed() >= Duration::from_secs(2),
        "the lock was taken over before its TTL"
    );
    assert!(idp.issued_here(&fresh));
    assert_eq!(idp.count(), 1);
    assert_eq!(stored_token(&mut conn, &key), Some(fresh));
}

// Proves a process without a token waits at most the peer wait for a lock holder that never
// delivers, then uses its own source without overwriting the shared entry. (FR-10)
#[test]
fn peer_wait_ends_with_the_own_source() {
    let Some(redis) = RedisServer::start(&[]) else {
        return;
    };
    let idp = Idp::start("peer-wait", 3600, Duration::ZERO);
    let key = unique("peer-wait-key");
    let mut conn = redis.conn(&redis.url());
    let () = redis::cmd("SET")
        .arg(format!("{key}:lock"))
        .arg("busy-peer")
        .arg("PX")
        .arg(60_000)
        .query(&mut conn)
        .unwrap();
    let cache = cache(&redis.url(), &key, &idp, Duration::from_secs(5))
        .peer_wait(Duration::from_millis(400));

    let started = Instant::now();
    let token = cache.token().unwrap();
    assert!(started.elapsed() >= Duration::from_millis(400));
    assert!(idp.issued_here(&token));
    assert_eq!(idp.count(), 1);
    assert_eq!(stored_token(&mut conn, &key), None);
    // Held in memory now: no more waiting, no more requests.
    assert_eq!(cache.token().unwrap(), token);
    assert_eq!(idp.count(), 1);
}

// Proves Debug and log lines show neither the token nor the Redis password, that a
// password-protected Redis works, and that a wrong password degrades to the own source. (FR-10, NFR-05)
#[test]
fn debug_and_logs_hide_token_and_password() {
    let password = unique("redis-password");
    let Some(redis) = RedisServer::start(&["--requirepass", &password]) else {
        return;
    };
    install_logger();
    let idp = Idp::start("redacted", 3600, Duration::ZERO);
    let key = unique("redacted-key");
    let url = format!("redis://:{password}@127.0.0.1:{}/0", redis.port());
    let shared = cache(&url, &key, &idp, Duration::from_secs(5));

    let token = TokenProvider::from(shared.clone()).token();
    assert!(idp.issued_here(&token));
    assert_eq!(
        stored_token(&mut redis.conn(&url), &key),
        Some(token.clone())
    );
    let debug = format!("{shared:?}");
    assert!(
        !debug.contains(&token) && !debug.contains(&password),
        "{debug}"
    );
    assert!(
        debug.contains("127.0.0.1") && debug.contains(&key),
        "{debug}"
    );

    let wrong = format!("wrong-{password}");
    let url = format!("redis://:{wrong}@127.0.0.1:{}/0", redis.port());
    let other_key = unique("redacted-other-key");
    let rejected = cache(&url, &other_key, &idp, Duration::from_secs(5));
    let own = rejected.token().unwrap();
    assert!(idp.issued_here(&own) && own != token);
    let debug = format!("{rejected:?}");
    assert!(!debug.contains(&own) && !debug.contains(&wrong), "{debug}");
    let logs = captured_logs();
    assert!(
        logs.iter()
            .any(|(_, text)| text.contains(&other_key) && text.contains(&redis.port().to_string())),
        "the rejected password was reported"
    );
    for (_, text) in logs {
        assert!(
            !text.contains(&password) && !text.contains(&token) && !text.contains(&own),
            "{text}"
        );
    }
}
