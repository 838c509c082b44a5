//! A walk through LRP2P's secure channel with two in-memory peers: a 0-RTT Noise IK handshake
//! whose first datagram carries "Hello World", encrypted transport packets both ways, and what
//! happens to a replayed initiation, a replayed packet and a tampered one.
//!
//! `cargo run --release -p lrp2p-proto --features ring,internals --example demo`

// A program, not the core: it owns the clock and prints (the sans-IO rules bind the library).
#![allow(clippy::disallowed_methods, clippy::print_stdout)]

use std::error::Error;
use std::time::{SystemTime, UNIX_EPOCH};

use lrp2p_proto::StaticSecret;
use lrp2p_proto::crypto::Session;
use lrp2p_proto::crypto::early::{EarlyDataConfig, EarlyDataGuard};
use lrp2p_proto::handshake::{read_ik_initiation, read_ik_response, write_ik_initiation, write_ik_response};
use lrp2p_proto::wire::{
    AckRepr, ConnectionId, DataRepr, Datagram, IkInitPayload, IkResponsePayload, SackRanges, Segments, Seq,
    TRANSPORT_HEADER_LEN, Tail,
};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

fn main() -> Result<(), Box<dyn Error>> {
    // The core never reads clocks or the OS RNG: the program supplies both.
    let now_ns = u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_nanos())?;
    let mut rng = ChaCha20Rng::from_entropy();
    let alice = StaticSecret::generate(&mut rng);
    let bob = StaticSecret::generate(&mut rng);
    let (alice_id, bob_id) = (ConnectionId(0xa11ce), ConnectionId(0xb0b));
    println!("alice {}", alice.public_key());
    println!("bob   {}  (alice knows this key: 0-RTT with Noise IK)\n", bob.public_key());

    // 1. Alice's first datagram: the IK initiation, carrying "Hello World" as early data.
    let hello = DataRepr {
        seq: Seq(100),
        fin: false,
        rtx: false,
        ping: false,
        app_protocol: None,
        payload: b"Hello World",
    };
    let payload = IkInitPayload {
        timestamp_ns: now_ns,
        isn: Seq(100),
        segments: Segments { ack: None, tail: Some(Tail::Data(hello)) },
    };
    let mut initiation = [0u8; 1400];
    let (alice_waiting, n1) =
        write_ik_initiation(&mut rng, &alice, &bob.public_key(), alice_id, &payload, None, &mut initiation)?;
    let initiation = &initiation[..n1];
    println!("alice -> bob  IK initiation, {n1} bytes (the first datagram)");

    // 2. Bob decrypts it and, if the replay guard agrees, delivers the early data at once.
    let mut guard = EarlyDataGuard::new(EarlyDataConfig::default(), now_ns - 60_000_000_000);
    let Datagram::IkInitiation(init) = Datagram::parse(initiation)? else {
        return Err("not an initiation".into());
    };
    let mut plain = [0u8; 1400];
    let (bob_received, early) = read_ik_initiation(&bob, &init, &mut plain)?;
    guard.check_and_record(&bob_received.remote_static(), early.timestamp_ns, now_ns)?;
    if let Some(Tail::Data(data)) = early.segments.tail {
        println!(
            "bob   reads {:?} from connection {:#x} before sending anything (0-RTT)",
            as_text(data.payload),
            init.sender_id.0
        );
    }

    // 3. Bob answers: an ACK of the early data plus his own first data (0.5-RTT).
    let ack = AckRepr {
        cumulative: Seq(100),
        window: 1024,
        ping: false,
        sack: SackRanges::EMPTY,
        ack_delay_us: None,
        dsack: lrp2p_proto::wire::DsackRanges::EMPTY,
        echo: None,
    };
    let reply = DataRepr {
        seq: Seq(7000),
        fin: false,
        rtx: false,
        ping: false,
        app_protocol: None,
        payload: b"Hi Alice",
    };
    let response = IkResponsePayload {
        responder_id: bob_id,
        isn: Seq(7000),
        segments: Segments { ack: Some(ack), tail: Some(Tail::Data(reply)) },
    };
    let mut resp = [0u8; 1400];
    let (bob_done, n2) = write_ik_response(&mut rng, bob_received, alice_id, &response, &mut resp)?;
    println!("bob   -> alice IK response, {n2} bytes (handshake complete, forward secret)");
    let Datagram::IkResponse(resp_dgram) = Datagram::parse(&resp[..n2])? else {
        return Err("not a response".into());
    };
    let mut plain2 = [0u8; 1400];
    let (alice_done, answer) = read_ik_response(&alice_waiting, &resp_dgram, &mut plain2)?;
    if let Some(Tail::Data(data)) = answer.segments.tail {
        let acked = answer.segments.ack.is_some_and(|a| a.cumulative == Seq(100));
        println!("alice reads {:?}; early data acknowledged: {acked}\n", as_text(data.payload));
    }

    // 4. Transport packets: AEAD with explicit counters, in place, no allocation.
    let (send, recv) = alice_done.into_keys();
    let mut alice_session = Session::<lrp2p_proto::crypto::DefaultAead>::new(&send, &recv, bob_id)?;
    let (send, recv) = bob_done.into_keys();
    let mut bob_session = Session::<lrp2p_proto::crypto::DefaultAead>::new(&send, &recv, alice_id)?;
    let message = b"\x06\x00\x00\x00\x00\x65a transport segment";
    let mut packet = [0u8; 1400];
    packet[TRANSPORT_HEADER_LEN..][..message.len()].copy_from_slice(message);
    let n = alice_session.seal(&mut packet, message.len())?;
    let captured = packet;
    let opened = bob_session.open(&mut packet[..n])?;
    println!("alice -> bob  transport packet, {n} bytes; bob opens {:?}", as_text(&opened[6..]));

    // 5. An attacker replays what it saw.
    let mut replay = captured;
    println!(
        "\nattacker replays that packet:      {}",
        outcome(bob_session.open(&mut replay[..n]).map(|_| ()))
    );
    let mut tampered = [0u8; 1400];
    tampered[TRANSPORT_HEADER_LEN..][..message.len()].copy_from_slice(message);
    let n = alice_session.seal(&mut tampered, message.len())?;
    tampered[TRANSPORT_HEADER_LEN + 8] ^= 1;
    println!(
        "attacker flips a bit of the next:  {}",
        outcome(bob_session.open(&mut tampered[..n]).map(|_| ()))
    );
    let (again, replayed) = read_ik_initiation(&bob, &init, &mut plain)?;
    let verdict = guard.check_and_record(&again.remote_static(), replayed.timestamp_ns, now_ns);
    println!("attacker replays the initiation:   {} (Noise alone would accept it)", outcome(verdict));
    println!(
        "\nfigures: cargo run --release -p lrp2p-proto --features ring,internals --example crypto_bench"
    );
    Ok(())
}

fn as_text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn outcome<E: std::fmt::Display>(result: Result<(), E>) -> String {
    match result {
        Ok(()) => "accepted".into(),
        Err(e) => format!("refused ({e})"),
    }
}
