//! A real SOCKS5 proxy for tests: `microsocks` (Debian package `microsocks`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::require;

/// A running `microsocks` on a free 127.0.0.1 port, killed when dropped.
///
/// The binary is found on `PATH`, or at the path in the `MICROSOCKS` environment variable
/// ([`require::program_or_env`]); when there is none, [`Microsocks::start`] returns `None` after
/// one line saying the test skipped (or fails the test under `MULTISERVER_REQUIRE_ALL=1`).
/// There is no way to hand microsocks a socket, so its port is picked before it binds it and
/// another test may take the port in between: a start counts only when the child still runs
/// and the port answers a SOCKS5 greeting, and is otherwise retried on another port.
///
/// ```no_run
/// # fn main() {
/// let Some(proxy) = ms_testkit::Microsocks::start() else {
///     return; // skipped: microsocks not found on PATH
/// };
/// println!("SOCKS5 proxy on {}", proxy.addr());
/// # }
/// ```
#[derive(Debug)]
pub struct Microsocks {
    child: Child,
    addr: SocketAddr,
}

impl Microsocks {
    /// Starts a proxy that needs no authentication; `None` when `microsocks` is not installed
    /// (the test should return: see [`require`]).
    ///
    /// # Panics
    ///
    /// If `microsocks` is installed but cannot be run or does not start in 20 attempts, or is
    /// missing under `MULTISERVER_REQUIRE_ALL=1`.
    #[track_caller]
    pub fn start() -> Option<Self> {
        Self::start_inner(None)
    }

    /// Starts a proxy that requires the username/password method with these credentials.
    ///
    /// # Panics
    ///
    /// As [`Microsocks::start`].
    #[track_caller]
    pub fn start_with_auth(user: &str, password: &str) -> Option<Self> {
        Self::start_inner(Some((user, password)))
    }

    /// The proxy's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    #[track_caller]
    fn start_inner(auth: Option<(&str, &str)>) -> Option<Self> {
        let binary = require::program_or_env("MICROSOCKS", "microsocks")?;
        for _ in 0..20 {
            if let Some(proxy) = Self::try_start(&binary, auth) {
                return Some(proxy);
            }
        }
        panic!("microsocks did not start on a free loopback port in 20 attempts");
    }

    fn try_start(binary: &Path, auth: Option<(&str, &str)>) -> Option<Self> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap_or_else(|e| panic!("cannot bind 127.0.0.1:0: {e}"))
            .port();
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let mut command = Command::new(binary);
        command
            .args(["-i", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        if let Some((user, password)) = auth {
            command.args(["-u", user, "-P", password]);
        }
        let child = command.spawn().unwrap_or_else(|e| {
            panic!(
                "cannot start `{}` ({e}): this test needs a real SOCKS5 proxy",
                binary.display()
            )
        });
        let mut proxy = Self { child, addr };
        for _ in 0..500 {
            if let Ok(Some(_)) = proxy.child.try_wait() {
                // It could not bind the port: taken in the meantime.
                return None;
            }
            match speaks_socks5(addr) {
                Some(true) => return Some(proxy),
                // Another test's listener holds the port.
                Some(false) => return None,
                None => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        panic!("microsocks did not start listening on {addr} in 5 s");
    }
}

impl Drop for Microsocks {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether the listener at `addr` answers a SOCKS5 greeting as a SOCKS5 server; `None` when
/// nothing accepts connections there.
fn speaks_socks5(addr: SocketAddr) -> Option<bool> {
    let mut tcp = TcpStream::connect(addr).ok()?;
    if tcp.set_read_timeout(Some(Duration::from_secs(2))).is_err() {
        return Some(false);
    }
    // Version 5, two methods offered: no authentication, username/password.
    let mut reply = [0u8; 2];
    let answered = tcp.write_all(&[5, 2, 0, 2]).is_ok() && tcp.read_exact(&mut reply).is_ok();
    Some(answered && reply[0] == 5)
}
