//! A canary in a cluster is judged on every node's numbers: each node publishes its
//! proxy's per-version totals and the leader sums them. Here all traffic enters through
//! a node that does not lead, so the leader's own proxy sees none of it.

mod cluster_support;
mod common;

use cluster_support::*;
use common::Traffic;
use serde_json::Value;
use shoal_testkit::{wait_until, Etcd, Platform};

/// `web` at `version` (3 instances of `versioned.py`) as a canary of two steps.
fn web(version: &str, env: &str) -> String {
    format!(
        r#"
[services.web]
command = ["python3", "versioned.py"]
version = "{version}"
instances = 3
env = {{ VERSION = "{version}"{env} }}
restart = {{ backoff = {{ initial = "100ms", max = "1s" }} }}

[services.web.health]
http = "/health"
interval = "200ms"
timeout = "1s"

[services.web.deploy]
strategy = "canary"
canary = {{ steps = [34, 100], interval = "3s", max_error_rate = 0.05, min_requests = 20 }}
min_healthy = "500ms"
drain = "1s"
progress_deadline = "60s"
"#
    )
}

fn versions(p: &Platform) -> Vec<String> {
    let mut v: Vec<String> = p
        .instances("web")
        .iter()
        .filter(|i| i["state"] == "running" && i["health"] == "passing")
        .map(|i| i["version"].as_str().unwrap_or("").to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn a_failing_canary_is_judged_on_traffic_the_leader_never_saw() {
    let etcd = Etcd::start().expect("etcd");
    let nodes: Vec<Platform> = ["a", "b", "c"].iter().map(|n| node(&etcd, n)).collect();
    deploy(&nodes[0], &web("1", ""));
    wait_spread(&nodes[0], "web", &[("a", 1), ("b", 1), ("c", 1)]);
    let leader = leader(&nodes[0]);
    let (entry, _) = not_leading(&nodes, &["a", "b", "c"], &leader);
    let traffic = Traffic::start(entry, 4, "web", "/");
    traffic.wait_for(entry, 50);

    let file = entry.dir().join("v2.toml");
    std::fs::write(&file, web("2", r#", FAIL = "1""#)).expect("write v2");
    let out = entry
        .cli(&["deploy", &file.to_string_lossy(), "--wait"])
        .expect("shoal deploy");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !out.status.success(),
        "a failing canary fails the deploy: {said}"
    );
    assert!(
        said.contains("error rate"),
        "judged on the error rate: {said}"
    );
    wait_until("back on 1", SETTLE, || {
        (versions(entry) == ["1", "1", "1"]).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", versions(entry)));
    let (ok, failed, _) = traffic.finish();

    // The failing step's numbers are the entry node's requests, counted by the leader.
    let history = entry
        .cli(&["history", "web", "--json"])
        .expect("shoal history");
    let h: Value = serde_json::from_slice(&history.stdout).expect("history json");
    let failed_step = h
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|d| d["steps"].as_array().into_iter().flatten())
        .find(|s| {
            s["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("canary failed"))
        })
        .cloned()
        .unwrap_or_else(|| panic!("no failed step in {h}"));
    let requests = failed_step["numbers"]["requests"].as_u64().unwrap_or(0);
    assert!(
        requests >= 20,
        "judged on {requests} requests: {failed_step}"
    );
    println!(
        "leader {leader}, traffic through another node: {ok} ok, {failed} failed; the canary failed on {requests} requests: {}",
        failed_step["message"]
    );
}
