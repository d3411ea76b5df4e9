//! Free space on the disk under the store: a batch is refused, before anything is
//! applied, while the disk could not hold the database's next growth, so a full disk
//! costs writes (with a clear error) but never the store, its reads, or what it holds.

use std::path::PathBuf;

use crate::error::StoreError;

/// The least free space a commit needs, whatever the database's size.
pub const MIN_FREE: u64 = 8 << 20;
/// The most asked for (a larger database may still grow past it; see `docs/FAILURES.md`).
pub const MAX_FREE: u64 = 256 << 20;

/// The free space a commit needs with the database file at `file_len` bytes: redb
/// grows its file by up to doubling it, so as much as the file holds, within bounds.
pub fn needed(file_len: u64) -> u64 {
    file_len.clamp(MIN_FREE, MAX_FREE)
}

/// Where the database file lives, for the check before each commit.
#[derive(Debug, Clone)]
pub(crate) struct SpaceCheck {
    pub(crate) file: PathBuf,
}

impl SpaceCheck {
    /// `Err(NoSpace)` while the disk holds less than [`needed`]; a disk whose free
    /// space cannot be read is let through (the commit reports any real failure).
    pub(crate) fn check(&self) -> Result<(), StoreError> {
        let Some(dir) = self.file.parent() else {
            return Ok(());
        };
        let Ok(fs) = nix::sys::statvfs::statvfs(dir) else {
            return Ok(());
        };
        let free = fs.blocks_available().saturating_mul(fs.fragment_size());
        let len = std::fs::metadata(&self.file).map_or(0, |m| m.len());
        let need = needed(len);
        if free >= need {
            return Ok(());
        }
        Err(StoreError::NoSpace(format!(
            "the disk holding {} has {} KiB free, and a write needs {} KiB: writes are refused \
             until space is freed; reads and traffic go on, nothing written is lost",
            dir.display(),
            free / 1024,
            need / 1024
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_follows_the_file_within_bounds() {
        assert_eq!(needed(0), MIN_FREE);
        assert_eq!(needed(50 << 20), 50 << 20);
        assert_eq!(needed(10 << 30), MAX_FREE);
    }
}
