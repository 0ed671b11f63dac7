//! The three process-wide Api pools: identity, isolation, bounds and races.

use std::sync::{Arc, Barrier, Mutex, MutexGuard};
use std::thread;

use aignostics::{Client, Settings, TokenProvider, external_pool_len, reset_pools};

// Pool tests share process-wide state: run them one at a time.
static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> MutexGuard<'static, ()> {
    let guard = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    reset_pools();
    guard
}

// Proves the same inputs return the same Arc and cache_token is ignored with a provider. (FR-02)
#[test]
fn same_provider_same_api() {
    let _g = serial();
    let p = TokenProvider::fixed("tok-same");
    let a = Client::get_api_client(true, Some(&p)).unwrap();
    let b = Client::get_api_client(false, Some(&p.clone())).unwrap();
    assert!(Arc::ptr_eq(&a, &b));
    assert!(a.token_provider().unwrap().same_as(&p));
}

// Proves two providers never share an Api, even with identical tokens. (FR-02)
#[test]
fn distinct_providers_distinct_apis() {
    let _g = serial();
    let p1 = TokenProvider::fixed("tok-x");
    let p2 = TokenProvider::fixed("tok-x");
    let a = Client::get_api_client(true, Some(&p1)).unwrap();
    let b = Client::get_api_client(true, Some(&p2)).unwrap();
    assert!(!Arc::ptr_eq(&a, &b));
}

// Proves the internal-login singletons: one for the token file, one in memory, never mixed. (FR-02)
#[test]
fn internal_singletons() {
    let _g = serial();
    let cached = Client::get_api_client(true, None).unwrap();
    let cached2 = Client::get_api_client(true, None).unwrap();
    let uncached = Client::get_api_client(false, None).unwrap();
    let uncached2 = Client::get_api_client(false, None).unwrap();
    assert!(Arc::ptr_eq(&cached, &cached2));
    assert!(Arc::ptr_eq(&uncached, &uncached2));
    assert!(!Arc::ptr_eq(&cached, &uncached));
    assert!(cached.token_provider().is_none());
}

// Proves clients built with the same provider share the pooled Api. (FR-02)
#[test]
fn clients_share_pooled_api() {
    let _g = serial();
    let p = TokenProvider::fixed("tok-clients");
    let c1 = Client::builder()
        .api_root("http://127.0.0.1:9")
        .token_provider(p.clone())
        .build()
        .unwrap();
    let c2 = Client::builder()
        .api_root("http://127.0.0.1:9")
        .token_provider(p.clone())
        .build()
        .unwrap();
    assert!(Arc::ptr_eq(c1.api(), c2.api()));
}

// Proves a pooled Api is never handed to a caller with other settings. (FR-02)
#[test]
fn other_settings_get_another_api() {
    let _g = serial();
    let p = TokenProvider::fixed("tok-settings");
    let s1 = Settings::default()
        .with_api_root("http://127.0.0.1:9")
        .unwrap();
    let mut s2 = s1.clone();
    s2.run.timeout = std::time::Duration::from_secs(7);
    let a = Client::builder()
        .settings(s1.clone())
        .token_provider(p.clone())
        .build()
        .unwrap();
    let b = Client::builder()
        .settings(s2.clone())
        .token_provider(p.clone())
        .build()
        .unwrap();
    let c = Client::builder()
        .api_root("http://127.0.0.1:10")
        .settings(s1.clone())
        .token_provider(p.clone())
        .build()
        .unwrap();
    assert!(!Arc::ptr_eq(a.api(), b.api()));
    assert!(!Arc::ptr_eq(a.api(), c.api()));
    assert_eq!(
        b.api().settings().run.timeout,
        std::time::Duration::from_secs(7)
    );
    assert_eq!(c.api().api_root(), "http://127.0.0.1:10");
    let a2 = Client::builder()
        .settings(s1)
        .token_provider(p)
        .build()
        .unwrap();
    assert!(Arc::ptr_eq(a.api(), &a2.api().clone()));
}

// Proves 40 distinct providers churn through a pool bounded at 16, cleared to 1 on overflow. (FR-02)
#[test]
fn external_pool_is_bounded() {
    let _g = serial();
    let mut sizes = Vec::new();
    for i in 0..40 {
        let p = TokenProvider::fixed(format!("tok-churn-{i}"));
        Client::get_api_client(true, Some(&p)).unwrap();
        sizes.push(external_pool_len());
    }
    assert!(sizes.iter().all(|&n| n <= 16), "{sizes:?}");
    assert_eq!(sizes[15], 16);
    assert_eq!(sizes[16], 1, "the 17th provider clears the pool first");
    assert_eq!(sizes[39], 40 - 32);
}

