//! Slide metadata from synthetic files of every format and variant, written by the tests.
#![cfg(feature = "slides")]

mod local;
mod slides_support;

use std::path::{Path, PathBuf};

use aignostics::slides::{self, Inspector, SlideErrorKind, SlideFormat};
use local::Scratch;
use slides_support::*;

fn write_tiff(dir: &Scratch, name: &str, tiff: &Tiff) -> PathBuf {
    let path = dir.path(name);
    tiff.write(&path);
    path
}

fn check(path: &Path, format: SlideFormat, width: u64, height: u64, mpp: f64) {
    let slide = slides::inspect(path).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(slide.format, format, "{}", path.display());
    assert_eq!(
        (slide.width_px, slide.height_px),
        (width, height),
        "{}",
        path.display()
    );
    assert_eq!(slide.resolution_mpp, mpp, "{}", path.display());
    assert!(!slide.resolution_supplied);
    assert_eq!(slide.size_bytes, std::fs::metadata(path).unwrap().len());
    assert_eq!(
        slide.checksum_base64_crc32c.as_deref(),
        Some(
            aignostics::checksum::crc32c_base64_file(path)
                .unwrap()
                .as_str()
        )
    );
}

// Proves generic tiled TIFF in both byte orders and BigTIFF: level-0 size and mpp from
// XResolution per centimeter or inch. (FR-60)
#[test]
fn generic_tiff_variants() {
    let dir = Scratch::new("generic");
    let mpp = 10_000.0 / (123_456_789.0 / 3000.0);
    for (name, tiff) in [
        ("le.tif", generic(3000, 2000, 123_456_789, 3000, 3)),
        (
            "be.tif",
            generic(3000, 2000, 123_456_789, 3000, 3).big_endian(),
        ),
        (
            "big.tif",
            generic(3000, 2000, 123_456_789, 3000, 3).bigtiff(),
        ),
        (
            "bigbe.tif",
            generic(3000, 2000, 123_456_789, 3000, 3)
                .bigtiff()
                .big_endian(),
        ),
    ] {
        let path = write_tiff(&dir, name, &tiff);
        check(&path, SlideFormat::GenericTiff, 3000, 2000, mpp);
    }
    // Per inch (the TIFF default unit) as OpenSlide 4 reads it.
    let path = write_tiff(&dir, "inch.tif", &generic(1200, 900, 96, 1, 2));
    check(&path, SlideFormat::GenericTiff, 1200, 900, 25_400.0 / 96.0);
}

// Proves the vendor rules: Aperio MPP, Philips DICOM_PIXEL_SPACING, OME PhysicalSizeX with
// its unit, NDPI XResolution; TIFF media type for all of them. (FR-60)
#[test]
fn vendor_rules() {
    let dir = Scratch::new("vendors");
    let path = write_tiff(&dir, "a.svs", &aperio(4000, 3000, "0.2520"));
    check(&path, SlideFormat::Aperio, 4000, 3000, 0.252);
    let path = write_tiff(&dir, "p.tiff", &philips(2048, 1536, "0.000227273"));
    check(&path, SlideFormat::Philips, 2048, 1536, 0.227273);
    let path = write_tiff(&dir, "o.ome.tif", &ome(1000, 900, "250", "nm"));
    check(&path, SlideFormat::OmeTiff, 1000, 900, 0.25);
    let path = write_tiff(&dir, "n.ndpi", &ndpi(5120, 4096, 44_000));
    check(&path, SlideFormat::Ndpi, 5120, 4096, 10_000.0 / 44_000.0);
    assert_eq!(slides::inspect(&path).unwrap().media_type, "image/tiff");
}

// Proves DICOM WSI in explicit and implicit little endian and explicit big endian, with
// defined and undefined lengths: TotalPixelMatrix size, PixelSpacing in mm. (FR-60)
#[test]
fn dicom_variants() {
    let dir = Scratch::new("dicom");
    for syntax in [
        Syntax::ExplicitLittle,
        Syntax::ImplicitLittle,
        Syntax::ExplicitBig,
    ] {
        for undefined in [false, true] {
            let mut d = Dicom::new(50_000, 40_000, "0.00025\\0.000252");
            d.syntax = syntax;
            d.undefined_lengths = undefined;
            let path = dir.path(&format!("{syntax:?}-{undefined}.dcm"));
            d.write(&path);
            check(&path, SlideFormat::Dicom, 50_000, 40_000, 0.252);
            assert_eq!(
                slides::inspect(&path).unwrap().media_type,
                "application/dicom"
            );
        }
    }
}

