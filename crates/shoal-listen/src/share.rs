//! [`Share`]: one listener's (or one group of listeners') cap within the
//! [`Budget`], and the [`Admission`] each of its connections holds until it closes.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::time::Instant;

use crate::budget::Budget;
use crate::slot::{key_of, Slot};

/// A listener's cap within the budget.
#[derive(Debug, Clone)]
pub struct Share(Arc<ShareInner>);

#[derive(Debug)]
pub(crate) struct ShareInner {
    name: &'static str,
    budget: Arc<Budget>,
    cap: usize,
    /// Descriptors one connection takes from the budget (the gateway's: 2, its
    /// client's and the upstream connection it may hold).
    weight: usize,
    open: AtomicUsize,
    slots: Mutex<Slots>,
    refusing: AtomicBool,
    refused: AtomicU64,
    refused_in_run: AtomicU64,
}

/// The slots of open connections, by index (a free list reuses them).
#[derive(Debug, Default)]
struct Slots {
    all: Vec<Option<Arc<Slot>>>,
    free: Vec<usize>,
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The listener is at its own cap.
    Listener,
    /// The listeners together are at the budget.
    Budget,
}

impl Share {
    /// A share called `name` (for logs) of at most `cap` connections of
    /// `weight` descriptors each.
    pub fn new(budget: Arc<Budget>, name: &'static str, cap: usize, weight: usize) -> Self {
        let inner = Arc::new(ShareInner {
            name,
            budget: budget.clone(),
            cap,
            weight: weight.max(1),
            open: AtomicUsize::new(0),
            slots: Mutex::new(Slots::default()),
            refusing: AtomicBool::new(false),
            refused: AtomicU64::new(0),
            refused_in_run: AtomicU64::new(0),
        });
        budget.register(Arc::downgrade(&inner));
        Self(inner)
    }

    /// Admits one more connection, or says why not (counted, and logged once
    /// per run of refusals). Near the end of the budget, idle connections of
    /// every listener are asked to close to make room.
    pub fn admit(&self) -> Result<Admission, Refused> {
        let s = &self.0;
        if s.open.fetch_add(1, Ordering::AcqRel) >= s.cap {
            s.open.fetch_sub(1, Ordering::AcqRel);
            return Err(s.refuse(Refused::Listener));
        }
        if !s.budget.take(s.weight) {
            s.open.fetch_sub(1, Ordering::AcqRel);
            s.budget.reclaim();
            return Err(s.refuse(Refused::Budget));
        }
        if s.budget.crowded() {
            s.budget.reclaim();
        }
        if s.refusing.load(Ordering::Relaxed) {
            s.end_refusals();
        }
        let slot = Arc::new(Slot::default());
        let index = {
            let mut slots = s.slots.lock().unwrap_or_else(PoisonError::into_inner);
            match slots.free.pop() {
                Some(i) => {
                    slots.all[i] = Some(slot.clone());
                    i
                }
                None => {
                    slots.all.push(Some(slot.clone()));
                    slots.all.len() - 1
                }
            }
        };
        Ok(Admission {
            share: self.0.clone(),
            slot,
            index,
        })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.0.open.load(Ordering::Relaxed)
    }

    /// Connections refused so far.
    pub fn refused(&self) -> u64 {
        self.0.refused.load(Ordering::Relaxed)
    }

    /// The budget this share is part of.
    pub fn budget(&self) -> &Arc<Budget> {
        &self.0.budget
    }
}

impl ShareInner {
    /// Name, open connections, cap and refusals so far.
    pub(crate) fn stats(&self) -> (&'static str, usize, usize, u64) {
        (
            self.name,
            self.open.load(Ordering::Relaxed),
            self.cap,
            self.refused.load(Ordering::Relaxed),
        )
    }

    fn refuse(&self, why: Refused) -> Refused {
        self.refused.fetch_add(1, Ordering::Relaxed);
        self.refused_in_run.fetch_add(1, Ordering::Relaxed);
        if !self.refusing.swap(true, Ordering::AcqRel) {
            tracing::warn!(
                listener = self.name,
                open = self.open.load(Ordering::Relaxed),
                cap = self.cap,
                budget_used = self.budget.used(),
                budget = self.budget.cap(),
                by = ?why,
                "refusing new connections: too many open (each is accepted and closed at once)"
            );
        }
        why
    }

    fn end_refusals(&self) {
        if self.refusing.swap(false, Ordering::AcqRel) {
            let refused = self.refused_in_run.swap(0, Ordering::Relaxed);
            tracing::info!(
                listener = self.name,
                refused,
                "accepting new connections again"
            );
        }
    }

