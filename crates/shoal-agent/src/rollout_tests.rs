//! Deployment writes against a real (in-memory) store: guarded by the record's
//! revision, and by a cluster leader's fencing compare.

use std::collections::BTreeMap;

use shoal_deploy::{Deployment, Status};
use shoal_store::EmbeddedStore;

use super::*;

fn deployment(id: u64) -> Deployment {
    let src = "[services.web]\ncommand = [\"sh\"]\ninstances = 1\n";
    let spec = shoal_spec::parse_str_with(
        src,
        "t.toml",
        std::path::Path::new("/"),
        &shoal_spec::AssumeExists,
    )
    .unwrap_or_else(|e| panic!("{e:?}"))
    .services["web"]
        .clone();
    Deployment {
        id,
        service: "web".into(),
        strategy: spec.deploy.strategy,
        from: None,
        to: spec,
        status: Status::Running,
        reason: "started".into(),
        step: 0,
        step_started_ms: None,
        marks: BTreeMap::new(),
        weights: BTreeMap::new(),
        counts: BTreeMap::new(),
        started_ms: 1,
        updated_ms: 1,
        deadline_ms: 600_000,
        ended_ms: None,
        keep_until_ms: None,
        revert_of: None,
        order: None,
        steps: vec![shoal_deploy::Step {
            at_ms: 1,
            message: "started".into(),
            numbers: serde_json::Value::Null,
        }],
    }
}

fn first_write(id: u64) -> DeployWrite {
    DeployWrite {
        service: "web".into(),
        before: None,
        after: deployment(id),
        ended: None,
        revert_to: None,
    }
}

#[tokio::test]
async fn a_fenced_write_happens_only_while_the_guard_holds() {
    let store = EmbeddedStore::open_in_memory()
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let events = EventLog::new(16);
    // A leadership key as a leader holds it; the guard is its create revision.
    let created = store
        .put("shoal/leader/controller", b"a".to_vec(), 0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let held = Compare::create_revision("shoal/leader/controller", CmpOp::Equal, created);
    let lost = Compare::create_revision("shoal/leader/controller", CmpOp::Equal, created + 1);

    // A stale leader (its key's revision is not the one in the store) writes nothing.
    assert_eq!(
        write(store.as_ref(), &events, first_write(1), Some(&lost)).await,
        None
    );
    let key = deploy_key("web");
    assert!(store
        .get(&key)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .is_none());
    let announced = || events.query(&shoal_events::EventQuery::default()).len();
    assert_eq!(announced(), 0, "nothing announced");

    // The leader that holds it writes; so does the local controller (no guard).
    assert_eq!(
        write(store.as_ref(), &events, first_write(1), Some(&held)).await,
        Some(1)
    );
    assert!(store
        .get(&key)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .is_some());
    assert!(announced() > 0, "the write is announced");
}

#[test]
fn stale_nodes_are_named_in_the_steps_made_now() {
    let mut d = deployment(2);
    d.note(7, "step 1 passed", serde_json::json!({ "requests": 20 }));
    d.note(7, "step 2 of 2: 100% of traffic", serde_json::Value::Null);
    name_stale(&mut d, 7, &["c".to_owned()]);
    assert_eq!(
        d.steps[0].message, "started",
        "an older step is left as it was"
    );
    for step in &d.steps[1..] {
        assert!(
            step.message.contains("node c are stale"),
            "{}",
            step.message
        );
        assert_eq!(step.numbers["stale_nodes"][0], "c");
    }
    assert_eq!(d.steps[1].numbers["requests"], 20);
    assert_eq!(d.reason, d.steps[2].message);
    // No stale node: nothing changes.
    let before = d.clone();
    name_stale(&mut d, 7, &[]);
    assert_eq!(d, before);
}
