//! [`Platform`]: a real `shoal up` process in a temporary directory, listening on
//! ephemeral ports, stopped (with every instance) when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use nix::sys::signal::{kill, killpg, Signal};
use nix::unistd::Pid;
use serde_json::Value;

use crate::http::{request, HttpResponse};
use crate::wait::{pid_alive, wait_until};

static NEXT_RANGE: AtomicU32 = AtomicU32::new(0);

/// Builds the service file and starts `shoal up`.
pub struct PlatformBuilder {
    bin: PathBuf,
    services: String,
    platform_extra: String,
    files: Vec<(String, String)>,
    env: Vec<(String, String)>,
    dir: Option<tempfile::TempDir>,
    /// `shoal agent` arguments after the file (cluster mode) instead of `shoal up`.
    agent: Option<Vec<String>>,
    /// Runs shoal under this command (e.g. `ip netns exec NS`), which must exec it.
    wrap: Vec<String>,
    /// The address the API, gateway, DNS and StatsD listen on (ephemeral ports).
    bind: String,
    /// An all-rights API token, configured and then sent by [`Platform::api`] and `cli`.
    token: Option<String>,
}

impl PlatformBuilder {
    /// An environment variable for the shoal process.
    pub fn env(mut self, key: &str, value: &str) -> Self {
        self.env.push((key.to_string(), value.to_string()));
        self
    }

    /// The TOML of `[services.*]` (and `[flags.*]`) tables.
    pub fn services(mut self, toml: &str) -> Self {
        self.services = toml.to_string();
        self
    }

    /// Extra `key = value` lines for the `[platform]` table.
    pub fn platform(mut self, lines: &str) -> Self {
        self.platform_extra = lines.to_string();
        self
    }

    /// Runs `shoal agent FILE ARGS` (one node of a cluster: `--store`, `--node`,
    /// `--advertise`, ...) instead of `shoal up FILE`; the file's services are not deployed.
    pub fn agent(mut self, args: &[&str]) -> Self {
        self.agent = Some(args.iter().map(|a| a.to_string()).collect());
        self
    }

    /// Runs shoal through `wrap` (a command that execs its arguments, such as
    /// `ip netns exec NS`), so its pid is shoal's.
    pub fn wrap(mut self, wrap: &[&str]) -> Self {
        self.wrap = wrap.iter().map(|a| a.to_string()).collect();
        self
    }

    /// Configures one token with every right (needed to serve the API beyond loopback);
    /// [`Platform::api`] and [`Platform::cli`] send it.
    pub fn token(mut self, value: &str) -> Self {
        self.token = Some(value.to_string());
        self.env
            .push(("SHOAL_TESTKIT_TOKEN".into(), value.to_string()));
        self
    }

    /// Listens on `ip` (ephemeral ports) instead of 127.0.0.1: a lab host's address.
    pub fn bind(mut self, ip: &str) -> Self {
        self.bind = ip.to_string();
        self
    }

    /// A file written next to the service file before start (e.g. a script).
    pub fn file(mut self, name: &str, contents: &str) -> Self {
        self.files.push((name.to_string(), contents.to_string()));
        self
    }

    /// Reuses a directory (and its data dir) from an earlier platform.
    pub fn in_dir(mut self, dir: tempfile::TempDir) -> Self {
        self.dir = Some(dir);
        self
    }

