//! CRC32C checksums in the platform's format: the base64 of the big-endian 4-byte digest
//! (`checksum_base64_crc32c` in artifact metadata, e.g. `"4waSgw=="` for `123456789`).
//!
//! Use these to prepare the metadata of input artifacts before submitting a run:
//!
//! ```no_run
//! let checksum = aignostics::checksum::crc32c_base64_file("slide-1.svs")?;
//! let metadata = serde_json::json!({ "checksum_base64_crc32c": checksum });
//! # Ok::<(), aignostics::Error>(())
//! ```
//!
//! A [`ChecksumIndex`] remembers the checksums of files that have not changed since they were
//! read, so a restart of a large folder reads no slide again.
//!
//! Downloads verify output artifacts with the same digest while they stream; see
//! [`Run::download_to`](crate::Run::download_to).

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;

use crate::error::{Error, Result};

mod index;
pub use index::ChecksumIndex;

/// Read size when hashing files and readers (large enough that the hardware CRC dominates).
const CHUNK: usize = 1024 * 1024;

/// The base64 CRC32C of `data`.
///
/// ```
/// assert_eq!(aignostics::checksum::crc32c_base64(b"123456789"), "4waSgw==");
/// ```
pub fn crc32c_base64(data: &[u8]) -> String {
    encode(crc32c::crc32c(data))
}

/// The base64 CRC32C of everything `reader` yields, read in 1 MiB chunks (memory stays
/// constant whatever the size).
///
/// ```
/// let digest = aignostics::checksum::crc32c_base64_reader(&b"123456789"[..])?;
/// assert_eq!(digest, "4waSgw==");
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn crc32c_base64_reader(reader: impl Read) -> io::Result<String> {
    crc32c_reader(reader).map(|(crc, _)| encode(crc))
}

/// The base64 CRC32C of the file at `path`; an I/O failure names the file.
///
/// ```no_run
/// let digest = aignostics::checksum::crc32c_base64_file("slide-1.svs")?;
/// # Ok::<(), aignostics::Error>(())
/// ```
pub fn crc32c_base64_file(path: impl AsRef<Path>) -> Result<String> {
    let path = path.as_ref();
    crc32c_file(path)
        .map(|(crc, _)| encode(crc))
        .map_err(|e| Error::io(path, e))
}

/// The raw CRC32C and length of a file.
pub(crate) fn crc32c_file(path: &Path) -> io::Result<(u32, u64)> {
    crc32c_reader(File::open(path)?)
}

/// The raw CRC32C and length of everything `reader` yields.
pub(crate) fn crc32c_reader(mut reader: impl Read) -> io::Result<(u32, u64)> {
    let mut buf = vec![0u8; CHUNK];
    let mut crc = 0u32;
    let mut len = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok((crc, len)),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        crc = crc32c::crc32c_append(crc, &buf[..n]);
        len = len.saturating_add(n as u64);
    }
}

/// SHA-256 of `bytes` (cache scopes, idempotency keys, PKCE), by `ring`, which rustls
/// compiles anyway.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// Lowercase hex of `bytes` (digests, random ids).
pub(crate) fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(out, "{b:02x}");
    }
    out
}

/// The platform's text form of a digest: standard base64 (with padding) of the big-endian bytes.
pub(crate) fn encode(crc: u32) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(crc.to_be_bytes())
}

/// The digest a text form names (see [`encode`]); `None` for anything but base64 of 4 bytes.
#[cfg(feature = "bucket")]
pub(crate) fn decode(text: &str) -> Option<u32> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(text.trim())
        .ok()?;
    Some(u32::from_be_bytes(bytes.try_into().ok()?))
}

/// Whether a published checksum (as text) names the digest `crc`. Surrounding whitespace and
/// missing padding are tolerated; anything else must match exactly.
pub(crate) fn matches(expected: &str, crc: u32) -> bool {
    let ours = encode(crc);
    expected.trim().trim_end_matches('=') == ours.trim_end_matches('=')
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the encoding against known CRC32C vectors (RFC 3720 check value and others). (FR-42)
    #[test]
    fn known_vectors() {
        assert_eq!(crc32c::crc32c(b"123456789"), 0xE306_9283);
        assert_eq!(encode(0xE306_9283), "4waSgw==");
        assert_eq!(crc32c_base64(b""), "AAAAAA==");
        assert_eq!(encode(0xFFFF_FFFF), "/////w==");
        assert_eq!(encode(0x0000_0001), "AAAAAQ==");
        // 32 zero bytes: CRC32C 0x8A9136AA (RFC 3720, B.4).
        assert_eq!(crc32c::crc32c(&[0u8; 32]), 0x8A91_36AA);
        assert_eq!(crc32c_base64(&[0u8; 32]), "ipE2qg==");
    }

    // Proves comparison tolerates whitespace and missing padding but not a different digest. (FR-39)
    #[test]
    fn comparison() {
        assert!(matches("4waSgw==", 0xE306_9283));
        assert!(matches(" 4waSgw \n", 0xE306_9283));
        assert!(!matches("4waSgx==", 0xE306_9283));
        assert!(!matches("", 0xE306_9283));
    }
}
