//! Signatures of the sandbox's signed URLs and constant-time comparison of secrets.

use std::time::{SystemTime, UNIX_EPOCH};

use super::ids::sha256;

/// Keyed signature of `message`: the first 128 bits of SHA-256(secret, message), hex.
pub(crate) fn sign(secret: &str, message: &[&str]) -> String {
    let mut parts = vec![secret];
    parts.extend_from_slice(message);
    crate::util::hex(&sha256(&parts)[..16])
}

/// Compares two strings in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}
