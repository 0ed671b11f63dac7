//! What a storage host announces about a body (`Content-Length`, `Content-Range`), parsed
//! without trusting it: every size is checked, none can overflow or panic.

/// A parsed `Content-Range` (`bytes START-END/TOTAL`, `bytes START-END/*` or `bytes */TOTAL`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ContentRange {
    /// First and last byte of the body, when given.
    pub range: Option<(u64, u64)>,
    /// The whole artifact's size, when given.
    pub total: Option<u64>,
}

/// A decimal size: ASCII digits only (no sign, no spaces inside), at most `u64::MAX`.
fn number(text: &str) -> Option<u64> {
    let text = text.trim();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Parses `Content-Length`; `None` when it is not a plain decimal number.
pub(crate) fn parse_content_length(value: &str) -> Option<u64> {
    number(value)
}

/// Parses `Content-Range`; `None` when malformed, when the end precedes the start, or when
/// the range does not fit in the total.
pub(crate) fn parse_content_range(value: &str) -> Option<ContentRange> {
    let rest = value.trim().strip_prefix("bytes")?;
    if !rest.starts_with([' ', '\t']) {
        return None;
    }
    let (range, total) = rest.trim_start().split_once('/')?;
    let total = match total.trim() {
        "*" => None,
        t => Some(number(t)?),
    };
    let range = match range.trim() {
        "*" if total.is_some() => None,
        r => {
            let (start, end) = r.split_once('-')?;
            let (start, end) = (number(start)?, number(end)?);
            if end < start || total.is_some_and(|t| end >= t) {
                return None;
            }
            Some((start, end))
        }
    };
    Some(ContentRange { range, total })
}

/// Why an answer's announced sizes cannot be used.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Mismatch {
    /// The range starts elsewhere than requested (or is missing).
    OtherRange,
    /// `Content-Length` promises more (or fewer) bytes than the range holds.
    Length { range_len: u64, content_length: u64 },
}

