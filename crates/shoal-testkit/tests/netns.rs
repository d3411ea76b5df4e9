//! The network-namespace lab: hosts reach each other and the test process, `cut`/`heal` take a
//! host off the network and back, `Drop` leaves nothing behind, stale labs are swept, and a
//! three-member etcd cluster across three hosts survives one host cut off.
//! Needs root and iproute2 (and etcd, etcdctl, python3, curl).

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use shoal_testkit::netns::{Host, Lab, LabChild};
use shoal_testkit::{pid_alive, request, wait_until, EtcdCluster};

const ETCDCTL: &str = "/usr/bin/etcdctl";

/// Starts `python3 -m http.server` on `host`'s address, port 8000, and waits until it accepts.
fn http_server(host: &Host) -> LabChild {
    let mut cmd = host.command("python3");
    cmd.args(["-m", "http.server", "--bind", &host.ip.to_string(), "8000"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let child = host.spawn(&mut cmd).expect("start http.server");
    host.wait_port(8000, Duration::from_secs(20))
        .expect("http.server listening");
    child
}

/// Whether the test process (root namespace) connects to `addr` within 500 ms.
fn root_reaches(addr: SocketAddr) -> bool {
    TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok()
}

/// The names in `ip netns list` and `ip -o link` (root namespace).
fn listing() -> BTreeSet<String> {
    let run = |args: &[&str]| {
        let out = Command::new("ip").args(args).output().expect("run ip");
        assert!(out.status.success(), "ip {args:?} failed");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let mut names: BTreeSet<String> = run(&["netns", "list"])
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .map(|n| format!("netns {n}"))
        .collect();
    names.extend(
        run(&["-o", "link"])
            .lines()
            .filter_map(|l| l.split(':').nth(1))
            .map(|n| format!("link {}", n.trim().split('@').next().unwrap_or_default())),
    );
    names
}

/// The owner pid encoded in a lab name (`netns shoal-PPPPPP-..`, `link sbPPPPPP-..`,
/// `link svPPPPPP-..`, `link spPPPPPP-..`).
fn lab_owner(entry: &str) -> Option<u32> {
    let pid = entry
        .strip_prefix("netns shoal-")
        .or_else(|| entry.strip_prefix("link sb"))
        .or_else(|| entry.strip_prefix("link sv"))
        .or_else(|| entry.strip_prefix("link sp"))?;
    u32::from_str_radix(pid.get(..6)?, 16).ok()
}

#[test]
fn hosts_reach_each_other_and_the_test_process_reaches_them() {
    let start = Instant::now();
    let lab = Lab::new(2).expect("lab");
    let (h0, h1) = (lab.host(0), lab.host(1));
    let [a, b, k, _] = lab.bridge_ip().octets();
    assert_eq!([a, b], [10, 213]);
    assert_eq!(h0.ip.octets(), [10, 213, k, 1]);
    assert_eq!(h1.ip.octets(), [10, 213, k, 2]);
    assert_eq!(lab.subnet(), format!("10.213.{k}.0/24"));
    let _server = http_server(h0);
    let url = format!("http://{}/", h0.addr(8000));

    // From host 1, by a program run in its namespace.
    let out = h1
        .command("curl")
        .args([
            "-sS",
            "--max-time",
            "5",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ])
        .arg(&url)
        .output()
        .expect("run curl in host 1");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "200",
        "curl from host 1: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    // From host 1, by a socket the test process made inside its namespace.
    let mut stream = h1
        .connect(h0.addr(8000), Duration::from_secs(5))
        .expect("connect from host 1");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");
    stream
        .write_all(b"GET / HTTP/1.0\r\nHost: h0\r\n\r\n")
        .expect("send");
    let mut reply = String::new();
    stream.read_to_string(&mut reply).expect("read reply");
    assert!(reply.starts_with("HTTP/1.0 200"), "{reply}");

    // From the root namespace, through the bridge.
    let resp = request(h0.addr(8000), "GET", "/", None, None).expect("GET from root");
    assert_eq!(resp.status, 200);

    // Each host has its own network stack: host 1's loopback has no server on 8000, and the
    // server (bound to host 0's address) is not in the root namespace's loopback either.
    assert!(!h1.reaches(
        "127.0.0.1:8000".parse().expect("addr"),
        Duration::from_secs(1)
    ));
    assert!(h0.reaches(h0.addr(8000), Duration::from_secs(1)));
    eprintln!("reach test took {:?}", start.elapsed());
}

#[test]
fn cut_takes_a_host_off_the_network_and_heal_brings_it_back() {
    let lab = Lab::new(2).expect("lab");
    let (h0, h1) = (lab.host(0), lab.host(1));
    let _server = http_server(h0);
    // A listener in host 1 made by the test process itself (the backlog accepts without
    // `accept`), so the cut host's own outgoing traffic can be checked too.
    let listener = h1
        .enter(|| TcpListener::bind(h1.addr(9000)))
        .expect("enter host 1")
        .expect("bind in host 1");
    let timeout = Duration::from_millis(500);
    assert!(h1.reaches(h0.addr(8000), timeout));
    assert!(root_reaches(h0.addr(8000)));
    assert!(h0.reaches(h1.addr(9000), timeout));
    assert!(!h0.is_cut().expect("is_cut"));

    let cut_at = Instant::now();
    h0.cut().expect("cut host 0");
    assert!(h0.is_cut().expect("is_cut"));
    wait_until("host 0 unreachable", Duration::from_secs(5), || {
        (!h1.reaches(h0.addr(8000), timeout)
            && !root_reaches(h0.addr(8000))
            && !h0.reaches(h1.addr(9000), timeout))
        .then_some(())
    })
    .expect("host 0 cut off from host 1, the test process, and itself out");
    let cut_took = cut_at.elapsed();
    // Still cut a moment later (not a transient).
    assert!(!h1.reaches(h0.addr(8000), timeout));
    assert!(!root_reaches(h0.addr(8000)));

    let heal_at = Instant::now();
    h0.heal().expect("heal host 0");
    assert!(!h0.is_cut().expect("is_cut"));
    wait_until("host 0 reachable again", Duration::from_secs(10), || {
        (h1.reaches(h0.addr(8000), timeout)
            && root_reaches(h0.addr(8000))
            && h0.reaches(h1.addr(9000), timeout))
        .then_some(())
    })
    .expect("host 0 back on the network");
    let resp = request(h0.addr(8000), "GET", "/", None, None).expect("GET after heal");
    assert_eq!(resp.status, 200);
    eprintln!(
        "cut seen in {cut_took:?}, heal seen in {:?}",
        heal_at.elapsed()
    );
    drop(listener);
}

#[test]
fn drop_leaves_no_namespace_link_or_process_behind() {
    let me = std::process::id();
    let before = listing();
    assert!(
        before.iter().all(|e| lab_owner(e) != Some(me)),
        "this process has no lab yet"
    );
    let lab = Lab::new(2).expect("lab");
    let owned = lab.owned_names();
    assert_eq!(
        owned.len(),
        1 + 2 * 2,
        "bridge + (namespace, veth) per host: {owned:?}"
    );
    let during = listing();
    for name in &owned {
        assert!(
            during.contains(&format!("netns {name}")) || during.contains(&format!("link {name}")),
            "{name} exists while the lab lives"
        );
    }

    // A tracked process, a grandchild it leaves behind, and an untracked process that made
    // its own session: all must die with the lab.
    let mut tracked = lab
        .host(0)
        .spawn(lab.host(0).command("sleep").arg("1000"))
        .expect("spawn sleep");
    let out = lab
        .host(1)
        .command("sh")
        .args(["-c", "sleep 1000 >/dev/null 2>&1 & echo $!"])
        .output()
        .expect("run sh");
    let orphan: u32 = String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .expect("orphan pid");
    let mut untracked = Command::new("ip")
        .args(["netns", "exec", &lab.host(1).ns, "setsid", "sleep", "1000"])
        .spawn()
        .expect("spawn untracked");
    let (tracked_pid, untracked_pid) = (tracked.id(), untracked.id());
    wait_until("processes running", Duration::from_secs(5), || {
        (pid_alive(tracked_pid) && pid_alive(orphan) && pid_alive(untracked_pid)).then_some(())
    })
    .expect("processes started");

    let drop_at = Instant::now();
    drop(lab);
    let drop_took = drop_at.elapsed();

    let status = tracked.wait().expect("wait tracked");
    assert_eq!(
        status.signal(),
        Some(9),
        "tracked process SIGKILLed: {status:?}"
    );
    let status = untracked.wait().expect("wait untracked");
    assert_eq!(
        status.signal(),
        Some(9),
        "untracked process SIGKILLed: {status:?}"
    );
    // The orphan was reparented away from us: it may linger as a zombie for a moment.
    wait_until("orphan gone", Duration::from_secs(5), || {
        (!pid_alive(orphan)).then_some(())
    })
    .expect("the orphaned grandchild was killed");

    let after = listing();
    for name in &owned {
        assert!(
            !after.contains(&format!("netns {name}")) && !after.contains(&format!("link {name}")),
            "{name} removed"
        );
    }
    // Equal to the listing before, except for labs of other (parallel) test processes.
    let changed: Vec<&String> = before.symmetric_difference(&after).collect();
    assert!(
        changed
            .iter()
            .all(|e| lab_owner(e).is_some_and(|pid| pid != me)),
        "only other processes' labs came or went: {changed:?}"
    );
    eprintln!("drop took {drop_took:?}");
}

#[test]
fn sweep_removes_labs_whose_owner_is_dead() {
    // A live lab of this process must survive the sweep (made first: `Lab::new` sweeps too).
    let lab = Lab::new(1).expect("lab");
    // A pid above any possible pid_max (4194304): its owner is certainly dead.
    let dead = 0xff_fffe_u32;
    let k = format!("{:02x}", std::process::id() % 256);
    let ns = format!("shoal-{dead:06x}-{k}-h0");
    let bridge = format!("sb{dead:06x}-{k}");
    let veth = format!("sv{dead:06x}-{k}-00");
    let peer = format!("sp{dead:06x}-{k}-00");
    let ip = |args: &[&str]| {
        let out = Command::new("ip").args(args).output().expect("run ip");
        assert!(
            out.status.success(),
            "ip {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    // The process enters its namespace before the namespace gets its lab name, so a sweep
    // (ours or a parallel test process's) never sees the name without the process inside.
    let mut inside = Command::new("unshare")
        .args(["--net", "sleep", "1000"])
        .spawn()
        .expect("spawn in a new namespace");
    let pid = inside.id();
    wait_until("unshare exec'd sleep", Duration::from_secs(5), || {
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        (comm.trim() == "sleep").then_some(())
    })
    .expect("sleep running in its namespace");
    ip(&["netns", "attach", &ns, &pid.to_string()]);
    // No `master` step: a parallel test process's sweep may remove the bridge at any moment.
    ip(&["link", "add", "name", &bridge, "type", "bridge"]);
    ip(&["link", "add", &veth, "type", "veth", "peer", "name", &peer]);

    let removed = Lab::sweep_stale().expect("sweep");
    eprintln!("swept: {removed:?}");
    let after = listing();
    for name in [&ns, &bridge, &veth, &peer] {
        assert!(
            !after.contains(&format!("netns {name}")) && !after.contains(&format!("link {name}")),
            "{name} swept"
        );
    }
    for name in lab.owned_names() {
        assert!(
            after.contains(&format!("netns {name}")) || after.contains(&format!("link {name}")),
            "live lab's {name} kept"
        );
    }
    let status = wait_until(
        "the stale namespace's process dead",
        Duration::from_secs(5),
        || inside.try_wait().expect("try_wait"),
    );
    if status.is_err() {
        let _ = inside.kill();
        let _ = inside.wait();
    }
    let status = status.expect("process in the stale namespace killed");
    assert_eq!(status.signal(), Some(9), "killed by SIGKILL: {status:?}");
}

/// Runs `etcdctl` against `endpoints` with short timeouts; its stdout, or its stderr.
fn etcdctl(endpoints: &[String], args: &[&str]) -> Result<String, String> {
    let out = Command::new(ETCDCTL)
        .arg(format!("--endpoints={}", endpoints.join(",")))
        .args(["--dial-timeout=1s", "--command-timeout=2s"])
        .args(args)
        .env("ETCDCTL_API", "3")
        .output()
        .map_err(|e| format!("cannot run {ETCDCTL}: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The index (into `endpoints`) of the member that `endpoints` agree is the leader.
fn leader(endpoints: &[String]) -> Option<usize> {
    let out = etcdctl(endpoints, &["endpoint", "status", "-w", "json"]).ok()?;
    let status: serde_json::Value = serde_json::from_str(&out).ok()?;
    let status = status.as_array()?;
    let leader = status.first()?["Status"]["leader"].as_u64()?;
    let agree = status
        .iter()
        .all(|s| s["Status"]["leader"].as_u64() == Some(leader));
    let idx = status
        .iter()
        .position(|s| s["Status"]["header"]["member_id"].as_u64() == Some(leader))?;
    let ep = status[idx]["Endpoint"].as_str()?;
    agree
        .then(|| endpoints.iter().position(|e| e == ep))
        .flatten()
}

#[test]
fn etcd_across_three_hosts_serves_and_survives_its_leaders_host_cut_off() {
    let start = Instant::now();
    let lab = Lab::new(3).expect("lab");
    let mut etcd = EtcdCluster::start_in(&lab, &[0, 1, 2]).expect("etcd in the lab");
    let endpoints = etcd.endpoints();
    for (i, ep) in endpoints.iter().enumerate() {
        assert_eq!(ep, &format!("http://{}:2379", lab.host(i).ip));
    }
    assert!(etcd
        .url()
        .starts_with(&format!("etcd://{}:2379,", lab.host(0).ip)));
    let up_took = start.elapsed();

    etcdctl(&endpoints, &["put", "/lab/a", "1"]).expect("put");
    let got = etcdctl(&endpoints, &["get", "/lab/a", "--print-value-only"]).expect("get");
    assert_eq!(got.trim(), "1");
    let old = wait_until("a leader", Duration::from_secs(10), || leader(&endpoints))
        .expect("the three members agree on a leader");

    // Cut the leader's host: the other two elect a new leader and keep serving.
    let cut_at = Instant::now();
    lab.host(old).cut().expect("cut the leader's host");
    let rest: Vec<String> = (0..3)
        .filter(|&i| i != old)
        .map(|i| endpoints[i].clone())
        .collect();
    wait_until(
        "writes through the two remaining members",
        Duration::from_secs(20),
        || etcdctl(&rest, &["put", "/lab/b", "2"]).ok(),
    )
    .expect("the cluster serves writes with one host cut off");
    let failover_took = cut_at.elapsed();
    let got = etcdctl(&rest, &["get", "/lab/a", "--print-value-only"]).expect("get");
    assert_eq!(got.trim(), "1");
    let new = wait_until("a new leader", Duration::from_secs(10), || leader(&rest))
        .expect("the two remaining members agree on a leader");
    assert_ne!(
        rest[new], endpoints[old],
        "the cut member is not the leader"
    );
    // The cut member cannot be reached from the test process.
    assert!(etcdctl(&endpoints[old..=old], &["get", "/lab/a"]).is_err());

    // Heal: the member rejoins and catches up.
    let heal_at = Instant::now();
    lab.host(old).heal().expect("heal");
    etcd.wait_healthy(old)
        .expect("the healed member is healthy");
    let caught_up = wait_until(
        "the healed member caught up",
        Duration::from_secs(20),
        || {
            let got = etcdctl(
                &endpoints[old..=old],
                &["get", "/lab/b", "--print-value-only", "--consistency=s"],
            )
            .ok()?;
            (got.trim() == "2").then_some(())
        },
    );
    caught_up.expect("the healed member serves the write made while it was cut off");
    eprintln!(
        "etcd up in {up_took:?}; failover after cutting the leader's host in {failover_took:?}; \
         rejoin in {:?}",
        heal_at.elapsed()
    );
}

#[test]
fn local_etcd_is_unchanged_by_the_lab_support() {
    let etcd = shoal_testkit::Etcd::start().expect("local etcd");
    let ep = etcd.endpoint();
    assert!(ep.starts_with("http://127.0.0.1:"), "{ep}");
    assert_eq!(etcd.url(), format!("etcd://{}", &ep["http://".len()..]));
    etcdctl(std::slice::from_ref(&ep), &["put", "/local", "x"]).expect("put");
    let got = etcdctl(&[ep], &["get", "/local", "--print-value-only"]).expect("get");
    assert_eq!(got.trim(), "x");
}
