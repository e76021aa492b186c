//! Behaviour of the `noauth` transform beyond the conformance suite.

use std::io::Write;
use std::sync::{Arc, Mutex};

use ms_core::{
    Error, MismatchReason, MultiAddress, MultiServer, PublicKey, Scope, Scopes, Section, Stack,
    Transform,
};
use ms_net::Net;
use ms_noauth::{LocalTrust, Noauth, NoauthError};
use ms_testkit::{MemNetwork, MemTransport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const KEY: PublicKey = PublicKey([42; 32]);
const SHS_KEY: &str = "6kpsY+KcUgq+9VB7Ey7F+ZVHdq6+vnuSQh7qaRRG0iw=";

fn noauth_error(err: &Error) -> String {
    match err {
        Error::Config { message, source } => {
            // The typed error travels with the message.
            assert!(
                source
                    .as_ref()
                    .is_some_and(|e| e.downcast_ref::<NoauthError>().is_some())
            );
            message.clone()
        }
        other => panic!("not a configuration error: {other:?}"),
    }
}

#[test]
fn refuses_a_public_stack_unless_allowed() {
    let public = Net::builder().scope(Scope::Public).build().unwrap();
    let err = MultiServer::new([Stack::new(public.clone()).with(Noauth::new(KEY))]).unwrap_err();
    let message = noauth_error(&err);
    assert!(message.contains("device-only"), "{message}");
    assert!(message.contains("allow_non_device_scopes"), "{message}");

    // The typed error, from the transform itself.
    let err = Noauth::new(KEY).check_stack(Scopes::PUBLIC).unwrap_err();
    assert_eq!(
        err.downcast_ref::<NoauthError>(),
        Some(&NoauthError::NonDeviceScopes {
            scopes: Scopes::PUBLIC
        })
    );

    // Allowing `local` does not allow `public`.
    let local_only = Noauth::new(KEY).allow_non_device_scopes(Scopes::LOCAL);
    assert!(MultiServer::new([Stack::new(public.clone()).with(local_only)]).is_err());

    let allowed = Noauth::new(KEY).allow_non_device_scopes(Scopes::PUBLIC);
    assert!(MultiServer::new([Stack::new(public).with(allowed)]).is_ok());
}

#[test]
fn refuses_device_plus_local_and_empty_scopes() {
    let noauth = Noauth::new(KEY);
    assert!(noauth.check_stack(Scopes::DEVICE).is_ok());
    assert!(noauth.check_stack(Scopes::DEVICE | Scopes::LOCAL).is_err());
    assert!(noauth.check_stack(Scopes::NONE).is_err());
    let network = MemNetwork::new();
    let mem = MemTransport::new(&network).with_scopes(Scopes::DEVICE | Scopes::LOCAL);
    assert!(MultiServer::new([Stack::new(mem).with(noauth)]).is_err());
}

/// Collects what `tracing` prints, to check the warning.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn warns_when_a_wider_scope_is_allowed() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        let local = Net::builder().scope(Scope::Local).build().unwrap();
        let noauth = Noauth::new(KEY).allow_non_device_scopes(Scopes::LOCAL);
        MultiServer::new([Stack::new(local).with(noauth)]).unwrap();
    });
    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(logs.contains("WARN"), "{logs}");
    assert!(logs.contains("treated as this node itself"), "{logs}");
}

#[test]
fn a_noauth_stack_does_not_claim_shs_addresses() {
    let node = MultiServer::new([Stack::new(Net::new()).with(Noauth::new(KEY))]).unwrap();
    let shs = MultiAddress::parse(&format!("net:127.0.0.1:8008~shs:{SHS_KEY}")).unwrap();
    match node.plan(&shs) {
        Err(Error::Unsupported { reasons, .. }) => {
            assert!(
                reasons.iter().any(|r| matches!(
                    &r.reason,
                    MismatchReason::Section { index: 1, error } if error.is_wrong_protocol()
                )),
                "{reasons:?}"
            );
        }
        other => panic!("a ~noauth stack claimed a ~shs address: {other:?}"),
    }
    // Of a multi-address it takes the noauth alternative only.
    let multi = MultiAddress::parse(&format!(
        "net:127.0.0.1:1~shs:{SHS_KEY};net:127.0.0.1:2~noauth"
    ))
    .unwrap();
    let plan = node.plan(&multi).unwrap();
    assert_eq!(plan.len(), 1);
    assert_eq!(plan[0].0.to_string(), "net:127.0.0.1:2~noauth");
}

/// The reference's `noauth` parse accepts anything (`anything-at-all` → `{}`); here only
/// sections named exactly `noauth`, with or without arguments.
#[test]
fn reference_parse_cases() {
    let noauth = Noauth::new(KEY);
    let claims = |text: &str| noauth.understands(&Section::new(text).unwrap()).is_ok();
    assert!(claims("noauth"));
    assert!(claims(&format!("noauth:{}", KEY.to_base64())));
    assert!(!claims("anything-at-all"));
    assert!(!claims(&format!("shs:{SHS_KEY}")));
    assert!(!claims("NOAUTH"));
    assert!(!claims("noauth-x"));
}

#[tokio::test]
async fn sends_nothing_and_trusts_the_peer_as_ourselves() {
    let node = MultiServer::new([Stack::new(Net::new()).with(Noauth::new(KEY))]).unwrap();
    let mut server = node.listen().await.unwrap();
    let address = server.address(Scope::Device).to_string();
    assert!(address.starts_with("net:127.0.0.1:"));
    assert!(address.ends_with("~noauth"));
    let transport = MultiAddress::parse(&address).unwrap().alternatives()[0]
        .transport()
        .as_str()
        .to_owned();
    let port: u16 = transport.rsplit(':').next().unwrap().parse().unwrap();

    // A raw TCP client: the connection is handed over without it sending a byte, and the
    // first byte it reads is the application's.
    let mut raw = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut inbound = server.accept().await.unwrap();
    assert_eq!(inbound.remote_ed25519(), Some(&KEY));
    assert!(
        inbound
            .auth()
            .unwrap()
            .downcast_ref::<LocalTrust>()
            .is_some()
    );
    assert_eq!(
        inbound.remote_address().to_string(),
        format!(
            "net:127.0.0.1:{}~noauth:{}",
            raw.local_addr().unwrap().port(),
            KEY.to_base64()
        )
    );
    inbound.write_all(b"x").await.unwrap();
    let mut first = [0u8; 1];
    raw.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"x");
    raw.write_all(b"y").await.unwrap();
    inbound.read_exact(&mut first).await.unwrap();
    assert_eq!(&first, b"y");

    // A dialled connection: the remote is named by our own key too.
    let outbound = node.connect(&address).await.unwrap();
    assert_eq!(outbound.remote_ed25519(), Some(&KEY));
    assert_eq!(
        outbound.remote_address().to_string(),
        format!("{transport}~noauth:{}", KEY.to_base64())
    );
}

#[tokio::test]
async fn dials_a_printed_remote_address_too() {
    // `noauth:<key>` (as remote addresses print) is claimed like `noauth`.
    let node = MultiServer::new([Stack::new(Net::new()).with(Noauth::new(KEY))]).unwrap();
    let mut server = node.listen().await.unwrap();
    let address = server.address(Scope::Device).to_string();
    let with_key = format!("{address}:{}", KEY.to_base64());
    let dial = tokio::spawn({
        let node = node.clone();
        async move { node.connect(&with_key).await }
    });
    server.accept().await.unwrap();
    assert!(dial.await.unwrap().is_ok());
}
