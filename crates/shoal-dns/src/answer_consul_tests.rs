//! Unit tests of the answers that follow Consul closely: the client's EDNS0 size, SRV
//! weights, reverse lookups, services registered with a host name, `consul.service`.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;
use std::net::IpAddr;

use hickory_proto::op::{Message, ResponseCode};
use hickory_proto::rr::{RData, RecordType};
use shoal_catalog::{Health, PreparedQuery, Weights};

use crate::answer_tests::{ask, big_table, has_soa, ips, query, query_edns, rec, srvs, UDP};
use crate::{answer, build_table, AgentNode, DnsConfig, DnsTable, Transport, MAX_UDP_PAYLOAD};

const CONSUL_UDP: Transport = Transport::Udp {
    max_payload: MAX_UDP_PAYLOAD,
};

fn decode(bytes: &[u8]) -> Message {
    Message::from_vec(bytes).unwrap()
}

#[test]
fn the_clients_edns_size_is_honoured_and_without_edns_512_with_tc() {
    let t = big_table(30);
    let bytes = answer(
        &t,
        &query_edns("big.service.consul.", RecordType::SRV, 4096),
        CONSUL_UDP,
    )
    .unwrap();
    let m = decode(&bytes);
    assert_eq!(srvs(&m).len(), 30, "all 30 in {} bytes", bytes.len());
    assert!(!m.truncation && bytes.len() > 1232 && bytes.len() <= 4096);
    assert_eq!(m.additionals.len(), 30, "every target's A");

    let bytes = answer(
        &t,
        &query("big.service.consul.", RecordType::SRV),
        CONSUL_UDP,
    )
    .unwrap();
    let m = decode(&bytes);
    assert!(m.truncation && bytes.len() <= 512 && !srvs(&m).is_empty());

    // A small advertised size is honoured (never below 512); a huge one is capped.
    let bytes = answer(
        &t,
        &query_edns("big.service.consul.", RecordType::SRV, 1024),
        CONSUL_UDP,
    )
    .unwrap();
    assert!(bytes.len() <= 1024 && decode(&bytes).truncation);
    let big = big_table(5000);
    let bytes = answer(
        &big,
        &query_edns("big.service.consul.", RecordType::A, 65535),
        CONSUL_UDP,
    )
    .unwrap();
    assert!(bytes.len() <= usize::from(MAX_UDP_PAYLOAD) && decode(&bytes).truncation);
    // TCP stays whole.
    let bytes = answer(
        &t,
        &query("big.service.consul.", RecordType::SRV),
        Transport::Tcp,
    )
    .unwrap();
    assert_eq!(srvs(&decode(&bytes)).len(), 30);
}

#[test]
fn srv_weights_follow_the_registered_weights_and_health() {
    let mut heavy = rec("w", 1, "1", "127.0.0.1", Health::Passing);
    heavy.weights = Some(Weights::clamped(10, 2));
    let mut warn = rec("w", 2, "1", "127.0.0.1", Health::Warning);
    warn.weights = Some(Weights::clamped(10, 2));
    let plain = rec("w", 3, "1", "127.0.0.1", Health::Warning);
    let t = build_table(
        &DnsConfig::default(),
        &BTreeMap::new(),
        &[heavy, warn, plain],
        1,
    );
    let mut got: Vec<(u16, u16)> = srvs(&ask(&t, "w.service.consul.", RecordType::SRV))
        .into_iter()
        .map(|s| (s.2, s.1))
        .collect();
    got.sort_unstable();
    assert_eq!(got, vec![(20001, 10), (20002, 2), (20003, 1)]);
}

fn ptr(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::PTR(p) => Some(p.0.to_ascii()),
            _ => None,
        })
        .collect()
}

