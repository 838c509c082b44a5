//! Handshake datagrams: the Noise steps of [`crate::crypto::noise`] framed with LRP2P headers,
//! prologues, payloads and cookie MACs (PROTOCOL.md §4–§5).
//!
//! Each function does one step of one side and works on whole datagrams: the `write_*`
//! functions fill a caller buffer and return the Noise state for the next step; the `read_*`
//! functions take a parsed datagram, decrypt its payload into a caller buffer, and return the
//! parsed payload together with the next state. Nothing here keeps state or decides policy
//! (whom to accept, whether early data may be delivered): that is the endpoint's job.

use rand_core::{CryptoRng, RngCore};

use crate::crypto::cookie::cookie_mac;
use crate::crypto::noise::ik::{IkInitiator, IkInitiatorWaiting, IkResponder, IkResponderReceived};
use crate::crypto::noise::xx::{
    XxInitiator, XxInitiatorReceived, XxInitiatorWaiting, XxResponder, XxResponderReceived,
    XxResponderWaiting,
};
use crate::crypto::noise::{Completed, HandshakeError, prologue};
use crate::identity::{PublicKey, StaticSecret};
use crate::wire::{
    COOKIE_LEN, COOKIE_MAC_LEN, ConnectionId, DecodeError, IkInitPayload, IkInitiationRepr,
    IkResponsePayload, IkResponseRepr, RESPONSE_PAYLOAD_HEAD_LEN, XX_INITIATION_NOISE_LEN,
    XX_RESPONSE_NOISE_LEN, XxFinishPayload, XxFinishRepr, XxInitiationRepr, XxResponsePayload,
    XxResponseRepr, cookie_mac_covered,
};

/// Largest handshake payload or Noise message these functions handle (one datagram).
pub const MAX_HANDSHAKE_DATAGRAM: usize = 2048;

/// Why a handshake step failed. Failures on received datagrams mean "drop and count".
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeFailure {
    /// The datagram or its decrypted payload violates PROTOCOL.md.
    #[error("malformed handshake: {0}")]
    Malformed(#[from] DecodeError),
    /// The Noise layer rejected the message (authentication failure, bad key, size).
    #[error("noise: {0}")]
    Noise(#[from] HandshakeError),
}

/// Initiator: writes an IK initiation carrying `payload` (timestamp, isn, optional early DATA).
/// `cookie` is the cookie last received from this responder, if any (PROTOCOL.md §10.3).
pub fn write_ik_initiation<R: RngCore + CryptoRng>(
    rng: &mut R,
    local: &StaticSecret,
    remote: &PublicKey,
    sender_id: ConnectionId,
    payload: &IkInitPayload<'_>,
    cookie: Option<&[u8; COOKIE_LEN]>,
    out: &mut [u8],
) -> Result<(IkInitiatorWaiting, usize), HandshakeFailure> {
    let mut plain = [0u8; MAX_HANDSHAKE_DATAGRAM];
    let n = payload.emit(&mut plain)?;
    let mut noise = [0u8; MAX_HANDSHAKE_DATAGRAM];
    let (state, m) = IkInitiator::start(rng, local, remote, &prologue(sender_id), &plain[..n], &mut noise)?;
    let repr = IkInitiationRepr { sender_id, noise: &noise[..m], cookie_mac: [0; COOKIE_MAC_LEN] };
    let len = repr.emit(out)?;
    set_cookie_mac(&mut out[..len], cookie)?;
    Ok((state, len))
}

/// Initiator: writes an XX initiation (`-> e`, no payload).
pub fn write_xx_initiation<R: RngCore + CryptoRng>(
    rng: &mut R,
    local: &StaticSecret,
    sender_id: ConnectionId,
    cookie: Option<&[u8; COOKIE_LEN]>,
    out: &mut [u8],
) -> Result<(XxInitiatorWaiting, usize), HandshakeFailure> {
    let mut noise = [0u8; XX_INITIATION_NOISE_LEN];
    let (state, _) = XxInitiator::start(rng, local, &prologue(sender_id), &[], &mut noise)?;
    let repr = XxInitiationRepr { sender_id, noise: &noise, cookie_mac: [0; COOKIE_MAC_LEN] };
    let len = repr.emit(out)?;
    set_cookie_mac(&mut out[..len], cookie)?;
    Ok((state, len))
}

/// Replaces the last 16 bytes of an initiation with the MAC under `cookie` (or zeros).
/// Used again when a cookie reply arrives and the same initiation is retransmitted.
pub fn set_cookie_mac(initiation: &mut [u8], cookie: Option<&[u8; COOKIE_LEN]>) -> Result<(), DecodeError> {
    let covered = cookie_mac_covered(initiation)?;
    let mac = match cookie {
        Some(cookie) => cookie_mac(cookie, covered),
        None => [0; COOKIE_MAC_LEN],
    };
    let at = covered.len();
    initiation[at..].copy_from_slice(&mac);
    Ok(())
}

/// Responder: reads an IK initiation, decrypting its payload into `plain`.
pub fn read_ik_initiation<'p>(
    local: &StaticSecret,
    datagram: &IkInitiationRepr<'_>,
    plain: &'p mut [u8],
) -> Result<(IkResponderReceived, IkInitPayload<'p>), HandshakeFailure> {
    let p = prologue(datagram.sender_id);
    let (state, n) = IkResponder::read_initiation(local, &p, datagram.noise, plain)?;
    let payload = IkInitPayload::parse(&plain[..n])?;
    Ok((state, payload))
}

/// Responder: writes the IK response to the initiator `receiver_id` (the payload names the
/// responder's own id).
pub fn write_ik_response<R: RngCore + CryptoRng>(
    rng: &mut R,
    state: IkResponderReceived,
    receiver_id: ConnectionId,
    payload: &IkResponsePayload<'_>,
    out: &mut [u8],
) -> Result<(Completed, usize), HandshakeFailure> {
    let mut plain = [0u8; MAX_HANDSHAKE_DATAGRAM];
    let n = payload.emit(&mut plain)?;
    let mut noise = [0u8; MAX_HANDSHAKE_DATAGRAM];
    let (done, m) = state.write_response(rng, &plain[..n], &mut noise)?;
    let len = IkResponseRepr { receiver_id, noise: &noise[..m] }.emit(out)?;
    Ok((done, len))
}

/// Initiator: reads the IK response, decrypting its payload into `plain`.
pub fn read_ik_response<'p>(
    state: &IkInitiatorWaiting,
    datagram: &IkResponseRepr<'_>,
    plain: &'p mut [u8],
) -> Result<(Completed, IkResponsePayload<'p>), HandshakeFailure> {
    let (done, n) = state.read_response(datagram.noise, plain)?;
    let payload = IkResponsePayload::parse(&plain[..n])?;
    Ok((done, payload))
}

