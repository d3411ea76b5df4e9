//! [`EtcdOptions`]: how [`EtcdStore`](crate::EtcdStore) talks to etcd.

use std::time::Duration;

/// Connection settings of an [`EtcdStore`](crate::EtcdStore).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EtcdOptions {
    /// Prefix put in front of every key, so several Shoal clusters can share one etcd
    /// ("" = none). Keys are returned without it. End it with `/` to keep `a` and `ab` apart.
    pub namespace: String,
    /// Longest one store call may take, retries on other members included; past it the call
    /// fails with [`StoreError::Io`](shoal_store::StoreError::Io). Also bounds how long a
    /// broken watch waits for one re-establishment attempt.
    pub request_timeout: Duration,
    /// Longest a TCP connect to one member may take.
    pub connect_timeout: Duration,
    /// HTTP/2 ping interval on idle connections, to notice a member that vanished without
    /// closing its connections. etcd refuses pings more often than every 5 s by default.
    pub keepalive_interval: Duration,
    /// How long a ping may go unanswered before the connection counts as dead (a member
    /// cut off the network sends no reset): a watch on it then resumes on another member.
    pub keepalive_timeout: Duration,
}

impl Default for EtcdOptions {
    fn default() -> Self {
        Self {
            namespace: String::new(),
            request_timeout: Duration::from_secs(5),
            connect_timeout: Duration::from_secs(2),
            keepalive_interval: Duration::from_secs(5),
            keepalive_timeout: Duration::from_secs(2),
        }
    }
}
