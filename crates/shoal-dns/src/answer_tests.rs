//! Unit tests of [`crate::answer`]: every name form, health filtering, negative answers,
//! shuffling, truncation and malformed input, with queries built by hickory-proto.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, Query, ResponseCode};
use hickory_proto::rr::{DNSClass, Name, RData, RecordType};
use rand::rngs::StdRng;
use rand::SeedableRng;
use shoal_catalog::{Health, InstanceRecord, InstanceState};
use shoal_spec::{Command, ServiceSpec};

use crate::{answer, answer_with_rng, build_table, DnsConfig, DnsTable, Transport};

pub(crate) const UDP: Transport = Transport::Udp { max_payload: 1232 };

pub(crate) fn rec(
    service: &str,
    n: u16,
    version: &str,
    address: &str,
    health: Health,
) -> InstanceRecord {
    InstanceRecord {
        pid: Some(100 + u32::from(n)),
        health,
        ..InstanceRecord::new(
            format!("{service}-{n}"),
            service,
            version,
            "box",
            address,
            20000 + n,
        )
    }
}

fn spec(name: &str, version: &str) -> (String, ServiceSpec) {
    let mut s = ServiceSpec::new(name, Command::Argv(vec!["true".into()]));
    s.version = version.into();
    (name.into(), s)
}

/// web: v1 current (two on 127.0.0.1, one on 10.0.0.2, one critical), v2 one passing;
/// api: one starting only; v6svc: one IPv6; old: current v2 has none, v1 runs.
fn table_with(cfg: DnsConfig) -> DnsTable {
    let mut stopping = rec("web", 9, "1", "10.9.9.9", Health::Passing);
    stopping.state = InstanceState::Stopping;
    let records = vec![
        rec("web", 1, "1", "127.0.0.1", Health::Passing),
        rec("web", 2, "1", "127.0.0.1", Health::Warning),
        rec("web", 3, "1", "10.0.0.2", Health::Passing),
        rec("web", 4, "1", "10.0.0.4", Health::Critical),
        rec("web", 5, "2", "127.0.0.1", Health::Passing),
        stopping,
        rec("api", 1, "1", "127.0.0.1", Health::Starting),
        rec("v6svc", 1, "1", "::1", Health::Passing),
        rec("old", 1, "1", "127.0.0.1", Health::Passing),
    ];
    let specs: BTreeMap<String, ServiceSpec> = [
        spec("web", "1"),
        spec("api", "1"),
        spec("v6svc", "1"),
        spec("old", "2"),
    ]
    .into_iter()
    .collect();
    build_table(&cfg, &specs, &records, 42)
}

fn table() -> DnsTable {
    table_with(DnsConfig::default())
}

pub(crate) fn query(name: &str, rtype: RecordType) -> Vec<u8> {
    let mut m = Message::query();
    m.metadata.id = 0x1234;
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    m.to_vec().unwrap()
}

pub(crate) fn query_edns(name: &str, rtype: RecordType, size: u16) -> Vec<u8> {
    let mut m = Message::query();
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    let mut e = Edns::new();
    e.set_max_payload(size);
    m.set_edns(e);
    m.to_vec().unwrap()
}

pub(crate) fn ask(t: &DnsTable, name: &str, rtype: RecordType) -> Message {
    let bytes = answer(t, &query(name, rtype), UDP).expect("an answer");
    Message::from_vec(&bytes).unwrap()
}

pub(crate) fn ips(m: &Message) -> BTreeSet<String> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0.to_string()),
            RData::AAAA(a) => Some(a.0.to_string()),
            _ => None,
        })
        .collect()
}

pub(crate) fn srvs(m: &Message) -> Vec<(u16, u16, u16, String)> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::SRV(s) => Some((s.priority, s.weight, s.port, s.target.to_ascii())),
            _ => None,
        })
        .collect()
}

pub(crate) fn has_soa(m: &Message, zone: &str) -> bool {
    m.authorities
        .iter()
        .any(|r| r.record_type() == RecordType::SOA && r.name.to_ascii() == zone)
}

