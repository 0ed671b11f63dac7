//! File and directory names for downloads: safe on Linux, macOS and Windows, and never the same
//! for two different artifacts.

use std::collections::{HashMap, HashSet};

use serde_json::Value;

/// Longest sanitised name kept before the extension, in bytes; leaves room under the usual
/// 255-byte limit for a hash suffix, the extension and `.part`.
const MAX_NAME_BYTES: usize = 200;

/// Device names Windows reserves whatever the extension.
const WINDOWS_RESERVED: [&str; 22] = [
    "CON", "PRN", "AUX", "NUL", "COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8",
    "COM9", "LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9",
];

/// One path component made from an arbitrary string: separators, control characters and the
/// characters Windows forbids become `_`; trailing dots and spaces become `_` (so `.` and `..`
/// cannot name the current or parent directory); Windows device names get a `_` prefix; an
/// empty name becomes `_`; long names are cut at 200 bytes.
pub(crate) fn sanitize(name: &str) -> String {
    let mut out: String = name
        .chars()
        .map(|c| {
            if c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|') {
                '_'
            } else {
                c
            }
        })
        .collect();
    let kept = out.trim_end_matches(['.', ' ']).len();
    let trailing = out.len() - kept;
    out.truncate(kept);
    out.extend(std::iter::repeat_n('_', trailing));
    if out.is_empty() {
        out.push('_');
    }
    let stem = out.split('.').next().unwrap_or_default().trim_end();
    if WINDOWS_RESERVED
        .iter()
        .any(|r| r.eq_ignore_ascii_case(stem))
    {
        out.insert(0, '_');
    }
    if out.len() > MAX_NAME_BYTES {
        let mut cut = MAX_NAME_BYTES;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

/// The first 32 bits of SHA-256 of `key`, as 8 hex digits.
pub(crate) fn short_hash(key: &str) -> String {
    let digest = crate::checksum::sha256(key.as_bytes());
    crate::checksum::hex(&digest[..4])
}

/// A directory name for a value with no known siblings (the run id): sanitised, plus a hash of
/// the original when sanitising changed it.
pub(crate) fn unique_alone(name: &str) -> String {
    let clean = sanitize(name);
    if clean == name {
        clean
    } else {
        format!("{clean}-{}", short_hash(name))
    }
}

/// One entry of a set of siblings (files or directories in one parent).
pub(crate) struct Sibling<'a> {
    /// What identifies the entry (artifact id, external id): hashed into the suffix.
    pub key: &'a str,
    /// The name to sanitise.
    pub name: &'a str,
    /// Appended after the name (`.json`, or empty for directories).
    pub ext: &'static str,
}

