//! What a refused connection gets, at once and without a task: HTTP listeners
//! answer `503` with `Connection: close`, others just close. Accepting and
//! closing (rather than leaving it in the kernel's backlog) tells the client now.

use std::io::{Read, Write};

use tokio::net::TcpStream;

/// The whole answer to a refused HTTP connection.
const ANSWER: &[u8] = b"HTTP/1.1 503 Service Unavailable\r\n\
content-type: application/json\r\n\
x-shoal-reason: overloaded\r\n\
retry-after: 1\r\n\
connection: close\r\n\
content-length: 71\r\n\
\r\n\
{\"error\":\"overloaded\",\"detail\":\"too many open connections; retry soon\"}";

/// Bytes the client already sent that are read (and dropped) before closing:
/// closing with unread bytes would reset the connection, and lose the answer.
const DRAIN_BYTES: usize = 64 * 1024;

/// Answers `503` with `Connection: close` as far as the socket takes it without
/// waiting, then closes.
pub fn refuse_http(stream: TcpStream) {
    let Ok(mut std) = stream.into_std() else {
        return;
    };
    let mut scratch = [0u8; 4096];
    let mut drained = 0;
    while drained < DRAIN_BYTES {
        match std.read(&mut scratch) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
    let _ = std.write(ANSWER);
}

/// Closes a refused connection of a protocol without a way to say why.
pub fn refuse(stream: TcpStream) {
    drop(stream);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_says_its_own_length() {
        let text = std::str::from_utf8(ANSWER).expect("ascii");
        let (head, body) = text.split_once("\r\n\r\n").expect("a head");
        assert!(head.contains(&format!("content-length: {}", body.len())));
        assert!(body.starts_with('{') && body.ends_with('}'));
    }

    #[tokio::test]
    async fn a_refused_client_reads_503_and_the_close() {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let mut client = TcpStream::connect(addr).await.expect("connect");
        client
            .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            .await
            .expect("send");
        let (stream, _) = listener.accept().await.expect("accept");
        refuse_http(stream);
        let mut got = Vec::new();
        client.read_to_end(&mut got).await.expect("read");
        assert!(got.starts_with(b"HTTP/1.1 503 "), "{got:?}");
    }
}
