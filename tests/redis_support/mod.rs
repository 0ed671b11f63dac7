//! Shared pieces of the Redis tests: a private `redis-server` child per test, a token endpoint
//! that issues numbered short-lived tokens, and a logger that captures warnings.
#![allow(dead_code)]

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use httpmock::prelude::*;
use httpmock::{HttpMockRequest, HttpMockResponse};

/// A `redis-server` child process on 127.0.0.1 with persistence off; killed on drop.
pub struct RedisServer {
    port: u16,
    args: Vec<String>,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts a server on a free port with these extra arguments. `None` (after a loud
    /// `SKIPPED` line) when `redis-server` is not installed; in CI (`CI=true`) that fails the
    /// test instead, so CI never skips silently.
    pub fn start(extra_args: &[&str]) -> Option<Self> {
        if Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!("redis-server is not installed, but CI must run the Redis tests");
            }
            eprintln!("SKIPPED: redis-server not installed (apt-get install -y redis-server)");
            return None;
        }
        let mut server = Self {
            port: free_port(),
            args: extra_args.iter().map(|a| a.to_string()).collect(),
            child: None,
        };
        server.spawn();
        Some(server)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:{port}/0`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/0", self.port)
    }

    /// Kills the server (as a crash would) and waits until it is gone.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts the server again on the same port, empty.
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(std::env::temp_dir())
            .args(&self.args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "redis-server did not come up");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A direct connection for setting up and inspecting keys.
    pub fn conn(&self, url: &str) -> redis::Connection {
        redis::Client::open(url)
            .unwrap()
            .get_connection()
            .expect("connects to the test redis-server")
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A process-unique string for keys and token prefixes.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

/// A token endpoint that answers every client-credentials grant with a new token
/// `{prefix}-{n}` valid for `lifetime` seconds, after `delay`, and records when each was issued.
pub struct Idp {
    pub server: MockServer,
    prefix: String,
    lifetime: Duration,
    delay: Duration,
    issued: Arc<Mutex<Vec<(String, Instant)>>>,
}

impl Idp {
    pub fn start(prefix: &str, lifetime_secs: u64, delay: Duration) -> Self {
        let server = MockServer::start();
        let prefix = unique(prefix);
        let issued: Arc<Mutex<Vec<(String, Instant)>>> = Arc::default();
        let log = Arc::clone(&issued);
        let names = prefix.clone();
        server.mock(|when, then| {
            when.method(POST)
                .path("/oauth/token")
                .form_urlencoded_tuple("grant_type", "client_credentials");
            then.delay(delay).respond_with(move |_: &HttpMockRequest| {
                let mut log = log.lock().unwrap();
                let token = format!("{names}-{}", log.len());
                log.push((token.clone(), Instant::now()));
                let body = serde_json::json!({
                    "access_token": token,
                    "token_type": "Bearer",
                    "expires_in": lifetime_secs,
                });
                HttpMockResponse::builder()
                    .status(200)
                    .header("content-type", "application/json")
                    .body(body.to_string())
                    .build()
            });
        });
        Self {
            server,
            prefix,
            lifetime: Duration::from_secs(lifetime_secs),
            delay,
            issued,
        }
    }

    pub fn token_url(&self) -> String {
        self.server.url("/oauth/token")
    }

    /// Tokens issued so far.
    pub fn count(&self) -> usize {
        self.issued.lock().unwrap().len()
    }

    /// When each token was issued, in order.
    pub fn issue_times(&self) -> Vec<Instant> {
        self.issued
            .lock()
            .unwrap()
            .iter()
            .map(|(_, t)| *t)
            .collect()
    }

    /// The latest moment `token` can be valid, if this endpoint issued it: its issue time
    /// (less the answer delay, i.e. when the request arrived) plus its lifetime.
    pub fn valid_until(&self, token: &str) -> Option<Instant> {
        self.issued
            .lock()
            .unwrap()
            .iter()
            .find(|(t, _)| t == token)
            .map(|(_, at)| *at - self.delay + self.lifetime)
    }

    pub fn issued_here(&self, token: &str) -> bool {
        token.starts_with(&format!("{}-", self.prefix))
    }
}

/// Captures log records of this test binary (installed once).
pub fn captured_logs() -> Vec<(log::Level, String)> {
    install_logger();
    LOGS.lock().unwrap().clone()
}

pub fn install_logger() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        log::set_logger(&Capture).expect("no other logger");
        log::set_max_level(log::LevelFilter::Info);
    });
}

static LOGS: Mutex<Vec<(log::Level, String)>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::Level::Info
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            LOGS.lock()
                .unwrap()
                .push((record.level(), record.args().to_string()));
        }
    }

    fn flush(&self) {}
}
