//! Run items from a folder of slides (or a metadata CSV) for one application version:
//! metadata from the headers, mapping rules as the Python SDK's `--mapping`, download URLs
//! from a pluggable source, validation against the version's schema before anything is sent.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::csv::MetadataRow;
pub use super::prepare_error::PrepareError;
use super::{Inspector, SlideError};
use crate::models::{
    InputArtifactCreationRequest, ItemCreationRequest, RunCreationRequest, VersionReadResponse,
};

/// Longest external id the platform accepts.
const MAX_EXTERNAL_ID: usize = 255;

/// Keys a mapping rule may set (the CSV columns a person fills in).
const MAPPING_KEYS: [&str; 5] = [
    "staining_method",
    "tissue",
    "disease",
    "resolution_mpp",
    "platform_bucket_url",
];

/// A mapping rule as the Python SDK's `--mapping`: `REGEX:key=value,key=value`. When the
/// regular expression matches anywhere in a row's external id, the values are set. Keys:
/// `staining_method`, `tissue`, `disease`, `resolution_mpp`, `platform_bucket_url`.
///
/// ```
/// use aignostics::slides::{Mapping, MetadataRow};
/// let rule: Mapping = ".*lung.*:tissue=LUNG,disease=LUNG_CANCER".parse()?;
/// let mut row = MetadataRow { external_id: "case-1/lung-3.svs".into(), ..Default::default() };
/// rule.apply(&mut row);
/// assert_eq!(row.tissue.as_deref(), Some("LUNG"));
/// # Ok::<(), aignostics::slides::PrepareError>(())
/// ```
#[derive(Clone, Debug)]
pub struct Mapping {
    pattern: regex::Regex,
    pairs: Vec<(String, String)>,
    /// The rule as written.
    text: String,
}

impl std::fmt::Display for Mapping {
    /// The rule as it was written (it parses back to the same rule).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text)
    }
}

impl FromStr for Mapping {
    type Err = PrepareError;

    fn from_str(text: &str) -> Result<Self, PrepareError> {
        let bad = |why: String| PrepareError::Mapping(format!("{text:?}: {why}"));
        let (pattern, pairs) = text
            .split_once(':')
            .ok_or_else(|| bad("expected REGEX:key=value,...".into()))?;
        let pattern = regex::Regex::new(pattern.trim())
            .map_err(|e| bad(format!("the regular expression is invalid: {e}")))?;
        let mut parsed = Vec::new();
        for pair in pairs.split(',') {
            let (key, value) = pair
                .split_once('=')
                .ok_or_else(|| bad(format!("{pair:?} is not key=value")))?;
            let (key, value) = (key.trim(), value.trim());
            if key.is_empty() {
                continue;
            }
            // `tissue=LUNG;disease=X` would set the tissue to `LUNG;disease=X`.
            if let Some((_, second)) = value.split_once([';', '&', ' '])
                && let Some((other, _)) = second.split_once('=')
                && MAPPING_KEYS.contains(&other.trim())
            {
                return Err(bad(format!(
                    "the value of {key:?} holds a second key=value ({value:?}); separate pairs \
                     with commas: REGEX:{key}={},{}",
                    value.split([';', '&', ' ']).next().unwrap_or_default(),
                    second.trim()
                )));
            }
            if !MAPPING_KEYS.contains(&key) {
                return Err(bad(format!(
                    "unknown key {key:?} (known: {})",
                    MAPPING_KEYS.join(", ")
                )));
            }
            if key == "resolution_mpp"
                && !value.parse::<f64>().is_ok_and(|m| m > 0.0 && m.is_finite())
            {
                return Err(bad(format!(
                    "resolution_mpp {value:?} is not a positive number"
                )));
            }
            parsed.push((key.to_string(), value.to_string()));
        }
        Ok(Self {
            pattern,
            pairs: parsed,
            text: text.to_string(),
        })
    }
}

