//! Atlas H&E-TME-shaped results: the nine files the platform returns per slide, with its names
//! and media types, and contents derived from the item (its external id and slide checksum), so
//! two slides differ and a rerun of the same slide gives the same bytes.
//!
//! - slide readouts: one row under the real header of Atlas's slide readouts (4,548 columns,
//!   from `tme-studio`, MIT: `atlas_slide_readout_columns.LICENSE`), some values `N/A`;
//! - cell readouts: one row per cell (id, centroid, class, nucleus shape);
//! - GeoJSON FeatureCollections of cells, tissue regions and tissue QC regions: valid polygons
//!   inside the slide (exterior rings counter-clockwise, holes clockwise), some with holes, some
//!   MultiPolygons, with the class names of the class-information CSVs;
//! - segmentation maps as small grayscale TIFFs of class ids, and the two class-information
//!   CSVs (`class_id,class_name,color`).

use serde_json::{Value, json};

use crate::content::content_seed;

/// What the results of one item derive from.
pub(crate) struct Item<'a> {
    /// The platform's id of the item.
    pub id: &'a str,
    /// The caller's id (the slide's name).
    pub external_id: &'a str,
    /// The input slide's metadata (size, resolution, checksum).
    pub metadata: Option<&'a Value>,
}

/// The output artifacts, with their media types, in the platform's order.
pub const ATLAS_OUTPUTS: [(&str, &str); 9] = [
    ("readout_generation:slide_readouts", "text/csv"),
    ("readout_generation:cell_readouts", "text/csv"),
    (
        "cell_classification:geojson_polygons",
        "application/geo+json",
    ),
    (
        "tissue_segmentation:geojson_polygons",
        "application/geo+json",
    ),
    ("tissue_qc:geojson_polygons", "application/geo+json"),
    ("tissue_segmentation:segmentation_map_image", "image/tiff"),
    ("tissue_qc:segmentation_map_image", "image/tiff"),
    ("tissue_segmentation:csv_class_information", "text/csv"),
    ("tissue_qc:csv_class_information", "text/csv"),
];

/// The header of Atlas's slide readouts.
const SLIDE_COLUMNS: &str = include_str!("atlas_slide_readout_columns.csv");

/// The line before every readout's header.
const RUO: &str = "# For Research Use Only\n";

/// Classes of the tissue segmentation: id, name, colour.
const TISSUE_CLASSES: [(u8, &str, &str); 6] = [
    (1, "Carcinoma", "#e6194b"),
    (2, "Stroma", "#f58231"),
    (3, "Necrosis", "#911eb4"),
    (4, "Epithelial tissue", "#3cb44b"),
    (5, "Blood", "#800000"),
    (6, "Other", "#a9a9a9"),
];

/// Classes of the tissue quality control.
const QC_CLASSES: [(u8, &str, &str); 5] = [
    (1, "Valid tissue", "#3cb44b"),
    (2, "Tissue artifact", "#ffe119"),
    (3, "No tissue", "#ffffff"),
    (4, "Marker", "#4363d8"),
    (5, "Out of focus", "#f032e6"),
];

/// Classes of the cells (the `CELL_CLASSES` of the slide readouts).
const CELL_CLASSES: [(&str, &str); 9] = [
    ("Fibroblast", "#f58231"),
    ("Carcinoma cell", "#e6194b"),
    ("Macrophage", "#911eb4"),
    ("Granulocyte", "#ffe119"),
    ("Lymphocyte", "#4363d8"),
    ("Endothelial cell", "#42d4f4"),
    ("Other", "#a9a9a9"),
    ("Epithelial cell", "#3cb44b"),
    ("Plasma cell", "#f032e6"),
];

/// Whether `name` is one of the Atlas outputs.
pub(crate) fn is_atlas(name: &str) -> bool {
    ATLAS_OUTPUTS.iter().any(|(n, _)| *n == name)
}

/// The bytes of the Atlas output `name` for `item`, with `cells` cells; `None` for any other
/// name.
pub(crate) fn render(name: &str, item: &Item<'_>, cells: usize) -> Option<Vec<u8>> {
    let slide = Slide::of(item);
    Some(match name {
        "readout_generation:slide_readouts" => slide.slide_readouts(item),
        "readout_generation:cell_readouts" => slide.cell_readouts(cells),
        "cell_classification:geojson_polygons" => slide.cell_polygons(cells),
        "tissue_segmentation:geojson_polygons" => slide.regions(&TISSUE_CLASSES, 1),
        "tissue_qc:geojson_polygons" => slide.regions(&QC_CLASSES, 2),
        "tissue_segmentation:segmentation_map_image" => slide.map(TISSUE_CLASSES.len() as u8),
        "tissue_qc:segmentation_map_image" => slide.map(QC_CLASSES.len() as u8),
        "tissue_segmentation:csv_class_information" => class_information(&TISSUE_CLASSES),
        "tissue_qc:csv_class_information" => class_information(&QC_CLASSES),
        _ => return None,
    })
}

