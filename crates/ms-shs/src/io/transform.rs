//! [`Shs`]: secret-handshake as a multiserver [`Transform`] (the `shs` section).
//!
//! Sections look like `shs:<base64 server key>[:<base64 invite seed>]`. Parsing follows the JS
//! reference (spec §3.5): the key must decode to 32 bytes, the optional seed too; base64 is
//! decoded leniently (URL-safe alphabet and missing padding are accepted, as Node does); further
//! arguments are ignored. Unlike the JS, a missing key is an error rather than an exception.
//!
//! With a seed, the dialler authenticates as the key pair derived from it instead of its own
//! identity: that is how SSB invites work.
//!
//! Errors from `upgrade_*` are [`HandshakeError`]s inside the [`BoxError`], classified (see
//! [`ms_core::Classify`]); downcast [`ms_core::Error::plugin_error`] to match on them.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ms_core::{AuthValue, BoxError, Identity, Section, SectionError, Transform, Upgraded};
use zeroize::Zeroizing;

use crate::error::HandshakeError;
use crate::io::handshake::{HandshakeOptions, client_handshake, server_handshake};
use crate::keys::{Keypair, NetworkKey, PublicKey, decode_base64_lenient};

/// The protocol name, and the name of the sections it claims.
pub const NAME: &str = "shs";

/// The future an [`Authorize`] callback returns.
pub type AuthFuture = Pin<Box<dyn Future<Output = Option<AuthValue>> + Send>>;

/// Decides whether a client that proved its identity may connect. `Some(value)` accepts it and
/// the value travels with the connection ([`ms_core::Connection::auth`]); `None` rejects it.
pub type Authorize = Arc<dyn Fn(PublicKey) -> AuthFuture + Send + Sync>;

/// What a parsed `shs:` section asks for.
#[derive(Clone, PartialEq, Eq)]
pub struct ShsTarget {
    /// The server's long-term public key.
    pub server: PublicKey,
    /// The invite seed to authenticate with instead of our own identity, if any.
    pub seed: Option<Zeroizing<[u8; 32]>>,
}

impl fmt::Debug for ShsTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ShsTarget")
            .field("server", &self.server)
            .field("seed", &self.seed.as_ref().map(|_| "<secret>"))
            .finish()
    }
}

impl ShsTarget {
    /// Parses a `shs:<key>[:<seed>]` section.
    ///
    /// ```
    /// use ms_core::Section;
    /// use ms_shs::transform::ShsTarget;
    ///
    /// let section = Section::new("shs:/8C4ofSxTZiGCxyzlu1Ei671txpSgXINpRNrmcWxgAk=")?;
    /// let target = ShsTarget::parse(&section)?;
    /// assert_eq!(target.server.to_base64(), "/8C4ofSxTZiGCxyzlu1Ei671txpSgXINpRNrmcWxgAk=");
    /// assert!(target.seed.is_none());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn parse(section: &Section) -> Result<Self, SectionError> {
        if section.name() != NAME {
            return Err(SectionError::WrongProtocol {
                expected: NAME,
                found: section.name().to_owned(),
            });
        }
        let mut at = NAME.len() + 1;
        let mut args = section.args();
        let key_text = args.next().unwrap_or_default();
        if key_text.is_empty() {
            return Err(SectionError::Missing {
                what: "public key",
                after: NAME,
                at: NAME.len(),
            });
        }
        let server = decode_32(key_text, "public key", at)?;
        at += key_text.len() + 1;
        let seed = match args.next() {
            None => None,
            Some(seed_text) => Some(Zeroizing::new(decode_32(seed_text, "seed", at)?)),
        };
        Ok(Self {
            server: PublicKey::from_bytes(server),
            seed,
        })
    }
}

