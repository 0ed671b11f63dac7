//! Example whole-slide images to practise with: small tiled TIFFs (an Aperio SVS and a generic
//! tiled TIFF with resolution tags) that slide readers recognise, each tile pink and purple
//! like an H&E stain. Every tile of a slide points at the same stored bytes, so a slide of
//! 20,000 × 15,000 pixels takes a few hundred kilobytes.

use std::io;
use std::path::{Path, PathBuf};

/// Tile edge in pixels.
const TILE: u32 = 256;

/// One example: file (relative), width, height, microns per pixel, Aperio or generic, colour.
type Example = (&'static str, u32, u32, f64, bool, [u8; 3]);

const EXAMPLES: &[Example] = &[
    (
        "case-1/lung-1.svs",
        20_000,
        15_000,
        0.2520,
        true,
        [226, 150, 190],
    ),
    (
        "case-1/lung-2.tif",
        16_384,
        12_288,
        0.2500,
        false,
        [200, 120, 180],
    ),
    (
        "case-2/liver.svs",
        12_000,
        9_000,
        0.5040,
        true,
        [214, 160, 200],
    ),
];

/// Writes the example slides under `dir` (created when missing) and returns their paths.
/// The same call writes the same bytes, so their checksums, object keys and idempotency keys
/// repeat.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("aignostics-doc-examples-{}", std::process::id()));
/// let written = aignostics_sandbox::write_example_slides(&dir)?;
/// let slide = aignostics::slides::inspect(&written[0])?;
/// assert_eq!((slide.width_px, slide.resolution_mpp), (20_000, 0.252));
/// # std::fs::remove_dir_all(&dir)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
///
/// # Errors
/// The folder or a file cannot be written.
pub fn write_example_slides(dir: impl AsRef<Path>) -> io::Result<Vec<PathBuf>> {
    let dir = dir.as_ref();
    let mut written = Vec::new();
    for &(name, width, height, mpp, aperio, colour) in EXAMPLES {
        let path = dir.join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let description = aperio.then(|| {
            format!(
                "Aperio Image Library v12.0.15 \r\n{width}x{height} [0,0 {width}x{height}] \
                 ({TILE}x{TILE}) RAW|AppMag = 20|MPP = {mpp:.4}|Example = aignostics sandbox"
            )
        });
        let bytes = tiled_tiff(width, height, description.as_deref(), mpp, colour);
        std::fs::write(&path, bytes)?;
        written.push(path);
    }
    Ok(written)
}

/// A little-endian classic TIFF of one tiled, uncompressed RGB level: the Aperio description
/// when given, else the resolution as pixels per centimetre.
fn tiled_tiff(
    width: u32,
    height: u32,
    description: Option<&str>,
    mpp: f64,
    rgb: [u8; 3],
) -> Vec<u8> {
    use crate::tiff::{long, short};
    let tiles = width.div_ceil(TILE) * height.div_ceil(TILE);
    let mut entries = vec![
        (256, 4, 1, long(width)),
        (257, 4, 1, long(height)),
        (258, 3, 3, [short(8), short(8), short(8)].concat()),
        (259, 3, 1, short(1)),
        (262, 3, 1, short(2)),
        (277, 3, 1, short(3)),
        (284, 3, 1, short(1)),
        (322, 3, 1, short(TILE as u16)),
        (323, 3, 1, short(TILE as u16)),
        (325, 4, tiles, long(TILE * TILE * 3).repeat(tiles as usize)),
    ];
    match description {
        Some(text) => {
            let mut ascii = text.as_bytes().to_vec();
            ascii.push(0);
            entries.push((270, 2, ascii.len() as u32, ascii));
        }
        None => {
            // Pixels per centimetre as a rational: 10,000 / mpp.
            let per_cm = (10_000.0 / mpp * 1000.0).round() as u32;
            let rational = [long(per_cm), long(1000)].concat();
            entries.push((282, 5, 1, rational.clone()));
            entries.push((283, 5, 1, rational));
            entries.push((296, 3, 1, short(3)));
        }
    }
    // Every tile points at the one tile's bytes.
    crate::tiff::write(entries, 324, tiles, &tile(rgb))
}

/// One tile: the stain's colour with darker purple "nuclei" on a regular grid.
fn tile(rgb: [u8; 3]) -> Vec<u8> {
    let mut out = Vec::with_capacity((TILE * TILE * 3) as usize);
    for y in 0..TILE {
        for x in 0..TILE {
            let (dx, dy) = ((x % 32) as i32 - 16, (y % 32) as i32 - 16);
            let nucleus = dx * dx + dy * dy < 36;
            out.extend_from_slice(&if nucleus { [90, 40, 140] } else { rgb });
        }
    }
    out
}
