//! Ids of the sandbox: random hex secrets, random and derived UUIDs, and UUID parsing.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

/// 64 random bits from the standard library's randomly keyed hasher (no RNG dependency).
pub(crate) fn random_u64() -> u64 {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut h = RandomState::new().build_hasher();
    h.write_u64(COUNTER.fetch_add(1, Ordering::Relaxed));
    h.write_u128(
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default(),
    );
    h.finish()
}

/// `n` random bytes as lowercase hex.
pub(crate) fn random_hex(bytes: usize) -> String {
    let mut out = String::with_capacity(bytes * 2);
    while out.len() < bytes * 2 {
        out.push_str(&format!("{:016x}", random_u64()));
    }
    out.truncate(bytes * 2);
    out
}

/// Formats 16 bytes as a version-4 UUID.
fn uuid_from(mut b: [u8; 16]) -> String {
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    hyphenated(&crate::util::hex(&b))
}

/// 32 lowercase hex digits in the 8-4-4-4-12 form of a UUID.
fn hyphenated(h: &str) -> String {
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// A fresh random UUID.
pub(crate) fn new_uuid() -> String {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&random_u64().to_le_bytes());
    b[8..].copy_from_slice(&random_u64().to_le_bytes());
    uuid_from(b)
}

/// A UUID derived from `parts` (stable across calls).
pub(crate) fn derived_uuid(parts: &[&str]) -> String {
    let digest = sha256(parts);
    let mut b = [0u8; 16];
    b.copy_from_slice(&digest[..16]);
    uuid_from(b)
}

/// SHA-256 of length-prefixed `parts` (so `["ab", ""]` and `["a", "b"]` differ).
pub(super) fn sha256(parts: &[&str]) -> [u8; 32] {
    let mut h = Sha256::new();
    for p in parts {
        h.update((p.len() as u64).to_be_bytes());
        h.update(p.as_bytes());
    }
    h.finalize().into()
}

/// `value` as a lowercase hyphenated UUID, or `None` when it is not one (hyphenated or 32 hex
/// digits, as pydantic accepts).
pub(crate) fn parse_uuid(value: &str) -> Option<String> {
    let hex: String = value.chars().filter(|c| *c != '-').collect();
    let hyphens_ok = match value.len() {
        32 => !value.contains('-'),
        36 => [8, 13, 18, 23]
            .iter()
            .all(|&i| value.as_bytes().get(i) == Some(&b'-')),
        _ => false,
    };
    if !hyphens_ok || hex.len() != 32 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    Some(hyphenated(&hex.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves UUID parsing accepts both forms, normalises case and rejects others. (FR-44)
    #[test]
    fn uuids() {
        let u = new_uuid();
        assert_eq!(parse_uuid(&u).as_deref(), Some(u.as_str()));
        assert_eq!(
            parse_uuid("3FA85F6457174562B3FC2C963F66AFA6").as_deref(),
            Some("3fa85f64-5717-4562-b3fc-2c963f66afa6")
        );
        assert_eq!(parse_uuid("not-a-uuid"), None);
        assert_eq!(parse_uuid("3fa85f64-5717-4562-b3fc-2c963f66afa"), None);
        assert_ne!(new_uuid(), new_uuid());
        assert_eq!(derived_uuid(&["a", "b"]), derived_uuid(&["a", "b"]));
        assert_ne!(derived_uuid(&["a", "b"]), derived_uuid(&["ab", ""]));
    }
}
