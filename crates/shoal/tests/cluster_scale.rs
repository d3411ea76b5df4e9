//! The autoscaler in a cluster: every node publishes what it measures, the leader
//! scales on every node's signals. Here all load enters through a node that does not
//! lead, so the leader's own proxy sees none of it.

mod cluster_support;
mod common;

use std::time::{Duration, Instant};

use cluster_support::*;
use common::Traffic;
use shoal_testkit::{wait_until, Etcd, Platform};

const WORK: &str = r#"
[services.work]
command = ["python3", "app.py"]
routes = ["/work"]

[services.work.health]
http = "/health"
interval = "200ms"

[services.work.scale]
min = 1
max = 3
target = { rps = 20 }
up_cooldown = "1s"
down_stabilization = "4s"
"#;

/// The count the store holds for `service` (what the autoscaler set), as `p` reports it.
fn desired(p: &Platform, service: &str) -> u64 {
    p.api("GET", &format!("/api/v1/services/{service}"), None)
        .map(|r| r.json()["service"]["desired"].as_u64().unwrap_or(0))
        .unwrap_or(0)
}

#[test]
fn load_through_a_node_that_does_not_lead_scales_the_service_up_and_back_down() {
    let etcd = Etcd::start().expect("etcd");
    let nodes: Vec<Platform> = ["a", "b", "c"].iter().map(|n| node(&etcd, n)).collect();
    deploy(&nodes[0], WORK);
    wait_until("one work instance", SETTLE, || {
        (per_node(&nodes[0], "work").values().sum::<usize>() == 1).then_some(())
    })
    .expect("work runs");
    let names = ["a", "b", "c"];
    let leader = leader(&nodes[0]);
    let (entry, entry_name) = not_leading(&nodes, &names, &leader);

    // Far more than 20 requests/s for one instance: the most, 3.
    let started = Instant::now();
    let traffic = Traffic::start(entry, 4, "work", "/work");
    wait_until("scaled to 3", SETTLE, || {
        let serving: usize = per_node(entry, "work").values().sum();
        (desired(entry, "work") == 3 && serving == 3).then_some(())
    })
    .unwrap_or_else(|e| {
        panic!(
            "{e}: desired {}, serving {:?}",
            desired(entry, "work"),
            per_node(entry, "work")
        )
    });
    let up = started.elapsed();
    let (ok, failed, errors) = traffic.finish();
    assert_eq!(failed, 0, "{errors:?}");

    // The load ends: back to the minimum after the stabilization window.
    let ended = Instant::now();
    wait_until("back to 1", Duration::from_secs(60), || {
        (desired(entry, "work") == 1).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: desired {}", desired(entry, "work")));
    let down = ended.elapsed();

    // The leader decided, on the entry node's numbers, and said so in its events: asked
    // of the entry node, the events of every node, each with its node.
    let events = entry
        .api("GET", "/api/v1/events?kind=scaled&service=work", None)
        .expect("events")
        .json();
    let decided = events
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("autoscaler: rps"))
        })
        .cloned()
        .unwrap_or_else(|| panic!("no autoscaler event in {events}"));
    assert_eq!(decided["node"], leader.as_str(), "{decided}");
    let out = entry
        .cli(&["events", "--kind", "scaled"])
        .expect("shoal events");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains(&format!("@{leader}")), "{text}");
    println!(
        "leader {leader}, load through {entry_name}: 3 instances {up:?} after it began ({ok} ok, 0 failed), back to 1 {down:?} after it ended"
    );
}

#[test]
fn a_request_at_a_node_that_does_not_lead_wakes_a_service_at_zero() {
    let etcd = Etcd::start().expect("etcd");
    let nodes: Vec<Platform> = ["a", "b", "c"].iter().map(|n| node(&etcd, n)).collect();
    deploy(
        &nodes[0],
        r#"
[services.lazy]
command = ["python3", "app.py"]

[services.lazy.health]
http = "/health"
interval = "100ms"

[services.lazy.scale]
min = 0
max = 2
idle_after = "2s"
target = { rps = 50 }
"#,
    );
    // Idle on every node: down to zero.
    wait_until("zero instances", SETTLE, || {
        (desired(&nodes[0], "lazy") == 0 && nodes[0].instances("lazy").is_empty()).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: desired {}", desired(&nodes[0], "lazy")));
    let leader = leader(&nodes[0]);
    let (entry, _) = not_leading(&nodes, &["a", "b", "c"], &leader);
    // Held at that node's gateway; its autoscaler says so; the leader starts one.
    let began = Instant::now();
    let r = shoal_testkit::request(entry.gateway, "GET", "/", Some("lazy"), None).expect("request");
    let waited = began.elapsed();
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(desired(entry, "lazy") >= 1);
    println!("leader {leader}: the first request after idle, at another node, took {waited:?}");
}
