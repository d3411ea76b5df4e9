//! Cluster mode on one machine: three `shoal agent` nodes over a real etcd on loopback
//! (each with its own ports, data dir and port range). A deploy to one node places the
//! instances spread over all three; every node's gateway serves every service; a node
//! killed under load has its instances placed on the others, with the requests through
//! the other gateways counted. (Separate hosts in network namespaces: `cluster_hosts.rs`.)

mod cluster_support;
mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cluster_support::*;
use common::{web_service, BIN};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use shoal_testkit::{request, wait_until, Etcd, Platform};

#[test]
fn a_deploy_spreads_over_the_nodes_and_every_gateway_serves_every_service() {
    let etcd = Etcd::start().expect("etcd");
    let nodes: Vec<Platform> = ["a", "b", "c"].iter().map(|n| node(&etcd, n)).collect();
    deploy(
        &nodes[0],
        &format!("{}{}", web_service("web", 6), caller_service("api", 3)),
    );
    wait_spread(&nodes[1], "web", &[("a", 2), ("b", 2), ("c", 2)]);
    wait_spread(&nodes[2], "api", &[("a", 1), ("b", 1), ("c", 1)]);
    for p in &nodes {
        for service in ["web", "api"] {
            // Each gateway routes to the instances of every node: its route table (the
            // proxy's state on that node) holds all of them, and it answers.
            let want = if service == "web" { 6 } else { 3 };
            wait_until(
                &format!("{service} routed by {}", p.gateway),
                SETTLE,
                || {
                    let proxy = p.api("GET", "/api/v1/proxy", None).ok()?.json();
                    let routed = proxy["services"][service]["instances"].as_array()?.len();
                    (routed == want).then_some(())
                },
            )
            .unwrap_or_else(|e| {
                panic!(
                    "{e}: {}",
                    p.api("GET", "/api/v1/proxy", None)
                        .map(|r| r.text())
                        .unwrap_or_default()
                )
            });
            for _ in 0..10 {
                let r = p.gateway(service, &format!("/{service}")).expect("gateway");
                assert_eq!(r.status, 200, "{service} through {}", p.gateway);
            }
        }
    }
    // api's instances call web through their own node's outbound listener (the
    // caller is api, not the gateway), which routes to web on every node.
    let mut reached = std::collections::BTreeSet::new();
    for p in &nodes {
        for _ in 0..10 {
            let r = p.gateway("api", "/api").expect("gateway");
            let v = r.json();
            assert_eq!(v["inner"]["caller"], "api", "{}", r.text());
            assert_ne!(v["proxy"], format!("http://{}", p.gateway), "{v}");
            reached.insert(v["inner"]["instance"].as_str().unwrap_or("").to_owned());
        }
    }
    assert!(
        reached.len() > 2,
        "api's outbound listeners reached only {reached:?} (a node holds 2 web instances)"
    );
    // The cluster's own view: three ready nodes and one leader, from any node.
    let v = nodes[2]
        .api("GET", "/api/v1/nodes", None)
        .expect("nodes")
        .json();
    let ready: Vec<&str> = v["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["status"] == "ready")
        .filter_map(|n| n["name"].as_str())
        .collect();
    assert_eq!(ready, ["a", "b", "c"], "{v}");
    let leader = v["leader"]["node"].as_str().unwrap_or("");
    assert!(["a", "b", "c"].contains(&leader), "{v}");
    let out = nodes[1].cli(&["nodes"]).expect("shoal nodes");
    let table = String::from_utf8_lossy(&out.stdout);
    assert!(
        table.contains(&format!("{leader} (leader)")) && table.contains("3/3"),
        "{table}"
    );
}

#[test]
fn a_node_with_another_secret_key_is_refused_and_config_can_come_from_the_platform_table() {
    let etcd = Etcd::start().expect("etcd");
    let a = node(&etcd, "a");
    let other = Platform::builder(BIN)
        .env("SHOAL_SECRET_KEY", "//////////////////////////////////////////8=")
        .platform(&format!(
            "store = \"{}\"\nnode = \"b\"\nadvertise = \"127.0.0.1\"\nlabels = {{ disk = \"ssd\" }}",
            etcd.url()
        ))
        .agent(&[])
        .start();
    let err = other.err().expect("a node with another key must not start");
    assert!(err.contains("secret key is not the cluster's"), "{err}");
    // The same [platform] table with the cluster's key joins, its label listed.
    let b = Platform::builder(BIN)
        .env("SHOAL_SECRET_KEY", CLUSTER_KEY)
        .platform(&format!(
            "store = \"{}\"\nnode = \"b\"\nadvertise = \"127.0.0.1\"\nlabels = {{ disk = \"ssd\" }}",
            etcd.url()
        ))
        .agent(&[])
        .start()
        .expect("b joins");
    let v = wait_until("two nodes", SETTLE, || {
        let v = a.api("GET", "/api/v1/nodes", None).ok()?.json();
        (v["nodes"].as_array()?.len() == 2).then_some(v)
    })
    .expect("nodes");
    let labels = v["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["name"] == "b")
        .map(|n| n["labels"].clone())
        .unwrap_or_default();
    assert_eq!(labels["disk"], "ssd", "{v}");
    drop(b);
}

#[test]
fn constraints_and_resource_requests_decide_the_node() {
    let etcd = Etcd::start().expect("etcd");
    let nodes = [
        node(&etcd, "a"),
        node_with(&etcd, "b", &["--label", "disk=ssd"]),
        node(&etcd, "c"),
    ];
    let db = web_service("db", 3).replace(
        "[services.db.health]",
        "constraints = { disk = \"ssd\" }\nresources = { cpu = 0.1, memory = \"64MiB\" }\n\n[services.db.health]",
    );
    let huge = web_service("huge", 1).replace(
        "[services.huge.health]",
        "resources = { cpu = 5000 }\n\n[services.huge.health]",
    );
    deploy(&nodes[0], &format!("{db}{huge}"));
    wait_spread(&nodes[2], "db", &[("b", 3)]);
    // The leader says it in its event stream; any node gathers it.
    let said = wait_until("the unplaceable instance to be named", SETTLE, || {
        nodes.iter().find_map(|n| {
            let events = n
                .api("GET", "/api/v1/events?service=huge", None)
                .ok()?
                .json();
            events.as_array()?.iter().find_map(|e| {
                let m = e["message"].as_str()?;
                m.starts_with("cannot place an instance")
                    .then(|| m.to_string())
            })
        })
    })
    .expect("an event says why");
    assert!(said.contains("no room for 5000000m CPU"), "{said}");
    assert!(nodes[0].instances("huge").is_empty());
}

#[test]
fn draining_a_node_moves_its_instances_new_before_old() {
    let etcd = Etcd::start().expect("etcd");
    let nodes: Vec<Platform> = ["a", "b", "c"].iter().map(|n| node(&etcd, n)).collect();
    deploy(&nodes[0], &web_service("web", 3));
    wait_spread(&nodes[0], "web", &[("a", 1), ("b", 1), ("c", 1)]);
    let out = nodes[0].cli(&["node", "drain", "c"]).expect("drain");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Sampled until it settles: never fewer than 3 serving instances.
    let mut fewest = usize::MAX;
    wait_until("c drained", SETTLE, || {
        let got = per_node(&nodes[1], "web");
        fewest = fewest.min(got.values().sum());
        (!got.contains_key("c") && got.values().sum::<usize>() == 3).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", per_node(&nodes[1], "web")));
    assert!(
        fewest >= 3,
        "serving instances fell to {fewest} while draining"
    );
    let v = nodes[2]
        .api("GET", "/api/v1/nodes", None)
        .expect("nodes")
        .json();
    let c = v["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|n| n["name"] == "c")
        .cloned()
        .unwrap_or_default();
    assert_eq!(c["status"], "draining", "{v}");
    // Unknown nodes are a 404; undrain lets c take instances again (nothing moves back).
    let r = nodes[0]
        .api("POST", "/api/v1/nodes/nope/drain", Some("{}"))
        .expect("api");
    assert_eq!(r.status, 404);
    let out = nodes[0].cli(&["node", "undrain", "c"]).expect("undrain");
    assert!(out.status.success());
}

#[test]
fn a_killed_node_s_instances_come_back_on_the_others_under_load() {
    let etcd = Etcd::start().expect("etcd");
    let mut nodes: Vec<Platform> = ["a", "b", "c"].iter().map(|n| node(&etcd, n)).collect();
    deploy(&nodes[0], &web_service("web", 6));
    wait_spread(&nodes[0], "web", &[("a", 2), ("b", 2), ("c", 2)]);

    // Load through the gateways of a and b while c dies.
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, failed) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let why = Arc::new(Mutex::new(Vec::<String>::new()));
    let load: Vec<_> = [nodes[0].gateway, nodes[1].gateway]
        .into_iter()
        .map(|gw| {
            let (stop, ok, failed, why) = (stop.clone(), ok.clone(), failed.clone(), why.clone());
            std::thread::spawn(move || {
                let deadline = Instant::now() + Duration::from_secs(60);
                while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                    let fault = match request(gw, "GET", "/web", Some("web"), None) {
                        Ok(r) if r.status == 200 => None,
                        Ok(r) => Some(format!("{gw}: {} {}", r.status, r.text())),
                        Err(e) => Some(format!("{gw}: {e}")),
                    };
                    match fault {
                        None => ok.fetch_add(1, Ordering::Relaxed),
                        Some(f) => {
                            why.lock().map(|mut w| w.push(f)).ok();
                            failed.fetch_add(1, Ordering::Relaxed)
                        }
                    };
                    std::thread::sleep(Duration::from_millis(5));
                }
            })
        })
        .collect();
    wait_until("load running", Duration::from_secs(10), || {
        (ok.load(Ordering::Relaxed) > 50).then_some(())
    })
    .expect("load");

    // c dies with its instances, as a machine would.
    let dead: Vec<u32> = Platform::registered_pids(nodes[2].dir());
    assert_eq!(dead.len(), 2, "c runs two instances");
    let died = Instant::now();
    nodes[2].kill9();
    for pid in &dead {
        let _ = kill(Pid::from_raw(*pid as i32), Signal::SIGKILL);
    }
    let spread = wait_spread(&nodes[0], "web", &[("a", 3), ("b", 3)]);
    let moved = died.elapsed();
    stop.store(true, Ordering::Relaxed);
    for t in load {
        t.join().expect("load thread");
    }
    let (ok, failed) = (ok.load(Ordering::Relaxed), failed.load(Ordering::Relaxed));
    println!(
        "node c killed: its 2 instances serve on {spread:?} after {:.1} s (lease 5 s + grace {GRACE}); requests through a and b: {ok} ok, {failed} failed",
        moved.as_secs_f64()
    );
    assert_eq!(
        failed,
        0,
        "requests through the surviving gateways failed: {:?}",
        why.lock().map(|w| w.clone()).unwrap_or_default()
    );
    // Said by the leader (a or b; c is dead), and gathered by whichever node is asked.
    let events = nodes[1]
        .api("GET", "/api/v1/events?service=web", None)
        .expect("events")
        .json();
    let lost = events
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| {
            e["message"]
                .as_str()
                .is_some_and(|m| m.contains("node c is lost"))
        })
        .count();
    assert_eq!(lost, 2, "one event per moved instance");
}
