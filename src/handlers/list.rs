//! The list builders' one declaration: each filter is written once, as a field that names its
//! query parameter, and the builder writes itself as the query from those fields. The same
//! declaration gives the blocking builder its setters, `page`, `iter`, and (feature `async`) its
//! async twin's setters, so the two cannot drift.

use crate::client::Client;
use crate::handlers::Run;
use crate::transport::{Op, Request};

/// A filter's value as query parameters: absent values send nothing, lists repeat the key.
pub(crate) trait QueryValue {
    /// Appends `key=value` for each value.
    fn append_to(&self, key: &str, request: Request) -> Request;
}

impl<T: std::fmt::Display> QueryValue for Option<T> {
    fn append_to(&self, key: &str, request: Request) -> Request {
        self.iter().fold(request, |r, v| r.query(key, v))
    }
}

impl<T: std::fmt::Display> QueryValue for Vec<T> {
    fn append_to(&self, key: &str, request: Request) -> Request {
        self.iter().fold(request, |r, v| r.query(key, v))
    }
}

/// The query parameter naming the page (from 1).
pub(crate) const PAGE: &str = "page";

/// Default page size of every list.
pub(crate) const DEFAULT_PAGE_SIZE: u32 = 50;

/// What a list hangs off: the client itself, or a run (whose id and share token go into the
/// request).
pub(crate) trait ListOwner: Clone {
    /// The client that sends the request.
    fn client(&self) -> &Client;
    /// The list request, before its query.
    fn list_request(&self, op: Op) -> Request;
}

impl ListOwner for Client {
    fn client(&self) -> &Client {
        self
    }

    fn list_request(&self, op: Op) -> Request {
        op.at(&[])
    }
}

impl ListOwner for Run {
    fn client(&self) -> &Client {
        &self.client
    }

    fn list_request(&self, op: Op) -> Request {
        self.request(op, &[])
    }
}

