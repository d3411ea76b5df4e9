//! The kept profiles: the newest ones, bounded by count and bytes, in memory and in
//! `data_dir/profiles/<id>.json` (each file replaced whole), read back at start.
//! Its methods touch the disk: call them off the async threads.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};

use crate::record::{is_id, Profile};

/// How much is kept.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Profiles kept at most.
    pub count: usize,
    /// Bytes of their files at most (the newest profile is kept whatever its size).
    pub bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            count: 50,
            bytes: 64 << 20,
        }
    }
}

/// How many of the oldest to drop so that what is left fits `limits` (pure); `sizes`
/// are the kept profiles' bytes, oldest first.
pub fn to_drop(sizes: &[usize], limits: Limits) -> usize {
    if limits.count == 0 {
        return sizes.len();
    }
    let mut total: usize = sizes.iter().sum();
    let mut drop = 0;
    while drop + 1 < sizes.len() && (sizes.len() - drop > limits.count || total > limits.bytes) {
        total -= sizes[drop];
        drop += 1;
    }
    drop
}

/// The store (see the module's docs).
pub struct ProfileStore {
    dir: PathBuf,
    limits: Limits,
    /// Oldest first, with each file's size.
    kept: Mutex<VecDeque<(Arc<Profile>, usize)>>,
}

impl ProfileStore {
    /// Opens (creates) `dir` and reads back the profiles in it; files that do not read
    /// as a profile are left alone (and said so), those past the limits removed.
    pub fn open(dir: &Path, limits: Limits) -> std::io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut found = Vec::new();
        for entry in std::fs::read_dir(dir)?.flatten() {
            let path = entry.path();
            let Some(id) = path
                .file_stem()
                .and_then(|s| s.to_str())
                .filter(|s| is_id(s))
            else {
                continue;
            };
            if path.extension().is_none_or(|e| e != "json") {
                continue;
            }
            let read = std::fs::read(&path)
                .map_err(|e| e.to_string())
                .and_then(|b| {
                    let p: Profile = serde_json::from_slice(&b).map_err(|e| e.to_string())?;
                    Ok((p, b.len()))
                });
            match read {
                Ok((p, size)) if p.id == id => found.push((Arc::new(p), size)),
                Ok(_) => {
                    tracing::warn!(file = %path.display(), "profile file names another id; skipped")
                }
                Err(e) => {
                    tracing::warn!(file = %path.display(), error = %e, "unreadable profile file; skipped")
                }
            }
        }
        found.sort_by(|a, b| a.0.id.cmp(&b.0.id));
        let store = Self {
            dir: dir.to_path_buf(),
            limits,
            kept: Mutex::new(found.into()),
        };
        store.evict();
        Ok(store)
    }

    fn path_of(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.json"))
    }

    /// Keeps `profile` (written to disk first), then drops the oldest past the limits.
    pub fn put(&self, profile: Profile) -> std::io::Result<()> {
        let bytes = serde_json::to_vec(&profile).map_err(std::io::Error::other)?;
        shoal_durable::replace(&self.path_of(&profile.id), &bytes)?;
        self.lock().push_back((Arc::new(profile), bytes.len()));
        self.evict();
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, VecDeque<(Arc<Profile>, usize)>> {
        self.kept.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn evict(&self) {
        let gone: Vec<Arc<Profile>> = {
            let mut kept = self.lock();
            let sizes: Vec<usize> = kept.iter().map(|(_, s)| *s).collect();
            let n = to_drop(&sizes, self.limits);
            kept.drain(..n).map(|(p, _)| p).collect()
        };
        for p in gone {
            if let Err(e) = std::fs::remove_file(self.path_of(&p.id)) {
                tracing::warn!(profile = %p.id, error = %e, "cannot remove an old profile file");
            }
        }
    }

    pub fn get(&self, id: &str) -> Option<Arc<Profile>> {
        self.lock()
            .iter()
            .find(|(p, _)| p.id == id)
            .map(|(p, _)| p.clone())
    }

    /// Every kept profile, newest first.
    pub fn list(&self) -> Vec<Arc<Profile>> {
        self.lock().iter().rev().map(|(p, _)| p.clone()).collect()
    }

    /// Bytes of the kept profiles' files.
    pub fn bytes(&self) -> usize {
        self.lock().iter().map(|(_, s)| s).sum()
    }
}

#[cfg(test)]
#[path = "store_tests.rs"]
mod tests;
