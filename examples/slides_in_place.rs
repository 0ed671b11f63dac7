//! Slides in a bucket to a submitted run, in place against the path users take today
//! (download the prefix, then submit the folder, uploading every slide again): time and bytes
//! moved, against the in-process sandbox as the platform.
//!
//! ```text
//! moto_server -p 5000 &                         # or any S3-compatible store
//! cargo run --release --example slides_in_place -- http://127.0.0.1:5000 20 100
//! ```
//! Arguments: the store's endpoint, the number of slides, their size in MiB. The slides are
//! written to the store first (bucket `bench`, keys `slides/…`); the keys are those of
//! `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY` (any for moto). A second pass uses the sandbox's
//! own bucket, which keeps each object's CRC32C, so nothing but headers is read.

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
        own.upload(&path, &key)
            .multipart_threshold(u64::MAX)
            .send()?;
        std::fs::remove_file(&path)?;
    }
    let total = count as u64 * (mib << 20);

    for (label, source) in [
        ("store without CRC32C", &store),
        ("store with CRC32C", &own),
    ] {
        let started = Instant::now();
        let outcome = SlidesToResults::in_bucket(&client, "he-tme", source.clone(), "slides/")
            .mapping(MAPPING.parse()?)
            .idempotency_key(format!("in-place-{}", label.replace(' ', "-")))
            .submit()?;
        let elapsed = started.elapsed();
        // The bytes the same reads move, counted in a second, untimed pass.
        let mut moved = 0u64;
        for object in slides::find_objects(source, "slides/")? {
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
    let started = Instant::now();
    let local = dir.join("copy");
    std::fs::create_dir_all(&local)?;
    for object in store.list("slides/")? {
        store.download(
            &object.key,
            local.join(object.key.trim_start_matches("slides/")),
        )?;
    }
    let outcome = SlidesToResults::new(&client, "he-tme", &local)
        .bucket(own.clone())
        .checksum_index(None)
        .mapping(MAPPING.parse()?)
        .idempotency_key("copied")
        .submit()?;
    let sent: u64 = outcome.uploads.iter().map(|u| u.bytes_sent).sum();
    println!(
        "download, then upload: {:.1} s to run {}, {:.1} MiB moved (downloaded {} MiB, uploaded {:.1} MiB)",
        started.elapsed().as_secs_f64(),
        outcome.run_id,
        (total + sent) as f64 / 1048576.0,
        total >> 20,
        sent as f64 / 1048576.0
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}
