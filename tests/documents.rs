//! Version documents: signed-URL reads that never carry the bearer token, and downloads that
//! never leave a partial file under the final name.

mod common;

use std::path::PathBuf;

use common::*;
use httpmock::prelude::*;
use serde_json::json;

const DOCS: &str = "/api/v1/applications/he-tme/versions/1.0.0/documents";

fn tempdir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(unique_token(label));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Names of the entries of `dir`.
fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn bearer_token_never_reaches_the_storage_host() {
    // Proves content reads and downloads send the bearer to the API but no Authorization header to storage. (FR-25, NFR-07)
    let api = MockServer::start();
    let storage = MockServer::start();
    let (client, token) = client(&api, "doc-bearer");
    for kind in ["content", "file"] {
        api.mock(|when, then| {
            when.method(GET)
                .path(format!("{DOCS}/readme.pdf/{kind}"))
                .header("authorization", bearer(&token));
            then.status(307).header(
                "location",
                storage.url(format!("/bucket/readme.pdf?X-Goog-Signature={kind}")),
            );
        });
    }
    let clean = storage.mock(|when, then| {
        when.method(GET)
            .path("/bucket/readme.pdf")
            .header_missing("authorization")
            .header("accept-encoding", "identity");
        then.status(200).body("PDF");
    });
    let leaked = storage.mock(|when, then| {
        when.header_exists("authorization");
        then.status(500);
    });
    let docs = client.versions().documents("he-tme", Some("1.0.0"));
    assert_eq!(docs.read_content("readme.pdf").unwrap(), b"PDF");
    let dir = tempdir("doc-bearer");
    docs.download_to("readme.pdf", &dir).unwrap();
    clean.assert_calls(2);
    leaked.assert_calls(0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn download_creates_the_directory_and_leaves_only_the_final_file() {
    // Proves download_to creates missing directories, writes dir/{name} and leaves no temporary file. (FR-25, NFR-09)
    let api = MockServer::start();
    let storage = MockServer::start();
    let (client, _) = client(&api, "doc-dir");
    api.mock(|when, then| {
        when.method(GET).path(format!("{DOCS}/ifu.pdf/file"));
        then.status(307)
            .header("location", storage.url("/b/ifu.pdf?sig=1"));
    });
    let body = vec![7u8; 300_000];
    storage.mock(|when, then| {
        when.method(GET).path("/b/ifu.pdf");
        then.status(200).body(body.clone());
    });
    let root = tempdir("doc-dir");
    let dir = root.join("nested").join("docs");
    let path = client
        .versions()
        .documents("he-tme", Some("1.0.0"))
        .download_to("ifu.pdf", &dir)
        .unwrap();
    assert_eq!(path, dir.join("ifu.pdf"));
    assert_eq!(std::fs::read(&path).unwrap(), body);
    assert_eq!(entries(&dir), ["ifu.pdf"]);
    let _ = std::fs::remove_dir_all(&root);
}

#[test]
fn download_refuses_to_overwrite_before_any_request() {
    // Proves an existing target file is an AlreadyExists error, untouched, with no request made. (FR-25)
    let api = MockServer::start();
    let (client, _) = client(&api, "doc-exists");
    let any = api.mock(|when, then| {
        when.any_request();
        then.status(500);
    });
    let dir = tempdir("doc-exists");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("readme.pdf"), b"mine").unwrap();
    let err = client
        .versions()
        .documents("he-tme", Some("1.0.0"))
        .download_to("readme.pdf", &dir)
        .unwrap_err();
    match &err {
        aignostics::Error::Io { path, source } => {
            assert_eq!(path, &dir.join("readme.pdf"));
            assert_eq!(source.kind(), std::io::ErrorKind::AlreadyExists);
        }
        other => panic!("expected an Io error, got {other:?}"),
    }
    assert!(err.to_string().contains("refusing to overwrite"), "{err}");
    assert_eq!(std::fs::read(dir.join("readme.pdf")).unwrap(), b"mine");
    any.assert_calls(0);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn failed_download_leaves_no_file_and_retries_with_fresh_urls() {
    // Proves a storage 503 is retried with a fresh signed URL each time and leaves no file behind. (FR-25, NFR-09)
    let api = MockServer::start();
    let storage = MockServer::start();
    let (client, _) = client_with(settings(&api, 3), "doc-fail");
    let redirect = api.mock(|when, then| {
        when.method(GET).path(format!("{DOCS}/readme.pdf/file"));
        then.status(307).header(
            "location",
            storage.url("/b/readme.pdf?X-Goog-Signature=secret-sig"),
        );
    });
    let blob = storage.mock(|when, then| {
        when.method(GET).path("/b/readme.pdf");
        then.status(503).body("<Error>try later</Error>");
    });
    let dir = tempdir("doc-fail");
    let err = client
        .versions()
        .documents("he-tme", Some("1.0.0"))
        .download_to("readme.pdf", &dir)
        .unwrap_err();
    assert_eq!(err.status(), Some(503));
    assert!(!format!("{err} {err:?}").contains("secret-sig"), "{err:?}");
    redirect.assert_calls(3);
    blob.assert_calls(3);
    assert!(entries(&dir).is_empty(), "{:?}", entries(&dir));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn storage_404_is_not_retried() {
    // Proves a client error from storage fails at once. (FR-25)
    let api = MockServer::start();
    let storage = MockServer::start();
    let (client, _) = client_with(settings(&api, 3), "doc-404");
    let redirect = api.mock(|when, then| {
        when.method(GET).path(format!("{DOCS}/readme.pdf/content"));
        then.status(307)
            .header("location", storage.url("/b/readme.pdf?sig=1"));
    });
    let blob = storage.mock(|when, then| {
        when.method(GET).path("/b/readme.pdf");
        then.status(404);
    });
    let err = client
        .versions()
        .documents("he-tme", Some("1.0.0"))
        .read_content("readme.pdf")
        .unwrap_err();
    assert!(err.is_not_found(), "{err}");
    redirect.assert_calls(1);
    blob.assert_calls(1);
}

#[test]
fn names_are_sanitised_and_cannot_escape_the_directory() {
    // Proves a document name with separators is requested encoded and saved inside dir under a safe name. (FR-25)
    let api = MockServer::start();
    let storage = MockServer::start();
    let (client, _) = client(&api, "doc-sanitise");
    let redirect = api.mock(|when, then| {
        when.method(GET)
            .is_true(raw_path_is(format!("{DOCS}/..%2F..%2Fevil.sh/file")));
        then.status(307)
            .header("location", storage.url("/b/evil?sig=1"));
    });
    storage.mock(|when, then| {
        when.method(GET).path("/b/evil");
        then.status(200).body("x");
    });
    let dir = tempdir("doc-sanitise");
    let path = client
        .versions()
        .documents("he-tme", Some("1.0.0"))
        .download_to("../../evil.sh", &dir)
        .unwrap();
    redirect.assert_calls(1);
    assert_eq!(path.parent(), Some(dir.as_path()));
    assert_eq!(entries(&dir), [".._.._evil.sh"]);
    let err = client
        .versions()
        .documents("he-tme", Some("1.0.0"))
        .download_to("..", &dir)
        .unwrap_err();
    assert!(matches!(err, aignostics::Error::InvalidInput(_)), "{err}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn documents_of_the_latest_version_and_caching() {
    // Proves None resolves the latest version, and document lists are cached while content reads are not. (FR-25, FR-12)
    let api = MockServer::start();
    let storage = MockServer::start();
    let (client, _) = client(&api, "doc-latest");
    let app = api.mock(|when, then| {
        when.method(GET).path("/api/v1/applications/he-tme");
        then.status(200)
            .json_body(fixture("ApplicationReadResponse"));
    });
    let list = api.mock(|when, then| {
        when.method(GET)
            .path("/api/v1/applications/he-tme/versions/1.1.0/documents");
        then.status(200)
            .json_body(json!([fixture("VersionDocumentResponse")]));
    });
    let content = api.mock(|when, then| {
        when.method(GET)
            .path("/api/v1/applications/he-tme/versions/1.1.0/documents/readme.pdf/content");
        then.status(307)
            .header("location", storage.url("/b/r?sig=1"));
    });
    storage.mock(|when, then| {
        when.method(GET).path("/b/r");
        then.status(200).body("r");
    });
    let docs = client.versions().documents("he-tme", None);
    assert_eq!(docs.version(), None);
    assert_eq!(docs.list().unwrap().len(), 1);
    assert_eq!(docs.list().unwrap().len(), 1);
    docs.read_content("readme.pdf").unwrap();
    docs.read_content("readme.pdf").unwrap();
    app.assert_calls(1);
    list.assert_calls(1);
    content.assert_calls(2);
}

#[test]
fn document_details_check_the_version_and_share_hits() {
    // Proves a version that is not semver is refused before any request, and a hit of a
    // document's metadata is the cached value itself, checked once when fetched. (FR-25, NFR-22)
    let api = MockServer::start();
    let (client, _) = client(&api, "doc-details");
    let doc = api.mock(|when, then| {
        when.method(GET).path(format!("{DOCS}/readme.pdf"));
        then.status(200).json_body(json!({
            "id": "doc-1",
            "name": "readme.pdf",
            "mime_type": "application/pdf",
            "visibility": "public",
            "created_at": "2025-01-01T00:00:00Z",
            "updated_at": "2025-01-01T00:00:00Z"
        }));
    });
    let err = client
        .versions()
        .documents("he-tme", Some("1.0"))
        .details("readme.pdf")
        .unwrap_err();
    assert!(matches!(err, aignostics::Error::InvalidInput(_)), "{err}");
    assert_eq!(doc.calls(), 0, "nothing sent for a bad version");
    let documents = client.versions().documents("he-tme", Some("1.0.0"));
    let first = documents.details("readme.pdf").unwrap();
    let again = documents.details("readme.pdf").unwrap();
    assert!(std::sync::Arc::ptr_eq(&first, &again));
    doc.assert_calls(1);
}
