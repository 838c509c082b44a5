//! `lrp2p-punch`: the two halves of a hole punch through the lab's NATs, with the addresses
//! that a rendezvous introduction would give passed on the command line (the NAT tests of
//! `tests/punch.rs` drive it; the rendezvous itself is tested on its own).
//!
//! ```text
//! lrp2p-punch dial   SEED PORT PEER_KEY ADDR[,ADDR…] BYTES   (connect_many, write, wait for ACKs)
//! lrp2p-punch answer SEED PORT PEER_KEY ADDR[,ADDR…]         (punch, accept one, read to the end)
//! lrp2p-punch key    SEED                                    (prints the public key)
//! ```
//!
//! A secret key is 32 bytes of SEED. Each prints one line: `dial` `path=ADDR ms=N`, `answer`
//! `bytes=N sum=HEX from=ADDR`. Every wait is bounded (20 s); errors exit 1 with a message.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use lrp2p_std::{PublicKey, Socket, StaticSecret};

const LIMIT: Duration = Duration::from_secs(20);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(line) => {
            let mut out = std::io::stdout();
            let _ = writeln!(out, "{line}");
            ExitCode::SUCCESS
        }
        Err(why) => {
            let _ = writeln!(std::io::stderr(), "lrp2p-punch: {why}");
            ExitCode::FAILURE
        }
    }
}

fn secret(seed: &str) -> Result<StaticSecret, String> {
    let seed: u8 = seed.parse().map_err(|e| format!("seed {seed}: {e}"))?;
    Ok(StaticSecret::from_bytes([seed; 32]))
}

fn addrs(list: &str) -> Result<Vec<SocketAddr>, String> {
    list.split(',').map(|a| a.parse().map_err(|e| format!("address {a}: {e}"))).collect()
}

fn bind(seed: &str, port: &str) -> Result<Socket, String> {
    let addr = format!("0.0.0.0:{port}");
    Socket::bind(&addr, secret(seed)?).map_err(|e| format!("bind {addr}: {e}"))
}

/// The pattern both sides agree on, and a checksum of it (FNV-1a, 64 bit).
fn byte_at(i: u64) -> u8 {
    i.wrapping_mul(2_654_435_761).to_be_bytes()[5]
}

fn fnv(sum: u64, bytes: &[u8]) -> u64 {
    bytes.iter().fold(sum, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
}

fn run(args: &[String]) -> Result<String, String> {
    let arg = |i: usize| {
        args.get(i).map(String::as_str).ok_or_else(|| "missing arguments (see the source)".to_owned())
    };
    match arg(0)? {
        "key" => Ok(secret(arg(1)?)?.public_key().to_string()),
        "dial" => {
            let socket = bind(arg(1)?, arg(2)?)?;
            let peer: PublicKey = arg(3)?.parse().map_err(|e| format!("key: {e}"))?;
            let to = addrs(arg(4)?)?;
            let bytes: u64 = arg(5)?.parse().map_err(|e| format!("bytes: {e}"))?;
            let started = Instant::now();
            let mut conn = socket.connect_many(&to, peer, None).map_err(|e| format!("connect: {e}"))?;
            conn.set_write_timeout(Some(LIMIT));
            let mut buf = vec![0u8; 64 * 1024];
            let mut sent = 0u64;
            let mut path = None;
            while sent < bytes {
                let n = usize::try_from(bytes - sent).map_or(buf.len(), |left| left.min(buf.len()));
                for (i, b) in buf[..n].iter_mut().enumerate() {
                    *b = byte_at(sent + i as u64);
                }
                conn.write_all(&buf[..n]).map_err(|e| format!("write: {e}"))?;
                sent += n as u64;
                // The path as the transfer runs (once the peer's FIN is acknowledged the
                // connection may be gone).
                path = conn.path().map(|p| p.remote.to_string()).or(path);
                if started.elapsed() > LIMIT {
                    return Err("timed out writing".into());
                }
            }
            conn.shutdown().map_err(|e| format!("shutdown: {e}"))?;
            conn.acknowledged().map_err(|e| format!("acknowledged: {e}"))?;
            let path = conn.path().map(|p| p.remote.to_string()).or(path).unwrap_or_default();
            Ok(format!("path={path} ms={}", started.elapsed().as_millis()))
        }
        "answer" => {
            let socket = bind(arg(1)?, arg(2)?)?;
            let peer: PublicKey = arg(3)?.parse().map_err(|e| format!("key: {e}"))?;
            let to = addrs(arg(4)?)?;
            socket.allow_only([peer]);
            socket.punch(peer, &to);
            let (mut conn, _) = socket.accept_timeout(LIMIT).map_err(|e| format!("accept: {e}"))?;
            conn.set_read_timeout(Some(LIMIT));
            let (mut total, mut sum) = (0u64, 0xcbf2_9ce4_8422_2325u64);
            let mut from = None;
            let mut buf = vec![0u8; 64 * 1024];
            loop {
                let n = conn.read(&mut buf).map_err(|e| format!("read after {total} bytes: {e}"))?;
                if n == 0 {
                    break;
                }
                sum = fnv(sum, &buf[..n]);
                from = conn.path().map(|p| p.remote.to_string()).or(from);
                total += n as u64;
            }
            let from = from.unwrap_or_default();
            Ok(format!("bytes={total} sum={sum:016x} from={from}"))
        }
        other => Err(format!("unknown command {other}")),
    }
}
