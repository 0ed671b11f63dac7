//! The HTTP side: a small HTTP/1.1 server of the sandbox's own, fault injection, and writing
//! answers (including deliberately broken ones).
//!
//! One thread per connection, kept open for the next request (keep-alive) until the client
//! closes it or asks to. Owning the sockets is what lets a fault drop a connection at once or
//! after an exact number of answer bytes, which clients see as a real transport failure. A
//! connection never waits for a thread: a pool that queues connections behind idle keep-alive
//! ones stalls a client that opens one connection more than the pool has threads.

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, BufWriter, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use parking_lot::Mutex;

use super::RecordedRequest;
use super::faults::FaultAction;
use super::http::{Req, Resp};
use super::routes;
use super::state::Shared;
use aignostics::{Error, Result};

/// Largest request body read (run submissions with many items and upload parts stay below).
const MAX_REQUEST_BODY: u64 = 128 * 1024 * 1024;

/// Largest request head (request line and headers).
const MAX_REQUEST_HEAD: usize = 64 * 1024;

/// How long a connection may stay silent (between requests, or within one) before it is
/// closed.
const IDLE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Most connections served at once; more are closed at once (clients see a reset and retry).
const MAX_CONNECTIONS: usize = 1024;

/// The running threads of a sandbox.
pub(crate) struct Running {
    stopping: Arc<AtomicBool>,
    public_addr: SocketAddr,
    /// Every open connection, so stopping can close them.
    conns: Arc<Mutex<HashMap<u64, TcpStream>>>,
    accept: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for Running {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Running")
            .field("addr", &self.public_addr)
            .finish_non_exhaustive()
    }
}

fn io_error(what: &str, e: impl std::fmt::Display) -> Error {
    Error::Config(format!("sandbox: {what}: {e}"))
}

/// Binds the public port (0 picks a free one).
pub(crate) fn bind(port: u16) -> Result<TcpListener> {
    TcpListener::bind(("127.0.0.1", port))
        .map_err(|e| io_error(&format!("cannot listen on 127.0.0.1:{port}"), e))
}

/// Starts serving `shared` on `listener`.
pub(crate) fn start(listener: TcpListener, shared: Arc<Shared>) -> Result<Running> {
    let public_addr = listener
        .local_addr()
        .map_err(|e| io_error("no local address", e))?;
    let stopping = Arc::new(AtomicBool::new(false));
    let conns: Arc<Mutex<HashMap<u64, TcpStream>>> = Arc::default();
    let accept = {
        let (stopping, conns) = (Arc::clone(&stopping), Arc::clone(&conns));
        std::thread::Builder::new()
            .name("aignostics-sandbox-accept".into())
            .spawn(move || accept_loop(&listener, &shared, &stopping, &conns))
            .map_err(|e| io_error("cannot start a thread", e))?
    };
    Ok(Running {
        stopping,
        public_addr,
        conns,
        accept: Some(accept),
    })
}

fn accept_loop(
    listener: &TcpListener,
    shared: &Arc<Shared>,
    stopping: &AtomicBool,
    conns: &Arc<Mutex<HashMap<u64, TcpStream>>>,
) {
    for (n, stream) in (0u64..).zip(listener.incoming()) {
        if stopping.load(Ordering::SeqCst) {
            return;
        }
        let Ok(stream) = stream else { continue };
        // Answers go out in pieces (head, body); without this the last piece can wait for the
        // delayed acknowledgement of the one before (up to 40 ms per answer on loopback).
        let _ = stream.set_nodelay(true);
        let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
        if conns.lock().len() >= MAX_CONNECTIONS {
            let _ = stream.shutdown(Shutdown::Both);
            continue;
        }
        let Ok(registered) = stream.try_clone() else {
            continue;
        };
        conns.lock().insert(n, registered);
        let (shared, open) = (Arc::clone(shared), Arc::clone(conns));
        let spawned = std::thread::Builder::new()
            .name("aignostics-sandbox-connection".into())
            .spawn(move || {
                connection(&shared, stream);
                open.lock().remove(&n);
            });
        if spawned.is_err() {
            // No thread: the connection is closed (the client sees a reset, and retries).
            if let Some(s) = conns.lock().remove(&n) {
                let _ = s.shutdown(Shutdown::Both);
            }
        }
    }
}

impl Running {
    pub(crate) fn addr(&self) -> SocketAddr {
        self.public_addr
    }

