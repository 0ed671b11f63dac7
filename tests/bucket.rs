//! Uploads, resumption, verification, signed URLs, listing, downloading and deleting against a
//! real S3 implementation (moto's server on loopback), with a faulting proxy in front of it.
#![cfg(feature = "bucket")]

mod bucket_support;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use aignostics::Error;
use aignostics::bucket::{DEFAULT_URL_VALIDITY, UploadEvent, UploadOutcome, Verification};
use bucket_support::*;

const PART: u64 = 5 * MIB as u64;

fn crc_b64(data: &[u8]) -> String {
    aignostics::checksum::crc32c_base64(data)
}

// Proves a small file goes in one verified PUT, a re-run sends no byte, and the object is
// listed, downloaded intact, fetched through its signed URL and deleted (FR-69, FR-70, FR-71).
#[test]
fn single_put_skip_list_download_signed_url_delete() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("slides");
    let proxy = FaultProxy::start(&moto.endpoint());
    let b = bucket(&proxy.endpoint(), "slides");
    let (dir, path) = test_file("small.svs", MIB + 17, 1);
    let data = std::fs::read(&path).unwrap();

    let report = b.upload(&path, "u/small.svs").send().unwrap();
    assert_eq!(report.outcome, UploadOutcome::Uploaded);
    assert_eq!(report.crc32c, crc_b64(&data));
    assert_eq!((report.parts_sent, report.size), (1, data.len() as u64));
    assert_eq!(report.verification, Verification::Etag);

    proxy.clear();
    let again = b.upload(&path, "u/small.svs").send().unwrap();
    assert_eq!(again.outcome, UploadOutcome::AlreadyPresent);
    assert_eq!((again.parts_sent, again.bytes_sent), (0, 0));
    assert_eq!(proxy.body_puts(), 0, "{:?}", proxy.seen());

    let listed = b.list("u/").unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].key, "u/small.svs");
    assert_eq!(listed[0].size, data.len() as u64);

    let out = dir.path().join("back.svs");
    let (len, crc) = b.download("u/small.svs", &out).unwrap();
    assert_eq!((len, crc), (data.len() as u64, crc_b64(&data)));
    assert_eq!(std::fs::read(&out).unwrap(), data);

    let url = b.signed_url("u/small.svs", DEFAULT_URL_VALIDITY).unwrap();
    let mut body = Vec::new();
    std::io::Read::read_to_end(
        &mut ureq::get(&url).call().unwrap().into_body().into_reader(),
        &mut body,
    )
    .unwrap();
    assert_eq!(body, data);

    assert_eq!(
        b.delete_prefix("u/").unwrap(),
        vec!["u/small.svs".to_string()]
    );
    assert!(!b.delete("u/small.svs").unwrap());
    assert!(b.list("u/").unwrap().is_empty());
    let err = b.download("u/small.svs", &out).unwrap_err();
    assert_eq!(err.status(), Some(404), "{err}");
    assert!(!err.to_string().contains(SECRET));
}

// Proves a multipart upload sends its parts in parallel with progress events, stores the
// file's exact bytes and is verified by the store's ETag of the parts (FR-69).
#[test]
fn multipart_parallel_with_progress() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("slides");
    let b = bucket(&moto.endpoint(), "slides");
    let (dir, path) = test_file("big.svs", 12 * MIB + 3, 2);
    let data = std::fs::read(&path).unwrap();
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&events);
    let report = b
        .upload(&path, "u/big.svs")
        .part_size(PART)
        .multipart_threshold(PART)
        .concurrency(3)
        .on_progress(move |p| log.lock().unwrap().push((p.event, p.bytes_done)))
        .send()
        .unwrap();
    assert_eq!(report.outcome, UploadOutcome::Uploaded);
    assert_eq!(report.parts_sent, 3);
    assert_eq!(report.crc32c, crc_b64(&data));
    let events = events.lock().unwrap().clone();
    assert_eq!(events.first().unwrap().0, UploadEvent::Started { parts: 3 });
    assert_eq!(
        events.last().unwrap(),
        &(UploadEvent::Completed, data.len() as u64)
    );
    let sent: usize = events
        .iter()
        .filter(|(e, _)| matches!(e, UploadEvent::PartSent { .. }))
        .count();
    assert_eq!(sent, 3);
    let out = dir.path().join("back");
    b.download("u/big.svs", &out).unwrap();
    assert_eq!(std::fs::read(&out).unwrap(), data);
}

