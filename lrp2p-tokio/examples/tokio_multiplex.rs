//! The Go README's multiplexing example with all three peers in one process: peer 1 accepts
//! two connections on one socket and reads from each; peers 2 and 3 each connect and write.
//!
//! `cargo run -p lrp2p-tokio --example tokio_multiplex`

// A program: it prints.
#![allow(clippy::print_stdout)]

use std::net::SocketAddr;

use lrp2p_tokio::{EndpointConfig, PublicKey, Socket, generate_identity};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;

fn config() -> EndpointConfig {
    // Keys generated at start-up: 0-RTT data may be accepted at once (see `Socket::bind`).
    let mut config = EndpointConfig::default();
    config.early_data.start_floor = false;
    config
}

/// Peers 2 and 3: connect to peer 1 and say hello.
fn peer(addr: SocketAddr, key: PublicKey, text: &'static str) -> JoinHandle<std::io::Result<()>> {
    tokio::spawn(async move {
        let socket = Socket::bind_with_config("127.0.0.1:0", generate_identity(), config()).await?;
        let mut conn = socket.connect(addr, key).await?;
        conn.write_all(text.as_bytes()).await?;
        conn.acknowledged().await
    })
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let peer1 = Socket::bind_with_config("127.0.0.1:0", generate_identity(), config()).await?;
    let (addr, key) = (peer1.local_addr()?, peer1.public_key());
    let peers = [peer(addr, key, "Hello from Peer 2"), peer(addr, key, "Hello from Peer 3")];

    let (mut conn1, _) = peer1.accept().await?;
    let (mut conn2, _) = peer1.accept().await?;

    // Read from the first connection, then from the second.
    let mut buf = [0u8; 64];
    let n = conn1.read(&mut buf).await?;
    println!("{}", String::from_utf8_lossy(&buf[..n]));
    let n = conn2.read(&mut buf).await?;
    println!("{}", String::from_utf8_lossy(&buf[..n]));

    for peer in peers {
        peer.await.map_err(std::io::Error::other)??;
    }
    Ok(())
}
