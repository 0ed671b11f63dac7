//! Run items from a folder of synthetic slides for the sandbox's application version:
//! external ids, metadata, mapping rules, URL sources, schema validation, the metadata CSV.
#![cfg(feature = "slides")]

mod local;
mod slides_support;

use aignostics::models::RunCreationRequest;
use aignostics::slides::{
    self, CsvUrls, Inspector, Mapping, MetadataRow, PrepareError, SlideItems, UrlTemplate,
};
use aignostics_sandbox::{self as sandbox, Sandbox};
use local::Scratch;
use serde_json::json;
use slides_support::*;

/// A lab's folder: two cases, an Aperio and a generic TIFF, a DICOM series, a broken file.
fn lab_folder(dir: &Scratch) {
    let root: &std::path::Path = dir;
    std::fs::create_dir_all(root.join("case-1")).unwrap();
    std::fs::create_dir_all(root.join("case-2/dicom")).unwrap();
    aperio(4000, 3000, "0.2520")
        .tile(64)
        .write(&root.join("case-1/lung-a.svs"));
    generic(3000, 2000, 40_000, 1, 3)
        .tile(64)
        .write(&root.join("case-2/liver b.tif"));
    Dicom::new(40_000, 30_000, "0.00025\\0.00025").write(&root.join("case-2/dicom/l0.dcm"));
    Dicom::new(10_000, 7_500, "0.001\\0.001").write(&root.join("case-2/dicom/l1.dcm"));
    std::fs::write(root.join("notes.txt"), "not a slide").unwrap();
}

// Proves a folder becomes one item per slide with relative external ids, header metadata
// under the schema's keys, mapping rules applied, URLs from a template, valid against the
// version, and that the sandbox accepts the run. (FR-63)
#[test]
fn folder_to_items_to_run() {
    let dir = Scratch::new("run");
    lab_folder(&dir);
    let platform = Sandbox::start().unwrap();
    let client = platform.client(sandbox::ALICE_TOKEN).unwrap();
    let version = client.application_version("he-tme", None).unwrap();
    let builder = SlideItems::new("he-tme", version)
        .unwrap()
        .mapping(".*:staining_method=H&E".parse().unwrap())
        .mapping("lung:tissue=LUNG,disease=LUNG_CANCER".parse().unwrap())
        .mapping("liver:tissue=LIVER".parse().unwrap());
    let prepared = builder.scan(&*dir).unwrap();
    assert!(prepared.failures.is_empty(), "{:?}", prepared.failures);
    let ids: Vec<&str> = prepared
        .rows
        .iter()
        .map(|r| r.external_id.as_str())
        .collect();
    assert_eq!(
        ids,
        [
            "case-1/lung-a.svs",
            "case-2/dicom/l0.dcm",
            "case-2/liver b.tif"
        ]
    );
    let urls = UrlTemplate::new("https://storage.example.com/lab/{path}").unwrap();
    let items = builder.items_from(&prepared, &urls).unwrap();
    let svs = &items[0].input_artifacts[0];
    assert_eq!(svs.name, sandbox::INPUT_ARTIFACT_NAME);
    assert_eq!(
        svs.download_url,
        "https://storage.example.com/lab/case-1/lung-a.svs"
    );
    let slide = slides::inspect(dir.join("case-1/lung-a.svs")).unwrap();
    assert_eq!(
        svs.metadata,
        json!({
            "checksum_base64_crc32c": slide.checksum_base64_crc32c.unwrap(),
            "width_px": 4000, "height_px": 3000, "resolution_mpp": 0.252,
            "media-type": "image/tiff",
            "specimen": {"tissue": "LUNG", "disease": "LUNG_CANCER"},
            "staining_method": "H&E",
        })
    );
    assert_eq!(
        items[1].input_artifacts[0].metadata["media-type"],
        "application/dicom"
    );
    assert_eq!(items[1].input_artifacts[0].metadata["width_px"], 40_000);
    assert_eq!(
        items[2].input_artifacts[0].download_url,
        "https://storage.example.com/lab/case-2/liver%20b.tif"
    );
    let run = client
        .runs()
        .submit(RunCreationRequest::new("he-tme", items))
        .unwrap();
    assert_eq!(run.items().iter().collect_all().unwrap().len(), 3);
}

