//! What one decision says: the count, why, what each metric asked for, and what held it back.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::metric::{Metric, Recommendation};
use crate::state::State;
use crate::text::{list, when};

/// The autoscaler's decision for one service at one moment.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Decision {
    /// The instance count to run, always within the spec's `[min, max]`.
    pub desired: u32,
    /// Whether `desired` differs from the count asked for before ([`State::desired`]).
    pub changed: bool,
    /// For people: the deciding metric and what was done, e.g.
    /// `rps 480 over 2 instances (240 each), target 200 → 3; scale up 2 → 3 (step cap 4)`.
    pub reason: String,
    /// What each targeted metric with data asked for, in the spec's order.
    pub recommendations: Vec<Recommendation>,
    /// What kept `desired` from following the largest recommendation, if anything.
    pub held_by: Option<Hold>,
    /// The memory to hand to the next decision.
    pub next: State,
}

/// Why a decision did not (fully) follow what the metrics asked for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Hold {
    /// A scale-up waits: the previous one was less than `up_cooldown` ago.
    Cooldown {
        /// When a scale-up may happen again (unix ms).
        until_ms: u64,
    },
    /// A scale-down is held (or cut short) by a higher recommendation still inside
    /// `down_stabilization`.
    Stabilization {
        /// The highest count asked within the window.
        count: u32,
        /// When the window stops holding the decided count (unix ms): the earliest
        /// time the count can go lower.
        until_ms: u64,
    },
    /// Every metric is within `tolerance` of its target.
    Tolerance,
    /// Over target, but the instances still starting will carry the load.
    Starting {
        /// How many are starting.
        starting: u32,
    },
    /// The metrics asked for more than `max` or fewer than `min`.
    Bounds {
        /// The bound that held.
        bound: u32,
    },
    /// A scale-up was cut to `max(current + 1, ceil(current × max_step_up))`.
    StepCap {
        /// The largest count this step allowed.
        cap: u32,
    },
    /// No targeted metric has usable data: no action.
    MissingMetrics {
        /// The metrics without data, in the spec's order.
        missing: Vec<Metric>,
    },
    /// The spec has no target: the count only follows the bounds.
    NoTarget,
}

impl fmt::Display for Hold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Hold::Cooldown { until_ms } => write!(f, "up_cooldown until {}", when(*until_ms)),
            Hold::Stabilization { count, until_ms } => write!(
                f,
                "down_stabilization: {count} asked, in the window until {}",
                when(*until_ms)
            ),
            Hold::Tolerance => f.write_str("every metric within tolerance"),
            Hold::Starting { starting } => write!(f, "{starting} instances starting"),
            Hold::Bounds { bound } => write!(f, "bound {bound}"),
            Hold::StepCap { cap } => write!(f, "max_step_up cap {cap}"),
            Hold::MissingMetrics { missing } => write!(f, "no data for {}", list(missing)),
            Hold::NoTarget => f.write_str("no target"),
        }
    }
}

impl fmt::Display for Decision {
    /// The reason, as `reason`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reason)
    }
}
