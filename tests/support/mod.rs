//! A loopback platform that can misbehave: serves one run, its items, the artifact `/file`
//! redirects and a storage host, and can cut bodies, ignore `Range`, corrupt bytes, stall,
//! answer error statuses, and count every request.
//!
//! Shared by the download tests, the download benchmark and the RSS example.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{Value, json};

/// Artifact bytes: `block` repeated up to `len` bytes, generated while serving, so a 512 MiB
/// artifact costs the server 64 KiB of memory.
#[derive(Clone)]
pub struct Pattern {
    block: Arc<Vec<u8>>,
    len: u64,
}

impl Pattern {
    /// Exactly these bytes.
    pub fn bytes(data: impl Into<Vec<u8>>) -> Self {
        let data = data.into();
        Self {
            len: data.len() as u64,
            block: Arc::new(data),
        }
    }

    /// `len` bytes of a fixed pseudo-random 64 KiB block (seeded by `seed`).
    pub fn pseudo_random(seed: u64, len: u64) -> Self {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        let block = (0..65_536)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                (x >> 24) as u8
            })
            .collect();
        Self {
            block: Arc::new(block),
            len,
        }
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    /// Reads the bytes from `start` on.
    pub fn reader_from(&self, start: u64) -> PatternReader {
        PatternReader {
            pattern: self.clone(),
            pos: start.min(self.len),
        }
    }

    /// Every byte, in memory (small patterns only).
    pub fn to_vec(&self) -> Vec<u8> {
        let mut v = Vec::new();
        self.reader_from(0).read_to_end(&mut v).unwrap();
        v
    }

    /// The platform's checksum text of these bytes.
    pub fn checksum(&self) -> String {
        aignostics::checksum::crc32c_base64_reader(self.reader_from(0)).unwrap()
    }
}

/// Streams a [`Pattern`].
pub struct PatternReader {
    pattern: Pattern,
    pos: u64,
}

impl Read for PatternReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let block = &self.pattern.block;
        let left = self.pattern.len - self.pos;
        let offset = (self.pos % block.len() as u64) as usize;
        let n = buf
            .len()
            .min(block.len() - offset)
            .min(usize::try_from(left).unwrap_or(usize::MAX));
        buf[..n].copy_from_slice(&block[offset..offset + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

/// How the storage host serves one artifact.
#[derive(Clone)]
pub struct Blob {
    pub data: Pattern,
    /// Cut the body after this many bytes (of the response) for the next `cut_times` answers.
    pub cut_after: u64,
    pub cut_times: usize,
    /// Answer every `Range` request with the whole artifact (200).
    pub ignore_range: bool,
    /// Flip one byte in the next `corrupt_times` answers.
    pub corrupt_times: usize,
    /// Statuses answered (with no body) before serving, one per request.
    pub statuses: VecDeque<u16>,
    /// Statuses the platform's `/file` endpoint answers before redirecting, one per request.
    pub file_statuses: VecDeque<u16>,
    /// Stall for this long after `stall_after` bytes, for the next `stall_times` answers.
    pub stall: Duration,
    pub stall_after: u64,
    pub stall_times: usize,
    /// Per request, in order: `Some` exact bytes (status line, headers and body) written before
    /// the connection is closed, a hostile answer no honest server sends; `None` serves the
    /// request normally. Empty: every request is served normally.
    pub raw_answers: VecDeque<Option<Vec<u8>>>,
}

impl Blob {
    pub fn new(data: Pattern) -> Self {
        Self {
            data,
            cut_after: 0,
            cut_times: 0,
            ignore_range: false,
            corrupt_times: 0,
            statuses: VecDeque::new(),
            file_statuses: VecDeque::new(),
            stall: Duration::ZERO,
            stall_after: 0,
            stall_times: 0,
            raw_answers: VecDeque::new(),
        }
    }
}

/// One request as the server saw it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HashMap<String, String>,
}

impl Seen {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).map(String::as_str)
    }
}

#[derive(Default)]
struct State {
    run_states: VecDeque<String>,
    items: VecDeque<Vec<Value>>,
    blobs: HashMap<String, Blob>,
    seen: Vec<Seen>,
    gate: Option<Gate>,
    /// Answer every page of the item listing with the first page (a server ignoring `page`).
    ignore_page: bool,
    /// Where `/file` redirects (`{host}/{artifact_id}`) instead of this server's `/storage/`.
    storage_host: Option<String>,
}

/// The run stays `PROCESSING` with the `before` items until one artifact has been served in
/// full, then is `TERMINATED` with the `after` items.
struct Gate {
    artifact_id: String,
    open: bool,
    before: Vec<Value>,
    after: Vec<Value>,
}

