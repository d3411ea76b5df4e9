//! Shared by the integration tests: the two backends (embedded store on tokio's paused clock,
//! a real etcd on the real clock), a store that can be cut off, waiting helpers.
#![allow(dead_code)]

pub mod cut;

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use shoal_store::{EmbeddedStore, Store};
use shoal_store_etcd::{EtcdOptions, EtcdStore};
use shoal_testkit::Etcd;
use tokio::time::Instant;

pub type Error = Box<dyn std::error::Error + Send + Sync>;
pub type TestResult = Result<(), Error>;

/// The lease TTL of every test (etcd's minimum with the testkit's timings is 1 s).
pub const TTL: Duration = Duration::from_secs(2);
/// What etcd adds to a lease's life beyond its TTL: its expiry check runs every 500 ms, and
/// a loaded 2-core machine answers late.
pub const SLACK: Duration = Duration::from_millis(1500);

/// A fresh store for one test, and a way to open one client per simulated node.
pub struct Backend {
    pub name: &'static str,
    observer: Arc<dyn Store>,
    etcd: Option<Etcd>,
}

impl Backend {
    /// An in-memory embedded store (run the test with `start_paused = true`).
    pub async fn embedded() -> Result<Self, Error> {
        Ok(Self {
            name: "embedded",
            observer: EmbeddedStore::open_in_memory().await?,
            etcd: None,
        })
    }

    /// A real single-member etcd, killed when the backend drops.
    pub async fn etcd() -> Result<Self, Error> {
        let etcd = tokio::task::spawn_blocking(Etcd::start).await??;
        let observer =
            Arc::new(EtcdStore::connect(&[etcd.endpoint()], EtcdOptions::default()).await?);
        Ok(Self {
            name: "etcd",
            observer,
            etcd: Some(etcd),
        })
    }

    /// The store as seen by the test itself.
    pub fn store(&self) -> Arc<dyn Store> {
        Arc::clone(&self.observer)
    }

    /// A store client for one simulated node (on etcd its own connection).
    pub async fn client(&self) -> Result<Arc<dyn Store>, Error> {
        match &self.etcd {
            None => Ok(self.store()),
            Some(etcd) => Ok(Arc::new(
                EtcdStore::connect(&[etcd.endpoint()], EtcdOptions::default()).await?,
            )),
        }
    }
}

/// Polls `check` every 10 ms until it returns `Some`, failing after `within`.
pub async fn until<T>(
    what: &str,
    within: Duration,
    mut check: impl FnMut() -> Option<T>,
) -> Result<T, Error> {
    let start = Instant::now();
    loop {
        if let Some(v) = check() {
            return Ok(v);
        }
        if start.elapsed() > within {
            return Err(format!("timed out after {within:?} waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// [`until`] with an async check.
pub async fn until_async<T, F, Fut>(what: &str, within: Duration, mut check: F) -> Result<T, Error>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<Option<T>, Error>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await? {
            return Ok(v);
        }
        if start.elapsed() > within {
            return Err(format!("timed out after {within:?} waiting for {what}").into());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// A wall clock (ms) that follows tokio's clock, so it pauses with it.
pub fn tokio_clock() -> shoal_cluster::Clock {
    let start = Instant::now();
    let base = shoal_catalog::now_ms();
    Arc::new(move || base + start.elapsed().as_millis() as u64)
}

/// Runs each named `async fn(Backend) -> TestResult` of the calling file twice: on the
/// embedded store with tokio's clock paused, and on a real etcd with the real clock.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod embedded {
            $(
                #[tokio::test(start_paused = true)]
                async fn $name() -> $crate::common::TestResult {
                    super::$name($crate::common::Backend::embedded().await?).await
                }
            )*
        }
        mod etcd {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> $crate::common::TestResult {
                    super::$name($crate::common::Backend::etcd().await?).await
                }
            )*
        }
    };
}
