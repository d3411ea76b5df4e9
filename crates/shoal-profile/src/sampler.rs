//! Which sampler profiles a process (pure): py-spy for Python, so Python functions
//! are named; Linux `perf` for native code (Rust, C, Go); and the arguments each is run with.

use std::ffi::OsString;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::ProfileError;

/// What the process runs, as far as sampling goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Language {
    Python,
    /// Machine code with symbols: Rust, C, C++, Go.
    Native,
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Python => "python",
            Self::Native => "native",
        })
    }
}

/// The program that takes the samples.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Sampler {
    Perf,
    PySpy,
}

impl fmt::Display for Sampler {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Perf => "perf",
            Self::PySpy => "py-spy",
        })
    }
}

/// The variable that names perf's path instead of `PATH`.
pub const PERF_ENV: &str = "SHOAL_PERF";
/// The variable that names py-spy's path instead of `PATH`.
pub const PY_SPY_ENV: &str = "SHOAL_PY_SPY";

const INSTALL_PERF: &str = "install perf (Debian: apt install linux-perf) or set SHOAL_PERF";
const INSTALL_PY_SPY: &str = "install py-spy (pip install py-spy) or set SHOAL_PY_SPY";

/// Whether `exe` (the target of `/proc/PID/exe`) or `argv0` names a Python interpreter.
pub fn language_of(exe: &str, argv0: &str) -> Language {
    let python = |p: &str| {
        let name = p.rsplit('/').next().unwrap_or(p);
        name.starts_with("python") || name.starts_with("pypy")
    };
    if python(exe) || python(argv0) {
        Language::Python
    } else {
        Language::Native
    }
}

/// The sampler chosen for a process, its path, and what the user should know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice {
    pub sampler: Sampler,
    pub path: PathBuf,
    pub note: Option<String>,
}

/// Picks the sampler for `language` from the tools found (`None`: not installed).
/// Python without py-spy falls back to perf, which sees only the interpreter's frames.
pub fn choose(
    language: Language,
    perf: Option<&Path>,
    py_spy: Option<&Path>,
) -> Result<Choice, ProfileError> {
    let pick = |sampler, path: &Path, note: Option<&str>| Choice {
        sampler,
        path: path.to_path_buf(),
        note: note.map(str::to_string),
    };
    match (language, perf, py_spy) {
        (Language::Python, _, Some(p)) => Ok(pick(
            Sampler::PySpy,
            p,
            Some("py-spy samples the thread holding the GIL: native code that releases it is not shown"),
        )),
        (Language::Python, Some(p), None) => Ok(pick(
            Sampler::Perf,
            p,
            Some("py-spy is not installed (pip install py-spy): Python functions show as interpreter frames"),
        )),
        (Language::Native, Some(p), _) => Ok(pick(Sampler::Perf, p, None)),
        (Language::Python, None, None) => Err(ProfileError::NoSampler {
            language,
            install: format!("{INSTALL_PY_SPY} (or, for interpreter frames only, {INSTALL_PERF})"),
        }),
        (Language::Native, None, _) => Err(ProfileError::NoSampler {
            language,
            install: INSTALL_PERF.to_string(),
        }),
    }
}

/// Expected samples (rate x seconds x CPUs) up to which perf copies each sample's
/// stack (8 KiB) for DWARF unwinding: ~17 MB of recording at 99 Hz for 10 s on 2 CPUs.
/// Past it, stacks come from frame pointers, which cost nothing but are shallow in
/// code built without them (Rust and C by default).
pub const DWARF_SAMPLES: u64 = 24_000;

/// How perf records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PerfPlan {
    /// The event: the software `cpu-clock` (hardware counters are often missing in
    /// VMs), user space only where the kernel allows no more to non-root.
    pub event: &'static str,
    /// DWARF unwinding rather than frame pointers.
    pub dwarf: bool,
}

impl PerfPlan {
    /// How the profile says it was taken, e.g. `cpu-clock, dwarf stacks`.
    pub fn describe(&self) -> String {
        let stacks = if self.dwarf { "dwarf" } else { "frame-pointer" };
        format!("{}, {stacks} stacks", self.event)
    }
}

