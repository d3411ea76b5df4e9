//! Submissions, rollbacks, orders and history against a real embedded store.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use shoal_catalog::{decode, deploy_key, history_prefix, scale_key, spec_key, ScaleOverride};
use shoal_deploy::submit::{self, history, order, rollback, submit};
use shoal_deploy::{
    ChangeKind, ClearScale, Deployment, Order, Status, SubmitError, SubmitOptions, HISTORY_LEN,
};
use shoal_spec::{AssumeExists, ServiceSpec, Strategy};
use shoal_store::{EmbeddedOptions, EmbeddedStore, Store};

struct Fixture {
    store: Arc<EmbeddedStore>,
    _dir: tempfile::TempDir,
}

async fn store() -> Fixture {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("tempdir: {e}"));
    let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default())
        .await
        .unwrap_or_else(|e| panic!("store: {e}"));
    Fixture { store, _dir: dir }
}

/// The services of a file; each `(name, version, extra lines)`.
fn file(services: &[(&str, &str, &str)]) -> BTreeMap<String, ServiceSpec> {
    let src: String = services
        .iter()
        .map(|(name, version, extra)| {
            format!(
                "[services.{name}]\ncommand = \"run {name}\"\nversion = \"{version}\"\n{extra}\n"
            )
        })
        .collect();
    match shoal_spec::parse_str_with(&src, "t.toml", Path::new("/t"), &AssumeExists) {
        Ok(spec) => spec.services,
        Err(e) => panic!("{e}\n{src}"),
    }
}

fn deploy_opts() -> SubmitOptions {
    SubmitOptions {
        only: None,
        dry_run: false,
        remove_missing: false,
        clear_scale: ClearScale::Changed,
    }
}

fn up_opts() -> SubmitOptions {
    SubmitOptions {
        remove_missing: true,
        clear_scale: ClearScale::All,
        ..deploy_opts()
    }
}

fn ok<T>(r: Result<T, SubmitError>) -> T {
    r.unwrap_or_else(|e| panic!("{e}"))
}

async fn spec_in(store: &dyn Store, name: &str) -> Option<ServiceSpec> {
    let kv = store.get(&spec_key(name)).await.ok().flatten()?;
    decode(&kv.key, &kv.value).ok()
}

async fn deployment_in(store: &dyn Store, name: &str) -> Option<Deployment> {
    let kv = store.get(&deploy_key(name)).await.ok().flatten()?;
    decode(&kv.key, &kv.value).ok()
}

fn kinds(changes: &[submit::Change]) -> Vec<(&str, ChangeKind)> {
    changes
        .iter()
        .map(|c| (c.service.as_str(), c.kind))
        .collect()
}

#[tokio::test]
async fn a_first_file_deploys_every_service_and_the_same_file_changes_nothing() {
    let f = store().await;
    let s = f.store.as_ref();
    let v1 = file(&[("api", "1", ""), ("web", "1", "instances = 2")]);
    let done = ok(submit(s, &v1, up_opts(), 1_000).await);
    assert_eq!(
        kinds(&done.changes),
        vec![("api", ChangeKind::Added), ("web", ChangeKind::Added)]
    );
    assert_eq!(done.deployments.len(), 2);
    let web = deployment_in(s, "web")
        .await
        .unwrap_or_else(|| panic!("no record"));
    assert_eq!(web, done.deployments[1]);
    assert_eq!(
        (web.id, web.status, web.from.is_none()),
        (1, Status::Running, true)
    );
    assert_eq!(web.to, v1["web"]);
    assert_eq!(web.reason, "started");
    assert_eq!(web.deadline_ms, 1_000 + 600_000);
    assert_eq!(web.steps.len(), 1);
    assert_eq!(
        web.steps[0].message,
        "deployment 1 started: rolling to 1 (new service)"
    );
    assert_eq!(spec_in(s, "web").await.as_ref(), Some(&v1["web"]));

    let again = ok(submit(s, &v1, deploy_opts(), 2_000).await);
    assert_eq!(
        kinds(&again.changes),
        vec![
            ("api", ChangeKind::Unchanged),
            ("web", ChangeKind::Unchanged)
        ]
    );
    assert!(again.deployments.is_empty());
    assert_eq!(again.revision, done.revision, "nothing was written");
}

