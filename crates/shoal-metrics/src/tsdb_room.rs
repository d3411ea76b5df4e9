//! Room in the metrics store: a cap per origin, eviction of an origin's least
//! recently updated series when it is full, and the sweep of stale series.

use std::collections::HashSet;

use serde::Serialize;

use super::{Inner, Series, SeriesKey, COARSE};
use crate::evict::{self, Reason};

/// A series with no point for this long has nothing left to show: it is evicted as stale.
pub const STALE_AFTER_S: u64 = COARSE.0 * COARSE.1 as u64;

/// Who records a series: each origin has its own cap and evicts only its own series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Origin {
    /// Shoal itself: instances, proxy requests.
    Platform,
    /// Services, through StatsD.
    Application,
}

impl Origin {
    pub const ALL: [Origin; 2] = [Origin::Platform, Origin::Application];

    /// The `class` label.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Platform => "platform",
            Origin::Application => "application",
        }
    }

    pub(super) fn index(self) -> usize {
        match self {
            Origin::Platform => 0,
            Origin::Application => 1,
        }
    }
}

/// Series kept per origin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    pub platform: usize,
    pub application: usize,
}

impl Caps {
    pub(super) fn of(&self, o: Origin) -> usize {
        match o {
            Origin::Platform => self.platform,
            Origin::Application => self.application,
        }
        .max(1)
    }
}

impl Inner {
    /// Evicts the `n` least recently updated series of `origin`. Those of the batch
    /// being recorded (stamped from `batch_from` on, in the batch's order, which is by
    /// name rather than by arrival) go only when nothing older is left, as in StatsD.
    pub(super) fn evict(&mut self, origin: Origin, n: usize, batch_from: u64) {
        let of_origin = || self.series.values().filter(|s| s.origin == origin);
        let older: Vec<u64> = of_origin()
            .map(|s| s.stamp)
            .filter(|s| *s < batch_from)
            .collect();
        let stamps = if older.is_empty() {
            of_origin().map(|s| s.stamp).collect()
        } else {
            older
        };
        if let Some(oldest) = evict::threshold(stamps, n) {
            self.remove(Reason::Cap, |s| s.origin == origin && s.stamp <= oldest);
        }
    }

    /// Evicts every series with no point since [`STALE_AFTER_S`] before `now`.
    pub(super) fn sweep(&mut self, now: u64) {
        let cutoff = now.saturating_sub(STALE_AFTER_S);
        self.remove(Reason::Stale, |s| s.last_t < cutoff);
    }

    /// Removes the series `gone` picks (one pass), counting them under `reason`.
    fn remove(&mut self, reason: Reason, gone: impl Fn(&Series) -> bool) {
        let mut removed: Vec<SeriesKey> = Vec::new();
        let (held, evicted) = (&mut self.held, &mut self.evicted);
        self.series.retain(|key, s| {
            if !gone(s) {
                return true;
            }
            held[s.origin.index()] -= 1;
            evicted[s.origin.index()].add(reason, 1);
            removed.push(key.clone());
            false
        });
        if removed.is_empty() {
            return;
        }
        let names: HashSet<&str> = removed.iter().map(|k| k.name.as_str()).collect();
        let removed: HashSet<&SeriesKey> = removed.iter().collect();
        for name in names {
            if let Some(keys) = self.by_name.get_mut(name) {
                keys.retain(|k| !removed.contains(k));
                if keys.is_empty() {
                    self.by_name.remove(name);
                }
            }
        }
    }
}
