//! Requirement traceability between `specifications/SPEC_PLATFORM_SERVICE.md` and the tests.
//!
//! The specification defines each requirement with a heading `### FR-nn Title` or
//! `### NFR-nn Title` (outside code blocks). A test names the requirements it proves in its
//! leading comment, e.g. `// Proves … (FR-07)`. This file scans every `.rs` file under the
//! workspace's `tests/` and `benches/` (the library's and `cli/`'s; except itself; benches for
//! the performance requirements they measure) and the test modules of `src/`, `macros/src/`,
//! `sandbox/src/` and `cli/src/` (each file from its first `#[cfg(test)]` line on), and checks
//! both
//! directions. `specifications/TRACEABILITY.md` is the generated matrix; regenerate it with
//! `AIGNOSTICS_UPDATE_TRACEABILITY=1 cargo test --all-features --test traceability`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

const SPEC: &str = "specifications/SPEC_PLATFORM_SERVICE.md";
const MATRIX: &str = "specifications/TRACEABILITY.md";
const UPDATE_VAR: &str = "AIGNOSTICS_UPDATE_TRACEABILITY";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// A requirement of the specification.
struct Requirement {
    id: String,
    title: String,
}

/// Where a test names a requirement.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Mention {
    /// Path relative to the crate root, with `/` separators.
    file: String,
    /// The test (or benchmark) function, or `(file)` outside any function.
    function: String,
    line: usize,
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// The requirement ids in `text`: `FR-` or `NFR-` and digits, standing alone as a word.
fn ids_in(text: &str) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut found = Vec::new();
    let mut from = 0;
    while let Some(offset) = text[from..].find("FR-") {
        let at = from + offset;
        let start = if at > 0 && bytes[at - 1] == b'N' {
            at - 1
        } else {
            at
        };
        let mut end = at + 3;
        while end < bytes.len() && bytes[end].is_ascii_digit() {
            end += 1;
        }
        let alone_before = start == 0 || !is_word(bytes[start - 1]);
        let alone_after = end == bytes.len() || !is_word(bytes[end]);
        if end > at + 3 && alone_before && alone_after {
            found.push(text[start..end].to_string());
        }
        from = at + 3;
    }
    found
}

/// Whether `id` has the form of a requirement id: `FR-` or `NFR-` and two or more digits.
fn well_formed(id: &str) -> bool {
    let digits = id
        .strip_prefix("NFR-")
        .or_else(|| id.strip_prefix("FR-"))
        .unwrap_or("");
    digits.len() >= 2 && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The specification's text, without its fenced code blocks.
fn spec_prose() -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(root().join(SPEC)).expect("read the specification");
    let mut fenced = false;
    let mut lines = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim_start().starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if !fenced {
            lines.push((n + 1, line.to_string()));
        }
    }
    lines
}

/// The requirements the specification defines, in document order.
fn requirements() -> Vec<Requirement> {
    let mut found: Vec<Requirement> = Vec::new();
    for (n, line) in spec_prose() {
        let Some(heading) = line.strip_prefix("### ") else {
            continue;
        };
        if !(heading.starts_with("FR-") || heading.starts_with("NFR-")) {
            continue;
        }
        let (id, title) = heading.split_once(' ').unwrap_or((heading, ""));
        assert!(
            well_formed(id) && !title.trim().is_empty(),
            "{SPEC}:{n}: a requirement heading must read `### FR-nn Title`: {line}"
        );
        assert!(
            found.iter().all(|r| r.id != id),
            "{SPEC}:{n}: {id} is defined twice"
        );
        found.push(Requirement {
            id: id.to_string(),
            title: title.trim().to_string(),
        });
    }
    assert!(!found.is_empty(), "{SPEC} defines no requirement");
    found
}

/// Every `.rs` file below `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return files;
    };
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// The name of the function a line `at` belongs to: the function right below it when only
/// comments and attributes separate them (a leading comment), else the last function above it
/// (a comment in its body).
fn function_of(lines: &[&str], at: usize) -> String {
    let name = |line: &str| -> Option<String> {
        let line = line.trim_start();
        let line = line.strip_prefix("pub ").unwrap_or(line);
        let line = line.strip_prefix("async ").unwrap_or(line);
        let rest = line.strip_prefix("fn ")?;
        let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_'))?;
        Some(rest[..end].to_string())
    };
    for line in &lines[at + 1..] {
        let trimmed = line.trim_start();
        if let Some(n) = name(line) {
            return n;
        }
        if !(trimmed.starts_with("//") || trimmed.starts_with("#[") || trimmed.is_empty()) {
            break;
        }
    }
    lines[..=at]
        .iter()
        .rev()
        .find_map(|l| name(l))
        .unwrap_or_else(|| "(file)".to_string())
}

