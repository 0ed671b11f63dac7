//! The percent-encoding set the crate writes with: RFC 3986 unreserved characters stay,
//! everything else is encoded (path segments, query values, form bodies, and the encoded forms
//! of secrets that error scrubbing looks for).

use percent_encoding::{AsciiSet, NON_ALPHANUMERIC};

/// Characters left unescaped (RFC 3986 unreserved: letters, digits, `-`, `.`, `_`, `~`).
pub(crate) const UNRESERVED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
