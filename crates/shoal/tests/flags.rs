//! Feature flags in a running platform: decided once at the gateway for 1,000
//! users (a sticky 30 % rollout, raised to 60 % keeping everyone who had it),
//! forced by header, outside `X-Flag-*` dropped, the same decision two hops
//! down; changed under load with no failed request; bad edits refused with
//! nothing changed; counted in `/metrics` and `shoal flag list`.

mod common;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::{raw_http, Traffic, BIN, HEALTHY};
use shoal_testkit::{wait_until, Platform};

/// Answers with the `X-Flag-*` fields it got; `/chain` first calls `back` through
/// its outbound proxy, passing its own `X-Flag-*` fields on as a service would.
const APP: &str = r#"
import json, os, urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
def flags(headers):
    return {k.lower(): v for k, v in headers.items() if k.lower().startswith("x-flag-")}
class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        out = {"flags": flags(self.headers)}
        if self.path.startswith("/chain"):
            req = urllib.request.Request(os.environ["SHOAL_PROXY"] + "/", headers=dict(out["flags"], Host="back"))
            with urllib.request.urlopen(req, timeout=5) as r:
                out["back"] = json.loads(r.read())["flags"]
        body = json.dumps(out).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, fmt, *args):
        pass
ThreadingHTTPServer(("127.0.0.1", int(os.environ["PORT"])), H).serve_forever()
"#;

const FILE: &str = r#"
[services.front]
command = ["python3", "app.py"]
instances = 2

[services.front.health]
http = "/health"
interval = "200ms"

[services.back]
command = ["python3", "app.py"]

[services.back.health]
http = "/health"
interval = "200ms"

[flags.new_profile]
enabled = true
rollout = 30
force_on = { header = "X-Beta", values = ["1"] }
"#;

/// What `front` saw of `new_profile` for a request with `extra` header lines.
fn seen(p: &Platform, path: &str, extra: &str) -> serde_json::Value {
    let raw = format!("GET {path} HTTP/1.1\r\nHost: front\r\n{extra}Connection: close\r\n\r\n");
    let (status, text) = raw_http(p.gateway, &raw);
    assert_eq!(status, 200, "{text}");
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    serde_json::from_str(body).unwrap_or_default()
}

fn on_for(p: &Platform, user: &str) -> bool {
    let v = seen(p, "/", &format!("X-User-Id: {user}\r\n"));
    match v["flags"]["x-flag-new_profile"].as_str() {
        Some("1") => true,
        Some("0") => false,
        other => panic!("no decision for {user}: {other:?} in {v}"),
    }
}

/// The users of `users` who have the flag on.
fn on_set(p: &Platform, users: &[String]) -> BTreeSet<String> {
    users.iter().filter(|u| on_for(p, u)).cloned().collect()
}