    /// Stops accepting, closes every connection and waits for the accept thread.
    pub(crate) fn stop(&mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag and closes the listener.
        let _ = TcpStream::connect(self.public_addr);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        for (_, conn) in self.conns.lock().drain() {
            let _ = conn.shutdown(Shutdown::Both);
        }
    }
}

/// A request as read from the wire.
struct Incoming {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    keep_alive: bool,
}

impl Incoming {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Serves the requests of one connection until it closes.
fn connection(shared: &Shared, stream: TcpStream) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::with_capacity(64 * 1024, read_half);
    let mut writer = stream;
    loop {
        let incoming = match read_head(&mut reader) {
            Ok(Some(incoming)) => incoming,
            Ok(None) => break,
            Err(status) => {
                let _ = write_answer(
                    &mut writer,
                    Resp::detail(status, "bad request"),
                    false,
                    false,
                );
                break;
            }
        };
        if incoming
            .header("expect")
            .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
            && writer.write_all(b"HTTP/1.1 100 Continue\r\n\r\n").is_err()
        {
            break;
        }
        let body = match read_body(&mut reader, &incoming) {
            Ok(body) => body,
            Err(status) => {
                let _ = write_answer(
                    &mut writer,
                    Resp::detail(status, "bad request body"),
                    false,
                    false,
                );
                break;
            }
        };
        let keep_alive = incoming.keep_alive;
        let req = Req::new(&incoming.method, &incoming.target, incoming.headers, body);
        if !serve(shared, &req, &mut writer, keep_alive) || !keep_alive {
            break;
        }
    }
    let _ = writer.shutdown(Shutdown::Both);
}

/// Most headers one request may carry.
const MAX_HEADERS: usize = 128;

/// Reads a request line and its headers with `httparse`, which refuses what real servers
/// refuse (spaces before a header's colon, control characters or a bare CR in the target, a
/// malformed version). `Ok(None)` when the client closed the connection between requests;
/// `Err(status)` for a head that is not HTTP/1.x, malformed or too large.
fn read_head(reader: &mut impl BufRead) -> std::result::Result<Option<Incoming>, u16> {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let available = match reader.fill_buf() {
            Ok(available) => available,
            // Idle between requests past the read timeout: the connection just closes.
            Err(_) if buf.is_empty() => return Ok(None),
            Err(_) => return Err(408),
        };
        if available.is_empty() {
            return if buf.iter().all(|b| matches!(b, b'\r' | b'\n')) {
                Ok(None)
            } else {
                Err(400)
            };
        }
        let take = available.len().min(MAX_REQUEST_HEAD + 1 - buf.len());
        let before = buf.len();
        buf.extend_from_slice(&available[..take]);
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut parsed = httparse::Request::new(&mut headers);
        match parsed.parse(&buf) {
            Ok(httparse::Status::Complete(len)) => {
                reader.consume(len - before);
                return incoming(&parsed).map(Some);
            }
            Ok(httparse::Status::Partial) if buf.len() > MAX_REQUEST_HEAD => return Err(431),
            Ok(httparse::Status::Partial) => reader.consume(take),
            Err(httparse::Error::TooManyHeaders) => return Err(431),
            Err(httparse::Error::Version) => return Err(505),
            Err(_) => return Err(400),
        }
    }
}

/// The request `httparse` read, with keep-alive settled by the version and `Connection`.
fn incoming(parsed: &httparse::Request<'_, '_>) -> std::result::Result<Incoming, u16> {
    let (Some(method), Some(target), Some(version)) = (parsed.method, parsed.path, parsed.version)
    else {
        return Err(400);
    };
    let headers = parsed
        .headers
        .iter()
        .map(|h| {
            let value = std::str::from_utf8(h.value).map_err(|_| 400u16)?;
            Ok((h.name.to_string(), value.trim().to_string()))
        })
        .collect::<std::result::Result<Vec<_>, u16>>()?;
    let mut incoming = Incoming {
        method: method.to_string(),
        target: target.to_string(),
        headers,
        keep_alive: version == 1,
    };
    if let Some(conn) = incoming.header("connection") {
        let has = |token: &str| {
            conn.split(',')
                .any(|t| t.trim().eq_ignore_ascii_case(token))
        };
        if has("close") {
            incoming.keep_alive = false;
        } else if has("keep-alive") {
            incoming.keep_alive = true;
        }
    }
    Ok(incoming)
}