/// The artifact's size announced by a 206 answer to `Range: bytes={start}-`, when known:
/// the range's total, else its end + 1 (the body runs to the artifact's end), else
/// `start + Content-Length` when that does not overflow.
pub(crate) fn total_of_partial(
    start: u64,
    range: Option<ContentRange>,
    content_length: Option<u64>,
) -> Result<Option<u64>, Mismatch> {
    let Some(ContentRange {
        range: Some((first, last)),
        total,
    }) = range
    else {
        return Err(Mismatch::OtherRange);
    };
    if first != start {
        return Err(Mismatch::OtherRange);
    }
    // `last >= first` was checked when parsing, so this cannot underflow; +1 can overflow only
    // for a range ending at u64::MAX.
    let range_len = (last - first).checked_add(1);
    if let (Some(range_len), Some(content_length)) = (range_len, content_length)
        && range_len != content_length
    {
        return Err(Mismatch::Length {
            range_len,
            content_length,
        });
    }
    Ok(total.or_else(|| last.checked_add(1)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    // Proves Content-Range parsing accepts the RFC 9110 forms and rejects malformed ones. (FR-38, NFR-13)
    #[test]
    fn content_range() {
        let r = |range, total| Some(ContentRange { range, total });
        assert_eq!(
            parse_content_range("bytes 300000-999999/1000000"),
            r(Some((300_000, 999_999)), Some(1_000_000))
        );
        assert_eq!(parse_content_range("bytes 0-9/*"), r(Some((0, 9)), None));
        assert_eq!(parse_content_range("bytes */1000"), r(None, Some(1000)));
        assert_eq!(parse_content_range("bytes */*"), None);
        assert_eq!(parse_content_range("bytes 9-0/10"), None);
        assert_eq!(parse_content_range("bytes 0-10/10"), None);
        assert_eq!(parse_content_range("items 0-9/10"), None);
        assert_eq!(parse_content_range("bytes x-9/10"), None);
        assert_eq!(parse_content_range("bytes +1-9/10"), None);
        assert_eq!(parse_content_range("bytes0-9/10"), None);
        assert_eq!(
            parse_content_range("bytes 0-18446744073709551615/*"),
            r(Some((0, u64::MAX)), None)
        );
        assert_eq!(parse_content_range("bytes 0-18446744073709551616/*"), None);
    }

    // Proves the size of a 206 comes from the range, checks Content-Length against it and never
    // overflows, whatever the numbers. (FR-38, NFR-14)
    #[test]
    fn partial_totals() {
        let range = |s: &str| parse_content_range(s);
        assert_eq!(
            total_of_partial(10, range("bytes 10-99/100"), Some(90)),
            Ok(Some(100))
        );
        assert_eq!(
            total_of_partial(10, range("bytes 10-99/*"), None),
            Ok(Some(100))
        );
        assert_eq!(
            total_of_partial(10, range("bytes 10-99/*"), Some(u64::MAX)),
            Err(Mismatch::Length {
                range_len: 90,
                content_length: u64::MAX
            })
        );
        assert_eq!(
            total_of_partial(0, range("bytes 0-18446744073709551615/*"), Some(u64::MAX)),
            Ok(None)
        );
        assert_eq!(
            total_of_partial(5, range("bytes 10-99/100"), None),
            Err(Mismatch::OtherRange)
        );
        assert_eq!(
            total_of_partial(5, range("bytes */100"), None),
            Err(Mismatch::OtherRange)
        );
        assert_eq!(total_of_partial(5, None, None), Err(Mismatch::OtherRange));
    }

    // Proves Content-Length accepts plain decimal numbers only. (NFR-14)
    #[test]
    fn content_length() {
        assert_eq!(parse_content_length(" 42 "), Some(42));
        assert_eq!(parse_content_length("18446744073709551615"), Some(u64::MAX));
        assert_eq!(parse_content_length("18446744073709551616"), None);
        assert_eq!(parse_content_length("+42"), None);
        assert_eq!(parse_content_length("4 2"), None);
        assert_eq!(parse_content_length(""), None);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(4096))]

        // Proves the header parsers never panic on any text and accept only what they can
        // represent. (NFR-14)
        #[test]
        fn parsers_never_panic(
            text in prop_oneof![".{0,64}", "bytes[ \t]?[0-9*+ -]{0,24}/?[0-9* ]{0,24}", "[0-9 +-]{0,24}"],
            start in any::<u64>(), length in any::<Option<u64>>()) {
            let parsed = parse_content_range(&text);
            if let Some(ContentRange { range: Some((a, b)), total }) = parsed {
                prop_assert!(a <= b);
                prop_assert!(total.is_none_or(|t| b < t));
            }
            let _ = total_of_partial(start, parsed, length);
            if let Some(n) = parse_content_length(&text) {
                prop_assert!(text.trim().bytes().all(|b| b.is_ascii_digit()));
                prop_assert_eq!(text.trim().parse::<u128>().ok(), Some(u128::from(n)));
            }
        }

        // Proves every well-formed range round-trips, and the 206 total is its total or end + 1. (FR-38, NFR-14)
        #[test]
        fn well_formed_ranges_round_trip(a in any::<u64>(), len in any::<u64>(), extra in any::<u64>(), known in any::<bool>()) {
            let b = a.saturating_add(len);
            let total = b.checked_add(1).map(|t| t.saturating_add(extra));
            let text = match (known, total) {
                (true, Some(t)) => format!("bytes {a}-{b}/{t}"),
                _ => format!("bytes {a}-{b}/*"),
            };
            let parsed = parse_content_range(&text);
            let expected_total = if known { total } else { None };
            prop_assert_eq!(parsed, Some(ContentRange { range: Some((a, b)), total: expected_total }));
            let got = total_of_partial(a, parsed, None);
            prop_assert_eq!(got, Ok(expected_total.or_else(|| b.checked_add(1))));
        }
    }
}