/// Declares a list builder. Each filter is `name: one T` (one value, set again to replace),
/// `name: each T` (one value per call, repeated in the query) or `name: many T` (a whole
/// iterator of values per call), optionally `as "wire_name"` when the query parameter is named
/// otherwise.
macro_rules! list {
    (@wire $field:ident) => { stringify!($field) };
    (@wire $field:ident $wire:literal) => { $wire };
    (@field one $ty:ty) => { Option<$ty> };
    (@field each $ty:ty) => { Vec<$ty> };
    (@field many $ty:ty) => { Vec<$ty> };
    (@set one $this:ident . $field:ident = $value:expr) => { $this.$field = Some($value.into()) };
    (@set each $this:ident . $field:ident = $value:expr) => { $this.$field.push($value.into()) };
    (@set many $this:ident . $field:ident = $value:expr) => {
        $this.$field.extend($value.into_iter().map(Into::into))
    };
    (@arg one $ty:ty) => { impl Into<$ty> };
    (@arg each $ty:ty) => { impl Into<$ty> };
    (@arg many $ty:ty) => { impl IntoIterator<Item = impl Into<$ty>> };
    // Most lists name their page size `page_size`.
    (
        $(#[$meta:meta])*
        $name:ident($owner:ty, $op:expr) => $item:ty, $what:literal { $($body:tt)* }
    ) => {
        $crate::handlers::list::list! {
            $(#[$meta])*
            $name($owner, $op) => $item, $what, page_size "page_size" { $($body)* }
        }
    };
    (
        $(#[$meta:meta])*
        $name:ident($owner:ty, $op:expr) => $item:ty, $what:literal,
        page_size $page_size:literal {
            $(
                $(#[$fmeta:meta])*
                $field:ident: $kind:ident $ty:ty $(as $wire:literal)?,
            )*
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone)]
        #[must_use]
        pub struct $name {
            owner: $owner,
            $($field: $crate::handlers::list::list!(@field $kind $ty),)*
            page_size: u32,
        }

        impl $name {
            pub(crate) fn new(owner: $owner) -> Self {
                Self {
                    owner,
                    $($field: Default::default(),)*
                    page_size: $crate::handlers::list::DEFAULT_PAGE_SIZE,
                }
            }

            $(
                $(#[$fmeta])*
                pub fn $field(mut self, value: $crate::handlers::list::list!(@arg $kind $ty)) -> Self {
                    $crate::handlers::list::list!(@set $kind self.$field = value);
                    self
                }
            )*

            #[doc = concat!("Results per page, 5 to 100 (default 50).")]
            pub fn page_size(mut self, page_size: u32) -> Self {
                self.page_size = page_size;
                self
            }

            /// One page (from 1) of results.
            pub fn page(&self, page: u32) -> $crate::error::Result<Vec<$item>> {
                use $crate::handlers::list::{ListOwner, QueryValue};
                let page_size = $crate::pagination::check_page_size(self.page_size)?;
                let request = self.owner.list_request($op);
                $(
                    let request = self.$field.append_to(
                        $crate::handlers::list::list!(@wire $field $($wire)?),
                        request,
                    );
                )*
                let request = request
                    .query($crate::handlers::list::PAGE, page)
                    .query($page_size, page_size);
                self.owner.client().read(request)
            }

            /// The query parameters this list can send (checked against the OpenAPI file).
            #[cfg(test)]
            pub(crate) const QUERY: &'static [&'static str] = &[
                $($crate::handlers::list::list!(@wire $field $($wire)?),)* $crate::handlers::list::PAGE, $page_size,
            ];
        }

        $crate::pagination::impl_paged!($name => $item, $what);

        #[cfg(feature = "async")]
        impl $crate::nonblocking::$name {
            $(
                $(#[$fmeta])*
                pub fn $field(self, value: $crate::handlers::list::list!(@arg $kind $ty)) -> Self {
                    self.map(|list| list.$field(value))
                }
            )*
        }
    };
}
pub(crate) use list;

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::{Path, PathBuf};

    use crate::handlers::{ListApplications, ListGrants, ListItems, ListRuns, ListShareTokens};
    use crate::transport::Op;

    /// Every list operation with the query parameters its builder declares.
    const LISTS: &[(Op, &[&str])] = &[
        (Op::ListApplications, ListApplications::QUERY),
        (Op::ListRuns, ListRuns::QUERY),
        (Op::ListRunItems, ListItems::QUERY),
        (Op::ListGrants, ListGrants::QUERY),
        (Op::ListShareTokens, ListShareTokens::QUERY),
    ];

    // Proves list filters repeat their key per value and absent filters send nothing. (FR-19, FR-46)
    #[test]
    fn filters_repeat_keys_and_skip_absent_values() {
        use super::QueryValue;
        let request = vec!["-submitted_at", "run_id"].append_to("sort", Op::ListRuns.at(&[]));
        let request = None::<&str>.append_to("external_id", request);
        let request = Some(false).append_to("revoked", request);
        assert_eq!(
            request.target(),
            "/v1/runs?sort=-submitted_at&sort=run_id&revoked=false"
        );
    }

    fn openapi() -> Option<serde_json::Value> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/reference/openapi.json");
        match std::fs::read_to_string(&path) {
            Ok(text) => Some(serde_json::from_str(&text).unwrap()),
            Err(_) if std::env::var_os("CI").is_some() => panic!("{} is missing", path.display()),
            Err(_) => {
                eprintln!("NOTE: {} not found; query check skipped", path.display());
                None
            }
        }
    }

    // Proves each list builder sends exactly the query parameters the OpenAPI file declares, and every other operation only a share token where the table says so. (FR-46)
    #[test]
    fn queries_match_openapi() {
        let Some(spec) = openapi() else { return };
        for op in Op::ALL {
            let declared: BTreeSet<&str> = spec["paths"][op.path()]
                [op.method().as_str().to_lowercase()]["parameters"]
                .as_array()
                .map(|params| {
                    params
                        .iter()
                        .filter(|p| p["in"] == "query")
                        .filter_map(|p| p["name"].as_str())
                        .collect()
                })
                .unwrap_or_default();
            let mut ours: BTreeSet<&str> = LISTS
                .iter()
                .filter(|(list, _)| list == op)
                .flat_map(|(_, names)| names.iter().copied())
                .collect();
            if op.shared() {
                ours.insert("share_token");
            }
            assert_eq!(declared, ours, "{}", op.name());
        }
    }

    fn sources(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    /// The code of the request path (handlers, engine, client, async facade, downloads) without
    /// comments and test modules, as one string.
    fn code() -> String {
        let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        for dir in ["handlers", "nonblocking"] {
            sources(&src.join(dir), &mut files);
        }
        for file in ["transport.rs", "client.rs", "signed_url.rs", "retry.rs"] {
            files.push(src.join(file));
        }
        without_comments_and_tests(files)
    }

    /// All of the library's code and the command-line tool's, likewise (the sandbox, in its
    /// own crate, serves the paths: it is the other side of the wire).
    fn all_code() -> String {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let mut files = Vec::new();
        sources(&root.join("src"), &mut files);
        sources(&root.join("cli").join("src"), &mut files);
        without_comments_and_tests(files)
    }

    fn without_comments_and_tests(files: Vec<PathBuf>) -> String {
        let mut code = String::new();
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            let text = text
                .split("#[cfg(test)]\nmod tests")
                .next()
                .unwrap_or_default();
            for line in text.lines().filter(|l| !l.trim_start().starts_with("//")) {
                code.push_str(line);
                code.push('\n');
            }
        }
        code
    }

    // Proves each path template and each query parameter name is written once in the crate's code, so no handler builds a path or query of its own. (FR-46)
    #[test]
    fn paths_and_filter_names_are_written_once() {
        let code = all_code();
        for op in Op::ALL {
            // Two methods on one path (list and create) are two rows of the table.
            let rows = Op::ALL.iter().filter(|o| o.path() == op.path()).count();
            let literal = format!("\"{}\"", op.path());
            assert_eq!(code.matches(&literal).count(), rows, "{literal}");
        }
        let templates = code.matches("\"/v1/").count();
        assert_eq!(
            templates,
            Op::ALL.len(),
            "a path is written outside the table"
        );
        let code = self::code();
        // Debug output names fields too; those are not query parameters.
        let code = code.replace(".field(\"", ".field(");
        let mut names: BTreeSet<&str> = LISTS.iter().flat_map(|(_, n)| n.iter().copied()).collect();
        names.insert("share_token");
        for name in names {
            let literal = format!("\"{name}\"");
            assert!(
                code.matches(&literal).count() <= 1,
                "{literal} is written twice"
            );
            let setter = format!("{name}: one ");
            let list_setters = code.matches(&setter).count();
            let owners = LISTS.iter().filter(|(_, n)| n.contains(&name)).count();
            assert!(
                list_setters <= owners,
                "{name} is declared twice in one list"
            );
        }
    }
}
