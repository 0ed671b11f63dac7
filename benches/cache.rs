//! Cache-hit cost through the public API: `client.me()` with an external provider and a 2 KB
//! token, on one thread and on two threads at once, and `client.application_version()` of a
//! version document with its JSON schemas (about 20 KB), by number and as the latest version.

use std::hint::black_box;
use std::thread;
use std::time::{Duration, Instant};

use aignostics::{Client, Settings, TokenProvider};
use criterion::{Criterion, criterion_group, criterion_main};
use httpmock::prelude::*;

const ME: &str = r#"{"user":{"id":"auth0|123456","email":"user@domain.com","name":"Jane Doe"},"organization":{"id":"org_123456","name":"aignx","aignostics_bucket_hmac_access_key_id":"k","aignostics_bucket_hmac_secret_access_key":"s","aignostics_bucket_name":"b","aignostics_bucket_protocol":"gs","aignostics_logfire_token":"l","aignostics_sentry_dsn":"d"}}"#;

/// A version document like a real application's: one input and 24 outputs, each with a JSON
/// Schema of its metadata.
fn version_document() -> String {
    let input_schema = serde_json::json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Whole-slide image metadata",
        "type": "object",
        "properties": {
            "checksum_base64_crc32c": {"type": "string", "minLength": 8, "maxLength": 8},
            "width_px": {"type": "integer", "minimum": 1},
            "height_px": {"type": "integer", "minimum": 1},
            "resolution_mpp": {"type": "number", "exclusiveMinimum": 0, "maximum": 10},
            "media-type": {
                "type": "string",
                "enum": ["image/tiff", "application/dicom", "application/zip"]
            },
            "specimen": {
                "type": "object",
                "properties": {"tissue": {"type": "string"}, "disease": {"type": "string"}}
            },
            "staining_method": {"type": "string"}
        },
        "required": ["checksum_base64_crc32c", "width_px", "height_px", "resolution_mpp"],
        "additionalProperties": true
    });
    let outputs: Vec<serde_json::Value> = (0..24)
        .map(|i| {
            serde_json::json!({
                "name": format!("tissue_qc:output_{i}"),
                "mime_type": "application/vnd.apache.parquet",
                "metadata_schema": input_schema,
                "scope": "ITEM",
                "visibility": "EXTERNAL",
            })
        })
        .collect();
    serde_json::json!({
        "version_number": "1.0.0",
        "changelog": "First release.",
        "input_artifacts": [{
            "name": "whole_slide_image",
            "mime_type": "image/tiff",
            "metadata_schema": input_schema,
        }],
        "output_artifacts": outputs,
        "released_at": "2025-01-01T00:00:00Z",
    })
    .to_string()
}

const APPLICATION: &str = r#"{"application_id":"he-tme","name":"Atlas H&E-TME","regulatory_classes":["RUO"],"description":"d","versions":[{"number":"0.9.0","released_at":"2024-01-01T00:00:00Z"},{"number":"1.0.0","released_at":"2025-01-01T00:00:00Z"}]}"#;

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
    let version = version_document();
    eprintln!("version document: {} bytes", version.len());
    server.mock(|when, then| {
        when.path("/api/v1/applications/he-tme/versions/1.0.0");
        then.status(200).body(&version);
    });
    server.mock(|when, then| {
        when.path("/api/v1/applications/he-tme");
        then.status(200).body(APPLICATION);
    });
    let client = client(&server);
    client
        .application_version("he-tme", None)
        .expect("warm the cache");

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

    // A version with its schemas costs what `me()` costs: the cached value is shared. (NFR-22)
    c.bench_function("application_version_cache_hit", |b| {
        b.iter(|| black_box(client.application_version("he-tme", Some("1.0.0")).unwrap()))
    });

    // The latest version (`None`) is one lookup too. (NFR-22)
    c.bench_function("application_version_latest_cache_hit", |b| {
        b.iter(|| black_box(client.application_version("he-tme", None).unwrap()))
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = cache_hit
}
criterion_main!(benches);
