//! Routing through a real proxy to real upstreams: version styles, trace headers,
//! outbound callers, table swaps, and instance loss under load.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use shoal_proxy::{AccessRecord, Hooks, RequestRecord, RouteTable};
use shoal_spec::{ResilienceSpec, RetrySpec, VersionSpec};

fn versioned(u23: &Upstream, u22: &Upstream) -> RouteTable {
    let mut s = spec("profile", "23");
    s.routes = vec!["/profile".into()];
    s.versions.insert(
        "22".into(),
        VersionSpec {
            command: None,
            instances: Some(1),
            env: Default::default(),
        },
    );
    table(
        vec![s],
        &[record("profile", u23, "23"), record("profile", u22, "22")],
        &RouteTable::default(),
    )
}

/// host, path, headers, upstream that answers, path it sees.
type Case<'a> = (&'a str, &'a str, &'a [(&'a str, &'a str)], &'a str, &'a str);

#[tokio::test]
async fn each_version_style_reaches_its_version() {
    let (u23, u22) = (Upstream::start("u23").await, Upstream::start("u22").await);
    let h = Harness::start(versioned(&u23, &u22), Hooks::default()).await;
    let c = client();
    let cases: [Case; 7] = [
        ("profile", "/ada", &[], "u23", "/ada"),
        ("profile", "/v22/ada", &[], "u22", "/ada"),
        ("x.example", "/v22/profile/ada", &[], "u22", "/profile/ada"),
        ("profile", "/ada", &[("x-version", "22")], "u22", "/ada"),
        ("profile", "/ada?version=22", &[], "u22", "/ada?version=22"),
        (
            "profile",
            "/ada",
            &[("accept", "application/vnd.shoal.profile.v22+json")],
            "u22",
            "/ada",
        ),
        ("profile", "/ada", &[("x-version", "7")], "u23", "/ada"),
    ];
    for (host, path, headers, want, seen_path) in cases {
        let a = send(&c, h.gateway, "GET", host, path, headers).await;
        assert_eq!(a.status, 200, "{host} {path}: {}", a.text);
        assert_eq!(a.body["name"], want, "{host} {path} {headers:?}");
        assert_eq!(a.body["path"], seen_path);
        assert_eq!(a.seen("x-version"), if want == "u22" { "22" } else { "23" });
    }
    let miss = get(&c, h.gateway, "nothing", "/nowhere").await;
    assert_eq!((miss.status, miss.reason()), (404, "no-route"));
    assert_eq!(miss.body["error"], "no-route");
    println!("version styles: 7 cases ok");
}

#[tokio::test]
async fn trace_context_is_created_and_continued() {
    let u = Upstream::start("u").await;
    let log: Arc<Mutex<Vec<AccessRecord>>> = Arc::default();
    let sink = log.clone();
    let hooks = Hooks {
        access_log: Some(Arc::new(move |r: AccessRecord| {
            sink.lock().expect("log").push(r)
        })),
        observer: None,
        ..Hooks::default()
    };
    let h = Harness::start(
        table(
            vec![spec("svc", "1")],
            &[record("svc", &u, "1")],
            &RouteTable::default(),
        ),
        hooks,
    )
    .await;
    let c = client();
    let fresh = send(&c, h.gateway, "GET", "svc", "/", &[("x-flag-beta", "1")]).await;
    let tp = fresh.seen("traceparent").to_owned();
    let parts: Vec<&str> = tp.split('-').collect();
    assert_eq!(parts.len(), 4, "{tp}");
    assert_eq!(
        (parts[0], parts[1].len(), parts[2].len(), parts[3]),
        ("00", 32, 16, "01")
    );
    assert_eq!(fresh.seen("x-trace-id"), parts[1]);
    assert_eq!(fresh.headers["x-trace-id"], parts[1]);
    assert_eq!(fresh.seen("x-flag-beta"), "1");

    let incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let cont = send(
        &c,
        h.gateway,
        "GET",
        "svc",
        "/",
        &[("traceparent", incoming)],
    )
    .await;
    let tp2 = cont.seen("traceparent");
    assert!(
        tp2.starts_with("00-4bf92f3577b34da6a3ce929d0e0e4736-"),
        "{tp2}"
    );
    assert!(
        !tp2.contains("00f067aa0ba902b7"),
        "a new span id per hop: {tp2}"
    );
    assert_eq!(cont.seen("x-trace-id"), "4bf92f3577b34da6a3ce929d0e0e4736");
    let recs = log.lock().expect("log").clone();
    assert_eq!(recs.len(), 2);
    let t = recs[1].texts();
    assert_eq!(t.parent_span_id, Some("00f067aa0ba902b7"));
    assert_eq!(t.trace_id, "4bf92f3577b34da6a3ce929d0e0e4736");
    assert_eq!(
        (recs[1].status, t.caller, t.service),
        (200, "gateway", "svc")
    );
    assert_eq!(t.instance, Some("u"));
}

