//! Authorization code + PKCE (RFC 7636, S256): the person logs in in a browser, which is sent
//! back to a one-shot callback server on the redirect URI's port.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use percent_encoding::percent_decode_str;
use ring::rand::{SecureRandom, SystemRandom};

use super::idp;
use super::{Login, LoginPrompt};
use crate::error::{Error, Result};
use crate::retry::Idempotency;

/// Longest request head accepted by the callback server.
const MAX_HEAD: usize = 16 * 1024;

/// Whether opening a browser is plausible here: a desktop session on Linux and other Unix
/// systems, always on macOS and Windows.
pub(crate) fn browser_plausible() -> bool {
    if cfg!(any(target_os = "macos", windows)) {
        return true;
    }
    ["DISPLAY", "WAYLAND_DISPLAY"]
        .iter()
        .any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
}

/// Opens `url` with the desktop's handler without waiting for the browser.
pub(crate) fn open_system_browser(url: &str) -> std::io::Result<()> {
    use std::process::{Command, Stdio};
    let mut command = if cfg!(target_os = "macos") {
        let mut c = Command::new("open");
        c.arg(url);
        c
    } else if cfg!(windows) {
        // `cmd /c start` would split the URL at `&`; the URL handler takes it verbatim.
        let mut c = Command::new("rundll32");
        c.args(["url.dll,FileProtocolHandler", url]);
        c
    } else {
        let mut c = Command::new("xdg-open");
        c.arg(url);
        c
    };
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    // Reap the opener when it exits so it does not linger as a zombie.
    std::thread::spawn(move || child.wait());
    Ok(())
}

/// `n` random bytes as base64url.
fn random_b64(n: usize) -> Result<String> {
    let mut bytes = vec![0u8; n];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Auth("the system random number generator failed".into()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The S256 code challenge of a verifier.
pub(crate) fn code_challenge(verifier: &str) -> String {
    URL_SAFE_NO_PAD.encode(crate::checksum::sha256(verifier.as_bytes()))
}

/// Host, port and path of an `http://host:port/path` redirect URI, read by the `http`
/// crate's URI parser: a user-info part, a port out of range or another scheme is refused.
fn parse_redirect(uri: &str) -> Result<(String, u16, String)> {
    let invalid = || {
        Error::Config(format!(
            "the redirect URI {uri:?} must look like http://localhost:8989/ (scheme http, a host \
             and a port); check AIGNOSTICS_REDIRECT_URI"
        ))
    };
    let parsed: ureq::http::Uri = uri.parse().map_err(|_| invalid())?;
    let authority = parsed.authority().ok_or_else(invalid)?;
    if parsed.scheme_str() != Some("http") || authority.as_str().contains('@') {
        return Err(invalid());
    }
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    let port = authority
        .port_u16()
        .filter(|&p| p != 0)
        .ok_or_else(invalid)?;
    if host.is_empty() {
        return Err(invalid());
    }
    let path = match parsed.path() {
        "" => "/",
        path => path,
    };
    Ok((host.to_string(), port, path.to_string()))
}

/// Binds the callback port, waiting for it to become free a few times.
fn bind(login: &Login, host: &str, port: u16) -> Result<TcpListener> {
    // Browsers resolve `localhost` to IPv4 first; binding there avoids an IPv6-only listener.
    let bind_host = if host.eq_ignore_ascii_case("localhost") {
        "127.0.0.1"
    } else {
        host
    };
    let attempts = login.callback_port_attempts.max(1);
    for attempt in 1..=attempts {
        match TcpListener::bind((bind_host, port)) {
            Ok(listener) => return Ok(listener),
            Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
                if attempt < attempts {
                    log::warn!(
                        "port {port} for the login callback is in use; retrying ({attempt} of \
                         {attempts})"
                    );
                    std::thread::sleep(login.callback_port_delay);
                }
            }
            Err(e) => {
                return Err(Error::Auth(format!(
                    "could not listen on {bind_host}:{port} for the login callback: {e}"
                )));
            }
        }
    }
    Err(Error::Auth(format!(
        "port {port} of the redirect URI is still in use after {attempts} attempts: stop the \
         program using it and try again, or log in with the device flow instead \
         (auth::Login::device_flow, which needs AIGNOSTICS_CLIENT_ID_DEVICE)"
    )))
}

/// Runs the browser flow and returns the access token.
pub(crate) fn login(login: &Login) -> Result<String> {
    let auth = login.settings.require_auth()?;
    let (host, port, path) = parse_redirect(&auth.redirect_uri)?;
    let verifier = random_b64(32)?;
    let state = random_b64(16)?;
    let mut params = vec![
        ("response_type", "code"),
        ("client_id", auth.client_id_interactive.as_str()),
        ("redirect_uri", auth.redirect_uri.as_str()),
        ("state", state.as_str()),
        ("access_type", "offline"),
        ("audience", auth.audience.as_str()),
        ("code_challenge_method", "S256"),
    ];
    let challenge = code_challenge(&verifier);
    params.push(("code_challenge", &challenge));
    let scope = auth.scope.join(" ");
    if !scope.is_empty() {
        params.push(("scope", &scope));
    }
    if let Some(org) = &auth.organization_id {
        params.push(("organization", org));
    }
    let separator = if auth.authorization_base_url.contains('?') {
        '&'
    } else {
        '?'
    };
    let url = format!(
        "{}{separator}{}",
        auth.authorization_base_url,
        idp::encode_pairs(&params)
    );

    let listener = bind(login, &host, port)?;
    listener
        .set_nonblocking(true)
        .map_err(|e| Error::Auth(format!("could not prepare the login callback: {e}")))?;
    login.show(&LoginPrompt::OpenUrl { url: url.clone() });
    if let Err(e) = (login.browser_opener())(&url) {
        log::warn!("could not open a browser ({e}); open the login URL yourself");
    }

    let deadline = crate::time::instant_after(Instant::now(), login.timeout);
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                if Instant::now() >= deadline {
                    return Err(Error::Timeout {
                        operation: "browser_login".into(),
                        what: format!(
                            "no browser came back to {} within {}s",
                            auth.redirect_uri,
                            login.timeout.as_secs()
                        ),
                    });
                }
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            Err(e) => {
                return Err(Error::Auth(format!(
                    "the login callback server failed: {e}"
                )));
            }
        };
        if let Some(result) = handle(login, stream, &path, &state, &verifier) {
            return result;
        }
    }
}

