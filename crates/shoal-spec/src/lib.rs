//! Parses and validates Shoal's service file (TOML, DESIGN §4) into a typed [`Spec`].
//!
//! A file is accepted whole or refused whole: [`parse_str`] and [`parse_file`] walk
//! the entire document and report every problem at once as
//! `FILE:LINE:COLUMN: message` ([`SpecErrors`]), suggesting the closest valid name
//! for misspelt fields. Every table may be absent and every field but a service's
//! `command` has a default (documented on each field). Programs named by commands
//! must exist; the check is injectable through [`ProgramResolver`].
//!
//! ```
//! # use std::path::Path;
//! let src = "[services.web]\ncommand = \"exec python3 -m http.server $PORT\"\n";
//! let spec = shoal_spec::parse_str(src, "shoal.toml", Path::new("/srv")).unwrap();
//! assert_eq!(spec.services["web"].instances, 1);
//!
//! let errors = shoal_spec::parse_str("[services.web]\ncommand = \"x\"\ninstnces = 2\n", "shoal.toml", Path::new("/srv"))
//!     .unwrap_err();
//! assert_eq!(
//!     errors.to_string(),
//!     "shoal.toml:3:1: unknown field `instnces` in [services.web] (did you mean `instances`?)"
//! );
//! ```
//!
//! # Layout
//!
//! - `lib.rs`: the entry points ([`parse_file`], [`parse_str`], [`parse_str_with`], [`fuzz_parse`]).
//! - `types.rs`: [`Spec`], [`Platform`], [`ServiceSpec`], [`VersionSpec`], [`Command`], [`Section`].
//! - `diag.rs`: [`Diagnostic`], [`SpecErrors`], [`Location`]; byte offset → line/column; did-you-mean.
//! - `walk.rs`: the walk context and tables whose fields are taken by name (leftovers are unknown fields).
//! - `values.rs`: typed readers for strings, numbers, durations, addresses, enums, arrays.
//! - `root.rs`: the top level and checks across services (port range capacity).
//! - `platform.rs`: `[platform]`, listener collisions, port range.
//! - `service.rs`: `[services.NAME]`, routes, `versions.LABEL`.
//! - `command.rs`: commands and the program existence check ([`ProgramResolver`]).
//! - `env.rs`: env tables and `${kv:KEY}` / `${secret:NAME}` templates ([`EnvValue`]).
//! - `tls.rs`: `[platform.tls]`: certificate files (with where they are written), minimum version, redirect, API over TLS.
//! - `tokens.rs`: `[platform.tokens.<name>]` API tokens and their rights.
//! - `health.rs`, `restart.rs`, `deploy.rs`, `resilience.rs`, `callers.rs`, `scale.rs`,
//!   `flags.rs`: one policy table each, its types, defaults and reader.
#![forbid(unsafe_code)]

mod callers;
mod command;
mod deploy;
mod diag;
mod env;
mod flags;
mod health;
mod platform;
mod resilience;
mod restart;
mod root;
mod scale;
mod service;
mod tls;
mod tokens;
mod types;
mod values;
mod walk;

use std::path::{Path, PathBuf};

pub use callers::{CallerPolicy, Priority, GATEWAY_CALLER};
pub use command::{program_path, AssumeExists, ProgramResolver, SystemResolver};
pub use deploy::{CanarySpec, DeploySpec, Strategy};
pub use diag::{Diagnostic, Location, SpecErrors};
pub use env::{EnvPart, EnvValue, RESERVED_ENV};
pub use flags::{
    is_flag_name, is_header_name, is_variant_name, Constraint, FlagSpec, ForceOn, Variant,
    DEFAULT_OFF_VARIANT, DEFAULT_USER_HEADER, MAX_VARIANTS, MAX_VARIANT_WEIGHT,
};
pub use health::{CheckKind, HealthSpec};
pub use resilience::{CircuitSpec, FallbackSpec, LimitsSpec, ResilienceSpec, RetrySpec};
pub use restart::RestartSpec;
pub use scale::{is_metric_name, MetricKind, MetricTarget, ScaleSpec, ScaleTarget};
pub use tls::{ServiceTls, TlsCert, TlsSpec, TlsVersion};
pub use tokens::{Right, TokenSpec};
pub use types::{
    Command, Platform, PortRange, Protocol, Section, ServiceSpec, Spec, VersionRun, VersionSpec,
};

/// Reads and validates the service file at `path`; its directory becomes `base_dir`
/// (made absolute). An unreadable file is reported as a diagnostic at 1:1.
pub fn parse_file(path: &Path) -> Result<Spec, SpecErrors> {
    parse_file_with(path, &SystemResolver)
}

/// [`parse_file`] with an explicit program resolver.
pub fn parse_file_with(path: &Path, resolver: &dyn ProgramResolver) -> Result<Spec, SpecErrors> {
    let file = path.display().to_string();
    let src = std::fs::read_to_string(path).map_err(|e| SpecErrors {
        diagnostics: vec![Diagnostic {
            file: file.clone(),
            line: 1,
            column: 1,
            message: format!("cannot read the service file: {e}"),
        }],
    })?;
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let base_dir = std::path::absolute(&parent).unwrap_or(parent);
    parse_str_with(&src, &file, &base_dir, resolver)
}

/// Validates service-file text; `file_name` is used in diagnostics and locations,
/// `base_dir` resolves relative paths (data_dir, programs). Programs are checked
/// against the real filesystem and `PATH`.
pub fn parse_str(src: &str, file_name: &str, base_dir: &Path) -> Result<Spec, SpecErrors> {
    parse_str_with(src, file_name, base_dir, &SystemResolver)
}

/// [`parse_str`] with an explicit program resolver (tests use a stub).
pub fn parse_str_with(
    src: &str,
    file_name: &str,
    base_dir: &Path,
    resolver: &dyn ProgramResolver,
) -> Result<Spec, SpecErrors> {
    let doc = match toml_edit::Document::parse(src.to_owned()) {
        Ok(doc) => doc,
        Err(e) => {
            let mut cx = walk::Ctx::new(src, file_name, base_dir.to_path_buf(), resolver);
            let offset = e.span().map_or(0, |r| r.start);
            cx.error(offset, format!("invalid TOML: {}", e.message().trim()));
            return Err(SpecErrors {
                diagnostics: cx.diags,
            });
        }
    };
    let mut cx = walk::Ctx::new(src, file_name, base_dir.to_path_buf(), resolver);
    let spec = root::read_root(&mut cx, doc.as_table());
    if cx.diags.is_empty() {
        return Ok(spec);
    }
    let mut diagnostics = cx.diags;
    diagnostics.sort_by_key(|d| (d.line, d.column));
    diagnostics.dedup();
    Err(SpecErrors { diagnostics })
}

/// For fuzzers: parses arbitrary bytes (lossily decoded) without touching the
/// filesystem, and never panics. Returns how many problems were found.
pub fn fuzz_parse(data: &[u8]) -> usize {
    let src = String::from_utf8_lossy(data);
    match parse_str_with(&src, "fuzz.toml", Path::new("/fuzz"), &AssumeExists) {
        Ok(_) => 0,
        Err(e) => e.diagnostics.len(),
    }
}
