//! Artifact downloads against a loopback platform that misbehaves on purpose.

mod local;
mod support;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aignostics::{Client, DownloadEvent, DownloadOptions, Error, Settings, TokenProvider};
use local::{Scratch, files_below};
use parking_lot::Mutex;
use support::{Blob, Pattern, Platform, artifact_json, item_json, item_without_output};

/// The part file a download of `cells.json` left when its process stopped.
const LEFT_PART: &str = "cells.json.00c0ffee00c0ffee.part";

static UNIQUE: AtomicUsize = AtomicUsize::new(0);

fn unique() -> usize {
    UNIQUE.fetch_add(1, Ordering::Relaxed)
}

/// A client of `platform` with its own token (so its cache entries are its own) and `attempts`
/// retries without back-off waits.
fn client(platform: &Platform, attempts: u32) -> Client {
    let mut settings = Settings::default()
        .with_api_root(&platform.base_url())
        .unwrap();
    settings.run = settings.run.clone().no_wait(attempts);
    Client::builder()
        .settings(settings)
        .token_provider(TokenProvider::fixed(format!(
            "tok-download-{}-{}",
            std::process::id(),
            unique()
        )))
        .build()
        .unwrap()
}

fn temp_dir() -> Scratch {
    Scratch::new("download")
}

fn fast() -> DownloadOptions {
    DownloadOptions::default()
        .poll_interval(Duration::from_millis(20))
        .timeout(Duration::from_secs(60))
}

/// One finished item `slide-1` with one JSON artifact `a1` serving `blob`.
fn one_artifact(run_id: &str, blob: Blob) -> Platform {
    let platform = Platform::start(run_id);
    let checksum = blob.data.checksum();
    platform.items(vec![item_json(
        "slide-1",
        vec![artifact_json(
            "a1",
            "cells",
            "application/json",
            Some(&checksum),
        )],
    )]);
    platform.blob("a1", blob);
    platform
}

// Proves a body cut after 300,000 bytes is resumed with `Range: bytes=300000-`, each attempt
// with a fresh signed URL, no bearer token to storage, identity encoding, and a verified file. (FR-38, NFR-07)
#[test]
fn cut_body_resumes_with_range() {
    let data = Pattern::pseudo_random(1, 1_000_000);
    let mut blob = Blob::new(data.clone());
    blob.cut_after = 300_000;
    blob.cut_times = 1;
    let platform = one_artifact("run-cut", blob);
    let dir = temp_dir();

    let report = client(&platform, 3)
        .run("run-cut")
        .download_to(&dir, &fast())
        .unwrap();

    let file = dir.join("run-cut/slide-1/cells.json");
    assert_eq!(report.downloaded, vec![file.clone()]);
    assert!(report.failed.is_empty() && report.is_complete());
    assert_eq!(report.bytes, 1_000_000);
    assert_eq!(std::fs::read(&file).unwrap(), data.to_vec());
    assert_eq!(
        aignostics::checksum::crc32c_base64_file(&file).unwrap(),
        data.checksum()
    );
    assert!(part_files(&dir).is_empty());

    let storage = platform.storage_requests("a1");
    assert_eq!(storage.len(), 2);
    assert_eq!(storage[0].header("range"), None);
    assert_eq!(storage[1].header("range"), Some("bytes=300000-"));
    assert_ne!(
        storage[0].query, storage[1].query,
        "a fresh signed URL per attempt"
    );
    for s in &storage {
        assert_eq!(s.header("authorization"), None);
        assert_eq!(s.header("accept-encoding"), Some("identity"));
    }
    let file_lookups = platform.seen_under("/api/v1/runs/run-cut/artifacts/");
    assert_eq!(file_lookups.len(), 2);
    assert!(
        file_lookups[0]
            .header("authorization")
            .is_some_and(|a| a.starts_with("Bearer tok-download-"))
    );
}

// Proves a storage host that ignores Range (answers 200) makes the download start over and the
// file still comes out right. (FR-38)
#[test]
fn ignored_range_restarts_from_zero() {
    let data = Pattern::pseudo_random(2, 700_000);
    let mut blob = Blob::new(data.clone());
    blob.cut_after = 300_000;
    blob.cut_times = 1;
    blob.ignore_range = true;
    let platform = one_artifact("run-norange", blob);
    let dir = temp_dir();

    let report = client(&platform, 3)
        .run("run-norange")
        .download_to(&dir, &fast())
        .unwrap();

    let file = dir.join("run-norange/slide-1/cells.json");
    assert_eq!(report.downloaded, vec![file.clone()]);
    assert_eq!(std::fs::read(&file).unwrap(), data.to_vec());
    let storage = platform.storage_requests("a1");
    assert_eq!(storage.len(), 2);
    assert_eq!(storage[1].header("range"), Some("bytes=300000-"));
}

