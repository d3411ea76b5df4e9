//! Integration tests of `run_check` against real sockets and real processes.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use shoal_health::{run_check, CheckKind, CheckOutcome};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

const TIMEOUT: Duration = Duration::from_secs(5);

/// A tiny HTTP server: `/ok` 200, `/busy` 429, `/fail` 500, `/host` echoes the
/// Host header, `/slow` never answers. Aborted when dropped.
struct FakeServer {
    addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for FakeServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn fake_server() -> FakeServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let task = tokio::spawn(async move {
        while let Ok((conn, _)) = listener.accept().await {
            tokio::spawn(answer(conn));
        }
    });
    FakeServer { addr, task }
}

async fn answer(mut conn: TcpStream) {
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
    }
    let request = String::from_utf8_lossy(&request).to_string();
    let path = request.split_whitespace().nth(1).unwrap_or("/");
    let host = request
        .lines()
        .find_map(|l| {
            l.strip_prefix("host: ")
                .or_else(|| l.strip_prefix("Host: "))
        })
        .unwrap_or("none")
        .to_string();
    let (status, body) = match path {
        "/ok" => ("200 OK", "all good".to_string()),
        "/busy" => ("429 Too Many Requests", "slow down".to_string()),
        "/fail" => ("500 Internal Server Error", "db down".to_string()),
        "/host" => ("503 Service Unavailable", format!("host={host}")),
        "/big" => ("200 OK", "x".repeat(1 << 20)),
        "/slow" => {
            std::future::pending::<()>().await;
            return;
        }
        _ => ("404 Not Found", String::new()),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    let _ = conn.write_all(head.as_bytes()).await;
    let _ = conn.write_all(body.as_bytes()).await;
}

async fn http(addr: SocketAddr, path: &str, timeout: Duration) -> CheckOutcome {
    let kind = CheckKind::Http { path: path.into() };
    run_check(&kind, addr, timeout, &[], Path::new(".")).await
}

#[tokio::test]
async fn http_statuses_map_to_outcomes() {
    let server = fake_server().await;
    assert_eq!(
        http(server.addr, "/ok", TIMEOUT).await,
        CheckOutcome::Passing
    );
    match http(server.addr, "/busy", TIMEOUT).await {
        CheckOutcome::Warning(msg) => {
            assert!(msg.contains("429") && msg.contains("slow down"), "{msg}")
        }
        other => panic!("expected warning, got {other:?}"),
    }
    match http(server.addr, "fail", TIMEOUT).await {
        CheckOutcome::Critical(msg) => {
            assert!(msg.contains("500") && msg.contains("db down"), "{msg}")
        }
        other => panic!("expected critical, got {other:?}"),
    }
    assert!(matches!(
        http(server.addr, "/nope", TIMEOUT).await,
        CheckOutcome::Critical(_)
    ));
}

#[tokio::test]
async fn http_sends_the_host_header_and_bounds_the_body() {
    let server = fake_server().await;
    let outcome = http(server.addr, "/host", TIMEOUT).await;
    assert!(
        outcome.output().contains(&format!("host={}", server.addr)),
        "{outcome:?}"
    );
    assert_eq!(
        http(server.addr, "/big", TIMEOUT).await,
        CheckOutcome::Passing
    );
}

#[tokio::test]
async fn http_times_out_on_a_server_that_never_answers() {
    let server = fake_server().await;
    let started = Instant::now();
    let outcome = http(server.addr, "/slow", Duration::from_millis(200)).await;
    assert!(started.elapsed() < TIMEOUT);
    match outcome {
        CheckOutcome::Critical(msg) => assert!(msg.contains("timed out"), "{msg}"),
        other => panic!("expected critical, got {other:?}"),
    }
}

#[tokio::test]
async fn http_to_a_closed_port_is_critical() {
    let addr = closed_port().await;
    let outcome = http(addr, "/ok", TIMEOUT).await;
    assert!(outcome.output().contains("connect failed"), "{outcome:?}");
}

