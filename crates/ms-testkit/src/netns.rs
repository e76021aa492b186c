//! Hosts on one machine: Linux network namespaces joined by veth pairs, for system tests.
//!
//! A [`Netns`] is a network namespace with a unique name (`ms-<tag>-<pid>-<n>`) and its `lo` up;
//! [`veth`] joins two with a veth pair and gives each end an address; [`Netns::command`] runs a
//! program in it (`ip netns exec`), [`Netns::host_command`] also gives the program a private
//! directory (a tmpfs mounted over it in a mount namespace of its own, so that a unix socket or
//! a file there is on *that host's* disk only), and [`enter`] runs a program in the namespaces of
//! a running process (`nsenter`), i.e. on the same host. [`Netns::run`] runs a closure on a
//! thread inside the namespace, to bind sockets (a swarm, a listener) for the test's own
//! runtime: several nodes in separate namespaces in one test process. Dropping a `Netns` kills every process
//! still in it and deletes it, also when the test fails.
//!
//! Root only. [`available`] says whether a test can run, skipping with one line otherwise: not
//! root or not Linux is a skip even under [`REQUIRE_ALL`](crate::require::REQUIRE_ALL) (nothing
//! to install fixes it); missing `ip`, `unshare` or `nsenter`, or a namespace that cannot be
//! made although we are root, fails under it (CI runs as root and installs `iproute2`).
//!
//! ```no_run
//! use ms_testkit::netns::{self, Netns};
//!
//! let Some(()) = netns::available() else { return };
//! let a = Netns::new("a").unwrap();
//! let b = Netns::new("b").unwrap();
//! netns::veth(&a, &["10.77.1.1/24"], &b, &["10.77.1.2/24"]).unwrap();
//! let out = a.command("ip").args(["-4", "addr"]).output().unwrap();
//! assert!(String::from_utf8_lossy(&out.stdout).contains("10.77.1.1"));
//! ```

use std::ffi::OsStr;
use std::io;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::require;

static NEXT: AtomicU32 = AtomicU32::new(0);

fn next() -> u32 {
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Whether namespace tests can run here: Linux, root, `ip`, `unshare` and `nsenter` on `PATH`,
/// and a namespace can really be made. Otherwise skips (see the [module docs](self)).
#[track_caller]
pub fn available() -> Option<()> {
    if !cfg!(target_os = "linux") {
        return require::not_applicable("network namespaces are Linux only");
    }
    if !is_root() {
        return require::not_applicable("not root (network namespaces need CAP_SYS_ADMIN)");
    }
    for program in ["ip", "unshare", "nsenter"] {
        require::program(program)?;
    }
    match Netns::new("probe") {
        Ok(probe) => {
            drop(probe);
            Some(())
        }
        Err(e) => require::skip(&format!("cannot create a network namespace: {e}")),
    }
}

/// Whether the effective user is root (from `/proc/self/status`).
fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status").is_ok_and(|status| {
        status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|ids| ids.split_whitespace().nth(1).map(|euid| euid == "0"))
            .unwrap_or(false)
    })
}

