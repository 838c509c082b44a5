//! The errors of the application's calls on an [`Endpoint`](crate::Endpoint): one taxonomy for
//! the crate, below both the endpoint and its connections.
//!
//! Every call that names a connection answers a handle the endpoint no longer holds (released,
//! or never issued) the same way: with [`UnknownConnection`], or with the `UnknownConnection`
//! variant of its own error. Queries (`connection_stats`, `peer_key`, …) answer `None`.
//! Garbage from the network is never an error here: it is dropped and counted
//! ([`EndpointStats`](crate::EndpointStats), [`ConnectionStats`](crate::ConnectionStats)).

/// The handle names no connection of this endpoint: it was released (or, for an incoming
/// connection the application never accepted, the connection ended), or it never existed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown connection")]
pub struct UnknownConnection;

/// Why `connect` failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConnectError {
    /// The endpoint already holds `max_connections` connections.
    #[error("too many connections")]
    TooManyConnections,
    /// No address given could be dialed (none, or only port 0, unspecified, multicast or
    /// broadcast ones).
    #[error("no address to dial")]
    NoAddress,
    /// [`Endpoint::connect_by_key`](crate::Endpoint::connect_by_key) before
    /// [`Endpoint::register`](crate::Endpoint::register): there is no rendezvous to ask.
    #[error("not registered with a rendezvous")]
    NotRegistered,
}

/// Why a write failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// See [`UnknownConnection`].
    #[error("unknown connection")]
    UnknownConnection,
    /// The stream was shut down (FIN queued); nothing more can be written.
    #[error("stream finished")]
    Finished,
    /// The connection is closed.
    #[error("connection closed")]
    Closed,
}

/// Why a read returned no data.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// See [`UnknownConnection`].
    #[error("unknown connection")]
    UnknownConnection,
    /// Nothing to read yet; wait for [`Event::Readable`](crate::Event::Readable).
    #[error("no data available")]
    Blocked,
    /// The connection closed before the stream finished.
    #[error("connection closed")]
    Closed,
}

impl From<UnknownConnection> for WriteError {
    fn from(_: UnknownConnection) -> Self {
        WriteError::UnknownConnection
    }
}

impl From<UnknownConnection> for ReadError {
    fn from(_: UnknownConnection) -> Self {
        ReadError::UnknownConnection
    }
}
