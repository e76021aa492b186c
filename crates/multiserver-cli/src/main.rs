//! `multiserver`: run a Secure Scuttlebutt multiserver node, dial any multiserver address like
//! netcat, take addresses apart, and make identities. See `docs/cli.md`.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

mod addr;
mod announce;
mod config;
mod connect;
mod dht;
mod error;
mod keys;
mod plugins;
mod pump;
mod serve;

use std::ffi::OsString;
use std::io::IsTerminal as _;
use std::net::{SocketAddr, ToSocketAddrs as _};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};

use crate::error::Failure;

const EXAMPLES: &str = "\
Examples:
  multiserver serve                      # serve net~shs :8008, ws~shs :8989, unix~noauth
  multiserver connect 'net:127.0.0.1:8008~shs:<key>'   # a netcat for multiserver addresses
  multiserver addr 'net:example.org:8008~shs:<key>;ws://example.org:8989~shs:<key>'
  multiserver keygen --secret ./secret
  multiserver dht --bootstrap 'quic:192.0.2.1:7000~shs:<key>' --get greeting
  multiserver completions bash > ~/.local/share/bash-completion/completions/multiserver
  multiserver man --dir ~/.local/share/man/man1      # then: man multiserver-serve

Exit status: 0 success, 1 failure (cannot connect, cannot listen, ...), 2 invalid input
(malformed address or flag); a failure is one line on stderr starting `multiserver:`. Files:
the secret and the unix socket live in the configuration directory: --config-dir, else
$MULTISERVER_CONFIG_DIR, else $XDG_CONFIG_HOME/multiserver, else ~/.config/multiserver.";

/// Run a Secure Scuttlebutt multiserver node, and dial multiserver addresses like netcat.
///
/// A multiserver address lists ways to reach a node: `;` separates alternatives, `~` the
/// sections of one protocol stack (a transport, then transforms), `:` a section's arguments:
/// `net:example.org:8008~shs:<key>;ws://example.org:8989~shs:<key>`.
#[derive(Debug, Parser)]
#[command(name = "multiserver", version, after_help = EXAMPLES)]
struct Cli {
    /// More logging on stderr: -v, -vv, -vvv ($RUST_LOG, when set, decides instead).
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    verbose: u8,

    /// The directory of the default secret and unix socket [default: $MULTISERVER_CONFIG_DIR,
    /// else $XDG_CONFIG_HOME/multiserver, else ~/.config/multiserver].
    #[arg(long, value_name = "DIR", global = true)]
    config_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Keygen(KeygenArgs),
    Serve(ServeArgs),
    Connect(ConnectArgs),
    Addr(AddrArgs),
    Dht(DhtArgs),
    Completions(CompletionsArgs),
    Man(ManArgs),
}

/// Write a new SSB secret file and print its id.
///
/// The file is what ssb-keys writes (JSON with the Ed25519 key pair, mode 0600); an existing
/// file is never overwritten. The id, `@<base64>.ed25519`, is printed on stdout.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  multiserver keygen                     # ~/.config/multiserver/secret
  multiserver keygen --secret ./alice    # prints @...=.ed25519")]
struct KeygenArgs {
    /// The secret file to write [default: <config dir>/secret].
    #[arg(long, value_name = "PATH")]
    secret: Option<PathBuf>,
}

