//! A hung instance (SIGSTOP) under load: its in-flight requests are retried on another
//! instance once its health check fails, so none waits longer than the detection time,
//! and none fails.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{APP, BIN, HEALTHY};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use shoal_testkit::{request, wait_until, Platform};

/// Health timing of the test service: a hung instance is detected within
/// `UNHEALTHY * (INTERVAL + TIMEOUT)` of its last answer.
const INTERVAL: Duration = Duration::from_millis(200);
const TIMEOUT: Duration = Duration::from_millis(500);
const UNHEALTHY: u32 = 2;

/// Sends the instance SIGCONT when dropped, so a failing test leaves nothing stopped.
struct Stopped(i32);

impl Drop for Stopped {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.0), Signal::SIGCONT);
    }
}

#[test]
fn a_sigstopped_instance_costs_no_request_more_than_detection() {
    let p = Platform::builder(BIN)
        .file("app.py", APP)
        .services(&format!(
            r#"
[services.web]
command = ["python3", "app.py"]
instances = 3

[services.web.health]
http = "/health"
interval = "{}ms"
timeout = "{}ms"
unhealthy_threshold = {UNHEALTHY}
grace = "1s"
"#,
            INTERVAL.as_millis(),
            TIMEOUT.as_millis()
        ))
        .start()
        .expect("start");
    p.wait_healthy("web", 3, HEALTHY)
        .expect("three healthy instances");
    let pid = p.instances("web")[0]["pid"].as_u64().unwrap_or(0) as i32;
    assert!(pid > 0, "an instance pid");

    let stop = Arc::new(AtomicBool::new(false));
    let results = Arc::new(Mutex::new(Vec::<(u16, Duration)>::new()));
    let gateway = p.gateway;
    let workers: Vec<_> = (0..6)
        .map(|_| {
            let (stop, results) = (stop.clone(), results.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    let status = request(gateway, "GET", "/hello", Some("web"), None)
                        .map_or(0, |r| r.status);
                    if let Ok(mut all) = results.lock() {
                        all.push((status, t.elapsed()));
                    }
                }
            })
        })
        .collect();

    std::thread::sleep(Duration::from_millis(500));
    kill(Pid::from_raw(pid), Signal::SIGSTOP).expect("SIGSTOP");
    let stopped = Stopped(pid);
    let detected = Instant::now();
    // The view drops the instance once its check fails.
    wait_until("the hung instance taken out of rotation", HEALTHY, || {
        let healthy = p
            .instances("web")
            .iter()
            .filter(|i| i["health"] == "passing")
            .count();
        (healthy == 2).then_some(())
    })
    .expect("hung instance marked unhealthy");
    let detection = detected.elapsed();
    // Load goes on a while after the detection, then stops.
    std::thread::sleep(Duration::from_secs(2));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    drop(stopped);

    let all = results.lock().map(|r| r.clone()).unwrap_or_default();
    let failed = all.iter().filter(|(s, _)| *s != 200).count();
    let slowest = all.iter().map(|(_, d)| *d).max().unwrap_or_default();
    let bound = (INTERVAL + TIMEOUT) * UNHEALTHY + Duration::from_millis(1500);
    println!(
        "{} requests, {failed} failed, slowest {:?}; the hung instance was taken out after {:?} (bound {:?})",
        all.len(),
        slowest,
        detection,
        bound
    );
    assert!(all.len() > 20, "load ran: {} requests", all.len());
    assert_eq!(failed, 0, "every request answered 200");
    assert!(
        slowest <= bound,
        "the slowest request took {slowest:?}, more than the detection bound {bound:?}"
    );
}