impl Mapping {
    /// Sets this rule's values on `row` when its external id matches; returns whether it did.
    pub fn apply(&self, row: &mut MetadataRow) -> bool {
        if !self.pattern.is_match(&row.external_id) {
            return false;
        }
        for (key, value) in &self.pairs {
            let text = Some(value.clone()).filter(|v| !v.is_empty());
            match key.as_str() {
                "staining_method" => row.staining_method = text,
                "tissue" => row.tissue = text,
                "disease" => row.disease = text,
                "platform_bucket_url" => row.platform_bucket_url = text,
                "resolution_mpp" => {
                    if let Ok(mpp) = value.parse() {
                        row.resolution_mpp = mpp;
                    }
                }
                _ => {}
            }
        }
        true
    }
}

/// Where an item's download URL comes from: a template, the CSV's `platform_bucket_url`
/// column, or any function (a bucket that signs URLs, for instance).
pub trait DownloadUrls {
    /// The signed (or public) URL the platform downloads this row's slide from.
    ///
    /// # Errors
    ///
    /// Why there is none, for the message naming the item.
    fn download_url(&self, row: &MetadataRow) -> Result<String, String>;
}

impl<F: Fn(&MetadataRow) -> Result<String, String>> DownloadUrls for F {
    fn download_url(&self, row: &MetadataRow) -> Result<String, String> {
        self(row)
    }
}

/// URLs from a template: `{path}` is the external id with each `/`-separated segment
/// percent-encoded, `{name}` its last segment, e.g. `https://host/slides/{path}`.
#[derive(Clone, Debug)]
pub struct UrlTemplate(String);

impl UrlTemplate {
    /// A template holding `{path}` or `{name}`.
    ///
    /// # Errors
    ///
    /// [`PrepareError::Url`] when the template is not an `http(s)://` URL or has no
    /// placeholder.
    pub fn new(template: impl Into<String>) -> Result<Self, PrepareError> {
        let template = template.into();
        if !(template.starts_with("https://") || template.starts_with("http://")) {
            return Err(PrepareError::Url {
                external_id: String::new(),
                message: format!("the URL template {template:?} is not an http(s) URL"),
            });
        }
        if !(template.contains("{path}") || template.contains("{name}")) {
            return Err(PrepareError::Url {
                external_id: String::new(),
                message: format!("the URL template {template:?} has no {{path}} or {{name}}"),
            });
        }
        Ok(Self(template))
    }
}

impl DownloadUrls for UrlTemplate {
    fn download_url(&self, row: &MetadataRow) -> Result<String, String> {
        let encode = |s: &str| {
            percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC)
                .to_string()
                .replace("%2D", "-")
                .replace("%2E", ".")
                .replace("%5F", "_")
                .replace("%7E", "~")
        };
        let path: Vec<String> = row.external_id.split('/').map(encode).collect();
        let name = path.last().cloned().unwrap_or_default();
        Ok(self
            .0
            .replace("{path}", &path.join("/"))
            .replace("{name}", &name))
    }
}

/// URLs from the CSV's `platform_bucket_url` column when it holds an `http(s)://` URL;
/// bucket URLs (`gs://`, `s3://`) need signing first.
#[derive(Clone, Copy, Debug, Default)]
pub struct CsvUrls;

impl DownloadUrls for CsvUrls {
    fn download_url(&self, row: &MetadataRow) -> Result<String, String> {
        match row.platform_bucket_url.as_deref() {
            Some(url) if url.starts_with("https://") || url.starts_with("http://") => {
                Ok(url.to_string())
            }
            Some(url) => Err(format!(
                "platform_bucket_url {url:?} is a bucket URL; it needs a signed URL (or give a URL template)"
            )),
            None => Err("the platform_bucket_url column is empty (give a URL template)".into()),
        }
    }
}

/// The media type of a slide named `external_id`, by its extension: `application/dicom` for
/// `.dcm`, `image/tiff` for the TIFF family (`.tif`, `.tiff`, `.svs`, `.ndpi`, `.btf`,
/// `.tf8`); `None` otherwise.
#[must_use]
pub fn media_type_for(external_id: &str) -> Option<&'static str> {
    let ext = external_id.rsplit_once('.')?.1.to_ascii_lowercase();
    match ext.as_str() {
        "dcm" => Some("application/dicom"),
        "tif" | "tiff" | "svs" | "ndpi" | "btf" | "tf8" => Some("image/tiff"),
        _ => None,
    }
}

