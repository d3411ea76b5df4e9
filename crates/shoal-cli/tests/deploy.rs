//! `shoal deploy`, `--wait`, `rollback`, `history` and `status` against the real API
//! on 127.0.0.1:0; a stand-in deployer ends deployments by writing their records.

mod common;

use common::{platform_with, Platform};

use std::sync::Arc;
use std::time::{Duration, Instant};

use shoal_catalog::{decode, deploy_key, encode, history_key};
use shoal_cli::{DeployArgs, Order};
use shoal_deploy::{Deployment, Status};
use shoal_store::Store;

async fn platform() -> Platform {
    platform_with(None).await
}

fn web(version: &str) -> String {
    format!("[services.web]\ncommand = \"sleep 100\"\nversion = \"{version}\"\ninstances = 2\n")
}

fn args(toml: String, dry_run: bool, wait: bool) -> DeployArgs<'static> {
    DeployArgs {
        file: "web.toml",
        toml,
        service: None,
        dry_run,
        wait,
        json: false,
    }
}

async fn record(store: &dyn Store, service: &str) -> Option<Deployment> {
    let kv = store.get(&deploy_key(service)).await.ok().flatten()?;
    decode(&kv.key, &kv.value).ok()
}

/// How the stand-in deployer ends a deployment.
#[derive(Clone, Copy)]
enum Ending {
    Succeed,
    Fail,
    /// Rolled back, with the revert as the next current deployment.
    Revert,
}

/// Waits for deployment `id` of web to be the current one, shows progress once,
/// then ends it the way `ending` says (as the deployer would: the record, and the
/// history when another record replaces it).
fn deployer(store: Arc<dyn Store>, id: u64, ending: Ending) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut d = loop {
            match record(store.as_ref(), "web").await {
                Some(d) if d.id == id => break d,
                _ if Instant::now() > deadline => panic!("deployment {id} never appeared"),
                _ => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        };
        d.counts.insert(d.to.version.clone(), 1);
        d.note(d.started_ms + 1, "1/2 new healthy", serde_json::Value::Null);
        put(store.as_ref(), &deploy_key("web"), &d).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let at = d.started_ms + 2_000;
        match ending {
            Ending::Succeed => {
                d.counts.insert(d.to.version.clone(), 2);
                d.end(
                    at,
                    Status::Succeeded,
                    "2/2 new healthy",
                    serde_json::Value::Null,
                );
                put(store.as_ref(), &deploy_key("web"), &d).await;
            }
            Ending::Fail => {
                d.end(
                    at,
                    Status::Failed,
                    "progress deadline passed: 1/2 new healthy",
                    serde_json::Value::Null,
                );
                put(store.as_ref(), &deploy_key("web"), &d).await;
            }
            Ending::Revert => {
                d.end(
                    at,
                    Status::RolledBack,
                    "canary error rate 0.30 > 0.01",
                    serde_json::Value::Null,
                );
                put(store.as_ref(), &history_key("web", d.id), &d).await;
                let mut revert = d.clone();
                revert.id += 1;
                revert.status = Status::Running;
                revert.revert_of = Some(d.id);
                put(store.as_ref(), &deploy_key("web"), &revert).await;
            }
        }
    })
}

async fn put(store: &dyn Store, key: &str, d: &Deployment) {
    store
        .put(key, encode(d), 0)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test]
async fn a_dry_run_prints_the_plan_and_a_deploy_what_started() {
    let p = platform().await;
    let r = shoal_cli::deploy(&p.client, args(web("1"), true, false))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        r.out,
        "+ web (new, rolling)\ndry run: nothing was written\n"
    );
    assert!(record(p.store.as_ref(), "web").await.is_none());
    let r = shoal_cli::deploy(&p.client, args(web("1"), false, false))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        r.out.starts_with(
            "+ web (new, rolling)\nweb: deployment 1 started: rolling to 1 (new service)\n"
        ),
        "{}",
        r.out
    );
    assert!(r.failures.is_empty());
    let more = web("1").replace("instances = 2", "instances = 3");
    let r = shoal_cli::deploy(&p.client, args(more, true, false))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(
        r.out,
        "~ web: in place (instances 2 -> 3)\ndry run: nothing was written\n"
    );
    let err = shoal_cli::deploy(&p.client, args("[services.web]\n".into(), false, false))
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("web.toml is not a valid service file:\n  web.toml:1:1"),
        "{err}"
    );
}

