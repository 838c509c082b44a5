//! Datagrams in: demultiplexing by connection id, and the responder's handling of initiations
//! (PROTOCOL.md §10.2): duplicates, limits, cookies under load, Noise, the 0-RTT replay guard,
//! and creating the connection the application is asked to accept.

use std::net::SocketAddr;
use std::time::Instant;

use rand_core::{CryptoRng, RngCore};

use super::{ConnectionHandle, Endpoint};
use crate::arq::recv::RecvStream;
use crate::connection::{ConnEvent, Connection, Handshake};
use crate::handshake::{read_ik_initiation, read_xx_initiation, write_xx_response};
use crate::wire::{
    COOKIE_MAC_LEN, ConnectionId, CookieReplyRepr, Datagram, IkInitiationRepr, Seq, Tail, XxInitiationRepr,
    XxResponsePayload, cookie_mac_covered,
};

impl<R: RngCore + CryptoRng> Endpoint<R> {
    /// Processes one received UDP payload from `from`. Anything malformed, unauthenticated or
    /// unexpected is dropped and counted ([`Endpoint::stats`]); nothing from the network can
    /// make this panic or grow memory beyond the configured limits.
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, data: &mut [u8]) {
        self.stats.datagrams_received += 1;
        let len = data.len();
        let target = match Datagram::parse(data) {
            Err(_) => {
                self.stats.malformed += 1;
                return;
            }
            Ok(Datagram::IkInitiation(repr)) => {
                self.on_ik_initiation(now, from, &repr, data);
                return;
            }
            Ok(Datagram::XxInitiation(repr)) => {
                self.on_xx_initiation(now, from, &repr, data);
                return;
            }
            Ok(other) => other.receiver_id(),
        };
        let Some(handle) = self.table.by_id(target) else {
            self.stats.unknown_connection += 1;
            return;
        };
        let Some(conn) = self.table.get_mut(handle) else { return };
        // Re-parse: the first parse borrowed `data`, which the transport path decrypts in place.
        match Datagram::parse(data) {
            Ok(Datagram::Transport { .. }) => {
                conn.handle_transport(now, from, data);
            }
            Ok(Datagram::IkResponse(repr)) => conn.on_ik_response(now, &repr, len),
            Ok(Datagram::XxResponse(repr)) => conn.on_xx_response(now, &repr, len),
            Ok(Datagram::XxFinish(repr)) => conn.on_xx_finish(now, &repr),
            Ok(Datagram::CookieReply(repr)) => conn.on_cookie_reply(&repr),
            _ => {}
        }
        self.touched(now, handle);
    }

    /// The checks every initiation passes before any expensive work (PROTOCOL.md §10.2).
    /// Returns false when the datagram was dealt with (duplicate, dropped, or cookie reply).
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
                conn.on_duplicate_initiation(datagram.len);
            }
            self.touched(now, handle);
            return false;
        }
        if self.table.half_open() >= self.config.max_half_open
            || self.table.len() >= self.config.max_connections
        {
            self.stats.refused_by_limits += 1;
            return false;
        }
        if self.table.half_open() >= self.config.cookie_threshold
            && !self.cookies.verify(&from, datagram.covered, &datagram.mac)
        {
            // Under load: a stateless cookie reply, smaller than the initiation (§10.1).
            if self.stateless.len() < super::MAX_STATELESS {
                let reply = CookieReplyRepr {
                    receiver_id: sender_id,
                    echo: datagram.echo,
                    cookie: self.cookies.cookie_for(&from),
                };
                let mut bytes = [0u8; crate::wire::COOKIE_REPLY_LEN];
                if reply.emit(&mut bytes).is_ok() {
                    self.stateless.push_back((from, bytes));
                    self.stats.cookie_replies += 1;
                }
            }
            return false;
        }
        true
    }

    fn on_ik_initiation(
        &mut self,
        now: Instant,
        from: SocketAddr,
        repr: &IkInitiationRepr<'_>,
        bytes: &[u8],
    ) {
        let len = bytes.len();
        let Some(admission) = Admission::new(repr.noise, repr.cookie_mac, bytes) else { return };
        if !self.admit(now, from, repr.sender_id, admission) {
            return;
        }
        let mut plain = [0u8; crate::handshake::MAX_HANDSHAKE_DATAGRAM];
        let Ok((noise, payload)) = read_ik_initiation(&self.identity, repr, &mut plain) else {
            self.stats.handshake_failures += 1;
            return;
        };
        let peer = noise.remote_static();
        // PROTOCOL.md §9.3: every IK initiation is checked, with or without early data.
        let fresh = self.guard.check_and_record(&peer, payload.timestamp_ns, self.unix_now(now)).is_ok();
        let early = match payload.segments.tail {
            Some(Tail::Data(data)) if fresh && self.config.accept_early_data => {
                self.stats.early_data_accepted += 1;
                Some(data)
            }
            Some(Tail::Data(_)) => {
                self.stats.early_data_refused += 1;
                None
            }
            _ => None,
        };
        let handle = self.new_responder(now, from, repr.sender_id, payload.isn, |conn| {
            conn.peer_key = Some(peer);
            conn.handshake = Handshake::IkReceived { noise: Box::new(noise), peer_isn: payload.isn.0 };
        });
        let Some(handle) = handle else { return };
        if let Some(conn) = self.table.get_mut(handle) {
            conn.path.received += len as u64;
            if let (Some(data), Some(recv)) = (early, conn.recv.as_mut()) {
                // Buffered now, readable once the application accepts.
                conn.early_accepted = recv.on_data(data.seq, data.payload, data.fin).is_ok();
            }
            conn.events.push_back(ConnEvent::Incoming);
        }
        self.touched(now, handle);
    }

    fn on_xx_initiation(
        &mut self,
        now: Instant,
        from: SocketAddr,
        repr: &XxInitiationRepr<'_>,
        bytes: &[u8],
    ) {
        let len = bytes.len();
        let Some(admission) = Admission::new(repr.noise.as_slice(), repr.cookie_mac, bytes) else { return };
        if !self.admit(now, from, repr.sender_id, admission) {
            return;
        }
        let Ok(received) = read_xx_initiation(&self.identity, repr) else {
            self.stats.handshake_failures += 1;
            return;
        };
        let local_id = self.fresh_id();
        let isn = self.isn();
        let mut out = [0u8; crate::wire::XX_RESPONSE_LEN];
        let payload = XxResponsePayload { responder_id: local_id, isn: Seq(isn) };
        let Ok((noise, n)) = write_xx_response(&mut self.rng, received, repr.sender_id, &payload, &mut out)
        else {
            self.stats.handshake_failures += 1;
            return;
        };
        let message = out[..n].to_vec();
        let handle = self.insert_responder(now, from, repr.sender_id, local_id, isn, None, |conn| {
            conn.handshake = Handshake::XxResponseSent { noise: Box::new(noise), message };
        });
        if let Some(handle) = handle {
            if let Some(conn) = self.table.get_mut(handle) {
                conn.path.received += len as u64;
                conn.on_duplicate_initiation(0);
            }
            self.touched(now, handle);
        }
    }

    /// Creates a responder connection for an IK initiation (the peer's isn is known).
    fn new_responder(
        &mut self,
        now: Instant,
        from: SocketAddr,
        peer_id: ConnectionId,
        peer_isn: Seq,
        setup: impl FnOnce(&mut Connection),
    ) -> Option<ConnectionHandle> {
        let local_id = self.fresh_id();
        let isn = self.isn();
        self.insert_responder(now, from, peer_id, local_id, isn, Some(peer_isn), setup)
    }

    #[allow(clippy::too_many_arguments)]
    fn insert_responder(
        &mut self,
        now: Instant,
        from: SocketAddr,
        peer_id: ConnectionId,
        local_id: ConnectionId,
        isn: u32,
        peer_isn: Option<Seq>,
        setup: impl FnOnce(&mut Connection),
    ) -> Option<ConnectionHandle> {
        let mut conn =
            Connection::new(now, self.conn_config.clone(), local_id, from, false, isn, Handshake::Done);
        conn.peer_id = peer_id;
        if let Some(peer_isn) = peer_isn {
            conn.recv =
                Some(RecvStream::new(peer_isn.0, self.conn_config.recv_buffer, self.conn_config.mss()));
        }
        setup(&mut conn);
        Some(self.table.insert(conn, Some((from, peer_id))))
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
