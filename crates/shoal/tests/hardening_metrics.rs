//! Metrics hardening end to end: a burst of unique StatsD names above a small series
//! cap neither locks out a later name nor a newly started instance's series, and
//! values that would be infinite are refused and counted while series stay finite.

mod common;

use std::net::UdpSocket;
use std::time::Duration;

use common::{metric_value, metrics_text, web_service, APP, BIN, HEALTHY};
use serde_json::Value;
use shoal_testkit::{wait_until, Platform};

const WAIT: Duration = Duration::from_secs(30);
/// The application series cap the platform runs with; the burst is 40 times it.
const CAP: usize = 50;
const BURST: usize = 2000;

fn wait_value(p: &Platform, series: &str, ok: impl Fn(f64) -> bool) -> f64 {
    match wait_until(series, WAIT, || {
        metric_value(&metrics_text(p), series).filter(|v| ok(*v))
    }) {
        Ok(v) => v,
        Err(e) => panic!("{e}; /metrics:\n{}", metrics_text(p)),
    }
}

fn query(p: &Platform, params: &str) -> Option<Value> {
    let r = p
        .api("GET", &format!("/api/v1/metrics/query?{params}"), None)
        .ok()?;
    (r.status == 200).then(|| r.json())
}

/// The non-null values of a query's answer, with each series' labels.
fn values(answer: &Value) -> Vec<(Value, f64)> {
    let mut out = Vec::new();
    for s in answer["series"].as_array().map_or(&[][..], |a| a) {
        for pt in s["points"].as_array().map_or(&[][..], |a| a) {
            if let Some(v) = pt[1].as_f64() {
                out.push((s["labels"].clone(), v));
            }
        }
    }
    out
}

fn top_web(p: &Platform) -> Option<Value> {
    let out = p.cli(&["top", "--once", "--json"]).ok()?;
    let v: Value = serde_json::from_slice(&out.stdout).ok()?;
    v["services"]
        .as_array()?
        .iter()
        .find(|s| s["service"] == "web")
        .cloned()
}

fn send(udp: &UdpSocket, p: &Platform, packet: &str) {
    udp.send_to(packet.as_bytes(), p.statsd)
        .expect("send statsd");
}

#[test]
fn a_burst_of_names_locks_out_neither_new_names_nor_new_instances() {
    let p = Platform::builder(BIN)
        .env("SHOAL_STATSD_FLUSH_MS", "300")
        .env("SHOAL_METRICS_MAX_SERIES", &CAP.to_string())
        .file("app.py", APP)
        .services(&web_service("web", 1))
        .start()
        .expect("start");
    p.wait_healthy("web", 1, HEALTHY).expect("web healthy");
    let udp = UdpSocket::bind("127.0.0.1:0").expect("udp");

    // The burst: unique names, 40 times the cap, 20 lines a packet.
    let names: Vec<String> = (0..BURST).map(|i| format!("burst.n{i}:1|c")).collect();
    for chunk in names.chunks(20) {
        send(&udp, &p, &chunk.join("\n"));
    }
    wait_value(
        &p,
        r#"shoal_statsd_evicted_series_total{reason="cap"}"#,
        |v| v >= (BURST / 2) as f64,
    );

    // A new name still gets in: in /metrics and in the store the API reads (which
    // holds as many burst names as its cap, so one is evicted to make room).
    send(&udp, &p, "after.burst:3|c");
    assert_eq!(
        wait_value(&p, "statsd_after_burst_total", |v| v >= 3.0),
        3.0
    );
    let stored = wait_until("after.burst in the store", WAIT, || {
        let a = query(&p, "name=statsd_after_burst_total&since=5m&step=5m&agg=sum")?;
        values(&a).first().map(|(_, v)| *v).filter(|v| *v >= 3.0)
    });
    assert_eq!(stored.ok(), Some(3.0));
    let app = r#"shoal_metrics_evicted_series_total{class="application",reason="cap"}"#;
    wait_value(&p, app, |v| v >= 1.0);
    let text = metrics_text(&p);
    let kept = text
        .lines()
        .filter(|l| l.starts_with("statsd_burst_n"))
        .count();
    assert!(kept <= CAP, "{kept} burst series kept with a cap of {CAP}");
    let platform = r#"shoal_metrics_evicted_series_total{class="platform",reason="cap"}"#;
    assert_eq!(metric_value(&text, platform), Some(0.0), "{text}");
    assert!(text.contains("# HELP shoal_metrics_evicted_series_total "));

    // A newly started instance: its series reach the store, the API and `shoal top`.
    let before: Vec<String> = p
        .instances("web")
        .iter()
        .filter_map(|i| i["id"].as_str().map(String::from))
        .collect();
    let mem_before = wait_until("web's memory in shoal top", WAIT, || {
        top_web(&p)?["memory_bytes"].as_f64().filter(|m| *m > 0.0)
    })
    .expect("shoal top shows web's memory");
    let out = p
        .cli(&["scale", "web", "2", "--wait", "--timeout", "30s"])
        .expect("cli");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let new_id = p
        .instances("web")
        .iter()
        .filter_map(|i| i["id"].as_str().map(String::from))
        .find(|id| !before.contains(id))
        .expect("a new instance");
    // The query `shoal top` makes for memory, grouped by instance instead of service.
    let by_instance = "name=shoal_instance_memory_bytes&since=15s&step=5s&agg=last&by=instance";
    wait_until("the new instance's memory in the store", WAIT, || {
        let a = query(&p, by_instance)?;
        values(&a)
            .iter()
            .any(|(l, v)| l["instance"] == new_id.as_str() && *v > 0.0)
            .then_some(())
    })
    .unwrap_or_else(|e| panic!("{e}: {:?}", query(&p, by_instance)));
    let running =
        "name=shoal_instances&labels=service=web,state=running&since=15s&step=5s&agg=last";
    wait_until("two running instances in the store", WAIT, || {
        let a = query(&p, running)?;
        values(&a).iter().any(|(_, v)| *v == 2.0).then_some(())
    })
    .expect("shoal_instances counts the new instance");
    let row = wait_until("two instances' memory in shoal top", WAIT, || {
        let row = top_web(&p)?;
        let mem = row["memory_bytes"].as_f64()?;
        (row["instances"] == 2 && mem > mem_before * 1.5).then_some(row)
    })
    .unwrap_or_else(|e| panic!("{e}: {:?} (one instance: {mem_before})", top_web(&p)));
    println!("shoal top after scaling: {row}");
}