/// service, version, code, caller as the observer saw them.
type Row = (String, String, u16, String);

#[tokio::test]
async fn outbound_listener_sets_the_caller_from_the_listener() {
    let u = Upstream::start("u").await;
    let seen: Arc<Mutex<Vec<Row>>> = Arc::default();
    let sink = seen.clone();
    let hooks = Hooks {
        observer: Some(Arc::new(move |r: &RequestRecord<'_>| {
            let row = (
                r.service.to_owned(),
                r.version.to_owned(),
                r.code,
                r.caller.to_owned(),
            );
            sink.lock().expect("obs").push(row);
        })),
        access_log: None,
        ..Hooks::default()
    };
    let h = Harness::start(
        table(
            vec![spec("api", "3")],
            &[record("api", &u, "3")],
            &RouteTable::default(),
        ),
        hooks,
    )
    .await;
    let out = h.proxy.bind_outbound("web").expect("bind outbound");
    assert_eq!(
        h.proxy.bind_outbound("web").expect("again"),
        out,
        "idempotent"
    );
    let c = client();
    let a = send(&c, out, "GET", "api", "/x", &[("x-shoal-caller", "admin")]).await;
    assert_eq!(a.status, 200);
    assert_eq!(a.seen("x-shoal-caller"), "web");
    let recs = seen.lock().expect("obs").clone();
    let expected = ("api".to_owned(), "3".to_owned(), 200, "web".to_owned());
    assert_eq!(recs[0], expected);
    assert_eq!(
        h.proxy.snapshot().outbound.get("web"),
        Some(&out.to_string())
    );
}

#[tokio::test]
async fn removed_or_unhealthy_instances_stop_receiving_traffic() {
    let (a, b, d) = (
        Upstream::start("a").await,
        Upstream::start("b").await,
        Upstream::start("d").await,
    );
    let all = [
        record("svc", &a, "1"),
        record("svc", &b, "1"),
        record("svc", &d, "1"),
    ];
    let h = Harness::start(
        table(vec![spec("svc", "1")], &all, &RouteTable::default()),
        Hooks::default(),
    )
    .await;
    let c = client();
    for _ in 0..60 {
        assert_eq!(get(&c, h.gateway, "svc", "/").await.status, 200);
    }
    assert!(a.hits() > 0 && b.hits() > 0 && d.hits() > 0);
    let mut sick = record("svc", &d, "1");
    sick.health = shoal_catalog::Health::Critical;
    let prev = h.proxy.table().load_full();
    h.swap(table(
        vec![spec("svc", "1")],
        &[record("svc", &a, "1"), sick],
        &prev,
    ));
    let (b0, d0) = (b.hits(), d.hits());
    for _ in 0..40 {
        assert_eq!(get(&c, h.gateway, "svc", "/").await.body["name"], "a");
    }
    assert_eq!(
        (b.hits(), d.hits()),
        (b0, d0),
        "removed and unhealthy instances got no request"
    );
    println!("after swap: a={} b={} d={}", a.hits(), b.hits(), d.hits());
}

