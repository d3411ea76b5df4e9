//! Model test: random op sequences against the embedded store and a trivial reference model
//! (a BTreeMap and a revision counter) must agree on every response, on the final state and
//! on the events a watch replays.

use std::collections::BTreeMap;

use proptest::prelude::*;
use shoal_store::{
    CmpOp, CmpTarget, Compare, EmbeddedStore, Event, EventKind, KeyValue, Op, OpResponse, Store,
    Txn, TxnResponse, WatchBatch, Watcher,
};

const KEYS: &[&str] = &["a", "a/b", "a/c", "b", "b/a", "c"];
const PREFIXES: &[&str] = &["", "a", "a/", "b", "c", "z"];
const VALUES: &[&str] = &["", "x", "y"];

#[derive(Debug, Clone)]
enum Action {
    Put(String, Vec<u8>),
    Delete(String),
    DeletePrefix(String),
    Txn(Txn),
}

/// The reference: obviously-correct etcd semantics, no shared code with the store.
#[derive(Default)]
struct Model {
    kvs: BTreeMap<String, KeyValue>,
    rev: i64,
    log: Vec<WatchBatch>,
}

impl Model {
    fn holds(&self, c: &Compare) -> bool {
        let kv = self.kvs.get(&c.key);
        let (have, want) = match (&c.target, kv) {
            (CmpTarget::Value(_), None) => return false,
            (CmpTarget::Value(w), Some(kv)) => return cmp(kv.value.cmp(w), c.op),
            (CmpTarget::Version(w), _) => (kv.map_or(0, |k| k.version), *w),
            (CmpTarget::CreateRevision(w), _) => (kv.map_or(0, |k| k.create_revision), *w),
            (CmpTarget::ModRevision(w), _) => (kv.map_or(0, |k| k.mod_revision), *w),
        };
        cmp(have.cmp(&want), c.op)
    }

    fn txn(&mut self, t: &Txn) -> TxnResponse {
        let succeeded = t.compare.iter().all(|c| self.holds(c));
        let rev = self.rev + 1;
        let mut events = Vec::new();
        let mut responses = Vec::new();
        for op in if succeeded { &t.success } else { &t.failure } {
            responses.push(match op {
                Op::Get { key } => OpResponse::Get(self.kvs.get(key).cloned()),
                Op::Range { prefix } => OpResponse::Range(self.under(prefix)),
                Op::Put { key, value, lease } => {
                    let prev = self.kvs.get(key).cloned();
                    let kv = KeyValue {
                        key: key.clone(),
                        value: value.clone(),
                        create_revision: prev.as_ref().map_or(rev, |p| p.create_revision),
                        mod_revision: rev,
                        version: prev.as_ref().map_or(1, |p| p.version + 1),
                        lease: *lease,
                    };
                    self.kvs.insert(key.clone(), kv.clone());
                    events.push(Event {
                        kind: EventKind::Put,
                        kv,
                        prev: prev.clone(),
                    });
                    OpResponse::Put { prev }
                }
                Op::Delete { key } => {
                    let deleted: Vec<_> = self.kvs.get(key).cloned().into_iter().collect();
                    self.delete(&deleted, rev, &mut events)
                }
                Op::DeletePrefix { prefix } => {
                    let deleted = self.under(prefix);
                    self.delete(&deleted, rev, &mut events)
                }
            });
        }
        if !events.is_empty() {
            self.rev = rev;
            self.log.push(WatchBatch {
                revision: rev,
                events,
            });
        }
        TxnResponse {
            succeeded,
            revision: self.rev,
            responses,
        }
    }

    fn under(&self, prefix: &str) -> Vec<KeyValue> {
        self.kvs
            .values()
            .filter(|kv| kv.key.starts_with(prefix))
            .cloned()
            .collect()
    }

