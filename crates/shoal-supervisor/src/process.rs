//! `spawn` and `RunningProcess`: one instance process in its own group, with wait and stop.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use shoal_logs::Stream;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::exit::ExitInfo;
use crate::group::{group_members, terminate_groups};
use crate::output::spawn_reader;
use crate::procfs::start_time_ticks;
use crate::spec::{LaunchSpec, OutputSink, Program};

/// How long `wait` lets output readers catch up after the process exited. They
/// can lag longer only if a leftover child still holds the pipes open.
const OUTPUT_DRAIN: Duration = Duration::from_millis(500);

/// Why a process could not be started.
#[derive(Debug, thiserror::Error)]
pub enum SpawnError {
    #[error("instance {instance}: the command is empty; give a program to run")]
    EmptyCommand { instance: String },
    #[error("instance {instance}: working directory {} does not exist or is not a directory", cwd.display())]
    BadCwd { instance: String, cwd: PathBuf },
    #[error("instance {instance}: cannot start `{program}`: {source}")]
    Io {
        instance: String,
        program: String,
        #[source]
        source: std::io::Error,
    },
}

/// A started instance process. Its process group id equals `pid`.
///
/// Dropping it does not kill the process (Shoal's orphan registry covers crashes);
/// call [`RunningProcess::stop`].
#[derive(Debug)]
pub struct RunningProcess {
    pub pid: u32,
    /// `/proc/<pid>/stat` field 22 at start (0 if it could not be read).
    pub start_time_ticks: u64,
    instance_id: String,
    child: Child,
    exit: Option<ExitInfo>,
    readers: Vec<JoinHandle<()>>,
}

/// Starts `spec` in a new process group with stdin closed and each stdout/stderr
/// line handed to `output`. Shoal's environment is inherited, then `spec.env` applied.
pub async fn spawn(spec: &LaunchSpec, output: OutputSink) -> Result<RunningProcess, SpawnError> {
    let instance = spec.instance_id.clone();
    let (program, args) = match &spec.program {
        Program::Argv(argv) => match argv.split_first() {
            Some((program, args)) if !program.is_empty() => (program.clone(), args.to_vec()),
            _ => return Err(SpawnError::EmptyCommand { instance }),
        },
        Program::Shell(script) => ("sh".to_string(), vec!["-c".to_string(), script.clone()]),
    };
    if !tokio::fs::metadata(&spec.cwd)
        .await
        .is_ok_and(|m| m.is_dir())
    {
        return Err(SpawnError::BadCwd {
            instance,
            cwd: spec.cwd.clone(),
        });
    }
    let mut command = Command::new(&program);
    command
        .args(&args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(false);
    let mut child = command.spawn().map_err(|source| SpawnError::Io {
        instance: instance.clone(),
        program: program.clone(),
        source,
    })?;
    // A freshly spawned, unreaped child always has an id.
    let pid = child.id().unwrap_or_default();
    let start_time_ticks = start_time_ticks(pid).unwrap_or_else(|| {
        tracing::warn!(instance = %instance, pid, "cannot read the start time of a new process");
        0
    });
    let mut readers = Vec::with_capacity(2);
    if let Some(stdout) = child.stdout.take() {
        readers.push(spawn_reader(stdout, Stream::Stdout, output.clone()));
    }
    if let Some(stderr) = child.stderr.take() {
        readers.push(spawn_reader(stderr, Stream::Stderr, output));
    }
    tracing::info!(instance = %instance, pid, program = %program, "process started");
    Ok(RunningProcess {
        pid,
        start_time_ticks,
        instance_id: instance,
        child,
        exit: None,
        readers,
    })
}

impl RunningProcess {
    /// The process group id (the same as `pid`).
    pub fn pgid(&self) -> u32 {
        self.pid
    }

    pub fn instance_id(&self) -> &str {
        &self.instance_id
    }

    /// How it ended, if it already has (without waiting).
    pub fn try_wait(&mut self) -> Option<ExitInfo> {
        if self.exit.is_none() {
            if let Ok(Some(status)) = self.child.try_wait() {
                self.record(status.into());
            }
        }
        self.exit
    }

    /// Waits for the process to exit, then briefly for its last output lines.
    ///
    /// Cancel-safe: dropping the future loses nothing; a later call resumes.
    pub async fn wait(&mut self) -> ExitInfo {
        let exit = self.wait_exit().await;
        self.drain_output().await;
        exit
    }

    /// Stops the whole group: SIGTERM, up to `grace` for every member to exit,
    /// then SIGKILL to whatever is left (children that ignore SIGTERM included).
    pub async fn stop(&mut self, grace: Duration) -> ExitInfo {
        tracing::debug!(instance = %self.instance_id, pid = self.pid, ?grace, "stopping");
        // Once the leader is reaped its pid stays reserved only while the group has
        // members; with none left there is nothing to stop and nothing to risk.
        if self.exit.is_none() || !group_members(self.pid).is_empty() {
            let left = terminate_groups(&[self.pid], grace).await;
            if !left.is_empty() {
                tracing::warn!(instance = %self.instance_id, pgid = self.pid, "process group outlived SIGKILL");
            }
        }
        self.wait().await
    }

    async fn wait_exit(&mut self) -> ExitInfo {
        if let Some(exit) = self.exit {
            return exit;
        }
        let exit = match self.child.wait().await {
            Ok(status) => status.into(),
            Err(e) => {
                tracing::warn!(instance = %self.instance_id, pid = self.pid, error = %e, "waiting for process failed");
                ExitInfo {
                    code: None,
                    signal: None,
                }
            }
        };
        self.record(exit);
        exit
    }

    fn record(&mut self, exit: ExitInfo) {
        tracing::info!(instance = %self.instance_id, pid = self.pid, %exit, "process exited");
        self.exit = Some(exit);
    }

    async fn drain_output(&mut self) {
        let readers = &mut self.readers;
        let _ = tokio::time::timeout(OUTPUT_DRAIN, async {
            for reader in readers.iter_mut() {
                // A finished handle may already have been awaited by a cancelled call.
                if !reader.is_finished() {
                    let _ = reader.await;
                }
            }
        })
        .await;
        self.readers.retain(|r| !r.is_finished());
    }
}