/// Slides read from a folder: one row per slide, and the slides that could not be read.
#[derive(Debug)]
pub struct Prepared {
    /// One row per slide read, in path order, mapping rules applied.
    pub rows: Vec<MetadataRow>,
    /// The media type of each row (from the file's format).
    pub media_types: Vec<&'static str>,
    /// Slides that could not be read.
    pub failures: Vec<SlideError>,
    /// Slides whose checksum came from the inspector's checksum index (unchanged since an
    /// earlier read: only their headers were read).
    pub checksums_from_index: usize,
}

impl Prepared {
    fn push(&mut self, (row, media_type): (MetadataRow, &'static str)) {
        self.rows.push(row);
        self.media_types.push(media_type);
    }
}

/// Builds run items for one application version from a folder of slides or from metadata
/// rows (the Python SDK's CSV).
///
/// ```no_run
/// use aignostics::slides::{SlideItems, UrlTemplate};
///
/// let client = aignostics::Client::new()?;
/// let version = client.application_version("he-tme", None)?;
/// let builder = SlideItems::new("he-tme", version)?
///     .mapping(".*:staining_method=H&E,tissue=LUNG,disease=LUNG_CANCER".parse()?);
/// let prepared = builder.scan("slides/")?;
/// let urls = UrlTemplate::new("https://storage.example.com/slides/{path}")?;
/// let items = builder.items(&prepared.rows, &urls)?; // validated against the version
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct SlideItems {
    application_id: String,
    version: Arc<VersionReadResponse>,
    artifact: String,
    mappings: Vec<Mapping>,
    inspector: Inspector,
    include: Option<regex::Regex>,
    /// Only these external ids (a cohort's retry), checked before a slide is read.
    only: Option<Arc<std::collections::HashSet<String>>>,
}

impl SlideItems {
    /// Items for `application_id` at `version` (from
    /// [`Client::application_version`](crate::Client::application_version)), whose single
    /// input artifact receives the slide. Takes the shared value the client hands out, or an
    /// owned one.
    ///
    /// # Errors
    ///
    /// [`PrepareError::Version`] when the version has not exactly one input artifact.
    pub fn new(
        application_id: impl Into<String>,
        version: impl Into<Arc<VersionReadResponse>>,
    ) -> Result<Self, PrepareError> {
        let application_id = application_id.into();
        let version = version.into();
        let [artifact] = version.input_artifacts.as_slice() else {
            return Err(PrepareError::Version(format!(
                "{application_id} {} has {} input artifacts; items from slides need exactly one",
                version.version_number,
                version.input_artifacts.len()
            )));
        };
        Ok(Self {
            artifact: artifact.name.clone(),
            application_id,
            version,
            mappings: Vec::new(),
            inspector: Inspector::new(),
            include: None,
            only: None,
        })
    }

    /// Adds a mapping rule; rules apply in order, later ones winning.
    #[must_use]
    pub fn mapping(mut self, rule: Mapping) -> Self {
        self.mappings.push(rule);
        self
    }

    /// Reads slides with `inspector` (threads, fallback resolution).
    #[must_use]
    pub fn inspector(mut self, inspector: Inspector) -> Self {
        self.inspector = inspector;
        self
    }

    /// Only slides whose path relative to the scanned folder matches the glob `pattern`
    /// (`*` within a folder, `**` across folders, `?` one character), e.g. `**/*.svs`.
    ///
    /// # Errors
    ///
    /// [`PrepareError::Mapping`] when the pattern cannot be compiled.
    pub fn include(mut self, pattern: &str) -> Result<Self, PrepareError> {
        self.include = Some(glob(pattern)?);
        Ok(self)
    }

