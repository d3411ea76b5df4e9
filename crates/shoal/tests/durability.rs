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
