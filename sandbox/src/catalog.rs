//! What the sandbox offers: applications, their versions, declared artifacts and documents.

use serde_json::{Value, json};

use aignostics::models::{
    InputArtifact, InputArtifactCreationRequest, ItemCreationRequest, OutputArtifact,
    OutputArtifactScope, OutputArtifactVisibility, VersionDocumentVisibility,
};

/// Name of the input artifact every application of the standard catalog expects.
pub const INPUT_ARTIFACT_NAME: &str = "whole_slide_image";

/// The applications a sandbox serves.
///
/// [`Catalog::standard`] (also the `Default`) has `he-tme` and `test-app`, each with versions
/// `0.9.0-beta`, `1.0.0` and `1.1.0`, one input artifact ([`INPUT_ARTIFACT_NAME`], metadata
/// schema [`input_metadata_schema`]), item-scoped outputs and a public `README.md` and
/// `ifu.pdf` per version (plus an internal document that is never listed).
///
/// ```
/// use aignostics_sandbox::{Catalog, CatalogApplication, CatalogVersion};
///
/// let catalog = Catalog::standard()
///     .without_application("test-app")
///     .with_application(
///         CatalogApplication::new("my-app", "My App")
///             .version(CatalogVersion::standard("2.0.0"))
///             .version(CatalogVersion::standard("2.1.0-rc.1")),
///     );
/// assert_eq!(catalog.applications().len(), 2);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    applications: Vec<CatalogApplication>,
}

impl Default for Catalog {
    fn default() -> Self {
        Self::standard()
    }
}

impl Catalog {
    /// No applications at all.
    ///
    /// ```
    /// let catalog = aignostics_sandbox::Catalog::empty();
    /// assert!(catalog.applications().is_empty());
    /// ```
    #[must_use]
    pub fn empty() -> Self {
        Self {
            applications: Vec::new(),
        }
    }

    /// The standard catalog: `he-tme` (three outputs) and `test-app` (two outputs).
    ///
    /// ```
    /// let catalog = aignostics_sandbox::Catalog::standard();
    /// let ids: Vec<&str> = catalog.applications().iter().map(|a| a.application_id.as_str()).collect();
    /// assert_eq!(ids, ["he-tme", "test-app"]);
    /// ```
    #[must_use]
    pub fn standard() -> Self {
        let he_tme = CatalogApplication::new("he-tme", "Atlas H&E-TME")
            .description(
                "Tissue quality control, tissue and cell segmentation and cell classification \
                 of H&E stained whole-slide images (sandbox copy).",
            )
            .versions(["0.9.0-beta", "1.0.0", "1.1.0"].map(CatalogVersion::standard));
        let test_app = CatalogApplication::new("test-app", "Test Application")
            .description("A small application for integration tests (sandbox copy).")
            .versions(["0.9.0-beta", "1.0.0", "1.1.0"].map(|v| {
                let mut version = CatalogVersion::standard(v);
                version
                    .output_artifacts
                    .retain(|o| o.name != "cell_classification:parquet");
                version
            }));
        Self {
            applications: vec![he_tme, test_app],
        }
    }

    /// [`standard`](Self::standard) with `he-tme` returning what Atlas H&E-TME returns per
    /// slide: the nine files of [`ATLAS_OUTPUTS`](crate::ATLAS_OUTPUTS) (slide and cell
    /// readouts, cell, tissue and QC polygons, segmentation maps, class information), with
    /// contents derived from each slide. `aignostics sandbox` serves this catalog.
    ///
    /// ```
    /// let catalog = aignostics_sandbox::Catalog::atlas();
    /// let he_tme = &catalog.applications()[0];
    /// assert_eq!(he_tme.versions[0].output_artifacts.len(), 9);
    /// ```
    #[must_use]
    pub fn atlas() -> Self {
        let he_tme = CatalogApplication::new("he-tme", "Atlas H&E-TME")
            .description(
                "Tissue quality control, tissue and cell segmentation and cell classification \
                 of H&E stained whole-slide images (sandbox copy, Atlas-shaped results).",
            )
            .versions(["0.9.0-beta", "1.0.0", "1.1.0"].map(CatalogVersion::atlas));
        Self::standard().with_application(he_tme)
    }

