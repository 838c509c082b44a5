//! The rendezvous roles of an endpoint (PROTOCOL.md §13.7): as a *peer* it registers over an
//! ordinary IK connection to a service ([`Endpoint::register`]), dials other peers by key alone
//! ([`Endpoint::connect_by_key`]: a LOOKUP, then the introduction's addresses, §13.6) and
//! punches toward the peers it is introduced to (§13.9); as a *service*
//! ([`Endpoint::serve_rendezvous`]) it keeps the registry and introduces peers to each other.
//!
//! The connections these roles use are the endpoint's own: their events never reach the
//! application, their streams carry the records of [`crate::rendezvous`]. Their events are
//! queued by `Endpoint::after` and run here at the end of each entry point that knows `now`.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Instant;

use rand_core::{CryptoRng, RngCore};

use super::{ConnectionHandle, Ended, Endpoint, Event};
use crate::config::ConnectOptions;
use crate::connection::{ConnEvent, Connection, relay_address};
use crate::crypto::punch::PunchKey;
use crate::error::ConnectError;
use crate::identity::PublicKey;
use crate::rendezvous::{
    Client, ClientEvent, Dial, Lookup, RENDEZVOUS_APP_PROTOCOL, Record, RecordReader, Registry,
    RegistryConfig,
};
use crate::wire::close_code;

/// This endpoint registered with a service.
pub(super) struct PeerRole {
    link: ConnectionHandle,
    client: Client,
    reader: RecordReader,
    observed: Option<SocketAddr>,
    /// Dials by key waiting for their introduction.
    waiting: Vec<(PublicKey, ConnectionHandle)>,
    /// Introductions acted on at their time (PROTOCOL.md §13.7: DCUtR's `rtt/2`).
    scheduled: Vec<Dial>,
    /// Which keys this endpoint punches toward when introduced to them unasked (§13.7.5 rule 1);
    /// `None`: every key (the application accepts everyone).
    policy: Option<IntroductionPolicy>,
    /// The latest peers introduced to this one unasked (at most [`MAX_INTRODUCED`]): their
    /// connections get the relay as a path too (PROTOCOL.md §13.8).
    introduced: std::collections::VecDeque<PublicKey>,
}

/// Introduced peers remembered for the relay.
const MAX_INTRODUCED: usize = 32;

/// Decides whether an introduction to a key this endpoint did not ask for is acted on.
pub(super) type IntroductionPolicy = std::sync::Arc<dyn Fn(&PublicKey) -> bool + Send + Sync>;

impl std::fmt::Debug for PeerRole {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PeerRole")
            .field("link", &self.link)
            .field("observed", &self.observed)
            .finish_non_exhaustive()
    }
}

/// This endpoint serves as a rendezvous.
#[derive(Debug)]
pub(super) struct ServiceRole {
    registry: Registry,
    /// Each link's record reader (its key is its connection's peer key).
    links: BTreeMap<ConnectionHandle, RecordReader>,
    by_key: BTreeMap<PublicKey, ConnectionHandle>,
    introductions: u64,
    /// When the registrations of live connections were last refreshed.
    swept: Option<Instant>,
}

/// Counters of the rendezvous service ([`Endpoint::rendezvous_stats`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct RendezvousStats {
    /// Peers registered now.
    pub registered: usize,
    /// Introductions made (each one a pair of INTRODUCE records).
    pub introductions: u64,
    /// What the relay passed on and dropped (PROTOCOL.md §13.8).
    pub relay: super::relay::RelayStats,
}

/// Stream bytes read per call.
const READ_CHUNK: usize = 2048;

