//! Which certificate authorities the crate's HTTPS connections trust, decided once per
//! process:
//!
//! 1. a CA bundle (PEM) named by `AIGNOSTICS_CA_BUNDLE`, else by `SSL_CERT_FILE` (the variable
//!    curl, OpenSSL and Python's `requests` users know): for networks whose TLS inspection
//!    re-signs connections with a corporate CA;
//! 2. else, with the feature `platform-verifier` (on in the command-line tool), the operating
//!    system's trust store, which already holds such a CA where IT installed it;
//! 3. else Mozilla's root certificates.

use once_cell::sync::Lazy;
use ureq::tls::{PemItem, RootCerts, TlsConfig};

use crate::error::{Error, Result};

/// The setting naming a CA bundle (PEM) to trust instead of the default roots.
pub const CA_BUNDLE_VAR: &str = "AIGNOSTICS_CA_BUNDLE";

/// The conventional variable naming a CA bundle, read when [`CA_BUNDLE_VAR`] is not set.
pub const SSL_CERT_FILE_VAR: &str = "SSL_CERT_FILE";

static ROOTS: Lazy<std::result::Result<RootCerts, String>> = Lazy::new(|| {
    let named = |var: &str| std::env::var(var).ok().filter(|v| !v.trim().is_empty());
    match named(CA_BUNDLE_VAR)
        .map(|p| (CA_BUNDLE_VAR, p))
        .or_else(|| named(SSL_CERT_FILE_VAR).map(|p| (SSL_CERT_FILE_VAR, p)))
    {
        Some((var, path)) => bundle(var, &path),
        None => Ok(default_roots()),
    }
});

/// The roots used without a CA bundle.
fn default_roots() -> RootCerts {
    if cfg!(feature = "platform-verifier") {
        RootCerts::PlatformVerifier
    } else {
        RootCerts::WebPki
    }
}

/// The certificates of the PEM file at `path`, named by `var`.
fn bundle(var: &str, path: &str) -> std::result::Result<RootCerts, String> {
    let bad = |why: String| format!("{var}={path}: {why}");
    let pem = std::fs::read(path).map_err(|e| bad(format!("cannot read the CA bundle: {e}")))?;
    let mut certs = Vec::new();
    for item in ureq::tls::parse_pem(&pem) {
        match item {
            Ok(PemItem::Certificate(cert)) => certs.push(cert),
            Ok(_) => {}
            Err(e) => return Err(bad(format!("not a PEM CA bundle: {e}"))),
        }
    }
    if certs.is_empty() {
        return Err(bad("the file holds no PEM certificate".into()));
    }
    Ok(RootCerts::new_with_certs(&certs))
}

/// [`Error::Config`] when a CA bundle is named but cannot be used (checked when a client is
/// built, so a wrong path is found before the first request).
pub(crate) fn check() -> Result<()> {
    match &*ROOTS {
        Ok(_) => Ok(()),
        Err(why) => Err(Error::Config(why.clone())),
    }
}

/// The TLS settings of every agent the crate builds.
pub(crate) fn config() -> TlsConfig {
    let roots = match &*ROOTS {
        Ok(roots) => roots.clone(),
        // Reported by `check` when the client was built; the defaults stand in meanwhile.
        Err(_) => default_roots(),
    };
    TlsConfig::builder().root_certs(roots).build()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Proves a CA bundle is read from its PEM certificates, and a missing file, a file without
    // certificates or a malformed one is a configuration error naming the variable and path.
    // (FR-18)
    #[test]
    fn ca_bundles() {
        let dir = std::env::temp_dir().join(format!("aignostics-ca-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing.pem");
        let err = bundle(CA_BUNDLE_VAR, missing.to_str().unwrap()).unwrap_err();
        assert!(
            err.contains("AIGNOSTICS_CA_BUNDLE") && err.contains("missing.pem"),
            "{err}"
        );
        let empty = dir.join("empty.pem");
        std::fs::write(&empty, "no certificates here\n").unwrap();
        let err = bundle(SSL_CERT_FILE_VAR, empty.to_str().unwrap()).unwrap_err();
        assert!(
            err.contains("SSL_CERT_FILE") && err.contains("no PEM certificate"),
            "{err}"
        );
        let broken = dir.join("broken.pem");
        std::fs::write(
            &broken,
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        assert!(bundle(CA_BUNDLE_VAR, broken.to_str().unwrap()).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
