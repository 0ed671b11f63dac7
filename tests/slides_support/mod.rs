//! Writes small synthetic whole-slide files of every format the crate reads: TIFF (classic
//! and BigTIFF, either byte order, tiled pyramids, vendor descriptions and tags) and DICOM VL
//! Whole Slide Microscopy. Tiles hold zeros (one shared block); nothing here decodes. Also the
//! sandbox source the cohort tests, bench and example share ([`sandbox_slides`]).
#![allow(dead_code)]
// The CLI's tests include this file too; their crate has no `slides` or `bucket` features.
#![allow(unexpected_cfgs)]

use std::fs::File;
use std::io::{Seek, SeekFrom, Write};
use std::path::Path;

/// Edge of the square tiles written by default.
pub const TILE: u32 = 256;

/// One image file directory.
#[derive(Clone, Debug, Default)]
pub struct Ifd {
    pub width: u32,
    pub height: u32,
    /// Tiled (else one strip).
    pub tiled: bool,
    /// NewSubfileType 1 (a reduced-resolution level).
    pub reduced: bool,
    pub description: Option<String>,
    pub software: Option<String>,
    /// XResolution as numerator/denominator.
    pub x_resolution: Option<(u32, u32)>,
    /// ResolutionUnit (2 inch, 3 centimeter); absent means inch.
    pub unit: Option<u16>,
    /// Hamamatsu NDPI tags (format flag, source lens).
    pub ndpi: bool,
}

impl Ifd {
    /// A tiled level of `width` × `height`.
    pub fn tiled(width: u32, height: u32) -> Self {
        Self {
            width,
            height,
            tiled: true,
            ..Self::default()
        }
    }

    pub fn reduced(mut self) -> Self {
        self.reduced = true;
        self
    }

    pub fn description(mut self, text: impl Into<String>) -> Self {
        self.description = Some(text.into());
        self
    }

    pub fn software(mut self, text: impl Into<String>) -> Self {
        self.software = Some(text.into());
        self
    }

    pub fn resolution(mut self, num: u32, den: u32, unit: u16) -> Self {
        self.x_resolution = Some((num, den));
        self.unit = Some(unit);
        self
    }
}

/// A TIFF file.
#[derive(Clone, Debug)]
pub struct Tiff {
    pub big_endian: bool,
    pub bigtiff: bool,
    pub ifds: Vec<Ifd>,
    /// Where directories, values and tiles start (past 4 GiB for a sparse BigTIFF).
    pub body_at: u64,
    /// Edge of the square tiles (a multiple of 16).
    pub tile: u32,
}

impl Tiff {
    pub fn new(ifds: Vec<Ifd>) -> Self {
        Self {
            big_endian: false,
            bigtiff: false,
            ifds,
            body_at: 16,
            tile: TILE,
        }
    }

    /// Tiles of `edge` pixels (small tiles make small files).
    pub fn tile(mut self, edge: u32) -> Self {
        self.tile = edge;
        self
    }

    /// Bytes of one tile (8-bit RGB).
    pub fn tile_bytes(&self) -> usize {
        (self.tile * self.tile * 3) as usize
    }

    pub fn big_endian(mut self) -> Self {
        self.big_endian = true;
        self
    }

    pub fn bigtiff(mut self) -> Self {
        self.bigtiff = true;
        self
    }

    pub fn body_at(mut self, offset: u64) -> Self {
        self.body_at = offset;
        self
    }

    fn u16b(&self, v: u16) -> [u8; 2] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn u32b(&self, v: u32) -> [u8; 4] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn u64b(&self, v: u64) -> [u8; 8] {
        if self.big_endian {
            v.to_be_bytes()
        } else {
            v.to_le_bytes()
        }
    }
    fn offset_bytes(&self, v: u64) -> Vec<u8> {
        if self.bigtiff {
            self.u64b(v).to_vec()
        } else {
            self.u32b(u32::try_from(v).expect("offset past 4 GiB in a classic TIFF"))
                .to_vec()
        }
    }