// Proves attempts count only failures without progress: a link that is cut every 100,000
// bytes still completes with 2 attempts configured, resuming at each cut. (FR-38)
#[test]
fn repeated_cuts_with_progress_still_complete() {
    let data = Pattern::pseudo_random(9, 500_000);
    let mut blob = Blob::new(data.clone());
    blob.cut_after = 100_000;
    blob.cut_times = 4;
    let platform = one_artifact("run-cuts", blob);
    let dir = temp_dir();

    let report = client(&platform, 2)
        .run("run-cuts")
        .download_to(&dir, &fast())
        .unwrap();

    assert_eq!(report.downloaded.len(), 1, "{report:?}");
    assert_eq!(std::fs::read(&report.downloaded[0]).unwrap(), data.to_vec());
    let ranges: Vec<Option<String>> = platform
        .storage_requests("a1")
        .iter()
        .map(|s| s.header("range").map(str::to_string))
        .collect();
    assert_eq!(
        ranges,
        vec![
            None,
            Some("bytes=100000-".to_string()),
            Some("bytes=200000-".to_string()),
            Some("bytes=300000-".to_string()),
            Some("bytes=400000-".to_string()),
        ]
    );
}

// Proves a part that already holds every byte (a crash before the rename) is verified and
// moved into place when the storage host answers 416, without downloading again. (FR-38, FR-39)
#[test]
fn complete_part_is_finished_on_416() {
    let data = Pattern::pseudo_random(10, 200_000);
    let platform = one_artifact("run-416", Blob::new(data.clone()));
    let dir = temp_dir();
    let item_dir = dir.join("run-416/slide-1");
    std::fs::create_dir_all(&item_dir).unwrap();
    std::fs::write(item_dir.join(LEFT_PART), data.to_vec()).unwrap();

    let report = client(&platform, 3)
        .run("run-416")
        .download_to(&dir, &fast())
        .unwrap();

    assert_eq!(report.downloaded, vec![item_dir.join("cells.json")]);
    assert_eq!(
        std::fs::read(item_dir.join("cells.json")).unwrap(),
        data.to_vec()
    );
    assert!(part_files(&dir).is_empty());
    let storage = platform.storage_requests("a1");
    assert_eq!(storage.len(), 1);
    assert_eq!(storage[0].header("range"), Some("bytes=200000-"));
}

// Proves a stalled body hits the per-read timeout and is resumed where it stopped. (FR-38)
#[test]
fn stalled_body_times_out_per_read_and_resumes() {
    let data = Pattern::pseudo_random(3, 500_000);
    let mut blob = Blob::new(data.clone());
    blob.stall_after = 100_000;
    blob.stall = Duration::from_secs(3);
    blob.stall_times = 1;
    let platform = one_artifact("run-stall", blob);
    let dir = temp_dir();

    let report = client(&platform, 3)
        .run("run-stall")
        .download_to(&dir, &fast().read_timeout(Duration::from_millis(300)))
        .unwrap();

    assert_eq!(report.downloaded.len(), 1);
    assert_eq!(std::fs::read(&report.downloaded[0]).unwrap(), data.to_vec());
    let storage = platform.storage_requests("a1");
    assert_eq!(storage.len(), 2);
    assert_eq!(storage[1].header("range"), Some("bytes=100000-"));
}

// Proves a wrong checksum causes exactly one full retry, then a checksum error naming the file,
// with neither the file nor its part left behind. (FR-39, NFR-09)
#[test]
fn wrong_checksum_retries_once_then_fails_clean() {
    let platform = Platform::start("run-badsum");
    platform.items(vec![item_json(
        "slide-1",
        vec![artifact_json(
            "a1",
            "cells",
            "application/json",
            Some("AAAAAA=="),
        )],
    )]);
    platform.blob("a1", Blob::new(Pattern::pseudo_random(4, 200_000)));
    let dir = temp_dir();

    let report = client(&platform, 3)
        .run("run-badsum")
        .download_to(&dir, &fast())
        .unwrap();

    let file = dir.join("run-badsum/slide-1/cells.json");
    assert!(report.downloaded.is_empty());
    assert_eq!(report.failed.len(), 1);
    let failure = &report.failed[0];
    assert_eq!(failure.path, file);
    assert_eq!(failure.artifact_id, "a1");
    match &failure.error {
        Error::Checksum {
            path,
            expected,
            actual,
        } => {
            assert_eq!(path, &file);
            assert_eq!(expected, "AAAAAA==");
            assert_ne!(actual, "AAAAAA==");
        }
        other => panic!("expected a checksum error, got {other:?}"),
    }
    assert!(failure.error.to_string().contains("cells.json"));
    let storage = platform.storage_requests("a1");
    assert_eq!(storage.len(), 2);
    assert!(storage.iter().all(|s| s.header("range").is_none()));
    assert!(!file.exists());
    assert!(part_files(&dir).is_empty());
}

// Proves one corrupted transfer is repaired by the single full retry. (FR-39)
#[test]
fn one_corrupted_transfer_is_repaired() {
    let data = Pattern::pseudo_random(5, 300_000);
    let mut blob = Blob::new(data.clone());
    blob.corrupt_times = 1;
    let platform = one_artifact("run-corrupt", blob);
    let dir = temp_dir();

    let report = client(&platform, 3)
        .run("run-corrupt")
        .download_to(&dir, &fast())
        .unwrap();

    assert_eq!(report.downloaded.len(), 1);
    assert_eq!(std::fs::read(&report.downloaded[0]).unwrap(), data.to_vec());
    assert_eq!(platform.storage_requests("a1").len(), 2);
}

