//! [`Event`]: what an endpoint tells its application.

use std::net::SocketAddr;

use super::ConnectionHandle;
#[allow(unused_imports)] // doc links
use super::Endpoint;
use crate::app_protocol::AppProtocol;
use crate::connection::CloseReason;
#[allow(unused_imports)] // doc links
use crate::error::ReadError;
use crate::identity::PublicKey;

/// Something the application should act on.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Event {
    /// A peer wants to connect: call [`Endpoint::accept`] or [`Endpoint::refuse`].
    Incoming {
        /// The new connection.
        connection: ConnectionHandle,
        /// The peer's authenticated static key.
        peer: PublicKey,
        /// Where it came from.
        remote: SocketAddr,
        /// The application protocol id the initiator sent with its first DATA segment in the
        /// handshake (PROTOCOL.md §7.7); `None` if it sent none there (see
        /// [`Endpoint::app_protocol`]). Refuse a connection for a service not offered here.
        app_protocol: Option<AppProtocol>,
    },
    /// The handshake completed.
    Connected {
        /// The connection.
        connection: ConnectionHandle,
        /// Whether 0-RTT early data was accepted (false for XX and when refused or replayed).
        early_data_accepted: bool,
    },
    /// A responder connection left the half-open state (PROTOCOL.md §10.5): the initiator
    /// proved that it holds its handshake keys and receives at its address — for IK with its
    /// first authenticated transport packet, for XX with its finish (so it comes right after
    /// `Connected`). Until then an IK connection may be a forged or replayed initiation (its
    /// 0-RTT data is readable all the same), and it ends as [`CloseReason::Unconfirmed`] if
    /// still unconfirmed at the handshake timeout. A server that keeps scarce per-peer
    /// resources (a session slot, a file) can wait for this before granting them. Never
    /// emitted for initiator connections, which are never half-open.
    Confirmed {
        /// The connection.
        connection: ConnectionHandle,
    },
    /// Data became readable (edge-triggered: read until `Blocked`).
    Readable {
        /// The connection.
        connection: ConnectionHandle,
    },
    /// Send-buffer space freed up after a short write.
    Writable {
        /// The connection.
        connection: ConnectionHandle,
    },
    /// Everything written so far — and the FIN, once the stream is shut down — has been
    /// acknowledged by the peer ([`Endpoint::is_acknowledged`] turned true).
    Acknowledged {
        /// The connection.
        connection: ConnectionHandle,
    },
    /// The peer finished its stream; every byte before the FIN has been read.
    Finished {
        /// The connection.
        connection: ConnectionHandle,
    },
    /// The connection moved to a new path, validated (PROTOCOL.md §13.4): the peer answered a
    /// challenge sent to its new address. [`Endpoint::path`] tells where it goes now.
    PathChanged {
        /// The connection.
        connection: ConnectionHandle,
    },
    /// The connection ended. Data it received and the application has not read stays readable:
    /// the handle stays valid until the application has read to the end (`read` returns `Ok(0)`
    /// or [`ReadError::Closed`]) or calls [`Endpoint::release`]. With nothing left to read (and
    /// for an incoming connection never accepted) the handle is stale at once.
    Closed {
        /// The connection.
        connection: ConnectionHandle,
        /// Why.
        reason: CloseReason,
    },
    /// The rendezvous service this endpoint registered with ([`Endpoint::register`]) answered:
    /// it sees this endpoint at `observed` (its NAT's public address and port). Peers can now
    /// find it by key, and [`Endpoint::connect_by_key`] works.
    Registered {
        /// The endpoint's own connection to the service (not the application's).
        connection: ConnectionHandle,
        /// This endpoint's address as the service sees it.
        observed: SocketAddr,
    },
    /// The connection to the rendezvous service ended: register again to be found.
    RendezvousClosed {
        /// The endpoint's own connection to the service.
        connection: ConnectionHandle,
        /// Why.
        reason: CloseReason,
    },
}

impl Event {
    /// The connection the event is about.
    pub fn connection(&self) -> ConnectionHandle {
        match self {
            Event::Incoming { connection, .. }
            | Event::Connected { connection, .. }
            | Event::Confirmed { connection }
            | Event::Readable { connection }
            | Event::Writable { connection }
            | Event::Acknowledged { connection }
            | Event::Finished { connection }
            | Event::PathChanged { connection }
            | Event::Closed { connection, .. }
            | Event::Registered { connection, .. }
            | Event::RendezvousClosed { connection, .. } => *connection,
        }
    }
}