impl<R: RngCore + CryptoRng> Endpoint<R> {
    /// Registers this endpoint with the rendezvous service at `service`, known by its key
    /// (PROTOCOL.md §13.7): an IK connection with the application protocol
    /// [`RENDEZVOUS_APP_PROTOCOL`] whose first datagram carries the REGISTER with `locals`
    /// (this endpoint's local addresses, for peers behind the same NAT). The service's
    /// REGISTERED arrives as [`Event::Registered`], with the address it sees this endpoint at.
    /// A second registration replaces the first. The link is kept alive by keep-alives (§13.5);
    /// its end is [`Event::RendezvousClosed`].
    pub fn register(
        &mut self,
        now: Instant,
        service: SocketAddr,
        service_key: PublicKey,
        locals: &[SocketAddr],
    ) -> Result<(), ConnectError> {
        let options = ConnectOptions::default().with_app_protocol(RENDEZVOUS_APP_PROTOCOL);
        let link = self.connect_with(now, service, Some(service_key), options)?;
        let old_policy = self.peer_role.as_ref().and_then(|p| p.policy.clone());
        if let Some(old) = self.peer_role.take() {
            let _ = self.close(now, old.link, close_code::NO_ERROR, b"registered again");
            let _ = self.release(now, old.link);
        }
        let client = Client::new();
        let mut record = Vec::new();
        client.register(locals).encode(&mut record);
        let _ = self.write(now, link, &record);
        self.peer_role = Some(Box::new(PeerRole {
            link,
            client,
            reader: RecordReader::new(),
            observed: None,
            waiting: Vec::new(),
            scheduled: Vec::new(),
            policy: old_policy.or_else(|| self.introduction_policy.clone()),
            introduced: std::collections::VecDeque::new(),
        }));
        self.run_roles(now);
        Ok(())
    }

    /// Which peers this endpoint is willing to be introduced to when it did not ask
    /// (PROTOCOL.md §13.7.5 rule 1): an introduction to a key `policy` refuses is ignored (no
    /// PUNCH goes anywhere). The default acts on every introduction, as an application that
    /// accepts every key would; an application with an allow-list sets it to that list.
    pub fn set_introduction_policy(&mut self, policy: impl Fn(&PublicKey) -> bool + Send + Sync + 'static) {
        let policy: IntroductionPolicy = std::sync::Arc::new(policy);
        self.introduction_policy = Some(policy.clone());
        if let Some(role) = self.peer_role.as_mut() {
            role.policy = Some(policy);
        }
    }

    /// The address the rendezvous service sees this endpoint at, once registered.
    pub fn observed_address(&self) -> Option<SocketAddr> {
        self.peer_role.as_ref().and_then(|p| p.observed)
    }

    /// Opens a connection to the peer with key `peer`, wherever it is, through the rendezvous
    /// this endpoint registered with (PROTOCOL.md §13.7): the IK initiation goes through the
    /// service's relay at once (§13.8), with what was written before it (0-RTT), while the
    /// service is asked for the peer (LOOKUP) and introduces both; copies of the initiation go
    /// to the peer's observed and local addresses (§13.6) as the peer punches toward this
    /// endpoint (§13.9). Established on the relay, the connection probes those addresses and
    /// moves to the first that answers; it falls back to the relay if the direct path fails.
    /// Unknown to the service: closed with [`CloseReason::NotFound`]; no answer within the
    /// handshake timeout: [`CloseReason::HandshakeTimeout`].
    ///
    /// [`CloseReason::NotFound`]: crate::CloseReason::NotFound
    /// [`CloseReason::HandshakeTimeout`]: crate::CloseReason::HandshakeTimeout
    pub fn connect_by_key(
        &mut self,
        now: Instant,
        peer: PublicKey,
        options: ConnectOptions,
    ) -> Result<ConnectionHandle, ConnectError> {
        let link = self.peer_role.as_ref().map(|p| p.link).ok_or(ConnectError::NotRegistered)?;
        let punch = PunchKey::new(&self.identity, &peer);
        let via = relay_address(&peer);
        let handle = self.connect_with(now, via, Some(peer), options)?;
        if let Some(conn) = self.table.get_mut(handle) {
            conn.await_introduction(now, punch);
            conn.set_relay(via, None);
        }
        let mut record = Vec::new();
        if let Some(role) = self.peer_role.as_mut() {
            role.client.lookup(now, peer).encode(&mut record);
            role.waiting.push((peer, handle));
        }
        let _ = self.write(now, link, &record);
        self.touched(handle);
        self.run_roles(now);
        Ok(handle)
    }