fn cli(p: &Platform, args: &[&str]) -> (bool, String) {
    let out = p.cli(args).expect("shoal cli");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

fn stored(p: &Platform) -> serde_json::Value {
    let r = p
        .api("GET", "/api/v1/flags/new_profile", None)
        .expect("api");
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

#[test]
fn flags_are_decided_at_the_edge_sticky_per_user_and_seen_down_the_call_tree() {
    let p = Platform::builder(BIN)
        .file("app.py", APP)
        .services(FILE)
        .start()
        .expect("start");
    p.wait_healthy("front", 2, HEALTHY).expect("front");
    p.wait_healthy("back", 1, HEALTHY).expect("back");

    // 30 % of 1,000 users, each answer the same on every request.
    let users: Vec<String> = (0..1000).map(|i| format!("user-{i:04}")).collect();
    let at30 = on_set(&p, &users);
    eprintln!("30 %: {} of 1000 users have the flag", at30.len());
    assert!(
        (250..=350).contains(&at30.len()),
        "{} of 1000 at 30 %",
        at30.len()
    );
    for u in users.iter().take(200) {
        assert_eq!(on_for(&p, u), at30.contains(u), "{u} answered alike");
    }

    // Forced by header; an outside `X-Flag-*` does not switch it on.
    let off = users
        .iter()
        .find(|u| !at30.contains(*u))
        .expect("a user without it");
    let forced = seen(&p, "/", &format!("X-User-Id: {off}\r\nX-Beta: 1\r\n"));
    assert_eq!(forced["flags"]["x-flag-new_profile"], "1");
    let sneaky = seen(
        &p,
        "/",
        &format!("X-User-Id: {off}\r\nX-Flag-new_profile: 1\r\n"),
    );
    assert_eq!(sneaky["flags"]["x-flag-new_profile"], "0");

    // Two hops down, `back` sees what `front` saw.
    for u in users.iter().take(20) {
        let v = seen(&p, "/chain", &format!("X-User-Id: {u}\r\n"));
        assert_eq!(v["flags"], v["back"], "{u}: {v}");
    }

    // Raised to 60 %: everyone who had it keeps it.
    let (ok, text) = cli(&p, &["flag", "set", "new_profile", "--rollout", "60"]);
    assert!(ok, "{text}");
    wait_until("the 60 % rollout", Duration::from_secs(5), || {
        (on_set(&p, &users[..100]).len() >= 45).then_some(())
    })
    .expect("applied");
    let at60 = on_set(&p, &users);
    eprintln!("60 %: {} of 1000 users have the flag", at60.len());
    assert!(
        (550..=650).contains(&at60.len()),
        "{} of 1000 at 60 %",
        at60.len()
    );
    let lost: Vec<&String> = at30.difference(&at60).collect();
    assert!(lost.is_empty(), "users who lost the flag: {lost:?}");

    // Bad edits are refused and change nothing.
    let before = stored(&p);
    for (args, says) in [
        (
            vec!["flag", "set", "new_profil", "--rollout", "10"],
            "new_profile",
        ),
        (
            vec!["flag", "set", "new_profile", "--rollout", "150"],
            "150",
        ),
        (
            vec!["flag", "set", "new_profile", "--constraint", "heder:X-A=1"],
            "heder",
        ),
    ] {
        let (ok, text) = cli(&p, &args);
        assert!(!ok, "{args:?} was accepted: {text}");
        assert!(text.contains(says), "{args:?}: {text}");
    }
    assert_eq!(stored(&p)["rollout"], before["rollout"]);
    assert_eq!(stored(&p)["constraints"], before["constraints"]);

    // Counted: `/metrics` and the last minute in `shoal flag list`.
    let metrics = p.api("GET", "/metrics", None).expect("metrics").text();
    assert!(
        metrics.contains("shoal_flag_evaluations_total{flag=\"new_profile\",value=\"1\"}"),
        "{metrics}"
    );
    wait_until("last minute's counts", Duration::from_secs(10), || {
        let (ok, text) = cli(&p, &["flag", "list", "--json"]);
        let v: serde_json::Value = serde_json::from_str(&text).ok()?;
        let n = v[0]["evaluations"]["1"].as_u64()?;
        (ok && n > 0).then_some(())
    })
    .expect("shoal flag list counts evaluations");

    // Switched off under load: no request fails, and the new decision shows fast.
    let always = at60.iter().next().expect("a user with it").clone();
    let load = Traffic::start(&p, 4, "front", "/");
    load.wait_for(&p, 200);
    let (ok, text) = cli(&p, &["flag", "set", "new_profile", "--off"]);
    assert!(ok, "{text}");
    let set_at = Instant::now();
    wait_until("the flag off", Duration::from_secs(5), || {
        (!on_for(&p, &always)).then_some(())
    })
    .expect("off");
    let visible = set_at.elapsed();
    load.wait_for(&p, 200);
    let (answered, failed, errors) = load.finish();
    assert_eq!(failed, 0, "{errors:?}");
    assert!(answered > 400);
    eprintln!("flag change visible after {visible:?} ({answered} requests, 0 failed)");
    assert!(
        visible < Duration::from_secs(1),
        "visible after {visible:?}"
    );

    // The change is an event.
    let ev = p
        .api("GET", "/api/v1/events?kind=flag", None)
        .expect("events")
        .text();
    assert!(ev.contains("new_profile"), "{ev}");
}
