//! A bucket of your own named by URL: `s3://bucket/prefix/` (AWS or any S3-compatible store)
//! or `gs://bucket/prefix/` (Google Cloud Storage through its S3-compatible XML API with HMAC
//! keys), with credentials from the environment where users keep them.

use super::Bucket;
use crate::error::{Error, Result};

/// Google Cloud Storage's S3-compatible endpoint.
const GCS_ENDPOINT: &str = "https://storage.googleapis.com";

/// The variables read, in the order they are looked at.
pub const S3_KEY_VARS: [&str; 3] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

/// The HMAC key variables of a `gs://` source.
pub const GCS_KEY_VARS: [&str; 2] = ["GCS_HMAC_ACCESS_KEY_ID", "GCS_HMAC_SECRET"];

impl Bucket {
    /// The bucket and key prefix a URL names: `s3://bucket/prefix/` or `gs://bucket/prefix/`.
    ///
    /// - `s3://`: the keys of `AWS_ACCESS_KEY_ID` and `AWS_SECRET_ACCESS_KEY` (and
    ///   `AWS_SESSION_TOKEN` when set), the region of `AWS_REGION` or `AWS_DEFAULT_REGION`
    ///   (default `us-east-1`), and the endpoint given, else `AWS_ENDPOINT_URL_S3`, else
    ///   `AWS_ENDPOINT_URL`, else AWS's (`https://s3.{region}.amazonaws.com`). MinIO, Ceph and
    ///   other S3-compatible stores are reached through the endpoint.
    /// - `gs://`: Google's S3-compatible endpoint with the HMAC key of `GCS_HMAC_ACCESS_KEY_ID`
    ///   and `GCS_HMAC_SECRET`.
    ///
    /// ```no_run
    /// let (bucket, prefix) = aignostics::bucket::Bucket::from_url("s3://my-lab/cohort-7/", None)?;
    /// assert_eq!((bucket.name(), prefix.as_str()), ("my-lab", "cohort-7/"));
    /// # Ok::<(), aignostics::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`Error::Config`] for another scheme, a URL without a bucket, or a missing key variable
    /// (named; no secret is ever shown).
    pub fn from_url(url: &str, endpoint: Option<&str>) -> Result<(Bucket, String)> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| Error::Config(format!("`{url}` is not an s3:// or gs:// URL")))?;
        let (name, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if name.is_empty() {
            return Err(Error::Config(format!("`{url}` names no bucket")));
        }
        let need = |names: &[&str]| -> Result<Vec<String>> {
            names
                .iter()
                .map(|n| {
                    var(n).ok_or_else(|| {
                        Error::Config(format!(
                            "reading {url} needs {} to be set ({n} is not)",
                            names.join(" and ")
                        ))
                    })
                })
                .collect()
        };
        let builder = match scheme {
            "s3" => {
                let keys = need(&S3_KEY_VARS[..2])?;
                let region = var("AWS_REGION")
                    .or_else(|| var("AWS_DEFAULT_REGION"))
                    .unwrap_or_else(|| "us-east-1".into());
                let endpoint = endpoint
                    .map(str::to_string)
                    .or_else(|| var("AWS_ENDPOINT_URL_S3"))
                    .or_else(|| var("AWS_ENDPOINT_URL"))
                    .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
                let mut builder = Bucket::builder(&endpoint, name)
                    .region(&region)
                    .credentials(&keys[0], &keys[1]);
                if let Some(token) = var(S3_KEY_VARS[2]) {
                    builder = builder.session_token(&token);
                }
                builder
            }
            "gs" => {
                let keys = need(&GCS_KEY_VARS)?;
                Bucket::builder(endpoint.unwrap_or(GCS_ENDPOINT), name)
                    .region("auto")
                    .credentials(&keys[0], &keys[1])
            }
            other => {
                return Err(Error::Config(format!(
                    "`{url}`: {other}:// is not a bucket URL (s3:// or gs://)"
                )));
            }
        };
        Ok((builder.build()?, prefix.to_string()))
    }

    /// Whether the handle signs with temporary credentials (a session token): URLs it signs
    /// stop working when the session ends, usually hours later.
    pub fn has_session_token(&self) -> bool {
        self.credentials.token().is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves bucket URLs are split into bucket and prefix, other schemes and missing buckets
    // are refused, and missing keys are named without any value shown. (FR-96)
    #[test]
    fn bucket_urls() {
        let err = Bucket::from_url("http://x/y", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a bucket URL"), "{err}");
        let err = Bucket::from_url("s3:///prefix", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("names no bucket"), "{err}");
        let err = Bucket::from_url("no-scheme", None).unwrap_err().to_string();
        assert!(err.contains("not an s3:// or gs:// URL"), "{err}");
    }
}
