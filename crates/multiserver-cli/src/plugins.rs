//! The stacks the command serves and dials with, built from the plugin crates.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ms_core::{AuthValue, MultiServer, Scope, Stack, Transform};
use ms_net::Net;
use ms_noauth::Noauth;
use ms_onion::OnionTransport;
use ms_quic::{Quic, QuicIdentity};
use ms_shs::{Keypair, NetworkKey, PublicKey, Shs};
use ms_ws::WsTransport;

use crate::error::Failure;

/// Who this node is: its key pair and the network it belongs to.
pub struct Identity {
    /// The long-term key pair (the `secret` file).
    pub keys: Keypair,
    /// The network (app) key; peers with another one cannot complete the handshake.
    pub app_key: NetworkKey,
}

/// What `serve` listens on.
#[derive(Debug, Clone)]
pub struct Listen {
    /// `net~shs` on this address, if any.
    pub net: Option<SocketAddr>,
    /// `quic` (UDP; the QUIC handshake authenticates) on this address, if any. Served first,
    /// so it is the first alternative of every advertised address.
    pub quic: Option<SocketAddr>,
    /// `ws~shs` on this address, if any.
    pub ws: Option<SocketAddr>,
    /// `unix~noauth` on this socket path, if any.
    pub unix: Option<PathBuf>,
    /// When not empty, only these keys may connect over `shs`.
    pub allow: Vec<PublicKey>,
}

/// The scopes a TCP listener bound to `addr` serves: a loopback address is reachable from
/// this device only; any other address (the wildcard included) serves every scope, and the
/// listener announces, per scope, the interface addresses it is reachable from there.
pub fn scopes_for(addr: SocketAddr) -> Vec<Scope> {
    if addr.ip().is_loopback() {
        vec![Scope::Device]
    } else {
        Scope::ALL.to_vec()
    }
}

impl Identity {
    /// The public key, as `ms-core` names it.
    pub fn public_key(&self) -> ms_core::PublicKey {
        ms_core::PublicKey(*self.keys.public().as_bytes())
    }

    /// The `shs` transform for this identity; with `allow` not empty, only those clients are
    /// accepted. `timeout` replaces the plugin's handshake deadline (5 s).
    fn shs(&self, allow: &[PublicKey], timeout: Option<Duration>) -> Arc<dyn Transform> {
        let mut shs = Shs::new(self.keys.clone()).network_key(self.app_key);
        if let Some(timeout) = timeout {
            shs = shs.timeout(timeout);
        }
        let shs = if allow.is_empty() {
            shs
        } else {
            let allow: Arc<[PublicKey]> = allow.into();
            shs.authorize(move |client| {
                let allowed = allow.contains(&client);
                async move {
                    if allowed {
                        Some(AuthValue::new(client))
                    } else {
                        tracing::info!(%client, "refused: not in --allow");
                        None
                    }
                }
            })
        };
        Arc::new(shs)
    }

    /// The `quic` transport for this identity, accepting only `allow` when not empty.
    fn quic(
        &self,
        bind: Option<SocketAddr>,
        allow: &[PublicKey],
        timeout: Option<Duration>,
    ) -> Result<Quic, String> {
        let identity = QuicIdentity::new(&self.keys, self.app_key).map_err(|e| e.to_string())?;
        let mut quic = Quic::builder(identity);
        if let Some(addr) = bind {
            quic = quic
                .host(addr.ip())
                .port(addr.port())
                .scopes(scopes_for(addr));
        }
        if let Some(timeout) = timeout {
            quic = quic.connect_timeout(timeout);
        }
        if !allow.is_empty() {
            let allow: Arc<[PublicKey]> = allow.into();
            quic = quic.authorize(move |client| {
                let allowed = allow.contains(client);
                if !allowed {
                    tracing::info!(%client, "refused: not in --allow");
                }
                allowed
            });
        }
        quic.build().map_err(|e| e.to_string())
    }

    /// The `noauth` transform: a peer is trusted as this node itself.
    fn noauth(&self) -> Arc<dyn Transform> {
        Arc::new(Noauth::new(self.public_key()))
    }
}