/// Run a node: serve the stacks, print the address for each scope, log connections.
///
/// Default stacks: net~shs on 0.0.0.0:8008, ws~shs on 0.0.0.0:8989, unix~noauth on
/// <config dir>/socket, with the SSB main-network app key and the identity in the secret file
/// (created on first run). Once listening, prints one JSON line per scope on stdout, in this
/// order: {"scope":"device","address":"..."}, then local, then public (an empty address when
/// nothing is reachable from a scope). A TCP stack bound to a loopback address serves the
/// device scope only; bound to any other address (0.0.0.0, ::) it serves every scope and
/// announces the interface addresses reachable from each. The unix socket is device only.
///
/// Any client key is accepted unless --allow is given. Incoming data is printed on stdout as
/// it arrives (each connection is logged on stderr), or echoed back with --echo. stdout never
/// mixes the two: with --echo it carries the address lines; without, only peer bytes, and the
/// address lines go to stderr (or to --addresses FILE in either mode). Ctrl-C or SIGTERM stops
/// listening, ends every connection with a goodbye (and waits, 3 s at most, for the peer's end)
/// and exits 0.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  multiserver serve
  multiserver serve --echo --net 127.0.0.1:0 --no-ws --no-unix     # loopback, any free port
  multiserver serve --quic 0.0.0.0:8008                             # quic (UDP) beside net~shs
  multiserver serve --echo | head -1 | jq -r .address              # addresses on stdout
  multiserver serve --addresses ./addrs > received.bin             # peer bytes on stdout
  multiserver serve --allow @DTNmX+4SjsgZ7xyDh5xxmNtFqa6pWi5Qtw7cE8aR9TQ=.ed25519
  multiserver serve --app-key <base64 of a test network's caps.shs> --secret ./test-secret")]
struct ServeArgs {
    /// The secret file [default: <config dir>/secret, created if missing].
    #[arg(long, value_name = "PATH")]
    secret: Option<PathBuf>,

    /// The network key (SSB caps.shs), 32 bytes of base64 [default: the SSB main network's].
    #[arg(long, value_name = "B64", value_parser = keys::parse_app_key)]
    app_key: Option<ms_shs::NetworkKey>,

    /// Serve net~shs (TCP) on this address; port 0 picks a free port.
    #[arg(long, value_name = "HOST:PORT", default_value = "0.0.0.0:8008", value_parser = parse_listen_addr)]
    net: SocketAddr,

    /// Also serve quic (QUIC over UDP, authenticated by the same key and network key) on this
    /// address, advertised first: `quic:<host>:<port>:<key>;net:...~shs:<key>`. Peers that do
    /// not know quic (the JS reference) skip it and take net~shs.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_listen_addr)]
    quic: Option<SocketAddr>,

    /// Serve ws~shs (WebSocket) on this address; port 0 picks a free port.
    #[arg(long, value_name = "HOST:PORT", default_value = "0.0.0.0:8989", value_parser = parse_listen_addr)]
    ws: SocketAddr,

    /// Serve unix~noauth on this socket path [default: <config dir>/socket].
    #[arg(long, value_name = "PATH")]
    unix: Option<PathBuf>,

    /// Do not serve net~shs.
    #[arg(long)]
    no_net: bool,

    /// Do not serve ws~shs.
    #[arg(long)]
    no_ws: bool,

    /// Do not serve unix~noauth.
    #[arg(long)]
    no_unix: bool,

    /// Accept only this client key over shs (repeat for several): @<base64>.ed25519.
    #[arg(long, value_name = "ID", value_parser = keys::parse_allowed)]
    allow: Vec<ms_shs::PublicKey>,

    /// Echo every connection's bytes back to it, instead of printing them (stdout then
    /// carries the address lines).
    #[arg(long)]
    echo: bool,

    /// Write the three address lines to this file (created or truncated; a FIFO or
    /// /dev/fd/N works) instead of stdout (--echo) or stderr (without --echo).
    #[arg(long, value_name = "FILE")]
    addresses: Option<PathBuf>,
}

/// Connect to an address and copy stdin to it and it to stdout, like netcat.
///
/// Understands quic:<host>:<port>:<key> (authenticated by QUIC itself), and net, ws, wss, unix
/// and onion (through Tor's SOCKS proxy), each bare, with ~shs:<key>[:<seed>] or with ~noauth. The alternatives of the address are tried in order until one gets through. End of
/// stdin sends the shs goodbye (without shs: ends our side once the peer is quiet for 1 s, or
/// at once with -N); the command exits 0 once the peer has ended its side. Any failure prints one line on stderr, naming the address and the cause, and exits
/// non-zero (2 when the address is malformed or nothing here understands it, 1 otherwise).
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  echo hello | multiserver connect 'net:127.0.0.1:8008~shs:<key>'
  multiserver connect 'ws://localhost:8989~shs:<key>'
  multiserver connect unix:$HOME/.config/multiserver/socket~noauth
  multiserver connect 'net:a.example:8008~shs:<key>;onion:xyz.onion:8008~shs:<key>'")]
