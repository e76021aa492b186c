//! Loopback TCP ports where connections are refused.
//!
//! The usual trick, binding a listener to port 0 and closing it, races with every other test
//! running at the same time: the kernel may hand the same port to another test's listener
//! before the connection that was meant to be refused is made, and then it is accepted. The
//! ports here stay bound (never listening) until the process exits, so no one else can listen
//! on them and every connection to them is refused.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Mutex;

use tokio::net::TcpSocket;

/// Sockets holding the reserved ports, for the life of the process.
static HELD: Mutex<Vec<TcpSocket>> = Mutex::new(Vec::new());

fn hold(sockets: impl IntoIterator<Item = TcpSocket>) {
    let mut held = HELD.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    held.extend(sockets);
}

fn bound(addr: SocketAddr) -> io::Result<TcpSocket> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    socket.bind(addr)?;
    Ok(socket)
}

/// A TCP port on `ip` where connections are refused for as long as the process runs.
///
/// # Panics
///
/// If no port can be bound on `ip` (for example `::1` on a machine without IPv6).
///
/// ```
/// let port = ms_testkit::refused_port("127.0.0.1".parse().unwrap());
/// assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
/// ```
pub fn refused_port(ip: IpAddr) -> u16 {
    let socket = bound(SocketAddr::new(ip, 0))
        .unwrap_or_else(|e| panic!("cannot bind a TCP socket on {ip}: {e}"));
    let port = socket
        .local_addr()
        .unwrap_or_else(|e| panic!("bound socket without an address: {e}"))
        .port();
    hold([socket]);
    port
}

/// A TCP port refused on 127.0.0.1 and, where IPv6 loopback exists, on ::1 too, for as long
/// as the process runs: for addresses naming `localhost`, which a resolver may map to either.
///
/// # Panics
///
/// If no port can be bound on 127.0.0.1.
pub fn refused_localhost_port() -> u16 {
    for _ in 0..100 {
        let v4 = bound(SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0))
            .unwrap_or_else(|e| panic!("cannot bind a TCP socket on 127.0.0.1: {e}"));
        let port = v4
            .local_addr()
            .unwrap_or_else(|e| panic!("bound socket without an address: {e}"))
            .port();
        match bound(SocketAddr::new(Ipv6Addr::LOCALHOST.into(), port)) {
            Ok(v6) => {
                hold([v4, v6]);
                return port;
            }
            // Taken on ::1 only: try another port.
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            // No IPv6 loopback here: nothing can listen on ::1 either.
            Err(_) => {
                hold([v4]);
                return port;
            }
        }
    }
    panic!("no TCP port free on both 127.0.0.1 and ::1 in 100 attempts");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connections_to_a_refused_port_are_refused() {
        let port = refused_localhost_port();
        let err = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
        // Nobody else can listen there while the process runs.
        assert!(std::net::TcpListener::bind(("127.0.0.1", port)).is_err());
    }
}

/// A loopback TCP address where a connect hangs: a listener that never accepts, with the
/// smallest backlog, filled, so the kernel drops further SYNs. Keep the value alive for as long
/// as the address must stay a black hole.
#[derive(Debug)]
pub struct BlackHole {
    /// Where a connect hangs.
    pub addr: SocketAddr,
    _listener: tokio::net::TcpListener,
    _fillers: Vec<tokio::net::TcpStream>,
}

/// A [`BlackHole`] on `ip`, or `None` (with a note on stderr) where the system never fills a
/// listen backlog or filling it fails.
///
/// # Panics
///
/// If no socket can be bound on `ip`.
pub async fn black_hole(ip: IpAddr) -> Option<BlackHole> {
    let socket = bound(SocketAddr::new(ip, 0)).expect("bind a black-hole listener");
    let listener = socket.listen(0).expect("listen with backlog 0");
    let addr = listener.local_addr().expect("black-hole address");
    let mut fillers = Vec::new();
    for _ in 0..64 {
        let connect = tokio::net::TcpStream::connect(addr);
        match tokio::time::timeout(std::time::Duration::from_millis(300), connect).await {
            Ok(Ok(stream)) => fillers.push(stream),
            Ok(Err(e)) => {
                eprintln!("note: filling the backlog failed ({e}); skipping the black-hole test");
                return None;
            }
            Err(_) => {
                return Some(BlackHole {
                    addr,
                    _listener: listener,
                    _fillers: fillers,
                });
            }
        }
    }
    eprintln!("note: this system never fills a listen backlog; skipping the black-hole test");
    None
}