/// How a request's body is framed (RFC 9112 §6).
enum Framing {
    None,
    Length(u64),
    Chunked,
}

/// The framing the headers announce: `Transfer-Encoding: chunked` exactly (any other coding
/// is 501), or one `Content-Length` of digits (repeated only with the same value); both at
/// once, or a length that is not digits (`+5`), is 400.
fn framing(incoming: &Incoming) -> std::result::Result<Framing, u16> {
    let all = |name: &'static str| -> Vec<&str> {
        incoming
            .headers
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .map(str::trim)
            .collect()
    };
    let codings = all("transfer-encoding");
    let lengths = all("content-length");
    if !codings.is_empty() {
        if !lengths.is_empty() {
            return Err(400);
        }
        return match codings.as_slice() {
            [one] if one.eq_ignore_ascii_case("chunked") => Ok(Framing::Chunked),
            _ => Err(501),
        };
    }
    let Some(first) = lengths.first() else {
        return Ok(Framing::None);
    };
    if lengths.iter().any(|l| l != first)
        || first.is_empty()
        || !first.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(400);
    }
    first.parse().map(Framing::Length).map_err(|_| 413)
}

/// Reads the body the head announces (`Content-Length` or chunked), at most
/// [`MAX_REQUEST_BODY`] bytes; memory grows with the bytes that arrive, not with the length
/// announced.
fn read_body(reader: &mut impl BufRead, incoming: &Incoming) -> std::result::Result<Vec<u8>, u16> {
    let len = match framing(incoming)? {
        Framing::None => return Ok(Vec::new()),
        Framing::Chunked => return read_chunked(reader),
        Framing::Length(len) => len,
    };
    if len > MAX_REQUEST_BODY {
        return Err(413);
    }
    let mut body = Vec::with_capacity(len.min(1024 * 1024) as usize);
    reader
        .take(len)
        .read_to_end(&mut body)
        .map_err(|_| 400u16)?;
    if body.len() as u64 != len {
        return Err(400);
    }
    Ok(body)
}

/// A chunked body: sizes read by `httparse` (hex digits only, extensions allowed), each
/// chunk's data followed by exactly CRLF, then trailers up to a blank line.
fn read_chunked(reader: &mut impl BufRead) -> std::result::Result<Vec<u8>, u16> {
    let mut body = Vec::new();
    loop {
        let mut line = Vec::new();
        reader
            .by_ref()
            .take(1024)
            .read_until(b'\n', &mut line)
            .map_err(|_| 400u16)?;
        let size = match httparse::parse_chunk_size(&line) {
            Ok(httparse::Status::Complete((_, size))) => size,
            Ok(httparse::Status::Partial) | Err(_) => return Err(400),
        };
        if (body.len() as u64).saturating_add(size) > MAX_REQUEST_BODY {
            return Err(413);
        }
        if size == 0 {
            // Trailers, up to the blank line.
            let mut total = 0usize;
            loop {
                let mut trailer = Vec::new();
                let n = reader
                    .by_ref()
                    .take(8 * 1024)
                    .read_until(b'\n', &mut trailer)
                    .map_err(|_| 400u16)?;
                total += n;
                if total > MAX_REQUEST_HEAD {
                    return Err(431);
                }
                if trailer == b"\r\n" {
                    return Ok(body);
                }
                if n == 0 || !trailer.ends_with(b"\r\n") {
                    return Err(400);
                }
            }
        }
        let before = body.len();
        reader
            .by_ref()
            .take(size)
            .read_to_end(&mut body)
            .map_err(|_| 400u16)?;
        if (body.len() - before) as u64 != size {
            return Err(400);
        }
        let mut crlf = [0u8; 2];
        reader.read_exact(&mut crlf).map_err(|_| 400u16)?;
        if &crlf != b"\r\n" {
            return Err(400);
        }
    }
}

