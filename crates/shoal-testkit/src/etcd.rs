//! [`EtcdCluster`] and [`Etcd`]: real `etcd` processes (Debian's `etcd-server`) on free
//! 127.0.0.1 ports with temporary data dirs, killed by pid when dropped, even on test failure.
//! [`EtcdCluster::start_in`] runs one member per host of a [`Lab`] instead, on the host's
//! address and etcd's standard ports.

use std::net::{Ipv4Addr, SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use crate::http::request;
use crate::netns::Lab;
use crate::wait::wait_until;

/// Where the `etcd` binary is looked for unless `SHOAL_ETCD_BIN` names another.
pub const ETCD_BIN: &str = "/usr/bin/etcd";

/// How long a member (or the whole cluster) may take to become healthy.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Ports handed out by this process so far (offset inside its slot).
static NEXT_PORT: AtomicU16 = AtomicU16::new(0);

/// One etcd member: its ports, its data dir, and its process while it runs.
struct Member {
    name: String,
    /// The address it listens on: 127.0.0.1, or its lab host's address.
    ip: Ipv4Addr,
    /// The lab host's network namespace it runs in, if any.
    netns: Option<String>,
    client: u16,
    peer: u16,
    child: Option<Child>,
}

/// A cluster of etcd members on 127.0.0.1, each with its own data dir in one temp dir.
/// Fast raft timings (heartbeat 50 ms, election 500 ms) keep failover tests short; every
/// other setting is etcd's default (e.g. `--max-txn-ops 128`, `--max-request-bytes` 1.5 MiB).
pub struct EtcdCluster {
    bin: PathBuf,
    dir: tempfile::TempDir,
    members: Vec<Member>,
}

/// A single-member etcd.
pub struct Etcd(EtcdCluster);

impl Etcd {
    /// Starts one member and waits until it answers `/health`.
    pub fn start() -> Result<Self, String> {
        EtcdCluster::start(1).map(Self)
    }
    /// Its client endpoint, `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        self.0.endpoint(0)
    }
    /// The `etcd://` URL of the member.
    pub fn url(&self) -> String {
        self.0.url()
    }
    /// Kills the process (SIGKILL, as a crash would); the data dir stays.
    pub fn stop(&mut self) {
        self.0.stop_member(0);
    }
    /// Starts it again on the same data dir and ports; waits until healthy.
    pub fn restart(&mut self) -> Result<(), String> {
        self.0.start_member(0)?;
        self.0.wait_healthy(0)
    }
    /// The running process's pid.
    pub fn pid(&self) -> Option<u32> {
        self.0.pid(0)
    }
}

impl EtcdCluster {
    /// Starts `n` members as one new cluster and waits until every member is healthy.
    /// Fails with a clear message when the etcd binary is missing. A port taken by someone
    /// else between choosing and binding it makes a member exit; the start is then retried
    /// on fresh ports.
    pub fn start(n: usize) -> Result<Self, String> {
        let bin = etcd_bin()?;
        let mut last = String::new();
        for _attempt in 0..4 {
            let mut cluster = Self::new(bin.clone(), n)?;
            let started = (0..n).try_for_each(|i| cluster.start_member(i));
            match started.and_then(|()| (0..n).try_for_each(|i| cluster.wait_healthy(i))) {
                Ok(()) => return Ok(cluster),
                // A member that exited most likely lost a race for its port: retry.
                Err(e) if e.contains("exited") => last = e,
                Err(e) => return Err(format!("etcd cluster of {n} did not start: {e}")),
            }
        }
        Err(format!("etcd cluster of {n} did not start: {last}"))
    }