// Proves a second call over complete files makes no /file and no storage request. (FR-38)
#[test]
fn second_call_skips_verified_files_without_requests() {
    let data = Pattern::pseudo_random(6, 100_000);
    let platform = one_artifact("run-twice", Blob::new(data));
    let dir = temp_dir();
    let client = client(&platform, 3);

    let first = client.run("run-twice").download_to(&dir, &fast()).unwrap();
    assert_eq!(first.downloaded.len(), 1);
    let lookups = platform.file_requests();
    let storage = platform.storage_requests("a1").len();

    let skipped = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&skipped);
    let options = fast().on_event(move |e| {
        if let DownloadEvent::Skipped { path } = e {
            seen.lock().push(path.clone());
        }
    });
    let second = client.run("run-twice").download_to(&dir, &options).unwrap();

    assert!(second.downloaded.is_empty());
    assert_eq!(second.skipped, first.downloaded);
    assert_eq!(*skipped.lock(), first.downloaded);
    assert_eq!(second.bytes, 0);
    assert_eq!(platform.file_requests(), lookups);
    assert_eq!(platform.storage_requests("a1").len(), storage);
}

// Proves a part file left by an earlier, interrupted call is hashed and resumed, not restarted. (FR-38)
#[test]
fn existing_part_is_resumed() {
    let data = Pattern::pseudo_random(7, 900_000);
    let platform = one_artifact("run-part", Blob::new(data.clone()));
    let dir = temp_dir();
    let item_dir = dir.join("run-part/slide-1");
    std::fs::create_dir_all(&item_dir).unwrap();
    std::fs::write(item_dir.join(LEFT_PART), &data.to_vec()[..400_000]).unwrap();

    let report = client(&platform, 3)
        .run("run-part")
        .download_to(&dir, &fast())
        .unwrap();

    assert_eq!(report.downloaded, vec![item_dir.join("cells.json")]);
    assert_eq!(
        std::fs::read(item_dir.join("cells.json")).unwrap(),
        data.to_vec()
    );
    let storage = platform.storage_requests("a1");
    assert_eq!(storage.len(), 1);
    assert_eq!(storage[0].header("range"), Some("bytes=400000-"));
}

// Proves a corrupt part prefix is caught by the checksum and repaired by a full download, and a
// stale final file is replaced. (FR-39)
#[test]
fn corrupt_part_and_stale_file_are_replaced() {
    let data = Pattern::pseudo_random(8, 600_000);
    let platform = Platform::start("run-stale");
    let checksum = data.checksum();
    platform.items(vec![item_json(
        "slide-1",
        vec![
            artifact_json("a1", "cells", "application/json", Some(&checksum)),
            artifact_json("a2", "map", "image/png", Some(&checksum)),
        ],
    )]);
    platform.blob("a1", Blob::new(data.clone()));
    platform.blob("a2", Blob::new(data.clone()));
    let dir = temp_dir();
    let item_dir = dir.join("run-stale/slide-1");
    std::fs::create_dir_all(&item_dir).unwrap();
    std::fs::write(item_dir.join(LEFT_PART), vec![0u8; 250_000]).unwrap();
    std::fs::write(item_dir.join("map.png"), b"old contents").unwrap();

    let report = client(&platform, 3)
        .run("run-stale")
        .download_to(&dir, &fast())
        .unwrap();

    assert_eq!(report.downloaded.len(), 2, "{report:?}");
    assert_eq!(
        std::fs::read(item_dir.join("cells.json")).unwrap(),
        data.to_vec()
    );
    assert_eq!(
        std::fs::read(item_dir.join("map.png")).unwrap(),
        data.to_vec()
    );
    let a1 = platform.storage_requests("a1");
    assert_eq!(a1.len(), 2);
    assert_eq!(a1[0].header("range"), Some("bytes=250000-"));
    assert_eq!(a1[1].header("range"), None);
}

/// Three items of two artifacts each (a GeoJSON and a CSV) and an item that failed, on
/// `platform`'s run; the files a full download writes, with their bytes.
fn three_items_and_a_failed_one(platform: &Platform) -> Vec<(PathBuf, Pattern)> {
    let mut items = Vec::new();
    let mut expected = Vec::new();
    for (i, slide) in ["s1", "s2", "s3"].iter().enumerate() {
        let mut artifacts = Vec::new();
        for (j, (name, mime, ext)) in [
            ("tissue_qc:geojson_polygons", "application/geo+json", "json"),
            ("readout:csv", "text/csv", "csv"),
        ]
        .iter()
        .enumerate()
        {
            let id = format!("{slide}-a{j}");
            let data = Pattern::pseudo_random((10 * i + j) as u64, 150_000 + 1_000 * j as u64);
            artifacts.push(artifact_json(&id, name, mime, Some(&data.checksum())));
            platform.blob(&id, Blob::new(data.clone()));
            let file_name = format!("{}.{ext}", name.replace(':', "_"));
            expected.push((PathBuf::from(format!("run-many/{slide}/{file_name}")), data));
        }
        items.push(item_json(slide, artifacts));
    }
    items.push(item_without_output("s4", "TERMINATED", Some("USER_ERROR")));
    platform.items(items);
    expected
}

