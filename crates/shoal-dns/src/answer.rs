//! [`answer`]: one query's bytes in, one response's bytes out (or nothing for packets that
//! must not be answered). Pure apart from the shuffle; both the UDP and TCP loops use it.
//!
//! Negative answers follow Consul: an unknown name under our domains, or a service with no
//! healthy instance, is NXDOMAIN with the zone's SOA in the authority section; a known name
//! without records of the asked type (AAAA of an IPv4-only service, MX, ...) is NOERROR with
//! no answer and the SOA; a name outside our domains is REFUSED (no recursion).

use std::net::IpAddr;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RecordType};
use rand::seq::{IndexedRandom, SliceRandom};
use rand::Rng;

use crate::name::{classify, Lookup};
use crate::table::{Answers, DnsTable};
use crate::wire::{formerr_from_raw, Reply, Rr};

/// The classic DNS UDP payload limit (RFC 1035), for clients without EDNS0.
pub const CLASSIC_UDP_PAYLOAD: usize = 512;

/// How the answer travels, which bounds its size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transport {
    /// UDP: at most 512 bytes, or the client's EDNS0 size capped at `max_payload`;
    /// a larger answer is cut to what fits and sent with TC set.
    Udp { max_payload: u16 },
    /// TCP: the full answer (up to the 65535 bytes a TCP DNS message can carry).
    Tcp,
}

/// Answers one DNS query. `None` means send nothing (a response packet or a fragment without
/// a header); unparsable queries with a header get FORMERR. Never panics on any input.
pub fn answer(table: &DnsTable, query: &[u8], transport: Transport) -> Option<Vec<u8>> {
    answer_with_rng(table, query, transport, &mut rand::rng())
}

/// [`answer`] with the shuffle's randomness supplied (tests use a seeded generator).
pub fn answer_with_rng<R: Rng + ?Sized>(
    table: &DnsTable,
    query: &[u8],
    transport: Transport,
    rng: &mut R,
) -> Option<Vec<u8>> {
    let Ok(req) = Message::from_vec(query) else {
        return formerr_from_raw(query);
    };
    if req.message_type != MessageType::Query {
        return None;
    }
    let server_max = match transport {
        Transport::Udp { max_payload } => max_payload,
        Transport::Tcp => u16::MAX,
    };
    let limit = match (transport, &req.edns) {
        (Transport::Tcp, _) => usize::from(u16::MAX),
        (Transport::Udp { .. }, None) => CLASSIC_UDP_PAYLOAD,
        (Transport::Udp { .. }, Some(e)) => {
            usize::from(e.max_payload().min(server_max)).max(CLASSIC_UDP_PAYLOAD)
        }
    };
    // What a prepared query selected, computed for this question (borrowed by the reply).
    let mut scratch = None;
    let mut reply = Reply {
        id: req.id,
        opcode: u8::from(req.op_code),
        rd: req.recursion_desired,
        aa: false,
        rcode: 0,
        question: None,
        zone: None,
        edns: req.edns.as_ref().map(|_| server_max),
        ttl: table.cfg.ttl,
        targets: &[],
        ptr: &[],
        cname: Vec::new(),
        answers: Vec::new(),
        authority: Vec::new(),
        serial: table.serial,
    };
    if req.edns.as_ref().is_some_and(|e| e.version() > 0) {
        reply.rcode = ResponseCode::BADVERS.into();
    } else if req.op_code != OpCode::Query {
        reply.rcode = ResponseCode::NotImp.into();
    } else if req.queries.len() != 1 {
        reply.rcode = ResponseCode::FormErr.into();
    } else {
        let q = &req.queries[0];
        reply.question = Some(q);
        if matches!(q.query_class(), DNSClass::IN | DNSClass::ANY) {
            resolve(table, q, &mut reply, &mut scratch, rng);
        } else {
            reply.rcode = ResponseCode::Refused.into();
        }
    }
    Some(reply.encode(limit))
}

