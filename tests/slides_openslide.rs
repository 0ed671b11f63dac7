//! Cross-check with OpenSlide: the crate reports the level-0 dimensions and `openslide.mpp-x`
//! that OpenSlide (`openslide-python`, `openslide-bin`) reports for the same synthetic files.
//! Without Python and OpenSlide the check is skipped, except under `CI=true`, where it fails.
#![cfg(feature = "slides")]

mod slides_support;

use std::path::Path;
use std::process::Command;

use aignostics::slides;
use serde_json::Value;
use slides_support::*;

const SCRIPT: &str = r#"
import json, sys
import openslide
out = {}
for path in sys.argv[1:]:
    try:
        s = openslide.OpenSlide(path)
        out[path] = {"dimensions": list(s.dimensions),
                     "mpp_x": s.properties.get("openslide.mpp-x"),
                     "vendor": s.properties.get("openslide.vendor")}
    except Exception as e:
        out[path] = {"error": str(e)}
print(json.dumps(out))
"#;

fn python() -> Option<String> {
    ["python3", "python"]
        .into_iter()
        .map(String::from)
        .find(|p| {
            Command::new(p)
                .args(["-c", "import openslide"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

// Proves level-0 dimensions and microns per pixel equal OpenSlide's for generic TIFF
// (classic and BigTIFF, both byte orders of BigTIFF, centimeter and inch), Aperio, Philips and
// OME-TIFF files, and the sandbox's example slides. OpenSlide 4.0 refuses classic big-endian files; their dimensions are
// checked against Pillow's TIFF reader instead. (FR-60)
#[test]
fn matches_openslide() {
    let Some(python) = python() else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but Python with openslide is missing (pip install openslide-python openslide-bin)"
        );
        eprintln!("skipped: no Python with openslide");
        return;
    };
    let dir = std::env::temp_dir().join(format!("aignostics-openslide-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let files: Vec<(&str, Tiff)> = vec![
        ("generic-le.tif", generic(3000, 2000, 123_456_789, 3000, 3)),
        (
            "generic-big.tif",
            generic(2500, 1800, 40_000, 1, 3).bigtiff(),
        ),
        (
            "generic-bigbe.tif",
            generic(2500, 1800, 39_999, 7, 3).bigtiff().big_endian(),
        ),
        ("generic-inch.tif", generic(1200, 900, 96, 1, 2)),
        ("aperio.svs", aperio(4000, 3000, "0.2520")),
        ("aperio-big.svs", aperio(4000, 3000, "0.499").bigtiff()),
        ("philips.tiff", philips(2048, 1536, "0.000227273")),
        (
            "philips-rect.tiff",
            philips_spacing(2048, 1536, "0.000226", "0.000251"),
        ),
        ("ome.ome.tif", ome(1000, 900, "0.25", "µm")),
    ];
    let mut paths = Vec::new();
    for (name, tiff) in &files {
        let path = dir.join(name);
        tiff.write(&path);
        paths.push(path);
    }
    // The sandbox's example slides (`aignostics sandbox --example-slides DIR`).
    paths.extend(aignostics_sandbox::write_example_slides(dir.join("examples")).unwrap());
    let out = Command::new(&python)
        .arg("-c")
        .arg(SCRIPT)
        .args(&paths)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut problems = Vec::new();
    for path in &paths {
        let theirs = &report[path.to_str().unwrap()];
        let ours = slides::Inspector::new().checksum(false).inspect(path);
        let their_dims = theirs["dimensions"]
            .as_array()
            .map(|d| (d[0].as_u64(), d[1].as_u64()));
        let their_mpp = theirs["mpp_x"].as_str().map(|m| m.parse::<f64>().unwrap());
        match (&ours, their_dims) {
            (Ok(slide), Some(dims)) => {
                if dims != (Some(slide.width_px), Some(slide.height_px)) {
                    problems.push(format!(
                        "{}: dimensions {dims:?} vs ours {}x{}",
                        path.display(),
                        slide.width_px,
                        slide.height_px
                    ));
                }
                if their_mpp != Some(slide.resolution_mpp)
                    && !(their_mpp.is_none() && name_of(path).starts_with("ome"))
                {
                    problems.push(format!(
                        "{}: mpp {their_mpp:?} vs ours {}",
                        path.display(),
                        slide.resolution_mpp
                    ));
                }
            }
            (Err(e), Some(_))
                if their_mpp.is_none()
                    && matches!(e.kind(), slides::SlideErrorKind::NoResolution(_)) => {}
            (ours, _) => problems.push(format!(
                "{}: OpenSlide {theirs} vs ours {ours:?}",
                path.display()
            )),
        }
    }

    // Classic big-endian TIFF, against Pillow (a dependency of openslide-python).
    let be = dir.join("generic-be.tif");
    generic(3000, 2000, 41_152, 1, 3).big_endian().write(&be);
    let out = Command::new(&python)
        .args([
            "-c",
            "import sys; from PIL import Image; print(*Image.open(sys.argv[1]).size)",
        ])
        .arg(&be)
        .output()
        .unwrap();
    let pil = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let slide = slides::Inspector::new()
        .checksum(false)
        .inspect(&be)
        .unwrap();
    if pil != format!("{} {}", slide.width_px, slide.height_px) {
        problems.push(format!(
            "big-endian TIFF: Pillow says {pil:?}, ours {}x{}",
            slide.width_px, slide.height_px
        ));
    }
    assert_eq!(slide.resolution_mpp, 10_000.0 / 41_152.0);
    let _ = std::fs::remove_dir_all(&dir);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn name_of(path: &Path) -> String {
    path.file_name().unwrap().to_string_lossy().into_owned()
}