    fn new(bin: PathBuf, n: usize) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir for etcd: {e}"))?;
        let mut members = Vec::new();
        for i in 0..n {
            members.push(Member {
                name: format!("m{i}"),
                ip: Ipv4Addr::LOCALHOST,
                netns: None,
                client: free_port()?,
                peer: free_port()?,
                child: None,
            });
        }
        Ok(Self { bin, dir, members })
    }

    /// Starts one member per lab host in `hosts` (member `j` on host `hosts[j]`), each in
    /// the host's network namespace, listening on the host's address with client port 2379
    /// and peer port 2380, and waits until every member is healthy. The test process reaches
    /// member `j` at `http://10.213.K.(hosts[j]+1):2379` ([`EtcdCluster::endpoint`]).
    /// Cutting a host ([`crate::netns::Host::cut`]) cuts its member off the others.
    /// Drop the cluster before the lab (declare it after the lab); dropping the lab first
    /// kills the members anyway.
    pub fn start_in(lab: &Lab, hosts: &[usize]) -> Result<Self, String> {
        let bin = etcd_bin()?;
        if hosts.is_empty() {
            return Err("an etcd cluster in a lab needs at least one host".to_string());
        }
        let mut members = Vec::new();
        for (j, &h) in hosts.iter().enumerate() {
            if h >= lab.len() {
                return Err(format!("lab has {} hosts, no host {h}", lab.len()));
            }
            if hosts[..j].contains(&h) {
                return Err(format!("host {h} given twice: one etcd member per host"));
            }
            let host = lab.host(h);
            members.push(Member {
                name: format!("m{j}"),
                ip: host.ip,
                netns: Some(host.ns.clone()),
                client: 2379,
                peer: 2380,
                child: None,
            });
        }
        let dir = tempfile::tempdir().map_err(|e| format!("temp dir for etcd: {e}"))?;
        let mut cluster = Self { bin, dir, members };
        let n = hosts.len();
        (0..n)
            .try_for_each(|i| cluster.start_member(i))
            .and_then(|()| (0..n).try_for_each(|i| cluster.wait_healthy(i)))
            .map_err(|e| format!("etcd cluster on lab hosts {hosts:?} did not start: {e}"))?;
        Ok(cluster)
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        self.members.len()
    }

    /// Whether the cluster has no members (never, once started).
    pub fn is_empty(&self) -> bool {
        self.members.is_empty()
    }

    /// Member `i`'s client endpoint, `http://127.0.0.1:PORT` (`http://HOST_IP:2379` in a lab).
    pub fn endpoint(&self, i: usize) -> String {
        let m = &self.members[i];
        format!("http://{}:{}", m.ip, m.client)
    }

    /// Every member's client endpoint.
    pub fn endpoints(&self) -> Vec<String> {
        (0..self.members.len()).map(|i| self.endpoint(i)).collect()
    }

    /// The `etcd://h1:p1,h2:p2,...` URL of all members.
    pub fn url(&self) -> String {
        let hosts: Vec<_> = self
            .members
            .iter()
            .map(|m| format!("{}:{}", m.ip, m.client))
            .collect();
        format!("etcd://{}", hosts.join(","))
    }

    /// Member `i`'s pid while it runs.
    pub fn pid(&self, i: usize) -> Option<u32> {
        self.members[i].child.as_ref().map(Child::id)
    }

    /// Kills member `i` (SIGKILL, by pid, as a crash would) and reaps it; its data dir stays.
    pub fn stop_member(&mut self, i: usize) {
        if let Some(mut child) = self.members[i].child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts member `i` (again) on its data dir and ports. Does not wait for health: a lone
    /// member of a three-member cluster is never healthy.
    pub fn start_member(&mut self, i: usize) -> Result<(), String> {
        if self.members[i].child.is_some() {
            return Ok(());
        }
        let initial: Vec<_> = self
            .members
            .iter()
            .map(|m| format!("{}=http://{}:{}", m.name, m.ip, m.peer))
            .collect();
        let m = &self.members[i];
        let log_path = self.dir.path().join(format!("{}.log", m.name));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .map_err(|e| format!("etcd log file: {e}"))?;
        let log2 = log.try_clone().map_err(|e| format!("etcd log file: {e}"))?;
        let client = format!("http://{}:{}", m.ip, m.client);
        let peer = format!("http://{}:{}", m.ip, m.peer);
        let mut cmd = match &m.netns {
            None => Command::new(&self.bin),
            Some(ns) => {
                // `ip netns exec` execs etcd: the child's pid is etcd's.
                let mut cmd = Command::new("ip");
                cmd.args(["netns", "exec", ns]).arg(&self.bin);
                cmd
            }
        };
        let child = cmd
            .arg("--name")
            .arg(&m.name)
            .arg("--data-dir")
            .arg(self.dir.path().join(&m.name))
            .args(["--listen-client-urls", &client])
            .args(["--advertise-client-urls", &client])
            .args(["--listen-peer-urls", &peer])
            .args(["--initial-advertise-peer-urls", &peer])
            .args(["--initial-cluster", &initial.join(",")])
            .args(["--initial-cluster-state", "new"])
            .args(["--initial-cluster-token", "shoal-test"])
            .args(["--heartbeat-interval", "50", "--election-timeout", "500"])
            .args(["--logger", "zap", "--log-level", "warn"])
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log2)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.bin.display()))?;
        self.members[i].child = Some(child);
        Ok(())
    }

    /// Waits until member `i` reports `/health` true (it has a leader and can serve).
    pub fn wait_healthy(&mut self, i: usize) -> Result<(), String> {
        let addr = SocketAddr::from((self.members[i].ip, self.members[i].client));
        let name = self.members[i].name.clone();
        let log = self.dir.path().join(format!("{name}.log"));
        let member = &mut self.members[i];
        wait_until(&format!("etcd {name} healthy"), START_TIMEOUT, || {
            match member.child.as_mut().map(Child::try_wait) {
                None => return Some(Err(format!("etcd {name} is not running"))),
                Some(Ok(Some(status))) => {
                    return Some(Err(format!("etcd {name} exited ({status})")));
                }
                _ => {}
            }
            let resp = request(addr, "GET", "/health", None, None).ok()?;
            (resp.status == 200 && resp.text().contains("\"true\"")).then_some(Ok(()))
        })
        .map_err(|e| e.to_string())?
        .map_err(|e: String| format!("{e}; log: {}", tail(&log)))
    }

    /// The last lines of member `i`'s log (stdout and stderr).
    pub fn log(&self, i: usize) -> String {
        tail(
            &self
                .dir
                .path()
                .join(format!("{}.log", self.members[i].name)),
        )
    }
}

