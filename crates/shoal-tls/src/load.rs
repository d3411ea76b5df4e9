//! One certificate chain and its key read from PEM files, checked (the key must
//! match the leaf) and named (the DNS names of the leaf's subjectAltName).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::sign::CertifiedKey;

use crate::error::TlsError;
use crate::validity::Validity;

/// Where one certificate comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertSource {
    /// The chain, leaf first, as PEM.
    pub cert: PathBuf,
    /// The leaf's private key as PEM (PKCS#8, SEC1 or PKCS#1).
    pub key: PathBuf,
    /// Where it was configured, for messages (e.g. `shoal.toml:12:8`).
    pub origin: String,
}

/// A chain and key ready to serve.
#[derive(Clone)]
pub struct Loaded {
    pub key: Arc<CertifiedKey>,
    /// The leaf's DNS names, lower case; wildcards as written (`*.example.com`).
    pub names: Vec<String>,
    pub validity: Option<Validity>,
}

impl Loaded {
    /// Reads `source`'s files with `provider`'s key loader.
    pub fn read(source: &CertSource, provider: &CryptoProvider) -> Result<Loaded, TlsError> {
        let chain = read_chain(&source.cert)?;
        let key = read_key(&source.key)?;
        let names = names_of(&source.cert, &chain[0])?;
        let validity = Validity::of_der(&chain[0]);
        let key = CertifiedKey::from_der(chain, key, provider).map_err(|e| match e {
            rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch) => {
                TlsError::KeyMismatch {
                    cert: source.cert.clone(),
                    key: source.key.clone(),
                }
            }
            other => TlsError::BadKey {
                path: source.key.clone(),
                reason: other.to_string(),
            },
        })?;
        Ok(Loaded {
            key: Arc::new(key),
            names,
            validity,
        })
    }
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let bytes = read(path)?;
    let chain = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsError::BadPem {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: path.to_owned(),
        });
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::NoKey {
            path: path.to_owned(),
        },
        other => TlsError::BadPem {
            path: path.to_owned(),
            reason: other.to_string(),
        },
    })
}

fn names_of(path: &Path, leaf: &CertificateDer<'_>) -> Result<Vec<String>, TlsError> {
    let ee = webpki::EndEntityCert::try_from(leaf).map_err(|e| TlsError::BadCertificate {
        path: path.to_owned(),
        reason: format!("{e:?}"),
    })?;
    Ok(ee
        .valid_dns_names()
        .map(|n| n.trim_end_matches('.').to_ascii_lowercase())
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn data(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name)
    }

    fn source(cert: &str, key: &str) -> CertSource {
        CertSource {
            cert: data(cert),
            key: data(key),
            origin: "test".into(),
        }
    }

    fn provider() -> std::sync::Arc<CryptoProvider> {
        crate::provider()
    }

    #[test]
    fn a_chain_and_its_key_load_with_their_names() {
        let l = Loaded::read(&source("shoal.pem", "shoal.key"), &provider()).expect("loads");
        assert_eq!(l.names, ["localhost", "shoal.test", "*.shoal.test"]);
        assert!(l.validity.is_some());
    }

    #[test]
    fn another_certificate_s_key_is_a_mismatch() {
        let e = Loaded::read(&source("shoal.pem", "api.key"), &provider())
            .err()
            .expect("refused");
        assert!(matches!(e, TlsError::KeyMismatch { .. }), "{e}");
        assert!(e.to_string().contains("does not match"), "{e}");
    }

    #[test]
    fn missing_and_unreadable_files_are_named() {
        let e = Loaded::read(&source("nope.pem", "shoal.key"), &provider())
            .err()
            .expect("refused");
        assert!(matches!(e, TlsError::Read { .. }), "{e}");
        assert!(e.to_string().contains("nope.pem"), "{e}");
        // A key file given as the certificate, and a certificate as the key.
        let e = Loaded::read(&source("shoal.key", "shoal.key"), &provider())
            .err()
            .expect("refused");
        assert!(matches!(e, TlsError::NoCertificate { .. }), "{e}");
        let e = Loaded::read(&source("shoal.pem", "shoal.pem"), &provider())
            .err()
            .expect("refused");
        assert!(matches!(e, TlsError::NoKey { .. }), "{e}");
    }

    #[test]
    fn garbage_between_pem_markers_is_bad_pem() {
        let dir = tempfile::tempdir().expect("tempdir");
        let bad = dir.path().join("bad.pem");
        std::fs::write(
            &bad,
            "-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n",
        )
        .expect("write");
        let s = CertSource {
            cert: bad,
            key: data("shoal.key"),
            origin: "test".into(),
        };
        let e = Loaded::read(&s, &provider()).err().expect("refused");
        assert!(
            matches!(e, TlsError::BadPem { .. } | TlsError::BadCertificate { .. }),
            "{e}"
        );
    }
}