/// What the callback request carried.
struct Callback {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// Serves one connection. `None` means "not the callback, keep waiting" (a favicon request, a
/// stray connection, a callback without this login's state); `Some` ends the flow.
fn handle(
    login: &Login,
    mut stream: TcpStream,
    path: &str,
    state: &str,
    verifier: &str,
) -> Option<Result<String>> {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let _ = stream.set_write_timeout(Some(Duration::from_secs(10)));
    let (method, target) = read_request(&mut stream)?;
    let (req_path, query) = target.split_once('?').unwrap_or((&target, ""));
    if req_path != path {
        respond(&mut stream, 404, "Not found", "This is the login callback.");
        return None;
    }
    if method != "GET" {
        respond(&mut stream, 405, "Method not allowed", "Use GET.");
        return None;
    }
    let callback = parse_query(query);
    // Only the browser this login sent to the provider knows the state: any other request (a
    // local process, a web page making the browser call this port) is answered and ignored, so
    // it can neither end the login nor choose what it reports.
    if callback.state.as_deref() != Some(state) {
        respond(
            &mut stream,
            400,
            "Login failed",
            "The state parameter does not match this login attempt.",
        );
        log::warn!("ignored a login callback whose state does not match this login attempt");
        return None;
    }
    if let Some(error) = callback.error {
        let description = callback.error_description.unwrap_or_default();
        respond(
            &mut stream,
            400,
            "Login failed",
            &format!("{error}: {description}"),
        );
        return Some(Err(Error::Auth(format!(
            "the login was not completed: {error}{}",
            if description.is_empty() {
                String::new()
            } else {
                format!(": {description}")
            }
        ))));
    }
    let Some(code) = callback.code.filter(|c| !c.is_empty()) else {
        respond(
            &mut stream,
            400,
            "Login failed",
            "Error: No authorization code received.",
        );
        return Some(Err(Error::Auth(
            "the login callback carried no authorization code".into(),
        )));
    };
    Some(match exchange(login, &code, verifier) {
        Ok(token) => {
            respond(
                &mut stream,
                200,
                "Logged in",
                "You are logged in to the Aignostics Platform. You can close this window.",
            );
            Ok(token)
        }
        Err(e) => {
            respond(&mut stream, 500, "Login failed", &e.to_string());
            Err(e)
        }
    })
}

/// Exchanges the authorization code for an access token. The code is single-use, so the
/// exchange is repeated only when nothing reached the server.
fn exchange(login: &Login, code: &str, verifier: &str) -> Result<String> {
    let auth = login.settings.require_auth()?;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", auth.client_id_interactive.as_str()),
        ("code", code),
        ("redirect_uri", auth.redirect_uri.as_str()),
        ("code_verifier", verifier),
    ];
    let (answer, _) = idp::token_grant(
        "authorization_code_grant",
        "authorization-code exchange",
        &auth.token_url,
        &form,
        &login.settings.auth_operation,
        Idempotency::NonIdempotent,
    )?;
    Ok(answer.access_token)
}

/// The method and target of the request on `stream`, its head read by `httparse`; `None`
/// for a malformed, oversized or unfinished head.
fn read_request(stream: &mut TcpStream) -> Option<(String, String)> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
        match parse_request(&buf) {
            Head::Complete(method, target) => return Some((method, target)),
            Head::Partial if buf.len() <= MAX_HEAD => {}
            _ => return None,
        }
    }
}

/// What the bytes received so far hold.
#[derive(Debug, PartialEq)]
enum Head {
    /// A whole request head: method and target.
    Complete(String, String),
    /// The start of one.
    Partial,
    /// Not an HTTP/1.x request head.
    Malformed,
}

