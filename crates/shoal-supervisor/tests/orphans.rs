//! Integration tests of the pid registry and `reap_orphans` with real processes.

mod common;

use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::Duration;

use common::{wait_until, KillGroupOnDrop};
use shoal_supervisor::{group_members, reap_orphans, start_time_ticks, PidRegistry};

fn sleeper() -> (Child, KillGroupOnDrop) {
    let child = Command::new("sleep")
        .arg("100")
        .process_group(0)
        .spawn()
        .expect("spawn sleep");
    let guard = KillGroupOnDrop(child.id());
    (child, guard)
}

#[tokio::test]
async fn reaps_recorded_groups_but_never_a_reused_pid() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("pids.json");
    let (mut orphan, _g1) = sleeper();
    let (mut stranger, _g2) = sleeper();
    let mut registry = PidRegistry::open(&path).expect("open");
    let orphan_start = start_time_ticks(orphan.id()).expect("start time");
    registry
        .add("api-1", orphan.id(), orphan_start)
        .expect("add");
    // Same pid as a live process, different start time: a reused pid.
    let stranger_start = start_time_ticks(stranger.id()).expect("start time");
    registry
        .add("api-2", stranger.id(), stranger_start + 1)
        .expect("add");
    registry.add("api-3", 4_000_000, 1).expect("add");
    drop(registry);

    let stopped = reap_orphans(&path, Duration::from_secs(5))
        .await
        .expect("reap");
    assert_eq!(stopped, [orphan.id()]);
    assert!(wait_until(|| orphan.try_wait().ok().flatten().is_some()).await);
    assert!(group_members(orphan.id()).is_empty());
    assert_eq!(
        stranger.try_wait().ok().flatten(),
        None,
        "the stranger must live"
    );
    assert!(PidRegistry::open(&path)
        .expect("reopen")
        .entries()
        .is_empty());

    stranger.kill().ok();
    stranger.wait().ok();
}

#[tokio::test]
async fn a_missing_registry_reaps_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let stopped = reap_orphans(&dir.path().join("none.json"), Duration::from_secs(1))
        .await
        .expect("reap");
    assert!(stopped.is_empty());
}
