//! Sequence numbers reserved on disk ahead of use (`data_dir/logs/next-seq`),
//! so a store killed before its newest lines reached the disk never gives the
//! numbers it had handed out to other lines after a restart.
//!
//! While the store runs, the file holds a number no line has been given yet
//! (the reservation: `BLOCK` past the newest, renewed by the disk writer when
//! half of it is used); a clean close writes the exact next number. At open, a
//! file holding more than one past the newest line on disk means numbers were
//! handed out that the disk never got: numbering goes on from the file's.

use std::fs;
use std::io;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};

const FILE: &str = "next-seq";

/// Numbers reserved at once: a renewal is one small file write (and sync)
/// per ~half a million lines.
pub(crate) const BLOCK: u64 = 1 << 20;

/// The number in the file, if there is one that reads.
pub(crate) fn read(dir: &Path) -> Option<u64> {
    fs::read_to_string(dir.join(FILE)).ok()?.trim().parse().ok()
}

/// Writes `next` ([`shoal_durable::replace`]: a crash or power loss leaves the
/// old number or the new, never a torn one, and a renewal that returned is kept).
pub(crate) fn write(dir: &Path, next: u64) -> io::Result<()> {
    shoal_durable::replace(&dir.join(FILE), format!("{next}\n").as_bytes())
}

/// Where numbering starts at open: after the newest line on disk (`next_on_disk`),
/// or after every number a previous run may have handed out (`file`), whichever
/// is later; and whether lines the previous run numbered are missing from disk
/// (it stopped without writing them out).
pub(crate) fn start(next_on_disk: u64, file: Option<u64>) -> (u64, bool) {
    match file {
        Some(f) if f > next_on_disk => (f, true),
        _ => (next_on_disk, false),
    }
}

/// The reservation shared by the appenders (which ask for more) and the disk
/// writer (which writes it).
#[derive(Debug)]
pub(crate) struct Reserve {
    /// The number the file holds: none below it is given before it is written.
    kept: AtomicU64,
    /// The number appenders asked to be written (at least `kept`).
    wanted: AtomicU64,
}

impl Reserve {
    pub fn new(kept: u64) -> Self {
        Reserve {
            kept: AtomicU64::new(kept),
            wanted: AtomicU64::new(kept),
        }
    }

    /// Notes that line `seq` was numbered; true (once) when the writer should
    /// renew the reservation: half of what was asked for is used.
    pub fn used(&self, seq: u64) -> bool {
        if seq.saturating_add(BLOCK / 2) < self.wanted.load(Ordering::Relaxed) {
            return false;
        }
        let want = seq.saturating_add(BLOCK);
        self.wanted.fetch_max(want, Ordering::Relaxed) < want
    }

    /// Writes the wanted reservation when it is past the kept one.
    pub fn renew(&self, dir: &Path) -> io::Result<()> {
        let want = self.wanted.load(Ordering::Relaxed);
        if want > self.kept.load(Ordering::Relaxed) {
            write(dir, want)?;
            self.kept.store(want, Ordering::Relaxed);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbering_goes_on_after_the_disk_or_the_file_whichever_is_later() {
        assert_eq!(start(101, None), (101, false), "no file (older runs)");
        assert_eq!(start(101, Some(101)), (101, false), "a clean close");
        assert_eq!(
            start(101, Some(50)),
            (101, false),
            "the file behind the disk"
        );
        assert_eq!(start(101, Some(1_048_677)), (1_048_677, true), "killed");
    }

    #[test]
    fn the_reservation_is_renewed_when_half_of_it_is_used() {
        let dir = tempfile::tempdir().expect("tmp");
        let r = Reserve::new(BLOCK);
        assert!(!r.used(1));
        assert!(!r.used(BLOCK / 2 - 1));
        assert!(r.used(BLOCK / 2), "half used");
        assert!(!r.used(BLOCK / 2 + 1), "asked once");
        r.renew(dir.path()).expect("renew");
        assert_eq!(read(dir.path()), Some(BLOCK / 2 + BLOCK));
        assert!(!r.used(BLOCK / 2 + 2));
        write(dir.path(), 7).expect("write");
        assert_eq!(read(dir.path()), Some(7));
    }
}
