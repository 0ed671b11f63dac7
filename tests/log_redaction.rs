//! What the crate logs when things go wrong, captured with a logger of our own (its own test
//! binary: a process has one logger).

mod scripted;
mod support;

use std::sync::Mutex;

use aignostics::auth::{ClientCredentials, provider_from};
use aignostics::{Client, DownloadOptions, Settings, TokenProvider};
use scripted::{Reply, Scripted, me_json};
use support::{Blob, Pattern, Platform, artifact_json, item_json};

const BEARER: &str = "tok-logleak-bearer-value";
const CLIENT_SECRET: &str = "logleak-client-secret-value";
/// The query of the test platform's signed storage URLs.
const SIGNATURE: &str = "X-Goog-Signature";

static RECORDS: Mutex<Vec<String>> = Mutex::new(Vec::new());

struct Capture;

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata<'_>) -> bool {
        true
    }

    fn log(&self, record: &log::Record<'_>) {
        // The crate's own lines only: the HTTP library's debug and trace lines show request
        // URLs and raw bytes, which is why the guide says to keep them off in production.
        if record.target().starts_with("aignostics") {
            RECORDS
                .lock()
                .unwrap()
                .push(format!("{} {}", record.level(), record.args()));
        }
    }

    fn flush(&self) {}
}

/// The records logged since the last call.
fn take_records() -> Vec<String> {
    std::mem::take(&mut *RECORDS.lock().unwrap())
}

// Proves the crate's log lines of retries, failed token requests and failed downloads name what
// failed but never the bearer token (even when the server echoes it), the client secret or the
// signed URL's signature; and that a provider's empty token is warned about once, not per call.
// (NFR-05, NFR-08, FR-01)
#[test]
fn log_lines_carry_no_secrets() {
    log::set_logger(&Capture).unwrap();
    log::set_max_level(log::LevelFilter::Trace);

    // A read retried after two 503s whose detail echoes the bearer token.
    let echo = format!(r#"{{"detail":"token {BEARER} is overloaded"}}"#);
    let server = Scripted::start([
        Reply::json(503, &echo),
        Reply::json(503, &echo),
        Reply::json(200, &me_json("logged-user")),
    ]);
    let mut settings = Settings::default()
        .with_api_root(&server.base_url())
        .unwrap();
    settings.me = settings.me.clone().no_wait(3);
    let client = Client::builder()
        .settings(settings)
        .token_provider(TokenProvider::fixed(BEARER))
        .build()
        .unwrap();
    assert_eq!(client.me().unwrap().user.id, "logged-user");
    let retries = take_records();
    assert_eq!(
        retries.iter().filter(|r| r.contains("retrying")).count(),
        2,
        "{retries:?}"
    );

    // A machine-credentials provider whose token request fails once (retried, logged) and is
    // then refused, both answers echoing the client secret it was sent.
    let echoed = format!(
        r#"{{"error":"access_denied","error_description":"Unauthorized: client_secret={CLIENT_SECRET}"}}"#
    );
    let identity = Scripted::start([Reply::json(503, &echoed), Reply::json(401, &echoed)]);
    let credentials = ClientCredentials::new(
        format!("{}/oauth/token", identity.base_url()),
        "m2m-client",
        CLIENT_SECRET,
        "https://aignostics-platform-samia",
    )
    .retry(&Settings::default().auth_operation.no_wait(2));
    assert_eq!(provider_from(credentials).token(), "");
    assert!(
        identity.received()[0]
            .body
            .windows(CLIENT_SECRET.len())
            .any(|w| w == CLIENT_SECRET.as_bytes()),
        "the secret was sent to the identity provider"
    );
    let refused = take_records();
    assert!(
        refused
            .iter()
            .any(|r| r.contains("retrying") && r.contains("access_denied")),
        "{refused:?}"
    );
    assert!(
        refused.iter().any(|r| r.contains("HTTP 401")),
        "{refused:?}"
    );

    // A download whose storage host keeps failing.
    let data = Pattern::pseudo_random(5, 4096);
    let platform = Platform::start("run-logs");
    platform.items(vec![item_json(
        "slide-1",
        vec![artifact_json(
            "a1",
            "result",
            "application/json",
            Some(&data.checksum()),
        )],
    )]);
    let mut blob = Blob::new(data);
    blob.statuses = [503; 10].into();
    platform.blob("a1", blob);
    let mut settings = Settings::default()
        .with_api_root(&platform.base_url())
        .unwrap();
    settings.run = settings.run.clone().no_wait(3);
    let downloader = Client::builder()
        .settings(settings)
        .token_provider(TokenProvider::fixed(BEARER))
        .build()
        .unwrap();
    let dir = std::env::temp_dir().join(format!("aignostics-logs-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let report = downloader
        .run("run-logs")
        .download_to(&dir, &DownloadOptions::default().wait_for_run(false))
        .unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(report.failed.len(), 1, "{report:?}");
    let failed = take_records();
    assert!(
        failed.iter().any(|r| r.contains("could not download")),
        "{failed:?}"
    );
    assert!(platform.storage_requests("a1").len() >= 2);

    for record in retries.iter().chain(&refused).chain(&failed) {
        for secret in [BEARER, CLIENT_SECRET, SIGNATURE] {
            assert!(!record.contains(secret), "{secret} logged: {record}");
        }
    }

    // A provider that returns an empty token: requests go out without a header, one warning.
    let anonymous = Scripted::start([
        Reply::json(200, &me_json("anonymous")),
        Reply::json(200, &me_json("anonymous")),
    ]);
    let mut settings = Settings::default()
        .with_api_root(&anonymous.base_url())
        .unwrap();
    settings.me.cache_ttl = std::time::Duration::ZERO;
    let empty = Client::builder()
        .settings(settings)
        .token_provider(TokenProvider::fixed(""))
        .build()
        .unwrap();
    empty.me().unwrap();
    empty.me().unwrap();
    assert_eq!(anonymous.calls(), 2);
    let warned = take_records();
    assert_eq!(
        warned.iter().filter(|r| r.contains("empty token")).count(),
        1,
        "{warned:?}"
    );
}