/// The loopback platform. Dropping it leaves the accept thread parked (tests are short-lived).
pub struct Platform {
    pub run_id: String,
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    signature: Arc<AtomicU64>,
}

impl Platform {
    /// Starts serving run `run_id` (state `TERMINATED`, no items) on a free loopback port.
    pub fn start(run_id: &str) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            run_states: VecDeque::from(["TERMINATED".to_string()]),
            items: VecDeque::from([Vec::new()]),
            ..State::default()
        }));
        let platform = Self {
            run_id: run_id.to_string(),
            addr,
            state: Arc::clone(&state),
            signature: Arc::new(AtomicU64::new(0)),
        };
        let run_id = run_id.to_string();
        let signature = Arc::clone(&platform.signature);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let state = Arc::clone(&state);
                let run_id = run_id.clone();
                let signature = Arc::clone(&signature);
                std::thread::spawn(move || {
                    let _ = serve(stream, addr, &run_id, &state, &signature);
                });
            }
        });
        platform
    }

    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A client of this platform with default settings sending `token`.
    pub fn client(&self, token: &str) -> aignostics::Client {
        let settings = aignostics::Settings::default()
            .with_api_root(&self.base_url())
            .expect("a loopback root");
        aignostics::Client::builder()
            .settings(settings)
            .token_provider(aignostics::TokenProvider::fixed(token))
            .build()
            .expect("a client")
    }

    /// States answered by `GET /runs/{id}`, one per request; the last one repeats.
    pub fn run_states(&self, states: &[&str]) {
        self.state.lock().run_states = states.iter().map(|s| s.to_string()).collect();
    }

    /// Item lists answered by successive item listings; the last one repeats.
    pub fn item_passes(&self, passes: Vec<Vec<Value>>) {
        self.state.lock().items = passes.into();
    }

    /// Answers every page of the item listing like page 1, as a server ignoring `page` would.
    pub fn ignore_page(&self) {
        self.state.lock().ignore_page = true;
    }

    /// The items of every listing.
    pub fn items(&self, items: Vec<Value>) {
        self.item_passes(vec![items]);
    }

    /// Keeps the run `PROCESSING` with `before` items until `artifact_id` was served in full,
    /// then reports it `TERMINATED` with `after` items.
    pub fn gate(&self, artifact_id: &str, before: Vec<Value>, after: Vec<Value>) {
        self.state.lock().gate = Some(Gate {
            artifact_id: artifact_id.to_string(),
            open: false,
            before,
            after,
        });
    }

    pub fn blob(&self, artifact_id: &str, blob: Blob) {
        self.state
            .lock()
            .blobs
            .insert(artifact_id.to_string(), blob);
    }

    /// Redirects artifact downloads to `{host}/{artifact_id}` (another server, such as nginx
    /// serving files) instead of this server's own storage host.
    pub fn storage_host(&self, host: &str) {
        self.state.lock().storage_host = Some(host.trim_end_matches('/').to_string());
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.lock().seen.clone()
    }

    /// Requests whose path starts with `prefix`.
    pub fn seen_under(&self, prefix: &str) -> Vec<Seen> {
        self.seen()
            .into_iter()
            .filter(|s| s.path.starts_with(prefix))
            .collect()
    }

    /// Requests for one artifact's bytes.
    pub fn storage_requests(&self, artifact_id: &str) -> Vec<Seen> {
        self.seen_under(&format!("/storage/{artifact_id}"))
    }

    /// `/file` requests (signed-URL lookups) so far.
    pub fn file_requests(&self) -> usize {
        self.seen()
            .iter()
            .filter(|s| s.path.ends_with("/file"))
            .count()
    }

    /// The signed URL the `/file` endpoint would answer for `artifact_id` (for plain fetches).
    pub fn storage_url(&self, artifact_id: &str) -> String {
        format!(
            "{}/storage/{artifact_id}?X-Goog-Signature=sig",
            self.base_url()
        )
    }
}

/// A run as the platform reports it.
pub fn run_json(run_id: &str, state: &str) -> Value {
    json!({
        "run_id": run_id,
        "application_id": "he-tme",
        "version_number": "1.0.0",
        "state": state,
        "output": if state == "TERMINATED" { "FULL" } else { "NONE" },
        "termination_reason": if state == "TERMINATED" { json!("ALL_ITEMS_PROCESSED") } else { Value::Null },
        "error_code": null,
        "error_message": null,
        "statistics": {
            "item_count": 1, "item_pending_count": 0, "item_processing_count": 0,
            "item_user_error_count": 0, "item_system_error_count": 0,
            "item_skipped_count": 0, "item_succeeded_count": 1
        },
        "submitted_at": "2024-01-15T09:00:00.000Z",
        "submitted_by": "auth0|123456",
        "organization_id": "org_123456"
    })
}

