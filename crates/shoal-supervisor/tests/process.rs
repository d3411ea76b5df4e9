//! Integration tests of `spawn`, `wait` and `stop` with real processes.

mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{wait_until, KillGroupOnDrop};
use shoal_supervisor::{
    channel_sink, group_members, proc_stats, signal_group, spawn, LaunchSpec, OutputLine, Program,
    Signal, SpawnError, Stream, MAX_LINE_BYTES,
};
use tokio::sync::mpsc::{self, UnboundedReceiver};

fn spec(program: Program) -> LaunchSpec {
    LaunchSpec {
        program,
        env: vec![],
        cwd: PathBuf::from("."),
        instance_id: "test-1".into(),
    }
}

fn shell(script: &str) -> LaunchSpec {
    spec(Program::Shell(script.into()))
}

fn received(rx: &mut UnboundedReceiver<OutputLine>, stream: Stream) -> Vec<String> {
    let mut lines = Vec::new();
    while let Ok(line) = rx.try_recv() {
        if line.stream == stream {
            lines.push(line.line);
        }
    }
    lines
}

#[tokio::test]
async fn captures_stdout_and_stderr_lines_in_order_with_env() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut launch = shell(
        "echo port=$PORT; for i in 1 2 3; do echo out$i; echo err$i >&2; done; printf 'no newline'",
    );
    launch.env.push(("PORT".into(), "20001".into()));
    let mut process = spawn(&launch, channel_sink(tx)).await.expect("spawn");
    let _guard = KillGroupOnDrop(process.pid);
    assert!(process.start_time_ticks > 0);
    let exit = process.wait().await;
    assert!(exit.success(), "{exit}");
    let mut all = Vec::new();
    while let Ok(line) = rx.try_recv() {
        all.push(line);
    }
    let of = |s| {
        all.iter()
            .filter(|l| l.stream == s)
            .map(|l| l.line.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        of(Stream::Stdout),
        ["port=20001", "out1", "out2", "out3", "no newline"]
    );
    assert_eq!(of(Stream::Stderr), ["err1", "err2", "err3"]);
}

#[tokio::test]
async fn inherits_the_parent_environment_and_runs_argv_in_cwd() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (tx, mut rx) = mpsc::unbounded_channel();
    let mut launch = spec(Program::Argv(vec![
        "sh".into(),
        "-c".into(),
        "echo path=${PATH:+set}; pwd; exit 3".into(),
    ]));
    launch.cwd = dir.path().to_path_buf();
    let mut process = spawn(&launch, channel_sink(tx)).await.expect("spawn");
    let _guard = KillGroupOnDrop(process.pid);
    let exit = process.wait().await;
    assert_eq!((exit.code, exit.signal), (Some(3), None));
    assert_eq!(exit.to_string(), "exit code 3");
    let out = received(&mut rx, Stream::Stdout);
    let cwd = dir.path().canonicalize().expect("canonical");
    assert_eq!(out, ["path=set".to_string(), cwd.display().to_string()]);
}

#[tokio::test]
async fn long_lines_are_split_and_invalid_utf8_replaced() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let script = "head -c 40000 /dev/zero | tr '\\0' a; echo; printf 'x\\377y\\n'";
    let mut process = spawn(&shell(script), channel_sink(tx))
        .await
        .expect("spawn");
    let _guard = KillGroupOnDrop(process.pid);
    process.wait().await;
    let out = received(&mut rx, Stream::Stdout);
    let lens: Vec<usize> = out.iter().map(String::len).collect();
    assert_eq!(
        lens[..3],
        [MAX_LINE_BYTES, MAX_LINE_BYTES, 40_000 - 2 * MAX_LINE_BYTES]
    );
    assert_eq!(out[3], "x\u{fffd}y");
}

#[tokio::test]
async fn wait_reports_the_killing_signal() {
    let (tx, _rx) = mpsc::unbounded_channel();
    let mut process = spawn(
        &spec(Program::Argv(vec!["sleep".into(), "100".into()])),
        channel_sink(tx),
    )
    .await
    .expect("spawn");
    let _guard = KillGroupOnDrop(process.pid);
    assert_eq!(process.try_wait(), None);
    assert_eq!(
        signal_group(process.pgid(), Signal::SIGKILL).ok(),
        Some(true)
    );
    let exit = process.wait().await;
    assert_eq!((exit.code, exit.signal), (None, Some(9)));
    assert_eq!(exit.to_string(), "killed by signal 9");
    assert_eq!(process.try_wait(), Some(exit));
}

