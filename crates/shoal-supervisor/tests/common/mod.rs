//! Helpers shared by the supervisor's integration tests: polling and cleanup.

#![allow(dead_code)]

use std::time::{Duration, Instant};

use shoal_supervisor::{group_members, signal_group, Signal};

/// Generous upper bound for anything a test waits on.
pub const DEADLINE: Duration = Duration::from_secs(10);

/// Polls `cond` every 10 ms until it holds or `DEADLINE` passes; returns whether it held.
pub async fn wait_until(mut cond: impl FnMut() -> bool) -> bool {
    let until = Instant::now() + DEADLINE;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= until {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// SIGKILLs a process group when dropped, so a failing test leaves nothing behind.
/// Only a group with live members is signalled (its id cannot have been reused).
pub struct KillGroupOnDrop(pub u32);

impl Drop for KillGroupOnDrop {
    fn drop(&mut self) {
        if !group_members(self.0).is_empty() {
            let _ = signal_group(self.0, Signal::SIGKILL);
        }
    }
}
