//! QuPath-ready GeoJSON: per slide, one FeatureCollection QuPath imports as it is (drag the
//! file onto the image, or the Groovy script of `docs/QUPATH.md` for a whole project).
//!
//! Cells become detections and tissue and QC regions annotations (`objectType`), each with a
//! `classification` (`name`, `color` as `[r, g, b]`). Geometries are kept whole: holes and
//! MultiPolygons stay (the Python SDK keeps only outer rings), coordinates stay level-0 pixels.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use geojson::{Feature, FeatureCollection, JsonObject, JsonValue};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::{ManifestItem, RunManifest};

/// The cell polygons (detections in QuPath).
pub const CELL_POLYGONS: &str = "cell_classification:geojson_polygons";
/// The tissue regions (annotations).
pub const TISSUE_POLYGONS: &str = "tissue_segmentation:geojson_polygons";
/// The tissue quality-control regions (annotations).
pub const QC_POLYGONS: &str = "tissue_qc:geojson_polygons";

/// The polygon artifacts QuPath export reads, and the QuPath object type of each.
pub const POLYGON_ARTIFACTS: [(&str, &str); 3] = [
    (TISSUE_POLYGONS, "annotation"),
    (QC_POLYGONS, "annotation"),
    (CELL_POLYGONS, "detection"),
];

/// The largest polygon file read (real cell files are 10–16 MB).
const MAX_POLYGON_BYTES: u64 = 2 * 1024 * 1024 * 1024;

/// What [`write_qupath`] wrote.
#[derive(Clone, Debug, Default, Serialize)]
#[non_exhaustive]
pub struct QupathReport {
    /// One file per succeeded item.
    pub files: Vec<PathBuf>,
    /// Annotations written (tissue and QC regions).
    pub annotations: usize,
    /// Detections written (cells).
    pub detections: usize,
    /// Items without polygon files (failed, pending, or not downloaded).
    pub skipped_items: Vec<String>,
}

/// Writes one QuPath GeoJSON per succeeded item of the runs in `folders` (run folders, or
/// folders of them, as [`Run::download_to`](crate::Run::download_to) fills them) into `out`:
/// `out/{slide file name}.geojson`, or `out/{item folder}.geojson` where two slides share a
/// file name. Each polygon file is checked against its published CRC32C before it is read;
/// each output appears only complete.
///
/// ```no_run
/// let report = aignostics::results::write_qupath(&["results/".into()], "qupath/".as_ref())?;
/// println!("{} slides, {} cells", report.files.len(), report.detections);
/// # Ok::<(), aignostics::Error>(())
/// ```
///
/// # Errors
/// [`Error::Checksum`] for a file whose bytes lack its CRC32C; [`Error::InvalidInput`] for a
/// file that is not a GeoJSON FeatureCollection (naming it); [`Error::Io`].
pub fn write_qupath(folders: &[PathBuf], out: &Path) -> Result<QupathReport> {
    std::fs::create_dir_all(out).map_err(|e| Error::io(out, e))?;
    let mut items: Vec<(PathBuf, ManifestItem)> = Vec::new();
    for folder in folders {
        for run_dir in super::run_folders(folder)? {
            let manifest = RunManifest::read(&run_dir)?;
            items.extend(manifest.items.into_iter().map(|i| (run_dir.clone(), i)));
        }
    }
    let names = output_names(&items);
    let mut report = QupathReport::default();
    for ((run_dir, item), name) in items.iter().zip(names) {
        let sources: Vec<(&str, PathBuf, Option<&str>)> = POLYGON_ARTIFACTS
            .iter()
            .filter_map(|(artifact, kind)| {
                let file = item.files.iter().find(|f| f.artifact == *artifact)?;
                let path = run_dir.join(&file.file);
                path.is_file()
                    .then_some((*kind, path, file.crc32c.as_deref()))
            })
            .collect();
        if item.state != "SUCCEEDED" || sources.is_empty() {
            report.skipped_items.push(item.external_id.clone());
            continue;
        }
        let mut features = Vec::new();
        for (kind, path, crc) in sources {
            let converted = convert(&path, crc, kind)?;
            match kind {
                "detection" => report.detections += converted.len(),
                _ => report.annotations += converted.len(),
            }
            features.extend(converted);
        }
        let target = out.join(format!("{name}.geojson"));
        let collection = FeatureCollection {
            bbox: None,
            features,
            foreign_members: None,
        };
        super::atomic_write(&target, |file| {
            serde_json::to_writer(std::io::BufWriter::new(file), &collection)
                .map_err(|e| Error::InvalidInput(format!("writing {}: {e}", target.display())))
        })?;
        report.files.push(target);
    }
    Ok(report)
}

/// The output name of each item: the slide's file name (the external id's last segment), or
/// the item's folder where two items share one.
fn output_names(items: &[(PathBuf, ManifestItem)]) -> Vec<String> {
    let last = |item: &ManifestItem| {
        item.external_id
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or_default()
            .to_string()
    };
    let mut count: HashMap<String, usize> = HashMap::new();
    for (_, item) in items {
        *count.entry(last(item)).or_default() += 1;
    }
    items
        .iter()
        .map(|(_, item)| {
            let name = last(item);
            let safe = !name.is_empty() && !name.starts_with('.') && count[&name] == 1;
            if safe { name } else { item.folder.clone() }
        })
        .collect()
}

