//! The process to sample, read from `/proc`: an instance is a process group (its pid
//! is the group's leader); when the leader is a shell, the busiest other member runs
//! the service. Parsing and the pick are pure; the reads are thin.

use std::path::Path;
use std::time::Duration;

/// What `/proc/PID/stat` says that matters here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    pub pid: u32,
    pub comm: String,
    pub pgrp: u32,
    /// User plus system CPU time, in clock ticks.
    pub ticks: u64,
}

/// Clock ticks per second of `/proc` times (USER_HZ, 100 on every Linux port in use).
const TICKS_PER_S: u64 = 100;

/// Parses `/proc/PID/stat` (the command may hold spaces and parentheses).
pub fn parse_stat(text: &str) -> Option<Stat> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let pid = text.get(..open)?.trim().parse().ok()?;
    let comm = text.get(open + 1..close)?.to_string();
    // After the command: state(3) ppid(4) pgrp(5) ... utime(14) stime(15).
    let rest: Vec<&str> = text.get(close + 1..)?.split_whitespace().collect();
    let field = |n: usize| rest.get(n - 3).and_then(|v| v.parse::<u64>().ok());
    Some(Stat {
        pid,
        comm,
        pgrp: u32::try_from(field(5)?).ok()?,
        ticks: field(14)?.saturating_add(field(15)?),
    })
}

/// CPU time of `ticks` clock ticks.
pub fn ticks_to_duration(ticks: u64) -> Duration {
    Duration::from_millis(ticks.saturating_mul(1000) / TICKS_PER_S)
}

fn is_shell(comm: &str) -> bool {
    matches!(
        comm,
        "sh" | "bash" | "dash" | "zsh" | "ash" | "busybox" | "env"
    )
}

/// The member of group `leader` to sample: the leader unless it is a shell; else the
/// member (not a shell) with the most CPU time, the lowest pid on a tie.
pub fn pick(leader: u32, members: &[Stat]) -> u32 {
    let lead = members.iter().find(|s| s.pid == leader);
    if lead.is_some_and(|s| !is_shell(&s.comm)) {
        return leader;
    }
    members
        .iter()
        .filter(|s| s.pgrp == leader && !is_shell(&s.comm))
        .max_by(|a, b| a.ticks.cmp(&b.ticks).then(b.pid.cmp(&a.pid)))
        .map_or(leader, |s| s.pid)
}

/// `/proc/PID/stat` of one process.
pub fn stat_of(pid: u32) -> Option<Stat> {
    parse_stat(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Every process of group `pgrp`.
pub fn group_members(pgrp: u32) -> Vec<Stat> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter_map(stat_of)
        .filter(|s| s.pgrp == pgrp)
        .collect()
}

/// The executable's path and the first argument of `pid` (empty when unreadable).
pub fn exe_and_argv0(pid: u32) -> (String, String) {
    let exe = std::fs::read_link(format!("/proc/{pid}/exe"))
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let argv0 = cmdline.split(|&b| b == 0).next().unwrap_or_default();
    (exe, String::from_utf8_lossy(argv0).into_owned())
}

/// Whether this process runs as root (from `/proc/self/status`).
pub fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    euid_of(&status) == Some(0)
}

/// The effective uid in a `/proc/PID/status` text.
pub fn euid_of(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("Uid:"))?;
    line.split_whitespace().nth(2)?.parse().ok()
}

/// `kernel.perf_event_paranoid` (2, the kernel's default, when unreadable).
pub fn perf_paranoid() -> i32 {
    std::fs::read_to_string("/proc/sys/kernel/perf_event_paranoid")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(2)
}

/// Whether `path` is a file this process may execute.
pub fn executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(pid: u32, comm: &str, pgrp: u32, ticks: u64) -> Stat {
        Stat {
            pid,
            comm: comm.into(),
            pgrp,
            ticks,
        }
    }

    #[test]
    fn stat_lines_parse_even_with_odd_command_names() {
        let line =
            "4242 (my (odd) app) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 1 2 3";
        assert_eq!(parse_stat(line), Some(st(4242, "my (odd) app", 4242, 300)));
        assert_eq!(parse_stat("garbage"), None);
        assert_eq!(parse_stat("1 (x) S 0"), None);
        assert_eq!(ticks_to_duration(250), Duration::from_millis(2500));
    }

    #[test]
    fn a_shell_leader_hands_over_to_its_busiest_child() {
        let members = [
            st(10, "sh", 10, 1),
            st(11, "python3", 10, 40),
            st(12, "python3", 10, 90),
        ];
        assert_eq!(pick(10, &members), 12);
        // The leader itself when it is the program.
        let members = [st(20, "shoal-demo-publ", 20, 5), st(21, "worker", 20, 500)];
        assert_eq!(pick(20, &members), 20);
        // A shell alone: the shell.
        assert_eq!(pick(30, &[st(30, "bash", 30, 1)]), 30);
        // Gone: the pid asked for (the caller finds it gone).
        assert_eq!(pick(40, &[]), 40);
    }

    #[test]
    fn the_effective_uid_is_the_second_of_four() {
        assert_eq!(euid_of("Name:\tx\nUid:\t1000\t0\t0\t0\n"), Some(0));
        assert_eq!(euid_of("Uid:\t0\t1000\t1000\t1000\n"), Some(1000));
        assert_eq!(euid_of(""), None);
    }
}
