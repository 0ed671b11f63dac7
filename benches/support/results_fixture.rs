//! Folders as `download_to` fills them, for the results benchmarks and
//! `examples/results_from_folder.rs`: slide readouts cycled from the 10 real TCGA readouts
//! (`../shared/reference/atlas-he-tme/`), and cell readouts of synthetic cells.

use std::path::{Path, PathBuf};

/// Where the fixtures live (kept between runs).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("target/results-bench")
}

/// `slides` slide readouts in one run folder (`cohort-{slides}/run`), each with its own row
/// (the reference rows in turn, renamed), with the manifest; made once.
pub fn cohort(slides: usize) -> PathBuf {
    let dir = root().join(format!("cohort-{slides}"));
    let run = dir.join("run");
    if run.join("manifest.json").is_file() {
        return dir;
    }
    let reference = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/reference/atlas-he-tme/slide_readouts_10_tcga_blca.csv");
    let text = std::fs::read_to_string(reference).unwrap();
    let mut lines = text.lines().skip(1);
    let header = lines.next().unwrap().to_string();
    let rows: Vec<&str> = lines.collect();
    let files = (0..slides)
        .map(|i| {
            let row = rows[i % rows.len()];
            // The slide's name (second column) made unique.
            let mut cells: Vec<&str> = row.splitn(3, ',').collect();
            let name = format!("slide-{i:05}");
            cells[1] = &name;
            let bytes = format!("# For Research Use Only\n{header}\n{}\n", cells.join(","));
            (
                format!("slide-{i:05}.svs"),
                "readout_generation:slide_readouts",
                "readout_generation_slide_readouts.csv",
                bytes.into_bytes(),
            )
        })
        .collect::<Vec<_>>();
    write_run(&run, files);
    dir
}

/// `slides` cell readouts of `cells` cells each (`cells-{slides}x{cells}/run`); made once.
pub fn cells(slides: usize, cells: usize) -> PathBuf {
    let dir = root().join(format!("cells-{slides}x{cells}"));
    let run = dir.join("run");
    if run.join("manifest.json").is_file() {
        return dir;
    }
    let classes = [
        "Fibroblast",
        "Carcinoma cell",
        "Lymphocyte",
        "Macrophage",
        "Other",
    ];
    let files = (0..slides)
        .map(|s| {
            let mut out = String::from(
                "# For Research Use Only\nCELL_ID,CENTROID_X,CENTROID_Y,CELL_CLASS,NUCLEUS_AREA,\
                 NUCLEUS_PERIMETER,NUCLEUS_ECCENTRICITY\n",
            );
            for c in 0..cells {
                let x = (s * 7919 + c * 104_729) % 100_000;
                out.push_str(&format!(
                    "{c},{}.5,{}.25,{},{}.75,{}.5,0.{}\n",
                    x,
                    (x * 3) % 80_000,
                    classes[(s + c) % classes.len()],
                    20 + c % 50,
                    15 + c % 30,
                    c % 997
                ));
            }
            (
                format!("slide-{s:05}.svs"),
                "readout_generation:cell_readouts",
                "readout_generation_cell_readouts.csv",
                out.into_bytes(),
            )
        })
        .collect::<Vec<_>>();
    write_run(&run, files);
    dir
}

/// One run folder: each item's file and the manifest naming it with its CRC32C.
fn write_run(run: &Path, files: Vec<(String, &str, &str, Vec<u8>)>) {
    let mut items = Vec::new();
    for (folder, artifact, name, bytes) in files {
        std::fs::create_dir_all(run.join(&folder)).unwrap();
        std::fs::write(run.join(&folder).join(name), &bytes).unwrap();
        items.push(serde_json::json!({
            "external_id": folder, "folder": folder, "state": "SUCCEEDED",
            "termination_reason": null, "error_code": null, "error_message": null,
            "files": [{"file": format!("{folder}/{name}"), "artifact": artifact,
                       "crc32c": aignostics::checksum::crc32c_base64(&bytes), "verified": true}],
        }));
    }
    let manifest = serde_json::json!({
        "manifest_version": 1, "run_id": "run", "application_id": "he-tme",
        "version_number": "1.0.0", "run_state": "TERMINATED",
        "written_at": "2026-12-07T00:00:00Z", "items": items,
    });
    std::fs::write(
        run.join("manifest.json"),
        serde_json::to_vec(&manifest).unwrap(),
    )
    .unwrap();
}