#[test]
fn reverse_lookups_name_the_node_else_a_service() {
    // box: two records at 127.0.0.1 (a node's address is the one most of its records use),
    // one db instance at 10.0.0.7; ext: two db instances at 10.0.0.8.
    let records = [
        rec("web", 1, "1", "127.0.0.1", Health::Passing),
        rec("web", 2, "1", "127.0.0.1", Health::Passing),
        rec("db", 1, "1", "10.0.0.7", Health::Critical),
    ];
    let mut other = rec("db", 2, "1", "10.0.0.8", Health::Passing);
    other.node = "ext".into();
    let mut all = records.to_vec();
    all.push(other.clone());
    let mut other2 = other.clone();
    other2.id = "db-3".into();
    other2.address = "10.0.0.8".into();
    all.push(other2);
    let cfg = DnsConfig {
        domains: vec!["shoal".into(), "consul".into()],
        ..DnsConfig::default()
    };
    let t = build_table(&cfg, &BTreeMap::new(), &all, 5);
    let m = ask(&t, "1.0.0.127.in-addr.arpa.", RecordType::PTR);
    assert_eq!(m.response_code, ResponseCode::NoError);
    assert!(m.authoritative);
    assert_eq!(ptr(&m), ["box.node.dc1.shoal."]);
    let m = ask(&t, "8.0.0.10.in-addr.arpa.", RecordType::PTR);
    assert_eq!(ptr(&m), ["ext.node.dc1.shoal."]);
    // 10.0.0.7 is no node's: the db service's (from the catalog, critical or not).
    let m = ask(&t, "7.0.0.10.in-addr.arpa.", RecordType::PTR);
    assert_eq!(ptr(&m), ["db.service.dc1.shoal."]);
    // Unknown addresses and partial names: NXDOMAIN with the first domain's SOA.
    for name in ["9.9.9.9.in-addr.arpa.", "0.10.in-addr.arpa.", "arpa."] {
        let m = ask(&t, name, RecordType::PTR);
        assert_eq!(m.response_code, ResponseCode::NXDomain, "{name}");
        assert!(has_soa(&m, "shoal."), "{name}: {:?}", m.authorities);
    }
    // Another type on a known address: no data.
    let m = ask(&t, "1.0.0.127.in-addr.arpa.", RecordType::A);
    assert_eq!(m.response_code, ResponseCode::NoError);
    assert!(m.answers.is_empty() && has_soa(&m, "shoal."));
    // IPv6.
    let v6 = rec("v6", 1, "1", "::1", Health::Passing);
    let t = build_table(&cfg, &BTreeMap::new(), &[v6], 5);
    let name = format!("1.{}ip6.arpa.", "0.".repeat(31));
    assert_eq!(
        ptr(&ask(&t, &name, RecordType::PTR)),
        ["box.node.dc1.shoal."]
    );
}

fn cnames(m: &Message) -> Vec<String> {
    m.answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::CNAME(c) => Some(c.0.to_ascii()),
            _ => None,
        })
        .collect()
}

fn hosts_table() -> DnsTable {
    let records = [
        rec("ext", 1, "1", "DB.Example.com.", Health::Passing),
        rec("mixed", 1, "1", "db.example.com", Health::Passing),
        rec("mixed", 2, "1", "10.0.0.3", Health::Passing),
        rec("web", 1, "1", "127.0.0.1", Health::Passing),
        rec("alias", 1, "1", "web.service.consul", Health::Passing),
        rec("junk", 1, "1", "not a host", Health::Passing),
    ];
    build_table(&DnsConfig::default(), &BTreeMap::new(), &records, 1)
}

#[test]
fn services_registered_with_a_host_name_answer_a_cname() {
    let t = hosts_table();
    let m = ask(&t, "ext.service.consul.", RecordType::A);
    assert_eq!(m.response_code, ResponseCode::NoError);
    assert_eq!(cnames(&m), ["db.example.com."]);
    assert_eq!(m.answers.len(), 1, "{:?}", m.answers);
    let m = ask(&t, "ext.service.consul.", RecordType::SRV);
    assert_eq!(srvs(&m), vec![(1, 1, 20001, "db.example.com.".to_string())]);
    assert!(m.additionals.is_empty(), "{:?}", m.additionals);
    // With addresses too, the addresses answer (as Consul keeps the CNAME for last).
    let m = ask(&t, "mixed.service.consul.", RecordType::A);
    assert!(cnames(&m).is_empty());
    assert_eq!(ips(&m), ["10.0.0.3".to_string()].into());
    // ... unless none is of the asked family.
    let m = ask(&t, "mixed.service.consul.", RecordType::AAAA);
    assert_eq!(cnames(&m), ["db.example.com."]);
    assert_eq!(
        srvs(&ask(&t, "mixed.service.consul.", RecordType::SRV)).len(),
        2
    );
    // A target in our zones comes with its addresses.
    let m = ask(&t, "alias.service.consul.", RecordType::A);
    assert_eq!(cnames(&m), ["web.service.consul."]);
    assert_eq!(ips(&m), ["127.0.0.1".to_string()].into());
    assert!(m
        .answers
        .iter()
        .any(|r| r.name.to_ascii() == "web.service.consul."));
    // Not a host name: not answered.
    let m = ask(&t, "junk.service.consul.", RecordType::A);
    assert_eq!(m.response_code, ResponseCode::NXDomain);
}