struct ConnectArgs {
    /// The multiserver address to dial (bytes that are not UTF-8 are reported with their
    /// position).
    #[arg(value_name = "ADDR")]
    address: OsString,

    /// The secret file [default: <config dir>/secret, created if missing and needed].
    #[arg(long, value_name = "PATH")]
    secret: Option<PathBuf>,

    /// The network key (SSB caps.shs), 32 bytes of base64 [default: the SSB main network's].
    #[arg(long, value_name = "B64", value_parser = keys::parse_app_key)]
    app_key: Option<ms_shs::NetworkKey>,

    /// Deadline of each dial attempt, handshake included, in seconds [default: 30].
    #[arg(long, value_name = "SECS", value_parser = parse_timeout, allow_negative_numbers = true)]
    timeout: Option<std::time::Duration>,

    /// SOCKS5 proxy (Tor) for onion: addresses, tried in order; repeatable [default:
    /// 127.0.0.1:9050 (tor), then 127.0.0.1:9150 (Tor Browser)].
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_listen_addr)]
    socks: Vec<SocketAddr>,

    /// On a stack without a goodbye (noauth, bare transports): end our sending side (TCP FIN)
    /// as soon as stdin ends, like OpenBSD `nc -N`. Without it, our side ends once the peer
    /// has been quiet for a second after the end of stdin: a peer that is not half-open (the
    /// JS reference) drops what it still had to send when our FIN arrives.
    #[arg(short = 'N', long)]
    half_close: bool,
}

/// Take an address apart: for each alternative, the installed stack that would dial it and
/// the scope it points into, or why it is not understood or was skipped.
///
/// Alternatives that do not parse are skipped, as `connect` skips them; an address with no
/// alternative that parses prints the error with its byte position on stderr and exits 2.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  multiserver addr 'net:example.org:8008~shs:DTNmX+4SjsgZ7xyDh5xxmNtFqa6pWi5Qtw7cE8aR9TQ='
  multiserver addr --json 'net:example.org:8008~shs:DTNmX+4SjsgZ7xyDh5xxmNtFqa6pWi5Qtw7cE8aR9TQ='
  multiserver addr 'net:host:8008~~shs:key'      # exit 2: empty section ... at byte 14")]
struct AddrArgs {
    /// The multiserver address.
    #[arg(value_name = "ADDR")]
    address: String,
    /// Print everything as one JSON object (sections, arguments, offsets, dial order).
    #[arg(long)]
    json: bool,
}

/// Run a DHT node (Kademlia over QUIC): join, publish, look up, or serve.
///
/// Binds a QUIC swarm on UDP (--quic) with the node's identity (the secret file, as serve) and
/// network key, prints its addresses as serve does (one JSON line per scope,
/// {"scope":"...","address":"quic:<ip>:<port>~shs:<key>;..."}, on stderr or in --addresses
/// FILE), then joins through every --bootstrap address. A key is text: its DHT key is the
/// SHA-256 of its UTF-8 bytes; values are text too, at most 1024 bytes.
///
/// With --put KEY=VALUE it publishes the value (republished every 12 hours, kept 24 hours by
/// the nodes that store it) and keeps serving. With --get KEY it looks the key up, again every
/// second until found, prints the value on stdout and exits 0; not found within --timeout it
/// exits 1 with one line. Otherwise it serves until Ctrl-C or SIGTERM and exits 0. With -v the
/// contacts of its routing table are logged (the nodes that answered it).
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  multiserver dht --quic 0.0.0.0:7000                               # serve
  multiserver dht --bootstrap 'quic:192.0.2.1:7000~shs:<key>' --put greeting=hello
  multiserver dht --bootstrap 'quic:192.0.2.1:7000~shs:<key>' --get greeting   # prints hello
  multiserver dht --addresses ./addrs --quic 127.0.0.1:0            # addresses in a file")]
