//! Leader election on both backends: one winner, hand-over on resign, takeover after a dead
//! leader's lease expires, fencing of stale leaders, stepping down before the lease expires.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::cut::Cuttable;
use common::{until, Backend, TestResult, SLACK, TTL};
use shoal_cluster::{current_leader, Campaign, Election, Leadership};
use shoal_store::{Op, Store, Txn};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

const ROLE: &str = "scheduler";

/// Candidates, each with its own store client, and their published leaderships.
struct Candidates {
    campaigns: Vec<Option<Campaign>>,
    views: Vec<watch::Receiver<Option<Leadership>>>,
}

impl Candidates {
    fn new() -> Self {
        Self {
            campaigns: Vec::new(),
            views: Vec::new(),
        }
    }

    fn add(&mut self, store: Arc<dyn Store>) {
        let node = format!("n{}", self.campaigns.len());
        let c = Election::new(store, ROLE, &node, TTL).spawn();
        self.views.push(c.leadership());
        self.campaigns.push(Some(c));
    }

    async fn start(b: &Backend, n: usize) -> Result<Self, common::Error> {
        let mut c = Self::new();
        for _ in 0..n {
            c.add(b.client().await?);
        }
        Ok(c)
    }

    /// Indexes of the candidates that believe they lead.
    fn leaders(&self) -> Vec<usize> {
        leaders(&self.views)
    }

    /// The only leader, if exactly one candidate leads.
    fn sole_leader(&self) -> Option<usize> {
        match self.leaders()[..] {
            [i] => Some(i),
            _ => None,
        }
    }

    fn leadership(&self, i: usize) -> Result<Leadership, common::Error> {
        self.views[i]
            .borrow()
            .clone()
            .ok_or_else(|| format!("n{i} does not lead").into())
    }

