//! Slides in a bucket to a submitted run, in place against the path users take today
//! (download the prefix, then submit the folder, uploading every slide again): time and bytes
//! moved, against the in-process sandbox as the platform.
//!
//! ```text
//! moto_server -p 5000 &                         # or any S3-compatible store
//! cargo run --release --example slides_in_place -- http://127.0.0.1:5000 20 100
//! ```
//! Arguments: the store's endpoint, the number of slides, their size in MiB, and `store-only`
//! to leave out the sandbox's bucket as a source (half the disk for large runs). The slides are
//! written to the store first (bucket `bench`, keys `slides/…`); the keys are those of
//! `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (any for moto). The sandbox's own bucket (a
//! store in Rust, in this process) holds them twice: uploaded whole (`slides/`, with the
//! object's CRC32C, so nothing but headers is read) and in parts (`parts/`, with a composite
//! checksum only, so each slide is read once). Today's path is timed from both stores.

#[path = "../tests/slides_support/mod.rs"]
mod slides_support;

use std::time::Instant;

use aignostics::bucket::Bucket;
use aignostics::pipeline::SlidesToResults;
use aignostics::slides::{self, Inspector};
use aignostics_sandbox::{self as sandbox, Sandbox};

const MAPPING: &str = ".*:tissue=LUNG,disease=LUNG_CANCER,staining_method=H&E";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let endpoint = args
        .first()
        .ok_or("usage: slides_in_place ENDPOINT [SLIDES] [MIB]")?;
    let count: usize = args.get(1).map_or(Ok(20), |a| a.parse())?;
    let mib: u64 = args.get(2).map_or(Ok(100), |a| a.parse())?;
    let store_only = args.get(3).is_some_and(|a| a == "store-only");
    let key = std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "bench".into());
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "bench-secret".into());
    let _ = ureq::put(&format!("{endpoint}/bench")).send_empty();
    let store = Bucket::builder(endpoint, "bench")
        .credentials(&key, &secret)
        .build()?;
    let platform = Sandbox::start()?;
    let client = platform.client(sandbox::ALICE_TOKEN)?;
    let dir = std::env::temp_dir().join(format!("aignostics-in-place-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;

    println!("writing {count} slides of {mib} MiB to {endpoint}/bench/slides/ …");
    let own = platform.bucket(sandbox::ALICE_TOKEN)?;
    for i in 0..count {
        let path = dir.join(format!("slide-{i:03}.svs"));
        slides_support::aperio(60_000 + i as u32, 40_000, "0.2520")
            .tile(256)
            .body_at(mib << 20)
            .write(&path);
        let key = format!("slides/slide-{i:03}.svs");
        store.upload(&path, &key).send()?;
        if !store_only {
            own.upload(&path, &key)
                .multipart_threshold(u64::MAX)
                .send()?;
            own.upload(&path, &format!("parts/slide-{i:03}.svs"))
                .part_size(16 << 20)
                .multipart_threshold(16 << 20)
                .send()?;
        }
        std::fs::remove_file(&path)?;
    }
    let total = count as u64 * (mib << 20);

    for (label, source, prefix) in [
        ("the store, no CRC32C", &store, "slides/"),
        ("sandbox, no whole-object CRC32C", &own, "parts/"),
        ("sandbox, with CRC32C", &own, "slides/"),
    ]
    .into_iter()
    .take(if store_only { 1 } else { 3 })
    {
        let started = Instant::now();
        let outcome = SlidesToResults::in_bucket(&client, "he-tme", source.clone(), prefix)
            .mapping(MAPPING.parse()?)
            .idempotency_key(format!(
                "in-place-{}",
                label.replace(|c: char| !c.is_ascii_alphanumeric(), "-")
            ))
            .submit()?;
        let elapsed = started.elapsed();
        // The bytes the same reads move, counted in a second, untimed pass.
        let mut moved = 0u64;
        for object in slides::find_objects(source, prefix)? {
            let read = Inspector::new().inspect_object(source, &object.key)?;
            moved += read.header_bytes + read.checksum_bytes;
        }
        println!(
            "in place, {label}: {:.1} s to run {}, {:.1} MiB moved ({:.3}% of {} MiB)",
            elapsed.as_secs_f64(),
            outcome.run_id,
            moved as f64 / 1048576.0,
            moved as f64 * 100.0 / total as f64,
            total >> 20
        );
    }

    // Today: download the prefix, then submit the folder (every slide uploaded again).
    for (label, tag, source, prefix) in [
        ("the store", "store", &store, "slides/"),
        ("sandbox", "sandbox", &own, "parts/"),
    ]
    .into_iter()
    .take(if store_only { 1 } else { 2 })
    {
        let started = Instant::now();
        let local = dir.join(format!("copy-{tag}"));
        std::fs::create_dir_all(&local)?;
        for object in source.list(prefix)? {
            source.download(
                &object.key,
                local.join(object.key.trim_start_matches(prefix)),
            )?;
        }
        let outcome = SlidesToResults::new(&client, "he-tme", &local)
            .bucket(own.clone())
            .key_template(aignostics::bucket::KeyTemplate::new(format!(
                "copies-{tag}/{{name}}"
            )))
            .checksum_index(None)
            .mapping(MAPPING.parse()?)
            .idempotency_key(format!("copied-{tag}"))
            .submit()?;
        let sent: u64 = outcome.uploads.iter().map(|u| u.bytes_sent).sum();
        println!(
            "download from {label}, then upload: {:.1} s to run {}, {:.1} MiB moved (downloaded {} MiB, uploaded {:.1} MiB)",
            started.elapsed().as_secs_f64(),
            outcome.run_id,
            (total + sent) as f64 / 1048576.0,
            total >> 20,
            sent as f64 / 1048576.0
        );
        std::fs::remove_dir_all(&local)?;
    }
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
