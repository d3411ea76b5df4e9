//! Crash test: a child process (this test binary re-executed in "writer" mode) writes
//! concurrently and prints every acknowledged key; the parent SIGKILLs it mid-stream, reopens
//! the store and checks that every acknowledged write survived. Twice, so the second round
//! also recovers a store that was itself recovered from a crash.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use shoal_store::{EmbeddedOptions, EmbeddedStore, Store};

const CHILD_DIR: &str = "SHOAL_STORE_CRASH_CHILD_DIR";
const CHILD_ROUND: &str = "SHOAL_STORE_CRASH_CHILD_ROUND";
const WRITERS: usize = 16;
const ACKS_BEFORE_KILL: usize = 1500;

type TestResult = Result<(), Box<dyn std::error::Error>>;

/// Writer mode: does nothing unless the parent test set `CHILD_DIR`.
#[test]
fn crash_child() -> TestResult {
    let (Ok(dir), Ok(round)) = (std::env::var(CHILD_DIR), std::env::var(CHILD_ROUND)) else {
        return Ok(());
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    rt.block_on(async move {
        let store = EmbeddedStore::open(Path::new(&dir), EmbeddedOptions::default()).await?;
        let out = Arc::new(std::sync::Mutex::new(std::io::stdout()));
        let tasks: Vec<_> = (0..WRITERS)
            .map(|w| {
                let (store, out, round) = (Arc::clone(&store), Arc::clone(&out), round.clone());
                tokio::spawn(async move {
                    // Runs until killed; the cap only guards against an orphaned child.
                    for i in 0..1_000_000 {
                        let key = format!("r{round}/w{w}/{i}");
                        let value = format!("value-{round}-{w}-{i}");
                        store.put(&key, value.clone().into_bytes(), 0).await?;
                        let mut out = out.lock().unwrap_or_else(|e| e.into_inner());
                        writeln!(out, "ACK {key} {value}")?;
                        out.flush()?;
                    }
                    Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
                })
            })
            .collect();
        for t in tasks {
            t.await?.map_err(|e| e.to_string())?;
        }
        Ok::<_, Box<dyn std::error::Error>>(())
    })
}

/// Kills the child if the test fails before it does.
struct Killer(Child);

impl Drop for Killer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts a writer child, reads acknowledgements until `n`, then SIGKILLs it.
fn write_and_kill(
    dir: &Path,
    round: usize,
    n: usize,
) -> Result<Vec<(String, String)>, Box<dyn std::error::Error>> {
    let mut child = Killer(
        Command::new(std::env::current_exe()?)
            .args(["--exact", "crash_child", "--nocapture", "--test-threads=1"])
            .env(CHILD_DIR, dir)
            .env(CHILD_ROUND, round.to_string())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?,
    );
    let stdout = child.0.stdout.take().ok_or("no child stdout")?;
    let mut acked = Vec::new();
    for line in BufReader::new(stdout).lines() {
        let line = line?;
        if let Some(rest) = line.strip_prefix("ACK ") {
            let (key, value) = rest.split_once(' ').ok_or("malformed ACK line")?;
            acked.push((key.to_owned(), value.to_owned()));
            if acked.len() >= n {
                break;
            }
        }
    }
    if acked.len() < n {
        return Err(format!("child stopped after {} acknowledged writes", acked.len()).into());
    }
    child.0.kill()?; // SIGKILL, with writes in flight
    let status = child.0.wait()?;
    assert!(!status.success(), "the child was killed, not finished");
    Ok(acked)
}

#[test]
fn acknowledged_writes_survive_sigkill() -> TestResult {
    let dir = tempfile::tempdir()?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let mut all = Vec::new();
    for round in 0..2 {
        all.extend(write_and_kill(dir.path(), round, ACKS_BEFORE_KILL)?);
        rt.block_on(async {
            let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).await?;
            for (key, value) in &all {
                let kv = store
                    .get(key)
                    .await?
                    .ok_or_else(|| format!("acknowledged key {key} lost"))?;
                assert_eq!(
                    String::from_utf8_lossy(&kv.value),
                    value.as_str(),
                    "value of {key}"
                );
            }
            // Revisions stayed dense: every acknowledged write took one.
            let rev = store.revision().await?;
            assert!(
                rev > all.len() as i64,
                "revision {rev} below {} acknowledged writes",
                all.len()
            );
            store.close().await;
            Ok::<_, Box<dyn std::error::Error>>(())
        })?;
    }
    // The store is still fully usable after two crashes.
    rt.block_on(async {
        let store = EmbeddedStore::open(dir.path(), EmbeddedOptions::default()).await?;
        let rev = store.put("after", b"crash".to_vec(), 0).await?;
        let mut w = store.watch("after", rev).await?;
        let batch = tokio::time::timeout(Duration::from_secs(10), w.next())
            .await?
            .ok_or("watch ended")??;
        assert_eq!(batch.revision, rev);
        store.close().await;
        Ok::<_, Box<dyn std::error::Error>>(())
    })?;
    Ok(())
}
