//! The API's listener: each connection served by hyper (HTTP/1.1 with half-close,
//! so a client that shuts its write side still gets its answer; h2c, or h2 over
//! TLS), plain or over TLS (the handshake within the head timeout), with head,
//! body and idle timeouts, inside the process's connection budget.
//!
//! Idle and head deadlines close a connection only while no request is in
//! flight, so blocking queries (`?index=&wait=`, up to 10 min) and event streams
//! are never cut; a client that stops reading an answer is, after the body
//! timeout. At shutdown, new connections stop and each open one ends after
//! what it is serving (as `axum::serve` did).

use std::convert::Infallible;
use std::future::Future;
use std::sync::OnceLock;
use std::time::Duration;

use axum::body::Body;
use axum::Router;
use hyper::body::Incoming;
use hyper::Request;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use shoal_listen::{Activity, Admission, Guarded, Share, Timeouts, Watched, Why};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use tower_service::Service;

/// After a timeout or a reclaim, how long a connection may take to finish writing.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The API's timeouts: [`Timeouts::HTTP`] with the environment's overrides, read once.
pub(crate) fn timeouts() -> Timeouts {
    static TIMEOUTS: OnceLock<Timeouts> = OnceLock::new();
    *TIMEOUTS.get_or_init(|| Timeouts::HTTP.from_env())
}

/// Serves `app` on `listener` until `shutdown` resolves and every connection ended.
pub(crate) async fn serve(
    listener: TcpListener,
    app: Router,
    share: Share,
    tls: Option<shoal_tls::TlsAcceptor>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let timeouts = timeouts();
    let (stop, stopping) = watch::channel(false);
    // Every connection task holds a sender; all are gone once every task ended.
    let (running, mut ended) = mpsc::channel::<()>(1);
    let mut backoff = shoal_listen::AcceptBackoff::default();
    tokio::pin!(shutdown);
    loop {
        let (stream, _peer) = tokio::select! {
            conn = shoal_listen::accept(&listener, &mut backoff, "api") => conn,
            () = &mut shutdown => break,
        };
        match share.admit() {
            Ok(admission) => {
                let _ = stream.set_nodelay(true);
                let (app, stopping, running) = (app.clone(), stopping.clone(), running.clone());
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        None => connection(stream, admission, app, timeouts, stopping).await,
                        Some(acceptor) => {
                            let handshake = acceptor.accept(stream);
                            match tokio::time::timeout(timeouts.head, handshake).await {
                                Ok(Ok(s)) => {
                                    connection(s, admission, app, timeouts, stopping).await
                                }
                                Ok(Err(e)) => {
                                    tracing::debug!(error = %e, "api: TLS handshake failed")
                                }
                                Err(_) => tracing::debug!("api: TLS handshake timed out"),
                            }
                        }
                    }
                    drop(running);
                });
            }
            Err(_) => shoal_listen::refuse_http(stream),
        }
    }
    drop(listener);
    stop.send_replace(true);
    drop(running);
    let _ = ended.recv().await;
}

/// Serves one connection until it closes, a deadline or a reclaim ends it, or shutdown.
async fn connection<S>(
    stream: S,
    admission: Admission,
    app: Router,
    timeouts: Timeouts,
    mut stop: watch::Receiver<bool>,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let activity = Activity::new(admission.slot().clone(), timeouts);
    let service = {
        let activity = activity.clone();
        hyper::service::service_fn(move |req: Request<Incoming>| {
            let in_flight = activity.begin();
            let answer = app.clone().call(req.map(Body::new));
            async move {
                let answer = match answer.await {
                    Ok(a) => a,
                    Err(never) => match never {},
                };
                Ok::<_, Infallible>(answer.map(|body| Guarded::new(body, in_flight)))
            }
        })
    };
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .half_close(true)
        .timer(TokioTimer::new())
        // A backstop only: the watch below closes first.
        .header_read_timeout(timeouts.idle + timeouts.head);
    let io = TokioIo::new(Watched::new(stream, activity.clone()));
    let conn = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(conn);
    let mut shutting_down = false;
    loop {
        tokio::select! {
            served = conn.as_mut() => {
                if let Err(e) = served {
                    tracing::debug!(error = %e, "api connection ended with an error");
                }
                break;
            }
            why = shoal_listen::watch(&activity) => {
                tracing::debug!(?why, "api connection closed");
                if why != Why::Stalled {
                    conn.as_mut().graceful_shutdown();
                    let _ = tokio::time::timeout(CLOSE_GRACE, conn.as_mut()).await;
                }
                break;
            }
            () = stopped(&mut stop), if !shutting_down => {
                shutting_down = true;
                conn.as_mut().graceful_shutdown();
            }
        }
    }
    drop(admission);
}

async fn stopped(stop: &mut watch::Receiver<bool>) {
    drop(stop.wait_for(|s| *s).await);
}
