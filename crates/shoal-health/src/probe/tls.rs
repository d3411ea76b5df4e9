//! TLS for probes (shoal-tls' client configurations, rustls on ring): the system's roots or given ones, Consul's
//! `TLSSkipVerify` (accept any certificate) and `TLSServerName` (the SNI and the name
//! verified instead of the host).

use std::sync::Arc;

use rustls::pki_types::{CertificateDer, ServerName};
use rustls::ClientConfig;
use shoal_tls::Trust;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// How a probe speaks TLS.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// Accept any server certificate (Consul's `TLSSkipVerify`).
    pub skip_verify: bool,
    /// The name sent as SNI and verified; empty: the host of the address (Consul's
    /// `TLSServerName`).
    pub server_name: String,
    /// Trusted roots; `None`: the system's (`SSL_CERT_FILE`/`SSL_CERT_DIR` honoured).
    pub roots: Option<Vec<CertificateDer<'static>>>,
}

fn config(opts: &TlsOptions, alpn: &[&[u8]]) -> Result<ClientConfig, String> {
    let trust = match (&opts.roots, opts.skip_verify) {
        (_, true) => Trust::AnyCertificate,
        (None, false) => Trust::System,
        (Some(certs), false) => Trust::Roots(certs.clone()),
    };
    shoal_tls::client_config_for(&trust, alpn).map_err(|e| format!("TLS setup: {e}"))
}

/// Completes a TLS handshake over `tcp` with `host` (or the configured server name).
pub(crate) async fn connect(
    tcp: TcpStream,
    host: &str,
    opts: &TlsOptions,
    alpn: &[&[u8]],
) -> Result<TlsStream<TcpStream>, String> {
    let name = if opts.server_name.is_empty() {
        host
    } else {
        &opts.server_name
    };
    let server_name = ServerName::try_from(name.to_string())
        .map_err(|e| format!("invalid TLS server name {name:?}: {e}"))?;
    let connector = TlsConnector::from(Arc::new(config(opts, alpn)?));
    connector
        .connect(server_name, tcp)
        .await
        .map_err(|e| format!("tls: {e}"))
}