    /// Writes the files and starts `shoal up`; waits until the API answers.
    pub fn start(self) -> Result<Platform, String> {
        let dir = match self.dir {
            Some(d) => d,
            None => tempfile::tempdir().map_err(|e| e.to_string())?,
        };
        let (slot, ports_lock) = claim_port_range()?;
        // Below the kernel's ephemeral range (32768-60999 here): a port the kernel
        // hands to some socket bound to port 0, or to an outgoing connection, must
        // never be one an instance is told to listen on.
        let (lo, hi) = (21000 + slot, 21000 + slot + 49);
        let toml = format!(
            "[platform]\ndata_dir = \"data\"\nhttp = \"{ip}:0\"\ngateway = \"{ip}:0\"\ndns = \"{ip}:0\"\nstatsd = \"{ip}:0\"\nport_range = \"{lo}-{hi}\"\n{}\n\n{}",
            if self.token.is_some() {
                // A lab host's API is reached in plain HTTP by the tests' client.
                let plaintext = match self.bind.as_str() {
                    "127.0.0.1" => "",
                    _ => "allow_plaintext_api = true\n",
                };
                format!(
                    "{plaintext}{}\n[platform.tokens.testkit]\nenv = \"SHOAL_TESTKIT_TOKEN\"\nrights = [\"read\", \"write\", \"secrets\"]\n",
                    self.platform_extra
                )
            } else {
                self.platform_extra.clone()
            },
            self.services,
            ip = self.bind
        );
        let file = dir.path().join("shoal.toml");
        std::fs::write(&file, toml).map_err(|e| e.to_string())?;
        for (name, contents) in &self.files {
            std::fs::write(dir.path().join(name), contents).map_err(|e| e.to_string())?;
        }
        let endpoints = dir.path().join("data/endpoints.json");
        let _ = std::fs::remove_file(&endpoints);
        let stderr =
            std::fs::File::create(dir.path().join("shoal.stderr")).map_err(|e| e.to_string())?;
        let stdout =
            std::fs::File::create(dir.path().join("shoal.stdout")).map_err(|e| e.to_string())?;
        let mut command = match self.wrap.split_first() {
            None => Command::new(&self.bin),
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(&self.bin);
                c
            }
        };
        match &self.agent {
            None => command.arg("up").arg(&file),
            Some(args) => command.arg("agent").arg(&file).args(args),
        };
        let child = command
            .current_dir(dir.path())
            .envs(self.env.iter().map(|(k, v)| (k, v)))
            .stdin(Stdio::null())
            .stdout(stdout)
            .stderr(stderr)
            .spawn()
            .map_err(|e| format!("cannot start {}: {e}", self.bin.display()))?;
        let mut platform = Platform {
            bin: self.bin,
            dir: Some(dir),
            child,
            http: SocketAddr::from(([127, 0, 0, 1], 0)),
            gateway: SocketAddr::from(([127, 0, 0, 1], 0)),
            dns: SocketAddr::from(([127, 0, 0, 1], 0)),
            statsd: SocketAddr::from(([127, 0, 0, 1], 0)),
            token: self.token,
            _ports_lock: ports_lock,
        };
        let found = wait_until("shoal endpoints.json", Duration::from_secs(30), || {
            if let Ok(Some(status)) = platform.child.try_wait() {
                return Some(Err(format!(
                    "shoal exited early ({status}): {}",
                    platform.stderr()
                )));
            }
            let v: Value = serde_json::from_slice(&std::fs::read(&endpoints).ok()?).ok()?;
            let http = v["http"].as_str()?.parse().ok()?;
            let gateway = v["gateway"].as_str()?.parse().ok()?;
            let dns = v["dns"].as_str()?.parse().ok()?;
            let statsd = v["statsd"].as_str()?.parse().ok()?;
            Some(Ok((http, gateway, dns, statsd)))
        })
        .map_err(|e| format!("{e}: {}", platform.stderr()))??;
        platform.http = found.0;
        platform.gateway = found.1;
        platform.dns = found.2;
        platform.statsd = found.3;
        Ok(platform)
    }
}

/// A running `shoal up`.
pub struct Platform {
    bin: PathBuf,
    dir: Option<tempfile::TempDir>,
    pub child: Child,
    pub http: SocketAddr,
    pub gateway: SocketAddr,
    /// The DNS server (UDP and TCP on the same port).
    pub dns: SocketAddr,
    /// The StatsD server (UDP and TCP on the same port).
    pub statsd: SocketAddr,
    token: Option<String>,
    /// Held while the platform lives: no other test platform gets its port range.
    _ports_lock: std::fs::File,
}

/// 50-port slots for instance port ranges, between 21000 and the kernel's ephemeral
/// range (a port the kernel may hand out must never be one an instance listens on).
const PORT_SLOTS: u32 = 230;

/// A slot of instance ports no other running test platform holds, on any test process:
/// one lock file per slot, locked for as long as the returned file lives. (A slot picked
/// from the pid alone collided now and then between concurrent test processes: one test's
/// health check then reached another test's instance.)
fn claim_port_range() -> Result<(u32, std::fs::File), String> {
    let dir = std::env::temp_dir().join("shoal-testkit-ports");
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let first = std::process::id().wrapping_mul(7) + NEXT_RANGE.fetch_add(1, Ordering::Relaxed);
    for i in 0..PORT_SLOTS {
        let slot = (first + i) % PORT_SLOTS;
        let path = dir.join(format!("{slot}.lock"));
        let file = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        if file.try_lock().is_ok() {
            return Ok((slot * 50, file));
        }
    }
    Err(format!(
        "every instance port range is taken ({PORT_SLOTS} test platforms running?)"
    ))
}

impl Platform {
    pub fn builder(bin: impl AsRef<Path>) -> PlatformBuilder {
        PlatformBuilder {
            bin: bin.as_ref().to_path_buf(),
            services: String::new(),
            platform_extra: String::new(),
            files: Vec::new(),
            env: Vec::new(),
            dir: None,
            agent: None,
            token: None,
            wrap: Vec::new(),
            bind: "127.0.0.1".into(),
        }
    }

