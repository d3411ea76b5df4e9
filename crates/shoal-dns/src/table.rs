//! [`DnsTable`]: everything the answer path needs, precomputed from the catalog by the pure
//! [`build_table`], so answering never touches the store or a lock.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use shoal_catalog::{resolve_query, Health, InstanceRecord, PreparedQuery};
use shoal_spec::ServiceSpec;

use crate::config::{normalize, DnsConfig};
use crate::reverse;

/// The service Consul's servers register themselves as (`consul.service.<domain>`).
pub(crate) const CONSUL_SERVICE: &str = "consul";
/// The port Consul's `consul` service has: the server RPC port.
pub(crate) const CONSUL_SERVER_PORT: u16 = 8300;

/// Consul's SOA timers: refresh, retry, expire (seconds); the SOA minimum is 0.
pub(crate) const SOA_TIMERS: (u32, u32, u32) = (3600, 600, 86400);

/// One domain zone (`shoal.`, `consul.`): `ns.<domain>` is its NS and SOA primary,
/// `hostmaster.<domain>` its SOA mailbox.
#[derive(Debug, Clone)]
pub(crate) struct Zone {
    /// Lower-case labels of the domain, e.g. `["consul"]`.
    pub(crate) labels: Vec<String>,
}

/// An SRV answer: a port on one of [`Answers::targets`], with its weight (Consul's
/// `Weights`, by the instance's health).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Srv {
    pub(crate) target: usize,
    pub(crate) port: u16,
    pub(crate) weight: u16,
}

/// A host name as it goes on the wire.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum HostName {
    /// Wire-format labels before the zone (`<node>.node.<dc>`, `<hex>.addr.<dc>`,
    /// `<service>.service.<dc>`); the zone follows.
    InZone(Vec<u8>),
    /// A whole name outside our zones (a service registered with a host name), wire format
    /// with the root label.
    Absolute(Vec<u8>),
}

/// The host an SRV record points at: its name, and its address when we know it (an
/// additional record then carries it).
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) ip: Option<IpAddr>,
    pub(crate) name: HostName,
}

/// What one lookup (a service, or a version of it) answers: distinct addresses, the host
/// names of instances registered with one (answered as a CNAME when no address answers, as
/// Consul), and SRV entries.
#[derive(Debug, Clone, Default)]
pub(crate) struct Answers {
    pub(crate) v4: Vec<Ipv4Addr>,
    pub(crate) v6: Vec<Ipv6Addr>,
    pub(crate) hosts: Vec<String>,
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
    /// Reverse lookups: an address to the labels, before the first zone, of the node at it
    /// (`<node>.node.<dc>`), else of a service with an instance at it (`<svc>.service.<dc>`).
    pub(crate) ptr: HashMap<IpAddr, Vec<u8>>,
    /// Consul prepared queries (`<name>.query.<domain>`), run against `endpoints` when asked.
    pub(crate) queries: Vec<PreparedQuery>,
    /// Every routable instance, for prepared queries.
    pub(crate) endpoints: Vec<Endpoint>,
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

    /// The same table answering `queries` as `<name or id>.query.<domain>` too.
    pub fn with_queries(mut self, queries: impl IntoIterator<Item = PreparedQuery>) -> Self {
        self.queries = queries.into_iter().collect();
        self
    }

    /// What prepared query `asked` (an ID or a name) returns, and its DNS TTL; `None` when
    /// no query has that ID or name.
    pub(crate) fn run_query(&self, asked: &str) -> Option<(Answers, Option<u32>)> {
        let q = resolve_query(&self.queries, asked)?;
        let picked: Vec<&Endpoint> = self
            .endpoints
            .iter()
            .filter(|e| {
                let tags: Vec<&str> = e.tags.iter().map(String::as_str).collect();
                q.selects(asked, &e.service, &tags, e.health)
            })
            .collect();
        Some((
            answers(&picked, &self.nodes, &self.cfg.datacenter),
            q.dns_ttl_secs,
        ))
    }

    /// Services with at least one routable instance, sorted.
    pub fn services(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.services.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }
}

/// Where an instance is reached: an address, or a host name (lower case, no final dot).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Addr {
    Ip(IpAddr),
    Host(String),
}

/// One routable instance, reduced to what DNS needs (prepared queries filter on tags and
/// health).
#[derive(Debug, Clone)]
pub(crate) struct Endpoint {
    service: String,
    version: String,
    node: String,
    tags: Vec<String>,
    health: Health,
    addr: Addr,
    port: u16,
    weight: u16,
}

