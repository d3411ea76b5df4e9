//! Classifies a query name the way Consul does: `[tag.]<svc>.service[.<dc>].<domain>`,
//! `_<svc>._<tag|tcp>.service[.<dc>].<domain>`, `<node>.node[.<dc>].<domain>`,
//! `<hex>.addr[.<dc>].<domain>`, the zone apex, or something outside our zones.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hickory_proto::rr::Name;

use crate::reverse;
use crate::table::Zone;

/// What a query name asks for. `zone` indexes the table's zones.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Lookup {
    /// Not under any of our domains: we are not a recursor.
    Outside,
    /// The domain itself (`consul.`).
    Apex {
        zone: usize,
    },
    /// A service, optionally narrowed to a tag (a Shoal version).
    Service {
        zone: usize,
        service: String,
        tag: Option<String>,
    },
    Node {
        zone: usize,
        node: String,
    },
    Addr {
        zone: usize,
        ip: IpAddr,
    },
    /// A prepared query, by name or ID (`<query>.query.<domain>`, `_<query>._tcp.query...`).
    Query {
        zone: usize,
        query: String,
    },
    /// A reverse lookup under `arpa.`: the address, if the name is a whole one.
    Reverse {
        ip: Option<IpAddr>,
    },
    /// Under our domain but not a name we know how to answer: NXDOMAIN.
    Unknown {
        zone: usize,
    },
}

/// Splits `name` into lower-case labels and classifies it against `zones` and `datacenter`.
pub(crate) fn classify(name: &Name, zones: &[Zone], datacenter: &str) -> Lookup {
    let labels: Vec<String> = name
        .iter()
        .map(|l| String::from_utf8_lossy(l).to_ascii_lowercase())
        .collect();
    if reverse::is_arpa(&labels) {
        return Lookup::Reverse {
            ip: reverse::parse_arpa(&labels),
        };
    }
    let Some((zone, rest)) = match_zone(&labels, zones) else {
        return Lookup::Outside;
    };
    if rest.is_empty() {
        return Lookup::Apex { zone };
    }
    let mut rest = rest;
    let last = rest.len() - 1;
    if !matches!(rest[last].as_str(), "service" | "node" | "addr" | "query") {
        // `<...>.<kind>.<dc>`: the datacenter label must be ours.
        if rest.len() < 2 || rest[last] != datacenter {
            return Lookup::Unknown { zone };
        }
        rest = &rest[..last];
    }
    let (kind, before) = match rest.split_last() {
        Some((kind, before)) if !before.is_empty() => (kind.as_str(), before),
        _ => return Lookup::Unknown { zone },
    };
    match kind {
        "service" => service(zone, before),
        "node" => Lookup::Node {
            zone,
            node: before.join("."),
        },
        "query" => Lookup::Query {
            zone,
            query: query_name(before),
        },
        "addr" => match (before, parse_hex_ip(&before[0])) {
            ([_], Some(ip)) => Lookup::Addr { zone, ip },
            _ => Lookup::Unknown { zone },
        },
        _ => Lookup::Unknown { zone },
    }
}

/// The zone whose labels end `labels` (the longest if several), and the labels before it.
fn match_zone<'a>(labels: &'a [String], zones: &[Zone]) -> Option<(usize, &'a [String])> {
    zones
        .iter()
        .enumerate()
        .filter(|(_, z)| labels.len() >= z.labels.len() && labels.ends_with(&z.labels))
        .max_by_key(|(_, z)| z.labels.len())
        .map(|(i, z)| (i, &labels[..labels.len() - z.labels.len()]))
}

fn service(zone: usize, before: &[String]) -> Lookup {
    // RFC 2782: `_<service>._<tag>`, where the protocol `_tcp` means no tag.
    if let [svc, tag] = before {
        if let (Some(svc), Some(tag)) = (svc.strip_prefix('_'), tag.strip_prefix('_')) {
            if svc.is_empty() || tag.is_empty() {
                return Lookup::Unknown { zone };
            }
            return Lookup::Service {
                zone,
                service: svc.to_owned(),
                tag: (tag != "tcp").then(|| tag.to_owned()),
            };
        }
    }
    let (svc, tag) = before.split_last().map_or(("", &[][..]), |(s, t)| (s, t));
    if svc.is_empty() {
        return Lookup::Unknown { zone };
    }
    Lookup::Service {
        zone,
        service: svc.to_owned(),
        // Versions may contain dots (`1.2.web.service.shoal` is version "1.2").
        tag: (!tag.is_empty()).then(|| tag.join(".")),
    }
}

