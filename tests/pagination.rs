//! Lazy paging of list operations: how many requests are made, when, and with which page.

mod common;

use common::*;
use httpmock::prelude::*;
use serde_json::{Value, json};

fn apps(range: std::ops::Range<usize>) -> Value {
    let template = fixture("ApplicationReadShortResponse");
    Value::Array(
        range
            .map(|i| {
                let mut app = template.clone();
                app["application_id"] = json!(format!("app-{i:02}"));
                app
            })
            .collect(),
    )
}

/// Mocks the three pages of 47 applications in pages of 20.
fn mock_47_apps(server: &MockServer) -> [httpmock::Mock<'_>; 3] {
    [(1, 0..20), (2, 20..40), (3, 40..47)].map(|(page, range)| {
        server.mock(|when, then| {
            when.method(GET)
                .path("/api/v1/applications")
                .query_param("page", page.to_string())
                .query_param("page-size", "20");
            then.status(200).json_body(apps(range));
        })
    })
}

#[test]
fn forty_seven_applications_take_three_requests() {
    // Proves 47 applications in pages of 20 are fetched with exactly 3 requests, in order. (FR-34, FR-23)
    let server = MockServer::start();
    let (client, _) = client(&server, "pg-47");
    let pages = mock_47_apps(&server);
    let ids: Vec<String> = client
        .applications()
        .list()
        .page_size(20)
        .iter()
        .map(|a| a.unwrap().application_id)
        .collect();
    assert_eq!(ids.len(), 47);
    assert_eq!(ids.first().map(String::as_str), Some("app-00"));
    assert_eq!(ids.last().map(String::as_str), Some("app-46"));
    for page in &pages {
        page.assert_calls(1);
    }
}

#[test]
fn pages_are_fetched_lazily_and_break_stops_fetching() {
    // Proves no request is made before the first item is asked for, and a break after page 1 fetches no more. (FR-34)
    let server = MockServer::start();
    let (client, _) = client(&server, "pg-lazy");
    let pages = mock_47_apps(&server);
    let mut iter = client.applications().list().page_size(20).iter();
    assert_eq!(pages[0].calls(), 0);
    let mut seen = 0;
    for app in iter.by_ref() {
        app.unwrap();
        seen += 1;
        if seen == 20 {
            break;
        }
    }
    assert_eq!(pages[0].calls(), 1);
    assert_eq!(pages[1].calls(), 0);
    // Asking for the 21st item fetches page 2, and only page 2.
    iter.next().unwrap().unwrap();
    assert_eq!(pages[1].calls(), 1);
    assert_eq!(pages[2].calls(), 0);
}

#[test]
fn list_ending_on_a_page_boundary_stops_at_the_empty_page() {
    // Proves a list of exactly two full pages ends after one more (empty) page. (FR-34)
    let server = MockServer::start();
    let (client, _) = client(&server, "pg-boundary");
    let full: Vec<_> = (1..=2)
        .map(|page| {
            server.mock(|when, then| {
                when.method(GET)
                    .path("/api/v1/runs")
                    .query_param("page", page.to_string())
                    .query_param("page_size", "5");
                // Distinct runs per page, as a server that honours `page` answers.
                let runs: Vec<_> = (0..5)
                    .map(|i| {
                        let mut run = fixture("RunReadResponse");
                        run["run_id"] = json!(format!("run-{page}-{i}"));
                        run
                    })
                    .collect();
                then.status(200).json_body(json!(runs));
            })
        })
        .collect();
    let empty = server.mock(|when, then| {
        when.method(GET)
            .path("/api/v1/runs")
            .query_param("page", "3");
        then.status(200).json_body(json!([]));
    });
    let count = client
        .runs()
        .list()
        .page_size(5)
        .iter()
        .map(Result::unwrap)
        .count();
    assert_eq!(count, 10);
    for m in &full {
        m.assert_calls(1);
    }
    empty.assert_calls(1);
}

#[test]
fn page_size_out_of_range_makes_no_request() {
    // Proves page sizes outside 5..=100 are rejected by every list before any request. (FR-34)
    let server = MockServer::start();
    let (client, _) = client(&server, "pg-range");
    let any = server.mock(|when, then| {
        when.any_request();
        then.status(200).json_body(json!([]));
    });
    let run = client.run(RUN_ID);
    for bad in [0u32, 4, 101] {
        let errors: Vec<Option<aignostics::Result<()>>> = vec![
            client
                .applications()
                .list()
                .page_size(bad)
                .iter()
                .next()
                .map(|r| r.map(drop)),
            client
                .runs()
                .list()
                .page_size(bad)
                .iter()
                .next()
                .map(|r| r.map(drop)),
            run.items()
                .page_size(bad)
                .iter()
                .next()
                .map(|r| r.map(drop)),
            client
                .grants()
                .list()
                .page_size(bad)
                .iter()
                .next()
                .map(|r| r.map(drop)),
            client
                .share_tokens()
                .list()
                .page_size(bad)
                .iter()
                .next()
                .map(|r| r.map(drop)),
            run.share_grants()
                .page_size(bad)
                .iter()
                .next()
                .map(|r| r.map(drop)),
        ];
        for first in errors {
            let err = first.expect("an error is yielded").unwrap_err();
            assert!(matches!(err, aignostics::Error::InvalidInput(_)), "{err}");
            assert!(err.to_string().contains("page_size"), "{err}");
        }
    }
    any.assert_calls(0);
}

#[test]
fn pages_are_cached_per_user() {
    // Proves iterating the same list twice within the TTL reads each page from the cache. (FR-12)
    let server = MockServer::start();
    let (client, _) = client(&server, "pg-cache");
    let page = server.mock(|when, then| {
        when.method(GET).path("/api/v1/access/share-tokens");
        then.status(200)
            .json_body(json!([fixture("ShareTokenReadResponse")]));
    });
    for _ in 0..2 {
        let n = client
            .share_tokens()
            .list()
            .iter()
            .map(Result::unwrap)
            .count();
        assert_eq!(n, 1);
    }
    page.assert_calls(1);
    // The nocache view goes to the server again.
    client.nocache().share_tokens().list().iter().for_each(|r| {
        r.unwrap();
    });
    page.assert_calls(2);
}
