//! Idempotency keys: where a submission's key lives in the run's custom metadata, how keys are
//! made, and how a run is found by its key.
//!
//! The key is stored as the top-level string `custom_metadata.idempotency_key`, beside `sdk`
//! rather than inside it: the run schema forbids unknown keys at the top of `sdk`, and the
//! Python SDK rebuilds the nested `sdk` objects when it updates a run's metadata, so a key in
//! there would not survive. Beside `sdk` it is a caller-level key that every SDK leaves alone,
//! and the platform's `custom_metadata` filter finds it
//! (`$.idempotency_key ? (@ == "…")`).

use crate::checksum::hex;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};

use crate::client::Client;
use crate::error::{Error, Result};
use crate::handlers::Run;
use crate::models::RunCreationRequest;
use crate::sdk_metadata::json_path_string;

/// The custom metadata key holding a run's idempotency key.
pub const METADATA_KEY: &str = "idempotency_key";

/// Longest key accepted.
const MAX_KEY_LEN: usize = 128;

/// First pause between lookups after an unknown outcome; doubles up to the window's end.
const FIRST_LOOKUP_PAUSE: Duration = Duration::from_millis(250);

/// Checks a caller's key: 1 to 128 characters of `A-Z a-z 0-9 . _ : -`, so it is safe in a
/// filter and in a shell.
pub(crate) fn check_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= MAX_KEY_LEN
        && key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidInput(format!(
            "idempotency key '{}' must be 1 to {MAX_KEY_LEN} characters of letters, digits, \
             '.', '_', ':' and '-'",
            key.escape_debug()
        )))
    }
}

/// A fresh random key (128 bits, hex), for submissions whose caller chose none.
pub(crate) fn random_key() -> Result<String> {
    use ring::rand::SecureRandom;
    let mut bytes = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Config("no randomness for an idempotency key".into()))?;
    Ok(hex(&bytes))
}

/// A key derived from what the request asks for: the application, the version, the run's
/// custom metadata (but an idempotency key in it) and the items (external ids, input artifact
/// names and metadata, item metadata). Download URLs are left out, since their signatures
/// change from one preparation to the next while the slides do not. The same batch gives the
/// same key; any change to it gives another.
///
/// ```
/// use aignostics::models::{ItemCreationRequest, RunCreationRequest};
/// let a = RunCreationRequest::new("he-tme", [ItemCreationRequest::new("slide-1", [])])
///     .version_number("1.0.0");
/// let b = a.clone().version_number("1.1.0");
/// assert_eq!(aignostics::idempotency_key_for(&a), aignostics::idempotency_key_for(&a.clone()));
/// assert_ne!(aignostics::idempotency_key_for(&a), aignostics::idempotency_key_for(&b));
/// ```
pub fn idempotency_key_for(request: &RunCreationRequest) -> String {
    let items: Vec<Value> = request
        .items
        .iter()
        .map(|item| {
            let artifacts: Vec<Value> = item
                .input_artifacts
                .iter()
                .map(|a| serde_json::json!([a.name, a.metadata]))
                .collect();
            serde_json::json!([item.external_id, artifacts, item.custom_metadata])
        })
        .collect();
    let mut metadata = request.custom_metadata.clone();
    if let Some(Value::Object(map)) = &mut metadata {
        map.remove(METADATA_KEY);
    }
    // serde_json writes object keys in sorted order (no `preserve_order`), so equal requests
    // serialise equally. Without custom metadata the text is the one earlier versions
    // hashed, so their keys stay valid.
    let mut canonical = serde_json::json!([
        "run-v1",
        request.application_id,
        request.version_number,
        items
    ]);
    if let (Some(metadata), Value::Array(parts)) = (metadata, &mut canonical) {
        parts.push(metadata);
    }
    let digest = crate::checksum::sha256(canonical.to_string().as_bytes());
    format!("auto-{}", hex(&digest[..16]))
}

/// Puts `key` into the request's custom metadata. A key already there is the caller's choice:
/// it is adopted when no other key was chosen, and a different chosen key is an error.
pub(crate) fn stamp(request: &mut RunCreationRequest, chosen: Option<&str>) -> Result<String> {
    let slot = request
        .custom_metadata
        .get_or_insert_with(|| Value::Object(Map::new()));
    if slot.is_null() {
        *slot = Value::Object(Map::new());
    }
    let Some(root) = slot.as_object_mut() else {
        return Err(Error::InvalidInput(
            "the run's custom_metadata must be a JSON object to carry the idempotency key".into(),
        ));
    };
    let existing = match root.get(METADATA_KEY) {
        None => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            return Err(Error::InvalidInput(format!(
                "custom_metadata.{METADATA_KEY} must be a string"
            )));
        }
    };
    let key = match (existing, chosen) {
        (Some(have), Some(want)) if have != want => {
            return Err(Error::InvalidInput(format!(
                "custom_metadata.{METADATA_KEY} is '{have}' but the submission's key is \
                 '{want}'; give one"
            )));
        }
        (Some(have), _) => have,
        (None, Some(want)) => want.to_string(),
        (None, None) => random_key()?,
    };
    check_key(&key)?;
    root.insert(METADATA_KEY.into(), Value::String(key.clone()));
    Ok(key)
}

