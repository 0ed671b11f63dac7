//! Start-up: from spawning a process to its first request arriving at a loopback server (NFR-28).
//!
//! - `cli_whoami`: `aignostics whoami` with `AIGNOSTICS_ACCESS_TOKEN` and `AIGNOSTICS_API_ROOT`
//!   set (the CLI as CI jobs run it).
//! - `library_client_me`: this bench binary run again as a child that builds a `Client` with a
//!   token provider and calls `me()`: what a user's program pays before its first request.
//! - `process_floor`: the same child exiting at once, the cost of starting any process here.
//!
//! Each iteration answers the request (200 with a `me()` body) and waits for the child to exit,
//! outside the measured time. Run with `cargo bench -p aignostics-cli --bench startup`.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use aignostics::{Client, TokenProvider};
use criterion::{Criterion, criterion_group};

/// Set in the child: `me` to build a client and send one request, `exit` to exit at once.
const CHILD_VAR: &str = "AIGNOSTICS_BENCH_STARTUP_CHILD";

const ME: &str = r#"{"user":{"id":"auth0|123456","email":"user@domain.com","name":"Jane Doe"},"organization":{"id":"org_123456","name":"aignx","aignostics_bucket_hmac_access_key_id":"k","aignostics_bucket_hmac_secret_access_key":"s","aignostics_bucket_name":"b","aignostics_bucket_protocol":"gs","aignostics_logfire_token":"l","aignostics_sentry_dsn":"d"}}"#;

/// The child's work: a client with a token provider, one `me()`.
fn child(mode: &str) {
    if mode == "me" {
        let root = std::env::var("AIGNOSTICS_API_ROOT").expect("API root");
        let client = Client::builder()
            .api_root(&root)
            .token_provider(TokenProvider::fixed("bench-token"))
            .build()
            .expect("client");
        client.me().expect("me");
    }
}

/// Spawns `command` and returns the time until its first request head was read (or, if it
/// `sends` nothing, until it exited); the request is answered and the process waited for.
fn first_request(listener: &TcpListener, mut command: Command, sends: bool) -> Duration {
    let start = Instant::now();
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn");
    let first = sends.then(|| {
        let (stream, _) = listener.accept().expect("accept");
        let mut reader = BufReader::new(stream);
        let mut line = String::new();
        loop {
            line.clear();
            reader.read_line(&mut line).expect("request head");
            if line == "\r\n" || line.is_empty() {
                break;
            }
        }
        let elapsed = start.elapsed();
        let mut stream = reader.into_inner();
        let _ = write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{ME}",
            ME.len()
        );
        elapsed
    });
    let status = child.wait().expect("wait");
    assert!(status.success(), "the child failed: {status}");
    // A child that sends nothing is timed to its exit.
    first.unwrap_or_else(|| start.elapsed())
}

fn startup(c: &mut Criterion) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("listener");
    let root = format!("http://{}", listener.local_addr().expect("address"));
    let this = std::env::current_exe().expect("this bench's path");
    let mut group = c.benchmark_group("startup");
    group.sample_size(50);
    group.measurement_time(Duration::from_secs(5));

    let cases: [(&str, &dyn Fn() -> Command, bool); 3] = [
        (
            "cli_whoami",
            &|| {
                let mut cli = Command::new(env!("CARGO_BIN_EXE_aignostics"));
                cli.arg("whoami")
                    .env("AIGNOSTICS_ACCESS_TOKEN", "bench-token")
                    .env("AIGNOSTICS_API_ROOT", &root);
                cli
            },
            true,
        ),
        (
            "library_client_me",
            &|| {
                let mut me = Command::new(&this);
                me.env(CHILD_VAR, "me").env("AIGNOSTICS_API_ROOT", &root);
                me
            },
            true,
        ),
        (
            "process_floor",
            &|| {
                let mut exit = Command::new(&this);
                exit.env(CHILD_VAR, "exit");
                exit
            },
            false,
        ),
    ];
    for (name, command, sends) in cases {
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                (0..iters)
                    .map(|_| first_request(&listener, command(), sends))
                    .sum()
            });
        });
    }
    group.finish();
}

criterion_group!(benches, startup);

fn main() {
    match std::env::var(CHILD_VAR) {
        Ok(mode) => child(&mode),
        Err(_) => {
            benches();
            Criterion::default().configure_from_args().final_summary();
        }
    }
}
