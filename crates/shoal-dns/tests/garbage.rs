//! Property tests: `answer` never panics on arbitrary bytes or on mutated real queries, every
//! answer it gives parses, and a UDP answer never exceeds the size the client allows.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeMap;

use hickory_proto::op::{Message, Query};
use hickory_proto::rr::{Name, RecordType};
use proptest::prelude::*;
use shoal_catalog::InstanceRecord;
use shoal_dns::{answer, build_table, DnsConfig, DnsTable, Transport};

fn table() -> DnsTable {
    let records: Vec<InstanceRecord> = (1..=50u16)
        .map(|i| {
            InstanceRecord::new(
                format!("web-{i}"),
                "web",
                if i % 2 == 0 { "2" } else { "1" },
                "box",
                format!("10.0.0.{i}"),
                20000 + i,
            )
        })
        .collect();
    build_table(&DnsConfig::default(), &BTreeMap::new(), &records, 1)
}

fn valid_query(name: &str, rtype: RecordType) -> Vec<u8> {
    let mut m = Message::query();
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    m.to_vec().unwrap()
}

fn check(t: &DnsTable, bytes: &[u8]) {
    for transport in [Transport::Udp { max_payload: 1232 }, Transport::Tcp] {
        if let Some(resp) = answer(t, bytes, transport) {
            Message::from_vec(&resp).expect("our answers parse");
            if let Transport::Udp { max_payload } = transport {
                assert!(resp.len() <= usize::from(max_payload));
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        check(&table(), &bytes);
    }

    #[test]
    fn mutated_queries_never_panic(
        which in 0usize..4,
        flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let names = ["web.service.shoal.", "_web._2.service.consul.", "box.node.dc1.shoal.", "7f000001.addr.consul."];
        let types = [RecordType::SRV, RecordType::A, RecordType::ANY, RecordType::AAAA];
        let mut q = valid_query(names[which], types[which]);
        for (pos, val) in flips {
            let i = pos % q.len();
            q[i] ^= val;
        }
        q.truncate(q.len() - cut % 4);
        check(&table(), &q);
    }
}