/// The node `serve` runs.
pub fn server(listen: &Listen, identity: &Identity) -> Result<MultiServer, Failure> {
    let shs = identity.shs(&listen.allow, None);
    let mut builder = MultiServer::builder();
    if let Some(addr) = listen.quic {
        let quic = identity
            .quic(Some(addr), &listen.allow, None)
            .map_err(|e| Failure::usage(format!("--quic {addr}: {e}")))?;
        builder = builder.stack(Stack::new(quic));
    }
    if let Some(addr) = listen.net {
        let net = Net::builder()
            .host(addr.ip())
            .port(addr.port())
            .scopes(scopes_for(addr))
            .build()
            .map_err(|e| Failure::usage(format!("--net {addr}: {e}")))?;
        builder = builder.stack(Stack::new(net).with_shared(shs.clone()));
    }
    if let Some(addr) = listen.ws {
        let ws = WsTransport::builder()
            .host(addr.ip())
            .port(addr.port())
            .scopes(scopes_for(addr))
            .build()
            .map_err(|e| Failure::usage(format!("--ws {addr}: {e}")))?;
        builder = builder.stack(Stack::new(ws).with_shared(shs.clone()));
    }
    #[cfg(unix)]
    if let Some(path) = &listen.unix {
        let unix = ms_unix::Unix::new(path)
            .map_err(|e| Failure::usage(format!("--unix {}: {e}", path.display())))?;
        builder = builder.stack(Stack::new(unix).with_shared(identity.noauth()));
    }
    builder
        .build()
        .map_err(|e| Failure::usage(format!("nothing to serve: {e}")))
}

/// The node `connect` and `addr` dial with: every stack the plugins can form: `quic`, then for
/// each transport (`net`, `ws` (which also dials `wss`), `unix`, `onion`), in this order:
/// `<transport>~shs`, `<transport>~noauth`, `<transport>`. `socks` replaces the Tor proxies
/// `onion` goes through, when not empty.
pub fn client(
    identity: &Identity,
    dial_timeout: Option<Duration>,
    socks: &[SocketAddr],
) -> Result<MultiServer, Failure> {
    let shs = identity.shs(&[], dial_timeout);
    // Under shs, ending our side sends the box-stream goodbye and leaves the transport open
    // until the peer closes (ms-shs does that), so the peer's reply arrives even over
    // transports that cannot half-close (WebSockets, Tor).
    let three = |transport: Arc<dyn ms_core::Transport>| {
        // noauth refuses transports that serve more than the device scope (onion serves
        // `public`); this node only dials, so that guard against serving does not apply.
        let noauth = Noauth::new(identity.public_key()).allow_non_device_scopes(transport.scopes());
        [
            Stack::from_shared(transport.clone()).with_shared(shs.clone()),
            Stack::from_shared(transport.clone()).with(noauth),
            Stack::from_shared(transport),
        ]
    };
    let mut builder = MultiServer::builder();
    if let Some(timeout) = dial_timeout {
        builder = builder.dial_timeout(timeout);
    }
    // `quic` authenticates in its own handshake: no transform follows it.
    let quic = identity
        .quic(None, &[], dial_timeout)
        .map_err(|e| Failure::runtime(format!("quic plugin: {e}")))?;
    builder = builder.stack(Stack::new(quic));
    let mut net = Net::builder();
    if let Some(timeout) = dial_timeout {
        net = net.connect_timeout(timeout);
    }
    let net = net
        .build()
        .map_err(|e| Failure::runtime(format!("net plugin: {e}")))?;
    for stack in three(Arc::new(net)) {
        builder = builder.stack(stack);
    }
    let mut ws = WsTransport::builder();
    if let Some(timeout) = dial_timeout {
        ws = ws.connect_timeout(timeout);
    }
    let ws = ws
        .build()
        .map_err(|e| Failure::runtime(format!("ws plugin: {e}")))?;
    for stack in three(Arc::new(ws)) {
        builder = builder.stack(stack);
    }
    #[cfg(unix)]
    {
        let mut unix = ms_unix::Unix::builder();
        if let Some(timeout) = dial_timeout {
            unix = unix.connect_timeout(timeout);
        }
        let unix = unix
            .build()
            .map_err(|e| Failure::runtime(format!("unix plugin: {e}")))?;
        for stack in three(Arc::new(unix)) {
            builder = builder.stack(stack);
        }
    }
    let mut onion = OnionTransport::new();
    if !socks.is_empty() {
        onion = onion.with_proxies(socks.iter().copied());
    }
    if let Some(timeout) = dial_timeout {
        onion = onion.with_connect_timeout(timeout);
    }
    for stack in three(Arc::new(onion)) {
        builder = builder.stack(stack);
    }
    // Building checks each transform against its transport's scopes; `onion~noauth` passes
    // with a warning meant for servers. This node never listens: keep stderr quiet.
    tracing::subscriber::with_default(tracing::subscriber::NoSubscriber::default(), || {
        builder.build()
    })
    .map_err(|e| Failure::runtime(format!("cannot build the client stacks: {e}")))
}

/// Whether dialling `address` needs this node's identity (an `shs` or `noauth` section, or a
/// `quic` transport, whose handshake presents our key).
pub fn needs_identity(address: &ms_core::MultiAddress) -> bool {
    address.alternatives().iter().any(|a| {
        a.transport().name() == "quic"
            || a.transforms()
                .iter()
                .any(|s| matches!(s.name(), "shs" | "noauth"))
    })
}
