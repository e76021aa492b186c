//! Two QUIC swarm nodes on UDP loopback: a tell, then asks, printing the round trip.
//!
//! ```text
//! cargo run -p ms-quicswarm --example ping
//! ```

use std::time::Instant;

use bytes::Bytes;
use ms_quicswarm::{Config, QuicSwarm};
use ms_shs::Keypair;
use ms_swarm::{AskSwarm, SecureSwarm, Swarm};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let local = "127.0.0.1:0".parse()?;
    let alice = QuicSwarm::bind(Keypair::generate()?, local, Config::default())?;
    let bob = std::sync::Arc::new(QuicSwarm::bind(
        Keypair::generate()?,
        local,
        Config::default(),
    )?);
    let bob_addr = bob.local_addrs()[0].clone();
    println!("alice: {}", alice.local_addrs()[0]);
    println!("bob:   {bob_addr}");

    alice
        .tell(&bob_addr, Bytes::from_static(b"hello bob"))
        .await?;
    let message = bob.receive().await?;
    println!(
        "bob got {:?} from {} (key {} authenticated)",
        String::from_utf8_lossy(&message.payload),
        message.src,
        bob.lookup_public_key(&message.src)?
    );

    let server = {
        let bob = bob.clone();
        tokio::spawn(async move {
            ms_swarm::serve_ask(&*bob, |msg| async move { Some(msg.payload) }).await
        })
    };
    for i in 0..5 {
        let start = Instant::now();
        let answer = alice
            .ask(&bob_addr, Bytes::from(format!("ping {i}")))
            .await?;
        println!(
            "{} in {:?}",
            String::from_utf8_lossy(&answer),
            start.elapsed()
        );
    }
    alice.close().await?;
    bob.close().await?;
    server.await??;
    Ok(())
}
