//! Keeps `data_dir/instances.json` (the orphan registry) up to date off the
//! restart path: changes go to one writer thread that applies each burst with a
//! single write and fsync, so spawning never waits on the disk.

use std::sync::mpsc;

use shoal_supervisor::{PidRegistry, RegistryEntry};

/// A change: the instance's current process, or `None` once it has none.
type Change = (String, Option<RegistryEntry>);

#[derive(Clone)]
pub struct PidWriter {
    tx: mpsc::Sender<Change>,
}

impl PidWriter {
    /// Starts the writer thread; it ends when every `PidWriter` is dropped.
    pub fn start(mut registry: PidRegistry) -> Self {
        let (tx, rx) = mpsc::channel::<Change>();
        let spawned = std::thread::Builder::new()
            .name("shoal-pids".into())
            .spawn(move || {
                while let Ok(first) = rx.recv() {
                    let mut batch = vec![first];
                    batch.extend(rx.try_iter());
                    if let Err(e) = registry.apply(batch) {
                        tracing::warn!(error = %e, "could not update the pid registry");
                    }
                }
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "cannot start the pid registry writer; orphans of a crash will not be found");
        }
        Self { tx }
    }

    /// Records (or with `None` forgets) the process of an instance.
    pub fn record(&self, instance: &str, process: Option<(u32, u64)>) {
        let entry = process.map(|(pid, start_time_ticks)| RegistryEntry {
            pid,
            start_time_ticks,
        });
        let _ = self.tx.send((instance.to_string(), entry));
    }
}