#[tokio::test]
async fn losing_one_of_three_instances_under_load_fails_nothing() {
    let ups = [
        Upstream::start("a").await,
        Upstream::start("b").await,
        Upstream::start("c").await,
    ];
    let mut s = spec("svc", "1");
    s.resilience = Some(ResilienceSpec {
        retries: Some(RetrySpec {
            attempts: 2,
            budget: 0.2,
        }),
        ..Default::default()
    });
    let recs: Vec<_> = ups.iter().map(|u| record("svc", u, "1")).collect();
    let h = Harness::start(
        table(vec![s], &recs, &RouteTable::default()),
        Hooks::default(),
    )
    .await;
    let gw = h.gateway;
    let mut loops = Vec::new();
    for _ in 0..8 {
        loops.push(tokio::spawn(async move {
            let c = client();
            let mut failed = Vec::new();
            for _ in 0..150 {
                let a = get(&c, gw, "svc", "/").await;
                if a.status != 200 {
                    failed.push(a.text);
                }
            }
            failed
        }));
    }
    // Kill b once about a quarter of the load has been served (bounded wait).
    for _ in 0..500 {
        if ups.iter().map(Upstream::hits).sum::<u64>() >= 300 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    ups[1].kill();
    let before = ups[1].hits();
    let mut failed = Vec::new();
    for l in loops {
        failed.extend(l.await.expect("load loop"));
    }
    let snap = h.proxy.snapshot();
    let svc = &snap.services["svc"];
    println!(
        "1200 GETs, instance b killed after {before}: failed={} retries={} ejections={} hits a={} b={} c={}",
        failed.len(), svc.retries, svc.ejections, ups[0].hits(), ups[1].hits(), ups[2].hits()
    );
    assert!(failed.is_empty(), "failed: {failed:?}");
    // b may have counted a request it never answered (killed mid-request; retried elsewhere).
    assert!(ups[0].hits() + ups[2].hits() >= 1200 - ups[1].hits());
}

/// An instance that reads each request and resets the connection (RST, no answer).
async fn resetting_upstream() -> std::net::SocketAddr {
    use tokio::io::AsyncReadExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = s.read(&mut buf).await;
                let _ = s.set_zero_linger();
            });
        }
    });
    addr
}

/// A GET whose connection is reset before any answer goes to another instance
/// even with no `retries` configured (nginx's default): no 502 reaches the caller.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_get_reset_before_any_answer_goes_to_another_instance() {
    let good = Upstream::start("good").await;
    let bad = resetting_upstream().await;
    let records = vec![
        shoal_catalog::InstanceRecord::new("bad", "svc", "1", "n1", "127.0.0.1", bad.port()),
        record("svc", &good, "1"),
    ];
    let h = Harness::start(
        table(vec![spec("svc", "1")], &records, &RouteTable::default()),
        Hooks::default(),
    )
    .await;
    let c = client();
    let mut statuses = Vec::new();
    for _ in 0..20 {
        statuses.push(get(&c, h.gateway, "svc", "/").await.status);
    }
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
    let snap = h.proxy.snapshot();
    assert!(
        snap.services["svc"].retries >= 1,
        "{:?}",
        snap.services["svc"]
    );
}

/// A host dying kills its instances one after another, so a GET whose connection
/// broke can be retried onto a sibling that is dying too: it goes to up to two
/// more instances. A request that breaks whatever serves it reaches three, no more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broken_get_goes_to_two_more_instances_and_no_further() {
    let good = Upstream::start("good").await;
    let bad = [resetting_upstream().await, resetting_upstream().await];
    let dying = |i: usize| {
        let id = format!("dying-{i}");
        shoal_catalog::InstanceRecord::new(&id, "svc", "1", "n1", "127.0.0.1", bad[i].port())
    };
    let records = vec![dying(0), dying(1), record("svc", &good, "1")];
    let h = Harness::start(
        table(vec![spec("svc", "1")], &records, &RouteTable::default()),
        Hooks::default(),
    )
    .await;
    let c = client();
    let mut statuses = Vec::new();
    for _ in 0..20 {
        statuses.push(get(&c, h.gateway, "svc", "/").await.status);
    }
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");

    // Four instances that all break the connection: one GET, three attempts.
    let mut four = Vec::new();
    for _ in 0..4 {
        four.push(resetting_upstream().await);
    }
    let records: Vec<_> = four
        .iter()
        .enumerate()
        .map(|(i, a)| {
            let id = format!("breaks-{i}");
            shoal_catalog::InstanceRecord::new(&id, "svc", "1", "n1", "127.0.0.1", a.port())
        })
        .collect();
    h.swap(table(
        vec![spec("svc", "1")],
        &records,
        &RouteTable::default(),
    ));
    let before = h.proxy.snapshot().services["svc"].retries;
    assert_eq!(get(&c, h.gateway, "svc", "/").await.status, 502);
    assert_eq!(h.proxy.snapshot().services["svc"].retries - before, 2);
}