    /// The header (at offset 0) and the body (at `body_at`).
    pub fn parts(&self) -> (Vec<u8>, Vec<u8>) {
        let base = self.body_at;
        let mut body: Vec<u8> = Vec::new();
        // One block of tile (or strip) data shared by every tile.
        let tiles_at = base;
        let tile_bytes = self.tile_bytes();
        let tile = self.tile;
        body.extend(std::iter::repeat_n(0u8, tile_bytes));
        let mut ifd_offsets = Vec::new();
        let mut next_patches: Vec<usize> = Vec::new();
        for ifd in &self.ifds {
            let mut entries: Vec<(u16, u16, u64, Vec<u8>)> = Vec::new();
            let short = |v: u16| self.u16b(v).to_vec();
            let long = |v: u32| self.u32b(v).to_vec();
            if ifd.reduced {
                entries.push((254, 4, 1, long(1)));
            }
            entries.push((256, 4, 1, long(ifd.width)));
            entries.push((257, 4, 1, long(ifd.height)));
            entries.push((258, 3, 3, [short(8), short(8), short(8)].concat()));
            entries.push((259, 3, 1, short(1)));
            entries.push((262, 3, 1, short(2)));
            if let Some(d) = &ifd.description {
                let mut b = d.as_bytes().to_vec();
                b.push(0);
                entries.push((270, 2, b.len() as u64, b));
            }
            let count = if ifd.tiled {
                u64::from(ifd.width.div_ceil(tile) * ifd.height.div_ceil(tile))
            } else {
                1
            };
            let (off_kind, offs, sizes): (u16, Vec<u8>, Vec<u8>) = if self.bigtiff {
                (
                    16,
                    (0..count).flat_map(|_| self.u64b(tiles_at)).collect(),
                    (0..count)
                        .flat_map(|_| self.u64b(tile_bytes as u64))
                        .collect(),
                )
            } else {
                (
                    4,
                    (0..count)
                        .flat_map(|_| self.u32b(tiles_at as u32))
                        .collect(),
                    (0..count)
                        .flat_map(|_| self.u32b(tile_bytes as u32))
                        .collect(),
                )
            };
            if !ifd.tiled {
                entries.push((273, off_kind, 1, offs.clone()));
            }
            entries.push((277, 3, 1, short(3)));
            if !ifd.tiled {
                entries.push((278, 4, 1, long(ifd.height)));
                entries.push((279, off_kind, 1, sizes.clone()));
            }
            if let Some((num, den)) = ifd.x_resolution {
                entries.push((282, 5, 1, [long(num), long(den)].concat()));
                entries.push((283, 5, 1, [long(num), long(den)].concat()));
            }
            entries.push((284, 3, 1, short(1)));
            if let Some(unit) = ifd.unit {
                entries.push((296, 3, 1, short(unit)));
            }
            if let Some(s) = &ifd.software {
                let mut b = s.as_bytes().to_vec();
                b.push(0);
                entries.push((305, 2, b.len() as u64, b));
            }
            if ifd.tiled {
                entries.push((322, 3, 1, short(tile as u16)));
                entries.push((323, 3, 1, short(tile as u16)));
                entries.push((324, off_kind, count, offs));
                entries.push((325, off_kind, count, sizes));
            }
            if ifd.ndpi {
                entries.push((65420, 4, 1, long(1)));
                entries.push((65421, 11, 1, self.u32b(20.0f32.to_bits()).to_vec()));
            }
            entries.sort_by_key(|e| e.0);
            let inline = if self.bigtiff { 8 } else { 4 };
            // Out-of-line values first, then the directory itself.
            let mut fields = Vec::new();
            for (_, _, _, value) in &entries {
                if value.len() > inline {
                    if body.len() % 2 == 1 {
                        body.push(0);
                    }
                    let at = base + body.len() as u64;
                    body.extend_from_slice(value);
                    fields.push(self.offset_bytes(at));
                } else {
                    let mut f = value.clone();
                    f.resize(inline, 0);
                    fields.push(f);
                }
            }
            if body.len() % 2 == 1 {
                body.push(0);
            }
            let at = base + body.len() as u64;
            if let Some(patch) = next_patches.last().copied() {
                let bytes = self.offset_bytes(at);
                body[patch..patch + bytes.len()].copy_from_slice(&bytes);
            }
            ifd_offsets.push(at);
            if self.bigtiff {
                body.extend_from_slice(&self.u64b(entries.len() as u64));
            } else {
                body.extend_from_slice(&self.u16b(entries.len() as u16));
            }
            for ((tag, kind, count, _), field) in entries.iter().zip(fields) {
                body.extend_from_slice(&self.u16b(*tag));
                body.extend_from_slice(&self.u16b(*kind));
                if self.bigtiff {
                    body.extend_from_slice(&self.u64b(*count));
                } else {
                    body.extend_from_slice(&self.u32b(*count as u32));
                }
                body.extend_from_slice(&field);
            }
            next_patches.push(body.len());
            body.extend(std::iter::repeat_n(0u8, inline));
        }
        let mut header = Vec::new();
        header.extend_from_slice(if self.big_endian { b"MM" } else { b"II" });
        if self.bigtiff {
            header.extend_from_slice(&self.u16b(43));
            header.extend_from_slice(&self.u16b(8));
            header.extend_from_slice(&self.u16b(0));
            header.extend_from_slice(&self.u64b(ifd_offsets[0]));
        } else {
            header.extend_from_slice(&self.u16b(42));
            header.extend_from_slice(&self.u32b(ifd_offsets[0] as u32));
        }
        (header, body)
    }

