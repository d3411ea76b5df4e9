//! [`DnsError`]: what can go wrong starting the DNS server.

use std::net::SocketAddr;

/// An error binding the DNS listeners.
#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// A socket could not be bound (address in use, no permission for a port below 1024, ...).
    #[error("cannot listen for DNS on {proto} {addr}: {source} (is another DNS server or shoal using it?)")]
    Bind {
        proto: &'static str,
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}
