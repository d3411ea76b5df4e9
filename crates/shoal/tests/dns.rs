//! Consul-compatible DNS of a real fleet, asked with the real `dig` over UDP and TCP:
//! A and SRV answers, versions, nodes, NXDOMAIN, unhealthy instances left out, truncation
//! over UDP with the full answer over TCP, and a flood of garbage packets.

mod common;

use std::collections::BTreeSet;
use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

use common::{web_service, APP, BIN, HEALTHY};
use shoal_testkit::{wait_until, Platform};

/// Runs `dig @DNS -p PORT ARGS` and returns its standard output.
fn dig(p: &Platform, args: &[&str]) -> String {
    let out = Command::new("dig")
        .arg(format!("@{}", p.dns.ip()))
        .args(["-p", &p.dns.port().to_string(), "+time=2", "+tries=1"])
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run `dig` ({e}); these tests use the real client: \
                 install it with `apt-get install -y dnsutils` (scripts/test does)"
            )
        });
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `dig ... +short` lines, sorted.
fn short(p: &Platform, args: &[&str]) -> Vec<String> {
    let mut a = args.to_vec();
    a.push("+short");
    let mut lines: Vec<String> = dig(p, &a).lines().map(str::to_owned).collect();
    lines.sort();
    lines
}

fn flags(out: &str) -> String {
    out.lines()
        .find(|l| l.starts_with(";; flags:"))
        .unwrap_or("")
        .to_owned()
}

const MANY: u32 = 40;

fn services() -> String {
    format!(
        r#"{web}
[services.bad]
command = ["python3", "app.py"]

[services.bad.health]
exec = ["sh", "-c", "exit 2"]   # 2: critical (1 would be warning, still served)
interval = "200ms"
grace = "0s"
unhealthy_threshold = 1

[services.many]
command = ["sleep", "1000"]
instances = {MANY}
"#,
        web = web_service("web", 2)
    )
}