    /// The whole file in memory (`body_at` must be small).
    pub fn to_vec(&self) -> Vec<u8> {
        let (header, body) = self.parts();
        let mut out = header;
        out.resize(self.body_at as usize, 0);
        out.extend_from_slice(&body);
        out
    }

    /// Writes the file; the gap between header and body is a hole (sparse where the file
    /// system supports it).
    pub fn write(&self, path: &Path) {
        let (header, body) = self.parts();
        let mut f = File::create(path).unwrap();
        f.write_all(&header).unwrap();
        f.set_len(self.body_at).unwrap();
        f.seek(SeekFrom::Start(self.body_at)).unwrap();
        f.write_all(&body).unwrap();
    }
}

/// A pyramid of `levels` tiled levels halving from `width` × `height`, with `first` applied
/// to level 0.
pub fn pyramid(width: u32, height: u32, levels: u32, first: impl FnOnce(Ifd) -> Ifd) -> Vec<Ifd> {
    let mut ifds = vec![first(Ifd::tiled(width, height))];
    for l in 1..levels {
        ifds.push(Ifd::tiled((width >> l).max(1), (height >> l).max(1)).reduced());
    }
    ifds
}

/// Aperio SVS: the description OpenSlide recognises, with `MPP = mpp`.
pub fn aperio(width: u32, height: u32, mpp: &str) -> Tiff {
    let description = format!(
        "Aperio Image Library v12.0.15 \r\n{width}x{height} [0,0 {width}x{height}] ({TILE}x{TILE}) RAW|AppMag = 20|StripeWidth = 2040|ScanScope ID = SS1234|MPP = {mpp}|Left = 25.0|Top = 23.0"
    );
    Tiff::new(pyramid(width, height, 3, |l| l.description(description)))
}

/// Philips TIFF: the XML description with the WSI's DICOM_PIXEL_SPACING (`row`, `column`
/// in mm) and one per level.
pub fn philips(width: u32, height: u32, spacing_mm: &str) -> Tiff {
    philips_spacing(width, height, spacing_mm, spacing_mm)
}

/// Philips TIFF with different row and column spacing.
pub fn philips_spacing(width: u32, height: u32, spacing_mm: &str, column_mm: &str) -> Tiff {
    let levels = 3;
    let mut reps = String::new();
    for l in 0..levels {
        let s: f64 = spacing_mm.parse::<f64>().unwrap() * f64::from(1u32 << l);
        let s = if l == 0 {
            spacing_mm.to_string()
        } else {
            format!("{s}")
        };
        reps.push_str(&format!(
            "<DataObject ObjectType=\"PixelDataRepresentation\"><Attribute Name=\"DICOM_PIXEL_SPACING\" Group=\"0x0028\" Element=\"0x0030\" PMSVR=\"IDoubleArray\">&quot;{s}&quot; &quot;{s}&quot;</Attribute><Attribute Name=\"PIIM_PIXEL_DATA_REPRESENTATION_NUMBER\" Group=\"0x1001\" Element=\"0x8006\" PMSVR=\"IUInt32\">{l}</Attribute><Attribute Name=\"PIIM_PIXEL_DATA_REPRESENTATION_COLUMNS\" Group=\"0x2001\" Element=\"0x115E\" PMSVR=\"IUInt32\">{}</Attribute><Attribute Name=\"PIIM_PIXEL_DATA_REPRESENTATION_ROWS\" Group=\"0x2001\" Element=\"0x115D\" PMSVR=\"IUInt32\">{}</Attribute></DataObject>",
            (width >> l).div_ceil(TILE) * TILE,
            (height >> l).div_ceil(TILE) * TILE,
        ));
    }
    let description = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\" ?><DataObject ObjectType=\"DPUfsImport\"><Attribute Name=\"DICOM_MANUFACTURER\" Group=\"0x0008\" Element=\"0x0070\" PMSVR=\"IString\">PHILIPS</Attribute><Attribute Name=\"PIM_DP_SCANNED_IMAGES\" Group=\"0x1001\" Element=\"0x8000\" PMSVR=\"IDataObjectArray\"><Array><DataObject ObjectType=\"DPScannedImage\"><Attribute Name=\"PIM_DP_IMAGE_TYPE\" Group=\"0x101D\" Element=\"0x1004\" PMSVR=\"IString\">WSI</Attribute><Attribute Name=\"DICOM_PIXEL_SPACING\" Group=\"0x0028\" Element=\"0x0030\" PMSVR=\"IDoubleArray\">&quot;{spacing_mm}&quot; &quot;{column_mm}&quot;</Attribute><Attribute Name=\"PIIM_PIXEL_DATA_REPRESENTATION_SEQUENCE\" Group=\"0x1001\" Element=\"0x8003\" PMSVR=\"IDataObjectArray\"><Array>{reps}</Array></Attribute></DataObject></Array></Attribute></DataObject>"
    );
    Tiff::new(pyramid(width, height, levels, |l| {
        l.description(description).software("Philips DP v1.0")
    }))
}

