//! The publications service of the demo fleet: a small std-only HTTP/1.1 server
//! listening on `$PORT`, answering `/publications/<user>` and `/health`.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::thread;

fn publications(user: &str) -> String {
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
    format!(
        "{{\"user\":\"{}\",\"publications\":[{}],\"served_by\":\"{}\"}}",
        user.replace(['"', '\\'], ""),
        list.join(","),
        std::env::var("SHOAL_INSTANCE").unwrap_or_default()
    )
}

fn respond(stream: &mut TcpStream, status: &str, body: &str) -> std::io::Result<()> {
    write!(
        stream,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    )
}

fn serve(mut stream: TcpStream) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line)? == 0 {
            return Ok(());
        }
        let mut close = false;
        loop {
            let mut header = String::new();
            if reader.read_line(&mut header)? == 0 || header == "\r\n" || header == "\n" {
                break;
            }
            if header.to_ascii_lowercase().starts_with("connection: close") {
                close = true;
            }
        }
        let path = request_line.split_whitespace().nth(1).unwrap_or("/");
        let path = path.split('?').next().unwrap_or("/");
        let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
        match segments.as_slice() {
            ["health"] => respond(&mut stream, "200 OK", "{\"status\":\"ok\"}")?,
            ["publications", user] => respond(&mut stream, "200 OK", &publications(user))?,
            _ => respond(&mut stream, "404 Not Found", "{\"error\":\"not found\"}")?,
        }
        println!(
            "{} {path}",
            request_line.split_whitespace().next().unwrap_or("?")
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
