//! Every write Shoal acknowledged survives a kill -9 of shoal itself.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::BIN;
use shoal_testkit::{request, wait_until, Platform};

#[test]
fn acknowledged_kv_writes_survive_kill9_of_shoal() {
    let mut p = Platform::builder(BIN).start().expect("start");
    let acked = Arc::new(Mutex::new(Vec::new()));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let writers: Vec<_> = (0..8)
        .map(|w| {
            let (acked, stop, addr) = (acked.clone(), stop.clone(), p.http);
            std::thread::spawn(move || {
                for i in 0..5000 {
                    if stop.load(std::sync::atomic::Ordering::Relaxed) {
                        break;
                    }
                    let key = format!("crash/w{w}/k{i}");
                    let value = format!("value-{w}-{i}");
                    match request(
                        addr,
                        "PUT",
                        &format!("/v1/kv/{key}"),
                        None,
                        Some(value.as_bytes()),
                    ) {
                        Ok(r) if r.status == 200 && r.text().trim() == "true" => {
                            if let Ok(mut a) = acked.lock() {
                                a.push((key, value));
                            }
                        }
                        _ => break, // shoal is gone: the write was not acknowledged
                    }
                }
            })
        })
        .collect();
    wait_until("some acknowledged writes", Duration::from_secs(30), || {
        (acked.lock().ok()?.len() >= 300).then_some(())
    })
    .expect("writes flowing");
    p.kill9();
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    for w in writers {
        let _ = w.join();
    }
    let acked = acked.lock().map(|a| a.clone()).unwrap_or_default();
    let dir = p.take_dir().expect("dir");
    drop(p);

    let p2 = Platform::builder(BIN).in_dir(dir).start().expect("restart");
    let mut missing = Vec::new();
    for (key, value) in &acked {
        let r = p2
            .api("GET", &format!("/v1/kv/{key}?raw"), None)
            .expect("get");
        if r.status != 200 || r.text() != *value {
            missing.push(key.clone());
        }
    }
    assert!(
        missing.is_empty(),
        "{} of {} acknowledged writes lost: {:?}",
        missing.len(),
        acked.len(),
        &missing[..missing.len().min(5)]
    );
    eprintln!(
        "{} acknowledged writes all present after kill -9",
        acked.len()
    );
}

/// The event stream survives a kill -9 of shoal: the first run's events are
/// read back with their numbers, and the second run's follow them.
#[test]
fn the_event_stream_survives_kill9_of_shoal() {
    let mut p = Platform::builder(BIN)
        .file("app.py", common::APP)
        .services(&common::web_service("web", 1))
        .start()
        .expect("start");
    p.wait_healthy("web", 1, common::HEALTHY).expect("healthy");
    let events = |p: &Platform| -> Vec<serde_json::Value> {
        p.api("GET", "/api/v1/events?service=web", None)
            .expect("events")
            .json()
            .as_array()
            .cloned()
            .unwrap_or_default()
    };
    let first = wait_until(
        "the first run's health event",
        Duration::from_secs(30),
        || {
            let e = events(&p);
            e.iter().any(|e| e["kind"] == "health_changed").then_some(e)
        },
    )
    .expect("events");
    p.kill9();
    let dir = p.take_dir().expect("dir");
    drop(p);

    let p2 = Platform::builder(BIN)
        .in_dir(dir)
        .services(&common::web_service("web", 1))
        .start()
        .expect("restart");
    p2.wait_healthy("web", 1, common::HEALTHY)
        .expect("healthy again");
    let all = events(&p2);
    assert_eq!(
        &all[..first.len()],
        &first[..],
        "the first run's events, as they were"
    );
    let seqs: Vec<u64> = all.iter().filter_map(|e| e["seq"].as_u64()).collect();
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "{seqs:?}");
    assert!(
        all[first.len()..]
            .iter()
            .any(|e| e["kind"] == "instance_started"),
        "the second run's events follow: {all:?}"
    );
}
