//! A bad service file is refused as a whole, with FILE:LINE:COLUMN for every
//! problem, and nothing starts.

mod common;

use common::BIN;

#[test]
fn bad_file_is_refused_with_every_location_and_nothing_starts() {
    let dir = tempfile::tempdir().expect("tmp");
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        r#"[platform]
data_dir = "data"

[services.web]
command = ["python3", "app.py"]
instnces = 2

[services.web.health]
http = "/health"
interval = "soon"

[services.api]
command = ["definitely-not-a-program-xyz"]
"#,
    )
    .expect("write");
    let out = std::process::Command::new(BIN)
        .arg("up")
        .arg(&file)
        .current_dir(dir.path())
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    let located: Vec<&str> = err.lines().filter(|l| l.contains("bad.toml:")).collect();
    assert!(located.len() >= 3, "every problem listed: {err}");
    assert!(err.contains("bad.toml:6:1:"), "{err}");
    assert!(err.contains("instances"), "did-you-mean: {err}");
    assert!(err.contains("bad.toml:10:"), "{err}");
    assert!(err.contains("bad.toml:13:"), "{err}");
    assert!(
        !dir.path().join("data").exists(),
        "nothing was started or created"
    );

    let out = std::process::Command::new(BIN)
        .arg("validate")
        .arg(&file)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2));
}