// Proves a folder holding one DICOM series reads as its largest VOLUME level, and labels and
// other levels are left out by find_slides. (FR-60)
#[test]
fn dicom_series_folder() {
    let dir = Scratch::new("series");
    let series = dir.path("case-1");
    std::fs::create_dir_all(&series).unwrap();
    Dicom::new(10_000, 8_000, "0.001\\0.001").write(&series.join("level-1.dcm"));
    Dicom::new(40_000, 32_000, "0.00025\\0.00025").write(&series.join("level-0.dcm"));
    let mut label = Dicom::new(500, 400, "0.1\\0.1");
    label.image_type = "ORIGINAL\\PRIMARY\\LABEL\\NONE".into();
    label.write(&series.join("label.dcm"));
    let slide = slides::inspect(&series).unwrap();
    assert_eq!(slide.path, series.join("level-0.dcm"));
    assert_eq!((slide.width_px, slide.height_px), (40_000, 32_000));
    let found = slides::find_slides(&*dir).unwrap();
    assert_eq!(found, vec![series.join("level-0.dcm")]);
    // A second series in the same folder is not one slide.
    let mut other = Dicom::new(100, 100, "0.001\\0.001");
    other.series_uid = "1.2.3.4".into();
    other.write(&series.join("other.dcm"));
    let err = slides::inspect(&series).unwrap_err();
    assert!(err.to_string().contains("2 DICOM series"), "{err}");
    assert_eq!(slides::find_slides(&*dir).unwrap().len(), 2);
}

// Proves a sparse BigTIFF whose directories and values lie past 4 GiB is read from its
// header without reading the gap. (FR-60)
#[test]
fn sparse_bigtiff_past_4_gib() {
    let dir = Scratch::new("sparse");
    let high = (4u64 << 30) + 4096;
    let tiff = generic(100_000, 80_000, 40_000, 1, 3)
        .bigtiff()
        .body_at(high);
    let path = write_tiff(&dir, "sparse.tif", &tiff);
    let slide = Inspector::new().checksum(false).inspect(&path).unwrap();
    assert_eq!((slide.width_px, slide.height_px), (100_000, 80_000));
    assert_eq!(slide.resolution_mpp, 0.25);
    assert!(slide.size_bytes > high);
    assert_eq!(slide.checksum_base64_crc32c, None);
}

// Proves a missing resolution is a typed error naming the file and the reason, and that a
// supplied fallback is used and flagged instead. (FR-61)
#[test]
fn missing_resolution_and_fallback() {
    let dir = Scratch::new("nores");
    let none = write_tiff(&dir, "unitless.tif", &generic(1000, 800, 96, 1, 1));
    let err = slides::inspect(&none).unwrap_err();
    assert!(
        matches!(err.kind(), SlideErrorKind::NoResolution(_)),
        "{err:?}"
    );
    assert_eq!(err.path(), none);
    let text = err.to_string();
    assert!(
        text.contains("unitless.tif") && text.contains("ResolutionUnit"),
        "{text}"
    );
    let bare = write_tiff(&dir, "bare.tif", &Tiff::new(vec![Ifd::tiled(1000, 800)]));
    assert!(
        slides::inspect(&bare)
            .unwrap_err()
            .to_string()
            .contains("no XResolution")
    );
    let slide = Inspector::new().fallback_mpp(0.5).inspect(&none).unwrap();
    assert_eq!(slide.resolution_mpp, 0.5);
    assert!(slide.resolution_supplied);

    let svs = write_tiff(
        &dir,
        "nompp.svs",
        &Tiff::new(pyramid(1000, 800, 2, |l| {
            l.description("Aperio Image Library v12|AppMag = 20")
        })),
    );
    let err = slides::inspect(&svs).unwrap_err();
    assert!(err.to_string().contains("no MPP"), "{err}");
    let mut d = Dicom::new(10, 10, "");
    d.spacing = None;
    let path = dir.path("nospacing.dcm");
    d.write(&path);
    assert!(matches!(
        slides::inspect(&path).unwrap_err().kind(),
        SlideErrorKind::NoResolution(_)
    ));
}

