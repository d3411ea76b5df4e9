//! Consul's H2PING check: an HTTP/2 connection (TLS with ALPN `h2`, or cleartext with prior
//! knowledge) and one PING frame answered.

use tokio::io::{AsyncRead, AsyncWrite};

use super::{dial, split_host_port, tls, H2PingProbe, Report};

pub(crate) async fn check(p: &H2PingProbe) -> Report {
    let (host, port) = match split_host_port(&p.addr) {
        Ok(hp) => hp,
        Err(e) => return Report::critical(format!("Failed to dial to {}: {e}", p.addr)),
    };
    let tcp = match dial(&host, port).await {
        Ok(t) => t,
        Err(e) => {
            return Report::critical(format!(
                "Failed to dial to {}: dial tcp {}: {e}",
                p.addr, p.addr
            ))
        }
    };
    let pinged = if p.use_tls {
        match tls::connect(tcp, &host, &p.tls, &[b"h2"]).await {
            Ok(stream) => ping(stream).await,
            Err(e) => return Report::critical(format!("Failed to dial to {}: {e}", p.addr)),
        }
    } else {
        ping(tcp).await
    };
    match pinged {
        Ok(()) => Report::passing("HTTP2 ping was successful"),
        Err(e) => Report::critical(format!("HTTP2 ping failed: {e}")),
    }
}

async fn ping<I>(io: I) -> Result<(), String>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (_client, mut connection) = h2::client::handshake(io).await.map_err(|e| e.to_string())?;
    let mut ping_pong = connection
        .ping_pong()
        .ok_or("the connection's PING handle was already taken")?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let pong = ping_pong.ping(h2::Ping::opaque()).await;
    driver.abort();
    pong.map(|_| ()).map_err(|e| e.to_string())
}