    fn delete(&mut self, deleted: &[KeyValue], rev: i64, events: &mut Vec<Event>) -> OpResponse {
        for kv in deleted {
            self.kvs.remove(&kv.key);
            let tomb = KeyValue {
                key: kv.key.clone(),
                value: vec![],
                create_revision: 0,
                mod_revision: rev,
                version: 0,
                lease: 0,
            };
            events.push(Event {
                kind: EventKind::Delete,
                kv: tomb,
                prev: Some(kv.clone()),
            });
        }
        OpResponse::Delete {
            deleted: deleted.to_vec(),
        }
    }
}

fn cmp(ord: std::cmp::Ordering, op: CmpOp) -> bool {
    match op {
        CmpOp::Equal => ord.is_eq(),
        CmpOp::NotEqual => ord.is_ne(),
        CmpOp::Greater => ord.is_gt(),
        CmpOp::Less => ord.is_lt(),
    }
}

fn key() -> impl Strategy<Value = String> {
    prop::sample::select(KEYS).prop_map(String::from)
}
fn prefix() -> impl Strategy<Value = String> {
    prop::sample::select(PREFIXES).prop_map(String::from)
}
fn value() -> impl Strategy<Value = Vec<u8>> {
    prop::sample::select(VALUES).prop_map(|v| v.as_bytes().to_vec())
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        key().prop_map(|key| Op::Get { key }),
        prefix().prop_map(|prefix| Op::Range { prefix }),
        (key(), value()).prop_map(|(key, value)| Op::Put {
            key,
            value,
            lease: 0
        }),
        key().prop_map(|key| Op::Delete { key }),
        prefix().prop_map(|prefix| Op::DeletePrefix { prefix }),
    ]
}

fn compare() -> impl Strategy<Value = Compare> {
    let op = prop::sample::select(vec![
        CmpOp::Equal,
        CmpOp::NotEqual,
        CmpOp::Greater,
        CmpOp::Less,
    ]);
    let target = prop_oneof![
        value().prop_map(CmpTarget::Value),
        (0i64..4).prop_map(CmpTarget::Version),
        (0i64..12).prop_map(CmpTarget::CreateRevision),
        (0i64..12).prop_map(CmpTarget::ModRevision),
    ];
    (key(), op, target).prop_map(|(key, op, target)| Compare { key, op, target })
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        3 => (key(), value()).prop_map(|(k, v)| Action::Put(k, v)),
        1 => key().prop_map(Action::Delete),
        1 => prefix().prop_map(Action::DeletePrefix),
        2 => (prop::collection::vec(compare(), 0..3), prop::collection::vec(op(), 0..4), prop::collection::vec(op(), 0..4))
            .prop_map(|(compare, success, failure)| Action::Txn(Txn { compare, success, failure })),
    ]
}

fn fail(e: impl std::fmt::Display) -> TestCaseError {
    TestCaseError::fail(e.to_string())
}

/// A watcher under test and how many of its expected batches it has delivered so far.
struct Follower {
    w: Watcher,
    start: i64,
    seen: usize,
}

impl Follower {
    /// Reads exactly the batches the model says exist by now (so it never blocks forever).
    async fn catch_up(&mut self, m: &Model, prefix: &str) -> Result<(), TestCaseError> {
        let want = expected(m, prefix, self.start);
        while self.seen < want.len() {
            let b = self
                .w
                .next()
                .await
                .ok_or_else(|| fail("watch ended"))?
                .map_err(fail)?;
            prop_assert_eq!(
                &b,
                &want[self.seen],
                "watch {:?} from {}",
                prefix,
                self.start
            );
            self.seen += 1;
        }
        Ok(())
    }
}

/// The model's batches from `start` on, restricted to `prefix`.
fn expected(m: &Model, prefix: &str, start: i64) -> Vec<WatchBatch> {
    m.log
        .iter()
        .filter(|b| b.revision >= start)
        .map(|b| WatchBatch {
            revision: b.revision,
            events: b
                .events
                .iter()
                .filter(|e| e.kv.key.starts_with(prefix))
                .cloned()
                .collect(),
        })
        .filter(|b| !b.events.is_empty())
        .collect()
}

