//! In-process StatsD throughput: lines parsed and aggregated per second on one core,
//! plus an optional UDP load generator for `bench/statsd.sh`.
//!
//! `statsd_bench inprocess [SECONDS]` prints `lines_per_sec=N rss_kb=N`;
//! `statsd_bench udp HOST:PORT SECONDS RATE` sends mixed lines over UDP (`RATE` lines/s,
//! 0 = as fast as possible) and prints `sent_lines=N`.

use std::net::UdpSocket;
use std::time::{Duration, Instant};

use shoal_metrics::{Metrics, MetricsConfig};

/// Mixed traffic: 1000 series of counters, gauges, timers and sets, some tagged and sampled.
pub fn packets(lines_per_packet: usize) -> Vec<Vec<u8>> {
    let mut lines = Vec::new();
    for i in 0..4000u32 {
        let s = i % 1000;
        let line = match i % 8 {
            0..=2 => format!("app.requests.{s}:1|c|#service:web,code:200"),
            3 => format!("app.queue.{s}:{}|g", i % 97),
            4 => format!("app.latency.{s}:{}.{}|ms|@0.5|#route:/api", i % 300, i % 10),
            5 => format!("app.size.{s}:{}|h", i % 5000),
            6 => format!("app.users.{s}:user{}|s", i % 333),
            _ => format!("app.hits.{s}:2|c"),
        };
        lines.push(line);
    }
    lines
        .chunks(lines_per_packet)
        .map(|c| c.join("\n").into_bytes())
        .collect()
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn inprocess(seconds: u64) {
    let metrics = Metrics::new(MetricsConfig::default());
    let packets = packets(20);
    let per_round: usize = packets
        .iter()
        .map(|p| p.split(|b| *b == b'\n').count())
        .sum();
    let start = Instant::now();
    let mut last_flush = Instant::now();
    let mut lines = 0u64;
    while start.elapsed() < Duration::from_secs(seconds) {
        for _ in 0..50 {
            for p in &packets {
                metrics.statsd().ingest(0, p);
            }
            lines += per_round as u64;
        }
        if last_flush.elapsed() >= Duration::from_secs(1) {
            // Flushing is part of the cost: aggregation into the store every second.
            metrics.flush_statsd(shoal_metrics::unix_now());
            last_flush = Instant::now();
        }
    }
    metrics.flush_statsd(shoal_metrics::unix_now());
    let secs = start.elapsed().as_secs_f64();
    println!(
        "lines_per_sec={:.0} rss_kb={} lines={lines}",
        lines as f64 / secs,
        rss_kb()
    );
}

fn udp(target: &str, seconds: u64, rate: u64) -> std::io::Result<()> {
    let sock = UdpSocket::bind("127.0.0.1:0")?;
    sock.connect(target)?;
    let packets = packets(20);
    let start = Instant::now();
    let mut sent = 0u64;
    'outer: loop {
        for p in &packets {
            if start.elapsed() >= Duration::from_secs(seconds) {
                break 'outer;
            }
            if rate > 0 {
                let due = Duration::from_secs_f64(sent as f64 / rate as f64);
                if let Some(wait) = due.checked_sub(start.elapsed()) {
                    std::thread::sleep(wait);
                }
            }
            if sock.send(p).is_ok() {
                sent += 20;
            }
        }
    }
    println!("sent_lines={sent}");
    Ok(())
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize, d: &str| args.get(i).cloned().unwrap_or_else(|| d.to_string());
    let num = |i: usize, d: u64| arg(i, "").parse().unwrap_or(d);
    match arg(1, "inprocess").as_str() {
        "udp" => {
            if let Err(e) = udp(&arg(2, "127.0.0.1:8125"), num(3, 5), num(4, 0)) {
                eprintln!("udp: {e}");
                std::process::exit(1);
            }
        }
        _ => inprocess(num(2, 5)),
    }
}