/// OME-TIFF: OME-XML with PhysicalSizeX in `unit`.
pub fn ome(width: u32, height: u32, size_x: &str, unit: &str) -> Tiff {
    let description = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><OME xmlns=\"http://www.openmicroscopy.org/Schemas/OME/2016-06\"><Image ID=\"Image:0\" Name=\"slide\"><Pixels ID=\"Pixels:0\" DimensionOrder=\"XYCZT\" Type=\"uint8\" SizeX=\"{width}\" SizeY=\"{height}\" SizeC=\"3\" SizeZ=\"1\" SizeT=\"1\" PhysicalSizeX=\"{size_x}\" PhysicalSizeXUnit=\"{unit}\" PhysicalSizeY=\"{size_x}\" PhysicalSizeYUnit=\"{unit}\"><Channel ID=\"Channel:0:0\" SamplesPerPixel=\"3\"/><TiffData/></Pixels></Image></OME>"
    );
    Tiff::new(pyramid(width, height, 2, |l| l.description(description)))
}

/// Hamamatsu NDPI: striped levels with the NDPI tags and XResolution per centimeter.
pub fn ndpi(width: u32, height: u32, pixels_per_cm: u32) -> Tiff {
    let level = |w: u32, h: u32, res: u32| Ifd {
        width: w,
        height: h,
        ndpi: true,
        x_resolution: Some((res, 1)),
        unit: Some(3),
        ..Ifd::default()
    };
    Tiff::new(vec![
        level(width, height, pixels_per_cm),
        level(width / 4, height / 4, pixels_per_cm / 4),
    ])
}

/// `n` small distinct tiled TIFFs `s-000.tif`, `s-001.tif`, … in `root` (created when
/// missing), each of another width: a cohort of slides in a few KB each.
pub fn numbered(root: &Path, n: u32) {
    std::fs::create_dir_all(root).unwrap();
    let digits = n.saturating_sub(1).max(1).ilog10() as usize + 1;
    for i in 0..n {
        generic(1000 + i, 800, 40_000, 1, 3)
            .tile(256)
            .write(&root.join(format!("s-{i:0width$}.tif", width = digits.max(3))));
    }
}

/// The mapping that gives every slide what Atlas H&E-TME requires.
pub const HE_TME_MAPPING: &str = ".*:staining_method=H&E,tissue=LUNG,disease=LUNG_CANCER";

/// The slides of `dir` for he-tme on `platform` (its bucket), mapped with [`HE_TME_MAPPING`],
/// without a checksum index (nothing is written outside the test's folder): a cohort's source.
/// (The CLI's tests, whose crate has no such features, leave it out.)
#[cfg(all(feature = "slides", feature = "bucket"))]
pub fn sandbox_slides<'a>(
    client: &'a aignostics::Client,
    platform: &aignostics_sandbox::Sandbox,
    dir: &Path,
) -> aignostics::pipeline::SlidesToResults<'a> {
    aignostics::pipeline::SlidesToResults::new(client, "he-tme", dir)
        .bucket_endpoint(platform.bucket_endpoint())
        .mapping(HE_TME_MAPPING.parse().unwrap())
        .checksum_index(None)
}

/// A generic tiled TIFF with XResolution `num/den` in `unit`.
pub fn generic(width: u32, height: u32, num: u32, den: u32, unit: u16) -> Tiff {
    Tiff::new(pyramid(width, height, 3, |l| l.resolution(num, den, unit)))
}

