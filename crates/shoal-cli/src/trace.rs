//! `shoal trace ID` (the waterfall of one trace) and `shoal traces` (recent traces).

use serde_json::Value;
use shoal_traces::{format_duration, Trace, TraceSummary};

use crate::client::{encode_query, warn_missing, Client, ClientError};
use crate::table::Table;

pub struct TracesArgs<'a> {
    pub service: Option<&'a str>,
    pub errors: bool,
    pub min_ms: Option<u64>,
    pub limit: usize,
    pub json: bool,
}

/// One trace as a waterfall, or as the API's JSON.
pub async fn trace(client: &Client, id: &str, json: bool) -> Result<String, ClientError> {
    let path = format!("/api/v1/traces/{}", encode_query(id.trim()));
    let (v, missing): (Value, _) = client.get_gathered(&path).await?;
    if let Some(missing) = &missing {
        warn_missing(missing, "spans");
    }
    if json {
        return Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        ));
    }
    let t: Trace = serde_json::from_value(v).map_err(|e| ClientError::Decode(e.to_string()))?;
    Ok(shoal_traces::render(&t, width()))
}

/// The terminal's width from `COLUMNS`, else the default.
fn width() -> usize {
    std::env::var("COLUMNS")
        .ok()
        .and_then(|c| c.parse::<usize>().ok())
        .filter(|w| *w >= 40)
        .unwrap_or(shoal_traces::DEFAULT_WIDTH)
}

/// Recent traces, newest first, as a table or JSON.
pub async fn traces(client: &Client, args: TracesArgs<'_>) -> Result<String, ClientError> {
    let mut q = vec![format!("limit={}", args.limit.max(1))];
    if let Some(s) = args.service {
        q.push(format!("service={}", encode_query(s)));
    }
    if args.errors {
        q.push("errors=true".into());
    }
    if let Some(ms) = args.min_ms {
        q.push(format!("min_ms={ms}"));
    }
    let path = format!("/api/v1/traces?{}", q.join("&"));
    let (v, missing): (Value, _) = client.get_gathered(&path).await?;
    if let Some(missing) = &missing {
        warn_missing(missing, "traces");
    }
    if args.json {
        return Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&v).unwrap_or_default()
        ));
    }
    let list: Vec<TraceSummary> =
        serde_json::from_value(v).map_err(|e| ClientError::Decode(e.to_string()))?;
    Ok(table(&list))
}

fn table(list: &[TraceSummary]) -> String {
    let mut t = Table::new(&[
        "TRACE", "STARTED", "DURATION", "SPANS", "ROOT", "SERVICES", "ERROR",
    ]);
    for s in list {
        t.row(vec![
            s.trace_id.clone(),
            clock(s.start_us),
            format_duration(s.duration_us),
            s.span_count.to_string(),
            format!("{} {}", s.root_service, s.root_name),
            s.services.join(","),
            if s.error { "yes".into() } else { String::new() },
        ]);
    }
    t.render()
}

/// `HH:MM:SS.mmm` (UTC) of unix microseconds.
fn clock(us: u64) -> String {
    let ms = us / 1000;
    let secs = ms / 1000;
    format!(
        "{:02}:{:02}:{:02}.{:03}",
        (secs / 3600) % 24,
        (secs / 60) % 60,
        secs % 60,
        ms % 1000
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_has_one_row_per_trace() {
        let s = TraceSummary {
            trace_id: "0af7651916cd43dd8448eb211c80319c".into(),
            root_service: "profile".into(),
            root_name: "GET /profile/ada".into(),
            start_us: 3_723_004_000,
            duration_us: 12_300,
            span_count: 3,
            services: vec!["institution".into(), "profile".into()],
            error: true,
        };
        let out = table(&[s]);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("TRACE"));
        assert!(
            lines[1].starts_with("0af7651916cd43dd8448eb211c80319c  01:02:03.004  12.3ms"),
            "{out}"
        );
        assert!(
            lines[1].contains("profile GET /profile/ada") && lines[1].ends_with("yes"),
            "{out}"
        );
    }
}
