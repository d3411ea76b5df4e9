//! The publications service of the demo fleet: a small std-only HTTP/1.1 server
//! listening on `$PORT`, answering `/publications/<user>` and `/health`. Its answer
//! names the feature flags (`X-Flag-*`) the request came with, which the gateway
//! decided two hops up. `?work=N` adds a deliberately expensive ranking
//! ([`citation_rank`]), the known hot function of `shoal profile`'s tests and demo.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

fn publications(user: &str, flags: &[(String, String)]) -> String {
    let titles: &[&str] = match user {
        "ada" => &[
            "Notes on the Analytical Engine",
            "Sketch of the Analytical Engine",
        ],
        "alan" => &[
            "On Computable Numbers",
            "Computing Machinery and Intelligence",
        ],
        _ => &[],
    };
    let list: Vec<String> = titles.iter().map(|t| format!("\"{t}\"")).collect();
    let flags: Vec<String> = flags
        .iter()
        .map(|(k, v)| format!("{}:{}", json_string(k), json_string(v)))
        .collect();
    format!(
        "{{\"user\":\"{}\",\"publications\":[{}],\"served_by\":\"{}\",\"flags\":{{{}}}}}",
        user.replace(['"', '\\'], ""),
        list.join(","),
        std::env::var("SHOAL_INSTANCE").unwrap_or_default(),
        flags.join(",")
    )
}

/// The most work one request may ask for (`?work=N`, N units of 10,000 rounds).
const MAX_WORK: u64 = 100_000;

/// A made-up citation rank that costs `work` units of CPU on purpose: the hot
/// function a profile of the demo should find. Never inlined, so it keeps its name,
/// and a plain loop, so even a debug build spends its time in this frame.
#[inline(never)]
fn citation_rank(user: &str, work: u64) -> u64 {
    let mut h = user.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    let rounds = work.min(MAX_WORK).saturating_mul(10_000);
    let mut i = 0;
    while i < rounds {
        h ^= h << 13;
        h ^= h >> 7;
        h ^= h << 17;
        i += 1;
    }
    h % 1000
}

/// The `work` parameter of a query string (`work=N`), 0 without one.
fn work_of(query: &str) -> u64 {
    query
        .split('&')
        .find_map(|kv| kv.strip_prefix("work="))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

fn respond(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

/// The W3C trace id of a request from its `traceparent` or `X-Trace-Id` header line.
fn trace_id_of(header: &str) -> Option<String> {
    let (name, value) = header.split_once(':')?;
    let value = value.trim();
    let id = match name.trim().to_ascii_lowercase().as_str() {
        "traceparent" => value.split('-').nth(1)?,
        "x-trace-id" => value,
        _ => return None,
    };
    (id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())).then(|| id.to_ascii_lowercase())
}

/// A feature flag's header line (`X-Flag-<name>: <value>`) as (name in lower case,
/// value): header names are case-insensitive, and callers' HTTP clients change their case.
fn flag_of(header: &str) -> Option<(String, String)> {
    let (name, value) = header.split_once(':')?;
    let name = name.trim();
    let flag = name
        .get(..7)
        .filter(|p| p.eq_ignore_ascii_case("x-flag-"))
        .and(name.get(7..))?;
    Some((flag.to_ascii_lowercase(), value.trim().to_string()))
}

/// A JSON string literal (quotes, backslashes and control characters escaped).
fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// One JSON log line per request on stdout, with the trace id when the request had one.
fn log_request(method: &str, path: &str, status: u16, trace_id: Option<&str>) {
    let level = if status >= 500 { "error" } else { "info" };
    let trace = trace_id
        .map(|t| format!(",\"trace_id\":\"{t}\""))
        .unwrap_or_default();
    println!(
        "{{\"level\":\"{level}\",\"msg\":{},\"status\":{status}{trace}}}",
        json_string(&format!("{method} {path}"))
    );
}

fn serve(mut stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut close = false;
        let mut trace_id = None;
        let mut flags = Vec::new();
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 || header == "\r\n" || header == "\n" {
                break;
            }
            if header.to_ascii_lowercase().starts_with("connection: close") {
                close = true;
            }
            if let Some(t) = trace_id_of(&header) {
                trace_id = Some(t);
            }
            flags.extend(flag_of(&header));
        }
        let target = request_line.split_whitespace().nth(1).unwrap_or("/");
        let (path, query) = target.split_once('?').unwrap_or((target, ""));
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        let status = match segments.as_slice() {
            ["health"] => {
                respond(&mut stream, "200 OK", "{\"status\":\"ok\"}")?;
                200
            }
            ["publications", user] => {
                let mut page = publications(user, &flags);
                let work = work_of(query);
                if work > 0 {
                    page.pop();
                    page.push_str(&format!(",\"rank\":{}}}", citation_rank(user, work)));
                }
                respond(&mut stream, "200 OK", &page)?;
                200
            }
            _ => {
                respond(&mut stream, "404 Not Found", "{\"error\":\"not found\"}")?;
                404
            }
        };
        log_request(
            request_line.split_whitespace().next().unwrap_or("?"),
            path,
            status,
            trace_id.as_deref(),
        );
        if close {
            return Ok(());
        }
    }
}

fn main() {
    // First thing: when the process began, so benchmarks can time restarts.
    let started_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let port = std::env::var("PORT").unwrap_or_else(|_| "8000".into());
    let listener = match TcpListener::bind(format!("127.0.0.1:{port}")) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("publications: cannot listen on port {port}: {e}");
            std::process::exit(1);
        }
    };
    println!("publications listening on {port} (process started at {started_ns} ns)");
    for stream in listener.incoming().flatten() {
        thread::spawn(move || {
            if let Err(e) = serve(stream) {
                eprintln!("publications: connection error: {e}");
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_trace_id_comes_from_traceparent_or_x_trace_id() {
        let t = "0af7651916cd43dd8448eb211c80319c";
        let tp = format!("traceparent: 00-{t}-b7ad6b7169203331-01\r\n");
        assert_eq!(trace_id_of(&tp).as_deref(), Some(t));
        assert_eq!(
            trace_id_of(&format!("X-Trace-Id: {t}\r\n")).as_deref(),
            Some(t)
        );
        assert_eq!(trace_id_of("traceparent: garbage\r\n"), None);
        assert_eq!(trace_id_of("Host: publications\r\n"), None);
    }

    #[test]
    fn flags_come_from_x_flag_lines_in_any_case() {
        assert_eq!(
            flag_of("x-FLAG-New_Profile: 1\r\n"),
            Some(("new_profile".into(), "1".into()))
        );
        assert_eq!(flag_of("X-Flagship: 1\r\n"), None);
        assert_eq!(flag_of("X-Version: 3\r\n"), None);
        let page = publications("ada", &[("new_profile".into(), "1".into())]);
        assert!(
            page.ends_with(",\"flags\":{\"new_profile\":\"1\"}}"),
            "{page}"
        );
    }

    #[test]
    fn work_is_read_from_the_query_and_ranks_are_stable() {
        assert_eq!(work_of("work=3"), 3);
        assert_eq!(work_of("a=1&work=12"), 12);
        assert_eq!(work_of("work=x"), 0);
        assert_eq!(work_of(""), 0);
        assert_eq!(citation_rank("ada", 1), citation_rank("ada", 1));
        assert!(citation_rank("ada", 2) < 1000);
    }

    #[test]
    fn log_strings_are_json_escaped() {
        assert_eq!(json_string("GET /a\"b\\c\n"), "\"GET /a\\\"b\\\\c\\u000a\"");
    }
}
