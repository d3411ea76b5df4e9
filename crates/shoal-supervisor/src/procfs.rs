//! Reads `/proc`: process identity (start time), group membership, CPU and memory.

use std::collections::HashMap;
use std::fs;

use nix::unistd::{sysconf, SysconfVar};
use serde::Serialize;

/// The fields of `/proc/<pid>/stat` Shoal uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcStat {
    pub pid: u32,
    pub state: char,
    pub pgrp: u32,
    pub utime: u64,
    pub stime: u64,
    pub threads: u32,
    /// Field 22: clock ticks after boot when the process started.
    pub start_time: u64,
    pub rss_pages: u64,
}

impl ProcStat {
    /// Dead but not yet reaped: holds no resources and cannot be signalled.
    pub fn is_zombie(&self) -> bool {
        matches!(self.state, 'Z' | 'X' | 'x')
    }
}

/// Parses one `/proc/<pid>/stat` line. The command name may contain spaces and
/// parentheses, so fields are counted after its last `)`.
pub(crate) fn parse_stat(text: &str) -> Option<ProcStat> {
    let (head, rest) = text.rsplit_once(')')?;
    let pid = head.split_once('(')?.0.trim().parse().ok()?;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // `fields[i]` is stat field `i + 3` (1-based, as in proc(5)).
    let field = |n: usize| fields.get(n - 3).copied();
    let num = |n: usize| field(n).and_then(|f| f.parse::<u64>().ok());
    Some(ProcStat {
        pid,
        state: field(3)?.chars().next()?,
        pgrp: u32::try_from(num(5)?).ok()?,
        utime: num(14)?,
        stime: num(15)?,
        threads: u32::try_from(num(20)?).ok()?,
        start_time: num(22)?,
        rss_pages: num(24)?,
    })
}

pub(crate) fn read_stat(pid: u32) -> Option<ProcStat> {
    parse_stat(&fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Every process visible in `/proc` (threads are not listed there).
pub(crate) fn all_processes() -> Vec<ProcStat> {
    let Ok(dir) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(read_stat)
        .collect()
}

/// Field 22 of `/proc/<pid>/stat`: with the pid, identifies a process across PID reuse.
pub fn start_time_ticks(pid: u32) -> Option<u64> {
    read_stat(pid).map(|s| s.start_time)
}

/// Resource use of a process (or a group summed), for telemetry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct ProcStats {
    /// User plus system CPU time consumed so far.
    pub cpu_seconds: f64,
    /// Resident memory.
    pub rss_bytes: u64,
    pub threads: u32,
    /// Open file descriptors (0 when `/proc/<pid>/fd` cannot be read).
    pub fds: u32,
}

/// Current resource use of one process, `None` if it is gone.
pub fn proc_stats(pid: u32) -> Option<ProcStats> {
    let stat = read_stat(pid).filter(|s| !s.is_zombie())?;
    Some(stats_of(&stat, &units()))
}

/// Resource use summed over every live process of group `pgid` (an instance
/// started with `sh -c` does its work in children); `None` if the group is empty.
pub fn group_stats(pgid: u32) -> Option<ProcStats> {
    groups_stats(&[pgid]).remove(&pgid)
}

/// [`group_stats`] of each of `pgids` from one scan of `/proc` (not one scan per
/// group: with 200 instances that was 200 scans of every process each second).
/// Groups with no live member are absent. No groups, no scan (an idle node
/// read every process's `stat` each second for nothing).
pub fn groups_stats(pgids: &[u32]) -> HashMap<u32, ProcStats> {
    if pgids.is_empty() {
        return HashMap::new();
    }
    let units = units();
    let wanted: std::collections::HashSet<u32> = pgids.iter().copied().collect();
    let mut out: HashMap<u32, ProcStats> = HashMap::new();
    for s in all_processes() {
        if s.is_zombie() || !wanted.contains(&s.pgrp) {
            continue;
        }
        let one = stats_of(&s, &units);
        let sum = out.entry(s.pgrp).or_default();
        sum.cpu_seconds += one.cpu_seconds;
        sum.rss_bytes += one.rss_bytes;
        sum.threads += one.threads;
        sum.fds += one.fds;
    }
    out
}

/// Clock ticks per second and page size; Linux's usual values if `sysconf` fails.
struct Units {
    ticks_per_second: f64,
    page_size: u64,
}

fn units() -> Units {
    let get = |var, fallback: i64| {
        sysconf(var)
            .ok()
            .flatten()
            .filter(|v| *v > 0)
            .unwrap_or(fallback)
    };
    Units {
        ticks_per_second: get(SysconfVar::CLK_TCK, 100) as f64,
        page_size: u64::try_from(get(SysconfVar::PAGE_SIZE, 4096)).unwrap_or(4096),
    }
}

fn stats_of(stat: &ProcStat, units: &Units) -> ProcStats {
    let fds = fs::read_dir(format!("/proc/{}/fd", stat.pid))
        .map(|d| u32::try_from(d.count()).unwrap_or(u32::MAX))
        .unwrap_or(0);
    ProcStats {
        cpu_seconds: (stat.utime + stat.stime) as f64 / units.ticks_per_second,
        rss_bytes: stat.rss_pages * units.page_size,
        threads: stat.threads,
        fds,
    }
}

/// Live (non-zombie) pids of each of `pgids` that still has members, from one `/proc` scan.
pub(crate) fn live_members(pgids: &[u32]) -> HashMap<u32, Vec<u32>> {
    let mut live: HashMap<u32, Vec<u32>> = HashMap::new();
    for stat in all_processes() {
        if !stat.is_zombie() && pgids.contains(&stat.pgrp) {
            live.entry(stat.pgrp).or_default().push(stat.pid);
        }
    }
    live
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "4242 (my (odd) name) S 1 4242 4242 0 -1 4194560 120 0 0 0 \
        250 50 0 0 20 0 3 0 987654 10000000 512 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";

    #[test]
    fn parses_fields_after_the_last_parenthesis() {
        let stat = parse_stat(SAMPLE);
        assert_eq!(
            stat,
            Some(ProcStat {
                pid: 4242,
                state: 'S',
                pgrp: 4242,
                utime: 250,
                stime: 50,
                threads: 3,
                start_time: 987654,
                rss_pages: 512,
            })
        );
        assert!(!stat.is_some_and(|s| s.is_zombie()));
    }

    #[test]
    fn rejects_truncated_lines() {
        assert_eq!(parse_stat("12 (x) S 1 12"), None);
        assert_eq!(parse_stat(""), None);
    }

    #[test]
    fn reads_our_own_process() {
        let me = std::process::id();
        assert!(start_time_ticks(me).is_some());
        let stats = proc_stats(me);
        assert!(stats.is_some_and(|s| s.rss_bytes > 0 && s.threads >= 1 && s.fds >= 3));
    }
}
