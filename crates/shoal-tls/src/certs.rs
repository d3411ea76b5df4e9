//! The certificates a TLS listener serves now: the current [`CertSet`] behind
//! rustls' certificate resolver, swapped whole when a reload succeeds, so the
//! server configuration (its session cache and ticket keys) outlives renewals.

use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::error::TlsError;
use crate::load::CertSource;
use crate::set::{CertInfo, CertSet};

/// The served certificates and where they come from.
pub struct Certificates {
    sources: Vec<CertSource>,
    provider: Arc<CryptoProvider>,
    current: ArcSwap<CertSet>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates")
            .field("sources", &self.sources)
            .finish_non_exhaustive()
    }
}

impl Certificates {
    /// Reads every source (the first is the default certificate).
    pub fn load(
        sources: Vec<CertSource>,
        provider: Arc<CryptoProvider>,
    ) -> Result<Arc<Self>, TlsError> {
        let set = CertSet::load(&sources, &provider)?;
        Ok(Arc::new(Self {
            sources,
            provider,
            current: ArcSwap::from_pointee(set),
        }))
    }

    /// Reads the files again; on success new handshakes get the new set, on error
    /// the old one keeps serving.
    pub fn reload(&self) -> Result<Vec<CertInfo>, TlsError> {
        let set = CertSet::load(&self.sources, &self.provider)?;
        let info = set.info().to_vec();
        self.current.store(Arc::new(set));
        Ok(info)
    }

    pub fn current(&self) -> Arc<CertSet> {
        self.current.load_full()
    }

    pub fn sources(&self) -> &[CertSource] {
        &self.sources
    }

    pub fn provider(&self) -> &Arc<CryptoProvider> {
        &self.provider
    }
}

impl ResolvesServerCert for Certificates {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load().pick(hello.server_name()))
    }
}