/// Responder: reads an XX initiation (its Noise payload must be empty).
pub fn read_xx_initiation(
    local: &StaticSecret,
    datagram: &XxInitiationRepr<'_>,
) -> Result<XxResponderReceived, HandshakeFailure> {
    let p = prologue(datagram.sender_id);
    let mut empty = [0u8; 0];
    let (state, _) = XxResponder::read_initiation(local, &p, datagram.noise, &mut empty)?;
    Ok(state)
}

/// Responder: writes the XX response (`<- e, ee, s, es`, payload = its id and isn).
pub fn write_xx_response<R: RngCore + CryptoRng>(
    rng: &mut R,
    state: XxResponderReceived,
    receiver_id: ConnectionId,
    payload: &XxResponsePayload,
    out: &mut [u8],
) -> Result<(XxResponderWaiting, usize), HandshakeFailure> {
    let mut plain = [0u8; RESPONSE_PAYLOAD_HEAD_LEN];
    let n = payload.emit(&mut plain)?;
    let mut noise = [0u8; XX_RESPONSE_NOISE_LEN];
    let (next, _) = state.write_response(rng, &plain[..n], &mut noise)?;
    let len = XxResponseRepr { receiver_id, noise: &noise }.emit(out)?;
    Ok((next, len))
}

/// Initiator: reads the XX response; the result names the responder's static key.
pub fn read_xx_response(
    state: &XxInitiatorWaiting,
    datagram: &XxResponseRepr<'_>,
) -> Result<(XxInitiatorReceived, XxResponsePayload), HandshakeFailure> {
    let mut plain = [0u8; XX_RESPONSE_NOISE_LEN];
    let (next, n) = state.read_response(datagram.noise, &mut plain)?;
    let payload = XxResponsePayload::parse(&plain[..n])?;
    Ok((next, payload))
}

/// Initiator: writes the XX finish (`-> s, se` + payload) to the responder `receiver_id`.
pub fn write_xx_finish(
    state: XxInitiatorReceived,
    receiver_id: ConnectionId,
    payload: &XxFinishPayload<'_>,
    out: &mut [u8],
) -> Result<(Completed, usize), HandshakeFailure> {
    let mut plain = [0u8; MAX_HANDSHAKE_DATAGRAM];
    let n = payload.emit(&mut plain)?;
    let mut noise = [0u8; MAX_HANDSHAKE_DATAGRAM];
    let (done, m) = state.write_finish(&plain[..n], &mut noise)?;
    let len = XxFinishRepr { receiver_id, noise: &noise[..m] }.emit(out)?;
    Ok((done, len))
}

/// Responder: reads the XX finish, decrypting its payload into `plain`.
pub fn read_xx_finish<'p>(
    state: &XxResponderWaiting,
    datagram: &XxFinishRepr<'_>,
    plain: &'p mut [u8],
) -> Result<(Completed, XxFinishPayload<'p>), HandshakeFailure> {
    let (done, n) = state.read_finish(datagram.noise, plain)?;
    let payload = XxFinishPayload::parse(&plain[..n])?;
    Ok((done, payload))
}
