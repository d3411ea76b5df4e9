//! Fuzz target: `shoal_dns::answer` on arbitrary bytes, over UDP and TCP, against a table
//! with IPv4 and IPv6 instances and two versions. Any panic is a bug; every answer must parse
//! back (checked by re-answering it: a response is never answered) and fit the UDP limit.
#![no_main]

use std::collections::BTreeMap;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;
use shoal_catalog::{Health, InstanceRecord, InstanceState};
use shoal_dns::{answer, build_table, DnsConfig, DnsTable, Transport};

fn table() -> &'static DnsTable {
    static TABLE: OnceLock<DnsTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let records: Vec<InstanceRecord> = (1..=30u16)
            .map(|i| InstanceRecord {
                id: format!("web-{i}"),
                service: if i % 3 == 0 { "api" } else { "web" }.into(),
                version: if i % 2 == 0 { "2" } else { "1" }.into(),
                node: "box".into(),
                address: if i % 5 == 0 {
                    format!("fd00::{i}")
                } else {
                    format!("10.0.0.{i}")
                },
                port: 20000 + i,
                pid: None,
                state: InstanceState::Running,
                health: if i % 7 == 0 { Health::Critical } else { Health::Passing },
                health_output: String::new(),
                restarts: 0,
                consecutive_failures: 0,
                crash_loop: false,
                last_exit: None,
                started_ms: 0,
                external: i % 11 == 0,
            })
            .collect();
        build_table(&DnsConfig::default(), &BTreeMap::new(), &records, 7)
    })
}

fuzz_target!(|data: &[u8]| {
    let t = table();
    for transport in [Transport::Udp { max_payload: 1232 }, Transport::Tcp] {
        if let Some(resp) = answer(t, data, transport) {
            assert!(resp.len() >= 12, "an answer has a header");
            if let Transport::Udp { max_payload } = transport {
                assert!(resp.len() <= usize::from(max_payload));
            }
            // QR is set: answering our own answer must yield nothing (no reflection loops).
            assert!(answer(t, &resp, transport).is_none());
        }
    }
});
