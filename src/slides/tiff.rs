//! The TIFF family: classic TIFF and BigTIFF in either byte order, with the vendor rules
//! OpenSlide applies to find level 0 and the resolution (see the [module docs](super)).

use std::collections::HashSet;

use super::SlideFormat;
use super::header::{Header, Resolution};
use super::source::{Endian, Fault, Source};
use super::xml;

/// Most image file directories walked in one file (real slides have a few dozen).
const MAX_IFDS: usize = 4096;
/// Most entries in one directory (real ones have a few dozen).
const MAX_ENTRIES: u64 = 4096;
/// Largest ImageDescription read (OME-XML of big plates runs to megabytes).
const MAX_DESCRIPTION: u64 = 64 * 1024 * 1024;

const IMAGE_WIDTH: u16 = 256;
const IMAGE_LENGTH: u16 = 257;
const NEW_SUBFILE_TYPE: u16 = 254;
const IMAGE_DESCRIPTION: u16 = 270;
const SOFTWARE: u16 = 305;
const X_RESOLUTION: u16 = 282;
const RESOLUTION_UNIT: u16 = 296;
const TILE_WIDTH: u16 = 322;
/// Hamamatsu NDPI: marks the file as NDPI.
const NDPI_FORMAT_FLAG: u16 = 65420;

/// TIFF `ResolutionUnit` values.
const UNIT_INCH: u64 = 2;
const UNIT_CENTIMETER: u64 = 3;

/// Whether the first bytes are a TIFF or BigTIFF header.
pub(crate) fn sniff(head: &[u8]) -> bool {
    matches!(
        head.get(..4),
        Some(b"II*\0" | b"MM\0*" | b"II+\0" | b"MM\0+")
    )
}

/// Byte order and offset width of a file.
#[derive(Clone, Copy)]
struct Layout {
    endian: Endian,
    big: bool,
}

impl Layout {
    fn offset(self, b: &[u8]) -> u64 {
        if self.big {
            self.endian.u64(b)
        } else {
            u64::from(self.endian.u32(b))
        }
    }

    fn entry_size(self) -> u64 {
        if self.big { 20 } else { 12 }
    }

    fn inline_size(self) -> u64 {
        if self.big { 8 } else { 4 }
    }
}

/// What one image file directory says about its image.
#[derive(Debug, Default)]
struct Ifd {
    width: Option<u64>,
    height: Option<u64>,
    tiled: bool,
    subfile_type: u64,
    description: Option<String>,
    software: Option<String>,
    x_resolution: Option<f64>,
    resolution_unit: Option<u64>,
    ndpi: bool,
}

/// One raw directory entry: tag, field type, count and the 4 or 8 value bytes.
struct Entry<'a> {
    tag: u16,
    kind: u16,
    count: u64,
    field: &'a [u8],
}

/// Size in bytes of one value of a TIFF field type (0 for unknown types).
fn type_size(kind: u16) -> u64 {
    match kind {
        1 | 2 | 6 | 7 => 1,
        3 | 8 => 2,
        4 | 9 | 11 | 13 => 4,
        5 | 10 | 12 | 16 | 17 | 18 => 8,
        _ => 0,
    }
}