/// Every requirement id named in the scanned sources, with where.
fn mentions() -> BTreeMap<String, Vec<Mention>> {
    let root = root();
    let this_file = root.join("tests/traceability.rs");
    let mut files: Vec<(PathBuf, bool)> = Vec::new();
    for dir in ["tests", "benches", "cli/tests", "cli/benches"] {
        files.extend(
            rust_files(&root.join(dir))
                .into_iter()
                .filter(|p| *p != this_file)
                .map(|p| (p, false)),
        );
    }
    for dir in ["src", "macros/src", "sandbox/src", "cli/src"] {
        files.extend(rust_files(&root.join(dir)).into_iter().map(|p| (p, true)));
    }

    let mut found: BTreeMap<String, Vec<Mention>> = BTreeMap::new();
    for (path, tests_only) in files {
        let text = std::fs::read_to_string(&path).expect("read a source file");
        let lines: Vec<&str> = text.lines().collect();
        let first = if tests_only {
            match lines
                .iter()
                .position(|l| l.trim_start().starts_with("#[cfg(test)]"))
            {
                Some(n) => n,
                None => continue,
            }
        } else {
            0
        };
        let file = path
            .strip_prefix(root)
            .expect("inside the crate")
            .to_string_lossy()
            .replace('\\', "/");
        for (n, line) in lines.iter().enumerate().skip(first) {
            for id in ids_in(line) {
                found.entry(id).or_default().push(Mention {
                    file: file.clone(),
                    function: function_of(&lines, n),
                    line: n + 1,
                });
            }
        }
    }
    found
}

fn render_matrix(requirements: &[Requirement], found: &BTreeMap<String, Vec<Mention>>) -> String {
    let mut out = String::new();
    out.push_str("# Traceability matrix\n\n");
    out.push_str(
        "Generated by `tests/traceability.rs` from [SPEC_PLATFORM_SERVICE.md](SPEC_PLATFORM_SERVICE.md) \
         and the tests that name each requirement. Do not edit by hand; regenerate with\n\n",
    );
    out.push_str(&format!(
        "```sh\n{UPDATE_VAR}=1 cargo test --all-features --test traceability\n```\n"
    ));
    for r in requirements {
        out.push_str(&format!("\n## {} {}\n\n", r.id, r.title));
        let mut by_file: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
        for m in found.get(&r.id).into_iter().flatten() {
            by_file.entry(&m.file).or_default().insert(&m.function);
        }
        for (file, functions) in by_file {
            let names: Vec<String> = functions.iter().map(|f| format!("`{f}`")).collect();
            out.push_str(&format!("- `{file}`: {}\n", names.join(", ")));
        }
    }
    out
}

fn locations(mentions: &[Mention]) -> String {
    mentions
        .iter()
        .map(|m| format!("{}:{} ({})", m.file, m.line, m.function))
        .collect::<Vec<_>>()
        .join(", ")
}

// Proves every requirement of the specification is named by at least one test.
#[test]
fn every_requirement_is_proved_by_a_test() {
    let requirements = requirements();
    let found = mentions();
    let untested: Vec<String> = requirements
        .iter()
        .filter(|r| !found.contains_key(&r.id))
        .map(|r| format!("{} {}", r.id, r.title))
        .collect();
    assert!(
        untested.is_empty(),
        "requirements no test names (add the id to the leading comment of the tests that \
         prove them): {untested:#?}"
    );
}

// Proves tests name only requirements the specification defines, and the specification's
// cross-references point at defined requirements.
#[test]
fn tests_name_only_specified_requirements() {
    let requirements = requirements();
    let defined: BTreeSet<&str> = requirements.iter().map(|r| r.id.as_str()).collect();
    let unknown: Vec<String> = mentions()
        .iter()
        .filter(|(id, _)| !defined.contains(id.as_str()))
        .map(|(id, m)| format!("{id} at {}", locations(m)))
        .collect();
    assert!(
        unknown.is_empty(),
        "tests name requirements {SPEC} does not define: {unknown:#?}"
    );
    let dangling: Vec<String> = spec_prose()
        .iter()
        .flat_map(|(n, line)| ids_in(line).into_iter().map(move |id| (*n, id)))
        .filter(|(_, id)| !defined.contains(id.as_str()))
        .map(|(n, id)| format!("{SPEC}:{n}: {id}"))
        .collect();
    assert!(
        dangling.is_empty(),
        "undefined requirements referenced: {dangling:#?}"
    );
}

// Proves specifications/TRACEABILITY.md is the matrix of the current specification and tests.
#[test]
fn traceability_matrix_is_current() {
    let expected = render_matrix(&requirements(), &mentions());
    let path = root().join(MATRIX);
    if std::env::var_os(UPDATE_VAR).is_some() {
        std::fs::write(&path, &expected).expect("write the matrix");
        return;
    }
    let actual = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        actual == expected,
        "{MATRIX} is out of date; regenerate it with `{UPDATE_VAR}=1 cargo test --all-features \
         --test traceability` and commit it"
    );
}

// Proves the id scanner finds ids standing alone, including inside NFR ids and parentheses,
// and ignores look-alikes.
#[test]
fn scanner_finds_whole_ids_only() {
    assert_eq!(
        ids_in("// Proves x (FR-07, NFR-12) and FR-1."),
        ["FR-07", "NFR-12", "FR-1"]
    );
    assert!(ids_in("XFR-07 FR-x FR- NFR-07a fr-07").is_empty());
    assert!(well_formed("FR-07") && well_formed("NFR-12") && !well_formed("FR-7"));
}