impl Drop for EtcdCluster {
    fn drop(&mut self) {
        for i in 0..self.members.len() {
            self.stop_member(i);
        }
    }
}

/// The etcd binary, or a message saying how to install it (tests must fail, not skip).
fn etcd_bin() -> Result<PathBuf, String> {
    check_bin(
        std::env::var_os("SHOAL_ETCD_BIN").map_or_else(|| PathBuf::from(ETCD_BIN), PathBuf::from),
    )
}

fn check_bin(bin: PathBuf) -> Result<PathBuf, String> {
    if bin.is_file() {
        Ok(bin)
    } else {
        Err(format!(
            "etcd not found at {}: install it (apt-get install -y etcd-server) or set \
             SHOAL_ETCD_BIN; the etcd tests need a real etcd",
            bin.display()
        ))
    }
}

/// A port below the kernel's ephemeral range (so no outgoing connection takes it), in a slot
/// of this process (by pid) so parallel test processes rarely meet, checked free by binding.
fn free_port() -> Result<u16, String> {
    let slot = (std::process::id() % 400) as u16 * 25;
    for _ in 0..25 {
        let port = 10_000 + slot + NEXT_PORT.fetch_add(1, Ordering::Relaxed) % 25;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return Ok(port);
        }
    }
    // The slot is used up: let the kernel choose (it may be in the ephemeral range).
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| format!("no free port: {e}"))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| format!("no free port: {e}"))
}

fn tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<_> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_etcd_is_a_clear_failure() {
        let err = check_bin(PathBuf::from("/nonexistent/etcd"))
            .err()
            .unwrap_or_default();
        assert!(
            err.contains("/nonexistent/etcd") && err.contains("apt-get install -y etcd-server"),
            "{err}"
        );
    }
}
