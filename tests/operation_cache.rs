//! The per-user operation cache: isolation between users, TTLs, nocache, invalidation and
//! concurrency, against real loopback servers.

mod scripted;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use aignostics::{Client, Settings, TokenProvider};
use httpmock::prelude::*;
use scripted::{Reply, Scripted, fixture, me_json};

const RUN_A: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

fn settings(root: &str) -> Settings {
    let mut s = Settings::default().with_api_root(root).unwrap();
    s.me = s.me.clone().no_wait(1);
    s.run = s.run.clone().no_wait(1);
    s
}

fn client(root: &str, provider: TokenProvider) -> Client {
    Client::builder()
        .settings(settings(root))
        .token_provider(provider)
        .build()
        .unwrap()
}

fn mock_me<'a>(server: &'a MockServer, token: &str, user: &str) -> httpmock::Mock<'a> {
    let auth = format!("Bearer {token}");
    let body = me_json(user);
    server.mock(move |when, then| {
        when.method(GET)
            .path("/api/v1/me")
            .header("authorization", auth.as_str());
        then.status(200).body(body.as_str());
    })
}

fn run_json(run_id: &str, state: &str) -> String {
    let mut run = fixture("RunReadResponse");
    run["run_id"] = run_id.into();
    run["state"] = state.into();
    run.to_string()
}

// Proves two users asking the same question each get their own answer: two requests, no sharing. (FR-11)
#[test]
fn two_users_never_share_an_entry() {
    let server = MockServer::start();
    let alice = mock_me(&server, "tok-iso-alice", "alice");
    let bob = mock_me(&server, "tok-iso-bob", "bob");
    let a = client(&server.base_url(), TokenProvider::fixed("tok-iso-alice"));
    let b = client(&server.base_url(), TokenProvider::fixed("tok-iso-bob"));
    for _ in 0..3 {
        assert_eq!(a.me().unwrap().user.id, "alice");
        assert_eq!(b.me().unwrap().user.id, "bob");
    }
    assert_eq!(alice.calls(), 1);
    assert_eq!(bob.calls(), 1);
}

// Proves a run cached for user A is never served to user B, who still gets the 403. (FR-11)
#[test]
fn forbidden_run_stays_forbidden_after_other_user_cached_it() {
    let server = MockServer::start();
    let path = format!("/api/v1/runs/{RUN_A}");
    let body = run_json(RUN_A, "PROCESSING");
    let ok = server.mock(|when, then| {
        when.method(GET)
            .path(path.as_str())
            .header("authorization", "Bearer tok-403-alice");
        then.status(200).body(body.as_str());
    });
    let forbidden = server.mock(|when, then| {
        when.method(GET)
            .path(path.as_str())
            .header("authorization", "Bearer tok-403-bob");
        then.status(403).body(r#"{"detail":"Forbidden"}"#);
    });
    let a = client(&server.base_url(), TokenProvider::fixed("tok-403-alice"));
    let b = client(&server.base_url(), TokenProvider::fixed("tok-403-bob"));
    assert_eq!(a.run(RUN_A).details().unwrap().run_id, RUN_A);
    assert_eq!(a.run(RUN_A).details().unwrap().run_id, RUN_A);
    for _ in 0..2 {
        let err = b.run(RUN_A).details().unwrap_err();
        assert!(err.is_forbidden(), "{err}");
    }
    assert_eq!(ok.calls(), 1);
    assert_eq!(forbidden.calls(), 2, "errors are never cached");
}

// Proves the same token through a cached client and an external provider shares nothing it should
// not: entries are keyed by the token's digest, so the same user sees one consistent entry. (FR-11, FR-01)
#[test]
fn rotating_token_inside_one_provider_is_a_miss() {
    let server = MockServer::start();
    let first = mock_me(&server, "tok-rot-1", "rot-user");
    let second = mock_me(&server, "tok-rot-2", "rot-user");
    let counter = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&counter);
    let provider = TokenProvider::new(move || {
        if c.load(Ordering::SeqCst) < 2 {
            "tok-rot-1"
        } else {
            "tok-rot-2"
        }
        .to_string()
    });
    let client = client(&server.base_url(), provider);
    client.me().unwrap();
    counter.store(1, Ordering::SeqCst);
    client.me().unwrap();
    counter.store(2, Ordering::SeqCst);
    client.me().unwrap();
    client.me().unwrap();
    assert_eq!(first.calls(), 1);
    assert_eq!(second.calls(), 1);
}

