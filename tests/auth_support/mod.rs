//! Shared pieces of the `auth_*` tests: a test identity provider (signed JWTs, JWKS, settings
//! pointing at a loopback server), private temporary directories, and a scripted HTTP server
//! for answers that change from call to call.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use aignostics::Settings;
use aignostics::settings::AuthSettings;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ring::signature::{RSA_PKCS1_SHA256, RsaKeyPair};
use serde_json::{Value, json};

pub const AUDIENCE: &str = "https://test-platform-samia";
pub const KID: &str = "test-key-1";
pub const JWKS: &str = include_str!("../fixtures/auth_test_jwks.json");
const KEY: &[u8] = include_bytes!("../fixtures/auth_test_key.pk8.der");

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A process-unique string for tokens, subjects and directory names.
pub fn unique(prefix: &str) -> String {
    static N: AtomicU64 = AtomicU64::new(0);
    format!(
        "{prefix}-{}-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    )
}

/// An RS256 JWT with these claims, signed by the fixture key under `kid`.
pub fn sign(claims: &Value, kid: &str) -> String {
    let header = json!({"alg": "RS256", "typ": "JWT", "kid": kid});
    let input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let key = RsaKeyPair::from_pkcs8(KEY).expect("fixture key");
    let mut sig = vec![0u8; key.public().modulus_len()];
    key.sign(
        &RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        input.as_bytes(),
        &mut sig,
    )
    .expect("signing");
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig))
}

/// Claims the settings of [`settings`] accept: right audience and issuer, one hour left.
pub fn claims(base_url: &str, subject: &str) -> Value {
    json!({
        "sub": subject,
        "aud": [AUDIENCE, "https://other"],
        "iss": format!("{base_url}/"),
        "iat": now(),
        "exp": now() + 3600,
        "org_id": "org-test",
        "scope": "openid offline_access",
        "azp": "interactive-client",
        format!("{AUDIENCE}/role"): "admin",
    })
}

/// A valid token for `subject` from the identity provider at `base_url`.
pub fn token(base_url: &str, subject: &str) -> String {
    sign(&claims(base_url, subject), KID)
}

/// Settings whose identity provider is `idp_base` (token, device, JWKS, authorize endpoints),
/// whose API root is `api_base`, with the token file under `cache_dir` and no back-off waits.
pub fn settings(idp_base: &str, api_base: &str, cache_dir: &Path) -> Settings {
    let mut s = Settings::default().with_api_root(api_base).unwrap();
    s.auth = Some(AuthSettings {
        audience: AUDIENCE.into(),
        authorization_base_url: format!("{idp_base}/authorize"),
        token_url: format!("{idp_base}/oauth/token"),
        redirect_uri: "http://localhost:8989/".into(),
        device_url: format!("{idp_base}/oauth/device/code"),
        // httpmock reuses servers (and so URLs) between tests, while the JWKS cache is
        // process-wide and keyed by URL: a unique query keeps each test's cache its own.
        jws_json_url: format!("{idp_base}/.well-known/jwks.json?test={}", unique("jwks")),
        client_id_interactive: "interactive-client".into(),
        client_id_device: Some("device-client".into()),
        scope: vec!["openid".into(), "offline_access".into()],
        organization_id: None,
        refresh_token: None,
        status_page_url: None,
    });
    s.cache_dir = cache_dir.to_path_buf();
    s.auth_operation = s.auth_operation.clone().no_wait(3);
    s.me = s.me.clone().no_wait(1);
    s
}

/// A fresh directory under the system temp dir, removed on drop. The cache dir of a test is
/// `dir.path().join("cache")`, which does not exist until the code under test creates it.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new() -> Self {
        let path = std::env::temp_dir().join(unique("aignostics-auth-test"));
        std::fs::create_dir_all(&path).unwrap();
        Self(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn cache(&self) -> PathBuf {
        self.0.join("cache")
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A port nobody listens on right now.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// The body of a successful `GET /me`.
pub fn me_body() -> Value {
    let text = include_str!("../fixtures/models.json");
    let all: Value = serde_json::from_str(text).unwrap();
    all["MeReadResponse"].clone()
}

/// The value of `key` in a form-encoded body or a query string.
pub fn form_value(body: &str, key: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == key).then(|| {
            percent_encoding::percent_decode_str(&v.replace('+', " "))
                .decode_utf8_lossy()
                .into_owned()
        })
    })
}

/// One request seen by a [`Scripted`] server.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub body: String,
}

/// A loopback HTTP server whose answers come from a closure, for sequences httpmock cannot
/// express (pending, pending, slow down, token). Every connection is closed after one answer.
pub struct Scripted {
    pub base_url: String,
    pub seen: Arc<Mutex<Vec<Seen>>>,
}

impl Scripted {
    pub fn start<F>(handler: F) -> Self
    where
        F: Fn(&Seen) -> (u16, String) + Send + Sync + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base_url = format!("http://{}", listener.local_addr().unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let Some(request) = read_request(&mut stream) else {
                    continue;
                };
                log.lock().unwrap().push(request.clone());
                let (status, body) = handler(&request);
                let response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = stream.write_all(response.as_bytes());
            }
        });
        Self { base_url, seen }
    }

    /// Requests seen on `path`.
    pub fn hits(&self, path: &str) -> Vec<Seen> {
        self.seen
            .lock()
            .unwrap()
            .iter()
            .filter(|s| s.path == path)
            .cloned()
            .collect()
    }
}

fn read_request(stream: &mut std::net::TcpStream) -> Option<Seen> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let length: usize = head
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    while buf.len() < head_end + length {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let mut parts = head.lines().next()?.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?;
    let path = target.split('?').next().unwrap_or(target).to_string();
    let body = String::from_utf8_lossy(&buf[head_end..]).into_owned();
    Some(Seen { method, path, body })
}