    /// Only the slides with these external ids are read (the rest are left out silently).
    #[cfg(feature = "bucket")]
    pub(crate) fn only(mut self, ids: Arc<std::collections::HashSet<String>>) -> Self {
        self.only = Some(ids);
        self
    }

    /// Whether the include glob and the id filter let the slide `relative` through.
    fn wanted(&self, relative: &str) -> bool {
        self.include.as_ref().is_none_or(|g| g.is_match(relative))
            && self.only.as_ref().is_none_or(|ids| ids.contains(relative))
    }

    /// Reads every slide under `root` (in parallel) into rows: external id = the path
    /// relative to `root` with `/` separators (stable across machines and unique), metadata
    /// from the header, then the mapping rules.
    ///
    /// # Errors
    ///
    /// [`PrepareError::Slide`] when `root` cannot be listed; unreadable slides are collected
    /// in [`Prepared::failures`].
    pub fn scan(&self, root: impl AsRef<Path>) -> Result<Prepared, PrepareError> {
        let root = root.as_ref();
        let relative = relative_to(root);
        let scan = super::scan_folder(root)?;
        let paths: Vec<PathBuf> = scan
            .slides
            .into_iter()
            .filter(|p| self.wanted(&relative(p)))
            .collect();
        let mut prepared = Prepared {
            rows: Vec::new(),
            media_types: Vec::new(),
            // Whole-slide files of formats not read are reported, never dropped silently.
            failures: scan
                .skipped
                .into_iter()
                .filter(|e| self.wanted(&relative(e.path())))
                .collect(),
            checksums_from_index: 0,
        };
        for result in self.inspector.inspect_all(&paths) {
            match result {
                Ok(slide) => {
                    prepared.checksums_from_index += usize::from(slide.checksum_from_index);
                    let external_id = relative(&slide.path);
                    prepared.push(self.row(external_id, slide, None));
                }
                Err(e) => prepared.failures.push(e),
            }
        }
        Ok(prepared)
    }

    /// [`scan`](Self::scan) for the slides under `prefix` of a bucket of your own, read in
    /// place ([`Inspector::inspect_object`](super::Inspector::inspect_object)): each row's
    /// external id is the key below the prefix and its `platform_bucket_url` the object
    /// (`s3://bucket/key`), whose URL is signed at submission.
    ///
    /// # Errors
    /// [`PrepareError::Invalid`] when the bucket cannot be listed.
    #[cfg(feature = "bucket")]
    pub fn scan_bucket(
        &self,
        bucket: &crate::bucket::Bucket,
        prefix: &str,
    ) -> Result<Prepared, PrepareError> {
        let mut prepared = Prepared {
            rows: Vec::new(),
            media_types: Vec::new(),
            failures: Vec::new(),
            checksums_from_index: 0,
        };
        for object in super::find_objects(bucket, prefix).map_err(PrepareError::Invalid)? {
            let relative = key_below(prefix, &object.key);
            if !self.wanted(&relative) {
                continue;
            }
            match self.inspector.inspect_object(bucket, &object.key) {
                Ok(read) => {
                    let object = bucket.object_url(&object.key);
                    prepared.push(self.row(relative, read.slide, Some(object)));
                }
                Err(e) => prepared.failures.push(e),
            }
        }
        Ok(prepared)
    }

    /// The row of a slide read, its mapping rules applied, with its media type.
    fn row(
        &self,
        external_id: String,
        slide: super::Slide,
        object: Option<String>,
    ) -> (MetadataRow, &'static str) {
        let mut row = MetadataRow {
            external_id,
            checksum_base64_crc32c: slide.checksum_base64_crc32c.unwrap_or_default(),
            resolution_mpp: slide.resolution_mpp,
            width_px: slide.width_px,
            height_px: slide.height_px,
            platform_bucket_url: object,
            ..MetadataRow::default()
        };
        for rule in &self.mappings {
            rule.apply(&mut row);
        }
        (row, slide.format.media_type())
    }

