//! The client side of the `shs1-test` interoperability suite (npm `shs1-test`).
//!
//! Arguments (hex): `network_identifier server_longterm_pk`. Writes message 1 and 3 to stdout,
//! reads message 2 and 4 from stdin, then writes the 112-byte outcome
//! `encryption_key ‖ encryption_nonce ‖ decryption_key ‖ decryption_nonce`. On any misbehaviour
//! of the server it exits with a non-zero code at once, writing nothing more.
//!
//! ```text
//! cargo build -p ms-shs --example shs1_client
//! shs1testclient target/debug/examples/shs1_client
//! ```

use std::io::{Read, Write};
use std::process::ExitCode;

use ms_shs::handshake::{ClientHandshake, EphemeralKey};
use ms_shs::{Keypair, NetworkKey, PublicKey};

fn hex<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != 2 * N {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn run() -> Result<(), String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [net, server_pk] = args.as_slice() else {
        return Err("usage: shs1_client <network_identifier> <server_longterm_pk> (hex)".into());
    };
    let net = NetworkKey::from_bytes(hex(net).ok_or("bad network_identifier")?);
    let server = PublicKey::from_bytes(hex(server_pk).ok_or("bad server_longterm_pk")?);

    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    let keypair = Keypair::generate().map_err(|e| e.to_string())?;
    let ephemeral = EphemeralKey::generate().map_err(|e| e.to_string())?;
    let (state, msg1) =
        ClientHandshake::new(net, keypair, server, ephemeral).map_err(|e| e.to_string())?;
    stdout
        .write_all(&msg1)
        .and_then(|()| stdout.flush())
        .map_err(|e| e.to_string())?;

    let mut msg2 = [0u8; 64];
    stdin.read_exact(&mut msg2).map_err(|e| e.to_string())?;
    let (state, msg3) = state.read_server_hello(&msg2).map_err(|e| e.to_string())?;
    stdout
        .write_all(&msg3)
        .and_then(|()| stdout.flush())
        .map_err(|e| e.to_string())?;

    let mut msg4 = [0u8; 80];
    stdin.read_exact(&mut msg4).map_err(|e| e.to_string())?;
    let outcome = state.read_server_accept(&msg4).map_err(|e| e.to_string())?;

    let mut out = Vec::with_capacity(112);
    out.extend_from_slice(outcome.encryption_key());
    out.extend_from_slice(outcome.encryption_nonce());
    out.extend_from_slice(outcome.decryption_key());
    out.extend_from_slice(outcome.decryption_nonce());
    stdout
        .write_all(&out)
        .and_then(|()| stdout.flush())
        .map_err(|e| e.to_string())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("shs1_client: {error}");
            ExitCode::FAILURE
        }
    }
}
