//! Shared helpers for the integration tests: a stub program resolver and parse shortcuts.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use shoal_spec::{parse_str_with, ProgramResolver, Spec, SpecErrors};

/// Programs on a pretend `PATH`, and executable files by absolute path.
pub struct Stub {
    pub on_path: Vec<&'static str>,
    pub files: Vec<PathBuf>,
}

impl ProgramResolver for Stub {
    fn is_executable(&self, path: &Path) -> bool {
        self.files.iter().any(|f| f == path)
    }

    fn on_path(&self, name: &str) -> bool {
        self.on_path.contains(&name)
    }
}

/// `sh` and `python3` on PATH, `/app/check` executable.
pub fn stub() -> Stub {
    Stub {
        on_path: vec!["sh", "python3"],
        files: vec![PathBuf::from("/app/./check")],
    }
}

pub fn parse(src: &str) -> Result<Spec, SpecErrors> {
    parse_str_with(src, "shoal.toml", Path::new("/app"), &stub())
}

pub fn ok(src: &str) -> Spec {
    match parse(src) {
        Ok(spec) => spec,
        Err(e) => panic!("expected a valid spec, got:\n{e}"),
    }
}

/// The diagnostics of a file expected to be refused, as `LINE:COL: message` strings.
pub fn errors(src: &str) -> Vec<String> {
    match parse(src) {
        Ok(_) => panic!("expected errors, the spec was accepted"),
        Err(e) => e
            .diagnostics
            .iter()
            .map(|d| format!("{}:{}: {}", d.line, d.column, d.message))
            .collect(),
    }
}

pub fn fixture(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name);
    match std::fs::read_to_string(&path) {
        Ok(s) => s,
        Err(e) => panic!("cannot read {}: {e}", path.display()),
    }
}
