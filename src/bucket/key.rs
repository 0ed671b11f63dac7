//! Object keys from a template, like the Python SDK's upload prefix but collision-free.

use crate::error::{Error, Result};

/// A template for object keys.
///
/// Placeholders: `{user}` and `{org}` (ids from [`Bucket::from_me`](super::Bucket::from_me),
/// made key-safe), `{date}` (UTC `YYYY-MM-DD`), `{timestamp}` (milliseconds since the epoch,
/// the Python SDK's default upload prefix), `{crc32c}` (the file's CRC32C as 8 hex digits) and
/// `{name}` (the file's name or relative path). Other text is kept; `{{` and `}}` are literal
/// braces.
///
/// The default, `{user}/{crc32c}/{name}`, never collides across runs (a different file gets a
/// different key) and gives a re-run the same key, so an interrupted upload resumes and a
/// finished one is skipped.
///
/// ```
/// use aignostics::bucket::KeyTemplate;
/// let t = KeyTemplate::new("{user}/{date}/{name}");
/// let key = t.render_with("alice|1", None, "a/b.svs", Some(0xDEADBEEF), 0)?;
/// assert!(key.starts_with("alice-1/") && key.ends_with("/a/b.svs"));
/// assert_eq!(KeyTemplate::default().render_with("u", None, "s.svs", Some(1), 0)?, "u/00000001/s.svs");
/// # Ok::<(), aignostics::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyTemplate(String);

impl Default for KeyTemplate {
    fn default() -> Self {
        KeyTemplate("{user}/{crc32c}/{name}".into())
    }
}

impl KeyTemplate {
    /// A template from its text.
    pub fn new(template: impl Into<String>) -> Self {
        KeyTemplate(template.into())
    }

    /// The template's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key of the file at `path` for `bucket`'s user (`{crc32c}` given, or computed
    /// from the file when the template uses it).
    ///
    /// # Errors
    /// As [`KeyTemplate::render_with`]; [`Error::Io`] when the checksum must be read and the
    /// file cannot be.
    pub fn render(
        &self,
        bucket: &super::Bucket,
        path: impl AsRef<std::path::Path>,
        crc32c: Option<u32>,
    ) -> Result<String> {
        let path = path.as_ref();
        let crc = match crc32c {
            Some(crc) => Some(crc),
            None if self.0.contains("{crc32c}") => Some(
                crate::checksum::crc32c_file(path)
                    .map_err(|e| Error::io(path, e))?
                    .0,
            ),
            None => None,
        };
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        self.render_with(
            bucket.user().unwrap_or("anonymous"),
            bucket.organization(),
            &name,
            crc,
            now.as_millis() as u64,
        )
    }

    /// The key for explicit values: `user`, `org`, `name` (may hold `/`), the file's CRC32C
    /// and the time in milliseconds since the epoch (`{date}` and `{timestamp}`).
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an unknown placeholder, an unclosed brace, a placeholder
    /// without its value (`{crc32c}` without a checksum, `{org}` without an organization), a
    /// name with `..`, or a key that is empty or longer than 1024 bytes.
    pub fn render_with(
        &self,
        user: &str,
        org: Option<&str>,
        name: &str,
        crc32c: Option<u32>,
        millis: u64,
    ) -> Result<String> {
        if name.split(['/', '\\']).any(|s| s == "..") {
            return Err(Error::InvalidInput(format!(
                "the file name `{name}` may not contain `..`"
            )));
        }
        let bad = |what: String| Error::InvalidInput(format!("key template `{}`: {what}", self.0));
        let mut out = String::new();
        let mut rest = self.0.as_str();
        while let Some(i) = rest.find(['{', '}']) {
            out.push_str(&rest[..i]);
            let tail = &rest[i..];
            if let Some(t) = tail.strip_prefix("{{") {
                out.push('{');
                rest = t;
                continue;
            }
            if let Some(t) = tail.strip_prefix("}}") {
                out.push('}');
                rest = t;
                continue;
            }
            if tail.starts_with('}') {
                return Err(bad("a `}` without its `{`".into()));
            }
            let end = tail
                .find('}')
                .ok_or_else(|| bad("a `{` without its `}`".into()))?;
            let value = match &tail[1..end] {
                "user" => safe(user),
                "org" => safe(org.ok_or_else(|| bad("no organization for `{org}`".into()))?),
                "date" => date(millis / 1000),
                "timestamp" => millis.to_string(),
                "crc32c" => format!(
                    "{:08x}",
                    crc32c.ok_or_else(|| bad("no checksum for `{crc32c}`".into()))?
                ),
                "name" => name
                    .split(['/', '\\'])
                    .filter(|s| !s.is_empty() && *s != ".")
                    .collect::<Vec<_>>()
                    .join("/"),
                other => return Err(bad(format!("unknown placeholder `{{{other}}}`"))),
            };
            out.push_str(&value);
            rest = &tail[end + 1..];
        }
        out.push_str(rest);
        let key = out.trim_start_matches('/').to_string();
        super::check_key(&key)?;
        Ok(key)
    }
}

/// A value made safe for one key segment: anything but ASCII letters, digits, `.`, `_`, `-`
/// and `@` becomes `-`.
fn safe(value: &str) -> String {
    let s: String = value
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@') {
                c
            } else {
                '-'
            }
        })
        .collect();
    if s.is_empty() || s.chars().all(|c| c == '.') {
        "-".into()
    } else {
        s
    }
}

/// `YYYY-MM-DD` (UTC) of seconds since the epoch.
fn date(secs: u64) -> String {
    let ts = jiff::Timestamp::from_second(secs.min(i64::MAX as u64) as i64)
        .unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    ts.strftime("%Y-%m-%d").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves every placeholder renders, braces escape and bad templates are refused (FR-69).
    #[test]
    fn placeholders() {
        let t = KeyTemplate::new("{{x}}/{user}/{org}/{date}/{timestamp}/{crc32c}/{name}");
        let key = t
            .render_with("a/b", Some("o 1"), "./dir//s.svs", Some(255), 86_400_000)
            .unwrap();
        assert_eq!(key, "{x}/a-b/o-1/1970-01-02/86400000/000000ff/dir/s.svs");
        for bad in ["{nope}", "{user", "user}", "{crc32c}", "{org}"] {
            assert!(
                KeyTemplate::new(bad)
                    .render_with("u", None, "n", None, 0)
                    .is_err(),
                "{bad}"
            );
        }
        assert!(
            KeyTemplate::default()
                .render_with("u", None, "../etc/passwd", Some(1), 0)
                .is_err()
        );
        assert_eq!(safe(".."), "-");
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(2000))]
        // Proves any template and values render or fail cleanly, never panic, and that
        // `{user}` cannot add path segments (FR-69).
        #[test]
        fn any_template(t in ".{0,40}", user in ".{0,20}", name in "[a-z/]{1,20}", ms in proptest::num::u64::ANY) {
            if let Ok(key) = KeyTemplate::new(t).render_with(&user, Some("o"), &name, Some(7), ms) {
                proptest::prop_assert!(!key.is_empty() && key.len() <= 1024);
            }
            let k = KeyTemplate::new("{user}").render_with(&user, None, "n", None, 0).unwrap();
            proptest::prop_assert!(!k.contains('/'));
        }
    }
}