#[tokio::test]
async fn wait_follows_each_deployment_to_its_end() {
    let p = platform().await;
    // (the deployer's ending, the failure line the command reports)
    let cases = [
        (Ending::Succeed, None),
        (
            Ending::Fail,
            Some("deploy of web failed: progress deadline passed: 1/2 new healthy"),
        ),
        (
            Ending::Revert,
            Some("deploy of web rolled back: canary error rate 0.30 > 0.01"),
        ),
    ];
    for (i, (ending, failure)) in cases.into_iter().enumerate() {
        let id = i as u64 + 1;
        let task = deployer(p.store.clone(), id, ending);
        let r = shoal_cli::deploy(&p.client, args(web(&id.to_string()), false, true))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        let _ = task.await;
        assert_eq!(r.failures.first().map(String::as_str), failure, "{}", r.out);
        if failure.is_none() {
            assert!(
                r.out
                    .contains("web: deployment 1 succeeded in 2.0s (rolling -> 1)"),
                "{}",
                r.out
            );
        }
    }
}

#[tokio::test]
async fn rollback_history_orders_and_status() {
    let p = platform().await;
    for v in ["1", "2"] {
        shoal_cli::deploy(&p.client, args(web(v), false, false))
            .await
            .unwrap_or_else(|e| panic!("{e}"));
    }
    let err = shoal_cli::order(&p.client, "web", Order::Promote, false, false)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("only a canary deployment can be promoted"),
        "{err}"
    );
    let r = shoal_cli::order(&p.client, "web", Order::Abort, false, false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        r.out
            .starts_with("web: abort ordered for deployment 2 (rolling 1 -> 2)"),
        "{}",
        r.out
    );

    let status = shoal_cli::status(&p.client, Some("web"), false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        status.contains("deployment 2  rolling 1 -> 2  running  running for"),
        "{status}"
    );
    assert!(
        status.contains("order waiting for the deployer: abort"),
        "{status}"
    );
    let all = shoal_cli::status(&p.client, None, false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(all.contains("#2 rolling 1 -> 2"), "{all}");

    let task = deployer(p.store.clone(), 3, Ending::Succeed);
    let r = shoal_cli::rollback(&p.client, "web", None, true, false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let _ = task.await;
    assert!(r.failures.is_empty(), "{r:?}");
    assert_eq!(
        r.out,
        "web: deployment 3 succeeded in 2.0s (rolling 2 -> 1)\n"
    );
    let err = shoal_cli::rollback(&p.client, "web", Some(7), false, false)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert_eq!(
        err,
        "404 Not Found: service web has no deployment 7 in its history (it has 1, 2, 3)"
    );

    let h = shoal_cli::history(&p.client, "web", false)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let lines: Vec<&str> = h.lines().collect();
    assert!(
        lines[0].starts_with("ID  STRATEGY  FROM -> TO  STATUS"),
        "{h}"
    );
    assert!(
        lines[1].starts_with("3   rolling   2 -> 1      succeeded (reverts 2)"),
        "{h}"
    );
    assert!(
        lines[2].starts_with("2   rolling   1 -> 2      superseded"),
        "{h}"
    );
    assert!(
        lines[3].starts_with("1   rolling   -> 1        superseded"),
        "{h}"
    );
    assert!(h.contains("\ndeployment 3:\n"), "{h}");
    let json = shoal_cli::history(&p.client, "web", true)
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
    assert_eq!(v[0]["id"], 3);
}