#[tokio::test]
async fn a_rollout_supersedes_the_running_deployment_into_the_history() {
    let f = store().await;
    let s = f.store.as_ref();
    ok(submit(s, &file(&[("web", "1", "")]), deploy_opts(), 1_000).await);
    let v2 = file(&[("web", "2", "env = { A = \"b\" }")]);
    let done = ok(submit(s, &v2, deploy_opts(), 2_000).await);
    assert_eq!(done.changes[0].kind, ChangeKind::Rollout);
    assert_eq!(done.changes[0].fields, vec!["version", "env"]);
    let d = &done.deployments[0];
    assert_eq!((d.id, d.from_version()), (2, Some("1")));
    assert_eq!(
        d.steps[0].message,
        "deployment 2 started: rolling 1 -> 2 (version, env)"
    );
    let past = ok(history(s, "web").await);
    assert_eq!(past.iter().map(|d| d.id).collect::<Vec<_>>(), vec![2, 1]);
    assert_eq!(past[1].status, Status::Superseded);
    assert_eq!(past[1].ended_ms, Some(2_000));
    assert_eq!(past[1].reason, "superseded by deployment 2");
}

#[tokio::test]
async fn in_place_changes_rewrite_the_spec_only_and_dry_runs_write_nothing() {
    let f = store().await;
    let s = f.store.as_ref();
    ok(submit(s, &file(&[("web", "1", "instances = 2")]), deploy_opts(), 1).await);
    let bigger = file(&[("web", "1", "instances = 3\nroutes = [\"/w\"]")]);
    let dry = SubmitOptions {
        dry_run: true,
        ..deploy_opts()
    };
    let planned = ok(submit(s, &bigger, dry, 2).await);
    assert_eq!(planned.changes[0].kind, ChangeKind::InPlace);
    assert_eq!(planned.changes[0].fields, vec!["instances", "routes"]);
    assert_eq!(
        (
            planned.changes[0].from_instances,
            planned.changes[0].to_instances
        ),
        (Some(2), 3)
    );
    assert_eq!(spec_in(s, "web").await.map(|w| w.instances), Some(2));

    let done = ok(submit(s, &bigger, deploy_opts(), 3).await);
    assert!(done.deployments.is_empty());
    assert!(done.revision > planned.revision);
    assert_eq!(spec_in(s, "web").await.as_ref(), Some(&bigger["web"]));
    assert_eq!(deployment_in(s, "web").await.map(|d| d.id), Some(1));
}

#[tokio::test]
async fn missing_services_are_removed_only_when_asked_and_ids_go_on() {
    let f = store().await;
    let s = f.store.as_ref();
    let both = file(&[("api", "1", ""), ("web", "1", "")]);
    ok(submit(s, &both, deploy_opts(), 1).await);
    let web_only = file(&[("web", "1", "")]);
    let kept = ok(submit(s, &web_only, deploy_opts(), 2).await);
    assert_eq!(kinds(&kept.changes), vec![("web", ChangeKind::Unchanged)]);
    assert!(spec_in(s, "api").await.is_some());

    let removed = ok(submit(s, &web_only, up_opts(), 3).await);
    assert_eq!(
        kinds(&removed.changes),
        vec![("api", ChangeKind::Removed), ("web", ChangeKind::Unchanged)]
    );
    assert!(spec_in(s, "api").await.is_none());
    assert!(deployment_in(s, "api").await.is_none());
    // Its running deployment went to the history, so a new one goes on from there.
    let past = ok(history(s, "api").await);
    assert_eq!(past.len(), 1);
    assert_eq!(past[0].status, Status::Superseded);
    let again = ok(submit(s, &both, deploy_opts(), 4).await);
    assert_eq!(again.deployments.len(), 1);
    assert_eq!(again.deployments[0].id, 2);
}

