//! Errors: every fallible adapter call returns an [`io::Error`] whose [`kind`](io::Error::kind) says what
//! happened in the terms a TCP user expects, carrying a typed [`Error`] inside for detail.
//!
//! | [`Error`] | [`io::ErrorKind`] |
//! |---|---|
//! | `HandshakeTimeout`, `IdleTimeout`, `Timeout` | `TimedOut` |
//! | `Refused` | `ConnectionRefused` |
//! | `PeerClosed` | `ConnectionReset` |
//! | `ProtocolViolation`, `EndpointClosed` | `ConnectionAborted` |
//! | `Closed`, `SocketClosed` | `NotConnected` |
//! | `Shutdown` | `BrokenPipe` |
//! | `TooManyConnections`, `NoAddress` | `Other`, `InvalidInput` |

use std::io;

use lrp2p_proto::CloseReason;

/// Why a connection or socket call failed. Wrapped in an [`io::Error`]; get it back with
/// [`Error::of`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The handshake did not complete within `handshake_timeout` (nobody answered).
    #[error("handshake timed out: the peer did not answer")]
    HandshakeTimeout,
    /// Nothing authenticated arrived from the peer for `idle_timeout`.
    #[error("connection timed out: nothing heard from the peer")]
    IdleTimeout,
    /// A read, write or `acknowledged` waited longer than the timeout set on the connection.
    #[error("operation timed out")]
    Timeout,
    /// The peer refused the connection (its acceptor rejected our key).
    #[error("connection refused by the peer")]
    Refused,
    /// The peer closed (aborted) the connection before finishing its stream.
    #[error("connection closed by the peer (code {code}: {reason:?})")]
    PeerClosed {
        /// The peer's close code.
        code: u16,
        /// The peer's reason text.
        reason: String,
    },
    /// The peer violated the protocol; the connection was aborted.
    #[error("protocol violation: connection aborted")]
    ProtocolViolation,
    /// The endpoint ended the connection (its limits were reached).
    #[error("connection aborted by the endpoint")]
    EndpointClosed,
    /// This side closed the connection (`close`).
    #[error("connection closed")]
    Closed,
    /// The socket was dropped (or stopped).
    #[error("socket closed")]
    SocketClosed,
    /// Write after `shutdown` (or after the stream finished).
    #[error("stream shut down for writing")]
    Shutdown,
    /// The socket holds `max_connections` connections already.
    #[error("too many connections")]
    TooManyConnections,
    /// The address given to `connect` resolved to nothing.
    #[error("no address to connect to")]
    NoAddress,
    /// Dialing by key: the rendezvous does not know the peer (PROTOCOL.md §13.7).
    #[error("the rendezvous does not know that peer (not registered)")]
    NotFound,
    /// Dialing by key without a registration, or the rendezvous connection ended.
    #[error("not registered with a rendezvous")]
    NotRegistered,
}

impl Error {
    /// The [`io::ErrorKind`] this error travels as.
    pub fn kind(&self) -> io::ErrorKind {
        use io::ErrorKind as K;
        match self {
            Error::HandshakeTimeout | Error::IdleTimeout | Error::Timeout => K::TimedOut,
            Error::Refused => K::ConnectionRefused,
            Error::PeerClosed { .. } => K::ConnectionReset,
            Error::ProtocolViolation | Error::EndpointClosed => K::ConnectionAborted,
            Error::Closed | Error::SocketClosed => K::NotConnected,
            Error::Shutdown => K::BrokenPipe,
            Error::TooManyConnections => K::Other,
            Error::NoAddress => K::InvalidInput,
            Error::NotFound => K::NotFound,
            Error::NotRegistered => K::NotConnected,
        }
    }

    /// The typed error inside an [`io::Error`] returned by an LRP2P adapter, if it carries one.
    pub fn of(error: &io::Error) -> Option<&Error> {
        error.get_ref().and_then(|inner| inner.downcast_ref::<Error>())
    }

    /// What a read or write meets after the connection ended for `reason`; `None` for a
    /// graceful finish (reads see the end of the stream).
    pub(crate) fn from_reason(reason: &CloseReason) -> Option<Error> {
        Some(match reason {
            CloseReason::Finished => return None,
            CloseReason::Local { .. } => Error::Closed,
            CloseReason::Remote { code, reason } => Error::PeerClosed { code: *code, reason: reason.clone() },
            CloseReason::Refused => Error::Refused,
            CloseReason::NotFound => Error::NotFound,
            CloseReason::IdleTimeout => Error::IdleTimeout,
            CloseReason::HandshakeTimeout | CloseReason::Unconfirmed => Error::HandshakeTimeout,
            CloseReason::ProtocolViolation => Error::ProtocolViolation,
            _ => Error::EndpointClosed,
        })
    }
}

impl From<lrp2p_proto::ConnectError> for Error {
    /// Why the endpoint refused to open a connection.
    fn from(error: lrp2p_proto::ConnectError) -> Self {
        match error {
            lrp2p_proto::ConnectError::NoAddress => Error::NoAddress,
            lrp2p_proto::ConnectError::NotRegistered => Error::NotRegistered,
            _ => Error::TooManyConnections,
        }
    }
}

impl From<Error> for io::Error {
    fn from(error: Error) -> Self {
        io::Error::new(error.kind(), error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_and_round_trip() {
        let e: io::Error = Error::Refused.into();
        assert_eq!(e.kind(), io::ErrorKind::ConnectionRefused);
        assert_eq!(Error::of(&e), Some(&Error::Refused));
        assert_eq!(Error::from_reason(&CloseReason::HandshakeTimeout), Some(Error::HandshakeTimeout));
        assert_eq!(Error::from_reason(&CloseReason::Finished), None);
        assert_eq!(Error::Shutdown.kind(), io::ErrorKind::BrokenPipe);
    }
}
