//! The sandbox's S3-compatible bucket: the credentials of `/v1/me` work end to end (upload,
//! resume, verify, list, signed URLs, download, delete) and unsigned or wrongly signed
//! requests are refused.
#![cfg(feature = "bucket")]

mod bucket_support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use aignostics::bucket::{Bucket, DEFAULT_URL_VALIDITY, UploadOutcome, Verification};
use aignostics_sandbox::{self as sandbox, Sandbox};
use bucket_support::*;

const PART: u64 = 5 * MIB as u64;

// Proves the sandbox's `/v1/me` hands out working bucket credentials and its endpoint
// serves verified single and multipart uploads, skips, listing, ranged and signed
// downloads and deletion (FR-68, FR-69, FR-70, FR-71, FR-72).
#[test]
fn me_credentials_upload_and_download() {
    let sb = Sandbox::start().unwrap();
    let me = sb.client(sandbox::ALICE_TOKEN).unwrap().me().unwrap();
    assert_eq!(me.organization.aignostics_bucket_protocol, "s3");
    let b = sb.bucket(sandbox::ALICE_TOKEN).unwrap();
    let (dir, path) = test_file("sb.svs", 11 * MIB + 5, 21);
    let data = std::fs::read(&path).unwrap();
    let report = b
        .upload(&path, "alice/sb.svs")
        .part_size(PART)
        .multipart_threshold(PART)
        .send()
        .unwrap();
    assert_eq!(report.outcome, UploadOutcome::Uploaded);
    assert_eq!(report.verification, Verification::CompositeCrc32c);
    let again = b
        .upload(&path, "alice/sb.svs")
        .part_size(PART)
        .send()
        .unwrap();
    assert_eq!(again.outcome, UploadOutcome::AlreadyPresent);
    let (_d, small) = test_file("small.txt", 1000, 22);
    let single = b.upload(&small, "alice/small.txt").send().unwrap();
    assert_eq!(single.verification, Verification::Crc32c);

    let keys: Vec<String> = b
        .list("alice/")
        .unwrap()
        .into_iter()
        .map(|o| o.key)
        .collect();
    assert_eq!(keys, ["alice/sb.svs", "alice/small.txt"]);
    let out = dir.path().join("back");
    let (_, crc) = b.download("alice/sb.svs", &out).unwrap();
    assert_eq!(crc, report.crc32c);
    assert_eq!(std::fs::read(&out).unwrap(), data);

    let url = b.signed_url("alice/sb.svs", DEFAULT_URL_VALIDITY).unwrap();
    let resp = ureq::get(&url)
        .header("Range", "bytes=5242878-5242881")
        .call()
        .unwrap();
    assert_eq!(resp.status(), 206);
    let body = resp.into_body().read_to_vec().unwrap();
    assert_eq!(body, data[5_242_878..5_242_882]);
    let meta = b
        .platform_bucket_metadata("alice/sb.svs", DEFAULT_URL_VALIDITY)
        .unwrap();
    assert_eq!(meta["bucket_name"], sandbox::BUCKET_NAME);

    assert_eq!(b.delete_prefix("alice/").unwrap().len(), 2);
    assert!(b.list("").unwrap().is_empty());
}

// Proves requests without a signature, with another secret, with a changed URL or for
// another bucket are refused with S3's error codes (FR-72).
#[test]
fn refuses_bad_signatures() {
    let sb = Sandbox::start().unwrap();
    let endpoint = sb.bucket_endpoint();
    let unsigned = ureq::get(&format!("{endpoint}/{}/k", sandbox::BUCKET_NAME))
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap();
    assert_eq!(unsigned.status(), 403);
    let wrong = Bucket::builder(&endpoint, sandbox::BUCKET_NAME)
        .credentials(sandbox::BUCKET_KEY_ID, "not-the-secret")
        .build()
        .unwrap();
    let err = wrong.list("").unwrap_err();
    assert_eq!(err.status(), Some(403));
    assert!(err.to_string().contains("SignatureDoesNotMatch"), "{err}");
    assert!(!err.to_string().contains("not-the-secret"));
    let unknown = Bucket::builder(&endpoint, sandbox::BUCKET_NAME)
        .credentials("nobody", sandbox::BUCKET_SECRET)
        .build()
        .unwrap();
    assert!(
        unknown
            .list("")
            .unwrap_err()
            .to_string()
            .contains("InvalidAccessKeyId")
    );
    let other = Bucket::builder(&endpoint, "other-bucket")
        .credentials(sandbox::BUCKET_KEY_ID, sandbox::BUCKET_SECRET)
        .build()
        .unwrap();
    assert_eq!(other.list("").unwrap_err().status(), Some(404));
    let good = sb.bucket(sandbox::ALICE_TOKEN).unwrap();
    let url = good
        .signed_url("k", Duration::from_secs(60))
        .unwrap()
        .replace("/k?", "/k2?");
    let changed = ureq::get(&url)
        .config()
        .http_status_as_error(false)
        .build()
        .call()
        .unwrap();
    assert_eq!(changed.status(), 403);
}