    /// Makes this endpoint a rendezvous service (PROTOCOL.md §13.7): connections that ask for
    /// [`RENDEZVOUS_APP_PROTOCOL`] are accepted and served here, never shown to the
    /// application; a registration lives as long as its connection (and at most the
    /// registry's `ttl` without a record).
    pub fn serve_rendezvous(&mut self, config: RegistryConfig) {
        let relay =
            super::relay::RelayService::new(config.relay_bytes_per_second, config.relay_datagrams_per_second);
        self.relay_service = Some(Box::new(relay));
        self.service_role = Some(Box::new(ServiceRole {
            registry: Registry::new(config),
            links: BTreeMap::new(),
            by_key: BTreeMap::new(),
            introductions: 0,
            swept: None,
        }));
    }

    /// The service's counters, when this endpoint serves as a rendezvous.
    pub fn rendezvous_stats(&self) -> Option<RendezvousStats> {
        let role = self.service_role.as_ref()?;
        let relay = self.relay_service.as_ref().map(|r| r.stats()).unwrap_or_default();
        Some(RendezvousStats { registered: role.registry.len(), introductions: role.introductions, relay })
    }

    /// Runs the rendezvous roles' queued events and due introductions.
    pub(super) fn run_roles(&mut self, now: Instant) {
        while let Some((handle, event, ended)) = self.internal.pop_front() {
            let is_link = self.peer_role.as_ref().is_some_and(|p| p.link == handle);
            if is_link {
                self.on_link_event(now, handle, &event, ended);
            } else {
                self.on_registrant_event(now, handle, &event, ended);
            }
        }
        self.run_scheduled(now);
    }

    /// The earliest scheduled introduction.
    pub(super) fn next_scheduled(&self) -> Option<Instant> {
        self.peer_role.as_ref().and_then(|p| p.scheduled.iter().map(|d| d.at).min())
    }

    /// Reads what `handle`'s stream holds.
    fn read_stream(&mut self, now: Instant, handle: ConnectionHandle) -> Vec<u8> {
        let mut bytes = Vec::new();
        let mut buf = [0u8; READ_CHUNK];
        for _ in 0..64 {
            match self.read(now, handle, &mut buf) {
                Ok(n) if n > 0 => bytes.extend_from_slice(&buf[..n]),
                _ => break,
            }
        }
        bytes
    }

    fn on_link_event(
        &mut self,
        now: Instant,
        handle: ConnectionHandle,
        event: &ConnEvent,
        ended: Option<Ended>,
    ) {
        match event {
            ConnEvent::Readable => {
                let bytes = self.read_stream(now, handle);
                let mut input = bytes.as_slice();
                loop {
                    let Some(role) = self.peer_role.as_mut() else { return };
                    match role.reader.push(&mut input) {
                        Some(Ok(record)) => {
                            let policy = role.policy.clone();
                            let accepts = |key: &PublicKey| policy.as_ref().is_none_or(|p| p(key));
                            let event = role.client.on_record(now, record, accepts);
                            self.on_client_event(now, handle, event);
                        }
                        Some(Err(_)) => {
                            // PROTOCOL.md §13.7: a malformed record ends the link.
                            let _ = self.close(now, handle, close_code::PROTOCOL_VIOLATION, b"bad record");
                            return;
                        }
                        None => return,
                    }
                }
            }
            ConnEvent::Closed => {
                let Some(Ended { reason, .. }) = ended else { return };
                let Some(role) = self.peer_role.take() else { return };
                for (_, waiting) in role.waiting {
                    if let Some(conn) = self.table.get_mut(waiting) {
                        conn.not_found(now);
                    }
                    self.touched(waiting);
                }
                self.events.push_back(Event::RendezvousClosed { connection: handle, reason });
                let _ = self.release(now, handle);
            }
            _ => {}
        }
    }

