//! `cohort::Cohort` against the in-process sandbox: batches as runs with the platform as the
//! ledger, shards, the version pinned by the first run, a quota refusal in the middle, a
//! changed source refused, retries of failed slides, and the status every machine sees.
#![cfg(all(feature = "slides", feature = "bucket"))]

mod local;
mod slides_support;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use aignostics::cohort::{self, Cohort, Progress, Shard, SlideState};
use aignostics_sandbox::{self as sandbox, Fault, Sandbox};
use local::Scratch;
use slides_support::{HE_TME_MAPPING, generic, numbered, sandbox_slides};

fn platform(processing: Duration) -> Sandbox {
    Sandbox::builder()
        .processing_time(processing)
        .artifact_size(1024)
        .start()
        .unwrap()
}

/// The cohort `name` of the slides in `dir/slides`, in batches of `batch_size`.
fn study<'a>(
    client: &'a aignostics::Client,
    platform: &Sandbox,
    dir: &Path,
    name: &str,
    batch_size: usize,
) -> Cohort<'a> {
    Cohort::new(name, sandbox_slides(client, platform, &dir.join("slides")))
        .unwrap()
        .batch_size(batch_size)
}

/// Each external id with the runs it is in, from the sandbox's own records.
fn items_by_slide(client: &aignostics::Client) -> BTreeMap<String, Vec<String>> {
    let mut by_slide: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for run in client.nocache().runs().list().iter() {
        let run = run.unwrap();
        for item in client.nocache().run(&run.run_id).items().iter() {
            by_slide
                .entry(item.unwrap().external_id)
                .or_default()
                .push(run.run_id.clone());
        }
    }
    by_slide
}

// Proves a cohort is cut into batches of runs with the cohort's record, shards split the batches, a second call submits nothing, and the status agrees with the platform's records. (FR-98, FR-99)
#[test]
fn shards_cover_every_batch_once() {
    let dir = Scratch::new("cohort-shards");
    numbered(&dir.join("slides"), 23);
    let platform = platform(Duration::ZERO);
    let client = platform.client(sandbox::ALICE_TOKEN).unwrap();
    // Batches of 5, 5, 5, 5 and 3 slides: each shard reads only its own batches' slides.
    for (k, reads) in [(0, 10), (1, 8), (2, 5)] {
        let read = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&read);
        let report = study(&client, &platform, &dir, "study-1", 5)
            .shard(Shard::new(k, 3).unwrap())
            .on_progress(move |step| {
                if let Progress::Slides(aignostics::pipeline::Progress::Inspected {
                    slides, ..
                }) = step
                {
                    seen.lock().unwrap().push(*slides);
                }
            })
            .submit()
            .unwrap();
        assert_eq!((report.slides, report.batches), (23, 5));
        let expected: Vec<usize> = (0..5).filter(|b| b % 3 == k as usize).collect();
        assert_eq!(report.owned, expected);
        assert_eq!(report.submitted.len(), expected.len(), "{report:?}");
        assert_eq!(*read.lock().unwrap(), [reads], "shard {k}");
    }
    let by_slide = items_by_slide(&client);
    assert_eq!(by_slide.len(), 23);
    assert!(
        by_slide.values().all(|runs| runs.len() == 1),
        "{by_slide:?}"
    );
    // Batches are the slides in order: batch 0 holds s-000 to s-004.
    let runs = cohort::runs(&client, "study-1").unwrap();
    assert_eq!(runs.len(), 5);
    let first = runs.iter().find(|r| r.batch == 0).unwrap();
    let ids: BTreeSet<String> = client
        .run(&first.run_id)
        .items()
        .iter()
        .map(|i| i.unwrap().external_id)
        .collect();
    assert_eq!(ids, (0..5).map(|i| format!("s-{i:03}.tif")).collect());
    assert_eq!(first.definition.batch_size, 5);
    assert_eq!(first.definition.mappings, [HE_TME_MAPPING]);

    // Again, unsharded: everything is there, nothing is submitted or uploaded.
    platform.reset_requests();
    let again = study(&client, &platform, &dir, "study-1", 5)
        .submit()
        .unwrap();
    assert!(again.submitted.is_empty());
    assert_eq!(again.existing.len(), 5);
    assert_eq!(platform.request_count("/s3/"), 0, "no upload");
    assert!(
        platform
            .requests()
            .iter()
            .all(|r| !(r.method == "POST" && r.path == "/api/v1/runs")),
        "no submission"
    );

    let status = cohort::status(&client, "study-1").unwrap();
    let totals = status.totals();
    assert_eq!((totals.slides, totals.succeeded), (23, 23), "{totals:?}");
    assert!(status.is_finished() && status.missing_batches.is_empty());
    for slide in &status.slides {
        assert_eq!(
            by_slide[&slide.external_id],
            std::slice::from_ref(&slide.run_id)
        );
        assert!(slide.results_until.is_some(), "{slide:?}");
    }
    assert_eq!(status.version_number(), Some("1.1.0"));
}

