//! `pipeline::SlidesToResults` against the in-process sandbox: slides written to disk,
//! uploaded to its SigV4-checking bucket, submitted with signed URLs, waited for and
//! downloaded, with one progress stream; and the same call again, which repeats nothing.
#![cfg(all(feature = "slides", feature = "bucket"))]

mod local;
mod slides_support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aignostics::bucket::UploadOutcome;
use aignostics::checksum::ChecksumIndex;
use aignostics::pipeline::{Progress, SlidesToResults};
use aignostics::slides::{self, MetadataRow};
use aignostics::{DownloadOptions, WaitOptions};
use aignostics_sandbox::{self as sandbox, Sandbox};
use local::Scratch;
use slides_support::{aperio, generic};

/// Two slides of different formats and sizes, one in a subfolder.
fn write_slides(root: &Path) {
    std::fs::create_dir_all(root.join("case-1")).unwrap();
    aperio(4000, 3000, "0.2520")
        .tile(64)
        .write(&root.join("case-1/lung-a.svs"));
    generic(3000, 2000, 40_000, 1, 3)
        .tile(64)
        .write(&root.join("liver b.tif"));
}

/// Sets every file below `root` as last modified an hour ago, as slides copied long before a
/// run are (a file written within the last 2 s is never indexed).
fn settle(root: &Path) {
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    for path in local::files_below(root) {
        let file = std::fs::File::options()
            .write(true)
            .open(root.join(path))
            .unwrap();
        file.set_modified(hour_ago).unwrap();
    }
}

fn platform() -> Sandbox {
    Sandbox::builder()
        .processing_time(Duration::from_millis(200))
        .artifact_size(64 * 1024)
        .start()
        .unwrap()
}

fn chain<'a>(
    client: &'a aignostics::Client,
    platform: &Sandbox,
    slides: &Path,
) -> SlidesToResults<'a> {
    SlidesToResults::new(client, "he-tme", slides)
        .bucket_endpoint(platform.bucket_endpoint())
        .mapping(
            ".*:staining_method=H&E,tissue=LUNG,disease=LUNG_CANCER"
                .parse()
                .unwrap(),
        )
        .wait_options(WaitOptions::default().interval(Duration::from_millis(50)))
        .download_options(DownloadOptions::default().poll_interval(Duration::from_millis(50)))
}

fn recorder() -> (
    Arc<Mutex<Vec<Progress>>>,
    impl Fn(&Progress) + Send + Sync + 'static,
) {
    let steps = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&steps);
    (steps, move |p: &Progress| {
        sink.lock().unwrap().push(p.clone())
    })
}

fn puts(platform: &Sandbox) -> usize {
    platform
        .requests()
        .iter()
        .filter(|r| r.method == "PUT" && r.path.starts_with("/s3/"))
        .count()
}

fn posts(platform: &Sandbox) -> usize {
    platform
        .requests()
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/api/v1/runs")
        .count()
}