// Proves 3 items x 2 artifacts with 4 workers give 6 correct files and events, an item that
// failed on the platform gives no files and is reported, and the run's manifest.json describes
// every item, its folder, state and verified files. (FR-40, FR-37, FR-41, FR-88)
#[test]
fn parallel_items_and_a_failed_item() {
    let platform = Platform::start("run-many");
    let mut expected = three_items_and_a_failed_one(&platform);
    let dir = temp_dir();
    let finished = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&finished);

    let report = client(&platform, 3)
        .run("run-many")
        .download_to(
            &dir,
            &fast().concurrency(4).on_event(move |e| {
                if matches!(e, DownloadEvent::Finished { .. }) {
                    counter.fetch_add(1, Ordering::Relaxed);
                }
            }),
        )
        .unwrap();

    expected.sort_by(|a, b| a.0.cmp(&b.0));
    let paths: Vec<PathBuf> = expected.iter().map(|(p, _)| p.clone()).collect();
    assert_eq!(files_below(&dir), paths);
    for (path, data) in &expected {
        assert_eq!(
            std::fs::read(dir.join(path)).unwrap(),
            data.to_vec(),
            "{path:?}"
        );
    }
    assert_eq!(report.downloaded.len(), 6);
    assert_eq!(finished.load(Ordering::Relaxed), 6);
    assert!(report.failed.is_empty());
    assert_eq!(report.failed_items.len(), 1);
    let failed = &report.failed_items[0];
    assert_eq!(failed.external_id, "s4");
    assert_eq!(
        failed.termination_reason.as_ref().map(|r| r.as_str()),
        Some("USER_ERROR")
    );
    assert!(!dir.join("run-many/s4").exists());

    // The manifest beside the results joins them back to the items: folders, states, the
    // failed item with its reason, every file with its checksum and verified.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("run-many/manifest.json")).unwrap())
            .unwrap();
    assert_eq!(manifest["run_id"], "run-many");
    let items = manifest["items"].as_array().unwrap();
    assert_eq!(items.len(), 4);
    let s1 = items.iter().find(|i| i["external_id"] == "s1").unwrap();
    assert_eq!(
        (s1["folder"].as_str(), s1["state"].as_str()),
        (Some("s1"), Some("SUCCEEDED"))
    );
    let files = s1["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert!(
        files
            .iter()
            .all(|f| f["verified"] == true && f["crc32c"].is_string()),
        "{s1}"
    );
    assert!(
        files.iter().any(|f| f["file"] == "s1/readout_csv.csv"),
        "{s1}"
    );
    let s4 = items.iter().find(|i| i["external_id"] == "s4").unwrap();
    assert_eq!(s4["state"], "FAILED");
    assert_eq!(s4["termination_reason"], "USER_ERROR");
    assert!(s4["files"].as_array().unwrap().is_empty());
    assert!(!report.is_complete());
}

// Proves an artifact-name filter downloads only the artifacts named, keeps every file in the
// manifest (the others not verified) with the names a full download gives, and a full download
// afterwards adds the rest. (FR-92)
#[test]
fn only_the_artifacts_named_are_downloaded() {
    let platform = Platform::start("run-many");
    let expected = three_items_and_a_failed_one(&platform);
    let dir = temp_dir();
    let client = client(&platform, 3);
    let report = client
        .run("run-many")
        .download_to(&dir, &fast().artifacts(["readout:csv"]))
        .unwrap();
    let csvs: Vec<PathBuf> = expected
        .iter()
        .map(|(p, _)| p.clone())
        .filter(|p| p.extension().is_some_and(|e| e == "csv"))
        .collect();
    assert_eq!(csvs.len(), 3);
    assert_eq!(files_below(&dir), csvs);
    assert_eq!(report.downloaded.len(), 3);
    let manifest = aignostics::RunManifest::read(dir.join("run-many")).unwrap();
    let s1 = manifest
        .items
        .iter()
        .find(|i| i.external_id == "s1")
        .unwrap();
    let verified: Vec<(&str, bool)> = s1
        .files
        .iter()
        .map(|f| (f.file.as_str(), f.verified))
        .collect();
    assert_eq!(
        verified,
        [
            ("s1/tissue_qc_geojson_polygons.json", false),
            ("s1/readout_csv.csv", true)
        ]
    );
    let rest = client.run("run-many").download_to(&dir, &fast()).unwrap();
    assert_eq!((rest.downloaded.len(), rest.skipped.len()), (3, 3));
    let mut all: Vec<PathBuf> = expected.into_iter().map(|(p, _)| p).collect();
    all.sort();
    assert_eq!(files_below(&dir), all);
}

