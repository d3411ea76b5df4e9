//! Translating between Shoal's data model and etcd's: keys under the namespace, key/values,
//! transactions and watch events.

use etcd_client as etcd;
use shoal_store::{
    CmpOp, CmpTarget, Compare, Event, EventKind, KeyValue, Op, OpResponse, WatchBatch,
};

/// The key namespace: every Shoal key is stored as `namespace + key`.
#[derive(Clone, Debug)]
pub(crate) struct Namespace(String);

impl Namespace {
    pub(crate) fn new(prefix: &str) -> Self {
        Self(prefix.to_owned())
    }

    /// The etcd key of a Shoal key (or prefix).
    pub(crate) fn key(&self, key: &str) -> Vec<u8> {
        let mut k = Vec::with_capacity(self.0.len() + key.len());
        k.extend_from_slice(self.0.as_bytes());
        k.extend_from_slice(key.as_bytes());
        k
    }

    /// The Shoal key of an etcd key (not UTF-8 bytes, written by someone else, are replaced).
    fn strip(&self, key: &[u8]) -> String {
        let key = key.strip_prefix(self.0.as_bytes()).unwrap_or(key);
        String::from_utf8_lossy(key).into_owned()
    }

    pub(crate) fn kv(&self, kv: &etcd::KeyValue) -> KeyValue {
        KeyValue {
            key: self.strip(kv.key()),
            value: kv.value().to_vec(),
            create_revision: kv.create_revision(),
            mod_revision: kv.mod_revision(),
            version: kv.version(),
            lease: kv.lease(),
        }
    }

    pub(crate) fn kvs(&self, kvs: &[etcd::KeyValue]) -> Vec<KeyValue> {
        kvs.iter().map(|kv| self.kv(kv)).collect()
    }

    pub(crate) fn txn(&self, t: &shoal_store::Txn) -> etcd::Txn {
        let compares: Vec<_> = t.compare.iter().map(|c| self.compare(c)).collect();
        let ops = |ops: &[Op]| ops.iter().map(|op| self.op(op)).collect::<Vec<_>>();
        etcd::Txn::new()
            .when(compares)
            .and_then(ops(&t.success))
            .or_else(ops(&t.failure))
    }

    fn compare(&self, c: &Compare) -> etcd::Compare {
        let op = match c.op {
            CmpOp::Equal => etcd::CompareOp::Equal,
            CmpOp::NotEqual => etcd::CompareOp::NotEqual,
            CmpOp::Greater => etcd::CompareOp::Greater,
            CmpOp::Less => etcd::CompareOp::Less,
        };
        let key = self.key(&c.key);
        match &c.target {
            CmpTarget::Value(v) => etcd::Compare::value(key, op, v.clone()),
            CmpTarget::Version(v) => etcd::Compare::version(key, op, *v),
            CmpTarget::CreateRevision(r) => etcd::Compare::create_revision(key, op, *r),
            CmpTarget::ModRevision(r) => etcd::Compare::mod_revision(key, op, *r),
        }
    }

    fn op(&self, op: &Op) -> etcd::TxnOp {
        match op {
            Op::Get { key } => etcd::TxnOp::get(self.key(key), None),
            Op::Range { prefix } => etcd::TxnOp::get(
                self.key(prefix),
                Some(etcd::GetOptions::new().with_prefix()),
            ),
            Op::Put { key, value, lease } => {
                let mut opts = etcd::PutOptions::new().with_prev_key();
                if *lease != 0 {
                    opts = opts.with_lease(*lease);
                }
                etcd::TxnOp::put(self.key(key), value.clone(), Some(opts))
            }
            Op::Delete { key } => etcd::TxnOp::delete(
                self.key(key),
                Some(etcd::DeleteOptions::new().with_prev_key()),
            ),
            Op::DeletePrefix { prefix } => etcd::TxnOp::delete(
                self.key(prefix),
                Some(etcd::DeleteOptions::new().with_prefix().with_prev_key()),
            ),
        }
    }

    /// The response of one op, shaped by the op that asked (a get and a range are both
    /// etcd range responses).
    pub(crate) fn op_response(&self, op: &Op, resp: &etcd::TxnOpResponse) -> OpResponse {
        match (op, resp) {
            (Op::Get { .. }, etcd::TxnOpResponse::Get(r)) => {
                OpResponse::Get(r.kvs().first().map(|kv| self.kv(kv)))
            }
            (_, etcd::TxnOpResponse::Get(r)) => OpResponse::Range(self.kvs(r.kvs())),
            (_, etcd::TxnOpResponse::Put(r)) => OpResponse::Put {
                prev: r.prev_key().map(|kv| self.kv(kv)),
            },
            (_, etcd::TxnOpResponse::Delete(r)) => OpResponse::Delete {
                deleted: self.kvs(r.prev_kvs()),
            },
            // Shoal never sends nested txns.
            (_, etcd::TxnOpResponse::Txn(_)) => OpResponse::Range(Vec::new()),
        }
    }

    /// Splits etcd's events (possibly of several revisions) into one batch per revision.
    pub(crate) fn batches(&self, events: &[etcd::Event]) -> Vec<WatchBatch> {
        let mut out: Vec<WatchBatch> = Vec::new();
        for e in events {
            let Some(kv) = e.kv() else { continue };
            let event = Event {
                kind: match e.event_type() {
                    etcd::EventType::Put => EventKind::Put,
                    etcd::EventType::Delete => EventKind::Delete,
                },
                kv: self.kv(kv),
                prev: e.prev_kv().map(|p| self.kv(p)),
            };
            match out.last_mut() {
                Some(b) if b.revision == kv.mod_revision() => b.events.push(event),
                _ => out.push(WatchBatch {
                    revision: kv.mod_revision(),
                    events: vec![event],
                }),
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_the_namespace_and_lose_it_on_the_way_back() {
        let ns = Namespace::new("prod/");
        assert_eq!(ns.key("svc/a"), b"prod/svc/a");
        assert_eq!(ns.strip(b"prod/svc/a"), "svc/a");
        assert_eq!(Namespace::new("").key("k"), b"k");
    }
}