impl ShsTarget {
    /// The canonical section: `shs:<key>[:<seed>]`, each in standard base64 with padding (as
    /// the reference prints keys). Arguments after the seed, which the reference ignores, are
    /// dropped.
    ///
    /// ```
    /// use ms_core::Section;
    /// use ms_shs::transform::ShsTarget;
    ///
    /// let pasted = Section::new("shs:@/8C4ofSxTZiGCxyzlu1Ei671txpSgXINpRNrmcWxgAk=.ed25519")?;
    /// let canonical = ShsTarget::parse(&pasted)?.to_section()?;
    /// assert_eq!(canonical.as_str(), "shs:/8C4ofSxTZiGCxyzlu1Ei671txpSgXINpRNrmcWxgAk=");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn to_section(&self) -> Result<Section, ms_core::AddressError> {
        let mut args = vec![self.server.to_base64()];
        if let Some(seed) = &self.seed {
            use base64::Engine as _;
            args.push(base64::engine::general_purpose::STANDARD.encode(seed.as_slice()));
        }
        Section::from_parts(NAME, args)
    }
}

fn decode_32(text: &str, what: &'static str, at: usize) -> Result<[u8; 32], SectionError> {
    let invalid = |reason| SectionError::Invalid {
        what,
        value: text.chars().take(64).collect(),
        reason,
        at,
    };
    let bytes = Zeroizing::new(decode_base64_lenient(text));
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| invalid("does not decode to 32 bytes"))
}

/// The `shs` transform: secret-handshake authentication and box-stream encryption.
///
/// ```
/// use ms_core::{Section, Transform};
/// use ms_shs::{Keypair, Shs};
///
/// let keys = Keypair::from_seed(&[1; 32]);
/// let shs = Shs::new(keys.clone());
/// assert_eq!(shs.advertise().unwrap().as_str(), format!("shs:{}", keys.public().to_base64()));
/// assert!(shs.understands(&Section::new("net:localhost:8008")?).unwrap_err().is_wrong_protocol());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Shs {
    keypair: Keypair,
    options: HandshakeOptions,
    authorize: Authorize,
    max_frame_body: usize,
    frame_timeout: Option<Duration>,
}

impl Shs {
    /// An `shs` transform for identity `keypair` on the main network, with the default 5 s
    /// handshake deadline, accepting every client that completes the handshake (its auth value
    /// is its [`PublicKey`]). Restrict that with [`authorize`](Self::authorize).
    pub fn new(keypair: Keypair) -> Self {
        Self {
            keypair,
            options: HandshakeOptions::default(),
            authorize: Arc::new(|client| Box::pin(async move { Some(AuthValue::new(client)) })),
            max_frame_body: crate::proto::boxstream::MAX_BODY_LEN,
            frame_timeout: Some(crate::io::stream::DEFAULT_FRAME_TIMEOUT),
        }
    }

    /// Uses another network key (the JS `appKey` / `caps.shs`).
    pub fn network_key(mut self, key: NetworkKey) -> Self {
        self.options.network_key = key;
        self
    }

