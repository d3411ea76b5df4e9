//! Feature flags through a real proxy: the gateway decides every flag once and
//! drops the client's `X-Flag-*` (unless a `force_on` rule reads it); an outbound
//! listener passes a request's decisions on unchanged and decides for a request
//! that brings none; the access record carries what the request was sent with.

mod common;

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use common::*;
use shoal_flags::{Flag, ForceOn};
use shoal_proxy::{AccessRecord, FlagsRoute, Hooks, RouteTable};

fn with_flags(u: &Upstream, flags: &[Flag]) -> RouteTable {
    let mut t = one_service(u);
    let defs: BTreeMap<String, Flag> = flags.iter().map(|f| (f.name.clone(), f.clone())).collect();
    t.flags = Arc::new(FlagsRoute::new(defs, &FlagsRoute::default()));
    t
}

fn flag(name: &str, rollout: f64) -> Flag {
    let mut f = Flag::new(name);
    f.enabled = true;
    f.rollout = rollout;
    f
}

#[tokio::test]
async fn the_gateway_decides_and_drops_what_clients_send() {
    let u = Upstream::start("u").await;
    let mut beta = flag("beta", 0.0);
    beta.force_on = vec![ForceOn {
        header: "X-Flag-beta".into(),
        values: vec!["1".into()],
    }];
    let flags = [flag("on", 100.0), flag("off", 0.0), beta];
    let seen: Arc<Mutex<Vec<Option<String>>>> = Arc::default();
    let sink = seen.clone();
    let hooks = Hooks {
        observer: None,
        access_log: Some(Arc::new(move |r: AccessRecord| {
            sink.lock()
                .expect("log")
                .push(r.flags.map(|f| f.as_str().to_owned()));
        })),
        ..Hooks::default()
    };
    let h = Harness::start(with_flags(&u, &flags), hooks).await;
    let c = client();

    // Outside headers: `X-Flag-off: 1` is dropped (the decision wins); the
    // `force_on` rule that reads `X-Flag-beta` turns beta on.
    let a = send(
        &c,
        h.gateway,
        "GET",
        "svc",
        "/",
        &[
            ("x-flag-off", "1"),
            ("x-flag-beta", "1"),
            ("x-flag-made-up", "1"),
        ],
    )
    .await;
    assert_eq!(a.status, 200);
    assert_eq!(a.seen("x-flag-on"), "1");
    assert_eq!(a.seen("x-flag-off"), "0");
    assert_eq!(a.seen("x-flag-beta"), "1");
    assert_eq!(
        a.seen("x-flag-made-up"),
        "",
        "an unknown flag from outside is dropped"
    );

    let b = get(&c, h.gateway, "svc", "/").await;
    assert_eq!(b.seen("x-flag-beta"), "0");
    let logged = seen.lock().expect("log").clone();
    assert_eq!(
        logged,
        [
            Some("beta=1,off=0,on=1".to_owned()),
            Some("beta=0,off=0,on=1".to_owned())
        ]
    );
}

#[tokio::test]
async fn the_mesh_passes_decisions_on_and_decides_for_requests_without() {
    let u = Upstream::start("u").await;
    let h = Harness::start(with_flags(&u, &[flag("on", 100.0)]), Hooks::default()).await;
    let outbound = h.proxy.bind_outbound("caller").expect("outbound");
    let c = client();
    // A hop inside a call tree: its decision is kept, even one that differs.
    let a = send(&c, outbound, "GET", "svc", "/", &[("x-flag-on", "0")]).await;
    assert_eq!(a.seen("x-flag-on"), "0");
    // A request entering the mesh here (a batch job): decided at this first hop.
    let b = get(&c, outbound, "svc", "/").await;
    assert_eq!(b.seen("x-flag-on"), "1");
}

#[tokio::test]
async fn a_sticky_rollout_splits_users_and_keeps_each_ones_answer() {
    let u = Upstream::start("u").await;
    let h = Harness::start(with_flags(&u, &[flag("new", 30.0)]), Hooks::default()).await;
    let c = client();
    let mut on = 0;
    for i in 0..200 {
        let user = format!("user-{i}");
        let a = send(&c, h.gateway, "GET", "svc", "/", &[("x-user-id", &user)]).await;
        let again = send(&c, h.gateway, "GET", "svc", "/", &[("x-user-id", &user)]).await;
        assert_eq!(a.seen("x-flag-new"), again.seen("x-flag-new"), "{user}");
        on += usize::from(a.seen("x-flag-new") == "1");
    }
    // 30 % of 200 is 60; the bucket hash keeps it near (checked on 1,000 users in
    // the platform test and on 10,000 in shoal-flags).
    assert!((35..=85).contains(&on), "{on} of 200 on");
}
