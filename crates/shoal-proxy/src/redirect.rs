//! The plain-HTTP listener beside an HTTPS gateway: every request is answered
//! `308 Permanent Redirect` to the same host and path over HTTPS (the method and
//! body are kept by a 308), then the connection is closed.

use std::time::Duration;

use bytes::BytesMut;
use shoal_listen::{Budget, Share};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::headers::Known;
use crate::wire;

/// Connections open at once; more are refused with a `503`.
const MAX_CONNECTIONS: usize = 1024;
/// The whole request head must arrive within this.
const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
const MAX_HEAD: usize = 16 * 1024;

/// Where a request for `host` and `target` goes over HTTPS on `https_port`:
/// `https://HOST[:PORT]TARGET`, the port left out when it is 443. `None` when
/// the host is missing or not a host name or address.
pub fn location(host: Option<&str>, target: &str, https_port: u16) -> Option<String> {
    let host = host?.trim();
    // Drop the port the client used for plain HTTP; keep IPv6 brackets.
    let name = match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !name.ends_with(':') => {
            name
        }
        _ => host,
    };
    let valid = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._[]:".contains(&b));
    if !valid {
        return None;
    }
    let target = if target.starts_with('/') { target } else { "/" };
    Some(match https_port {
        443 => format!("https://{name}{target}"),
        p => format!("https://{name}:{p}{target}"),
    })
}

/// Answers every connection on `listener` with a redirect to `https_port` until `stop`.
pub async fn serve_redirect(
    listener: TcpListener,
    https_port: u16,
    stop: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(stop);
    let share = Share::new(Budget::process(), "redirect", MAX_CONNECTIONS, 1);
    let mut backoff = shoal_listen::AcceptBackoff::default();
    loop {
        let (stream, _) = tokio::select! {
            a = shoal_listen::accept(&listener, &mut backoff, "redirect") => a,
            () = &mut stop => return,
        };
        let Ok(admission) = share.admit() else {
            shoal_listen::refuse_http(stream);
            continue;
        };
        tokio::spawn(async move {
            let _ = tokio::time::timeout(HEAD_TIMEOUT, answer(stream, https_port)).await;
            drop(admission);
        });
    }
}

async fn answer(mut stream: TcpStream, https_port: u16) -> std::io::Result<()> {
    let mut buf = BytesMut::with_capacity(4096);
    let head = loop {
        match wire::parse_request(&mut buf) {
            Ok(Some(head)) => break Some(head),
            Ok(None) if buf.len() <= MAX_HEAD => {}
            _ => break None,
        }
        if stream.read_buf(&mut buf).await? == 0 {
            return Ok(());
        }
    };
    let to = head.as_ref().and_then(|h| {
        let host = h
            .fields
            .known(Known::Host)
            .and_then(|v| std::str::from_utf8(v).ok())
            .or(h.uri.host());
        let target = h.uri.path_and_query().map_or("/", |p| p.as_str());
        location(host, target, https_port)
    });
    let reply = match to {
        Some(to) => format!(
            "HTTP/1.1 308 Permanent Redirect\r\nlocation: {to}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        ),
        None => {
            let body = r#"{"error":"bad-request","detail":"a request to the HTTPS redirect needs a valid Host header"}"#;
            format!(
                "HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            )
        }
    };
    stream.write_all(reply.as_bytes()).await?;
    stream.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::location;

    #[test]
    fn the_same_host_and_path_over_https() {
        assert_eq!(
            location(Some("example.com"), "/a?b=1", 443).as_deref(),
            Some("https://example.com/a?b=1")
        );
        assert_eq!(
            location(Some("example.com:8080"), "/a", 8443).as_deref(),
            Some("https://example.com:8443/a")
        );
        assert_eq!(
            location(Some("[::1]:80"), "/", 443).as_deref(),
            Some("https://[::1]/")
        );
        assert_eq!(
            location(Some("127.0.0.1"), "*", 443).as_deref(),
            Some("https://127.0.0.1/")
        );
    }

    #[test]
    fn a_missing_or_odd_host_gets_none() {
        assert_eq!(location(None, "/", 443), None);
        assert_eq!(location(Some(""), "/", 443), None);
        assert_eq!(location(Some("evil.com/x@y"), "/", 443), None);
        assert_eq!(location(Some("a b"), "/", 443), None);
    }
}
