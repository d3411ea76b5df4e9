//! [`DnsTable`]: everything the answer path needs, precomputed from the catalog by the pure
//! [`build_table`], so answering never touches the store or a lock.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use shoal_catalog::InstanceRecord;
use shoal_spec::ServiceSpec;

use crate::config::{normalize, DnsConfig};

/// Consul's SOA timers: refresh, retry, expire (seconds); the SOA minimum is 0.
pub(crate) const SOA_TIMERS: (u32, u32, u32) = (3600, 600, 86400);

/// One domain zone (`shoal.`, `consul.`): `ns.<domain>` is its NS and SOA primary,
/// `hostmaster.<domain>` its SOA mailbox.
#[derive(Debug, Clone)]
pub(crate) struct Zone {
    /// Lower-case labels of the domain, e.g. `["consul"]`.
    pub(crate) labels: Vec<String>,
}

/// An SRV answer: a port on one of [`Answers::targets`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Srv {
    pub(crate) target: usize,
    pub(crate) port: u16,
}

/// The host an SRV record points at: its address, and the wire-format labels of its name
/// before the zone (`<node>.node.<dc>` or `<hex>.addr.<dc>`).
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) ip: IpAddr,
    pub(crate) prefix: Vec<u8>,
}

/// What one lookup (a service, or a version of it) answers: distinct addresses and SRV entries.
#[derive(Debug, Clone, Default)]
pub(crate) struct Answers {
    pub(crate) v4: Vec<Ipv4Addr>,
    pub(crate) v6: Vec<Ipv6Addr>,
    pub(crate) srv: Vec<Srv>,
    pub(crate) targets: Vec<Target>,
}

/// A service's routable instances: unversioned lookups and one entry per version.
#[derive(Debug, Clone, Default)]
pub(crate) struct ServiceEntry {
    pub(crate) default: Answers,
    pub(crate) by_version: HashMap<String, Answers>,
}

/// The in-memory DNS view of the catalog. Cheap to read, rebuilt whole on every change.
#[derive(Debug, Clone)]
pub struct DnsTable {
    pub(crate) cfg: DnsConfig,
    pub(crate) zones: Vec<Zone>,
    /// By lower-case service name; only services with at least one routable instance.
    pub(crate) services: HashMap<String, ServiceEntry>,
    /// By lower-case node name.
    pub(crate) nodes: HashMap<String, IpAddr>,
    /// The SOA serial.
    pub(crate) serial: u32,
}

impl Default for DnsTable {
    fn default() -> Self {
        DnsTable::empty(&DnsConfig::default())
    }
}

impl DnsTable {
    /// A table with no services yet (NXDOMAIN for every service), answering `cfg`'s domains.
    pub fn empty(cfg: &DnsConfig) -> Self {
        build_table(cfg, &BTreeMap::new(), &[], 1)
    }

    /// The configuration this table answers with.
    pub fn config(&self) -> &DnsConfig {
        &self.cfg
    }

    /// Services with at least one routable instance, sorted.
    pub fn services(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.services.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }
}

/// One routable instance, reduced to what DNS needs.
struct Endpoint<'a> {
    version: String,
    node: &'a str,
    ip: IpAddr,
    port: u16,
}

/// Builds the table from the specs (for each service's current version) and the catalog.
/// Only routable instances (running, passing or warning) are answered; unversioned lookups
/// answer the current version's instances, or every version's while the current one has none
/// routable (mid-deploy) or the service has no spec (registered from outside). `serial` is the
/// SOA serial (the store revision).
pub fn build_table(
    cfg: &DnsConfig,
    specs: &BTreeMap<String, ServiceSpec>,
    records: &[InstanceRecord],
    serial: u32,
) -> DnsTable {
    let mut cfg = cfg.clone();
    cfg.domains = cfg.domains.iter().map(|d| normalize(d)).collect();
    cfg.domains.retain(|d| !d.is_empty());
    cfg.datacenter = normalize(&cfg.datacenter);
    let zones: Vec<Zone> = cfg.domains.iter().filter_map(|d| zone(d)).collect();
    cfg.domains = zones.iter().map(|z| z.labels.join(".")).collect();
    if !is_host_label(&cfg.datacenter) {
        cfg.datacenter = DnsConfig::default().datacenter;
    }

    let nodes = node_addresses(records);
    let mut by_service: BTreeMap<String, Vec<Endpoint<'_>>> = BTreeMap::new();
    for r in records.iter().filter(|r| r.is_routable()) {
        let Ok(ip) = r.address.parse::<IpAddr>() else {
            continue;
        };
        by_service
            .entry(r.service.to_ascii_lowercase())
            .or_default()
            .push(Endpoint {
                version: r.version.to_ascii_lowercase(),
                node: &r.node,
                ip,
                port: r.port,
            });
    }
    let current: HashMap<String, String> = specs
        .values()
        .map(|s| (s.name.to_ascii_lowercase(), s.version.to_ascii_lowercase()))
        .collect();
    let mut services = HashMap::new();
    for (name, eps) in by_service {
        let mut versions: BTreeMap<&str, Vec<&Endpoint<'_>>> = BTreeMap::new();
        for e in &eps {
            versions.entry(e.version.as_str()).or_default().push(e);
        }
        let all: Vec<&Endpoint<'_>> = eps.iter().collect();
        let default = match current.get(&name).and_then(|v| versions.get(v.as_str())) {
            Some(cur) => answers(cur, &nodes, &cfg.datacenter),
            None => answers(&all, &nodes, &cfg.datacenter),
        };
        let by_version = versions
            .iter()
            .map(|(v, list)| (v.to_string(), answers(list, &nodes, &cfg.datacenter)))
            .collect();
        services.insert(
            name,
            ServiceEntry {
                default,
                by_version,
            },
        );
    }
    DnsTable {
        cfg,
        zones,
        services,
        nodes,
        serial,
    }
}

