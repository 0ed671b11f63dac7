//! Property tests of the public parsers of untrusted input: settings values from the
//! environment and env files, and token files read by `auth::status_with`.

use aignostics::{Settings, auth};
use proptest::prelude::*;

/// Every `AIGNOSTICS_*` variable the settings read.
const VARIABLES: &[&str] = &[
    "API_ROOT",
    "ME_TIMEOUT",
    "ME_RETRY_ATTEMPTS",
    "ME_RETRY_WAIT_MIN",
    "ME_RETRY_WAIT_MAX",
    "ME_CACHE_TTL",
    "APPLICATION_TIMEOUT",
    "APPLICATION_CACHE_TTL",
    "APPLICATION_VERSION_TIMEOUT",
    "RUN_TIMEOUT",
    "RUN_RETRY_ATTEMPTS",
    "RUN_RETRY_WAIT_MIN",
    "RUN_RETRY_WAIT_MAX",
    "RUN_CACHE_TTL",
    "AUTH_TIMEOUT",
    "AUTH_RETRY_ATTEMPTS",
    "AUTH_JWK_SET_CACHE_TTL",
    "RUN_SUBMIT_TIMEOUT",
    "RUN_CANCEL_TIMEOUT",
    "RUN_DELETE_TIMEOUT",
    "HEALTH_TIMEOUT",
    "OPERATION_CACHE_SIZE",
    "CACHE_DIR",
    "SCOPE",
    "CLIENT_ID_DEVICE",
    "ORGANIZATION_ID",
    "REFRESH_TOKEN",
    "AUDIENCE",
    "AUTHORIZATION_BASE_URL",
    "TOKEN_URL",
    "REDIRECT_URI",
    "DEVICE_URL",
    "JWS_JSON_URL",
    "CLIENT_ID_INTERACTIVE",
    "STATUS_PAGE_URL",
];

/// Values of every kind a person or a broken deployment might write.
fn value() -> impl Strategy<Value = String> {
    prop_oneof![
        r"\PC{0,40}",
        r"-?[0-9]{1,25}(\.[0-9]{0,25})?([eE][+-]?[0-9]{1,4})?",
        Just("NaN".to_string()),
        Just("inf".to_string()),
        Just("1e19".to_string()),
        Just("18446744073709551616".to_string()),
        r"https?://[a-z0-9.:@/?#%-]{0,30}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    // Proves any values of any variables give settings or a configuration error naming the
    // variable, never a panic, and that a rejected refresh token is never echoed. (NFR-16, NFR-13, NFR-05)
    #[test]
    fn settings_values_never_panic(
        picks in proptest::collection::vec((0..VARIABLES.len(), value()), 1..6),
    ) {
        let vars: Vec<(String, String)> = picks
            .iter()
            .map(|(i, v)| (format!("AIGNOSTICS_{}", VARIABLES[*i]), v.clone()))
            .collect();
        match Settings::from_vars(vars.clone()) {
            Ok(settings) => {
                let _ = settings.token_file();
                let _ = format!("{settings:?}");
            }
            Err(e) => {
                let text = e.to_string();
                prop_assert!(matches!(e, aignostics::Error::Config(_)), "{:?}", e);
                prop_assert!(text.contains("AIGNOSTICS_"), "{}", text);
                for (k, v) in &vars {
                    if k == "AIGNOSTICS_REFRESH_TOKEN"
                        && text.contains(k.as_str())
                        && v.chars().count() >= 8
                    {
                        prop_assert!(!text.contains(v.as_str()), "{}", text);
                    }
                }
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    // Proves any token-file content (any bytes, any expiry) reads as a login or as "not logged
    // in", never a panic. (NFR-16, NFR-13, FR-03)
    #[test]
    fn any_token_file_is_a_status(
        bytes in proptest::collection::vec(any::<u8>(), 0..200),
        exp in any::<u64>(),
        as_jwt in any::<bool>(),
    ) {
        let dir = std::env::temp_dir().join(format!("aignostics-prop-token-{}", std::process::id()));
        // Removed at the end of every case, whatever it asserted.
        struct Remove(std::path::PathBuf);
        impl Drop for Remove {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let _remove = Remove(dir.clone());
        std::fs::create_dir_all(&dir).unwrap();
        let mut settings = Settings::default();
        settings.cache_dir = dir.clone();
        let content = if as_jwt {
            let auth = settings.auth.clone().unwrap();
            let claims = serde_json::json!({"aud": auth.audience, "iss": auth.issuer(), "exp": exp, "iat": exp});
            use base64::Engine;
            let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(claims.to_string());
            format!("e30.{payload}.sig:{exp}").into_bytes()
        } else {
            bytes
        };
        std::fs::write(settings.token_file(), &content).unwrap();
        let status = auth::status_with(&settings).unwrap();
        std::fs::remove_file(settings.token_file()).unwrap();
        if let Some(info) = status {
            let _ = (info.expires_at_rfc3339(), info.remaining());
        }
    }
}
