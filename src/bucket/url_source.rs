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
    ///   `AWS_SESSION_TOKEN` when set), else those of the profile `AWS_PROFILE` (default
    ///   `default`) in the shared credentials file (`AWS_SHARED_CREDENTIALS_FILE`, else
    ///   `~/.aws/credentials`); the region of `AWS_REGION` or `AWS_DEFAULT_REGION`, else the
    ///   profile's in the config file (`AWS_CONFIG_FILE`, else `~/.aws/config`), else
    ///   `us-east-1`; and the endpoint given, else `AWS_ENDPOINT_URL_S3`, else
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
                let profile = var("AWS_PROFILE").unwrap_or_else(|| "default".into());
                let (keys, token) = match need(&S3_KEY_VARS[..2]) {
                    Ok(keys) => (keys, var(S3_KEY_VARS[2])),
                    // No keys in the environment: the profile of the shared credentials file.
                    Err(missing) => profile_keys(&profile)?.ok_or(missing)?,
                };
                let region = var("AWS_REGION")
                    .or_else(|| var("AWS_DEFAULT_REGION"))
                    .or_else(|| profile_region(&profile))
                    .unwrap_or_else(|| "us-east-1".into());
                let endpoint = endpoint
                    .map(str::to_string)
                    .or_else(|| var("AWS_ENDPOINT_URL_S3"))
                    .or_else(|| var("AWS_ENDPOINT_URL"))
                    .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
                let mut builder = Bucket::builder(&endpoint, name)
                    .region(&region)
                    .credentials(&keys[0], &keys[1]);
                if let Some(token) = token {
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
        let mut bucket = builder.build()?;
        if scheme == "gs" {
            bucket.scheme = "gs";
        }
        Ok((bucket, prefix.to_string()))
    }

    /// Whether the handle signs with temporary credentials (a session token): URLs it signs
    /// stop working when the session ends, usually hours later.
    pub fn has_session_token(&self) -> bool {
        self.credentials.token().is_some()
    }
}

/// A file of the user's `~/.aws` folder, or the one a variable names.
fn aws_file(variable: &str, name: &str) -> Option<std::path::PathBuf> {
    if let Some(path) = std::env::var_os(variable).filter(|p| !p.is_empty()) {
        return Some(path.into());
    }
    let home = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE"))?;
    Some(std::path::Path::new(&home).join(".aws").join(name))
}

/// The INI file at `path`, `None` when there is none. Its parser's message is not repeated: it
/// may quote a line holding a secret.
fn ini(path: &std::path::Path) -> Result<Option<configparser::ini::Ini>> {
    if !path.is_file() {
        return Ok(None);
    }
    let mut ini = configparser::ini::Ini::new_cs();
    ini.load(path).map_err(|_| {
        Error::Config(format!(
            "{} is not an INI file of AWS profiles",
            path.display()
        ))
    })?;
    Ok(Some(ini))
}

/// The keys of `profile` in the shared credentials file: `None` when there is no file;
/// an error naming the profile and file when the file lacks them.
fn profile_keys(profile: &str) -> Result<Option<(Vec<String>, Option<String>)>> {
    let Some(path) = aws_file("AWS_SHARED_CREDENTIALS_FILE", "credentials") else {
        return Ok(None);
    };
    let Some(ini) = ini(&path)? else {
        return Ok(None);
    };
    let get = |key: &str| ini.get(profile, key).filter(|v| !v.trim().is_empty());
    match (get("aws_access_key_id"), get("aws_secret_access_key")) {
        (Some(id), Some(secret)) => Ok(Some((vec![id, secret], get("aws_session_token")))),
        _ => Err(Error::Config(format!(
            "the profile [{profile}] of {} has no aws_access_key_id and aws_secret_access_key \
             (set AWS_PROFILE to another, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)",
            path.display()
        ))),
    }
}

/// The region of `profile` in the config file (`[profile NAME]`, or `[default]`).
fn profile_region(profile: &str) -> Option<String> {
    let ini = ini(&aws_file("AWS_CONFIG_FILE", "config")?).ok()??;
    let section = if profile == "default" {
        "default".to_string()
    } else {
        format!("profile {profile}")
    };
    ini.get(&section, "region").filter(|r| !r.trim().is_empty())
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