// Proves one call inspects a folder of slides on disk, uploads each to the bucket under
// `{user}/{crc32c}/{name}`, submits items whose download URLs are signed bucket URLs with
// `sdk.platform_bucket` metadata and dimensions from the headers, waits, and downloads every
// result verified; its progress stream names the phases in order (inspecting, uploading,
// submitted, waiting, downloading, done). (FR-80, FR-81)
#[test]
fn folder_to_verified_results_with_phases_in_order() {
    let dir = Scratch::new("phases");
    let slides_dir = dir.join("slides");
    write_slides(&slides_dir);
    let platform = platform();
    let client = platform.client(sandbox::ALICE_TOKEN).unwrap();
    let (steps, sink) = recorder();
    let out = dir.join("results");
    let outcome = chain(&client, &platform, &slides_dir)
        .tags(["study-17"])
        .on_progress(sink)
        .run_to(&out)
        .unwrap();

    assert!(!outcome.existing);
    assert!(outcome.is_complete(), "{outcome:?}");
    assert_eq!(outcome.uploads.len(), 2);
    assert!(
        outcome
            .uploads
            .iter()
            .all(|u| u.outcome == UploadOutcome::Uploaded)
    );
    let download = outcome.download.as_ref().unwrap();
    assert_eq!(download.downloaded.len(), 6, "{download:?}");
    assert!(download.failed.is_empty());

    // The phases, in order, each present; after the submission, looks at the run and
    // downloads interleave (items download as they finish).
    let steps = steps.lock().unwrap();
    let phases: Vec<&str> = steps.iter().map(Progress::phase).collect();
    let mut order = phases.clone();
    order.dedup();
    assert_eq!(
        order[..4],
        ["inspecting", "uploading", "submitted", "waiting"],
        "{phases:?}"
    );
    assert_eq!(order.last(), Some(&"done"), "{phases:?}");
    assert!(
        order[3..order.len() - 1]
            .iter()
            .all(|p| matches!(*p, "waiting" | "downloading")),
        "{phases:?}"
    );
    assert!(order.contains(&"downloading"), "{phases:?}");
    assert!(steps.contains(&Progress::Inspected {
        slides: 2,
        failed: 0,
        unchanged: 0,
    }));
    assert!(steps.iter().any(|p| matches!(p,
        Progress::Submitted { run_id, existing: false, .. } if *run_id == outcome.run_id)));

    // What the platform received: signed bucket URLs, header dimensions, bucket metadata.
    let bucket = platform.bucket(sandbox::ALICE_TOKEN).unwrap();
    let objects: Vec<String> = bucket
        .list("")
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    let items: Vec<_> = client
        .run(&outcome.run_id)
        .items()
        .iter()
        .collect::<aignostics::Result<_>>()
        .unwrap();
    assert_eq!(items.len(), 2);
    let svs = slides::inspect(slides_dir.join("case-1/lung-a.svs")).unwrap();
    let crc = svs.checksum_base64_crc32c.clone().unwrap();
    let item = items
        .iter()
        .find(|i| i.external_id == "case-1/lung-a.svs")
        .unwrap();
    let sdk = &item.custom_metadata.as_ref().unwrap()["sdk"]["platform_bucket"];
    let key = sdk["object_key"].as_str().unwrap();
    assert!(objects.contains(&key.to_string()), "{objects:?}");
    assert!(key.ends_with("/case-1/lung-a.svs"), "{key}");
    assert_eq!(sdk["bucket_name"], sandbox::BUCKET_NAME);
    let details = client.run(&outcome.run_id).details().unwrap();
    assert_eq!(
        details.custom_metadata.as_ref().unwrap()["idempotency_key"],
        outcome.idempotency_key.as_str()
    );
    let input = &item.input_artifacts[0];
    let metadata = input.metadata.as_ref().unwrap();
    assert_eq!(metadata["width_px"], svs.width_px, "{metadata}");
    assert_eq!(metadata["height_px"], svs.height_px, "{metadata}");
    assert_eq!(
        metadata["checksum_base64_crc32c"],
        crc.as_str(),
        "{metadata}"
    );
    let url = input.download_url.as_deref().unwrap();
    assert!(
        url.contains("lung-a.svs") && url.contains("Signature="),
        "{url}"
    );
}

