//! Transaction conformance: compare-and-swap, which branch runs, what each op answers, and
//! which transactions use a revision.

use std::sync::Arc;
use std::time::Duration;

use shoal_store::{CmpOp, Compare, Op, OpResponse, Store, StoreError, Txn};

use crate::TestResult;

/// Create-if-missing as a CAS; a txn that writes nothing uses no revision; several writes
/// of one txn share one revision.
pub async fn txn_cas_and_revision_rules(s: Arc<dyn Store>) -> TestResult {
    let create = || {
        Txn::new()
            .when([Compare::missing("lock")])
            .and_then([Op::put("lock", "me")])
            .or_else([Op::get("lock")])
    };
    let r = s.txn(create()).await?;
    assert!(r.succeeded);
    assert_eq!(r.revision, 2);
    let r = s.txn(create()).await?;
    assert!(!r.succeeded);
    assert_eq!(r.revision, 2, "a txn that writes nothing uses no revision");
    let OpResponse::Get(Some(kv)) = &r.responses[0] else {
        return Err(format!("expected a get, got {:?}", r.responses).into());
    };
    assert_eq!(kv.value, b"me");
    let r = s
        .txn(
            Txn::new()
                .when([Compare::mod_revision("lock", CmpOp::Equal, 2)])
                .and_then([Op::put("x", "1"), Op::put("y", "2"), Op::delete("lock")]),
        )
        .await?;
    assert!(r.succeeded);
    assert_eq!(r.revision, 3);
    assert_eq!(s.get("x").await?.map(|kv| kv.mod_revision), Some(3));
    assert_eq!(s.get("y").await?.map(|kv| kv.create_revision), Some(3));
    assert_eq!(s.get("lock").await?, None);
    let r = s
        .txn(
            Txn::new()
                .when([Compare::value("x", CmpOp::Equal, "1")])
                .and_then([Op::range("")]),
        )
        .await?;
    assert!(r.succeeded);
    assert_eq!(r.revision, 3);
    assert!(matches!(&r.responses[0], OpResponse::Range(kvs) if kvs.len() == 2));
    // A txn whose deletes find nothing writes nothing either.
    let r = s.txn(Txn::new().and_then([Op::delete("nope")])).await?;
    assert_eq!(r.revision, 3);
    assert_eq!(s.revision().await?, 3);
    Ok(())
}

/// Puts answer the previous key, deletes the deleted keys, gets and ranges the keys; a read
/// after a write of the same txn sees the write.
pub async fn txn_op_responses_carry_previous_values(s: Arc<dyn Store>) -> TestResult {
    s.put("a", b"1".to_vec(), 0).await?;
    s.put("d/1", b"x".to_vec(), 0).await?;
    s.put("d/2", b"y".to_vec(), 0).await?;
    let r = s
        .txn(Txn::new().and_then([
            Op::put("a", "2"),
            Op::put("b", "new"),
            Op::delete("missing"),
            Op::delete_prefix("d/"),
            Op::get("a"),
            Op::range(""),
        ]))
        .await?;
    assert!(r.succeeded);
    assert_eq!(r.revision, 5);
    assert_eq!(r.responses.len(), 6);
    let OpResponse::Put { prev: Some(prev) } = &r.responses[0] else {
        return Err(format!("expected a put with prev, got {:?}", r.responses[0]).into());
    };
    assert_eq!((prev.value.as_slice(), prev.mod_revision), (&b"1"[..], 2));
    assert_eq!(r.responses[1], OpResponse::Put { prev: None });
    assert_eq!(r.responses[2], OpResponse::Delete { deleted: vec![] });
    let OpResponse::Delete { deleted } = &r.responses[3] else {
        return Err(format!("expected a delete, got {:?}", r.responses[3]).into());
    };
    let gone: Vec<_> = deleted
        .iter()
        .map(|kv| (kv.key.as_str(), kv.value.as_slice()))
        .collect();
    assert_eq!(gone, [("d/1", &b"x"[..]), ("d/2", &b"y"[..])]);
    let OpResponse::Get(Some(a)) = &r.responses[4] else {
        return Err(format!("expected a get, got {:?}", r.responses[4]).into());
    };
    assert_eq!(
        (a.value.as_slice(), a.mod_revision, a.version),
        (&b"2"[..], 5, 2)
    );
    let OpResponse::Range(kvs) = &r.responses[5] else {
        return Err(format!("expected a range, got {:?}", r.responses[5]).into());
    };
    let keys: Vec<_> = kvs.iter().map(|kv| kv.key.as_str()).collect();
    assert_eq!(keys, ["a", "b"]);
    Ok(())
}

/// A missing key has version and revisions 0, and every value comparison on it is false;
/// values compare byte-wise.
pub async fn txn_compares_follow_etcd_rules_for_missing_keys(s: Arc<dyn Store>) -> TestResult {
    s.put("k", b"m".to_vec(), 0).await?;
    let holds = |c: Compare| {
        let s = Arc::clone(&s);
        async move { Ok::<_, StoreError>(s.txn(Txn::new().when([c])).await?.succeeded) }
    };
    assert!(!holds(Compare::value("nope", CmpOp::Equal, "")).await?);
    assert!(!holds(Compare::value("nope", CmpOp::NotEqual, "x")).await?);
    assert!(holds(Compare::version("nope", CmpOp::Equal, 0)).await?);
    assert!(holds(Compare::create_revision("nope", CmpOp::Equal, 0)).await?);
    assert!(holds(Compare::mod_revision("nope", CmpOp::Less, 1)).await?);
    assert!(holds(Compare::value("k", CmpOp::Greater, "a")).await?);
    assert!(holds(Compare::value("k", CmpOp::Less, "n")).await?);
    assert!(holds(Compare::value("k", CmpOp::NotEqual, "mm")).await?);
    assert!(holds(Compare::version("k", CmpOp::Greater, 0)).await?);
    assert!(!holds(Compare::create_revision("k", CmpOp::NotEqual, 2)).await?);
    // All compares must hold.
    let r = s
        .txn(
            Txn::new()
                .when([Compare::missing("nope"), Compare::missing("k")])
                .and_then([Op::put("ran", "success")])
                .or_else([Op::put("ran", "failure")]),
        )
        .await?;
    assert!(!r.succeeded);
    assert_eq!(
        s.get("ran").await?.map(|kv| kv.value),
        Some(b"failure".to_vec())
    );
    Ok(())
}

/// A txn that puts with a lease that does not exist fails as a whole: nothing is written.
pub async fn txn_put_with_unknown_lease_changes_nothing(s: Arc<dyn Store>) -> TestResult {
    let lease = s.lease_grant(Duration::from_secs(60)).await?;
    s.lease_revoke(lease).await?;
    let r = s
        .txn(Txn::new().and_then([Op::put("a", "1"), Op::put_with_lease("b", "2", lease)]))
        .await;
    assert!(
        matches!(r, Err(StoreError::LeaseNotFound(id)) if id == lease),
        "got {r:?}"
    );
    assert_eq!(s.get("a").await?, None);
    assert_eq!(s.revision().await?, 1);
    Ok(())
}