/// What the results describe: the slide's size and resolution, and the seed of its numbers.
struct Slide {
    width: f64,
    height: f64,
    mpp: f64,
    seed: u64,
}

impl Slide {
    fn of(item: &Item<'_>) -> Self {
        let metadata = item.metadata;
        let number = |key: &str, default: f64| {
            metadata
                .and_then(|m| m.get(key))
                .and_then(Value::as_f64)
                .filter(|v| v.is_finite() && *v > 0.0)
                .unwrap_or(default)
        };
        let checksum = metadata
            .and_then(|m| m.get("checksum_base64_crc32c"))
            .and_then(Value::as_str)
            .unwrap_or_default();
        Self {
            width: number("width_px", 20_000.0).min(1e7),
            height: number("height_px", 15_000.0).min(1e7),
            mpp: number("resolution_mpp", 0.25),
            seed: content_seed(&[item.external_id, checksum]),
        }
    }

    /// The `n`th number in [0, 1) of stream `stream`.
    fn unit(&self, stream: u64, n: u64) -> f64 {
        let mut x = self
            .seed
            .wrapping_add(stream.wrapping_mul(0x9E37_79B9_7F4A_7C15))
            .wrapping_add(n.wrapping_mul(0xBF58_476D_1CE4_E5B9));
        x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (x ^ (x >> 31)) as f64 / (u64::MAX as f64 + 1.0)
    }

    /// One row under the real header: ids, the resolution, the cell classes, then a number per
    /// column shaped by its name (counts are whole, ratios and relative areas fractions);
    /// about one value in twenty is `N/A`.
    fn slide_readouts(&self, item: &Item<'_>) -> Vec<u8> {
        let header = SLIDE_COLUMNS.trim_end();
        let classes: Vec<&str> = CELL_CLASSES.iter().map(|(n, _)| *n).collect();
        let mut row = Vec::new();
        for (i, column) in header.split(',').enumerate() {
            let u = self.unit(1, i as u64);
            let value = match column {
                "SLIDE_UUID" => item.id.to_string(),
                "SLIDE_NAME" => item.external_id.to_string(),
                "IMAGE_RESOLUTION" => format!("{:.4}", self.mpp),
                "CELL_CLASSES" => classes.join(";"),
                _ if self.unit(2, i as u64) < 0.05 => "N/A".into(),
                c if c.starts_with("NUMBER_OF") || c.starts_with("TOTAL_NUMBER") => {
                    format!("{}", (u * 50_000.0).floor())
                }
                c if c.starts_with("RATIO") || c.starts_with("RELATIVE") => {
                    format!("{:.4}", u)
                }
                _ => format!("{:.2}", u * 1_000_000.0),
            };
            row.push(quote(&value));
        }
        format!("{RUO}{header}\n{}\n", row.join(",")).into_bytes()
    }

    /// The cells: id, centroid (level-0 pixels), class, nucleus area, perimeter and
    /// eccentricity.
    fn cell_readouts(&self, cells: usize) -> Vec<u8> {
        let mut out = format!(
            "{RUO}CELL_ID,CENTROID_X,CENTROID_Y,CELL_CLASS,NUCLEUS_AREA,NUCLEUS_PERIMETER,\
             NUCLEUS_ECCENTRICITY\n"
        );
        for n in 0..cells {
            let (x, y, radius) = self.cell(n as u64);
            let class = CELL_CLASSES[self.class_of(n as u64)].0;
            let area = std::f64::consts::PI * radius * radius * self.mpp * self.mpp;
            let perimeter = 2.0 * std::f64::consts::PI * radius * self.mpp;
            let ecc = self.unit(6, n as u64) * 0.8;
            out.push_str(&format!(
                "{n},{x:.1},{y:.1},{},{area:.2},{perimeter:.2},{ecc:.3}\n",
                quote(class)
            ));
        }
        out.into_bytes()
    }

    /// Cell `n`: its centroid and radius in pixels, well inside the slide.
    fn cell(&self, n: u64) -> (f64, f64, f64) {
        let radius = 4.0 + self.unit(5, n) * 6.0;
        let x = 20.0 + self.unit(3, n) * (self.width - 40.0);
        let y = 20.0 + self.unit(4, n) * (self.height - 40.0);
        (x, y, radius)
    }