/// Handles one request: record, apply a fault if one matches, answer. False when the
/// connection must close (a fault dropped it, or the answer could not be written).
fn serve(shared: &Shared, req: &Req, w: &mut TcpStream, keep_alive: bool) -> bool {
    shared.log.lock().push(RecordedRequest {
        method: req.method.clone(),
        path: req.path.clone(),
        authorization: req.header("authorization").is_some(),
    });
    let head_only = req.method == "HEAD";
    let fault = shared.faults.lock().take(&req.method, &req.path);
    let injected =
        |status: u16| Resp::detail(status, format!("sandbox: injected fault (HTTP {status})"));
    let answer = match fault {
        None => routes::handle(shared, req),
        Some(FaultAction::Delay(d)) => {
            std::thread::sleep(d);
            routes::handle(shared, req)
        }
        Some(FaultAction::Status {
            status,
            retry_after,
        }) => {
            let mut resp = injected(status);
            if let Some(s) = retry_after {
                resp = resp.header("Retry-After", s.to_string());
            }
            resp
        }
        Some(FaultAction::StatusAfterCommit { status }) => {
            drop(routes::handle(shared, req));
            injected(status)
        }
        Some(FaultAction::DropAfterCommit) => {
            drop(routes::handle(shared, req));
            return false;
        }
        Some(FaultAction::DropConnection) => return false,
        Some(FaultAction::TruncateBody { after_bytes }) => {
            let raw = raw_truncated(routes::handle(shared, req), after_bytes, head_only);
            let _ = w.write_all(&raw);
            let _ = w.flush();
            return false;
        }
    };
    write_answer(w, answer, head_only, keep_alive).is_ok()
}

