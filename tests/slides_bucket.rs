//! Slides read in place in a real S3 server (moto on loopback): headers through ranged reads,
//! checksums from the store or one streamed pass, compared with the local reader on the same
//! files.
#![cfg(all(feature = "slides", feature = "bucket"))]

mod bucket_support;
mod slides_support;

use aignostics::bucket::ChecksumSource;
use aignostics::slides::{self, Inspector};
use bucket_support::*;
use slides_support::*;

// Proves slides stored in a real S3 server three ways (a plain PUT, a single signed PUT, a
// multipart upload) read in place as they read from disk: the same format, size and
// resolution, and the file's CRC32C (moto keeps none, so each is read once in ranges). The
// header walk costs a few requests and under 1% of the slide; slide objects are found under a
// prefix. (FR-96)
#[test]
fn slides_read_in_place_match_the_local_reader() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("slides");
    let bucket = bucket(&moto.endpoint(), "slides");
    let dir = TempDir::new("remote-slides");
    let files = [
        (
            "plain.svs",
            aperio(40_000, 30_000, "0.2520").tile(256).body_at(24 << 20),
        ),
        (
            "full.tif",
            generic(30_000, 20_000, 40_000, 1, 3)
                .tile(256)
                .body_at(24 << 20),
        ),
        (
            "parts.svs",
            aperio(20_000, 15_000, "0.5000").tile(256).body_at(24 << 20),
        ),
    ];
    for (name, tiff) in &files {
        tiff.write(&dir.path().join(name));
    }
    // Plain: a PUT without any checksum.
    let plain = std::fs::read(dir.path().join("plain.svs")).unwrap();
    ureq::put(&format!("{}/slides/cohort/plain.svs", moto.endpoint()))
        .send(&plain[..])
        .unwrap();
    // One PUT carrying the whole object's CRC32C, which the store keeps.
    bucket
        .upload(dir.path().join("full.tif"), "cohort/full.tif")
        .multipart_threshold(u64::MAX)
        .send()
        .unwrap();
    bucket
        .upload(dir.path().join("parts.svs"), "cohort/parts.svs")
        .part_size(5 << 20)
        .multipart_threshold(5 << 20)
        .send()
        .unwrap();
    ureq::put(&format!("{}/slides/cohort/notes.txt", moto.endpoint()))
        .send(&b"not a slide"[..])
        .unwrap();
    let inspector = Inspector::new();

    let found: Vec<String> = slides::find_objects(&bucket, "cohort/")
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(
        found,
        ["cohort/full.tif", "cohort/parts.svs", "cohort/plain.svs"]
    );

    // moto keeps no CRC32C of an object (its ETag is an MD5): every checksum is read.
    for name in ["plain.svs", "full.tif", "parts.svs"] {
        check(
            &inspector,
            &bucket,
            dir.path(),
            name,
            ChecksumSource::ReadWhole,
        );
    }
    check_errors(&inspector, &bucket);

    // A DICOM series in a folder counts once, as on disk: its level 0, chosen by reading each
    // instance's header in place; a label and the other level are left out.
    let series = dir.path().join("case-d");
    std::fs::create_dir_all(&series).unwrap();
    Dicom::new(10_000, 8_000, "0.001\\0.001").write(&series.join("level-1.dcm"));
    Dicom::new(40_000, 32_000, "0.00025\\0.00025").write(&series.join("level-0.dcm"));
    let mut label = Dicom::new(500, 400, "0.1\\0.1");
    label.image_type = "ORIGINAL\\PRIMARY\\LABEL\\NONE".into();
    label.write(&series.join("label.dcm"));
    for name in ["level-1.dcm", "level-0.dcm", "label.dcm"] {
        bucket
            .upload(series.join(name), &format!("dicom/case-d/{name}"))
            .send()
            .unwrap();
    }
    let found: Vec<String> = slides::find_objects(&bucket, "dicom/")
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(found, ["dicom/case-d/level-0.dcm"]);
    let local = slides::inspect(&series).unwrap();
    let remote = inspector
        .inspect_object(&bucket, "dicom/case-d/level-0.dcm")
        .unwrap();
    assert_eq!(
        (
            remote.slide.width_px,
            remote.slide.height_px,
            remote.slide.resolution_mpp
        ),
        (local.width_px, local.height_px, local.resolution_mpp)
    );
    assert_eq!(
        remote.slide.checksum_base64_crc32c,
        local.checksum_base64_crc32c
    );
}

