//! Property tests of the rollout plan: random sizes, health flips and clock steps,
//! the plan applied as the agent would, and its promises checked after every pass.

use std::collections::BTreeMap;

use proptest::prelude::{prop, prop_assert, prop_assert_eq, prop_oneof, proptest, ProptestConfig};
use proptest::strategy::Strategy as _;
use shoal_catalog::Health;
use shoal_spec::Strategy;

use super::tests_support::*;
use super::{plan, Deployment, Line, Observed, Plan, Status};

#[derive(Debug, Clone)]
enum Event {
    /// The clock moves on (ms).
    Tick(u64),
    /// Instance `i` (modulo the running ones) changes health.
    Flip(usize, u8),
}

fn events() -> impl proptest::strategy::Strategy<Value = Vec<Event>> {
    prop::collection::vec(
        prop_oneof![
            (0u64..4000).prop_map(Event::Tick),
            (0usize..16, 0u8..3).prop_map(|(i, h)| Event::Flip(i, h)),
        ],
        1..80,
    )
}

fn health(h: u8) -> Health {
    match h {
        0 => Health::Passing,
        1 => Health::Critical,
        _ => Health::Starting,
    }
}

fn serving(obs: &[Observed]) -> usize {
    obs.iter().filter(|o| o.serving()).count()
}

/// Applies one plan the way the agent does: stops leave, placed instances start
/// without a verdict, the deployment record is replaced.
fn apply(p: &Plan, obs: &mut Vec<Observed>, d: &mut Deployment, seq: &mut u64, version: &str) {
    obs.retain(|o| !p.stop.iter().any(|s| s.id == o.id));
    for _ in 0..p.place {
        *seq += 1;
        obs.push(inst(
            &format!("n{seq}"),
            version,
            NEW,
            Health::Starting,
            None,
            *seq,
        ));
    }
    if let Some(next) = &p.deployment {
        *d = next.clone();
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    /// Rolling: never more than `instances + max_surge` running, never fewer serving
    /// than `instances - max_unavailable` through the plan's own stops, and a
    /// running deployment never outlives its deadline.
    #[test]
    fn rolling_keeps_its_bounds(
        n in 1u32..6,
        surge in 0u32..3,
        unavailable in 0u32..3,
        evs in events(),
    ) {
        let surge = if surge == 0 && unavailable == 0 { 1 } else { surge };
        let from = spec("1", Strategy::Rolling);
        let mut to = spec("2", Strategy::Rolling);
        to.instances = n;
        to.deploy.max_surge = surge;
        to.deploy.max_unavailable = unavailable;
        to.deploy.progress_deadline = std::time::Duration::from_secs(60);
        let mut d = deployment(&from, &to, 0);
        d.deadline_ms = 60_000;
        let mut obs: Vec<Observed> = (0..n)
            .map(|i| inst(&format!("old{i}"), "1", OLD, Health::Passing, Some(0), u64::from(i)))
            .collect();
        let mut seq = 100;
        let mut now = 0;
        let l = Line { spec: &to, count: n, fingerprint: NEW };
        for ev in evs {
            match ev {
                Event::Tick(ms) => now += ms,
                Event::Flip(i, h) => {
                    let len = obs.len();
                    if len > 0 {
                        let o = &mut obs[i % len];
                        // Only new instances flip: the test is of the plan's stops, not of crashes.
                        if o.fingerprint == NEW {
                            o.health = health(h);
                            o.healthy_since_ms = o.health.serves_traffic().then_some(now);
                        }
                    }
                }
            }
            let before = serving(&obs);
            let p = plan(l, Some(&d), &obs, &BTreeMap::new(), now);
            let total_after = obs.len() + p.place as usize - p.stop.len();
            prop_assert!(total_after <= (n + surge) as usize, "{} running > {} + {}", total_after, n, surge);
            let kept: Vec<Observed> = obs.iter().filter(|o| !p.stop.iter().any(|s| s.id == o.id)).cloned().collect();
            let floor = (n.saturating_sub(unavailable) as usize).min(before);
            prop_assert!(serving(&kept) >= floor, "serving {} < {}", serving(&kept), floor);
            apply(&p, &mut obs, &mut d, &mut seq, "2");
            if now >= d.deadline_ms && d.id == 2 {
                prop_assert!(!d.status.is_running(), "still running at {} past the deadline", now);
            }
        }
    }

    /// With new instances that become healthy, every strategy finishes (succeeded)
    /// long before its deadline, and canary weights always add up to 100.
    #[test]
    fn healthy_deployments_finish(n in 1u32..6, strategy in 0u8..3, surge in 1u32..3) {
        let strategy = [Strategy::Rolling, Strategy::BlueGreen, Strategy::Canary][strategy as usize];
        let from = spec("1", strategy);
        let mut to = spec("2", strategy);
        to.instances = n;
        to.deploy.max_surge = surge;
        let mut d = deployment(&from, &to, 0);
        let mut obs: Vec<Observed> = (0..n)
            .map(|i| inst(&format!("old{i}"), "1", OLD, Health::Passing, Some(0), u64::from(i)))
            .collect();
        let (mut seq, mut now, mut served) = (100, 0, 0u64);
        let l = Line { spec: &to, count: n, fingerprint: NEW };
        for _ in 0..200 {
            if !d.status.is_running() {
                break;
            }
            // Traffic for the canary judge: 50 requests a pass on each version.
            served += 50;
            let traffic = BTreeMap::from([
                ("1".to_string(), totals(served, 0)),
                ("2".to_string(), totals(served, 0)),
            ]);
            let p = plan(l, Some(&d), &obs, &traffic, now);
            apply(&p, &mut obs, &mut d, &mut seq, "2");
            if d.status.is_running() && d.step_started_ms.is_some() {
                prop_assert_eq!(d.weights.values().sum::<u32>(), 100);
            }
            now += 3000;
            for o in obs.iter_mut().filter(|o| o.health == Health::Starting) {
                o.health = Health::Passing;
                o.healthy_since_ms = Some(now);
            }
        }
        prop_assert_eq!(d.status, Status::Succeeded, "{:?}", d.steps);
        prop_assert!(now < d.deadline_ms);
    }
}
