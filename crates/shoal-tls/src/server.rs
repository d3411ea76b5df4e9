//! The rustls server configuration of a TLS listener: the ring provider, TLS 1.3
//! and (unless refused) 1.2 with rustls' cipher suites (all AEAD, forward secret),
//! ALPN `h2` then `http/1.1`, the server's suite order, session resumption by
//! tickets and by a session cache.

use std::sync::Arc;

use rustls::server::ServerSessionMemoryCache;
use rustls::ServerConfig;

use crate::certs::Certificates;
use crate::error::TlsError;

/// Sessions remembered for resumption by id (TLS 1.2 clients without tickets).
const SESSION_CACHE: usize = 16 * 1024;

/// The oldest protocol version served.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MinVersion {
    #[default]
    Tls12,
    Tls13,
}

/// A server configuration choosing among `certs` per handshake; `alpn` lists the
/// protocols offered, in order of preference (empty: no ALPN).
pub fn server_config(
    certs: Arc<Certificates>,
    min: MinVersion,
    alpn: &[&[u8]],
) -> Result<Arc<ServerConfig>, TlsError> {
    let versions: &[&'static rustls::SupportedProtocolVersion] = match min {
        MinVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
        MinVersion::Tls13 => &[&rustls::version::TLS13],
    };
    let provider = certs.provider().clone();
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_no_client_auth()
        .with_cert_resolver(certs);
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    // The server's order of suites (rustls': AES-GCM, then ChaCha20) wins, as
    // TLS scanners expect of a server with a chosen order.
    config.ignore_client_order = true;
    config.session_storage = ServerSessionMemoryCache::new(SESSION_CACHE);
    config.ticketer =
        rustls::crypto::ring::Ticketer::new().map_err(|e| TlsError::Config(e.to_string()))?;
    Ok(Arc::new(config))
}