struct DhtArgs {
    /// The secret file [default: <config dir>/secret, created if missing].
    #[arg(long, value_name = "PATH")]
    secret: Option<PathBuf>,

    /// The network key (SSB caps.shs), 32 bytes of base64 [default: the SSB main network's].
    #[arg(long, value_name = "B64", value_parser = keys::parse_app_key)]
    app_key: Option<ms_shs::NetworkKey>,

    /// The UDP address of the QUIC swarm; port 0 picks a free port. A wildcard announces the
    /// interface addresses of each scope.
    #[arg(long, value_name = "HOST:PORT", default_value = "0.0.0.0:0", value_parser = parse_listen_addr)]
    quic: SocketAddr,

    /// Join the DHT through this node: quic:<ip>:<port>~shs:<key>, or several alternatives
    /// separated by `;` (an address line as a node prints it); repeatable.
    #[arg(long, value_name = "ADDR", value_parser = dht::parse_bootstrap)]
    bootstrap: Vec<Vec<dht::DhtAddr>>,

    /// Publish VALUE under KEY and keep serving (and republishing); repeatable.
    #[arg(long, value_name = "KEY=VALUE", value_parser = dht::parse_put, conflicts_with = "get")]
    put: Vec<(String, String)>,

    /// Look KEY up, print its value on stdout and exit.
    #[arg(long, value_name = "KEY")]
    get: Option<String>,

    /// How long --get keeps looking, in seconds [default: 30].
    #[arg(long, value_name = "SECS", value_parser = parse_timeout, allow_negative_numbers = true, requires = "get")]
    timeout: Option<std::time::Duration>,

    /// Write the three address lines to this file (created or truncated) instead of stderr.
    #[arg(long, value_name = "FILE")]
    addresses: Option<PathBuf>,
}

/// Print a shell completion script on stdout.
///
/// Install it where the shell looks for completions (see docs/cli.md), e.g. for bash
/// `~/.local/share/bash-completion/completions/multiserver`, for zsh a file `_multiserver` in a
/// directory of `$fpath`, for fish `~/.config/fish/completions/multiserver.fish`.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  multiserver completions bash > ~/.local/share/bash-completion/completions/multiserver
  multiserver completions zsh > ~/.zfunc/_multiserver      # with fpath+=~/.zfunc
  multiserver completions fish > ~/.config/fish/completions/multiserver.fish")]
struct CompletionsArgs {
    /// The shell.
    #[arg(value_name = "SHELL")]
    shell: clap_complete::Shell,
}

/// Print the manual page (roff) on stdout, or write one page per command into a directory.
#[derive(Debug, Args)]
#[command(after_help = "\
Examples:
  multiserver man | man -l -                          # read it now
  multiserver man --dir ~/.local/share/man/man1       # multiserver.1, multiserver-serve.1, ...")]
struct ManArgs {
    /// Write multiserver.1 and a page per command (multiserver-serve.1, ...) into this
    /// directory (created if missing) instead of printing multiserver.1.
    #[arg(long, value_name = "DIR")]
    dir: Option<PathBuf>,
}

fn parse_listen_addr(text: &str) -> Result<SocketAddr, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let mut addrs = text
        .to_socket_addrs()
        .map_err(|e| format!("expected HOST:PORT, e.g. 0.0.0.0:8008 or [::]:8008 ({e})"))?;
    addrs
        .next()
        .ok_or_else(|| format!("`{text}` resolves to no address"))
}

