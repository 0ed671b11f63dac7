//! Keeps the async facade complete: every public method of a blocking handler must have an async
//! (or, for accessors and builders, a sync) counterpart of the same name. List builders are not
//! scanned: their filters, blocking and async, are generated from one declaration
//! (`handlers::list`), so they cannot drift.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Blocking handler types that have an async twin of the same name.
const HANDLERS: &[&str] = &[
    "Client",
    "Applications",
    "Versions",
    "Documents",
    "Runs",
    "Run",
    "Artifact",
    "Grants",
    "ShareTokens",
];

/// Blocking methods deliberately without a twin: constructing a blocking client and reaching its
/// engine (the async client is made with `From<Client>`).
const NO_TWIN: &[(&str, &str)] = &[
    ("Client", "new"),
    ("Client", "builder"),
    ("Client", "from_api"),
    ("Client", "get_api_client"),
    ("Client", "api"),
];

type Surface = BTreeMap<String, BTreeSet<String>>;

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            if !path.ends_with("nonblocking") {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `pub fn`s in top-level inherent `impl Type {` blocks of the blocking sources.
fn blocking_surface() -> Surface {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut surface = Surface::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        let mut current: Option<String> = None;
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("impl ") {
                let name = rest.trim_end_matches(" {").trim();
                current =
                    (HANDLERS.contains(&name) && !rest.contains(" for ")).then(|| name.to_string());
            } else if line.starts_with('}') {
                current = None;
            } else if let (Some(ty), Some(rest)) = (&current, line.strip_prefix("    pub fn ")) {
                let name: String = rest
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                surface.entry(ty.clone()).or_default().insert(name);
            }
        }
    }
    surface
}

/// Methods of the async facade: listed in `facade!`/`list_facade!` blocks or written in
/// `impl Type {` blocks, plus the generated list methods.
fn async_surface() -> Surface {
    let text = include_str!("mod.rs");
    let mut surface = Surface::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim();
        if let Some((name, _)) = trimmed.split_once(" wraps ") {
            current = Some(name.to_string());
        } else if let Some(rest) = line.strip_prefix("impl ") {
            current = Some(rest.trim_end_matches(" {").trim().to_string());
        } else if let Some(ty) = &current {
            for prefix in ["pub async fn ", "pub fn ", "async fn ", "fn "] {
                if let Some(rest) = trimmed.strip_prefix(prefix) {
                    let name: String = rest
                        .chars()
                        .take_while(|c| c.is_alphanumeric() || *c == '_')
                        .collect();
                    surface.entry(ty.clone()).or_default().insert(name);
                    break;
                }
            }
        }
    }
    surface
}

// Proves every blocking handler method has an async counterpart, so the surfaces cannot drift. (FR-43)
#[test]
fn every_blocking_operation_has_an_async_counterpart() {
    let blocking = blocking_surface();
    let asynchronous = async_surface();
    for ty in HANDLERS {
        assert!(
            blocking.contains_key(*ty),
            "no blocking methods found for {ty}"
        );
    }
    let mut missing = Vec::new();
    for (ty, methods) in &blocking {
        for m in methods {
            let has_twin = asynchronous.get(ty).is_some_and(|s| s.contains(m));
            if !has_twin && !NO_TWIN.contains(&(ty.as_str(), m.as_str())) {
                missing.push(format!("{ty}::{m}"));
            }
        }
    }
    assert!(
        missing.is_empty(),
        "blocking methods without an async counterpart: {missing:?}"
    );
    // The scanner must see the operations it guards.
    assert!(blocking["Run"].contains("details") && asynchronous["Run"].contains("details"));
}

// Proves the async list builders carry the blocking builders' filters, from the one declaration. (FR-43, FR-46)
#[test]
fn async_lists_have_the_blocking_filters() {
    let client = crate::Client::builder()
        .api_root("http://127.0.0.1:9")
        .token_provider(crate::TokenProvider::fixed("t"))
        .build()
        .unwrap();
    let runs = super::ListRuns::from(client.runs().list())
        .application_id("he-tme")
        .sort("-submitted_at".to_string());
    let items = super::ListItems::from(client.run("r").items())
        .external_ids(vec!["a".to_string()])
        .state(crate::models::ItemState::Terminated);
    let grants = super::ListGrants::from(client.grants().list()).revoked(false);
    let debug = format!("{runs:?} {items:?} {grants:?}");
    for filter in [
        "he-tme",
        "-submitted_at",
        "\"a\"",
        "Terminated",
        "revoked: Some(false)",
    ] {
        assert!(debug.contains(filter), "{filter} missing in {debug}");
    }
}
