//! TCP check: the instance accepts a connection.

use std::net::SocketAddr;

use tokio::net::TcpStream;

use crate::outcome::CheckOutcome;

pub(crate) async fn check(addr: SocketAddr) -> CheckOutcome {
    match TcpStream::connect(addr).await {
        Ok(_) => CheckOutcome::Passing,
        Err(e) => CheckOutcome::Critical(format!("TCP connect {addr}: {e}")),
    }
}
