//! `reap_orphans`: stops the instances a crashed previous run left behind.

use std::path::Path;
use std::time::Duration;

use crate::group::terminate_groups;
use crate::procfs::{read_stat, ProcStat};
use crate::registry::{PidRegistry, RegistryEntry, RegistryError};

/// Which recorded processes are still the ones we started: same pid, same start
/// time, and still leading their own group. Anything else is a reused pid or a
/// process that changed group, and is left alone. Pure: `/proc` is passed in.
pub(crate) fn orphan_groups<'a>(
    entries: impl IntoIterator<Item = &'a RegistryEntry>,
    stat_of: impl Fn(u32) -> Option<ProcStat>,
) -> Vec<u32> {
    let mut groups: Vec<u32> = entries
        .into_iter()
        .filter(|entry| {
            stat_of(entry.pid).is_some_and(|s| {
                s.start_time == entry.start_time_ticks && s.pgrp == entry.pid && !s.is_zombie()
            })
        })
        .map(|entry| entry.pid)
        .collect();
    groups.sort_unstable();
    groups.dedup();
    groups
}

/// Stops every instance recorded in the registry at `path` that is still
/// running (SIGTERM to its group, `grace`, SIGKILL), then empties the registry.
/// Returns the process groups that were stopped. A missing registry is empty.
///
/// Limitation: a group whose leader has already exited is not touched, since
/// without the leader it cannot be told apart from an unrelated group.
pub async fn reap_orphans(path: &Path, grace: Duration) -> Result<Vec<u32>, RegistryError> {
    let mut registry = PidRegistry::open(path)?;
    let groups = orphan_groups(registry.entries().values(), read_stat);
    let skipped = registry.entries().len() - groups.len();
    if !groups.is_empty() {
        tracing::warn!(groups = ?groups, skipped, "stopping instances left by a previous run");
        terminate_groups(&groups, grace).await;
    } else if skipped > 0 {
        tracing::info!(skipped, "instances of a previous run are already gone");
    }
    registry.clear()?;
    Ok(groups)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(pid: u32, pgrp: u32, start_time: u64, state: char) -> ProcStat {
        ProcStat {
            pid,
            state,
            pgrp,
            utime: 0,
            stime: 0,
            threads: 1,
            start_time,
            rss_pages: 0,
        }
    }

    #[test]
    fn only_matching_live_group_leaders_are_orphans() {
        let entries = [
            RegistryEntry {
                pid: 10,
                start_time_ticks: 100,
            }, // alive, matches
            RegistryEntry {
                pid: 20,
                start_time_ticks: 200,
            }, // pid reused later
            RegistryEntry {
                pid: 30,
                start_time_ticks: 300,
            }, // gone
            RegistryEntry {
                pid: 40,
                start_time_ticks: 400,
            }, // left its group
            RegistryEntry {
                pid: 50,
                start_time_ticks: 500,
            }, // zombie
        ];
        let proc = |pid| match pid {
            10 => Some(stat(10, 10, 100, 'S')),
            20 => Some(stat(20, 20, 999, 'S')),
            40 => Some(stat(40, 7, 400, 'R')),
            50 => Some(stat(50, 50, 500, 'Z')),
            _ => None,
        };
        assert_eq!(orphan_groups(&entries, proc), [10]);
    }
}
