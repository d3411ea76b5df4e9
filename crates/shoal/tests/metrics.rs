//! Metrics end to end: the real PyPI `statsd` client and raw UDP into Shoal's StatsD
//! server, proxy and instance metrics, `/metrics` checked by `promtool`, and the query API.

mod common;

use std::io::Write;
use std::net::UdpSocket;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{metric_value, metrics_text, web_service, APP, BIN, HEALTHY};
use shoal_testkit::{wait_until, Platform};

/// Sends every StatsD type with the `statsd` client library (UDP and TCP).
const CLIENT: &str = r#"
import random, sys, statsd
random.random = lambda: 0.0   # sampled calls are always sent (still tagged @rate)
host, port = sys.argv[1], int(sys.argv[2])
c = statsd.StatsClient(host, port, prefix="app")
c.incr("logins")
c.incr("logins", 4)
c.incr("sampled", 1, rate=0.5)
c.gauge("queue", 10)
c.gauge("queue", 5, delta=True)
c.gauge("queue", -3, delta=True)
for ms in (100, 200, 300):
    c.timing("latency", ms)
c.set("users", "ada")
c.set("users", "bob")
c.set("users", "ada")
with c.pipeline() as p:
    p.incr("piped", 2)
    p.incr("piped", 3)
t = statsd.TCPStatsClient(host, port, prefix="tcp")
t.incr("hits", 3)
t.close()
print("sent")
"#;

/// A service that reports to the StatsD address Shoal hands it.
const EMITTER: &str = r#"
import os, time, statsd
c = statsd.StatsClient(os.environ["STATSD_HOST"], int(os.environ["STATSD_PORT"]))
while True:
    c.incr("emitter.ticks")
    time.sleep(0.2)
"#;

fn wait_value(p: &Platform, series: &str, ok: impl Fn(f64) -> bool) -> f64 {
    let got = wait_until(series, Duration::from_secs(20), || {
        metric_value(&metrics_text(p), series).filter(|v| ok(*v))
    });
    match got {
        Ok(v) => v,
        Err(e) => panic!(
            "{e}; last value {:?}; /metrics:\n{}",
            metric_value(&metrics_text(p), series),
            metrics_text(p)
        ),
    }
}

fn promtool_check(text: &str) {
    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => panic!("promtool is needed to check /metrics ({e}): apt-get install -y prometheus (scripts/test installs it)"),
    };
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(text.as_bytes()).expect("write to promtool");
    }
    let out = child.wait_with_output().expect("promtool runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "promtool check metrics failed:\n{report}\n/metrics:\n{text}"
    );
    println!(
        "promtool check metrics: ok ({} lines checked)",
        text.lines().count()
    );
}

