//! Process primitives for Shoal's supervisor: spawn, stop, restart backoff, ports, orphans, stats.
//!
//! Every instance runs in its own process group (DESIGN §5) so stopping it
//! (SIGTERM, grace, SIGKILL) reaches everything it started. Decisions (backoff,
//! restart accounting, which orphans to stop) are pure; the rest is thin I/O.
//! The reconcile loop that uses these lives in the agent.
//!
//! # Layout
//! - `spec.rs`: what to launch (`LaunchSpec`, `Program`) and where output goes.
//! - `output.rs`: the line splitter and the tasks reading stdout/stderr.
//! - `process.rs`: `spawn` and `RunningProcess` (`wait`, `stop`).
//! - `exit.rs`: `ExitInfo`, how a process ended.
//! - `group.rs`: signalling and watching whole process groups.
//! - `procfs.rs`: `/proc/<pid>/stat` parsing, start times, `proc_stats`.
//! - `backoff.rs`: `Backoff`, exponential restart delays with jitter.
//! - `restart.rs`: `RestartTracker`, failures, resets and crash-loop detection.
//! - `ports.rs`: `PortAllocator`, `PORT`s for instances.
//! - `registry.rs`: `PidRegistry`, the on-disk list of running instances.
//! - `orphans.rs`: `reap_orphans`, stopping a crashed previous run's instances.
#![forbid(unsafe_code)]

mod backoff;
mod exit;
mod group;
mod orphans;
mod output;
mod ports;
mod process;
mod procfs;
mod registry;
mod restart;
mod spec;

pub use backoff::Backoff;
pub use exit::ExitInfo;
pub use group::{group_members, signal_group, SignalError};
pub use nix::sys::signal::Signal;
pub use orphans::reap_orphans;
pub use output::MAX_LINE_BYTES;
pub use ports::PortAllocator;
pub use process::{spawn, RunningProcess, SpawnError};
pub use procfs::{group_stats, groups_stats, proc_stats, start_time_ticks, ProcStats};
pub use registry::{PidRegistry, RegistryEntry, RegistryError};
pub use restart::{RestartTracker, CRASH_LOOP_FAILURES};
pub use shoal_logs::Stream;
pub use spec::{channel_sink, LaunchSpec, OutputLine, OutputSink, Program};
