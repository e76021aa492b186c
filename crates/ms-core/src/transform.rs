//! The [`Transform`] trait: every section after the first.

use std::fmt;

use async_trait::async_trait;

use crate::{BoxError, BoxedIo, Identity, Scopes, Section, SectionError};

/// A layer on top of a transport's stream: authentication and encryption (`shs`), the
/// device-only pseudo-authentication `noauth`, or anything else that turns one byte stream into
/// another.
///
/// A transform must never panic on bytes from the network, and must bound every wait that a
/// peer controls (a handshake deadline).
#[async_trait]
pub trait Transform: Send + Sync + 'static {
    /// The protocol name, e.g. `shs`; it is also the name of the sections the transform claims.
    fn name(&self) -> &str;

    /// Whether this transform can dial with `section` (e.g. `shs:<key>` has a valid key).
    ///
    /// [`SectionError::WrongProtocol`] means "not mine". A transform must not claim another
    /// transform's sections: a `~noauth` stack must never grab a `~shs` address.
    fn understands(&self, section: &Section) -> Result<(), SectionError>;

    /// The canonical spelling of a section this transform understands (for `shs`, keys in
    /// standard base64 with padding), for showing to people; `None` (the default) when the
    /// section is already canonical or the transform has no canonical form.
    fn canonical(&self, section: &Section) -> Option<Section> {
        let _ = section;
        None
    }

    /// The section this transform adds to the node's advertised addresses, e.g.
    /// `shs:<own key>`. `None` hides every address of the stacks that use it.
    fn advertise(&self) -> Option<Section>;

    /// Checks that this transform may run on a transport serving `scopes`; called when a node
    /// is built. `noauth` refuses anything wider than `device` unless told otherwise.
    fn check_stack(&self, scopes: Scopes) -> Result<(), BoxError> {
        let _ = scopes;
        Ok(())
    }

    /// Upgrades an accepted stream (the server role).
    async fn upgrade_inbound(&self, stream: BoxedIo) -> Result<Upgraded, BoxError>;

    /// Upgrades a dialled stream (the client role), given the peer's section for this
    /// transform (e.g. `shs:<server key>`).
    async fn upgrade_outbound(
        &self,
        stream: BoxedIo,
        section: &Section,
    ) -> Result<Upgraded, BoxError>;
}

/// The result of a transform.
///
/// Built with [`Upgraded::new`] (and [`with_identity`](Self::with_identity)); outside
/// `ms-core` the fields can be read but not set by a struct literal.
#[non_exhaustive]
pub struct Upgraded {
    /// The new stream.
    pub stream: BoxedIo,
    /// This layer's view of the peer as a section, appended to the connection's remote
    /// address, e.g. `shs:<remote key>`.
    pub remote: Section,
    /// Who the peer is, if this layer established it. It replaces what a lower layer (the
    /// transport or an earlier transform) said; `None` keeps it.
    pub identity: Option<Identity>,
}

impl Upgraded {
    /// The upgraded stream and this layer's view of the peer, with no identity.
    pub fn new(stream: BoxedIo, remote: Section) -> Self {
        Self {
            stream,
            remote,
            identity: None,
        }
    }

    /// Says who the peer is, as this layer established it.
    #[must_use]
    pub fn with_identity(mut self, identity: Identity) -> Self {
        self.identity = Some(identity);
        self
    }
}

impl fmt::Debug for Upgraded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Upgraded")
            .field("remote", &self.remote)
            .field("identity", &self.identity)
            .finish_non_exhaustive()
    }
}