// Proves bad files are typed errors naming the file: empty, not a slide, truncated, a
// directory loop, a striped TIFF, a non-WSI DICOM. (FR-61)
#[test]
fn bad_files_are_typed_errors() {
    let dir = Scratch::new("bad");
    let put = |name: &str, bytes: &[u8]| {
        let p = dir.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    };
    let kind = |p: &Path| {
        let err = slides::inspect(p).unwrap_err();
        assert!(
            err.to_string()
                .contains(p.file_name().unwrap().to_str().unwrap()),
            "{err}"
        );
        format!("{:?}", err.kind())
    };
    assert!(kind(&put("empty.tif", b"")).starts_with("NotASlide"));
    assert!(kind(&put("text.svs", b"hello, not a slide at all")).starts_with("NotASlide"));
    let whole = aperio(2000, 1000, "0.25").to_vec();
    assert!(kind(&put("cut.svs", &whole[..40])).starts_with("Truncated"));

    // Directory loop: the second directory's next pointer leads back to the first.
    let tiff = generic(1000, 800, 40_000, 1, 3);
    let mut bytes = tiff.to_vec();
    let first = u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize;
    let count = u16::from_le_bytes([bytes[first], bytes[first + 1]]) as usize;
    let next_at = first + 2 + count * 12;
    let second = u32::from_le_bytes(bytes[next_at..next_at + 4].try_into().unwrap()) as usize;
    let count2 = u16::from_le_bytes([bytes[second], bytes[second + 1]]) as usize;
    let next2 = second + 2 + count2 * 12;
    bytes[next2..next2 + 4].copy_from_slice(&(first as u32).to_le_bytes());
    let looped = kind(&put("loop.tif", &bytes));
    assert!(looped.contains("points back"), "{looped}");

    let striped = Tiff::new(vec![Ifd {
        width: 100,
        height: 100,
        ..Ifd::default()
    }]);
    assert!(kind(&put("plain.tif", &striped.to_vec())).contains("striped"));
    let mut ct = Dicom::new(512, 512, "0.5\\0.5");
    ct.sop_class = "1.2.840.10008.5.1.4.1.1.2".into();
    assert!(kind(&put("ct.dcm", &ct.to_vec())).contains("not a VL Whole Slide"));
    let missing = dir.path("missing.svs");
    assert!(kind(&missing).starts_with("Io"));
}

// Proves many slides are read in parallel with results in input order, errors in place.
// (NFR-19)
#[test]
fn inspect_all_keeps_order() {
    let dir = Scratch::new("many");
    let mut paths = Vec::new();
    for i in 0..40u32 {
        let p = dir.path(&format!("s{i:02}.svs"));
        if i == 17 {
            std::fs::write(&p, b"broken").unwrap();
        } else {
            aperio(1000 + i, 500, "0.5").write(&p);
        }
        paths.push(p);
    }
    let results = Inspector::new().threads(4).inspect_all(&paths);
    assert_eq!(results.len(), 40);
    for (i, r) in results.iter().enumerate() {
        if i == 17 {
            assert!(r.is_err());
        } else {
            assert_eq!(r.as_ref().unwrap().width_px, 1000 + i as u64);
        }
    }
    assert_eq!(slides::find_slides(&*dir).unwrap(), paths);
}

// Proves a symbolic link back to a parent folder does not make the folder search loop.
// (FR-61)
#[cfg(unix)]
#[test]
fn folder_link_loop_terminates() {
    let dir = Scratch::new("linkloop");
    std::fs::create_dir_all(dir.path("a")).unwrap();
    aperio(100, 100, "0.5").tile(16).write(&dir.path("a/s.svs"));
    std::os::unix::fs::symlink(&*dir, dir.path("a/up")).unwrap();
    let found = slides::find_slides(&*dir).unwrap();
    assert_eq!(found, vec![dir.path("a/s.svs")]);
}

// Proves only regular files are slides: a named pipe with a slide's name is not listed and
// inspecting it is a prompt typed error instead of a read that blocks for ever, while a link
// to a slide file still counts. (FR-61)
#[cfg(unix)]
#[test]
fn named_pipes_are_not_slides() {
    let dir = Scratch::new("fifo");
    aperio(100, 100, "0.5")
        .tile(16)
        .write(&dir.path("real.svs"));
    std::os::unix::fs::symlink(dir.path("real.svs"), dir.path("link.svs")).unwrap();
    let status = std::process::Command::new("mkfifo")
        .arg(dir.path("pipe.svs"))
        .status()
        .unwrap();
    assert!(status.success());
    let found = slides::find_slides(&*dir).unwrap();
    assert_eq!(found, vec![dir.path("link.svs"), dir.path("real.svs")]);
    let (tx, rx) = std::sync::mpsc::channel();
    let pipe = dir.path("pipe.svs");
    std::thread::spawn(move || tx.send(slides::inspect(&pipe).map(|_| ())));
    // A guard against a hang, not a speed goal: the old reader never returned.
    let result = rx
        .recv_timeout(std::time::Duration::from_secs(60))
        .expect("inspecting a named pipe returns");
    let err = result.unwrap_err();
    assert!(matches!(err.kind(), SlideErrorKind::NotASlide(_)), "{err}");
}

