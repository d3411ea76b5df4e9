//! The loaded certificates and the lookup a handshake makes: the name the client
//! asked for (SNI) against every certificate's names, exact names before wildcards
//! (`*.example.com` covers one label), earlier certificates before later ones; the
//! first certificate for clients that name nothing or a name none covers.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use rustls::crypto::CryptoProvider;
use rustls::sign::CertifiedKey;

use crate::error::TlsError;
use crate::load::{CertSource, Loaded};
use crate::validity::Validity;

/// What is served, for status pages and messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    pub origin: String,
    pub names: Vec<String>,
    pub validity: Option<Validity>,
}

impl CertInfo {
    /// A warning when the certificate is expired or not yet valid at `now`.
    pub fn warning(&self, now: SystemTime) -> Option<String> {
        let v = self.validity?;
        let date = |t| humantime::format_rfc3339_seconds(t);
        if v.expired(now) {
            return Some(format!(
                "{}: the certificate expired on {}; clients will refuse it",
                self.origin,
                date(v.not_after)
            ));
        }
        (now < v.not_before).then(|| {
            format!(
                "{}: the certificate is not valid before {}; clients will refuse it until then",
                self.origin,
                date(v.not_before)
            )
        })
    }
}

/// Certificates by name.
pub struct CertSet {
    default: Arc<CertifiedKey>,
    exact: HashMap<String, Arc<CertifiedKey>>,
    /// By the part after `*.`.
    wildcard: HashMap<String, Arc<CertifiedKey>>,
    info: Vec<CertInfo>,
}

impl CertSet {
    /// Reads every source; the first is the default. Any bad one refuses the whole set.
    pub fn load(sources: &[CertSource], provider: &CryptoProvider) -> Result<CertSet, TlsError> {
        let loaded = sources
            .iter()
            .map(|s| {
                Loaded::read(s, provider).map_err(|e| TlsError::At {
                    origin: s.origin.clone(),
                    source: Box::new(e),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Self::of(sources, loaded)
    }

    /// The set of already loaded certificates (`sources[i]` gave `loaded[i]`).
    pub fn of(sources: &[CertSource], loaded: Vec<Loaded>) -> Result<CertSet, TlsError> {
        let default = loaded.first().ok_or(TlsError::Empty)?.key.clone();
        let (mut exact, mut wildcard) = (HashMap::new(), HashMap::new());
        let mut info = Vec::with_capacity(loaded.len());
        for (source, l) in sources.iter().zip(loaded) {
            for name in &l.names {
                let map = match name.strip_prefix("*.") {
                    Some(rest) => wildcard.entry(rest.to_owned()),
                    None => exact.entry(name.clone()),
                };
                map.or_insert_with(|| l.key.clone());
            }
            info.push(CertInfo {
                origin: source.origin.clone(),
                names: l.names,
                validity: l.validity,
            });
        }
        Ok(CertSet {
            default,
            exact,
            wildcard,
            info,
        })
    }

    /// The certificate for a client that asked for `sni`.
    pub fn pick(&self, sni: Option<&str>) -> Arc<CertifiedKey> {
        self.lookup(sni).unwrap_or(&self.default).clone()
    }

    /// Whether `sni` is covered by a certificate's names (else the default answers).
    pub fn covers(&self, sni: &str) -> bool {
        self.lookup(Some(sni)).is_some()
    }

    fn lookup(&self, sni: Option<&str>) -> Option<&Arc<CertifiedKey>> {
        let name = sni?.trim_end_matches('.');
        let lower;
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            lower = name.to_ascii_lowercase();
            lower.as_str()
        } else {
            name
        };
        if let Some(k) = self.exact.get(name) {
            return Some(k);
        }
        let (_, parent) = name.split_once('.')?;
        self.wildcard.get(parent)
    }

    /// What is served, in configuration order.
    pub fn info(&self) -> &[CertInfo] {
        &self.info
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    fn source(cert: &str, key: &str) -> CertSource {
        let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        CertSource {
            cert: data.join(cert),
            key: data.join(key),
            origin: format!("test {cert}"),
        }
    }

    fn set() -> CertSet {
        let sources = [
            source("shoal.pem", "shoal.key"),
            source("api.pem", "api.key"),
        ];
        CertSet::load(&sources, &crate::provider()).expect("loads")
    }

    fn is(set: &CertSet, sni: Option<&str>, cert_file: &str) -> bool {
        let want = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("tests/data")
                .join(cert_file),
        )
        .expect("read");
        use rustls::pki_types::{pem::PemObject, CertificateDer};
        let want = CertificateDer::from_pem_slice(&want).expect("pem");
        set.pick(sni).cert[0] == want
    }

    #[test]
    fn each_name_gets_its_certificate() {
        let s = set();
        assert!(is(&s, Some("api.test"), "api.pem"));
        assert!(is(&s, Some("API.Test."), "api.pem"));
        assert!(is(&s, Some("shoal.test"), "shoal.pem"));
        assert!(is(&s, Some("localhost"), "shoal.pem"));
    }

    #[test]
    fn a_wildcard_covers_one_label() {
        let s = set();
        assert!(s.covers("www.shoal.test"));
        assert!(!s.covers("a.b.shoal.test"));
        assert!(!s.covers("other.test"));
    }

    #[test]
    fn no_name_or_an_unknown_one_gets_the_first() {
        let s = set();
        assert!(is(&s, None, "shoal.pem"));
        assert!(is(&s, Some("unknown.example"), "shoal.pem"));
    }

    #[test]
    fn one_bad_source_refuses_the_set_and_names_it() {
        let sources = [
            source("shoal.pem", "shoal.key"),
            source("api.pem", "shoal.key"),
        ];
        let e = CertSet::load(&sources, &crate::provider())
            .err()
            .expect("refused");
        assert!(e.to_string().starts_with("test api.pem: "), "{e}");
    }

    #[test]
    fn an_expired_certificate_is_named_with_its_date() {
        let sources = [source("expired.pem", "expired.key")];
        let s = CertSet::load(&sources, &crate::provider()).expect("loads");
        let w = s.info()[0].warning(SystemTime::now()).expect("warned");
        assert!(w.contains("expired on 2021-01-01T00:00:00Z"), "{w}");
        assert_eq!(set().info()[0].warning(SystemTime::now()), None);
    }
}
