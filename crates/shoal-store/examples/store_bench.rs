//! Benchmark of the embedded store: durable puts and in-memory gets with N concurrent clients.
//!
//! `cargo run --release -p shoal-store --example store_bench -- --dir DIR --writers 64 --ops 20000 --value-size 256`
//! prints one JSON line per phase: `{"op":"put","ops_per_sec":..,"p50_us":..,"p99_us":..}`.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rand::Rng;
use shoal_store::{EmbeddedOptions, EmbeddedStore, Store};

struct Args {
    dir: Option<PathBuf>,
    writers: usize,
    ops: usize,
    value_size: usize,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        dir: None,
        writers: 64,
        ops: 20_000,
        value_size: 256,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--dir" => args.dir = Some(PathBuf::from(value()?)),
            "--writers" => {
                args.writers = value()?.parse().map_err(|e| format!("--writers: {e}"))?
            }
            "--ops" => args.ops = value()?.parse().map_err(|e| format!("--ops: {e}"))?,
            "--value-size" => {
                args.value_size = value()?.parse().map_err(|e| format!("--value-size: {e}"))?
            }
            other => {
                return Err(format!(
                    "unknown flag {other}; use --dir --writers --ops --value-size"
                ))
            }
        }
    }
    args.writers = args.writers.max(1);
    Ok(args)
}

fn report(op: &str, clients: usize, elapsed: Duration, mut lat_us: Vec<u64>) {
    lat_us.sort_unstable();
    let pct = |p: f64| {
        lat_us
            .get(((lat_us.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    let n = lat_us.len();
    println!(
        "{}",
        serde_json::json!({
            "op": op,
            "clients": clients,
            "ops": n,
            "ops_per_sec": (n as f64 / elapsed.as_secs_f64()).round(),
            "p50_us": pct(0.50),
            "p99_us": pct(0.99),
            "max_us": lat_us.last().copied().unwrap_or(0),
        })
    );
}

/// Runs `ops` calls of `f` spread over `clients` tasks; returns wall time and latencies.
async fn run<F, Fut>(
    clients: usize,
    ops: usize,
    f: F,
) -> Result<(Duration, Vec<u64>), Box<dyn std::error::Error>>
where
    F: Fn(usize, usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = Result<(), shoal_store::StoreError>> + Send,
{
    let f = Arc::new(f);
    let start = Instant::now();
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let f = Arc::clone(&f);
            let n = ops / clients + usize::from(c < ops % clients);
            tokio::spawn(async move {
                let mut lat = Vec::with_capacity(n);
                for i in 0..n {
                    let t = Instant::now();
                    f(c, i).await?;
                    lat.push(t.elapsed().as_micros() as u64);
                }
                Ok::<_, shoal_store::StoreError>(lat)
            })
        })
        .collect();
    let mut all = Vec::with_capacity(ops);
    for t in tasks {
        all.extend(t.await??);
    }
    Ok((start.elapsed(), all))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args()?;
    let tmp = tempfile::tempdir()?;
    let dir = args.dir.clone().unwrap_or_else(|| tmp.path().to_owned());
    let store = EmbeddedStore::open(&dir, EmbeddedOptions::default()).await?;
    let value = vec![b'x'; args.value_size];

    let s = Arc::clone(&store);
    let (elapsed, lat) = run(args.writers, args.ops, move |c, i| {
        let s = Arc::clone(&s);
        let value = value.clone();
        async move { s.put(&format!("bench/{c}/{i}"), value, 0).await.map(drop) }
    })
    .await?;
    report("put", args.writers, elapsed, lat);

    let keys: Arc<Vec<String>> = Arc::new(
        store
            .range("bench/")
            .await?
            .kvs
            .into_iter()
            .map(|kv| kv.key)
            .collect(),
    );
    let s = Arc::clone(&store);
    let (elapsed, lat) = run(args.writers, args.ops * 10, move |_, _| {
        let s = Arc::clone(&s);
        let key = keys[rand::rng().random_range(0..keys.len().max(1))].clone();
        async move { s.get(&key).await.map(drop) }
    })
    .await?;
    report("get", args.writers, elapsed, lat);
    store.close().await;
    Ok(())
}
