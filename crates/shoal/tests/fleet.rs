//! A fleet starts, becomes healthy, is reachable through the gateway and is
//! managed from the CLI.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::{web_service, APP, BIN, HEALTHY};
use shoal_testkit::{wait_until, Platform};

#[test]
fn fleet_reaches_healthy_and_gateway_routes_by_host_and_path() {
    let p = Platform::builder(BIN)
        .file("app.py", APP)
        .services(&format!(
            "{}{}",
            web_service("web", 2),
            web_service("api", 1)
        ))
        .start()
        .expect("start");
    let web = p.wait_healthy("web", 2, HEALTHY).expect("web healthy");
    p.wait_healthy("api", 1, HEALTHY).expect("api healthy");

    // Every instance got its own port from the range and the platform environment.
    let ports: HashSet<u64> = web.iter().filter_map(|i| i["port"].as_u64()).collect();
    assert_eq!(ports.len(), 2);

    // Round robin over both instances by Host.
    let mut seen = HashSet::new();
    for _ in 0..10 {
        let r = p.gateway("web", "/hello").expect("gateway");
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.json()["path"], "/hello");
        assert_eq!(
            r.json()["version"],
            "1",
            "X-Version is sent to the instance"
        );
        seen.insert(r.json()["instance"].as_str().unwrap_or("").to_string());
    }
    assert_eq!(seen.len(), 2, "both instances served: {seen:?}");

    // Consul-style host names and route prefixes reach the same service.
    let r = p.gateway("api.service.consul", "/x").expect("gateway");
    assert_eq!(r.status, 200);
    assert!(r.json()["instance"]
        .as_str()
        .unwrap_or("")
        .starts_with("api-"));
    let r = p.gateway("unknown.example", "/api/items").expect("gateway");
    assert!(r.json()["instance"]
        .as_str()
        .unwrap_or("")
        .starts_with("api-"));

    // An unknown target is Shoal's own JSON answer.
    let r = p.gateway("nowhere", "/nothing").expect("gateway");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("x-shoal-reason"), Some("no-route"));
    assert!(r.json()["error"].is_string());

    // Consul clients probe the leader.
    let r = p.api("GET", "/v1/status/leader", None).expect("leader");
    assert_eq!(r.status, 200);
    assert!(r.json().as_str().is_some_and(|s| !s.is_empty()));
}

#[test]
fn cli_scales_shows_status_and_logs() {
    let p = Platform::builder(BIN)
        .file("app.py", APP)
        .services(&web_service("web", 1))
        .start()
        .expect("start");
    p.wait_healthy("web", 1, HEALTHY).expect("healthy");

    let out = p
        .cli(&["scale", "web", "3", "--wait", "--timeout", "30s"])
        .expect("cli");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(p.instances("web").len(), 3);

    let out = p.cli(&["status"]).expect("cli");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.starts_with("SERVICE"), "{text}");
    assert!(text.contains("web") && text.contains("3/3"), "{text}");

    let out = p.cli(&["ps", "--json"]).expect("cli");
    let list: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    assert_eq!(list.as_array().map(Vec::len), Some(3));

    let out = p.cli(&["scale", "web", "1"]).expect("cli");
    assert!(out.status.success());
    p.wait_healthy("web", 1, HEALTHY).expect("scaled down");

    let out = p.cli(&["logs", "web"]).expect("cli");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(text.contains("app listening on"), "{text}");
    assert!(text.contains("ERR | to stderr"), "{text}");

    // Bad requests get JSON 4xx answers; the CLI says what was wrong.
    let out = p.cli(&["scale", "nope", "2"]).expect("cli");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such service"));
    let r = p
        .api(
            "POST",
            "/api/v1/services/web/scale",
            Some("{\"instances\": \"many\"}"),
        )
        .expect("api");
    assert_eq!(r.status, 400);
    assert!(r.json()["error"].is_string());
    let big = format!("{{\"instances\": 1, \"pad\": \"{}\"}}", "x".repeat(2 << 20));
    let r = p
        .api("POST", "/api/v1/services/web/scale", Some(&big))
        .expect("api");
    assert_eq!(r.status, 413);
    let r = p.api("GET", "/api/v1/nothing", None).expect("api");
    assert_eq!(r.status, 404);
    assert!(r.json()["error"].is_string());
}

#[test]
fn logs_follow_streams_new_lines() {
    let p = Platform::builder(BIN)
        .file("app.py", APP)
        .services(&web_service("web", 1))
        .start()
        .expect("start");
    p.wait_healthy("web", 1, HEALTHY).expect("healthy");
    let mut child = std::process::Command::new(BIN)
        .args(["logs", "web", "-f", "-n", "0"])
        .env("SHOAL_ADDR", format!("http://{}", p.http))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("logs -f");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            let _ = tx.send(line);
        }
    });
    // A restart writes new lines while the tail is open.
    let id = p.instances("web")[0]["id"]
        .as_str()
        .unwrap_or("")
        .to_string();
    // Restart again only if a new process was not seen within 5 s (the tail may
    // not have been subscribed yet); restarting every 200 ms killed each new
    // process before a loaded machine let it print its first line.
    let mut last_restart: Option<std::time::Instant> = None;
    let found = wait_until(
        "restart lines in the live tail",
        Duration::from_secs(20),
        || {
            if last_restart.is_none_or(|t| t.elapsed() > Duration::from_secs(5)) {
                let _ = p.api("POST", &format!("/api/v1/instances/{id}/restart"), Some(""));
                last_restart = Some(std::time::Instant::now());
            }
            while let Ok(line) = rx.recv_timeout(Duration::from_millis(200)) {
                if line.contains("app listening on") {
                    return Some(line);
                }
            }
            None
        },
    );
    let _ = child.kill();
    let _ = child.wait();
    found.expect("tail saw the new process start");
}