// Proves an upload to the sandbox cut by dropped connections resumes without resending a
// stored part (FR-69, FR-72).
#[test]
fn resumes_against_the_sandbox() {
    let sb = Sandbox::start().unwrap();
    let proxy = FaultProxy::start(sb.base_url());
    let me = sb.client(sandbox::ALICE_TOKEN).unwrap().me().unwrap();
    let b = Bucket::from_me_at(&me, &format!("{}/s3", proxy.endpoint())).unwrap();
    let (_dir, path) = test_file("resume.svs", 3 * PART as usize + 10, 23);
    proxy.set(|s, _| match s.part_number() {
        Some(3) => Fault::DropAfter(1000),
        _ => Fault::Pass,
    });
    let err = b
        .upload(&path, "k/resume.svs")
        .part_size(PART)
        .multipart_threshold(PART)
        .concurrency(1)
        .attempts(2)
        .send()
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    proxy.clear();
    proxy.pass();
    let report = b
        .upload(&path, "k/resume.svs")
        .part_size(PART)
        .multipart_threshold(PART)
        .send()
        .unwrap();
    assert_eq!(report.outcome, UploadOutcome::Resumed);
    assert_eq!(report.parts_reused, 2);
    let mut sent = proxy.part_puts();
    sent.sort();
    assert_eq!(sent, [3, 4]);
}

// Proves a resumed upload finds its in-progress multipart upload on a later page of the
// store's list (more uploads under the prefix than one page holds): the newest upload's
// stored parts are reused, not an older upload found on page one (FR-85).
#[test]
fn resume_follows_the_upload_list_markers() {
    let sb = Sandbox::builder().bucket_list_page(2).start().unwrap();
    let me = sb.client(sandbox::ALICE_TOKEN).unwrap().me().unwrap();
    let proxy = FaultProxy::start(sb.base_url());
    let b = Bucket::from_me_at(&me, &format!("{}/s3", proxy.endpoint())).unwrap();
    let (_dir, path) = test_file("paged.svs", 2 * PART as usize + 3, 41);
    // The answers to the first four creates are lost, so four abandoned uploads of the key
    // are made before the fifth, which stores parts 1 and 2 before part 3 is refused.
    let creates = Arc::new(AtomicUsize::new(0));
    let c = Arc::clone(&creates);
    proxy.set(move |s, _| {
        let create = s.method == "POST" && !s.target.contains("uploadId=");
        if create && c.fetch_add(1, Ordering::SeqCst) < 4 {
            return Fault::Lost;
        }
        if s.part_number() == Some(3) {
            Fault::Status(400)
        } else {
            Fault::Pass
        }
    });
    let send = |attempts| {
        b.upload(&path, "alice/paged.svs")
            .part_size(PART)
            .multipart_threshold(PART)
            .concurrency(1)
            .attempts(attempts)
            .send()
    };
    assert_eq!(send(5).unwrap_err().status(), Some(400));
    assert_eq!(creates.load(Ordering::SeqCst), 5);
    proxy.pass();
    let report = send(1).unwrap();
    assert_eq!(report.outcome, UploadOutcome::Resumed);
    assert_eq!(
        report.parts_reused, 2,
        "the newest upload's parts are found"
    );
}