// Proves external ids and artifact names that try to escape stay inside the target directory,
// and names colliding after sanitising do not overwrite each other. (FR-37)
#[test]
fn path_traversal_stays_inside() {
    let platform = Platform::start("run-evil");
    let hostile_ids = [
        "../../x",
        "..",
        ".",
        "/abs/path",
        "C:\\evil",
        "CON",
        "a/b",
        "a_b",
        "",
    ];
    let mut items = Vec::new();
    let mut count = 0;
    for (i, id) in hostile_ids.iter().enumerate() {
        let mut artifacts = Vec::new();
        for (j, name) in ["../../../etc/passwd", "x/../../y", "..", "y"]
            .iter()
            .enumerate()
        {
            let aid = format!("e{i}-{j}");
            let data = Pattern::bytes(format!("{i}/{j}").into_bytes());
            artifacts.push(artifact_json(
                &aid,
                name,
                "application/json",
                Some(&data.checksum()),
            ));
            platform.blob(&aid, Blob::new(data));
            count += 1;
        }
        items.push(item_json(id, artifacts));
    }
    platform.items(items);
    let base = temp_dir();
    let target = base.join("target");
    std::fs::create_dir(&target).unwrap();

    let report = client(&platform, 3)
        .run("run-evil")
        .download_to(&target, &fast())
        .unwrap();

    assert_eq!(report.downloaded.len(), count, "{report:?}");
    assert!(report.failed.is_empty());
    let mut contents: Vec<String> = report
        .downloaded
        .iter()
        .map(|p| {
            assert!(p.starts_with(target.join("run-evil")), "{p:?}");
            std::fs::read_to_string(p).unwrap()
        })
        .collect();
    contents.sort();
    contents.dedup();
    assert_eq!(contents.len(), count, "every artifact in its own file");
    assert_eq!(files_below(&base).len(), count);
    for file in files_below(&target) {
        let text = file.to_string_lossy().to_string();
        assert!(
            file.components()
                .all(|c| matches!(c, std::path::Component::Normal(_))),
            "{text}"
        );
    }
}

// Proves a deleted artifact (410 on /file) and an artifact without checksum metadata are
// reported while the other artifacts of the item still download. (FR-41)
#[test]
fn per_artifact_failures_are_reported_and_others_continue() {
    let platform = Platform::start("run-partial");
    let good = Pattern::pseudo_random(20, 50_000);
    platform.items(vec![item_json(
        "slide-1",
        vec![
            artifact_json("gone", "gone", "application/json", Some("AAAAAA==")),
            artifact_json("nosum", "nosum", "application/json", None),
            artifact_json("good", "good", "image/tiff", Some(&good.checksum())),
        ],
    )]);
    let mut gone = Blob::new(Pattern::bytes(b"x".to_vec()));
    gone.file_statuses = [410].into();
    platform.blob("gone", gone);
    platform.blob("nosum", Blob::new(Pattern::bytes(b"y".to_vec())));
    platform.blob("good", Blob::new(good.clone()));
    let dir = temp_dir();

    let report = client(&platform, 3)
        .run("run-partial")
        .download_to(&dir, &fast())
        .unwrap();

    assert_eq!(
        report.downloaded,
        vec![dir.join("run-partial/slide-1/good.tiff")]
    );
    assert_eq!(report.failed.len(), 2);
    let gone = report
        .failed
        .iter()
        .find(|f| f.artifact_id == "gone")
        .unwrap();
    assert!(gone.error.is_gone(), "{:?}", gone.error);
    let nosum = report
        .failed
        .iter()
        .find(|f| f.artifact_id == "nosum")
        .unwrap();
    assert!(nosum.error.to_string().contains("no checksum metadata"));
    assert!(platform.storage_requests("nosum").is_empty());
    assert!(!dir.join("run-partial/slide-1/nosum.json").exists());
    assert!(
        platform
            .seen_under("/api/v1/runs/run-partial/artifacts/nosum")
            .is_empty()
    );
}

// Proves 5xx answers from storage are retried with a fresh signed URL each time, and that an
// artifact that keeps failing is reported without leaking the URL signature. (FR-41, NFR-08)
#[test]
fn storage_errors_retry_then_report_without_secrets() {
    let platform = Platform::start("run-503");
    let ok = Pattern::pseudo_random(30, 10_000);
    let bad = Pattern::pseudo_random(31, 10_000);
    platform.items(vec![item_json(
        "slide-1",
        vec![
            artifact_json("ok", "ok", "application/json", Some(&ok.checksum())),
            artifact_json("bad", "bad", "application/json", Some(&bad.checksum())),
        ],
    )]);
    let mut flaky = Blob::new(ok.clone());
    flaky.statuses = [503, 500].into();
    platform.blob("ok", flaky);
    let mut broken = Blob::new(bad);
    broken.statuses = [503; 10].into();
    platform.blob("bad", broken);
    let dir = temp_dir();

    let report = client(&platform, 3)
        .run("run-503")
        .download_to(&dir, &fast())
        .unwrap();

    assert_eq!(report.downloaded, vec![dir.join("run-503/slide-1/ok.json")]);
    let ok_requests = platform.storage_requests("ok");
    assert_eq!(ok_requests.len(), 3);
    let mut queries: Vec<&str> = ok_requests.iter().map(|s| s.query.as_str()).collect();
    queries.dedup();
    assert_eq!(queries.len(), 3);
    assert_eq!(platform.storage_requests("bad").len(), 3);
    let failure = &report.failed[0];
    assert_eq!(failure.error.status(), Some(503));
    let text = format!("{} {:?} {report:?}", failure.error, failure.error);
    assert!(
        !text.contains("secret") && !text.contains("Signature"),
        "{text}"
    );
}

