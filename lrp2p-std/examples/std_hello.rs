//! The Go README's simple example with both peers in one process: peer 1 connects to peer 2
//! (knowing its key: 0-RTT) and writes "Hello World"; peer 2 accepts and prints what it reads.
//!
//! `cargo run -p lrp2p-std --example std_hello`

// A program: it prints.
#![allow(clippy::print_stdout)]

use std::io::{Read, Write};

use lrp2p_std::{EndpointConfig, Socket, generate_identity};

fn main() -> std::io::Result<()> {
    // Keys generated at start-up: 0-RTT data may be accepted at once (see `Socket::bind`).
    let mut config = EndpointConfig::default();
    config.early_data.start_floor = false;

    // Peer 2: listens.
    let peer2 = Socket::bind_with_config("127.0.0.1:0", generate_identity(), config.clone())?;
    let (addr, key) = (peer2.local_addr()?, peer2.public_key());

    // Peer 1: connects and writes, on its own thread as if it were another program.
    let peer1 = std::thread::spawn(move || -> std::io::Result<()> {
        let socket = Socket::bind_with_config("127.0.0.1:0", generate_identity(), config)?;
        let mut conn = socket.connect(addr, key)?;
        conn.write_all(b"Hello World")?;
        // Wait for the acknowledgement before the socket (and with it the connection) goes.
        conn.acknowledged()
    });

    let (mut conn, who) = peer2.accept()?;
    let mut buf = [0u8; 32];
    let n = conn.read(&mut buf)?;
    println!("{}", String::from_utf8_lossy(&buf[..n]));
    println!("(from {who})");
    peer1.join().expect("peer 1 panicked")
}