fn parse_timeout(text: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = text
        .parse()
        .map_err(|_| format!("`{text}` is not a number of seconds"))?;
    if !(secs.is_finite() && secs > 0.0 && secs <= 86_400.0) {
        return Err("the timeout must be more than 0 and at most 86400 seconds".into());
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

/// Sets up logging on stderr: `RUST_LOG` when set and valid, else `default` raised by
/// `verbose`. An unusable `RUST_LOG` is reported on one line and replaced by the default.
fn init_logging(verbose: u8, default: &str) {
    use tracing_subscriber::EnvFilter;
    const LEVELS: [&str; 5] = ["error", "warn", "info", "debug", "trace"];
    let base = LEVELS.iter().position(|l| *l == default).unwrap_or(2);
    let level = LEVELS[(base + usize::from(verbose)).min(LEVELS.len() - 1)];
    let filter = match env_filter(std::env::var_os("RUST_LOG")) {
        Ok(Some(filter)) => filter,
        Ok(None) => EnvFilter::new(level),
        Err(why) => {
            error::notice(&format!(
                "warning: ignoring RUST_LOG: {why}; logging at the default level ({level})"
            ));
            EnvFilter::new(level)
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_target(verbose >= 2)
        .init();
}

/// The filter `RUST_LOG` asks for: `None` when unset or empty, an error (one line) when it is
/// not a valid filter.
fn env_filter(value: Option<OsString>) -> Result<Option<tracing_subscriber::EnvFilter>, String> {
    let Some(value) = value.filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let Some(text) = value.to_str() else {
        return Err(format!("{value:?} is not UTF-8"));
    };
    tracing_subscriber::EnvFilter::try_new(text)
        .map(Some)
        .map_err(|e| {
            format!(
                "{text:?} is not a valid filter ({})",
                error::one_line(&e.to_string())
            )
        })
}

/// Parses the command line; a usage error becomes one `multiserver:` line and exit 2, help and
/// version print as usual.
fn parse_args() -> Result<Cli, ExitCode> {
    use clap::error::ErrorKind;
    match Cli::try_parse() {
        Ok(cli) => Ok(cli),
        Err(e) => match e.kind() {
            ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                // Nothing sensible is left to do if stdout or stderr is gone.
                let _ = e.print();
                Err(ExitCode::from(
                    u8::try_from(e.exit_code()).unwrap_or(error::EXIT_USAGE),
                ))
            }
            _ => Err(Failure::usage(usage_message(&e)).report()),
        },
    }
}

/// clap's error as one line: its message and tips, without the usage and help pointers.
fn usage_message(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let parts: Vec<String> = rendered
        .split("\n\n")
        .map(error::one_line)
        .filter(|p| {
            !p.is_empty() && !p.starts_with("Usage:") && !p.starts_with("For more information")
        })
        .collect();
    let line = parts.join("; ");
    match line.strip_prefix("error: ") {
        Some(rest) => rest.to_owned(),
        None => line,
    }
}

/// Writes the completion script for `shell` on stdout.
fn completions(shell: clap_complete::Shell) -> Result<(), Failure> {
    use clap::CommandFactory as _;
    use std::io::Write as _;
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "multiserver", &mut script);
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&script)
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::runtime(format!("cannot write to stdout: {e}")))
}

/// Writes the manual page on stdout, or every page into `dir`.
fn manual(dir: Option<&PathBuf>) -> Result<(), Failure> {
    use clap::CommandFactory as _;
    use std::io::Write as _;
    let command = Cli::command();
    if let Some(dir) = dir {
        config::ensure_dir(dir)?;
        return clap_mangen::generate_to(command, dir).map_err(|e| {
            Failure::runtime(format!("cannot write pages to {}: {e}", dir.display()))
        });
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(command)
        .render(&mut page)
        .map_err(|e| Failure::runtime(format!("cannot render the manual page: {e}")))?;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(&page)
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::runtime(format!("cannot write to stdout: {e}")))
}

fn main() -> ExitCode {
    let cli = match parse_args() {
        Ok(cli) => cli,
        Err(code) => return code,
    };
    let default_level = match cli.command {
        Command::Serve(_) | Command::Dht(_) => "info",
        Command::Connect(_) => "error",
        Command::Keygen(_) | Command::Addr(_) | Command::Completions(_) | Command::Man(_) => "warn",
    };
    init_logging(cli.verbose, default_level);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return Failure::runtime(format!("cannot start the runtime: {e}")).report(),
    };
    let result = runtime.block_on(run(cli));
    // A blocking read of stdin may still be pending (connect): do not wait for it.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => failure.report(),
    }
}

