//! What to try next after an error, when the command itself had nothing more precise to say.

use aignostics::{Error, TransportKind};

use crate::context::{ACCESS_TOKEN_VAR, Ctx, access_token_set};

/// The next step after `err`, if there is an obvious one.
pub fn hint(err: &Error, ctx: &Ctx) -> Option<String> {
    match err {
        Error::Transport {
            kind: TransportKind::Tls,
            ..
        } => Some(format!(
            "the server's certificate was not trusted. On a network that inspects TLS, trust \
             its CA: install it in the operating system's trust store (this command uses it), \
             or name a PEM bundle with {} (or SSL_CERT_FILE). {}",
            aignostics::tls::CA_BUNDLE_VAR,
            unreachable_root(ctx)
        )),
        Error::Transport {
            kind:
                TransportKind::ConnectionRefused | TransportKind::HostNotFound | TransportKind::Proxy,
            ..
        } => Some(unreachable_root(ctx)),
        Error::Timeout { operation, .. } if operation.starts_with("get_") => {
            Some(unreachable_root(ctx))
        }
        Error::Config(message) if message.contains("AIGNOSTICS_CLIENT_ID_DEVICE") => {
            Some(DEVICE_FLOW.to_string())
        }
        Error::Config(message) if message.contains("not a known Aignostics environment") => {
            Some(format!(
                "without a login for this API root, set {ACCESS_TOKEN_VAR} to a bearer token \
                 for it (`aignostics sandbox` prints one for the sandbox, and the settings to \
                 practise `aignostics login` against it)"
            ))
        }
        _ if matches!(err.status(), Some(401 | 403)) || matches!(err, Error::Auth(_)) => {
            Some(login_hint())
        }
        _ => None,
    }
}

/// What to do when the platform refuses the credentials.
pub fn login_hint() -> String {
    if access_token_set() {
        format!(
            "{ACCESS_TOKEN_VAR} is set and was sent; check that it holds a valid token for this \
             API root, or unset it to use `aignostics login`"
        )
    } else {
        format!("run `aignostics login`, or set {ACCESS_TOKEN_VAR} to a bearer token")
    }
}

/// Where the failed request went, and how to send it elsewhere.
fn unreachable_root(ctx: &Ctx) -> String {
    let root = ctx
        .settings()
        .map(|s| s.api_root)
        .unwrap_or_else(|_| "(unknown)".into());
    format!(
        "the API root tried was {root}; pass --api-root URL or set AIGNOSTICS_API_ROOT to use \
         another one (`aignostics sandbox` serves a local platform to try things on)"
    )
}

/// Where the device flow's client id comes from, and the ways in without it.
pub const DEVICE_FLOW: &str = "\
the device flow (a code you confirm in a browser on another device) needs the OAuth client id \
of your Aignostics environment's device login in AIGNOSTICS_CLIENT_ID_DEVICE; it is not built \
in, so ask your Aignostics contact for it. Without it: run `aignostics login` where a browser \
can open, or set AIGNOSTICS_REFRESH_TOKEN to a refresh token, or AIGNOSTICS_ACCESS_TOKEN to a \
bearer token";