/// Reads the header and the directories OpenSlide looks at.
pub(crate) fn parse(src: &dyn Source) -> Result<Header, Fault> {
    let mut head = [0u8; 16];
    let n = src.len().min(16) as usize;
    src.read_at(0, &mut head[..n])?;
    if n < 8 {
        return Err(Fault::truncated("TIFF header"));
    }
    let endian = match &head[..2] {
        b"II" => Endian::Little,
        b"MM" => Endian::Big,
        _ => return Err(Fault::malformed("not a TIFF byte-order mark")),
    };
    let layout = match endian.u16(&head[2..4]) {
        42 => Layout { endian, big: false },
        43 => {
            if n < 16 {
                return Err(Fault::truncated("BigTIFF header"));
            }
            if endian.u16(&head[4..6]) != 8 || endian.u16(&head[6..8]) != 0 {
                return Err(Fault::malformed(
                    "BigTIFF header with an offset size other than 8",
                ));
            }
            Layout { endian, big: true }
        }
        _ => return Err(Fault::malformed("not a TIFF version number")),
    };
    let first = if layout.big {
        endian.u64(&head[8..16])
    } else {
        u64::from(endian.u32(&head[4..8]))
    };
    if first == 0 {
        return Err(Fault::malformed("the TIFF file has no image directory"));
    }

    let (ifd0, mut next) = read_ifd(src, layout, first, true)?;
    let (w0, h0) = dimensions(&ifd0, 0)?;
    let description = ifd0.description.as_deref().unwrap_or("");

    // OpenSlide's detection order: Hamamatsu, Aperio, Philips; OME-XML has no OpenSlide
    // vendor (it opens as a generic TIFF) but carries its own physical size.
    if ifd0.ndpi {
        return Ok(Header::new(SlideFormat::Ndpi, w0, h0, tiff_rule(&ifd0)));
    }
    if description.starts_with("Aperio") {
        return Ok(Header::new(
            SlideFormat::Aperio,
            w0,
            h0,
            aperio_mpp(description),
        ));
    }
    if is_philips(description) {
        return Ok(Header::new(
            SlideFormat::Philips,
            w0,
            h0,
            philips_mpp(description),
        ));
    }
    if let Some(ome) = xml::ome_pixels(description) {
        let resolution = match ome {
            Ok(mpp) => Resolution::measured(mpp, "OME PhysicalSizeX"),
            Err(why) => match tiff_rule(&ifd0) {
                Resolution::Found(mpp) => Resolution::Found(mpp),
                Resolution::Missing(other) => Resolution::Missing(format!("{why}; {other}")),
            },
        };
        return Ok(Header::new(SlideFormat::OmeTiff, w0, h0, resolution));
    }

    // Generic tiled TIFF: the first directory must be tiled; the levels are it and the tiled
    // reduced-resolution directories after it; level 0 is the widest.
    if !ifd0.tiled {
        return Err(Fault::malformed(
            "a plain (striped) TIFF: whole-slide TIFFs store their first image in tiles",
        ));
    }
    let (mut width, mut height) = (w0, h0);
    let mut seen = HashSet::from([first]);
    let mut index = 1;
    while next != 0 {
        if !seen.insert(next) {
            return Err(Fault::malformed(format!(
                "image directory {index} points back to an earlier one (offset {next})"
            )));
        }
        if seen.len() > MAX_IFDS {
            return Err(Fault::malformed(format!(
                "more than {MAX_IFDS} image directories"
            )));
        }
        let (ifd, after) = read_ifd(src, layout, next, false)?;
        if ifd.tiled && ifd.subfile_type & 1 == 1 {
            let (w, h) = dimensions(&ifd, index)?;
            if w > width {
                (width, height) = (w, h);
            }
        }
        next = after;
        index += 1;
    }
    Ok(Header::new(
        SlideFormat::GenericTiff,
        width,
        height,
        tiff_rule(&ifd0),
    ))
}

fn dimensions(ifd: &Ifd, index: usize) -> Result<(u64, u64), Fault> {
    match (ifd.width, ifd.height) {
        (Some(w), Some(h)) if w > 0 && h > 0 => Ok((w, h)),
        _ => Err(Fault::malformed(format!(
            "image directory {index} has no ImageWidth/ImageLength"
        ))),
    }
}