#[tokio::test]
async fn only_one_service_is_looked_at_with_only() {
    let f = store().await;
    let s = f.store.as_ref();
    ok(submit(
        s,
        &file(&[("api", "1", ""), ("web", "1", "")]),
        deploy_opts(),
        1,
    )
    .await);
    let next = file(&[("api", "2", ""), ("web", "2", "")]);
    let opts = SubmitOptions {
        only: Some("web".into()),
        remove_missing: true,
        ..deploy_opts()
    };
    let done = ok(submit(s, &next, opts.clone(), 2).await);
    assert_eq!(kinds(&done.changes), vec![("web", ChangeKind::Rollout)]);
    assert_eq!(spec_in(s, "api").await.map(|a| a.version), Some("1".into()));
    let missing = SubmitOptions {
        only: Some("db".into()),
        ..opts
    };
    let err = submit(s, &next, missing, 3).await.err();
    assert!(
        matches!(err, Some(SubmitError::NotInFile(ref n)) if n == "db"),
        "{err:?}"
    );
}

#[tokio::test]
async fn scale_overrides_are_cleared_for_changed_services_or_all() {
    let f = store().await;
    let s = f.store.as_ref();
    let v1 = file(&[("api", "1", ""), ("web", "1", "")]);
    ok(submit(s, &v1, deploy_opts(), 1).await);
    let scaled = || async {
        for name in ["api", "web"] {
            let o = shoal_catalog::encode(&ScaleOverride::manual(5, None));
            s.put(&scale_key(name), o, 0)
                .await
                .unwrap_or_else(|e| panic!("{e}"));
        }
    };
    let overrides = || async {
        let mut out = Vec::new();
        for name in ["api", "web"] {
            if s.get(&scale_key(name)).await.ok().flatten().is_some() {
                out.push(name);
            }
        }
        out
    };
    scaled().await;
    let v2 = file(&[("api", "1", ""), ("web", "1", "instances = 4")]);
    ok(submit(s, &v2, deploy_opts(), 2).await);
    assert_eq!(overrides().await, vec!["api"]);
    scaled().await;
    ok(submit(s, &v2, up_opts(), 3).await);
    assert_eq!(overrides().await, Vec::<&str>::new());
}

#[tokio::test]
async fn rollback_returns_to_the_previous_or_a_named_spec_by_rolling() {
    let f = store().await;
    let s = f.store.as_ref();
    let canary = "[services.web.deploy]\nstrategy = \"canary\"";
    let v1 = file(&[("web", "1", canary)]);
    ok(submit(s, &v1, deploy_opts(), 1).await);
    let err = rollback(s, "web", None, 2).await.err();
    assert_eq!(
        err.map(|e| e.to_string()).as_deref(),
        Some("service web has no previous deployment")
    );
    let v2 = file(&[("web", "2", canary)]);
    ok(submit(s, &v2, deploy_opts(), 3).await);

    let back = ok(rollback(s, "web", None, 4).await);
    assert_eq!((back.id, back.strategy), (3, Strategy::Rolling));
    assert_eq!(back.revert_of, Some(2));
    assert_eq!(back.to, v1["web"]);
    assert_eq!(back.from.as_ref(), Some(&v2["web"]));
    assert_eq!(
        back.steps[0].message,
        "deployment 3 started: rolling 2 -> 1 (rollback to the spec before deployment 2)"
    );
    assert_eq!(spec_in(s, "web").await.as_ref(), Some(&v1["web"]));
    assert_eq!(deployment_in(s, "web").await.as_ref(), Some(&back));

    // By id: deployment 2's spec (version 2) again.
    let forward = ok(rollback(s, "web", Some(2), 5).await);
    assert_eq!((forward.id, forward.to.version.as_str()), (4, "2"));
    let err = rollback(s, "web", Some(2), 6).await.err();
    assert!(
        matches!(err, Some(SubmitError::AlreadyThere { id: 2, .. })),
        "{err:?}"
    );
    let err = rollback(s, "web", Some(9), 6).await.err();
    assert_eq!(
        err.map(|e| e.to_string()).as_deref(),
        Some("service web has no deployment 9 in its history (it has 1, 2, 3, 4)")
    );
    let err = rollback(s, "nope", None, 6).await.err();
    assert!(matches!(err, Some(SubmitError::NoService(_))), "{err:?}");
    let statuses: Vec<(u64, Status)> = ok(history(s, "web").await)
        .iter()
        .map(|d| (d.id, d.status))
        .collect();
    assert_eq!(
        statuses,
        vec![
            (4, Status::Running),
            (3, Status::Superseded),
            (2, Status::Superseded),
            (1, Status::Superseded)
        ]
    );
}