    /// Adds an application, replacing one with the same id.
    ///
    /// ```
    /// use aignostics_sandbox::{Catalog, CatalogApplication};
    /// let catalog = Catalog::standard().with_application(CatalogApplication::new("he-tme", "Renamed"));
    /// assert_eq!(catalog.applications()[0].name, "Renamed");
    /// ```
    #[must_use]
    pub fn with_application(mut self, application: CatalogApplication) -> Self {
        match self
            .applications
            .iter_mut()
            .find(|a| a.application_id == application.application_id)
        {
            Some(existing) => *existing = application,
            None => self.applications.push(application),
        }
        self
    }

    /// Removes the application with this id, if present.
    ///
    /// ```
    /// let catalog = aignostics_sandbox::Catalog::standard().without_application("he-tme");
    /// assert_eq!(catalog.applications().len(), 1);
    /// ```
    #[must_use]
    pub fn without_application(mut self, application_id: &str) -> Self {
        self.applications
            .retain(|a| a.application_id != application_id);
        self
    }

    /// Adds `version` to the application `application_id` (replacing one of the same number);
    /// `false` when there is no such application.
    pub(crate) fn release(&mut self, application_id: &str, version: CatalogVersion) -> bool {
        let Some(application) = self
            .applications
            .iter_mut()
            .find(|a| a.application_id == application_id)
        else {
            return false;
        };
        application.versions.retain(|v| v.number != version.number);
        application.versions.push(version);
        true
    }

    /// The applications, in listing order.
    ///
    /// ```
    /// let catalog = aignostics_sandbox::Catalog::standard();
    /// assert!(catalog.applications().iter().all(|a| a.versions.len() == 3));
    /// ```
    #[must_use]
    pub fn applications(&self) -> &[CatalogApplication] {
        &self.applications
    }

    pub(crate) fn application(&self, application_id: &str) -> Option<&CatalogApplication> {
        self.applications
            .iter()
            .find(|a| a.application_id == application_id)
    }
}

/// An application of the [`Catalog`].
///
/// ```
/// use aignostics_sandbox::{CatalogApplication, CatalogVersion};
/// let app = CatalogApplication::new("my-app", "My App")
///     .regulatory_classes(["RUO"])
///     .version(CatalogVersion::standard("1.0.0"));
/// assert_eq!(app.versions[0].number, "1.0.0");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogApplication {
    /// Application id, e.g. `he-tme`.
    pub application_id: String,
    /// Display name.
    pub name: String,
    /// What the application does.
    pub description: String,
    /// Regulatory classes, e.g. `RUO`.
    pub regulatory_classes: Vec<String>,
    /// The versions (any order; "latest" is the highest semantic version).
    pub versions: Vec<CatalogVersion>,
}

impl CatalogApplication {
    /// An application with no versions, class `RUO` and a generic description.
    ///
    /// ```
    /// let app = aignostics_sandbox::CatalogApplication::new("my-app", "My App");
    /// assert_eq!(app.regulatory_classes, ["RUO"]);
    /// ```
    #[must_use]
    pub fn new(application_id: impl Into<String>, name: impl Into<String>) -> Self {
        Self {
            application_id: application_id.into(),
            name: name.into(),
            description: "A sandbox application.".into(),
            regulatory_classes: vec!["RUO".into()],
            versions: Vec::new(),
        }
    }

    /// Sets the description.
    ///
    /// ```
    /// let app = aignostics_sandbox::CatalogApplication::new("a", "A").description("Counts cells.");
    /// assert_eq!(app.description, "Counts cells.");
    /// ```
    #[must_use]
    pub fn description(mut self, description: impl Into<String>) -> Self {
        self.description = description.into();
        self
    }

    /// Sets the regulatory classes.
    ///
    /// ```
    /// let app = aignostics_sandbox::CatalogApplication::new("a", "A").regulatory_classes(["RUO", "IVDR"]);
    /// assert_eq!(app.regulatory_classes.len(), 2);
    /// ```
    #[must_use]
    pub fn regulatory_classes<S: Into<String>>(
        mut self,
        classes: impl IntoIterator<Item = S>,
    ) -> Self {
        self.regulatory_classes = classes.into_iter().map(Into::into).collect();
        self
    }

