//! [`Lab`]: a multi-host test lab on one machine, made of Linux network namespaces joined by
//! one bridge, so cluster tests can run agents and etcd members "on separate hosts".
//!
//! # Layout of one lab
//! - A bridge `sb<PID>-<K>` in the root namespace with address `10.213.K.254/24`: the test
//!   process reaches every host directly through it.
//! - Per host `i`, a namespace `shoal-<PID>-<K>-h<i>` with `lo` up and `eth0` at
//!   `10.213.K.<i+1>/24`, the inner end of a veth pair whose outer end `sv<PID>-<K>-<i>` is a
//!   port of the bridge. No default route: a host reaches only the lab.
//!
//! `PID` (6 hex digits) is the owner process, `K` (2 hex digits) the lab's subnet octet, `i` the
//! host (2 hex digits in link names). Every name fits Linux's 15-character interface limit.
//! `K` is claimed under a machine-wide lock (an abstract unix socket, so nothing is left on
//! disk) after checking that no address or route of this machine touches `10.213.K.0/24`, so
//! parallel test processes never share a subnet or a name.
//!
//! # Cleanup
//! Dropping the lab (also while a test panics) kills every process still inside its namespaces
//! (the tracked process groups first, then anything whose network namespace is one of the
//! lab's), then deletes the veths, the namespaces and the bridge: only names it made. A test
//! process killed before its `Drop` leaves its lab behind; [`Lab::sweep_stale`] (run by
//! [`Lab::new`]) removes labs whose owner pid is dead.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::io;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream};
use std::os::linux::fs::MetadataExt;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr as UnixAddr, UnixListener};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sched::CloneFlags;
use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;

use crate::wait::{pid_alive, wait_until};

/// The first two octets of every lab subnet: `10.213.K.0/24`, one `K` per lab.
pub const LAB_NET: [u8; 2] = [10, 213];

/// Host `i` gets `10.213.K.<i+1>`; `.254` is the bridge, so at most 253 hosts.
pub const MAX_HOSTS: usize = 253;

/// The bridge's last octet.
const BRIDGE_OCTET: u8 = 254;

/// The interface name of a host's end of its veth, inside its namespace.
const HOST_IF: &str = "eth0";

/// Labs created by this process so far: the counter that moves the subnet search along.
static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);

/// The abstract unix socket name that serialises subnet claims across processes.
const LOCK_NAME: &[u8] = b"shoal-testkit-netns-lab-lock";

/// How long the kill loop of `Drop` waits for the lab's processes to vanish.
const KILL_TIMEOUT: Duration = Duration::from_secs(10);

/// PIDs of process-group leaders started through a lab (see [`Host::spawn`]).
type Tracked = Arc<Mutex<Vec<u32>>>;

/// A set of network namespaces ("hosts") on one bridge. See the module docs.
pub struct Lab {
    pid: u32,
    k: u8,
    /// The bridge, once created (so `Drop` of a half-made lab removes only what exists).
    bridge: Option<String>,
    hosts: Vec<Host>,
    tracked: Tracked,
}

/// One host of a [`Lab`]: a network namespace with one address on the lab's bridge.
#[derive(Debug)]
pub struct Host {
    /// The namespace's name, for `ip netns exec NS ...`.
    pub ns: String,
    /// The host's address on the lab bridge.
    pub ip: Ipv4Addr,
    /// The root-namespace end of its veth pair (a bridge port).
    veth: String,
    /// The lab's tracked process-group leaders (shared by all its hosts).
    tracked: Tracked,
}

impl Lab {
    /// Creates a lab of `hosts` hosts (1 to [`MAX_HOSTS`]) on a fresh `10.213.K.0/24`, after
    /// removing labs left behind by dead processes. Needs root and `ip` (iproute2). On error,
    /// whatever was created is removed again.
    pub fn new(hosts: usize) -> Result<Lab, String> {
        if hosts == 0 || hosts > MAX_HOSTS {
            return Err(format!("a lab has 1 to {MAX_HOSTS} hosts, not {hosts}"));
        }
        let pid = std::process::id();
        if pid > 0xff_ffff {
            return Err(format!(
                "pid {pid} does not fit the lab's 6-hex-digit names"
            ));
        }
        let mut lab = Lab {
            pid,
            k: 0,
            bridge: None,
            hosts: Vec::new(),
            tracked: Arc::default(),
        };
        {
            let _lock = MachineLock::acquire(Duration::from_secs(60))?;
            if let Err(e) = sweep_stale_inner() {
                eprintln!("netns lab: sweeping stale labs: {e}");
            }
            claim_subnet(&mut lab)?;
        }
        for i in 0..hosts {
            lab.add_host(i)?;
        }
        Ok(lab)
    }