#[tokio::test]
async fn stop_ends_a_well_behaved_process_with_sigterm() {
    let (tx, _rx) = mpsc::unbounded_channel();
    let mut process = spawn(
        &spec(Program::Argv(vec!["sleep".into(), "100".into()])),
        channel_sink(tx),
    )
    .await
    .expect("spawn");
    let _guard = KillGroupOnDrop(process.pid);
    let started = Instant::now();
    let exit = process.stop(Duration::from_secs(30)).await;
    assert_eq!(exit.signal, Some(15), "{exit}");
    assert!(started.elapsed() < Duration::from_secs(10));
    // Stopping again is harmless.
    assert_eq!(process.stop(Duration::from_secs(1)).await, exit);
}

#[tokio::test]
async fn stop_kills_a_group_that_ignores_sigterm_including_grandchildren() {
    let (tx, _rx) = mpsc::unbounded_channel();
    let launch = shell("trap '' TERM; sleep 100 & sleep 100; wait");
    let mut process = spawn(&launch, channel_sink(tx)).await.expect("spawn");
    let _guard = KillGroupOnDrop(process.pid);
    let pgid = process.pgid();
    assert!(
        wait_until(|| group_members(pgid).len() == 3).await,
        "sh and two sleeps"
    );
    let members = group_members(pgid);
    let grace = Duration::from_millis(300);
    let started = Instant::now();
    let exit = process.stop(grace).await;
    assert!(
        started.elapsed() >= grace,
        "SIGTERM was ignored, so the grace ran out"
    );
    assert_eq!(exit.signal, Some(9), "{exit}");
    assert!(group_members(pgid).is_empty());
    for pid in members {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        let state = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .trim_start()
            .chars()
            .next();
        assert!(
            matches!(state, None | Some('Z') | Some('X')),
            "pid {pid} survived: {stat}"
        );
    }
}

#[tokio::test]
async fn proc_stats_reads_a_running_process() {
    let (tx, _rx) = mpsc::unbounded_channel();
    let mut process = spawn(
        &spec(Program::Argv(vec!["sleep".into(), "100".into()])),
        channel_sink(tx),
    )
    .await
    .expect("spawn");
    let _guard = KillGroupOnDrop(process.pid);
    // Right after exec the new image has touched no memory yet: poll.
    let pid = process.pid;
    assert!(wait_until(|| proc_stats(pid).is_some_and(|s| s.rss_bytes > 0)).await);
    let stats = proc_stats(pid).expect("stats");
    assert!(
        stats.threads == 1 && stats.cpu_seconds >= 0.0 && stats.fds >= 1,
        "{stats:?}"
    );
    let group = shoal_supervisor::group_stats(process.pgid()).expect("group stats");
    assert_eq!(group.threads, 1);
    process.stop(Duration::from_secs(5)).await;
    assert_eq!(proc_stats(process.pid), None);
}

#[tokio::test]
async fn spawn_errors_say_what_is_wrong() {
    let (tx, _rx) = mpsc::unbounded_channel();
    let sink = channel_sink(tx);
    let err = spawn(&spec(Program::Argv(vec![])), sink.clone())
        .await
        .err();
    assert!(
        matches!(err, Some(SpawnError::EmptyCommand { .. })),
        "{err:?}"
    );
    let mut bad_cwd = shell("true");
    bad_cwd.cwd = PathBuf::from("/nonexistent/dir");
    let err = spawn(&bad_cwd, sink.clone()).await.err();
    assert!(matches!(err, Some(SpawnError::BadCwd { .. })), "{err:?}");
    let missing = spec(Program::Argv(vec!["/nonexistent/program".into()]));
    let err = spawn(&missing, sink)
        .await
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("test-1") && err.contains("/nonexistent/program"),
        "{err}"
    );
}
