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

/// The errors view survives a kill -9 of shoal: the groups saved while the
/// first run counted them are there after the restart, and go on counting;
/// a clean stop saves the last counts at once.
#[test]
fn the_errors_view_survives_kill9_of_shoal() {
    // A service registered where nothing listens: each request through the
    // gateway is a 5xx of Shoal's own, counted in one group.
    let register = |p: &Platform| {
        let body = r#"{"Name":"ghost","ID":"ghost-1","Address":"127.0.0.1","Port":1}"#;
        let r = p
            .api("PUT", "/v1/agent/service/register", Some(body))
            .expect("register");
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    };
    let ghost_group = |p: &Platform| -> Option<serde_json::Value> {
        let g = p.api("GET", "/api/v1/errors?service=ghost", None).ok()?;
        g.json()["groups"].as_array()?.first().cloned()
    };
    let fail = |p: &Platform, n: usize| {
        for _ in 0..n {
            let r = p.gateway("ghost", "/").expect("gateway");
            assert!(r.status >= 500, "{}", r.status);
        }
    };
    let mut p = Platform::builder(BIN).start().expect("start");
    register(&p);
    wait_until("the gateway routes ghost", Duration::from_secs(15), || {
        p.gateway("ghost", "/").ok().filter(|r| r.status >= 500)
    })
    .expect("routed");
    fail(&p, 4);
    let saved_file = p.dir().join("data").join("errors.json");
    let saved = wait_until("the group saved", Duration::from_secs(15), || {
        let text = std::fs::read_to_string(&saved_file).ok()?;
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        let count = v["groups"].as_array()?.first()?["count"].as_u64()?;
        (count == 5).then_some(count)
    })
    .expect("saved");
    let before = ghost_group(&p).expect("group");
    assert_eq!(before["count"].as_u64(), Some(saved));
    p.kill9();
    let dir = p.take_dir().expect("dir");
    drop(p);

    let mut p2 = Platform::builder(BIN).in_dir(dir).start().expect("restart");
    let after = ghost_group(&p2).expect("the group is back");
    assert_eq!(after["id"], before["id"]);
    assert_eq!(after["count"], before["count"]);
    assert_eq!(after["first_ms"], before["first_ms"]);
    register(&p2);
    // Every 5xx the gateway gives is counted once; until it routes again, none.
    let mut failed = 0;
    wait_until("it goes on counting", Duration::from_secs(15), || {
        if p2.gateway("ghost", "/").is_ok_and(|r| r.status >= 500) {
            failed += 1;
        }
        (failed > 0).then_some(())
    })
    .expect("routed again");

    // A clean stop right after more errors saves them too (not only each second).
    fail(&p2, 3);
    let last = saved + failed + 3;
    wait_until("every error counted", Duration::from_secs(15), || {
        ghost_group(&p2)
            .and_then(|g| g["count"].as_u64())
            .filter(|&c| c == last)
    })
    .expect("counted");
    p2.terminate(Duration::from_secs(30)).expect("stopped");
    let dir = p2.take_dir().expect("dir");
    drop(p2);
    let p3 = Platform::builder(BIN).in_dir(dir).start().expect("restart");
    let again = ghost_group(&p3).expect("the group is back again");
    assert_eq!(again["count"].as_u64(), Some(last));
}

/// A reader resuming the log after a kill -9 of shoal is told which numbers
/// may be missing: a header on the query, a `lost` event first on the stream.
#[test]
fn a_log_reader_resuming_across_a_kill9_is_told_what_may_be_lost() {
    use std::io::{Read, Write};
    let mut p = Platform::builder(BIN).start().expect("start");
    // Lines of its own (requests for a host it does not know) to be numbered.
    for _ in 0..20 {
        let _ = p.gateway("nobody", "/");
    }
    let newest = wait_until("access lines", Duration::from_secs(15), || {
        let r = p.api("GET", "/api/v1/logs?limit=1", None).ok()?;
        r.json().as_array()?.first()?["seq"].as_u64()
    })
    .expect("lines");
    let header = |p: &Platform, after: u64| {
        let r = p
            .api("GET", &format!("/api/v1/logs?after={after}"), None)
            .expect("query");
        assert_eq!(r.status, 200);
        r.header("x-shoal-logs-lost").map(str::to_string)
    };
    assert_eq!(header(&p, newest), None, "nothing lost yet");
    p.kill9();
    let dir = p.take_dir().expect("dir");
    drop(p);

    let p2 = Platform::builder(BIN).in_dir(dir).start().expect("restart");
    let lost = header(&p2, newest).expect("the gap is named");
    let (from, until) = lost.split_once('-').expect("FROM-UNTIL");
    let (from, until): (u64, u64) = (from.parse().expect("from"), until.parse().expect("until"));
    assert!(from > newest && until > from, "{lost}");
    // Resuming past the gap: nothing to say.
    assert_eq!(header(&p2, until - 1), None);

    let mut tail = std::net::TcpStream::connect(p2.http).expect("connect");
    tail.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(
        tail,
        "GET /api/v1/logs/stream?after={newest} HTTP/1.1\r\nHost: shoal\r\n\r\n"
    )
    .expect("request");
    let mut seen = String::new();
    let mut buf = [0u8; 4096];
    while !seen.contains("\n\n") || !seen.contains("event: lost") {
        let n = tail.read(&mut buf).expect("the stream answers");
        assert!(n > 0, "closed: {seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    let want = format!(r#"data: {{"from":{from},"until":{until}}}"#);
    assert!(seen.contains(&want), "{seen}");
}

/// A saved errors view that does not parse does not stop `shoal up`: it is set
/// aside as `errors.json.bad` and the view starts empty.
#[test]
fn a_damaged_errors_file_is_set_aside_and_shoal_starts() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::create_dir_all(dir.path().join("data")).expect("data dir");
    std::fs::write(dir.path().join("data/errors.json"), "{\"groups\": [oops").expect("write");
    let p = Platform::builder(BIN).in_dir(dir).start().expect("start");
    let groups = p.api("GET", "/api/v1/errors", None).expect("errors").json();
    assert_eq!(
        groups["groups"].as_array().map(Vec::len),
        Some(0),
        "{groups}"
    );
    let bad = std::fs::read_to_string(p.dir().join("data/errors.json.bad")).expect("set aside");
    assert_eq!(bad, "{\"groups\": [oops");
}
