//! `multiserver dht`: a Kademlia node (ms-kad) over a QUIC swarm bound to UDP (ms-quicswarm).
//!
//! The node prints its addresses as `serve` does (one JSON line per scope, on stderr or in
//! `--addresses FILE`), joins through `--bootstrap` addresses, publishes `--put KEY=VALUE`,
//! and either looks `--get KEY` up (the value on stdout, exit 0; exit 1 when not found in
//! time) or serves until Ctrl-C or SIGTERM. A key's text is hashed (SHA-256 of its UTF-8
//! bytes) into the DHT's 256-bit key space.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use ms_core::Scope;
use ms_kad::{Kad, NodeId};
use ms_quicswarm::{QuicAddr, QuicSwarm};
use ms_swarm::Swarm as _;

use crate::announce::Announcer;
use crate::error::Failure;
use crate::plugins::Identity;

/// A QUIC swarm address over UDP, as the node prints its own.
pub type DhtAddr = QuicAddr<SocketAddr>;

/// How long `--get` waits between two lookups that found nothing.
const RETRY: Duration = Duration::from_secs(1);

/// What the command was asked to do.
#[derive(Debug)]
pub struct Options {
    /// The UDP address to bind.
    pub quic: SocketAddr,
    /// The addresses to join through (every alternative of every `--bootstrap`).
    pub bootstrap: Vec<DhtAddr>,
    /// The values to publish.
    pub put: Vec<(String, String)>,
    /// The key to look up, and how long to keep trying.
    pub get: Option<(String, Duration)>,
}

/// Parses one `--bootstrap` address: a QUIC swarm address, or several separated by `;` (an
/// address line as the node prints it).
pub fn parse_bootstrap(text: &str) -> Result<Vec<DhtAddr>, String> {
    let alternatives: Vec<DhtAddr> = text
        .split(';')
        .filter(|alt| !alt.is_empty())
        .map(|alt| {
            QuicAddr::parse_with(alt, |s| {
                s.parse::<SocketAddr>()
                    .map_err(|_| "not an IP socket address")
            })
            .map_err(|e| format!("{e} (expected quic:<ip>:<port>~shs:<key>)"))
        })
        .collect::<Result<_, _>>()?;
    if alternatives.is_empty() {
        return Err("an empty address".into());
    }
    Ok(alternatives)
}

/// Parses `--put KEY=VALUE` (the first `=` separates them; the value may hold more).
pub fn parse_put(text: &str) -> Result<(String, String), String> {
    let (key, value) = text
        .split_once('=')
        .ok_or_else(|| "expected KEY=VALUE".to_owned())?;
    if key.is_empty() {
        return Err("the key is empty".into());
    }
    let max = ms_kad::Config::default().max_value;
    if value.len() > max {
        return Err(format!(
            "the value has {} bytes, at most {max} are allowed",
            value.len()
        ));
    }
    Ok((key.to_owned(), value.to_owned()))
}

/// The DHT key of a key's text: SHA-256 of its UTF-8 bytes.
pub fn dht_key(text: &str) -> NodeId {
    NodeId::hash(text.as_bytes())
}

/// Runs the node: bind, announce, join, publish, then look up or serve until a signal.
pub async fn run(
    options: Options,
    identity: &Identity,
    announcer: Announcer,
) -> Result<(), Failure> {
    // Signal handlers first, as `serve` does.
    let stop = crate::serve::shutdown_signal()?;
    let config = ms_quicswarm::Config::default().with_network_key(identity.app_key);
    let swarm = QuicSwarm::bind(identity.keys.clone(), options.quic, config)
        .map_err(|e| Failure::runtime(format!("cannot bind quic {}: {e}", options.quic)))?;
    let bound = swarm
        .local_addrs()
        .first()
        .map(|a| *a.inner())
        .unwrap_or(options.quic);
    let key = identity.keys.public();
    announcer.announce(Scope::ALL.map(|scope| (scope, address_for(bound, key, scope))))?;
    let kad = Kad::new(swarm, ms_kad::Config::default())
        .map_err(|e| Failure::runtime(format!("cannot start the DHT node: {e}")))?;
    tracing::info!(id = %kad.id(), quic = %bound, "dht node up");

    let result = tokio::select! {
        signal = stop => {
            tracing::info!(%signal, "shutting down");
            Ok(())
        }
        result = work(&kad, &options) => result,
    };
    kad.shutdown();
    if let Err(error) = kad.swarm().close().await {
        tracing::debug!(%error, "closing the quic swarm");
    }
    result
}