/// An output artifact; `checksum: None` leaves it out of the metadata.
pub fn artifact_json(id: &str, name: &str, media_type: &str, checksum: Option<&str>) -> Value {
    let mut metadata = json!({ "media_type": media_type });
    if let Some(c) = checksum {
        metadata["checksum_base64_crc32c"] = json!(c);
    }
    json!({
        "output_artifact_id": id,
        "name": name,
        "metadata": metadata,
        "state": "TERMINATED",
        "termination_reason": "SUCCEEDED",
        "output": "AVAILABLE"
    })
}

/// A finished item with these artifacts.
pub fn item_json(external_id: &str, artifacts: Vec<Value>) -> Value {
    json!({
        "item_id": format!("item-{external_id}"),
        "external_id": external_id,
        "custom_metadata": null,
        "state": "TERMINATED",
        "output": "FULL",
        "termination_reason": "SUCCEEDED",
        "input_artifacts": [],
        "output_artifacts": artifacts
    })
}

/// An item in another state (`PENDING`, `PROCESSING`) or one that failed (`TERMINATED` with a
/// reason such as `USER_ERROR`), without output.
pub fn item_without_output(external_id: &str, state: &str, reason: Option<&str>) -> Value {
    json!({
        "item_id": format!("item-{external_id}"),
        "external_id": external_id,
        "custom_metadata": null,
        "state": state,
        "output": "NONE",
        "termination_reason": reason,
        "error_message": reason.map(|r| format!("failed with {r}")),
        "input_artifacts": [],
        "output_artifacts": []
    })
}

fn serve(
    stream: TcpStream,
    addr: SocketAddr,
    run_id: &str,
    state: &Mutex<State>,
    signature: &AtomicU64,
) -> std::io::Result<()> {
    stream.set_nodelay(true)?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut out = stream;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(());
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let target = parts.next().unwrap_or_default().to_string();
        let mut headers = HashMap::new();
        loop {
            let mut h = String::new();
            if reader.read_line(&mut h)? == 0 {
                return Ok(());
            }
            let h = h.trim_end();
            if h.is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p.to_string(), q.to_string()),
            None => (target.clone(), String::new()),
        };
        let seen = Seen {
            method,
            path: path.clone(),
            query,
            headers,
        };
        state.lock().seen.push(seen.clone());
        let keep_alive = respond(&mut out, &seen, addr, run_id, state, signature)?;
        if !keep_alive {
            return Ok(());
        }
    }
}

fn write_head(out: &mut TcpStream, status: u16, headers: &[(&str, String)]) -> std::io::Result<()> {
    let mut head = format!("HTTP/1.1 {status} X\r\n");
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    out.write_all(head.as_bytes())
}

fn json_answer(out: &mut TcpStream, status: u16, body: &Value) -> std::io::Result<bool> {
    let body = body.to_string();
    write_head(
        out,
        status,
        &[
            ("Content-Type", "application/json".into()),
            ("Content-Length", body.len().to_string()),
        ],
    )?;
    out.write_all(body.as_bytes())?;
    Ok(true)
}

/// Answers one request; returns whether the connection stays open.
fn respond(
    out: &mut TcpStream,
    seen: &Seen,
    addr: SocketAddr,
    run_id: &str,
    state: &Mutex<State>,
    signature: &AtomicU64,
) -> std::io::Result<bool> {
    let run_path = format!("/api/v1/runs/{run_id}");
    let path = seen.path.as_str();
    if path == run_path {
        let run_state = {
            let mut s = state.lock();
            if let Some(g) = &s.gate {
                if g.open { "TERMINATED" } else { "PROCESSING" }.to_string()
            } else if s.run_states.len() > 1 {
                s.run_states.pop_front().unwrap()
            } else {
                s.run_states.front().cloned().unwrap()
            }
        };
        // The run announces as many items as its longest listing holds.
        let item_count = {
            let s = state.lock();
            let gate = s.gate.iter().flat_map(|g| [g.before.len(), g.after.len()]);
            s.items.iter().map(Vec::len).chain(gate).max().unwrap_or(0)
        };
        let mut run = run_json(run_id, &run_state);
        run["statistics"]["item_count"] = json!(item_count);
        return json_answer(out, 200, &run);
    }
    if path == format!("{run_path}/items") {
        let page_one = seen.query.split('&').any(|kv| kv == "page=1") || state.lock().ignore_page;
        let items = if page_one {
            let mut s = state.lock();
            if let Some(g) = &s.gate {
                if g.open {
                    g.after.clone()
                } else {
                    g.before.clone()
                }
            } else if s.items.len() > 1 {
                s.items.pop_front().unwrap()
            } else {
                s.items.front().cloned().unwrap()
            }
        } else {
            Vec::new()
        };
        return json_answer(out, 200, &Value::Array(items));
    }
    if let Some(rest) = path.strip_prefix(&format!("{run_path}/artifacts/")) {
        let id = rest.trim_end_matches("/file");
        let (status, host) = {
            let mut s = state.lock();
            let status = s
                .blobs
                .get_mut(id)
                .and_then(|b| b.file_statuses.pop_front());
            (status, s.storage_host.clone())
        };
        if let Some(status) = status {
            return json_answer(out, status, &json!({"detail": format!("status {status}")}));
        }
        let n = signature.fetch_add(1, Ordering::Relaxed);
        let host = host.unwrap_or_else(|| format!("http://{addr}/storage"));
        write_head(
            out,
            307,
            &[
                (
                    "Location",
                    format!("{host}/{id}?X-Goog-Signature=secret{n}"),
                ),
                ("Content-Length", "0".into()),
            ],
        )?;
        return Ok(true);
    }
    if let Some(id) = path.strip_prefix("/storage/") {
        return serve_blob(out, seen, id, state);
    }
    json_answer(out, 404, &json!({"detail": "not found"}))
}

