//! Cluster mode across hosts: three network namespaces made by the test (a bridge, a veth
//! each, `10.213.K.0/24`), each running an etcd member and a `shoal agent`; traffic only
//! to those addresses. A host cut off the network has its instances placed on the others
//! and stops its copies when it returns; losing one etcd member changes nothing; losing
//! quorum keeps every gateway serving its last routes and refuses deploys until quorum
//! returns; the leader's host dying mid-deploy hands the deployment to a new leader.

mod common;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{APP, BIN};
use serde_json::Value;
use shoal_testkit::netns::Lab;
use shoal_testkit::{request, wait_until, EtcdCluster, Platform};

const TOKEN: &str = "cluster-test-token-0123456789";
const GRACE: &str = "2s";
/// How long a wait for the cluster to settle may take (three hosts, three agents, etcd).
const SETTLE: Duration = Duration::from_secs(60);
/// The one secret key of every node (base64 of 32 bytes).
const CLUSTER_KEY: &str = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";

/// A lab of three hosts, an etcd member and an agent on each (nodes a, b, c).
struct Hosts {
    nodes: Vec<Option<Platform>>,
    etcd: EtcdCluster,
    lab: Lab,
}

impl Hosts {
    fn start() -> Hosts {
        let lab = Lab::new(3).expect("lab");
        let etcd = EtcdCluster::start_in(&lab, &[0, 1, 2]).expect("etcd in the lab");
        // Instances listen on every address of their host, so other hosts reach them.
        let app = APP.replace("(\"127.0.0.1\",", "(\"0.0.0.0\",");
        let nodes = (0..3)
            .map(|i| {
                let host = lab.host(i);
                let ip = host.ip.to_string();
                let name = ["a", "b", "c"][i];
                Some(
                    Platform::builder(BIN)
                        .file("app.py", &app)
                        .env("SHOAL_SECRET_KEY", CLUSTER_KEY)
                        .wrap(&["ip", "netns", "exec", &host.ns])
                        .bind(&ip)
                        .token(TOKEN)
                        .agent(&[
                            "--store",
                            &etcd.url(),
                            "--node",
                            name,
                            "--advertise",
                            &ip,
                            "--grace",
                            GRACE,
                        ])
                        .start()
                        .unwrap_or_else(|e| panic!("node {name}: {e}")),
                )
            })
            .collect();
        let hosts = Hosts { nodes, etcd, lab };
        // A deploy places instances on the nodes registered when it is planned: wait for
        // all three (a node that registers later gets no share of an earlier deploy).
        wait_until("three ready nodes", SETTLE, || {
            let v = hosts.node(0).api("GET", "/api/v1/nodes", None).ok()?.json();
            let ready = v["nodes"]
                .as_array()?
                .iter()
                .filter(|n| n["status"] == "ready")
                .count();
            (ready == 3).then_some(())
        })
        .expect("three nodes ready");
        hosts
    }

    fn node(&self, i: usize) -> &Platform {
        self.nodes[i].as_ref().expect("node is running")
    }
}

fn per_node(p: &Platform, service: &str) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for i in p.instances(service) {
        if i["state"] == "running" && i["health"] == "passing" {
            *out.entry(i["node"].as_str().unwrap_or("?").to_string())
                .or_insert(0) += 1;
        }
    }
    out
}

