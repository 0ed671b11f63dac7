//! The sandbox's S3-compatible bucket (`/s3/{bucket}/{key}`, path-style), so uploads can be
//! tried end to end without a cloud account. Every request must carry a valid AWS Signature
//! Version 4 for the credentials `/v1/me` hands out, in the `Authorization` header or as a
//! presigned query, and presigned URLs expire.
//!
//! Operations: `PutObject`, `CreateMultipartUpload`, `UploadPart`, `ListParts`,
//! `CompleteMultipartUpload`, `AbortMultipartUpload`, `ListMultipartUploads`, `HeadObject`,
//! `GetObject` (with `Range`), `ListObjectsV2` and `DeleteObject`. `Content-MD5` and
//! `x-amz-checksum-crc32c` of bodies are checked; objects report their CRC32C (whole, or
//! composite `…-N` for multipart uploads with `x-amz-checksum-algorithm: CRC32C`) and their
//! MD5-based ETag.

use crate::util::hex;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use base64::Engine as _;
use md5::{Digest, Md5};
use parking_lot::Mutex;
use sha2::Sha256;

use super::blob::{Blob, Spill, read_across};
use super::http::{Body, RangeSpec, Req, Resp, parse_range};
use crate::util::{parse_rfc3339, rfc3339_millis};

use super::{BUCKET_KEY_ID, BUCKET_NAME, BUCKET_SECRET};
/// The path under the sandbox's base URL where the S3 endpoint lives.
pub(crate) const S3_PATH: &str = "s3";

/// The smallest part S3 accepts (all but the last).
const MIN_PART: u64 = 5 * 1024 * 1024;
/// How far a header-signed request's date may be from the sandbox's clock.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);
/// The longest presigned URL validity SigV4 allows.
const MAX_EXPIRES: u64 = 7 * 24 * 3600;

/// The bucket's objects and in-progress multipart uploads.
#[derive(Debug)]
pub(crate) struct Store {
    inner: Mutex<Inner>,
    /// The most entries one list page holds, whatever the request asks (S3: 1000).
    list_page: usize,
    /// Where the bytes are kept (on disk); `None` keeps only sizes and digests (load tests
    /// with very large files), and `GET` then answers 501. Last, so it goes after the objects.
    spill: Option<Spill>,
}

#[derive(Debug, Default)]
struct Inner {
    objects: BTreeMap<String, Object>,
    uploads: HashMap<String, Upload>,
    next_upload: u64,
}

#[derive(Debug, Clone)]
struct Object {
    /// The object's bytes as stored parts (one for a plain PUT).
    data: Option<Vec<Arc<Blob>>>,
    size: u64,
    etag: String,
    /// `x-amz-checksum-crc32c` as reported: whole, or composite `…-N`.
    crc: String,
    meta: Vec<(String, String)>,
    modified: SystemTime,
}

#[derive(Debug)]
struct Upload {
    key: String,
    meta: Vec<(String, String)>,
    crc32c: bool,
    initiated: SystemTime,
    parts: BTreeMap<u32, Part>,
}

#[derive(Debug, Clone)]
struct Part {
    data: Option<Arc<Blob>>,
    size: u64,
    md5: [u8; 16],
    crc: u32,
    modified: SystemTime,
}

impl Store {
    pub(crate) fn new(keep_bytes: bool, list_page: usize) -> std::io::Result<Self> {
        Ok(Store {
            inner: Mutex::new(Inner::default()),
            list_page: list_page.clamp(1, 1000),
            spill: keep_bytes.then(Spill::new).transpose()?,
        })
    }

    /// Keeps `bytes` (when bytes are kept at all), or the 500 answer of a failed write.
    fn keep(&self, bytes: &[u8]) -> Result<Option<Arc<Blob>>, Resp> {
        match &self.spill {
            Some(spill) => spill.store(bytes).map(|b| Some(Arc::new(b))).map_err(|e| {
                error(
                    500,
                    "InternalError",
                    &format!("the sandbox could not store the bytes: {e}"),
                )
            }),
            None => Ok(None),
        }
    }
}

/// An S3 error document.
fn error(status: u16, code: &str, message: &str) -> Resp {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{}</Message></Error>",
        esc(message)
    );
    Resp::new(status, "application/xml", Body::Bytes(body.into_bytes()))
}

