//! Uploads one file to an S3-compatible bucket and prints the throughput, for comparing with
//! other uploaders and for checking that memory stays flat whatever the file size.
//!
//! ```text
//! cargo build --release --example bucket_upload
//! # against an in-process sandbox that keeps only digests (no memory for the data itself):
//! truncate -s 1G /tmp/1g.bin && truncate -s 8G /tmp/8g.bin
//! /usr/bin/time -v target/release/examples/bucket_upload /tmp/1g.bin
//! /usr/bin/time -v target/release/examples/bucket_upload /tmp/8g.bin
//! # against a running store (moto, `aignostics sandbox`, MinIO):
//! AWS_ACCESS_KEY_ID=… AWS_SECRET_ACCESS_KEY=… \
//!   target/release/examples/bucket_upload FILE --endpoint http://127.0.0.1:5000 --bucket b
//! ```
//!
//! Options: `--part-size MIB` (default 16), `--concurrency N` (default 4), `--key KEY`.
//! Every upload is verified: the file's CRC32C is computed and compared with the store's.

use std::time::Instant;

use aignostics::bucket::{Bucket, DEFAULT_CONCURRENCY, DEFAULT_PART_SIZE};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let file = args.next().ok_or("usage: bucket_upload FILE [options]")?;
    let (mut endpoint, mut name, mut key) = (None, None, None);
    let mut part_size = DEFAULT_PART_SIZE;
    let mut concurrency = DEFAULT_CONCURRENCY;
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or(format!("{arg} needs a value"));
        match arg.as_str() {
            "--endpoint" => endpoint = Some(value()?),
            "--bucket" => name = Some(value()?),
            "--key" => key = Some(value()?),
            "--part-size" => part_size = value()?.parse::<u64>()? * 1024 * 1024,
            "--concurrency" => concurrency = value()?.parse()?,
            other => return Err(format!("unknown option {other}").into()),
        }
    }
    // Without an endpoint: an in-process sandbox that keeps only sizes and checksums.
    let _sandbox;
    let bucket = match endpoint {
        Some(endpoint) => {
            let var = |n: &str| std::env::var(n).map_err(|_| format!("{n} is not set"));
            Bucket::builder(&endpoint, name.as_deref().unwrap_or("bench"))
                .credentials(&var("AWS_ACCESS_KEY_ID")?, &var("AWS_SECRET_ACCESS_KEY")?)
                .build()?
        }
        None => {
            let sb = aignostics_sandbox::Sandbox::builder()
                .bucket_keeps_bytes(false)
                .start()?;
            let bucket = sb.bucket(aignostics_sandbox::ALICE_TOKEN)?;
            _sandbox = sb;
            bucket
        }
    };
    let key = key.unwrap_or_else(|| {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        format!("bench/{nanos}")
    });
    let started = Instant::now();
    let report = bucket
        .upload(&file, &key)
        .part_size(part_size)
        .concurrency(concurrency)
        .send()?;
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{} bytes in {secs:.2} s = {:.1} MiB/s ({:?}, {:?}, CRC32C {}, {} parts of {} MiB, {concurrency} in flight)",
        report.size,
        report.size as f64 / 1048576.0 / secs,
        report.outcome,
        report.verification,
        report.crc32c,
        report.parts_sent,
        part_size >> 20,
    );
    Ok(())
}