fn wait_spread(p: &Platform, service: &str, want: &[(&str, usize)]) -> Duration {
    let start = Instant::now();
    let want: BTreeMap<String, usize> = want.iter().map(|(n, c)| (n.to_string(), *c)).collect();
    wait_until(&format!("{service} spread as {want:?}"), SETTLE, || {
        (per_node(p, service) == want).then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}\n{}", per_node(p, service), p.stderr()));
    start.elapsed()
}

fn service_file(version: &str, instances: u32) -> String {
    format!(
        r#"
[services.web]
command = ["python3", "app.py"]
version = "{version}"
instances = {instances}
routes = ["/web"]

[services.web.health]
http = "/health"
interval = "200ms"
timeout = "1s"

# A host cut off answers nothing (no reset): a bounded attempt, retried on another instance.
[services.web.resilience]
timeout = "1s"
retries = {{ attempts = 2, budget = 0.5 }}

[services.web.deploy]
strategy = "rolling"
max_surge = 1
max_unavailable = 0
min_healthy = "1s"
"#
    )
}

fn deploy(p: &Platform, contents: &str) -> std::process::Output {
    let file = p.dir().join("app.toml");
    std::fs::write(&file, contents).expect("write the service file");
    p.cli(&["deploy", &file.to_string_lossy()])
        .expect("run shoal deploy")
}

fn deployed(p: &Platform, contents: &str) {
    let out = deploy(p, contents);
    assert!(
        out.status.success(),
        "deploy: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// GETs through `gateways` until stopped (60 s at most): (ok, failed, slowest).
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    slowest_ms: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(gateways: &[std::net::SocketAddr]) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let ok = Arc::new(AtomicU64::new(0));
        let failed = Arc::new(AtomicU64::new(0));
        let slowest_ms = Arc::new(AtomicU64::new(0));
        let threads = gateways
            .iter()
            .map(|gw| {
                let gw = *gw;
                let (stop, ok, failed, slowest) =
                    (stop.clone(), ok.clone(), failed.clone(), slowest_ms.clone());
                std::thread::spawn(move || {
                    let deadline = Instant::now() + Duration::from_secs(90);
                    while !stop.load(Ordering::Relaxed) && Instant::now() < deadline {
                        let t = Instant::now();
                        match request(gw, "GET", "/web", Some("web"), None) {
                            Ok(r) if r.status == 200 => ok.fetch_add(1, Ordering::Relaxed),
                            _ => failed.fetch_add(1, Ordering::Relaxed),
                        };
                        slowest.fetch_max(t.elapsed().as_millis() as u64, Ordering::Relaxed);
                        std::thread::sleep(Duration::from_millis(10));
                    }
                })
            })
            .collect();
        let load = Load {
            stop,
            ok,
            failed,
            slowest_ms,
            threads,
        };
        wait_until("load running", Duration::from_secs(10), || {
            (load.ok.load(Ordering::Relaxed) > 20).then_some(())
        })
        .expect("load");
        load
    }

    fn finish(self) -> (u64, u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            t.join().expect("load thread");
        }
        (
            self.ok.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.slowest_ms.load(Ordering::Relaxed),
        )
    }
}

#[test]
fn a_host_cut_off_is_replaced_and_stops_its_copies_when_it_returns() {
    let h = Hosts::start();
    deployed(h.node(0), &service_file("1", 6));
    wait_spread(h.node(0), "web", &[("a", 2), ("b", 2), ("c", 2)]);
    let load = Load::start(&[h.node(0).gateway, h.node(1).gateway]);

    h.lab.host(2).cut().expect("cut c");
    let moved = wait_spread(h.node(0), "web", &[("a", 3), ("b", 3)]);
    let (ok, failed, slowest) = load.finish();
    println!(
        "host c cut off: its instances serve on a and b after {:.1} s (lease 5 s + grace {GRACE}); through a and b: {ok} ok, {failed} failed, slowest {slowest} ms",
        moved.as_secs_f64()
    );
    assert_eq!(failed, 0, "requests through the connected gateways failed");

    // c comes back: its two old instances were placed elsewhere, so it stops them.
    let c_pids = Platform::registered_pids(h.node(2).dir());
    assert_eq!(c_pids.len(), 2, "c ran two instances");
    let healed = Instant::now();
    h.lab.host(2).heal().expect("heal c");
    wait_until("c to stop its copies", SETTLE, || {
        c_pids
            .iter()
            .all(|p| !shoal_testkit::pid_alive(*p))
            .then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: c's log: {}", h.node(2).stderr()));
    let stopped = healed.elapsed();
    // No duplicates: six instances in all, none on c, the same from every node.
    for i in 0..3 {
        let seen = wait_until("six instances, none on c", SETTLE, || {
            let got = per_node(h.node(i), "web");
            (got.values().sum::<usize>() == 6 && !got.contains_key("c")).then_some(got)
        })
        .unwrap_or_else(|e| panic!("{e}: {:?}", h.node(i).instances("web")));
        assert_eq!(seen.len(), 2, "{seen:?}");
    }
    println!(
        "host c back: it stopped its 2 copies {:.1} s after its link came up",
        stopped.as_secs_f64()
    );
}

#[test]
fn one_etcd_member_lost_changes_nothing_and_quorum_lost_keeps_traffic_and_refuses_deploys() {
    let mut h = Hosts::start();
    deployed(h.node(0), &service_file("1", 3));
    wait_spread(h.node(0), "web", &[("a", 1), ("b", 1), ("c", 1)]);
    let gateways: Vec<_> = (0..3).map(|i| h.node(i).gateway).collect();

    // One member down: deploys and traffic as before.
    h.etcd.stop_member(2);
    deployed(h.node(0), &service_file("1", 6));
    wait_spread(h.node(1), "web", &[("a", 2), ("b", 2), ("c", 2)]);

    // Quorum lost: every gateway still serves with the routes it had.
    let load = Load::start(&gateways);
    h.etcd.stop_member(1);
    let refused = deploy(h.node(0), &service_file("1", 3));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&refused.stdout),
        String::from_utf8_lossy(&refused.stderr)
    );
    assert!(
        !refused.status.success(),
        "a deploy without quorum was accepted: {said}"
    );
    assert!(
        said.contains("store"),
        "the refusal names the store: {said}"
    );
    // Every node still answers `shoal status` from what it had, and says why.
    let status = h.node(2).cli(&["status"]).expect("shoal status");
    let text = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.status.success(),
        "{}",
        String::from_utf8_lossy(&status.stderr)
    );
    assert!(
        text.contains("the store is unreachable") && text.contains("web"),
        "{text}"
    );
    let (ok, failed, slowest) = load.finish();
    println!(
        "etcd without quorum: deploy refused ({}); through all three gateways: {ok} ok, {failed} failed, slowest {slowest} ms",
        said.lines().last().unwrap_or("")
    );
    assert_eq!(failed, 0, "the gateways stopped serving without etcd");

    // Quorum back: deploys work again.
    h.etcd.start_member(1).expect("member 1 back");
    h.etcd.start_member(2).expect("member 2 back");
    wait_until("a deploy to be accepted", SETTLE, || {
        deploy(h.node(0), &service_file("1", 3))
            .status
            .success()
            .then_some(())
    })
    .expect("deploys resume");
    wait_spread(h.node(2), "web", &[("a", 1), ("b", 1), ("c", 1)]);
}