// Proves the same call made again (after a finished run, as after a crash) uploads nothing
// (each slide reported once, as already there), finds the run by its idempotency key (which
// leaves the URLs' signatures out) instead of submitting, and downloads nothing, every file
// being verified and skipped; a new key submits anew. (FR-81, FR-82)
#[test]
fn same_call_again_repeats_nothing() {
    let dir = Scratch::new("again");
    let slides_dir = dir.join("slides");
    write_slides(&slides_dir);
    let platform = platform();
    let client = platform.client(sandbox::ALICE_TOKEN).unwrap();
    let out = dir.join("results");
    let first = chain(&client, &platform, &slides_dir).run_to(&out).unwrap();
    let (puts_before, posts_before) = (puts(&platform), posts(&platform));
    assert_eq!(posts_before, 1);

    let (steps, sink) = recorder();
    // Other URLs (another validity, so other signatures): still the same inputs.
    let second = chain(&client, &platform, &slides_dir)
        .url_validity(Duration::from_secs(3600))
        .on_progress(sink)
        .run_to(&out)
        .unwrap();
    assert_eq!(second.run_id, first.run_id);
    assert!(second.existing);
    assert_eq!(second.idempotency_key, first.idempotency_key);
    assert!(
        second
            .uploads
            .iter()
            .all(|u| u.outcome == UploadOutcome::AlreadyPresent && u.bytes_sent == 0)
    );
    let download = second.download.as_ref().unwrap();
    assert!(download.downloaded.is_empty(), "{download:?}");
    assert_eq!(download.skipped.len(), 6);
    assert_eq!(puts(&platform), puts_before, "no byte uploaded again");
    assert_eq!(posts(&platform), posts_before, "no second run");
    // Every result file reported once, as already there, counted in order.
    let files: Vec<(usize, bool)> = steps
        .lock()
        .unwrap()
        .iter()
        .filter_map(|p| match p {
            Progress::Downloading {
                files_done,
                already_there,
                ..
            } => Some((*files_done, *already_there)),
            _ => None,
        })
        .collect();
    assert_eq!(files, (1..=6).map(|n| (n, true)).collect::<Vec<_>>());
    // Each slide reported once, as already there.
    let reported: Vec<(String, UploadOutcome)> = steps
        .lock()
        .unwrap()
        .iter()
        .filter_map(|p| match p {
            Progress::Uploaded {
                external_id,
                outcome,
                ..
            } => Some((external_id.clone(), *outcome)),
            _ => None,
        })
        .collect();
    assert_eq!(
        reported,
        [
            (
                "case-1/lung-a.svs".to_string(),
                UploadOutcome::AlreadyPresent
            ),
            ("liver b.tif".to_string(), UploadOutcome::AlreadyPresent)
        ]
    );

    let fresh = chain(&client, &platform, &slides_dir)
        .idempotency_key("second-pass")
        .submit()
        .unwrap();
    assert!(!fresh.existing);
    assert_ne!(fresh.run_id, first.run_id);
}

// Proves a restart reads no unchanged slide again: with a checksum index the second attempt
// takes every slide's CRC32C from the index and proves each stored object (single `PUT`s and a
// three-part upload with a composite CRC32C) from the index alone, reading 0 bytes; a slide
// rewritten with the same bytes and its old modification time (only its change time differs)
// is read again, once; without the index every slide is read again for its upload. (FR-89)
#[test]
fn restart_reads_no_unchanged_slide() {
    let dir = Scratch::new("index");
    let slides_dir = dir.join("slides");
    write_slides(&slides_dir);
    aperio(2000, 1500, "0.2520")
        .tile(64)
        .body_at(11 << 20)
        .write(&slides_dir.join("big.svs"));
    settle(&slides_dir);
    let platform = platform();
    let client = platform.client(sandbox::ALICE_TOKEN).unwrap();
    let index = Arc::new(ChecksumIndex::open(dir.join("index/checksums.jsonl")));
    let attempt = |index: Option<Arc<ChecksumIndex>>| {
        let (steps, sink) = recorder();
        let outcome = chain(&client, &platform, &slides_dir)
            .checksum_index(index)
            .multipart_threshold(5 << 20)
            .part_size(5 << 20)
            .on_progress(sink)
            .submit()
            .unwrap();
        let unchanged = steps.lock().unwrap().iter().find_map(|p| match p {
            Progress::Inspected { unchanged, .. } => Some(*unchanged),
            _ => None,
        });
        (outcome, unchanged.unwrap())
    };
    let read = |outcome: &aignostics::pipeline::Outcome| -> Vec<u64> {
        outcome.uploads.iter().map(|u| u.bytes_read).collect()
    };

    let (first, unchanged) = attempt(Some(index.clone()));
    assert_eq!(unchanged, 0);
    assert!(
        first
            .uploads
            .iter()
            .all(|u| u.outcome == UploadOutcome::Uploaded)
    );
    assert!(
        first.uploads.iter().any(|u| u.parts_sent == 3),
        "{:?}",
        first.uploads
    );

    let (second, unchanged) = attempt(Some(index.clone()));
    assert_eq!(
        (second.run_id.as_str(), unchanged),
        (first.run_id.as_str(), 3)
    );
    assert!(
        second
            .uploads
            .iter()
            .all(|u| u.outcome == UploadOutcome::AlreadyPresent)
    );
    assert_eq!(read(&second), [0, 0, 0], "{:?}", second.uploads);

    // The same bytes written again with the old modification time: only the change time tells.
    let touched = slides_dir.join("liver b.tif");
    let mtime = std::fs::metadata(&touched).unwrap().modified().unwrap();
    std::fs::write(&touched, std::fs::read(&touched).unwrap()).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&touched)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let (third, unchanged) = attempt(Some(index));
    assert_eq!(
        (third.run_id.as_str(), unchanged),
        (first.run_id.as_str(), 2)
    );
    // Read once, by the inspection, whose new entry then proves the stored object.
    assert_eq!(read(&third), [0, 0, 0], "{:?}", third.uploads);

    let (fourth, unchanged) = attempt(None);
    assert_eq!(unchanged, 0);
    assert!(read(&fourth).iter().all(|r| *r > 0), "{:?}", fourth.uploads);
}

