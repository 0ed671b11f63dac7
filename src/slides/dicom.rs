//! DICOM VL Whole Slide Microscopy: the file meta information and the dataset's elements up
//! to the pixel data, which is never read.

use super::source::{Endian, Fault, Source};

/// SOP Class UID of VL Whole Slide Microscopy Image Storage.
pub(crate) const WSI_SOP_CLASS: &str = "1.2.840.10008.5.1.4.1.1.77.1.6";

const IMPLICIT_LITTLE: &str = "1.2.840.10008.1.2";
const EXPLICIT_BIG: &str = "1.2.840.10008.1.2.2";
const DEFLATED: &str = "1.2.840.10008.1.2.1.99";

const UNDEFINED: u32 = 0xFFFF_FFFF;
/// Deepest sequence nesting followed (real files nest three or four levels).
const MAX_DEPTH: u32 = 32;
/// Most elements visited in one header.
const MAX_ELEMENTS: usize = 1_000_000;
/// Largest value read of an element we need (UIDs, code strings, decimal strings).
const MAX_VALUE: u32 = 64 * 1024;

type Tag = (u16, u16);
const SOP_CLASS_UID: Tag = (0x0008, 0x0016);
const IMAGE_TYPE: Tag = (0x0008, 0x0008);
const SERIES_INSTANCE_UID: Tag = (0x0020, 0x000E);
const ROWS: Tag = (0x0028, 0x0010);
const COLUMNS: Tag = (0x0028, 0x0011);
const PIXEL_SPACING: Tag = (0x0028, 0x0030);
const TOTAL_COLUMNS: Tag = (0x0048, 0x0006);
const TOTAL_ROWS: Tag = (0x0048, 0x0007);
const SHARED_GROUPS: Tag = (0x5200, 0x9229);
const PIXEL_MEASURES: Tag = (0x0028, 0x9110);
const PIXEL_DATA: Tag = (0x7FE0, 0x0010);

/// Whether the first bytes are a DICOM file (128-byte preamble, then `DICM`).
pub(crate) fn sniff(head: &[u8]) -> bool {
    head.get(128..132) == Some(b"DICM")
}

/// What the header of one DICOM instance says.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Instance {
    pub(crate) sop_class: Option<String>,
    pub(crate) image_type: Vec<String>,
    pub(crate) series_uid: Option<String>,
    pub(crate) rows: Option<u64>,
    pub(crate) columns: Option<u64>,
    pub(crate) total_rows: Option<u64>,
    pub(crate) total_columns: Option<u64>,
    /// PixelSpacing (row, column) in mm from the shared functional groups, else top level.
    pub(crate) spacing: Option<(f64, f64)>,
    top_spacing: Option<(f64, f64)>,
}

impl Instance {
    /// Level-0 size of this instance: the total pixel matrix, else the frame size.
    pub(crate) fn size(&self) -> Option<(u64, u64)> {
        let w = self.total_columns.or(self.columns)?;
        let h = self.total_rows.or(self.rows)?;
        (w > 0 && h > 0).then_some((w, h))
    }

    /// The third value of ImageType (`VOLUME`, `LABEL`, `OVERVIEW`, `THUMBNAIL`), if any.
    pub(crate) fn flavor(&self) -> Option<&str> {
        self.image_type.get(2).map(String::as_str)
    }
}

/// Where in the dataset the walk is, for the values only read in one place.
#[derive(Clone, Copy, PartialEq)]
enum Context {
    Top,
    Shared,
    Measures,
    Other,
}

struct Walker<'a> {
    src: &'a dyn Source,
    explicit: bool,
    endian: Endian,
    elements: usize,
    done: bool,
    out: Instance,
}

/// Reads the header of one DICOM file.
pub(crate) fn parse(src: &dyn Source) -> Result<Instance, Fault> {
    let mut pos = 132u64;
    let mut syntax = None;
    // File meta information: group 0002, always explicit VR little endian.
    loop {
        if pos + 8 > src.len() {
            return Err(Fault::truncated("the DICOM file meta information"));
        }
        let mut h = [0u8; 12];
        let n = (src.len() - pos).min(12) as usize;
        src.read_at(pos, &mut h[..n])?;
        let group = u16::from_le_bytes([h[0], h[1]]);
        if group != 0x0002 {
            break;
        }
        let element = u16::from_le_bytes([h[2], h[3]]);
        let (len, header) = if long_vr(&h[4..6]) {
            if n < 12 {
                return Err(Fault::truncated("the DICOM file meta information"));
            }
            (u32::from_le_bytes([h[8], h[9], h[10], h[11]]), 12)
        } else {
            (u32::from(u16::from_le_bytes([h[6], h[7]])), 8)
        };
        if len == UNDEFINED {
            return Err(Fault::malformed(
                "undefined length in the DICOM file meta information",
            ));
        }
        if element == 0x0010 {
            let value = src.bytes(
                pos + header,
                u64::from(len.min(MAX_VALUE)),
                "the transfer syntax",
            )?;
            syntax = Some(text(&value));
        }
        pos += header + u64::from(len);
    }
    let syntax =
        syntax.ok_or_else(|| Fault::malformed("the DICOM file names no transfer syntax"))?;
    let (explicit, endian) = match syntax.as_str() {
        IMPLICIT_LITTLE => (false, Endian::Little),
        EXPLICIT_BIG => (true, Endian::Big),
        DEFLATED => {
            return Err(Fault::malformed(
                "a deflated DICOM dataset (transfer syntax 1.2.840.10008.1.2.1.99) is not supported",
            ));
        }
        _ => (true, Endian::Little),
    };
    let mut walker = Walker {
        src,
        explicit,
        endian,
        elements: 0,
        done: false,
        out: Instance::default(),
    };
    walker.walk(&mut pos, u64::MAX, 0, Context::Top)?;
    let mut out = walker.out;
    if out.spacing.is_none() {
        out.spacing = out.top_spacing;
    }
    Ok(out)
}

