//! `PortAllocator`: hands out the `PORT`s of instances from the platform's range.

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, TcpListener};

/// Ports of `[start, end]` not held by an instance and bindable on 127.0.0.1.
///
/// Allocation goes round the range from just after the last port handed out, so
/// a port just released is not reused at once (its old connections may linger).
#[derive(Debug, Clone)]
pub struct PortAllocator {
    start: u16,
    end: u16,
    held: BTreeSet<u16>,
    next: u16,
}

impl PortAllocator {
    /// A range `start..=end`; empty when `start > end`.
    pub fn new(start: u16, end: u16) -> Self {
        PortAllocator {
            start,
            end,
            held: BTreeSet::new(),
            next: start,
        }
    }

    /// The next free port, marked held; `None` when every port is held or busy.
    ///
    /// "Free" is checked by binding 127.0.0.1:port and closing it at once, so
    /// another program may still take the port before the instance binds it.
    pub fn allocate(&mut self) -> Option<u16> {
        let found = self
            .candidates()
            .find(|port| !self.held.contains(port) && bindable(*port))?;
        self.held.insert(found);
        self.next = if found >= self.end {
            self.start
        } else {
            found + 1
        };
        Some(found)
    }

    /// Marks `port` as held without checking it (an instance adopted or restored).
    pub fn reserve(&mut self, port: u16) {
        self.held.insert(port);
    }

    /// Gives `port` back.
    pub fn release(&mut self, port: u16) {
        self.held.remove(&port);
    }

    pub fn is_held(&self, port: u16) -> bool {
        self.held.contains(&port)
    }

    /// Ports of the range in allocation order: from `next` to `end`, then from
    /// `start`. Both parts are empty when `start > end`.
    fn candidates(&self) -> impl Iterator<Item = u16> {
        let next = self.next.clamp(self.start, self.end.max(self.start));
        (next..=self.end).chain(self.start..next)
    }
}

fn bindable(port: u16) -> bool {
    TcpListener::bind((Ipv4Addr::LOCALHOST, port)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A port the OS just gave us, then released: very likely free.
    fn free_port() -> u16 {
        TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap_or(0)
    }

    #[test]
    fn hands_out_each_port_once() {
        let port = free_port();
        let mut ports = PortAllocator::new(port, port);
        assert_eq!(ports.allocate(), Some(port));
        assert!(ports.is_held(port));
        assert_eq!(ports.allocate(), None);
        ports.release(port);
        assert_eq!(ports.allocate(), Some(port));
    }

    #[test]
    fn an_empty_range_has_no_ports() {
        assert_eq!(PortAllocator::new(20_001, 20_000).allocate(), None);
    }

    #[test]
    fn reserved_ports_are_skipped() {
        let port = free_port();
        let mut ports = PortAllocator::new(port, port);
        ports.reserve(port);
        assert_eq!(ports.allocate(), None);
    }
}