/// The features of one polygon file as QuPath objects of `kind`.
fn convert(path: &Path, crc: Option<&str>, kind: &str) -> Result<Vec<Feature>> {
    let bytes = super::readout::read_verified(path, crc, MAX_POLYGON_BYTES, "a polygon file")?;
    let text = std::str::from_utf8(&bytes).map_err(|_| {
        Error::InvalidInput(format!("{}: not UTF-8 text, not GeoJSON", path.display()))
    })?;
    let collection: FeatureCollection = text.parse().map_err(|e| {
        Error::InvalidInput(format!(
            "{}: not a GeoJSON FeatureCollection: {e}",
            path.display()
        ))
    })?;
    Ok(collection
        .features
        .into_iter()
        .filter(|f| f.geometry.is_some())
        .map(|f| qupath_feature(f, kind))
        .collect())
}

/// A feature as QuPath reads it: the same geometry, `objectType` and `classification`, and the
/// source's other properties as they were.
fn qupath_feature(feature: Feature, kind: &str) -> Feature {
    let source = feature.properties.unwrap_or_default();
    let name = ["class_name", "classification", "class", "name"]
        .iter()
        .find_map(|key| match source.get(*key) {
            Some(JsonValue::String(s)) => Some(s.clone()),
            Some(JsonValue::Object(o)) => {
                o.get("name").and_then(JsonValue::as_str).map(String::from)
            }
            _ => None,
        })
        .unwrap_or_else(|| "Unclassified".to_string());
    let color = source
        .get("color")
        .and_then(rgb)
        .unwrap_or_else(|| colour_of(&name));
    let mut properties = JsonObject::new();
    properties.insert("objectType".into(), kind.into());
    properties.insert(
        "classification".into(),
        serde_json::json!({"name": name, "color": color}),
    );
    properties.insert("isLocked".into(), false.into());
    for (key, value) in source {
        if !matches!(key.as_str(), "objectType" | "classification" | "color") {
            properties.entry(key).or_insert(value);
        }
    }
    Feature {
        bbox: None,
        geometry: feature.geometry,
        id: feature.id,
        properties: Some(properties),
        foreign_members: None,
    }
}

/// `#rrggbb` or `[r, g, b]` as QuPath's `[r, g, b]`.
fn rgb(value: &JsonValue) -> Option<[u8; 3]> {
    match value {
        JsonValue::String(hex) => {
            let hex = hex.strip_prefix('#')?;
            if hex.len() != 6 || !hex.is_ascii() {
                return None;
            }
            let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
            Some([byte(0)?, byte(2)?, byte(4)?])
        }
        JsonValue::Array(parts) if parts.len() == 3 => {
            let part = |i: usize| parts[i].as_u64().and_then(|v| u8::try_from(v).ok());
            Some([part(0)?, part(1)?, part(2)?])
        }
        _ => None,
    }
}

/// A stable colour for a class without one.
fn colour_of(name: &str) -> [u8; 3] {
    let h = crc32c::crc32c(name.as_bytes()).to_be_bytes();
    [h[0] | 0x40, h[1] | 0x40, h[2] | 0x40]
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves a feature keeps its geometry and properties and gains QuPath's object type and
    // classification, its colour from `#rrggbb`, `[r, g, b]` or the class name. (FR-94)
    #[test]
    fn features_become_qupath_objects() {
        let fc: FeatureCollection = r##"{"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Polygon", "coordinates":
                [[[0,0],[4,0],[4,4],[0,4],[0,0]], [[1,1],[1,2],[2,2],[2,1],[1,1]]]},
             "properties": {"class_name": "Stroma", "color": "#f58231", "area": 3}},
            {"type": "Feature", "geometry": {"type": "MultiPolygon", "coordinates":
                [[[[0,0],[1,0],[1,1],[0,0]]], [[[5,5],[6,5],[6,6],[5,5]]]]},
             "properties": {"classification": {"name": "Tumor"}, "color": [1, 2, 3]}},
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [1, 1]},
             "properties": null}
        ]}"##
            .parse()
            .unwrap();
        let out: Vec<Feature> = fc
            .features
            .into_iter()
            .map(|f| qupath_feature(f, "annotation"))
            .collect();
        let props = |i: usize| out[i].properties.as_ref().unwrap();
        assert_eq!(props(0)["objectType"], "annotation");
        assert_eq!(
            props(0)["classification"],
            serde_json::json!({"name": "Stroma", "color": [245, 130, 49]})
        );
        assert_eq!(props(0)["area"], 3);
        match &out[0].geometry.as_ref().unwrap().value {
            geojson::GeometryValue::Polygon { coordinates } => assert_eq!(coordinates.len(), 2),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            props(1)["classification"]["color"],
            serde_json::json!([1, 2, 3])
        );
        assert_eq!(props(2)["classification"]["name"], "Unclassified");
        assert_eq!(rgb(&"#12345".into()), None);
        assert_eq!(rgb(&"#zz0000".into()), None);
    }
}
