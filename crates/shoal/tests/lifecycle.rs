//! Processes are supervised: restarted after kill -9, backed off in a crash
//! loop, all stopped on SIGTERM, never left orphaned by a crashed shoal.

mod common;

use std::time::{Duration, Instant};

use common::{web_service, APP, BIN, HEALTHY};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use shoal_testkit::{pid_alive, wait_until, Platform};

fn pid_of(i: &serde_json::Value) -> u32 {
    i["pid"].as_u64().unwrap_or(0) as u32
}

#[test]
fn kill9_of_an_instance_is_restarted_and_healthy_again() {
    let p = Platform::builder(BIN)
        .file("app.py", APP)
        .services(&web_service("web", 1))
        .start()
        .expect("start");
    let before = p.wait_healthy("web", 1, HEALTHY).expect("healthy")[0].clone();
    let old_pid = pid_of(&before);
    kill(Pid::from_raw(old_pid as i32), Signal::SIGKILL).expect("kill -9");
    let after = wait_until("a new healthy process", HEALTHY, || {
        let list = p.instances("web");
        let i = list.first()?.clone();
        (pid_of(&i) != old_pid && pid_of(&i) != 0 && i["health"] == "passing").then_some(i)
    })
    .expect("restarted");
    assert_eq!(after["id"], before["id"], "same instance, new process");
    assert_eq!(after["port"], before["port"], "keeps its port");
    assert_eq!(after["restarts"], 1);
    assert_eq!(after["last_exit"], "killed by signal 9");
    assert!(!pid_alive(old_pid));
    assert_eq!(p.gateway("web", "/").expect("gateway").status, 200);

    // The event stream tells the story in order: exit (with its stderr tail), restart, start, healthy.
    let events = p
        .api("GET", "/api/v1/events?service=web", None)
        .expect("events")
        .json();
    let kinds: Vec<&str> = events.as_array().map_or_else(Vec::new, |a| {
        a.iter().filter_map(|e| e["kind"].as_str()).collect()
    });
    let exit = kinds
        .iter()
        .position(|k| *k == "instance_exited")
        .expect("exit event");
    assert!(
        kinds[exit..].contains(&"restart") && kinds[exit..].contains(&"instance_started"),
        "{kinds:?}"
    );
    let exited = &events[exit];
    assert_eq!(exited["fields"]["exit"], "killed by signal 9");
    assert!(
        exited["fields"]["stderr_tail"]
            .to_string()
            .contains("to stderr"),
        "{exited}"
    );
    let out = p.cli(&["events", "web"]).expect("cli");
    assert!(String::from_utf8_lossy(&out.stdout).contains("instance_exited"));
}

#[test]
fn a_crash_loop_backs_off_and_is_visible() {
    let p = Platform::builder(BIN)
        .services(
            r#"
[services.crashy]
command = "echo boom >&2; exit 3"
restart = { backoff = { initial = "50ms", max = "800ms" } }
"#,
        )
        .start()
        .expect("start");
    let looping = wait_until("crash loop state", Duration::from_secs(20), || {
        let i = p.instances("crashy").first()?.clone();
        (i["crash_loop"] == true).then_some(i)
    })
    .expect("crash loop detected");
    assert_eq!(looping["last_exit"], "exit code 3");
    // Let the backoff reach its cap, then count restarts over a window: with an
    // 800 ms cap (±jitter) a 4 s window holds only a handful, not hundreds.
    wait_until("backoff at its cap", Duration::from_secs(20), || {
        (p.instances("crashy").first()?["restarts"].as_u64()? >= 6).then_some(())
    })
    .expect("restarts continue");
    let start = p.instances("crashy")[0]["restarts"].as_u64().unwrap_or(0);
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(4)); // a measurement window, not a wait for a condition
    let elapsed = t0.elapsed().as_secs_f64();
    let end = p.instances("crashy")[0]["restarts"].as_u64().unwrap_or(0);
    let rate = (end - start) as f64 / elapsed;
    assert!(end > start, "still restarting");
    assert!(
        rate < 2.5,
        "backoff holds restarts to about 1/0.8s, got {rate:.1}/s"
    );
    let out = p.cli(&["status"]).expect("status");
    assert!(String::from_utf8_lossy(&out.stdout).contains("crash-loop"));
    let logs = p.cli(&["logs", "crashy"]).expect("logs");
    assert!(String::from_utf8_lossy(&logs.stdout).contains("boom"));
}

#[test]
fn sigterm_stops_every_process_including_stubborn_ones() {
    // `stubborn` ignores SIGTERM and has a grandchild: both must be gone after the drain.
    let p = Platform::builder(BIN)
        .file("app.py", APP)
        .services(&format!(
            r#"{}
[services.stubborn]
command = "trap '' TERM; sleep 1000 & echo $! > grandchild.$SHOAL_INSTANCE; wait"
deploy = {{ drain = "300ms" }}
"#,
            web_service("web", 2)
        ))
        .start()
        .expect("start");
    p.wait_healthy("web", 2, HEALTHY).expect("web healthy");
    p.wait_healthy("stubborn", 1, HEALTHY)
        .expect("stubborn running");
    let mut pids: Vec<u32> = p.instances("web").iter().map(pid_of).collect();
    pids.extend(p.instances("stubborn").iter().map(pid_of));
    let dir = p.dir().to_path_buf();
    let grandchild = wait_until("grandchild pid file", HEALTHY, || {
        let entry = std::fs::read_dir(&dir)
            .ok()?
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with("grandchild."))?;
        std::fs::read_to_string(entry.path())
            .ok()?
            .trim()
            .parse::<u32>()
            .ok()
    })
    .expect("grandchild started");
    pids.push(grandchild);
    assert!(pids.iter().all(|&pid| pid > 0 && pid_alive(pid)));

    let mut p = p;
    let status = p.terminate(Duration::from_secs(20)).expect("shoal exits");
    assert!(status.success(), "exit 0 after SIGTERM, got {status}");
    for pid in pids {
        assert!(!pid_alive(pid), "pid {pid} survived shoal's shutdown");
    }
    assert!(p.stderr().contains("stopped"));
}

#[test]
fn a_restarted_shoal_leaves_no_orphans_of_a_killed_one() {
    let mut p = Platform::builder(BIN)
        .file("app.py", APP)
        .services(&web_service("web", 2))
        .start()
        .expect("start");
    let old: Vec<u32> = p
        .wait_healthy("web", 2, HEALTHY)
        .expect("healthy")
        .iter()
        .map(pid_of)
        .collect();
    p.kill9();
    assert!(
        old.iter().all(|&pid| pid_alive(pid)),
        "instances outlive a kill -9 of shoal"
    );
    let dir = p.take_dir().expect("dir");
    drop(p);
    let p2 = Platform::builder(BIN)
        .file("app.py", APP)
        .services(&web_service("web", 2))
        .in_dir(dir)
        .start()
        .expect("restart");
    p2.wait_healthy("web", 2, HEALTHY).expect("healthy again");
    for pid in old {
        assert!(
            !pid_alive(pid),
            "orphan {pid} of the killed shoal still runs"
        );
    }
    assert!(p2.stderr().contains("previous shoal"), "{}", p2.stderr());
}