/// The object `cohort/{name}` reads as the file `dir/name` does, its checksum from `source`,
/// its header in a few requests and under 1% of its bytes.
fn check(
    inspector: &Inspector,
    bucket: &aignostics::bucket::Bucket,
    dir: &std::path::Path,
    name: &str,
    source: ChecksumSource,
) {
    {
        let local = inspector.inspect(dir.join(name)).unwrap();
        let remote = inspector
            .inspect_object(bucket, &format!("cohort/{name}"))
            .unwrap();
        assert_eq!(
            (
                remote.slide.format,
                remote.slide.width_px,
                remote.slide.height_px,
                remote.slide.resolution_mpp,
                remote.slide.size_bytes,
            ),
            (
                local.format,
                local.width_px,
                local.height_px,
                local.resolution_mpp,
                local.size_bytes,
            ),
            "{name}"
        );
        assert_eq!(
            remote.slide.checksum_base64_crc32c, local.checksum_base64_crc32c,
            "{name}"
        );
        assert_eq!(remote.checksum_source, Some(source), "{name}");
        assert_eq!(
            remote.checksum_bytes,
            if source == ChecksumSource::Store {
                0
            } else {
                local.size_bytes
            },
            "{name}"
        );
        assert!(
            remote.header_requests <= 4 && remote.header_bytes * 100 < local.size_bytes,
            "{name}: {} requests, {} of {} bytes",
            remote.header_requests,
            remote.header_bytes,
            local.size_bytes
        );
        assert_eq!(
            remote.slide.path.to_string_lossy(),
            format!("s3://{}/cohort/{name}", bucket.name())
        );
    }
}

/// A missing object and a file that is no slide: errors naming the object.
fn check_errors(inspector: &Inspector, bucket: &aignostics::bucket::Bucket) {
    let name = bucket.name();
    let err = inspector
        .inspect_object(bucket, "cohort/gone.svs")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!("s3://{name}/cohort/gone.svs:")),
        "{err}"
    );
    let err = inspector
        .inspect_object(bucket, "cohort/notes.txt")
        .unwrap_err()
        .to_string();
    assert!(
        err.starts_with(&format!(
            "s3://{name}/cohort/notes.txt: not a whole-slide image"
        )),
        "{err}"
    );
}

// Proves the store's own whole-object CRC32C is taken without reading the slide (the sandbox's
// S3-compatible bucket keeps it for a single PUT), while a multipart object's composite checksum
// (`…-N`, the CRC32C of its parts' CRC32Cs) is never taken for the object's: that slide is read
// once, and both checksums equal the files'. (FR-96)
#[test]
fn store_checksums_taken_only_when_they_are_the_objects() {
    let platform = aignostics_sandbox::Sandbox::start().unwrap();
    let bucket = platform.bucket(aignostics_sandbox::ALICE_TOKEN).unwrap();
    let dir = TempDir::new("remote-sandbox");
    aperio(40_000, 30_000, "0.2520")
        .tile(256)
        .body_at(24 << 20)
        .write(&dir.path().join("whole.svs"));
    generic(30_000, 20_000, 40_000, 1, 3)
        .tile(256)
        .body_at(24 << 20)
        .write(&dir.path().join("parts.tif"));
    bucket
        .upload(dir.path().join("whole.svs"), "cohort/whole.svs")
        .multipart_threshold(u64::MAX)
        .send()
        .unwrap();
    bucket
        .upload(dir.path().join("parts.tif"), "cohort/parts.tif")
        .part_size(5 << 20)
        .multipart_threshold(5 << 20)
        .send()
        .unwrap();
    std::fs::write(dir.path().join("notes.txt"), "not a slide").unwrap();
    bucket
        .upload(dir.path().join("notes.txt"), "cohort/notes.txt")
        .send()
        .unwrap();
    let inspector = Inspector::new();
    check(
        &inspector,
        &bucket,
        dir.path(),
        "whole.svs",
        ChecksumSource::Store,
    );
    check(
        &inspector,
        &bucket,
        dir.path(),
        "parts.tif",
        ChecksumSource::ReadWhole,
    );
    check_errors(&inspector, &bucket);

    // The checksum pass: a few ranges, each streamed; a stream cut midway is read again from
    // its start, and one cut every time is an error naming the object, never a wrong CRC32C.
    let file = std::fs::read(dir.path().join("parts.tif")).unwrap();
    let expected = aignostics::checksum::crc32c_base64(&file);
    platform.reset_requests();
    platform.inject(
        aignostics_sandbox::Fault::truncate_body("/s3/", 4096)
            .method("GET")
            .times(1),
    );
    let sum = bucket.object_crc32c("cohort/parts.tif").unwrap();
    assert_eq!(
        (sum.crc32c.as_str(), sum.source),
        (expected.as_str(), ChecksumSource::ReadWhole)
    );
    assert_eq!(sum.bytes_read, file.len() as u64);
    let ranges = platform
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/cohort/parts.tif"))
        .count();
    assert_eq!(ranges, 2 + 1, "two ranges of 12 MiB, one read again");
    platform.inject(
        aignostics_sandbox::Fault::truncate_body("/s3/", 4096)
            .method("GET")
            .times(100),
    );
    let err = bucket
        .object_crc32c("cohort/parts.tif")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("truncated") && err.contains("cohort/parts.tif"),
        "{err}"
    );
    platform.clear_faults();

    // A large object is read in four ranges, whatever its size, not one per 16 MiB.
    generic(30_000, 20_000, 40_000, 1, 3)
        .tile(256)
        .body_at(72 << 20)
        .write(&dir.path().join("big.tif"));
    bucket
        .upload(dir.path().join("big.tif"), "cohort/big.tif")
        .part_size(16 << 20)
        .multipart_threshold(16 << 20)
        .send()
        .unwrap();
    platform.reset_requests();
    let sum = bucket.object_crc32c("cohort/big.tif").unwrap();
    let big = std::fs::read(dir.path().join("big.tif")).unwrap();
    assert_eq!(sum.crc32c, aignostics::checksum::crc32c_base64(&big));
    let ranges = platform
        .requests()
        .iter()
        .filter(|r| r.method == "GET" && r.path.ends_with("/cohort/big.tif"))
        .count();
    assert_eq!(ranges, 4);
}

