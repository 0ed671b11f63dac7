//! The sandbox's object storage: signed URLs for artifacts and documents, served with `Range`
//! support and no bearer authentication (like a cloud bucket's signed URLs).

use std::time::{Duration, SystemTime};

use super::http::{Answer, Body, RangeSpec, Req, Resp, parse_range};
use super::signing::{constant_time_eq, sign, unix_secs};
use super::state::Shared;
use crate::util::seg;
use aignostics::models::{ItemTerminationReason, VersionDocumentVisibility};

use super::state::Phase;

/// Storage key of a run's output artifact.
pub(crate) fn artifact_key(run_id: &str, artifact_id: &str) -> String {
    format!("runs/{}/{}", seg(run_id), seg(artifact_id))
}

/// Storage key of a version document.
pub(crate) fn document_key(application_id: &str, version: &str, name: &str) -> String {
    format!(
        "documents/{}/{}/{}",
        seg(application_id),
        seg(version),
        seg(name)
    )
}

fn signature(shared: &Shared, path: &str, expires: &str, disposition: &str) -> String {
    sign(&shared.secret, &[path, expires, disposition])
}

/// A signed URL for `key`, valid for the configured lifetime.
pub(crate) fn signed_url(shared: &Shared, key: &str, disposition: Option<&str>) -> String {
    let path = format!("/storage/{key}");
    let expires = unix_secs(SystemTime::now() + shared.config.signed_url_lifetime).to_string();
    let sig = signature(shared, &path, &expires, disposition.unwrap_or_default());
    let mut url = format!(
        "{}{path}?expires={expires}&signature={sig}",
        shared.base_url
    );
    if let Some(d) = disposition {
        url.push_str("&response-content-disposition=");
        url.push_str(&seg(d));
    }
    url
}

