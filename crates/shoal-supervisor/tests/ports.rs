//! Integration test of `PortAllocator` against a port another socket holds.

use std::net::TcpListener;

use shoal_supervisor::PortAllocator;

#[test]
fn skips_a_port_that_is_bound() {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let mut ports = PortAllocator::new(port, port);
    assert_eq!(ports.allocate(), None, "bound elsewhere");
    drop(listener);
    assert_eq!(ports.allocate(), Some(port));
}