// Proves waiting mode downloads an item while the run is still processing (the run only
// terminates once that item's artifact was served) and then the rest in the final pass. (FR-40)
#[test]
fn waits_and_downloads_items_as_they_finish() {
    let platform = Platform::start("run-live");
    let first = Pattern::pseudo_random(40, 80_000);
    let second = Pattern::pseudo_random(41, 90_000);
    let a = item_json(
        "early",
        vec![artifact_json(
            "a",
            "out",
            "application/json",
            Some(&first.checksum()),
        )],
    );
    let b_done = item_json(
        "late",
        vec![artifact_json(
            "b",
            "out",
            "application/json",
            Some(&second.checksum()),
        )],
    );
    let b_running = item_without_output("late", "PROCESSING", None);
    platform.gate("a", vec![a.clone(), b_running], vec![a, b_done]);
    platform.blob("a", Blob::new(first.clone()));
    platform.blob("b", Blob::new(second.clone()));
    let dir = temp_dir();

    let report = client(&platform, 3)
        .run("run-live")
        .download_to(&dir, &fast())
        .unwrap();

    assert_eq!(report.downloaded.len(), 2, "{report:?}");
    assert_eq!(
        std::fs::read(dir.join("run-live/early/out.json")).unwrap(),
        first.to_vec()
    );
    assert_eq!(
        std::fs::read(dir.join("run-live/late/out.json")).unwrap(),
        second.to_vec()
    );
    assert_eq!(platform.storage_requests("a").len(), 1, "downloaded once");
    assert!(report.pending_items.is_empty());
}

// Proves without waiting, one pass downloads what is finished and lists the rest as pending. (FR-40)
#[test]
fn without_waiting_lists_pending_items() {
    let platform = Platform::start("run-nowait");
    platform.run_states(&["PROCESSING"]);
    let data = Pattern::pseudo_random(50, 1_000);
    platform.items(vec![
        item_json(
            "done",
            vec![artifact_json(
                "d",
                "out",
                "text/csv",
                Some(&data.checksum()),
            )],
        ),
        item_without_output("busy", "PROCESSING", None),
    ]);
    platform.blob("d", Blob::new(data));
    let dir = temp_dir();

    let report = client(&platform, 3)
        .run("run-nowait")
        .download_to(&dir, &fast().wait_for_run(false))
        .unwrap();

    assert_eq!(report.downloaded, vec![dir.join("run-nowait/done/out.csv")]);
    assert_eq!(report.pending_items, vec!["busy".to_string()]);
}

// Proves the download timeout ends a wait for a run that never terminates, naming the run. (FR-40)
#[test]
fn download_wait_times_out() {
    let platform = Platform::start("run-forever");
    platform.run_states(&["PROCESSING"]);
    let dir = temp_dir();

    let err = client(&platform, 3)
        .run("run-forever")
        .download_to(
            &dir,
            &DownloadOptions::default()
                .poll_interval(Duration::from_millis(20))
                .timeout(Duration::from_millis(200)),
        )
        .unwrap_err();

    assert!(err.is_timeout(), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("run-forever") && text.contains("PROCESSING"),
        "{text}"
    );
}

// Proves the target must be an existing directory, checked before any request. (FR-37)
#[test]
fn target_must_be_an_existing_directory() {
    let platform = Platform::start("run-dir");
    let client = client(&platform, 1);
    let dir = temp_dir();
    let missing = dir.join("missing");
    let file = dir.join("file");
    std::fs::write(&file, b"x").unwrap();

    for target in [&missing, &file] {
        let err = client
            .run("run-dir")
            .download_to(target, &fast())
            .unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{err:?}");
        assert!(err.to_string().contains(&target.display().to_string()));
    }
    assert!(platform.seen().is_empty());
}

/// Files below `dir` whose name ends in `.part`.
fn part_files(dir: &Path) -> Vec<PathBuf> {
    files_below(dir)
        .into_iter()
        .filter(|p| p.to_string_lossy().ends_with(".part"))
        .collect()
}

// Proves a final file whose checksum does not match is kept until a verified replacement is
// renamed over it: when every storage request fails, the user's file is still there. (FR-39, NFR-09)
#[test]
fn stale_file_is_kept_when_its_replacement_fails() {
    let platform = Platform::start("run-keep");
    let data = Pattern::pseudo_random(60, 50_000);
    platform.items(vec![item_json(
        "slide-1",
        vec![artifact_json(
            "a1",
            "cells",
            "application/json",
            Some(&data.checksum()),
        )],
    )]);
    let mut blob = Blob::new(data);
    blob.statuses = [503; 10].into();
    platform.blob("a1", blob);
    let dir = temp_dir();
    let file = dir.join("run-keep/slide-1/cells.json");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, b"the user's older copy").unwrap();

    let report = client(&platform, 3)
        .run("run-keep")
        .download_to(&dir, &fast())
        .unwrap();

    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(report.failed[0].error.status(), Some(503));
    assert_eq!(std::fs::read(&file).unwrap(), b"the user's older copy");
}

