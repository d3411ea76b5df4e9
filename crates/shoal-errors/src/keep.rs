//! The errors view on disk (`data_dir/errors.json`), so it survives a restart:
//! written whole ([`shoal_durable::replace`]) when something was recorded, at
//! most once every [`SAVE_EVERY`], and once more at shutdown; read back at start.

use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::book::Saved;
use crate::feed::Errors;

/// How often the view is written while errors come: what a `kill -9` may lose.
pub const SAVE_EVERY: Duration = Duration::from_secs(1);

/// The view saved at `path`; `None` when there is no file. A file that does
/// not parse is an `InvalidData` error naming it with the line and column.
pub fn load(path: &Path) -> io::Result<Option<Saved>> {
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| {
        let (line, column) = (e.line(), e.column());
        let text = e.to_string();
        let what = text
            .strip_suffix(&format!(" at line {line} column {column}"))
            .unwrap_or(&text);
        io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{}:{line}:{column}: {what}", path.display()),
        )
    })
}

/// Writes `saved` to `path`, replacing what was there whole.
pub fn save(path: &Path, saved: &Saved) -> io::Result<()> {
    let bytes = serde_json::to_vec(saved).map_err(io::Error::other)?;
    shoal_durable::replace(path, &bytes)
}

/// Writes what was recorded since the last save, if anything (off the async
/// threads: the write syncs the disk).
pub async fn save_changes(errors: &Errors, path: &Path) -> io::Result<()> {
    let Some(saved) = errors.take_changes() else {
        return Ok(());
    };
    let path = path.to_path_buf();
    tokio::task::spawn_blocking(move || save(&path, &saved))
        .await
        .map_err(io::Error::other)?
}

/// Saves `errors` to `path` every [`SAVE_EVERY`] while it changes, until
/// `stop` turns true (the caller saves the last changes with [`save_changes`]
/// once nothing records any more). A failed write is logged and tried again
/// at the next tick (the changes are taken again then: nothing is skipped).
pub async fn keep(errors: Arc<Errors>, path: PathBuf, mut stop: watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(SAVE_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {
                if let Err(e) = save_changes(&errors, &path).await {
                    errors.mark_changed();
                    tracing::warn!(path = %path.display(), error = %e, "cannot save the errors view");
                }
            }
            _ = stop.changed() => return,
        }
        if *stop.borrow() {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ErrorQuery, HttpError};

    fn http_500(errors: &Errors, path: &str, t: u64) {
        errors.record_http(HttpError {
            time_ms: t,
            service: "web",
            version: "1",
            instance: Some("web-1"),
            caller: "gateway",
            method: "GET",
            path,
            status: 500,
            reason: None,
            trace_id: "4bf92f3577b34da6a3ce929d0e0e4736",
            duration_ms: 1.5,
        });
    }

    #[tokio::test]
    async fn the_view_saved_reads_back_into_a_new_one() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("errors.json");
        let errors = Errors::default();
        assert!(load(&path).expect("no file").is_none());
        http_500(&errors, "/a", 10);
        http_500(&errors, "/a", 20);
        http_500(&errors, "/b", 30);
        save_changes(&errors, &path).await.expect("save");
        let again = Errors::default();
        again.restore(load(&path).expect("load").expect("a file"));
        assert_eq!(
            again.list(&ErrorQuery::default()),
            errors.list(&ErrorQuery::default())
        );
        // Nothing new: nothing written (the file stays as it was).
        std::fs::write(&path, b"{}").expect("write");
        save_changes(&errors, &path).await.expect("no changes");
        assert_eq!(std::fs::read(&path).expect("read"), b"{}");
    }

    #[test]
    fn a_damaged_file_is_an_error_that_says_where() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("errors.json");
        std::fs::write(&path, "{\"forgotten\": 0,\n \"groups\": [oops]}").expect("write");
        let err = load(&path).expect_err("damaged");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(
            err.to_string(),
            format!("{}:2:13: expected value", path.display())
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_keeper_saves_changes_each_tick_and_stops_when_told() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("errors.json");
        let errors = Arc::new(Errors::default());
        let (stop_tx, stop_rx) = watch::channel(false);
        let keeper = tokio::spawn(keep(errors.clone(), path.clone(), stop_rx));
        http_500(&errors, "/a", 10);
        let saved = async {
            loop {
                if let Ok(Some(s)) = load(&path) {
                    return s;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        let saved = tokio::time::timeout(Duration::from_secs(10), saved)
            .await
            .expect("saved within a few ticks");
        assert_eq!(saved.groups.len(), 1);
        let _ = stop_tx.send(true);
        tokio::time::timeout(Duration::from_secs(5), keeper)
            .await
            .expect("stopped")
            .expect("no panic");
    }
}
