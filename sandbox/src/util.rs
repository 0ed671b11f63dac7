//! Small helpers the emulator needs in several places: hex and CRC32C text, RFC 3339
//! timestamps (through `jiff`, as the library reads them) and path-segment encoding.

use std::time::{SystemTime, UNIX_EPOCH};

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// Lowercase hex of `bytes` (digests, random ids).
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// A CRC32C in the platform's text form: standard base64 of the big-endian digest.
pub(crate) fn crc32c_b64(crc: u32) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(crc.to_be_bytes())
}

/// RFC 3339 in UTC with milliseconds, e.g. `2025-09-15T10:30:45.123Z` (the platform's form).
pub(crate) fn rfc3339_millis(t: SystemTime) -> String {
    let t = t.max(UNIX_EPOCH);
    jiff::Timestamp::try_from(t)
        .unwrap_or(jiff::Timestamp::MAX)
        .strftime("%Y-%m-%dT%H:%M:%S%.3fZ")
        .to_string()
}

/// An RFC 3339 timestamp (`Z` or `±HH:MM`), not before the epoch.
pub(crate) fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let t: jiff::Timestamp = s.trim().parse().ok()?;
    (t >= jiff::Timestamp::UNIX_EPOCH).then(|| SystemTime::from(t))
}

/// An RFC 3339 timestamp or a calendar date (midnight UTC), as the platform's `date-time`
/// fields take them.
pub(crate) fn parse_date_time(s: &str) -> Option<SystemTime> {
    parse_rfc3339(s).or_else(|| {
        let text = s.trim();
        if text.len() != 10 {
            return None;
        }
        let date: jiff::civil::Date = text.parse().ok()?;
        let t = date.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp();
        (t >= jiff::Timestamp::UNIX_EPOCH).then(|| SystemTime::from(t))
    })
}

/// RFC 3986 unreserved characters stay; everything else is percent-encoded.
const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes one path segment; `.` and `..` are encoded so they never change a path.
pub(crate) fn seg(segment: &str) -> String {
    if segment == "." || segment == ".." {
        return segment.replace('.', "%2E");
    }
    utf8_percent_encode(segment, UNRESERVED).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    // Proves timestamps format and parse back to the same instant, offsets are applied and
    // impossible dates are refused. (FR-44)
    #[test]
    fn rfc3339_round_trip() {
        let t = UNIX_EPOCH + Duration::from_millis(1_757_932_245_123);
        assert_eq!(rfc3339_millis(t), "2025-09-15T10:30:45.123Z");
        assert_eq!(parse_rfc3339("2025-09-15T10:30:45.123Z"), Some(t));
        assert_eq!(parse_rfc3339("2025-09-15T12:30:45.123+02:00"), Some(t));
        assert_eq!(parse_rfc3339("2025-02-31T10:30:45Z"), None);
        assert_eq!(
            parse_date_time("2025-09-15"),
            Some(UNIX_EPOCH + Duration::from_secs(1_757_894_400))
        );
        assert_eq!(seg(".."), "%2E%2E");
        assert_eq!(seg("a b/c"), "a%20b%2Fc");
        assert_eq!(crc32c_b64(crc32c::crc32c(b"123456789")), "4waSgw==");
        assert_eq!(hex(&[0, 255]), "00ff");
    }
}
