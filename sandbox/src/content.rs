//! Generated artifact content: deterministic bytes for any range, and its checksum.

use std::io::Read;

use super::ids::sha256;

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
        // Whole words at word-aligned offsets: one store per 8 bytes.
        if self.pos.is_multiple_of(8) {
            for chunk in buf[..n].chunks_exact_mut(8) {
                let word_index = self.pos / 8;
                let word = splitmix64(self.seed ^ word_index.wrapping_mul(0xD605_BBB5_8C8A_BE45));
                chunk.copy_from_slice(&word.to_le_bytes());
                self.pos += 8;
            }
            i = n - n % 8;
        }
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

    use crate::util::crc32c_b64 as crc32c_base64;

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
}
