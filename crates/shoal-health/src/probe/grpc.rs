//! Consul's gRPC check: the standard health protocol (`grpc.health.v1.Health/Check`) over
//! HTTP/2, cleartext with prior knowledge or TLS (`GRPCUseTLS`, ALPN `h2`). SERVING is
//! passing; any other status, a gRPC error or a failed connection is critical.

use bytes::Bytes;
use http::{HeaderMap, Request};
use tokio::io::{AsyncRead, AsyncWrite};

use super::{dial, split_host_port, tls, GrpcProbe, Report};

const PATH: &str = "/grpc.health.v1.Health/Check";
/// A health answer is a few bytes; anything past this is not one.
const MAX_MESSAGE: usize = 64 * 1024;
/// `HealthCheckResponse.ServingStatus.SERVING`.
const SERVING: u64 = 1;

/// The name of a `ServingStatus` as grpc-go prints it.
pub(crate) fn status_name(status: u64) -> String {
    match status {
        0 => "UNKNOWN".into(),
        1 => "SERVING".into(),
        2 => "NOT_SERVING".into(),
        3 => "SERVICE_UNKNOWN".into(),
        n => n.to_string(),
    }
}

/// The name of a gRPC status code as grpc-go prints it (`code = NotFound`).
pub(crate) fn code_name(code: u32) -> String {
    const NAMES: [&str; 17] = [
        "OK",
        "Canceled",
        "Unknown",
        "InvalidArgument",
        "DeadlineExceeded",
        "NotFound",
        "AlreadyExists",
        "PermissionDenied",
        "ResourceExhausted",
        "FailedPrecondition",
        "Aborted",
        "OutOfRange",
        "Unimplemented",
        "Internal",
        "Unavailable",
        "DataLoss",
        "Unauthenticated",
    ];
    NAMES
        .get(code as usize)
        .map_or_else(|| format!("Code({code})"), |n| n.to_string())
}

/// A length-prefixed gRPC message holding `HealthCheckRequest { service }`.
pub(crate) fn encode_request(service: &str) -> Vec<u8> {
    let mut message = Vec::new();
    if !service.is_empty() {
        message.push(0x0a); // field 1, length-delimited
        put_varint(&mut message, service.len() as u64);
        message.extend_from_slice(service.as_bytes());
    }
    let mut frame = vec![0u8];
    frame.extend_from_slice(&(message.len() as u32).to_be_bytes());
    frame.extend_from_slice(&message);
    frame
}

fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn varint(buf: &[u8], at: &mut usize) -> Result<u64, String> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let b = *buf.get(*at).ok_or("truncated varint")?;
        *at += 1;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Ok(v);
        }
    }
    Err("varint too long".into())
}

/// The `status` of a length-prefixed `HealthCheckResponse` (0, UNKNOWN, when absent).
pub(crate) fn decode_response(frame: &[u8]) -> Result<u64, String> {
    let (head, message) = frame.split_at_checked(5).ok_or("short gRPC message")?;
    if head[0] != 0 {
        return Err("compressed gRPC message (no encoding was offered)".into());
    }
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    let message = message.get(..len).ok_or("truncated gRPC message")?;
    let (mut at, mut status) = (0, 0);
    while at < message.len() {
        let tag = varint(message, &mut at)?;
        match (tag >> 3, tag & 7) {
            (1, 0) => status = varint(message, &mut at)?,
            (_, 0) => {
                varint(message, &mut at)?;
            }
            (_, 1) => at += 8,
            (_, 2) => {
                let n = usize::try_from(varint(message, &mut at)?).map_err(|e| e.to_string())?;
                at = at.saturating_add(n);
            }
            (_, 5) => at += 4,
            (_, wire) => return Err(format!("unexpected protobuf wire type {wire}")),
        }
    }
    if at > message.len() {
        return Err("truncated protobuf field".into());
    }
    Ok(status)
}