/// Reads the directory at `offset`; `strings` also reads ImageDescription and Software.
fn read_ifd(
    src: &dyn Source,
    layout: Layout,
    offset: u64,
    strings: bool,
) -> Result<(Ifd, u64), Fault> {
    let count_size = if layout.big { 8 } else { 2 };
    let raw = src
        .bytes(offset, count_size, "an image directory")
        .map_err(|f| f.context("an image directory"))?;
    let count = if layout.big {
        layout.endian.u64(&raw)
    } else {
        u64::from(layout.endian.u16(&raw))
    };
    if count > MAX_ENTRIES {
        return Err(Fault::malformed(format!(
            "an image directory claims {count} entries"
        )));
    }
    let table = src.bytes(
        offset + count_size,
        count * layout.entry_size() + layout.inline_size(),
        "an image directory's entries",
    )?;
    let mut ifd = Ifd::default();
    let entry_size = layout.entry_size() as usize;
    for raw in table.chunks_exact(entry_size).take(count as usize) {
        let e = layout.endian;
        let (entry_count, field) = if layout.big {
            (e.u64(&raw[4..12]), &raw[12..20])
        } else {
            (u64::from(e.u32(&raw[4..8])), &raw[8..12])
        };
        let entry = Entry {
            tag: e.u16(&raw[0..2]),
            kind: e.u16(&raw[2..4]),
            count: entry_count,
            field,
        };
        match entry.tag {
            IMAGE_WIDTH => ifd.width = uint(src, layout, &entry)?,
            IMAGE_LENGTH => ifd.height = uint(src, layout, &entry)?,
            NEW_SUBFILE_TYPE => ifd.subfile_type = uint(src, layout, &entry)?.unwrap_or(0),
            TILE_WIDTH => ifd.tiled = true,
            RESOLUTION_UNIT => ifd.resolution_unit = uint(src, layout, &entry)?,
            X_RESOLUTION => ifd.x_resolution = rational(src, layout, &entry)?,
            NDPI_FORMAT_FLAG => ifd.ndpi = true,
            IMAGE_DESCRIPTION if strings => ifd.description = ascii(src, layout, &entry)?,
            SOFTWARE if strings => ifd.software = ascii(src, layout, &entry)?,
            _ => {}
        }
    }
    let next = layout.offset(&table[count as usize * entry_size..]);
    Ok((ifd, next))
}

/// The value bytes of an entry (inline or at its offset); `None` for unknown types.
fn value_bytes(
    src: &dyn Source,
    layout: Layout,
    entry: &Entry<'_>,
    limit: u64,
) -> Result<Option<Vec<u8>>, Fault> {
    let size = type_size(entry.kind);
    if size == 0 || entry.count == 0 {
        return Ok(None);
    }
    let total = entry
        .count
        .checked_mul(size)
        .filter(|&t| t <= limit)
        .ok_or_else(|| Fault::malformed(format!("tag {} is implausibly large", entry.tag)))?;
    if total <= layout.inline_size() {
        return Ok(Some(entry.field[..total as usize].to_vec()));
    }
    let at = layout.offset(entry.field);
    src.bytes(at, total, &format!("the value of tag {}", entry.tag))
        .map(Some)
}

/// The bytes of an entry's first value (inline or at its offset); `None` for unknown types.
fn first_value(
    src: &dyn Source,
    layout: Layout,
    entry: &Entry<'_>,
) -> Result<Option<Vec<u8>>, Fault> {
    let size = type_size(entry.kind);
    if size == 0 || entry.count == 0 {
        return Ok(None);
    }
    let inline = entry
        .count
        .checked_mul(size)
        .is_some_and(|total| total <= layout.inline_size());
    if inline {
        return Ok(Some(entry.field[..size as usize].to_vec()));
    }
    let at = layout.offset(entry.field);
    src.bytes(at, size, &format!("the value of tag {}", entry.tag))
        .map(Some)
}

/// The first value of an integer field.
fn uint(src: &dyn Source, layout: Layout, entry: &Entry<'_>) -> Result<Option<u64>, Fault> {
    let e = layout.endian;
    let Some(b) = first_value(src, layout, entry)? else {
        return Ok(None);
    };
    Ok(match entry.kind {
        1 => Some(u64::from(b[0])),
        3 => Some(u64::from(e.u16(&b))),
        4 | 13 => Some(u64::from(e.u32(&b))),
        16 | 18 => Some(e.u64(&b)),
        _ => None,
    })
}

