//! TLS to the SFU's signalling (`wss://`): rustls on `ring`, trusting the operating system's
//! certificate store (on Linux the conventional `SSL_CERT_FILE` / `SSL_CERT_DIR` are honoured,
//! as by OpenSSL) and, if the user gives one, an extra certificate authority — organisations run
//! their own.

use std::sync::Arc;

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// Why TLS cannot be set up.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum TlsError {
    /// The extra certificate authority is not a PEM certificate.
    #[error("the trusted certificate authority given is not a PEM certificate: {0}")]
    BadCa(String),
    /// Neither the system nor the user gave any certificate authority to trust.
    #[error("no trusted certificate authorities: the system has none, and none was given")]
    NoRoots,
    /// rustls refused the configuration.
    #[error("TLS could not be set up: {0}")]
    Setup(String),
}

/// The certificate authorities in `pem` (one or more `CERTIFICATE` blocks).
pub fn parse_ca(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError::BadCa(e.to_string()))?;
    if certs.is_empty() {
        return Err(TlsError::BadCa("it holds no certificate".into()));
    }
    Ok(certs)
}

/// A client configuration that trusts the system's authorities and `extra_ca` (PEM).
pub fn client_config(extra_ca: Option<&[u8]>) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let mut roots = rustls::RootCertStore::empty();
    // Unreadable system certificates are skipped: the others (and the user's) still count.
    let native = rustls_native_certs::load_native_certs();
    let (_added, _ignored) = roots.add_parsable_certificates(native.certs);
    if let Some(pem) = extra_ca {
        for cert in parse_ca(pem)? {
            roots
                .add(cert)
                .map_err(|e| TlsError::BadCa(e.to_string()))?;
        }
    }
    if roots.is_empty() {
        return Err(TlsError::NoRoots);
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Whether `url` sends signalling unencrypted to somewhere other than this machine: the room
/// PIN, pseudonyms and SDP would cross the network in clear.
pub fn insecure_remote(url: &str) -> bool {
    let Ok(parsed) = url::Url::parse(url) else {
        return false;
    };
    if parsed.scheme() != "ws" {
        return false;
    }
    match parsed.host() {
        Some(url::Host::Ipv4(ip)) => !ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => !ip.is_loopback(),
        Some(url::Host::Domain(name)) => !name.eq_ignore_ascii_case("localhost"),
        None => true,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unencrypted_signalling_is_flagged_unless_it_stays_on_this_machine() {
        assert!(insecure_remote("ws://meet.example.org/janus"));
        assert!(insecure_remote("ws://192.0.2.7:8188"));
        assert!(!insecure_remote("ws://127.0.0.1:8188"));
        assert!(!insecure_remote("ws://[::1]:8188"));
        assert!(!insecure_remote("ws://localhost:8188"));
        assert!(!insecure_remote("wss://meet.example.org/janus"));
    }

    #[test]
    fn a_ca_that_is_not_pem_is_refused_with_a_reason() {
        assert!(matches!(parse_ca(b"hello"), Err(TlsError::BadCa(_))));
        assert!(matches!(
            client_config(Some(b"nonsense")),
            Err(TlsError::BadCa(_))
        ));
        // A PEM block that is no certificate.
        let key = b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n";
        assert!(matches!(parse_ca(key), Err(TlsError::BadCa(_))));
    }
}
