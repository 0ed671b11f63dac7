//! Time arithmetic that never panics, and RFC 3339 timestamps (the API sends and takes them as
//! text), read and written by `jiff`: every date and time from input goes through one parser.
//!
//! Every instant computed from a duration or a timestamp that comes from input (an option such
//! as `Duration::MAX`, a token file, a JWT claim, an HTTP header) goes through
//! [`instant_after`] or [`unix_time`], which saturate instead of overflowing.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The latest time [`unix_time`] returns: 9999-12-30T22:00:00Z, the last second a timestamp
/// can hold (`jiff::Timestamp::MAX`, within what RFC 3339 can write) and far beyond any real
/// expiry.
pub(crate) const MAX_UNIX_SECS: u64 = 253_402_207_200;

/// A century: "never" for deadlines, representable as an `Instant` offset on every platform.
const FAR: Duration = Duration::from_secs(100 * 365 * 86_400);

/// `start + d`, or a century after `start` when `d` is too long to add (e.g. `Duration::MAX`).
pub(crate) fn instant_after(start: Instant, d: Duration) -> Instant {
    start
        .checked_add(d.min(FAR))
        .or_else(|| start.checked_add(Duration::from_secs(86_400)))
        .unwrap_or(start)
}

/// The moment `secs` seconds after the Unix epoch, capped at [`MAX_UNIX_SECS`].
pub(crate) fn unix_time(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs.min(MAX_UNIX_SECS))
}

/// Seconds since the Unix epoch (0 before it).
pub(crate) fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// `t + d`, capped at [`MAX_UNIX_SECS`].
pub(crate) fn system_after(t: SystemTime, d: Duration) -> SystemTime {
    let cap = unix_time(MAX_UNIX_SECS);
    t.checked_add(d).map_or(cap, |sum| sum.min(cap))
}

/// RFC 3339 in UTC, whole seconds, e.g. `2025-09-15T10:30:45Z`.
pub(crate) fn rfc3339_seconds(t: SystemTime) -> String {
    timestamp(t).strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// `t` as a timestamp, clamped to what RFC 3339 can write (0000 to 9999).
fn timestamp(t: SystemTime) -> jiff::Timestamp {
    let t = t.clamp(UNIX_EPOCH, unix_time(MAX_UNIX_SECS));
    jiff::Timestamp::try_from(t).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
}

/// Parses an RFC 3339 timestamp (`Z` or `±HH:MM` offset, optional fraction) with `jiff`: a
/// date that does not exist (`2026-02-31`), a time past `23:59:60` or an offset past
/// `±25:59` is no timestamp. Instants before the epoch are none either (nothing the API
/// exchanges lies there).
pub(crate) fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let t: jiff::Timestamp = s.trim().parse().ok()?;
    (t >= jiff::Timestamp::UNIX_EPOCH).then(|| SystemTime::from(t))
}

/// A date-time as the platform's `date-time` fields take it: an RFC 3339 timestamp, or a
/// calendar date (`2026-12-31`, midnight UTC).
pub(crate) fn parse_date_time(s: &str) -> Option<SystemTime> {
    parse_rfc3339(s).or_else(|| {
        // Only `YYYY-MM-DD`: jiff's date parser also takes a date-time and drops the time.
        let text = s.trim();
        if text.len() != 10 {
            return None;
        }
        let date: jiff::civil::Date = text.parse().ok()?;
        let t = date.to_zoned(jiff::tz::TimeZone::UTC).ok()?.timestamp();
        (t >= jiff::Timestamp::UNIX_EPOCH).then(|| SystemTime::from(t))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves deadlines and timestamps from extreme input saturate instead of panicking. (NFR-13)
    #[test]
    fn arithmetic_saturates() {
        let now = Instant::now();
        assert!(instant_after(now, Duration::MAX) > now + Duration::from_secs(365 * 86_400));
        assert_eq!(
            instant_after(now, Duration::from_secs(5)),
            now + Duration::from_secs(5)
        );
        assert_eq!(rfc3339_seconds(unix_time(u64::MAX)), "9999-12-30T22:00:00Z");
        assert_eq!(
            MAX_UNIX_SECS,
            jiff::Timestamp::MAX.as_second().unsigned_abs()
        );
        assert_eq!(unix_time(7), UNIX_EPOCH + Duration::from_secs(7));
        assert_eq!(system_after(UNIX_EPOCH, Duration::MAX), unix_time(u64::MAX));
        assert_eq!(
            system_after(UNIX_EPOCH, Duration::from_secs(9)),
            unix_time(9)
        );
    }

    // Proves timestamps parse to the same instant whatever their offset. (FR-44)
    #[test]
    fn rfc3339_round_trip() {
        let t = UNIX_EPOCH + Duration::from_millis(1_757_932_245_123);
        assert_eq!(parse_rfc3339("2025-09-15T10:30:45.123Z"), Some(t));
        assert_eq!(
            parse_rfc3339("2025-09-15T12:30:45.123+02:00"),
            Some(t),
            "offsets are applied"
        );
        assert_eq!(parse_rfc3339("2025-13-15T10:30:45Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
    }

    // Proves one strict parser for every date and time from input: dates that do not exist,
    // times and offsets out of range and trailing text are refused; a calendar date is
    // midnight UTC where a date-time field takes one. (FR-64, NFR-30)
    #[test]
    fn impossible_dates_and_offsets_are_refused() {
        for bad in [
            "2026-02-31T00:00:00Z",
            "2026-12-31T99:99:99Z",
            "2026-12-31T12:00:00+99:99",
            "2026-12-31T12:00:00",
            "2026-12-31T12:00:00Zjunk",
            "",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
            assert_eq!(parse_date_time(bad), None, "{bad}");
        }
        assert_eq!(
            parse_rfc3339("2024-02-29T23:00:00-01:00"),
            Some(UNIX_EPOCH + Duration::from_secs(1_709_251_200))
        );
        assert_eq!(
            parse_date_time("2024-03-01"),
            Some(UNIX_EPOCH + Duration::from_secs(1_709_251_200))
        );
        assert_eq!(parse_date_time("2023-02-29"), None);
    }

    proptest::proptest! {
        // Proves any text parses without a panic, and every timestamp written parses back to
        // the same second. (NFR-13, NFR-16)
        #[test]
        fn timestamps_round_trip(secs in 0u64..=MAX_UNIX_SECS, text in "\\PC{0,40}") {
            let t = unix_time(secs);
            proptest::prop_assert_eq!(parse_rfc3339(&rfc3339_seconds(t)), Some(t));
            let _ = (parse_rfc3339(&text), parse_date_time(&text));
        }
    }

    // Proves whole-second timestamps across the epoch, a leap day and a late date (FR-45).
    #[test]
    fn formats_whole_seconds() {
        assert_eq!(rfc3339_seconds(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let leap = UNIX_EPOCH + Duration::from_secs(1_709_210_096);
        assert_eq!(rfc3339_seconds(leap), "2024-02-29T12:34:56Z");
        let later = UNIX_EPOCH + Duration::from_secs(4_102_444_799);
        assert_eq!(rfc3339_seconds(later), "2099-12-31T23:59:59Z");
    }
}
