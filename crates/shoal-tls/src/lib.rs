//! TLS for Shoal's listeners: certificate chains and keys from PEM files, chosen per
//! connection by the name the client asks for (SNI, wildcards included), reloaded
//! when the files change (a bad renewal keeps the old certificates), and the rustls
//! server and client configurations built on them (ring provider, TLS 1.2 and 1.3).
//!
//! # Layout
//! - `error.rs`: [`TlsError`], what is wrong with a certificate or key file.
//! - `validity.rs`: a certificate's validity period, read from its DER.
//! - `load.rs`: [`CertSource`] and [`Loaded`]: one chain and key read, checked and named.
//! - `set.rs`: [`CertSet`]: the loaded certificates and the SNI lookup over their names.
//! - `certs.rs`: [`Certificates`]: the current set behind rustls' certificate resolver.
//! - `reload.rs`: [`Fingerprint`], [`decide`] and [`watch`]: reloading changed files.
//! - `provider.rs`: [`provider`], rustls on ring.
//! - `server.rs`: [`server_config`], [`MinVersion`], [`TlsAcceptor`].
//! - `client.rs`: [`client_config`]: a client trusting a CA file or the system's roots.
#![forbid(unsafe_code)]

mod certs;
mod client;
mod error;
mod load;
mod provider;
mod reload;
mod server;
mod set;
mod validity;

pub use certs::Certificates;
pub use client::{client_config, client_config_for, read_ca, Trust};
pub use error::TlsError;
pub use load::{CertSource, Loaded};
pub use provider::provider;
pub use reload::{decide, watch, Fingerprint, Reload, Step};
pub use server::{server_config, MinVersion};
pub use set::{CertInfo, CertSet};
pub use tokio_rustls::{server::TlsStream, TlsAcceptor, TlsConnector};
pub use validity::Validity;

/// ALPN protocol ids, in the server's order of preference.
pub const ALPN_H2: &[u8] = b"h2";
pub const ALPN_HTTP11: &[u8] = b"http/1.1";
