//! The pure rollout decision for one service's main line of instances.
//!
//! `plan(line, deployment, observed, traffic, now)` returns what to place, what to
//! stop (each with a reason), the deployment record as it should now read
//! (status, step, traffic weights, step lines) and when to look again. No clock,
//! no I/O: the agent reads the store and the processes, calls this, applies it.
//!
//! Old and new are told apart by the instance's fingerprint (a hash of its spec
//! and resolved env): instances with the line's fingerprint are *fresh*, others
//! *stale*. A fresh instance is *ready* once it has served for `min_healthy`.

use std::collections::BTreeMap;

use serde_json::json;
use shoal_catalog::{Health, InstanceState};
use shoal_spec::{ServiceSpec, Strategy};

use crate::judge::{judge, Verdict};
use crate::record::{Deployment, Order, Status, Totals};

/// What the plan knows of one running (not stopping) instance of the main line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub id: String,
    pub version: String,
    pub fingerprint: u64,
    pub state: InstanceState,
    pub health: Health,
    /// Unix ms since when it has served without a break.
    pub healthy_since_ms: Option<u64>,
    /// Start order: higher is newer.
    pub seq: u64,
}

impl Observed {
    pub fn serving(&self) -> bool {
        self.state == InstanceState::Running && self.health.serves_traffic()
    }

    fn ready(&self, min_healthy_ms: u64, now_ms: u64) -> bool {
        self.serving()
            && self
                .healthy_since_ms
                .is_some_and(|t| now_ms.saturating_sub(t) >= min_healthy_ms)
    }
}

/// The main line's desired state.
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    /// The desired spec (`shoal/spec/<service>`).
    pub spec: &'a ServiceSpec,
    /// Instances wanted (the spec's, or a `shoal scale` override).
    pub count: u32,
    /// Fingerprint of an instance started now from `spec`.
    pub fingerprint: u64,
}

/// Why an instance is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopReason {
    /// A new instance serves in its place.
    Replaced,
    /// Old and not serving anyway: it goes without a replacement first.
    NotServing,
    /// More instances than wanted.
    Surplus,
    /// Kept warm for `keep_previous`, which has passed.
    KeptLongEnough,
    /// The deployment switched traffic away from it (blue-green, canary end).
    Switched,
}

impl StopReason {
    pub fn as_str(self) -> &'static str {
        match self {
            StopReason::Replaced => "replaced by an instance of the new spec",
            StopReason::NotServing => {
                "old and not serving: stopped without waiting for a replacement"
            }
            StopReason::Surplus => "more instances than wanted",
            StopReason::KeptLongEnough => "kept warm for keep_previous, which has passed",
            StopReason::Switched => "traffic switched to the new version",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stop {
    pub id: String,
    pub reason: StopReason,
}

/// What the agent must do for one service's main line.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Plan {
    /// New instances of the line's spec to start.
    pub place: u32,
    pub stop: Vec<Stop>,
    /// The deployment record as it should now read, when it changed.
    pub deployment: Option<Deployment>,
    /// A deployment that ended in this pass and was replaced by `deployment`
    /// (a revert): goes to history. An ended deployment that stays the current
    /// record is written to history by the applier from `deployment`.
    pub ended: Option<Deployment>,
    /// Write this spec back as the service's desired spec (a revert).
    pub revert_to: Option<ServiceSpec>,
    /// Plan again by then even if nothing changes (unix ms).
    pub wake_at_ms: Option<u64>,
}

/// Decides one pass for a service's main line.
pub fn plan(
    line: Line<'_>,
    deployment: Option<&Deployment>,
    observed: &[Observed],
    traffic: &BTreeMap<String, Totals>,
    now_ms: u64,
) -> Plan {
    let mut cx = Cx::new(line, observed, now_ms);
    let Some(current) = deployment else {
        cx.steady(None);
        return cx.plan;
    };
    let mut d = current.clone();
    if d.status.is_running() {
        cx.running(&mut d, traffic);
    } else {
        cx.steady(Some(&mut d));
    }
    if cx.plan.deployment.is_none() && d != *current {
        cx.plan.deployment = Some(d);
    }
    cx.plan
}

/// One pass's working state.
struct Cx<'a> {
    line: Line<'a>,
    now: u64,
    fresh: Vec<&'a Observed>,
    stale: Vec<&'a Observed>,
    plan: Plan,
}

