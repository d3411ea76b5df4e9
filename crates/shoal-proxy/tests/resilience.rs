//! Resilience through a real proxy to real upstreams: breaker, rate limit,
//! fallback, timeout, priority shedding, retries of requests that never arrived.

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use common::*;
use shoal_proxy::{CircuitState, Hooks, RouteTable};
use shoal_spec::{CallerPolicy, CircuitSpec, FallbackSpec, LimitsSpec, Priority, ResilienceSpec};

fn with(res: ResilienceSpec, ups: &[&Upstream]) -> RouteTable {
    let mut s = spec("svc", "1");
    s.resilience = Some(res);
    let recs: Vec<_> = ups.iter().map(|u| record("svc", u, "1")).collect();
    table(vec![s], &recs, &RouteTable::default())
}

#[tokio::test]
async fn breaker_opens_half_opens_and_closes() {
    let u = Upstream::start("u").await;
    u.set(FAIL);
    let circuit = CircuitSpec {
        error_rate: 0.5,
        min_requests: 5,
        window: Duration::from_secs(10),
        open_for: Duration::from_millis(300),
    };
    let h = Harness::start(
        with(
            ResilienceSpec {
                circuit: Some(circuit),
                ..Default::default()
            },
            &[&u],
        ),
        Hooks::default(),
    )
    .await;
    let c = client();
    let state = |h: &Harness| h.proxy.snapshot().services["svc"].circuit;
    for _ in 0..5 {
        assert_eq!(get(&c, h.gateway, "svc", "/").await.status, 500);
    }
    assert_eq!(state(&h), Some(CircuitState::Open));
    let open = get(&c, h.gateway, "svc", "/").await;
    assert_eq!((open.status, open.reason()), (503, "circuit-open"));
    assert_eq!(open.body["error"], "circuit-open");
    let hits = u.hits();
    // A failed probe opens it again.
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(get(&c, h.gateway, "svc", "/").await.status, 500);
    assert_eq!(u.hits(), hits + 1, "exactly one probe went through");
    assert_eq!(
        get(&c, h.gateway, "svc", "/").await.reason(),
        "circuit-open"
    );
    u.set(OK);
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert_eq!(
        get(&c, h.gateway, "svc", "/").await.status,
        200,
        "probe succeeds"
    );
    assert_eq!(state(&h), Some(CircuitState::Closed));
    for _ in 0..10 {
        assert_eq!(get(&c, h.gateway, "svc", "/").await.status, 200);
    }
    println!(
        "breaker: rejected={}",
        h.proxy.snapshot().services["svc"].circuit_rejected
    );
}

#[tokio::test]
async fn rate_limit_answers_429_with_retry_after() {
    let u = Upstream::start("u").await;
    let limits = LimitsSpec {
        rps: Some(5.0),
        max_inflight: None,
        ..LimitsSpec::default()
    };
    let h = Harness::start(
        with(
            ResilienceSpec {
                limits: Some(limits),
                ..Default::default()
            },
            &[&u],
        ),
        Hooks::default(),
    )
    .await;
    let c = client();
    let mut limited = 0;
    for _ in 0..20 {
        let a = get(&c, h.gateway, "svc", "/").await;
        if a.status == 429 {
            limited += 1;
            assert_eq!(a.reason(), "rate-limited");
            assert_eq!(a.headers["retry-after"], "1");
        }
    }
    println!(
        "rate limit 5 rps: {limited} of 20 limited, upstream saw {}",
        u.hits()
    );
    assert!(limited >= 14, "{limited}");
    assert_eq!(h.proxy.snapshot().services["svc"].rate_limited, limited);
}

