//! `aignostics::results`: the cohort table from results folders, checked against the real slide
//! readouts of 10 TCGA slides (`../shared/reference/atlas-he-tme/`, MIT) and read back by
//! pandas and pyarrow. Without Python with pandas and pyarrow the read-back is skipped, except
//! under `CI=true`, where it fails.
#![cfg(feature = "results")]

mod local;

use std::path::{Path, PathBuf};
use std::process::Command;

use aignostics::results::arrow_array::{Array, Float64Array, Int64Array, StringArray};
use aignostics::results::arrow_schema;
use aignostics::results::{CohortTable, ITEM_COLUMNS, SLIDE_READOUTS};
use aignostics::{DownloadOptions, WaitOptions};
use aignostics_sandbox::{self as sandbox, Catalog, Sandbox};
use local::{Scratch, files_below};
use serde_json::json;

/// The reference readouts: the comment line, the header, ten rows.
fn reference() -> (String, Vec<String>) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/reference/atlas-he-tme/slide_readouts_10_tcga_blca.csv");
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines().skip(1);
    let header = lines.next().unwrap().to_string();
    (header, lines.map(str::to_string).collect())
}

/// A run folder as `download_to` writes it: one item folder per reference row, each with its
/// own readout file, and one failed item; the manifest names each file with its CRC32C.
fn results_folder(root: &Path, run_id: &str, rows: &[String], header: &str) -> PathBuf {
    let run_dir = root.join(run_id);
    let mut items = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        let folder = format!("slide-{i:02}.svs");
        std::fs::create_dir_all(run_dir.join(&folder)).unwrap();
        let file = format!("{folder}/readout_generation_slide_readouts.csv");
        let bytes = format!("# For Research Use Only\n{header}\n{row}\n");
        std::fs::write(run_dir.join(&file), &bytes).unwrap();
        items.push(json!({
            "external_id": format!("cases/slide-{i:02}.svs"),
            "folder": folder,
            "state": "SUCCEEDED",
            "termination_reason": null, "error_code": null, "error_message": null,
            "files": [{
                "file": file,
                "artifact": SLIDE_READOUTS,
                "crc32c": aignostics::checksum::crc32c_base64(bytes.as_bytes()),
                "verified": true,
            }],
        }));
    }
    items.push(json!({
        "external_id": "cases/broken.svs", "folder": "broken.svs", "state": "FAILED",
        "termination_reason": "USER_ERROR", "error_code": "INVALID_SLIDE",
        "error_message": "the slide could not be opened", "files": [],
    }));
    let manifest = json!({
        "manifest_version": 1, "run_id": run_id, "application_id": "he-tme",
        "version_number": "1.0.0", "run_state": "TERMINATED",
        "written_at": "2026-12-07T00:00:00Z", "items": items,
    });
    std::fs::write(
        run_dir.join("manifest.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
    run_dir
}

/// The text of a cell of the table (empty for null).
fn cell(array: &dyn Array, row: usize) -> Option<String> {
    if array.is_null(row) {
        return None;
    }
    let any = array.as_any();
    Some(if let Some(a) = any.downcast_ref::<Int64Array>() {
        a.value(row).to_string()
    } else if let Some(a) = any.downcast_ref::<Float64Array>() {
        a.value(row).to_string()
    } else {
        any.downcast_ref::<StringArray>()
            .unwrap()
            .value(row)
            .to_string()
    })
}

/// Whether the table's cell equals the reference's text (numbers compared as numbers).
fn same(ours: Option<&str>, theirs: &str) -> bool {
    match (ours, theirs) {
        (None, "N/A") => true,
        (Some(a), b) => {
            a == b || matches!((a.parse::<f64>(), b.parse::<f64>()), (Ok(x), Ok(y)) if x == y)
        }
        _ => false,
    }
}

// Proves the ten reference readouts, one file per slide over two runs, give back a table whose
// readout columns equal the reference cell by cell (4,548 columns, numbers typed as numbers,
// `N/A` as null), with each item's run, state and source, and the failed item kept with its
// error. (FR-91)
#[test]
fn reference_readouts_become_the_cohort_table() {
    let dir = Scratch::new("cohort");
    let (header, rows) = reference();
    let results = dir.join("results");
    results_folder(&results, "run-a", &rows[..6], &header);
    results_folder(&results, "run-b", &rows[6..], &header);
    let table = CohortTable::from_folder(&results).unwrap();
    let batch = table.batch();
    let columns: Vec<&str> = header.split(',').collect();
    assert_eq!(columns.len(), 4548);
    assert_eq!(batch.num_columns(), ITEM_COLUMNS.len() + columns.len());
    assert_eq!(batch.num_rows(), 12, "10 slides and 2 failed items");
    let schema = batch.schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    assert_eq!(&names[..ITEM_COLUMNS.len()], ITEM_COLUMNS);
    assert_eq!(&names[ITEM_COLUMNS.len()..], &columns[..]);
    // Rows: run-a's six slides, its failed item, run-b's four slides, its failed item.
    let slide_rows: Vec<usize> = (0..6).chain(7..11).collect();
    let mut checked = 0;
    for (reference_row, &row) in rows.iter().zip(&slide_rows) {
        let values: Vec<&str> = reference_row.split(',').collect();
        for (c, value) in values.iter().enumerate() {
            let ours = cell(batch.column(ITEM_COLUMNS.len() + c).as_ref(), row);
            assert!(
                same(ours.as_deref(), value),
                "row {row} column {}: {ours:?} vs {value:?}",
                columns[c]
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 45_480);
    let column = |name: &str| batch.column(names.iter().position(|n| *n == name).unwrap());
    assert_eq!(
        column("IMAGE_RESOLUTION").data_type(),
        &arrow_schema::DataType::Float64
    );
    assert_eq!(
        column("SLIDE_NAME").data_type(),
        &arrow_schema::DataType::Utf8
    );
    assert_eq!(cell(column("run_id").as_ref(), 7).as_deref(), Some("run-b"));
    assert_eq!(
        cell(column("item_state").as_ref(), 6).as_deref(),
        Some("FAILED")
    );
    assert_eq!(
        cell(column("error_code").as_ref(), 6).as_deref(),
        Some("INVALID_SLIDE")
    );
    assert_eq!(cell(column("IMAGE_RESOLUTION").as_ref(), 6), None);
    assert!(
        cell(column("readout_file").as_ref(), 0)
            .unwrap()
            .ends_with("slide-00.svs/readout_generation_slide_readouts.csv")
    );
}

/// Compares a written table with the reference in pandas: every reference column's values
/// (numbers as numbers, `N/A` as missing) and numeric types where the reference is numeric.
const READ_BACK: &str = r#"
import sys, pandas as pd, numpy as np
ref = pd.read_csv(sys.argv[1], skiprows=1, na_values=["N/A"], keep_default_na=False)
path = sys.argv[2]
ours = pd.read_parquet(path) if path.endswith(".parquet") else pd.read_csv(path, keep_default_na=False, na_values=[""])
ours = ours[ours["item_state"] == "SUCCEEDED"].reset_index(drop=True)
assert len(ours) == len(ref), (len(ours), len(ref))
bad = []
for c in ref.columns:
    a, b = ours[c], ref[c]
    if pd.api.types.is_numeric_dtype(b):
        if not pd.api.types.is_numeric_dtype(a):
            bad.append(f"{c}: not numeric ({a.dtype})")
        elif not np.allclose(a.astype(float), b.astype(float), rtol=0, atol=0, equal_nan=True):
            bad.append(f"{c}: values differ")
    elif not (a.fillna("<NA>").astype(str) == b.fillna("<NA>").astype(str)).all():
        bad.append(f"{c}: text differs")
assert not bad, bad[:10]
print(len(ref.columns))
"#;

// Proves the table written as Parquet and as CSV is read by pandas (through pyarrow for
// Parquet) with every reference value equal and numeric columns numeric. (FR-91)
#[test]
fn parquet_and_csv_read_back_in_pandas() {
    let dir = Scratch::new("cohort-pandas");
    let (header, rows) = reference();
    let results = dir.join("results");
    results_folder(&results, "run-a", &rows, &header);
    let table = CohortTable::from_folder(results.join("run-a")).unwrap();
    let reference = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/reference/atlas-he-tme/slide_readouts_10_tcga_blca.csv");
    for name in ["cohort.parquet", "cohort.csv"] {
        let out = dir.join(name);
        table.write(&out).unwrap();
        let Some(printed) = python(
            "pandas, pyarrow",
            READ_BACK,
            &[reference.as_os_str(), out.as_os_str()],
        ) else {
            return;
        };
        assert_eq!(printed.trim(), "4548", "{name}");
    }
}

// Proves damage is refused with the file named and nothing written: a readout whose bytes
// lack their CRC32C, one cut short, one with a duplicate column, one of 100 MB, a folder
// without runs; and a
// table whose write fails leaves no file. (FR-91)
#[test]
fn damaged_results_are_refused_and_nothing_is_half_written() {
    let dir = Scratch::new("cohort-damage");
    let (header, rows) = reference();
    let results = dir.join("results");
    let run = results_folder(&results, "run-a", &rows[..2], &header);
    let file = run.join("slide-01.svs/readout_generation_slide_readouts.csv");
    let good = std::fs::read(&file).unwrap();

    // Changed bytes: the published CRC32C no longer holds.
    let mut changed = good.clone();
    let at = changed.len() - 3;
    changed[at] = if changed[at] == b'1' { b'2' } else { b'1' };
    std::fs::write(&file, &changed).unwrap();
    let err = CohortTable::from_folder(&results).unwrap_err();
    assert!(
        matches!(&err, aignostics::Error::Checksum { path, .. } if *path == file),
        "{err}"
    );

    // Cut short, and a duplicate column, with checksums that match (as a broken producer
    // would publish): the file and the problem are named.
    let manifest_path = run.join("manifest.json");
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    let original_crc = aignostics::checksum::crc32c_base64(&good);
    for (bytes, says) in [
        // Cut inside the row of values.
        (
            good[..good.len() - rows[1].len() / 2].to_vec(),
            "values where the header has 4548",
        ),
        (
            b"# For Research Use Only\nA,B,A\n1,2,3\n".to_vec(),
            "the column \"A\" appears twice",
        ),
    ] {
        std::fs::write(&file, &bytes).unwrap();
        let patched = manifest.replace(&original_crc, &aignostics::checksum::crc32c_base64(&bytes));
        std::fs::write(&manifest_path, patched).unwrap();
        let err = CohortTable::from_folder(&results).unwrap_err().to_string();
        assert!(
            err.contains(&file.display().to_string()) && err.contains(says),
            "{err}"
        );
    }

    // A file past the readout size limit (a 100 MB line) is refused before it is read.
    let huge = std::fs::File::create(&file).unwrap();
    huge.set_len(100 * 1024 * 1024).unwrap();
    drop(huge);
    let err = CohortTable::from_folder(&results).unwrap_err().to_string();
    assert!(err.contains("too large for a slide readout"), "{err}");

    let err = CohortTable::from_folder(dir.join("nothing-here")).unwrap_err();
    assert!(err.to_string().contains("nothing-here"), "{err}");

    // A write that fails (the target is a folder) leaves no file behind.
    std::fs::write(&file, &good).unwrap();
    std::fs::write(&manifest_path, &manifest).unwrap();
    let table = CohortTable::from_folder(&results).unwrap();
    let target = dir.join("out.parquet");
    std::fs::create_dir_all(&target).unwrap();
    assert!(table.write(&target).is_err());
    let left: Vec<_> = std::fs::read_dir(&*dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".tmp"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

// Proves the table straight from the platform: against the sandbox's Atlas-shaped he-tme, a
// run of two slides and a failing one gives three rows with the real readout header, each
// slide's own values, and the failure; only the slide readouts were downloaded. (FR-92, FR-93)
#[test]
fn table_from_runs_downloads_the_readouts_alone() {
    let (_platform, client) = atlas(200);
    let run = submit(&client, &["case-1/a.svs", "case-1/b.svs", "fail-c.svs"]);
    run.wait(&WaitOptions::default().interval(std::time::Duration::from_millis(50)))
        .unwrap();
    let dir = Scratch::new("cohort-runs");
    let table = CohortTable::builder()
        .runs(&client, [run.id()], &*dir, &DownloadOptions::default())
        .unwrap()
        .build()
        .unwrap();
    let batch = table.batch();
    assert_eq!(batch.num_rows(), 3);
    assert_eq!(batch.num_columns(), ITEM_COLUMNS.len() + 4548);
    let schema = batch.schema();
    let at = |name: &str| schema.index_of(name).unwrap();
    let names: Vec<Option<String>> = (0..3)
        .map(|r| cell(batch.column(at("SLIDE_NAME")).as_ref(), r))
        .collect();
    let states: Vec<Option<String>> = (0..3)
        .map(|r| cell(batch.column(at("item_state")).as_ref(), r))
        .collect();
    let mut pairs: Vec<(Option<String>, Option<String>)> = names.into_iter().zip(states).collect();
    pairs.sort();
    assert_eq!(
        pairs,
        [
            (None, Some("FAILED".into())),
            (Some("case-1/a.svs".into()), Some("SUCCEEDED".into())),
            (Some("case-1/b.svs".into()), Some("SUCCEEDED".into())),
        ]
    );
    // Each succeeded row names the artifact its numbers came from.
    let ids = (0..3)
        .filter_map(|r| cell(batch.column(at("readout_artifact_id")).as_ref(), r))
        .count();
    assert_eq!(ids, 2);
    let files = files_below(&dir);
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(
        files
            .iter()
            .all(|f| f.ends_with("readout_generation_slide_readouts.csv")),
        "{files:?}"
    );
}

/// Checks QuPath GeoJSON files with shapely: every geometry valid and inside the slide, holes
/// and MultiPolygons kept, QuPath's object types and classifications present.
const QUPATH_CHECK: &str = r#"
import json, sys
from shapely.geometry import shape, box
bounds = box(0, 0, float(sys.argv[1]), float(sys.argv[2]))
out = {"detection": 0, "annotation": 0, "holes": 0, "multi": 0}
for path in sys.argv[3:]:
    doc = json.load(open(path))
    assert doc["type"] == "FeatureCollection", path
    for f in doc["features"]:
        p = f["properties"]
        out[p["objectType"]] += 1
        c = p["classification"]
        assert isinstance(c["name"], str) and len(c["color"]) == 3, p
        g = shape(f["geometry"])
        assert g.is_valid, (path, f)
        assert bounds.contains(g), (path, g.bounds)
        if g.geom_type == "Polygon":
            out["holes"] += len(g.interiors)
        elif g.geom_type == "MultiPolygon":
            out["multi"] += 1
print(json.dumps(out))
"#;

// Proves QuPath export of an Atlas-shaped run: one GeoJSON per slide named after the slide,
// cells as detections and regions as annotations with classifications, every geometry valid
// and inside the slide by shapely, holes and MultiPolygons kept; the run's segmentation maps
// open as grayscale TIFFs in Pillow; a polygon file whose bytes lack their CRC32C is refused
// naming it. (FR-93, FR-94)
#[test]
fn qupath_geojson_is_valid_and_keeps_holes() {
    let (_platform, client) = atlas(200);
    let run = submit(&client, &["case-1/a.svs", "case-2/b.svs"]);
    let dir = Scratch::new("qupath");
    let downloads = dir.join("results");
    std::fs::create_dir_all(&downloads).unwrap();
    run.download_to(
        &downloads,
        &DownloadOptions::default()
            .poll_interval(std::time::Duration::from_millis(50))
            .artifacts(aignostics::results::POLYGON_ARTIFACTS.map(|(name, _)| name)),
    )
    .unwrap();
    let out = dir.join("qupath");
    let report = aignostics::results::write_qupath(std::slice::from_ref(&downloads), &out).unwrap();
    let mut names: Vec<String> = report
        .files
        .iter()
        .map(|f| f.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names, ["a.svs.geojson", "b.svs.geojson"]);
    assert_eq!(report.detections, 2 * 200);
    assert_eq!(report.annotations, 2 * (6 + 5));

    let metadata = sandbox::example_input_metadata();
    let (width, height) = (
        metadata["width_px"].to_string(),
        metadata["height_px"].to_string(),
    );
    let mut args = vec![std::ffi::OsStr::new(&width), std::ffi::OsStr::new(&height)];
    args.extend(report.files.iter().map(|f| f.as_os_str()));
    if let Some(printed) = python("shapely", QUPATH_CHECK, &args) {
        let counts: serde_json::Value = serde_json::from_str(&printed).unwrap();
        assert_eq!(counts["detection"], 400, "{counts}");
        assert!(
            counts["holes"].as_u64() > Some(0) && counts["multi"].as_u64() > Some(0),
            "{counts}"
        );
    }

    // The segmentation maps are valid TIFFs: Pillow opens them as 64-pixel-wide grayscale
    // images of class ids.
    run.download_to(
        &downloads,
        &DownloadOptions::default().artifacts([
            "tissue_segmentation:segmentation_map_image",
            "tissue_qc:segmentation_map_image",
        ]),
    )
    .unwrap();
    let maps: Vec<std::path::PathBuf> = files_below(&downloads)
        .into_iter()
        .filter(|f| f.extension().is_some_and(|e| e == "tiff"))
        .map(|f| downloads.join(f))
        .collect();
    assert_eq!(maps.len(), 4, "{maps:?}");
    let args: Vec<&std::ffi::OsStr> = maps.iter().map(|m| m.as_os_str()).collect();
    let script = "import sys\nfrom PIL import Image\nfor p in sys.argv[1:]:\n    \
                  i = Image.open(p); i.load(); print(i.mode, i.size[0], min(i.getdata()) >= 1)";
    if let Some(printed) = python("PIL", script, &args) {
        for line in printed.lines() {
            assert!(line.starts_with("L 64 True"), "{line}");
        }
    }

    // A changed polygon file is refused, naming it.
    let manifest = aignostics::RunManifest::read(downloads.join(run.id())).unwrap();
    let cells = manifest.items[0]
        .files
        .iter()
        .find(|f| f.artifact == aignostics::results::CELL_POLYGONS)
        .unwrap();
    let path = downloads.join(run.id()).join(&cells.file);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes.push(b' ');
    std::fs::write(&path, bytes).unwrap();
    let err = aignostics::results::write_qupath(&[downloads], &dir.join("again")).unwrap_err();
    assert!(
        matches!(&err, aignostics::Error::Checksum { path: p, .. } if *p == path),
        "{err}"
    );
}

// Proves the cells of a cohort go into one Parquet file, one row group per slide (written as
// the slides are read), with run and external id in front and numbers as numbers, as pyarrow
// reads it; a failed item is skipped and named. (FR-95)
#[test]
fn cohort_cells_as_one_parquet_file() {
    let (_platform, client) = atlas(120);
    let run = submit(&client, &["a.svs", "b.svs", "fail-c.svs"]);
    let dir = Scratch::new("cells");
    let options = DownloadOptions::default().poll_interval(std::time::Duration::from_millis(50));
    let builder = CohortTable::builder()
        .with_cells(true)
        .runs(&client, [run.id()], dir.join("results"), &options)
        .unwrap();
    let out = dir.join("cells.parquet");
    let report = aignostics::results::write_cells(builder.folders(), &out).unwrap();
    assert_eq!((report.slides, report.cells), (2, 240));
    assert_eq!(report.skipped_items, ["fail-c.svs"]);
    let script = "import sys, pyarrow.parquet as pq\n\
                  f = pq.ParquetFile(sys.argv[1])\n\
                  t = f.read()\n\
                  print(f.num_row_groups, t.num_rows, t.schema.names[:3], \
                  str(t.schema.field('CENTROID_X').type), \
                  sorted(set(t.column('external_id').to_pylist())))";
    if let Some(printed) = python("pyarrow", script, &[out.as_os_str()]) {
        assert_eq!(
            printed.trim(),
            "2 240 ['run_id', 'external_id', 'CELL_ID'] double ['a.svs', 'b.svs']"
        );
    }
}

/// The sandbox with Atlas-shaped results of `cells` cells per slide, and Alice's client.
fn atlas(cells: usize) -> (Sandbox, aignostics::Client) {
    let platform = Sandbox::builder()
        .catalog(Catalog::atlas())
        .atlas_cells(cells)
        .processing_time(std::time::Duration::from_millis(200))
        .start()
        .unwrap();
    let client = platform.client(sandbox::ALICE_TOKEN).unwrap();
    (platform, client)
}

/// A he-tme run of the example items `ids` (`fail-…` ones fail).
fn submit(client: &aignostics::Client, ids: &[&str]) -> aignostics::Run {
    let items: Vec<_> = ids.iter().map(|id| sandbox::example_item(id)).collect();
    client
        .runs()
        .submit(aignostics::models::RunCreationRequest::new("he-tme", items))
        .unwrap()
}

/// Runs the Python `script` with `args` where Python has `modules` (e.g. `"pandas, pyarrow"`)
/// and returns what it printed; a failing script fails the test. `None`, after saying so,
/// without them, except under `CI=true` (which installs them), where that fails.
fn python(modules: &str, script: &str, args: &[&std::ffi::OsStr]) -> Option<String> {
    let found = ["python3", "python"].into_iter().find(|p| {
        Command::new(p)
            .args(["-c", &format!("import {modules}")])
            .output()
            .is_ok_and(|o| o.status.success())
    });
    let Some(python) = found else {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but Python with {modules} is missing (pip install {modules})"
        );
        eprintln!("skipped: no Python with {modules}");
        return None;
    };
    let out = Command::new(python)
        .args(["-c", script])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}
