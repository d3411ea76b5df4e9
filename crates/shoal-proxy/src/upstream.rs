//! The connection to an instance: TCP, or TLS over TCP for a service whose
//! instances only speak HTTPS (`[services.X.tls]`), and how such a service's
//! instances are reached ([`UpstreamTls`]: the CA or skip-verify, the name checked).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use bytes::BytesMut;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

/// A connection to an instance.
#[derive(Debug)]
pub(crate) enum Upstream {
    Tcp(TcpStream),
    /// Boxed: TLS state is large, and most connections are TCP.
    Tls(Box<TlsStream<TcpStream>>),
}

/// Bytes read at once from a TLS connection while a body streams (copied into the buffer).
const TLS_READ: usize = 16 * 1024;

impl Upstream {
    /// The TCP connection underneath.
    pub(crate) fn tcp(&self) -> &TcpStream {
        match self {
            Upstream::Tcp(s) => s,
            Upstream::Tls(s) => s.get_ref().0,
        }
    }

    /// Whether an idle connection can carry a request: the instance has not closed
    /// it or sent anything unasked. TCP: no syscall unless the socket turned
    /// readable. TLS: records that are not data (a TLS 1.3 session ticket) are
    /// taken in; data, an alert or the end mean the connection is done.
    pub(crate) fn is_open(&mut self) -> bool {
        let mut cx = Context::from_waker(Waker::noop());
        match self {
            Upstream::Tcp(s) => match s.poll_read_ready(&mut cx) {
                Poll::Pending => true,
                Poll::Ready(Err(_)) => false,
                Poll::Ready(Ok(())) => {
                    let mut probe = [0u8; 1];
                    matches!(s.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
                }
            },
            Upstream::Tls(s) => {
                let mut probe = [0u8; 1];
                let mut buf = ReadBuf::new(&mut probe);
                Pin::new(&mut **s).poll_read(&mut cx, &mut buf).is_pending()
            }
        }
    }

    /// Reads what is there into `buf` (which has room): `Ready(Ok(0))` at the end.
    pub(crate) fn poll_fill(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut BytesMut,
    ) -> Poll<io::Result<usize>> {
        match self {
            Upstream::Tcp(s) => loop {
                match s.poll_read_ready(cx) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(())) => {}
                }
                match s.try_read_buf(buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    other => return Poll::Ready(other),
                }
            },
            Upstream::Tls(s) => {
                let mut chunk = [0u8; TLS_READ];
                let mut read = ReadBuf::new(&mut chunk);
                match Pin::new(&mut **s).poll_read(cx, &mut read) {
                    Poll::Pending => Poll::Pending,
                    Poll::Ready(Err(e)) => Poll::Ready(Err(e)),
                    Poll::Ready(Ok(())) => {
                        buf.extend_from_slice(read.filled());
                        Poll::Ready(Ok(read.filled().len()))
                    }
                }
            }
        }
    }
}

impl AsyncRead for Upstream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Upstream::Tcp(s) => Pin::new(s).poll_read(cx, buf),
            Upstream::Tls(s) => Pin::new(&mut **s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Upstream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Upstream::Tcp(s) => Pin::new(s).poll_write(cx, buf),
            Upstream::Tls(s) => Pin::new(&mut **s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Upstream::Tcp(s) => Pin::new(s).poll_flush(cx),
            Upstream::Tls(s) => Pin::new(&mut **s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Upstream::Tcp(s) => Pin::new(s).poll_shutdown(cx),
            Upstream::Tls(s) => Pin::new(&mut **s).poll_shutdown(cx),
        }
    }
}

/// How the proxy reaches the instances of a service with `[services.X.tls]`.
pub struct UpstreamTls {
    /// What it was made from (a table rebuild keeps it while this is unchanged).
    pub(crate) spec: shoal_spec::ServiceTls,
    /// The client and the name sent and checked; or why there is none (a bad CA
    /// file): every connection then fails with that reason.
    client: Result<(tokio_rustls::TlsConnector, ServerName<'static>), String>,
}

impl std::fmt::Debug for UpstreamTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UpstreamTls")
            .field("spec", &self.spec)
            .field("usable", &self.client.is_ok())
            .finish()
    }
}

impl UpstreamTls {
    /// The client for `service`'s instances; [`UpstreamTls::check`] says whether it is usable.
    pub fn new(service: &str, spec: &shoal_spec::ServiceTls) -> Self {
        Self {
            spec: spec.clone(),
            client: client(service, spec),
        }
    }

    /// Why the instances cannot be reached (a CA file that cannot be read, a bad name).
    pub fn check(&self) -> Result<(), String> {
        self.client.as_ref().map(|_| ()).map_err(Clone::clone)
    }

    /// The TLS handshake over `tcp`.
    pub(crate) async fn connect(&self, tcp: TcpStream) -> Result<Upstream, String> {
        let (connector, name) = self.client.as_ref().map_err(Clone::clone)?;
        let tls = connector
            .connect(name.clone(), tcp)
            .await
            .map_err(|e| format!("TLS handshake: {e}"))?;
        Ok(Upstream::Tls(Box::new(tls)))
    }
}

fn client(
    service: &str,
    spec: &shoal_spec::ServiceTls,
) -> Result<(tokio_rustls::TlsConnector, ServerName<'static>), String> {
    let trust = match (&spec.ca, spec.skip_verify) {
        (_, true) => shoal_tls::Trust::AnyCertificate,
        (None, false) => shoal_tls::Trust::System,
        (Some(ca), false) => shoal_tls::Trust::Roots(
            shoal_tls::read_ca(ca).map_err(|e| format!("{}: {e}", spec.location))?,
        ),
    };
    let config = shoal_tls::client_config_for(&trust, &[shoal_tls::ALPN_HTTP11])
        .map_err(|e| format!("{}: {e}", spec.location))?;
    let name = spec
        .server_name
        .clone()
        .unwrap_or_else(|| service.to_owned());
    let name = ServerName::try_from(name.clone())
        .map_err(|e| format!("{}: invalid TLS server name {name:?}: {e}", spec.location))?;
    Ok((tokio_rustls::TlsConnector::from(Arc::new(config)), name))
}
