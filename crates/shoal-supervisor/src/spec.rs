//! What to launch (`LaunchSpec`) and where its output lines go (`OutputSink`).

use std::path::PathBuf;
use std::sync::Arc;

use shoal_logs::Stream;
use tokio::sync::mpsc::UnboundedSender;

/// The command of an instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Program {
    /// Executed directly: the first element is the program, looked up in `PATH`.
    Argv(Vec<String>),
    /// Run as `sh -c STRING`.
    Shell(String),
}

/// Everything needed to start one instance process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchSpec {
    pub program: Program,
    /// Added to (and overriding) Shoal's own environment, which is inherited.
    pub env: Vec<(String, String)>,
    /// Working directory; must exist.
    pub cwd: PathBuf,
    /// Names the instance in Shoal's own logs.
    pub instance_id: String,
}

/// One line of output, for consumers that prefer a channel to a callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLine {
    /// `Stdout` or `Stderr`.
    pub stream: Stream,
    /// The text without its terminator (`\n` or `\r\n`).
    pub line: String,
}

/// Receives every output line of a process, called from its reader tasks
/// (stdout and stderr concurrently; lines of one stream in order). Keep it fast:
/// a slow sink slows the reader, and a full pipe then blocks the process.
pub type OutputSink = Arc<dyn Fn(Stream, &str) + Send + Sync>;

/// A sink that forwards each line into `tx`; lines are dropped once the receiver is gone.
pub fn channel_sink(tx: UnboundedSender<OutputLine>) -> OutputSink {
    Arc::new(move |stream, line| {
        let _ = tx.send(OutputLine {
            stream,
            line: line.to_string(),
        });
    })
}
