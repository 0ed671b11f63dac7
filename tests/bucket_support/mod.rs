//! Shared pieces of the bucket tests: a private moto S3 server per test (a real S3
//! implementation), a faulting HTTP proxy in front of it that counts, drops and fails
//! requests, and test files.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aignostics::bucket::Bucket;

pub const KEY_ID: &str = "AKIATESTKEY";
pub const SECRET: &str = "test-secret-that-must-never-leak";
pub const MIB: usize = 1024 * 1024;

/// `moto_server` on 127.0.0.1 at a free port; killed on drop.
pub struct Moto {
    port: u16,
    child: Child,
}

impl Moto {
    /// Starts moto. `None` (after a loud `SKIPPED` line) when `moto_server` is not installed;
    /// in CI (`CI=true`) that fails the test instead.
    pub fn start() -> Option<Self> {
        // Without the `crc32c` module moto silently computes CRC32 for CRC32C.
        let installed = Command::new("moto_server")
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok()
            && Command::new("python3")
                .args(["-c", "import crc32c"])
                .status()
                .is_ok_and(|s| s.success());
        if !installed {
            if std::env::var("CI").is_ok_and(|v| v == "true") {
                panic!(
                    "moto_server (with crc32c) is not installed, but CI must run the bucket tests"
                );
            }
            eprintln!("SKIPPED: moto_server not installed (pip install \"moto[server]\" crc32c)");
            return None;
        }
        let port = free_port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server starts");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not come up");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Moto { port, child })
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Creates bucket `name` (moto does not check signatures, so a plain PUT does).
    pub fn create_bucket(&self, name: &str) {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            match ureq::put(&format!("{}/{name}", self.endpoint())).send_empty() {
                Ok(_) => return,
                Err(e) => {
                    assert!(Instant::now() < deadline, "bucket creation failed: {e}");
                    std::thread::sleep(Duration::from_millis(100));
                }
            }
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A bucket handle on `endpoint` with the test credentials.
pub fn bucket(endpoint: &str, name: &str) -> Bucket {
    Bucket::builder(endpoint, name)
        .credentials(KEY_ID, SECRET)
        .user("tester")
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap()
}

/// A file of `len` pseudo-random bytes from `seed` in a fresh temp directory.
pub fn test_file(name: &str, len: usize, seed: u64) -> (TempDir, PathBuf) {
    let dir = TempDir::new(name);
    let path = dir.path().join(name);
    std::fs::write(&path, pseudo_random(len, seed)).unwrap();
    (dir, path)
}

pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A temp directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "aignostics-bucket-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What the proxy does with a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// Forward it.
    Pass,
    /// Read this many body bytes, then drop the connection without an answer.
    DropAfter(usize),
    /// Answer with this status and an S3 error document, forwarding nothing.
    Status(u16),
    /// Forward it, then drop the connection without the answer (the store acted; the
    /// caller never hears of it).
    Lost,
    /// Forward it, but replace the response's `ETag` and checksum headers (a store that
    /// lies about what it holds).
    Lie,
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub target: String,
    pub fault: Fault,
}

impl Seen {
    /// The part number of an `UploadPart` request.
    pub fn part_number(&self) -> Option<u32> {
        if self.method != "PUT" {
            return None;
        }
        let q = self.target.split_once('?')?.1;
        q.split('&')
            .find_map(|kv| kv.strip_prefix("partNumber="))
            .and_then(|n| n.parse().ok())
    }
}

type Rule = Box<dyn Fn(&Seen, usize) -> Fault + Send + Sync>;

/// An HTTP/1.1 proxy (one request per connection) in front of `upstream` that applies a rule
/// to every request: `rule(request, index)` with the request's index among all seen.
pub struct FaultProxy {
    port: u16,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    rule: Arc<Mutex<Rule>>,
}

