//! `GET /v1/agent/monitor`: the agent's log, streamed as it is written, in Consul's line
//! form (`2026-12-07T18:00:00.000Z [INFO]  proxy: message`) or, with `logjson`, one JSON
//! object per line (`@level`, `@message`, `@module`, `@timestamp`). The process's log
//! goes through [`publish`] (the `shoal` binary's tracing layer calls it, and formats a
//! line only while a monitor listens); each monitor reads from a broadcast of the last
//! [`BACKLOG`] lines and is told how many it missed if it falls behind.

use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use axum::body::Body;
use axum::extract::RawQuery;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use tokio::sync::broadcast;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use tokio_stream::wrappers::BroadcastStream;

use crate::error::{ConsulError, Result};
use crate::query::Endpoint;

const MONITOR: Endpoint = Endpoint::plain("GET /v1/agent/monitor", &["loglevel", "logjson"]);

/// Lines a slow monitor may fall behind before it misses some.
pub const BACKLOG: usize = 1024;

/// How much a line says, most to least severe (Consul's `loglevel` names).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Error = 1,
    Warn,
    Info,
    Debug,
    Trace,
}

impl Level {
    /// Consul's spelling of a `loglevel` (any case; `err` too).
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.to_ascii_lowercase().as_str() {
            "err" | "error" => Level::Error,
            "warn" | "warning" => Level::Warn,
            "info" => Level::Info,
            "debug" => Level::Debug,
            "trace" => Level::Trace,
            _ => return None,
        })
    }

    fn upper(self) -> &'static str {
        match self {
            Level::Error => "ERROR",
            Level::Warn => "WARN",
            Level::Info => "INFO",
            Level::Debug => "DEBUG",
            Level::Trace => "TRACE",
        }
    }

    fn lower(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
            Level::Trace => "trace",
        }
    }
}

/// One line of the log.
#[derive(Debug, Clone, PartialEq)]
pub struct LogLine {
    pub at: SystemTime,
    pub level: Level,
    /// What wrote it (the tracing target's first part: `shoal_proxy` → `proxy`).
    pub module: String,
    /// The message with its fields (`key=value`).
    pub message: String,
}

impl LogLine {
    /// Consul's text form, or its JSON form; with the line's end.
    pub fn render(&self, json: bool) -> String {
        let at = humantime::format_rfc3339_millis(self.at).to_string();
        if json {
            let v = serde_json::json!({
                "@level": self.level.lower(),
                "@message": self.message,
                "@module": self.module,
                "@timestamp": at,
            });
            return format!("{v}\n");
        }
        let level = format!("[{}]", self.level.upper());
        format!("{at} {level:<8}{}: {}\n", self.module, self.message)
    }
}

fn tap() -> &'static broadcast::Sender<Arc<LogLine>> {
    static TAP: OnceLock<broadcast::Sender<Arc<LogLine>>> = OnceLock::new();
    TAP.get_or_init(|| broadcast::channel(BACKLOG).0)
}

/// Set once the process stops: every monitor stream ends (a stream whose client left
/// is only noticed when a line is written, and would hold the API's shutdown).
fn ending() -> &'static tokio::sync::watch::Sender<bool> {
    static ENDING: OnceLock<tokio::sync::watch::Sender<bool>> = OnceLock::new();
    ENDING.get_or_init(|| tokio::sync::watch::channel(false).0)
}

/// Ends every monitor stream, now and for good (the process is stopping).
pub fn end_all() {
    ending().send_replace(true);
}

/// Whether a monitor listens (a line is worth formatting).
pub fn listening() -> bool {
    tap().receiver_count() > 0
}

/// Hands one line of the process's log to every monitor.
pub fn publish(line: LogLine) {
    let _ = tap().send(Arc::new(line));
}

/// `GET /v1/agent/monitor?loglevel=info[&logjson]`: streams until the client goes.
pub async fn monitor(RawQuery(q): RawQuery) -> Result<Response> {
    let p = MONITOR.params(q.as_deref())?;
    let wanted = match p.get("loglevel").filter(|s| !s.is_empty()) {
        None => Level::Info,
        Some(s) => Level::parse(s).ok_or_else(|| {
            ConsulError::bad(format!(
                "Unknown log level: {s} (one of trace, debug, info, warn, err)"
            ))
        })?,
    };
    let json = p.flag("logjson");
    let mut end = ending().subscribe();
    let ended = async move {
        let _ = end.wait_for(|e| *e).await;
    };
    let lines = BroadcastStream::new(tap().subscribe())
        .take_until(ended)
        .filter_map(move |got| {
            let out = match got {
                Ok(line) => (line.level <= wanted).then(|| line.render(json)),
                Err(BroadcastStreamRecvError::Lagged(n)) => Some(
                    LogLine {
                        at: SystemTime::now(),
                        level: Level::Warn,
                        module: "agent.monitor".into(),
                        message: format!("{n} log lines were dropped: this reader fell behind"),
                    }
                    .render(json),
                ),
            };
            std::future::ready(out.map(Ok::<_, std::convert::Infallible>))
        });
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        Body::from_stream(lines),
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    fn line(level: Level) -> LogLine {
        LogLine {
            at: UNIX_EPOCH + Duration::from_millis(1_796_666_400_123),
            level,
            module: "proxy".into(),
            message: "instance ejected service=web".into(),
        }
    }

    #[test]
    fn lines_read_as_consul_writes_them() {
        assert_eq!(
            line(Level::Info).render(false),
            "2026-12-07T18:00:00.123Z [INFO]  proxy: instance ejected service=web\n"
        );
        assert_eq!(
            line(Level::Error).render(false),
            "2026-12-07T18:00:00.123Z [ERROR] proxy: instance ejected service=web\n"
        );
        let v: serde_json::Value =
            serde_json::from_str(line(Level::Warn).render(true).trim_end()).unwrap_or_default();
        assert_eq!(v["@level"], "warn");
        assert_eq!(v["@module"], "proxy");
        assert_eq!(v["@message"], "instance ejected service=web");
        assert_eq!(v["@timestamp"], "2026-12-07T18:00:00.123Z");
    }

    #[test]
    fn levels_are_consul_s_names_and_order() {
        assert_eq!(Level::parse("ERR"), Some(Level::Error));
        assert_eq!(Level::parse("Debug"), Some(Level::Debug));
        assert_eq!(Level::parse("verbose"), None);
        assert!(Level::Error < Level::Warn && Level::Info < Level::Trace);
    }
}
