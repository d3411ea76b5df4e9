//! What the DNS answers ([`DnsConfig`]) and how the server guards itself ([`ServerOptions`]).

use std::time::Duration;

/// The answering policy, carried inside every [`crate::DnsTable`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfig {
    /// Domains answered authoritatively, e.g. `["shoal", "consul"]` (lower case, no trailing dot).
    pub domains: Vec<String>,
    /// The datacenter label accepted in `<service>.service.<dc>.<domain>` and used in SRV
    /// targets (`<node>.node.<dc>.<domain>`). Default `dc1`, as Consul.
    pub datacenter: String,
    /// TTL of every answer, in seconds. Default 0 (clients re-ask, like Consul's default).
    pub ttl: u32,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            domains: vec!["shoal".to_owned(), "consul".to_owned()],
            datacenter: "dc1".to_owned(),
            ttl: 0,
        }
    }
}

impl DnsConfig {
    /// The platform domain plus `consul` (once), the usual Shoal configuration.
    pub fn for_domain(domain: &str) -> Self {
        let mut domains = vec![normalize(domain)];
        if domains[0] != "consul" {
            domains.push("consul".to_owned());
        }
        DnsConfig {
            domains,
            ..DnsConfig::default()
        }
    }
}

/// Lower case, without leading or trailing dots.
pub(crate) fn normalize(domain: &str) -> String {
    domain.trim_matches('.').to_ascii_lowercase()
}

/// Limits of the UDP and TCP loops.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerOptions {
    /// Largest UDP answer sent to a client that advertises EDNS0 (never less than 512).
    /// Default 1232, the DNS flag day 2020 value that avoids IP fragmentation.
    pub max_udp_payload: u16,
    /// Open TCP connections at most; more are accepted and closed at once.
    pub max_tcp_connections: usize,
    /// A TCP connection with no complete query for this long is closed.
    pub tcp_idle_timeout: Duration,
    /// Tasks receiving on the UDP socket (0 = one per CPU).
    pub udp_workers: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            max_udp_payload: 1232,
            max_tcp_connections: 256,
            tcp_idle_timeout: Duration::from_secs(10),
            udp_workers: 0,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn for_domain_adds_consul_once() {
        assert_eq!(
            DnsConfig::for_domain("Shoal.").domains,
            vec!["shoal".to_owned(), "consul".to_owned()]
        );
        assert_eq!(
            DnsConfig::for_domain("consul").domains,
            vec!["consul".to_owned()]
        );
    }
}
