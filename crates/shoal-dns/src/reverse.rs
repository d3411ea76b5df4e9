//! Reverse lookups, as Consul answers them: `<a.b.c.d>.in-addr.arpa` and the 32-nibble
//! `ip6.arpa` form name the node at that address (`<node>.node.<dc>.<domain>`), else a
//! service with an instance at it (`<service>.service.<dc>.<domain>`), in the first domain.

use std::collections::{BTreeMap, HashMap};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use shoal_catalog::InstanceRecord;

use crate::table::{is_host_label, wire_labels};

/// Whether `labels` (lower case, the root excluded) end in `arpa`: Consul answers every
/// such name itself (an address it does not know is NXDOMAIN).
pub(crate) fn is_arpa(labels: &[String]) -> bool {
    labels.last().is_some_and(|l| l == "arpa")
}

/// The address a reverse name asks for: `d.c.b.a.in-addr.arpa` (four decimal octets,
/// reversed) or 32 hex nibbles (reversed) before `ip6.arpa`. Partial names are `None`.
pub(crate) fn parse_arpa(labels: &[String]) -> Option<IpAddr> {
    match labels {
        [a, b, c, d, in_addr, arpa] if in_addr == "in-addr" && arpa == "arpa" => {
            let octet = |l: &String| {
                // Decimal without leading zeros (what `dig -x` writes).
                let ok = !l.is_empty() && (l == "0" || !l.starts_with('0'));
                ok.then(|| l.parse::<u8>().ok()).flatten()
            };
            Some(IpAddr::V4(Ipv4Addr::new(
                octet(d)?,
                octet(c)?,
                octet(b)?,
                octet(a)?,
            )))
        }
        [nibbles @ .., ip6, arpa] if ip6 == "ip6" && arpa == "arpa" && nibbles.len() == 32 => {
            let mut v: u128 = 0;
            for n in nibbles.iter().rev() {
                let [b] = n.as_bytes() else { return None };
                let d = char::from(*b).to_digit(16)?;
                v = (v << 4) | u128::from(d);
            }
            Some(IpAddr::V6(Ipv6Addr::from(v)))
        }
        _ => None,
    }
}

/// For each address, the labels (before the zone) a PTR names: a node at it first (nodes
/// by name), else the first service (by name) with an instance registered at it, healthy
/// or not (Consul answers from the catalog, not from health).
pub(crate) fn ptr_names(
    nodes: &HashMap<String, IpAddr>,
    records: &[InstanceRecord],
    dc: &str,
) -> HashMap<IpAddr, Vec<u8>> {
    let mut out = HashMap::new();
    let by_name: BTreeMap<&String, &IpAddr> = nodes.iter().collect();
    for (node, ip) in by_name {
        if is_host_label(node) {
            out.entry(*ip)
                .or_insert_with(|| wire_labels([node.as_str(), "node", dc]));
        }
    }
    let mut services: BTreeMap<String, Vec<IpAddr>> = BTreeMap::new();
    for r in records {
        if let Ok(ip) = r.address.parse::<IpAddr>() {
            services
                .entry(r.service.to_ascii_lowercase())
                .or_default()
                .push(ip);
        }
    }
    for (service, ips) in &services {
        if !is_host_label(service) {
            continue;
        }
        for ip in ips {
            out.entry(*ip)
                .or_insert_with(|| wire_labels([service.as_str(), "service", dc]));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(name: &str) -> Vec<String> {
        name.trim_end_matches('.')
            .split('.')
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn arpa_names_parse_to_addresses() {
        let v4 = parse_arpa(&labels("4.3.2.10.in-addr.arpa."));
        assert_eq!(v4, Some(IpAddr::V4(Ipv4Addr::new(10, 2, 3, 4))));
        let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.";
        assert_eq!(
            parse_arpa(&labels(v6)),
            Some(IpAddr::V6(Ipv6Addr::LOCALHOST))
        );
        for bad in [
            "3.2.10.in-addr.arpa.",
            "256.3.2.10.in-addr.arpa.",
            "04.3.2.10.in-addr.arpa.",
            "x.3.2.10.in-addr.arpa.",
            "1.0.ip6.arpa.",
            "arpa.",
        ] {
            assert_eq!(parse_arpa(&labels(bad)), None, "{bad}");
            assert!(is_arpa(&labels(bad)), "{bad}");
        }
        assert!(!is_arpa(&labels("web.service.consul.")));
    }

    #[test]
    fn nodes_win_over_services_and_services_go_by_name() {
        let ip = |s: &str| {
            s.parse::<IpAddr>()
                .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
        };
        let nodes: HashMap<String, IpAddr> = [("box".to_owned(), ip("127.0.0.1"))].into();
        let records = [
            InstanceRecord::new("a", "web", "1", "box", "127.0.0.1", 1),
            InstanceRecord::new("b", "zdb", "1", "ext", "10.0.0.9", 1),
            InstanceRecord::new("c", "cache", "1", "ext", "10.0.0.9", 1),
            InstanceRecord::new("d", "named", "1", "ext", "db.example.com", 1),
        ];
        let ptr = ptr_names(&nodes, &records, "dc1");
        assert_eq!(
            ptr.get(&ip("127.0.0.1")),
            Some(&wire_labels(["box", "node", "dc1"]))
        );
        assert_eq!(
            ptr.get(&ip("10.0.0.9")),
            Some(&wire_labels(["cache", "service", "dc1"]))
        );
        assert_eq!(ptr.len(), 2);
    }
}
