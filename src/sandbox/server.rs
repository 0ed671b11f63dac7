//! The HTTP side: the `tiny_http` server behind the relay, one thread per request, fault
//! injection, and writing answers (including deliberately broken ones).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use super::RecordedRequest;
use super::faults::FaultAction;
use super::http::{Req, Resp};
use super::routes;
use super::state::Shared;
use crate::error::{Error, Result};

/// Largest request body read (run submissions with many items stay far below).
const MAX_REQUEST_BODY: u64 = 32 * 1024 * 1024;

/// The running threads of a sandbox.
pub(crate) struct Running {
    http: Arc<tiny_http::Server>,
    stopping: Arc<AtomicBool>,
    public_addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
    dispatch: Option<JoinHandle<()>>,
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

/// A loopback listener whose accepted sockets send without delay. The HTTP server writes an
/// answer's head and body in pieces and never sets `TCP_NODELAY` itself, so a body's last
/// segment could wait for the delayed acknowledgement of the one before (up to 40 ms per
/// answer); accepted sockets inherit the option from the listener.
fn nodelay_listener() -> std::io::Result<TcpListener> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    socket2::SockRef::from(&listener).set_tcp_nodelay(true)?;
    Ok(listener)
}

/// Starts serving `shared` on `listener`.
pub(crate) fn start(listener: TcpListener, shared: Arc<Shared>) -> Result<Running> {
    let public_addr = listener
        .local_addr()
        .map_err(|e| io_error("no local address", e))?;
    let inner = nodelay_listener().map_err(|e| io_error("cannot start the HTTP server", e))?;
    let http = Arc::new(
        tiny_http::Server::from_listener(inner, None)
            .map_err(|e| io_error("cannot start the HTTP server", e))?,
    );
    let upstream = http
        .server_addr()
        .to_ip()
        .ok_or_else(|| io_error("the HTTP server has no IP address", "unix socket"))?;
    let accept = shared
        .relay
        .spawn(listener, upstream)
        .map_err(|e| io_error("cannot start a thread", e))?;
    let stopping = Arc::new(AtomicBool::new(false));
    let dispatch = {
        let (http, stopping, shared) = (Arc::clone(&http), Arc::clone(&stopping), shared);
        std::thread::Builder::new()
            .name("aignostics-sandbox-dispatch".into())
            .spawn(move || {
                while !stopping.load(Ordering::SeqCst) {
                    let Ok(request) = http.recv() else {
                        continue;
                    };
                    let shared = Arc::clone(&shared);
                    // One thread per request, so a delayed answer never holds up another. When
                    // no thread can be started, the request is dropped, which answers 500.
                    let _ = std::thread::Builder::new()
                        .name("aignostics-sandbox-request".into())
                        .spawn(move || serve(&shared, request));
                }
            })
            .map_err(|e| io_error("cannot start a thread", e))?
    };
    Ok(Running {
        http,
        stopping,
        public_addr,
        accept: Some(accept),
        dispatch: Some(dispatch),
    })
}

impl Running {
    pub(crate) fn addr(&self) -> SocketAddr {
        self.public_addr
    }

    /// Stops accepting, closes every connection and waits for the server threads.
    pub(crate) fn stop(&mut self, shared: &Shared) {
        self.stopping.store(true, Ordering::SeqCst);
        shared.relay.stop();
        // Wake the accept loop so it sees the flag and closes the listener.
        let _ = TcpStream::connect(self.public_addr);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
        self.http.unblock();
        if let Some(t) = self.dispatch.take() {
            let _ = t.join();
        }
    }
}

