//! `aignostics bucket` as a child process against moto: an upload killed with SIGKILL
//! mid-way resumes on the next run without sending a stored part again.

#[path = "../../tests/bucket_support/mod.rs"]
mod bucket_support;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use bucket_support::*;

const BIN: &str = env!("CARGO_BIN_EXE_aignostics");

fn cli(endpoint: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(BIN);
    cmd.args(args)
        .args(["--endpoint", endpoint, "--bucket", "slides"])
        .env("AIGNOSTICS_BUCKET_ACCESS_KEY_ID", KEY_ID)
        .env("AIGNOSTICS_BUCKET_SECRET_ACCESS_KEY", SECRET)
        .env_remove("AIGNOSTICS_ACCESS_TOKEN")
        .stdin(Stdio::null());
    cmd
}

// Proves an upload killed (SIGKILL) while parts are in flight is resumed by running the same
// command again: no stored part is sent twice, only the one in flight at the kill may be, and
// the object equals the file; a third run sends nothing; deleting a prefix asks for --yes
// first (FR-69, FR-71).
#[test]
fn killed_upload_resumes_with_the_same_command() {
    let Some(moto) = Moto::start() else { return };
    moto.create_bucket("slides");
    let proxy = FaultProxy::start(&moto.endpoint());
    let endpoint = proxy.endpoint();
    let (dir, path) = test_file("killed.svs", 4 * 5 * MIB + 77, 11);
    let file = path.to_str().unwrap();
    let upload = [
        "--json",
        "bucket",
        "upload",
        file,
        "--part-size",
        "5",
        "--concurrency",
        "1",
        "--key-template",
        "runs/{name}",
    ];
    // Slow parts, so the kill lands mid-upload.
    proxy.set(|s, _| {
        if s.part_number().is_some() {
            std::thread::sleep(Duration::from_millis(300));
        }
        Fault::Pass
    });
    let mut child = cli(&endpoint, &upload)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while proxy.part_puts().len() < 3 {
        assert!(Instant::now() < deadline, "the upload never reached part 3");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the upload ended early"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let first = proxy.part_puts();
    let in_flight = *first.last().unwrap();

    proxy.clear();
    proxy.pass();
    let out = cli(&endpoint, &upload).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report[0]["outcome"], "resumed", "{report}");
    assert_eq!(report[0]["key"], "runs/killed.svs");
    let data = std::fs::read(&path).unwrap();
    assert_eq!(
        report[0]["crc32c"],
        aignostics::checksum::crc32c_base64(&data)
    );
    let second = proxy.part_puts();
    for n in &second {
        assert!(
            !first.contains(n) || *n == in_flight,
            "part {n} was stored before the kill and sent again: {first:?} then {second:?}"
        );
    }
    assert_eq!(
        report[0]["parts_reused"].as_u64().unwrap() as usize + second.len(),
        5
    );

    proxy.clear();
    let again = cli(&endpoint, &upload).output().unwrap();
    let again: serde_json::Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(again[0]["outcome"], "present");
    assert_eq!(proxy.body_puts(), 0);

    let back = dir.path().join("back.svs");
    let out = cli(
        &endpoint,
        &[
            "bucket",
            "download",
            "runs/killed.svs",
            back.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&back).unwrap(), data);
    let listed = cli(&endpoint, &["--json", "bucket", "ls", "runs/"])
        .output()
        .unwrap();
    let listed: serde_json::Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["key"], "runs/killed.svs");
    // Without --yes a prefix delete only lists what it would delete.
    let refused = cli(&endpoint, &["bucket", "delete", "--prefix", "runs/"])
        .output()
        .unwrap();
    assert_eq!(refused.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("would delete runs/killed.svs") && stderr.contains("--yes"),
        "{stderr}"
    );
    let deleted = cli(
        &endpoint,
        &["bucket", "delete", "--prefix", "runs/", "--yes"],
    )
    .output()
    .unwrap();
    assert!(String::from_utf8_lossy(&deleted.stdout).contains("deleted runs/killed.svs"));
    let err = cli(&endpoint, &["bucket", "url", "runs/x", "--days", "8"])
        .output()
        .unwrap();
    assert_eq!(err.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&err.stderr);
    assert!(
        stderr.contains("7 days") && !stderr.contains(SECRET),
        "{stderr}"
    );
}