/// The first value of a rational (or other numeric) field, in double precision as libtiff
/// hands XResolution to OpenSlide.
fn rational(src: &dyn Source, layout: Layout, entry: &Entry<'_>) -> Result<Option<f64>, Fault> {
    let e = layout.endian;
    let Some(b) = first_value(src, layout, entry)? else {
        return Ok(None);
    };
    let value = match entry.kind {
        5 => {
            let (num, den) = (e.u32(&b[0..4]), e.u32(&b[4..8]));
            (den != 0).then(|| f64::from(num) / f64::from(den))
        }
        10 => {
            let (num, den) = (e.u32(&b[0..4]) as i32, e.u32(&b[4..8]) as i32);
            (den != 0).then(|| f64::from(num) / f64::from(den))
        }
        11 => Some(f64::from(f32::from_bits(e.u32(&b)))),
        12 => Some(f64::from_bits(e.u64(&b))),
        3 => Some(f64::from(e.u16(&b))),
        4 => Some(f64::from(e.u32(&b))),
        _ => None,
    };
    Ok(value.filter(|v| v.is_finite()))
}

/// An ASCII field up to its first NUL (lossy UTF-8).
fn ascii(src: &dyn Source, layout: Layout, entry: &Entry<'_>) -> Result<Option<String>, Fault> {
    if entry.kind != 2 {
        return Ok(None);
    }
    let Some(bytes) = value_bytes(src, layout, entry, MAX_DESCRIPTION)? else {
        return Ok(None);
    };
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    Ok(Some(String::from_utf8_lossy(&bytes[..end]).into_owned()))
}

/// OpenSlide's TIFF rule: microns per pixel = 10000 / XResolution per centimeter, or
/// 25400 / XResolution per inch (the default unit); no unit means no resolution.
fn tiff_rule(ifd: &Ifd) -> Resolution {
    let unit = ifd.resolution_unit.unwrap_or(UNIT_INCH);
    let microns = match unit {
        UNIT_CENTIMETER => 10_000.0,
        UNIT_INCH => 25_400.0,
        1 => return Resolution::Missing("ResolutionUnit is none (no absolute unit)".into()),
        other => return Resolution::Missing(format!("ResolutionUnit {other} is not a unit")),
    };
    match ifd.x_resolution {
        None => Resolution::Missing("no XResolution tag".into()),
        Some(x) if x > 0.0 => Resolution::measured(microns / x, "XResolution"),
        Some(x) => Resolution::Missing(format!("XResolution is {x}")),
    }
}

/// Aperio: `MPP = 0.2520` among the `|`-separated fields of the ImageDescription.
fn aperio_mpp(description: &str) -> Resolution {
    for field in description.split('|').skip(1) {
        if let Some((key, value)) = field.split_once('=')
            && key.trim() == "MPP"
        {
            return match value.trim().parse::<f64>() {
                Ok(mpp) => Resolution::measured(mpp, "the Aperio description's MPP"),
                Err(_) => Resolution::Missing(format!(
                    "the Aperio description's MPP {:?} is not a number",
                    value.trim()
                )),
            };
        }
    }
    Resolution::Missing("the Aperio description has no MPP field".into())
}

fn is_philips(description: &str) -> bool {
    description.starts_with("<?xml") && description.contains("DPUfsImport")
}

/// Philips: `DICOM_PIXEL_SPACING` of the WSI image (row and column spacing in mm, each in
/// quotes); x is the column spacing. The spacings of the pixel data representations (one
/// per level) do not count, as in OpenSlide.
fn philips_mpp(description: &str) -> Resolution {
    match xml::philips_pixel_spacing(description) {
        Some((_, column)) => Resolution::measured(column * 1000.0, "DICOM_PIXEL_SPACING"),
        None => Resolution::Missing("the Philips XML has no DICOM_PIXEL_SPACING".into()),
    }
}
