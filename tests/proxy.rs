//! The proxy named in the environment. The client runs in a child process of this test binary,
//! so the proxy variables never leak into other tests.

mod scripted;

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::thread;

use aignostics::{Client, Settings, TokenProvider};
use scripted::{Reply, Scripted, me_json};

/// Set in the child: the API root it must reach through the proxy.
const CHILD_ROOT: &str = "AIGNOSTICS_TEST_PROXY_CHILD_ROOT";
const TEST_NAME: &str = "requests_go_through_the_proxy_from_the_environment";

// Proves a client opens its connections through the proxy named by HTTP_PROXY (a CONNECT
// tunnel to the API host) and gets the API's answer through it. (FR-20)
#[test]
fn requests_go_through_the_proxy_from_the_environment() {
    if let Ok(root) = std::env::var(CHILD_ROOT) {
        let settings = Settings::default().with_api_root(&root).unwrap();
        let me = Client::builder()
            .settings(settings)
            .token_provider(TokenProvider::fixed("tok-through-proxy"))
            .build()
            .unwrap()
            .me()
            .unwrap();
        assert_eq!(me.user.id, "proxied-user");
        return;
    }

    let api = Scripted::start([Reply::json(200, &me_json("proxied-user"))]);
    let proxy = ConnectProxy::start();

    let mut child = Command::new(std::env::current_exe().unwrap());
    child.args(["--exact", TEST_NAME, "--nocapture", "--test-threads=1"]);
    for var in [
        "ALL_PROXY",
        "all_proxy",
        "HTTPS_PROXY",
        "https_proxy",
        "http_proxy",
        "NO_PROXY",
        "no_proxy",
    ] {
        child.env_remove(var);
    }
    child
        .env("HTTP_PROXY", format!("http://{}", proxy.addr))
        .env(CHILD_ROOT, api.base_url());
    let output = child.output().unwrap();
    assert!(
        output.status.success(),
        "child failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );

    let api_host = api.base_url().trim_start_matches("http://").to_string();
    assert_eq!(*proxy.tunnels.lock().unwrap(), vec![api_host]);
    let received = api.received();
    assert_eq!(received.len(), 1);
    assert_eq!(received[0].target, "/api/v1/me");
    assert_eq!(
        received[0].header("authorization"),
        Some("Bearer tok-through-proxy")
    );
}

/// An HTTP proxy that accepts `CONNECT host:port`, records the target and relays bytes.
struct ConnectProxy {
    addr: std::net::SocketAddr,
    tunnels: Arc<Mutex<Vec<String>>>,
}

impl ConnectProxy {
    fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let tunnels = Arc::new(Mutex::new(Vec::new()));
        let seen = Arc::clone(&tunnels);
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { break };
                let seen = Arc::clone(&seen);
                thread::spawn(move || tunnel(client, &seen));
            }
        });
        Self { addr, tunnels }
    }
}

fn tunnel(client: TcpStream, seen: &Mutex<Vec<String>>) {
    let mut reader = BufReader::new(client.try_clone().unwrap());
    let mut request_line = String::new();
    reader.read_line(&mut request_line).unwrap();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).unwrap() == 0 || header.trim().is_empty() {
            break;
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut client = client;
    if method != "CONNECT" {
        let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\ncontent-length: 0\r\n\r\n");
        return;
    }
    seen.lock().unwrap().push(target.to_string());
    let upstream = TcpStream::connect(target).unwrap();
    client
        .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
        .unwrap();
    let (mut up_read, mut up_write) = (upstream.try_clone().unwrap(), upstream);
    let mut client_write = client.try_clone().unwrap();
    let upward = thread::spawn(move || {
        let _ = std::io::copy(&mut reader, &mut up_write);
        let _ = up_write.shutdown(std::net::Shutdown::Write);
    });
    let _ = std::io::copy(&mut up_read, &mut client_write);
    let _ = client_write.shutdown(std::net::Shutdown::Write);
    let _ = upward.join();
}