    /// Sets the deadline for a whole handshake (default 5 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.options.timeout = timeout;
        self
    }

    /// Sets who may connect (the JS `auth` option): called with each client's proven public
    /// key; `Some(value)` accepts the client and attaches `value` to the connection.
    ///
    /// ```
    /// use ms_core::AuthValue;
    /// use ms_shs::{Keypair, Shs};
    ///
    /// let friend = Keypair::from_seed(&[2; 32]).public();
    /// let shs = Shs::new(Keypair::from_seed(&[1; 32])).authorize(move |client| async move {
    ///     (client == friend).then(|| AuthValue::new("friend"))
    /// });
    /// # let _ = shs;
    /// ```
    pub fn authorize<F, Fut>(mut self, authorize: F) -> Self
    where
        F: Fn(PublicKey) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Option<AuthValue>> + Send + 'static,
    {
        self.authorize = Arc::new(move |client| Box::pin(authorize(client)));
        self
    }

    /// Sets the largest body this side sends per box-stream frame (default 4096, at most
    /// 65535), on every connection of this transform, both roles.
    ///
    /// **Opt-in, for peers known to accept it.** 4096 is what the JavaScript reference and
    /// every other SSB implementation send. The JavaScript decoder accepts bodies up to 65535
    /// bytes (tested here against `secret-handshake` 1.1.21), and so does this crate; others may
    /// not, and a peer that refuses a frame ends the connection. Larger frames cost less
    /// cipher work per byte: at 65535, one-way throughput +33 % and echo +8 to +27 % on the
    /// development machine (docs/decisions.md).
    ///
    /// ```
    /// use ms_shs::{Keypair, Shs};
    ///
    /// // Between our own nodes only.
    /// let shs = Shs::new(Keypair::from_seed(&[1; 32])).max_frame_body(65535);
    /// # let _ = shs;
    /// ```
    pub fn max_frame_body(mut self, max_body: usize) -> Self {
        self.max_frame_body = max_body.clamp(1, crate::proto::boxstream::MAX_DECODED_BODY_LEN);
        self
    }

    /// Sets how long a box-stream frame may take to arrive once it has started, on every
    /// connection of this transform (default [`DEFAULT_FRAME_TIMEOUT`](crate::DEFAULT_FRAME_TIMEOUT),
    /// 30 s; `None` for no limit). A peer that announces a frame and stalls then gets a
    /// [`BoxStreamError::FrameTimeout`](crate::BoxStreamError::FrameTimeout) read error instead
    /// of pinning a 64 KiB buffer for ever. See
    /// [`BoxStream::with_frame_timeout`](crate::BoxStream::with_frame_timeout).
    ///
    /// ```
    /// use std::time::Duration;
    /// use ms_shs::{Keypair, Shs};
    ///
    /// // A slow link: give frames more time.
    /// let shs = Shs::new(Keypair::from_seed(&[1; 32])).frame_timeout(Some(Duration::from_secs(120)));
    /// # let _ = shs;
    /// ```
    pub fn frame_timeout(mut self, timeout: Option<Duration>) -> Self {
        self.frame_timeout = timeout;
        self
    }

    /// Our identity.
    pub fn public_key(&self) -> PublicKey {
        self.keypair.public()
    }

    /// The handshake settings.
    pub fn options(&self) -> &HandshakeOptions {
        &self.options
    }

    fn remote_section(key: &PublicKey) -> Result<Section, BoxError> {
        Ok(Section::from_parts(NAME, [key.to_base64()])?)
    }
}