/// The head of `resp` announcing `len` body bytes.
fn head(resp: &Resp, len: usize, keep_alive: bool) -> Vec<u8> {
    let mut raw = format!("HTTP/1.1 {} {}\r\n", resp.status, reason(resp.status)).into_bytes();
    for (k, v) in &resp.headers {
        if k.eq_ignore_ascii_case("content-length") || k.eq_ignore_ascii_case("connection") {
            continue;
        }
        raw.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    raw.extend_from_slice(format!("Content-Length: {len}\r\n").as_bytes());
    if !keep_alive {
        raw.extend_from_slice(b"Connection: close\r\n");
    }
    raw.extend_from_slice(b"\r\n");
    raw
}

/// Sends a normal answer, always with a `Content-Length` (never chunked).
fn write_answer(
    w: &mut TcpStream,
    resp: Resp,
    head_only: bool,
    keep_alive: bool,
) -> io::Result<()> {
    let len = resp.body.len();
    let mut out = BufWriter::with_capacity(64 * 1024, w);
    out.write_all(&head(&resp, len, keep_alive))?;
    if !head_only {
        io::copy(&mut resp.body.into_reader(), &mut out)?;
    }
    out.flush()
}

/// The answer's head announcing the full length, followed by only `after_bytes` of its body.
fn raw_truncated(resp: Resp, after_bytes: usize, head_only: bool) -> Vec<u8> {
    let mut raw = head(&resp, resp.body.len(), true);
    if !head_only {
        let mut reader = resp.body.into_reader().take(after_bytes as u64);
        let _ = reader.read_to_end(&mut raw);
    }
    raw
}

/// The reason phrase of the status codes the sandbox answers with.
fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        201 => "Created",
        204 => "No Content",
        206 => "Partial Content",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        307 => "Temporary Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        412 => "Precondition Failed",
        408 => "Request Timeout",
        413 => "Content Too Large",
        416 => "Range Not Satisfiable",
        422 => "Unprocessable Content",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        _ => "Status",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn head_of(raw: &str) -> std::result::Result<Option<Incoming>, u16> {
        read_head(&mut BufReader::new(raw.as_bytes()))
    }

    // Proves request heads are parsed with keep-alive by version and `Connection`, and that
    // malformed, smuggling-prone or oversized heads are refused with a status instead of a
    // panic (FR-44, NFR-13, NFR-30).
    #[test]
    fn request_heads() {
        let r = head_of("GET /a?b=1 HTTP/1.1\r\nHost: x\r\nX-Y:  z \r\n\r\n")
            .unwrap()
            .unwrap();
        assert_eq!((r.method.as_str(), r.target.as_str()), ("GET", "/a?b=1"));
        assert_eq!(r.header("x-y"), Some("z"));
        assert!(r.keep_alive);
        assert!(
            !head_of("GET / HTTP/1.1\r\nConnection: close\r\n\r\n")
                .unwrap()
                .unwrap()
                .keep_alive
        );
        assert!(
            !head_of("GET / HTTP/1.0\r\n\r\n")
                .unwrap()
                .unwrap()
                .keep_alive
        );
        assert!(head_of("").unwrap().is_none());
        assert_eq!(head_of("GET / HTTP/2\r\n\r\n").err(), Some(505));
        assert_eq!(head_of("GET /\r\n\r\n").err(), Some(400));
        assert_eq!(
            head_of("GET / HTTP/1.1\r\nno colon\r\n\r\n").err(),
            Some(400)
        );
        assert_eq!(head_of("GET / HTTP/1.1\r\nHost: x").err(), Some(400));
        // What real servers refuse: a space before the colon, control characters or a bare
        // CR in the target, a request line split by a bare CR.
        for bad in [
            "GET / HTTP/1.1\r\nHost : x\r\n\r\n",
            "GET /a\x01b HTTP/1.1\r\n\r\n",
            "GET /a\rLocation:x HTTP/1.1\r\n\r\n",
            "GET /a\x7fb HTTP/1.1\r\n\r\n",
        ] {
            assert_eq!(head_of(bad).err(), Some(400), "{bad:?}");
        }
        let huge = format!(
            "GET / HTTP/1.1\r\nX: {}\r\n\r\n",
            "a".repeat(MAX_REQUEST_HEAD)
        );
        assert_eq!(head_of(&huge).err(), Some(431));
    }

    // Proves chunked and sized request bodies are read exactly, and short, oversized, signed,
    // conflicting or ambiguously framed ones are refused (FR-44, NFR-13, NFR-30).
    #[test]
    fn request_bodies() {
        let incoming = |headers: &[(&str, &str)]| Incoming {
            method: "PUT".into(),
            target: "/".into(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            keep_alive: true,
        };
        let body = |raw: &str, h: &[(&str, &str)]| {
            read_body(&mut BufReader::new(raw.as_bytes()), &incoming(h))
        };
        assert_eq!(body("hello", &[("Content-Length", "5")]).unwrap(), b"hello");
        assert_eq!(body("hel", &[("Content-Length", "5")]).err(), Some(400));
        assert_eq!(body("", &[("Content-Length", "x")]).err(), Some(400));
        assert_eq!(body("hello", &[("Content-Length", "+5")]).err(), Some(400));
        assert_eq!(
            body("hello", &[("Content-Length", "5"), ("Content-Length", "3")]).err(),
            Some(400),
            "conflicting lengths"
        );
        assert_eq!(
            body("hello", &[("Content-Length", "5"), ("content-length", "5")]).unwrap(),
            b"hello"
        );
        assert_eq!(
            body(
                "5\r\nhello\r\n0\r\n\r\n",
                &[("Transfer-Encoding", "notchunked")]
            )
            .err(),
            Some(501)
        );
        assert_eq!(
            body(
                "5\r\nhello\r\n0\r\n\r\n",
                &[("Transfer-Encoding", "gzip, chunked")]
            )
            .err(),
            Some(501)
        );
        assert_eq!(
            body(
                "5\r\nhello\r\n0\r\n\r\n",
                &[("Transfer-Encoding", "chunked"), ("Content-Length", "5")]
            )
            .err(),
            Some(400),
            "both framings at once"
        );
        assert_eq!(
            body("", &[("Content-Length", "999999999999")]).err(),
            Some(413)
        );
        let chunked = [("Transfer-Encoding", "chunked")];
        assert_eq!(
            body("3\r\nhel\r\n2;x=y\r\nlo\r\n0\r\nT: v\r\n\r\n", &chunked).unwrap(),
            b"hello"
        );
        assert_eq!(body("zz\r\n", &chunked).err(), Some(400));
        assert_eq!(body("+5\r\nhello\r\n0\r\n\r\n", &chunked).err(), Some(400));
        assert_eq!(
            body("5\r\nhelloXX0\r\n\r\n", &chunked).err(),
            Some(400),
            "chunk data must end with CRLF"
        );
        assert_eq!(body("ffffffffff\r\n", &chunked).err(), Some(413));
        assert!(body("ffffffffffffffff\r\n", &chunked).is_err());
        assert!(body("fffffffffffffffff\r\n", &chunked).is_err());
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]

        // Proves any bytes as a request head or a chunked body give a request or a status,
        // never a panic (FR-44, NFR-13, NFR-16).
        #[test]
        fn any_bytes_never_panic(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = read_head(&mut BufReader::new(raw.as_slice()));
            let chunked = Incoming {
                method: "PUT".into(),
                target: "/".into(),
                headers: vec![("Transfer-Encoding".into(), "chunked".into())],
                keep_alive: true,
            };
            let _ = read_body(&mut BufReader::new(raw.as_slice()), &chunked);
        }
    }
}