// Proves the version is pinned by the cohort's first run: a version released between two invocations does not change it, asking for another is refused, and so is another batch size. (FR-98)
#[test]
fn the_first_run_pins_the_version() {
    let dir = Scratch::new("cohort-version");
    numbered(&dir.join("slides"), 4);
    let platform = platform(Duration::ZERO);
    let client = platform.client(sandbox::ALICE_TOKEN).unwrap();
    let cohort = |shard: u32, version: Option<&str>| {
        let mut chain = sandbox_slides(&client, &platform, &dir.join("slides"));
        if let Some(v) = version {
            chain = chain.version(v);
        }
        Cohort::new("pinned", chain)
            .unwrap()
            .batch_size(2)
            .shard(Shard::new(shard, 2).unwrap())
    };
    // The first invocation takes the latest version, 1.1.0.
    assert_eq!(cohort(0, None).submit().unwrap().version_number, "1.1.0");
    platform
        .release("he-tme", sandbox::CatalogVersion::standard("1.2.0"))
        .unwrap();
    let latest = client
        .nocache()
        .application_version("he-tme", None)
        .unwrap();
    assert_eq!(latest.version_number, "1.2.0", "released");
    // The next invocation, asking for no version, stays on the cohort's.
    let report = cohort(1, None).submit().unwrap();
    assert_eq!(report.version_number, "1.1.0");
    let versions: BTreeSet<String> = cohort::runs(&client, "pinned")
        .unwrap()
        .into_iter()
        .map(|r| r.version_number)
        .collect();
    assert_eq!(versions, BTreeSet::from(["1.1.0".to_string()]));
    let err = cohort(1, Some("1.2.0")).submit().unwrap_err().to_string();
    assert!(err.contains("pinned to he-tme 1.1.0"), "{err}");
    // Another batch size would cut other batches: refused, naming the one to use.
    let err = study(&client, &platform, &dir, "pinned", 3)
        .submit()
        .unwrap_err()
        .to_string();
    assert!(err.contains("--batch-size 2"), "{err}");
}

// Proves a quota refusal stops the submission with what is on the platform and what remains, and a later call completes the cohort. (FR-100)
#[test]
fn a_quota_refusal_stops_and_a_later_call_continues() {
    let dir = Scratch::new("cohort-quota");
    numbered(&dir.join("slides"), 9);
    let platform = Arc::new(platform(Duration::ZERO));
    let client = platform.client(sandbox::ALICE_TOKEN).unwrap();
    let seen = Arc::clone(&platform);
    // After the first batch is on the platform, the platform refuses the next run.
    let report = study(&client, &platform, &dir, "quota", 3)
        .on_progress(move |step| {
            if let Progress::Batch { batch: 0, .. } = step {
                seen.inject(Fault::status("/api/v1/runs", 403).method("POST").times(1));
            }
        })
        .submit()
        .unwrap();
    let refusal = report.refused.as_ref().expect("refused");
    assert_eq!(refusal.batch, 1);
    assert_eq!(refusal.error.status(), Some(403));
    assert_eq!((report.on_platform(), report.remaining()), (1, 2));
    assert_eq!(items_by_slide(&client).len(), 3);

    let report = study(&client, &platform, &dir, "quota", 3)
        .submit()
        .unwrap();
    assert!(report.refused.is_none());
    assert_eq!((report.existing.len(), report.submitted.len()), (1, 2));
    let by_slide = items_by_slide(&client);
    assert_eq!(by_slide.len(), 9);
    assert!(by_slide.values().all(|runs| runs.len() == 1));
}

