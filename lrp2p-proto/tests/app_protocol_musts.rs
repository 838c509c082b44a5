//! PROTOCOL.md §7.7's receiver rules for APP_PROTOCOL, with an initiator written by hand (the
//! `internals` feature exposes the handshake, the session and the codecs): the responder takes
//! the id from the first copy of the initiator's segment `isn` it receives, wherever it
//! arrives, and ignores APP_PROTOCOL on any other segment and on later copies of `isn`.

#![allow(clippy::unwrap_used, clippy::disallowed_methods)]

use std::net::SocketAddr;
use std::time::Instant;

use lrp2p_proto::crypto::{DefaultAead, Session};
use lrp2p_proto::handshake::{read_ik_response, write_ik_initiation};
use lrp2p_proto::wire::{
    ConnectionId, DataRepr, Datagram, IkInitPayload, Segments, Seq, TRANSPORT_HEADER_LEN, Tail,
};
use lrp2p_proto::{AppProtocol, ConnectionHandle, Endpoint, EndpointConfig, Event, StaticSecret};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;

const UNIX_NS: u64 = 1_800_000_000_000_000_000;
const ISN: u32 = 0xffff_fffe;

fn id(text: &str) -> AppProtocol {
    AppProtocol::try_from(text).unwrap()
}

fn data(seq: u32, app_protocol: Option<AppProtocol>, payload: &[u8]) -> DataRepr<'_> {
    DataRepr { seq: Seq(seq), fin: false, rtx: false, ping: false, app_protocol, payload }
}

/// A responder endpoint and a hand-made IK initiator connected to it: the initiation carried
/// `first` (a DATA segment at the isn), or nothing.
struct Setup {
    server: Endpoint<ChaCha20Rng>,
    handle: ConnectionHandle,
    seen_at_admission: Option<AppProtocol>,
    session: Session<DefaultAead>,
    from: SocketAddr,
    now: Instant,
}

impl Setup {
    fn new(first: Option<DataRepr<'_>>) -> Setup {
        let mut rng = ChaCha20Rng::seed_from_u64(7);
        let now = Instant::now();
        let mut config = EndpointConfig::default();
        config.early_data.start_floor = false;
        let server_key = StaticSecret::generate(&mut rng);
        let server_public = server_key.public_key();
        let mut server = Endpoint::new(config, server_key, ChaCha20Rng::seed_from_u64(8), now, UNIX_NS);
        let identity = StaticSecret::generate(&mut rng);
        let segments = Segments { ack: None, tail: first.map(Tail::Data) };
        let payload = IkInitPayload { timestamp_ns: UNIX_NS + 1, isn: Seq(ISN), segments };
        let mut init = [0u8; 1500];
        let (waiting, n) = write_ik_initiation(
            &mut rng,
            &identity,
            &server_public,
            ConnectionId(99),
            &payload,
            None,
            &mut init,
        )
        .unwrap();
        let from: SocketAddr = "10.0.0.1:1000".parse().unwrap();
        server.handle_datagram(now, from, &mut init[..n]);
        let (handle, seen_at_admission) = std::iter::from_fn(|| server.poll_event())
            .find_map(|e| match e {
                Event::Incoming { connection, app_protocol, .. } => Some((connection, app_protocol)),
                _ => None,
            })
            .unwrap();
        server.accept(now, handle).unwrap();
        let mut buf = [0u8; 1500];
        let t = server.poll_transmit(now, &mut buf).unwrap();
        let Ok(Datagram::IkResponse(response)) = Datagram::parse(&buf[..t.len]) else {
            panic!("no IK response")
        };
        let mut plain = [0u8; 1500];
        let (done, answer) = read_ik_response(&waiting, &response, &mut plain).unwrap();
        let (send, recv) = done.into_keys();
        let session = Session::new(&send, &recv, answer.responder_id).unwrap();
        Setup { server, handle, seen_at_admission, session, from, now }
    }

    /// Seals `segment` in a transport packet and hands it to the server.
    fn send(&mut self, segment: DataRepr<'_>) {
        let mut buf = [0u8; 1500];
        let n = Segments { ack: None, tail: Some(Tail::Data(segment)) }
            .emit(&mut buf[TRANSPORT_HEADER_LEN..])
            .unwrap();
        let len = self.session.seal(&mut buf, n).unwrap();
        self.server.handle_datagram(self.now, self.from, &mut buf[..len]);
    }

    fn app_protocol(&self) -> Option<AppProtocol> {
        self.server.app_protocol(self.handle)
    }
}

#[test]
fn the_first_copy_of_the_isn_counts_and_nothing_else() {
    let mut s = Setup::new(Some(data(ISN, Some(id("first")), b"a")));
    assert_eq!((s.seen_at_admission, s.app_protocol()), (Some(id("first")), Some(id("first"))));
    // A retransmission of the isn with another id, and a later segment with one: ignored.
    s.send(data(ISN, Some(id("second")), b"a"));
    s.send(data(ISN.wrapping_add(1), Some(id("third")), b"b"));
    assert_eq!(s.app_protocol(), Some(id("first")));
}

#[test]
fn an_id_on_a_later_segment_is_ignored_and_the_isn_sets_it() {
    // No DATA in the initiation: no id at admission.
    let mut s = Setup::new(None);
    assert_eq!((s.seen_at_admission, s.app_protocol()), (None, None));
    // Out of order, above the isn (past the 2^32 wrap, too): not the first segment.
    s.send(data(ISN.wrapping_add(2), Some(id("later")), b"c"));
    assert_eq!(s.app_protocol(), None);
    // The isn arrives: its id counts; a copy of it afterwards does not.
    s.send(data(ISN, Some(id("svc")), b"a"));
    assert_eq!(s.app_protocol(), Some(id("svc")));
    s.send(data(ISN, Some(id("again")), b"a"));
    assert_eq!(s.app_protocol(), Some(id("svc")));
}

#[test]
fn a_first_segment_without_an_id_leaves_none() {
    let mut s = Setup::new(None);
    s.send(data(ISN, None, b"a"));
    // Delivered without an id: a later copy with one is ignored.
    s.send(data(ISN, Some(id("late")), b"a"));
    assert_eq!(s.app_protocol(), None);
}
