//! Exec check: runs a command in its own process group; the exit code decides.

use std::path::Path;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use nix::sys::signal::{killpg, Signal};
use nix::unistd::Pid;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::task::JoinHandle;

use super::{snippet, MAX_OUTPUT_BYTES};
use crate::outcome::CheckOutcome;

/// How long output readers may lag behind the command's exit before we stop
/// reading (a background process may hold the pipes open).
const DRAIN_AFTER_EXIT: Duration = Duration::from_millis(100);

/// Exit 0 passing, 1 warning, anything else (or a signal) critical: Consul's convention.
pub(crate) fn classify(code: Option<i32>, output: String) -> CheckOutcome {
    match code {
        Some(0) => CheckOutcome::Passing,
        Some(1) => CheckOutcome::Warning(output),
        _ => CheckOutcome::Critical(output),
    }
}

pub(crate) async fn check(
    argv: &[String],
    timeout: Duration,
    env: &[(String, String)],
    cwd: &Path,
) -> CheckOutcome {
    let Some((program, args)) = argv.split_first() else {
        return CheckOutcome::Critical("exec check has an empty command".to_string());
    };
    let mut command = Command::new(program);
    command
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .current_dir(cwd)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match command.spawn() {
        Ok(child) => child,
        Err(e) => return CheckOutcome::Critical(format!("exec {program}: {e}")),
    };
    let pgid = child
        .id()
        .and_then(|id| i32::try_from(id).ok())
        .map(Pid::from_raw);
    let output = Arc::new(Mutex::new(Vec::new()));
    let mut readers = [
        child
            .stdout
            .take()
            .map(|out| collect(out, Arc::clone(&output))),
        child
            .stderr
            .take()
            .map(|err| collect(err, Arc::clone(&output))),
    ];
    let status = tokio::time::timeout(timeout, child.wait()).await;
    if status.is_err() {
        kill_group(pgid);
        let _ = child.wait().await;
    }
    let drained = tokio::time::timeout(DRAIN_AFTER_EXIT, async {
        for reader in readers.iter_mut().flatten() {
            let _ = reader.await;
        }
    })
    .await;
    if drained.is_err() {
        // Something in the group still holds the pipes, so the group (and its id)
        // is still alive: kill the leftovers rather than leak them every interval.
        kill_group(pgid);
    }
    for reader in readers.into_iter().flatten() {
        reader.abort();
    }
    let text = snippet(&output.lock().map(|o| o.clone()).unwrap_or_default());
    match status {
        Err(_) => CheckOutcome::Critical(join(
            format!("exec {program}: timed out after {timeout:?}"),
            text,
        )),
        Ok(Err(e)) => CheckOutcome::Critical(format!("exec {program}: wait failed: {e}")),
        Ok(Ok(status)) => classify(status.code(), join(describe(&status), text)),
    }
}

fn kill_group(pgid: Option<Pid>) {
    if let Some(pgid) = pgid {
        if let Err(e) = killpg(pgid, Signal::SIGKILL) {
            tracing::debug!(%pgid, error = %e, "killing exec check group failed");
        }
    }
}

fn describe(status: &ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exit code {code}"),
        (None, Some(signal)) => format!("killed by signal {signal}"),
        (None, None) => "exited".to_string(),
    }
}

fn join(head: String, output: String) -> String {
    if output.is_empty() {
        head
    } else {
        format!("{head}: {output}")
    }
}

/// Copies up to [`MAX_OUTPUT_BYTES`] of `pipe` into `into`, then keeps draining so
/// the command never blocks on a full pipe.
fn collect<R>(mut pipe: R, into: Arc<Mutex<Vec<u8>>>) -> JoinHandle<()>
where
    R: AsyncRead + Unpin + Send + 'static,
{
    tokio::spawn(async move {
        let mut buf = [0u8; 4096];
        loop {
            match pipe.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if let Ok(mut out) = into.lock() {
                        let room = MAX_OUTPUT_BYTES.saturating_sub(out.len());
                        out.extend_from_slice(&buf[..n.min(room)]);
                    }
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_consul() {
        assert_eq!(classify(Some(0), "x".into()), CheckOutcome::Passing);
        assert_eq!(
            classify(Some(1), "x".into()),
            CheckOutcome::Warning("x".into())
        );
        assert_eq!(
            classify(Some(2), "x".into()),
            CheckOutcome::Critical("x".into())
        );
        assert_eq!(
            classify(None, "x".into()),
            CheckOutcome::Critical("x".into())
        );
    }
}