// Proves 100 cached reads make one request. (FR-12)
#[test]
fn hundred_cached_reads_one_request() {
    let server = MockServer::start();
    let mock = mock_me(&server, "tok-100", "hundred");
    let c = client(&server.base_url(), TokenProvider::fixed("tok-100"));
    for _ in 0..100 {
        assert_eq!(c.me().unwrap().user.id, "hundred");
    }
    assert_eq!(mock.calls(), 1);
}

// Proves nocache() skips the read, makes one more request and refreshes the entry for later reads. (FR-12)
#[test]
fn nocache_refetches_and_refreshes_entry() {
    let server = Scripted::start([
        Reply::json(200, &me_json("v1")),
        Reply::json(200, &me_json("v2")),
    ]);
    let c = client(&server.base_url(), TokenProvider::fixed("tok-nocache"));
    assert_eq!(c.me().unwrap().user.id, "v1");
    assert_eq!(c.me().unwrap().user.id, "v1");
    assert_eq!(c.nocache().me().unwrap().user.id, "v2");
    assert_eq!(
        c.me().unwrap().user.id,
        "v2",
        "the nocache result was written"
    );
    assert_eq!(server.calls(), 2);
}

// Proves an expired entry is fetched again. (FR-12)
#[test]
fn ttl_expiry_refetches() {
    let server = Scripted::start([
        Reply::json(200, &me_json("t1")),
        Reply::json(200, &me_json("t2")),
    ]);
    let mut s = settings(&server.base_url());
    s.me.cache_ttl = Duration::from_millis(300);
    let c = Client::builder()
        .settings(s)
        .token_provider(TokenProvider::fixed("tok-ttl"))
        .build()
        .unwrap();
    assert_eq!(c.me().unwrap().user.id, "t1");
    assert_eq!(c.me().unwrap().user.id, "t1");
    thread::sleep(Duration::from_millis(400));
    assert_eq!(c.me().unwrap().user.id, "t2");
    assert_eq!(server.calls(), 2);
}

// Proves a zero TTL disables caching. (FR-12)
#[test]
fn zero_ttl_disables_cache() {
    let server = MockServer::start();
    let mock = mock_me(&server, "tok-ttl0", "zero");
    let mut s = settings(&server.base_url());
    s.me.cache_ttl = Duration::ZERO;
    let c = Client::builder()
        .settings(s)
        .token_provider(TokenProvider::fixed("tok-ttl0"))
        .build()
        .unwrap();
    c.me().unwrap();
    c.me().unwrap();
    assert_eq!(mock.calls(), 2);
}