#[tokio::test]
async fn fallback_answers_failed_calls_and_open_circuits() {
    let u = Upstream::start("u").await;
    u.set(FAIL);
    let res = ResilienceSpec {
        fallback: Some(FallbackSpec {
            status: 200,
            body: "{}".into(),
            content_type: "application/json".into(),
        }),
        circuit: Some(CircuitSpec {
            min_requests: 3,
            ..Default::default()
        }),
        ..Default::default()
    };
    let h = Harness::start(with(res, &[&u]), Hooks::default()).await;
    let c = client();
    for _ in 0..6 {
        let a = get(&c, h.gateway, "svc", "/").await;
        assert_eq!(
            (a.status, a.reason(), a.text.as_str()),
            (200, "fallback", "{}")
        );
        assert_eq!(a.headers["content-type"], "application/json");
    }
    assert_eq!(
        u.hits(),
        3,
        "after 3 failures the circuit is open and the fallback answers alone"
    );
    assert_eq!(h.proxy.snapshot().services["svc"].fallbacks, 6);
}

#[tokio::test]
async fn slow_instances_time_out_with_504() {
    let u = Upstream::start("u").await;
    u.set(SLOW);
    let res = ResilienceSpec {
        timeout: Some(Duration::from_millis(100)),
        ..Default::default()
    };
    let h = Harness::start(with(res, &[&u]), Hooks::default()).await;
    let a = get(&client(), h.gateway, "svc", "/").await;
    assert_eq!((a.status, a.reason()), (504, "timeout"));
}

#[tokio::test]
async fn requests_that_never_arrived_are_retried_even_when_not_idempotent() {
    let dead = Upstream::start("dead").await;
    let alive = Upstream::start("alive").await;
    dead.kill();
    tokio::task::yield_now().await;
    let h = Harness::start(
        with(ResilienceSpec::default(), &[&dead, &alive]),
        Hooks::default(),
    )
    .await;
    let c = client();
    for _ in 0..10 {
        let a = send(&c, h.gateway, "POST", "svc", "/", &[]).await;
        assert_eq!(
            (a.status, a.body["name"].as_str()),
            (200, Some("alive")),
            "{}",
            a.text
        );
    }
    // A POST that reached an instance and failed is not retried.
    alive.set(FAIL);
    let a = send(&c, h.gateway, "POST", "svc", "/", &[]).await;
    assert_eq!(a.status, 500);
}

#[tokio::test]
async fn priority_shedding_keeps_critical_callers_whole() {
    let u = Upstream::start("u").await;
    u.set(SLOW);
    let mut callers = BTreeMap::new();
    callers.insert(
        "frontend".to_owned(),
        CallerPolicy {
            priority: Priority::Critical,
            share: None,
        },
    );
    callers.insert(
        "reports".to_owned(),
        CallerPolicy {
            priority: Priority::Low,
            share: None,
        },
    );
    let res = ResilienceSpec {
        limits: Some(LimitsSpec {
            rps: None,
            max_inflight: Some(10),
            ..LimitsSpec::default()
        }),
        callers,
        ..Default::default()
    };
    let h = Harness::start(with(res, &[&u]), Hooks::default()).await;
    let front = h.proxy.bind_outbound("frontend").expect("bind");
    let reports = h.proxy.bind_outbound("reports").expect("bind");
    let run = |addr, workers: usize| {
        (0..workers)
            .map(|_| {
                tokio::spawn(async move {
                    let c = client();
                    let mut codes = Vec::new();
                    for _ in 0..4 {
                        let a = get(&c, addr, "svc", "/").await;
                        codes.push((a.status, a.reason().to_owned()));
                    }
                    codes
                })
            })
            .collect::<Vec<_>>()
    };
    let (f, r) = (run(front, 4), run(reports, 12));
    let mut fc = Vec::new();
    for t in f {
        fc.extend(t.await.expect("frontend loop"));
    }
    let mut rc = Vec::new();
    for t in r {
        rc.extend(t.await.expect("reports loop"));
    }
    let ok = |v: &[(u16, String)]| v.iter().filter(|(s, _)| *s == 200).count();
    let shed = rc
        .iter()
        .filter(|(s, why)| *s == 503 && why == "shed")
        .count();
    println!(
        "frontend {}/{} ok; reports {}/{} ok, {shed} shed",
        ok(&fc),
        fc.len(),
        ok(&rc),
        rc.len()
    );
    assert_eq!(ok(&fc), fc.len(), "critical caller never shed: {fc:?}");
    assert!(shed > 0, "low-priority caller shed under load");
    assert_eq!(ok(&rc) + shed, rc.len());
}