    /// Adds a version.
    ///
    /// ```
    /// use aignostics_sandbox::{CatalogApplication, CatalogVersion};
    /// let app = CatalogApplication::new("a", "A").version(CatalogVersion::standard("3.0.0"));
    /// assert_eq!(app.versions.len(), 1);
    /// ```
    #[must_use]
    pub fn version(mut self, version: CatalogVersion) -> Self {
        self.versions.push(version);
        self
    }

    /// Adds several versions.
    ///
    /// ```
    /// use aignostics_sandbox::{CatalogApplication, CatalogVersion};
    /// let app = CatalogApplication::new("a", "A")
    ///     .versions(["1.0.0", "2.0.0"].map(CatalogVersion::standard));
    /// assert_eq!(app.versions[1].number, "2.0.0");
    /// ```
    #[must_use]
    pub fn versions(mut self, versions: impl IntoIterator<Item = CatalogVersion>) -> Self {
        self.versions.extend(versions);
        self
    }

    /// The highest semantic version (non-semver numbers are ignored).
    pub(crate) fn latest(&self) -> Option<&CatalogVersion> {
        self.versions
            .iter()
            .filter_map(|v| semver::Version::parse(&v.number).ok().map(|s| (s, v)))
            .max_by(|a, b| a.0.cmp(&b.0))
            .map(|(_, v)| v)
    }

    pub(crate) fn find_version(&self, number: &str) -> Option<&CatalogVersion> {
        self.versions.iter().find(|v| v.number == number)
    }
}

/// One version of a [`CatalogApplication`].
///
/// ```
/// use aignostics_sandbox::{CatalogDocument, CatalogVersion};
/// let mut version = CatalogVersion::standard("1.2.0")
///     .document(CatalogDocument::new("notes.txt", "text/plain", b"hello".to_vec()));
/// version.changelog = "Faster.".into();
/// assert!(version.documents.iter().any(|d| d.name == "notes.txt"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogVersion {
    /// Semantic version, e.g. `1.0.0`.
    pub number: String,
    /// Release timestamp (ISO 8601).
    pub released_at: String,
    /// Changes relative to the previous version.
    pub changelog: String,
    /// Declared inputs; submissions must provide exactly these per item.
    pub input_artifacts: Vec<InputArtifact>,
    /// Declared outputs; item-scoped, `EXTERNAL` ones are produced for each succeeded item.
    pub output_artifacts: Vec<OutputArtifact>,
    /// Documents; only `public` ones are listed and served.
    pub documents: Vec<CatalogDocument>,
}

impl CatalogVersion {
    /// A version with the standard input ([`INPUT_ARTIFACT_NAME`]), the outputs
    /// `tissue_qc:geojson`, `cell_classification:parquet` and `heatmap:tiff`, and the documents
    /// `README.md`, `ifu.pdf` (public) and `internal-notes.md` (internal).
    ///
    /// ```
    /// let version = aignostics_sandbox::CatalogVersion::standard("1.0.0");
    /// assert_eq!(version.output_artifacts.len(), 3);
    /// assert_eq!(version.input_artifacts[0].name, aignostics_sandbox::INPUT_ARTIFACT_NAME);
    /// ```
    #[must_use]
    pub fn standard(number: &str) -> Self {
        let output = |name: &str, mime: &str| OutputArtifact {
            name: name.into(),
            mime_type: mime.into(),
            metadata_schema: output_metadata_schema(),
            scope: OutputArtifactScope::Item,
            visibility: OutputArtifactVisibility::External,
        };
        let (major, minor) = semver::Version::parse(number)
            .map(|v| (v.major, v.minor))
            .unwrap_or((1, 0));
        Self {
            number: number.into(),
            released_at: format!(
                "2025-{:02}-{:02}T09:00:00.000Z",
                (major % 12) + 1,
                (minor % 28) + 1
            ),
            changelog: format!("Sandbox release {number}."),
            input_artifacts: vec![InputArtifact {
                name: INPUT_ARTIFACT_NAME.into(),
                mime_type: "image/tiff".into(),
                metadata_schema: input_metadata_schema(),
            }],
            output_artifacts: vec![
                output("tissue_qc:geojson", "application/geo+json"),
                output("cell_classification:parquet", "application/vnd.apache.parquet"),
                output("heatmap:tiff", "image/tiff"),
            ],
            documents: vec![
                CatalogDocument::new(
                    "README.md",
                    "text/markdown",
                    format!("# Sandbox application, version {number}\n\nServed by the aignostics sandbox.\n")
                        .into_bytes(),
                ),
                CatalogDocument::new("ifu.pdf", "application/pdf", minimal_pdf(number)),
                CatalogDocument::new(
                    "internal-notes.md",
                    "text/markdown",
                    b"internal\n".to_vec(),
                )
                .visibility(VersionDocumentVisibility::Internal),
            ],
        }
    }