#[test]
fn a_answers_distinct_healthy_addresses_of_the_current_version() {
    let t = table();
    for name in [
        "web.service.shoal.",
        "web.service.consul.",
        "web.service.dc1.consul.",
    ] {
        let m = ask(&t, name, RecordType::A);
        assert_eq!(m.response_code, ResponseCode::NoError, "{name}");
        assert!(m.authoritative && !m.truncation && m.recursion_desired);
        assert_eq!(m.message_type, MessageType::Response);
        assert_eq!(m.id, 0x1234);
        // Critical 10.0.0.4 and stopping 10.9.9.9 are never answered; 127.0.0.1 once.
        assert_eq!(ips(&m), ["10.0.0.2", "127.0.0.1"].map(String::from).into());
        assert_eq!(m.answers.len(), 2);
        assert!(m
            .answers
            .iter()
            .all(|r| r.ttl == 0 && r.name.to_ascii() == name));
    }
}

#[test]
fn answers_keep_the_case_of_the_question() {
    let m = ask(&table(), "WeB.SeRvIcE.CoNsUl.", RecordType::A);
    assert_eq!(m.answers.len(), 2);
    assert!(m
        .answers
        .iter()
        .all(|r| r.name.to_ascii() == "WeB.SeRvIcE.CoNsUl."));
    assert_eq!(m.queries[0].name().to_ascii(), "WeB.SeRvIcE.CoNsUl.");
}

#[test]
fn srv_in_both_forms_with_node_and_addr_targets_and_additionals() {
    let t = table();
    for name in ["_web._tcp.service.consul.", "web.service.consul."] {
        let m = ask(&t, name, RecordType::SRV);
        assert_eq!(m.response_code, ResponseCode::NoError);
        let got: BTreeSet<_> = srvs(&m).into_iter().collect();
        let want: BTreeSet<_> = [
            (1, 1, 20001, "box.node.dc1.consul.".to_string()),
            (1, 1, 20002, "box.node.dc1.consul.".to_string()),
            (1, 1, 20003, "0a000002.addr.dc1.consul.".to_string()),
        ]
        .into();
        assert_eq!(got, want, "{name}");
        let extra: BTreeSet<(String, String)> = m
            .additionals
            .iter()
            .filter_map(|r| match &r.data {
                RData::A(a) => Some((r.name.to_ascii(), a.0.to_string())),
                _ => None,
            })
            .collect();
        let want: BTreeSet<_> = [
            ("box.node.dc1.consul.".into(), "127.0.0.1".into()),
            ("0a000002.addr.dc1.consul.".into(), "10.0.0.2".into()),
        ]
        .into();
        assert_eq!(extra, want);
    }
    // The response domain follows the question's.
    let m = ask(&t, "web.service.shoal.", RecordType::SRV);
    assert!(srvs(&m).iter().any(|s| s.3 == "box.node.dc1.shoal."));
}

#[test]
fn versions_narrow_in_tag_and_rfc2782_forms() {
    let t = table();
    for name in ["2.web.service.shoal.", "_web._2.service.shoal."] {
        let m = ask(&t, name, RecordType::SRV);
        assert_eq!(
            srvs(&m),
            vec![(1, 1, 20005, "box.node.dc1.shoal.".to_string())],
            "{name}"
        );
    }
    let m = ask(&t, "1.web.service.shoal.", RecordType::SRV);
    assert_eq!(srvs(&m).len(), 3);
    // A version nobody runs is unknown, like a Consul tag nobody has.
    let m = ask(&t, "7.web.service.shoal.", RecordType::A);
    assert_eq!(m.response_code, ResponseCode::NXDomain);
    assert!(has_soa(&m, "shoal."));
}

#[test]
fn unversioned_falls_back_to_running_versions_when_the_current_has_none() {
    let m = ask(&table(), "old.service.shoal.", RecordType::A);
    assert_eq!(ips(&m), ["127.0.0.1".to_string()].into());
}