fn xml(body: String) -> Resp {
    Resp::new(
        200,
        "application/xml",
        Body::Bytes(format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{body}").into_bytes()),
    )
}

const NS: &str = "xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"";

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// Answers a request under `/s3/…`.
pub(crate) fn serve(store: &Store, req: &Req) -> Resp {
    if let Err(resp) = authenticate(req, SystemTime::now()) {
        return resp;
    }
    let body = match decode_body(req) {
        Ok(b) => b,
        Err(resp) => return resp,
    };
    // Segments after `s3`: the bucket, then the key (which may hold `/`).
    let bucket = req.segments.get(1).map(String::as_str).unwrap_or("");
    if bucket != BUCKET_NAME {
        return error(404, "NoSuchBucket", "The specified bucket does not exist");
    }
    let key = key_of(req);
    let q = |name: &str| {
        query(req)
            .into_iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    };
    let has = |name: &str| query(req).iter().any(|(k, _)| k == name);
    match (req.method.as_str(), key.is_empty()) {
        ("GET", true) if has("uploads") => list_uploads(
            store,
            q("prefix").unwrap_or_default(),
            q("key-marker").zip(q("upload-id-marker")),
            q("max-uploads")
                .and_then(|m| m.parse().ok())
                .unwrap_or(1000)
                .min(store.list_page),
        ),
        ("GET", true) => list_objects(store, req),
        ("PUT", false) if has("uploadId") => upload_part(store, req, &key, &body),
        ("PUT", false) => put_object(store, req, &key, body.into_owned()),
        ("POST", false) if has("uploads") => create_upload(store, req, &key),
        ("POST", false) if has("uploadId") => {
            complete(store, &key, &q("uploadId").unwrap_or_default(), &body)
        }
        ("GET", false) if has("uploadId") => {
            list_parts(store, &key, &q("uploadId").unwrap_or_default())
        }
        ("DELETE", false) if has("uploadId") => {
            let id = q("uploadId").unwrap_or_default();
            let mut inner = store.inner.lock();
            match inner.uploads.get(&id) {
                Some(u) if u.key == key => {
                    inner.uploads.remove(&id);
                    Resp::new(204, "application/xml", Body::Bytes(Vec::new()))
                }
                _ => no_such_upload(),
            }
        }
        ("HEAD", false) | ("GET", false) => get_object(store, req, &key),
        ("DELETE", false) => {
            store.inner.lock().objects.remove(&key);
            Resp::new(204, "application/xml", Body::Bytes(Vec::new()))
        }
        _ => error(405, "MethodNotAllowed", "The method is not allowed here"),
    }
}

/// The object key: the path after `/s3/{bucket}/`, percent-decoded.
fn key_of(req: &Req) -> String {
    let prefix = format!("/{S3_PATH}/{BUCKET_NAME}/");
    let raw = req.path.strip_prefix(&prefix).unwrap_or("");
    percent_encoding::percent_decode_str(raw)
        .decode_utf8_lossy()
        .into_owned()
}

/// Query pairs, percent-decoded (no `+` as space: S3 clients encode spaces as `%20`).
fn query(req: &Req) -> Vec<(String, String)> {
    super::http::decode_pairs(&req.raw_query, false)
}

/// The payload: as sent, or decoded from `aws-chunked` framing (with unsigned trailers, as
/// recent AWS SDKs send checksums).
fn decode_body(req: &Req) -> Result<std::borrow::Cow<'_, [u8]>, Resp> {
    let chunked = req
        .header("content-encoding")
        .is_some_and(|e| e.split(',').any(|p| p.trim() == "aws-chunked"))
        || req
            .header("x-amz-content-sha256")
            .is_some_and(|h| h.starts_with("STREAMING-"));
    if !chunked {
        return Ok(std::borrow::Cow::Borrowed(&req.body));
    }
    let bad = || error(400, "IncompleteBody", "malformed aws-chunked body");
    let mut out = Vec::new();
    let mut rest = req.body.as_slice();
    loop {
        // Chunk sizes as `httparse` reads them (hex digits only, extensions allowed).
        let (line_len, size) = match httparse::parse_chunk_size(rest) {
            Ok(httparse::Status::Complete(found)) => found,
            Ok(httparse::Status::Partial) | Err(_) => return Err(bad()),
        };
        rest = &rest[line_len..];
        if size == 0 {
            return Ok(std::borrow::Cow::Owned(out));
        }
        let size = usize::try_from(size).map_err(|_| bad())?;
        let (data, after) = rest.split_at_checked(size).ok_or_else(bad)?;
        rest = after.strip_prefix(b"\r\n").ok_or_else(bad)?;
        out.extend_from_slice(data);
    }
}