impl FaultProxy {
    pub fn start(upstream: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let upstream = upstream.trim_start_matches("http://").to_string();
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let rule: Arc<Mutex<Rule>> = Arc::new(Mutex::new(Box::new(|_, _| Fault::Pass)));
        let (s, r) = (Arc::clone(&seen), Arc::clone(&rule));
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                let Ok(conn) = conn else { continue };
                let (s, r, up) = (Arc::clone(&s), Arc::clone(&r), upstream.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, &up, &s, &r);
                });
            }
        });
        FaultProxy { port, seen, rule }
    }

    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn set(&self, rule: impl Fn(&Seen, usize) -> Fault + Send + Sync + 'static) {
        *self.rule.lock().unwrap() = Box::new(rule);
    }

    pub fn pass(&self) {
        self.set(|_, _| Fault::Pass);
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.seen.lock().unwrap().clear();
    }

    /// Part numbers of the part uploads seen (in arrival order), faulted or not.
    pub fn part_puts(&self) -> Vec<u32> {
        self.seen().iter().filter_map(Seen::part_number).collect()
    }

    /// Requests that carried file bytes (part uploads and plain object PUTs).
    pub fn body_puts(&self) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.method == "PUT" && s.target.matches('/').count() >= 2)
            .count()
    }
}

fn serve(
    client: TcpStream,
    upstream: &str,
    seen: &Mutex<Vec<Seen>>,
    rule: &Mutex<Rule>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(client.try_clone()?);
    let mut head = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let end = line == "\r\n";
        head.push(line);
        if end {
            break;
        }
    }
    let mut parts = head[0].split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("").to_string();
    let len: usize = head
        .iter()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.eq_ignore_ascii_case("content-length")
                .then(|| v.trim().parse().ok())?
        })
        .unwrap_or(0);
    let mut request = Seen {
        method,
        target,
        fault: Fault::Pass,
    };
    let fault = {
        let mut log = seen.lock().unwrap();
        let f = (rule.lock().unwrap())(&request, log.len());
        request.fault = f;
        log.push(request.clone());
        f
    };
    let mut out = client;
    match fault {
        Fault::DropAfter(n) => {
            let mut sink = vec![0u8; n.min(len)];
            let _ = reader.read_exact(&mut sink);
            let _ = out.shutdown(Shutdown::Both);
            return Ok(());
        }
        Fault::Status(code) => {
            let mut body = vec![0u8; len];
            reader.read_exact(&mut body)?;
            let doc = "<Error><Code>ServiceUnavailable</Code><Message>injected</Message></Error>";
            write!(
                out,
                "HTTP/1.1 {code} Injected\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{doc}",
                doc.len()
            )?;
            return Ok(());
        }
        Fault::Pass | Fault::Lie | Fault::Lost => {}
    }
    let mut up = TcpStream::connect(upstream)?;
    for line in &head {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("connection:") {
            continue;
        }
        if line == "\r\n" {
            up.write_all(b"Connection: close\r\n")?;
        }
        up.write_all(line.as_bytes())?;
    }
    let mut body = (&mut reader).take(len as u64);
    std::io::copy(&mut body, &mut up)?;
    let mut response = Vec::new();
    up.read_to_end(&mut response)?;
    if fault == Fault::Lie {
        response = replace_etag(&response);
    }
    if fault == Fault::Lost {
        let _ = out.shutdown(Shutdown::Both);
        return Ok(());
    }
    out.write_all(&response)?;
    let _ = out.shutdown(Shutdown::Both);
    Ok(())
}

fn replace_etag(response: &[u8]) -> Vec<u8> {
    let split = response
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map_or(response.len(), |p| p + 4);
    let head = String::from_utf8_lossy(&response[..split]);
    let mut out = String::new();
    for line in head.split_inclusive("\r\n") {
        let lower = line.to_ascii_lowercase();
        if lower.starts_with("etag:") {
            out.push_str("ETag: \"00000000000000000000000000000000-9\"\r\n");
        } else if lower.starts_with("x-amz-checksum-crc32c:") {
            out.push_str("x-amz-checksum-crc32c: AAAAAA==-9\r\n");
        } else {
            out.push_str(line);
        }
    }
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(&response[split..]);
    bytes
}
