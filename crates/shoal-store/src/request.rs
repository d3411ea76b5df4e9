//! Messages to the writer task: the write requests and the replies sent once they are durable.

use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

use crate::error::StoreError;
use crate::types::{LeaseId, Revision, Txn, TxnResponse};

/// Where the writer sends one request's result.
pub(crate) type Reply<T> = oneshot::Sender<Result<T, StoreError>>;

/// A write request for the writer task.
pub(crate) enum Request {
    Txn(Txn, Reply<TxnResponse>),
    LeaseGrant(Duration, Reply<LeaseId>),
    LeaseRevoke(LeaseId, Reply<()>),
    Compact(Revision, Reply<()>),
}

/// Moves queued requests into `requests` without waiting, up to `max` in all.
pub(crate) fn drain(rx: &mut mpsc::Receiver<Request>, requests: &mut Vec<Request>, max: usize) {
    while requests.len() < max {
        match rx.try_recv() {
            Ok(req) => requests.push(req),
            Err(_) => break,
        }
    }
}

/// A reply to send once the batch is durable.
pub(crate) enum Ack {
    Txn(Reply<TxnResponse>, Result<TxnResponse, StoreError>),
    Lease(Reply<LeaseId>, Result<LeaseId, StoreError>),
    Unit(Reply<()>, Result<(), StoreError>),
}

impl Ack {
    pub(crate) fn send(self) {
        // A caller that stopped waiting is not an error.
        let _ = match self {
            Ack::Txn(tx, r) => tx.send(r).map_err(drop),
            Ack::Lease(tx, r) => tx.send(r).map_err(drop),
            Ack::Unit(tx, r) => tx.send(r).map_err(drop),
        };
    }

    pub(crate) fn fail(self, err: StoreError) {
        let _ = match self {
            Ack::Txn(tx, _) => tx.send(Err(err)).map_err(drop),
            Ack::Lease(tx, _) => tx.send(Err(err)).map_err(drop),
            Ack::Unit(tx, _) => tx.send(Err(err)).map_err(drop),
        };
    }
}