/// The prepared query a `.query` name asks for: `_<name>._<proto>` (RFC 2782, the protocol
/// ignored) or the labels joined with dots (names may contain dots), as Consul reads it.
fn query_name(before: &[String]) -> String {
    match before {
        [first, .., last] if first.starts_with('_') && last.starts_with('_') => {
            let name = before[..before.len() - 1].join(".");
            name[1..].to_owned()
        }
        _ => before.join("."),
    }
}

/// Consul's `<hex>.addr` label: 8 hex digits are an IPv4 address, 32 an IPv6 address.
fn parse_hex_ip(label: &str) -> Option<IpAddr> {
    if !label.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    match label.len() {
        8 => u32::from_str_radix(label, 16)
            .ok()
            .map(|v| IpAddr::V4(Ipv4Addr::from(v))),
        32 => u128::from_str_radix(label, 16)
            .ok()
            .map(|v| IpAddr::V6(Ipv6Addr::from(v))),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{build_table, DnsConfig};

    fn lookup(name: &str) -> Lookup {
        let cfg = DnsConfig {
            domains: vec!["shoal".into(), "consul".into(), "internal.example".into()],
            ..DnsConfig::default()
        };
        let t = build_table(&cfg, &Default::default(), &[], 1);
        let name = Name::from_ascii(name).unwrap_or_default();
        classify(&name, &t.zones, "dc1")
    }

    fn svc(zone: usize, service: &str, tag: Option<&str>) -> Lookup {
        Lookup::Service {
            zone,
            service: service.into(),
            tag: tag.map(Into::into),
        }
    }

    #[test]
    fn services_in_every_form() {
        assert_eq!(lookup("web.service.shoal."), svc(0, "web", None));
        assert_eq!(lookup("WEB.Service.CONSUL."), svc(1, "web", None));
        assert_eq!(lookup("web.service.dc1.consul."), svc(1, "web", None));
        assert_eq!(lookup("23.web.service.consul."), svc(1, "web", Some("23")));
        assert_eq!(lookup("1.2.web.service.shoal."), svc(0, "web", Some("1.2")));
        assert_eq!(lookup("_web._tcp.service.consul."), svc(1, "web", None));
        assert_eq!(
            lookup("_web._v2.service.consul."),
            svc(1, "web", Some("v2"))
        );
        assert_eq!(lookup("web.service.internal.example."), svc(2, "web", None));
    }

    #[test]
    fn nodes_addrs_apex_unknown_outside() {
        assert_eq!(
            lookup("box.node.consul."),
            Lookup::Node {
                zone: 1,
                node: "box".into()
            }
        );
        assert_eq!(
            lookup("7f000001.addr.dc1.consul."),
            Lookup::Addr {
                zone: 1,
                ip: "127.0.0.1"
                    .parse()
                    .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
            }
        );
        assert_eq!(
            lookup("00000000000000000000000000000001.addr.shoal."),
            Lookup::Addr {
                zone: 0,
                ip: IpAddr::V6(Ipv6Addr::LOCALHOST)
            }
        );
        assert_eq!(lookup("consul."), Lookup::Apex { zone: 1 });
        assert_eq!(lookup("service.consul."), Lookup::Unknown { zone: 1 });
        assert_eq!(
            lookup("web.service.dc2.consul."),
            Lookup::Unknown { zone: 1 }
        );
        assert_eq!(lookup("web.other.consul."), Lookup::Unknown { zone: 1 });
        assert_eq!(lookup("zz.addr.consul."), Lookup::Unknown { zone: 1 });
        assert_eq!(
            lookup("_._tcp.service.consul."),
            Lookup::Unknown { zone: 1 }
        );
        assert_eq!(lookup("example.com."), Lookup::Outside);
        assert_eq!(lookup("."), Lookup::Outside);
        assert_eq!(lookup("notconsul."), Lookup::Outside);
        assert_eq!(
            lookup("1.0.0.127.in-addr.arpa."),
            Lookup::Reverse {
                ip: Some(IpAddr::V4(Ipv4Addr::LOCALHOST))
            }
        );
        assert_eq!(lookup("in-addr.arpa."), Lookup::Reverse { ip: None });
        let query = |q: &str| Lookup::Query {
            zone: 1,
            query: q.into(),
        };
        assert_eq!(lookup("db.query.consul."), query("db"));
        assert_eq!(lookup("geo.db.query.dc1.consul."), query("geo.db"));
        assert_eq!(lookup("_db._tcp.query.consul."), query("db"));
        assert_eq!(lookup("query.consul."), Lookup::Unknown { zone: 1 });
    }
}
