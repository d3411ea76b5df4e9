//! Classifying etcd failures: which may be retried on another member, and which
//! [`StoreError`] a caller sees for each.

use std::time::Duration;

use etcd_client::Error as EtcdError;
use shoal_store::{LeaseId, StoreError};
use tonic::Code;

/// A failed call to etcd.
#[derive(Debug)]
pub(crate) enum Failure {
    /// No answer within the request timeout (retries included).
    Timeout(Duration),
    /// etcd, or the connection to it, answered with an error.
    Etcd(EtcdError),
    /// Every attempt within the request timeout failed in a retryable way; the last error.
    GaveUp(Duration, EtcdError),
}

/// What a failure means for the caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The request never reached a member able to apply it (the connect failed, or the
    /// member has no leader): any request, even a write, may be sent again.
    NotSent,
    /// The connection broke or the member gave up waiting: a read may be sent again; a
    /// write may or may not have been applied.
    Unavailable,
    LeaseNotFound,
    Compacted,
    FutureRevision,
    /// The request is malformed or over one of etcd's limits.
    Invalid,
    Other,
}

impl Failure {
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Failure::Timeout(_) | Failure::GaveUp(..) => Kind::Unavailable,
            Failure::Etcd(e) => kind(e),
        }
    }

    /// The error for the caller, for kinds that need no extra lookup (compaction and future
    /// revisions are answered by the store, which can ask etcd for the numbers).
    pub(crate) fn into_store_error(self, lease: LeaseId) -> StoreError {
        match (self.kind(), self) {
            (_, Failure::Timeout(t)) => StoreError::Io(format!(
                "etcd did not answer within {t:?}: are a majority of the etcd members up and \
                 reachable? (the timeout is EtcdOptions::request_timeout)"
            )),
            (_, Failure::GaveUp(t, e)) => StoreError::Io(format!(
                "etcd unavailable for {t:?} (last error: {}): are a majority of the etcd members \
                 up and reachable? (the timeout is EtcdOptions::request_timeout)",
                message(&e)
            )),
            (Kind::LeaseNotFound, _) => StoreError::LeaseNotFound(lease),
            (Kind::Invalid, Failure::Etcd(e)) => {
                StoreError::InvalidArgument(with_hint(message(&e)))
            }
            (Kind::NotSent, Failure::Etcd(e)) => StoreError::Io(format!(
                "etcd unavailable: {}: are a majority of the etcd members up and reachable?",
                message(&e)
            )),
            (Kind::Unavailable, Failure::Etcd(e)) => StoreError::Io(format!(
                "etcd unavailable: {} (a write may or may not have been applied)",
                message(&e)
            )),
            (_, Failure::Etcd(e)) => StoreError::Io(format!("etcd: {}", message(&e))),
        }
    }
}

/// Classifies an etcd-client error by gRPC code and etcd's error text (etcd's `rpctypes`).
pub(crate) fn kind(err: &EtcdError) -> Kind {
    match err {
        EtcdError::GRpcStatus(s) => {
            let msg = s.message();
            match s.code() {
                _ if msg.contains("requested lease not found") || msg == "lease not found" => {
                    Kind::LeaseNotFound
                }
                _ if msg.contains("required revision has been compacted") => Kind::Compacted,
                _ if msg.contains("required revision is a future revision") => Kind::FutureRevision,
                _ if msg.contains("message larger than max") => Kind::Invalid,
                Code::Unavailable if msg.contains("no leader") || is_connect_error(msg) => {
                    Kind::NotSent
                }
                Code::Unavailable
                | Code::Unknown
                | Code::Cancelled
                | Code::DeadlineExceeded
                | Code::ResourceExhausted
                | Code::Aborted
                | Code::Internal => Kind::Unavailable,
                Code::InvalidArgument | Code::OutOfRange | Code::FailedPrecondition => {
                    Kind::Invalid
                }
                _ => Kind::Other,
            }
        }
        EtcdError::LeaseKeepAliveError(m) if m.contains("lease not found") => Kind::LeaseNotFound,
        EtcdError::TransportError(_) | EtcdError::IoError(_) | EtcdError::WatchError(_) => {
            Kind::Unavailable
        }
        EtcdError::LeaseKeepAliveError(_) => Kind::Unavailable,
        EtcdError::InvalidArgs(_) | EtcdError::InvalidUri(_) => Kind::Invalid,
        _ => Kind::Other,
    }
}

/// etcd's message, plus what to change when one of etcd's own limits was hit.
fn with_hint(msg: String) -> String {
    let hint = if msg.contains("too many operations in txn") {
        "; split the transaction, or raise etcd's --max-txn-ops (128 by default)"
    } else if msg.contains("request is too large") || msg.contains("larger than max") {
        "; raise etcd's --max-request-bytes (1.5 MiB by default)"
    } else if msg.contains("duplicate key given in txn") {
        "; etcd lets a transaction branch write each key once"
    } else {
        ""
    };
    format!("{msg}{hint}")
}

/// A connect that failed: tonic reports it as `Unavailable` with the connector's text.
fn is_connect_error(msg: &str) -> bool {
    msg.contains("connect error") || msg.contains("error trying to connect")
}

/// The useful text of an etcd-client error (the gRPC message without tonic's wrapping).
pub(crate) fn message(err: &EtcdError) -> String {
    match err {
        EtcdError::GRpcStatus(s) => format!("{} ({:?})", s.message(), s.code()),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(code: Code, msg: &str) -> EtcdError {
        EtcdError::GRpcStatus(tonic::Status::new(code, msg))
    }

    #[test]
    fn etcd_errors_are_classified() {
        let cases = [
            (
                status(Code::NotFound, "etcdserver: requested lease not found"),
                Kind::LeaseNotFound,
            ),
            (
                status(
                    Code::OutOfRange,
                    "etcdserver: mvcc: required revision has been compacted",
                ),
                Kind::Compacted,
            ),
            (
                status(
                    Code::OutOfRange,
                    "etcdserver: mvcc: required revision is a future revision",
                ),
                Kind::FutureRevision,
            ),
            (
                status(Code::Unavailable, "etcdserver: no leader"),
                Kind::NotSent,
            ),
            (
                status(Code::Unavailable, "tcp connect error"),
                Kind::NotSent,
            ),
            (
                status(Code::Unavailable, "etcdserver: request timed out"),
                Kind::Unavailable,
            ),
            (
                status(
                    Code::InvalidArgument,
                    "etcdserver: duplicate key given in txn request",
                ),
                Kind::Invalid,
            ),
            (
                status(
                    Code::ResourceExhausted,
                    "grpc: received message larger than max (2097162 vs. 2097152)",
                ),
                Kind::Invalid,
            ),
            (
                status(Code::ResourceExhausted, "etcdserver: too many requests"),
                Kind::Unavailable,
            ),
            (
                EtcdError::LeaseKeepAliveError("lease not found".into()),
                Kind::LeaseNotFound,
            ),
        ];
        for (err, want) in cases {
            assert_eq!(kind(&err), want, "{err}");
        }
    }

    #[test]
    fn a_timeout_says_what_to_check() {
        let e = Failure::Timeout(Duration::from_secs(5)).into_store_error(0);
        assert!(
            matches!(&e, StoreError::Io(m) if m.contains("majority")),
            "{e}"
        );
        let e = Failure::Etcd(status(
            Code::NotFound,
            "etcdserver: requested lease not found",
        ));
        assert_eq!(e.into_store_error(7), StoreError::LeaseNotFound(7));
    }
}