// Proves batches are cut from the listing: a slide that cannot be read is reported and leaves its batch smaller, while the other batches keep their slides. (FR-98)
#[test]
fn an_unreadable_slide_leaves_its_batch_smaller() {
    let dir = Scratch::new("cohort-unreadable");
    numbered(&dir.join("slides"), 6);
    std::fs::write(dir.join("slides/s-002.tif"), b"not a slide at all").unwrap();
    let platform = platform(Duration::ZERO);
    let client = platform.client(sandbox::ALICE_TOKEN).unwrap();
    let report = study(&client, &platform, &dir, "holes", 2)
        .submit()
        .unwrap();
    assert_eq!((report.slides, report.batches), (6, 3));
    assert_eq!(report.slide_errors.len(), 1, "{report:?}");
    assert!(report.slide_errors[0].message.contains("s-002.tif"));
    let runs = cohort::runs(&client, "holes").unwrap();
    let batch = |b: usize| -> BTreeSet<String> {
        let run = runs.iter().find(|r| r.batch == b).unwrap();
        client
            .run(&run.run_id)
            .items()
            .iter()
            .map(|i| i.unwrap().external_id)
            .collect()
    };
    assert_eq!(batch(1), BTreeSet::from(["s-003.tif".to_string()]));
    assert_eq!(
        batch(2),
        BTreeSet::from(["s-004.tif".to_string(), "s-005.tif".to_string()])
    );
    // The platform's records say which slide the batch went without: the cohort is finished,
    // with one slide to retry, and a retry once it is readable completes it.
    let status = cohort::status(&client, "holes").unwrap();
    assert!(status.is_finished());
    let totals = status.totals();
    assert_eq!(
        (totals.unreadable, totals.succeeded, totals.not_submitted),
        (1, 5, 0)
    );
    assert_eq!(
        status
            .failed()
            .map(|s| s.external_id.as_str())
            .collect::<Vec<_>>(),
        ["s-002.tif"]
    );
    numbered(&dir.join("fixed"), 3);
    std::fs::rename(dir.join("fixed/s-002.tif"), dir.join("slides/s-002.tif")).unwrap();
    let retried = study(&client, &platform, &dir, "holes", 2)
        .retry_failed()
        .unwrap();
    assert_eq!((retried.round, retried.submitted.len()), (1, 1));
    let totals = cohort::status(&client, "holes").unwrap().totals();
    assert_eq!((totals.unreadable, totals.succeeded), (0, 6));
}

// Proves a source that changed after the cohort started is refused before anything is sent, and a slide changed in place too. (FR-98)
#[test]
fn a_changed_source_is_refused() {
    let dir = Scratch::new("cohort-changed");
    numbered(&dir.join("slides"), 4);
    let platform = platform(Duration::ZERO);
    let client = platform.client(sandbox::ALICE_TOKEN).unwrap();
    study(&client, &platform, &dir, "changing", 2)
        .shard(Shard::new(0, 2).unwrap())
        .submit()
        .unwrap();
    // A slide added before s-000 shifts every batch.
    generic(999, 800, 40_000, 1, 3)
        .tile(256)
        .write(&dir.join("slides/a-first.tif"));
    platform.reset_requests();
    let err = study(&client, &platform, &dir, "changing", 2)
        .submit()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("batch 0 of round 0") && err.contains("new cohort"),
        "{err}"
    );
    assert_eq!(platform.request_count("/s3/"), 0, "nothing uploaded");
    assert_eq!(items_by_slide(&client).len(), 2);
}

