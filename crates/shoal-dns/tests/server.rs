//! The DNS server over real sockets on 127.0.0.1:0: UDP and TCP answers from a table fed by
//! the fleet view of an in-memory store, truncation over UDP and full answers over TCP,
//! garbage floods, the TCP connection cap and idle timeout, and shutdown.
#![allow(clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_proto::op::{Message, Query, ResponseCode};
use hickory_proto::rr::{Name, RecordType};
use shoal_catalog::{catalog_key, encode, Health, InstanceRecord};
use shoal_dns::{ArcSwap, DnsConfig, DnsTable, ServerOptions};
use shoal_store::{EmbeddedStore, Store};
use tokio::sync::oneshot;

fn record(i: u16, health: Health) -> InstanceRecord {
    InstanceRecord {
        health,
        ..InstanceRecord::new(
            format!("web-{i}"),
            "web",
            "1",
            "box",
            "127.0.0.1",
            20000 + i,
        )
    }
}

fn query(name: &str, rtype: RecordType) -> Vec<u8> {
    let mut m = Message::query();
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), rtype));
    m.to_vec().unwrap()
}

fn udp_ask(addr: SocketAddr, q: &[u8]) -> Option<Message> {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
    s.send_to(q, addr).unwrap();
    let mut buf = [0u8; 65535];
    let n = s.recv(&mut buf).ok()?;
    Message::from_vec(&buf[..n]).ok()
}

fn tcp_ask(stream: &mut TcpStream, q: &[u8]) -> Message {
    let mut out = (q.len() as u16).to_be_bytes().to_vec();
    out.extend_from_slice(q);
    stream.write_all(&out).unwrap();
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).unwrap();
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut buf).unwrap();
    Message::from_vec(&buf).unwrap()
}

struct Running {
    addr: SocketAddr,
    store: Arc<EmbeddedStore>,
    stop: Option<oneshot::Sender<()>>,
    server: tokio::task::JoinHandle<()>,
}

