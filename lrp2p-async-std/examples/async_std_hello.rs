//! The Go README's simple example with both peers in one process, under smol: peer 1
//! connects to peer 2 (knowing its key: 0-RTT) and writes "Hello World"; peer 2 accepts and
//! prints what it reads. (Under async-std: `async_std::task::block_on` and
//! `async_std::task::spawn` instead of smol's; nothing else changes.)
//!
//! `cargo run -p lrp2p-async-std --example async_std_hello`

// A program: it prints.
#![allow(clippy::print_stdout)]

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use lrp2p_async_std::{EndpointConfig, Socket, generate_identity};

fn main() -> std::io::Result<()> {
    smol::block_on(async {
        // Keys generated at start-up: 0-RTT data may be accepted at once (see `Socket::bind`).
        let mut config = EndpointConfig::default();
        config.early_data.start_floor = false;

        // Peer 2: listens.
        let peer2 = Socket::bind_with_config("127.0.0.1:0", generate_identity(), config.clone()).await?;
        let (addr, key) = (peer2.local_addr()?, peer2.public_key());

        // Peer 1: connects and writes, in a task of its own as if it were another program.
        let peer1 = smol::spawn(async move {
            let socket = Socket::bind_with_config("127.0.0.1:0", generate_identity(), config).await?;
            let mut conn = socket.connect(addr, key).await?;
            conn.write_all(b"Hello World").await?;
            // Wait for the acknowledgement before the socket (and with it the connection) goes.
            conn.acknowledged().await
        });

        let (mut conn, who) = peer2.accept().await?;
        let mut buf = [0u8; 32];
        let n = conn.read(&mut buf).await?;
        println!("{}", String::from_utf8_lossy(&buf[..n]));
        println!("(from {who})");
        peer1.await
    })
}