impl<'a> Cx<'a> {
    fn new(line: Line<'a>, observed: &'a [Observed], now: u64) -> Self {
        let (fresh, stale) = observed
            .iter()
            .partition(|o| o.fingerprint == line.fingerprint);
        Cx {
            line,
            now,
            fresh,
            stale,
            plan: Plan::default(),
        }
    }

    fn n(&self) -> usize {
        self.line.count as usize
    }

    fn min_healthy_ms(&self) -> u64 {
        self.line.spec.deploy.min_healthy.as_millis() as u64
    }

    fn ready_fresh(&self) -> usize {
        let (m, now) = (self.min_healthy_ms(), self.now);
        self.fresh.iter().filter(|o| o.ready(m, now)).count()
    }

    fn to_version(&self) -> &'a str {
        &self.line.spec.version
    }

    /// No deployment is moving the line: keep warm old instances until their
    /// time, hold a failed deployment's mix, else converge (a changed kv key or
    /// secret rolls like a rolling deployment, without a record).
    fn steady(&mut self, d: Option<&mut Deployment>) {
        let keep_until = d.as_ref().and_then(|d| d.keep_until_ms);
        let failed = d.as_ref().is_some_and(|d| d.status == Status::Failed);
        if !self.stale.is_empty() {
            if let Some(until) = keep_until.filter(|u| *u > self.now) {
                self.plan.wake_at_ms = Some(until);
                self.scale_fresh();
                return;
            }
            if keep_until.is_some() {
                for o in self.stale.clone() {
                    self.stop(o, StopReason::KeptLongEnough);
                }
                self.scale_fresh();
                return;
            }
            if failed {
                // A failed deployment holds what runs: no more replacements, so
                // the old version keeps serving; the new ones keep their restarts.
                if let Some(d) = d {
                    d.weights = self.serving_weights();
                }
                return;
            }
            let weights = self.rolling_step();
            if let Some(d) = d {
                d.weights = weights;
            }
            return;
        }
        self.scale_fresh();
        if let Some(d) = d {
            if !d.weights.is_empty() || d.keep_until_ms.is_some() {
                d.weights.clear();
                d.keep_until_ms = None;
            }
        }
    }

    /// A running deployment: orders, deadline, then its strategy.
    fn running(&mut self, d: &mut Deployment, traffic: &BTreeMap<String, Totals>) {
        let now = self.now;
        self.plan.wake_at_ms = Some(d.deadline_ms);
        d.counts = self.counts();
        if d.order == Some(Order::Abort) {
            self.revert(d, "aborted by request".to_string(), serde_json::Value::Null);
            return;
        }
        if now >= d.deadline_ms {
            let deadline = self.line.spec.deploy.progress_deadline;
            let why = format!(
                "progress deadline of {} passed: {} of {} instances of version {} ready",
                humanize(deadline.as_millis() as u64),
                self.ready_fresh(),
                self.n(),
                self.to_version()
            );
            let numbers = json!({ "ready": self.ready_fresh(), "wanted": self.n() });
            if self.line.spec.deploy.auto_revert && d.from.is_some() {
                self.revert(d, why, numbers);
            } else {
                d.weights = self.serving_weights();
                d.end(now, Status::Failed, why, numbers);
            }
            return;
        }
        match self.effective_strategy(d) {
            Strategy::Rolling => {
                d.weights = self.rolling_step();
                if self.stale.is_empty() && self.ready_fresh() >= self.n() {
                    let msg = format!(
                        "{} of {} instances of version {} ready",
                        self.ready_fresh(),
                        self.n(),
                        self.to_version()
                    );
                    d.weights.clear();
                    d.end(now, Status::Succeeded, msg, serde_json::Value::Null);
                }
            }
            Strategy::BlueGreen => self.blue_green(d),
            Strategy::Canary => self.canary(d, traffic),
        }
    }

    /// Canary and blue-green shift traffic by version: with the same version
    /// label on both sides they cannot, and roll as rolling.
    fn effective_strategy(&self, d: &mut Deployment) -> Strategy {
        let same = d.from_version().is_none_or(|v| v == self.to_version());
        if d.strategy != Strategy::Rolling && same {
            if d.steps
                .iter()
                .all(|s| !s.message.contains("rolled as rolling"))
            {
                let msg = format!(
                    "the version label stays {}: traffic cannot be split by version, so it is rolled as rolling",
                    self.to_version()
                );
                d.note(self.now, msg, serde_json::Value::Null);
            }
            return Strategy::Rolling;
        }
        d.strategy
    }

    /// Places and stops within `max_surge` / `max_unavailable`; returns the weights
    /// (serving instances per version while more than the new version serves).
    fn rolling_step(&mut self) -> BTreeMap<String, u32> {
        let deploy = &self.line.spec.deploy;
        let n = self.n();
        let total = self.fresh.len() + self.stale.len();
        let max_total = n + deploy.max_surge as usize;
        let want = n.saturating_sub(self.fresh.len());
        self.plan.place = want.min(max_total.saturating_sub(total)) as u32;
        // Old instances that serve nobody go first, without waiting.
        let (serving, idle): (Vec<&Observed>, Vec<&Observed>) =
            self.stale.iter().partition(|o| o.serving());
        for o in idle {
            self.stop(o, StopReason::NotServing);
        }
        let floor = n.saturating_sub(deploy.max_unavailable as usize);
        let available = self.ready_fresh() + serving.len();
        let mut room = available.saturating_sub(floor);
        let mut serving = serving;
        serving.sort_by_key(|o| o.seq); // oldest first
        for o in serving {
            if room == 0 {
                break;
            }
            room -= 1;
            self.stop(o, StopReason::Replaced);
        }
        if self.ready_fresh() < self.fresh.len() {
            self.wake_for_min_healthy();
        }
        self.serving_weights()
    }

    /// Serving instances per version, when another version than the new one
    /// serves (else empty: all unpinned traffic to the new version).
    fn serving_weights(&self) -> BTreeMap<String, u32> {
        let mut w: BTreeMap<String, u32> = BTreeMap::new();
        for o in self.fresh.iter().chain(&self.stale) {
            if o.serving() && !self.plan.stop.iter().any(|s| s.id == o.id) {
                *w.entry(o.version.clone()).or_default() += 1;
            }
        }
        if w.keys().all(|v| v == self.to_version()) {
            w.clear();
        }
        w
    }

    /// The whole new set starts; traffic switches at once when all of it is ready.
    fn blue_green(&mut self, d: &mut Deployment) {
        let n = self.n();
        self.plan.place = n.saturating_sub(self.fresh.len()) as u32;
        if self.ready_fresh() < n {
            d.weights = self.stale_weights();
            if self.fresh.len() >= n {
                self.wake_for_min_healthy();
            }
            return;
        }
        let msg = format!(
            "switched: all {n} instances of version {} ready, traffic moved from version {}",
            self.to_version(),
            d.from_version().unwrap_or("-")
        );
        self.switch(d, msg, serde_json::Value::Null);
    }

    /// All unpinned traffic to the new version; the old set is kept warm for
    /// `keep_previous` (stopped now when that is 0), and the deployment succeeds.
    fn switch(&mut self, d: &mut Deployment, msg: String, numbers: serde_json::Value) {
        let keep = self.line.spec.deploy.keep_previous.as_millis() as u64;
        d.weights = BTreeMap::from([(self.to_version().to_string(), 100)]);
        if keep > 0 && !self.stale.is_empty() {
            d.keep_until_ms = Some(self.now + keep);
            self.plan.wake_at_ms = d.keep_until_ms;
        } else {
            for o in self.stale.clone() {
                self.stop(o, StopReason::Switched);
            }
        }
        d.end(self.now, Status::Succeeded, msg, numbers);
    }

    /// Weights that keep unpinned traffic on the old versions (serving counts).
    fn stale_weights(&self) -> BTreeMap<String, u32> {
        let mut w: BTreeMap<String, u32> = BTreeMap::new();
        for o in self.stale.iter().filter(|o| o.serving()) {
            *w.entry(o.version.clone()).or_default() += 1;
        }
        w
    }

    /// Canary steps: each step's share of traffic goes to enough new instances;
    /// held for `interval`, then judged on the proxy's numbers.
    fn canary(&mut self, d: &mut Deployment, traffic: &BTreeMap<String, Totals>) {
        let canary = &self.line.spec.deploy.canary;
        let last = canary.steps.len().saturating_sub(1);
        if d.order == Some(Order::Promote) && d.step < last {
            d.step = last;
            d.step_started_ms = None;
            d.note(
                self.now,
                "promoted by request: all traffic to the new version once its instances are ready",
                serde_json::Value::Null,
            );
        }
        let share = u32::from(canary.steps.get(d.step).copied().unwrap_or(100));
        let n = self.n();
        let wanted = if share >= 100 {
            n
        } else {
            ((n as u64 * u64::from(share)).div_ceil(100) as usize).max(1)
        };
        self.plan.place = wanted.saturating_sub(self.fresh.len()) as u32;
        let Some(started) = d.step_started_ms else {
            if self.ready_fresh() < wanted {
                d.weights = self.stale_weights();
                self.wake_for_min_healthy();
                return;
            }
            if d.order == Some(Order::Promote) {
                let msg = format!(
                    "promoted: all {n} instances of version {} ready",
                    self.to_version()
                );
                self.switch(d, msg, serde_json::Value::Null);
                return;
            }
            d.step_started_ms = Some(self.now);
            d.marks = traffic.clone();
            d.weights = self.canary_weights(d, share);
            let msg = format!(
                "step {} of {}: {share}% of traffic on version {} for {}",
                d.step + 1,
                canary.steps.len(),
                self.to_version(),
                humanize(canary.interval.as_millis() as u64)
            );
            d.note(self.now, msg, json!({ "step": d.step, "share": share }));
            self.plan.wake_at_ms = Some(self.now + canary.interval.as_millis() as u64);
            return;
        };
        let end = started + canary.interval.as_millis() as u64;
        if self.now < end {
            self.plan.wake_at_ms = Some(end);
            return;
        }
        let window = |v: &str| -> Option<Totals> {
            let now = traffic.get(v).cloned().unwrap_or_default();
            let mark = d.marks.get(v).cloned().unwrap_or_default();
            now.since(&mark)
        };
        let to = self.to_version().to_string();
        let stable_window = d.from_version().map(window);
        let (Some(cw), None | Some(Some(_))) = (window(&to), &stable_window) else {
            // The counters began again (shoal restarted): so does the window.
            d.step_started_ms = Some(self.now);
            d.marks = traffic.clone();
            d.note(
                self.now,
                "request counters restarted: the step's window begins again",
                serde_json::Value::Null,
            );
            self.plan.wake_at_ms = Some(self.now + canary.interval.as_millis() as u64);
            return;
        };
        let stable = stable_window.flatten();
        match judge(&cw, stable.as_ref(), canary) {
            Verdict::Wait { reason } => {
                if d.reason != reason {
                    d.note(self.now, reason, serde_json::Value::Null);
                }
                self.plan.wake_at_ms = Some(self.now + 1000);
            }
            Verdict::Fail { reason, numbers } => {
                let why = format!("canary failed at {share}%: {reason}");
                self.revert(d, why, numbers);
            }
            Verdict::Pass { numbers } if d.step >= last => {
                let msg = format!(
                    "promoted: every step passed; the last at {share}% ({} requests, {} errors)",
                    cw.requests, cw.errors
                );
                self.switch(d, msg, numbers);
            }
            Verdict::Pass { numbers } => {
                let msg = format!(
                    "step {} passed at {share}% ({} requests, {} errors)",
                    d.step + 1,
                    cw.requests,
                    cw.errors
                );
                d.note(self.now, msg, numbers);
                d.step += 1;
                d.step_started_ms = None;
            }
        }
    }

    /// `share` % to the new version, the rest to the old one.
    fn canary_weights(&self, d: &Deployment, share: u32) -> BTreeMap<String, u32> {
        let mut w = BTreeMap::from([(self.to_version().to_string(), share)]);
        if let Some(from) = d.from_version() {
            if share < 100 {
                w.insert(from.to_string(), 100 - share);
            }
        }
        w
    }

    /// Ends `d` as rolled back and starts a deployment of its `from` spec (the old
    /// instances, still running, are its fresh ones: traffic returns to them now).
    /// Without a `from` there is nothing to return to: `d` fails instead.
    fn revert(&mut self, d: &mut Deployment, why: String, numbers: serde_json::Value) {
        let now = self.now;
        let Some(from) = d.from.clone() else {
            d.end(now, Status::Failed, why, numbers);
            return;
        };
        let mut ended = d.clone();
        ended.end(
            now,
            Status::RolledBack,
            format!("{why}; returning to version {}", from.version),
            numbers,
        );
        let back_to = from.version.clone();
        let mut next = Deployment {
            id: d.id + 1,
            service: d.service.clone(),
            strategy: Strategy::Rolling,
            from: Some(d.to.clone()),
            to: from.clone(),
            status: Status::Running,
            reason: String::new(),
            step: 0,
            step_started_ms: None,
            marks: BTreeMap::new(),
            weights: BTreeMap::new(),
            counts: d.counts.clone(),
            started_ms: now,
            updated_ms: now,
            deadline_ms: now + from.deploy.progress_deadline.as_millis() as u64,
            ended_ms: None,
            keep_until_ms: None,
            revert_of: Some(d.id),
            order: None,
            steps: Vec::new(),
        };
        // Traffic leaves the new version at once, before the old set is counted again.
        if self
            .stale
            .iter()
            .any(|o| o.version == back_to && o.serving())
            && back_to != self.to_version()
        {
            next.weights = BTreeMap::from([(back_to.clone(), 100)]);
        }
        next.note(
            now,
            format!(
                "deployment {} started: reverting deployment {} to version {back_to} ({why})",
                next.id, d.id
            ),
            serde_json::Value::Null,
        );
        *d = ended.clone();
        self.plan.ended = Some(ended);
        self.plan.revert_to = Some(from);
        self.plan.deployment = Some(next);
    }

    /// Scales the fresh instances to the count, stopping the least useful first.
    fn scale_fresh(&mut self) {
        let n = self.n();
        let have = self.fresh.len();
        if have < n {
            self.plan.place = (n - have) as u32;
        } else if have > n {
            let mut victims = self.fresh.clone();
            victims.sort_by_key(|o| (usefulness(o.state, o.health), std::cmp::Reverse(o.seq)));
            for o in victims.into_iter().take(have - n) {
                self.stop(o, StopReason::Surplus);
            }
        }
    }

    fn stop(&mut self, o: &Observed, reason: StopReason) {
        if !self.plan.stop.iter().any(|s| s.id == o.id) {
            self.plan.stop.push(Stop {
                id: o.id.clone(),
                reason,
            });
        }
    }

    /// Look again when the next fresh instance has served for `min_healthy`.
    fn wake_for_min_healthy(&mut self) {
        let m = self.min_healthy_ms();
        let next = self
            .fresh
            .iter()
            .filter(|o| o.serving())
            .filter_map(|o| o.healthy_since_ms.map(|t| t + m))
            .filter(|t| *t > self.now)
            .min();
        if let Some(t) = next {
            self.plan.wake_at_ms = Some(self.plan.wake_at_ms.map_or(t, |w| w.min(t)));
        }
    }

    /// Instances per version (fresh and stale), for display.
    fn counts(&self) -> BTreeMap<String, u32> {
        let mut c = BTreeMap::new();
        for o in self.fresh.iter().chain(&self.stale) {
            *c.entry(o.version.clone()).or_default() += 1;
        }
        c
    }
}

/// How much an instance in `state` and `health` is worth keeping: lower is
/// stopped first (failed or backing off, then critical, starting, warning, passing).
pub fn usefulness(state: InstanceState, health: Health) -> u8 {
    match (state, health) {
        (InstanceState::Failed | InstanceState::Backoff | InstanceState::Stopping, _) => 0,
        (_, Health::Critical) => 1,
        (_, Health::Starting) => 2,
        (_, Health::Warning) => 3,
        (_, Health::Passing) => 4,
    }
}

/// `90000` → "1m30s".
fn humanize(ms: u64) -> String {
    let s = ms / 1000;
    match (s / 60, s % 60, ms % 1000) {
        (0, 0, ms) => format!("{ms}ms"),
        (0, s, 0) => format!("{s}s"),
        (0, s, ms) => format!("{s}.{:03}s", ms),
        (m, 0, _) => format!("{m}m"),
        (m, s, _) => format!("{m}m{s}s"),
    }
}

#[cfg(test)]
#[path = "plan_tests.rs"]
mod tests;

#[cfg(test)]
use tests as tests_support;

#[cfg(test)]
#[path = "plan_props.rs"]
mod props;