// Proves metadata that breaks the version's schema is refused before anything is sent,
// naming the slide and the field, and that globs and a fallback resolution apply. (FR-63)
#[test]
fn invalid_metadata_names_file_and_field() {
    let dir = Scratch::new("invalid");
    lab_folder(&dir);
    let version = Sandbox::start()
        .unwrap()
        .client(sandbox::ALICE_TOKEN)
        .unwrap()
        .application_version("he-tme", None)
        .unwrap();
    // The sandbox schema allows at most 10 µm per pixel.
    let builder = SlideItems::new("he-tme", version.clone())
        .unwrap()
        .mapping("liver:resolution_mpp=12".parse().unwrap());
    let prepared = builder.scan(&*dir).unwrap();
    let urls = UrlTemplate::new("https://h/{path}").unwrap();
    let err = builder.items_from(&prepared, &urls).unwrap_err();
    assert!(matches!(err, PrepareError::Invalid(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("case-2/liver b.tif") && text.contains("/resolution_mpp"),
        "{text}"
    );
    assert!(builder.check(&prepared.rows).is_err());

    let only_svs = SlideItems::new("he-tme", version.clone())
        .unwrap()
        .include("**/*.svs")
        .unwrap();
    assert_eq!(only_svs.scan(&*dir).unwrap().rows.len(), 1);

    // A slide without a resolution fails the scan unless one is supplied.
    generic(1000, 800, 96, 1, 1)
        .tile(64)
        .write(&dir.join("case-1/unitless.tif"));
    let plain = SlideItems::new("he-tme", version.clone()).unwrap();
    let prepared = plain.scan(&*dir).unwrap();
    assert_eq!(prepared.failures.len(), 1);
    assert!(prepared.failures[0].to_string().contains("unitless.tif"));
    let supplied = SlideItems::new("he-tme", version)
        .unwrap()
        .inspector(Inspector::new().fallback_mpp(0.5));
    let prepared = supplied.scan(&*dir).unwrap();
    assert!(prepared.failures.is_empty());
    assert!(prepared.rows.iter().any(|r| r.resolution_mpp == 0.5));
}

// Proves a scan written as the Python SDK's CSV, edited, and read back gives the same items,
// with URLs from the CSV's own column. (FR-62, FR-63)
#[test]
fn csv_round_trip_to_items() {
    let dir = Scratch::new("csv");
    lab_folder(&dir);
    let version = Sandbox::start()
        .unwrap()
        .client(sandbox::ALICE_TOKEN)
        .unwrap()
        .application_version("he-tme", None)
        .unwrap();
    let builder = SlideItems::new("he-tme", version).unwrap();
    let mut prepared = builder.scan(&*dir).unwrap();
    for row in &mut prepared.rows {
        row.platform_bucket_url = Some(format!("https://s.example.com/{}", row.external_id));
    }
    let csv = dir.join("metadata.csv");
    slides::write_csv_file(&csv, &prepared.rows).unwrap();
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with(
        "external_id;checksum_base64_crc32c;resolution_mpp;width_px;height_px;staining_method;tissue;disease;platform_bucket_url\r\n"
    ));
    // The lab fills in a column with a spreadsheet.
    let edited = text.replace(";;;;https://", ";H&E;;;https://");
    std::fs::write(&csv, edited).unwrap();
    let rows: Vec<MetadataRow> = slides::read_csv_file(&csv).unwrap();
    assert_eq!(rows.len(), 3);
    assert!(
        rows.iter()
            .all(|r| r.staining_method.as_deref() == Some("H&E"))
    );
    let items = builder.items(&rows, &CsvUrls).unwrap();
    assert_eq!(
        items[0].input_artifacts[0].download_url,
        "https://s.example.com/case-1/lung-a.svs"
    );
    assert_eq!(
        items[0].input_artifacts[0].metadata["staining_method"],
        "H&E"
    );
    let rule: Result<Mapping, _> = "x:organ=1".parse();
    assert!(rule.unwrap_err().to_string().contains("organ"));
}