#[test]
fn statsd_proxy_and_instance_metrics_are_exposed_and_queryable() {
    let p = Platform::builder(BIN)
        .env("SHOAL_STATSD_FLUSH_MS", "300")
        .file("app.py", APP)
        .file("client.py", CLIENT)
        .file("emitter.py", EMITTER)
        .services(&format!(
            "{}\n[services.emitter]\ncommand = [\"python3\", \"emitter.py\"]\n",
            web_service("web", 2)
        ))
        .start()
        .expect("start");
    assert_ne!(
        p.statsd.port(),
        0,
        "the bound StatsD address is in endpoints.json"
    );
    p.wait_healthy("web", 2, HEALTHY).expect("web healthy");

    // The real client library, UDP and TCP.
    let out = Command::new("python3")
        .arg("client.py")
        .arg(p.statsd.ip().to_string())
        .arg(p.statsd.port().to_string())
        .current_dir(p.dir())
        .output()
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "the statsd client failed (pip install statsd): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // One raw packet: several lines, garbage among them.
    let udp = UdpSocket::bind("127.0.0.1:0").expect("udp");
    udp.send_to(
        b"raw.ok:1|c\ngarbage\nraw.temp:2|g|#zone:eu,env:test\n:1|c\nraw.unknown:1|x\nraw.sizes:1:2:3|d\n",
        p.statsd,
    )
    .expect("send");

    assert_eq!(wait_value(&p, "statsd_app_logins_total", |v| v >= 5.0), 5.0);
    // The raw packet went after the client's lines and may land in the next
    // flush interval: wait for it too before reading one exposition.
    assert_eq!(wait_value(&p, "statsd_raw_ok_total", |v| v >= 1.0), 1.0);
    let text = metrics_text(&p);
    let v = |s: &str| metric_value(&text, s);
    assert_eq!(
        v("statsd_app_sampled_total"),
        Some(2.0),
        "a counter sent @0.5 counts double"
    );
    assert_eq!(v("statsd_app_piped_total"), Some(5.0));
    assert_eq!(v("statsd_app_queue"), Some(12.0), "gauge 10, +5, -3");
    assert_eq!(v("statsd_app_users"), Some(2.0), "distinct set members");
    assert_eq!(v("statsd_app_latency_count"), Some(3.0));
    let p50 = v("statsd_app_latency{quantile=\"0.5\"}").unwrap_or(0.0);
    assert!((p50 - 0.2).abs() < 0.004, "timers in seconds, p50 {p50}");
    assert_eq!(v("statsd_raw_ok_total"), Some(1.0));
    assert_eq!(
        v("statsd_raw_temp{env=\"test\",zone=\"eu\"}"),
        Some(2.0),
        "tags are labels"
    );
    assert_eq!(
        v("statsd_raw_sizes_count"),
        Some(3.0),
        "multi-value distribution"
    );
    let bad = wait_value(&p, "statsd_tcp_hits_total", |v| v >= 3.0);
    assert_eq!(bad, 3.0, "TCP lines");
    assert!(
        metric_value(&metrics_text(&p), "shoal_statsd_bad_lines_total").is_some_and(|b| b >= 3.0)
    );
    // The service got the bound StatsD address in STATSD_HOST / STATSD_PORT.
    wait_value(&p, "statsd_emitter_ticks_total", |v| v >= 1.0);

    // Proxy metrics after gateway requests.
    for _ in 0..10 {
        let r = p.gateway("web", "/x").expect("gateway");
        assert_eq!(r.status, 200);
    }
    let ok = "shoal_requests_total{service=\"web\",version=\"1\",code=\"200\",caller=\"gateway\"}";
    assert_eq!(wait_value(&p, ok, |v| v >= 10.0), 10.0);
    let text = metrics_text(&p);
    assert_eq!(
        metric_value(
            &text,
            "shoal_request_duration_seconds_count{service=\"web\",version=\"1\"}"
        ),
        Some(10.0)
    );
    assert_eq!(
        metric_value(
            &text,
            "shoal_request_duration_seconds_bucket{service=\"web\",version=\"1\",le=\"+Inf\"}"
        ),
        Some(10.0)
    );

    // Instances: counts by state and /proc statistics.
    let running = "shoal_instances{service=\"web\",version=\"1\",state=\"running\"}";
    assert_eq!(wait_value(&p, running, |v| v == 2.0), 2.0);
    let web = p.instances("web");
    for i in &web {
        let id = i["id"].as_str().unwrap_or_default();
        let mem = format!(
            "shoal_instance_memory_bytes{{service=\"web\",version=\"1\",instance=\"{id}\"}}"
        );
        let bytes = wait_value(&p, &mem, |v| v > 0.0);
        println!("{mem} = {bytes}");
        let cpu = format!(
            "shoal_instance_cpu_seconds_total{{service=\"web\",version=\"1\",instance=\"{id}\"}}"
        );
        assert!(metric_value(&metrics_text(&p), &cpu).is_some(), "{cpu}");
    }

    // The whole exposition is valid for Prometheus.
    promtool_check(&metrics_text(&p));

    // The query API reads the store.
    let q = |path: &str| {
        let r = p.api("GET", path, None).expect("query");
        (r.status, r.json())
    };
    let (status, body) =
        q("/api/v1/metrics/query?name=statsd_app_logins_total&since=5m&step=1m&agg=sum");
    assert_eq!(status, 200, "{body}");
    let total: f64 = body["series"][0]["points"]
        .as_array()
        .map(|pts| pts.iter().filter_map(|p| p[1].as_f64()).sum())
        .unwrap_or(0.0);
    assert_eq!(total, 5.0, "{body}");
    let requests = wait_until("10 requests in the store", Duration::from_secs(10), || {
        let (_, body) = q("/api/v1/metrics/query?name=shoal_requests_total&labels=service=web,code=200&since=5m&step=1m&agg=count&by=version");
        let n: f64 = body["series"][0]["points"].as_array()?.iter().filter_map(|p| p[1].as_f64()).sum();
        (n == 10.0).then_some(body)
    })
    .expect("requests queryable");
    assert_eq!(requests["series"][0]["labels"]["version"], "1");
    let (status, body) = q("/api/v1/metrics/query?name=shoal_request_duration_seconds&labels=service=web&since=5m&step=1m&agg=p95");
    assert_eq!(status, 200);
    assert!(
        body["series"][0]["points"]
            .as_array()
            .is_some_and(|p| p.iter().any(|x| x[1].as_f64().is_some_and(|v| v > 0.0))),
        "{body}"
    );
    let (status, body) = q("/api/v1/metrics/names");
    assert_eq!(status, 200);
    let names: Vec<&str> = body["names"]
        .as_array()
        .map(|a| a.iter().filter_map(|n| n["name"].as_str()).collect())
        .unwrap_or_default();
    for n in [
        "shoal_instances",
        "shoal_instance_memory_bytes",
        "statsd_app_latency",
        "shoal_requests_total",
    ] {
        assert!(names.contains(&n), "{n} missing from {names:?}");
    }
    let (status, body) = q("/api/v1/metrics/query?name=nope");
    assert_eq!(status, 404);
    assert!(body["error"].as_str().is_some_and(|e| e.contains("nope")));
    let (status, _) = q("/api/v1/metrics/query?name=shoal_instances&agg=median");
    assert_eq!(status, 400);
}
