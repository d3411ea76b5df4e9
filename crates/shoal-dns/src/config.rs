//! What the DNS answers ([`DnsConfig`]) and how the server guards itself ([`ServerOptions`]).

use std::net::IpAddr;
use std::time::Duration;

/// Consul's cap on a UDP answer, whatever size the client advertises: 65535 less 68 bytes
/// of IP and UDP headers (`maxUDPDatagramSize` in Consul's `agent/dns.go`).
pub const MAX_UDP_PAYLOAD: u16 = u16::MAX - 68;

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
    /// This node, as Consul's `consul` service: `consul.service.<domain>` answers its address
    /// (SRV: port 8300, Consul's server RPC port) and `<node>.node.<domain>` resolves.
    pub agent: Option<AgentNode>,
}

/// The node this DNS server runs on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentNode {
    /// Its node name (as the Consul API shows it).
    pub node: String,
    /// The address it is reached at.
    pub address: IpAddr,
}

impl Default for DnsConfig {
    fn default() -> Self {
        DnsConfig {
            domains: vec!["shoal".to_owned(), "consul".to_owned()],
            datacenter: "dc1".to_owned(),
            ttl: 0,
            agent: None,
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
    /// Largest UDP answer sent to a client that advertises EDNS0 (never less than 512): the
    /// client's size up to this. Default [`MAX_UDP_PAYLOAD`], as Consul: a client that
    /// advertises 4096 gets up to 4096 bytes (1232, the DNS flag day 2020 value, would
    /// avoid IP fragmentation off the loopback, at the price of TCP retries).
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
            max_udp_payload: MAX_UDP_PAYLOAD,
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
