//! Signals and watches whole process groups: SIGTERM, grace, SIGKILL, until none is left.

use std::time::Duration;

use nix::errno::Errno;
use nix::sys::signal::{killpg, Signal};
use nix::unistd::{getpgrp, Pid};
use tokio::time::Instant;

use crate::procfs::live_members;

/// How often group membership is re-read from `/proc` while waiting.
const POLL: Duration = Duration::from_millis(20);

/// How long to wait for the kernel to finish off a group after SIGKILL.
const KILL_WAIT: Duration = Duration::from_secs(5);

/// Why a group could not be signalled.
#[derive(Debug, thiserror::Error)]
pub enum SignalError {
    #[error("refusing to signal process group {0}: it is not an instance's group")]
    Refused(u32),
    #[error("signalling process group {pgid} with {signal} failed: {source}")]
    Failed {
        pgid: u32,
        signal: Signal,
        #[source]
        source: Errno,
    },
}

/// Sends `signal` to every process of group `pgid`. `Ok(false)`: the group is gone.
///
/// Groups 0 and 1 and Shoal's own group are refused, so a bad pid can never
/// signal Shoal itself or the whole system.
pub fn signal_group(pgid: u32, signal: Signal) -> Result<bool, SignalError> {
    let raw = i32::try_from(pgid).map_err(|_| SignalError::Refused(pgid))?;
    if raw <= 1 || raw == getpgrp().as_raw() {
        return Err(SignalError::Refused(pgid));
    }
    match killpg(Pid::from_raw(raw), signal) {
        Ok(()) => Ok(true),
        Err(Errno::ESRCH) => Ok(false),
        Err(source) => Err(SignalError::Failed {
            pgid,
            signal,
            source,
        }),
    }
}

/// The live (not zombie) pids in group `pgid`, from `/proc`.
pub fn group_members(pgid: u32) -> Vec<u32> {
    live_members(&[pgid]).remove(&pgid).unwrap_or_default()
}

/// Polls `/proc` until none of `pgids` has a live member or `deadline` passes;
/// returns the groups still alive.
pub(crate) async fn wait_groups_gone(pgids: &[u32], deadline: Instant) -> Vec<u32> {
    loop {
        let live = live_members(pgids);
        let alive: Vec<u32> = pgids
            .iter()
            .copied()
            .filter(|g| live.contains_key(g))
            .collect();
        if alive.is_empty() || Instant::now() >= deadline {
            return alive;
        }
        tokio::time::sleep(POLL.min(deadline.saturating_duration_since(Instant::now()))).await;
    }
}

/// Stops whole groups: SIGTERM, wait up to `grace` for every member to exit, then
/// SIGKILL whatever is left and wait for it. Returns the groups still alive after
/// all that (normally none: only a process stuck in the kernel survives SIGKILL).
pub(crate) async fn terminate_groups(pgids: &[u32], grace: Duration) -> Vec<u32> {
    send_all(pgids, Signal::SIGTERM);
    let left = wait_groups_gone(pgids, Instant::now() + grace).await;
    if left.is_empty() {
        return left;
    }
    tracing::info!(groups = ?left, ?grace, "grace period over, sending SIGKILL");
    send_all(&left, Signal::SIGKILL);
    let left = wait_groups_gone(&left, Instant::now() + KILL_WAIT).await;
    if !left.is_empty() {
        tracing::warn!(groups = ?left, "process groups survived SIGKILL");
    }
    left
}

fn send_all(pgids: &[u32], signal: Signal) {
    for &pgid in pgids {
        if let Err(e) = signal_group(pgid, signal) {
            tracing::warn!(pgid, %signal, error = %e, "signalling process group failed");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_dangerous_groups() {
        for pgid in [0, 1, getpgrp().as_raw().unsigned_abs(), u32::MAX] {
            assert!(matches!(
                signal_group(pgid, Signal::SIGTERM),
                Err(SignalError::Refused(_))
            ));
        }
    }
}
