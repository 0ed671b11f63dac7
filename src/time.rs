//! Time arithmetic that never panics, and RFC 3339 timestamps without a date-time dependency
//! (the API sends and takes them as text).
//!
//! Every instant computed from a duration or a timestamp that comes from input (an option such
//! as `Duration::MAX`, a token file, a JWT claim, an HTTP header) goes through
//! [`instant_after`] or [`unix_time`], which saturate instead of overflowing.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The latest time [`unix_time`] returns: 9999-12-31T23:59:59Z, the last second RFC 3339 can
/// write and far beyond any real expiry.
pub(crate) const MAX_UNIX_SECS: u64 = 253_402_300_799;

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

/// `t + d`, capped at [`MAX_UNIX_SECS`].
pub(crate) fn system_after(t: SystemTime, d: Duration) -> SystemTime {
    let cap = unix_time(MAX_UNIX_SECS);
    t.checked_add(d).map_or(cap, |sum| sum.min(cap))
}

/// RFC 3339 in UTC with milliseconds, e.g. `2025-09-15T10:30:45.123Z` (the platform's form).
#[cfg(feature = "sandbox")]
pub(crate) fn rfc3339_millis(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}.{:03}Z", date_time(d.as_secs()), d.subsec_millis())
}

/// RFC 3339 in UTC, whole seconds, e.g. `2025-09-15T10:30:45Z`.
pub(crate) fn rfc3339_seconds(t: SystemTime) -> String {
    let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
    format!("{}Z", date_time(d.as_secs()))
}

/// `YYYY-MM-DDTHH:MM:SS` of seconds since the epoch.
fn date_time(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let (y, m, day) = civil_from_days(days as i64);
    format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parses an RFC 3339 timestamp (`Z` or `±HH:MM` offset, optional fraction).
pub(crate) fn parse_rfc3339(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let t = s.get(r)?;
        t.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| t.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (h, mi, se) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&mo) || !(1..=31).contains(&d) || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut nanos = 0u32;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits: String = frac.chars().take_while(char::is_ascii_digit).collect();
        if digits.is_empty() {
            return None;
        }
        let mut padded = digits.clone();
        padded.truncate(9);
        while padded.len() < 9 {
            padded.push('0');
        }
        nanos = padded.parse().ok()?;
        rest = &frac[digits.len()..];
    }
    let offset_secs: i64 = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && (rest.starts_with('+') || rest.starts_with('-')) => {
            let oh: i64 = rest.get(1..3)?.parse().ok()?;
            let om: i64 = rest.get(4..6)?.parse().ok()?;
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            sign * (oh * 3600 + om * 60)
        }
        _ => return None,
    };
    let days = days_from_civil(y, mo, d);
    let secs = days * 86_400 + h * 3600 + mi * 60 + se - offset_secs;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + std::time::Duration::new(secs, nanos))
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = if m > 2 { m - 3 } else { m + 9 };
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
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
        assert_eq!(rfc3339_seconds(unix_time(u64::MAX)), "9999-12-31T23:59:59Z");
        assert_eq!(unix_time(7), UNIX_EPOCH + Duration::from_secs(7));
        assert_eq!(system_after(UNIX_EPOCH, Duration::MAX), unix_time(u64::MAX));
        assert_eq!(
            system_after(UNIX_EPOCH, Duration::from_secs(9)),
            unix_time(9)
        );
    }

    // Proves timestamps format and parse back to the same instant. (FR-44)
    #[cfg(feature = "sandbox")]
    #[test]
    fn rfc3339_round_trip() {
        let t = UNIX_EPOCH + Duration::from_millis(1_757_932_245_123);
        assert_eq!(rfc3339_millis(t), "2025-09-15T10:30:45.123Z");
        assert_eq!(parse_rfc3339("2025-09-15T10:30:45.123Z"), Some(t));
        assert_eq!(
            parse_rfc3339("2025-09-15T12:30:45.123+02:00"),
            Some(t),
            "offsets are applied"
        );
        assert_eq!(parse_rfc3339("2025-13-15T10:30:45Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
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
