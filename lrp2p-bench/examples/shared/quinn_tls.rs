//! quinn's TLS setup, shared by the `loopback` and `impaired` examples (each includes this
//! file with `#[path]`): TLS 1.3 with only TLS13_CHACHA20_POLY1305_SHA256 (ring provider) and a
//! self-signed certificate for `localhost` from rcgen.
//!
//! QUIC Initial packets are always AES-128-GCM (RFC 9001 §5.2); everything after them is
//! ChaCha20-Poly1305.

use std::io;
use std::sync::Arc;

use quinn::crypto::rustls::{QuicClientConfig, QuicServerConfig};
use quinn::{ClientConfig, ServerConfig};
use rustls::crypto::{CryptoProvider, ring};
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};

/// Any quinn or rustls error as an `io::Error`.
pub(crate) fn err(e: impl std::fmt::Display) -> io::Error {
    io::Error::other(e.to_string())
}

/// The ring provider restricted to ChaCha20-Poly1305.
fn provider() -> Arc<CryptoProvider> {
    Arc::new(CryptoProvider {
        cipher_suites: vec![ring::cipher_suite::TLS13_CHACHA20_POLY1305_SHA256],
        ..ring::default_provider()
    })
}

/// The suite QUIC Initial packets must use (RFC 9001 §5.2).
fn initial_suite() -> io::Result<rustls::quic::Suite> {
    ring::cipher_suite::TLS13_AES_128_GCM_SHA256
        .tls13()
        .and_then(|s| s.quic_suite())
        .ok_or_else(|| err("ring has no QUIC AES-128-GCM suite"))
}

/// A server configuration with a fresh self-signed certificate for `localhost`, and a client
/// configuration that trusts exactly that certificate; quinn's default transport settings.
pub(crate) fn configs() -> io::Result<(ServerConfig, ClientConfig)> {
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).map_err(err)?;
    let cert_der = CertificateDer::from(cert.cert);
    let key = PrivatePkcs8KeyDer::from(cert.key_pair.serialize_der());
    let tls13 = &[&rustls::version::TLS13];

    let server_tls = rustls::ServerConfig::builder_with_provider(provider())
        .with_protocol_versions(tls13)
        .map_err(err)?
        .with_no_client_auth()
        .with_single_cert(vec![cert_der.clone()], key.into())
        .map_err(err)?;
    let server_quic = QuicServerConfig::with_initial(Arc::new(server_tls), initial_suite()?).map_err(err)?;

    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert_der).map_err(err)?;
    let client_tls = rustls::ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(tls13)
        .map_err(err)?
        .with_root_certificates(roots)
        .with_no_client_auth();
    let client_quic = QuicClientConfig::with_initial(Arc::new(client_tls), initial_suite()?).map_err(err)?;
    Ok((ServerConfig::with_crypto(Arc::new(server_quic)), ClientConfig::new(Arc::new(client_quic))))
}