// Proves every input that changes the submitted request changes the derived idempotency key:
// the same slides with other custom metadata or other tags submit a new run, while the same
// inputs again find the run. (FR-82)
#[test]
fn custom_metadata_and_tags_are_part_of_the_derived_key() {
    let dir = Scratch::new("derived");
    let slides_dir = dir.join("slides");
    write_slides(&slides_dir);
    let platform = platform();
    let client = platform.client(sandbox::ALICE_TOKEN).unwrap();
    let study = |n: u32| {
        chain(&client, &platform, &slides_dir).custom_metadata(serde_json::json!({"study": n}))
    };
    let one = study(1).submit().unwrap();
    let two = study(2).submit().unwrap();
    assert!(!two.existing, "other custom metadata is another run");
    assert_ne!(one.idempotency_key, two.idempotency_key);
    let tagged = study(1).tags(["batch-b"]).submit().unwrap();
    assert!(!tagged.existing, "other tags are another run");
    let again = study(1).submit().unwrap();
    assert!(again.existing);
    assert_eq!(again.run_id, one.run_id);
    assert_eq!(posts(&platform), 3);
}

// Proves every check that can be made before a byte is uploaded is made before: a URL
// validity above 7 days or under a second, and an item whose signed URL would exceed the API's
// 2,083 characters (a long unicode external id), fail with no object stored and no run
// submitted. (FR-87)
#[test]
fn refusals_come_before_the_first_upload() {
    let dir = Scratch::new("early");
    let slides_dir = dir.join("slides");
    write_slides(&slides_dir);
    let platform = platform();
    let client = platform.client(sandbox::ALICE_TOKEN).unwrap();
    for validity in [
        Duration::from_secs(7 * 24 * 3600 + 1),
        Duration::from_millis(999),
        Duration::MAX,
    ] {
        let err = chain(&client, &platform, &slides_dir)
            .url_validity(validity)
            .submit()
            .unwrap_err();
        assert!(matches!(err, aignostics::Error::InvalidInput(_)), "{err}");
    }
    // 180 characters of four UTF-8 bytes each: a valid external id, 2,160 characters
    // percent-encoded in the URL.
    let deep: std::path::PathBuf = (0..3).map(|_| "𝔘".repeat(60)).collect();
    std::fs::create_dir_all(slides_dir.join(&deep)).unwrap();
    generic(300, 200, 4_000, 1, 3)
        .tile(64)
        .write(&slides_dir.join(&deep).join("z.tif"));
    let err = chain(&client, &platform, &slides_dir).submit().unwrap_err();
    assert!(err.to_string().contains("2083"), "{err}");
    assert_eq!(puts(&platform), 0, "nothing was uploaded");
    assert_eq!(posts(&platform), 0, "nothing was submitted");
}