/// How often each part number was sent.
fn part_counts(seen: &[u32]) -> HashMap<u32, usize> {
    let mut m = HashMap::new();
    for n in seen {
        *m.entry(*n).or_insert(0) += 1;
    }
    m
}

// Proves an upload cut at random points (dropped connections mid-part) resumes: the re-run
// reuses the stored parts, sends each missing part once, no part is sent twice beyond the
// ones in flight when the cut came, and the object's CRC32C is the file's (FR-69).
#[test]
fn resumes_after_connection_drops_at_random_points() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("slides");
    let proxy = FaultProxy::start(&moto.endpoint());
    let b = bucket(&proxy.endpoint(), "slides");
    let (_dir, path) = test_file("cut.svs", 4 * PART as usize + 1234, 3);
    let data = std::fs::read(&path).unwrap();
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    for round in 0..3u32 {
        let key = format!("u/cut-{round}.svs");
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        let cut_at = 1 + (rng % 4) as usize; // the n-th part upload is cut …
        let offset = (rng >> 8) as usize % PART as usize; // … after this many body bytes
        proxy.clear();
        let counter = Arc::new(Mutex::new(0usize));
        let c = Arc::clone(&counter);
        proxy.set(move |s, _| {
            if s.part_number().is_none() {
                return Fault::Pass;
            }
            let mut n = c.lock().unwrap();
            *n += 1;
            if *n >= cut_at {
                Fault::DropAfter(offset)
            } else {
                Fault::Pass
            }
        });
        let err = b
            .upload(&path, &key)
            .part_size(PART)
            .multipart_threshold(PART)
            .concurrency(2)
            .attempts(1)
            .send()
            .unwrap_err();
        assert!(err.is_retryable(), "round {round}: {err}");
        assert!(!err.to_string().contains(SECRET));
        // Parts the first run stored (their request went through untouched).
        let stored_first: Vec<u32> = proxy
            .seen()
            .iter()
            .filter(|s| s.fault == Fault::Pass)
            .filter_map(Seen::part_number)
            .collect();
        proxy.clear();
        proxy.pass();
        let report = b
            .upload(&path, &key)
            .part_size(PART)
            .multipart_threshold(PART)
            .concurrency(2)
            .send()
            .unwrap();
        assert_eq!(report.outcome, UploadOutcome::Resumed, "round {round}");
        assert_eq!(report.crc32c, crc_b64(&data));
        let second = part_counts(&proxy.part_puts());
        for (n, c) in &second {
            assert_eq!(
                *c, 1,
                "round {round}: part {n} sent {c} times in the re-run"
            );
        }
        assert_eq!(
            report.parts_reused as usize + second.len(),
            5,
            "round {round}: every part is reused or sent once"
        );
        // Parts stored in the first run are never sent again: only the ones in flight when
        // the cut came (or never started) are.
        for n in &stored_first {
            assert!(
                !second.contains_key(n),
                "round {round}: stored part {n} sent again"
            );
        }
        assert_eq!(
            report.parts_reused as usize,
            stored_first.len(),
            "round {round}"
        );
    }
}

// Proves 5xx answers are retried per part and the upload still completes verified (FR-69).
#[test]
fn retries_server_errors() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("slides");
    let proxy = FaultProxy::start(&moto.endpoint());
    let b = bucket(&proxy.endpoint(), "slides");
    let (_dir, path) = test_file("flaky.svs", 2 * PART as usize + 5, 4);
    let failures = Arc::new(Mutex::new(HashMap::<u32, u32>::new()));
    let f = Arc::clone(&failures);
    proxy.set(move |s, _| match s.part_number() {
        Some(n) => {
            let mut m = f.lock().unwrap();
            let c = m.entry(n).or_insert(0);
            *c += 1;
            if *c == 1 {
                Fault::Status(503)
            } else {
                Fault::Pass
            }
        }
        None => Fault::Pass,
    });
    let report = b
        .upload(&path, "u/flaky.svs")
        .part_size(PART)
        .multipart_threshold(PART)
        .send()
        .unwrap();
    assert_eq!(report.outcome, UploadOutcome::Uploaded);
    assert_eq!(report.parts_sent, 6, "3 parts, each sent twice");
    assert_eq!(proxy.part_puts().len(), 6);
}

