//! The gateway's accept loop: HTTP/1.1 and h2c, graceful shutdown.

use std::convert::Infallible;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use http::{header, Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::forward::{client, forward, UpstreamClient};
use crate::respond::{shoal_answer, Body, Reason};
use crate::table::{RouteTable, Target};

/// Shared state of one gateway listener.
pub struct Gateway {
    table: Arc<ArcSwap<RouteTable>>,
    client: UpstreamClient,
    timeout: Duration,
}

impl Gateway {
    pub fn new(table: Arc<ArcSwap<RouteTable>>) -> Arc<Self> {
        Arc::new(Self {
            table,
            client: client(),
            timeout: Duration::from_secs(60),
        })
    }

    async fn handle(self: Arc<Self>, req: Request<Incoming>) -> Response<Body> {
        let table = self.table.load_full();
        let host = req
            .headers()
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri().host())
            .map(str::to_string);
        let service = match table.resolve(host.as_deref(), req.uri().path()) {
            Target::Service(name) => name.to_string(),
            Target::Unknown => {
                return shoal_answer(
                    Reason::NoRoute,
                    &format!(
                        "no service matches Host `{}` or path `{}`",
                        host.as_deref().unwrap_or(""),
                        req.uri().path()
                    ),
                )
            }
        };
        match table.services.get(&service) {
            Some(route) => forward(&self.client, route, req, self.timeout).await,
            None => shoal_answer(Reason::NoRoute, "service vanished"),
        }
    }
}

/// Serves the gateway on `listener` until `shutdown` resolves, then lets
/// in-flight requests finish.
pub async fn serve(
    listener: TcpListener,
    gateway: Arc<Gateway>,
    shutdown: impl Future<Output = ()> + Send,
) {
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let builder = auto::Builder::new(TokioExecutor::new());
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "gateway accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let gw = gateway.clone();
        let svc = service_fn(move |req| {
            let gw = gw.clone();
            async move { Ok::<_, Infallible>(gw.handle(req).await) }
        });
        let conn = builder.serve_connection(TokioIo::new(stream), svc);
        let conn = graceful.watch(conn.into_owned());
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "gateway connection ended with error");
            }
        });
    }
    let _ = tokio::time::timeout(Duration::from_secs(10), graceful.shutdown()).await;
}
