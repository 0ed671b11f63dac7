//! The module graph of each crate of the workspace has no circle: a file that names another
//! (`crate::a::b`, `super::b`) never is named back, directly or through others. Run
//! `cargo test --test layering -- --nocapture` to print each crate's files and edges.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file below `dir`, as (module path like `auth/jwt`, file).
fn modules(dir: &Path) -> BTreeMap<String, PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let rel = path.strip_prefix(root).unwrap().with_extension("");
                let mut parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                if matches!(
                    parts.last().map(String::as_str),
                    Some("mod" | "lib" | "main")
                ) {
                    parts.pop();
                }
                out.insert(parts.join("/"), path);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

/// The module paths named after `prefix` in `text` (`crate::` or `super::`).
fn named<'t>(text: &'t str, prefix: &str) -> Vec<Vec<&'t str>> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(at) = rest.find(prefix) {
        let before = rest[..at].chars().next_back();
        rest = &rest[at + prefix.len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue;
        }
        let path: Vec<&str> = rest
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':'))
            .next()
            .unwrap_or("")
            .split("::")
            .take_while(|s| s.chars().next().is_some_and(|c| c.is_ascii_lowercase()))
            .collect();
        out.push(path);
    }
    out
}

/// The edges between the files of one crate's source folder.
fn edges(dir: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules(dir);
    let longest = |parts: &[&str]| {
        (1..=parts.len())
            .rev()
            .map(|n| parts[..n].join("/"))
            .find(|m| mods.contains_key(m))
    };
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (module, file) in &mods {
        let text = std::fs::read_to_string(file).unwrap();
        // Test modules may reach anywhere.
        let text = text
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or_default();
        // `super::` of `a/b` (a file or a folder's mod.rs alike) is `a`.
        let own: Vec<&str> = module.split('/').filter(|s| !s.is_empty()).collect();
        let parent: Vec<&str> = own[..own.len().saturating_sub(1)].to_vec();
        let mut targets = BTreeSet::new();
        for path in named(text, "crate::") {
            targets.extend(longest(&path));
        }
        for path in named(text, "super::") {
            let mut full = parent.clone();
            full.extend(path);
            targets.extend(longest(&full));
        }
        targets.remove(module);
        out.insert(module.clone(), targets);
    }
    out
}

/// The circles (strongly connected groups of two or more files) of a graph.
fn circles(graph: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    let reach = |from: &String| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.clone()];
        while let Some(m) = todo.pop() {
            for next in graph.get(&m).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let reached: BTreeMap<&String, BTreeSet<String>> =
        graph.keys().map(|m| (m, reach(m))).collect();
    let mut found: Vec<Vec<String>> = Vec::new();
    for m in graph.keys() {
        let group: Vec<String> = graph
            .keys()
            .filter(|o| *o == m || (reached[m].contains(*o) && reached[*o].contains(m)))
            .cloned()
            .collect();
        if group.len() > 1 && !found.contains(&group) {
            found.push(group);
        }
    }
    found
}

// Proves the files of the library, the sandbox and the command-line tool import one another
// without a circle, and that the error type at the bottom of the library names nothing above
// it. (NFR-31)
#[test]
fn no_circles_in_any_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for dir in ["src", "sandbox/src", "cli/src"] {
        let graph = edges(&root.join(dir));
        for (module, targets) in &graph {
            println!("{dir}/{module} -> {targets:?}");
        }
        assert!(graph.len() > 5, "{dir}: too few files found");
        assert_eq!(circles(&graph), Vec::<Vec<String>>::new(), "{dir}");
    }
    let library = edges(&root.join("src"));
    let below_error: BTreeSet<String> = ["models", "percent"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    assert!(
        library["error"].is_subset(&below_error),
        "error.rs names {:?}",
        library["error"]
    );
    // The check can fail: a circle made up here is found.
    let mut made_up = BTreeMap::new();
    made_up.insert("a".to_string(), BTreeSet::from(["b".to_string()]));
    made_up.insert("b".to_string(), BTreeSet::from(["a".to_string()]));
    assert_eq!(circles(&made_up).len(), 1);
}
