//! # ms-noauth: the `noauth` transform for multiserver
//!
//! `noauth` authenticates nothing and encrypts nothing: it sends no bytes and hands the stream
//! on unchanged, and it declares the peer to be **this node itself** (its
//! [`Identity`] carries the local public key), exactly as the JavaScript
//! reference does. It is meant for connections that only the machine's own user can open: a
//! unix socket with mode `0600`, or loopback TCP for local tools. Anyone who can open such a
//! connection gets the node's full authority.
//!
//! It advertises the section `noauth`, so a node's device address reads
//! `unix:/run/ssb/socket~noauth`. A connection's remote address ends with
//! `noauth:<base64 of the local key>`, as the reference's stream address.
//!
//! ```
//! use ms_core::{MultiServer, PublicKey, Scope, Stack};
//! use ms_net::Net;
//! use ms_noauth::{LocalTrust, Noauth};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let me = PublicKey([7; 32]);
//! let node = MultiServer::new([Stack::new(Net::new()).with(Noauth::new(me))])?;
//! let mut server = node.listen().await?;
//! let address = server.address(Scope::Device).to_string();
//! assert!(address.ends_with("~noauth"));
//!
//! let conn = node.connect(&address).await?;
//! assert_eq!(conn.remote_ed25519(), Some(&me));
//! assert!(conn.auth().and_then(|a| a.downcast_ref::<LocalTrust>()).is_some());
//! assert!(conn.remote_address().to_string().ends_with(&format!("~noauth:{}", me.to_base64())));
//! # let _ = server.accept().await;
//! # Ok(())
//! # }
//! ```
//!
//! ## Scopes
//!
//! A node refuses to build with a `noauth` stack whose transport serves anything but exactly
//! the `device` scope ([`NoauthError::NonDeviceScopes`]), unless the application opts in with
//! [`Noauth::allow_non_device_scopes`]; it then logs a warning at start-up. The reference
//! checks nothing.
//!
//! ## Addresses it claims
//!
//! Only sections named exactly `noauth` (`noauth`, or `noauth:<anything>` as printed in remote
//! addresses). The reference's `noauth` claims every section, so a `net~noauth` stack there
//! would dial `net:...~shs:...` addresses without a handshake; here it does not.

#![forbid(unsafe_code)]
#![cfg_attr(not(test), warn(clippy::unwrap_used, clippy::expect_used))]

use async_trait::async_trait;
use ms_core::{
    AuthValue, BoxError, BoxedIo, Identity, PublicKey, Scopes, Section, SectionError, Transform,
    Upgraded,
};

/// The protocol name, and the section it advertises.
pub const NAME: &str = "noauth";

/// The `noauth` transform.
///
/// ```
/// use ms_core::{PublicKey, Scopes, Transform};
/// use ms_noauth::Noauth;
///
/// let noauth = Noauth::new(PublicKey([1; 32]));
/// assert_eq!(noauth.name(), "noauth");
/// assert_eq!(noauth.advertise().unwrap().as_str(), "noauth");
/// assert!(noauth.check_stack(Scopes::DEVICE).is_ok());
/// assert!(noauth.check_stack(Scopes::DEVICE | Scopes::LOCAL).is_err());
/// ```
#[derive(Clone, Debug)]
pub struct Noauth {
    key: PublicKey,
    allowed: Scopes,
}

impl Noauth {
    /// A `noauth` transform for the node whose public key is `key`: every peer is taken to be
    /// that key. Only `device`-scoped transports are allowed.
    pub fn new(key: PublicKey) -> Self {
        Self {
            key,
            allowed: Scopes::DEVICE,
        }
    }

    /// Also allows transports serving `scopes` (besides `device`), knowing that anyone who can
    /// reach them is treated as this node itself. Use it only where something else restricts
    /// who can connect (a firewall, a network namespace). A warning is logged when a node is
    /// built with such a stack.
    ///
    /// ```
    /// use ms_core::{PublicKey, Scopes, Transform};
    /// use ms_noauth::Noauth;
    ///
    /// let noauth = Noauth::new(PublicKey([1; 32])).allow_non_device_scopes(Scopes::LOCAL);
    /// assert!(noauth.check_stack(Scopes::DEVICE | Scopes::LOCAL).is_ok());
    /// assert!(noauth.check_stack(Scopes::ALL).is_err());
    /// ```
    pub fn allow_non_device_scopes(mut self, scopes: Scopes) -> Self {
        self.allowed = self.allowed | scopes;
        self
    }