#[test]
fn ipv6_instances_answer_aaaa_and_a_is_nodata() {
    let t = table();
    let m = ask(&t, "v6svc.service.shoal.", RecordType::AAAA);
    assert_eq!(ips(&m), ["::1".to_string()].into());
    let m = ask(&t, "v6svc.service.shoal.", RecordType::A);
    assert_eq!(m.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    assert!(has_soa(&m, "shoal."));
    let m = ask(&t, "v6svc.service.shoal.", RecordType::SRV);
    assert_eq!(
        srvs(&m)[0].3,
        "00000000000000000000000000000001.addr.dc1.shoal."
    );
    assert!(m
        .additionals
        .iter()
        .any(|r| matches!(r.data, RData::AAAA(_))));
}

#[test]
fn any_answers_both_families_and_other_types_are_nodata() {
    let t = table();
    let m = ask(&t, "web.service.shoal.", RecordType::ANY);
    assert_eq!(m.answers.len(), 2);
    let m = ask(&t, "web.service.shoal.", RecordType::MX);
    assert_eq!(m.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty() && has_soa(&m, "shoal."));
}

#[test]
fn unhealthy_only_and_unknown_services_are_nxdomain_with_soa() {
    let t = table();
    for name in [
        "api.service.consul.",
        "nope.service.consul.",
        "web.service.dc2.consul.",
        "web.nothing.consul.",
        "service.consul.",
    ] {
        let m = ask(&t, name, RecordType::A);
        assert_eq!(m.response_code, ResponseCode::NXDomain, "{name}");
        assert!(m.authoritative && m.answers.is_empty());
        assert!(has_soa(&m, "consul."), "{name}: {:?}", m.authorities);
        let soa = match &m.authorities[0].data {
            RData::SOA(s) => s.clone(),
            other => panic!("not a SOA: {other:?}"),
        };
        assert_eq!(soa.mname.to_ascii(), "ns.consul.");
        assert_eq!(soa.serial, 42);
    }
}

#[test]
fn names_outside_our_domains_are_refused() {
    let m = ask(&table(), "example.com.", RecordType::A);
    assert_eq!(m.response_code, ResponseCode::Refused);
    assert!(!m.authoritative && m.answers.is_empty() && m.authorities.is_empty());
}

#[test]
fn nodes_and_addr_names_resolve() {
    let t = table();
    let m = ask(&t, "box.node.consul.", RecordType::A);
    assert_eq!(ips(&m), ["127.0.0.1".to_string()].into());
    let m = ask(&t, "box.node.dc1.shoal.", RecordType::A);
    assert_eq!(ips(&m), ["127.0.0.1".to_string()].into());
    let m = ask(&t, "box.node.consul.", RecordType::AAAA);
    assert_eq!(m.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty());
    let m = ask(&t, "ghost.node.consul.", RecordType::A);
    assert_eq!(m.response_code, ResponseCode::NXDomain);
    let m = ask(&t, "0a000002.addr.dc1.consul.", RecordType::A);
    assert_eq!(ips(&m), ["10.0.0.2".to_string()].into());
}

#[test]
fn apex_answers_soa_and_ns() {
    let t = table();
    let m = ask(&t, "consul.", RecordType::SOA);
    assert_eq!(m.answers[0].record_type(), RecordType::SOA);
    let m = ask(&t, "shoal.", RecordType::NS);
    assert!(matches!(&m.answers[0].data, RData::NS(ns) if ns.0.to_ascii() == "ns.shoal."));
    let m = ask(&t, "shoal.", RecordType::A);
    assert_eq!(m.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty() && has_soa(&m, "shoal."));
}

#[test]
fn ttl_and_domain_are_configurable() {
    let t = table_with(DnsConfig {
        domains: vec!["internal.example".into()],
        ttl: 30,
        ..DnsConfig::default()
    });
    let m = ask(&t, "web.service.internal.example.", RecordType::A);
    assert!(!m.answers.is_empty() && m.answers.iter().all(|r| r.ttl == 30));
    let m = ask(&t, "web.service.consul.", RecordType::A);
    assert_eq!(m.response_code, ResponseCode::Refused);
}

/// `n` passing instances of `big` on distinct ports.
pub(crate) fn big_table(n: u16) -> DnsTable {
    let records: Vec<InstanceRecord> = (1..=n)
        .map(|i| {
            rec(
                "big",
                i,
                "1",
                &format!("10.0.{}.{}", i / 200, i % 200 + 1),
                Health::Passing,
            )
        })
        .collect();
    build_table(&DnsConfig::default(), &BTreeMap::new(), &records, 1)
}

#[test]
fn answers_are_shuffled_per_query() {
    let t = big_table(10);
    let mut rng = StdRng::seed_from_u64(7);
    let mut orders = BTreeSet::new();
    for _ in 0..20 {
        let q = query("big.service.shoal.", RecordType::A);
        let bytes = answer_with_rng(&t, &q, Transport::Tcp, &mut rng).unwrap();
        let m = Message::from_vec(&bytes).unwrap();
        assert_eq!(m.answers.len(), 10);
        let order: Vec<String> = m.answers.iter().map(|r| r.data.to_string()).collect();
        orders.insert(order);
    }
    assert!(orders.len() > 10, "only {} distinct orders", orders.len());
}

#[test]
fn udp_truncates_to_what_fits_and_tcp_answers_in_full() {
    let t = big_table(60);
    // No EDNS: 512 bytes, TC set, a consistent prefix of answers with their additionals.
    let bytes = answer(&t, &query("big.service.shoal.", RecordType::SRV), UDP).unwrap();
    assert!(bytes.len() <= 512, "{}", bytes.len());
    let m = Message::from_vec(&bytes).unwrap();
    assert!(m.truncation);
    assert!(!m.answers.is_empty() && m.answers.len() < 60);
    let targets: BTreeSet<String> = srvs(&m).into_iter().map(|s| s.3).collect();
    let extras: BTreeSet<String> = m.additionals.iter().map(|r| r.name.to_ascii()).collect();
    assert_eq!(targets, extras);
    // A records truncate too.
    let bytes = answer(&t, &query("big.service.shoal.", RecordType::A), UDP).unwrap();
    let m = Message::from_vec(&bytes).unwrap();
    assert!(bytes.len() <= 512 && m.truncation && m.answers.len() < 60);
    // EDNS: the client's size, capped by the server's.
    let q = query_edns("big.service.shoal.", RecordType::SRV, 4096);
    let bytes = answer(&t, &q, UDP).unwrap();
    let m = Message::from_vec(&bytes).unwrap();
    assert!(bytes.len() <= 1232 && bytes.len() > 512 && m.truncation);
    assert_eq!(m.extensions_max_payload(), 1232);
    // EDNS below 512 counts as 512.
    let bytes = answer(
        &t,
        &query_edns("big.service.shoal.", RecordType::SRV, 100),
        UDP,
    )
    .unwrap();
    assert!(bytes.len() <= 512 && bytes.len() > 300);
    // TCP: everything.
    let bytes = answer(
        &t,
        &query("big.service.shoal.", RecordType::SRV),
        Transport::Tcp,
    )
    .unwrap();
    let m = Message::from_vec(&bytes).unwrap();
    assert!(!m.truncation);
    assert_eq!(m.answers.len(), 60);
    assert_eq!(m.additionals.len(), 60);
    // Small answers are untouched over UDP.
    let m = Message::from_vec(&answer(&t, &query("box.node.shoal.", RecordType::A), UDP).unwrap())
        .unwrap();
    assert!(!m.truncation);
}

trait MaxPayload {
    fn extensions_max_payload(&self) -> u16;
}

impl MaxPayload for Message {
    fn extensions_max_payload(&self) -> u16 {
        self.edns.as_ref().map_or(0, Edns::max_payload)
    }
}

#[test]
fn malformed_and_unsupported_queries() {
    let t = table();
    // Nothing to answer: no header, or a response packet.
    assert_eq!(answer(&t, &[], UDP), None);
    assert_eq!(answer(&t, &[1, 2, 3], UDP), None);
    let mut resp = query("web.service.shoal.", RecordType::A);
    resp[2] |= 0x80;
    assert_eq!(answer(&t, &resp, UDP), None);
    // A header followed by garbage: FORMERR with the query's id.
    let mut junk = vec![0xab, 0xcd, 0x01, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0, 0];
    junk.extend_from_slice(&[0xff; 20]);
    let m = Message::from_vec(&answer(&t, &junk, UDP).unwrap()).unwrap();
    assert_eq!((m.id, m.response_code), (0xabcd, ResponseCode::FormErr));
    assert!(m.recursion_desired);
    // Two questions.
    let mut two = Message::query();
    two.add_query(Query::query(
        Name::from_ascii("a.service.shoal.").unwrap(),
        RecordType::A,
    ));
    two.add_query(Query::query(
        Name::from_ascii("b.service.shoal.").unwrap(),
        RecordType::A,
    ));
    let m = Message::from_vec(&answer(&t, &two.to_vec().unwrap(), UDP).unwrap()).unwrap();
    assert_eq!(m.response_code, ResponseCode::FormErr);
    // No question at all.
    let none = Message::query().to_vec().unwrap();
    let m = Message::from_vec(&answer(&t, &none, UDP).unwrap()).unwrap();
    assert_eq!(m.response_code, ResponseCode::FormErr);
    // Another opcode.
    let mut status = Message::new(9, MessageType::Query, OpCode::Status);
    status.add_query(Query::query(
        Name::from_ascii("x.shoal.").unwrap(),
        RecordType::A,
    ));
    let m = Message::from_vec(&answer(&t, &status.to_vec().unwrap(), UDP).unwrap()).unwrap();
    assert_eq!(m.response_code, ResponseCode::NotImp);
    // EDNS version 1.
    let mut v1 = Message::query();
    v1.add_query(Query::query(
        Name::from_ascii("web.service.shoal.").unwrap(),
        RecordType::A,
    ));
    let mut e = Edns::new();
    e.set_version(1);
    v1.set_edns(e);
    let m = Message::from_vec(&answer(&t, &v1.to_vec().unwrap(), UDP).unwrap()).unwrap();
    // BADVERS (16, shared with BADSIG in the registry).
    assert_eq!(u16::from(m.response_code), 16);
    // Class CHAOS (version.bind and friends).
    let mut ch = Query::query(Name::from_ascii("version.bind.").unwrap(), RecordType::TXT);
    ch.set_query_class(DNSClass::CH);
    let mut m = Message::query();
    m.add_query(ch);
    let m = Message::from_vec(&answer(&t, &m.to_vec().unwrap(), UDP).unwrap()).unwrap();
    assert_eq!(m.response_code, ResponseCode::Refused);
}

#[test]
fn empty_table_answers_nxdomain() {
    let t = DnsTable::default();
    let m = ask(&t, "web.service.consul.", RecordType::A);
    assert_eq!(m.response_code, ResponseCode::NXDomain);
}

#[test]
fn huge_tcp_answers_stay_valid_past_the_compression_pointer_range() {
    // 2000 distinct targets: names written after 16 KiB cannot be pointed at and are
    // written in full; the answer stops at 65535 bytes with TC set.
    let t = big_table(2000);
    let bytes = answer(
        &t,
        &query("big.service.shoal.", RecordType::SRV),
        Transport::Tcp,
    )
    .unwrap();
    assert!(
        bytes.len() <= 65535 && bytes.len() > 16384,
        "{}",
        bytes.len()
    );
    let m = Message::from_vec(&bytes).unwrap();
    assert!(m.truncation);
    let targets: BTreeSet<String> = srvs(&m).into_iter().map(|s| s.3).collect();
    let extras: BTreeSet<String> = m.additionals.iter().map(|r| r.name.to_ascii()).collect();
    assert_eq!(targets.len(), m.answers.len());
    assert_eq!(targets, extras);
    assert!(targets.iter().all(|t| t.ends_with(".dc1.shoal.")));
}