/// Runs `program args`, an error with its stderr when it fails.
fn run(program: &str, args: &[&str]) -> io::Result<()> {
    let out = Command::new(program)
        .args(args)
        .stdin(Stdio::null())
        .output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(io::Error::other(format!(
            "`{program} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        )))
    }
}

/// A network namespace, deleted (with every process in it killed) when dropped.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates a namespace named `ms-<tag>-<pid>-<n>` and brings its `lo` up.
    pub fn new(tag: &str) -> io::Result<Self> {
        let name = format!("ms-{tag}-{}-{}", std::process::id(), next());
        if run("ip", &["netns", "add", &name]).is_err() {
            // Left by an earlier test process with our pid that was killed before its guards
            // ran: that process is gone, so the namespace is stale. Remove it and try again.
            drop(Self { name: name.clone() });
            run("ip", &["netns", "add", &name])?;
        }
        let ns = Self { name };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace's name (for `ip netns exec`, `ip -n`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip -n <name> args` (configure the namespace's links and addresses).
    pub fn ip(&self, args: &[&str]) -> io::Result<()> {
        let mut all = vec!["-n", self.name.as_str()];
        all.extend_from_slice(args);
        run("ip", &all)
    }

    /// `program` to run in this namespace (`ip netns exec <name> program`); add its arguments.
    pub fn command(&self, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &self.name]).arg(program);
        cmd
    }

    /// `program` to run in this namespace as a separate host: in a mount namespace of its own
    /// where `dir` (which must exist) is an empty tmpfs, so that what it writes there (a unix
    /// socket, a secret) is invisible to the rest of the machine. `program` replaces the
    /// wrapper processes: the child's id is the program's, for [`enter`].
    pub fn host_command(&self, dir: &Path, program: impl AsRef<OsStr>) -> Command {
        let mut cmd = self.command("unshare");
        cmd.args([
            "--mount",
            "--propagation",
            "private",
            "sh",
            "-c",
            r#"mount -t tmpfs ms-host "$0" && exec "$@""#,
        ])
        .arg(dir)
        .arg(program);
        cmd
    }

    /// Runs `f` on a thread that has entered this namespace, and returns what it returns.
    ///
    /// A socket belongs to the namespace it was created in and keeps to it wherever it is used
    /// later, so `f` can bind sockets for the test's own runtime: with a runtime's
    /// [`Handle`](tokio::runtime::Handle), `ns.run(|| handle.block_on(bind(...)))` makes a
    /// listener or a swarm that lives in the namespace while its tasks run on the test's
    /// runtime. Anything else `f` reads from the system (the interface list, `/proc/net`) is
    /// the namespace's too. Linux only; a panic in `f` is resumed here.
    #[cfg(target_os = "linux")]
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> io::Result<T> {
        use std::os::fd::AsFd as _;
        let path = Path::new("/run/netns").join(&self.name);
        std::thread::scope(|scope| {
            let thread = scope.spawn(move || {
                let file = std::fs::File::open(&path)?;
                rustix::thread::move_into_link_name_space(
                    file.as_fd(),
                    Some(rustix::thread::LinkNameSpaceType::Network),
                )
                .map_err(io::Error::from)?;
                Ok(f())
            });
            match thread.join() {
                Ok(result) => result,
                Err(panic) => std::panic::resume_unwind(panic),
            }
        })
    }

    /// The ids of the processes in this namespace.
    fn pids(&self) -> Vec<String> {
        Command::new("ip")
            .args(["netns", "pids", &self.name])
            .stderr(Stdio::null())
            .output()
            .map(|out| {
                String::from_utf8_lossy(&out.stdout)
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect()
            })
            .unwrap_or_default()
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        let pids = self.pids();
        if !pids.is_empty() {
            let _ = Command::new("kill")
                .arg("-KILL")
                .args(&pids)
                .stderr(Stdio::null())
                .status();
        }
        if let Err(e) = run("ip", &["netns", "del", &self.name]) {
            eprintln!("warning: could not delete a network namespace: {e}");
        }
    }
}

/// Joins `a` and `b` with a veth pair, gives each end its addresses (`10.77.1.1/24`,
/// `fd00:77:1::1/64`; IPv6 without duplicate address detection, so it is usable at once) and
/// brings both up.
pub fn veth(a: &Netns, a_addrs: &[&str], b: &Netns, b_addrs: &[&str]) -> io::Result<()> {
    // Unique on the machine (at most 15 bytes), although each end lives in its own namespace.
    let n = next();
    let pid = std::process::id() % 100_000;
    let (a_if, b_if) = (format!("v{pid}x{n}a"), format!("v{pid}x{n}b"));
    run(
        "ip",
        &[
            "link", "add", &a_if, "netns", &a.name, "type", "veth", "peer", "name", &b_if, "netns",
            &b.name,
        ],
    )?;
    for (ns, ifname, addrs) in [(a, &a_if, a_addrs), (b, &b_if, b_addrs)] {
        for addr in addrs {
            if addr.contains(':') {
                ns.ip(&["addr", "add", addr, "dev", ifname, "nodad"])?;
            } else {
                ns.ip(&["addr", "add", addr, "dev", ifname])?;
            }
        }
        ns.ip(&["link", "set", ifname, "up"])?;
    }
    Ok(())
}

/// `program` to run in the network and mount namespaces of the running process `pid` (on the
/// same host as it, [`Netns::host_command`]): `nsenter -t <pid> -m -n program`.
pub fn enter(pid: u32, program: impl AsRef<OsStr>) -> Command {
    let mut cmd = Command::new("nsenter");
    cmd.args(["-t", &pid.to_string(), "-m", "-n"]).arg(program);
    cmd
}