    /// Removes namespaces, bridges and veths of labs whose owner process is dead (killing any
    /// process still inside such a namespace first). Returns the names removed. Only names in
    /// the lab's exact patterns are considered; a lab whose owner pid was reused by a live
    /// process stays until that process dies too.
    pub fn sweep_stale() -> Result<Vec<String>, String> {
        sweep_stale_inner()
    }

    /// Host `i` (panics when out of range, like indexing).
    pub fn host(&self, i: usize) -> &Host {
        &self.hosts[i]
    }

    /// All hosts, in order.
    pub fn hosts(&self) -> &[Host] {
        &self.hosts
    }

    /// Number of hosts.
    pub fn len(&self) -> usize {
        self.hosts.len()
    }

    /// Whether the lab has no hosts (never, once created).
    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    /// The bridge's address: the test process's own address on the lab network.
    pub fn bridge_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(LAB_NET[0], LAB_NET[1], self.k, BRIDGE_OCTET)
    }

    /// The lab's subnet, `10.213.K.0/24`.
    pub fn subnet(&self) -> String {
        format!("{}.{}.{}.0/24", LAB_NET[0], LAB_NET[1], self.k)
    }

    /// Every namespace and root-namespace link this lab created (the names `Drop` deletes).
    pub fn owned_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.bridge.iter().cloned().collect();
        for h in &self.hosts {
            names.push(h.ns.clone());
            names.push(h.veth.clone());
        }
        names
    }

    fn add_host(&mut self, i: usize) -> Result<(), String> {
        let (pid, k) = (self.pid, self.k);
        let bridge = self.bridge.clone().unwrap_or_default();
        let ns = format!("shoal-{pid:06x}-{k:02x}-h{i}");
        let veth = format!("sv{pid:06x}-{k:02x}-{i:02x}");
        let peer = format!("sp{pid:06x}-{k:02x}-{i:02x}");
        let octet = u8::try_from(i + 1).map_err(|_| format!("host index {i} too large"))?;
        let ip = Ipv4Addr::new(LAB_NET[0], LAB_NET[1], k, octet);
        ip_cmd(&["netns", "add", &ns])?;
        // Recorded at once: from here on `Drop` deletes the namespace and the veth (deleting a
        // veth that does not exist yet is only a logged no-op).
        self.hosts.push(Host {
            ns: ns.clone(),
            ip,
            veth: veth.clone(),
            tracked: Arc::clone(&self.tracked),
        });
        let cidr = format!("{ip}/24");
        ip_cmd(&["link", "add", &veth, "type", "veth", "peer", "name", &peer])?;
        ip_cmd(&["link", "set", &peer, "netns", &ns])?;
        ip_cmd(&["-n", &ns, "link", "set", &peer, "name", HOST_IF])?;
        ip_cmd(&["-n", &ns, "addr", "add", &cidr, "dev", HOST_IF])?;
        ip_cmd(&["-n", &ns, "link", "set", "lo", "up"])?;
        ip_cmd(&["-n", &ns, "link", "set", HOST_IF, "up"])?;
        ip_cmd(&["link", "set", &veth, "master", &bridge])?;
        ip_cmd(&["link", "set", &veth, "up"])?;
        Ok(())
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        let namespaces: Vec<&str> = self.hosts.iter().map(|h| h.ns.as_str()).collect();
        let ids = ns_ids(&namespaces);
        // The tracked process groups first (their members may have left the namespace), but
        // only while the leader still lives in one of ours: a dead leader's pid may be reused.
        let tracked = self.tracked.lock().map(|t| t.clone()).unwrap_or_default();
        for pid in tracked {
            if proc_in(pid, &ids) {
                let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
            }
        }
        if let Err(e) = kill_all_in(&ids) {
            eprintln!("netns lab {}: {e}", self.subnet());
        }
        for h in &self.hosts {
            if let Err(e) = ip_cmd(&["link", "del", &h.veth]) {
                if !e.contains("Cannot find device") {
                    eprintln!("netns lab: {e}");
                }
            }
            if let Err(e) = ip_cmd(&["netns", "del", &h.ns]) {
                eprintln!("netns lab: {e}");
            }
        }
        if let Some(bridge) = &self.bridge {
            if let Err(e) = ip_cmd(&["link", "del", bridge]) {
                eprintln!("netns lab: {e}");
            }
        }
    }
}