/// The `custom_metadata` filter matching runs with this key.
pub(crate) fn filter(key: &str) -> String {
    format!("$.{METADATA_KEY} ? (@ == {})", json_path_string(key))
}

/// Whether a run found by its key was cancelled without results: by its user, or by the
/// platform before any item succeeded. Such a run is no reason not to try again.
pub(crate) fn cancelled(run: &crate::models::RunReadResponse) -> bool {
    use crate::models::{RunOutput, RunTerminationReason};
    match run.termination_reason {
        Some(RunTerminationReason::CanceledByUser) => true,
        Some(RunTerminationReason::CanceledBySystem) => run.output == RunOutput::None,
        _ => false,
    }
}

/// The earliest run carrying `key` that this user submitted, read past the cache, skipping
/// cancelled ones (see [`cancelled`]) unless `with_cancelled`. Runs others submitted and
/// shared with the user are listed too, but a key names only the caller's own submissions:
/// another user's run with the same key is never returned (its slides and results are not
/// the caller's).
pub(crate) fn find(client: &Client, key: &str, with_cancelled: bool) -> Result<Option<Run>> {
    let me = client.me()?;
    let runs = client
        .nocache()
        .runs()
        .list()
        .custom_metadata(filter(key))
        .submitted_by(me.user.id.clone())
        .sort("submitted_at")
        .page_size(20);
    for run in runs.iter() {
        let run = run?;
        // Checked here too: a platform that ignored the filter must not hand over a
        // stranger's run.
        if run.submitted_by == me.user.id && (with_cancelled || !cancelled(&run)) {
            return Ok(Some(client.run(run.run_id)));
        }
    }
    Ok(None)
}

/// [`find`], asked again with growing pauses until `window` has passed (a run just created may
/// not be listed yet).
pub(crate) fn find_within(
    client: &Client,
    key: &str,
    window: Duration,
    with_cancelled: bool,
) -> Result<Option<Run>> {
    let start = Instant::now();
    let mut pause = FIRST_LOOKUP_PAUSE;
    loop {
        if let Some(run) = find(client, key, with_cancelled)? {
            return Ok(Some(run));
        }
        let Some(left) = window.checked_sub(start.elapsed()).filter(|l| !l.is_zero()) else {
            return Ok(None);
        };
        std::thread::sleep(pause.min(left));
        pause = pause.saturating_mul(2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn request() -> RunCreationRequest {
        RunCreationRequest::new("he-tme", [])
    }

    // Proves keys are checked, adopted from the metadata, and never silently replaced. (FR-65)
    #[test]
    fn keys_are_checked_and_never_replaced() {
        assert!(check_key("batch-2026_12.01:a").is_ok());
        for bad in ["", "a b", "quote\"", &"x".repeat(129), "ü"] {
            assert!(check_key(bad).is_err(), "{bad}");
        }
        let mut r = request();
        assert_eq!(stamp(&mut r, Some("k1")).unwrap(), "k1");
        assert_eq!(r.custom_metadata.as_ref().unwrap()[METADATA_KEY], "k1");
        assert_eq!(stamp(&mut r, None).unwrap(), "k1");
        assert!(stamp(&mut r, Some("k2")).is_err());
        let mut r = request().custom_metadata(json!({"study": 1}));
        let random = stamp(&mut r, None).unwrap();
        assert_eq!(random.len(), 32);
        assert_eq!(r.custom_metadata.as_ref().unwrap()["study"], 1);
        let mut r = request().custom_metadata(json!([1]));
        assert!(stamp(&mut r, Some("k")).is_err());
        assert_eq!(filter("k-1"), r#"$.idempotency_key ? (@ == "k-1")"#);
    }

    // Proves the derived key ignores download URLs and a stamped key, and changes with anything
    // else, the run's custom metadata included. (FR-65)
    #[test]
    fn derived_keys_follow_the_inputs() {
        use crate::models::{InputArtifactCreationRequest, ItemCreationRequest};
        let item = |url: &str, crc: &str| {
            ItemCreationRequest::new(
                "s1",
                [InputArtifactCreationRequest::new(
                    "wsi",
                    url,
                    json!({"crc": crc}),
                )],
            )
        };
        let a = RunCreationRequest::new("he-tme", [item("https://a?sig=1", "x")]);
        let b = RunCreationRequest::new("he-tme", [item("https://a?sig=2", "x")]);
        let c = RunCreationRequest::new("he-tme", [item("https://a?sig=1", "y")]);
        assert_eq!(idempotency_key_for(&a), idempotency_key_for(&b));
        assert_ne!(idempotency_key_for(&a), idempotency_key_for(&c));
        assert!(check_key(&idempotency_key_for(&a)).is_ok());
        // The run's custom metadata counts; a key stamped into it does not.
        let study = |n: u32| a.clone().custom_metadata(json!({"study": n}));
        assert_ne!(
            idempotency_key_for(&study(1)),
            idempotency_key_for(&study(2))
        );
        assert_ne!(idempotency_key_for(&study(1)), idempotency_key_for(&a));
        let mut stamped = study(1);
        stamp(&mut stamped, Some("k-1")).unwrap();
        assert_eq!(
            idempotency_key_for(&stamped),
            idempotency_key_for(&study(1))
        );
    }
}
