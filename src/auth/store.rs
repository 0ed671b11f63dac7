//! The token file shared with the Python SDK: `{cache_dir}/.token` holding `token:exp`, where
//! `exp` is the expiry in Unix seconds.
//!
//! A stored token is only ever handed out for the API root it was obtained for: the file is
//! chosen by [`Settings::token_file`] (one per root outside the four known environments), and a
//! token in it counts only when its claims name the settings' audience and issuer.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::settings::Settings;
use crate::time::now_secs;

/// A token is reused while it stays valid for at least this long (the Python SDK's margin).
pub(crate) const EXPIRY_MARGIN: Duration = Duration::from_secs(300);

/// Token files larger than this are not ours (an access token is a few kilobytes).
const MAX_FILE: u64 = 64 * 1024;

/// Whether a token expiring at `exp` may still be handed out.
pub(crate) fn is_fresh(exp: u64) -> bool {
    now_secs().saturating_add(EXPIRY_MARGIN.as_secs()) < exp
}

/// The token and expiry in the file, if the file exists and is well formed. A missing, empty,
/// truncated or otherwise corrupt file reads as "no token".
pub(crate) fn read(path: &Path) -> Option<(String, u64)> {
    let file = std::fs::File::open(path).ok()?;
    let mut text = String::new();
    file.take(MAX_FILE + 1).read_to_string(&mut text).ok()?;
    if text.len() as u64 > MAX_FILE {
        return None;
    }
    parse(&text)
}

/// `token:exp` with exactly one colon (as the Python SDK splits it), a non-empty token without
/// whitespace, and an integer expiry.
fn parse(text: &str) -> Option<(String, u64)> {
    let text = text.trim();
    let mut parts = text.split(':');
    let (token, exp) = (parts.next()?, parts.next()?);
    if parts.next().is_some() || token.is_empty() || token.contains(char::is_whitespace) {
        return None;
    }
    let exp: u64 = exp.trim().parse().ok()?;
    Some((token.to_string(), exp))
}

/// The token stored for these settings, if it is still fresh (see [`is_fresh`]) and was issued
/// for them (see [`issued_for`]).
pub(crate) fn read_fresh(settings: &Settings) -> Option<(String, u64)> {
    read(&settings.token_file())
        .filter(|(token, exp)| is_fresh(*exp) && issued_for(settings, token))
}

/// Whether `token` was issued for the login of `settings`: its `aud` holds the audience and its
/// `iss` is the issuer. The claims are read without checking the signature: the question is
/// only where the token may be sent, and a forged file holds no credential of the user's.
fn issued_for(settings: &Settings, token: &str) -> bool {
    let (Some(auth), Ok(claims)) = (settings.auth.as_ref(), super::jwt::decode_unverified(token))
    else {
        return false;
    };
    super::jwt::audiences(&claims).contains(&auth.audience)
        && claims.get("iss").and_then(serde_json::Value::as_str) == Some(auth.issuer().as_str())
}

/// Writes `token:exp` atomically: a private temporary file in the same directory, flushed, then
/// renamed over the old file, so a reader (this process, another one, the Python SDK) sees the
/// old file or the new one, never a torn write.
pub(crate) fn write(path: &Path, token: &str, exp: u64) -> Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    create_private_dir(&dir)?;
    let tmp = temp_path(path);
    let result = (|| {
        let mut file = open_private(&tmp)?;
        file.write_all(format!("{token}:{exp}").as_bytes())?;
        file.sync_all()?;
        drop(file);
        std::fs::rename(&tmp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        Error::io(path, e)
    })
}

/// Removes the file; whether there was one.
pub(crate) fn remove(path: &Path) -> Result<bool> {
    match std::fs::remove_file(path) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(Error::io(path, e)),
    }
}

fn temp_path(path: &Path) -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| ".token".into());
    path.with_file_name(format!("{name}.{}.{n}.tmp", std::process::id()))
}

/// Creates the directory (and its parents) owner-only. An existing directory keeps its mode:
/// `AIGNOSTICS_CACHE_DIR` may point at a directory shared with other data.
fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|e| Error::io(dir, e))
}

fn open_private(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the parser accepts the Python SDK's format and rejects everything else. (FR-03)
    #[test]
    fn parses_python_format_only() {
        assert_eq!(
            parse("abc.def.ghi:1700000000"),
            Some(("abc.def.ghi".into(), 1_700_000_000))
        );
        assert_eq!(
            parse("abc:1700000000\n"),
            Some(("abc".into(), 1_700_000_000))
        );
        for bad in [
            "", ":", "abc", "abc:", ":123", "a:b:1", "abc:12x", "abc:-5", "a b:1", "abc:1.5",
        ] {
            assert_eq!(parse(bad), None, "{bad:?}");
        }
    }

    // Proves the largest expiry parses and counts as fresh, without overflow. (NFR-13, FR-03)
    #[test]
    fn largest_expiry() {
        assert_eq!(
            parse("x:18446744073709551615"),
            Some(("x".into(), u64::MAX))
        );
        assert!(is_fresh(u64::MAX));
        assert!(!is_fresh(now_secs() + EXPIRY_MARGIN.as_secs()));
        assert!(is_fresh(now_secs() + EXPIRY_MARGIN.as_secs() + 2));
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(4000))]

        // Proves the token-file parser never panics on any text and only ever returns a
        // non-empty token without whitespace or colon. (NFR-16, NFR-13)
        #[test]
        fn token_file_parser_never_panics(text in proptest::prelude::any::<String>()) {
            if let Some((token, _)) = parse(&text) {
                proptest::prop_assert!(!token.is_empty());
                proptest::prop_assert!(!token.contains(char::is_whitespace) && !token.contains(':'));
            }
        }

        // Proves every well-formed `token:exp` reads back exactly, whatever the expiry. (NFR-16, FR-03)
        #[test]
        fn token_file_round_trips(token in "[A-Za-z0-9._~+/=-]{1,80}", exp in proptest::prelude::any::<u64>()) {
            proptest::prop_assert_eq!(parse(&format!("{token}:{exp}\n")), Some((token, exp)));
        }
    }
}
