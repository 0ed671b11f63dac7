//! Client CPU per uncached request: `client.nocache().me()` (2 KB token from a provider)
//! against a minimal keep-alive HTTP server on loopback, a plain `std` thread answering every
//! request with the same `me` body, so nearly all work outside that thread is the client's.
//!
//! `cargo bench --bench request` measures the round trip (`me_uncached_loopback`);
//! `AIGNOSTICS_BENCH_REQUESTS=N` runs N requests and prints the calling thread's CPU per request,
//! split into user time (the client's code) and system time (its socket calls). For the
//! client's instructions per request, run a fixed number of requests under callgrind; the client
//! is the main thread (the `-01` file), the server's threads land in the others:
//!
//! ```text
//! cargo bench --bench request --no-run
//! AIGNOSTICS_BENCH_REQUESTS=2000 valgrind --tool=callgrind --separate-threads=yes \
//!     target/release/deps/request-<hash>
//! callgrind_annotate --inclusive=yes callgrind.out.<pid>-01 | head -60
//! ```
//!
//! Run it with 1000 and 2000 requests: the difference of the two totals over 1000 is the cost
//! of one request without start-up.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use aignostics::{Client, Settings, TokenProvider};
use criterion::{Criterion, criterion_group};

const ME: &str = r#"{"user":{"id":"auth0|123456","email":"user@domain.com","name":"Jane Doe"},"organization":{"id":"org_123456","name":"aignx","aignostics_bucket_hmac_access_key_id":"k","aignostics_bucket_hmac_secret_access_key":"s","aignostics_bucket_name":"b","aignostics_bucket_protocol":"gs","aignostics_logfire_token":"l","aignostics_sentry_dsn":"d"}}"#;

/// Answers every request on one connection until the client closes it.
fn serve(stream: TcpStream) {
    let response = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n{ME}",
        ME.len()
    );
    let mut writer = stream.try_clone().expect("clone the stream");
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    loop {
        // Request line and headers up to the blank line; GET requests have no body.
        loop {
            line.clear();
            match reader.read_line(&mut line) {
                Ok(0) | Err(_) => return,
                Ok(_) if line == "\r\n" => break,
                Ok(_) => {}
            }
        }
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// A client whose reads skip the cache, against a fresh loopback server, after one request.
fn uncached_client() -> Client {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind loopback");
    let root = format!("http://{}", listener.local_addr().expect("address"));
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            std::thread::spawn(move || serve(stream));
        }
    });
    let token = "x".repeat(2048);
    let client = Client::builder()
        .settings(Settings::default().with_api_root(&root).expect("root"))
        .token_provider(TokenProvider::new(move || token.clone()))
        .build()
        .expect("client")
        .nocache();
    client.me().expect("first request");
    client
}

fn uncached(c: &mut Criterion) {
    let client = uncached_client();
    // Measures one uncached request on loopback, client and server together (NFR-23).
    c.bench_function("me_uncached_loopback", |b| {
        b.iter(|| std::hint::black_box(client.me().unwrap()))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = uncached
}

/// User and system CPU time of the calling thread (`/proc/thread-self/stat`, 10 ms ticks).
fn thread_cpu() -> (Duration, Duration) {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    let fields: Vec<u64> = stat
        .rsplit_once(')')
        .map(|(_, rest)| {
            rest.split_whitespace()
                .map(|f| f.parse().unwrap_or(0))
                .collect()
        })
        .unwrap_or_default();
    // utime and stime are fields 14 and 15 of the line (1-based); USER_HZ is 100 on Linux.
    let ticks = |i: usize| Duration::from_millis(fields.get(i).copied().unwrap_or(0) * 10);
    (ticks(11), ticks(12))
}

fn main() {
    // A fixed number of requests and nothing else, for instruction counts under callgrind.
    if let Some(n) = std::env::var("AIGNOSTICS_BENCH_REQUESTS")
        .ok()
        .and_then(|n| n.parse::<u32>().ok())
    {
        let client = uncached_client();
        let (start, cpu) = (Instant::now(), thread_cpu());
        for _ in 0..n {
            std::hint::black_box(client.me().expect("me"));
        }
        let wall = start.elapsed();
        let (user, system) = thread_cpu();
        let per = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(n);
        // The system part is the kernel's loopback TCP work for this thread's reads and
        // writes; the user part is the client's own code.
        println!(
            "{n} uncached me() calls: {:.1} µs per request (wall, client and server), \
             {:.1} µs client CPU per request: {:.1} µs user (the client's code) + {:.1} µs \
             system (the calling thread's socket calls)",
            per(wall),
            per(user + system - cpu.0 - cpu.1),
            per(user - cpu.0),
            per(system - cpu.1),
        );
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