    fn on_client_event(&mut self, now: Instant, link: ConnectionHandle, event: ClientEvent) {
        let Some(role) = self.peer_role.as_mut() else { return };
        match event {
            ClientEvent::Registered { observed, .. } => {
                role.observed = Some(observed);
                if let Some(conn) = self.table.get_mut(link) {
                    conn.acknowledge_now();
                }
                self.events.push_back(Event::Registered { connection: link, observed });
            }
            ClientEvent::NotFound { key } => {
                let gone: Vec<ConnectionHandle> =
                    role.waiting.iter().filter(|(k, _)| *k == key).map(|(_, h)| *h).collect();
                role.waiting.retain(|(k, _)| *k != key);
                for handle in gone {
                    if let Some(conn) = self.table.get_mut(handle) {
                        conn.not_found(now);
                    }
                    self.touched(handle);
                }
            }
            ClientEvent::Dial(dial) => role.scheduled.push(dial),
            _ => {}
        }
    }

    /// Introductions whose time came: the asker's waiting dials get their addresses, the
    /// introduced side punches (PROTOCOL.md §13.7, §13.9).
    fn run_scheduled(&mut self, now: Instant) {
        let Some(role) = self.peer_role.as_mut() else { return };
        let (due, later): (Vec<Dial>, Vec<Dial>) = role.scheduled.drain(..).partition(|d| d.at <= now);
        role.scheduled = later;
        for dial in due {
            if !dial.asked {
                if let Some(role) = self.peer_role.as_mut() {
                    role.introduced.retain(|k| *k != dial.key);
                    if role.introduced.len() >= MAX_INTRODUCED {
                        role.introduced.pop_front();
                    }
                    role.introduced.push_back(dial.key);
                }
                let _ = self.punch(now, dial.key, &dial.addresses);
                continue;
            }
            let Some(role) = self.peer_role.as_mut() else { return };
            let handles: Vec<ConnectionHandle> =
                role.waiting.iter().filter(|(k, _)| *k == dial.key).map(|(_, h)| *h).collect();
            role.waiting.retain(|(k, _)| *k != dial.key);
            for handle in handles {
                if let Some(conn) = self.table.get_mut(handle) {
                    conn.introduce(&dial.addresses);
                }
                self.touched(handle);
            }
        }
    }

    fn on_registrant_event(
        &mut self,
        now: Instant,
        handle: ConnectionHandle,
        event: &ConnEvent,
        ended: Option<Ended>,
    ) {
        match event {
            ConnEvent::Incoming => {
                if self.table.get(handle).and_then(Connection::peer_key).is_none() {
                    return;
                }
                let Some(service) = self.service_role.as_mut() else { return };
                service.links.insert(handle, RecordReader::new());
                let _ = self.accept(now, handle);
            }
            ConnEvent::Readable => {
                let Some(key) = self.table.get(handle).and_then(Connection::peer_key) else { return };
                let bytes = self.read_stream(now, handle);
                let mut input = bytes.as_slice();
                loop {
                    let Some(service) = self.service_role.as_mut() else { return };
                    let Some(reader) = service.links.get_mut(&handle) else { return };
                    match reader.push(&mut input) {
                        Some(Ok(record)) => self.on_service_record(now, handle, key, record),
                        Some(Err(_)) => {
                            let _ = self.close(now, handle, close_code::PROTOCOL_VIOLATION, b"bad record");
                            return;
                        }
                        None => return,
                    }
                }
            }
            ConnEvent::Closed => {
                if let Some(relay) = self.relay_service.as_mut() {
                    relay.forget(handle);
                }
                let key = ended.and_then(|e| e.peer);
                if let (Some(service), Some(key)) = (self.service_role.as_mut(), key) {
                    if service.links.remove(&handle).is_some() && service.by_key.get(&key) == Some(&handle) {
                        service.by_key.remove(&key);
                        service.registry.remove(&key);
                    }
                }
                let _ = self.release(now, handle);
            }
            _ => {}
        }
    }

