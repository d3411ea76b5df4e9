//! The cost of the gateway's flag work per request, in one thread: the 20 flags of
//! `bench/proxy.sh` (every kind of rule) evaluated for requests without a user key
//! (split by a fresh trace id each), written as the `X-Flag-*` lines and the access
//! record's `name=value,...` text, as the proxy's flags stage does.
//!
//! `cargo run --release -p shoal-flags --example eval_cost [REQUESTS]`: prints ns per
//! request for 5 rounds (each round's requests timed whole) of `write_all` (what the
//! proxy calls) and of `evaluate_all` with the lines and text written from each
//! [`shoal_flags::Decision`] (what it called before `write_all` existed), interleaved.

use std::time::Instant;

use shoal_flags::{Constraint, Flag, FlagSet, ForceOn, Request, Variant};

/// The flags `bench/proxy.sh` sets: `bench_flag_1` to `bench_flag_20`.
fn bench_flags() -> Vec<Flag> {
    (1..=20)
        .map(|i| {
            let mut f = Flag::new(format!("bench_flag_{i}"));
            f.enabled = true;
            match i % 4 {
                0 => f.rollout = 50.0,
                1 => {
                    f.rollout = 30.0;
                    f.force_on = vec![ForceOn {
                        header: "X-Beta".into(),
                        values: vec!["1".into()],
                    }];
                    f.deny = vec!["u1".into(), "u2".into()];
                }
                2 => {
                    f.rollout = 70.0;
                    f.constraints = vec![
                        Constraint::HeaderIn {
                            header: "Host".into(),
                            values: vec!["bench".into(), "other".into()],
                        },
                        Constraint::PathPrefix { prefix: "/".into() },
                    ];
                }
                _ => {
                    f.rollout = 100.0;
                    f.variants = vec![
                        Variant {
                            name: "blue".into(),
                            weight: 50,
                        },
                        Variant {
                            name: "green".into(),
                            weight: 50,
                        },
                    ];
                    f.allow = vec!["u3".into()];
                }
            }
            f
        })
        .collect()
}

/// What wrk sends: `Host` and `Connection`, no user key.
struct Wrk;

impl Request for Wrk {
    fn header(&self, name: &str) -> Option<&str> {
        ["host", "connection"]
            .iter()
            .zip(["bench", "keep-alive"])
            .find(|(n, _)| name.eq_ignore_ascii_case(n))
            .map(|(_, v)| v)
    }

    fn path(&self) -> &str {
        "/"
    }
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let flags = bench_flags();
    let set = FlagSet::new(&flags);
    // Trace ids as the gateway makes them: 32 hex digits, new for each request.
    let ids: Vec<String> = (0..1024u64)
        .map(|i| format!("{:032x}", i.wrapping_mul(0x9e37_79b9_7f4a_7c15)))
        .collect();
    // As the proxy's flag table keeps it beside the set.
    let (lines_len, text_len) = set.written_len();
    let mut kept = 0usize;
    for round in 1..=5 {
        for by_decision in [false, true] {
            let start = Instant::now();
            for i in 0..n {
                let mut lines = Vec::with_capacity(lines_len);
                let mut text = String::with_capacity(text_len);
                let key = Some(ids[i % ids.len()].as_str());
                if by_decision {
                    set.evaluate_all(&Wrk, key, |_, d| {
                        lines.extend_from_slice(d.header.as_bytes());
                        lines.extend_from_slice(b": ");
                        lines.extend_from_slice(d.value.as_bytes());
                        lines.extend_from_slice(b"\r\n");
                        if !text.is_empty() {
                            text.push(',');
                        }
                        text.push_str(d.flag);
                        text.push('=');
                        text.push_str(d.value);
                    });
                } else {
                    set.write_all(&Wrk, key, &mut lines, Some(&mut text));
                }
                kept = kept.wrapping_add(lines.len() + text.len());
            }
            let ns = start.elapsed().as_nanos() as f64 / n as f64;
            let how = if by_decision {
                "evaluate_all"
            } else {
                "write_all"
            };
            println!("round {round}: {how:>12} {ns:5.0} ns per request (20 flags, lines and access text)");
        }
    }
    println!("({kept} bytes written)");
}
