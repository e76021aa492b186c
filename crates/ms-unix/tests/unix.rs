//! Behaviour of the `unix` transport beyond the conformance suite.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use ms_core::{Error, MultiServer, Scope, Section, Stack, Transport};
use ms_unix::{Unix, UnixError};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn unix_error(err: &Error) -> &UnixError {
    err.plugin_error()
        .and_then(|e| e.downcast_ref::<UnixError>())
        .unwrap_or_else(|| panic!("not a UnixError: {err:?}"))
}

/// Dials `address` with `node` and checks that a byte goes there and back through `server`.
async fn ping(node: &MultiServer, server: &mut ms_core::Server, address: &str) {
    let client = tokio::spawn({
        let node = node.clone();
        let address = address.to_owned();
        async move {
            let mut conn = node.connect(&address).await.unwrap();
            conn.write_all(b"?").await.unwrap();
            let mut answer = [0u8; 1];
            conn.read_exact(&mut answer).await.unwrap();
            answer
        }
    });
    let mut conn = server.accept().await.unwrap();
    let mut question = [0u8; 1];
    conn.read_exact(&mut question).await.unwrap();
    conn.write_all(b"!").await.unwrap();
    assert_eq!(&client.await.unwrap(), b"!");
}

#[tokio::test]
async fn a_live_socket_is_not_stolen_and_the_first_server_keeps_serving() {
    let dir = tempfile::tempdir().unwrap();
    let node = MultiServer::new([Stack::new(Unix::in_directory(dir.path()).unwrap())]).unwrap();
    let mut first = node.listen().await.unwrap();
    let address = first.address(Scope::Device).to_string();

    let second = MultiServer::new([Stack::new(Unix::in_directory(dir.path()).unwrap())]).unwrap();
    let err = second.listen().await.unwrap_err();
    assert!(matches!(err, Error::Listen { .. }), "{err:?}");
    let socket = dir.path().join("socket");
    assert!(
        matches!(unix_error(&err), UnixError::InUse { path } if *path == socket),
        "{err:?}"
    );
    assert!(
        err.to_string()
            .contains("another server is listening there"),
        "{err}"
    );

    // The second server's probe reached the first one as a connection that closed at once.
    let mut probe = first.accept().await.unwrap();
    let mut nothing = Vec::new();
    probe.read_to_end(&mut nothing).await.unwrap();
    assert!(nothing.is_empty());
    // The first server still serves.
    assert!(socket.exists());
    let client = MultiServer::new([Stack::new(Unix::dial_only())]).unwrap();
    ping(&client, &mut first, &address).await;
}

#[tokio::test]
async fn a_stale_socket_is_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("socket");
    // A server that died without cleaning up: std leaves the file behind.
    drop(std::os::unix::net::UnixListener::bind(&socket).unwrap());
    assert!(socket.exists());
    let err = Unix::dial_only().dial(&socket).await.unwrap_err();
    assert!(matches!(err, UnixError::Refused { .. }), "{err:?}");

    let node = MultiServer::new([Stack::new(Unix::new(&socket).unwrap())]).unwrap();
    let mut server = node.listen().await.unwrap();
    let address = server.address(Scope::Device).to_string();
    ping(&node, &mut server, &address).await;
}

#[tokio::test]
async fn a_file_that_is_not_a_socket_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("socket");
    std::fs::write(&path, b"precious").unwrap();
    let err = Unix::new(&path).unwrap().bind().await.unwrap_err();
    assert!(matches!(err, UnixError::NotASocket { .. }), "{err:?}");
    assert_eq!(std::fs::read(&path).unwrap(), b"precious");
}

#[tokio::test]
async fn the_socket_file_is_owner_only_and_removed_on_close() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("socket");
    let node = MultiServer::new([Stack::new(Unix::in_directory(dir.path()).unwrap())]).unwrap();
    let server = node.listen().await.unwrap();
    let mode = std::fs::metadata(&socket).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    server.close().await;
    assert!(!socket.exists(), "the socket file survived close()");
}

#[tokio::test]
async fn the_socket_mode_is_configurable() {
    let dir = tempfile::tempdir().unwrap();
    let unix = Unix::builder()
        .directory(dir.path())
        .mode(0o660)
        .build()
        .unwrap();
    let listener = unix.bind().await.unwrap();
    let mode = std::fs::metadata(listener.path())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o660);
}