/// `grpc-message` is percent-encoded.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1), bytes.get(i + 2)) {
            (b'%', Some(&h), Some(&l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push((hex(h).unwrap_or(0) * 16 + hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The gRPC status carried by `headers` (trailers, or headers of a trailers-only answer).
fn grpc_error(headers: &HeaderMap) -> Option<Result<(), String>> {
    let code = headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .parse::<u32>()
        .ok()?;
    if code == 0 {
        return Some(Ok(()));
    }
    let message = headers
        .get("grpc-message")
        .and_then(|v| v.to_str().ok())
        .map(percent_decode)
        .unwrap_or_default();
    Some(Err(format!(
        "rpc error: code = {} desc = {message}",
        code_name(code)
    )))
}

pub(crate) async fn check(p: &GrpcProbe) -> Report {
    let (server, service) = p.target.split_once('/').unwrap_or((&p.target, ""));
    let unavailable = |e: String| {
        Report::critical(format!(
            "rpc error: code = Unavailable desc = connection error: {e}"
        ))
    };
    let (host, port) = match split_host_port(server) {
        Ok(hp) => hp,
        Err(e) => return unavailable(e),
    };
    let tcp = match dial(&host, port).await {
        Ok(t) => t,
        Err(e) => return unavailable(format!("dial tcp {server}: {e}")),
    };
    let called = if p.use_tls {
        match tls::connect(tcp, &host, &p.tls, &[b"h2"]).await {
            Ok(stream) => call(stream, "https", server, service).await,
            Err(e) => return unavailable(e),
        }
    } else {
        call(tcp, "http", server, service).await
    };
    match called {
        Ok(SERVING) => Report::passing(format!("gRPC check {}: success", p.target)),
        Ok(status) => Report::critical(format!(
            "gRPC {} serving status: {}",
            p.target,
            status_name(status)
        )),
        Err(e) => Report::critical(e),
    }
}

/// One `Health/Check` call on a new HTTP/2 connection: the serving status.
async fn call<I>(io: I, scheme: &str, authority: &str, service: &str) -> Result<u64, String>
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let h2_err = |e: h2::Error| format!("rpc error: code = Unavailable desc = {e}");
    let (client, connection) = h2::client::handshake(io).await.map_err(h2_err)?;
    let driver = tokio::spawn(async move {
        let _ = connection.await;
    });
    let result = async {
        let mut client = client.ready().await.map_err(h2_err)?;
        let request = Request::post(format!("{scheme}://{authority}{PATH}"))
            .header("content-type", "application/grpc")
            .header("te", "trailers")
            .header("user-agent", "Consul Health Check")
            .body(())
            .map_err(|e| format!("rpc error: code = Internal desc = {e}"))?;
        let (response, mut send) = client.send_request(request, false).map_err(h2_err)?;
        send.send_data(Bytes::from(encode_request(service)), true)
            .map_err(h2_err)?;
        let (parts, mut body) = response.await.map_err(h2_err)?.into_parts();
        if parts.status != http::StatusCode::OK {
            return Err(format!(
                "rpc error: code = Unknown desc = unexpected HTTP status code received from server: {}",
                parts.status
            ));
        }
        if let Some(result) = grpc_error(&parts.headers) {
            result?; // trailers-only answer
        }
        let mut message = Vec::new();
        while let Some(chunk) = body.data().await {
            let chunk = chunk.map_err(h2_err)?;
            let _ = body.flow_control().release_capacity(chunk.len());
            message.extend_from_slice(&chunk);
            if message.len() > MAX_MESSAGE {
                return Err("rpc error: code = ResourceExhausted desc = answer too large".into());
            }
        }
        let trailers = body.trailers().await.map_err(h2_err)?.unwrap_or_default();
        match grpc_error(&trailers) {
            Some(Err(e)) => Err(e),
            Some(Ok(())) => decode_response(&message)
                .map_err(|e| format!("rpc error: code = Internal desc = {e}")),
            None => Err("rpc error: code = Internal desc = server closed the stream without sending trailers".into()),
        }
    }
    .await;
    driver.abort();
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_are_length_prefixed_protobuf() {
        assert_eq!(encode_request(""), vec![0, 0, 0, 0, 0]);
        assert_eq!(
            encode_request("db"),
            vec![0, 0, 0, 0, 4, 0x0a, 2, b'd', b'b']
        );
    }

    #[test]
    fn responses_decode_their_status() {
        assert_eq!(decode_response(&[0, 0, 0, 0, 2, 0x08, 1]), Ok(1));
        assert_eq!(decode_response(&[0, 0, 0, 0, 2, 0x08, 2]), Ok(2));
        assert_eq!(decode_response(&[0, 0, 0, 0, 0]), Ok(0));
        // Unknown fields are skipped.
        assert_eq!(
            decode_response(&[0, 0, 0, 0, 6, 0x12, 2, b'h', b'i', 0x08, 1]),
            Ok(1)
        );
        assert!(decode_response(&[0, 0, 0]).is_err());
        assert!(decode_response(&[1, 0, 0, 0, 2, 0x08, 1]).is_err());
        assert!(decode_response(&[0, 0, 0, 0, 9, 0x08, 1]).is_err());
        assert!(decode_response(&[0, 0, 0, 0, 2, 0x12, 9]).is_err());
    }

    #[test]
    fn names_follow_grpc_go() {
        assert_eq!(status_name(2), "NOT_SERVING");
        assert_eq!(code_name(5), "NotFound");
        assert_eq!(code_name(99), "Code(99)");
        assert_eq!(percent_decode("unknown%20service"), "unknown service");
        let mut h = HeaderMap::new();
        h.insert("grpc-status", http::HeaderValue::from_static("5"));
        h.insert(
            "grpc-message",
            http::HeaderValue::from_static("unknown%20service"),
        );
        assert_eq!(
            grpc_error(&h),
            Some(Err(
                "rpc error: code = NotFound desc = unknown service".into()
            ))
        );
    }
}
