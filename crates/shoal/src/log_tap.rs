//! The tracing layer behind Consul's `agent/monitor`: while a monitor listens, each event
//! the log writes is also handed to it as a line (`shoal_consul::monitor::publish`);
//! with none listening it costs one atomic load per event.

use std::fmt::Write as _;
use std::time::SystemTime;

use shoal_consul::monitor::{self, Level, LogLine};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::Context;
use tracing_subscriber::Layer;

/// Sends every event that passes the log's filter to the monitors.
pub struct LogTap;

impl<S: Subscriber> Layer<S> for LogTap {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        if !monitor::listening() {
            return;
        }
        let meta = event.metadata();
        let mut text = Text::default();
        event.record(&mut text);
        monitor::publish(LogLine {
            at: SystemTime::now(),
            level: level(meta.level()),
            module: module(meta.target()).to_owned(),
            message: text.line(),
        });
    }
}

fn level(l: &tracing::Level) -> Level {
    match *l {
        tracing::Level::ERROR => Level::Error,
        tracing::Level::WARN => Level::Warn,
        tracing::Level::INFO => Level::Info,
        tracing::Level::DEBUG => Level::Debug,
        tracing::Level::TRACE => Level::Trace,
    }
}

/// `shoal_proxy::forward` → `proxy`; `shoal` → `agent`; anything else as it is.
fn module(target: &str) -> &str {
    let first = target.split("::").next().unwrap_or(target);
    match first.strip_prefix("shoal_") {
        Some(rest) => rest,
        None if first == "shoal" => "agent",
        None => first,
    }
}

/// The message, then each field as `key=value` (as hclog writes them).
#[derive(Default)]
struct Text {
    message: String,
    fields: String,
}

impl Visit for Text {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, format_args!("{value}"));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.put(field, format_args!("{value:?}"));
    }
}

impl Text {
    fn put(&mut self, field: &Field, value: std::fmt::Arguments<'_>) {
        if field.name() == "message" {
            let _ = write!(self.message, "{value}");
        } else {
            let _ = write!(self.fields, " {}={value}", field.name());
        }
    }

    fn line(self) -> String {
        match self.fields.is_empty() {
            true => self.message,
            false => format!("{}:{}", self.message, self.fields),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_read_as_consul_modules() {
        assert_eq!(module("shoal_proxy::forward"), "proxy");
        assert_eq!(module("shoal::up"), "agent");
        assert_eq!(module("hyper::proto"), "hyper");
    }
}
