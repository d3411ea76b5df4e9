//! An HTTP/2 server (the `h2` crate, h2c or TLS) implementing `grpc.health.v1.Health/Check`
//! by the protocol's rules: service "" SERVING, "db" NOT_SERVING, any other unknown
//! (NOT_FOUND, trailers-only). PINGs are answered by the HTTP/2 layer itself.
#![allow(clippy::expect_used)]

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Response};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use super::Server;

/// The service name of a length-prefixed `HealthCheckRequest`.
fn service_of(frame: &[u8]) -> String {
    let message = frame.get(5..).unwrap_or_default();
    match message {
        [0x0a, len, rest @ ..] => {
            String::from_utf8_lossy(rest.get(..*len as usize).unwrap_or_default()).into_owned()
        }
        _ => String::new(),
    }
}

async fn serve<I>(io: I)
where
    I: AsyncRead + AsyncWrite + Unpin,
{
    let Ok(mut conn) = h2::server::handshake(io).await else {
        return;
    };
    while let Some(Ok((request, mut respond))) = conn.accept().await {
        let (parts, mut body) = request.into_parts();
        let mut frame = Vec::new();
        while let Some(Ok(chunk)) = body.data().await {
            let _ = body.flow_control().release_capacity(chunk.len());
            frame.extend_from_slice(&chunk);
        }
        let ok_head = || {
            Response::builder()
                .header("content-type", "application/grpc")
                .body(())
                .expect("response")
        };
        if parts.uri.path() != "/grpc.health.v1.Health/Check" {
            let head = Response::builder()
                .header("content-type", "application/grpc")
                .header("grpc-status", "12")
                .body(())
                .expect("response");
            let _ = respond.send_response(head, true);
            continue;
        }
        let status: u8 = match service_of(&frame).as_str() {
            "" => 1,
            "db" => 2,
            _ => {
                let head = Response::builder()
                    .header("content-type", "application/grpc")
                    .header("grpc-status", "5")
                    .header("grpc-message", "unknown%20service")
                    .body(())
                    .expect("response");
                let _ = respond.send_response(head, true);
                continue;
            }
        };
        let Ok(mut send) = respond.send_response(ok_head(), false) else {
            continue;
        };
        let _ = send.send_data(Bytes::from(vec![0, 0, 0, 0, 2, 0x08, status]), false);
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", http::HeaderValue::from_static("0"));
        let _ = send.send_trailers(trailers);
    }
}

/// The health server, h2c (prior knowledge) or behind TLS offering ALPN `h2`.
pub async fn health_server(tls: Option<TlsAcceptor>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let sni = Arc::new(Mutex::new(Vec::new()));
    let task = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let tls = tls.clone();
            tokio::spawn(async move {
                match tls {
                    None => serve(tcp).await,
                    Some(acceptor) => {
                        if let Ok(stream) = acceptor.accept(tcp).await {
                            serve(stream).await;
                        }
                    }
                }
            });
        }
    });
    Server { addr, sni, task }
}