fn parse_request(buf: &[u8]) -> Head {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut request = httparse::Request::new(&mut headers);
    match request.parse(buf) {
        Ok(httparse::Status::Complete(_)) => match (request.method, request.path) {
            (Some(method), Some(path)) => Head::Complete(method.to_string(), path.to_string()),
            _ => Head::Malformed,
        },
        Ok(httparse::Status::Partial) => Head::Partial,
        Err(_) => Head::Malformed,
    }
}

fn parse_query(query: &str) -> Callback {
    let mut cb = Callback {
        code: None,
        state: None,
        error: None,
        error_description: None,
    };
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = v.replace('+', " ");
        let v = percent_decode_str(&v).decode_utf8_lossy().into_owned();
        match k {
            "code" => cb.code = Some(v),
            "state" => cb.state = Some(v),
            "error" => cb.error = Some(v),
            "error_description" => cb.error_description = Some(v),
            _ => {}
        }
    }
    cb
}

fn escape_html(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '<' => "&lt;".to_string(),
            '>' => "&gt;".to_string(),
            '&' => "&amp;".to_string(),
            '"' => "&quot;".to_string(),
            '\'' => "&#39;".to_string(),
            c => c.to_string(),
        })
        .collect()
}

fn respond(stream: &mut TcpStream, status: u16, title: &str, message: &str) {
    let close = if status == 200 {
        "<script>setTimeout(function () { window.close(); }, 1000);</script>"
    } else {
        ""
    };
    let body = format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>{}</title></head>\
         <body><h1>{}</h1><p>{}</p>{close}</body></html>",
        escape_html(title),
        escape_html(title),
        escape_html(message)
    );
    let reason = match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Internal Server Error",
    };
    let response = format!(
        "HTTP/1.1 {status} {reason}\r\nContent-Type: text/html; charset=utf-8\r\n\
         Content-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves the S256 challenge matches RFC 7636's appendix B example. (FR-05)
    #[test]
    fn challenge_matches_rfc_example() {
        assert_eq!(
            code_challenge("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"),
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"
        );
    }

    // Proves redirect URIs are split into host, port and path by a real URI parser, and bad
    // ones (user info, a port out of range) name the setting. (FR-05, NFR-30)
    #[test]
    fn redirect_uri_parsing() {
        assert_eq!(
            parse_redirect("http://localhost:8989/").unwrap(),
            ("localhost".into(), 8989, "/".into())
        );
        assert_eq!(
            parse_redirect("http://127.0.0.1:1234/cb?x=1").unwrap(),
            ("127.0.0.1".into(), 1234, "/cb".into())
        );
        assert_eq!(
            parse_redirect("http://[::1]:1234").unwrap(),
            ("::1".into(), 1234, "/".into())
        );
        for bad in [
            "https://localhost:1/",
            "http://localhost/",
            "http://:80/",
            "x",
            "http://u@localhost:8989/",
            "http://localhost:99999/",
            "http://localhost:0/",
        ] {
            let err = parse_redirect(bad).unwrap_err();
            assert!(err.to_string().contains("AIGNOSTICS_REDIRECT_URI"), "{bad}");
        }
    }

    // Proves callback queries are percent-decoded and HTML output is escaped. (FR-05)
    #[test]
    fn query_and_html() {
        let cb = parse_query("code=a%2Fb&state=s+1&error_description=x%20y");
        assert_eq!(cb.code.as_deref(), Some("a/b"));
        assert_eq!(cb.state.as_deref(), Some("s 1"));
        assert_eq!(cb.error_description.as_deref(), Some("x y"));
        assert_eq!(
            escape_html("<a href='x'>&"),
            "&lt;a href=&#39;x&#39;&gt;&amp;"
        );
    }

    // Proves the callback's request head is read as real servers read it: the target of a
    // whole head, more bytes wanted for a partial one, and a space before a colon or a
    // control character in the target refused. (FR-05, NFR-30)
    #[test]
    fn callback_heads() {
        assert_eq!(
            parse_request(b"GET /cb?code=a&state=s HTTP/1.1\r\nHost: x\r\n\r\n"),
            Head::Complete("GET".into(), "/cb?code=a&state=s".into())
        );
        assert_eq!(parse_request(b"GET /cb HTTP/1.1\r\nHost"), Head::Partial);
        assert_eq!(
            parse_request(b"GET /cb HTTP/1.1\r\nHost : x\r\n\r\n"),
            Head::Malformed
        );
        assert_eq!(
            parse_request(b"GET /c\x01b HTTP/1.1\r\n\r\n"),
            Head::Malformed
        );
    }

    proptest::proptest! {
        // Proves any bytes as a callback request head give a head, a wait for more or a
        // refusal, never a panic. (NFR-13, NFR-16)
        #[test]
        fn any_callback_bytes_never_panic(raw in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..512)) {
            let _ = parse_request(&raw);
        }
    }
}
