//! Feature flags in `/metrics`: `shoal_flag_evaluations_total{flag,value}`, the
//! proxy's evaluation counters read once a second, and the counts of the last
//! minute that `shoal flag list` shows.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use crate::expo::{Expo, Type};

/// The proxy's counters now: (flag, value, evaluations since start).
pub type FlagSource = Arc<dyn Fn() -> Vec<(String, String, u64)> + Send + Sync>;

/// Counts per (flag, value), flag then value.
type Counts = BTreeMap<(String, String), u64>;

/// How far back the window of [`FlagMetrics::last_minute`] reaches, in seconds.
const WINDOW_SECS: u64 = 60;

const EVALUATIONS: &str = "shoal_flag_evaluations_total";

/// The counters as last read, and one reading per second of the last minute.
#[derive(Default)]
pub struct FlagMetrics {
    source: OnceLock<FlagSource>,
    readings: Mutex<VecDeque<(u64, Counts)>>,
}

impl FlagMetrics {
    /// Where the counters are read from (the proxy's flag set); set once.
    pub fn set_source(&self, source: FlagSource) {
        if self.source.set(source).is_err() {
            tracing::warn!("flag metrics: the counters' source was already set");
        }
    }

    /// Reads the counters at unix second `now` and keeps the reading for a minute.
    pub fn sample(&self, now: u64) {
        let Some(source) = self.source.get() else {
            return;
        };
        let counts: Counts = source()
            .into_iter()
            .map(|(flag, value, n)| ((flag, value), n))
            .collect();
        let mut readings = self.readings.lock().unwrap_or_else(PoisonError::into_inner);
        push(&mut readings, now, counts);
    }

    /// Evaluations per flag and value over the last minute (flag → value → count).
    pub fn last_minute(&self) -> BTreeMap<String, BTreeMap<String, u64>> {
        let readings = self.readings.lock().unwrap_or_else(PoisonError::into_inner);
        window(&readings)
    }

    /// Writes the counters as last read.
    pub fn render(&self, e: &mut Expo) {
        let readings = self.readings.lock().unwrap_or_else(PoisonError::into_inner);
        let Some((_, latest)) = readings.back() else {
            return;
        };
        e.family(
            EVALUATIONS,
            "Feature flag evaluations by the proxy, per flag and the value it answered.",
            Type::Counter,
        );
        for ((flag, value), n) in latest {
            let labels = [("flag", flag.as_str()), ("value", value.as_str())];
            e.sample(EVALUATIONS, EVALUATIONS, &labels, *n as f64);
        }
    }
}

/// Adds a reading at `now`, dropping those older than the window (pure).
fn push(readings: &mut VecDeque<(u64, Counts)>, now: u64, counts: Counts) {
    readings.push_back((now, counts));
    while readings
        .front()
        .is_some_and(|(at, _)| now.saturating_sub(*at) > WINDOW_SECS)
    {
        readings.pop_front();
    }
}

/// The newest reading less the oldest in the window, per pair (a pair the oldest
/// lacks counts from 0; a counter that went down, from the newest value) (pure).
fn window(readings: &VecDeque<(u64, Counts)>) -> BTreeMap<String, BTreeMap<String, u64>> {
    let mut out: BTreeMap<String, BTreeMap<String, u64>> = BTreeMap::new();
    let (Some((_, oldest)), Some((_, newest))) = (readings.front(), readings.back()) else {
        return out;
    };
    for ((flag, value), n) in newest {
        let before = oldest
            .get(&(flag.clone(), value.clone()))
            .copied()
            .unwrap_or(0);
        let delta = if *n >= before { n - before } else { *n };
        out.entry(flag.clone())
            .or_default()
            .insert(value.clone(), delta);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(pairs: &[(&str, &str, u64)]) -> Counts {
        pairs
            .iter()
            .map(|(f, v, n)| (((*f).to_owned(), (*v).to_owned()), *n))
            .collect()
    }

    #[test]
    fn the_window_is_the_last_minute_of_readings() {
        let mut r = VecDeque::new();
        push(&mut r, 100, counts(&[("a", "1", 10), ("a", "0", 5)]));
        push(&mut r, 130, counts(&[("a", "1", 40), ("a", "0", 5)]));
        assert_eq!(window(&r)["a"]["1"], 30);
        assert_eq!(window(&r)["a"]["0"], 0);
        // At 170 the reading of 100 has left the window; a new flag counts from 0.
        push(
            &mut r,
            170,
            counts(&[("a", "1", 50), ("a", "0", 9), ("b", "on", 3)]),
        );
        assert_eq!(r.len(), 2);
        assert_eq!(window(&r)["a"]["1"], 10);
        assert_eq!(window(&r)["a"]["0"], 4);
        assert_eq!(window(&r)["b"]["on"], 3);
    }

    #[test]
    fn the_counters_render_as_of_the_last_reading() {
        let m = FlagMetrics::default();
        let mut e = Expo::default();
        m.render(&mut e);
        assert!(!e.render().contains(EVALUATIONS), "nothing read yet");
        m.set_source(Arc::new(|| vec![("new".into(), "1".into(), 7)]));
        m.sample(5);
        let mut e = Expo::default();
        m.render(&mut e);
        let text = e.render();
        assert!(
            text.contains("shoal_flag_evaluations_total{flag=\"new\",value=\"1\"} 7"),
            "{text}"
        );
        assert_eq!(m.last_minute()["new"]["1"], 0, "one reading: no window yet");
    }
}