    /// The local key every peer is taken to be.
    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// The scopes a transport under this transform may serve.
    pub fn allowed_scopes(&self) -> Scopes {
        self.allowed
    }

    /// The stream unchanged; the peer is us. The remote section is `noauth:<our key>`, as the
    /// reference's stream address (base64 is always valid section text).
    fn upgraded(&self, stream: BoxedIo) -> Result<Upgraded, BoxError> {
        let remote = Section::from_parts(NAME, [self.key.to_base64()])?;
        Ok(Upgraded::new(stream, remote)
            .with_identity(Identity::new(self.key).with_auth(AuthValue::new(LocalTrust))))
    }
}

/// The [`auth`](ms_core::Connection::auth) value of a `noauth` connection: the peer was
/// trusted as this node itself, without any check.
///
/// ```
/// # fn f(conn: &ms_core::Connection) {
/// use ms_noauth::LocalTrust;
/// let trusted_locally = conn.auth().and_then(|a| a.downcast_ref::<LocalTrust>()).is_some();
/// # }
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalTrust;

/// Why `noauth` refuses a stack.
///
/// ```
/// use ms_core::{MultiServer, PublicKey, Scope, Stack};
/// use ms_net::Net;
/// use ms_noauth::Noauth;
///
/// let net = Net::builder().scope(Scope::Public).build()?;
/// let err = MultiServer::new([Stack::new(net).with(Noauth::new(PublicKey([1; 32])))]).unwrap_err();
/// assert!(err.to_string().contains("noauth"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NoauthError {
    /// The transport serves scopes beyond `device` and the application did not allow them.
    #[error(
        "noauth treats every peer as this node itself, so it runs on device-only transports; \
         this one serves `{scopes}` (allow it explicitly with Noauth::allow_non_device_scopes)"
    )]
    NonDeviceScopes {
        /// The transport's scopes.
        scopes: Scopes,
    },
}

impl ms_core::Classify for NoauthError {
    /// Always [`Configuration`](ms_core::ErrorKind::Configuration).
    fn kind(&self) -> ms_core::ErrorKind {
        ms_core::ErrorKind::Configuration
    }
}

#[async_trait]
impl Transform for Noauth {
    fn name(&self) -> &str {
        NAME
    }

    fn understands(&self, section: &Section) -> Result<(), SectionError> {
        if section.name() == NAME {
            Ok(())
        } else {
            Err(SectionError::WrongProtocol {
                expected: NAME,
                found: section.name().to_owned(),
            })
        }
    }

    fn advertise(&self) -> Option<Section> {
        Section::new(NAME).ok()
    }

    fn check_stack(&self, scopes: Scopes) -> Result<(), BoxError> {
        if scopes.is_device_only() {
            return Ok(());
        }
        let within = (scopes | self.allowed) == self.allowed && !scopes.is_empty();
        if within {
            tracing::warn!(
                %scopes,
                "noauth runs on a transport serving more than the device scope: \
                 anyone who can connect is treated as this node itself"
            );
            Ok(())
        } else {
            Err(Box::new(NoauthError::NonDeviceScopes { scopes }))
        }
    }

    async fn upgrade_inbound(&self, stream: BoxedIo) -> Result<Upgraded, BoxError> {
        tracing::debug!("noauth: inbound peer trusted as this node");
        self.upgraded(stream)
    }

    async fn upgrade_outbound(
        &self,
        stream: BoxedIo,
        section: &Section,
    ) -> Result<Upgraded, BoxError> {
        self.understands(section)?;
        tracing::debug!("noauth: outbound peer trusted as this node");
        self.upgraded(stream)
    }
}

/// The README's example compiles.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
