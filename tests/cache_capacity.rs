//! The operation cache's bound (its own test binary: it resizes the process-wide cache).

use aignostics::{Client, Settings, TokenProvider, cache};
use httpmock::prelude::*;

// Proves the first client sizes the cache from its settings (AIGNOSTICS_OPERATION_CACHE_SIZE), and
// the LRU never holds more entries than its capacity and evicts the least recently used. (FR-14, FR-18)
#[test]
fn lru_never_exceeds_capacity() {
    let server = MockServer::start();
    let apps = server.mock(|when, then| {
        when.method(GET).path_matches("^/api/v1/applications/app-[0-9]+$");
        then.status(200).body(
            r#"{"application_id":"x","name":"X","regulatory_classes":[],"description":"d","versions":[]}"#,
        );
    });
    let mut settings = Settings::default()
        .with_api_root(&server.base_url())
        .unwrap();
    settings.application = settings.application.clone().no_wait(1);
    settings.operation_cache_size = 12;
    let client = Client::builder()
        .settings(settings)
        .token_provider(TokenProvider::fixed("tok-capacity"))
        .build()
        .unwrap();
    assert_eq!(
        cache::capacity(),
        12,
        "the first client's setting sizes the cache"
    );
    cache::clear();
    cache::set_capacity(8);
    assert_eq!(cache::capacity(), 8);
    for i in 0..50 {
        client.application(&format!("app-{i}")).unwrap();
        assert!(cache::len() <= 8, "len {} after {i}", cache::len());
    }
    assert_eq!(cache::len(), 8);
    assert_eq!(apps.calls(), 50);
    // The 8 most recent are cached; the oldest was evicted.
    client.application("app-49").unwrap();
    assert_eq!(apps.calls(), 50);
    client.application("app-0").unwrap();
    assert_eq!(apps.calls(), 51);
    assert_eq!(cache::clear(), 8);
    assert_eq!(cache::len(), 0);
}
