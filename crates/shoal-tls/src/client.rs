//! A TLS client configuration for Shoal's own clients (the CLI, the proxy toward
//! instances that only speak TLS): trusting a CA file, or the system's roots.

use std::path::Path;
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use crate::error::TlsError;

/// A client trusting the certificates in `ca` (PEM), or the system's roots
/// without one; `alpn` as offered to servers.
pub fn client_config(ca: Option<&Path>, alpn: &[&[u8]]) -> Result<Arc<ClientConfig>, TlsError> {
    let mut roots = RootCertStore::empty();
    match ca {
        Some(path) => {
            let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
                path: path.to_owned(),
                source,
            })?;
            let certs = CertificateDer::pem_slice_iter(&bytes)
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| TlsError::BadPem {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })?;
            if certs.is_empty() {
                return Err(TlsError::NoCertificate {
                    path: path.to_owned(),
                });
            }
            for c in certs {
                roots.add(c).map_err(|e| TlsError::BadCertificate {
                    path: path.to_owned(),
                    reason: e.to_string(),
                })?;
            }
        }
        None => {
            let native = rustls_native_certs::load_native_certs();
            roots.add_parsable_certificates(native.certs);
        }
    }
    let provider = crate::provider();
    let mut config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Config(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Ok(Arc::new(config))
}