    fn class_of(&self, n: u64) -> usize {
        (self.unit(7, n) * CELL_CLASSES.len() as f64) as usize % CELL_CLASSES.len()
    }

    /// Each cell as an octagon around its centroid.
    fn cell_polygons(&self, cells: usize) -> Vec<u8> {
        let features: Vec<Value> = (0..cells as u64)
            .map(|n| {
                let (x, y, r) = self.cell(n);
                let (name, color) = CELL_CLASSES[self.class_of(n)];
                let ring: Vec<[f64; 2]> = (0..=8)
                    .map(|k| {
                        let a = f64::from(k % 8) * std::f64::consts::FRAC_PI_4;
                        [round(x + r * a.cos()), round(y + r * a.sin())]
                    })
                    .collect();
                feature(
                    json!({"type": "Polygon", "coordinates": [ring]}),
                    json!({"cell_id": n, "class_name": name, "color": color}),
                )
            })
            .collect();
        collection(features)
    }

    /// Regions of `classes`: one per class, in bands across the slide. Every second one is a
    /// rectangle with a rectangular hole; every third a MultiPolygon of two rectangles.
    fn regions(&self, classes: &[(u8, &str, &str)], stream: u64) -> Vec<u8> {
        let band = self.width / classes.len() as f64;
        let features = classes
            .iter()
            .enumerate()
            .map(|(i, (id, name, color))| {
                let x0 = band * i as f64 + band * 0.05;
                let x1 = band * (i + 1) as f64 - band * 0.05;
                let jitter = self.unit(10 + stream, i as u64) * 0.1;
                let (y0, y1) = (self.height * (0.1 + jitter), self.height * (0.9 - jitter));
                let geometry = if i % 3 == 2 {
                    let mid = (y0 + y1) / 2.0;
                    json!({"type": "MultiPolygon", "coordinates": [
                        [rect(x0, y0, x1, mid - band * 0.05)],
                        [rect(x0, mid + band * 0.05, x1, y1)],
                    ]})
                } else if i % 2 == 1 {
                    let (w, h) = (x1 - x0, y1 - y0);
                    let mut hole = rect(x0 + w * 0.3, y0 + h * 0.3, x1 - w * 0.3, y1 - h * 0.3);
                    hole.reverse();
                    json!({"type": "Polygon", "coordinates": [rect(x0, y0, x1, y1), hole]})
                } else {
                    json!({"type": "Polygon", "coordinates": [rect(x0, y0, x1, y1)]})
                };
                feature(
                    geometry,
                    json!({"class_id": id, "class_name": name, "color": color}),
                )
            })
            .collect();
        collection(features)
    }

    /// A 64-pixel-wide grayscale TIFF of class ids in bands, at the slide's aspect ratio.
    fn map(&self, classes: u8) -> Vec<u8> {
        let width = 64u32;
        let height = ((f64::from(width) * self.height / self.width).round() as u32).clamp(1, 4096);
        let mut pixels = Vec::with_capacity((width * height) as usize);
        for _ in 0..height {
            for x in 0..width {
                pixels.push(1 + (x * u32::from(classes) / width) as u8);
            }
        }
        gray_tiff(width, height, &pixels)
    }
}

/// A closed counter-clockwise rectangle ring (x right, y down as in the image; counter-clockwise
/// as RFC 7946 asks of exterior rings in its own orientation).
fn rect(x0: f64, y0: f64, x1: f64, y1: f64) -> Vec<[f64; 2]> {
    let (x0, y0, x1, y1) = (round(x0), round(y0), round(x1), round(y1));
    vec![[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]
}

fn round(v: f64) -> f64 {
    (v * 10.0).round() / 10.0
}

fn feature(geometry: Value, properties: Value) -> Value {
    json!({"type": "Feature", "geometry": geometry, "properties": properties})
}

fn collection(features: Vec<Value>) -> Vec<u8> {
    serde_json::to_vec(&json!({"type": "FeatureCollection", "features": features}))
        .unwrap_or_default()
}

fn class_information(classes: &[(u8, &str, &str)]) -> Vec<u8> {
    let mut out = String::from("class_id,class_name,color\n");
    for (id, name, color) in classes {
        out.push_str(&format!("{id},{},{color}\n", quote(name)));
    }
    out.into_bytes()
}

/// A CSV cell, quoted when it needs to be.
fn quote(value: &str) -> String {
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value.to_string()
    }
}