// Proves the metadata CSV `runs prepare` writes drives the chain: a row whose
// `platform_bucket_url` names an object of the bucket is signed and not uploaded, an empty
// one is uploaded, an unreadable slide is reported per slide without stopping the others, and
// a row whose checksum the local slide no longer has is refused before any upload. (FR-83)
#[test]
fn csv_rows_with_and_without_bucket_urls() {
    let dir = Scratch::new("csv");
    let slides_dir = dir.join("slides");
    write_slides(&slides_dir);
    std::fs::write(slides_dir.join("broken.svs"), b"II*\0not a slide").unwrap();
    let platform = platform();
    let client = platform.client(sandbox::ALICE_TOKEN).unwrap();

    // Unreadable slides are reported per slide.
    let outcome = chain(&client, &platform, &slides_dir).submit().unwrap();
    assert_eq!(outcome.slide_errors.len(), 1, "{:?}", outcome.slide_errors);
    assert!(outcome.slide_errors[0].slide.ends_with("broken.svs"));
    assert!(!outcome.is_complete());
    std::fs::remove_file(slides_dir.join("broken.svs")).unwrap();

    // One object already in the bucket, named by the CSV.
    let bucket = platform.bucket(sandbox::ALICE_TOKEN).unwrap();
    bucket
        .upload(slides_dir.join("liver b.tif"), "lab/liver.tif")
        .send()
        .unwrap();
    let mut rows: Vec<MetadataRow> = Vec::new();
    for (id, url) in [
        ("case-1/lung-a.svs", None),
        (
            "liver b.tif",
            Some(format!("s3://{}/lab/liver.tif", sandbox::BUCKET_NAME)),
        ),
    ] {
        let slide = slides::inspect(slides_dir.join(id)).unwrap();
        rows.push(MetadataRow {
            external_id: id.into(),
            checksum_base64_crc32c: slide.checksum_base64_crc32c.unwrap(),
            resolution_mpp: slide.resolution_mpp,
            width_px: slide.width_px,
            height_px: slide.height_px,
            staining_method: Some("H&E".into()),
            tissue: Some("LUNG".into()),
            disease: Some("LUNG_CANCER".into()),
            platform_bucket_url: url,
        });
    }
    let csv = slides_dir.join("metadata.csv");
    // A CSV whose checksum the local slide does not have is refused before any upload.
    let mut stale = rows.clone();
    stale[0].checksum_base64_crc32c = aignostics::checksum::crc32c_base64(b"older bytes");
    slides::write_csv_file(&csv, &stale).unwrap();
    let puts_before = puts(&platform);
    let err = SlidesToResults::new(&client, "he-tme", &slides_dir)
        .bucket_endpoint(platform.bucket_endpoint())
        .csv(&csv)
        .submit()
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("changed after the CSV was written"),
        "{err}"
    );
    assert_eq!(puts(&platform), puts_before, "nothing uploaded");
    slides::write_csv_file(&csv, &rows).unwrap();
    let outcome = SlidesToResults::new(&client, "he-tme", &slides_dir)
        .bucket_endpoint(platform.bucket_endpoint())
        .csv(&csv)
        .submit()
        .unwrap();
    assert_eq!(outcome.uploads.len(), 1, "only the row without a URL");
    assert!(outcome.uploads[0].key.ends_with("/case-1/lung-a.svs"));
    let items: Vec<_> = client
        .run(&outcome.run_id)
        .items()
        .iter()
        .collect::<aignostics::Result<_>>()
        .unwrap();
    let liver = items
        .iter()
        .find(|i| i.external_id == "liver b.tif")
        .unwrap();
    assert_eq!(
        liver.custom_metadata.as_ref().unwrap()["sdk"]["platform_bucket"]["object_key"],
        "lab/liver.tif"
    );
}

// Proves the library reads the settings the command line reads: a client built from
// AIGNOSTICS_ACCESS_TOKEN and AIGNOSTICS_API_ROOT alone sends that token, and the pipeline
// finds the bucket at AIGNOSTICS_BUCKET_ENDPOINT without being told. (FR-18, FR-80)
#[test]
fn one_set_of_settings_for_library_and_cli() {
    let dir = Scratch::new("settings");
    let slides_dir = dir.join("slides");
    write_slides(&slides_dir);
    let platform = platform();
    let settings = aignostics::Settings::from_vars([
        ("AIGNOSTICS_API_ROOT", platform.base_url().to_string()),
        ("AIGNOSTICS_ACCESS_TOKEN", sandbox::ALICE_TOKEN.to_string()),
        ("AIGNOSTICS_BUCKET_ENDPOINT", platform.bucket_endpoint()),
    ])
    .unwrap();
    assert!(
        !format!("{settings:?}").contains(sandbox::ALICE_TOKEN),
        "redacted"
    );
    let client = aignostics::Client::builder()
        .settings(settings)
        .build()
        .unwrap();
    assert_eq!(
        client.me().unwrap().user.id,
        sandbox::SandboxUser::alice().id
    );
    let outcome = SlidesToResults::new(&client, "he-tme", &slides_dir)
        .mapping(
            ".*:staining_method=H&E,tissue=LUNG,disease=LUNG_CANCER"
                .parse()
                .unwrap(),
        )
        .submit()
        .unwrap();
    assert_eq!(outcome.uploads.len(), 2);
}
