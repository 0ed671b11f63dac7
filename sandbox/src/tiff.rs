//! The little-endian classic TIFFs the sandbox writes (example slides, segmentation maps): one
//! image directory, its out-of-line values, and one run of pixel bytes that every tile or strip
//! points at.

/// A directory entry: tag, field type (2 ASCII, 3 SHORT, 4 LONG, 5 RATIONAL), count, and the
/// value's bytes.
pub(crate) type Entry = (u16, u16, u32, Vec<u8>);

/// A SHORT value.
pub(crate) fn short(v: u16) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

/// A LONG value.
pub(crate) fn long(v: u32) -> Vec<u8> {
    v.to_le_bytes().to_vec()
}

/// The file of `entries` (any order) and `data`, with the entry `offsets` (TileOffsets or
/// StripOffsets) holding `copies` pointers to `data`.
pub(crate) fn write(mut entries: Vec<Entry>, offsets: u16, copies: u32, data: &[u8]) -> Vec<u8> {
    entries.push((offsets, 4, copies, vec![0; copies as usize * 4]));
    entries.sort_by_key(|e| e.0);
    // Values longer than 4 bytes follow the directory, each at an even offset.
    let ifd_len = 2 + entries.len() * 12 + 4;
    let extra_len: usize = entries
        .iter()
        .filter(|e| e.3.len() > 4)
        .map(|e| e.3.len() + e.3.len() % 2)
        .sum();
    let data_at = (8 + ifd_len + extra_len) as u32;
    for entry in entries.iter_mut().filter(|e| e.0 == offsets) {
        entry.3 = long(data_at).repeat(copies as usize);
    }
    let mut out = b"II\x2a\x00".to_vec();
    out.extend_from_slice(&8u32.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    let mut extra = Vec::with_capacity(extra_len);
    for (tag, kind, count, value) in &entries {
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&kind.to_le_bytes());
        out.extend_from_slice(&count.to_le_bytes());
        if value.len() <= 4 {
            let mut inline = value.clone();
            inline.resize(4, 0);
            out.extend_from_slice(&inline);
        } else {
            out.extend_from_slice(&((8 + ifd_len + extra.len()) as u32).to_le_bytes());
            extra.extend_from_slice(value);
            if extra.len() % 2 == 1 {
                extra.push(0);
            }
        }
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&extra);
    out.extend_from_slice(data);
    out
}
