//! Listing, inspecting, downloading and deleting objects, and the multipart-upload lookups a
//! resumed upload needs.

use std::io::Write;
use std::path::Path;

use rusty_s3::S3Action;
use rusty_s3::actions::{DeleteObject, GetObject, HeadObject, ListObjectsV2};

use super::upload::Head;
use super::{Bucket, REQUEST_VALIDITY, Req, check_key, xml};
use crate::error::{Error, Result};

/// One object listed by [`Bucket::list`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ObjectInfo {
    /// The object's key.
    pub key: String,
    /// Its size in bytes.
    pub size: u64,
    /// When it was last modified (RFC 3339, as the store sent it).
    pub last_modified: Option<String>,
    /// Its ETag, without quotes.
    pub etag: Option<String>,
}

impl Bucket {
    /// Every object whose key starts with `prefix` (all pages), in key order.
    ///
    /// # Errors
    /// [`Error::Api`] with the store's error code, or a transport error.
    pub fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let mut action = ListObjectsV2::new(&self.inner, Some(&self.credentials));
            if !prefix.is_empty() {
                action.with_prefix(prefix);
            }
            if let Some(t) = &token {
                action.with_continuation_token(t.clone());
            }
            let resp = self.request(
                "bucket_list_objects",
                Req::new("GET", action.sign(REQUEST_VALIDITY)),
            )?;
            let text = resp.text();
            let page =
                ListObjectsV2::parse_response(&text).map_err(|e| Error::UnexpectedResponse {
                    operation: "bucket_list_objects".into(),
                    message: format!("malformed object list: {e}"),
                })?;
            out.extend(page.contents.into_iter().map(|c| ObjectInfo {
                key: c.key,
                size: c.size.unwrap_or(0),
                last_modified: c.last_modified,
                etag: c.etag.map(|e| e.trim_matches('"').to_string()),
            }));
            match page.next_continuation_token {
                Some(t) if !t.is_empty() && token.as_deref() != Some(t.as_str()) => token = Some(t),
                _ => return Ok(out),
            }
        }
    }

    /// Downloads `key` to `dest`: written to `dest` plus `.part` and renamed when complete,
    /// after its CRC32C matched the one the store or the upload recorded (when either did).
    /// When `dest` is an existing directory the file is `dest/` plus the key's last segment,
    /// as `cp` does. Returns the object's size and CRC32C (base64).
    ///
    /// # Errors
    /// [`Error::Api`] (404 when there is no such object), [`Error::Io`] for `dest`,
    /// [`Error::Checksum`] when the bytes do not match (nothing is left at `dest`).
    pub fn download(&self, key: &str, dest: impl AsRef<Path>) -> Result<(u64, String)> {
        check_key(key)?;
        let dest = dest.as_ref();
        let into_dir;
        let dest = if dest.is_dir() {
            let name = key.rsplit('/').find(|s| !s.is_empty()).unwrap_or(key);
            into_dir = dest.join(name);
            into_dir.as_path()
        } else {
            dest
        };
        let action = GetObject::new(&self.inner, Some(&self.credentials), key);
        let mut req = Req::new("GET", action.sign(REQUEST_VALIDITY));
        req.stream = true;
        let resp = self.request("bucket_get_object", req)?;
        let head = Head::from_headers(&resp.headers);
        let mut part = dest.as_os_str().to_owned();
        part.push(".part");
        let part = std::path::PathBuf::from(part);
        let io = |e| Error::io(&part, e);
        let mut file = std::fs::File::create(&part).map_err(io)?;
        let mut reader = resp
            .stream
            .ok_or_else(|| Error::UnexpectedResponse {
                operation: "bucket_get_object".into(),
                message: "no body".into(),
            })?
            .into_reader();
        let mut buf = vec![0u8; 1024 * 1024];
        let (mut crc, mut len) = (0u32, 0u64);
        let result = loop {
            match std::io::Read::read(&mut reader, &mut buf) {
                Ok(0) => break Ok(()),
                Ok(n) => {
                    crc = crc32c::crc32c_append(crc, &buf[..n]);
                    len += n as u64;
                    if let Err(e) = file.write_all(&buf[..n]) {
                        break Err(io(e));
                    }
                }
                Err(e) => break Err(Error::from_read("bucket_get_object", e)),
            }
        };
        let result = result.and_then(|()| file.sync_all().map_err(io));
        drop(file);
        let expected = head.crc().or(head.recorded);
        let checked = result.and_then(|()| match expected {
            Some(e) if e != crc || (head.size != 0 && head.size != len) => Err(Error::Checksum {
                path: dest.to_path_buf(),
                expected: crate::checksum::encode(e),
                actual: crate::checksum::encode(crc),
            }),
            _ => Ok(()),
        });
        if let Err(e) = checked {
            let _ = std::fs::remove_file(&part);
            return Err(e);
        }
        if let Err(e) = std::fs::rename(&part, dest) {
            let _ = std::fs::remove_file(&part);
            return Err(Error::io(dest, e));
        }
        Ok((len, crate::checksum::encode(crc)))
    }

    /// Deletes `key`; `false` when there was no such object.
    ///
    /// # Errors
    /// [`Error::Api`] with the store's error code, or a transport error.
    pub fn delete(&self, key: &str) -> Result<bool> {
        check_key(key)?;
        if self.head(key)?.is_none() {
            return Ok(false);
        }
        let action = DeleteObject::new(&self.inner, Some(&self.credentials), key);
        self.request(
            "bucket_delete_object",
            Req::new("DELETE", action.sign(REQUEST_VALIDITY)),
        )?;
        Ok(true)
    }

    /// Deletes every object under `prefix` (which must not be empty); returns their keys.
    ///
    /// # Errors
    /// [`Error::InvalidInput`] for an empty prefix; otherwise as [`Bucket::delete`].
    pub fn delete_prefix(&self, prefix: &str) -> Result<Vec<String>> {
        if prefix.is_empty() {
            return Err(Error::InvalidInput(
                "refusing to delete the whole bucket: give a prefix".into(),
            ));
        }
        let mut deleted = Vec::new();
        for object in self.list(prefix)? {
            if self.delete(&object.key)? {
                deleted.push(object.key);
            }
        }
        Ok(deleted)
    }

    /// The object's size and checksums, `None` when there is no such object.
    pub(crate) fn head(&self, key: &str) -> Result<Option<Head>> {
        let mut action = HeadObject::new(&self.inner, Some(&self.credentials), key);
        action
            .headers_mut()
            .insert("x-amz-checksum-mode", "ENABLED");
        let mut req = Req::new("HEAD", action.sign(REQUEST_VALIDITY));
        req.headers
            .push(("x-amz-checksum-mode", "ENABLED".to_string()));
        match self.request("bucket_head_object", req) {
            Ok(resp) => Ok(Some(Head::from_headers(&resp.headers))),
            Err(e) if e.is_not_found() => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The most recent in-progress multipart upload of exactly `key`, following the list's
    /// markers through every page (a prefix can hold more than a page of uploads).
    pub(crate) fn find_upload(&self, key: &str) -> Result<Option<String>> {
        const OP: &str = "bucket_list_multipart_uploads";
        let mut found = None;
        let mut markers: Option<(String, String)> = None;
        loop {
            let mut query = vec![("prefix", key), ("uploads", "")];
            if let Some((key_marker, id_marker)) = &markers {
                query.push(("key-marker", key_marker));
                query.push(("upload-id-marker", id_marker));
            }
            // rusty-s3 merges these with its own parameters and expects them sorted.
            query.sort_unstable();
            let signed = rusty_s3::signing::sign(
                &jiff::Timestamp::now(),
                rusty_s3::Method::Get,
                self.inner.base_url().clone(),
                self.credentials.key(),
                self.credentials.secret(),
                None,
                self.inner.region(),
                REQUEST_VALIDITY.as_secs(),
                query.iter().copied(),
                std::iter::empty(),
            );
            let text = self.request(OP, Req::new("GET", signed))?.text();
            let list: xml::ListUploads =
                xml::parse("multipart upload list", &text).map_err(|m| {
                    Error::UnexpectedResponse {
                        operation: OP.into(),
                        message: m,
                    }
                })?;
            // Uploads of one key are listed oldest first; the last one seen is the newest.
            if let Some(id) = list
                .uploads
                .into_iter()
                .filter(|u| u.key == key)
                .map(|u| u.upload_id)
                .next_back()
            {
                found = Some(id);
            }
            if list.is_truncated != Some(true) {
                return Ok(found);
            }
            // A truncated page must say where the next one starts, and move on.
            let stuck = |message: &str| Error::UnexpectedResponse {
                operation: OP.into(),
                message: message.into(),
            };
            let next = match (list.next_key_marker, list.next_upload_id_marker) {
                (Some(k), Some(u)) if !k.is_empty() => (k, u),
                _ => {
                    return Err(stuck(
                        "a truncated list of multipart uploads without markers",
                    ));
                }
            };
            if markers.as_ref() == Some(&next) {
                return Err(stuck("the store repeated a page of multipart uploads"));
            }
            markers = Some(next);
        }
    }

    /// Aborts an in-progress multipart upload (its stored parts are discarded).
    pub(crate) fn abort_upload(&self, key: &str, upload_id: &str) -> Result<()> {
        let action = rusty_s3::actions::AbortMultipartUpload::new(
            &self.inner,
            Some(&self.credentials),
            key,
            upload_id,
        );
        match self.request(
            "bucket_abort_multipart_upload",
            Req::new("DELETE", action.sign(REQUEST_VALIDITY)),
        ) {
            Err(e) if e.is_not_found() => Ok(()),
            other => other.map(drop),
        }
    }

    /// The parts an in-progress multipart upload holds (all pages).
    pub(crate) fn list_parts(&self, key: &str, upload_id: &str) -> Result<Vec<xml::PartEntry>> {
        let mut out = Vec::new();
        let mut marker: Option<u32> = None;
        loop {
            let mut action = rusty_s3::actions::ListParts::new(
                &self.inner,
                Some(&self.credentials),
                key,
                upload_id,
            );
            if let Some(m) = marker {
                action.set_part_number_marker(m.min(u32::from(u16::MAX)) as u16);
            }
            let resp = self.request(
                "bucket_list_parts",
                Req::new("GET", action.sign(REQUEST_VALIDITY)),
            )?;
            // moto names the root `ListPartsResponse`; S3 and Google say `ListPartsResult`.
            let text = resp
                .text()
                .replace("<ListPartsResponse", "<ListPartsResult")
                .replace("</ListPartsResponse>", "</ListPartsResult>");
            let page: xml::ListParts =
                xml::parse("part list", &text).map_err(|m| Error::UnexpectedResponse {
                    operation: "bucket_list_parts".into(),
                    message: m,
                })?;
            let next = page.next_part_number_marker;
            let more = page.is_truncated.unwrap_or(false);
            out.extend(page.parts);
            match next {
                Some(n) if more && marker != Some(n) => marker = Some(n),
                _ => return Ok(out),
            }
        }
    }
}
