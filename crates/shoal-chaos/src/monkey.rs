//! The chaos monkey's decisions: when a kill experiment is due, and which instance
//! dies (never one that would leave fewer serving than the floor).

use rand::seq::IndexedRandom;
use rand::Rng;

use crate::model::{Experiment, Fault};

/// Whether `e` (a kill experiment) should kill now: `every_ms` after its start, then
/// `every_ms` after its last kill (or its last due time when nothing could be killed).
pub fn due(e: &Experiment, last_ms: Option<u64>, now_ms: u64) -> bool {
    let Fault::Kill { every_ms, .. } = e.fault else {
        return false;
    };
    let from = last_ms.unwrap_or(e.started_ms);
    e.active(now_ms) && now_ms >= from.saturating_add(every_ms)
}

/// A random one of `serving` (the service's instances that serve traffic now) to
/// kill, if more than `floor` serve; `None` leaves the service alone.
pub fn victim<'a>(serving: &[&'a str], floor: u32, rng: &mut impl Rng) -> Option<&'a str> {
    if serving.len() <= floor as usize {
        return None;
    }
    serving.choose(rng).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rand::SeedableRng;

    fn kill(every_ms: u64, floor: u32) -> Experiment {
        Experiment {
            id: "chaos-1".into(),
            service: "web".into(),
            caller: None,
            fault: Fault::Kill { every_ms, floor },
            started_ms: 1_000,
            until_ms: 60_000,
        }
    }

    #[test]
    fn kills_come_at_the_rate_and_stop_at_the_end() {
        let e = kill(5_000, 1);
        assert!(!due(&e, None, 5_999));
        assert!(due(&e, None, 6_000));
        assert!(!due(&e, Some(6_000), 10_999));
        assert!(due(&e, Some(6_000), 11_000));
        assert!(!due(&e, Some(50_000), 60_000), "ended");
    }

    proptest! {
        #[test]
        fn never_below_the_floor(n in 0usize..8, floor in 0u32..8, seed: u64) {
            let names: Vec<String> = (0..n).map(|i| format!("web-{i}")).collect();
            let serving: Vec<&str> = names.iter().map(String::as_str).collect();
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
            match victim(&serving, floor, &mut rng) {
                Some(v) => {
                    prop_assert!(serving.len() > floor as usize);
                    prop_assert!(serving.contains(&v));
                }
                None => prop_assert!(serving.len() <= floor as usize),
            }
        }
    }
}