/// Joins, publishes, then looks up (returning) or serves (forever: the caller stops it).
async fn work(kad: &Kad<QuicSwarm<SocketAddr>>, options: &Options) -> Result<(), Failure> {
    if !options.bootstrap.is_empty() {
        let answered = kad.bootstrap(&options.bootstrap).await.map_err(|e| {
            Failure::runtime(format!(
                "cannot join the DHT: {e} ({})",
                list(&options.bootstrap)
            ))
        })?;
        tracing::info!(
            answered,
            contacts = kad.table_len(),
            "joined the DHT through the bootstrap addresses"
        );
        log_contacts(kad);
    }
    for (key, value) in &options.put {
        let stored = kad
            .put(dht_key(key), Bytes::from(value.clone().into_bytes()))
            .await
            .map_err(|e| Failure::runtime(format!("cannot publish {key:?}: {e}")))?;
        tracing::info!(key = %key, stored, "published");
    }
    match &options.get {
        Some((key, timeout)) => get(kad, key, *timeout).await,
        None => {
            std::future::pending::<()>().await;
            Ok(())
        }
    }
}

/// Looks `key` up until found or `timeout` passes (the network may still be forming); prints
/// the value on stdout.
async fn get(
    kad: &Kad<QuicSwarm<SocketAddr>>,
    key: &str,
    timeout: Duration,
) -> Result<(), Failure> {
    let target = dht_key(key);
    let found = tokio::time::timeout(timeout, async {
        loop {
            let lookup = kad.get_lookup(target).await;
            tracing::info!(
                key = %key,
                found = lookup.value.is_some(),
                hops = lookup.hops,
                messages = lookup.messages,
                "lookup"
            );
            if let Some(found) = lookup.value {
                return found;
            }
            tokio::time::sleep(RETRY).await;
        }
    })
    .await;
    log_contacts(kad);
    match found {
        Ok(found) => {
            tracing::info!(key = %key, publisher = %found.publisher, "found");
            let mut line = found.value.to_vec();
            line.push(b'\n');
            write_stdout(&line)
        }
        Err(_) => Err(Failure::runtime(format!(
            "{key:?} not found in the DHT within {} s ({} contacts known)",
            timeout.as_secs_f64(),
            kad.table_len()
        ))),
    }
}

fn write_stdout(bytes: &[u8]) -> Result<(), Failure> {
    use std::io::Write as _;
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(bytes)
        .and_then(|()| stdout.flush())
        .map_err(|e| Failure::runtime(format!("cannot write to stdout: {e}")))
}

/// Logs every contact of the routing table (debug: `-v`): the nodes that answered this one.
fn log_contacts(kad: &Kad<QuicSwarm<SocketAddr>>) {
    let table = kad.table();
    for index in 0..ms_kad::ID_BITS {
        for contact in table.bucket(index) {
            tracing::debug!(id = %contact.id, address = %contact.addr, "contact");
        }
    }
}

/// The address line for `scope`: every IP the socket is reachable at from there, as
/// alternatives separated by `;` (empty when none).
fn address_for(bound: SocketAddr, key: ms_core::PublicKey, scope: Scope) -> String {
    ms_net::advertised_ips(bound, false, scope)
        .into_iter()
        .map(|ip| QuicAddr::new(SocketAddr::new(ip, bound.port()), key).to_string())
        .collect::<Vec<_>>()
        .join(";")
}

fn list(addrs: &[DhtAddr]) -> String {
    addrs
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bootstrap_addresses_take_alternatives() {
        let key = "DTNmX+4SjsgZ7xyDh5xxmNtFqa6pWi5Qtw7cE8aR9TQ=";
        let text = format!("quic:127.0.0.1:1~shs:{key};quic:[::1]:2~shs:{key}");
        let addrs = parse_bootstrap(&text).unwrap();
        assert_eq!(addrs.len(), 2);
        assert_eq!(addrs[1].inner().to_string(), "[::1]:2");
        assert!(parse_bootstrap("").is_err());
        assert!(parse_bootstrap("quic:host:1~shs:x").is_err());
        assert!(parse_bootstrap(&format!("net:127.0.0.1:1~shs:{key}")).is_err());
    }

    #[test]
    fn puts_split_at_the_first_equals_sign() {
        assert_eq!(
            parse_put("a=b=c").unwrap(),
            ("a".to_owned(), "b=c".to_owned())
        );
        assert!(parse_put("novalue").is_err());
        assert!(parse_put("=v").is_err());
        assert!(parse_put(&format!("k={}", "x".repeat(1025))).is_err());
    }

    #[test]
    fn keys_are_the_hash_of_their_text() {
        assert_eq!(dht_key("greeting"), NodeId::hash(b"greeting"));
        assert_ne!(dht_key("greeting"), dht_key("Greeting"));
    }
}