// Proves a failed call caches nothing: the next call asks again and its success is cached. (FR-12)
#[test]
fn failures_are_not_cached() {
    let server = Scripted::start([
        Reply::json(500, r#"{"detail":"boom"}"#),
        Reply::json(200, &me_json("after-failure")),
    ]);
    let c = client(&server.base_url(), TokenProvider::fixed("tok-fail"));
    assert_eq!(c.me().unwrap_err().status(), Some(500));
    assert_eq!(c.me().unwrap().user.id, "after-failure");
    assert_eq!(c.me().unwrap().user.id, "after-failure");
    assert_eq!(server.calls(), 2);
}

// Proves a successful mutation invalidates the cached details of the same run. (FR-13)
#[test]
fn mutation_invalidates_cached_run() {
    let server = Scripted::start([
        Reply::json(200, &run_json(RUN_A, "PROCESSING")),
        Reply::json(202, "{}"),
        Reply::json(200, &run_json(RUN_A, "TERMINATED")),
    ]);
    let c = client(&server.base_url(), TokenProvider::fixed("tok-mutate"));
    let run = c.run(RUN_A);
    assert_eq!(run.details().unwrap().state.as_str(), "PROCESSING");
    assert_eq!(run.details().unwrap().state.as_str(), "PROCESSING");
    run.cancel().unwrap();
    assert_eq!(run.details().unwrap().state.as_str(), "TERMINATED");
    assert_eq!(server.calls(), 3);
}

// Proves a failed mutation leaves the cache alone. (FR-13)
#[test]
fn failed_mutation_keeps_cache() {
    let server = Scripted::start([
        Reply::json(200, &run_json(RUN_A, "PROCESSING")),
        Reply::json(409, r#"{"detail":"already canceled"}"#),
    ]);
    let c = client(&server.base_url(), TokenProvider::fixed("tok-mutate-fail"));
    let run = c.run(RUN_A);
    run.details().unwrap();
    assert!(run.cancel().unwrap_err().is_conflict());
    run.details().unwrap();
    assert_eq!(server.calls(), 2);
}

// Proves a share token is part of the cache key: the read with it is a separate entry. (FR-11, FR-33)
#[test]
fn share_token_is_part_of_the_key() {
    let server = MockServer::start();
    let path = format!("/api/v1/runs/{RUN_A}");
    let body = run_json(RUN_A, "PROCESSING");
    let plain = server.mock(|when, then| {
        when.path(path.as_str()).query_param_missing("share_token");
        then.status(403).body(r#"{"detail":"Forbidden"}"#);
    });
    let shared = server.mock(|when, then| {
        when.path(path.as_str())
            .query_param("share_token", "st-secret");
        then.status(200).body(body.as_str());
    });
    let c = client(&server.base_url(), TokenProvider::fixed("tok-share-key"));
    assert_eq!(
        c.run(RUN_A)
            .with_share_token("st-secret")
            .details()
            .unwrap()
            .run_id,
        RUN_A
    );
    assert!(c.run(RUN_A).details().unwrap_err().is_forbidden());
    assert_eq!(
        c.run(RUN_A)
            .with_share_token("st-secret")
            .details()
            .unwrap()
            .run_id,
        RUN_A
    );
    assert_eq!(plain.calls(), 1);
    assert_eq!(shared.calls(), 1);
}

// Proves the same arguments at two API roots are two entries. (FR-11)
#[test]
fn api_root_is_part_of_the_key() {
    let s1 = MockServer::start();
    let s2 = MockServer::start();
    let m1 = mock_me(&s1, "tok-roots", "root-1");
    let m2 = mock_me(&s2, "tok-roots", "root-2");
    let p = TokenProvider::fixed("tok-roots");
    assert_eq!(
        client(&s1.base_url(), p.clone()).me().unwrap().user.id,
        "root-1"
    );
    assert_eq!(
        client(&s2.base_url(), p.clone()).me().unwrap().user.id,
        "root-2"
    );
    assert_eq!((m1.calls(), m2.calls()), (1, 1));
}

// Proves 8 threads x 5,000 cached reads by two users always return the caller's own answer. (FR-11, NFR-10)
#[test]
fn concurrent_users_get_their_own_answers() {
    let server = MockServer::start();
    mock_me(&server, "tok-conc-a", "conc-a");
    mock_me(&server, "tok-conc-b", "conc-b");
    let a = client(&server.base_url(), TokenProvider::fixed("tok-conc-a"));
    let b = client(&server.base_url(), TokenProvider::fixed("tok-conc-b"));
    let handles: Vec<_> = (0..8)
        .map(|i| {
            let (c, want) = if i % 2 == 0 {
                (a.clone(), "conc-a")
            } else {
                (b.clone(), "conc-b")
            };
            thread::spawn(move || {
                for _ in 0..5_000 {
                    assert_eq!(c.me().unwrap().user.id, want);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
}

// Proves a thread's repeated hits never outlive a write made on another thread: a mutation there
// invalidates, and a nocache() read there refreshes, what this thread reads next (FR-12, FR-13).
#[test]
fn writes_on_other_threads_reach_this_threads_hits() {
    let server = Scripted::start([
        Reply::json(200, &run_json(RUN_A, "PENDING")),
        Reply::json(200, &run_json(RUN_A, "PROCESSING")),
        Reply::json(202, "{}"),
        Reply::json(200, &run_json(RUN_A, "TERMINATED")),
    ]);
    let c = client(&server.base_url(), TokenProvider::fixed("tok-threads"));
    let state = |c: &Client| c.run(RUN_A).details().unwrap().state.as_str().to_string();
    assert_eq!(state(&c), "PENDING");
    assert_eq!(state(&c), "PENDING");
    let other = c.clone();
    thread::spawn(move || {
        assert_eq!(
            other.nocache().run(RUN_A).details().unwrap().state.as_str(),
            "PROCESSING"
        )
    })
    .join()
    .unwrap();
    assert_eq!(
        state(&c),
        "PROCESSING",
        "the fresher result written elsewhere is seen"
    );
    let other = c.clone();
    thread::spawn(move || other.run(RUN_A).cancel().unwrap())
        .join()
        .unwrap();
    assert_eq!(
        state(&c),
        "TERMINATED",
        "the invalidation made elsewhere is seen"
    );
    assert_eq!(state(&c), "TERMINATED");
    assert_eq!(server.calls(), 4);
}

/// A loopback server answering each connection on its own thread: `answer(n, request line)`
/// gives the reply of the `n`-th request (from 0) and may block, so requests can be held in
/// flight while others are answered. Each request is announced on the returned channel first.
fn threaded_server(
    answer: impl Fn(usize, &str) -> (u16, String) + Send + Sync + 'static,
) -> (String, std::sync::mpsc::Receiver<usize>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (arrived, arrivals) = std::sync::mpsc::channel();
    let answer = Arc::new(answer);
    thread::spawn(move || {
        for (n, stream) in listener.incoming().enumerate() {
            let Ok(mut stream) = stream else { continue };
            let (answer, arrived) = (Arc::clone(&answer), arrived.clone());
            thread::spawn(move || {
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                let mut line = String::new();
                reader.read_line(&mut line).unwrap();
                let mut header = String::new();
                while reader.read_line(&mut header).unwrap() > 2 {
                    header.clear();
                }
                let _ = arrived.send(n);
                let (status, body) = answer(n, &line);
                let _ = write!(
                    stream,
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
            });
        }
    });
    (base, arrivals)
}

// Proves a read in flight across a successful mutation does not store its pre-mutation answer:
// the slow GET answers PROCESSING after `cancel()` succeeded, and the next read asks the server
// again instead of serving PROCESSING from the cache. (FR-55, FR-13)
#[test]
fn read_in_flight_across_a_mutation_is_not_stored() {
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let gate = std::sync::Mutex::new(gate);
    let (base, arrivals) = threaded_server(move |n, line| match n {
        0 => {
            gate.lock().unwrap().recv().unwrap();
            (200, run_json(RUN_A, "PROCESSING"))
        }
        1 => {
            assert!(line.starts_with("POST"), "{line}");
            (202, "{}".into())
        }
        _ => (200, run_json(RUN_A, "TERMINATED")),
    });
    let c = client(&base, TokenProvider::fixed("tok-in-flight"));
    let slow = {
        let run = c.run(RUN_A);
        thread::spawn(move || run.details().unwrap().state.as_str().to_string())
    };
    assert_eq!(arrivals.recv().unwrap(), 0, "the slow read is on the wire");
    c.run(RUN_A).cancel().unwrap();
    assert_eq!(arrivals.recv().unwrap(), 1);
    release.send(()).unwrap();
    assert_eq!(
        slow.join().unwrap(),
        "PROCESSING",
        "its caller gets what it read"
    );
    assert_eq!(c.run(RUN_A).details().unwrap().state.as_str(), "TERMINATED");
    assert_eq!(
        arrivals.recv().unwrap(),
        2,
        "the stale answer was not cached"
    );
}

// Proves an older response never overwrites a newer one: of two reads of the same entry, the
// one sent first answers last, and the cache keeps the later request's answer. (FR-55)
#[test]
fn older_answer_never_overwrites_newer() {
    let (release, gate) = std::sync::mpsc::channel::<()>();
    let gate = std::sync::Mutex::new(gate);
    let (base, arrivals) = threaded_server(move |n, _| match n {
        0 => {
            gate.lock().unwrap().recv().unwrap();
            (200, run_json(RUN_A, "PENDING"))
        }
        _ => (200, run_json(RUN_A, "PROCESSING")),
    });
    let c = client(&base, TokenProvider::fixed("tok-older-newer"));
    let first = {
        let run = c.run(RUN_A);
        thread::spawn(move || run.details().unwrap().state.as_str().to_string())
    };
    assert_eq!(arrivals.recv().unwrap(), 0);
    assert_eq!(c.run(RUN_A).details().unwrap().state.as_str(), "PROCESSING");
    assert_eq!(arrivals.recv().unwrap(), 1);
    release.send(()).unwrap();
    assert_eq!(first.join().unwrap(), "PENDING");
    assert_eq!(
        c.run(RUN_A).details().unwrap().state.as_str(),
        "PROCESSING",
        "served from the cache: the later answer"
    );
    assert!(arrivals.try_recv().is_err(), "no third request");
}