// Proves storage requests that fail before any byte arrives leave no empty part file behind. (FR-41, NFR-09)
#[test]
fn failed_requests_leave_no_empty_part() {
    let platform = Platform::start("run-noparts");
    let data = Pattern::pseudo_random(61, 20_000);
    platform.items(vec![item_json(
        "slide-1",
        vec![artifact_json(
            "a1",
            "cells",
            "application/json",
            Some(&data.checksum()),
        )],
    )]);
    let mut blob = Blob::new(data);
    blob.statuses = [500; 10].into();
    platform.blob("a1", blob);
    let dir = temp_dir();

    let report = client(&platform, 3)
        .run("run-noparts")
        .download_to(&dir, &fast())
        .unwrap();

    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert_eq!(platform.storage_requests("a1").len(), 3);
    assert!(part_files(&dir).is_empty(), "{:?}", files_below(&dir));
}

// Proves a body longer than announced (a Content-Length beyond the Content-Range, or more bytes
// than the range before the connection closes) fails with its own accurate error, never
// "ended after X of Y bytes" with X > Y, and no byte past the announced end is kept. (FR-41, NFR-14)
#[test]
fn body_longer_than_announced_is_its_own_error() {
    let platform = Platform::start("run-long");
    let a = Pattern::pseudo_random(62, 100);
    let b = Pattern::pseudo_random(63, 100);
    platform.items(vec![item_json(
        "slide-1",
        vec![
            artifact_json("a", "a", "application/json", Some(&a.checksum())),
            artifact_json("b", "b", "application/json", Some(&b.checksum())),
        ],
    )]);
    let mut body = a.to_vec();
    body.extend_from_slice(&[7u8; 50]);
    let mut with_length =
        b"HTTP/1.1 206 X\r\nContent-Range: bytes 0-99/100\r\nContent-Length: 150\r\n\r\n".to_vec();
    with_length.extend_from_slice(&body);
    let mut blob_a = Blob::new(a);
    blob_a.raw_answers = [Some(with_length)].into();
    platform.blob("a", blob_a);
    let mut until_close =
        b"HTTP/1.1 206 X\r\nContent-Range: bytes 0-99/100\r\nConnection: close\r\n\r\n".to_vec();
    let mut body = b.to_vec();
    body.extend_from_slice(&[7u8; 50]);
    until_close.extend_from_slice(&body);
    let mut blob_b = Blob::new(b);
    blob_b.raw_answers = [Some(until_close)].into();
    platform.blob("b", blob_b);
    let dir = temp_dir();

    let report = client(&platform, 1)
        .run("run-long")
        .download_to(&dir, &fast())
        .unwrap();

    assert_eq!(report.failed.len(), 2, "{report:?}");
    for failure in &report.failed {
        let text = failure.error.to_string();
        assert!(text.contains("more bytes than announced"), "{text}");
        assert!(!text.contains("150 of 100"), "{text}");
    }
    for part in part_files(&dir) {
        let len = std::fs::metadata(dir.join(&part)).unwrap().len();
        assert!(len <= 100, "{part:?} holds {len} bytes");
    }
}

// Proves a storage 403 reads as a refused or expired signed URL, not as a user without access,
// and the next attempt fetches a fresh signed URL. (FR-41, FR-53)
#[test]
fn storage_403_fetches_a_fresh_signed_url() {
    let platform = Platform::start("run-403");
    let once = Pattern::pseudo_random(64, 10_000);
    let always = Pattern::pseudo_random(65, 10_000);
    platform.items(vec![item_json(
        "slide-1",
        vec![
            artifact_json("once", "once", "application/json", Some(&once.checksum())),
            artifact_json(
                "always",
                "always",
                "application/json",
                Some(&always.checksum()),
            ),
        ],
    )]);
    let mut blob = Blob::new(once.clone());
    blob.statuses = [403].into();
    platform.blob("once", blob);
    let mut blob = Blob::new(always);
    blob.statuses = [403; 10].into();
    platform.blob("always", blob);
    let dir = temp_dir();

    let report = client(&platform, 3)
        .run("run-403")
        .download_to(&dir, &fast())
        .unwrap();

    assert_eq!(
        report.downloaded,
        vec![dir.join("run-403/slide-1/once.json")]
    );
    let requests = platform.storage_requests("once");
    assert_eq!(requests.len(), 2);
    assert_ne!(requests[0].query, requests[1].query, "a fresh signed URL");
    assert_eq!(platform.storage_requests("always").len(), 3);
    let failure = &report.failed[0];
    assert_eq!(failure.error.status(), Some(403));
    let text = failure.error.to_string();
    assert!(
        text.contains("signed URL") && text.contains("expired") && text.contains("fresh"),
        "{text}"
    );
    assert!(!text.contains("this user may not access"), "{text}");
    assert!(!text.contains("secret"), "{text}");
}