/// Final names of siblings. A name whose sanitised form is unique among them (ignoring case, so
/// case-insensitive file systems are safe too) is kept; names that collide each get `-` and a
/// short hash of their key before the extension. Suffixed names are checked again against every
/// name already given (crafted ids such as `a_b-<hash of "a/b">` could otherwise meet one) and
/// hashed once more, with a counter, until unique. The result depends only on the whole set, so
/// the same run always maps to the same files.
pub(crate) fn unique_names(siblings: &[Sibling<'_>]) -> Vec<String> {
    let plain: Vec<String> = siblings
        .iter()
        .map(|s| format!("{}{}", sanitize(s.name), s.ext))
        .collect();
    let mut counts: HashMap<String, usize> = HashMap::new();
    for name in &plain {
        *counts.entry(name.to_lowercase()).or_default() += 1;
    }
    let unique = |name: &String| counts.get(&name.to_lowercase()).copied() == Some(1);
    let mut taken: HashSet<String> = plain
        .iter()
        .filter(|n| unique(n))
        .map(|n| n.to_lowercase())
        .collect();
    let mut names: Vec<Option<String>> =
        plain.iter().map(|n| unique(n).then(|| n.clone())).collect();
    // Colliding entries in an order fixed by their contents, not by the server's order.
    let mut colliding: Vec<usize> = (0..siblings.len())
        .filter(|&i| names[i].is_none())
        .collect();
    colliding.sort_by_key(|&i| (siblings[i].key, siblings[i].name, siblings[i].ext, i));
    for i in colliding {
        let s = &siblings[i];
        let stem = sanitize(s.name);
        let hash = short_hash(s.key);
        let mut name = format!("{stem}-{hash}{}", s.ext);
        let mut round = 1u64;
        while !taken.insert(name.to_lowercase()) {
            // A distinct string every round, so this ends after at most `taken.len()` rounds.
            name = format!("{stem}-{hash}-{round}{}", s.ext);
            round += 1;
        }
        names[i] = Some(name);
    }
    names.into_iter().map(Option::unwrap_or_default).collect()
}

/// The file extension for an artifact's MIME type (`media_type`, else `mime_type`, in its
/// metadata), mapped as the Python SDK maps it; `.bin` for anything else.
pub(crate) fn extension(metadata: Option<&Value>) -> &'static str {
    let field = |key: &str| {
        metadata
            .and_then(|m| m.get(key))
            .and_then(Value::as_str)
            .filter(|s| !s.trim().is_empty())
    };
    let Some(mime) = field("media_type").or_else(|| field("mime_type")) else {
        return ".bin";
    };
    let essence = mime.split(';').next().unwrap_or_default().trim();
    match essence.to_ascii_lowercase().as_str() {
        "image/png" => ".png",
        "image/tiff" => ".tiff",
        "application/vnd.apache.parquet" => ".parquet",
        "application/json" | "application/geo+json" => ".json",
        "text/csv" => ".csv",
        _ => ".bin",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    // Proves dangerous names become single, harmless path components. (FR-37)
    #[test]
    fn sanitizes_dangerous_names() {
        assert_eq!(sanitize("slide-1.svs"), "slide-1.svs");
        assert_eq!(sanitize("../../etc/passwd"), ".._.._etc_passwd");
        assert_eq!(sanitize(".."), "__");
        assert_eq!(sanitize("."), "_");
        assert_eq!(sanitize(""), "_");
        assert_eq!(sanitize("a\\b:c*d?e\"f<g>h|i"), "a_b_c_d_e_f_g_h_i");
        assert_eq!(sanitize("tab\there\u{0}nul\u{7f}"), "tab_here_nul_");
        assert_eq!(sanitize("name. "), "name__");
        assert_eq!(sanitize("CON"), "_CON");
        assert_eq!(sanitize("lpt1.txt"), "_lpt1.txt");
        assert_eq!(sanitize("CONSOLE"), "CONSOLE");
        assert_eq!(sanitize("tissue_qc:tiff_heatmap"), "tissue_qc_tiff_heatmap");
        let long = "é".repeat(300);
        let cut = sanitize(&long);
        assert!(cut.len() <= MAX_NAME_BYTES && cut.chars().all(|c| c == 'é'));
    }

    // Proves names that collide after sanitising (or differ only in case) get distinct,
    // deterministic names, and unique names stay readable. (FR-37)
    #[test]
    fn collisions_get_hashes() {
        let set = [
            Sibling {
                key: "1",
                name: "a/b",
                ext: ".json",
            },
            Sibling {
                key: "2",
                name: "a_b",
                ext: ".json",
            },
            Sibling {
                key: "3",
                name: "A_B",
                ext: ".json",
            },
            Sibling {
                key: "4",
                name: "a_b",
                ext: ".png",
            },
            Sibling {
                key: "5",
                name: "x:y",
                ext: ".csv",
            },
        ];
        let names = unique_names(&set);
        assert_eq!(names[0], format!("a_b-{}.json", short_hash("1")));
        assert_eq!(names[1], format!("a_b-{}.json", short_hash("2")));
        assert_eq!(names[2], format!("A_B-{}.json", short_hash("3")));
        assert_eq!(names[3], "a_b.png");
        assert_eq!(names[4], "x_y.csv");
        let mut lower: Vec<String> = names.iter().map(|n| n.to_lowercase()).collect();
        lower.sort();
        lower.dedup();
        assert_eq!(lower.len(), names.len());
        assert_eq!(unique_names(&set), names);
        assert_eq!(unique_alone("run-1"), "run-1");
        assert_eq!(unique_alone(".."), format!("__-{}", short_hash("..")));
    }

    // Proves crafted names (`a/b`, `a_b`, and `a_b-` plus the suffix `a/b` gets) still get
    // distinct names: suffixed names are checked against every name given. (FR-52)
    #[test]
    fn crafted_suffixes_stay_unique() {
        let crafted = format!("a_b-{}", short_hash("a/b"));
        let set = [
            Sibling {
                key: "a/b",
                name: "a/b",
                ext: "",
            },
            Sibling {
                key: "a_b",
                name: "a_b",
                ext: "",
            },
            Sibling {
                key: &crafted,
                name: &crafted,
                ext: "",
            },
        ];
        let names = unique_names(&set);
        assert_eq!(names[2], crafted, "the unique name stays readable");
        let mut lower: Vec<String> = names.iter().map(|n| n.to_lowercase()).collect();
        lower.sort();
        lower.dedup();
        assert_eq!(lower.len(), 3, "{names:?}");
        // Two entries with the same key and name still get two names.
        let twins = [
            Sibling {
                key: "k",
                name: "x",
                ext: ".json",
            },
            Sibling {
                key: "k",
                name: "x",
                ext: ".json",
            },
        ];
        let names = unique_names(&twins);
        assert_ne!(
            names[0].to_lowercase(),
            names[1].to_lowercase(),
            "{names:?}"
        );
    }

    /// Whether `name` is one harmless path component on Linux, macOS and Windows, with room
    /// for the part-file suffix under the usual 255-byte limit.
    fn is_safe_component(name: &str) -> bool {
        !name.is_empty()
            && name != "."
            && name != ".."
            && name.len() <= 255 - ".0123456789abcdef.part".len()
            && !name.ends_with(['.', ' '])
            && !name.chars().any(|c| {
                c.is_control() || matches!(c, '/' | '\\' | ':' | '*' | '?' | '"' | '<' | '>' | '|')
            })
            && !WINDOWS_RESERVED.iter().any(|r| {
                r.eq_ignore_ascii_case(name.split('.').next().unwrap_or_default().trim_end())
            })
    }

    /// Ids a hostile server might send: separators, dots, reserved names, case twins, long
    /// names, and names that look like the suffixes others get.
    fn hostile_id() -> impl Strategy<Value = String> {
        prop_oneof![
            ".{0,40}",
            "[aA_/\\\\.:-]{0,6}",
            "(CON|nul|Lpt1|com9|a_b|A_B|\\.\\.)[._ ]?[a-z]{0,3}",
            "é{90,140}",
            any::<u8>().prop_map(|n| format!("a_b-{}", short_hash(&format!("a/b{}", n % 4)))),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        // Proves that for arbitrary sets of ids, the mapped names are unique (ignoring case),
        // safe path components, and independent of the order of the set. (FR-37, FR-52, NFR-14)
        #[test]
        fn names_are_unique_and_safe(ids in proptest::collection::vec(hostile_id(), 0..12), ext in prop_oneof![Just(""), Just(".json"), Just(".bin")]) {
            let set: Vec<Sibling<'_>> = ids.iter().map(|id| Sibling { key: id, name: id, ext }).collect();
            let names = unique_names(&set);
            prop_assert_eq!(names.len(), ids.len());
            let mut lower: Vec<String> = names.iter().map(|n| n.to_lowercase()).collect();
            lower.sort();
            lower.dedup();
            prop_assert_eq!(lower.len(), names.len(), "{:?} -> {:?}", ids, names);
            for name in &names {
                prop_assert!(is_safe_component(name), "{:?}", name);
                prop_assert!(name.ends_with(ext));
            }
            let mut reversed: Vec<Sibling<'_>> = ids.iter().map(|id| Sibling { key: id, name: id, ext }).collect();
            reversed.reverse();
            let mut again = unique_names(&reversed);
            again.reverse();
            // Identical entries may swap names with each other; every other one keeps its name.
            for (i, id) in ids.iter().enumerate() {
                if ids.iter().filter(|other| *other == id).count() == 1 {
                    prop_assert_eq!(&again[i], &names[i]);
                }
            }
            for id in &ids {
                prop_assert!(is_safe_component(&sanitize(id)));
                prop_assert!(is_safe_component(&unique_alone(id)));
            }
        }
    }

    // Proves the MIME mapping of the Python SDK, with .bin for anything else. (FR-37)
    #[test]
    fn extensions() {
        let ext = |v: Value| extension(Some(&v));
        assert_eq!(ext(json!({"media_type": "image/png"})), ".png");
        assert_eq!(ext(json!({"media_type": "image/tiff"})), ".tiff");
        assert_eq!(
            ext(json!({"media_type": "application/vnd.apache.parquet"})),
            ".parquet"
        );
        assert_eq!(ext(json!({"media_type": "application/json"})), ".json");
        assert_eq!(ext(json!({"media_type": "application/geo+json"})), ".json");
        assert_eq!(ext(json!({"mime_type": "text/csv"})), ".csv");
        assert_eq!(
            ext(json!({"media_type": "Text/CSV; charset=utf-8"})),
            ".csv"
        );
        assert_eq!(
            ext(json!({"media_type": "", "mime_type": "image/png"})),
            ".png"
        );
        assert_eq!(ext(json!({"media_type": "application/unknown"})), ".bin");
        assert_eq!(ext(json!({})), ".bin");
        assert_eq!(extension(None), ".bin");
    }
}