// Proves retry submits exactly the failed slides in a new round, twice in a row submits nothing the second time, and status follows each slide's latest run. (FR-99)
#[test]
fn retry_submits_exactly_the_failed_slides() {
    let dir = Scratch::new("cohort-retry");
    numbered(&dir.join("slides"), 10);
    let platform = platform(Duration::ZERO);
    let client = platform.client(sandbox::ALICE_TOKEN).unwrap();
    let cohort = || study(&client, &platform, &dir, "retried", 4);
    platform.fail_items(["s-002.tif", "s-007.tif"]);
    cohort().submit().unwrap();
    let status = cohort::status(&client, "retried").unwrap();
    let failed: BTreeSet<&str> = status.failed().map(|s| s.external_id.as_str()).collect();
    assert_eq!(failed, BTreeSet::from(["s-002.tif", "s-007.tif"]));
    let record = status.failed().next().unwrap();
    assert_eq!(record.error_code.as_deref(), Some("SANDBOX_INPUT_UNUSABLE"));
    assert!(
        record
            .error_message
            .as_deref()
            .unwrap()
            .contains("fail_items")
    );
    assert!(status.is_finished());

    // The failure was transient.
    platform.fail_items(Vec::<String>::new());
    let steps = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&steps);
    let retried = cohort()
        .on_progress(move |step| {
            if let Progress::Slides(aignostics::pipeline::Progress::Inspected { slides, .. }) = step
            {
                seen.lock().unwrap().push(*slides);
            }
        })
        .retry_failed()
        .unwrap();
    assert_eq!(
        *steps.lock().unwrap(),
        [2],
        "only the failed slides are read again"
    );
    assert_eq!(
        (retried.round, retried.submitted.len(), retried.slides),
        (1, 1, 2)
    );
    let ids: BTreeSet<String> = client
        .run(&retried.submitted[0].run_id)
        .items()
        .iter()
        .map(|i| i.unwrap().external_id)
        .collect();
    assert_eq!(
        ids,
        BTreeSet::from(["s-002.tif".into(), "s-007.tif".into()])
    );

    let again = cohort().retry_failed().unwrap();
    assert_eq!((again.batches, again.submitted.len()), (0, 0), "{again:?}");
    let status = cohort::status(&client, "retried").unwrap();
    assert_eq!(status.totals().succeeded, 10);
    assert!(
        status
            .slides
            .iter()
            .all(|s| s.state == SlideState::Succeeded)
    );
    let retried_slide = status
        .slides
        .iter()
        .find(|s| s.external_id == "s-007.tif")
        .unwrap();
    assert_eq!(retried_slide.round, 1);
    let by_slide = items_by_slide(&client);
    assert_eq!(
        by_slide["s-007.tif"].len(),
        2,
        "the failed run and its retry"
    );
    assert_eq!(by_slide["s-001.tif"].len(), 1);
}

// Proves cancel stops the cohort's runs still going (dry run first), and submit then submits their batches again. (FR-99)
#[test]
fn cancel_then_submit_again() {
    let dir = Scratch::new("cohort-cancel");
    numbered(&dir.join("slides"), 4);
    let platform = platform(Duration::from_secs(3600));
    let client = platform.client(sandbox::ALICE_TOKEN).unwrap();
    let cohort = || study(&client, &platform, &dir, "cancelled", 2);
    cohort().submit().unwrap();
    let status = cohort::status(&client, "cancelled").unwrap();
    assert!(!status.is_finished());
    assert_eq!(status.totals().pending + status.totals().processing, 4);
    let would = cohort::cancel(&client, "cancelled", true).unwrap();
    assert_eq!(would.len(), 2);
    assert!(!cohort::status(&client, "cancelled").unwrap().is_finished());
    assert_eq!(cohort::cancel(&client, "cancelled", false).unwrap(), would);
    let status = cohort::status(&client, "cancelled").unwrap();
    assert_eq!(status.totals().skipped, 4);
    assert_eq!(status.missing_batches, [0, 1]);
    let report = cohort().submit().unwrap();
    assert_eq!(report.submitted.len(), 2, "{report:?}");
    assert_eq!(
        cohort::status(&client, "cancelled")
            .unwrap()
            .totals()
            .pending,
        4
    );
}
