//! Tests of admission: priorities, shares, the rate limit on a paused clock.

use super::*;

fn policy(priority: Priority, share: Option<f64>) -> CallerPolicy {
    CallerPolicy { priority, share }
}

#[test]
fn priorities_are_shed_from_low_to_critical() {
    let max = 100;
    assert!(decide(Priority::Low, None, 0, 49, max).is_ok());
    assert!(decide(Priority::Low, None, 0, 50, max).is_err());
    assert!(decide(Priority::Normal, None, 0, 79, max).is_ok());
    assert!(decide(Priority::Normal, None, 0, 80, max).is_err());
    assert!(decide(Priority::High, None, 0, 85, max).is_ok());
    assert!(decide(Priority::Critical, None, 0, 99, max).is_ok());
    assert!(decide(Priority::Critical, None, 0, 100, max).is_err());
}

#[test]
fn a_share_is_reserved_and_capped() {
    // Within its share a low caller passes even when the service is busy...
    assert!(decide(Priority::Low, Some(10), 5, 95, 100).is_ok());
    // ...and never beyond it, even when idle.
    assert!(decide(Priority::Critical, Some(10), 10, 10, 100).is_err());
}

#[tokio::test(start_paused = true)]
async fn guards_release_slots() {
    let limits = LimitsSpec {
        rps: None,
        max_inflight: Some(10),
        ..LimitsSpec::default()
    };
    let mut callers = BTreeMap::new();
    callers.insert("reports".to_owned(), policy(Priority::Low, Some(0.2)));
    callers.insert("frontend".to_owned(), policy(Priority::Critical, None));
    let a = Arc::new(Admission::new(Some(&limits), &callers));
    let r1 = a.admit("reports");
    let r2 = a.admit("reports");
    assert!(r1.is_ok() && r2.is_ok());
    assert_eq!(
        a.admit("reports").err(),
        Some(Refusal::Shed("the caller used its share of max_inflight"))
    );
    let f: Vec<_> = (0..8).map(|_| a.admit("frontend")).collect();
    assert!(f.iter().all(Result::is_ok));
    assert!(a.admit("frontend").is_err(), "at max_inflight");
    drop(f);
    drop(r1);
    assert_eq!(a.inflight(), 1);
    assert!(a.admit("reports").is_ok());
    assert_eq!(a.shed.load(Ordering::Relaxed), 2);
}

#[tokio::test(start_paused = true)]
async fn rate_limit_refuses_with_retry_after_and_refills() {
    let limits = LimitsSpec {
        rps: Some(5.0),
        max_inflight: None,
        ..LimitsSpec::default()
    };
    let a = Arc::new(Admission::new(Some(&limits), &BTreeMap::new()));
    let ok = (0..10).filter(|_| a.admit("x").is_ok()).count();
    assert_eq!(ok, 5, "burst of one second");
    match a.admit("x") {
        Err(Refusal::RateLimited { retry_after }) => {
            assert!(retry_after <= Duration::from_millis(200), "{retry_after:?}");
        }
        other => panic!("expected rate limit, got {other:?}"),
    }
    tokio::time::advance(Duration::from_millis(200)).await;
    assert!(a.admit("x").is_ok());
    assert!(a.admit("x").is_err());
    assert_eq!(a.rate_limited.load(Ordering::Relaxed), 7);
}

#[tokio::test(start_paused = true)]
async fn a_queue_holds_what_would_be_shed_until_a_place_frees_or_it_times_out() {
    let limits = LimitsSpec {
        max_inflight: Some(2),
        queue: Some(1),
        queue_timeout: Some(Duration::from_millis(500)),
        ..LimitsSpec::default()
    };
    let a = Arc::new(Admission::new(Some(&limits), &BTreeMap::new()));
    let first = a.admit("x").expect("room");
    let _second = a.admit("x").expect("room");
    // Full: the next one waits, and gets the place the first one frees.
    let waiter = {
        let a = a.clone();
        tokio::spawn(async move { a.admit_waiting("x").await })
    };
    tokio::time::sleep(Duration::from_millis(50)).await;
    // The queue (1) is taken: another one is shed at once.
    assert!(matches!(a.admit_waiting("x").await, Err(Refusal::Shed(_))));
    drop(first);
    let third = waiter.await;
    assert!(matches!(third, Ok(Ok(_))), "{third:?}");
    assert_eq!(
        a.shed.load(Ordering::Relaxed),
        1,
        "only the one the full queue refused"
    );
    // Nothing frees: shed after the timeout, not before.
    let began = tokio::time::Instant::now();
    let timed_out = a.admit_waiting("x").await;
    assert!(matches!(timed_out, Err(Refusal::Shed(_))));
    assert!(
        began.elapsed() >= Duration::from_millis(500),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(a.shed.load(Ordering::Relaxed), 2);
    drop(third);
}