/// A zone for `domain` if it is a valid name (labels of 1 to 63 bytes, at most 253 in all).
fn zone(domain: &str) -> Option<Zone> {
    let labels: Vec<String> = domain.split('.').map(str::to_owned).collect();
    let ok = domain.len() <= 253 && labels.iter().all(|l| !l.is_empty() && l.len() <= 63);
    ok.then_some(Zone { labels })
}

/// Each node's address: the most common address among its supervised instances (ties: the
/// smallest), else among instances registered from outside on it. Unparsable ones are skipped.
fn node_addresses(records: &[InstanceRecord]) -> HashMap<String, IpAddr> {
    type Counts = BTreeMap<String, BTreeMap<IpAddr, usize>>;
    let mut own: Counts = BTreeMap::new();
    let mut external: Counts = BTreeMap::new();
    for r in records.iter().filter(|r| !r.node.is_empty()) {
        let Ok(ip) = r.address.parse::<IpAddr>() else {
            continue;
        };
        let map = if r.external { &mut external } else { &mut own };
        *map.entry(r.node.to_ascii_lowercase())
            .or_default()
            .entry(ip)
            .or_default() += 1;
    }
    let mut out = HashMap::new();
    // Supervised instances come last and win.
    for (node, ips) in external.into_iter().chain(own) {
        let best = ips
            .iter()
            .max_by(|a, b| a.1.cmp(b.1).then(b.0.cmp(a.0)))
            .map(|(ip, _)| *ip);
        if let Some(ip) = best {
            out.insert(node, ip);
        }
    }
    out
}

/// A DNS label of letters, digits and hyphens (what a node name must be to name a target).
pub(crate) fn is_host_label(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}

/// Consul's address-derived host label: 8 hex digits for IPv4, 32 for IPv6.
pub(crate) fn addr_label(ip: IpAddr) -> String {
    let bytes: Vec<u8> = match ip {
        IpAddr::V4(v4) => v4.octets().to_vec(),
        IpAddr::V6(v6) => v6.octets().to_vec(),
    };
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn answers(eps: &[&Endpoint<'_>], nodes: &HashMap<String, IpAddr>, dc: &str) -> Answers {
    let mut v4 = BTreeSet::new();
    let mut v6 = BTreeSet::new();
    // Target host label ("<node>.node" or "<hex>.addr") -> index in `targets`.
    let mut target_index: BTreeMap<(String, &str), usize> = BTreeMap::new();
    let mut targets = Vec::new();
    let mut srv = BTreeSet::new();
    for e in eps {
        match e.ip {
            IpAddr::V4(a) => v4.insert(a),
            IpAddr::V6(a) => v6.insert(a),
        };
        let node = e.node.to_ascii_lowercase();
        let key = if is_host_label(&node) && nodes.get(&node) == Some(&e.ip) {
            (node, "node")
        } else {
            (addr_label(e.ip), "addr")
        };
        let idx = match target_index.get(&key) {
            Some(i) => *i,
            None => {
                let mut prefix = Vec::new();
                for label in [key.0.as_str(), key.1, dc] {
                    prefix.push(label.len() as u8);
                    prefix.extend_from_slice(label.as_bytes());
                }
                targets.push(Target { ip: e.ip, prefix });
                target_index.insert(key, targets.len() - 1);
                targets.len() - 1
            }
        };
        srv.insert(Srv {
            target: idx,
            port: e.port,
        });
    }
    Answers {
        v4: v4.into_iter().collect(),
        v6: v6.into_iter().collect(),
        srv: srv.into_iter().collect(),
        targets,
    }
}
