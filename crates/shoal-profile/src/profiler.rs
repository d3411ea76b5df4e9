//! A node's profiler: the kept profiles, where its samplers are, and which instances
//! are being profiled now (one capture per instance, a few at a time).

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use crate::error::ProfileError;
use crate::process::{
    exe_and_argv0, executable, group_members, is_root, perf_paranoid, pick, stat_of,
};
use crate::record::Settings;
use crate::sampler::{
    candidates, choose, language_of, perf_plan, Choice, Language, PerfPlan, Sampler, PERF_ENV,
    PY_SPY_ENV,
};
use crate::store::{Limits, ProfileStore};

/// Instances profiled at once on a node, at most.
pub const MAX_RUNNING: usize = 8;

/// See the module's docs.
pub struct Profiler {
    pub store: ProfileStore,
    perf: Option<OsString>,
    py_spy: Option<OsString>,
    running: Arc<Mutex<BTreeSet<String>>>,
    seq: AtomicU16,
}

/// The process to sample and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Prepared {
    pub pid: u32,
    pub language: Language,
    pub choice: Choice,
    /// How perf records, when perf is the sampler.
    pub perf: Option<PerfPlan>,
    /// How the profile says it was taken: the perf event and stacks, or `py-spy`.
    pub event: String,
}

/// Instances being profiled: released when dropped.
pub struct Claim {
    running: Arc<Mutex<BTreeSet<String>>>,
    instances: Vec<String>,
}

impl Drop for Claim {
    fn drop(&mut self) {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        for i in &self.instances {
            running.remove(i);
        }
    }
}

impl Profiler {
    /// Opens the store in `dir`; the samplers' overrides are read from `SHOAL_PERF` and
    /// `SHOAL_PY_SPY` now (else each capture looks in `PATH`).
    pub fn open(dir: &Path) -> std::io::Result<Self> {
        Self::with_tools(
            dir,
            Limits::default(),
            std::env::var_os(PERF_ENV),
            std::env::var_os(PY_SPY_ENV),
        )
    }

    pub fn with_tools(
        dir: &Path,
        limits: Limits,
        perf: Option<OsString>,
        py_spy: Option<OsString>,
    ) -> std::io::Result<Self> {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        Ok(Self {
            store: ProfileStore::open(dir, limits)?,
            perf,
            py_spy,
            running: Arc::default(),
            seq: AtomicU16::new((nanos >> 8) as u16),
        })
    }

    /// The sampler's path now: its override, or the first in `PATH` (`None`: not installed).
    pub fn tool(&self, sampler: Sampler) -> Option<PathBuf> {
        let (name, over) = match sampler {
            Sampler::Perf => ("perf", self.perf.as_ref()),
            Sampler::PySpy => ("py-spy", self.py_spy.as_ref()),
        };
        candidates(name, over, std::env::var_os("PATH").as_ref())
            .into_iter()
            .find(|p| executable(p))
    }

    /// Looks at instance process `pid` (a group leader) and picks what to sample, and how.
    pub fn prepare(&self, pid: u32, settings: Settings) -> Result<Prepared, ProfileError> {
        if stat_of(pid).is_none() {
            return Err(ProfileError::ProcessGone(pid));
        }
        let pid = pick(pid, &group_members(pid));
        let (exe, argv0) = exe_and_argv0(pid);
        let language = language_of(&exe, &argv0);
        let choice = choose(
            language,
            self.tool(Sampler::Perf).as_deref(),
            self.tool(Sampler::PySpy).as_deref(),
        )?;
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get() as u64);
        let perf = match choice.sampler {
            Sampler::Perf => Some(perf_plan(
                is_root(),
                perf_paranoid(),
                settings.rate_hz,
                settings.seconds,
                cpus,
            )?),
            Sampler::PySpy => None,
        };
        let event = perf.map_or_else(|| "py-spy".to_string(), |p| p.describe());
        Ok(Prepared {
            pid,
            language,
            choice,
            perf,
            event,
        })
    }

    /// Marks `instances` as being profiled, or says why not.
    pub fn claim(&self, instances: &[String]) -> Result<Claim, ProfileError> {
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(busy) = instances.iter().find(|i| running.contains(*i)) {
            return Err(ProfileError::Busy(busy.clone()));
        }
        if running.len() + instances.len() > MAX_RUNNING {
            return Err(ProfileError::TooMany(running.len()));
        }
        running.extend(instances.iter().cloned());
        Ok(Claim {
            running: self.running.clone(),
            instances: instances.to_vec(),
        })
    }

    /// A new profile id for a capture started at `now_ms`.
    pub fn next_id(&self, now_ms: u64) -> String {
        crate::record::new_id(now_ms, self.seq.fetch_add(1, Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profiler(dir: &Path, perf: &str, spy: &str) -> Profiler {
        Profiler::with_tools(dir, Limits::default(), Some(perf.into()), Some(spy.into()))
            .expect("open")
    }

    #[test]
    fn an_instance_is_profiled_once_at_a_time_and_released_after() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = profiler(dir.path(), "/bin/true", "/bin/true");
        let a = p.claim(&["web-1".into()]).ok();
        assert!(matches!(p.claim(&["web-1".into()]), Err(ProfileError::Busy(i)) if i == "web-1"));
        drop(a);
        assert!(p.claim(&["web-1".into()]).is_ok());
        let many: Vec<String> = (0..=MAX_RUNNING).map(|i| format!("web-{i}")).collect();
        assert!(matches!(p.claim(&many), Err(ProfileError::TooMany(0))));
    }

    #[test]
    fn a_missing_sampler_is_named_and_a_gone_process_is_said() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = profiler(dir.path(), "/nonexistent/perf", "/nonexistent/py-spy");
        assert_eq!(p.tool(Sampler::Perf), None);
        // This test process is native code: perf is what it needs.
        let settings = Settings {
            seconds: 1,
            rate_hz: 99,
        };
        let e = p
            .prepare(std::process::id(), settings)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("linux-perf"), "{e}");
        assert!(matches!(
            p.prepare(u32::MAX - 1, settings),
            Err(ProfileError::ProcessGone(_))
        ));
        let ok = profiler(dir.path(), "/bin/true", "/bin/true");
        assert_eq!(ok.tool(Sampler::Perf), Some(PathBuf::from("/bin/true")));
    }

    #[test]
    fn ids_are_new_each_time() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = profiler(dir.path(), "/bin/true", "/bin/true");
        assert_ne!(p.next_id(5), p.next_id(5));
    }
}