async fn check(
    actions: Vec<Action>,
    prefix: String,
    watch_at: usize,
    start_pick: usize,
    poll_every: usize,
) -> Result<(), TestCaseError> {
    let s = EmbeddedStore::open_in_memory().await.map_err(fail)?;
    let mut m = Model {
        rev: 1,
        ..Model::default()
    };
    // One watcher follows from the beginning; another starts part-way from a random past
    // revision, so it replays history and then overlaps with live batches. Both are read
    // every few actions, interleaving history, live delivery and new writes.
    let w = s.watch(&prefix, 0).await.map_err(fail)?;
    let mut followers = vec![Follower {
        w,
        start: 2,
        seen: 0,
    }];
    let watch_at = watch_at % (actions.len() + 1);
    for (i, a) in actions.iter().enumerate() {
        if i == watch_at {
            let start = 1 + (start_pick as i64) % (m.rev + 1);
            let w = s.watch(&prefix, start).await.map_err(fail)?;
            followers.push(Follower { w, start, seen: 0 });
        }
        match a {
            Action::Put(k, v) => {
                let got = s.put(k, v.clone(), 0).await.map_err(fail)?;
                let want = m
                    .txn(&Txn::new().and_then([Op::put(k.clone(), v.clone())]))
                    .revision;
                prop_assert_eq!(got, want, "put {}", k);
            }
            Action::Delete(k) => {
                let got = s.delete(k).await.map_err(fail)?;
                let before = m.rev;
                let resp = m.txn(&Txn::new().and_then([Op::delete(k.clone())]));
                let want = (resp.revision != before).then_some(resp.revision);
                prop_assert_eq!(got, want, "delete {}", k);
            }
            Action::DeletePrefix(p) => {
                let got = s.delete_prefix(p).await.map_err(fail)?;
                let resp = m.txn(&Txn::new().and_then([Op::delete_prefix(p.clone())]));
                let want = match &resp.responses[0] {
                    OpResponse::Delete { deleted } => deleted.len(),
                    _ => usize::MAX,
                };
                prop_assert_eq!(got, want, "delete_prefix {:?}", p);
            }
            Action::Txn(t) => {
                let got = s.txn(t.clone()).await.map_err(fail)?;
                prop_assert_eq!(got, m.txn(t), "txn {:?}", t);
            }
        }
        prop_assert_eq!(s.revision().await.map_err(fail)?, m.rev);
        if i % poll_every == 0 {
            for f in &mut followers {
                f.catch_up(&m, &prefix).await?;
            }
        }
    }
    let all = s.range("").await.map_err(fail)?;
    prop_assert_eq!(&all.kvs, &m.under(""));
    prop_assert_eq!(all.revision, m.rev);
    for k in KEYS {
        prop_assert_eq!(s.get(k).await.map_err(fail)?, m.kvs.get(*k).cloned());
    }

    if followers.len() == 1 {
        let start = 1 + (start_pick as i64) % (m.rev + 1);
        let w = s.watch(&prefix, start).await.map_err(fail)?;
        followers.push(Follower { w, start, seen: 0 });
    }
    // A sentinel write under the prefix: after the expected batches, it must come next.
    let end = s
        .put(&format!("{prefix}~end"), vec![], 0)
        .await
        .map_err(fail)?;
    for f in &mut followers {
        f.catch_up(&m, &prefix).await?;
        let b =
            f.w.next()
                .await
                .ok_or_else(|| fail("watch ended"))?
                .map_err(fail)?;
        prop_assert_eq!(
            b.revision,
            end,
            "watch {:?} from {}: extra batch",
            &prefix,
            f.start
        );
    }
    s.close().await;
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn store_matches_model(
        actions in prop::collection::vec(action(), 0..40),
        watch_prefix in prefix(),
        watch_at in 0usize..1000,
        start_pick in 0usize..1000,
        poll_every in 1usize..6,
    ) {
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(fail)?;
        rt.block_on(check(actions, watch_prefix, watch_at, start_pick, poll_every))?;
    }
}