/// A TIFF of one uncompressed 8-bit grayscale strip.
fn gray_tiff(width: u32, height: u32, pixels: &[u8]) -> Vec<u8> {
    use crate::tiff::{long, short};
    let entries = vec![
        (256, 4, 1, long(width)),
        (257, 4, 1, long(height)),
        (258, 3, 1, short(8)),
        (259, 3, 1, short(1)),
        (262, 3, 1, short(1)),
        (277, 3, 1, short(1)),
        (278, 4, 1, long(height)),
        (279, 4, 1, long(pixels.len() as u32)),
    ];
    crate::tiff::write(entries, 273, 1, pixels)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metadata(checksum: &str) -> Value {
        json!({"width_px": 20000, "height_px": 10000, "resolution_mpp": 0.25,
            "checksum_base64_crc32c": checksum})
    }

    fn item<'a>(external_id: &'a str, metadata: &'a Value) -> Item<'a> {
        Item {
            id: "item-1",
            external_id,
            metadata: Some(metadata),
        }
    }

    // Proves each of the nine outputs renders, the same slide gives the same bytes and another
    // slide other bytes, and the slide readouts carry the real 4,548-column header with one row
    // of as many values. (FR-93)
    #[test]
    fn nine_outputs_deterministic_per_slide() {
        let (ma, mb) = (metadata("AAAAAA=="), metadata("AAAAAQ=="));
        let a = item("case/a.svs", &ma);
        let b = item("case/b.svs", &mb);
        for (name, _) in ATLAS_OUTPUTS {
            let one = render(name, &a, 20).unwrap();
            assert!(!one.is_empty(), "{name}");
            assert_eq!(one, render(name, &a, 20).unwrap(), "{name} repeats");
            if !name.ends_with("class_information") && !name.ends_with("map_image") {
                assert_ne!(one, render(name, &b, 20).unwrap(), "{name} differs");
            }
        }
        assert!(render("heatmap:tiff", &a, 20).is_none());
        let readout = String::from_utf8(render(ATLAS_OUTPUTS[0].0, &a, 20).unwrap()).unwrap();
        let mut lines = readout.lines();
        assert_eq!(lines.next(), Some("# For Research Use Only"));
        let header: Vec<&str> = lines.next().unwrap().split(',').collect();
        assert_eq!(header.len(), 4548);
        assert_eq!(
            &header[..3],
            ["SLIDE_UUID", "SLIDE_NAME", "IMAGE_RESOLUTION"]
        );
        let row = lines.next().unwrap();
        assert_eq!(row.split(',').count(), 4548);
        assert!(row.contains("N/A") && row.contains("case/a.svs"));
    }

    // Proves the GeoJSON is a FeatureCollection of valid-looking polygons inside the slide:
    // closed rings, counter-clockwise exteriors, clockwise holes, and a MultiPolygon. (FR-93)
    #[test]
    fn regions_are_closed_oriented_and_inside() {
        let ma = metadata("AAAAAA==");
        let a = item("case/a.svs", &ma);
        let doc: Value =
            serde_json::from_slice(&render("tissue_segmentation:geojson_polygons", &a, 0).unwrap())
                .unwrap();
        assert_eq!(doc["type"], "FeatureCollection");
        let mut holes = 0;
        let mut multi = 0;
        let signed_area = |ring: &[Value]| -> f64 {
            ring.windows(2)
                .map(|w| {
                    let (p, q) = (&w[0], &w[1]);
                    p[0].as_f64().unwrap() * q[1].as_f64().unwrap()
                        - q[0].as_f64().unwrap() * p[1].as_f64().unwrap()
                })
                .sum::<f64>()
                / 2.0
        };
        for f in doc["features"].as_array().unwrap() {
            let g = &f["geometry"];
            let polygons: Vec<&Value> = match g["type"].as_str().unwrap() {
                "Polygon" => vec![&g["coordinates"]],
                "MultiPolygon" => {
                    multi += 1;
                    g["coordinates"].as_array().unwrap().iter().collect()
                }
                other => panic!("{other}"),
            };
            for polygon in polygons {
                for (r, ring) in polygon.as_array().unwrap().iter().enumerate() {
                    let ring = ring.as_array().unwrap();
                    assert_eq!(ring.first(), ring.last(), "closed");
                    for p in ring {
                        let (x, y) = (p[0].as_f64().unwrap(), p[1].as_f64().unwrap());
                        assert!((0.0..=20000.0).contains(&x) && (0.0..=10000.0).contains(&y));
                    }
                    let area = signed_area(ring);
                    if r == 0 {
                        assert!(area > 0.0, "exterior counter-clockwise");
                    } else {
                        holes += 1;
                        assert!(area < 0.0, "hole clockwise");
                    }
                }
            }
        }
        assert!(holes > 0 && multi > 0);
    }
}
