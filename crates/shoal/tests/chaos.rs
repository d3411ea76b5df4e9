//! Chaos on purpose against the demo fleet: publications fails half its calls and loses
//! an instance every few seconds, and the profile page degrades (its fallback) while
//! its own success rate stays 100 %; every start, kill and end is an event. Also: chaos
//! is off unless the file allows it, and bad requests are refused with the field named.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{web_service, APP, BIN, HEALTHY};
use serde_json::Value;
use shoal_testkit::{request, wait_until, Platform};

fn events(p: &Platform) -> Vec<Value> {
    p.api("GET", "/api/v1/events?kind=chaos", None)
        .map(|r| r.json().as_array().cloned().unwrap_or_default())
        .unwrap_or_default()
}

fn action_count(events: &[Value], action: &str) -> usize {
    events
        .iter()
        .filter(|e| e["fields"]["action"] == action)
        .count()
}

#[test]
fn the_profile_page_degrades_but_never_fails_under_chaos() {
    let p = common::start_demo_with("chaos = true");
    let out = p
        .cli(&[
            "chaos",
            "error",
            "publications",
            "--percent",
            "50",
            "--for",
            "60s",
        ])
        .expect("shoal chaos error");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = p
        .cli(&[
            "chaos",
            "kill",
            "publications",
            "--every",
            "2s",
            "--floor",
            "1",
            "--for",
            "60s",
        ])
        .expect("shoal chaos kill");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let status = p.cli(&["status"]).expect("shoal status");
    let status = String::from_utf8_lossy(&status.stdout).into_owned();
    assert_eq!(status.matches("CHAOS chaos-").count(), 2, "{status}");

    // An injected answer says what it is.
    let injected = wait_until("an injected 503", Duration::from_secs(10), || {
        let r = p.gateway("publications", "/publications/ada").ok()?;
        (r.status == 503).then_some(r)
    })
    .expect("half of the direct calls fail");
    assert_eq!(injected.header("x-shoal-reason"), Some("chaos"));

    // Load on the profile page for a while.
    let stop = Arc::new(AtomicBool::new(false));
    let pages = Arc::new(Mutex::new(Vec::<(u16, Value)>::new()));
    let gateway = p.gateway;
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (stop, pages) = (stop.clone(), pages.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let r = request(gateway, "GET", "/profile/ada", Some("profile"), None);
                    let (status, page) = r.map_or((0, Value::Null), |r| (r.status, r.json()));
                    if let Ok(mut all) = pages.lock() {
                        all.push((status, page));
                    }
                }
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs(9));
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let pages = pages.lock().map(|p| p.clone()).unwrap_or_default();
    let failed = pages.iter().filter(|(s, _)| *s != 200).count();
    let degraded = pages
        .iter()
        .filter(|(_, page)| page["publications"]["unavailable"].is_string())
        .count();
    let whole = pages
        .iter()
        .filter(|(_, page)| page["publications"]["publications"].is_array())
        .count();
    println!(
        "{} profile pages: {failed} failed, {degraded} degraded (publications unavailable), {whole} whole",
        pages.len()
    );
    assert!(pages.len() >= 20, "load ran: {}", pages.len());
    assert_eq!(failed, 0, "the profile page never fails");
    assert!(degraded > 0, "some pages degraded");
    assert!(whole > 0, "some pages whole");

    // Every start and every kill is in the event stream; the kills restarted instances.
    let seen = events(&p);
    assert_eq!(action_count(&seen, "start"), 2, "{seen:#?}");
    let kills = action_count(&seen, "kill");
    assert!(kills >= 2, "a kill every 2 s for 9 s: {kills}");
    let restarts: u64 = p
        .instances("publications")
        .iter()
        .map(|i| i["restarts"].as_u64().unwrap_or(0))
        .sum();
    assert!(restarts >= 1, "killed instances were restarted");

    // Stopped early: an event each, and the pages are whole again.
    let out = p
        .cli(&["chaos", "stop", "--all"])
        .expect("shoal chaos stop");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(action_count(&events(&p), "stop"), 2);
    p.wait_healthy("publications", 2, HEALTHY)
        .expect("publications back to two");
    for _ in 0..20 {
        let r = p.gateway("profile", "/profile/ada").expect("gateway");
        assert!(
            r.json()["publications"]["publications"].is_array(),
            "{}",
            r.text()
        );
    }
    let list = p.cli(&["chaos", "list"]).expect("shoal chaos list");
    assert!(String::from_utf8_lossy(&list.stdout).contains("no chaos experiments"));
}

#[test]
fn chaos_is_off_unless_allowed_and_ends_by_itself() {
    let off = Platform::builder(BIN)
        .file("app.py", APP)
        .services(&web_service("web", 1))
        .start()
        .expect("start");
    let body = r#"{"service":"web","fault":{"kind":"error","percent":100},"duration":"4s"}"#;
    let r = off.api("POST", "/api/v1/chaos", Some(body)).expect("api");
    assert_eq!(r.status, 403, "{}", r.text());
    assert!(r.text().contains("chaos = true"), "{}", r.text());
    drop(off);

    let p = Platform::builder(BIN)
        .file("app.py", APP)
        .platform("chaos = true")
        .services(&web_service("web", 1))
        .start()
        .expect("start");
    p.wait_healthy("web", 1, HEALTHY).expect("web");
    for (bad, status, says) in [
        (
            r#"{"service":"web","fault":{"kind":"error","percent":100},"duration":"30h"}"#,
            400,
            "duration",
        ),
        (
            r#"{"service":"web","fault":{"kind":"teleport"},"duration":"1s"}"#,
            400,
            "teleport",
        ),
        (
            r#"{"service":"nope","fault":{"kind":"reset","percent":5},"duration":"5s"}"#,
            404,
            "no such service",
        ),
    ] {
        let r = p.api("POST", "/api/v1/chaos", Some(bad)).expect("api");
        assert_eq!(r.status, status, "{bad}: {}", r.text());
        assert!(r.text().contains(says), "{bad}: {}", r.text());
    }
    // A CLI typo exits 2 and sends nothing.
    let typo = p
        .cli(&["chaos", "error", "web", "--percent", "500", "--for", "5s"])
        .expect("cli");
    assert_eq!(typo.status.code(), Some(2));

    // Every call fails for 4 s, then the experiment ends by itself, with an event.
    let r = p.api("POST", "/api/v1/chaos", Some(body)).expect("api");
    assert_eq!(r.status, 201, "{}", r.text());
    // The gateway learns of it from the store's watch, a moment after the write.
    wait_until(
        "the gateway injects the fault",
        Duration::from_secs(2),
        || {
            let r = p.gateway("web", "/x").ok()?;
            (r.status == 503 && r.header("x-shoal-reason") == Some("chaos")).then_some(())
        },
    )
    .expect("every call refused by chaos");
    wait_until(
        "the experiment ends by itself",
        Duration::from_secs(10),
        || (action_count(&events(&p), "end") == 1).then_some(()),
    )
    .expect("an end event");
    let r = p.gateway("web", "/x").expect("gateway");
    assert_eq!(r.status, 200, "{}", r.text());
}
