//! `PidRegistry`: the on-disk list of running instances, for cleanup after a crash.
//!
//! If Shoal is killed with SIGKILL its instances keep running. Each start and
//! stop is recorded here (atomically: temp file, fsync, rename), so the next run
//! can stop them with [`crate::reap_orphans`]. They are stopped, not adopted.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// One recorded process: its pid (= process group id) and start time, which
/// together identify it even after the pid is reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegistryEntry {
    pub pid: u32,
    pub start_time_ticks: u64,
}

/// Why the registry could not be read or written.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("pid registry {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(
        "pid registry {} is not valid JSON ({source}); make sure no instance of a \
         previous run is still running, then delete the file",
        path.display()
    )]
    Corrupt {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RegistryFile {
    instances: BTreeMap<String, RegistryEntry>,
}

/// The instances this run started and has not yet seen stopped, by instance id.
#[derive(Debug)]
pub struct PidRegistry {
    path: PathBuf,
    entries: BTreeMap<String, RegistryEntry>,
}

impl PidRegistry {
    /// Opens (or, when missing, starts empty) the registry at `path`; creates its directory.
    pub fn open(path: &Path) -> Result<Self, RegistryError> {
        let io = |source| RegistryError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            fs::create_dir_all(dir).map_err(io)?;
        }
        let entries = match fs::read(path) {
            Ok(bytes) => {
                let file: RegistryFile =
                    serde_json::from_slice(&bytes).map_err(|source| RegistryError::Corrupt {
                        path: path.to_path_buf(),
                        source,
                    })?;
                file.instances
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(io(e)),
        };
        Ok(PidRegistry {
            path: path.to_path_buf(),
            entries,
        })
    }

    /// Records a started instance and persists the registry.
    pub fn add(
        &mut self,
        instance_id: &str,
        pid: u32,
        start_time_ticks: u64,
    ) -> Result<(), RegistryError> {
        let entry = RegistryEntry {
            pid,
            start_time_ticks,
        };
        self.entries.insert(instance_id.to_string(), entry);
        self.save()
    }

    /// Applies many changes (`Some` records or replaces, `None` forgets) and
    /// persists once: one write and fsync for a whole burst of starts and stops.
    pub fn apply(
        &mut self,
        changes: impl IntoIterator<Item = (String, Option<RegistryEntry>)>,
    ) -> Result<(), RegistryError> {
        for (id, entry) in changes {
            match entry {
                Some(e) => {
                    self.entries.insert(id, e);
                }
                None => {
                    self.entries.remove(&id);
                }
            }
        }
        self.save()
    }

    /// Forgets a stopped instance and persists the registry (a no-op if unknown).
    pub fn remove(&mut self, instance_id: &str) -> Result<(), RegistryError> {
        if self.entries.remove(instance_id).is_some() {
            self.save()
        } else {
            Ok(())
        }
    }

    /// Forgets every instance and persists the empty registry.
    pub fn clear(&mut self) -> Result<(), RegistryError> {
        self.entries.clear();
        self.save()
    }

    pub fn entries(&self) -> &BTreeMap<String, RegistryEntry> {
        &self.entries
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes the registry atomically: a crash leaves the old or the new file, whole.
    fn save(&self) -> Result<(), RegistryError> {
        let io = |source| RegistryError::Io {
            path: self.path.clone(),
            source,
        };
        let file = RegistryFile {
            instances: self.entries.clone(),
        };
        let bytes = serde_json::to_vec_pretty(&file).map_err(|e| io(std::io::Error::other(e)))?;
        shoal_durable::replace(&self.path, &bytes).map_err(io)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_reopening() -> Result<(), RegistryError> {
        let dir = tempfile::tempdir().map_err(|source| RegistryError::Io {
            path: PathBuf::new(),
            source,
        })?;
        let path = dir.path().join("state/pids.json");
        let mut reg = PidRegistry::open(&path)?;
        assert!(reg.entries().is_empty());
        reg.add("api-1", 100, 5)?;
        reg.add("api-2", 200, 6)?;
        reg.remove("api-1")?;
        reg.remove("unknown")?;
        let again = PidRegistry::open(&path)?;
        let ids: Vec<_> = again.entries().keys().cloned().collect();
        assert_eq!(ids, ["api-2"]);
        assert_eq!(
            again.entries()["api-2"],
            RegistryEntry {
                pid: 200,
                start_time_ticks: 6
            }
        );
        assert!(!path.with_file_name("pids.json.tmp").exists());
        Ok(())
    }

    #[test]
    fn a_corrupt_file_is_reported_with_advice() {
        let dir = tempfile::tempdir().ok();
        let path = dir
            .as_ref()
            .map(|d| d.path().join("pids.json"))
            .unwrap_or_default();
        fs::write(&path, "{ not json").ok();
        let err = PidRegistry::open(&path)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("not valid JSON") && err.contains("delete the file"),
            "{err}"
        );
    }
}