fn serve_blob(
    out: &mut TcpStream,
    seen: &Seen,
    id: &str,
    state: &Mutex<State>,
) -> std::io::Result<bool> {
    let (data, cut, ignore_range, corrupt, status, stall) = {
        let mut s = state.lock();
        let Some(blob) = s.blobs.get_mut(id) else {
            drop(s);
            return json_answer(out, 404, &json!({"detail": "no such object"}));
        };
        if let Some(Some(raw)) = blob.raw_answers.pop_front() {
            drop(s);
            out.write_all(&raw)?;
            out.flush()?;
            return Ok(false);
        }
        let status = blob.statuses.pop_front();
        let mut cut = None;
        let mut corrupt = false;
        let mut stall = None;
        if status.is_none() {
            if blob.cut_times > 0 {
                blob.cut_times -= 1;
                cut = Some(blob.cut_after);
            }
            if blob.corrupt_times > 0 {
                blob.corrupt_times -= 1;
                corrupt = true;
            }
            if blob.stall_times > 0 {
                blob.stall_times -= 1;
                stall = Some((blob.stall_after, blob.stall));
            }
        }
        (
            blob.data.clone(),
            cut,
            blob.ignore_range,
            corrupt,
            status,
            stall,
        )
    };
    if let Some(status) = status {
        write_head(out, status, &[("Content-Length", "0".into())])?;
        return Ok(true);
    }
    let len = data.len();
    let start = seen
        .header("range")
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.strip_suffix('-'))
        .and_then(|s| s.parse::<u64>().ok())
        .filter(|_| !ignore_range);
    let start = match start {
        Some(s) if s >= len => {
            write_head(
                out,
                416,
                &[
                    ("Content-Range", format!("bytes */{len}")),
                    ("Content-Length", "0".into()),
                ],
            )?;
            return Ok(true);
        }
        other => other,
    };
    let body_len = len - start.unwrap_or(0);
    let mut headers = vec![
        ("Content-Type", "application/octet-stream".to_string()),
        ("Content-Length", body_len.to_string()),
    ];
    let status = match start {
        Some(s) => {
            headers.push(("Content-Range", format!("bytes {s}-{}/{len}", len - 1)));
            206
        }
        None => 200,
    };
    write_head(out, status, &headers)?;
    let mut reader = data.reader_from(start.unwrap_or(0));
    let limit = cut.unwrap_or(u64::MAX);
    let mut sent = 0u64;
    let mut buf = vec![0u8; 64 * 1024];
    while sent < body_len && sent < limit {
        let mut want = (buf.len() as u64).min(limit - sent);
        if let Some((after, _)) = stall {
            want = want.min(after.saturating_sub(sent).max(1));
        }
        let n = reader.read(&mut buf[..want as usize])?;
        if n == 0 {
            break;
        }
        if corrupt && sent <= body_len / 2 && body_len / 2 < sent + n as u64 {
            buf[(body_len / 2 - sent) as usize] ^= 0xff;
        }
        out.write_all(&buf[..n])?;
        sent += n as u64;
        if let Some((after, pause)) = stall
            && sent >= after
        {
            // Go silent (the client's per-read timeout should fire), then hang up.
            out.flush()?;
            std::thread::sleep(pause);
            return Ok(false);
        }
    }
    out.flush()?;
    if sent == body_len
        && let Some(g) = state.lock().gate.as_mut()
        && g.artifact_id == id
    {
        g.open = true;
    }
    // A cut body ends the connection mid-way, like a reset link.
    Ok(cut.is_none())
}
