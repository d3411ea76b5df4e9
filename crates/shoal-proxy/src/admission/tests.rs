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