// Proves a part of an interrupted upload whose stored bytes differ from the file (tampered
// with, or the file changed) is detected: the stale upload is not trusted but aborted and
// redone, so the object equals the file and records the file's CRC32C (FR-69).
#[test]
fn tampered_stored_part_is_detected() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("slides");
    let proxy = FaultProxy::start(&moto.endpoint());
    let b = bucket(&proxy.endpoint(), "slides");
    let (dir, path) = test_file("tamper.svs", 2 * PART as usize + 99, 5);
    let data = std::fs::read(&path).unwrap();
    // First run: part 3 is refused, parts 1 and 2 are stored.
    proxy.set(|s, _| {
        if s.part_number() == Some(3) {
            Fault::Status(400)
        } else {
            Fault::Pass
        }
    });
    let err = b
        .upload(&path, "u/tamper.svs")
        .part_size(PART)
        .multipart_threshold(PART)
        .concurrency(1)
        .send()
        .unwrap_err();
    assert_eq!(err.status(), Some(400), "{err}");
    // One byte of part 1 now differs between the store and the file.
    let mut changed = data.clone();
    changed[10] ^= 0xff;
    std::fs::write(&path, &changed).unwrap();
    proxy.clear();
    proxy.pass();
    let events = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&events);
    let report = b
        .upload(&path, "u/tamper.svs")
        .part_size(PART)
        .multipart_threshold(PART)
        .concurrency(1)
        .on_progress(move |p| log.lock().unwrap().push(p.event))
        .send()
        .unwrap();
    assert!(events.lock().unwrap().contains(&UploadEvent::Restarted));
    assert_eq!(report.outcome, UploadOutcome::Uploaded);
    assert_eq!(report.parts_reused, 0);
    assert_eq!(report.crc32c, crc_b64(&changed));
    let mut sent = proxy.part_puts();
    sent.sort();
    assert_eq!(sent, vec![1, 2, 3]);
    let out = dir.path().join("back");
    let (_, crc) = b.download("u/tamper.svs", &out).unwrap();
    assert_eq!(crc, crc_b64(&changed));
    assert_eq!(std::fs::read(&out).unwrap(), changed);
}

// Proves a stored object that does not match the file is an error, removes the object, and
// that another file's object at the same key is never overwritten (FR-69).
#[test]
fn mismatch_is_an_error_and_removes_the_object() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("slides");
    let proxy = FaultProxy::start(&moto.endpoint());
    let b = bucket(&proxy.endpoint(), "slides");
    let (_dir, path) = test_file("lie.svs", 2 * PART as usize, 6);
    // The store's answer to the verifying HEAD carries a wrong ETag.
    proxy.set(|s, _| {
        if s.method == "HEAD" && s.target.contains("lie.svs") {
            Fault::Lie
        } else {
            Fault::Pass
        }
    });
    let err = b
        .upload(&path, "u/lie.svs")
        .part_size(PART)
        .multipart_threshold(PART)
        .send()
        .unwrap_err();
    assert!(matches!(err, Error::Checksum { .. }), "{err}");
    assert!(err.to_string().contains("deleted"), "{err}");
    proxy.pass();
    assert!(
        b.list("u/lie.svs").unwrap().is_empty(),
        "the bad object is gone"
    );

    let (_d2, other) = test_file("other.svs", MIB, 7);
    b.upload(&other, "u/taken").send().unwrap();
    let (_d3, mine) = test_file("mine.svs", MIB, 8);
    let err = b.upload(&mine, "u/taken").send().unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
}

// Proves an upload whose bytes do not have the CRC32C it was given stores nothing, single PUT
// and multipart alike, so an identical upload afterwards is sent (not "already present"); and
// an object whose recorded CRC32C the local file no longer has is never taken as present
// (FR-85).
#[test]
fn given_checksum_that_the_file_lacks_stores_nothing() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("slides");
    let b = bucket(&moto.endpoint(), "slides");
    let (_dir, path) = test_file("given.svs", 2 * PART as usize + 7, 31);
    let wrong = crc_b64(b"another file");
    for (key, threshold) in [("u/single.svs", 64 * PART), ("u/multi.svs", PART)] {
        let err = b
            .upload(&path, key)
            .part_size(PART)
            .multipart_threshold(threshold)
            .crc32c(&wrong)
            .send()
            .unwrap_err();
        assert!(matches!(err, Error::Checksum { .. }), "{key}: {err}");
        assert!(b.list(key).unwrap().is_empty(), "{key}: nothing is stored");
        let report = b
            .upload(&path, key)
            .part_size(PART)
            .multipart_threshold(threshold)
            .send()
            .unwrap();
        assert_eq!(report.outcome, UploadOutcome::Uploaded, "{key}");
    }

    // The file changes after its object was stored; the old CRC32C (a stale CSV) is given.
    let old = crc_b64(&std::fs::read(&path).unwrap());
    let mut changed = std::fs::read(&path).unwrap();
    changed[3] ^= 1;
    std::fs::write(&path, &changed).unwrap();
    let err = b
        .upload(&path, "u/single.svs")
        .multipart_threshold(64 * PART)
        .crc32c(&old)
        .send()
        .unwrap_err();
    assert!(matches!(err, Error::Checksum { .. }), "{err}");
    let err = b
        .upload(&path, "u/single.svs")
        .multipart_threshold(64 * PART)
        .send()
        .unwrap_err();
    assert!(matches!(err, Error::InvalidInput(_)), "{err}");
}

