//! `lrp2p demo`: everything in one process on loopback. A receiver and a sender, with an
//! impairment relay between them (default 20 ms RTT, 1 % loss each way); the sender moves
//! seeded pseudo-random bytes (64 MiB by default) with the file protocol, the receiver hashes
//! them, and the demo reports whether the hashes match, goodput, RTT and retransmissions.

use std::io;
use std::net::{Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use lrp2p_proto::ConnectionStats;
use lrp2p_relay::{self as relay, Impairment};
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore as _, SeedableRng as _};
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWriteExt as _, ReadBuf};

use crate::cli::DemoArgs;
use crate::error::CliError;
use crate::net::{self, Link};
use crate::output::{self, Ui};
use crate::transfer::{self, DiscardSink, Received, Sent};

/// Loopback, any port.
const LOOPBACK: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(Ipv4Addr::LOCALHOST), 0);

/// How long the sender waits for the receiver's verdict.
const VERDICT_TIMEOUT: Duration = Duration::from_secs(60);

/// `size` seeded pseudo-random bytes, generated as they are read.
pub(crate) struct Pattern {
    /// The generator.
    rng: ChaCha8Rng,
    /// Bytes still to produce.
    left: u64,
}

impl Pattern {
    /// `size` bytes from `seed`.
    pub(crate) fn new(seed: u64, size: u64) -> Pattern {
        Pattern { rng: ChaCha8Rng::seed_from_u64(seed), left: size }
    }
}

impl AsyncRead for Pattern {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let n = usize::try_from(self.left).map_or(buf.remaining(), |l| l.min(buf.remaining()));
        let dst = buf.initialize_unfilled_to(n);
        self.rng.fill_bytes(dst);
        buf.advance(n);
        self.left -= n as u64;
        Poll::Ready(Ok(()))
    }
}

/// The sending half: one file of `bytes` pattern bytes; returns what was confirmed and the
/// connection's statistics at the end.
pub(crate) async fn send_side<L: Link>(
    link: &mut L,
    bytes: u64,
    seed: u64,
    ui: &Ui,
) -> Result<(Sent, Option<ConnectionStats>), CliError> {
    let sent =
        transfer::send_one(link, "demo.bin", bytes, Pattern::new(seed, bytes), ui, VERDICT_TIMEOUT).await?;
    let stats = link.link_stats();
    let _ = link.shutdown().await;
    Ok((sent, stats))
}

/// The receiving half: hashes one file and discards it.
pub(crate) async fn receive_side<L: Link>(link: &mut L) -> Result<Received, CliError> {
    let mut sink = DiscardSink::default();
    let mut files = transfer::serve(link, &mut sink, u64::MAX, transfer::IDLE, &Ui::quiet(), |_| {}).await?;
    files.pop().ok_or_else(|| CliError::Transfer("the receiver got no file".to_owned()))
}

/// Compares both sides' hashes and reports; a mismatch is an error.
fn report(
    ui: &Ui,
    sent: &Sent,
    received: &Received,
    stats: Option<ConnectionStats>,
    relay: Option<relay::CounterSnapshot>,
) -> Result<(), CliError> {
    let matched = sent.blake2b == received.blake2b && sent.bytes == received.bytes;
    let rtt = stats.and_then(|s| s.rtt);
    ui.result(
        &format!(
            "moved {} in {:.2} s: goodput {}, rtt {}, {} retransmissions, relay dropped {} datagrams; hash {}",
            output::bytes(sent.bytes),
            sent.elapsed.as_secs_f64(),
            output::rate(sent.bytes, sent.elapsed),
            output::millis(rtt),
            stats.map_or_else(|| "-".to_owned(), |s| s.retransmits.to_string()),
            relay.map_or(0, |r| r.lost + r.overflow),
            if matched { "match" } else { "MISMATCH" },
        ),
        &json!({
            "event": "demo",
            "bytes": sent.bytes,
            "seconds": sent.elapsed.as_secs_f64(),
            "goodput_bps": output::bits_per_second(sent.bytes, sent.elapsed),
            "rtt_ms": rtt.map(|d| d.as_secs_f64() * 1e3),
            "retransmits": stats.map(|s| s.retransmits),
            "relay": relay,
            "blake2b_sent": sent.blake2b,
            "blake2b_received": received.blake2b,
            "hash_match": matched,
        }),
    );
    if matched { Ok(()) } else { Err(CliError::Transfer("hash mismatch".to_owned())) }
}