/// perf's plan for a capture (see [`PerfPlan`]).
pub fn perf_plan(
    root: bool,
    paranoid: i32,
    rate: u32,
    seconds: u64,
    cpus: u64,
) -> Result<PerfPlan, ProfileError> {
    let event = match (root, paranoid) {
        (true, _) | (false, ..=1) => "cpu-clock",
        (false, 2) => "cpu-clock:u",
        (false, p) => return Err(ProfileError::PerfNotAllowed(p)),
    };
    // A process with threads on every CPU gives up to rate x seconds samples on each.
    let samples = u64::from(rate)
        .saturating_mul(seconds)
        .saturating_mul(cpus.max(1));
    Ok(PerfPlan {
        event,
        dwarf: samples <= DWARF_SAMPLES,
    })
}

/// `perf record` of `pid` (its threads, and those it starts during the capture) for
/// `seconds` at `rate` Hz with call graphs into `out`. Only the process is recorded,
/// never every CPU: a busy machine's other processes would make the recording, and
/// unwinding it, many times longer. Binaries are not copied into `~/.debug`.
pub fn perf_record_args(
    pid: u32,
    rate: u32,
    seconds: u64,
    plan: PerfPlan,
    out: &Path,
) -> Vec<OsString> {
    let rate = rate.to_string();
    let pid = pid.to_string();
    let mut args: Vec<&str> = vec![
        "record",
        "--quiet",
        "--no-buildid-cache",
        "-F",
        &rate,
        "-e",
        plan.event,
    ];
    args.extend(if plan.dwarf {
        ["--call-graph", "dwarf,8192"]
    } else {
        ["--call-graph", "fp"]
    });
    args.extend(["-p", &pid]);
    let mut args: Vec<OsString> = args.into_iter().map(OsString::from).collect();
    args.push("-o".into());
    args.push(out.as_os_str().to_os_string());
    args.extend(["--", "sleep", &seconds.to_string()].map(OsString::from));
    args
}

/// `perf script` of `pid`'s samples in the recording `data`, in the form inferno's
/// collapse-perf folds (without the period, so each sample counts one).
pub fn perf_script_args(data: &Path, pid: u32) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "script",
        "--no-inline",
        "-F",
        "comm,pid,tid,time,event,ip,sym,dso",
        "--pid",
    ]
    .map(OsString::from)
    .to_vec();
    args.push(pid.to_string().into());
    args.push("-i".into());
    args.push(data.as_os_str().to_os_string());
    args
}

/// `py-spy record` of `pid` as folded stacks (one line per stack, functions without
/// line numbers) into `out`. Only the thread holding the GIL is sampled (`--gil`):
/// that is the Python code burning CPU, where py-spy's idle detection counted
/// threads blocked in a socket read as busy. Native code that releases the GIL
/// (numpy, compression) is left out; the profile's note says so.
pub fn py_spy_args(pid: u32, rate: u32, seconds: u64, out: &Path) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "record",
        "--pid",
        &pid.to_string(),
        "--duration",
        &seconds.to_string(),
        "--rate",
        &rate.to_string(),
        "--format",
        "raw",
        "--nolineno",
        "--gil",
        "--output",
    ]
    .iter()
    .map(OsString::from)
    .collect();
    args.push(out.as_os_str().to_os_string());
    args
}

/// Where to look for a tool: the override when one is set (and only there), else each
/// directory of `path_var` (pure; the caller checks which exists).
pub fn candidates(
    name: &str,
    over: Option<&OsString>,
    path_var: Option<&OsString>,
) -> Vec<PathBuf> {
    if let Some(over) = over {
        return vec![PathBuf::from(over)];
    }
    path_var
        .map(|p| std::env::split_paths(p).map(|d| d.join(name)).collect())
        .unwrap_or_default()
}

#[cfg(test)]
#[path = "sampler_tests.rs"]
mod tests;