// Proves every resolution read from a header is finite and positive: a DICOM PixelSpacing or
// Philips spacing of 1e308 mm (which overflows to infinity in microns), an XResolution of one
// pixel per 2^32 inches and a NaN are "no resolution", never `inf` or `NaN`. (FR-61)
#[test]
fn overflowing_resolutions_are_no_resolution() {
    let dir = Scratch::new("overflow");
    let dicom = dir.path("huge.dcm");
    Dicom::new(10, 10, "1e308\\1e308").write(&dicom);
    let philips_path = write_tiff(&dir, "huge.tiff", &philips(1000, 800, "1e308"));
    let tiny = write_tiff(
        &dir,
        "tiny.tif",
        &generic(1000, 800, 1, u32::MAX, 2).tile(64),
    );
    let ome_path = write_tiff(&dir, "nan.ome.tif", &ome(1000, 800, "NaN", "µm"));
    for path in [&dicom, &philips_path, &ome_path] {
        let err = slides::inspect(path).unwrap_err();
        assert!(
            matches!(err.kind(), SlideErrorKind::NoResolution(_)),
            "{}: {err}",
            path.display()
        );
    }
    // 25400 µm per inch over 1/4294967295 pixels per inch: finite, so it is read.
    let slide = slides::inspect(&tiny).unwrap();
    assert!(slide.resolution_mpp.is_finite() && slide.resolution_mpp > 0.0);
}

// Proves a private element of VR UN and undefined length holding items of undefined length
// (PS3.5 §6.2.2: implicit VR little endian inside, in explicit little and big endian files)
// is skipped as the sequence it is, and the slide reads as without it. (FR-60)
#[test]
fn dicom_undefined_length_un_is_a_sequence() {
    let dir = Scratch::new("dicom-un");
    for syntax in [Syntax::ExplicitLittle, Syntax::ExplicitBig] {
        let mut d = Dicom::new(50_000, 40_000, "0.00025\\0.000252");
        d.syntax = syntax;
        d.private_un = true;
        let path = dir.path(&format!("{syntax:?}-un.dcm"));
        d.write(&path);
        check(&path, SlideFormat::Dicom, 50_000, 40_000, 0.252);
    }
}

// Proves a folder scan keeps the slides `find_slides` finds, reports whole-slide files of
// formats not read (`.mrxs`, `.czi`, any case) as `Unsupported` errors naming the format, counts
// other files, and words one message for a folder without slides. (FR-60)
#[test]
fn folder_scan_reports_what_it_leaves_out() {
    let dir = Scratch::new("scan");
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    aperio(1000, 800, "0.25").write(&dir.join("sub/a.svs"));
    std::fs::write(dir.join("b.MRXS"), "m").unwrap();
    std::fs::write(dir.join("sub/c.czi"), "z").unwrap();
    std::fs::write(dir.join("notes.txt"), "n").unwrap();
    let scan = slides::scan_folder(&dir).unwrap();
    assert_eq!(scan.slides, slides::find_slides(&dir).unwrap());
    assert_eq!(scan.slides, [dir.join("sub/a.svs")]);
    assert_eq!(scan.other_files, 1);
    let skipped: Vec<String> = scan.skipped.iter().map(ToString::to_string).collect();
    assert_eq!(skipped.len(), 2, "{skipped:?}");
    assert!(
        matches!(scan.skipped[0].kind(), SlideErrorKind::Unsupported(f) if f == "3DHISTECH MIRAX (.mrxs)"),
        "{skipped:?}"
    );
    assert!(skipped[1].contains("Zeiss CZI (.czi) is not a format read here"));
    std::fs::remove_file(dir.join("sub/a.svs")).unwrap();
    let scan = slides::scan_folder(&dir).unwrap();
    let message = scan.nothing_found(&dir);
    assert!(
        message.contains("no slides found (read: Aperio SVS")
            && message
                .ends_with("; 2 files of formats not read; 1 file of other kinds passed over"),
        "{message}"
    );
}
