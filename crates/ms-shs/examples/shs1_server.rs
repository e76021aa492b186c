//! The server side of the `shs1-test` interoperability suite (npm `shs1-test`).
//!
//! Arguments (hex): `network_identifier server_longterm_sk server_longterm_pk`. Reads message 1
//! and 3 from stdin, writes message 2 and 4 to stdout, then the 112-byte outcome
//! `encryption_key ‖ encryption_nonce ‖ decryption_key ‖ decryption_nonce`. On any misbehaviour
//! of the client it exits with a non-zero code at once, writing nothing more.
//!
//! ```text
//! cargo build -p ms-shs --example shs1_server
//! shs1testserver target/debug/examples/shs1_server
//! ```

use std::io::{Read, Write};
use std::process::ExitCode;

use ms_shs::handshake::{EphemeralKey, ServerHandshake};
use ms_shs::{Keypair, NetworkKey};

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
    let [net, sk, pk] = args.as_slice() else {
        return Err("usage: shs1_server <network_identifier> <server_longterm_sk> <server_longterm_pk> (hex)".into());
    };
    let net = NetworkKey::from_bytes(hex(net).ok_or("bad network_identifier")?);
    let keypair = Keypair::from_libsodium_secret(&hex(sk).ok_or("bad server_longterm_sk")?)
        .map_err(|e| e.to_string())?;
    if keypair.public().as_bytes() != &hex::<32>(pk).ok_or("bad server_longterm_pk")? {
        return Err("server_longterm_pk does not match server_longterm_sk".into());
    }

    let mut stdin = std::io::stdin().lock();
    let mut stdout = std::io::stdout().lock();
    let ephemeral = EphemeralKey::generate().map_err(|e| e.to_string())?;
    let state = ServerHandshake::new(net, keypair, ephemeral);

    let mut msg1 = [0u8; 64];
    stdin.read_exact(&mut msg1).map_err(|e| e.to_string())?;
    let (state, msg2) = state.read_client_hello(&msg1).map_err(|e| e.to_string())?;
    stdout
        .write_all(&msg2)
        .and_then(|()| stdout.flush())
        .map_err(|e| e.to_string())?;

    let mut msg3 = [0u8; 112];
    stdin.read_exact(&mut msg3).map_err(|e| e.to_string())?;
    let (msg4, outcome) = state
        .read_client_auth(&msg3)
        .map_err(|e| e.to_string())?
        .accept();

    let mut out = Vec::with_capacity(80 + 112);
    out.extend_from_slice(&msg4);
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
            eprintln!("shs1_server: {error}");
            ExitCode::FAILURE
        }
    }
}
