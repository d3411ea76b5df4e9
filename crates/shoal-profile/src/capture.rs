//! Running a sampler on a process (the I/O around [`crate::sampler`]): `perf record`
//! then `perf script` folded by inferno, or `py-spy record` as folded stacks; the
//! sampler's CPU time is read from `/proc` while it records.

use std::ffi::OsString;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;
use tokio::process::Command;

use crate::error::ProfileError;
use crate::folded::Folded;
use crate::process::{stat_of, ticks_to_duration};
use crate::profiler::Prepared;
use crate::record::Settings;
use crate::sampler::{perf_record_args, perf_script_args, py_spy_args, Sampler};

/// Time a sampler may take past the capture's length to start and finish.
const SLACK: Duration = Duration::from_secs(30);
/// The longest `perf script` may take to print a recording.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(120);
/// How much of a failed sampler's stderr is kept for the error.
const STDERR_KEPT: usize = 2048;

/// What a capture gave.
#[derive(Debug, Clone, Default)]
pub struct Captured {
    pub stacks: Folded,
    pub duration_ms: u64,
    pub sampler_cpu_ms: u64,
    pub processing_ms: u64,
}

/// Samples the process `prepared` picked, as `settings` say.
pub async fn capture(prepared: &Prepared, settings: Settings) -> Result<Captured, ProfileError> {
    let tmp = tempfile::Builder::new()
        .prefix("shoal-profile-")
        .tempdir()?;
    let Settings { seconds, rate_hz } = settings;
    let Prepared { pid, choice, .. } = prepared;
    match (choice.sampler, prepared.perf) {
        (Sampler::Perf, Some(plan)) => {
            let data = tmp.path().join("perf.data");
            let args = perf_record_args(*pid, rate_hz, seconds, plan, &data);
            let mut out = record(&choice.path, args, seconds, *pid, "perf record").await?;
            let started = Instant::now();
            out.stacks = perf_script(&choice.path, &data, *pid).await?;
            out.processing_ms = started.elapsed().as_millis() as u64;
            Ok(out)
        }
        (Sampler::Perf, None) => Err(ProfileError::SamplerFailed {
            sampler: "perf".into(),
            detail: "no recording plan".into(),
        }),
        (Sampler::PySpy, _) => {
            let file = tmp.path().join("stacks.txt");
            let args = py_spy_args(*pid, rate_hz, seconds, &file);
            let mut out = record(&choice.path, args, seconds, *pid, "py-spy record").await?;
            // No file: py-spy saw no running Python code (an idle instance).
            out.stacks = match tokio::fs::read_to_string(&file).await {
                Ok(text) => Folded::parse(&text),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Folded::default(),
                Err(e) => return Err(e.into()),
            };
            Ok(out)
        }
    }
}

/// Runs a recording sampler to its end, reading its CPU time every 100 ms.
async fn record(
    program: &Path,
    args: Vec<OsString>,
    seconds: u64,
    target: u32,
    what: &str,
) -> Result<Captured, ProfileError> {
    let failed = |detail: String| ProfileError::SamplerFailed {
        sampler: what.to_string(),
        detail,
    };
    let mut child = Command::new(program)
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed(format!("cannot start {}: {e}", program.display())))?;
    let sampler_pid = child.id().unwrap_or(0);
    let mut stderr = child.stderr.take();
    let errors = tokio::spawn(async move {
        let mut text = Vec::new();
        if let Some(s) = stderr.as_mut() {
            let _ = s.read_to_end(&mut text).await;
        }
        String::from_utf8_lossy(&text).into_owned()
    });
    let started = Instant::now();
    let deadline = started + Duration::from_secs(seconds) + SLACK;
    let mut ticks = 0;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let status = loop {
        tokio::select! {
            status = child.wait() => break status?,
            _ = tick.tick() => {
                ticks = stat_of(sampler_pid).map_or(ticks, |s| s.ticks.max(ticks));
                if Instant::now() > deadline {
                    let _ = child.kill().await;
                    return Err(failed(format!("did not finish within {}s of the capture", SLACK.as_secs())));
                }
            }
        }
    };
    let duration = started.elapsed();
    let stderr = errors.await.unwrap_or_default();
    if stat_of(target).is_none() {
        return Err(ProfileError::ProcessGone(target));
    }
    if !status.success() {
        return Err(failed(format!("{status}: {}", tail(&stderr, STDERR_KEPT))));
    }
    Ok(Captured {
        stacks: Folded::default(),
        duration_ms: duration.as_millis() as u64,
        sampler_cpu_ms: ticks_to_duration(ticks).as_millis() as u64,
        processing_ms: 0,
    })
}

/// `perf script` of `data`, folded as it is read (its text can be large).
async fn perf_script(perf: &Path, data: &Path, pid: u32) -> Result<Folded, ProfileError> {
    let failed = |detail: String| ProfileError::SamplerFailed {
        sampler: "perf script".into(),
        detail,
    };
    let mut child = Command::new(perf)
        .args(perf_script_args(data, pid))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| failed(format!("cannot start {}: {e}", perf.display())))?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| failed("no output".into()))?
        .into_owned_fd()?;
    let fold = tokio::task::spawn_blocking(move || {
        Folded::from_perf_script(std::io::BufReader::new(std::fs::File::from(stdout)))
    });
    // On a timeout the child is killed when dropped, which ends the fold's input.
    let folded = tokio::time::timeout(SCRIPT_TIMEOUT, fold)
        .await
        .map_err(|_| failed(format!("took over {}s", SCRIPT_TIMEOUT.as_secs())))?
        .map_err(|e| failed(e.to_string()))??;
    let status = child.wait().await?;
    if !status.success() {
        return Err(failed(status.to_string()));
    }
    Ok(folded)
}

/// The last `max` bytes of `s` (at a character boundary), trimmed.
fn tail(s: &str, max: usize) -> &str {
    let mut start = s.len().saturating_sub(max);
    while !s.is_char_boundary(start) {
        start += 1;
    }
    s[start..].trim()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tail_keeps_the_end_on_a_character_boundary() {
        assert_eq!(
            tail("  error: no such process\n", 100),
            "error: no such process"
        );
        assert_eq!(tail("ééé", 3), "é");
        assert_eq!(tail("abc", 0), "");
    }
}