async fn run(cli: Cli) -> Result<(), Failure> {
    let config_dir = || config::config_dir(cli.config_dir.as_ref());
    match cli.command {
        Command::Keygen(args) => {
            let path = keys::secret_path(args.secret.as_ref(), &config_dir()?);
            let keys = keys::create(&path)?;
            keys::announce_new(&keys, &path);
            error::print_line(&keys.public().to_string())?;
            Ok(())
        }
        Command::Addr(args) => addr::run(&args.address, args.json),
        Command::Completions(args) => completions(args.shell),
        Command::Man(args) => manual(args.dir.as_ref()),
        Command::Connect(args) => {
            // Shown in messages; the parser gets the bytes, so that bytes that are not UTF-8
            // are reported with their offset.
            let input = args.address.to_string_lossy();
            let address = addr::parse_bytes(args.address.as_encoded_bytes())
                .map_err(|e| addr::invalid_address(&input, &e))?;
            let app_key = args.app_key.unwrap_or(ms_shs::NetworkKey::MAINNET);
            let keys = if plugins::needs_identity(&address) {
                let path = keys::secret_path(args.secret.as_ref(), &config_dir()?);
                keys::load_or_create(&path)?
            } else {
                ms_shs::Keypair::generate()
                    .map_err(|e| Failure::runtime(format!("cannot generate a key pair: {e}")))?
            };
            let identity = plugins::Identity { keys, app_key };
            let node = plugins::client(&identity, args.timeout, &args.socks)?;
            let end = pump::EndOfInput {
                half_close: args.half_close,
                quiet: std::time::Duration::from_secs(1),
            };
            connect::run(&input, &address, &node, end).await
        }
        Command::Dht(args) => {
            let path = keys::secret_path(args.secret.as_ref(), &config_dir()?);
            let identity = plugins::Identity {
                keys: keys::load_or_create(&path)?,
                app_key: args.app_key.unwrap_or(ms_shs::NetworkKey::MAINNET),
            };
            let announcer =
                announce::Announcer::open(announce::destination(args.addresses.as_deref(), false))
                    .await?;
            let options = dht::Options {
                quic: args.quic,
                bootstrap: args.bootstrap.into_iter().flatten().collect(),
                put: args.put,
                get: args.get.map(|key| {
                    (
                        key,
                        args.timeout.unwrap_or(std::time::Duration::from_secs(30)),
                    )
                }),
            };
            dht::run(options, &identity, announcer).await
        }
        Command::Serve(args) => {
            let dir = config_dir()?;
            let path = keys::secret_path(args.secret.as_ref(), &dir);
            let keys = keys::load_or_create(&path)?;
            let identity = plugins::Identity {
                keys,
                app_key: args.app_key.unwrap_or(ms_shs::NetworkKey::MAINNET),
            };
            let unix = if args.no_unix {
                None
            } else {
                Some(match args.unix {
                    Some(p) => p,
                    None => {
                        config::ensure_dir(&dir)?;
                        dir.join(config::SOCKET_FILE)
                    }
                })
            };
            // Opened before listening: a bad path fails before any port is taken.
            let announcer = announce::Announcer::open(announce::destination(
                args.addresses.as_deref(),
                args.echo,
            ))
            .await?;
            let listen = plugins::Listen {
                net: (!args.no_net).then_some(args.net),
                quic: args.quic,
                ws: (!args.no_ws).then_some(args.ws),
                unix,
                allow: args.allow,
            };
            serve::run(&listen, &identity, args.echo, announcer).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn timeouts_are_positive_seconds() {
        assert_eq!(
            parse_timeout("1.5").unwrap(),
            std::time::Duration::from_millis(1500)
        );
        assert!(parse_timeout("0").is_err());
        assert!(parse_timeout("-1").is_err());
        assert!(parse_timeout("NaN").is_err());
        assert!(parse_timeout("x").is_err());
    }

    #[test]
    fn listen_addresses_take_ipv6() {
        assert_eq!(
            parse_listen_addr("[::]:8008").unwrap().to_string(),
            "[::]:8008"
        );
        assert!(parse_listen_addr("8008").is_err());
    }
}
