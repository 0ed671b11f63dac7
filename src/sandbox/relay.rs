//! The sandbox's front door: a byte relay between clients and the HTTP server.
//!
//! The HTTP server keeps every connection open for the next request and offers no way to close
//! one, so a response cannot end early from its side. The relay owns the client sockets and can
//! therefore close a connection at once (a dropped connection) or after an exact number of
//! response bytes (a truncated body), which clients see as a real transport failure.

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use parking_lot::Mutex;

/// One relayed connection.
struct Conn {
    client: TcpStream,
    upstream: TcpStream,
    /// Response bytes still allowed through before the client connection closes.
    budget: Mutex<Option<usize>>,
}

impl Conn {
    fn close(&self) {
        let _ = self.client.shutdown(Shutdown::Both);
        let _ = self.upstream.shutdown(Shutdown::Both);
    }
}

/// Control of the relayed connections, keyed by the address the HTTP server sees as the peer.
#[derive(Default)]
pub(crate) struct Relay {
    conns: Mutex<HashMap<SocketAddr, Arc<Conn>>>,
    stopping: AtomicBool,
}

impl Relay {
    /// Closes the client connection behind `peer` now.
    pub(crate) fn drop_connection(&self, peer: Option<&SocketAddr>) {
        if let Some(conn) = peer.and_then(|p| self.conns.lock().get(p).cloned()) {
            conn.close();
        }
    }

    /// Lets `bytes` more response bytes through to the client behind `peer`, then closes it.
    pub(crate) fn close_after(&self, peer: Option<&SocketAddr>, bytes: usize) {
        if let Some(conn) = peer.and_then(|p| self.conns.lock().get(p).cloned()) {
            *conn.budget.lock() = Some(bytes);
        }
    }

    /// Stops accepting and closes every connection.
    pub(crate) fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        for conn in self.conns.lock().values() {
            conn.close();
        }
    }

    /// Accepts on `listener` and relays each connection to `upstream` until stopped.
    pub(crate) fn spawn(
        self: &Arc<Self>,
        listener: TcpListener,
        upstream: SocketAddr,
    ) -> std::io::Result<JoinHandle<()>> {
        let relay = Arc::clone(self);
        std::thread::Builder::new()
            .name("aignostics-sandbox-accept".into())
            .spawn(move || {
                for stream in listener.incoming() {
                    if relay.stopping.load(Ordering::SeqCst) {
                        break;
                    }
                    if let Ok(client) = stream {
                        // A connection that cannot be relayed is simply closed.
                        let _ = relay.relay(client, upstream);
                    }
                }
            })
    }

    fn relay(self: &Arc<Self>, client: TcpStream, upstream: SocketAddr) -> std::io::Result<()> {
        let server = TcpStream::connect(upstream)?;
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let key = server.local_addr()?;
        let conn = Arc::new(Conn {
            client: client.try_clone()?,
            upstream: server.try_clone()?,
            budget: Mutex::new(None),
        });
        self.conns.lock().insert(key, Arc::clone(&conn));
        if self.stopping.load(Ordering::SeqCst) {
            conn.close();
        }

        // Requests: client -> server.
        let (mut from_client, mut to_server) = (client.try_clone()?, server.try_clone()?);
        std::thread::Builder::new()
            .name("aignostics-sandbox-relay".into())
            .spawn(move || {
                let _ = std::io::copy(&mut from_client, &mut to_server);
                let _ = to_server.shutdown(Shutdown::Write);
            })?;

        // Responses: server -> client, within the budget when one is set.
        let relay = Arc::clone(self);
        let (mut from_server, mut to_client) = (server, client);
        std::thread::Builder::new()
            .name("aignostics-sandbox-relay".into())
            .spawn(move || {
                let mut buf = vec![0u8; 64 * 1024];
                loop {
                    let n = match from_server.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    let mut budget = conn.budget.lock();
                    let allowed = budget.map_or(n, |b| b.min(n));
                    if to_client.write_all(&buf[..allowed]).is_err() {
                        break;
                    }
                    if let Some(b) = budget.as_mut() {
                        *b -= allowed;
                        if *b == 0 {
                            let _ = to_client.flush();
                            conn.close();
                            break;
                        }
                    }
                }
                let _ = to_client.shutdown(Shutdown::Write);
                relay.conns.lock().remove(&key);
            })?;
        Ok(())
    }
}
