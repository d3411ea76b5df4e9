//! Chaos in a cluster: a kill experiment kills instances on every node (each
//! kill carried out by the instance's own node), decided by the leader's monkey
//! alone; the service is back to its count after, and the experiment is ended
//! once, by the leader, when its time is up.
//! Three `shoal agent` nodes over a real etcd on loopback.

mod cluster_support;
mod common;

use std::time::Duration;

use cluster_support::*;
use common::web_service;
use serde_json::Value;
use shoal_testkit::{wait_until, Etcd, Platform};

fn chaos_events(p: &Platform, action: &str) -> Vec<Value> {
    common::events_with_action(p, "chaos", action)
}

#[test]
fn the_leader_s_monkey_kills_across_nodes_and_ends_the_experiment_once() {
    let etcd = Etcd::start().expect("etcd");
    let nodes: Vec<Platform> = ["a", "b", "c"]
        .iter()
        .map(|n| {
            node_builder(&etcd, n, &[])
                .platform("chaos = true")
                .start()
                .unwrap_or_else(|e| panic!("node {n}: {e}"))
        })
        .collect();
    deploy(&nodes[0], &web_service("web", 3));
    wait_spread(&nodes[0], "web", &[("a", 1), ("b", 1), ("c", 1)]);
    let leader = leader(&nodes[0]);

    // Asked of a node that does not lead: the record is in the store for all.
    let (asked, _) = not_leading(&nodes, &["a", "b", "c"], &leader);
    let body =
        r#"{"service":"web","fault":{"kind":"kill","every":"1s","floor":1},"duration":"5s"}"#;
    let r = asked.api("POST", "/api/v1/chaos", Some(body)).expect("api");
    assert_eq!(r.status, 201, "{}", r.text());

    // Ended by itself, once (each node runs a monkey; only the leader's acts).
    let ended = wait_until("the experiment's end", Duration::from_secs(30), || {
        let ended = chaos_events(asked, "end");
        (!ended.is_empty()).then_some(ended)
    })
    .expect("ended");
    std::thread::sleep(Duration::from_secs(2));
    let ended = chaos_events(asked, "end").len().max(ended.len());
    assert_eq!(ended, 1, "one end event across the cluster");
    let kills = chaos_events(asked, "kill");
    assert!(kills.len() >= 2, "kills: {kills:?}");
    for k in &kills {
        assert_eq!(
            k["node"],
            leader.as_str(),
            "the leader decides every kill: {k}"
        );
    }
    // The service serves 3 again. Where: usually where they were, each restarted by
    // its node; one CI run ended with {a: 2, b: 1}, the leader having placed a
    // replacement for a repeatedly killed instance on another node.
    wait_until("3 web instances serving again", SETTLE, || {
        (per_node(&nodes[0], "web").values().sum::<usize>() == 3).then_some(())
    })
    .expect("web serves 3 again");
    let restarts: u64 = nodes[0]
        .instances("web")
        .iter()
        .map(|i| i["restarts"].as_u64().unwrap_or(0))
        .sum();
    assert!(
        restarts >= 2,
        "instances restarted after the kills: {restarts}"
    );
    // Nothing is left in force.
    let v = asked.api("GET", "/api/v1/chaos", None).expect("api").json();
    assert_eq!(v["experiments"], serde_json::json!([]), "{v}");
}
