//! Test fixtures: run a real `shoal up` process on ephemeral ports, talk to it
//! over real sockets, wait for conditions with deadlines, clean up every process.
//!
//! # Layout
//! - `etcd.rs`: [`Etcd`] and [`EtcdCluster`], real etcd processes for the store tests.
//! - `netns.rs`: [`netns::Lab`], hosts in Linux network namespaces on one bridge.
//! - `http.rs`: a blocking HTTP/1.1 client good enough for tests (std only).
//! - `platform.rs`: [`Platform`], a running `shoal up` with its data dir.
//! - `wait.rs`: [`wait_until`] and process-liveness helpers.
#![forbid(unsafe_code)]

mod etcd;
mod http;
pub mod netns;
mod platform;
mod wait;

pub use etcd::{Etcd, EtcdCluster, ETCD_BIN};
pub use http::{request, request_with, HttpResponse};
pub use platform::{Platform, PlatformBuilder};
pub use wait::{pid_alive, wait_until, WaitError};