/// DICOM encodings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Syntax {
    ExplicitLittle,
    ImplicitLittle,
    ExplicitBig,
}

/// A DICOM VL Whole Slide Microscopy instance.
#[derive(Clone, Debug)]
pub struct Dicom {
    pub syntax: Syntax,
    /// Sequences and items with undefined length (delimiters) instead of byte counts.
    pub undefined_lengths: bool,
    pub sop_class: String,
    pub series_uid: String,
    pub image_type: String,
    pub total_columns: u32,
    pub total_rows: u32,
    /// PixelSpacing (row\column, mm) in the shared functional groups.
    pub spacing: Option<String>,
    /// A private element of VR UN and undefined length holding items of undefined length
    /// in implicit VR little endian (PS3.5 §6.2.2), as a writer that did not know the
    /// private sequence's VR stores it.
    pub private_un: bool,
}

impl Dicom {
    pub fn new(total_columns: u32, total_rows: u32, spacing: &str) -> Self {
        Self {
            syntax: Syntax::ExplicitLittle,
            undefined_lengths: false,
            sop_class: "1.2.840.10008.5.1.4.1.1.77.1.6".into(),
            series_uid: "1.2.826.0.1.3680043.10.1234.1".into(),
            image_type: "ORIGINAL\\PRIMARY\\VOLUME\\NONE".into(),
            total_columns,
            total_rows,
            spacing: Some(spacing.into()),
            private_un: false,
        }
    }

    fn big(&self) -> bool {
        self.syntax == Syntax::ExplicitBig
    }
    fn u16b(&self, v: u16) -> Vec<u8> {
        if self.big() {
            v.to_be_bytes().to_vec()
        } else {
            v.to_le_bytes().to_vec()
        }
    }
    fn u32b(&self, v: u32) -> Vec<u8> {
        if self.big() {
            v.to_be_bytes().to_vec()
        } else {
            v.to_le_bytes().to_vec()
        }
    }

    /// One element in the dataset's encoding.
    fn element(&self, group: u16, elem: u16, vr: &str, value: &[u8]) -> Vec<u8> {
        let mut value = value.to_vec();
        if value.len() % 2 == 1 {
            value.push(if vr == "UI" || vr == "OB" { 0 } else { b' ' });
        }
        self.raw(group, elem, vr, value.len() as u32, &value)
    }

    fn raw(&self, group: u16, elem: u16, vr: &str, len: u32, value: &[u8]) -> Vec<u8> {
        let mut out = self.u16b(group);
        out.extend(self.u16b(elem));
        if self.syntax == Syntax::ImplicitLittle {
            out.extend(self.u32b(len));
        } else {
            out.extend_from_slice(vr.as_bytes());
            if matches!(vr, "OB" | "OW" | "SQ" | "UN" | "UT") {
                out.extend([0, 0]);
                out.extend(self.u32b(len));
            } else {
                out.extend(self.u16b(len as u16));
            }
        }
        out.extend_from_slice(value);
        out
    }