/// Handles one request: record, apply a fault if one matches, answer.
fn serve(shared: &Shared, mut request: tiny_http::Request) {
    let headers: Vec<(String, String)> = request
        .headers()
        .iter()
        .map(|h| {
            (
                h.field.as_str().as_str().to_string(),
                h.value.as_str().to_string(),
            )
        })
        .collect();
    let mut body = Vec::new();
    let _ = request
        .as_reader()
        .take(MAX_REQUEST_BODY)
        .read_to_end(&mut body);
    let method = request.method().as_str().to_string();
    let req = Req::new(&method, request.url(), headers, body);
    shared.log.lock().push(RecordedRequest {
        method: req.method.clone(),
        path: req.path.clone(),
        authorization: req.header("authorization").is_some(),
    });
    let peer = request.remote_addr().copied();
    let fault = shared.faults.lock().take(&req.method, &req.path);
    match fault {
        None => respond(request, routes::handle(shared, &req)),
        Some(FaultAction::Delay(d)) => {
            std::thread::sleep(d);
            respond(request, routes::handle(shared, &req));
        }
        Some(FaultAction::Status {
            status,
            retry_after,
        }) => {
            let mut resp = Resp::detail(status, format!("sandbox: injected fault (HTTP {status})"));
            if let Some(s) = retry_after {
                resp = resp.header("Retry-After", s.to_string());
            }
            respond(request, resp);
        }
        Some(FaultAction::StatusAfterCommit { status }) => {
            drop(routes::handle(shared, &req));
            respond(
                request,
                Resp::detail(status, format!("sandbox: injected fault (HTTP {status})")),
            );
        }
        Some(FaultAction::DropAfterCommit) => {
            drop(routes::handle(shared, &req));
            shared.relay.drop_connection(peer.as_ref());
            drop(request.into_writer());
        }
        Some(FaultAction::DropConnection) => {
            shared.relay.drop_connection(peer.as_ref());
            // Taking the writer without writing keeps the server from answering 500.
            drop(request.into_writer());
        }
        Some(FaultAction::TruncateBody { after_bytes }) => {
            let resp = routes::handle(shared, &req);
            let raw = raw_truncated(resp, after_bytes, req.method == "HEAD");
            shared.relay.close_after(peer.as_ref(), raw.len());
            let mut writer = request.into_writer();
            let _ = writer.write_all(&raw);
            let _ = writer.flush();
        }
    }
}

/// Sends a normal answer, always with a `Content-Length` (never chunked).
fn respond(request: tiny_http::Request, resp: Resp) {
    let len = resp.body.len();
    let headers = resp
        .headers
        .iter()
        .filter_map(|(k, v)| tiny_http::Header::from_bytes(k.as_bytes(), v.as_bytes()).ok())
        .collect();
    let response = tiny_http::Response::new(
        tiny_http::StatusCode(resp.status),
        headers,
        resp.body.into_reader(),
        Some(len),
        None,
    )
    .with_chunked_threshold(usize::MAX);
    let _ = request.respond(response);
}

/// The answer's head announcing the full length, followed by only `after_bytes` of its body.
fn raw_truncated(resp: Resp, after_bytes: usize, head_only: bool) -> Vec<u8> {
    let len = resp.body.len();
    let reason = tiny_http::StatusCode(resp.status).default_reason_phrase();
    let mut raw = format!("HTTP/1.1 {} {reason}\r\n", resp.status).into_bytes();
    for (k, v) in &resp.headers {
        raw.extend_from_slice(format!("{k}: {v}\r\n").as_bytes());
    }
    raw.extend_from_slice(format!("Content-Length: {len}\r\n\r\n").as_bytes());
    if !head_only {
        let mut reader = resp.body.into_reader().take(after_bytes as u64);
        let _ = reader.read_to_end(&mut raw);
    }
    raw
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the sockets the sandbox's HTTP server accepts have TCP_NODELAY, so no answer waits
    // for a delayed acknowledgement on loopback (NFR-24).
    #[test]
    fn accepted_sockets_send_without_delay() {
        let listener = nodelay_listener().unwrap();
        let addr = listener.local_addr().unwrap();
        let _client = TcpStream::connect(addr).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        assert!(accepted.nodelay().unwrap());
    }
}