    /// [`standard`](Self::standard) with the nine outputs of Atlas H&E-TME
    /// ([`ATLAS_OUTPUTS`](crate::ATLAS_OUTPUTS)) instead of the three generated ones.
    ///
    /// ```
    /// let version = aignostics_sandbox::CatalogVersion::atlas("1.0.0");
    /// assert_eq!(version.output_artifacts[0].name, "readout_generation:slide_readouts");
    /// ```
    #[must_use]
    pub fn atlas(number: &str) -> Self {
        let mut version = Self::standard(number);
        let template = version.output_artifacts[0].clone();
        version.output_artifacts = crate::atlas::ATLAS_OUTPUTS
            .iter()
            .map(|(name, mime)| OutputArtifact {
                name: (*name).into(),
                mime_type: (*mime).into(),
                ..template.clone()
            })
            .collect();
        version
    }

    /// Adds a document.
    ///
    /// ```
    /// use aignostics_sandbox::{CatalogDocument, CatalogVersion};
    /// let version = CatalogVersion::standard("1.0.0")
    ///     .document(CatalogDocument::new("model-card.md", "text/markdown", b"# Model".to_vec()));
    /// assert_eq!(version.documents.len(), 4);
    /// ```
    #[must_use]
    pub fn document(mut self, document: CatalogDocument) -> Self {
        self.documents.push(document);
        self
    }
}

/// A document attached to a [`CatalogVersion`].
///
/// ```
/// use aignostics::models::VersionDocumentVisibility;
/// use aignostics_sandbox::CatalogDocument;
/// let doc = CatalogDocument::new("secret.md", "text/markdown", b"x".to_vec())
///     .visibility(VersionDocumentVisibility::Internal);
/// assert_eq!(doc.content, b"x");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct CatalogDocument {
    /// Document name, unique within the version, e.g. `README.md`.
    pub name: String,
    /// MIME type served with the content.
    pub mime_type: String,
    /// `public` documents are listed and served; `internal` ones answer 404.
    pub visibility: VersionDocumentVisibility,
    /// The bytes.
    pub content: Vec<u8>,
}

impl CatalogDocument {
    /// A public document.
    ///
    /// ```
    /// use aignostics::models::VersionDocumentVisibility;
    /// let doc = aignostics_sandbox::CatalogDocument::new("a.txt", "text/plain", b"hi".to_vec());
    /// assert_eq!(doc.visibility, VersionDocumentVisibility::Public);
    /// ```
    #[must_use]
    pub fn new(name: impl Into<String>, mime_type: impl Into<String>, content: Vec<u8>) -> Self {
        Self {
            name: name.into(),
            mime_type: mime_type.into(),
            visibility: VersionDocumentVisibility::Public,
            content,
        }
    }

    /// Sets who may see the document.
    ///
    /// ```
    /// use aignostics::models::VersionDocumentVisibility;
    /// let doc = aignostics_sandbox::CatalogDocument::new("a.txt", "text/plain", Vec::new())
    ///     .visibility(VersionDocumentVisibility::Internal);
    /// assert_eq!(doc.visibility, VersionDocumentVisibility::Internal);
    /// ```
    #[must_use]
    pub fn visibility(mut self, visibility: VersionDocumentVisibility) -> Self {
        self.visibility = visibility;
        self
    }
}

fn minimal_pdf(number: &str) -> Vec<u8> {
    format!(
        "%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n% Instructions for use, sandbox version {number}\ntrailer << /Root 1 0 R >>\n%%EOF\n"
    )
    .into_bytes()
}

