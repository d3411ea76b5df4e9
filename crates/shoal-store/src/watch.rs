//! [`Watcher`]: an ordered stream of committed changes under a prefix, replayed from the
//! on-disk log when it starts in the past or falls behind, then followed live.

use std::collections::VecDeque;
use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};

use crate::disk;
use crate::error::StoreError;
use crate::shared::Shared;
use crate::types::{Revision, WatchBatch};

/// Revisions read from the log per catch-up step.
const HISTORY_CHUNK: usize = 512;

/// A stream of [`WatchBatch`]es: revision order, no duplicates, no gaps, only keys under the
/// prefix, one batch per revision with all its matching events. Ends (`None`) when the store
/// closes; after an error it ends too. `next` is cancel-safe.
pub struct Watcher {
    inner: Inner,
}

enum Inner {
    Embedded(Box<EmbeddedWatch>),
    Channel(mpsc::Receiver<Result<WatchBatch, StoreError>>),
}

impl Watcher {
    /// A watcher fed by another backend (or a test) through a channel.
    pub fn from_channel(rx: mpsc::Receiver<Result<WatchBatch, StoreError>>) -> Self {
        Self {
            inner: Inner::Channel(rx),
        }
    }

    /// The next batch, `None` once the stream has ended.
    pub async fn next(&mut self) -> Option<Result<WatchBatch, StoreError>> {
        match &mut self.inner {
            Inner::Embedded(w) => w.next().await,
            Inner::Channel(rx) => rx.recv().await,
        }
    }

    pub(crate) fn embedded(
        shared: Arc<Shared>,
        prefix: &str,
        start: Revision,
    ) -> Result<Self, StoreError> {
        if start < 0 {
            return Err(StoreError::InvalidArgument(format!(
                "negative start revision {start}"
            )));
        }
        // Subscribe before reading the revision: every later commit is then in `live`.
        let live = shared.subscribe()?;
        let committed = shared.committed();
        let compacted = shared.compacted();
        if start != 0 && start < compacted {
            return Err(StoreError::Compacted {
                requested: start,
                compacted,
            });
        }
        let next_rev = if start == 0 { committed + 1 } else { start };
        let w = EmbeddedWatch {
            shared,
            prefix: prefix.to_owned(),
            next_rev,
            live,
            catching_up: next_rev <= committed,
            ready: VecDeque::new(),
            done: false,
        };
        Ok(Self {
            inner: Inner::Embedded(Box::new(w)),
        })
    }
}

struct EmbeddedWatch {
    shared: Arc<Shared>,
    prefix: String,
    /// The next revision this watcher has not yet looked at.
    next_rev: Revision,
    live: broadcast::Receiver<Arc<WatchBatch>>,
    /// Reading history from disk rather than following `live`.
    catching_up: bool,
    ready: VecDeque<WatchBatch>,
    done: bool,
}

impl EmbeddedWatch {
    async fn next(&mut self) -> Option<Result<WatchBatch, StoreError>> {
        loop {
            if let Some(batch) = self.ready.pop_front() {
                return Some(Ok(batch));
            }
            if self.done {
                return None;
            }
            if self.catching_up {
                if let Err(err) = self.catch_up().await {
                    self.done = true;
                    return Some(Err(err));
                }
                continue;
            }
            match self.live.recv().await {
                Ok(batch) if batch.revision < self.next_rev => {}
                Ok(batch) if batch.revision == self.next_rev => self.accept(&batch),
                // A revision was skipped: the log has it.
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => self.catching_up = true,
                Err(broadcast::error::RecvError::Closed) => self.done = true,
            }
        }
    }

    /// Reads the next chunk of history; switches to live once it reaches the head.
    async fn catch_up(&mut self) -> Result<(), StoreError> {
        let db = self.shared.db()?;
        let from = self.next_rev;
        let (batches, head) =
            tokio::task::spawn_blocking(move || disk::read_history(&db, from, HISTORY_CHUNK))
                .await
                .map_err(StoreError::io)??;
        let full = batches.len() == HISTORY_CHUNK;
        for batch in &batches {
            self.accept(batch);
        }
        if !full {
            self.next_rev = self.next_rev.max(head + 1);
            self.catching_up = false;
        }
        Ok(())
    }

    /// Takes one committed revision: queues its events under the prefix, if any.
    fn accept(&mut self, batch: &WatchBatch) {
        if batch.revision < self.next_rev {
            return;
        }
        self.next_rev = batch.revision + 1;
        let events: Vec<_> = batch
            .events
            .iter()
            .filter(|e| e.kv.key.starts_with(&self.prefix))
            .cloned()
            .collect();
        if !events.is_empty() {
            self.ready.push_back(WatchBatch {
                revision: batch.revision,
                events,
            });
        }
    }
}
