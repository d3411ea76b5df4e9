//! What is wrong with a certificate or key file, said with the file's path.

use std::path::PathBuf;

/// A certificate or key that cannot be used. The caller adds where it was configured.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no PEM certificate (expected -----BEGIN CERTIFICATE-----)")]
    NoCertificate { path: PathBuf },
    #[error("{path} is not readable PEM: {reason}")]
    BadPem { path: PathBuf, reason: String },
    #[error("{path} holds no PEM private key (expected -----BEGIN PRIVATE KEY-----, EC PRIVATE KEY or RSA PRIVATE KEY)")]
    NoKey { path: PathBuf },
    #[error("{path}: the private key cannot be used: {reason}")]
    BadKey { path: PathBuf, reason: String },
    #[error("the key in {key} does not match the certificate in {cert}")]
    KeyMismatch { cert: PathBuf, key: PathBuf },
    #[error("{path}: the certificate cannot be parsed: {reason}")]
    BadCertificate { path: PathBuf, reason: String },
    #[error("{origin}: {source}")]
    At {
        /// Where the certificate was configured (e.g. `shoal.toml:12:8`).
        origin: String,
        source: Box<TlsError>,
    },
    #[error("no certificate is configured")]
    Empty,
    #[error("TLS configuration: {0}")]
    Config(String),
}