fn resolve<'t, R: Rng + ?Sized>(
    table: &'t DnsTable,
    q: &Query,
    reply: &mut Reply<'t>,
    scratch: &'t mut Option<Answers>,
    rng: &mut R,
) {
    let qtype = q.query_type();
    let lookup = classify(q.name(), &table.zones, &table.cfg.datacenter);
    let zone = match &lookup {
        Lookup::Outside => {
            reply.rcode = ResponseCode::Refused.into();
            return;
        }
        // Reverse names answer in (and with the SOA of) the first domain, as Consul's.
        Lookup::Reverse { .. } => 0,
        Lookup::Apex { zone }
        | Lookup::Service { zone, .. }
        | Lookup::Node { zone, .. }
        | Lookup::Addr { zone, .. }
        | Lookup::Query { zone, .. }
        | Lookup::Unknown { zone } => *zone,
    };
    reply.aa = true;
    reply.zone = table.zones.get(zone);
    let found = match lookup {
        Lookup::Outside | Lookup::Unknown { .. } => false,
        Lookup::Reverse { ip } => match ip.and_then(|ip| table.ptr.get(&ip)) {
            Some(name) => {
                if matches!(qtype, RecordType::PTR | RecordType::ANY) {
                    reply.ptr = name;
                    reply.answers.push(Rr::Ptr);
                }
                true
            }
            None => false,
        },
        Lookup::Apex { .. } => {
            match qtype {
                RecordType::SOA => reply.answers.push(Rr::Soa),
                RecordType::NS => reply.answers.push(Rr::Ns),
                _ => {}
            }
            true
        }
        Lookup::Service { service, tag, .. } => {
            let entry = table.services.get(&service);
            let answers = match &tag {
                None => entry.map(|e| &e.default),
                Some(t) => entry.and_then(|e| e.by_version.get(t)),
            };
            match answers.filter(|a| !a.srv.is_empty()) {
                Some(a) => {
                    service_records(table, a, qtype, reply, rng);
                    true
                }
                None => false,
            }
        }
        Lookup::Node { node, .. } => match table.nodes.get(&node) {
            Some(ip) => {
                address_records(&[*ip], qtype, reply);
                true
            }
            None => false,
        },
        Lookup::Addr { ip, .. } => {
            address_records(&[ip], qtype, reply);
            true
        }
        // As Consul: a query that selects nothing (or no query) is NXDOMAIN.
        Lookup::Query { query, .. } => match table.run_query(&query) {
            Some((a, ttl)) if !a.srv.is_empty() => {
                if let Some(ttl) = ttl {
                    reply.ttl = ttl;
                }
                let a: &'t Answers = scratch.insert(a);
                service_records(table, a, qtype, reply, rng);
                true
            }
            _ => false,
        },
    };
    if !found {
        reply.rcode = ResponseCode::NXDomain.into();
    }
    if reply.answers.is_empty() {
        reply.authority.push(Rr::Soa);
    }
}

fn service_records<'t, R: Rng + ?Sized>(
    table: &DnsTable,
    a: &'t Answers,
    qtype: RecordType,
    reply: &mut Reply<'t>,
    rng: &mut R,
) {
    if qtype == RecordType::SRV {
        reply.targets = &a.targets;
        let start = reply.answers.len();
        reply.answers.extend(a.srv.iter().map(|s| Rr::Srv {
            port: s.port,
            target: s.target,
            weight: s.weight,
        }));
        reply.answers[start..].shuffle(rng);
        return;
    }
    let start = reply.answers.len();
    if matches!(qtype, RecordType::A | RecordType::ANY) {
        reply
            .answers
            .extend(a.v4.iter().map(|v| Rr::Addr(IpAddr::V4(*v))));
    }
    if matches!(qtype, RecordType::AAAA | RecordType::ANY) {
        reply
            .answers
            .extend(a.v6.iter().map(|v| Rr::Addr(IpAddr::V6(*v))));
    }
    reply.answers[start..].shuffle(rng);
    // As Consul: instances registered with a host name answer only when no address does,
    // as one CNAME (a random one), followed by its target's addresses when we know them.
    let wants_addr = matches!(qtype, RecordType::A | RecordType::AAAA | RecordType::ANY);
    if wants_addr && reply.answers.len() == start {
        if let Some(host) = a.hosts.choose(rng) {
            reply.cname = host_wire(host);
            reply.answers.push(Rr::Cname);
            let ips = resolve_host(table, host);
            address_records(&ips, qtype, reply);
            for rr in reply.answers.iter_mut().skip(start + 1) {
                if let Rr::Addr(ip) = *rr {
                    *rr = Rr::CnameAddr(ip);
                }
            }
        }
    }
}

/// A host name in wire format, with the root label.
fn host_wire(host: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(host.len() + 2);
    for l in host.split('.') {
        out.push(l.len() as u8);
        out.extend_from_slice(l.as_bytes());
    }
    out.push(0);
    out
}

/// The addresses of a CNAME target inside our zones (a service, node or addr name), one
/// level deep; names outside them are left to the client's resolver (no recursors).
fn resolve_host(table: &DnsTable, host: &str) -> Vec<IpAddr> {
    let Ok(name) = Name::from_ascii(format!("{host}.")) else {
        return Vec::new();
    };
    match classify(&name, &table.zones, &table.cfg.datacenter) {
        Lookup::Service { service, tag, .. } => {
            let entry = table.services.get(&service);
            let answers = match &tag {
                None => entry.map(|e| &e.default),
                Some(t) => entry.and_then(|e| e.by_version.get(t)),
            };
            answers.map_or_else(Vec::new, |a| {
                let v4 = a.v4.iter().map(|v| IpAddr::V4(*v));
                v4.chain(a.v6.iter().map(|v| IpAddr::V6(*v))).collect()
            })
        }
        Lookup::Node { node, .. } => table.nodes.get(&node).copied().into_iter().collect(),
        Lookup::Addr { ip, .. } => vec![ip],
        _ => Vec::new(),
    }
}

/// A/AAAA records of `ips` that match `qtype` (ANY takes both).
fn address_records(ips: &[IpAddr], qtype: RecordType, reply: &mut Reply<'_>) {
    for ip in ips {
        let wanted = match ip {
            IpAddr::V4(_) => matches!(qtype, RecordType::A | RecordType::ANY),
            IpAddr::V6(_) => matches!(qtype, RecordType::AAAA | RecordType::ANY),
        };
        if wanted {
            reply.answers.push(Rr::Addr(*ip));
        }
    }
}
