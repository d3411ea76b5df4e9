//! The README's demo fleet runs: profile (Python) composes publications (Rust)
//! and institution (Python) through the platform.

mod common;

use std::path::PathBuf;

use common::{BIN, HEALTHY};
use shoal_testkit::Platform;

fn demo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../examples/demo")
}

/// The demo's Rust service, built by `cargo build --workspace --bins` next to shoal.
fn publications_bin() -> PathBuf {
    PathBuf::from(BIN).with_file_name("shoal-demo-publications")
}

#[test]
fn demo_fleet_composes_the_profile_page() {
    let bin = publications_bin();
    assert!(
        bin.exists(),
        "build the demo first: cargo build --workspace --bins ({} missing)",
        bin.display()
    );
    let toml = std::fs::read_to_string(demo_dir().join("shoal.toml")).expect("demo file");
    // The testkit supplies its own [platform] table (ephemeral ports, temp data dir).
    let services = toml
        .split("\n[services.")
        .skip(1)
        .map(|t| format!("\n[services.{t}"))
        .collect::<String>()
        .replace(
            "../../target/release/shoal-demo-publications",
            &bin.to_string_lossy(),
        );
    let p = Platform::builder(BIN)
        .file(
            "profile.py",
            &std::fs::read_to_string(demo_dir().join("profile.py")).expect("profile.py"),
        )
        .file(
            "institution.py",
            &std::fs::read_to_string(demo_dir().join("institution.py")).expect("institution.py"),
        )
        .services(&services)
        .start()
        .expect("start");
    p.wait_healthy("profile", 2, HEALTHY).expect("profile");
    p.wait_healthy("publications", 2, HEALTHY)
        .expect("publications");
    p.wait_healthy("institution", 1, HEALTHY)
        .expect("institution");
    let r = p.gateway("profile", "/profile/ada").expect("gateway");
    assert_eq!(r.status, 200, "{}", r.text());
    let page = r.json();
    assert_eq!(page["user"], "ada");
    assert_eq!(
        page["publications"]["publications"][0], "Notes on the Analytical Engine",
        "{page}"
    );
    assert_eq!(
        page["institution"]["institution"], "Analytical Engine Society",
        "{page}"
    );
    // The path route works too.
    let r = p.gateway("example.com", "/profile/alan").expect("gateway");
    assert_eq!(
        r.json()["institution"]["institution"],
        "University of Manchester"
    );
}