    /// Appends each idle connection's key and slot.
    pub(crate) fn idle_slots(&self, out: &mut Vec<(u64, Arc<Slot>)>) {
        let slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        for slot in slots.all.iter().flatten() {
            if let Some(key) = slot.idle_key() {
                out.push((key, slot.clone()));
            }
        }
    }
}

/// An admitted connection's place in its share; dropping it frees the place.
#[derive(Debug)]
pub struct Admission {
    share: Arc<ShareInner>,
    slot: Arc<Slot>,
    index: usize,
}

impl Admission {
    /// The connection's state, for waits that outlive a borrow of the admission.
    pub fn slot(&self) -> &Arc<Slot> {
        &self.slot
    }

    /// Waiting for a request until `deadline`: the connection may be reclaimed.
    pub fn idle_until(&self, deadline: Instant) {
        self.slot.idle(key_of(deadline));
    }

    /// Serving a request; `false` when it was reclaimed first (serve what arrived, then close).
    pub fn busy(&self) -> bool {
        self.slot.busy()
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let s = &self.share;
        {
            let mut slots = s.slots.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(entry) = slots.all.get_mut(self.index) {
                *entry = None;
                slots.free.push(self.index);
            }
        }
        s.open.fetch_sub(1, Ordering::AcqRel);
        s.budget.give(s.weight);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listener_cap_refuses_and_a_close_frees_it() {
        let budget = Budget::new(100);
        let share = Share::new(budget.clone(), "t", 2, 1);
        let a = share.admit().expect("first");
        let _b = share.admit().expect("second");
        assert_eq!(share.admit().err(), Some(Refused::Listener));
        assert_eq!(share.refused(), 1);
        drop(a);
        let _c = share.admit().expect("a closed connection frees its place");
        assert_eq!(
            budget.used(),
            2,
            "the dropped admission gave its descriptor back"
        );
    }

    #[test]
    fn listeners_are_counted_by_name_for_metrics() {
        let budget = Budget::new(100);
        let api = Share::new(budget.clone(), "api", usize::MAX, 1);
        let gateway = Share::new(budget.clone(), "proxy", 1, 1);
        let outbound = Share::new(budget.clone(), "proxy", 30, 1);
        let _a = api.admit().expect("api");
        let _g = gateway.admit().expect("gateway");
        assert!(gateway.admit().is_err());
        let _o = outbound.admit().expect("outbound");
        let rows: Vec<_> = budget
            .listeners()
            .into_iter()
            .map(|l| (l.name, l.open, l.cap, l.refused))
            .collect();
        assert_eq!(rows, [("api", 1, 100, 0), ("proxy", 2, 31, 1)]);
        drop(outbound);
        assert_eq!(
            budget.listeners().len(),
            1 + 1,
            "a dropped share's name stays while another holds it"
        );
    }

    #[test]
    fn listeners_together_stop_at_the_budget_by_weight() {
        let budget = Budget::new(5);
        let gateway = Share::new(budget.clone(), "gateway", 100, 2);
        let api = Share::new(budget.clone(), "api", 100, 1);
        let _g1 = gateway.admit().expect("g1");
        let _g2 = gateway.admit().expect("g2");
        assert_eq!(budget.used(), 4);
        assert_eq!(
            gateway.admit().err(),
            Some(Refused::Budget),
            "2 more do not fit"
        );
        let _a = api.admit().expect("1 more does");
        assert_eq!(api.admit().err(), Some(Refused::Budget));
        assert_eq!(budget.used(), 5);
    }

    #[tokio::test]
    async fn near_the_budget_the_longest_idle_connections_are_reclaimed() {
        let budget = Budget::new(10);
        let share = Share::new(budget.clone(), "t", 100, 1);
        let now = Instant::now();
        let mut conns = Vec::new();
        for i in 0..8u64 {
            let a = share.admit().expect("admit");
            // Connection i waits until now + i s; 3 of them are busy.
            if i % 3 != 2 {
                a.idle_until(now + std::time::Duration::from_secs(i + 1));
            }
            conns.push(a);
        }
        // The 9th crosses 90 %: down to 80 % (8) means one closes, the one waiting the least.
        let _ninth = share.admit().expect("ninth");
        assert!(conns[0].slot().is_reclaimed());
        assert_eq!(conns.iter().filter(|c| c.slot().is_reclaimed()).count(), 1);
        assert_eq!(budget.reclaimed(), 1);
        // A reclaimed connection that gets a request serves it and then closes.
        assert!(!conns[0].busy());
    }
}