    /// A sequence of one item holding `content`.
    fn sequence(&self, group: u16, elem: u16, content: &[u8]) -> Vec<u8> {
        let mut item = self.u16b(0xFFFE);
        item.extend(self.u16b(0xE000));
        if self.undefined_lengths {
            item.extend(self.u32b(0xFFFF_FFFF));
            item.extend_from_slice(content);
            item.extend(self.u16b(0xFFFE));
            item.extend(self.u16b(0xE00D));
            item.extend(self.u32b(0));
            item.extend(self.u16b(0xFFFE));
            item.extend(self.u16b(0xE0DD));
            item.extend(self.u32b(0));
            self.raw(group, elem, "SQ", 0xFFFF_FFFF, &item)
        } else {
            item.extend(self.u32b(content.len() as u32));
            item.extend_from_slice(content);
            self.raw(group, elem, "SQ", item.len() as u32, &item)
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        let syntax_uid = match self.syntax {
            Syntax::ExplicitLittle => "1.2.840.10008.1.2.1",
            Syntax::ImplicitLittle => "1.2.840.10008.1.2",
            Syntax::ExplicitBig => "1.2.840.10008.1.2.2",
        };
        // File meta information: always explicit VR little endian.
        let meta_el = |elem: u16, vr: &str, value: &[u8]| {
            let mut v = value.to_vec();
            if v.len() % 2 == 1 {
                v.push(0);
            }
            let mut out = 0x0002u16.to_le_bytes().to_vec();
            out.extend(elem.to_le_bytes());
            out.extend_from_slice(vr.as_bytes());
            if vr == "OB" {
                out.extend([0, 0]);
                out.extend((v.len() as u32).to_le_bytes());
            } else {
                out.extend((v.len() as u16).to_le_bytes());
            }
            out.extend(v);
            out
        };
        let mut meta = Vec::new();
        meta.extend(meta_el(0x0001, "OB", &[0, 1]));
        meta.extend(meta_el(0x0002, "UI", self.sop_class.as_bytes()));
        meta.extend(meta_el(0x0003, "UI", b"1.2.826.0.1.3680043.10.1234.2"));
        meta.extend(meta_el(0x0010, "UI", syntax_uid.as_bytes()));
        meta.extend(meta_el(0x0012, "UI", b"1.2.826.0.1.3680043.10.1234"));
        let mut out = vec![0u8; 128];
        out.extend_from_slice(b"DICM");
        out.extend(meta_el(0x0000, "UL", &(meta.len() as u32).to_le_bytes()));
        out.extend(meta);

        let mut ds = Vec::new();
        ds.extend(self.element(0x0008, 0x0008, "CS", self.image_type.as_bytes()));
        ds.extend(self.element(0x0008, 0x0016, "UI", self.sop_class.as_bytes()));
        ds.extend(self.element(0x0008, 0x0018, "UI", b"1.2.826.0.1.3680043.10.1234.2"));
        if self.private_un && self.syntax != Syntax::ImplicitLittle {
            // Inside: implicit VR little endian, whatever the dataset's encoding.
            let le = |v: u32| v.to_le_bytes();
            let mut items = Vec::new();
            for _ in 0..2 {
                items.extend([0xFE, 0xFF, 0x00, 0xE0]);
                items.extend(le(0xFFFF_FFFF));
                items.extend([0x09, 0x00, 0x11, 0x10]);
                items.extend(le(4));
                items.extend(b"abcd");
                // A nested sequence of undefined length with one empty item.
                items.extend([0x09, 0x00, 0x12, 0x10]);
                items.extend(le(0xFFFF_FFFF));
                items.extend([0xFE, 0xFF, 0x00, 0xE0]);
                items.extend(le(0xFFFF_FFFF));
                items.extend([0xFE, 0xFF, 0x0D, 0xE0]);
                items.extend(le(0));
                items.extend([0xFE, 0xFF, 0xDD, 0xE0]);
                items.extend(le(0));
                items.extend([0xFE, 0xFF, 0x0D, 0xE0]);
                items.extend(le(0));
            }
            items.extend([0xFE, 0xFF, 0xDD, 0xE0]);
            items.extend(le(0));
            ds.extend(self.raw(0x0009, 0x1010, "UN", 0xFFFF_FFFF, &items));
        }
        // A sequence this parser must skip, before the values it needs.
        let other = self.element(0x0008, 0x0100, "SH", b"12345");
        ds.extend(self.sequence(0x0008, 0x1032, &other));
        ds.extend(self.element(0x0020, 0x000D, "UI", b"1.2.826.0.1.3680043.10.1234.3"));
        ds.extend(self.element(0x0020, 0x000E, "UI", self.series_uid.as_bytes()));
        ds.extend(self.element(0x0028, 0x0002, "US", &self.u16b(3)));
        ds.extend(self.element(0x0028, 0x0004, "CS", b"RGB"));
        ds.extend(self.element(0x0028, 0x0008, "IS", b"1"));
        ds.extend(self.element(0x0028, 0x0010, "US", &self.u16b(TILE as u16)));
        ds.extend(self.element(0x0028, 0x0011, "US", &self.u16b(TILE as u16)));
        ds.extend(self.element(0x0048, 0x0006, "UL", &self.u32b(self.total_columns)));
        ds.extend(self.element(0x0048, 0x0007, "UL", &self.u32b(self.total_rows)));
        if let Some(spacing) = &self.spacing {
            let mut measures = self.element(0x0018, 0x0050, "DS", b"0.004");
            measures.extend(self.element(0x0028, 0x0030, "DS", spacing.as_bytes()));
            let shared = self.sequence(0x0028, 0x9110, &measures);
            ds.extend(self.sequence(0x5200, 0x9229, &shared));
        }
        ds.extend(self.element(0x7FE0, 0x0010, "OB", &[0u8; 64]));
        out.extend(ds);
        out
    }

    pub fn write(&self, path: &Path) {
        std::fs::write(path, self.to_vec()).unwrap();
    }
}