#[test]
fn the_leader_s_host_dying_mid_deploy_hands_the_deployment_to_a_new_leader() {
    let mut h = Hosts::start();
    deployed(h.node(0), &service_file("1", 3));
    wait_spread(h.node(0), "web", &[("a", 1), ("b", 1), ("c", 1)]);
    let nodes = h
        .node(0)
        .api("GET", "/api/v1/nodes", None)
        .expect("nodes")
        .json();
    let leader = nodes["leader"]["node"].as_str().unwrap_or("").to_string();
    let dead = ["a", "b", "c"]
        .iter()
        .position(|n| *n == leader)
        .unwrap_or_else(|| panic!("no leader: {nodes}"));
    let alive: Vec<usize> = (0..3).filter(|i| *i != dead).collect();
    let load = Load::start(&alive.iter().map(|i| h.node(*i).gateway).collect::<Vec<_>>());

    deployed(h.node(alive[0]), &service_file("2", 3));
    // The rollout is under way (a v2 instance serves), then the leader's host dies with
    // its instances (and its etcd member: two of three keep quorum).
    wait_until("the rollout to begin", SETTLE, || {
        h.node(alive[0])
            .instances("web")
            .iter()
            .any(|i| i["version"] == "2" && i["health"] == "passing")
            .then_some(())
    })
    .expect("rollout");
    let pids = Platform::registered_pids(h.node(dead).dir());
    if let Some(mut p) = h.nodes[dead].take() {
        p.kill9();
    }
    for pid in pids {
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid as i32),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    h.etcd.stop_member(dead);

    let survivor = h.node(alive[0]);
    let done = wait_until("the deployment to succeed", Duration::from_secs(90), || {
        let d = survivor
            .api("GET", "/api/v1/deployments/web", None)
            .ok()?
            .json();
        let all = survivor.instances("web");
        let v2 = all
            .iter()
            .filter(|i| i["version"] == "2" && i["health"] == "passing")
            .count();
        (d["status"] == "succeeded" && v2 == 3 && all.len() == 3).then_some(d)
    })
    .unwrap_or_else(|e| {
        panic!(
            "{e}: {:?} {}",
            survivor.instances("web"),
            survivor
                .api("GET", "/api/v1/deployments/web", None)
                .map(|r| r.json())
                .unwrap_or(Value::Null)
        )
    });
    let (ok, failed, slowest) = load.finish();
    let now = survivor
        .api("GET", "/api/v1/nodes", None)
        .expect("nodes")
        .json();
    println!(
        "leader {leader} died mid-deploy; new leader {}; deployment {} {}; through the surviving gateways: {ok} ok, {failed} failed, slowest {slowest} ms",
        now["leader"]["node"], done["id"], done["status"]
    );
    assert_ne!(now["leader"]["node"], leader.as_str());
    assert_eq!(failed, 0, "requests through the surviving gateways failed");
}
