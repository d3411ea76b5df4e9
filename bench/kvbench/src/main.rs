//! kvbench: the network side of bench/store.sh.
//!
//! Same load shape as `crates/shoal-store/examples/store_bench.rs`: `--ops` puts of
//! `--value-size` bytes spread over `--writers` concurrent clients (key
//! `bench/<client>/<i>`), then `--reads` (default 10 x ops) gets of random existing
//! keys by the same number of clients. Prints one JSON line per phase:
//! `{"target":..,"op":"put","clients":..,"ops":..,"ops_per_sec":..,"p50_us":..,"p99_us":..,"max_us":..}`.
//!
//! Targets:
//! - `etcd`: etcd v3 gRPC through the `etcd-client` crate; `--conns` gRPC channels
//!   (HTTP/2, requests multiplexed), clients spread over them round robin;
//!   reads linearizable (etcd's default) unless `--serializable`.
//! - `shoal-http`: Shoal's Consul KV API, `PUT /v1/kv/<key>` (body = value, answer
//!   `true`) and `GET /v1/kv/<key>?raw`; one HTTP/1.1 keep-alive connection per client.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

type Error = Box<dyn std::error::Error + Send + Sync>;

#[derive(Clone)]
struct Args {
    target: String,
    endpoint: String,
    writers: usize,
    ops: usize,
    reads: Option<usize>,
    value_size: usize,
    conns: usize,
    serializable: bool,
    max_secs: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        target: String::new(),
        endpoint: String::new(),
        writers: 64,
        ops: 20_000,
        reads: None,
        value_size: 256,
        conns: 1,
        serializable: false,
        max_secs: 300,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--serializable" {
            a.serializable = true;
            continue;
        }
        let v = it.next().ok_or(format!("{flag} needs a value"))?;
        let num = |v: &str| v.parse::<usize>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--target" => a.target = v,
            "--endpoint" => a.endpoint = v,
            "--writers" => a.writers = num(&v)?.max(1),
            "--ops" => a.ops = num(&v)?,
            "--reads" => a.reads = Some(num(&v)?),
            "--value-size" => a.value_size = num(&v)?,
            "--conns" => a.conns = num(&v)?.max(1),
            "--max-secs" => a.max_secs = num(&v)? as u64,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if a.target != "etcd" && a.target != "shoal-http" {
        return Err("--target must be etcd or shoal-http".into());
    }
    if a.endpoint.is_empty() {
        return Err("--endpoint HOST:PORT is required".into());
    }
    Ok(a)
}

fn report(target: &str, op: &str, clients: usize, elapsed: Duration, mut lat: Vec<u64>) {
    lat.sort_unstable();
    let pct = |p: f64| {
        lat.get(((lat.len() as f64 - 1.0) * p).round() as usize)
            .copied()
            .unwrap_or(0)
    };
    println!(
        "{{\"target\":\"{target}\",\"op\":\"{op}\",\"clients\":{clients},\"ops\":{},\"ops_per_sec\":{},\"p50_us\":{},\"p99_us\":{},\"max_us\":{}}}",
        lat.len(),
        (lat.len() as f64 / elapsed.as_secs_f64()).round(),
        pct(0.50),
        pct(0.99),
        lat.last().copied().unwrap_or(0)
    );
}

/// How many operations client `c` of `clients` does out of `ops`.
fn share(ops: usize, clients: usize, c: usize) -> usize {
    ops / clients + usize::from(c < ops % clients)
}

/// Small xorshift so the client needs no rand crate.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

fn all_keys(a: &Args) -> Arc<Vec<String>> {
    let mut keys = Vec::with_capacity(a.ops);
    for c in 0..a.writers {
        for i in 0..share(a.ops, a.writers, c) {
            keys.push(format!("bench/{c}/{i}"));
        }
    }
    Arc::new(keys)
}

/// One worker per client; each returns its latencies. `f(client, i, state)` does one
/// op and hands the client's state (its connection) back.
async fn phase<S, F, Fut>(states: Vec<S>, ops: usize, f: F) -> Result<(Duration, Vec<u64>), Error>
where
    S: Send + 'static,
    F: Fn(usize, usize, S) -> Fut + Send + Sync + Copy + 'static,
    Fut: std::future::Future<Output = Result<S, Error>> + Send,
{
    let clients = states.len();
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(clients);
    for (c, mut st) in states.into_iter().enumerate() {
        let n = share(ops, clients, c);
        tasks.push(tokio::spawn(async move {
            let mut lat = Vec::with_capacity(n);
            for i in 0..n {
                let t = Instant::now();
                st = f(c, i, st).await?;
                lat.push(t.elapsed().as_micros() as u64);
            }
            Ok::<_, Error>(lat)
        }));
    }
    let mut all = Vec::with_capacity(ops);
    for t in tasks {
        all.extend(t.await??);
    }
    Ok((start.elapsed(), all))
}