#[tokio::test]
async fn orders_go_to_running_deployments_and_promote_only_to_canaries() {
    let f = store().await;
    let s = f.store.as_ref();
    let err = order(s, "web", Order::Abort).await.err();
    assert_eq!(
        err.map(|e| e.to_string()).as_deref(),
        Some("no running deployment of web")
    );
    ok(submit(s, &file(&[("web", "1", "")]), deploy_opts(), 1).await);
    let err = order(s, "web", Order::Promote).await.err();
    assert!(
        matches!(err, Some(SubmitError::NotCanary { .. })),
        "{err:?}"
    );
    let aborted = ok(order(s, "web", Order::Abort).await);
    assert_eq!(aborted.order, Some(Order::Abort));
    assert_eq!(
        deployment_in(s, "web").await.and_then(|d| d.order),
        Some(Order::Abort)
    );

    let canary = file(&[("web", "2", "[services.web.deploy]\nstrategy = \"canary\"")]);
    ok(submit(s, &canary, deploy_opts(), 2).await);
    let promoted = ok(order(s, "web", Order::Promote).await);
    assert_eq!((promoted.id, promoted.order), (2, Some(Order::Promote)));

    // An ended deployment takes no orders.
    let mut ended = promoted.clone();
    ended.end(3, Status::Succeeded, "done", serde_json::Value::Null);
    s.put(&deploy_key("web"), shoal_catalog::encode(&ended), 0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let err = order(s, "web", Order::Abort).await.err();
    assert!(matches!(err, Some(SubmitError::NoRunning(_))), "{err:?}");
}

#[tokio::test]
async fn the_history_keeps_the_newest_entries() {
    let f = store().await;
    let s = f.store.as_ref();
    let rounds = HISTORY_LEN + 5;
    for v in 1..=rounds {
        let next = file(&[("web", &v.to_string(), "")]);
        ok(submit(s, &next, deploy_opts(), v).await);
    }
    let kept = s
        .range(&history_prefix("web"))
        .await
        .unwrap_or_else(|e| panic!("{e}"))
        .kvs
        .len();
    assert_eq!(kept as u64, HISTORY_LEN);
    let past = ok(history(s, "web").await);
    assert_eq!(past.len() as u64, HISTORY_LEN + 1);
    assert_eq!(past[0].id, rounds);
    assert_eq!(past.last().map(|d| d.id), Some(rounds - HISTORY_LEN));
}

#[tokio::test]
async fn concurrent_submissions_never_share_an_id() {
    let f = store().await;
    let s: Arc<dyn Store> = f.store.clone();
    ok(submit(s.as_ref(), &file(&[("web", "1", "")]), deploy_opts(), 1).await);
    let mut tasks = Vec::new();
    for v in 2..=6 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move {
            let next = file(&[("web", &v.to_string(), "")]);
            submit(s.as_ref(), &next, deploy_opts(), v).await
        }));
    }
    let mut ids = Vec::new();
    for t in tasks {
        match t.await {
            Ok(Ok(done)) => ids.extend(done.deployments.iter().map(|d| d.id)),
            Ok(Err(SubmitError::Conflict(..))) => {}
            other => panic!("{other:?}"),
        }
    }
    let mut unique = ids.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    assert!(!ids.is_empty());
    let past = ok(history(s.as_ref(), "web").await);
    let newest = past.first().map(|d| d.id);
    assert_eq!(newest, ids.iter().max().copied());
}