async fn start(opts: ServerOptions) -> Running {
    let store = EmbeddedStore::open_in_memory().await.unwrap();
    let dyn_store: Arc<dyn Store> = store.clone();
    let table = Arc::new(ArcSwap::from_pointee(DnsTable::default()));
    let (udp, tcp) = shoal_dns::bind("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let addr = udp.local_addr().unwrap();
    assert_eq!(tcp.local_addr().unwrap(), addr, "one port for UDP and TCP");
    let (stop, stopped) = oneshot::channel::<()>();
    // The fleet view and the table follower stop once the server has.
    let (stop2, stopped2) = tokio::sync::watch::channel(false);
    let stopped2 = move || {
        let mut rx = stopped2.clone();
        async move {
            let _ = rx.wait_for(|stop| *stop).await;
        }
    };
    let (fleet, view) = shoal_fleet::start(dyn_store, stopped2());
    tokio::spawn(view);
    tokio::spawn(shoal_dns::follow_fleet(
        fleet.subscribe(),
        table.clone(),
        DnsConfig::default(),
        stopped2(),
    ));
    let server = tokio::spawn(async move {
        shoal_dns::serve_with(opts, udp, tcp, table, async {
            let _ = stopped.await;
        })
        .await;
        stop2.send_replace(true);
    });
    Running {
        addr,
        store,
        stop: Some(stop),
        server,
    }
}

async fn put(store: &EmbeddedStore, r: &InstanceRecord) {
    store
        .put(&catalog_key(&r.service, &r.id), encode(r), 0)
        .await
        .unwrap();
}

/// Polls (off the runtime thread) until `f` holds.
async fn eventually(what: &str, f: impl Fn() -> bool + Send + 'static) {
    let ok = tokio::task::spawn_blocking(move || {
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if f() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    })
    .await
    .unwrap();
    assert!(ok, "timed out waiting for {what}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_follow_the_store_over_udp_and_tcp() {
    let mut run = start(ServerOptions::default()).await;
    let addr = run.addr;
    let nx = udp_ask(addr, &query("web.service.shoal.", RecordType::A)).unwrap();
    assert_eq!(nx.response_code, ResponseCode::NXDomain);

    for i in 1..=40 {
        put(&run.store, &record(i, Health::Passing)).await;
    }
    put(&run.store, &record(41, Health::Critical)).await;
    eventually("40 SRV answers over TCP", move || {
        let mut s = TcpStream::connect(addr).unwrap();
        let m = tcp_ask(&mut s, &query("web.service.consul.", RecordType::SRV));
        m.answers.len() == 40 && !m.truncation
    })
    .await;

    let q = query("web.service.consul.", RecordType::SRV);
    let m = tokio::task::spawn_blocking(move || udp_ask(addr, &q))
        .await
        .unwrap()
        .unwrap();
    assert!(m.truncation, "40 SRV records do not fit 512 bytes");
    assert!(!m.answers.is_empty() && m.answers.len() < 40);
    let ports: Vec<String> = m.answers.iter().map(|r| r.data.to_string()).collect();
    assert!(
        !ports.iter().any(|p| p.contains(" 20041 ")),
        "critical never answered"
    );

    // A TCP connection answers several queries in a row.
    let mut s = TcpStream::connect(addr).unwrap();
    for _ in 0..3 {
        let m = tcp_ask(&mut s, &query("web.service.shoal.", RecordType::A));
        assert_eq!(m.answers.len(), 1);
    }

    run.stop.take().map(|s| s.send(()));
    tokio::time::timeout(Duration::from_secs(5), &mut run.server)
        .await
        .expect("server stops on shutdown")
        .unwrap();
    run.store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_does_not_stop_the_server() {
    let run = start(ServerOptions::default()).await;
    put(&run.store, &record(1, Health::Passing)).await;
    let addr = run.addr;
    let ok = tokio::task::spawn_blocking(move || {
        let s = UdpSocket::bind("127.0.0.1:0").unwrap();
        let mut seed = 0x9e3779b97f4a7c15u64;
        for i in 0..2000usize {
            let len = i % 700;
            let bytes: Vec<u8> = (0..len)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            let _ = s.send_to(&bytes, addr);
        }
        // Garbage over TCP too: a bogus length, then junk, then close.
        let mut t = TcpStream::connect(addr).unwrap();
        let _ = t.write_all(&[0x00, 0x20, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14]);
        drop(t);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Some(m) = udp_ask(addr, &query("web.service.shoal.", RecordType::A)) {
                if m.answers.len() == 1 {
                    return true;
                }
            }
        }
        false
    })
    .await
    .unwrap();
    assert!(ok, "a normal query is answered after the flood");
    run.store.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tcp_connections_are_capped_and_idle_ones_closed() {
    let run = start(ServerOptions {
        max_tcp_connections: 2,
        tcp_idle_timeout: Duration::from_millis(300),
        ..ServerOptions::default()
    })
    .await;
    let addr = run.addr;
    tokio::task::spawn_blocking(move || {
        let a = TcpStream::connect(addr).unwrap();
        let b = TcpStream::connect(addr).unwrap();
        std::thread::sleep(Duration::from_millis(100));
        // The third is closed at once: reading gives EOF long before the idle timeout.
        let mut c = TcpStream::connect(addr).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let start = Instant::now();
        let mut buf = [0u8; 1];
        assert!(matches!(c.read(&mut buf), Ok(0) | Err(_)));
        assert!(start.elapsed() < Duration::from_millis(250));
        // Idle ones are closed after the timeout, freeing their slots.
        for mut s in [a, b] {
            s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
            assert!(matches!(s.read(&mut buf), Ok(0) | Err(_)));
        }
        std::thread::sleep(Duration::from_millis(100));
        let mut d = TcpStream::connect(addr).unwrap();
        d.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let m = tcp_ask(&mut d, &query("nope.service.shoal.", RecordType::A));
        assert_eq!(m.response_code, ResponseCode::NXDomain);
    })
    .await
    .unwrap();
    run.store.close().await;
}