    /// Counts leaders every 5 ms in the background; `max` is the most seen at once.
    fn sample(&self) -> Sampler {
        let views = self.views.clone();
        let max = Arc::new(AtomicUsize::new(0));
        let seen = Arc::clone(&max);
        let task = tokio::spawn(async move {
            loop {
                seen.fetch_max(leaders(&views).len(), Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        });
        Sampler { max, task }
    }
}

fn leaders(views: &[watch::Receiver<Option<Leadership>>]) -> Vec<usize> {
    (0..views.len())
        .filter(|&i| views[i].borrow().is_some())
        .collect()
}

struct Sampler {
    max: Arc<AtomicUsize>,
    task: JoinHandle<()>,
}

impl Sampler {
    fn max(&self) -> usize {
        self.max.load(Ordering::SeqCst)
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Whether a write fenced by `l` is accepted.
async fn fenced_write(store: &dyn Store, l: &Leadership) -> Result<bool, common::Error> {
    let txn = l.fence(Txn::new().and_then([Op::put("shoal/test/owner", l.node.as_bytes())]));
    Ok(store.txn(txn).await?.succeeded)
}

async fn one_of_three_candidates_wins(b: Backend) -> TestResult {
    let c = Candidates::start(&b, 3).await?;
    let winner = until("one leader", 3 * TTL, || c.sole_leader()).await?;
    let l = c.leadership(winner)?;

    // Over three TTLs the leader keeps its lease alive and nobody else wins.
    let sampler = c.sample();
    tokio::time::sleep(3 * TTL).await;
    assert_eq!(sampler.max(), 1, "two leaders at once");
    assert_eq!(c.leaders(), [winner]);
    assert_eq!(c.leadership(winner)?, l, "the leadership stayed the same");

    let store = b.store();
    assert_eq!(
        current_leader(&*store, ROLE).await?,
        Some((l.node.clone(), l.revision))
    );
    assert!(
        fenced_write(&*store, &l).await?,
        "the leader's fenced write is accepted"
    );
    Ok(())
}

async fn resigning_hands_over_at_once(b: Backend) -> TestResult {
    let mut c = Candidates::start(&b, 3).await?;
    let winner = until("one leader", 3 * TTL, || c.sole_leader()).await?;
    let old = c.leadership(winner)?;
    let sampler = c.sample();

    let t0 = Instant::now();
    if let Some(campaign) = c.campaigns[winner].take() {
        campaign.resign().await;
    }
    let next = until("a new leader", TTL, || {
        c.sole_leader().filter(|&i| i != winner)
    })
    .await?;
    let took = t0.elapsed();
    eprintln!("[{}] takeover after resign: {took:?}", b.name);
    assert!(
        took < TTL / 2,
        "took {took:?}: the lease was revoked, not left to expire"
    );
    assert_eq!(sampler.max(), 1, "two leaders at once");

    let store = b.store();
    let new = c.leadership(next)?;
    assert!(new.revision > old.revision);
    assert!(
        !fenced_write(&*store, &old).await?,
        "the resigned leader is fenced"
    );
    assert!(fenced_write(&*store, &new).await?);
    Ok(())
}

async fn a_dead_leader_is_replaced_after_its_ttl_and_fenced(b: Backend) -> TestResult {
    let c = Candidates::start(&b, 3).await?;
    let winner = until("one leader", 3 * TTL, || c.sole_leader()).await?;
    let old = c.leadership(winner)?;

    // The node dies: no revoke, no more keepalives.
    let t0 = Instant::now();
    if let Some(campaign) = &c.campaigns[winner] {
        campaign.abort();
    }
    let next = until("a new leader", 2 * TTL + SLACK, || {
        c.leaders().into_iter().find(|&i| i != winner)
    })
    .await?;
    let took = t0.elapsed();
    eprintln!("[{}] takeover after leader death: {took:?}", b.name);
    // The last keepalive was at most TTL/3 before the death: the lease lived on at least
    // 2/3 of a TTL, and no candidate took over before it expired.
    assert!(
        took >= TTL / 2,
        "took {took:?}: taken over before the lease could expire"
    );
    assert!(took <= TTL + SLACK, "took {took:?}");

    // The dead leader's last word was `Some`: it still "believes" it leads, yet its writes fail.
    assert!(c.views[winner].borrow().is_some());
    let store = b.store();
    assert!(
        !fenced_write(&*store, &old).await?,
        "a stale leader's write is refused"
    );
    assert!(fenced_write(&*store, &c.leadership(next)?).await?);
    Ok(())
}

async fn a_stale_guard_fails_even_when_the_same_node_leads_again(b: Backend) -> TestResult {
    let c = Candidates::start(&b, 1).await?;
    let first = until("n0 leads", 3 * TTL, || c.views[0].borrow().clone()).await?;

    // Its lease is revoked behind its back (as if it had expired): it steps down and wins again.
    let store = b.store();
    store.lease_revoke(first.lease).await?;
    let second = until("n0 leads again", 3 * TTL, || {
        c.views[0]
            .borrow()
            .clone()
            .filter(|l| l.revision != first.revision)
    })
    .await?;
    assert_eq!(second.node, first.node);
    assert!(second.revision > first.revision);
    assert!(
        !fenced_write(&*store, &first).await?,
        "fenced by revision, not by node name"
    );
    assert!(fenced_write(&*store, &second).await?);
    Ok(())
}

async fn a_leader_cut_off_steps_down_before_its_lease_expires(b: Backend) -> TestResult {
    let cut = Cuttable::new(b.client().await?);
    let mut c = Candidates::new();
    c.add(cut.clone());
    let first = until("n0 leads", 3 * TTL, || c.views[0].borrow().clone()).await?;
    c.add(b.client().await?);
    let sampler = c.sample();

    let store = b.store();
    let t0 = Instant::now();
    cut.cut();
    // Its keepalives now hang: it must say so before the server lets its lease expire.
    let (mut stepped_down, mut key_gone) = (None, None);
    while stepped_down.is_none() || key_gone.is_none() {
        if t0.elapsed() > 2 * TTL + SLACK {
            return Err(
                format!("stepped down at {stepped_down:?}, key gone at {key_gone:?}").into(),
            );
        }
        if stepped_down.is_none() && c.views[0].borrow().is_none() {
            stepped_down = Some(t0.elapsed());
        }
        let kv = store.get(&first.key).await?;
        if key_gone.is_none() && kv.is_none_or(|kv| kv.create_revision != first.revision) {
            key_gone = Some(t0.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let next = until("n1 leads", TTL + SLACK, || c.views[1].borrow().clone()).await?;
    let took = t0.elapsed();
    eprintln!(
        "[{}] cut-off leader: stepped down after {stepped_down:?}, its key expired after \
         {key_gone:?}, new leader after {took:?}",
        b.name
    );
    assert!(
        stepped_down < key_gone,
        "stepped down only after its lease expired"
    );
    assert_eq!(sampler.max(), 1, "two leaders at once");
    assert!(!fenced_write(&*store, &first).await?);
    assert!(fenced_write(&*store, &next).await?);
    Ok(())
}

on_both_backends!(
    one_of_three_candidates_wins,
    resigning_hands_over_at_once,
    a_dead_leader_is_replaced_after_its_ttl_and_fenced,
    a_stale_guard_fails_even_when_the_same_node_leads_again,
    a_leader_cut_off_steps_down_before_its_lease_expires,
);