#[test]
fn consul_service_answers_this_node_at_the_server_port() {
    let address: IpAddr = "10.1.1.1".parse().unwrap();
    let cfg = DnsConfig {
        agent: Some(AgentNode {
            node: "Me".into(),
            address,
        }),
        ..DnsConfig::default()
    };
    let t = build_table(
        &cfg,
        &BTreeMap::new(),
        &[rec("web", 1, "1", "127.0.0.1", Health::Passing)],
        1,
    );
    let m = ask(&t, "consul.service.consul.", RecordType::A);
    assert_eq!(ips(&m), ["10.1.1.1".to_string()].into());
    let m = ask(&t, "consul.service.consul.", RecordType::SRV);
    assert_eq!(
        srvs(&m),
        vec![(1, 1, 8300, "me.node.dc1.consul.".to_string())]
    );
    assert!(m
        .additionals
        .iter()
        .any(|r| matches!(&r.data, RData::A(a) if a.0.to_string() == "10.1.1.1")));
    let m = ask(&t, "me.node.consul.", RecordType::A);
    assert_eq!(ips(&m), ["10.1.1.1".to_string()].into());
    let m = ask(&t, "1.1.1.10.in-addr.arpa.", RecordType::PTR);
    assert_eq!(ptr(&m), ["me.node.dc1.shoal."]);
    // Without an agent there is no consul service.
    let plain = build_table(&DnsConfig::default(), &BTreeMap::new(), &[], 1);
    let m = ask(&plain, "consul.service.consul.", RecordType::A);
    assert_eq!(m.response_code, ResponseCode::NXDomain);
    let _ = UDP;
}

fn prepared(id: &str, name: &str, service: &str, tags: &[&str]) -> PreparedQuery {
    PreparedQuery {
        id: id.into(),
        name: name.into(),
        session: String::new(),
        service: service.into(),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        only_passing: false,
        near: String::new(),
        failover_nearest_n: 0,
        failover_datacenters: Vec::new(),
        dns_ttl: String::new(),
        dns_ttl_secs: None,
        template: String::new(),
    }
}

#[test]
fn prepared_queries_answer_a_and_srv_with_their_ttl() {
    let mut primary = rec("redis", 1, "1", "10.0.0.1", Health::Passing);
    primary.tags = vec!["primary".into()];
    let mut canary = rec("redis", 2, "1", "10.0.0.2", Health::Passing);
    canary.tags = vec!["primary".into(), "canary".into()];
    let mut warn = rec("redis", 3, "1", "10.0.0.3", Health::Warning);
    warn.tags = vec!["primary".into()];
    let mut ttl = prepared("id-1", "db", "redis", &["primary", "!canary"]);
    ttl.dns_ttl = "10s".into();
    ttl.dns_ttl_secs = Some(10);
    let mut strict = prepared("id-2", "strict", "redis", &[]);
    strict.only_passing = true;
    let t = build_table(
        &DnsConfig::default(),
        &BTreeMap::new(),
        &[primary, canary, warn],
        1,
    )
    .with_queries([ttl, strict, prepared("id-3", "none", "ghost", &[])]);

    let m = ask(&t, "db.query.consul.", RecordType::A);
    assert_eq!(
        ips(&m),
        ["10.0.0.1".to_string(), "10.0.0.3".to_string()].into()
    );
    assert!(m.answers.iter().all(|r| r.ttl == 10));
    for name in ["id-1.query.consul.", "_db._tcp.query.dc1.consul."] {
        let m = ask(&t, name, RecordType::SRV);
        assert_eq!(srvs(&m).len(), 2, "{name}");
    }
    let m = ask(&t, "strict.query.consul.", RecordType::A);
    assert_eq!(
        ips(&m),
        ["10.0.0.1".to_string(), "10.0.0.2".to_string()].into()
    );
    assert!(m.answers.iter().all(|r| r.ttl == 0));
    for name in ["none.query.consul.", "nope.query.consul."] {
        let m = ask(&t, name, RecordType::A);
        assert_eq!(m.response_code, ResponseCode::NXDomain, "{name}");
        assert!(has_soa(&m, "consul."));
    }
}
