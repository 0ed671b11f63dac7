//! Cached values are shared, not copied: hits hand out the cached value itself, and the latest
//! application version is one cached lookup that still follows mutations, users and `nocache`.

mod scripted;

use std::sync::Arc;

use aignostics::{Client, Settings, TokenProvider};
use httpmock::prelude::*;
use scripted::{fixture, me_json};

const RUN: &str = "3fa85f64-5717-4562-b3fc-2c963f66afa6";

fn client(server: &MockServer, token: &str) -> Client {
    Client::builder()
        .settings(
            Settings::default()
                .with_api_root(&server.base_url())
                .unwrap(),
        )
        .token_provider(TokenProvider::fixed(token))
        .build()
        .unwrap()
}

fn application(versions: &[&str]) -> String {
    let mut app = fixture("ApplicationReadResponse");
    app["application_id"] = "he-tme".into();
    app["versions"] = versions
        .iter()
        .map(|v| serde_json::json!({"number": v, "released_at": "2025-01-01T00:00:00Z"}))
        .collect();
    app.to_string()
}

fn mock_application<'a>(server: &'a MockServer, versions: &[&str]) -> httpmock::Mock<'a> {
    let body = application(versions);
    server.mock(move |when, then| {
        when.method(GET).path("/api/v1/applications/he-tme");
        then.status(200).body(body.as_str());
    })
}

fn mock_version<'a>(server: &'a MockServer, number: &str) -> httpmock::Mock<'a> {
    let mut version = fixture("VersionReadResponse");
    version["version_number"] = number.into();
    let body = version.to_string();
    let path = format!("/api/v1/applications/he-tme/versions/{number}");
    server.mock(move |when, then| {
        when.method(GET).path(path.as_str());
        then.status(200).body(body.as_str());
    })
}

// Proves a cache hit hands out the cached value itself (the same allocation), for `me`, a version by number and the latest version, with one request each. (NFR-22)
#[test]
fn hits_share_the_cached_value() {
    let server = MockServer::start();
    let me_body = me_json("shared-user");
    let me = server.mock(|when, then| {
        when.method(GET).path("/api/v1/me");
        then.status(200).body(me_body.as_str());
    });
    let app = mock_application(&server, &["0.9.0", "1.0.0"]);
    let version = mock_version(&server, "1.0.0");
    let client = client(&server, "tok-shared-values");

    let (a, b) = (client.me().unwrap(), client.me().unwrap());
    assert!(Arc::ptr_eq(&a, &b), "two hits of me() must share one value");
    assert_eq!(a.user.id, "shared-user");

    let by_number = client.application_version("he-tme", Some("1.0.0")).unwrap();
    let again = client.application_version("he-tme", Some("1.0.0")).unwrap();
    assert!(Arc::ptr_eq(&by_number, &again));

    // The latest version is the value cached for its number, found once and then looked up.
    let latest = client.application_version("he-tme", None).unwrap();
    assert!(Arc::ptr_eq(&latest, &by_number));
    let latest_again = client.application_version("he-tme", None).unwrap();
    assert!(Arc::ptr_eq(&latest_again, &latest));
    assert_eq!(latest.version_number, "1.0.0");

    me.assert_calls(1);
    app.assert_calls(1);
    version.assert_calls(1);
}

// Proves the cached latest version is never another user's, is dropped by the user's own mutation and is looked up again through a nocache view. (NFR-22)
#[test]
fn latest_version_follows_users_mutations_and_nocache() {
    let server = MockServer::start();
    let _v1 = mock_version(&server, "1.0.0");
    let _v2 = mock_version(&server, "2.0.0");
    let _v3 = mock_version(&server, "3.0.0");
    let cancel = server.mock(|when, then| {
        when.method(POST).path(format!("/api/v1/runs/{RUN}/cancel"));
        then.status(202);
    });
    let alice = client(&server, "tok-latest-alice");
    let bob = client(&server, "tok-latest-bob");
    let latest = |c: &Client| {
        c.application_version("he-tme", None)
            .unwrap()
            .version_number
            .clone()
    };

    let mut app = mock_application(&server, &["1.0.0"]);
    assert_eq!(latest(&alice), "1.0.0");
    app.delete();
    app = mock_application(&server, &["1.0.0", "2.0.0"]);
    // Alice's answer is cached; Bob's is his own, found afresh.
    assert_eq!(latest(&alice), "1.0.0");
    assert_eq!(latest(&bob), "2.0.0");

    // Alice's mutation drops every entry of hers, the latest version included.
    alice.run(RUN).cancel().unwrap();
    cancel.assert_calls(1);
    assert_eq!(latest(&alice), "2.0.0");

    app.delete();
    let _app = mock_application(&server, &["1.0.0", "2.0.0", "3.0.0"]);
    assert_eq!(latest(&alice), "2.0.0", "still cached");
    assert_eq!(latest(&alice.nocache()), "3.0.0", "nocache looks again");
    // The nocache read wrote what it found, so cached reads see it from now on.
    assert_eq!(latest(&alice), "3.0.0");
    assert_eq!(latest(&bob), "2.0.0", "Bob's entry is his own");
}
