//! Keeps the [`DnsTable`] in step with the fleet view (`shoal-fleet`): each snapshot it
//! publishes (specs and instance records, decoded once) is built into a table and swapped
//! in whole. A burst of store changes is one snapshot, so one rebuild.

use std::future::Future;
use std::sync::Arc;

use arc_swap::ArcSwap;
use shoal_fleet::Fleet;
use tokio::sync::watch;

use crate::config::DnsConfig;
use crate::table::{build_table, DnsTable};

/// The table for `fleet`, its prepared queries included. The SOA serial is the low 32 bits of the fleet's revision
/// (serials are 32-bit and wrap, RFC 1982).
pub fn table_of(fleet: &Fleet, cfg: &DnsConfig) -> DnsTable {
    build_table(cfg, &fleet.specs, &fleet.instances, fleet.revision as u32)
        .with_queries(fleet.queries.values().cloned())
}

/// Builds `table` from the current snapshot, then again on every new one, until
/// `shutdown` completes. Returns early, with an error in the log, only if the view's
/// sender is gone (no snapshot can come any more; the last table keeps answering).
pub async fn follow_fleet(
    mut fleet: watch::Receiver<Arc<Fleet>>,
    table: Arc<ArcSwap<DnsTable>>,
    cfg: DnsConfig,
    shutdown: impl Future<Output = ()>,
) {
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let current = fleet.borrow_and_update().clone();
        let t = table_of(&current, &cfg);
        tracing::debug!(
            revision = current.revision,
            services = t.services().len(),
            "dns table rebuilt"
        );
        table.store(Arc::new(t));
        tokio::select! {
            biased;
            () = &mut shutdown => return,
            changed = fleet.changed() => {
                if changed.is_err() {
                    tracing::error!("dns table: the fleet view is gone; keeping the last table");
                    return;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shoal_catalog::{Health, InstanceRecord};
    use shoal_spec::{Command, ServiceSpec};
    use std::time::Duration;
    use tokio::sync::oneshot;

    /// `web` with `n` passing instances, at `revision`.
    fn fleet(revision: i64, n: u16) -> Fleet {
        let mut f = Fleet {
            revision,
            ..Fleet::default()
        };
        let spec = ServiceSpec::new("web", Command::Argv(vec!["x".into()]));
        f.specs.insert("web".into(), spec);
        for i in 0..n {
            f.instances.push(InstanceRecord {
                health: Health::Passing,
                ..InstanceRecord::new(format!("w{i}"), "web", "1", "box", "127.0.0.1", 1 + i)
            });
        }
        f
    }

    async fn until(table: &ArcSwap<DnsTable>, what: &str, f: impl Fn(&DnsTable) -> bool) {
        for _ in 0..10_000 {
            if f(&table.load()) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("timed out waiting for {what}");
    }

    #[test]
    fn the_serial_is_the_revision_wrapped_to_32_bits() {
        let cfg = DnsConfig::default();
        assert_eq!(table_of(&fleet(42, 1), &cfg).serial, 42);
        assert_eq!(table_of(&fleet((1 << 32) + 7, 1), &cfg).serial, 7);
        assert_eq!(table_of(&fleet(3, 1), &cfg).services(), ["web"]);
        assert!(table_of(&fleet(3, 0), &cfg).services().is_empty());
    }

    #[tokio::test(start_paused = true)]
    async fn the_table_follows_each_snapshot_until_shutdown_or_the_view_is_gone() {
        let (tx, rx) = watch::channel(Arc::new(fleet(2, 1)));
        let table = Arc::new(ArcSwap::from_pointee(DnsTable::default()));
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(follow_fleet(
            rx,
            table.clone(),
            DnsConfig::default(),
            async {
                let _ = stopped.await;
            },
        ));
        until(&table, "web", |t| t.services() == ["web"]).await;
        tx.send_replace(Arc::new(fleet(3, 0)));
        until(&table, "web gone", |t| {
            t.services().is_empty() && t.serial == 3
        })
        .await;
        let _ = stop.send(());
        task.await.expect("follower");

        // Without a view: it ends, and the last table stays.
        let rx = tx.subscribe();
        drop(tx);
        follow_fleet(
            rx,
            table.clone(),
            DnsConfig::default(),
            std::future::pending(),
        )
        .await;
        assert_eq!(table.load().serial, 3);
    }
}