#[test]
fn values_that_would_be_infinite_are_refused_and_counted() {
    let p = Platform::builder(BIN)
        .env("SHOAL_STATSD_FLUSH_MS", "300")
        .file("app.py", APP)
        .services(&web_service("web", 1))
        .start()
        .expect("start");
    let udp = UdpSocket::bind("127.0.0.1:0").expect("udp");
    send(
        &udp,
        &p,
        "hard.c:1|c\nhard.g:5|g\nhard.t:5|ms\nhard.big:1e308|c",
    );
    wait_value(&p, "statsd_hard_big_total", |v| v >= 1e308);
    let refused = |text: &str, r: &str| {
        let series = format!("shoal_statsd_refused_values_total{{reason=\"{r}\"}}");
        metric_value(text, &series).unwrap_or(0.0)
    };
    let text = metrics_text(&p);
    let base = ["non_finite", "bad_rate", "overflow"].map(|r| refused(&text, r));

    send(
        &udp,
        &p,
        concat!(
            "hard.c:1|c|@1e-320\nhard.c:1|c|@0\nhard.c:1|c|@1.5\nhard.c:1|c|@-1\n",
            "hard.g:inf|g\nhard.t:NaN|ms\nhard.big:1e308|c"
        ),
    );
    let text = wait_until("the refusals counted", WAIT, || {
        let text = metrics_text(&p);
        let now = ["non_finite", "bad_rate", "overflow"].map(|r| refused(&text, r));
        let want = [2.0, 4.0, 1.0];
        (0..3).all(|i| now[i] >= base[i] + want[i]).then_some(text)
    })
    .unwrap_or_else(|e| panic!("{e}; /metrics:\n{}", metrics_text(&p)));
    assert_eq!(metric_value(&text, "statsd_hard_c_total"), Some(1.0));
    assert_eq!(metric_value(&text, "statsd_hard_g"), Some(5.0));
    assert_eq!(metric_value(&text, "statsd_hard_t_count"), Some(1.0));
    assert_eq!(metric_value(&text, "statsd_hard_big_total"), Some(1e308));
    for l in text.lines().filter(|l| l.starts_with("statsd_hard")) {
        assert!(!l.contains("Inf") && !l.contains("NaN"), "{l}");
    }
    for name in ["statsd_hard_big_total", "statsd_hard_g", "statsd_hard_t"] {
        let a = query(&p, &format!("name={name}&since=5m&step=5m&agg=max"))
            .unwrap_or_else(|| panic!("{name} in the store"));
        let v = values(&a);
        assert!(
            !v.is_empty() && v.iter().all(|(_, v)| v.is_finite()),
            "{name}: {a}"
        );
    }
}
