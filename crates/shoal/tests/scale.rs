//! The autoscaler in a running platform: a service whose instances each serve at
//! most 4 requests at a time, 50 ms each, scaled on requests per second: a load
//! step grows it with no failed request and it returns to `min` after the load;
//! a spike from a critical and a low-priority caller keeps the critical one at
//! 100 % while the low one is shed until capacity arrives; a service at zero
//! serves the first request after idle; `shoal scale` holds the autoscaler off
//! and `--auto` hands the count back.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{BIN, HEALTHY};
use shoal_testkit::{request, wait_until, Platform};

/// At most 4 requests at a time, 50 ms each: 80 requests/s per instance.
const WORK: &str = r#"
import os, threading, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
SLOTS = threading.Semaphore(4)
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        if self.path != "/health":
            with SLOTS:
                time.sleep(0.05)
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    def log_message(self, *a):
        pass
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

const IDLE: &str = "exec python3 -c 'import time; time.sleep(100000)'";

/// Paced load: `threads` clients, each sending one request every `every` to
/// `addr` with `Host: host`, counting answers by status.
struct Load {
    stop: Arc<AtomicBool>,
    ok: Arc<AtomicU64>,
    shed: Arc<AtomicU64>,
    failed: Arc<AtomicU64>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl Load {
    fn start(addr: std::net::SocketAddr, host: &str, threads: usize, every: Duration) -> Load {
        let stop = Arc::new(AtomicBool::new(false));
        let (ok, shed, failed) = (Arc::default(), Arc::default(), Arc::default());
        let n = threads as u32;
        let threads = (0..threads)
            .map(|i| {
                // Spread over the period: clients in step would arrive as bursts.
                let offset = every * i as u32 / n;
                let (stop, ok, shed, failed): (
                    Arc<AtomicBool>,
                    Arc<AtomicU64>,
                    Arc<AtomicU64>,
                    Arc<AtomicU64>,
                ) = (
                    stop.clone(),
                    Arc::clone(&ok),
                    Arc::clone(&shed),
                    Arc::clone(&failed),
                );
                let host = host.to_string();
                std::thread::spawn(move || {
                    std::thread::sleep(offset);
                    // Bounded: at most 20,000 requests per client.
                    for _ in 0..20_000 {
                        if stop.load(Ordering::Relaxed) {
                            break;
                        }
                        let began = Instant::now();
                        match request(addr, "GET", "/", Some(&host), None) {
                            Ok(r) if r.status == 200 => ok.fetch_add(1, Ordering::Relaxed),
                            Ok(r) if r.header("x-shoal-reason") == Some("shed") => {
                                shed.fetch_add(1, Ordering::Relaxed)
                            }
                            _ => failed.fetch_add(1, Ordering::Relaxed),
                        };
                        std::thread::sleep(every.saturating_sub(began.elapsed()));
                    }
                })
            })
            .collect();
        Load {
            stop,
            ok,
            shed,
            failed,
            threads,
        }
    }

    /// (served, shed, failed) so far.
    fn counts(&self) -> (u64, u64, u64) {
        (
            self.ok.load(Ordering::Relaxed),
            self.shed.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }

    fn finish(self) -> (u64, u64, u64) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
        (
            self.ok.load(Ordering::Relaxed),
            self.shed.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
        )
    }
}

/// The service's desired count and healthy instances (the API's summary).
fn counts(p: &Platform, service: &str) -> (u64, u64) {
    let v = p
        .api("GET", &format!("/api/v1/services/{service}"), None)
        .map(|r| r.json())
        .unwrap_or_default();
    (
        v["service"]["desired"].as_u64().unwrap_or(0),
        v["service"]["healthy"].as_u64().unwrap_or(0),
    )
}

/// The outbound listener of `service` (its `SHOAL_PROXY`).
fn outbound(p: &Platform, service: &str) -> std::net::SocketAddr {
    let v = p.api("GET", "/api/v1/proxy", None).expect("proxy").json();
    let addr = v["outbound"][service]
        .as_str()
        .unwrap_or_default()
        .to_string();
    addr.parse()
        .unwrap_or_else(|e| panic!("outbound of {service}: {addr:?}: {e} in {v}"))
}

#[test]
fn a_load_step_scales_up_with_no_failure_and_back_down_after() {
    let p = Platform::builder(BIN)
        .file("work.py", WORK)
        .services(
            r#"
[services.work]
command = ["python3", "work.py"]

[services.work.health]
http = "/health"
interval = "200ms"

[services.work.scale]
min = 1
max = 5
target = { rps = 20 }
up_cooldown = "1s"
down_stabilization = "4s"
"#,
        )
        .start()
        .expect("start");
    p.wait_healthy("work", 1, HEALTHY).expect("work");

    // ~60 requests/s: 3 instances at 20 each.
    let step = Instant::now();
    let load = Load::start(p.gateway, "work", 6, Duration::from_millis(100));
    let (grew, _) = wait_until("3 healthy instances", Duration::from_secs(30), || {
        let (desired, healthy) = counts(&p, "work");
        (desired >= 3 && healthy >= 3).then_some((desired, healthy))
    })
    .expect("scaled up");
    let took = step.elapsed();
    std::thread::sleep(Duration::from_secs(2));
    let (served, shed, failed) = load.finish();
    eprintln!(
        "load step: {grew} instances after {took:?}; {served} served, {shed} shed, {failed} failed"
    );
    assert_eq!((shed, failed), (0, 0), "{served} served");

    // The load ends: back to `min` once the stabilization window has passed.
    let ended = Instant::now();
    wait_until("back to 1", Duration::from_secs(40), || {
        (counts(&p, "work").0 == 1).then_some(())
    })
    .expect("scaled down");
    eprintln!(
        "back to 1 instance {:?} after the load ended",
        ended.elapsed()
    );
    assert!(
        ended.elapsed() >= Duration::from_secs(3),
        "down before the window"
    );

    // Every change is an event with its inputs.
    let ev = p
        .api("GET", "/api/v1/events?kind=scaled", None)
        .expect("events")
        .text();
    assert!(ev.contains("autoscaler: rps"), "{ev}");

    // By hand: held off (status says so), then handed back.
    let out = p
        .cli(&["scale", "work", "4", "--pause", "10m"])
        .expect("cli");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = p.cli(&["status", "work"]).expect("cli");
    let text = String::from_utf8_lossy(&status.stdout).to_string();
    assert!(text.contains("held by `shoal scale`"), "{text}");
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(counts(&p, "work").0, 4, "the autoscaler waits while held");
    let out = p.cli(&["scale", "work", "--auto"]).expect("cli");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    wait_until("the autoscaler again", Duration::from_secs(30), || {
        (counts(&p, "work").0 == 1).then_some(())
    })
    .expect("handed back and scaled down");
}

#[test]
fn a_spike_keeps_the_critical_caller_served_while_the_low_one_waits_for_capacity() {
    let p = Platform::builder(BIN)
        .file("work.py", WORK)
        .services(&format!(
            r#"
[services.front]
command = "{IDLE}"

[services.reports]
command = "{IDLE}"

[services.work]
command = ["python3", "work.py"]

[services.work.health]
http = "/health"
interval = "200ms"

[services.work.resilience]
limits = {{ max_inflight = 40 }}
callers = {{ front = "critical", reports = {{ priority = "low" }} }}

[services.work.scale]
min = 1
max = 5
target = {{ rps = 20 }}
up_cooldown = "1s"
down_stabilization = "30s"
"#
        ))
        .start()
        .expect("start");
    p.wait_healthy("work", 1, HEALTHY).expect("work");
    let (front, reports) = (outbound(&p, "front"), outbound(&p, "reports"));

    // 40/s critical and 200/s low at once: 1 instance serves 80/s. (In flight at
    // the proxy is rate × latency, ~12 once there is capacity: the low caller's
    // threshold, half of max_inflight, is above it.)
    let critical = Load::start(front, "work", 4, Duration::from_millis(100));
    let low = Load::start(reports, "work", 20, Duration::from_millis(100));
    wait_until("capacity", Duration::from_secs(40), || {
        let (desired, healthy) = counts(&p, "work");
        (desired >= 5 && healthy >= 5).then_some(())
    })
    .expect("scaled up");
    let (ok_before, shed_before, _) = low.counts();
    // With capacity, the low caller is served too.
    std::thread::sleep(Duration::from_secs(3));
    let (low_ok_1, low_shed_1, _) = low.counts();
    std::thread::sleep(Duration::from_secs(3));
    let (low_ok_2, low_shed_2, low_failed) = low.counts();
    let (c_ok, c_shed, c_failed) = critical.finish();
    let _ = low.finish();
    eprintln!(
        "critical: {c_ok} served, {c_shed} shed, {c_failed} failed; low: {shed_before} shed before capacity, \
         then {} served and {} shed in the last 3 s",
        low_ok_2 - low_ok_1,
        low_shed_2 - low_shed_1
    );
    assert_eq!(
        (c_shed, c_failed),
        (0, 0),
        "the critical caller lost requests"
    );
    assert!(shed_before > 0, "the low caller was never shed: no spike?");
    // With capacity the low caller is served: a few shed requests in a burst on a
    // machine loaded by other tests (CI under load once shed 28 of 598 there, and a
    // run beside a fuzzer's build 60 of 549, when the Python instances slowed and
    // in-flight crossed the low caller's threshold), never half the share it was
    // shed before capacity.
    let (late_ok, late_shed) = (low_ok_2 - low_ok_1, low_shed_2 - low_shed_1);
    let share = |shed: u64, ok: u64| shed as f64 / (shed + ok).max(1) as f64;
    let (early, late) = (share(shed_before, ok_before), share(late_shed, late_ok));
    assert!(
        late_ok > 0 && late < early / 2.0,
        "still shed with capacity: {late_shed} of {} (before capacity: {shed_before} of {})",
        late_ok + late_shed,
        ok_before + shed_before
    );
    assert_eq!(low_failed, 0);
}

#[test]
fn a_service_at_zero_serves_the_first_request_after_idle() {
    let p = Platform::builder(BIN)
        .file("work.py", WORK)
        .services(
            r#"
[services.lazy]
command = ["python3", "work.py"]

[services.lazy.health]
http = "/health"
interval = "100ms"

[services.lazy.scale]
min = 0
max = 2
idle_after = "2s"
target = { rps = 50 }
"#,
        )
        .start()
        .expect("start");
    p.wait_healthy("lazy", 1, HEALTHY).expect("lazy");
    // Idle: down to zero, and the API and DNS say so.
    wait_until("zero instances", Duration::from_secs(30), || {
        let (desired, _) = counts(&p, "lazy");
        (desired == 0 && p.instances("lazy").is_empty()).then_some(())
    })
    .expect("scaled to zero");
    let began = Instant::now();
    let r = request(p.gateway, "GET", "/", Some("lazy"), None).expect("request");
    let waited = began.elapsed();
    eprintln!("the first request after idle took {waited:?} (a cold start)");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(counts(&p, "lazy").0 >= 1);
}

#[test]
fn a_custom_statsd_metric_drives_the_count() {
    let p = Platform::builder(BIN)
        .file("work.py", WORK)
        .services(
            r#"
[services.worker]
command = ["python3", "work.py"]

[services.worker.health]
http = "/health"
interval = "200ms"

[services.worker.scale]
min = 1
max = 6
target = { metric = { name = "queue_depth", per_instance = 10 } }
up_cooldown = "1s"
down_stabilization = "3s"
"#,
        )
        .start()
        .expect("start");
    p.wait_healthy("worker", 1, HEALTHY).expect("worker");
    // A queue 35 deep: 4 instances at 10 each (1 → 2 → 4 by the step cap).
    let udp = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    let (grew, took) = {
        let began = Instant::now();
        let grew = wait_until("4 instances", Duration::from_secs(30), || {
            udp.send_to(b"queue_depth:35|g", p.statsd).ok()?;
            (counts(&p, "worker").0 == 4).then_some(4)
        })
        .expect("scaled on the gauge");
        (grew, began.elapsed())
    };
    eprintln!("queue_depth 35: {grew} instances after {took:?}");
    // The queue drains: back to 1 after the window.
    wait_until("back to 1", Duration::from_secs(30), || {
        udp.send_to(b"queue_depth:0|g", p.statsd).ok()?;
        (counts(&p, "worker").0 == 1).then_some(())
    })
    .expect("scaled down on the gauge");
    let ev = p
        .api("GET", "/api/v1/events?kind=scaled", None)
        .expect("events")
        .text();
    assert!(ev.contains("queue_depth"), "{ev}");
}
