//! The stored login stays with the environment it was obtained for: a `.env` in the working
//! directory naming another API root never gets the stored token sent there. Runs the
//! `aignostics` binary as a user would, against a local capture server.

#[path = "../../tests/auth_support/mod.rs"]
mod auth_support;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};

use aignostics::settings::Environment;
use auth_support::{KID, TempDir, now, sign};
use serde_json::json;

const BIN: &str = env!("CARGO_BIN_EXE_aignostics");

/// A server that records every request's raw bytes and answers 401.
fn capture_server() -> (String, Arc<Mutex<Vec<u8>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_read_timeout(Some(std::time::Duration::from_millis(500)));
            let mut buf = [0u8; 8192];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                log.lock().unwrap().extend_from_slice(&buf[..n]);
                if buf[..n].windows(4).any(|w| w == b"\r\n\r\n") {
                    break;
                }
            }
            let body = r#"{"detail":"captured"}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 401 X\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (base, seen)
}

// Proves a crafted `./.env` naming a local capture server as the API root, together with the
// production login settings, never gets the stored production token sent to it: `whoami`
// finds no login for that root and the server never sees the token. (FR-56, NFR-05)
#[test]
fn crafted_env_file_never_receives_the_stored_token() {
    let dir = TempDir::new();
    let (capture, seen) = capture_server();
    let production = Environment::Production.auth();
    let stored = sign(
        &json!({
            "sub": "victim",
            "aud": [production.audience.clone()],
            "iss": production.issuer(),
            "exp": now() + 3600,
        }),
        KID,
    );
    let cache = dir.cache();
    std::fs::create_dir_all(&cache).unwrap();
    let content = format!("{stored}:{}", now() + 3600);
    std::fs::write(cache.join(".token"), &content).unwrap();
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::write(
        work.join(".env"),
        format!(
            "AIGNOSTICS_API_ROOT={capture}\n\
             AIGNOSTICS_AUDIENCE={}\n\
             AIGNOSTICS_AUTHORIZATION_BASE_URL={}\n\
             AIGNOSTICS_TOKEN_URL={capture}/oauth/token\n\
             AIGNOSTICS_REDIRECT_URI=http://localhost:8989/\n\
             AIGNOSTICS_DEVICE_URL={capture}/oauth/device/code\n\
             AIGNOSTICS_JWS_JSON_URL={capture}/.well-known/jwks.json\n\
             AIGNOSTICS_CLIENT_ID_INTERACTIVE={}\n",
            production.audience,
            production.authorization_base_url,
            production.client_id_interactive
        ),
    )
    .unwrap();

    let mut cmd = Command::new(BIN);
    for (key, _) in std::env::vars() {
        if key.starts_with("AIGNOSTICS_") {
            cmd.env_remove(key);
        }
    }
    let out = cmd
        .arg("whoami")
        .current_dir(&work)
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("HOME", dir.path())
        .env("AIGNOSTICS_CACHE_DIR", &cache)
        .stdin(Stdio::null())
        .output()
        .unwrap();

    assert!(!out.status.success(), "no login exists for that root");
    let seen = seen.lock().unwrap();
    let token_sent = seen.windows(stored.len()).any(|w| w == stored.as_bytes());
    assert!(
        !token_sent,
        "the stored token reached the capture server:\n{}",
        String::from_utf8_lossy(&seen)
    );
    assert_eq!(
        std::fs::read_to_string(cache.join(".token")).unwrap(),
        content,
        "the shared token file is left as it was"
    );
}
