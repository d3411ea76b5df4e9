//! Checks done before a request leaves, with the embedded store's limits and messages, so
//! both backends reject the same malformed requests (and the namespace cannot hide an empty key).

use std::time::Duration;

use shoal_store::{
    Op, Revision, StoreError, Txn, MAX_KEY_LEN, MAX_LEASE_TTL, MAX_TXN_OPS, MAX_VALUE_LEN,
};

fn invalid(msg: String) -> StoreError {
    StoreError::InvalidArgument(msg)
}

pub(crate) fn key(key: &str) -> Result<(), StoreError> {
    if key.is_empty() {
        return Err(invalid("key must not be empty".into()));
    }
    if key.len() > MAX_KEY_LEN {
        return Err(invalid(format!(
            "key is {} bytes, the limit is {MAX_KEY_LEN}",
            key.len()
        )));
    }
    Ok(())
}

fn op(op: &Op) -> Result<(), StoreError> {
    match op {
        Op::Get { key: k } | Op::Delete { key: k } => key(k),
        Op::Put {
            key: k,
            value,
            lease,
        } => {
            key(k)?;
            if value.len() > MAX_VALUE_LEN {
                return Err(invalid(format!(
                    "value of {k:?} is {} bytes, the limit is {MAX_VALUE_LEN}",
                    value.len()
                )));
            }
            if *lease < 0 {
                return Err(invalid(format!("negative lease id {lease}")));
            }
            Ok(())
        }
        Op::Range { .. } | Op::DeletePrefix { .. } => Ok(()),
    }
}

pub(crate) fn txn(t: &Txn) -> Result<(), StoreError> {
    let n = t.compare.len() + t.success.len() + t.failure.len();
    if n > MAX_TXN_OPS {
        return Err(invalid(format!(
            "transaction has {n} compares and ops, the limit is {MAX_TXN_OPS}; split it"
        )));
    }
    for c in &t.compare {
        key(&c.key)?;
    }
    t.success.iter().chain(&t.failure).try_for_each(op)
}

/// A lease TTL in etcd's whole seconds, rounded up.
pub(crate) fn ttl_secs(ttl: Duration) -> Result<i64, StoreError> {
    if ttl.as_millis() == 0 || ttl > MAX_LEASE_TTL {
        return Err(invalid(format!(
            "lease TTL {ttl:?} is out of range: use between 1ms and {} days",
            MAX_LEASE_TTL.as_secs() / 86_400
        )));
    }
    let secs = ttl.as_secs() + u64::from(ttl.subsec_nanos() > 0);
    Ok(secs as i64)
}

pub(crate) fn start_revision(start: Revision) -> Result<(), StoreError> {
    if start < 0 {
        return Err(invalid(format!("negative start revision {start}")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ttls_round_up_to_whole_seconds() {
        assert_eq!(ttl_secs(Duration::from_millis(1)), Ok(1));
        assert_eq!(ttl_secs(Duration::from_secs(2)), Ok(2));
        assert_eq!(ttl_secs(Duration::from_millis(2001)), Ok(3));
        assert!(ttl_secs(Duration::ZERO).is_err());
        assert!(ttl_secs(MAX_LEASE_TTL + Duration::from_secs(1)).is_err());
    }

    #[test]
    fn malformed_txns_are_rejected() {
        assert!(txn(&Txn::new().and_then([Op::put("", "v")])).is_err());
        assert!(txn(&Txn::new().when([shoal_store::Compare::missing("")])).is_err());
        let big = vec![0; MAX_VALUE_LEN + 1];
        assert!(txn(&Txn::new().and_then([Op::put("k", big)])).is_err());
        assert!(txn(&Txn::new().and_then([Op::put_with_lease("k", "v", -1)])).is_err());
        assert!(txn(&Txn::new().and_then([Op::range(""), Op::delete_prefix("")])).is_ok());
    }
}
