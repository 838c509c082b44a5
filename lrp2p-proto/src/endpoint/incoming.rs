//! Datagrams in: routing by connection id, and admission of initiations (PROTOCOL.md §10.2):
//! duplicates, limits, cookies under load, Noise, the 0-RTT replay guard; then the connection
//! is made from what admission decided (`Connection::ik_responder`, `xx_responder`).

use std::net::SocketAddr;
use std::time::Instant;

use rand_core::{CryptoRng, RngCore};

use super::Endpoint;
use crate::connection::{Connection, Ids, IkAdmitted, Received, XxAdmitted, is_relayed};
use crate::handshake::{read_ik_initiation, read_xx_initiation, write_xx_response};
use crate::trace::TraceEvent;
use crate::wire::{
    COOKIE_MAC_LEN, COOKIE_REPLY_LEN, ConnectionId, CookieReplyRepr, DataRepr, IkInitiationRepr, PacketType,
    Seq, Tail, XX_RESPONSE_LEN, XxInitiationRepr, XxResponsePayload, cookie_mac_covered, route,
};

impl<R: RngCore + CryptoRng> Endpoint<R> {
    /// Processes one received UDP payload from `from`. Anything malformed, unauthenticated or
    /// unexpected is dropped and counted ([`Endpoint::stats`]); nothing from the network can
    /// make this panic or grow memory beyond the configured limits.
    ///
    /// The endpoint reads only the type and the receiver's connection id to route a datagram
    /// (PROTOCOL.md §3); the connection it names parses it, once, in place.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &mut [u8]) {
        self.dispatch(now, from, data);
        if !self.internal.is_empty() {
            self.run_roles(now);
        }
    }

    /// [`Endpoint::handle_datagram`] but the rendezvous roles' work.
    pub(super) fn dispatch(&mut self, now: Instant, from: SocketAddr, data: &mut [u8]) {
        self.stats.datagrams_received += 1;
        if self.relayed_from.is_none() && is_relayed(&from) {
            // No datagram from the network comes from a relayed path's address (the
            // discard-only prefix, RFC 6666): one that claims to is forged.
            self.stats.malformed += 1;
            return;
        }
        if data.first() == Some(&crate::wire::PUNCH_TYPE) {
            if self.relayed_from.is_some() {
                // PROTOCOL.md §13.8: a PUNCH opens a NAT; through the relay it means nothing.
                self.stats.unexpected += 1;
                return;
            }
            // PROTOCOL.md §13.7: a PUNCH names no connection.
            return self.on_punch(from, data);
        }
        let (packet_type, receiver) = match route(data) {
            Ok(routed) => routed,
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
        };
        match packet_type {
            PacketType::IkInitiation => return self.on_ik_initiation(now, from, data),
            PacketType::XxInitiation => return self.on_xx_initiation(now, from, data),
            _ => {}
        }
        // PROTOCOL.md §3: every other datagram names a connection; 0 names none.
        let Some(handle) = self.table.by_id(receiver).filter(|_| receiver != ConnectionId::NONE) else {
            self.stats.unknown_connection += 1;
            return;
        };
        self.allow(handle);
        let Some(conn) = self.table.get_mut(handle) else {
            self.stats.unknown_connection += 1;
            return;
        };
        if self.relayed_from.is_some() && !conn.reached_through(from) {
            // PROTOCOL.md §13.8: a carried datagram is for a connection on that relayed path
            // (never the link itself: nothing is relayed twice).
            self.stats.unexpected += 1;
            return;
        }
        let counter = match conn.handle_datagram(now, from, packet_type, data) {
            Received::Accepted => &mut self.stats.accepted,
            Received::Malformed => &mut self.stats.malformed,
            Received::AuthFailed => &mut self.stats.auth_failures,
            Received::Replayed => &mut self.stats.replays,
            Received::Unexpected => &mut self.stats.unexpected,
            Received::Relay { len } => {
                self.stats.accepted += 1;
                self.touched(handle);
                return self.on_relay_packet(now, handle, data, len);
            }
        };
        *counter += 1;
        self.touched(handle);
    }

    /// Whether the endpoint is under load at `now` (PROTOCOL.md §10.1): the half-open count
    /// reached `cookie_threshold`, or the handshake budget is spent.
    fn under_load(&mut self, now: Instant) -> bool {
        self.table.half_open() >= self.config.cookie_threshold || self.budget.exhausted(now)
    }

    /// The checks every initiation passes before any expensive work (PROTOCOL.md §10.2).
    /// Returns false when the datagram was dealt with (duplicate, dropped, or cookie reply).
    /// PROTOCOL.md §10.2, in this order: a duplicate is answered from stored state; the
    /// endpoint's caps; under load (§10.1) a valid cookie MAC for the source address, or a
    /// cookie reply and nothing else; the source's share of the tables (§10.5). Only an
    /// initiation past all of them costs X25519 work, which the handshake budget counts.
    fn admit(
        &mut self,
        now: Instant,
        from: SocketAddr,
        sender_id: ConnectionId,
        datagram: Admission<'_>,
    ) -> bool {
        if let Some(handle) = self.table.by_initiation(from, sender_id) {
            // PROTOCOL.md §4.8: a duplicate gets the stored response, never a second connection.
            self.stats.duplicate_initiations += 1;
            if let Some(conn) = self.table.get_mut(handle) {
                conn.on_duplicate_initiation(from, datagram.len);
            }
            self.touched(handle);
            return false;
        }
        if self.table.half_open() >= self.config.max_half_open
            || self.table.len() >= self.config.max_connections
        {
            self.stats.refused_by_limits += 1;
            return false;
        }
        // PROTOCOL.md §13.8: a relayed initiation proves no address (it has none): the service
        // vouches for its key and bounds its rate; it is never answered with a cookie.
        let relayed = self.relayed_from.is_some();
        if !relayed && self.under_load(now) && !self.cookies.verify(&from, datagram.covered, &datagram.mac) {
            // Under load: a stateless cookie reply, smaller than the initiation (§10.1).
            let reply = CookieReplyRepr {
                receiver_id: sender_id,
                echo: datagram.echo,
                cookie: self.cookies.cookie_for(&from),
            };
            let mut bytes = [0u8; COOKIE_REPLY_LEN];
            if self.stateless.len() < super::MAX_STATELESS && reply.emit(&mut bytes).is_ok() {
                self.stateless.push_back((from, bytes));
                self.stats.cookie_replies += 1;
                if let Some(sink) = &self.conn_config.trace {
                    sink.record(now, None, &TraceEvent::CookieSent { remote: from });
                }
            } else {
                self.stats.cookie_replies_dropped += 1;
            }
            return false;
        }
        if !self.table.addresses.admits(&from, &self.config.address_limits) {
            self.stats.refused_by_address += 1;
            return false;
        }
        self.budget.spend(now);
        true
    }

    fn on_ik_initiation(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        let parsed = IkInitiationRepr::parse(bytes)
            .ok()
            .and_then(|repr| Admission::new(repr.noise, repr.cookie_mac, bytes).map(|a| (repr, a)));
        let Some((repr, admission)) = parsed else {
            self.stats.malformed += 1;
            return;
        };
        if !self.admit(now, from, repr.sender_id, admission) {
            return;
        }
        let mut plain = [0u8; crate::handshake::MAX_HANDSHAKE_DATAGRAM];
        let Ok((noise, payload)) = read_ik_initiation(&self.identity, &repr, &mut plain) else {
            self.stats.handshake_failures += 1;
            return;
        };
        let peer = noise.remote_static();
        if self.relayed_from.is_some_and(|source| source != peer) {
            // PROTOCOL.md §13.8: the initiation's static key is the key the relay named.
            self.stats.handshake_failures += 1;
            return;
        }
        if self.guard.seen_before(&peer, payload.timestamp_ns) {
            // PROTOCOL.md §10.2: a replayed capture makes nothing and gets no answer.
            self.stats.replayed_initiations += 1;
            return;
        }
        // PROTOCOL.md §13.6: our own initiation to this peer crosses this one: the side with
        // the smaller static key is the initiator.
        if let Some(own) = self.table.find(|c| c.dials_by_key(&peer)) {
            if self.identity.public_key() < peer {
                // Ours wins; it goes to where the peer's came from too: behind a NAT that
                // maps each destination to its own port, that is where the peer is.
                self.stats.crossed_initiations += 1;
                if let Some(conn) = self.table.get_mut(own) {
                    conn.aim_at(from);
                }
                self.touched(own);
                return;
            }
            if let Some(conn) = self.table.get_mut(own) {
                conn.abandon_crossed(now);
            }
            self.touched(own);
        }
        // PROTOCOL.md §9.3: every IK initiation is checked, with or without early data.
        let fresh = self.guard.check_and_record(&peer, payload.timestamp_ns, self.unix_now(now)).is_ok();
        // PROTOCOL.md §7.7: the id on the initiation's DATA is the connection's, whether or not
        // its data is accepted as 0-RTT.
        let app_protocol = match &payload.segments.tail {
            Some(Tail::Data(data)) => data.app_protocol,
            _ => None,
        };
        let early = match payload.segments.tail {
            Some(Tail::Data(data)) if fresh && self.config.accept_early_data && self.has_room_for(&data) => {
                self.stats.early_data_accepted += 1;
                Some(data)
            }
            Some(Tail::Data(_)) => {
                self.stats.early_data_refused += 1;
                None
            }
            _ => None,
        };
        let ids = Ids { local: self.fresh_id(), peer: repr.sender_id, isn: self.isn() };
        let admitted =
            IkAdmitted { noise, peer, peer_isn: payload.isn, early, app_protocol, datagram_len: bytes.len() };
        let mut conn = Connection::ik_responder(now, self.conn_config.clone(), ids, from, admitted);
        conn.seed_counter_skips(self.secret());
        // PROTOCOL.md §13.8: a peer met through the rendezvous keeps the relay as a path.
        if let Some(via) = if is_relayed(&from) { Some(from) } else { self.relay_for(&peer) } {
            conn.set_relay(via, None);
        }
        let handle = self.table.insert(conn, Some((from, repr.sender_id)));
        self.stats.accepted += 1;
        self.touched(handle);
    }

    /// Whether the receive budget has room for the early data of a new connection (PROTOCOL.md
    /// §10.6, `memory.rs`); if not, it is refused (the initiator sends it again, §9.3), and
    /// counted as a budget drop.
    fn has_room_for(&mut self, data: &DataRepr<'_>) -> bool {
        let allowance = self.memory.allowance(0, self.table.len() + 1);
        let room = data.payload.len() <= allowance;
        if !room {
            self.stats.receive_budget_drops += 1;
        }
        room
    }

    fn on_xx_initiation(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        let parsed = XxInitiationRepr::parse(bytes).ok().and_then(|repr| {
            Admission::new(repr.noise.as_slice(), repr.cookie_mac, bytes).map(|a| (repr, a))
        });
        let Some((repr, admission)) = parsed else {
            self.stats.malformed += 1;
            return;
        };
        if !self.admit(now, from, repr.sender_id, admission) {
            return;
        }
        let Ok(received) = read_xx_initiation(&self.identity, &repr) else {
            self.stats.handshake_failures += 1;
            return;
        };
        let ids = Ids { local: self.fresh_id(), peer: repr.sender_id, isn: self.isn() };
        let mut out = [0u8; XX_RESPONSE_LEN];
        let payload = XxResponsePayload { responder_id: ids.local, isn: Seq(ids.isn) };
        let Ok((noise, n)) = write_xx_response(&mut self.rng, received, repr.sender_id, &payload, &mut out)
        else {
            self.stats.handshake_failures += 1;
            return;
        };
        let admitted = XxAdmitted { noise, message: out[..n].to_vec(), datagram_len: bytes.len() };
        let mut conn = Connection::xx_responder(now, self.conn_config.clone(), ids, from, admitted);
        conn.seed_counter_skips(self.secret());
        let handle = self.table.insert(conn, Some((from, repr.sender_id)));
        self.stats.accepted += 1;
        self.touched(handle);
    }
}

/// What `admit` needs of an initiation.
struct Admission<'a> {
    echo: [u8; 16],
    mac: [u8; COOKIE_MAC_LEN],
    covered: &'a [u8],
    len: usize,
}

impl<'a> Admission<'a> {
    /// `noise` starts with the initiator's ephemeral key, echoed in a cookie reply; `datagram`
    /// is the whole initiation, whose bytes before the MAC the cookie MAC covers.
    fn new(noise: &[u8], mac: [u8; COOKIE_MAC_LEN], datagram: &'a [u8]) -> Option<Self> {
        let mut echo = [0u8; 16];
        echo.copy_from_slice(noise.get(..16)?);
        let covered = cookie_mac_covered(datagram).ok()?;
        Some(Admission { echo, mac, covered, len: datagram.len() })
    }
}