impl fmt::Debug for Shs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shs")
            .field("public_key", &self.keypair.public())
            .field("options", &self.options)
            .field("max_frame_body", &self.max_frame_body)
            .field("frame_timeout", &self.frame_timeout)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Transform for Shs {
    fn name(&self) -> &str {
        NAME
    }

    fn understands(&self, section: &Section) -> Result<(), SectionError> {
        ShsTarget::parse(section).map(|_| ())
    }

    fn canonical(&self, section: &Section) -> Option<Section> {
        let canonical = ShsTarget::parse(section).ok()?.to_section().ok()?;
        (canonical != *section).then_some(canonical)
    }

    fn advertise(&self) -> Option<Section> {
        Section::from_parts(NAME, [self.keypair.public().to_base64()]).ok()
    }

    async fn upgrade_inbound(&self, stream: ms_core::BoxedIo) -> Result<Upgraded, BoxError> {
        let authorize = Arc::clone(&self.authorize);
        let (stream, auth) =
            server_handshake(stream, &self.keypair, &self.options, move |client| {
                authorize(client)
            })
            .await
            .map_err(ms_core::classified)?;
        let stream = stream
            .with_max_frame_body(self.max_frame_body)
            .with_frame_timeout(self.frame_timeout);
        let client = stream.remote();
        let remote = Self::remote_section(&client)?;
        Ok(Upgraded::new(Box::new(stream), remote)
            .with_identity(Identity::new(client).with_auth(auth)))
    }

    async fn upgrade_outbound(
        &self,
        stream: ms_core::BoxedIo,
        section: &Section,
    ) -> Result<Upgraded, BoxError> {
        let target = ShsTarget::parse(section).map_err(ms_core::classified)?;
        let invite;
        let keypair = match &target.seed {
            Some(seed) => {
                invite = Keypair::from_seed(seed);
                &invite
            }
            None => &self.keypair,
        };
        let stream: crate::BoxStream<ms_core::BoxedIo> =
            client_handshake(stream, keypair, &target.server, &self.options)
                .await
                .map_err(|e: HandshakeError| ms_core::classified(e))?
                .with_max_frame_body(self.max_frame_body)
                .with_frame_timeout(self.frame_timeout);
        let remote = Self::remote_section(&target.server)?;
        Ok(Upgraded::new(Box::new(stream), remote).with_identity(Identity::new(target.server)))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<ShsTarget, SectionError> {
        ShsTarget::parse(&Section::new(text).unwrap())
    }

    #[test]
    fn parses_key_and_optional_seed_leniently() {
        let key = PublicKey::from_bytes([0xfb; 32]);
        let std = key.to_base64();
        assert_eq!(parse(&format!("shs:{std}")).unwrap().server, key);
        let url = std.replace('+', "-").replace('/', "_");
        let unpadded = url.trim_end_matches('=');
        let target = parse(&format!("shs:{unpadded}:{std}:ignored")).unwrap();
        assert_eq!(target.server, key);
        assert_eq!(*target.seed.unwrap(), [0xfb; 32]);
    }

    #[test]
    fn reads_keys_as_people_paste_them_like_the_reference() {
        // Node's `Buffer.from(s, 'base64')` reads each of these as the key (checked with
        // node v20.20.2; see ms-core's tests/base64_node.rs).
        let key = PublicKey::from_bytes([0xfb; 32]);
        let std = key.to_base64();
        for pasted in [
            format!("shs:@{std}.ed25519"),
            format!("shs:{std}.ed25519"),
            format!("shs:{std} "),
            format!("shs:{std}:@{std}.ed25519"),
        ] {
            let target = parse(&pasted).unwrap();
            assert_eq!(target.server, key, "{pasted}");
            let canonical = target.to_section().unwrap();
            assert!(canonical.as_str().starts_with(&format!("shs:{std}")));
            assert_eq!(parse(canonical.as_str()).unwrap(), target);
        }
        let shs = Shs::new(Keypair::from_seed(&[1; 32]));
        let pasted = Section::new(format!("shs:@{std}.ed25519")).unwrap();
        assert_eq!(
            shs.canonical(&pasted).unwrap().as_str(),
            format!("shs:{std}")
        );
        let already = Section::new(format!("shs:{std}")).unwrap();
        assert_eq!(shs.canonical(&already), None);
        // Without padding, `ed25519` is more base64 (37 bytes): refused, as in the reference.
        let unpadded = std.trim_end_matches('=');
        assert!(matches!(
            parse(&format!("shs:{unpadded}.ed25519")),
            Err(SectionError::Invalid {
                what: "public key",
                ..
            })
        ));
    }

    #[test]
    fn missing_or_bad_key_is_an_error() {
        assert!(matches!(
            parse("shs"),
            Err(SectionError::Missing {
                what: "public key",
                ..
            })
        ));
        assert!(matches!(parse("shs:"), Err(SectionError::Missing { .. })));
        assert!(matches!(
            parse("shs:AAAA"),
            Err(SectionError::Invalid {
                what: "public key",
                reason: "does not decode to 32 bytes",
                at: 4,
                ..
            })
        ));
        let key = PublicKey::from_bytes([1; 32]).to_base64();
        assert!(matches!(
            parse(&format!("shs:{key}:%%")),
            Err(SectionError::Invalid {
                what: "seed",
                at: 49,
                ..
            })
        ));
        assert!(parse("noauth").unwrap_err().is_wrong_protocol());
    }
}