// Proves a resumed multipart upload whose file changed in a part not yet sent ends with an
// object that holds the new bytes and records their CRC32C, so it downloads verified
// (FR-85).
#[test]
fn resumed_upload_after_the_file_changed_records_the_stored_checksum() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("slides");
    let proxy = FaultProxy::start(&moto.endpoint());
    let b = bucket(&proxy.endpoint(), "slides");
    let (dir, path) = test_file("grow.svs", 2 * PART as usize + 99, 32);
    proxy.set(|s, _| {
        if s.part_number() == Some(3) {
            Fault::Status(400)
        } else {
            Fault::Pass
        }
    });
    let upload = |b: &aignostics::bucket::Bucket| {
        b.upload(&path, "u/grow.svs")
            .part_size(PART)
            .multipart_threshold(PART)
            .concurrency(1)
            .send()
    };
    assert_eq!(upload(&b).unwrap_err().status(), Some(400));
    // Part 3, never sent, changes.
    let mut changed = std::fs::read(&path).unwrap();
    *changed.last_mut().unwrap() ^= 0xff;
    std::fs::write(&path, &changed).unwrap();
    proxy.pass();
    let report = upload(&b).unwrap();
    assert_eq!(report.crc32c, crc_b64(&changed));
    let out = dir.path().join("back");
    let (_, crc) = b.download("u/grow.svs", &out).unwrap();
    assert_eq!(crc, crc_b64(&changed));
    assert_eq!(std::fs::read(&out).unwrap(), changed);
    let again = upload(&b).unwrap();
    assert_eq!(again.outcome, UploadOutcome::AlreadyPresent);
}

// Proves keys with `.` or `..` segments, or only slashes, are refused before any request, so
// `a/tmp/../victim` can never delete or overwrite `a/victim` (FR-86).
#[test]
fn dot_segment_keys_are_refused_before_any_request() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("slides");
    let proxy = FaultProxy::start(&moto.endpoint());
    let b = bucket(&proxy.endpoint(), "slides");
    let (dir, path) = test_file("victim.bin", 1000, 33);
    b.upload(&path, "alice/victim.bin").send().unwrap();
    proxy.clear();
    for key in [
        "alice/tmp/../victim.bin",
        "alice/./victim.bin",
        "..",
        ".",
        "../x",
        "/",
        "//",
    ] {
        let err = b.delete(key).unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{key}: {err}");
        let err = b.upload(&path, key).send().unwrap_err();
        assert!(matches!(err, Error::InvalidInput(_)), "{key}: {err}");
        assert!(b.download(key, dir.path().join("x")).is_err(), "{key}");
        assert!(b.signed_url(key, DEFAULT_URL_VALIDITY).is_err(), "{key}");
    }
    assert!(proxy.seen().is_empty(), "{:?}", proxy.seen());
    assert_eq!(b.list("alice/").unwrap().len(), 1, "the victim is intact");
    // Dots inside a segment are ordinary characters.
    b.upload(&path, "alice/..a/b..").send().unwrap();
    assert_eq!(b.list("alice/..a/").unwrap()[0].key, "alice/..a/b..");
}

// Proves downloading into an existing directory writes the key's file name inside it and
// leaves no `.part` file behind (FR-86).
#[test]
fn download_into_a_directory_leaves_no_part_file() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("slides");
    let b = bucket(&moto.endpoint(), "slides");
    let (dir, path) = test_file("d.svs", 1000, 34);
    b.upload(&path, "u/x/d.svs").send().unwrap();
    let out = dir.path().join("out");
    std::fs::create_dir(&out).unwrap();
    b.download("u/x/d.svs", format!("{}/", out.display()))
        .unwrap();
    let names: Vec<String> = std::fs::read_dir(&out)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(names, ["d.svs"]);
    assert_eq!(
        std::fs::read(out.join("d.svs")).unwrap(),
        std::fs::read(&path).unwrap()
    );
}
