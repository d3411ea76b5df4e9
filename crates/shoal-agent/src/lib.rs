//! The node agent: controllers that keep the desired fleet running on this machine.
//!
//! The agent is a set of level-triggered loops around pure decisions (DESIGN §2):
//! the supervisor controller reads desired state from the store and starts or
//! stops instance tasks; each instance task supervises one process (restart with
//! backoff, health checks, liveness); the catalog writer records every state
//! change in the store (the proxy and DNS build their tables from it).
//!
//! # Layout
//! - `desired.rs`: service specs and scale overrides → groups of instances.
//! - `plan.rs`: the pure reconcile decision for side versions and removed groups
//!   (a service's main line is planned by `shoal_deploy::plan`).
//! - `rollout.rs`: deployment plans written to the store, events, traffic numbers.
//! - `decide.rs`: one pass's pure decision (deployment plans, side versions), shared by
//!   the local controller and the cluster leader.
//! - `controller.rs`: the reconcile loop that applies plans.
//! - `leader.rs`: cluster mode, the elected leader: plans for every node, writes placements.
//! - `follower.rs`: cluster mode, every node: runs the instances placed on it.
//! - `instance.rs`: one instance's lifecycle task.
//! - `pids.rs`: the orphan registry writer (off the restart path).
//! - `env.rs`: the environment handed to instances.
//! - `catalog_writer.rs`: instance state → catalog keys.
//! - `monkey.rs`: chaos experiments' kills, and the end of every experiment.
//! - `apply.rs`: checking a file's kv and secret references against the store.
#![forbid(unsafe_code)]

mod apply;
mod catalog_writer;
mod controller;
pub mod decide;
pub mod desired;
pub mod env;
mod follower;
mod instance;
pub mod leader;
pub mod monkey;
pub mod numbers;
mod pids;
pub mod plan;
mod rollout;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use shoal_logs::LogStore;
use shoal_store::Store;
use shoal_supervisor::{PidRegistry, PortAllocator};
use tokio::sync::{mpsc, watch};

pub use apply::{check_references, ApplyError};
pub use env::{Outbound, PlatformEnv};
pub use instance::now_ms;
pub use rollout::{Traffic, TrafficSource};

/// What the agent needs to run.
pub struct AgentConfig {
    pub node: String,
    pub address: IpAddr,
    pub cwd: PathBuf,
    pub platform: PlatformEnv,
    pub port_range: (u16, u16),
    pub pid_file: PathBuf,
    pub keyring: Option<Arc<shoal_secrets::Keyring>>,
    pub events: Arc<shoal_events::EventLog>,
    /// The fleet view the controller plans from.
    pub fleet: shoal_fleet::FleetReader,
    /// Per-version request totals of a service as this node's proxy counted them, for
    /// canary judgement (none: canaries wait for numbers until their deadline). In a
    /// cluster each node publishes them and the leader judges on every node's.
    pub traffic: Option<TrafficSource>,
    /// Deployments made since (unix ms) are announced in the event stream when
    /// first seen (`shoal up` makes them before the agent starts); older ones were
    /// announced by the run that made them.
    pub announce_since_ms: u64,
}

/// A running agent; [`Agent::shutdown`] stops every instance.
pub struct Agent {
    shutdown: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    writer: tokio::task::JoinHandle<()>,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("pid registry {path}: {detail}")]
    PidRegistry { path: PathBuf, detail: String },
}

/// Cluster mode: this node follows its placements, and plans for the whole cluster while
/// `leadership` says it leads.
pub struct ClusterMode {
    pub leadership: watch::Receiver<Option<shoal_cluster::Leadership>>,
    /// A node whose lease is gone is Lost after this; its instances are placed elsewhere.
    pub grace: std::time::Duration,
}

impl Agent {
    /// Starts the controllers. Instances start as soon as specs are in the store.
    pub fn start(
        cfg: AgentConfig,
        store: Arc<dyn Store>,
        logs: Arc<LogStore>,
    ) -> Result<Self, AgentError> {
        Self::start_mode(cfg, store, logs, None)
    }

    /// Starts the agent in `cluster` mode (placements), or alone on this machine (`None`).
    pub fn start_mode(
        cfg: AgentConfig,
        store: Arc<dyn Store>,
        logs: Arc<LogStore>,
        cluster: Option<ClusterMode>,
    ) -> Result<Self, AgentError> {
        let pids = PidRegistry::open(&cfg.pid_file).map_err(|e| AgentError::PidRegistry {
            path: cfg.pid_file.clone(),
            detail: e.to_string(),
        })?;
        let (shutdown, rx) = watch::channel(false);
        let (updates, updates_rx) = mpsc::unbounded_channel();
        let writer = tokio::spawn(catalog_writer::run(store.clone(), updates_rx));
        let ctx = Arc::new(instance::InstanceCtx {
            store: store.clone(),
            logs,
            pids: pids::PidWriter::start(pids),
            updates,
            platform: cfg.platform,
            cwd: cfg.cwd,
            node: cfg.node,
            address: cfg.address,
            keyring: cfg.keyring,
            events: cfg.events,
            changed: Arc::new(tokio::sync::Notify::new()),
        });
        let ports = PortAllocator::new(cfg.port_range.0, cfg.port_range.1);
        let mut tasks = Vec::new();
        match cluster {
            None => {
                let controller = controller::Controller::new(
                    ctx,
                    cfg.fleet,
                    ports,
                    cfg.traffic,
                    cfg.announce_since_ms,
                );
                tasks.push(tokio::spawn(async move {
                    if let Err(e) = controller.run(rx).await {
                        tracing::error!(error = %e, "supervisor controller stopped");
                    }
                }));
            }
            Some(mode) => {
                // This node's proxy numbers, for the leader's canary judgement.
                if let Some(local) = cfg.traffic {
                    tasks.push(tokio::spawn(numbers::publish(
                        store.clone(),
                        ctx.node.clone(),
                        cfg.fleet.clone(),
                        local,
                        rx.clone(),
                    )));
                }
                let leader = leader::Leader::new(
                    ctx.clone(),
                    leader::LeaderConfig {
                        fleet: cfg.fleet,
                        grace: mode.grace,
                        announce_since_ms: cfg.announce_since_ms,
                    },
                );
                let stop = rx.clone();
                tasks.push(tokio::spawn(leader.run(mode.leadership, stop)));
                let follower = follower::Follower::new(ctx, ports);
                tasks.push(tokio::spawn(async move {
                    if let Err(e) = follower.run(rx).await {
                        tracing::error!(error = %e, "placement follower stopped");
                    }
                }));
            }
        }
        Ok(Self {
            shutdown,
            tasks,
            writer,
        })
    }

    /// Stops every instance gracefully and waits until the catalog reflects it.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        // Every instance task has ended, so every sender is gone: the writer drains and exits.
        let _ = self.writer.await;
    }
}
