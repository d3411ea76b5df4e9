//! A store killed with SIGKILL mid-flood, in a real child process: after a
//! restart no sequence number it handed out is given to another line, and
//! what reached the disk is still read back.

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use shoal_logs::{DiskLimits, LogLimits, LogQuery, LogStore, Stream};

/// Where the child writes its store (set only for the child).
const CHILD_DIR: &str = "SHOAL_LOGS_CRASH_CHILD_DIR";

/// The child: appends lines as fast as it can, printing each line's number,
/// until it is killed. Does nothing unless run by the test below.
#[test]
#[ignore = "the child process of a_killed_store_never_numbers_two_lines_alike"]
fn child_appends_until_killed() {
    let Some(dir) = std::env::var_os(CHILD_DIR) else {
        return;
    };
    let store = LogStore::open(
        LogLimits::default(),
        std::path::Path::new(&dir),
        DiskLimits::default(),
    )
    .expect("open");
    for i in 0u64.. {
        let seq = store.append("web", "1", "web-1", Stream::Stdout, &format!("line {i}"));
        println!("seq {seq}");
    }
}

/// Runs the child on `dir` until it has printed `lines` numbers, kills it with
/// SIGKILL and returns the highest number it printed.
fn run_child_and_kill(dir: &std::path::Path, lines: u64) -> u64 {
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe)
        .args([
            "--exact",
            "child_appends_until_killed",
            "--ignored",
            "--nocapture",
        ])
        .env(CHILD_DIR, dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn the child");
    let out = child.stdout.take().expect("stdout");
    let mut numbers = BufReader::new(out)
        .lines()
        .map_while(Result::ok)
        .filter_map(|l| l.strip_prefix("seq ").and_then(|n| n.parse::<u64>().ok()));
    let mut highest = 0;
    for n in numbers.by_ref() {
        highest = highest.max(n);
        if n >= lines {
            break;
        }
    }
    child.kill().expect("SIGKILL");
    child.wait().expect("reap");
    // What it printed before it died counts too.
    numbers.fold(highest, u64::max)
}

#[test]
fn a_killed_store_never_numbers_two_lines_alike() {
    let dir = tempfile::tempdir().expect("tmp");
    let given = run_child_and_kill(dir.path(), 50_000);
    assert!(given >= 50_000, "{given}");

    let store =
        LogStore::open(LogLimits::default(), dir.path(), DiskLimits::default()).expect("reopen");
    // Before any new line: a query back in time finds the lines on disk.
    let since = store.query(&LogQuery {
        since_ms: Some(1),
        limit: 3,
        ..Default::default()
    });
    assert_eq!(since.len(), 3, "{since:?}");
    let next = store.append("web", "1", "web-1", Stream::Stdout, "after the crash");
    assert!(
        next > given,
        "numbered {next} after handing out up to {given}"
    );
    // The lines that reached the disk are read back (from the disk: the ring
    // starts empty after a crash), oldest first, numbered as they were.
    let back = store.query(&LogQuery {
        grep: Some("line ".into()),
        limit: 0,
        ..Default::default()
    });
    assert!(back.len() > 40_000, "{} lines read back", back.len());
    assert!(back.windows(2).all(|w| w[0].seq < w[1].seq));
    assert!(back.last().is_some_and(|l| l.seq < next));
    let numbered = |l: &shoal_logs::LogLine| l.line == format!("line {}", l.seq - 1);
    assert!(back.iter().all(numbered), "lines kept their numbers");
    // The numbers that may have gone with the crash: right after the last
    // line on disk, up to the first of this run; the child's last one among them.
    let lost = store.lost().expect("a crash leaves a gap");
    let on_disk = back.last().map_or(0, |l| l.seq);
    assert_eq!(lost.start, on_disk + 1);
    assert_eq!(lost.end, next);
    assert!(
        lost.contains(&given) || given <= on_disk,
        "{lost:?} {given}"
    );

    // A clean stop and start: numbering goes on right after, with the
    // newest lines back in memory.
    store.close();
    drop(store);
    let again =
        LogStore::open(LogLimits::default(), dir.path(), DiskLimits::default()).expect("reopen");
    assert!(again.stats().lines > 0, "{:?}", again.stats());
    assert_eq!(again.lost(), None, "a clean stop loses nothing");
    assert_eq!(
        again.append("web", "1", "web-1", Stream::Stdout, "x"),
        next + 1
    );
    again.close();
}