/// The JSON Schema of the standard input artifact's metadata: `checksum_base64_crc32c`
/// (string), `width_px` and `height_px` (integers ≥ 1), `resolution_mpp` (number > 0) and
/// `media-type` (`image/tiff`, `application/dicom` or `application/zip`) are required;
/// `specimen` and `staining_method` are optional.
///
/// ```
/// let schema = aignostics_sandbox::input_metadata_schema();
/// assert_eq!(schema["properties"]["width_px"]["type"], "integer");
/// ```
#[must_use]
pub fn input_metadata_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Whole-slide image metadata",
        "type": "object",
        "properties": {
            "checksum_base64_crc32c": {
                "type": "string",
                "minLength": 8,
                "maxLength": 8,
                "description": "Base64 of the big-endian CRC32C of the file"
            },
            "width_px": {"type": "integer", "minimum": 1},
            "height_px": {"type": "integer", "minimum": 1},
            "resolution_mpp": {"type": "number", "exclusiveMinimum": 0, "maximum": 10},
            "media-type": {
                "type": "string",
                "enum": ["image/tiff", "application/dicom", "application/zip"]
            },
            "specimen": {
                "type": "object",
                "properties": {
                    "tissue": {
                        "type": "string",
                        "enum": ["BLADDER", "BREAST", "COLON", "LIVER", "LUNG", "LYMPH_NODE",
                                 "PANCREAS", "PROSTATE", "SKIN", "STOMACH"]
                    },
                    "disease": {
                        "type": "string",
                        "enum": ["BLADDER_CANCER", "BREAST_CANCER", "COLORECTAL_CANCER",
                                 "LIVER_CANCER", "LUNG_CANCER", "MELANOMA", "PANCREATIC_CANCER",
                                 "PROSTATE_CANCER", "STOMACH_CANCER"]
                    }
                }
            },
            "staining_method": {"type": "string", "enum": ["H&E"]}
        },
        "required": [
            "checksum_base64_crc32c",
            "width_px",
            "height_px",
            "resolution_mpp",
            "media-type"
        ],
        "additionalProperties": true
    })
}

fn output_metadata_schema() -> Value {
    json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "type": "object",
        "properties": {
            "checksum_base64_crc32c": {"type": "string"},
            "media_type": {"type": "string"},
            "size_bytes": {"type": "integer"}
        },
        "required": ["checksum_base64_crc32c", "media_type"]
    })
}

/// Metadata that satisfies [`input_metadata_schema`].
///
/// ```
/// let metadata = aignostics_sandbox::example_input_metadata();
/// assert_eq!(metadata["media-type"], "image/tiff");
/// ```
#[must_use]
pub fn example_input_metadata() -> Value {
    json!({
        "checksum_base64_crc32c": "AAAAAA==",
        "width_px": 136_223,
        "height_px": 87_761,
        "resolution_mpp": 0.2628,
        "media-type": "image/tiff",
        "specimen": {"tissue": "LUNG", "disease": "LUNG_CANCER"},
        "staining_method": "H&E"
    })
}

/// An item the standard catalog accepts, with one input artifact carrying
/// [`example_input_metadata`]. An `external_id` starting with `fail-` makes the item end with
/// `USER_ERROR`.
///
/// ```
/// use aignostics::models::RunCreationRequest;
/// use aignostics_sandbox::example_item;
/// let request = RunCreationRequest::new("he-tme", [example_item("slide-1"), example_item("fail-2")]);
/// assert_eq!(request.items.len(), 2);
/// ```
#[must_use]
pub fn example_item(external_id: &str) -> ItemCreationRequest {
    ItemCreationRequest::new(
        external_id,
        [InputArtifactCreationRequest::new(
            INPUT_ARTIFACT_NAME,
            format!(
                "https://storage.example.com/slides/{}.tiff",
                crate::util::seg(external_id)
            ),
            example_input_metadata(),
        )],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the example metadata satisfies the schema the catalog publishes. (FR-44)
    #[test]
    fn example_metadata_is_valid() {
        let validator = jsonschema::validator_for(&input_metadata_schema()).unwrap();
        assert!(validator.is_valid(&example_input_metadata()));
        let mut bad = example_input_metadata();
        bad["media-type"] = serde_json::json!("image/png");
        assert!(!validator.is_valid(&bad));
    }

    // Proves "latest" follows semantic-version order, not listing order. (FR-44)
    #[test]
    fn latest_is_semver_max() {
        let app = CatalogApplication::new("a", "A").versions(
            ["1.10.0", "1.9.0", "2.0.0-beta", "not-semver"].map(CatalogVersion::standard),
        );
        assert_eq!(app.latest().map(|v| v.number.as_str()), Some("2.0.0-beta"));
    }
}