fn storage_error(status: u16, code: &str, message: &str) -> Resp {
    let body = format!(
        "<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    );
    Resp::new(
        status,
        "application/xml; charset=UTF-8",
        Body::Bytes(body.into_bytes()),
    )
}

/// An object found in storage.
enum Object {
    Artifact {
        run_id: String,
        item_id: String,
        artifact_id: String,
        mime_type: String,
        /// The bytes of an Atlas-shaped artifact (else generated content).
        atlas: Option<std::sync::Arc<Vec<u8>>>,
    },
    Document {
        mime_type: String,
        content: Vec<u8>,
    },
}

fn find_object(shared: &Shared, req: &Req) -> Option<Object> {
    let segments: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    match segments.as_slice() {
        ["storage", "runs", run_id, artifact_id] => {
            let state = shared.state.lock();
            let run = state.run(run_id)?;
            if run.artifacts_deleted {
                return None;
            }
            let now = std::time::Instant::now();
            run.items.iter().enumerate().find_map(|(i, item)| {
                let a = item.artifacts.iter().find(|a| a.id == *artifact_id)?;
                let succeeded = matches!(
                    run.phase(i, now),
                    Phase::Done {
                        reason: ItemTerminationReason::Succeeded,
                        ..
                    }
                );
                succeeded.then(|| Object::Artifact {
                    run_id: run.id.clone(),
                    item_id: item.id.clone(),
                    artifact_id: a.id.clone(),
                    mime_type: a.mime_type.clone(),
                    atlas: shared.atlas_bytes(item, a),
                })
            })
        }
        ["storage", "documents", application_id, version, name] => shared
            .catalog()
            .application(application_id)?
            .find_version(version)?
            .documents
            .iter()
            .find(|d| d.name == *name && d.visibility == VersionDocumentVisibility::Public)
            .map(|d| Object::Document {
                mime_type: d.mime_type.clone(),
                content: d.content.clone(),
            }),
        _ => None,
    }
}

/// `GET`/`HEAD /storage/{key}?expires=..&signature=..`.
pub(crate) fn serve(shared: &Shared, req: &Req) -> Answer {
    if req.method != "GET" && req.method != "HEAD" {
        return Err(storage_error(
            405,
            "MethodNotAllowed",
            "Only GET and HEAD are allowed.",
        ));
    }
    let expires = req.query_one("expires").unwrap_or_default();
    let given = req.query_one("signature").unwrap_or_default();
    let disposition = req.query_one("response-content-disposition");
    let expected = signature(shared, &req.path, expires, disposition.unwrap_or_default());
    if given.is_empty() || !constant_time_eq(given, &expected) {
        return Err(storage_error(
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        ));
    }
    let expiry = expires
        .parse::<u64>()
        .map(|s| SystemTime::UNIX_EPOCH + Duration::from_secs(s))
        .map_err(|_| storage_error(400, "InvalidArgument", "Invalid expiration."))?;
    if SystemTime::now() > expiry {
        return Err(storage_error(
            400,
            "ExpiredToken",
            "The provided token has expired.",
        ));
    }
    let object = find_object(shared, req)
        .ok_or_else(|| storage_error(404, "NoSuchKey", "The specified key does not exist."))?;

    let (mime_type, len, crc) = match &object {
        Object::Artifact {
            mime_type,
            atlas: Some(bytes),
            ..
        } => (
            mime_type.clone(),
            bytes.len() as u64,
            crate::util::crc32c_b64(crc32c::crc32c(bytes)),
        ),
        Object::Artifact {
            run_id,
            item_id,
            artifact_id,
            mime_type,
            atlas: None,
        } => (
            mime_type.clone(),
            shared.config.artifact_size,
            shared.checksum(run_id, item_id, artifact_id),
        ),
        Object::Document { mime_type, content } => (
            mime_type.clone(),
            content.len() as u64,
            crate::util::crc32c_b64(crc32c::crc32c(content)),
        ),
    };
    let range = parse_range(req.header("range"), len);
    if range == RangeSpec::Unsatisfiable {
        return Err(storage_error(
            416,
            "InvalidRange",
            "The requested range cannot be satisfied.",
        )
        .header("Content-Range", format!("bytes */{len}")));
    }
    let (status, start, end) = match range {
        RangeSpec::Partial(a, b) => (206, a, b + 1),
        _ => (200, 0, len),
    };
    let body = match object {
        Object::Artifact {
            atlas: Some(bytes), ..
        } => Body::Bytes(bytes[start as usize..end as usize].to_vec()),
        Object::Artifact {
            run_id,
            item_id,
            artifact_id,
            ..
        } => Body::Generated(shared.content(&run_id, &item_id, &artifact_id, start, Some(end))),
        Object::Document { content, .. } => {
            let (s, e) = (
                usize::try_from(start).unwrap_or(0),
                usize::try_from(end).unwrap_or(content.len()),
            );
            Body::Bytes(content[s..e].to_vec())
        }
    };
    let mut resp = Resp::new(status, &mime_type, body)
        .header("Accept-Ranges", "bytes")
        .header("ETag", format!("\"{crc}\""))
        .header("x-goog-hash", format!("crc32c={crc}"))
        .header("Cache-Control", "private, max-age=0");
    if status == 206 {
        resp = resp.header("Content-Range", format!("bytes {start}-{}/{len}", end - 1));
    }
    if let Some(d) = disposition {
        resp = resp.header("Content-Disposition", d);
    }
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves single ranges, suffixes and open ends are honoured and bad ones ignored or refused. (FR-44)
    #[test]
    fn ranges() {
        use RangeSpec::*;
        assert_eq!(parse_range(None, 100), Full);
        assert_eq!(parse_range(Some("bytes=0-9"), 100), Partial(0, 9));
        assert_eq!(parse_range(Some("bytes=90-"), 100), Partial(90, 99));
        assert_eq!(parse_range(Some("bytes=90-500"), 100), Partial(90, 99));
        assert_eq!(parse_range(Some("bytes=-10"), 100), Partial(90, 99));
        assert_eq!(parse_range(Some("bytes=-500"), 100), Partial(0, 99));
        assert_eq!(parse_range(Some("bytes=100-"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=-0"), 100), Unsatisfiable);
        assert_eq!(parse_range(Some("bytes=5-1"), 100), Full);
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), Full);
        assert_eq!(parse_range(Some("items=0-1"), 100), Full);
        assert_eq!(parse_range(Some("bytes=x-1"), 100), Full);
    }
}