/// Checks the request's SigV4 signature (header or presigned query) and its validity time.
fn authenticate(req: &Req, now: SystemTime) -> Result<(), Resp> {
    let denied = |code: &str, msg: &str| Err(error(403, code, msg));
    let pairs = query(req);
    let get = |name: &str| {
        pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let (credential, signed_headers, signature, amz_date, payload, presigned) =
        if let Some(sig) = get("X-Amz-Signature") {
            if get("X-Amz-Algorithm").as_deref() != Some("AWS4-HMAC-SHA256") {
                return Err(error(
                    400,
                    "AuthorizationQueryParametersError",
                    "X-Amz-Algorithm must be AWS4-HMAC-SHA256",
                ));
            }
            let (Some(cred), Some(sh), Some(date)) = (
                get("X-Amz-Credential"),
                get("X-Amz-SignedHeaders"),
                get("X-Amz-Date"),
            ) else {
                return Err(error(
                    400,
                    "AuthorizationQueryParametersError",
                    "a presigned URL needs X-Amz-Credential, X-Amz-SignedHeaders and X-Amz-Date",
                ));
            };
            let expires: u64 = match get("X-Amz-Expires").and_then(|e| e.parse().ok()) {
                Some(e) if (1..=MAX_EXPIRES).contains(&e) => e,
                _ => {
                    return Err(error(
                        400,
                        "AuthorizationQueryParametersError",
                        "X-Amz-Expires must be between 1 and 604800 seconds",
                    ));
                }
            };
            let Some(signed_at) = amz_time(&date) else {
                return denied("AccessDenied", "X-Amz-Date is not a valid date");
            };
            if now > signed_at + Duration::from_secs(expires) {
                return denied("AccessDenied", "Request has expired");
            }
            if signed_at > now + MAX_SKEW {
                return denied("AccessDenied", "Request is not valid yet");
            }
            (cred, sh, sig, date, "UNSIGNED-PAYLOAD".to_string(), true)
        } else if let Some(auth) = req.header("authorization") {
            let Some(fields) = auth.strip_prefix("AWS4-HMAC-SHA256 ") else {
                return denied(
                    "AccessDenied",
                    "only AWS4-HMAC-SHA256 signatures are accepted",
                );
            };
            let field = |name: &str| {
                fields.split(',').find_map(|f| {
                    f.trim()
                        .strip_prefix(name)
                        .and_then(|v| v.strip_prefix('='))
                        .map(str::to_string)
                })
            };
            let (Some(cred), Some(sh), Some(sig)) = (
                field("Credential"),
                field("SignedHeaders"),
                field("Signature"),
            ) else {
                return denied("AccessDenied", "malformed Authorization header");
            };
            let Some(date) = req.header("x-amz-date").map(str::to_string) else {
                return denied("AccessDenied", "x-amz-date is missing");
            };
            let Some(signed_at) = amz_time(&date) else {
                return denied("AccessDenied", "x-amz-date is not a valid date");
            };
            let skew = now
                .duration_since(signed_at)
                .or_else(|_| signed_at.duration_since(now))
                .unwrap_or_default();
            if skew > MAX_SKEW {
                return denied(
                    "RequestTimeTooSkewed",
                    "The difference between the request time and the current time is too large",
                );
            }
            let payload = req
                .header("x-amz-content-sha256")
                .unwrap_or("UNSIGNED-PAYLOAD")
                .to_string();
            if !payload.starts_with("STREAMING-") && payload != "UNSIGNED-PAYLOAD" {
                let actual = hex(&Sha256::digest(&req.body));
                if !actual.eq_ignore_ascii_case(&payload) {
                    return Err(error(
                        400,
                        "XAmzContentSHA256Mismatch",
                        "The provided x-amz-content-sha256 does not match the body",
                    ));
                }
            }
            (cred, sh, sig, date, payload, false)
        } else {
            return denied("AccessDenied", "the request is not signed");
        };
    let scope: Vec<&str> = credential.split('/').collect();
    let [key_id, day, region, service, "aws4_request"] = scope.as_slice() else {
        return denied("AccessDenied", "malformed credential scope");
    };
    if *key_id != BUCKET_KEY_ID {
        return denied(
            "InvalidAccessKeyId",
            "The access key id you provided does not exist in our records",
        );
    }
    if !amz_date.starts_with(day) || *service != "s3" {
        return denied(
            "AccessDenied",
            "the credential scope does not match the request",
        );
    }
    let canonical = canonical_request(req, &pairs, &signed_headers, &payload, presigned);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{day}/{region}/s3/aws4_request\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let expected = signature_of(BUCKET_SECRET, day, region, &string_to_sign);
    let same = expected.len() == signature.len()
        && expected
            .bytes()
            .zip(signature.bytes())
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !same {
        return denied(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided",
        );
    }
    Ok(())
}

/// `20261201T101500Z` as a time.
fn amz_time(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    parse_rfc3339(&format!(
        "{}-{}-{}T{}:{}:{}Z",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13],
        &s[13..15]
    ))
}

