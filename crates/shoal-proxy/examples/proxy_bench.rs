//! A fixed-table proxy for benchmarks: `proxy_bench LISTEN UPSTREAM...` serves
//! service `bench` (reach it with `Host: bench`) over the given upstream addresses.
//! `PROXY_BENCH_THREADS=N` overrides [`ProxyConfig::serve_threads`] (0: serve on the
//! main multi-thread runtime, as before thread-per-core serving), for A/B runs.
//! `PROXY_BENCH_H2C=1` speaks HTTP/2 (h2c) to the upstreams (`protocol = "h2c"`).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;

use arc_swap::ArcSwap;
use shoal_catalog::InstanceRecord;
use shoal_proxy::{Hooks, Proxy, ProxyConfig, RouteTable};
use shoal_spec::{Command, ServiceSpec};

#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn record(i: usize, addr: SocketAddr) -> InstanceRecord {
    InstanceRecord::new(
        format!("bench-{i}"),
        "bench",
        "1",
        "local",
        addr.ip().to_string(),
        addr.port(),
    )
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let listen: SocketAddr = args
        .next()
        .ok_or("usage: proxy_bench LISTEN UPSTREAM...")?
        .parse()?;
    let upstreams = args
        .map(|a| a.parse::<SocketAddr>())
        .collect::<Result<Vec<_>, _>>()?;
    let records: Vec<_> = upstreams
        .iter()
        .enumerate()
        .map(|(i, a)| record(i, *a))
        .collect();
    let mut spec = ServiceSpec::new("bench", Command::Argv(vec!["true".into()]));
    spec.version = "1".into();
    if std::env::var("PROXY_BENCH_H2C").is_ok_and(|v| v == "1") {
        spec.protocol = shoal_spec::Protocol::H2c;
    }
    let specs = BTreeMap::from([("bench".to_owned(), spec)]);
    let table = RouteTable::build(&specs, &records, &["shoal".into()], &RouteTable::default());
    let mut config = ProxyConfig::default();
    if let Ok(n) = std::env::var("PROXY_BENCH_THREADS") {
        config.serve_threads = n.parse()?;
    }
    eprintln!("proxy_bench serving threads: {}", config.serve_threads);
    let proxy = Proxy::new(
        Arc::new(ArcSwap::from_pointee(table)),
        config,
        Hooks::default(),
    );
    let listener = tokio::net::TcpListener::bind(listen).await?;
    eprintln!("proxy_bench listening on {listen} -> {upstreams:?}");
    proxy.serve(listener, "gateway".into()).await;
    Ok(())
}