/// Explicit VRs with a 2-byte reserved field and a 4-byte length.
fn long_vr(vr: &[u8]) -> bool {
    matches!(
        vr,
        b"OB"
            | b"OD"
            | b"OF"
            | b"OL"
            | b"OV"
            | b"OW"
            | b"SQ"
            | b"SV"
            | b"UC"
            | b"UN"
            | b"UR"
            | b"UT"
            | b"UV"
    )
}

/// A string value without DICOM's padding.
fn text(value: &[u8]) -> String {
    String::from_utf8_lossy(value)
        .trim_end_matches(['\0', ' '])
        .trim_start()
        .to_string()
}

impl Walker<'_> {
    /// Reads elements from `pos` until `end` (defined length), an item delimiter (undefined
    /// length) or, at the top level, the pixel data.
    fn walk(&mut self, pos: &mut u64, end: u64, depth: u32, ctx: Context) -> Result<(), Fault> {
        if depth > MAX_DEPTH {
            return Err(Fault::malformed(format!(
                "DICOM sequences nested deeper than {MAX_DEPTH}"
            )));
        }
        while !self.done && *pos < end {
            self.elements += 1;
            if self.elements > MAX_ELEMENTS {
                return Err(Fault::malformed(format!(
                    "more than {MAX_ELEMENTS} DICOM elements"
                )));
            }
            if *pos + 8 > self.src.len() {
                if end == u64::MAX && depth == 0 {
                    // A dataset may end without pixel data.
                    return Ok(());
                }
                return Err(Fault::truncated("a DICOM element"));
            }
            let mut h = [0u8; 12];
            let n = (self.src.len() - *pos).min(12) as usize;
            self.src.read_at(*pos, &mut h[..n])?;
            let tag = (self.endian.u16(&h[0..2]), self.endian.u16(&h[2..4]));
            if tag.0 == 0xFFFE {
                let len = self.endian.u32(&h[4..8]);
                match tag.1 {
                    // Item or sequence delimiter: the end of an undefined-length container.
                    0xE00D | 0xE0DD => {
                        *pos += 8;
                        return Ok(());
                    }
                    _ => {
                        return Err(Fault::malformed(format!(
                            "a DICOM item (FFFE,{:04X}, length {len}) outside a sequence",
                            tag.1
                        )));
                    }
                }
            }
            if depth == 0 && tag >= PIXEL_DATA {
                self.done = true;
                return Ok(());
            }
            let (vr, len, header): (Option<[u8; 2]>, u32, u64) = if self.explicit {
                let vr = [h[4], h[5]];
                if long_vr(&vr) {
                    if n < 12 {
                        return Err(Fault::truncated("a DICOM element"));
                    }
                    (Some(vr), self.endian.u32(&h[8..12]), 12)
                } else {
                    (Some(vr), u32::from(self.endian.u16(&h[6..8])), 8)
                }
            } else {
                (None, self.endian.u32(&h[4..8]), 8)
            };
            let value_pos = *pos + header;
            let is_sequence = match vr {
                Some(vr) => &vr == b"SQ",
                None => matches!(tag, SHARED_GROUPS | PIXEL_MEASURES) || len == UNDEFINED,
            };
            if is_sequence {
                let child = match (tag, ctx) {
                    (SHARED_GROUPS, Context::Top) => Context::Shared,
                    (PIXEL_MEASURES, Context::Shared) => Context::Measures,
                    _ => Context::Other,
                };
                *pos = value_pos;
                if len != UNDEFINED && child == Context::Other {
                    *pos = self.skip(value_pos, len)?;
                } else {
                    self.sequence(pos, len, depth, child)?;
                }
                continue;
            }
            if len == UNDEFINED && vr == Some(*b"UN") {
                // PS3.5 §6.2.2: an undefined-length UN element (a private sequence whose VR
                // the writer did not know) holds items encoded in implicit VR little endian.
                let outer = (self.explicit, self.endian);
                (self.explicit, self.endian) = (false, Endian::Little);
                *pos = value_pos;
                let read = self.sequence(pos, len, depth, Context::Other);
                (self.explicit, self.endian) = outer;
                read?;
                continue;
            }
            if len == UNDEFINED {
                // Encapsulated data nested in an item (an icon image): skip its fragments.
                *pos = self.fragments(value_pos)?;
                continue;
            }
            self.value(tag, ctx, value_pos, len)?;
            *pos = self.skip(value_pos, len)?;
        }
        Ok(())
    }

    /// The position after a value of `len` bytes at `at`, which must lie within the file.
    fn skip(&self, at: u64, len: u32) -> Result<u64, Fault> {
        let end = at + u64::from(len);
        if end > self.src.len() {
            return Err(Fault::truncated("a DICOM element's value"));
        }
        Ok(end)
    }

    /// The items of a sequence starting at `pos`.
    fn sequence(&mut self, pos: &mut u64, len: u32, depth: u32, ctx: Context) -> Result<(), Fault> {
        let end = if len == UNDEFINED {
            u64::MAX
        } else {
            self.skip(*pos, len)?
        };
        while *pos < end {
            let mut h = [0u8; 8];
            self.src
                .read_at(*pos, &mut h)
                .map_err(|f| f.context("a DICOM sequence item"))?;
            let tag = (self.endian.u16(&h[0..2]), self.endian.u16(&h[2..4]));
            let item_len = self.endian.u32(&h[4..8]);
            *pos += 8;
            match tag {
                (0xFFFE, 0xE0DD) => return Ok(()),
                (0xFFFE, 0xE000) => {
                    let item_end = if item_len == UNDEFINED {
                        u64::MAX
                    } else {
                        self.skip(*pos, item_len)?
                    };
                    self.walk(pos, item_end, depth + 1, ctx)?;
                    if item_end != u64::MAX {
                        *pos = item_end;
                    }
                }
                _ => {
                    return Err(Fault::malformed(format!(
                        "a DICOM sequence holds ({:04X},{:04X}) where an item belongs",
                        tag.0, tag.1
                    )));
                }
            }
        }
        Ok(())
    }

    /// The position after the fragments of encapsulated data (items up to a sequence
    /// delimiter).
    fn fragments(&mut self, mut pos: u64) -> Result<u64, Fault> {
        loop {
            self.elements += 1;
            if self.elements > MAX_ELEMENTS {
                return Err(Fault::malformed(format!(
                    "more than {MAX_ELEMENTS} DICOM elements"
                )));
            }
            let mut h = [0u8; 8];
            self.src
                .read_at(pos, &mut h)
                .map_err(|f| f.context("a DICOM data fragment"))?;
            let tag = (self.endian.u16(&h[0..2]), self.endian.u16(&h[2..4]));
            let len = self.endian.u32(&h[4..8]);
            match tag {
                (0xFFFE, 0xE0DD) => return Ok(pos + 8),
                (0xFFFE, 0xE000) if len != UNDEFINED => pos = self.skip(pos + 8, len)?,
                _ => return Err(Fault::malformed("malformed encapsulated DICOM data")),
            }
        }
    }

    /// Records the value of an element this parser needs.
    fn value(&mut self, tag: Tag, ctx: Context, at: u64, len: u32) -> Result<(), Fault> {
        let wanted = match ctx {
            Context::Top => matches!(
                tag,
                SOP_CLASS_UID
                    | IMAGE_TYPE
                    | SERIES_INSTANCE_UID
                    | ROWS
                    | COLUMNS
                    | TOTAL_ROWS
                    | TOTAL_COLUMNS
                    | PIXEL_SPACING
            ),
            Context::Measures => tag == PIXEL_SPACING,
            Context::Shared | Context::Other => false,
        };
        if !wanted {
            return Ok(());
        }
        if len > MAX_VALUE {
            return Err(Fault::malformed(format!(
                "DICOM element ({:04X},{:04X}) is {len} bytes long",
                tag.0, tag.1
            )));
        }
        let v = self
            .src
            .bytes(at, u64::from(len), "a DICOM element's value")?;
        let e = self.endian;
        let short = || (v.len() >= 2).then(|| u64::from(e.u16(&v)));
        let long = || (v.len() >= 4).then(|| u64::from(e.u32(&v)));
        let out = &mut self.out;
        match tag {
            SOP_CLASS_UID => out.sop_class = Some(text(&v)),
            IMAGE_TYPE => {
                out.image_type = text(&v).split('\\').map(|s| s.trim().to_string()).collect()
            }
            SERIES_INSTANCE_UID => out.series_uid = Some(text(&v)),
            ROWS => out.rows = short(),
            COLUMNS => out.columns = short(),
            TOTAL_ROWS => out.total_rows = long(),
            TOTAL_COLUMNS => out.total_columns = long(),
            PIXEL_SPACING => {
                let spacing = parse_spacing(&text(&v));
                if ctx == Context::Measures {
                    out.spacing = out.spacing.or(spacing);
                } else {
                    out.top_spacing = spacing;
                }
            }
            _ => {}
        }
        Ok(())
    }
}

/// `row\column` decimal strings in millimetres.
fn parse_spacing(text: &str) -> Option<(f64, f64)> {
    let mut values = text.split('\\').map(|v| v.trim().parse::<f64>());
    match (values.next(), values.next()) {
        (Some(Ok(row)), Some(Ok(column))) => Some((row, column)),
        _ => None,
    }
}
