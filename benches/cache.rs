//! Cache-hit cost through the public API: `client.me()` with an external provider and a 2 KB
//! token, on one thread and on two threads at once.

use std::hint::black_box;
use std::thread;
use std::time::{Duration, Instant};

use aignostics::{Client, Settings, TokenProvider};
use criterion::{Criterion, criterion_group, criterion_main};
use httpmock::prelude::*;

const ME: &str = r#"{"user":{"id":"auth0|123456","email":"user@domain.com","name":"Jane Doe"},"organization":{"id":"org_123456","name":"aignx","aignostics_bucket_hmac_access_key_id":"k","aignostics_bucket_hmac_secret_access_key":"s","aignostics_bucket_name":"b","aignostics_bucket_protocol":"gs","aignostics_logfire_token":"l","aignostics_sentry_dsn":"d"}}"#;

fn client(server: &MockServer) -> Client {
    let token: String = "x".repeat(2048);
    let settings = Settings::default()
        .with_api_root(&server.base_url())
        .unwrap();
    let client = Client::builder()
        .settings(settings)
        .token_provider(TokenProvider::new(move || token.clone()))
        .build()
        .unwrap();
    client.me().expect("warm the cache");
    client
}

fn cache_hit(c: &mut Criterion) {
    let server = MockServer::start();
    server.mock(|when, then| {
        when.path("/api/v1/me");
        then.status(200).body(ME);
    });
    let client = client(&server);

    // Measures the median cache-hit time on one thread (NFR-01).
    c.bench_function("me_cache_hit_1_thread", |b| {
        b.iter(|| black_box(client.me().unwrap()))
    });

    // Two threads each doing `iters` hits: the time per hit of each thread. Throughput scales
    // when this stays near the single-thread figure (2 threads = 2x the hits in that time). (NFR-02)
    c.bench_function("me_cache_hit_2_threads_per_thread", |b| {
        b.iter_custom(|iters| {
            let start = Instant::now();
            thread::scope(|s| {
                for _ in 0..2 {
                    s.spawn(|| {
                        for _ in 0..iters {
                            black_box(client.me().unwrap());
                        }
                    });
                }
            });
            start.elapsed()
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = cache_hit
}
criterion_main!(benches);
