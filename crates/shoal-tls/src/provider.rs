//! The crypto provider of every Shoal TLS endpoint: rustls on ring (DESIGN §12:
//! ring before aws-lc-rs), made once.

use std::sync::{Arc, OnceLock};

use rustls::crypto::CryptoProvider;

/// ring's suites and groups (X25519, P-256, P-384; no post-quantum key exchange,
/// which is why rustls marks ring's provider deprecated).
pub fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            #[allow(deprecated)]
            let p = rustls::crypto::ring::default_provider();
            Arc::new(p)
        })
        .clone()
}
