//! Transaction planning: each verb, ordering inside a transaction, all-or-nothing, parsing.

use super::*;
use crate::txn::parse_ops;

fn op(verb: Verb, key: &str) -> KvOp {
    KvOp {
        verb,
        key: key.into(),
        value: Vec::new(),
        flags: 0,
        index: 0,
        session: String::new(),
    }
}

fn set(key: &str, v: &str) -> KvOp {
    KvOp {
        value: v.as_bytes().to_vec(),
        ..op(Verb::Set, key)
    }
}

fn with(verb: Verb, key: &str, index: u64, session: &str) -> KvOp {
    KvOp {
        index,
        session: session.into(),
        ..op(verb, key)
    }
}

fn slot(v: &str, modify: i64, session: &str) -> Option<Slot> {
    Some(Slot {
        value: v.as_bytes().to_vec(),
        meta: KvMeta {
            session: session.into(),
            ..KvMeta::default()
        },
        create: 1,
        modify,
    })
}

fn view(keys: &[(&str, Option<Slot>)], sessions: &[&str]) -> View {
    View {
        keys: keys
            .iter()
            .map(|(k, s)| (k.to_string(), s.clone()))
            .collect(),
        sessions: sessions.iter().map(|s| s.to_string()).collect(),
    }
}

fn commit(o: Outcome) -> (Vec<KvEntry>, BTreeMap<String, Option<Slot>>) {
    match o {
        Outcome::Commit { results, writes } => (results, writes),
        Outcome::Abort(e) => panic!("aborted: {e:?}"),
    }
}

fn failed(o: Outcome) -> Vec<usize> {
    match o {
        Outcome::Abort(e) => e.into_iter().map(|e| e.op_index).collect(),
        Outcome::Commit { .. } => panic!("committed"),
    }
}

#[test]
fn a_get_after_a_set_sees_it_and_writes_have_no_value() {
    let v = view(&[("a", None), ("b", slot("old", 5, ""))], &[]);
    let ops = [set("a", "1"), set("b", "2"), op(Verb::Get, "a")];
    let (results, writes) = commit(plan(&ops, v));
    assert_eq!(results.len(), 3);
    assert_eq!(results[0].value, None);
    assert_eq!(results[0].modify_index, 0, "filled in by stamp");
    assert_eq!(results[1].create_index, 1);
    assert_eq!(results[2].raw, b"1");
    assert_eq!(writes.len(), 2);
    let mut r = results;
    stamp(&mut r, 9);
    assert_eq!((r[0].create_index, r[0].modify_index), (9, 9));
    assert_eq!((r[1].create_index, r[1].modify_index), (1, 9));
}

#[test]
fn any_failure_aborts_everything_and_reports_every_failure() {
    let v = view(&[("a", None), ("b", slot("x", 5, ""))], &[]);
    let ops = [
        set("a", "1"),
        with(Verb::Cas, "b", 4, ""),
        op(Verb::CheckNotExists, "b"),
        op(Verb::Get, "a"),
    ];
    assert_eq!(failed(plan(&ops, v)), vec![1, 2]);
}

#[test]
fn cas_and_delete_cas() {
    let v = view(&[("a", None), ("b", slot("x", 5, ""))], &[]);
    assert_eq!(failed(plan(&[with(Verb::Cas, "b", 0, "")], v.clone())), [0]);
    commit(plan(&[with(Verb::Cas, "a", 0, "")], v.clone()));
    commit(plan(&[with(Verb::Cas, "b", 5, "")], v.clone()));
    assert_eq!(
        failed(plan(&[with(Verb::DeleteCas, "b", 4, "")], v.clone())),
        [0]
    );
    let (_, w) = commit(plan(&[with(Verb::DeleteCas, "b", 5, "")], v.clone()));
    assert_eq!(w.get("b"), Some(&None));
    // A missing key is already deleted.
    let (_, w) = commit(plan(&[with(Verb::DeleteCas, "a", 3, "")], v));
    assert!(w.is_empty());
}