/// SigV4's canonical request of `req`.
fn canonical_request(
    req: &Req,
    pairs: &[(String, String)],
    signed_headers: &str,
    payload: &str,
    presigned: bool,
) -> String {
    let mut params: Vec<(String, String)> = pairs
        .iter()
        .filter(|(k, _)| !(presigned && k == "X-Amz-Signature"))
        .map(|(k, v)| (uri_encode(k), uri_encode(v)))
        .collect();
    params.sort();
    let query = params
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let mut headers = String::new();
    for name in signed_headers.split(';') {
        let values: Vec<String> = req
            .headers
            .iter()
            .filter(|(k, _)| k == name)
            .map(|(_, v)| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    format!(
        "{}\n{}\n{query}\n{headers}\n{signed_headers}\n{payload}",
        req.method, req.path
    )
}

/// RFC 3986 encoding as SigV4 wants it: everything but unreserved characters.
fn uri_encode(s: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    percent_encoding::utf8_percent_encode(s, SET).to_string()
}

/// The hex signature of `string_to_sign` with the key derived from `secret`.
fn signature_of(secret: &str, day: &str, region: &str, string_to_sign: &str) -> String {
    use ring::hmac;
    let step = |key: &[u8], data: &str| {
        hmac::sign(&hmac::Key::new(hmac::HMAC_SHA256, key), data.as_bytes())
            .as_ref()
            .to_vec()
    };
    let k = step(format!("AWS4{secret}").as_bytes(), day);
    let k = step(&k, region);
    let k = step(&k, "s3");
    let k = step(&k, "aws4_request");
    hex(&step(&k, string_to_sign))
}

/// Checks `Content-MD5` and `x-amz-checksum-crc32c` of `body`; its MD5 and CRC32C.
fn check_body(req: &Req, body: &[u8]) -> Result<([u8; 16], u32), Resp> {
    let md5: [u8; 16] = Md5::digest(body).into();
    let crc = crc32c::crc32c(body);
    if let Some(sent) = req.header("content-md5")
        && sent.trim() != b64(&md5)
    {
        return Err(error(
            400,
            "BadDigest",
            "The Content-MD5 you specified did not match what we received",
        ));
    }
    if let Some(sent) = req.header("x-amz-checksum-crc32c")
        && sent.trim() != b64(&crc.to_be_bytes())
    {
        return Err(error(
            400,
            "BadDigest",
            "The CRC32C you specified did not match the calculated checksum",
        ));
    }
    Ok((md5, crc))
}

/// `x-amz-meta-*` headers of the request.
fn meta_of(req: &Req) -> Vec<(String, String)> {
    req.headers
        .iter()
        .filter(|(k, _)| k.starts_with("x-amz-meta-"))
        .cloned()
        .collect()
}

fn put_object(store: &Store, req: &Req, key: &str, body: Vec<u8>) -> Resp {
    let (md5, crc) = match check_body(req, &body) {
        Ok(d) => d,
        Err(r) => return r,
    };
    let size = body.len() as u64;
    let data = match store.keep(&body) {
        Ok(data) => data.map(|blob| vec![blob]),
        Err(r) => return r,
    };
    let object = Object {
        data,
        size,
        etag: format!("\"{}\"", hex(&md5)),
        crc: b64(&crc.to_be_bytes()),
        meta: meta_of(req),
        modified: SystemTime::now(),
    };
    let etag = object.etag.clone();
    store.inner.lock().objects.insert(key.to_string(), object);
    Resp::new(200, "application/xml", Body::Bytes(Vec::new()))
        .header("ETag", etag)
        .header("x-amz-checksum-crc32c", b64(&crc.to_be_bytes()))
}

fn create_upload(store: &Store, req: &Req, key: &str) -> Resp {
    let mut inner = store.inner.lock();
    inner.next_upload += 1;
    let id = format!(
        "sandbox-upload-{}-{}",
        inner.next_upload,
        super::ids::random_hex(8)
    );
    inner.uploads.insert(
        id.clone(),
        Upload {
            key: key.to_string(),
            meta: meta_of(req),
            crc32c: req
                .header("x-amz-checksum-algorithm")
                .is_some_and(|a| a.eq_ignore_ascii_case("CRC32C")),
            initiated: SystemTime::now(),
            parts: BTreeMap::new(),
        },
    );
    xml(format!(
        "<InitiateMultipartUploadResult {NS}><Bucket>{BUCKET_NAME}</Bucket><Key>{}</Key><UploadId>{id}</UploadId></InitiateMultipartUploadResult>",
        esc(key)
    ))
}

fn no_such_upload() -> Resp {
    error(
        404,
        "NoSuchUpload",
        "The specified multipart upload does not exist",
    )
}

fn upload_part(store: &Store, req: &Req, key: &str, body: &[u8]) -> Resp {
    let pairs = query(req);
    let get = |n: &str| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let id = get("uploadId").unwrap_or_default();
    let number: u32 = match get("partNumber").and_then(|n| n.parse().ok()) {
        Some(n) if (1..=10_000).contains(&n) => n,
        _ => {
            return error(
                400,
                "InvalidArgument",
                "Part number must be an integer between 1 and 10000",
            );
        }
    };
    let (md5, crc) = match check_body(req, body) {
        Ok(d) => d,
        Err(r) => return r,
    };
    // Written before the lock is taken: other requests go on meanwhile.
    let data = match store.keep(body) {
        Ok(data) => data,
        Err(r) => return r,
    };
    let mut inner = store.inner.lock();
    let Some(upload) = inner.uploads.get_mut(id).filter(|u| u.key == key) else {
        return no_such_upload();
    };
    upload.parts.insert(
        number,
        Part {
            data,
            size: body.len() as u64,
            md5,
            crc,
            modified: SystemTime::now(),
        },
    );
    let mut resp = Resp::new(200, "application/xml", Body::Bytes(Vec::new()))
        .header("ETag", format!("\"{}\"", hex(&md5)));
    if upload.crc32c {
        resp = resp.header("x-amz-checksum-crc32c", b64(&crc.to_be_bytes()));
    }
    resp
}

fn list_parts(store: &Store, key: &str, id: &str) -> Resp {
    let inner = store.inner.lock();
    let Some(upload) = inner.uploads.get(id).filter(|u| u.key == key) else {
        return no_such_upload();
    };
    let mut body = format!(
        "<ListPartsResult {NS}><Bucket>{BUCKET_NAME}</Bucket><Key>{}</Key><UploadId>{id}</UploadId><MaxParts>10000</MaxParts><IsTruncated>false</IsTruncated>",
        esc(key)
    );
    for (n, p) in &upload.parts {
        body.push_str(&format!(
            "<Part><PartNumber>{n}</PartNumber><LastModified>{}</LastModified><ETag>&quot;{}&quot;</ETag><Size>{}</Size>",
            rfc3339_millis(p.modified),
            hex(&p.md5),
            p.size
        ));
        if upload.crc32c {
            body.push_str(&format!(
                "<ChecksumCRC32C>{}</ChecksumCRC32C>",
                b64(&p.crc.to_be_bytes())
            ));
        }
        body.push_str("</Part>");
    }
    body.push_str("</ListPartsResult>");
    xml(body)
}

/// `ListMultipartUploads`: oldest first within a key, `max` a page, resumed after the
/// `(key, upload id)` markers of the previous page.
fn list_uploads(
    store: &Store,
    prefix: String,
    after: Option<(String, String)>,
    max: usize,
) -> Resp {
    let inner = store.inner.lock();
    let mut uploads: Vec<(&String, &Upload)> = inner
        .uploads
        .iter()
        .filter(|(_, u)| u.key.starts_with(&prefix))
        .collect();
    uploads.sort_by(|a, b| (&a.1.key, a.1.initiated, a.0).cmp(&(&b.1.key, b.1.initiated, b.0)));
    let start = after.map_or(0, |(key, id)| {
        uploads
            .iter()
            .position(|(i, u)| u.key == key && **i == id)
            .map_or_else(
                || uploads.iter().take_while(|(_, u)| u.key <= key).count(),
                |p| p + 1,
            )
    });
    let page: Vec<_> = uploads.iter().skip(start).take(max.max(1)).collect();
    let truncated = start + page.len() < uploads.len();
    let mut body = format!(
        "<ListMultipartUploadsResult {NS}><Bucket>{BUCKET_NAME}</Bucket><Prefix>{}</Prefix><IsTruncated>{truncated}</IsTruncated>",
        esc(&prefix)
    );
    if let (true, Some((id, u))) = (truncated, page.last()) {
        body.push_str(&format!(
            "<NextKeyMarker>{}</NextKeyMarker><NextUploadIdMarker>{id}</NextUploadIdMarker>",
            esc(&u.key)
        ));
    }
    for (id, u) in page {
        body.push_str(&format!(
            "<Upload><Key>{}</Key><UploadId>{id}</UploadId><Initiated>{}</Initiated></Upload>",
            esc(&u.key),
            rfc3339_millis(u.initiated)
        ));
    }
    body.push_str("</ListMultipartUploadsResult>");
    xml(body)
}

/// The `(PartNumber, ETag)` pairs of a `CompleteMultipartUpload` body.
fn completion_parts(body: &str) -> Option<Vec<(u32, String)>> {
    let mut out = Vec::new();
    let mut rest = body;
    while let Some(start) = rest.find("<Part>") {
        let end = rest[start..].find("</Part>")? + start;
        let part = &rest[start..end];
        let field = |name: &str| {
            let open = format!("<{name}>");
            let s = part.find(&open)? + open.len();
            let e = part[s..].find(&format!("</{name}>"))? + s;
            Some(part[s..e].trim().to_string())
        };
        let number = field("PartNumber")?.parse().ok()?;
        let etag = field("ETag")?
            .replace("&quot;", "\"")
            .replace("&#34;", "\"")
            .trim_matches('"')
            .to_string();
        out.push((number, etag));
        rest = &rest[end + "</Part>".len()..];
    }
    Some(out)
}

fn complete(store: &Store, key: &str, id: &str, body: &[u8]) -> Resp {
    let text = String::from_utf8_lossy(body);
    let Some(listed) = completion_parts(&text).filter(|p| !p.is_empty()) else {
        return error(
            400,
            "MalformedXML",
            "The XML you provided was not well-formed",
        );
    };
    let mut inner = store.inner.lock();
    let Some(upload) = inner.uploads.get(id).filter(|u| u.key == key) else {
        return no_such_upload();
    };
    if listed.windows(2).any(|w| w[0].0 >= w[1].0) {
        return error(
            400,
            "InvalidPartOrder",
            "The list of parts was not in ascending order",
        );
    }
    let mut parts = Vec::new();
    for (i, (n, etag)) in listed.iter().enumerate() {
        let Some(p) = upload.parts.get(n).filter(|p| hex(&p.md5) == *etag) else {
            return error(
                400,
                "InvalidPart",
                "One or more of the specified parts could not be found",
            );
        };
        if i + 1 < listed.len() && p.size < MIN_PART {
            return error(
                400,
                "EntityTooSmall",
                "Your proposed upload is smaller than the minimum allowed object size",
            );
        }
        parts.push(p.clone());
    }
    let mut md5s = Md5::new();
    let mut crcs = Vec::new();
    for p in &parts {
        md5s.update(p.md5);
        crcs.extend_from_slice(&p.crc.to_be_bytes());
    }
    let etag = format!("\"{}-{}\"", hex(&md5s.finalize()), parts.len());
    let object = Object {
        data: store
            .spill
            .is_some()
            .then(|| parts.iter().filter_map(|p| p.data.clone()).collect()),
        size: parts.iter().map(|p| p.size).sum(),
        etag: etag.clone(),
        crc: if upload.crc32c {
            format!(
                "{}-{}",
                b64(&crc32c::crc32c(&crcs).to_be_bytes()),
                parts.len()
            )
        } else {
            String::new()
        },
        meta: upload.meta.clone(),
        modified: SystemTime::now(),
    };
    inner.uploads.remove(id);
    inner.objects.insert(key.to_string(), object);
    xml(format!(
        "<CompleteMultipartUploadResult {NS}><Bucket>{BUCKET_NAME}</Bucket><Key>{}</Key><ETag>{}</ETag></CompleteMultipartUploadResult>",
        esc(key),
        esc(&etag)
    ))
}

fn get_object(store: &Store, req: &Req, key: &str) -> Resp {
    let Some(object) = store.inner.lock().objects.get(key).cloned() else {
        return if req.method == "HEAD" {
            Resp::new(404, "application/xml", Body::Bytes(Vec::new()))
        } else {
            error(404, "NoSuchKey", "The specified key does not exist.")
        };
    };
    let head = |mut r: Resp| {
        r = r
            .header("ETag", object.etag.clone())
            .header("Last-Modified", rfc3339_millis(object.modified))
            .header("Accept-Ranges", "bytes");
        if !object.crc.is_empty()
            && req
                .header("x-amz-checksum-mode")
                .is_some_and(|m| m.eq_ignore_ascii_case("ENABLED"))
        {
            r = r.header("x-amz-checksum-crc32c", object.crc.clone());
        }
        for (k, v) in &object.meta {
            r = r.header(k, v.clone());
        }
        r
    };
    if req.method == "HEAD" {
        // The length is announced; the server sends no body for HEAD.
        let length = super::content::Generated::new(0, 0, object.size);
        return head(Resp::new(
            200,
            "application/octet-stream",
            Body::Generated(length),
        ));
    }
    let Some(data) = &object.data else {
        return error(
            501,
            "NotImplemented",
            "this sandbox keeps only the digests of objects",
        );
    };
    let (start, end) = match parse_range(req.header("range"), object.size) {
        RangeSpec::Full => (0, object.size),
        RangeSpec::Partial(first, last) => (first, last + 1),
        RangeSpec::Unsatisfiable => {
            return error(
                416,
                "InvalidRange",
                "The requested range is not satisfiable",
            );
        }
    };
    let reader = match read_across(data, start, end) {
        Ok(reader) => reader,
        Err(e) => {
            return error(
                500,
                "InternalError",
                &format!("the sandbox could not read the bytes: {e}"),
            );
        }
    };
    let status = if req.header("range").is_some() {
        206
    } else {
        200
    };
    let mut r = head(Resp::new(
        status,
        "application/octet-stream",
        Body::Stream {
            reader,
            len: end - start,
        },
    ));
    if status == 206 {
        r = r.header(
            "Content-Range",
            format!("bytes {start}-{}/{}", end.saturating_sub(1), object.size),
        );
    }
    r
}

fn list_objects(store: &Store, req: &Req) -> Resp {
    let pairs = query(req);
    let get = |n: &str| pairs.iter().find(|(k, _)| k == n).map(|(_, v)| v.clone());
    let prefix = get("prefix").unwrap_or_default();
    let max: usize = get("max-keys")
        .and_then(|m| m.parse().ok())
        .unwrap_or(1000)
        .clamp(1, store.list_page);
    let after = get("continuation-token").or_else(|| get("start-after"));
    let inner = store.inner.lock();
    let mut keys = inner
        .objects
        .range(prefix.clone()..)
        .take_while(|(k, _)| k.starts_with(&prefix))
        .filter(|(k, _)| after.as_ref().is_none_or(|a| k.as_str() > a.as_str()));
    let mut body = format!(
        "<ListBucketResult {NS}><Name>{BUCKET_NAME}</Name><Prefix>{}</Prefix><MaxKeys>{max}</MaxKeys>",
        esc(&prefix)
    );
    let mut last = None;
    let mut count = 0;
    for (k, o) in keys.by_ref().take(max) {
        count += 1;
        body.push_str(&format!(
            "<Contents><Key>{}</Key><LastModified>{}</LastModified><ETag>{}</ETag><Size>{}</Size><StorageClass>STANDARD</StorageClass></Contents>",
            esc(k),
            rfc3339_millis(o.modified),
            esc(&o.etag),
            o.size
        ));
        last = Some(k.clone());
    }
    let truncated = keys.next().is_some();
    body.push_str(&format!(
        "<KeyCount>{count}</KeyCount><IsTruncated>{truncated}</IsTruncated>"
    ));
    if let (true, Some(last)) = (truncated, last) {
        body.push_str(&format!(
            "<NextContinuationToken>{}</NextContinuationToken>",
            esc(&last)
        ));
    }
    body.push_str("</ListBucketResult>");
    xml(body)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusty_s3::S3Action;

    fn bucket() -> (rusty_s3::Bucket, rusty_s3::Credentials) {
        (
            rusty_s3::Bucket::new(
                url::Url::parse("http://127.0.0.1:1/s3").unwrap(),
                rusty_s3::UrlStyle::Path,
                BUCKET_NAME,
                "us-east-1",
            )
            .unwrap(),
            rusty_s3::Credentials::new(BUCKET_KEY_ID, BUCKET_SECRET),
        )
    }

    fn req_of(method: &str, url: &url::Url, headers: Vec<(String, String)>) -> Req {
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_string(),
        };
        let mut headers = headers;
        headers.push(("host".into(), "127.0.0.1:1".into()));
        Req::new(method, &target, headers, Vec::new())
    }

    // Proves presigned URLs from rusty-s3 verify, and that a changed path, a changed signed
    // header, another secret or an expired URL are refused (FR-72).
    #[test]
    fn presigned_urls_verify_and_expire() {
        let (b, c) = bucket();
        let mut action = rusty_s3::actions::PutObject::new(&b, Some(&c), "a b/c+d.svs");
        action.headers_mut().insert("x-amz-meta-crc32c", "AAAAAA==");
        let url = action.sign(Duration::from_secs(60));
        let meta = vec![("x-amz-meta-crc32c".to_string(), "AAAAAA==".to_string())];
        let now = SystemTime::now();
        assert!(authenticate(&req_of("PUT", &url, meta.clone()), now).is_ok());
        let tampered = vec![("x-amz-meta-crc32c".to_string(), "BBBBBB==".to_string())];
        assert!(authenticate(&req_of("PUT", &url, tampered), now).is_err());
        assert!(authenticate(&req_of("GET", &url, meta.clone()), now).is_err());
        let mut other = url.clone();
        other.set_path("/s3/sandbox-bucket/other");
        assert!(authenticate(&req_of("PUT", &other, meta.clone()), now).is_err());
        let later = now + Duration::from_secs(61);
        let expired = authenticate(&req_of("PUT", &url, meta.clone()), later).unwrap_err();
        assert_eq!(expired.status, 403);
        let wrong = rusty_s3::Credentials::new(BUCKET_KEY_ID, "not-the-secret");
        let url =
            rusty_s3::actions::GetObject::new(&b, Some(&wrong), "k").sign(Duration::from_secs(60));
        assert!(authenticate(&req_of("GET", &url, vec![]), now).is_err());
        let unsigned = req_of(
            "GET",
            &url::Url::parse("http://127.0.0.1:1/s3/sandbox-bucket/k").unwrap(),
            vec![],
        );
        assert_eq!(authenticate(&unsigned, now).unwrap_err().status, 403);
    }

    // Proves header-signed requests (the AWS SDKs' form) verify with the payload hash checked,
    // and that the canonicalisation reproduces the AWS documentation's example (FR-72).
    #[test]
    fn header_signatures_verify() {
        let now = SystemTime::now();
        let date = jiff::Timestamp::try_from(now)
            .unwrap()
            .strftime("%Y%m%dT%H%M%SZ")
            .to_string();
        let day = &date[..8];
        let body = b"hello".to_vec();
        let payload = hex(&Sha256::digest(&body));
        let mut headers = vec![
            ("host".to_string(), "127.0.0.1:1".to_string()),
            ("x-amz-content-sha256".to_string(), payload.clone()),
            ("x-amz-date".to_string(), date.clone()),
        ];
        let req = Req::new(
            "PUT",
            "/s3/sandbox-bucket/k?uploads",
            headers.clone(),
            body.clone(),
        );
        let signed = "host;x-amz-content-sha256;x-amz-date";
        let canonical = canonical_request(&req, &query(&req), signed, &payload, false);
        assert!(canonical.contains("\nuploads=\n"), "{canonical}");
        let sts = format!(
            "AWS4-HMAC-SHA256\n{date}\n{day}/us-east-1/s3/aws4_request\n{}",
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        let sig = signature_of(BUCKET_SECRET, day, "us-east-1", &sts);
        headers.push((
            "authorization".into(),
            format!("AWS4-HMAC-SHA256 Credential={BUCKET_KEY_ID}/{day}/us-east-1/s3/aws4_request, SignedHeaders={signed}, Signature={sig}"),
        ));
        let ok = Req::new("PUT", "/s3/sandbox-bucket/k?uploads", headers.clone(), body);
        assert!(authenticate(&ok, now).is_ok());
        let changed = Req::new(
            "PUT",
            "/s3/sandbox-bucket/k?uploads",
            headers.clone(),
            b"HELLO".to_vec(),
        );
        assert_eq!(authenticate(&changed, now).unwrap_err().status, 400);
        let skewed = now + Duration::from_secs(3600);
        assert!(authenticate(&ok, skewed).is_err());
        // The presigned-URL example of the AWS documentation, verified from scratch.
        let aws = Req::new(
            "GET",
            "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404",
            vec![("host".into(), "examplebucket.s3.amazonaws.com".into())],
            Vec::new(),
        );
        let canonical = canonical_request(&aws, &query(&aws), "host", "UNSIGNED-PAYLOAD", true);
        let sts = format!(
            "AWS4-HMAC-SHA256\n20130524T000000Z\n20130524/us-east-1/s3/aws4_request\n{}",
            hex(&Sha256::digest(canonical.as_bytes()))
        );
        assert_eq!(
            signature_of(
                "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                "20130524",
                "us-east-1",
                &sts
            ),
            "aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404"
        );
    }

    // Proves ranges, completion bodies and aws-chunked bodies parse (an overflowing or
    // signed chunk size or a chunk without its CRLF is refused), and bodies whose
    // Content-MD5 or CRC32C do not match are refused (FR-72).
    #[test]
    fn parsers() {
        let parts = completion_parts("<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;ab&quot;</ETag></Part></CompleteMultipartUpload>").unwrap();
        assert_eq!(parts, vec![(1, "ab".to_string())]);
        let chunked = Req::new(
            "PUT",
            "/s3/b/k",
            vec![("content-encoding".into(), "aws-chunked".into())],
            b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:AAAA\r\n\r\n".to_vec(),
        );
        assert_eq!(&*decode_body(&chunked).unwrap(), b"hello");
        // Sizes that overflow, a signed size, data without its CRLF: refused, never a panic.
        for body in [
            &b"ffffffffffffffff\r\nhello\r\n0\r\n\r\n"[..],
            b"fffffffffffffffff\r\n",
            b"+5\r\nhello\r\n0\r\n\r\n",
            b"5\r\nhelloXX0\r\n\r\n",
            b"5;chunk-signature=ab\r\nhel",
        ] {
            let req = Req::new(
                "PUT",
                "/s3/b/k",
                vec![("content-encoding".into(), "aws-chunked".into())],
                body.to_vec(),
            );
            assert!(
                decode_body(&req).is_err(),
                "{:?}",
                String::from_utf8_lossy(body)
            );
        }
        let md5 = b64(&Md5::digest(b"data"));
        let crc = b64(&crc32c::crc32c(b"data").to_be_bytes());
        let sent = |name: &str, value: &str| {
            Req::new(
                "PUT",
                "/s3/b/k",
                vec![(name.into(), value.into())],
                Vec::new(),
            )
        };
        assert!(check_body(&sent("content-md5", &md5), b"data").is_ok());
        assert!(check_body(&sent("x-amz-checksum-crc32c", &crc), b"data").is_ok());
        assert_eq!(
            check_body(&sent("content-md5", &md5), b"DATA")
                .unwrap_err()
                .status,
            400
        );
        assert_eq!(
            check_body(&sent("x-amz-checksum-crc32c", &crc), b"DATA")
                .unwrap_err()
                .status,
            400
        );
    }

    proptest::proptest! {
        #![proptest_config(proptest::test_runner::Config::with_cases(2000))]
        // Proves no request line, header or body, however hostile, panics the verifier or the
        // parsers (FR-72).
        #[test]
        fn hostile_requests_never_panic(target in "/[ -~]{0,80}", auth in "[ -~]{0,120}", body in proptest::collection::vec(proptest::num::u8::ANY, 0..200), range in "[ -~]{0,20}") {
            let req = Req::new("PUT", &target, vec![
                ("authorization".into(), auth.clone()),
                ("x-amz-date".into(), "20260101T000000Z".into()),
                ("content-encoding".into(), "aws-chunked".into()),
            ], body.clone());
            let _ = authenticate(&req, SystemTime::now());
            let _ = decode_body(&req);
            let _ = completion_parts(&String::from_utf8_lossy(&body));
            let _ = parse_range(Some(&range), 1000);
            let _ = amz_time(&auth);
        }
    }
}
