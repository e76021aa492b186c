//! A [`Stack`]: one transport and the transforms on top of it, e.g. `net~shs`.

use std::fmt;
use std::sync::Arc;

use tracing::Instrument as _;

use crate::error::{Error, MismatchReason};
use crate::{
    Accepted, Address, Connection, ConnectionInfo, Direction, Identity, Section, Transform,
    Transport,
};

/// One protocol stack: a transport followed by zero or more transforms.
///
/// A stack dials addresses with exactly one section per plugin whose every section its plugins
/// accept, and runs every accepted stream through its transforms in the server role.
///
/// ```
/// # use ms_core::Stack;
/// # fn f(net: impl ms_core::Transport, shs: impl ms_core::Transform) {
/// let stack = Stack::new(net).with(shs);
/// assert_eq!(stack.name(), "net~shs");
/// # }
/// ```
#[derive(Clone)]
pub struct Stack {
    transport: Arc<dyn Transport>,
    transforms: Vec<Arc<dyn Transform>>,
}

impl Stack {
    /// A stack with only a transport.
    pub fn new(transport: impl Transport) -> Self {
        Self::from_shared(Arc::new(transport))
    }

    /// A stack with a shared transport.
    pub fn from_shared(transport: Arc<dyn Transport>) -> Self {
        Self {
            transport,
            transforms: Vec::new(),
        }
    }

    /// Adds a transform on top.
    pub fn with(self, transform: impl Transform) -> Self {
        self.with_shared(Arc::new(transform))
    }

    /// Adds a shared transform on top (one `shs` for several transports, say).
    pub fn with_shared(mut self, transform: Arc<dyn Transform>) -> Self {
        self.transforms.push(transform);
        self
    }

    /// The plugin names joined by `~`, e.g. `net~shs`.
    pub fn name(&self) -> String {
        let mut name = self.transport.name().to_owned();
        for t in &self.transforms {
            name.push('~');
            name.push_str(t.name());
        }
        name
    }

    /// The transport.
    pub fn transport(&self) -> &Arc<dyn Transport> {
        &self.transport
    }

    /// The transforms, bottom first.
    pub fn transforms(&self) -> &[Arc<dyn Transform>] {
        &self.transforms
    }

    /// Whether this stack can dial `address`, and if not, why.
    pub fn check(&self, address: &Address) -> Result<(), MismatchReason> {
        let sections = address.sections();
        self.transport
            .understands(address.transport())
            .map_err(|error| MismatchReason::Section {
                index: 0,
                error: error.offset_by(address.transport().offset()),
            })?;
        if sections.len() != self.transforms.len() + 1 {
            return Err(MismatchReason::SectionCount {
                expected: self.transforms.len() + 1,
                found: sections.len(),
            });
        }
        for (i, (transform, section)) in self.transforms.iter().zip(&sections[1..]).enumerate() {
            transform
                .understands(section)
                .map_err(|error| MismatchReason::Section {
                    index: i + 1,
                    error: error.offset_by(section.offset()),
                })?;
        }
        Ok(())
    }

    /// `address` (which [`check`](Self::check) accepted) spelled canonically, as each plugin
    /// prints its section ([`Transport::canonical`], [`Transform::canonical`]).
    pub fn canonical(&self, address: &Address) -> Address {
        let sections = address.sections();
        let mut out = Vec::with_capacity(sections.len());
        for (i, section) in sections.iter().enumerate() {
            let canonical = if i == 0 {
                self.transport.canonical(section)
            } else {
                self.transforms
                    .get(i - 1)
                    .and_then(|transform| transform.canonical(section))
            };
            out.push(canonical.unwrap_or_else(|| section.clone()));
        }
        Address::from_sections(out).unwrap_or_else(|| address.clone())
    }

    /// Dials `address` (which [`check`](Self::check) accepted): the transport, then every
    /// transform in the client role.
    pub async fn dial(&self, address: &Address) -> Result<Connection, Error> {
        let stack = self.name();
        let connected = self
            .transport
            .connect(address.transport())
            .await
            .map_err(|source| Error::Connect {
                stack: stack.clone(),
                address: address.to_string(),
                source,
            })?;
        let mut remote = Address::from_section(connected.remote);
        let mut stream = connected.stream;
        // The transport may know the peer already (QUIC, TLS); the last layer that says wins.
        let mut identity: Option<Identity> = connected.identity;
        for (transform, section) in self.transforms.iter().zip(address.transforms()) {
            let span = tracing::debug_span!("upgrade_outbound", transform = transform.name());
            let upgraded = transform
                .upgrade_outbound(stream, section)
                .instrument(span)
                .await
                .map_err(|source| Error::Transform {
                    stack: stack.clone(),
                    transform: transform.name().to_owned(),
                    address: format!("{remote}~{}:", transform.name()),
                    source,
                })?;
            stream = upgraded.stream;
            remote.push(upgraded.remote);
            identity = upgraded.identity.or(identity);
        }
        Ok(Connection::new(
            stream,
            ConnectionInfo {
                direction: Direction::Outbound,
                stack,
                remote_address: remote,
                identity,
            },
        ))
    }

    /// Runs an accepted stream through the transport's pending set-up and every transform in
    /// the server role.
    pub async fn upgrade_inbound(&self, accepted: Accepted) -> Result<Connection, Error> {
        let stack = self.name();
        let mut remote = Address::from_section(accepted.remote);
        let mut identity: Option<Identity> = accepted.identity;
        let mut stream = accepted.stream.await.map_err(|source| Error::Accept {
            stack: stack.clone(),
            address: remote.to_string(),
            source,
        })?;
        for transform in &self.transforms {
            let span = tracing::debug_span!("upgrade_inbound", transform = transform.name());
            let upgraded = transform
                .upgrade_inbound(stream)
                .instrument(span)
                .await
                .map_err(|source| Error::Transform {
                    stack: stack.clone(),
                    transform: transform.name().to_owned(),
                    address: format!("{remote}~{}:", transform.name()),
                    source,
                })?;
            stream = upgraded.stream;
            remote.push(upgraded.remote);
            identity = upgraded.identity.or(identity);
        }
        Ok(Connection::new(
            stream,
            ConnectionInfo {
                direction: Direction::Inbound,
                stack,
                remote_address: remote,
                identity,
            },
        ))
    }

    /// The sections the transforms advertise, or `None` if one of them advertises nothing.
    pub(crate) fn advertised_transforms(&self) -> Option<Vec<Section>> {
        self.transforms.iter().map(|t| t.advertise()).collect()
    }
}

impl fmt::Debug for Stack {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Stack({})", self.name())
    }
}