impl Host {
    /// `ip netns exec NS program`, in a new process group (so `Drop` of the lab can kill the
    /// whole group). `ip netns exec` execs the program, so the child's pid is the program's.
    /// Spawn it with [`Host::spawn`] to have it tracked; `output()`/`status()` are fine as they
    /// are. For tokio, `tokio::process::Command::from(host.command(..))` and [`Host::track`].
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.ns])
            .arg(program)
            .process_group(0);
        cmd
    }

    /// Spawns `cmd` (normally from [`Host::command`], so in its own process group) and
    /// tracks it, so the lab's `Drop` kills its group if it still runs. The returned handle
    /// kills the group and reaps the child when dropped itself.
    pub fn spawn(&self, cmd: &mut Command) -> Result<LabChild, String> {
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {cmd:?} in {}: {e}", self.ns))?;
        self.track(child.id());
        Ok(LabChild(child))
    }

    /// Tracks a process group leader started some other way (e.g. through tokio).
    pub fn track(&self, pid: u32) {
        if let Ok(mut t) = self.tracked.lock() {
            t.push(pid);
        }
    }

    /// `ip:port` of this host.
    pub fn addr(&self, port: u16) -> SocketAddr {
        SocketAddr::V4(SocketAddrV4::new(self.ip, port))
    }

    /// Runs `f` on a fresh thread that has entered this host's network namespace: sockets it
    /// creates (listeners, connections) live in the host, and stay there when returned.
    pub fn enter<T: Send>(&self, f: impl FnOnce() -> T + Send) -> io::Result<T> {
        let file = std::fs::File::open(format!("/run/netns/{}", self.ns))?;
        std::thread::scope(|s| {
            let handle = s.spawn(move || {
                nix::sched::setns(&file, CloneFlags::CLONE_NEWNET).map_err(io::Error::from)?;
                Ok(f())
            });
            match handle.join() {
                Ok(r) => r,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// A TCP connection made from inside this host (the socket lives in its namespace).
    pub fn connect(&self, to: SocketAddr, timeout: Duration) -> io::Result<TcpStream> {
        self.enter(|| TcpStream::connect_timeout(&to, timeout))?
    }

    /// Whether a TCP connect from this host to `to` succeeds within `timeout`.
    pub fn reaches(&self, to: SocketAddr, timeout: Duration) -> bool {
        self.connect(to, timeout).is_ok()
    }

    /// Waits until something accepts TCP connections on this host's `port`, connecting from
    /// the root namespace (the test process) through the bridge.
    pub fn wait_port(&self, port: u16, timeout: Duration) -> Result<(), String> {
        let addr = self.addr(port);
        wait_until(&format!("{addr} accepting in {}", self.ns), timeout, || {
            TcpStream::connect_timeout(&addr, Duration::from_millis(300))
                .ok()
                .map(|_| ())
        })
        .map_err(|e| e.to_string())
    }

    /// Takes the host off the network, as a pulled cable would: its bridge port goes down
    /// (so no frame reaches or leaves it) and so does its `eth0` (its own outgoing
    /// connections fail with "network unreachable"). Addresses, listeners and processes stay.
    pub fn cut(&self) -> Result<(), String> {
        ip_cmd(&["link", "set", &self.veth, "down"])?;
        ip_cmd(&["-n", &self.ns, "link", "set", HOST_IF, "down"])?;
        Ok(())
    }

    /// Puts the host back on the network after [`Host::cut`].
    pub fn heal(&self) -> Result<(), String> {
        ip_cmd(&["-n", &self.ns, "link", "set", HOST_IF, "up"])?;
        ip_cmd(&["link", "set", &self.veth, "up"])?;
        Ok(())
    }

    /// Whether the host is cut off (its bridge port is down).
    pub fn is_cut(&self) -> Result<bool, String> {
        let out = ip_cmd(&["-o", "link", "show", "dev", &self.veth])?;
        Ok(!link_flags(&out).contains(&"UP"))
    }
}

/// A process started by [`Host::spawn`]: a [`Child`] (through `Deref`) whose process group is
/// SIGKILLed and which is reaped when the handle is dropped, unless it was already waited for.
/// The pid cannot be reused while the handle holds the child unreaped, so the kill is safe.
#[derive(Debug)]
pub struct LabChild(Child);

impl LabChild {
    /// SIGKILLs the whole process group (not only the leader) and reaps the leader.
    pub fn kill_group(&mut self) -> io::Result<std::process::ExitStatus> {
        if let Some(status) = self.0.try_wait()? {
            return Ok(status);
        }
        let _ = killpg(Pid::from_raw(self.0.id() as i32), Signal::SIGKILL);
        self.0.wait()
    }
}

impl std::ops::Deref for LabChild {
    type Target = Child;
    fn deref(&self) -> &Child {
        &self.0
    }
}

impl std::ops::DerefMut for LabChild {
    fn deref_mut(&mut self) -> &mut Child {
        &mut self.0
    }
}

impl Drop for LabChild {
    fn drop(&mut self) {
        let _ = self.kill_group();
    }
}

/// Runs `ip ARGS...`; its stdout, or an error naming the command and its stderr.
fn ip_cmd(args: &[&str]) -> Result<String, String> {
    let out = Command::new("ip")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run `ip {}`: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "`ip {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// The flags of a `ip -o link show` line, e.g. `["BROADCAST", "MULTICAST", "UP"]`.
fn link_flags(line: &str) -> Vec<&str> {
    line.split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(flags, _)| flags.split(',').collect())
        .unwrap_or_default()
}

/// Machine-wide mutual exclusion for claiming a subnet: a bound abstract unix socket (released
/// by the kernel when the process dies; nothing on disk).
struct MachineLock(#[allow(dead_code)] UnixListener);

impl MachineLock {
    fn acquire(timeout: Duration) -> Result<Self, String> {
        let addr = UnixAddr::from_abstract_name(LOCK_NAME)
            .map_err(|e| format!("netns lab lock address: {e}"))?;
        wait_until("the netns lab lock", timeout, || {
            UnixListener::bind_addr(&addr).ok().map(MachineLock)
        })
        .map_err(|e| e.to_string())
    }
}

/// Picks a free `K` (starting from one derived from the pid and a counter), creates the
/// bridge with `10.213.K.254/24` and brings it up. Called under the machine lock.
fn claim_subnet(lab: &mut Lab) -> Result<(), String> {
    let addrs = ip_cmd(&["-4", "-o", "addr"])?;
    let routes = ip_cmd(&["-4", "route", "show", "table", "all"])?;
    let links: HashSet<String> = link_names()?;
    let start = lab
        .pid
        .wrapping_mul(7)
        .wrapping_add(LAB_COUNTER.fetch_add(1, Ordering::SeqCst));
    let mut overlapping = Vec::new();
    for step in 0..254u32 {
        let k = u8::try_from(1 + (start.wrapping_add(step)) % 253).unwrap_or(1);
        let bridge = format!("sb{:06x}-{k:02x}", lab.pid);
        if links.contains(&bridge) {
            continue;
        }
        if let Some(used) = subnet_in_use(k, &addrs, &routes) {
            overlapping.push(used);
            continue;
        }
        ip_cmd(&["link", "add", "name", &bridge, "type", "bridge"])?;
        lab.bridge = Some(bridge.clone());
        lab.k = k;
        let cidr = format!("{}/24", lab.bridge_ip());
        ip_cmd(&["addr", "add", &cidr, "dev", &bridge])?;
        ip_cmd(&["link", "set", &bridge, "up"])?;
        return Ok(());
    }
    overlapping.sort();
    overlapping.dedup();
    Err(format!(
        "no free 10.213.K.0/24 for a netns lab; addresses/routes of this machine in the way: {}",
        overlapping.join("; ")
    ))
}

/// Why `10.213.K.0/24` is taken (an address in it or a route overlapping it), if it is.
fn subnet_in_use(k: u8, addrs: &str, routes: &str) -> Option<String> {
    let net = u32::from(Ipv4Addr::new(LAB_NET[0], LAB_NET[1], k, 0));
    for line in addrs.lines() {
        let mut words = line.split_whitespace();
        if let Some(cidr) = words.by_ref().skip_while(|w| *w != "inet").nth(1) {
            if let Some((a, _)) = parse_cidr(cidr) {
                if a & 0xffff_ff00 == net {
                    return Some(format!("address {}", line.trim()));
                }
            }
        }
    }
    for line in routes.lines() {
        let mut words = line.split_whitespace();
        let Some(mut first) = words.next() else {
            continue;
        };
        if matches!(
            first,
            "local"
                | "broadcast"
                | "unicast"
                | "anycast"
                | "multicast"
                | "blackhole"
                | "unreachable"
                | "prohibit"
                | "throw"
                | "nat"
        ) {
            first = words.next().unwrap_or_default();
        }
        if first == "default" {
            continue;
        }
        let Some((a, len)) = parse_cidr(first) else {
            continue;
        };
        // Two prefixes overlap when they agree on the shorter one's bits.
        let shorter = len.min(24);
        let mask = if shorter == 0 {
            0
        } else {
            u32::MAX << (32 - shorter)
        };
        if a & mask == net & mask {
            return Some(format!("route {}", line.trim()));
        }
    }
    None
}

/// `a.b.c.d/len` or `a.b.c.d` (a /32) as (address, prefix length).
fn parse_cidr(s: &str) -> Option<(u32, u32)> {
    let (a, len) = s.split_once('/').unwrap_or((s, "32"));
    let a: Ipv4Addr = a.parse().ok()?;
    let len: u32 = len.parse().ok()?;
    (len <= 32).then_some((u32::from(a), len))
}

/// The names of all links of the root namespace (`eth0`, not `eth0@if5`).
fn link_names() -> Result<HashSet<String>, String> {
    let out = ip_cmd(&["-o", "link"])?;
    Ok(out
        .lines()
        .filter_map(|l| l.split(':').nth(1))
        .map(|n| n.trim().split('@').next().unwrap_or_default().to_string())
        .collect())
}

/// The owner pid of a lab namespace name `shoal-PPPPPP-KK-hN`.
fn ns_owner(name: &str) -> Option<u32> {
    let rest = name.strip_prefix("shoal-")?;
    let (pid, rest) = rest.split_once('-')?;
    let (k, host) = rest.split_once('-')?;
    let host = host.strip_prefix('h')?;
    let ok = pid.len() == 6
        && k.len() == 2
        && u8::from_str_radix(k, 16).is_ok()
        && !host.is_empty()
        && host.bytes().all(|b| b.is_ascii_digit());
    ok.then(|| u32::from_str_radix(pid, 16).ok()).flatten()
}

/// The owner pid of a lab link name `sbPPPPPP-KK` (bridge) or `svPPPPPP-KK-II` /
/// `spPPPPPP-KK-II` (veth ends).
fn link_owner(name: &str) -> Option<u32> {
    let hex = |s: &str, n: usize| s.len() == n && s.bytes().all(|b| b.is_ascii_hexdigit());
    let parts: Vec<&str> = if let Some(rest) = name.strip_prefix("sb") {
        rest.split('-').collect()
    } else {
        name.strip_prefix("sv")
            .or_else(|| name.strip_prefix("sp"))?
            .split('-')
            .collect()
    };
    let ok = match parts.as_slice() {
        [pid, k] => name.starts_with("sb") && hex(pid, 6) && hex(k, 2),
        [pid, k, i] => !name.starts_with("sb") && hex(pid, 6) && hex(k, 2) && hex(i, 2),
        _ => false,
    };
    ok.then(|| u32::from_str_radix(parts[0], 16).ok()).flatten()
}

fn sweep_stale_inner() -> Result<Vec<String>, String> {
    let mut removed = Vec::new();
    let mut errors = Vec::new();
    let list = ip_cmd(&["netns", "list"])?;
    let stale_ns: Vec<String> = list
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| ns_owner(n).is_some_and(|pid| !pid_alive(pid)))
        .map(str::to_string)
        .collect();
    let names: Vec<&str> = stale_ns.iter().map(String::as_str).collect();
    if let Err(e) = kill_all_in(&ns_ids(&names)) {
        errors.push(e);
    }
    for ns in &stale_ns {
        match ip_cmd(&["netns", "del", ns]) {
            Ok(_) => removed.push(ns.clone()),
            // A concurrent sweep (another test process) may have been first.
            Err(e) if e.contains("No such file") => {}
            Err(e) => errors.push(e),
        }
    }
    // Bridges after veths is not needed: deleting a bridge releases its ports.
    let mut links: Vec<String> = link_names()?
        .into_iter()
        .filter(|n| link_owner(n).is_some_and(|pid| !pid_alive(pid)))
        .collect();
    links.sort();
    for link in links {
        match ip_cmd(&["link", "del", &link]) {
            Ok(_) => removed.push(link),
            // Deleting one veth end deletes its peer; a concurrent sweep may have been first.
            Err(e) if e.contains("Cannot find device") => {}
            Err(e) => errors.push(e),
        }
    }
    if errors.is_empty() {
        Ok(removed)
    } else {
        Err(errors.join("; "))
    }
}

/// The (device, inode) identities of the named namespaces (those that exist).
fn ns_ids(names: &[&str]) -> HashSet<(u64, u64)> {
    names
        .iter()
        .filter_map(|n| std::fs::metadata(format!("/run/netns/{n}")).ok())
        .map(|m| (m.st_dev(), m.st_ino()))
        .collect()
}

/// Whether process `pid` lives (not a zombie) in one of the namespaces `ids`.
fn proc_in(pid: u32, ids: &HashSet<(u64, u64)>) -> bool {
    std::fs::metadata(format!("/proc/{pid}/ns/net"))
        .is_ok_and(|m| ids.contains(&(m.st_dev(), m.st_ino())))
}

/// Every process in one of the namespaces `ids`, except this one.
fn procs_in(ids: &HashSet<(u64, u64)>) -> Vec<u32> {
    if ids.is_empty() {
        return Vec::new();
    }
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| pid != me && proc_in(pid, ids))
        .collect()
}

/// SIGKILLs every process in the namespaces `ids` until none is left (a process may fork
/// between the scan and the kill, hence the loop).
fn kill_all_in(ids: &HashSet<(u64, u64)>) -> Result<(), String> {
    let start = Instant::now();
    loop {
        let pids = procs_in(ids);
        if pids.is_empty() {
            return Ok(());
        }
        if start.elapsed() > KILL_TIMEOUT {
            return Err(format!(
                "processes still alive in the lab's namespaces after {KILL_TIMEOUT:?}: {pids:?}"
            ));
        }
        for pid in pids {
            let _ = kill(Pid::from_raw(pid as i32), Signal::SIGKILL);
        }
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_and_parse() {
        let (pid, k, i) = (0x40_0000u32, 0xfdu8, 252usize);
        let bridge = format!("sb{pid:06x}-{k:02x}");
        let veth = format!("sv{pid:06x}-{k:02x}-{i:02x}");
        let peer = format!("sp{pid:06x}-{k:02x}-{i:02x}");
        for name in [&bridge, &veth, &peer] {
            assert!(name.len() <= 15, "{name} is too long for an interface");
            assert_eq!(link_owner(name), Some(pid), "{name}");
        }
        assert_eq!(
            ns_owner(&format!("shoal-{pid:06x}-{k:02x}-h{i}")),
            Some(pid)
        );
        for other in [
            "eth0",
            "sbx",
            "sv12345-01-02",
            "sb123456",
            "shoal-1-2-h3",
            "svc0ffee-0-01",
        ] {
            assert_eq!(link_owner(other), None, "{other}");
            assert_eq!(ns_owner(other), None, "{other}");
        }
    }

    #[test]
    fn subnet_overlap_is_seen_in_addresses_and_routes() {
        let addrs = "4: eth0    inet 192.0.2.2/24 brd 192.0.2.255 scope global eth0\n\
                     9: sb00abcd-05    inet 10.213.5.254/24 scope global sb00abcd-05";
        let routes = "default via 192.0.2.1 dev eth0\n\
                      192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2\n\
                      local 10.213.7.254 dev x table local proto kernel scope host\n\
                      10.213.64.0/18 via 192.0.2.9 dev eth0";
        assert_eq!(subnet_in_use(4, addrs, routes), None);
        assert!(subnet_in_use(5, addrs, routes).is_some_and(|s| s.starts_with("address")));
        assert!(subnet_in_use(7, addrs, routes).is_some_and(|s| s.starts_with("route")));
        assert!(subnet_in_use(70, addrs, routes).is_some());
        assert!(subnet_in_use(4, addrs, "10.0.0.0/8 dev wg0").is_some());
    }
}
