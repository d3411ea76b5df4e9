//! A TLS listener's connection: the handshake (bounded by the head timeout), then
//! HTTP/2 when the client chose `h2` by ALPN, else Shoal's HTTP/1.1 loop, both
//! over the TLS stream.

use std::sync::Arc;

use bytes::Bytes;
use shoal_listen::Admission;
use tokio::net::TcpStream;
use tokio::sync::watch;

use crate::pool::Pool;
use crate::server::Proxy;

/// Serves one accepted connection over TLS until it ends (see `h1::serve`, `h2::serve`).
pub(crate) async fn serve(
    proxy: Arc<Proxy>,
    acceptor: shoal_tls::TlsAcceptor,
    stream: TcpStream,
    caller: Arc<str>,
    pool: Pool,
    stop: watch::Receiver<bool>,
    admission: Admission,
) {
    let handshake = acceptor.accept(stream);
    let stream = match tokio::time::timeout(proxy.config.head_timeout, handshake).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "TLS handshake failed");
            proxy
                .tls_failed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return;
        }
        Err(_) => {
            tracing::debug!("TLS handshake timed out");
            proxy
                .tls_failed
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return;
        }
    };
    let h2 = stream.get_ref().1.alpn_protocol() == Some(shoal_tls::ALPN_H2);
    if h2 {
        crate::h2::serve(proxy, stream, Bytes::new(), caller, pool, stop, admission).await;
    } else {
        crate::h1::serve(proxy, stream, caller, pool, stop, admission).await;
    }
}