    fn on_service_record(&mut self, now: Instant, handle: ConnectionHandle, key: PublicKey, record: Record) {
        let (observed, rtt) = match self.table.get(handle) {
            Some(conn) => (conn.remote(), conn.stats().rtt),
            None => return,
        };
        let Some(service) = self.service_role.as_mut() else { return };
        service.registry.touch(now, &key);
        if let Some(rtt) = rtt {
            service.registry.set_rtt(&key, rtt);
        }
        let mut to_sender = Vec::new();
        let mut to_other = None;
        match record {
            Record::Register { locals } => match service.registry.register(now, key, observed, &locals) {
                Ok(reply) => {
                    if let Some(old) = service.by_key.insert(key, handle).filter(|old| *old != handle) {
                        // The same key registered again on another connection: the newer wins.
                        service.links.remove(&old);
                        let _ = self.close(now, old, close_code::NO_ERROR, b"registered again");
                    }
                    reply.encode(&mut to_sender);
                }
                Err(_) => {
                    // PROTOCOL.md §13.7: a full registry refuses with REFUSED.
                    let _ = self.close(now, handle, close_code::REFUSED, b"rendezvous full");
                    return;
                }
            },
            Record::Lookup { key: wanted } => {
                let outcome = service.registry.lookup(now, &key, &wanted);
                outcome.reply(wanted).encode(&mut to_sender);
                if let Lookup::Introduce { to_wanted, .. } = outcome {
                    if let Some(other) = service.by_key.get(&wanted).copied() {
                        let mut bytes = Vec::new();
                        Record::Introduce(to_wanted).encode(&mut bytes);
                        to_other = Some((other, bytes));
                        service.introductions += 1;
                    }
                }
            }
            _ => {
                // PROTOCOL.md §13.7: only REGISTER and LOOKUP go to a service.
                let _ = self.close(now, handle, close_code::PROTOCOL_VIOLATION, b"unexpected record");
                return;
            }
        }
        let _ = self.write(now, handle, &to_sender);
        if let Some((other, bytes)) = to_other {
            let _ = self.write(now, other, &bytes);
        }
    }
}

impl PeerRole {
    /// Whether `handle` is the connection to the service.
    pub(super) fn link_is(&self, handle: ConnectionHandle) -> bool {
        self.link == handle
    }

    /// The connection to the service.
    pub(super) fn link(&self) -> ConnectionHandle {
        self.link
    }

    /// Whether the service introduced `peer` to this endpoint lately, unasked.
    pub(super) fn was_introduced(&self, peer: &PublicKey) -> bool {
        self.introduced.contains(peer)
    }
}

impl ServiceRole {
    /// The link of the peer registered with `key`.
    pub(super) fn link_of(&self, key: &PublicKey) -> Option<ConnectionHandle> {
        self.by_key.get(key).copied()
    }

    /// Whether `handle` is a peer's connection to this service.
    pub(super) fn serves(&self, handle: ConnectionHandle) -> bool {
        self.links.contains_key(&handle)
    }

    /// A registration lives as long as its connection (PROTOCOL.md §13.7.4: keep-alives hold
    /// both): once a second the live ones are refreshed, and what is past its lifetime goes.
    pub(super) fn expire(&mut self, now: Instant) {
        if self.swept.is_some_and(|at| now.saturating_duration_since(at) < std::time::Duration::from_secs(1))
        {
            return;
        }
        self.swept = Some(now);
        for key in self.by_key.keys() {
            self.registry.touch(now, key);
        }
        self.registry.expire(now);
    }
}
