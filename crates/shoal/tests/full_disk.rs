//! The data directory on a full filesystem (a small tmpfs this test mounts, so it runs
//! as root): writes are refused with a clear error, reads and traffic go on, nothing
//! acknowledged is lost, and writing resumes once space is freed.

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{web_service, APP, BIN, HEALTHY};
use shoal_testkit::{wait_until, Platform};

/// Unmounts the filesystem when dropped (after the platform on it has stopped).
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount_small_tmpfs(at: &Path) -> Mounted {
    std::fs::create_dir_all(at).expect("mount point");
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=24m", "tmpfs"])
        .arg(at)
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok,
        "this test mounts a 24 MiB tmpfs and needs root (mount -t tmpfs failed)"
    );
    Mounted(at.to_owned())
}

/// Writes zeros into `path` until the filesystem is full; returns the bytes written.
fn fill(path: &Path) -> u64 {
    let mut f = std::fs::File::create(path).expect("filler");
    let chunk = vec![0u8; 256 * 1024];
    let mut written = 0u64;
    loop {
        match f.write(&chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => written += n as u64,
        }
    }
    let _ = f.sync_all();
    written
}

fn put(p: &Platform, key: &str, value: &str) -> (u16, String) {
    p.api("PUT", &format!("/v1/kv/{key}"), Some(value))
        .map_or((0, String::new()), |r| (r.status, r.text()))
}

fn get(p: &Platform, key: &str) -> Option<String> {
    let r = p.api("GET", &format!("/v1/kv/{key}?raw"), None).ok()?;
    (r.status == 200).then(|| r.text())
}

#[test]
fn a_full_disk_refuses_writes_and_loses_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let _mounted = mount_small_tmpfs(&data);
    let mut p = Platform::builder(BIN)
        .in_dir(dir)
        .file("app.py", APP)
        .services(&web_service("web", 2))
        .start()
        .expect("start");
    p.wait_healthy("web", 2, HEALTHY).expect("web healthy");
    for i in 0..50 {
        assert_eq!(put(&p, &format!("before/{i}"), &format!("v{i}")).0, 200);
    }

    let filled = fill(&data.join("filler"));
    println!("filled the disk with {} KiB", filled / 1024);
    let (status, body) = put(&p, "during/1", "x");
    assert_eq!(status, 507, "a write on a full disk: {body}");
    assert!(body.contains("disk full"), "{body}");
    // Reads, the API and traffic go on.
    for i in 0..50 {
        assert_eq!(get(&p, &format!("before/{i}")), Some(format!("v{i}")));
    }
    let services = p.api("GET", "/api/v1/services", None).expect("api");
    assert_eq!(services.status, 200, "{}", services.text());
    for _ in 0..50 {
        let r = p.gateway("web", "/hello").expect("gateway");
        assert_eq!(r.status, 200, "{}", r.text());
    }
    // Refused again while full, and the store did not close.
    assert_eq!(put(&p, "during/2", "x").0, 507);

    std::fs::remove_file(data.join("filler")).expect("free the disk");
    wait_until("writes resume", Duration::from_secs(10), || {
        (put(&p, "after/1", "back").0 == 200).then_some(())
    })
    .expect("a write after space returns");
    assert_eq!(
        get(&p, "during/1"),
        None,
        "the refused write was not applied"
    );

    // Everything acknowledged survives a restart.
    p.terminate(Duration::from_secs(20)).expect("stop");
    let dir = p.take_dir().expect("dir");
    let p = Platform::builder(BIN)
        .in_dir(dir)
        .file("app.py", APP)
        .services(&web_service("web", 2))
        .start()
        .expect("restart");
    for i in 0..50 {
        assert_eq!(get(&p, &format!("before/{i}")), Some(format!("v{i}")));
    }
    assert_eq!(get(&p, "after/1").as_deref(), Some("back"));
    drop(p);
}