#[tokio::test]
async fn tcp_open_is_passing_and_closed_is_critical() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let open = listener.local_addr().expect("addr");
    let check = |addr| run_check(&CheckKind::Tcp, addr, TIMEOUT, &[], Path::new("."));
    assert_eq!(check(open).await, CheckOutcome::Passing);
    assert!(matches!(
        check(closed_port().await).await,
        CheckOutcome::Critical(_)
    ));
}

/// An address nothing listens on: bound, then released.
async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("addr")
}

async fn exec(
    script: &str,
    timeout: Duration,
    env: &[(String, String)],
    cwd: &Path,
) -> CheckOutcome {
    let kind = CheckKind::Exec {
        argv: vec!["sh".into(), "-c".into(), script.into()],
    };
    run_check(&kind, ([127, 0, 0, 1], 9).into(), timeout, env, cwd).await
}

#[tokio::test]
async fn exec_exit_codes_follow_consul() {
    let here = Path::new(".");
    assert_eq!(
        exec("exit 0", TIMEOUT, &[], here).await,
        CheckOutcome::Passing
    );
    assert_eq!(
        exec("echo degraded; exit 1", TIMEOUT, &[], here).await,
        CheckOutcome::Warning("exit code 1: degraded".into())
    );
    assert_eq!(
        exec("echo broken >&2; exit 2", TIMEOUT, &[], here).await,
        CheckOutcome::Critical("exit code 2: broken".into())
    );
}

#[tokio::test]
async fn exec_runs_with_env_and_cwd() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("marker"), "m").expect("write");
    let env = [("CHECK_WANT".to_string(), "yes".to_string())];
    let script = r#"test "$CHECK_WANT" = yes && test -f marker || { echo "env=$CHECK_WANT pwd=$PWD"; exit 2; }"#;
    let outcome = exec(script, TIMEOUT, &env, dir.path()).await;
    assert_eq!(outcome, CheckOutcome::Passing);
}

#[tokio::test]
async fn exec_missing_program_is_critical() {
    let kind = CheckKind::Exec {
        argv: vec!["/nonexistent/check".into()],
    };
    let outcome = run_check(
        &kind,
        ([127, 0, 0, 1], 9).into(),
        TIMEOUT,
        &[],
        Path::new("."),
    )
    .await;
    assert!(
        outcome.output().contains("/nonexistent/check"),
        "{outcome:?}"
    );
    let empty = CheckKind::Exec { argv: vec![] };
    let outcome = run_check(
        &empty,
        ([127, 0, 0, 1], 9).into(),
        TIMEOUT,
        &[],
        Path::new("."),
    )
    .await;
    assert!(matches!(outcome, CheckOutcome::Critical(_)));
}

#[tokio::test]
async fn exec_timeout_kills_the_whole_group() {
    let dir = tempfile::tempdir().expect("tempdir");
    let pidfile = dir.path().join("pids");
    // The shell and a background sleep both record their pids, then hang.
    let script = format!(
        "sleep 300 & echo $! >> {p}; echo $$ >> {p}; wait",
        p = pidfile.display()
    );
    let started = Instant::now();
    let outcome = exec(&script, Duration::from_millis(500), &[], dir.path()).await;
    assert!(started.elapsed() < TIMEOUT);
    assert!(outcome.output().contains("timed out"), "{outcome:?}");
    let pids = std::fs::read_to_string(&pidfile).expect("pids");
    for pid in pids.split_whitespace() {
        assert!(
            wait_until_gone(pid, TIMEOUT),
            "pid {pid} survived the check timeout"
        );
    }
}

/// Polls `/proc/<pid>` until the process is gone or a zombie, up to `deadline`.
fn wait_until_gone(pid: &str, deadline: Duration) -> bool {
    let until = Instant::now() + deadline;
    while Instant::now() < until {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => return true,
            Ok(stat)
                if stat
                    .rsplit(')')
                    .next()
                    .is_some_and(|s| s.trim_start().starts_with('Z')) =>
            {
                return true
            }
            Ok(_) => std::thread::sleep(Duration::from_millis(10)),
        }
    }
    false
}
