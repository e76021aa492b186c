//! A two-terminal chat over net~shs on 127.0.0.1.
//!
//! ```text
//! terminal 1:  cargo run -p ms-stackswarm --example chat
//!              (prints its address: net:127.0.0.1:PORT~shs:KEY)
//! terminal 2:  cargo run -p ms-stackswarm --example chat -- 'net:127.0.0.1:PORT~shs:KEY'
//! ```
//!
//! Every line typed is told to the peer (the address given, or whoever wrote last).
//! `/ask TEXT` asks instead: the peer answers with the text in capitals. Ctrl-D quits.

use std::sync::Arc;

use bytes::Bytes;
use ms_core::{MultiServer, Stack};
use ms_shs::{Keypair, Shs};
use ms_stackswarm::{StackAddr, StackSwarm};
use ms_swarm::{AskSwarm, SecureSwarm, Swarm};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::sync::Mutex;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let keys = Keypair::generate()?;
    let node = MultiServer::new([Stack::new(ms_net::Net::new()).with(Shs::new(keys))])?;
    let swarm = Arc::new(StackSwarm::builder(node).bind().await?);
    println!("I am {}", swarm.public_key());
    for addr in swarm.local_addrs() {
        println!("my address: {addr}");
    }
    let peer: Arc<Mutex<Option<StackAddr>>> = Arc::new(Mutex::new(None));
    if let Some(text) = std::env::args().nth(1) {
        *peer.lock().await = Some(swarm.parse_addr(&text)?);
    }

    // Print what arrives; remember who wrote, to answer them.
    tokio::spawn({
        let (swarm, peer) = (swarm.clone(), peer.clone());
        async move {
            while let Ok(message) = swarm.receive().await {
                let who = swarm.lookup_public_key(&message.src).map(|k| k.to_string());
                let text = String::from_utf8_lossy(&message.payload);
                println!("<{}> {text}", who.unwrap_or_else(|_| "?".into()));
                *peer.lock().await = Some(message.src);
            }
        }
    });
    // Answer asks.
    tokio::spawn({
        let swarm = swarm.clone();
        async move {
            ms_swarm::serve_ask(&*swarm, |request| async move {
                let text = String::from_utf8_lossy(&request.payload).to_uppercase();
                Some(Bytes::from(text))
            })
            .await
        }
    });

    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = lines.next_line().await? {
        let Some(to) = peer.lock().await.clone() else {
            println!("(nobody to talk to yet: start the other side with my address)");
            continue;
        };
        let result = match line.strip_prefix("/ask ") {
            Some(question) => swarm
                .ask(&to, Bytes::from(question.to_owned()))
                .await
                .map(|answer| println!("answer: {}", String::from_utf8_lossy(&answer))),
            None => swarm.tell(&to, Bytes::from(line)).await,
        };
        if let Err(error) = result {
            println!("(failed: {error})");
        }
    }
    swarm.close().await?;
    Ok(())
}