async fn run_etcd(a: Args) -> Result<(), Error> {
    use etcd_client::{Client, GetOptions};
    let mut channels = Vec::new();
    for _ in 0..a.conns {
        channels.push(Client::connect([format!("http://{}", a.endpoint)], None).await?);
    }
    let kv = |c: usize| channels[c % channels.len()].kv_client();
    let value = Arc::new(vec![b'x'; a.value_size]);
    let keys = all_keys(&a);

    let states: Vec<_> = (0..a.writers).map(|c| (kv(c), value.clone())).collect();
    let (el, lat) = phase(states, a.ops, |c, i, st| async move {
        let (mut kv, v) = st;
        kv.put(format!("bench/{c}/{i}"), v.as_slice(), None).await?;
        Ok((kv, v))
    })
    .await?;
    report("etcd", "put", a.writers, el, lat);

    let reads = a.reads.unwrap_or(a.ops * 10);
    let serializable = a.serializable;
    let states: Vec<_> = (0..a.writers)
        .map(|c| (kv(c), keys.clone(), Rng(0x9E37_79B9_7F4A_7C15 ^ (c as u64 + 1))))
        .collect();
    let (el, lat) = phase(states, reads, move |_, _, st| async move {
        let (mut kv, keys, mut rng) = st;
        let key = &keys[(rng.next() % keys.len() as u64) as usize];
        let opts = serializable.then(|| GetOptions::new().with_serializable());
        let resp = kv.get(key.as_str(), opts).await?;
        if resp.kvs().len() != 1 {
            return Err(format!("etcd get {key}: {} kvs", resp.kvs().len()).into());
        }
        Ok((kv, keys, rng))
    })
    .await?;
    let op = if serializable { "get_serializable" } else { "get" };
    report("etcd", op, a.writers, el, lat);
    Ok(())
}

struct HttpClient {
    sender: SendRequest<Full<Bytes>>,
    host: String,
}

impl HttpClient {
    async fn connect(addr: SocketAddr) -> Result<Self, Error> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                eprintln!("kvbench: connection ended: {e}");
            }
        });
        Ok(HttpClient {
            sender,
            host: addr.to_string(),
        })
    }

    async fn call(&mut self, method: &str, path: &str, body: Bytes) -> Result<(u16, Bytes), Error> {
        self.sender.ready().await?;
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.host)
            .body(Full::new(body))?;
        let resp = self.sender.send_request(req).await?;
        let status = resp.status().as_u16();
        let body = resp.into_body().collect().await?.to_bytes();
        Ok((status, body))
    }
}

async fn run_shoal(a: Args) -> Result<(), Error> {
    let addr: SocketAddr = a.endpoint.parse()?;
    let mut conns = Vec::with_capacity(a.writers);
    for _ in 0..a.writers {
        conns.push(HttpClient::connect(addr).await?);
    }
    let value = Bytes::from(vec![b'x'; a.value_size]);
    let keys = all_keys(&a);

    let states: Vec<_> = conns.into_iter().map(|h| (h, value.clone())).collect();
    let (el, lat) = phase(states, a.ops, |c, i, st| async move {
        let (mut h, v) = st;
        let (status, body) = h.call("PUT", &format!("/v1/kv/bench/{c}/{i}"), v.clone()).await?;
        if status != 200 || body.as_ref() != b"true" {
            return Err(format!("PUT bench/{c}/{i}: {status} {:?}", String::from_utf8_lossy(&body)).into());
        }
        Ok((h, v))
    })
    .await?;
    report("shoal-http", "put", a.writers, el, lat);

    let mut conns = Vec::with_capacity(a.writers);
    for _ in 0..a.writers {
        conns.push(HttpClient::connect(addr).await?);
    }
    let reads = a.reads.unwrap_or(a.ops * 10);
    let size = a.value_size;
    let states: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(c, h)| (h, keys.clone(), Rng(0x9E37_79B9_7F4A_7C15 ^ (c as u64 + 1))))
        .collect();
    let (el, lat) = phase(states, reads, move |_, _, st| async move {
        let (mut h, keys, mut rng) = st;
        let key = &keys[(rng.next() % keys.len() as u64) as usize];
        let (status, body) = h.call("GET", &format!("/v1/kv/{key}?raw"), Bytes::new()).await?;
        if status != 200 || body.len() != size {
            return Err(format!("GET {key}: {status}, {} bytes", body.len()).into());
        }
        Ok((h, keys, rng))
    })
    .await?;
    report("shoal-http", "get", a.writers, el, lat);
    Ok(())
}

#[tokio::main]
async fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("kvbench: {e}");
            std::process::exit(2);
        }
    };
    let limit = Duration::from_secs(a.max_secs);
    let run = async {
        match a.target.as_str() {
            "etcd" => run_etcd(a.clone()).await,
            _ => run_shoal(a.clone()).await,
        }
    };
    match tokio::time::timeout(limit, run).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            eprintln!("kvbench: {e}");
            std::process::exit(1);
        }
        Err(_) => {
            eprintln!("kvbench: gave up after {}s (--max-secs)", a.max_secs);
            std::process::exit(1);
        }
    }
}