/// What the demo is about to do, in three lines: the keys, 0-RTT, the relay's impairment.
fn explain(args: &DemoArgs, receiver_key: &lrp2p_proto::PublicKey) -> [String; 3] {
    let key: String = receiver_key.to_string().chars().take(12).collect();
    [
        format!(
            "demo: keys: the receiver made a fresh keypair (public key {key}…) and the sender knows it, \
             as `send --peer` would, so the handshake is Noise IK"
        ),
        format!(
            "demo: 0-RTT: the sender's very first datagram already carries encrypted data of the {} file; \
             no round trip comes before the bytes leave",
            output::bytes(args.bytes)
        ),
        format!(
            "demo: relay: a userspace relay between them adds {} ms each way ({} ms RTT) and drops {:.1} % of the datagrams \
             in each direction; losses are retransmitted, and the receiver checks the BLAKE2b hash at the end",
            args.rtt_ms / 2,
            args.rtt_ms,
            args.loss * 100.0
        ),
    ]
}

/// `lrp2p demo`.
pub(crate) async fn run(args: &DemoArgs, ui: &Ui) -> Result<(), CliError> {
    let imp = Impairment {
        loss: args.loss,
        delay: Duration::from_millis(args.rtt_ms) / 2,
        ..Impairment::default()
    };
    let setup = |what: &str| {
        let what = what.to_owned();
        move |e| CliError::net(what, e)
    };
    let receiver =
        net::bind(LOOPBACK, crate::keyfile::generate(), true, args.cc).await.map_err(setup("receiver"))?;
    let receiver_addr = receiver.local_addr().map_err(setup("receiver"))?;
    let receiver_key = receiver.public_key();
    let relay_socket = tokio::net::UdpSocket::bind(LOOPBACK).await.map_err(setup("relay"))?;
    let relay = relay::spawn(relay_socket, receiver_addr, imp, args.seed).map_err(setup("relay"))?;
    let sender =
        net::bind(LOOPBACK, crate::keyfile::generate(), true, args.cc).await.map_err(setup("sender"))?;
    for line in explain(args, &receiver_key) {
        ui.note(&line);
    }
    let receiving = tokio::spawn(async move {
        let (mut conn, _peer) = receiver.accept().await.map_err(|e| CliError::net("accept", e))?;
        receive_side(&mut conn).await
    });
    let mut conn =
        sender.dial(relay.addr, Some(receiver_key), net::Service::Files).await.map_err(setup("connect"))?;
    let (sent, stats) = send_side(&mut conn, args.bytes, args.seed, ui).await?;
    let received =
        receiving.await.map_err(|e| CliError::Transfer(format!("receiver task failed: {e}")))??;
    report(ui, &sent, &received, stats, Some(relay.counters.snapshot()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt as _;

    #[tokio::test]
    async fn pattern_is_seeded_and_sized() {
        let mut a = Vec::new();
        Pattern::new(5, 100_000).read_to_end(&mut a).await.expect("read");
        let mut b = Vec::new();
        Pattern::new(5, 100_000).read_to_end(&mut b).await.expect("read");
        assert_eq!(a.len(), 100_000);
        assert_eq!(a, b);
    }

    #[tokio::test]
    async fn both_halves_agree_over_a_duplex() {
        let (mut a, mut b) = tokio::io::duplex(64 * 1024);
        let receiving = tokio::spawn(async move { receive_side(&mut b).await });
        let (sent, stats) = send_side(&mut a, 3_000_000, 9, &Ui::quiet()).await.expect("send");
        let received = receiving.await.expect("join").expect("receive");
        assert_eq!(sent.blake2b, received.blake2b);
        assert!(stats.is_none());
        report(&Ui::quiet(), &sent, &received, stats, None).expect("match");
    }
}