    pub fn dir(&self) -> &Path {
        self.dir.as_ref().map_or(Path::new("."), |d| d.path())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// What shoal wrote to stderr so far.
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir().join("shoal.stderr")).unwrap_or_default()
    }

    pub fn api(
        &self,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> std::io::Result<HttpResponse> {
        let bearer = self.token.as_ref().map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = bearer
            .as_deref()
            .map(|b| ("Authorization", b))
            .into_iter()
            .collect();
        crate::http::request_with(
            self.http,
            method,
            path,
            None,
            &headers,
            body.map(str::as_bytes),
        )
    }

    pub fn gateway(&self, host: &str, path: &str) -> std::io::Result<HttpResponse> {
        request(self.gateway, "GET", path, Some(host), None)
    }

    /// The catalog entries of one service.
    pub fn instances(&self, service: &str) -> Vec<Value> {
        self.api("GET", &format!("/api/v1/instances?service={service}"), None)
            .ok()
            .and_then(|r| r.json().as_array().cloned())
            .unwrap_or_default()
    }

    /// Waits until exactly `n` instances of `service` are running and passing, and the
    /// gateway routes to them.
    pub fn wait_healthy(
        &self,
        service: &str,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<Value>, String> {
        wait_until(
            &format!("{n} healthy instances of {service}"),
            timeout,
            || {
                let list = self.instances(service);
                let ok = list
                    .iter()
                    .filter(|i| i["state"] == "running" && i["health"] == "passing")
                    .count();
                // The gateway routes to them too: its table follows the catalog a
                // moment after the API lists an instance as passing.
                (ok == n && list.len() == n && self.routed(service) >= n).then_some(list)
            },
        )
        .map_err(|e| {
            format!(
                "{e}; instances: {:?}; stderr: {}",
                self.instances(service),
                self.stderr()
            )
        })
    }

    /// How many instances of `service` the gateway's route table holds (`/api/v1/proxy`);
    /// `usize::MAX` when the API has no proxy to show (nothing to wait for).
    pub fn routed(&self, service: &str) -> usize {
        match self.api("GET", "/api/v1/proxy", None) {
            Ok(r) if r.status == 200 => r.json()["services"][service]["instances"]
                .as_array()
                .map_or(0, Vec::len),
            _ => usize::MAX,
        }
    }

    /// Runs the shoal CLI against this platform.
    pub fn cli(&self, args: &[&str]) -> std::io::Result<Output> {
        self.cli_env(args, &[])
    }

    /// Runs the shoal CLI with extra environment variables (e.g. `SHOAL_TOKEN`).
    pub fn cli_env(&self, args: &[&str], env: &[(&str, &str)]) -> std::io::Result<Output> {
        Command::new(&self.bin)
            .args(args)
            .env("SHOAL_ADDR", format!("http://{}", self.http))
            .envs(self.token.iter().map(|t| ("SHOAL_TOKEN", t.as_str())))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
    }

    /// SIGTERM, then waits up to `timeout` for a clean exit.
    pub fn terminate(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGTERM);
        let child = &mut self.child;
        wait_until("shoal to exit", timeout, || child.try_wait().ok().flatten())
            .map_err(|e| e.to_string())
    }

    /// SIGKILL, as a crash would; instances are left running.
    pub fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Gives up the directory (to restart a platform on the same data dir).
    pub fn take_dir(&mut self) -> Option<tempfile::TempDir> {
        self.dir.take()
    }

    /// Every pid recorded in the instance registry of the data dir.
    pub fn registered_pids(dir: &Path) -> Vec<u32> {
        let Ok(bytes) = std::fs::read(dir.join("data/instances.json")) else {
            return Vec::new();
        };
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        let mut out = Vec::new();
        collect_pids(&v, &mut out);
        out
    }
}

fn collect_pids(v: &Value, out: &mut Vec<u32>) {
    match v {
        Value::Object(map) => {
            for (k, v) in map {
                if k == "pid" {
                    if let Some(p) = v.as_u64() {
                        out.push(p as u32);
                    }
                } else {
                    collect_pids(v, out);
                }
            }
        }
        Value::Array(a) => a.iter().for_each(|v| collect_pids(v, out)),
        _ => {}
    }
}

impl Drop for Platform {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.terminate(Duration::from_secs(20));
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // Safety net for a test that failed half-way: no instance may outlive it.
        if let Some(dir) = &self.dir {
            for pid in Self::registered_pids(dir.path()) {
                if pid_alive(pid) {
                    let _ = killpg(Pid::from_raw(pid as i32), Signal::SIGKILL);
                }
            }
        }
    }
}
