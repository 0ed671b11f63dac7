//! TLS trust of the command: a server whose certificate comes from a private CA (as behind a
//! TLS-inspecting proxy) is refused with a hint, and trusted once the CA bundle is named.

#[path = "../../tests/local/mod.rs"]
mod local;

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use local::{Scratch, describe};

const BIN: &str = env!("CARGO_BIN_EXE_aignostics");

fn openssl(dir: &std::path::Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs (Debian's openssl package)");
    assert!(out.status.success(), "openssl {args:?}: {}", describe(&out));
}

/// A CA, a certificate it signed for 127.0.0.1, and `openssl s_server` serving it.
fn private_ca_server(dir: &std::path::Path) -> (Child, u16) {
    openssl(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=Test Inspection CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign",
        ],
    );
    openssl(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    openssl(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "san.ext",
            "-out",
            "server.pem",
        ],
    );
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let server = Command::new("openssl")
        .args([
            "s_server",
            "-quiet",
            "-www",
            "-accept",
            &port.to_string(),
            "-cert",
            "server.pem",
            "-key",
            "server.key",
        ])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "openssl s_server did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
    (server, port)
}

fn health(
    dir: &std::path::Path,
    port: u16,
    bundle: Option<&std::path::Path>,
) -> std::process::Output {
    let mut cmd = local::clean_command(BIN);
    cmd.args(["health", "--api-root", &format!("https://127.0.0.1:{port}")])
        .env("AIGNOSTICS_ACCESS_TOKEN", "t")
        .env("AIGNOSTICS_CACHE_DIR", dir.join("cache"))
        .env("AIGNOSTICS_ENV_FILE", dir.join("none.env"))
        .stdin(Stdio::null());
    if let Some(bundle) = bundle {
        cmd.env("AIGNOSTICS_CA_BUNDLE", bundle);
    }
    cmd.output().unwrap()
}

// Proves the command refuses a certificate of an unknown CA with a hint naming the CA bundle
// setting, trusts it once AIGNOSTICS_CA_BUNDLE names the CA (the connection then reaches the
// server), and names a bundle that is not PEM as a configuration error. (FR-18)
#[test]
fn private_ca_needs_its_bundle() {
    let dir = Scratch::new("tls");
    let (mut server, port) = private_ca_server(&dir);
    let refused = health(&dir, port, None);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("AIGNOSTICS_CA_BUNDLE"),
        "{}",
        describe(&refused)
    );
    assert!(
        stderr.contains("not reachable") || stderr.contains("certificate"),
        "{stderr}"
    );

    let trusted = health(&dir, port, Some(&dir.join("ca.pem")));
    let stderr = String::from_utf8_lossy(&trusted.stderr);
    // openssl's page is no health answer, but the TLS connection was made.
    assert!(
        stderr.contains("not JSON") || stderr.contains("HTTP"),
        "{}",
        describe(&trusted)
    );
    assert!(!stderr.contains("AIGNOSTICS_CA_BUNDLE"), "{stderr}");

    let wrong = health(&dir, port, Some(&dir.join("san.ext")));
    assert_eq!(wrong.status.code(), Some(1), "{}", describe(&wrong));
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("holds no PEM certificate"),
        "{}",
        describe(&wrong)
    );
    let _ = server.kill();
    let _ = server.wait();
}