/// Builds the table from the specs (for each service's current version) and the catalog.
/// Only routable instances (running, passing or warning) are answered; unversioned lookups
/// answer the current version's instances, or every version's while the current one has none
/// routable (mid-deploy) or the service has no spec (registered from outside). `serial` is the
/// SOA serial (the store revision). With [`DnsConfig::agent`] set, `consul.service` answers
/// that node at port 8300, as Consul's servers do.
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

    let mut nodes = node_addresses(records);
    let mut endpoints: Vec<Endpoint> = Vec::new();
    for r in records.iter().filter(|r| r.is_routable()) {
        let addr = match r.address.parse::<IpAddr>() {
            Ok(ip) => Addr::Ip(ip),
            Err(_) => match host_name(&r.address) {
                Some(h) => Addr::Host(h),
                None => continue,
            },
        };
        endpoints.push(Endpoint {
            service: r.service.to_ascii_lowercase(),
            version: r.version.to_ascii_lowercase(),
            node: r.node.to_ascii_lowercase(),
            tags: r.consul_tags().into_iter().map(str::to_owned).collect(),
            health: r.health,
            addr,
            port: r.port,
            weight: r.srv_weight(),
        });
    }
    if let Some(a) = &cfg.agent {
        let node = a.node.to_ascii_lowercase();
        nodes.entry(node.clone()).or_insert(a.address);
        endpoints.push(Endpoint {
            service: CONSUL_SERVICE.to_owned(),
            version: "1".to_owned(),
            node,
            tags: Vec::new(),
            health: Health::Passing,
            addr: Addr::Ip(a.address),
            port: CONSUL_SERVER_PORT,
            weight: 1,
        });
    }
    let mut by_service: BTreeMap<&str, Vec<&Endpoint>> = BTreeMap::new();
    for e in &endpoints {
        by_service.entry(e.service.as_str()).or_default().push(e);
    }
    let current: HashMap<String, String> = specs
        .values()
        .map(|s| (s.name.to_ascii_lowercase(), s.version.to_ascii_lowercase()))
        .collect();
    let mut services = HashMap::new();
    for (name, eps) in by_service {
        let mut versions: BTreeMap<&str, Vec<&Endpoint>> = BTreeMap::new();
        for e in &eps {
            versions.entry(e.version.as_str()).or_default().push(e);
        }
        let default = match current.get(name).and_then(|v| versions.get(v.as_str())) {
            Some(cur) => answers(cur, &nodes, &cfg.datacenter),
            None => answers(&eps, &nodes, &cfg.datacenter),
        };
        let by_version = versions
            .iter()
            .map(|(v, list)| (v.to_string(), answers(list, &nodes, &cfg.datacenter)))
            .collect();
        services.insert(
            name.to_owned(),
            ServiceEntry {
                default,
                by_version,
            },
        );
    }
    let ptr = reverse::ptr_names(&nodes, records, &cfg.datacenter);
    DnsTable {
        cfg,
        zones,
        services,
        nodes,
        ptr,
        queries: Vec::new(),
        endpoints,
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

fn answers(eps: &[&Endpoint], nodes: &HashMap<String, IpAddr>, dc: &str) -> Answers {
    let mut v4 = BTreeSet::new();
    let mut v6 = BTreeSet::new();
    let mut hosts = BTreeSet::new();
    // Target host label ("<node>.node", "<hex>.addr", or a host name) -> index in `targets`.
    let mut target_index: BTreeMap<(String, &str), usize> = BTreeMap::new();
    let mut targets = Vec::new();
    let mut srv = BTreeSet::new();
    for e in eps {
        let (key, ip) = match &e.addr {
            Addr::Ip(ip) => {
                match ip {
                    IpAddr::V4(a) => v4.insert(*a),
                    IpAddr::V6(a) => v6.insert(*a),
                };
                let key = if is_host_label(&e.node) && nodes.get(&e.node) == Some(ip) {
                    (e.node.clone(), "node")
                } else {
                    (addr_label(*ip), "addr")
                };
                (key, Some(*ip))
            }
            Addr::Host(h) => {
                hosts.insert(h.clone());
                ((h.clone(), ""), None)
            }
        };
        let idx = match target_index.get(&key) {
            Some(i) => *i,
            None => {
                let name = if key.1.is_empty() {
                    HostName::Absolute(wire_name(key.0.split('.')))
                } else {
                    HostName::InZone(wire_labels([key.0.as_str(), key.1, dc]))
                };
                targets.push(Target { ip, name });
                target_index.insert(key, targets.len() - 1);
                targets.len() - 1
            }
        };
        srv.insert(Srv {
            target: idx,
            port: e.port,
            weight: e.weight,
        });
    }
    Answers {
        v4: v4.into_iter().collect(),
        v6: v6.into_iter().collect(),
        hosts: hosts.into_iter().collect(),
        srv: srv.into_iter().collect(),
        targets,
    }
}

/// Labels in wire format (length-prefixed), without the root.
pub(crate) fn wire_labels<'s>(labels: impl IntoIterator<Item = &'s str>) -> Vec<u8> {
    let mut out = Vec::new();
    for l in labels {
        out.push(l.len() as u8);
        out.extend_from_slice(l.as_bytes());
    }
    out
}

/// A whole name in wire format, with the root label.
fn wire_name<'s>(labels: impl IntoIterator<Item = &'s str>) -> Vec<u8> {
    let mut out = wire_labels(labels);
    out.push(0);
    out
}

/// `address` as a DNS host name (lower case, without the final dot) if it is one: labels of
/// letters, digits, hyphens and underscores, 1 to 63 bytes each, at most 253 in all, at
/// least two labels (a bare word is not a host another resolver could answer).
pub(crate) fn host_name(address: &str) -> Option<String> {
    let h = address
        .strip_suffix('.')
        .unwrap_or(address)
        .to_ascii_lowercase();
    let ok = h.len() <= 253
        && h.contains('.')
        && h.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    ok.then_some(h)
}
