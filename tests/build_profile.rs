//! What a build of the crate compiles, read from `cargo metadata`: the default build stays lean
//! and no dependency needs a compiler newer than the MSRV.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use serde_json::Value;

/// The declared minimum supported Rust version.
const MSRV: (u64, u64, u64) = (1, 89, 0);

/// `cargo metadata` of this crate with these feature flags.
fn metadata(feature_args: &[&str]) -> Value {
    let output = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["metadata", "--format-version", "1", "--locked"])
        .args(feature_args)
        .output()
        .expect("run cargo metadata");
    assert!(
        output.status.success(),
        "cargo metadata failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("cargo metadata JSON")
}

/// Every package a build of the crate compiles (normal and build dependencies, transitively;
/// dev-dependencies left out), by name, with its declared `rust-version`.
fn compiled(meta: &Value) -> BTreeMap<String, Option<String>> {
    let packages: BTreeMap<&str, &Value> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["id"].as_str().unwrap(), p))
        .collect();
    let nodes: BTreeMap<&str, &Value> = meta["resolve"]["nodes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| (n["id"].as_str().unwrap(), n))
        .collect();
    let root = meta["resolve"]["root"].as_str().unwrap();
    let mut seen = BTreeSet::new();
    let mut todo = vec![root];
    while let Some(id) = todo.pop() {
        if !seen.insert(id) {
            continue;
        }
        for dep in nodes[id]["deps"].as_array().unwrap() {
            let not_dev = dep["dep_kinds"]
                .as_array()
                .unwrap()
                .iter()
                .any(|k| k["kind"].as_str() != Some("dev"));
            if not_dev {
                todo.push(dep["pkg"].as_str().unwrap());
            }
        }
    }
    seen.remove(root);
    seen.into_iter()
        .map(|id| {
            let p = packages[id];
            (
                p["name"].as_str().unwrap().to_string(),
                p["rust_version"].as_str().map(str::to_string),
            )
        })
        .collect()
}

fn version(text: &str) -> (u64, u64, u64) {
    let mut parts = text
        .split('.')
        .map(|p| p.parse::<u64>().expect("numeric version"));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

/// The packages `cargo build -p aignostics` with these feature flags compiles, by name. Asked
/// of `cargo tree -p`, which unifies features only across the selected package: `cargo
/// metadata` resolves the whole workspace, where the CLI's features are on too.
fn built(feature_args: &[&str]) -> BTreeMap<String, ()> {
    let output = Command::new(env!("CARGO"))
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args([
            "tree",
            "-p",
            "aignostics",
            "-e",
            "normal,build",
            "--prefix",
            "none",
        ])
        .args(["--format", "{p}", "--locked"])
        .args(feature_args)
        .output()
        .expect("run cargo tree");
    assert!(
        output.status.success(),
        "cargo tree failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_whitespace().next())
        .map(|name| (name.to_string(), ()))
        .collect()
}

// Proves the default build compiles no tokio, Redis client or facade macro, the redis feature adds
// Redis without tokio, and the async feature is what brings tokio and the macro in. (NFR-12)
#[test]
fn default_build_is_lean() {
    let default = built(&[]);
    for heavy in ["tokio", "redis", "aignostics-macros"] {
        assert!(
            !default.contains_key(heavy),
            "the default build compiles {heavy}"
        );
    }
    let redis = built(&["--features", "redis"]);
    assert!(redis.contains_key("redis"));
    assert!(
        !redis.contains_key("tokio"),
        "the redis feature pulls in tokio"
    );
    let with_async = built(&["--features", "async"]);
    assert!(with_async.contains_key("tokio"));
    assert!(with_async.contains_key("aignostics-macros"));
}

// Proves the crate declares Rust 1.89 as its MSRV, the README and crate docs say so, and no
// dependency of any feature declares a newer rust-version. (NFR-11)
#[test]
fn dependencies_fit_the_msrv() {
    let meta = metadata(&["--all-features"]);
    let root = meta["resolve"]["root"].as_str().unwrap();
    let declared = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["id"] == root)
        .and_then(|p| p["rust_version"].as_str())
        .expect("rust-version in Cargo.toml");
    assert_eq!(version(declared), MSRV);
    let manifest = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for doc in ["README.md", "src/lib.rs"] {
        let text = std::fs::read_to_string(manifest.join(doc)).unwrap();
        assert!(text.contains("Rust 1.89"), "{doc} does not state Rust 1.89");
    }

    let packages = compiled(&meta);
    assert!(packages.len() > 20, "{packages:?}");
    let too_new: Vec<String> = packages
        .iter()
        .filter_map(|(name, rv)| {
            rv.as_deref()
                .filter(|rv| version(rv) > MSRV)
                .map(|rv| format!("{name} needs {rv}"))
        })
        .collect();
    assert!(
        too_new.is_empty(),
        "dependencies above the MSRV: {too_new:?}"
    );
}
