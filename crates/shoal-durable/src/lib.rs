//! Small files replaced whole: a new file is written beside the old one, synced,
//! renamed over it, and the directory synced, so that after a crash or a power
//! loss the path holds the old content or the new, never a torn mix, and a
//! replacement that returned `Ok` is not undone.

use std::ffi::OsString;
use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};

/// Replaces `path`'s content with `bytes` (see the crate's docs).
pub fn replace(path: &Path, bytes: &[u8]) -> io::Result<()> {
    replace_with(path, |f| f.write_all(bytes))
}

/// Replaces `path`'s content with what `write` writes to the new file. When
/// `write` (or anything after it) fails, `path` is left as it was and the new
/// file is removed.
pub fn replace_with(
    path: &Path,
    write: impl FnOnce(&mut File) -> io::Result<()>,
) -> io::Result<()> {
    let tmp = temp_beside(path);
    let written = File::create(&tmp).and_then(|mut f| {
        write(&mut f)?;
        f.sync_all()
    });
    if let Err(e) = written.and_then(|()| fs::rename(&tmp, path)) {
        // Best effort: a temp file left behind is only a wasted name.
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    sync_parent(path)
}

/// Syncs the directory holding `path`, so a file created, renamed or removed
/// there stays so after a power loss.
pub fn sync_parent(path: &Path) -> io::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

/// `path` with `.tmp` added to its file name (`pids.json` → `pids.json.tmp`).
fn temp_beside(path: &Path) -> PathBuf {
    let mut name: OsString = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_new_content_replaces_the_old_and_no_temp_file_is_left() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("next-seq");
        replace(&path, b"1\n").expect("first");
        replace(&path, b"2\n").expect("second");
        assert_eq!(fs::read(&path).expect("read"), b"2\n");
        let names: Vec<_> = fs::read_dir(dir.path())
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["next-seq"]);
    }

    #[test]
    fn a_failed_write_leaves_the_old_content_and_no_temp_file() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("pids.json");
        replace(&path, b"old").expect("old");
        let err = replace_with(&path, |f| {
            f.write_all(b"half")?;
            Err(io::Error::other("disk full"))
        })
        .expect_err("the writer failed");
        assert_eq!(err.to_string(), "disk full");
        assert_eq!(fs::read(&path).expect("read"), b"old");
        assert!(!temp_beside(&path).exists());
    }

    #[test]
    fn a_missing_directory_is_an_error_not_a_panic() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("gone").join("file");
        let err = replace(&path, b"x").expect_err("no such directory");
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
    }

    #[test]
    fn a_bare_file_name_syncs_the_current_directory() {
        assert!(sync_parent(Path::new("Cargo.toml")).is_ok());
        assert_eq!(temp_beside(Path::new("a.json")), Path::new("a.json.tmp"));
    }
}