// Proves slides in the user's own bucket go to a run without a byte downloaded or uploaded:
// the items' URLs are signed with the bucket's keys for 6 days and fetch the exact bytes (their
// CRC32C as the item says, checked by the platform, which fetches them: the items succeed; an
// unreachable input fails its item); the same call again finds the run; a changed object makes
// a new submission; temporary keys are refused before anything is submitted. (FR-97)
#[test]
fn a_run_from_slides_in_a_bucket() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("lab");
    let lab = bucket(&moto.endpoint(), "lab");
    let dir = TempDir::new("remote-run");
    aperio(20_000, 15_000, "0.2520")
        .tile(256)
        .write(&dir.path().join("a.svs"));
    generic(16_000, 12_000, 40_000, 1, 3)
        .tile(256)
        .write(&dir.path().join("b.tif"));
    for name in ["a.svs", "b.tif"] {
        lab.upload(dir.path().join(name), &format!("study/{name}"))
            .send()
            .unwrap();
    }
    // The platform fetches each input as the real one does, checking its CRC32C.
    let platform = aignostics_sandbox::Sandbox::builder()
        .fetch_inputs(true)
        .processing_time(std::time::Duration::from_millis(200))
        .start()
        .unwrap();
    let client = platform.client(aignostics_sandbox::ALICE_TOKEN).unwrap();
    let submit = |bucket: aignostics::bucket::Bucket| {
        aignostics::pipeline::SlidesToResults::in_bucket(&client, "he-tme", bucket, "study/")
            .mapping(
                ".*:tissue=LUNG,disease=LUNG_CANCER,staining_method=H&E"
                    .parse()
                    .unwrap(),
            )
            .submit()
    };
    let first = submit(lab.clone()).unwrap();
    assert!(first.uploads.is_empty() && !first.existing);
    let run = client.run(&first.run_id);
    let mut items: Vec<_> = run.items().iter().map(Result::unwrap).collect();
    items.sort_by(|a, b| a.external_id.cmp(&b.external_id));
    assert_eq!(
        items
            .iter()
            .map(|i| i.external_id.as_str())
            .collect::<Vec<_>>(),
        ["a.svs", "b.tif"]
    );
    for input in platform.submitted_inputs(&first.run_id).unwrap() {
        // Signed for the 6 days the platform asks for (SigV4 allows at most 7).
        assert!(
            input.download_url.contains("X-Amz-Expires=518400"),
            "{}",
            input.download_url
        );
        let bytes = ureq::get(&input.download_url)
            .call()
            .unwrap()
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .unwrap();
        assert_eq!(
            aignostics::checksum::crc32c_base64(&bytes),
            input.metadata["checksum_base64_crc32c"].as_str().unwrap()
        );
    }
    let done = run
        .wait(&aignostics::WaitOptions::default().interval(std::time::Duration::from_millis(50)))
        .unwrap();
    assert_eq!(done.statistics.item_succeeded_count, 2, "{done:?}");
    // An input the platform cannot fetch fails its item, saying why (a loopback port that
    // refuses: no test reaches the network).
    let mut unreachable = aignostics_sandbox::example_item("unreachable.svs");
    unreachable.input_artifacts[0].download_url = "http://127.0.0.1:9/unreachable.svs".into();
    let bad = client
        .runs()
        .submit(aignostics::models::RunCreationRequest::new(
            "he-tme",
            [unreachable],
        ))
        .unwrap();
    bad.wait(&aignostics::WaitOptions::default().interval(std::time::Duration::from_millis(50)))
        .unwrap();
    let item = bad.items().iter().next().unwrap().unwrap();
    assert_eq!(item.error_code.as_deref(), Some("SANDBOX_INPUT_UNUSABLE"));
    assert!(
        item.error_message
            .as_deref()
            .is_some_and(|m| m.contains("could not be fetched")),
        "{item:?}"
    );
    let again = submit(lab.clone()).unwrap();
    assert_eq!(
        (again.run_id.as_str(), again.existing),
        (first.run_id.as_str(), true)
    );

    // The same key, other bytes: a new submission.
    generic(16_000, 12_000, 41_000, 1, 3)
        .tile(256)
        .write(&dir.path().join("b.tif"));
    lab.delete("study/b.tif").unwrap();
    lab.upload(dir.path().join("b.tif"), "study/b.tif")
        .send()
        .unwrap();
    let changed = submit(lab.clone()).unwrap();
    assert!(!changed.existing && changed.run_id != first.run_id);

    // A CSV whose rows name objects of two buckets of the same account: each URL is signed
    // with the same keys for its own bucket, and the platform fetches the exact bytes.
    moto.create_bucket("lab-archive");
    let archive = bucket(&moto.endpoint(), "lab-archive");
    archive
        .upload(dir.path().join("a.svs"), "old/c.svs")
        .send()
        .unwrap();
    let mut rows = Vec::new();
    for (source, prefix) in [(&lab, "study/"), (&archive, "old/")] {
        let version = client.application_version("he-tme", None).unwrap();
        let items = aignostics::slides::SlideItems::new("he-tme", version)
            .unwrap()
            .mapping(
                ".*:tissue=LUNG,disease=LUNG_CANCER,staining_method=H&E"
                    .parse()
                    .unwrap(),
            );
        rows.extend(items.scan_bucket(source, prefix).unwrap().rows);
    }
    assert!(
        rows.iter()
            .any(|r| r.platform_bucket_url.as_deref() == Some("s3://lab-archive/old/c.svs"))
    );
    let csv = dir.path().join("two-buckets.csv");
    aignostics::slides::write_csv_file(&csv, &rows).unwrap();
    let from_csv =
        aignostics::pipeline::SlidesToResults::in_bucket(&client, "he-tme", lab.clone(), "study/")
            .csv(&csv)
            .submit()
            .unwrap();
    let inputs = platform.submitted_inputs(&from_csv.run_id).unwrap();
    assert_eq!(inputs.len(), 3);
    assert!(
        inputs
            .iter()
            .any(|i| i.download_url.contains("/lab-archive/old/c.svs"))
    );
    let done = client
        .run(&from_csv.run_id)
        .wait(&aignostics::WaitOptions::default().interval(std::time::Duration::from_millis(50)))
        .unwrap();
    assert_eq!(
        done.statistics.item_succeeded_count, 3,
        "fetched and checked: {done:?}"
    );

    // Temporary keys: refused, nothing submitted.
    let runs_before = client.runs().list().iter().count();
    let temporary = aignostics::bucket::Bucket::builder(&moto.endpoint(), "lab")
        .credentials(KEY_ID, SECRET)
        .session_token("session-token-of-an-assumed-role")
        .build()
        .unwrap();
    let err = submit(temporary).unwrap_err().to_string();
    assert!(
        err.contains("temporary")
            && err.contains("read-only user")
            && !err.contains("session-token-of"),
        "{err}"
    );
    assert_eq!(client.runs().list().iter().count(), runs_before);
}