    /// The input artifact's metadata for a row: checksum, size, resolution, media type under
    /// the key the version's schema uses (`media_type` or `media-type`), and `specimen`
    /// (tissue, disease) and `staining_method` when given.
    #[must_use]
    pub fn metadata(&self, row: &MetadataRow, media_type: Option<&str>) -> Value {
        let mut m = Map::new();
        m.insert(
            "checksum_base64_crc32c".into(),
            json!(row.checksum_base64_crc32c),
        );
        m.insert("width_px".into(), json!(row.width_px));
        m.insert("height_px".into(), json!(row.height_px));
        m.insert("resolution_mpp".into(), json!(row.resolution_mpp));
        if let Some(media_type) = media_type.or_else(|| media_type_for(&row.external_id)) {
            m.insert(self.media_type_key().into(), json!(media_type));
        }
        let mut specimen = Map::new();
        if let Some(tissue) = &row.tissue {
            specimen.insert("tissue".into(), json!(tissue));
        }
        if let Some(disease) = &row.disease {
            specimen.insert("disease".into(), json!(disease));
        }
        if !specimen.is_empty() {
            m.insert("specimen".into(), Value::Object(specimen));
        }
        if let Some(staining) = &row.staining_method {
            m.insert("staining_method".into(), json!(staining));
        }
        Value::Object(m)
    }

    /// The fields the version's schema declares that a row can set (`staining_method`,
    /// `specimen.tissue`, `specimen.disease`) but some of `rows` leave out: worth a warning
    /// before a run, as the application may expect them although the schema lets them go.
    #[must_use]
    pub fn missing_fields(&self, rows: &[MetadataRow]) -> Vec<super::MissingField> {
        match self.version.input_artifacts.first() {
            Some(artifact) => super::fields::missing_fields(&artifact.metadata_schema, rows),
            None => Vec::new(),
        }
    }

    /// `media-type` when the artifact's schema names that property, else `media_type`.
    fn media_type_key(&self) -> &'static str {
        let schema = self
            .version
            .input_artifacts
            .first()
            .map(|a| &a.metadata_schema);
        if schema
            .and_then(|s| s.pointer("/properties/media-type"))
            .is_some()
        {
            "media-type"
        } else {
            "media_type"
        }
    }

    /// One item per row, with the download URL from `urls`, validated against the version's
    /// schema before it is returned (nothing has left the machine yet).
    ///
    /// # Errors
    ///
    /// [`PrepareError::Url`] or [`PrepareError::Invalid`] naming the item (its external id
    /// is the slide's path) and the failing field.
    pub fn items(
        &self,
        rows: &[MetadataRow],
        urls: &dyn DownloadUrls,
    ) -> Result<Vec<ItemCreationRequest>, PrepareError> {
        self.items_typed(rows, None, urls)
    }

    /// [`items`](Self::items) for the rows of a [`scan`](Self::scan), with the media types
    /// from the files' formats.
    ///
    /// # Errors
    ///
    /// As [`items`](Self::items).
    pub fn items_from(
        &self,
        prepared: &Prepared,
        urls: &dyn DownloadUrls,
    ) -> Result<Vec<ItemCreationRequest>, PrepareError> {
        self.items_typed(&prepared.rows, Some(&prepared.media_types), urls)
    }

    /// Checks the rows' metadata against the version's schema without download URLs (for
    /// a CSV still being edited).
    ///
    /// # Errors
    ///
    /// [`PrepareError::Invalid`] for the first row that does not fit.
    pub fn check(&self, rows: &[MetadataRow]) -> Result<(), PrepareError> {
        let placeholder = |_: &MetadataRow| Ok("https://placeholder.invalid/".to_string());
        self.items_typed(rows, None, &placeholder).map(|_| ())
    }

