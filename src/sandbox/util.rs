//! Small helpers of the sandbox: ids, timestamps, checksums, signatures and generated content.

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::io::Read;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::Value;
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
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
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

fn sha256(parts: &[&str]) -> [u8; 32] {
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
    let h = hex.to_ascii_lowercase();
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    ))
}

/// Keyed signature of `message`: the first 128 bits of SHA-256(secret, message), hex.
pub(crate) fn sign(secret: &str, message: &[&str]) -> String {
    let mut parts = vec![secret];
    parts.extend_from_slice(message);
    sha256(&parts)[..16]
        .iter()
        .map(|x| format!("{x:02x}"))
        .collect()
}

/// Compares two strings in time independent of where they differ.
pub(crate) fn constant_time_eq(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

// ---- time --------------------------------------------------------------------------------

/// Seconds since the Unix epoch.
pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

pub(crate) use crate::time::{parse_rfc3339, rfc3339_millis as rfc3339};

// ---- checksums ---------------------------------------------------------------------------

/// The platform's checksum format: base64 of the big-endian CRC32C.
pub(crate) use crate::checksum::encode as crc32c_base64;

/// Checksum of custom metadata: the first 8 hex digits of SHA-256 of its canonical JSON.
pub(crate) fn metadata_checksum(value: &Value) -> String {
    let mut text = String::new();
    canonical_json(value, &mut text);
    let digest = Sha256::digest(text.as_bytes());
    digest[..4].iter().map(|x| format!("{x:02x}")).collect()
}

/// JSON with object keys sorted at every level and no whitespace.
pub(crate) fn canonical_json(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical_json(&map[k], out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical_json(v, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

// ---- generated artifact content ----------------------------------------------------------

fn splitmix64(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A seed for generated content derived from ids.
pub(crate) fn content_seed(parts: &[&str]) -> u64 {
    let d = sha256(parts);
    u64::from_be_bytes([d[0], d[1], d[2], d[3], d[4], d[5], d[6], d[7]])
}

/// Deterministic pseudo-random bytes `[start, end)` of the stream for `seed`; any offset can be
/// produced without generating what precedes it, so ranges are cheap.
#[derive(Debug, Clone)]
pub(crate) struct Generated {
    seed: u64,
    pos: u64,
    end: u64,
}

impl Generated {
    pub(crate) fn new(seed: u64, start: u64, end: u64) -> Self {
        Self {
            seed,
            pos: start,
            end: end.max(start),
        }
    }

    pub(crate) fn len(&self) -> u64 {
        self.end - self.pos
    }

    /// CRC32C of the remaining bytes (consumes a clone).
    pub(crate) fn crc32c(&self) -> u32 {
        let mut reader = self.clone();
        let mut crc = 0u32;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = reader.read(&mut buf).unwrap_or(0);
            if n == 0 {
                return crc;
            }
            crc = crc32c::crc32c_append(crc, &buf[..n]);
        }
    }
}

impl Read for Generated {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = usize::try_from(self.end - self.pos)
            .unwrap_or(usize::MAX)
            .min(buf.len());
        let mut i = 0;
        while i < n {
            let word_index = self.pos / 8;
            let word = splitmix64(self.seed ^ word_index.wrapping_mul(0xD605_BBB5_8C8A_BE45))
                .to_le_bytes();
            let offset = (self.pos % 8) as usize;
            let take = (8 - offset).min(n - i);
            buf[i..i + take].copy_from_slice(&word[offset..offset + take]);
            i += take;
            self.pos += take as u64;
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the checksum format: base64 of the big-endian CRC32C. (FR-44)
    #[test]
    fn crc32c_format() {
        // CRC32C("123456789") = 0xE3069283.
        assert_eq!(crc32c_base64(crc32c::crc32c(b"123456789")), "4waSgw==");
        assert_eq!(crc32c_base64(0), "AAAAAA==");
    }

    // Proves generated content is deterministic and any range equals the slice of the whole. (FR-44)
    #[test]
    fn generated_ranges_match_whole() {
        let mut whole = Vec::new();
        Generated::new(7, 0, 1000).read_to_end(&mut whole).unwrap();
        let mut part = Vec::new();
        Generated::new(7, 333, 777).read_to_end(&mut part).unwrap();
        assert_eq!(&whole[333..777], &part[..]);
        assert_eq!(Generated::new(7, 0, 1000).crc32c(), crc32c::crc32c(&whole));
        let mut other = Vec::new();
        Generated::new(8, 0, 1000).read_to_end(&mut other).unwrap();
        assert_ne!(whole, other);
    }

    // Proves the metadata checksum ignores key order and whitespace. (FR-44)
    #[test]
    fn checksum_is_canonical() {
        let a: Value = serde_json::from_str(r#"{"b": 1, "a": {"y": [1, 2], "x": null}}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"a":{"x":null,"y":[1,2]},"b":1}"#).unwrap();
        assert_eq!(metadata_checksum(&a), metadata_checksum(&b));
        assert_eq!(metadata_checksum(&a).len(), 8);
        assert_ne!(
            metadata_checksum(&a),
            metadata_checksum(&serde_json::json!({"b": 2}))
        );
    }

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
