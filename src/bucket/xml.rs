//! The S3 XML bodies rusty-s3 has no type for: in-progress multipart uploads, parts with their
//! checksums, error documents and the completion request carrying per-part checksums.

use instant_xml::FromXml;

const S3_NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// `ListMultipartUploadsResult`.
#[derive(Debug, FromXml)]
#[xml(rename = "ListMultipartUploadsResult", ns(S3_NS))]
pub(crate) struct ListUploads {
    pub(crate) uploads: Vec<UploadEntry>,
    #[xml(rename = "IsTruncated")]
    pub(crate) is_truncated: Option<bool>,
    #[xml(rename = "NextKeyMarker")]
    pub(crate) next_key_marker: Option<String>,
    #[xml(rename = "NextUploadIdMarker")]
    pub(crate) next_upload_id_marker: Option<String>,
}

/// One `Upload` of a `ListMultipartUploadsResult`.
#[derive(Debug, FromXml)]
#[xml(rename = "Upload", ns(S3_NS))]
pub(crate) struct UploadEntry {
    #[xml(rename = "Key")]
    pub(crate) key: String,
    #[xml(rename = "UploadId")]
    pub(crate) upload_id: String,
}

/// `ListPartsResult`, with the parts' CRC32C where the store reports it.
#[derive(Debug, FromXml)]
#[xml(rename = "ListPartsResult", ns(S3_NS))]
pub(crate) struct ListParts {
    pub(crate) parts: Vec<PartEntry>,
    #[xml(rename = "IsTruncated")]
    pub(crate) is_truncated: Option<bool>,
    #[xml(rename = "NextPartNumberMarker")]
    pub(crate) next_part_number_marker: Option<u32>,
}

/// One `Part` of a `ListPartsResult`.
#[derive(Debug, FromXml)]
#[xml(rename = "Part", ns(S3_NS))]
pub(crate) struct PartEntry {
    #[xml(rename = "PartNumber")]
    pub(crate) number: u32,
    #[xml(rename = "ETag")]
    pub(crate) etag: String,
    #[xml(rename = "Size")]
    pub(crate) size: u64,
    #[xml(rename = "ChecksumCRC32C")]
    pub(crate) crc32c: Option<String>,
}

/// The `Code` and `Message` of an S3 `Error` document (no namespace), found by text search so
/// that a malformed or foreign body still yields what it can.
pub(crate) fn error_code_message(body: &str) -> (Option<String>, Option<String>) {
    (element(body, "Code"), element(body, "Message"))
}

/// The text of the first `<name>…</name>` in `body`, unescaped.
pub(crate) fn element(body: &str, name: &str) -> Option<String> {
    let open = format!("<{name}>");
    let close = format!("</{name}>");
    let start = body.find(&open)? + open.len();
    let end = body.get(start..)?.find(&close)? + start;
    Some(unescape(body.get(start..end)?))
}

/// Parses an S3 list document; the error names the document.
pub(crate) fn parse<'a, T: FromXml<'a>>(what: &str, body: &'a str) -> Result<T, String> {
    instant_xml::from_str(body).map_err(|e| format!("malformed {what} document: {e}"))
}

/// The body of `CompleteMultipartUpload` with each part's ETag and, when sent, its CRC32C.
pub(crate) fn complete_body<'a>(
    parts: impl Iterator<Item = (u32, &'a str, Option<&'a str>)>,
) -> String {
    let mut body = String::from("<CompleteMultipartUpload>");
    for (number, etag, crc) in parts {
        body.push_str(&format!(
            "<Part><PartNumber>{number}</PartNumber><ETag>{}</ETag>",
            escape(etag)
        ));
        if let Some(crc) = crc {
            body.push_str(&format!("<ChecksumCRC32C>{}</ChecksumCRC32C>", escape(crc)));
        }
        body.push_str("</Part>");
    }
    body.push_str("</CompleteMultipartUpload>");
    body
}

/// XML text escaping.
pub(crate) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&apos;")
}

/// Reverses [`escape`] (and `&#34;`-style numeric references S3 uses in ETags).
pub(crate) fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&#34;", "\"")
        .replace("&apos;", "'")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the upload list, part list and error documents of S3 decode (FR-69).
    #[test]
    fn documents_decode() {
        let uploads: ListUploads = parse(
            "uploads",
            r#"<?xml version="1.0"?><ListMultipartUploadsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Bucket>b</Bucket><Upload><Key>a/b</Key><UploadId>u1</UploadId></Upload><IsTruncated>false</IsTruncated></ListMultipartUploadsResult>"#,
        )
        .unwrap();
        assert_eq!(uploads.uploads[0].key, "a/b");
        assert_eq!(uploads.uploads[0].upload_id, "u1");
        let parts: ListParts = parse(
            "parts",
            r#"<ListPartsResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Part><PartNumber>2</PartNumber><ETag>&quot;ab&quot;</ETag><Size>5</Size><ChecksumCRC32C>AAAAAA==</ChecksumCRC32C></Part></ListPartsResult>"#,
        )
        .unwrap();
        assert_eq!(parts.parts[0].number, 2);
        assert_eq!(parts.parts[0].etag, "\"ab\"");
        assert_eq!(parts.parts[0].crc32c.as_deref(), Some("AAAAAA=="));
        let (code, message) = error_code_message(
            "<Error><Code>NoSuchUpload</Code><Message>gone &amp; done</Message></Error>",
        );
        assert_eq!(code.as_deref(), Some("NoSuchUpload"));
        assert_eq!(message.as_deref(), Some("gone & done"));
        assert!(parse::<ListParts>("parts", "<nonsense").is_err());
    }

    // Proves the completion body escapes ETags and carries checksums only when sent (FR-69).
    #[test]
    fn completion_body() {
        let body = complete_body([(1, "\"e1\"", Some("c1")), (2, "\"e2\"", None)].into_iter());
        assert_eq!(
            body,
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;e1&quot;</ETag>\
             <ChecksumCRC32C>c1</ChecksumCRC32C></Part><Part><PartNumber>2</PartNumber>\
             <ETag>&quot;e2&quot;</ETag></Part></CompleteMultipartUpload>"
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(2000))]
        // Proves no S3 document, however hostile, panics the parsers (FR-69).
        #[test]
        fn hostile_documents_never_panic(body in ".{0,300}") {
            let _ = parse::<ListUploads>("uploads", &body);
            let _ = parse::<ListParts>("parts", &body);
            let _ = error_code_message(&body);
            proptest::prop_assert_eq!(unescape(&escape(&body)), body.clone());
        }
    }
}