#[tokio::test]
async fn dropping_a_listener_does_not_remove_a_socket_it_no_longer_owns() {
    let dir = tempfile::tempdir().unwrap();
    let unix = Unix::in_directory(dir.path()).unwrap();
    let old = unix.bind().await.unwrap();
    // Someone removes the file and another server takes the path.
    std::fs::remove_file(old.path()).unwrap();
    let new = unix.bind().await.unwrap();
    drop(old);
    assert!(
        new.path().exists(),
        "the old listener removed the new socket"
    );
    drop(new);
    assert!(!dir.path().join("socket").exists());
}

#[tokio::test]
async fn remote_addresses_name_the_listening_and_the_dialled_socket() {
    let server_dir = tempfile::tempdir().unwrap();
    let client_dir = tempfile::tempdir().unwrap();
    let server_node =
        MultiServer::new([Stack::new(Unix::in_directory(server_dir.path()).unwrap())]).unwrap();
    // The client has a socket of its own; the reference would report that one (a bug).
    let client_node =
        MultiServer::new([Stack::new(Unix::in_directory(client_dir.path()).unwrap())]).unwrap();
    let mut server = server_node.listen().await.unwrap();
    let address = server.address(Scope::Device).to_string();
    assert_eq!(
        address,
        format!("unix:{}", server_dir.path().join("socket").display())
    );
    let dial = tokio::spawn({
        let address = address.clone();
        async move { client_node.connect(&address).await.unwrap() }
    });
    let inbound = server.accept().await.unwrap();
    let outbound = dial.await.unwrap();
    assert_eq!(outbound.remote_address().to_string(), address);
    assert_eq!(inbound.remote_address().to_string(), address);
}

#[tokio::test]
async fn paths_with_colons_and_tildes_work() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("a:b~c");
    std::fs::create_dir(&sub).unwrap();
    let node = MultiServer::new([Stack::new(Unix::in_directory(&sub).unwrap())]).unwrap();
    let mut server = node.listen().await.unwrap();
    let address = server.address(Scope::Device).to_string();
    assert!(address.ends_with("/a:b!~c/socket"), "{address}");
    ping(&node, &mut server, &address).await;
}

#[tokio::test]
async fn dial_errors_are_typed() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing");
    let err = Unix::dial_only().dial(&missing).await.unwrap_err();
    assert!(
        matches!(err, UnixError::NotFound { ref path } if *path == missing),
        "{err:?}"
    );

    let node = MultiServer::new([Stack::new(Unix::dial_only())]).unwrap();
    let err = node
        .connect(&format!("unix:{}", missing.display()))
        .await
        .unwrap_err();
    assert!(
        matches!(unix_error(&err), UnixError::NotFound { .. }),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_dial_only_transport_cannot_listen() {
    let err = Unix::dial_only().bind().await.unwrap_err();
    assert!(matches!(err, UnixError::NoSocketPath), "{err:?}");
}

#[tokio::test]
async fn a_missing_directory_is_a_listen_error() {
    let dir = tempfile::tempdir().unwrap();
    let err = Unix::in_directory(dir.path().join("nope"))
        .unwrap()
        .bind()
        .await
        .unwrap_err();
    assert!(matches!(err, UnixError::Listen { .. }), "{err:?}");
}

#[test]
fn only_the_device_scope_is_served() {
    let unix = Unix::new("/tmp/x/socket").unwrap();
    assert!(unix.scopes().is_device_only());
}

/// The `address_parse_cases` of the spec for `unix` (shs-vectors.json). `None` = refused.
#[test]
fn reference_parse_cases() {
    let cases: &[(&str, Option<&str>)] = &[
        ("unix:ssb-dir/socket", Some("ssb-dir/socket")),
        // Reference: an empty path. Refused here.
        ("unix:", None),
        // Everything after `unix:` is the path, `:` included.
        ("unix:dir/a:b", Some("dir/a:b")),
        ("net:host:1", None),
    ];
    let unix = Unix::dial_only();
    for (input, expected) in cases {
        let section = Section::new(*input).unwrap();
        let got = unix.understands(&section).ok().map(|()| section.rest());
        assert_eq!(got, *expected, "{input}");
    }
    // A relative path dials relative to the current directory, as in the reference.
    assert!(Path::new("ssb-dir/socket").is_relative());
}