// Proves the pool keeps a provider alive so its address cannot be reused by a new provider. (FR-02)
#[test]
fn pool_keeps_provider_alive() {
    let _g = serial();
    let marker = Arc::new(());
    let m = Arc::clone(&marker);
    let p = TokenProvider::new(move || {
        let _keep = &m;
        "tok-alive".to_string()
    });
    let api = Client::get_api_client(true, Some(&p)).unwrap();
    drop(p);
    assert_eq!(
        Arc::strong_count(&marker),
        2,
        "closure still held by the pool"
    );
    let again = api.token_provider().unwrap().clone();
    assert!(Arc::ptr_eq(
        &api,
        &Client::get_api_client(true, Some(&again)).unwrap()
    ));
}

// Proves 8 threads racing for the first Api of one provider all get the same one. (FR-02, NFR-10)
#[test]
fn concurrent_first_calls_build_one_api() {
    let _g = serial();
    let p = TokenProvider::fixed("tok-race");
    let barrier = Arc::new(Barrier::new(8));
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (p, b) = (p.clone(), Arc::clone(&barrier));
            thread::spawn(move || {
                b.wait();
                Client::get_api_client(true, Some(&p)).unwrap()
            })
        })
        .collect();
    let apis: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    assert!(apis.iter().all(|a| Arc::ptr_eq(a, &apis[0])));
    assert_eq!(external_pool_len(), 1);
}

// Proves a client with a provider never reads or writes the token file. (FR-01)
#[test]
fn provider_never_touches_token_file() {
    let _g = serial();
    let dir = std::env::temp_dir().join(format!("aignostics-pools-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(".token"), "file-token:99999999999").unwrap();
    let server = httpmock::MockServer::start();
    let mock = server.mock(|when, then| {
        when.path("/api/v1/me")
            .header("authorization", "Bearer provider-token");
        then.status(401).body(r#"{"detail":"x"}"#);
    });
    let mut settings = Settings::default()
        .with_api_root(&server.base_url())
        .unwrap();
    settings.cache_dir = dir.clone();
    let c = Client::builder()
        .settings(settings)
        .cache_token(false)
        .token_provider(TokenProvider::fixed("provider-token"))
        .build()
        .unwrap();
    assert!(c.me().unwrap_err().is_unauthorized());
    mock.assert();
    assert_eq!(
        std::fs::read_to_string(dir.join(".token")).unwrap(),
        "file-token:99999999999"
    );
    std::fs::remove_dir_all(dir).unwrap();
}

// Proves building a client with a token provider does no eager work: the provider is not
// asked for a token and the API root gets no connection until the first call, which then
// arrives. (NFR-28)
#[test]
fn building_a_client_sends_nothing() {
    use std::io::{Read, Write};
    use std::net::TcpListener;
    use std::sync::atomic::{AtomicUsize, Ordering};

    let _g = serial();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let client = Client::builder()
        .settings(
            Settings::default()
                .with_api_root(&format!("http://{}", listener.local_addr().unwrap()))
                .unwrap(),
        )
        .token_provider(TokenProvider::new(move || {
            counted.fetch_add(1, Ordering::SeqCst);
            "tok-lazy".to_string()
        }))
        .build()
        .unwrap();
    assert_eq!(calls.load(Ordering::SeqCst), 0, "no token asked for");
    assert!(
        listener.accept().is_err(),
        "no connection before the first call"
    );
    // The first call does reach the listener (the checks above could fail).
    let call = thread::spawn(move || client.me().is_err());
    listener.set_nonblocking(false).unwrap();
    let (mut stream, _) = listener.accept().unwrap();
    // Answer the request head with a 401, which is not retried.
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && stream.read(&mut byte).unwrap() == 1 {
        head.push(byte[0]);
    }
    stream
        .write_all(b"HTTP/1.1 401 Unauthorized\r\ncontent-length: 0\r\n\r\n")
        .unwrap();
    assert!(call.join().unwrap(), "the 401 fails the call");
    assert!(calls.load(Ordering::SeqCst) >= 1);
}