    /// [`items`](Self::items) with the media types of the rows when known.
    #[cfg(feature = "bucket")]
    pub(crate) fn items_with(
        &self,
        rows: &[MetadataRow],
        media_types: Option<&[&'static str]>,
        urls: &dyn DownloadUrls,
    ) -> Result<Vec<ItemCreationRequest>, PrepareError> {
        self.items_typed(rows, media_types, urls)
    }

    fn items_typed(
        &self,
        rows: &[MetadataRow],
        media_types: Option<&[&'static str]>,
        urls: &dyn DownloadUrls,
    ) -> Result<Vec<ItemCreationRequest>, PrepareError> {
        let mut items = Vec::with_capacity(rows.len());
        for (i, row) in rows.iter().enumerate() {
            let url_error = |message: String| PrepareError::Url {
                external_id: row.external_id.clone(),
                message,
            };
            let invalid = |why: &str| {
                PrepareError::Invalid(crate::Error::InvalidInput(format!(
                    "item {:?} (row {}): the external id {why}",
                    row.external_id,
                    i + 1
                )))
            };
            if row.external_id.is_empty() {
                return Err(invalid("is empty"));
            }
            if row.external_id.chars().count() > MAX_EXTERNAL_ID {
                return Err(invalid(&format!(
                    "is longer than {MAX_EXTERNAL_ID} characters"
                )));
            }
            let url = urls.download_url(row).map_err(url_error)?;
            let media_type = media_types.and_then(|m| m.get(i).copied());
            items.push(ItemCreationRequest::new(
                row.external_id.clone(),
                [InputArtifactCreationRequest::new(
                    self.artifact.clone(),
                    url,
                    self.metadata(row, media_type),
                )],
            ));
        }
        let request = RunCreationRequest::new(self.application_id.clone(), items);
        crate::handlers::run_checks::validate_request(&request, &self.version)
            .map_err(PrepareError::Invalid)?;
        Ok(request.items)
    }
}

/// A glob over `/`-separated relative paths as a regular expression.
/// How [`SlideItems::scan`] names the slides under `root`: the path relative to `root` (or to
/// its folder, for a single file) with `/` separators, stable across machines.
fn relative_to(root: &Path) -> impl Fn(&Path) -> String + use<> {
    let base = if root.is_file() {
        root.parent().unwrap_or(Path::new("")).to_path_buf()
    } else {
        root.to_path_buf()
    };
    move |path: &Path| {
        path.strip_prefix(&base)
            .unwrap_or(path)
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join("/")
    }
}

/// How [`SlideItems::scan_bucket`] names the object `key` under `prefix`.
fn key_below(prefix: &str, key: &str) -> String {
    key.strip_prefix(prefix)
        .unwrap_or(key)
        .trim_start_matches('/')
        .to_string()
}

/// The external ids the scan of the slides under `root` (a folder or a file) would give,
/// sorted, with the `include` glob applied, without reading any slide.
#[cfg(feature = "bucket")]
pub(crate) fn list_folder(root: &Path, include: Option<&str>) -> Result<Vec<String>, PrepareError> {
    let include = include.map(glob).transpose()?;
    let relative = relative_to(root);
    let mut ids: Vec<String> = super::scan_folder(root)?
        .slides
        .iter()
        .map(|p| relative(p))
        .filter(|id| include.as_ref().is_none_or(|g| g.is_match(id)))
        .collect();
    ids.sort();
    Ok(ids)
}

/// [`list_folder`] for the slide objects under `prefix` of a bucket.
#[cfg(feature = "bucket")]
pub(crate) fn list_bucket(
    bucket: &crate::bucket::Bucket,
    prefix: &str,
    include: Option<&str>,
) -> Result<Vec<String>, PrepareError> {
    let include = include.map(glob).transpose()?;
    let mut ids: Vec<String> = super::find_objects(bucket, prefix)
        .map_err(PrepareError::Invalid)?
        .iter()
        .map(|o| key_below(prefix, &o.key))
        .filter(|id| include.as_ref().is_none_or(|g| g.is_match(id)))
        .collect();
    ids.sort();
    Ok(ids)
}

fn glob(pattern: &str) -> Result<regex::Regex, PrepareError> {
    let mut re = String::from("^");
    let mut chars = pattern.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '*' if chars.peek() == Some(&'*') => {
                chars.next();
                if chars.peek() == Some(&'/') {
                    chars.next();
                    re.push_str("(?:.*/)?");
                } else {
                    re.push_str(".*");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    regex::Regex::new(&re).map_err(|e| PrepareError::Mapping(format!("glob {pattern:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        // Proves any mapping rule, glob or external id is parsed, applied or refused without
        // a panic. (FR-63)
        #[test]
        fn arbitrary_rules_never_panic(rule in "\\PC{0,40}", id in "\\PC{0,40}") {
            if let Ok(m) = rule.parse::<Mapping>() {
                let mut row = MetadataRow { external_id: id.clone(), ..MetadataRow::default() };
                m.apply(&mut row);
            }
            let _ = glob(&rule).map(|g| g.is_match(&id));
            let row = MetadataRow { external_id: id, ..MetadataRow::default() };
            let url = UrlTemplate::new("https://h/{path}").unwrap().download_url(&row).unwrap();
            prop_assert!(url.starts_with("https://h/"));
        }
    }

    // Proves mapping rules parse as the Python SDK's (split at the first colon, pairs at
    // commas and the first `=`), refuse unknown keys, bad numbers and a second pair hidden in
    // a value (`tissue=LUNG;disease=…`), and match anywhere in the external id. (FR-63)
    #[test]
    fn mapping_rules() {
        let rule: Mapping = "lung:tissue=LUNG, disease = LUNG_CANCER ,staining_method=H&E=x"
            .parse()
            .unwrap();
        let mut row = MetadataRow {
            external_id: "a/b-lung-1.svs".into(),
            ..MetadataRow::default()
        };
        assert!(rule.apply(&mut row));
        assert_eq!(row.tissue.as_deref(), Some("LUNG"));
        assert_eq!(row.disease.as_deref(), Some("LUNG_CANCER"));
        assert_eq!(row.staining_method.as_deref(), Some("H&E=x"));
        let mut other = MetadataRow {
            external_id: "a/liver.svs".into(),
            ..MetadataRow::default()
        };
        assert!(!rule.apply(&mut other));
        assert_eq!(other.tissue, None);
        for bad in [
            "no-colon",
            "(:tissue=x",
            "x:organ=LUNG",
            "x:tissue",
            "x:resolution_mpp=-1",
            ".*:tissue=LUNG;disease=LUNG_CANCER",
            ".*:tissue=LUNG disease=LUNG_CANCER",
        ] {
            assert!(bad.parse::<Mapping>().is_err(), "{bad}");
        }
        // A second pair inside a value is refused with the right syntax.
        let err = ".*:tissue=LUNG;disease=LUNG_CANCER"
            .parse::<Mapping>()
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("REGEX:tissue=LUNG,disease=LUNG_CANCER"),
            "{err}"
        );
        let mpp: Mapping = ".*:resolution_mpp=0.5".parse().unwrap();
        mpp.apply(&mut other);
        assert_eq!(other.resolution_mpp, 0.5);
    }

    // Proves globs match relative paths: `*` within a folder, `**/` across folders. (FR-63)
    #[test]
    fn globs() {
        let g = glob("**/*.svs").unwrap();
        assert!(g.is_match("a.svs") && g.is_match("x/y/a.svs"));
        assert!(!g.is_match("a.tiff"));
        let g = glob("case-?/*.tif").unwrap();
        assert!(g.is_match("case-1/s.tif") && !g.is_match("case-1/x/s.tif"));
    }

    // Proves URL templates encode each path segment and keep the separators. (FR-63)
    #[test]
    fn url_template() {
        let t = UrlTemplate::new("https://host/s/{path}?n={name}").unwrap();
        let row = MetadataRow {
            external_id: "case 1/slide#2.svs".into(),
            ..MetadataRow::default()
        };
        assert_eq!(
            t.download_url(&row).unwrap(),
            "https://host/s/case%201/slide%232.svs?n=slide%232.svs"
        );
        assert!(UrlTemplate::new("https://host/").is_err());
        assert!(UrlTemplate::new("ftp://host/{path}").is_err());
        assert!(CsvUrls.download_url(&row).is_err());
    }
}