#[test]
fn locks_need_a_live_session() {
    let v = view(&[("l", None), ("h", slot("", 5, "s2"))], &["s1", "s2"]);
    let (r, _) = commit(plan(&[with(Verb::Lock, "l", 0, "s1")], v.clone()));
    assert_eq!((r[0].session.as_deref(), r[0].lock_index), (Some("s1"), 1));
    assert_eq!(
        failed(plan(&[with(Verb::Lock, "l", 0, "gone")], v.clone())),
        [0]
    );
    assert_eq!(
        failed(plan(&[with(Verb::Lock, "l", 0, "")], v.clone())),
        [0]
    );
    assert_eq!(
        failed(plan(&[with(Verb::Lock, "h", 0, "s1")], v.clone())),
        [0]
    );
    assert_eq!(
        failed(plan(&[with(Verb::Unlock, "h", 0, "s1")], v.clone())),
        [0]
    );
    let (r, _) = commit(plan(&[with(Verb::Unlock, "h", 0, "s2")], v.clone()));
    assert_eq!(r[0].session, None);
    // Lock then check-session in the same transaction.
    let ops = [
        with(Verb::Lock, "l", 0, "s1"),
        with(Verb::CheckSession, "l", 0, "s1"),
    ];
    assert_eq!(commit(plan(&ops, v.clone())).0.len(), 2);
    assert_eq!(
        failed(plan(&[with(Verb::CheckSession, "h", 0, "s1")], v)),
        [0]
    );
}

#[test]
fn checks_and_gets() {
    let v = view(&[("a", None), ("b", slot("x", 5, ""))], &[]);
    assert_eq!(failed(plan(&[op(Verb::Get, "a")], v.clone())), [0]);
    assert_eq!(
        failed(plan(&[with(Verb::CheckIndex, "b", 4, "")], v.clone())),
        [0]
    );
    assert_eq!(
        failed(plan(&[with(Verb::CheckIndex, "a", 0, "")], v.clone())),
        [0]
    );
    let (r, w) = commit(plan(&[with(Verb::CheckIndex, "b", 5, "")], v.clone()));
    assert_eq!((r[0].value.clone(), w.len()), (None, 0));
    let (r, _) = commit(plan(&[op(Verb::CheckNotExists, "a")], v));
    assert!(r.is_empty());
}

#[test]
fn trees_follow_the_order_of_operations() {
    let v = view(
        &[
            ("t/a", slot("1", 2, "")),
            ("t/b", slot("2", 3, "")),
            ("u", slot("3", 4, "")),
        ],
        &[],
    );
    let ops = [
        op(Verb::DeleteTree, "t/"),
        set("t/c", "4"),
        op(Verb::GetTree, "t/"),
    ];
    let (r, w) = commit(plan(&ops, v));
    assert_eq!(r.len(), 2, "set result + one tree entry");
    assert_eq!(r[1].key, "t/c");
    assert_eq!(w.get("t/a"), Some(&None));
    assert!(w.get("t/c").is_some_and(Option::is_some));
    assert!(!w.contains_key("u"));
}

#[test]
fn parsing() {
    let ok = br#"[{"KV": {"Verb": "set", "Key": "a", "Value": "aGk=", "Flags": 3}},
                 {"kv": {"verb": "get-tree", "key": ""}}]"#;
    let ops = parse_ops(ok).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((ops[0].value.as_slice(), ops[0].flags), (&b"hi"[..], 3));
    assert_eq!(ops[1].verb, Verb::GetTree);
    for bad in [
        &br#"{"KV": {}}"#[..],
        br#"[{"KV": {"Verb": "frob", "Key": "a"}}]"#,
        br#"[{"KV": {"Verb": "set"}}]"#,
        br#"[{"KV": {"Verb": "set", "Key": ""}}]"#,
        br#"[{"KV": {"Verb": "set", "Key": "a", "Value": "!!"}}]"#,
        br#"[{"Node": {"Verb": "get"}}]"#,
        b"not json",
    ] {
        assert!(parse_ops(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
    let op = r#"{"KV": {"Verb": "get", "Key": "a"}}"#;
    let body = |n: usize| format!("[{}]", vec![op; n].join(","));
    assert_eq!(
        parse_ops(body(MAX_OPS).as_bytes()).map(|o| o.len()).ok(),
        Some(64)
    );
    assert!(parse_ops(body(MAX_OPS + 1).as_bytes()).is_err());
}