#[test]
fn dig_resolves_the_fleet_over_udp_and_tcp() {
    let p = Platform::builder(BIN)
        .file("app.py", APP)
        .services(&services())
        .start()
        .expect("start");
    let web = p.wait_healthy("web", 2, HEALTHY).expect("web healthy");
    let ports: BTreeSet<String> = web.iter().map(|i| i["port"].to_string()).collect();
    let node = web[0]["node"].as_str().unwrap_or("").to_lowercase();

    // A: both instances share 127.0.0.1, answered once (as Consul dedups).
    let a = wait_until("web A answer", Duration::from_secs(10), || {
        let a = short(&p, &["web.service.consul", "A"]);
        (!a.is_empty()).then_some(a)
    })
    .expect("dns answers");
    assert_eq!(a, vec!["127.0.0.1"]);
    assert_eq!(short(&p, &["web.service.shoal", "A"]), vec!["127.0.0.1"]);
    assert_eq!(
        short(&p, &["web.service.dc1.shoal", "A"]),
        vec!["127.0.0.1"]
    );

    // SRV in both forms, over UDP and TCP: one record per instance port.
    for args in [
        &["web.service.consul", "SRV"][..],
        &["_web._tcp.service.consul", "SRV"],
        &["web.service.consul", "SRV", "+tcp"],
        &["1.web.service.consul", "SRV"],
    ] {
        let srv = short(&p, args);
        assert_eq!(srv.len(), 2, "{args:?}: {srv:?}");
        let got: BTreeSet<String> = srv
            .iter()
            .filter_map(|l| l.split_whitespace().nth(2).map(str::to_owned))
            .collect();
        assert_eq!(got, ports, "{args:?}");
        for l in &srv {
            assert!(l.starts_with("1 1 "), "priority and weight 1: {l}");
            let target = l.split_whitespace().nth(3).unwrap_or("");
            assert!(
                target == format!("{node}.node.dc1.consul.")
                    || target.ends_with(".addr.dc1.consul."),
                "{l}"
            );
        }
    }
    let full = dig(&p, &["web.service.consul", "SRV"]);
    assert!(full.contains("status: NOERROR"), "{full}");
    assert!(
        full.contains(";; ADDITIONAL SECTION:"),
        "targets resolved: {full}"
    );

    // Nodes answer their address; unknown names are NXDOMAIN with a SOA; others refused.
    assert_eq!(
        short(&p, &[&format!("{node}.node.consul"), "A"]),
        vec!["127.0.0.1"]
    );
    for name in ["nope.service.consul", "9.web.service.consul", "what.consul"] {
        let out = dig(&p, &[name, "A"]);
        assert!(out.contains("status: NXDOMAIN"), "{name}: {out}");
        assert!(
            out.contains("AUTHORITY: 1"),
            "{name}: SOA in authority: {out}"
        );
    }
    assert!(dig(&p, &["example.com", "A"]).contains("status: REFUSED"));

    // A service whose only instance fails its check is never answered.
    wait_until("bad to be critical", HEALTHY, || {
        let i = p.instances("bad");
        (i.len() == 1 && i[0]["health"] == "critical").then_some(())
    })
    .expect("bad critical");
    let out = dig(&p, &["bad.service.consul", "A"]);
    assert!(out.contains("status: NXDOMAIN"), "{out}");
    assert!(short(&p, &["bad.service.consul", "SRV", "+tcp"]).is_empty());

    // 40 SRV records do not fit 512 bytes: TC over UDP, everything over TCP.
    p.wait_healthy("many", MANY as usize, HEALTHY)
        .expect("many healthy");
    let all = wait_until("40 SRV answers over TCP", Duration::from_secs(10), || {
        let srv = short(&p, &["many.service.consul", "SRV", "+tcp"]);
        (srv.len() == MANY as usize).then_some(srv)
    })
    .expect("full answer over TCP");
    let distinct: BTreeSet<&String> = all.iter().collect();
    assert_eq!(distinct.len(), MANY as usize);
    let udp = dig(&p, &["many.service.consul", "SRV", "+noedns", "+ignore"]);
    let f = flags(&udp);
    assert!(f.contains(" tc"), "truncated over UDP: {f}\n{udp}");
    assert!(f.contains("qr aa"), "{f}");
    let answered = udp
        .lines()
        .filter(|l| l.contains("\tSRV\t") || l.contains(" SRV "))
        .filter(|l| !l.starts_with(';'))
        .count();
    assert!(
        answered > 0 && answered < MANY as usize,
        "{answered}: {udp}"
    );
    // Without +ignore, dig retries over TCP by itself and gets every record.
    assert_eq!(
        short(&p, &["many.service.consul", "SRV", "+noedns"]).len(),
        MANY as usize
    );
}

#[test]
fn garbage_packets_do_not_stop_dns() {
    let mut p = Platform::builder(BIN)
        .file("app.py", APP)
        .services(&web_service("web", 1))
        .start()
        .expect("start");
    p.wait_healthy("web", 1, HEALTHY).expect("healthy");
    let sock = UdpSocket::bind("127.0.0.1:0").expect("udp socket");
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    for i in 0..1000usize {
        let len = (i * 7) % 600;
        let bytes: Vec<u8> = (0..len)
            .map(|_| {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed >> 24) as u8
            })
            .collect();
        let _ = sock.send_to(&bytes, p.dns);
    }
    // A dig that timed out (the flood still queued on a loaded machine) prints
    // only `;;` comment lines: that is no answer, so ask again.
    let a = wait_until("an answer after the flood", Duration::from_secs(10), || {
        let a: Vec<String> = short(&p, &["web.service.shoal", "A"])
            .into_iter()
            .filter(|l| !l.is_empty() && !l.starts_with(';'))
            .collect();
        (!a.is_empty()).then_some(a)
    })
    .expect("dns still answers");
    assert_eq!(a, vec!["127.0.0.1"]);
    assert!(
        matches!(p.child.try_wait(), Ok(None)),
        "shoal still running"
    );
}
