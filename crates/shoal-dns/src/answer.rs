//! [`answer`]: one query's bytes in, one response's bytes out (or nothing for packets that
//! must not be answered). Pure apart from the shuffle; both the UDP and TCP loops use it.
//!
//! Negative answers follow Consul: an unknown name under our domains, or a service with no
//! healthy instance, is NXDOMAIN with the zone's SOA in the authority section; a known name
//! without records of the asked type (AAAA of an IPv4-only service, MX, ...) is NOERROR with
//! no answer and the SOA; a name outside our domains is REFUSED (no recursion).

use std::net::IpAddr;

use hickory_proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, AAAA, SRV};
use hickory_proto::rr::{DNSClass, Name, RData, Record, RecordType};
use rand::seq::SliceRandom;
use rand::Rng;

use crate::name::{classify, Lookup};
use crate::reply::{formerr_from_raw, our_edns, Reply};
use crate::table::{Answers, DnsTable};

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
    let mut msg = Message::response(req.id, req.op_code);
    msg.metadata.recursion_desired = req.recursion_desired;
    let mut limit = CLASSIC_UDP_PAYLOAD;
    let server_max = match transport {
        Transport::Udp { max_payload } => max_payload,
        Transport::Tcp => u16::MAX,
    };
    if let Some(edns) = &req.edns {
        msg.set_edns(our_edns(server_max));
        limit = usize::from(edns.max_payload().min(server_max)).max(CLASSIC_UDP_PAYLOAD);
    }
    let mut reply = Reply::new(msg);
    if transport == Transport::Tcp {
        limit = usize::from(u16::MAX);
    }

    if req.edns.as_ref().is_some_and(|e| e.version() > 0) {
        reply.rcode(ResponseCode::BADVERS);
    } else if req.op_code != OpCode::Query {
        reply.rcode(ResponseCode::NotImp);
    } else if req.queries.len() != 1 {
        reply.rcode(ResponseCode::FormErr);
    } else {
        let q = &req.queries[0];
        reply.msg.add_query(q.clone());
        if matches!(q.query_class(), DNSClass::IN | DNSClass::ANY) {
            resolve(table, q, &mut reply, rng);
        } else {
            reply.rcode(ResponseCode::Refused);
        }
    }
    reply.encode(limit)
}

fn resolve<R: Rng + ?Sized>(table: &DnsTable, q: &Query, reply: &mut Reply, rng: &mut R) {
    let qtype = q.query_type();
    let lookup = classify(q.name(), &table.zones, &table.cfg.datacenter);
    let zone = match &lookup {
        Lookup::Outside => return reply.rcode(ResponseCode::Refused),
        Lookup::Apex { zone }
        | Lookup::Service { zone, .. }
        | Lookup::Node { zone, .. }
        | Lookup::Addr { zone, .. }
        | Lookup::Unknown { zone } => *zone,
    };
    reply.msg.metadata.authoritative = true;
    let Some(z) = table.zones.get(zone) else {
        return reply.rcode(ResponseCode::ServFail);
    };
    let ttl = table.cfg.ttl;
    let name = q.name();
    let found = match lookup {
        Lookup::Outside | Lookup::Unknown { .. } => false,
        Lookup::Apex { .. } => {
            match qtype {
                RecordType::SOA => reply.answers.push((z.soa.clone(), None)),
                RecordType::NS => reply.answers.push((z.ns.clone(), None)),
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
                    service_records(a, zone, qtype, name, ttl, reply, rng);
                    true
                }
                None => false,
            }
        }
        Lookup::Node { node, .. } => match table.nodes.get(&node) {
            Some(ip) => {
                address_records(&[*ip], qtype, name, ttl, reply);
                true
            }
            None => false,
        },
        Lookup::Addr { ip, .. } => {
            address_records(&[ip], qtype, name, ttl, reply);
            true
        }
    };
    if !found {
        reply.rcode(ResponseCode::NXDomain);
    }
    if reply.answers.is_empty() {
        reply.authorities.push(z.soa.clone());
    }
}

fn service_records<R: Rng + ?Sized>(
    a: &Answers,
    zone: usize,
    qtype: RecordType,
    name: &Name,
    ttl: u32,
    reply: &mut Reply,
    rng: &mut R,
) {
    if qtype == RecordType::SRV {
        let mut srv = a.srv.clone();
        srv.shuffle(rng);
        let mut added = Vec::new();
        for s in srv {
            let Some(target) = a.targets.get(s.target) else {
                continue;
            };
            let Some(tname) = target.names.get(zone) else {
                continue;
            };
            let rdata = RData::SRV(SRV::new(1, 1, s.port, tname.clone()));
            reply
                .answers
                .push((Record::from_rdata(name.clone(), ttl, rdata), Some(s.target)));
            if !added.contains(&s.target) {
                added.push(s.target);
                let rdata = ip_rdata(target.ip);
                reply
                    .additionals
                    .push((s.target, Record::from_rdata(tname.clone(), ttl, rdata)));
            }
        }
        return;
    }
    let mut ips: Vec<IpAddr> = Vec::new();
    if matches!(qtype, RecordType::A | RecordType::ANY) {
        ips.extend(a.v4.iter().map(|v| IpAddr::V4(*v)));
    }
    if matches!(qtype, RecordType::AAAA | RecordType::ANY) {
        ips.extend(a.v6.iter().map(|v| IpAddr::V6(*v)));
    }
    ips.shuffle(rng);
    address_records(&ips, qtype, name, ttl, reply);
}

/// A/AAAA records of `ips` that match `qtype` (ANY takes both).
fn address_records(ips: &[IpAddr], qtype: RecordType, name: &Name, ttl: u32, reply: &mut Reply) {
    for ip in ips {
        let wanted = match ip {
            IpAddr::V4(_) => matches!(qtype, RecordType::A | RecordType::ANY),
            IpAddr::V6(_) => matches!(qtype, RecordType::AAAA | RecordType::ANY),
        };
        if wanted {
            let record = Record::from_rdata(name.clone(), ttl, ip_rdata(*ip));
            reply.answers.push((record, None));
        }
    }
}

fn ip_rdata(ip: IpAddr) -> RData {
    match ip {
        IpAddr::V4(v4) => RData::A(A(v4)),
        IpAddr::V6(v6) => RData::AAAA(AAAA(v6)),
    }
}