// Proves no size or time from input panics: `Duration::MAX` as the download and read
// timeouts, and a 206 announcing `Content-Length: 18446744073709551615` with an unknown total
// while resuming; the file still comes out verified. (NFR-14)
#[test]
fn extreme_sizes_and_times_do_not_panic() {
    let data = Pattern::pseudo_random(66, 200_000);
    let mut blob = Blob::new(data.clone());
    blob.cut_after = 1_000;
    blob.cut_times = 1;
    let mut huge = b"HTTP/1.1 206 X\r\nContent-Range: bytes 1000-199999/*\r\n\
        Content-Length: 18446744073709551615\r\n\r\n"
        .to_vec();
    huge.extend_from_slice(&data.to_vec()[1_000..2_000]);
    blob.raw_answers = [None, Some(huge)].into();
    let platform = one_artifact("run-huge", blob);
    let dir = temp_dir();

    let report = client(&platform, 4)
        .run("run-huge")
        .download_to(
            &dir,
            &fast()
                .timeout(Duration::MAX)
                .read_timeout(Duration::MAX)
                .poll_interval(Duration::MAX),
        )
        .unwrap();

    assert_eq!(report.downloaded.len(), 1, "{report:?}");
    assert_eq!(std::fs::read(&report.downloaded[0]).unwrap(), data.to_vec());
    assert!(platform.storage_requests("a1").len() >= 3);
}

// Proves crafted external ids (`a/b`, `a_b`, and `a_b-` followed by the hash suffix `a/b` gets)
// map to three directories, and the report lists each file once. (FR-37, FR-52)
#[test]
fn crafted_ids_never_share_a_directory() {
    use sha2::{Digest, Sha256};
    let suffix: String = Sha256::digest(b"a/b")[..4]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let ids = [
        "a/b".to_string(),
        "a_b".to_string(),
        format!("a_b-{suffix}"),
    ];
    let platform = Platform::start("run-crafted");
    let mut items = Vec::new();
    let mut blobs = Vec::new();
    for (i, id) in ids.iter().enumerate() {
        let data = Pattern::bytes(format!("item {i}").into_bytes());
        let aid = format!("c{i}");
        items.push(item_json(
            id,
            vec![artifact_json(
                &aid,
                "out",
                "application/json",
                Some(&data.checksum()),
            )],
        ));
        platform.blob(&aid, Blob::new(data.clone()));
        blobs.push(data);
    }
    platform.items(items);
    let dir = temp_dir();

    let report = client(&platform, 3)
        .run("run-crafted")
        .download_to(&dir, &fast())
        .unwrap();

    let mut paths = report.downloaded.clone();
    paths.dedup();
    assert_eq!(paths.len(), 3, "{report:?}");
    let mut dirs: Vec<_> = paths.iter().map(|p| p.parent().unwrap()).collect();
    dirs.sort();
    dirs.dedup();
    assert_eq!(dirs.len(), 3, "{paths:?}");
    let mut contents: Vec<Vec<u8>> = paths.iter().map(|p| std::fs::read(p).unwrap()).collect();
    contents.sort();
    let mut expected: Vec<Vec<u8>> = blobs.iter().map(Pattern::to_vec).collect();
    expected.sort();
    assert_eq!(contents, expected);
}

// Proves a server that ignores `page` (always the same full page) stops the download with a
// clear error after a bounded number of listings, instead of listing forever. (FR-51)
#[test]
fn listing_that_ignores_page_is_stopped() {
    let platform = Platform::start("run-pages");
    platform.ignore_page();
    platform.items(
        (0..100)
            .map(|i| item_without_output(&format!("s{i}"), "TERMINATED", Some("USER_ERROR")))
            .collect(),
    );
    let dir = temp_dir();
    let client = client(&platform, 1);
    let target = dir.to_path_buf();
    let (done, result) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done.send(client.run("run-pages").download_to(&target, &fast()));
    });

    let err = result
        .recv_timeout(Duration::from_secs(60))
        .expect("the listing never ended")
        .unwrap_err();

    let text = err.to_string();
    assert!(text.contains("page"), "{text}");
    assert!(platform.seen_under("/api/v1/runs/run-pages/items").len() <= 3);
}

// Proves an artifact whose signed-URL lookup keeps failing (503 after the API's own retries)
// fails after the configured attempts instead of being retried without end. (FR-39, FR-51)
#[test]
fn failing_url_lookups_end_the_artifact() {
    let mut blob = Blob::new(Pattern::pseudo_random(5, 1000));
    blob.file_statuses = std::iter::repeat_n(503, 50).collect();
    let platform = one_artifact("run-url-fails", blob);
    let dir = temp_dir();
    let report = client(&platform, 2)
        .run("run-url-fails")
        .download_to(&dir, &fast().wait_for_run(false))
        .unwrap();
    assert_eq!(report.failed.len(), 1, "{report:?}");
    assert!(report.downloaded.is_empty());
    // Two attempts of the download, each with the API layer's two attempts of the lookup.
    assert_eq!(platform.file_requests(), 4);
}
