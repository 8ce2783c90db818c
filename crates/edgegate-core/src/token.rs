//! Tickets and passes: the only two tokens the gate issues.
//!
//! A token is `payload || HMAC-SHA256(key, payload)`, base64url without padding. Untrusted text
//! becomes a [`Ticket`] or [`Pass`] only through `verify`, which checks, in this order: size,
//! base64, exact length, version, kind, key id, MAC (constant time, full length, through
//! `Mac::verify_slice`), room, expiry, issue time not in the future. Any failure is a
//! [`TokenError`], and callers treat every error alike: as if there were no token.
//!
//! Byte layout, version 1 (all integers big-endian):
//!
//! | ticket | bytes | | pass | bytes |
//! |---|---|---|---|---|
//! | version = 1 | 1 | | version = 1 | 1 |
//! | kind = `T` | 1 | | kind = `P` | 1 |
//! | key id | 1 | | key id | 1 |
//! | room tag | 8 | | room tag | 8 |
//! | order key | 8 | | ticket id | 16 |
//! | ticket id (random) | 16 | | issued at, unix ms | 8 |
//! | issued at, unix ms | 8 | | expires at, unix ms | 8 |
//! | expires at, unix ms | 8 | | HMAC-SHA256 | 32 |
//! | HMAC-SHA256 | 32 | | | |
//!
//! Live cookies outlive a deploy: any change to this layout is a version bump, and the golden
//! vectors in `tests/vectors.json` pin the exact text.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::Mac;

use crate::codec::{Reader, Writer};
use crate::keys::{ForPasses, ForTickets, Key, KeyRing, RoomTag};
use crate::order::OrderKey;
use crate::time::UnixMs;

/// The layout version every token starts with.
pub const VERSION: u8 = 1;
const KIND_TICKET: u8 = b'T';
const KIND_PASS: u8 = b'P';
const TAG_LEN: usize = 32;
const TICKET_PAYLOAD_LEN: usize = 3 + 8 + 8 + 16 + 8 + 8;
const PASS_PAYLOAD_LEN: usize = 3 + 8 + 16 + 8 + 8;
/// Longest token text we even try to decode; anything longer is refused before base64.
pub const MAX_TOKEN_CHARS: usize = 160;
/// How far in the future an issue time may lie (clock skew between edge machines, or between
/// the gate and the origin) before the token is refused, in milliseconds.
pub const MAX_SKEW_MS: u64 = 30_000;

/// Why a token was refused. For tests and logs only: every variant means "no token".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TokenError {
    TooLong,
    NotBase64,
    WrongLength,
    UnknownVersion,
    WrongKind,
    UnknownKey,
    BadMac,
    WrongRoom,
    Expired,
    FromTheFuture,
}

/// A place in the queue, as the gate issued it. Obtainable from untrusted text only through
/// [`Ticket::verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ticket {
    pub key_id: u8,
    pub room: RoomTag,
    pub order: OrderKey,
    /// Random 128-bit identity of this place in line; passes bind to it.
    pub id: [u8; 16],
    pub issued_at: UnixMs,
    pub expires_at: UnixMs,
}

/// Proof of admission, bound to the ticket that earned it. Obtainable from untrusted text only
/// through [`Pass::verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Pass {
    pub key_id: u8,
    pub room: RoomTag,
    pub ticket_id: [u8; 16],
    pub issued_at: UnixMs,
    pub expires_at: UnixMs,
}

impl Ticket {
    /// Signs this ticket with the ring's newest key (the `key_id` field is overwritten with it).
    pub fn sign(&self, keys: &KeyRing<ForTickets>) -> String {
        let key = keys.signing();
        let payload = Writer::with_capacity(TICKET_PAYLOAD_LEN + TAG_LEN)
            .u8(VERSION)
            .u8(KIND_TICKET)
            .u8(key.id())
            .bytes(&self.room.0)
            .u64(self.order.0)
            .bytes(&self.id)
            .u64(self.issued_at.0)
            .u64(self.expires_at.0)
            .into_vec();
        seal(key, payload)
    }

    /// Turns cookie text into a ticket for `room`, or says why not.
    pub fn verify(
        text: &str,
        keys: &KeyRing<ForTickets>,
        room: RoomTag,
        now: UnixMs,
    ) -> Result<Ticket, TokenError> {
        let (key_id, payload) = open(text, KIND_TICKET, TICKET_PAYLOAD_LEN, keys)?;
        let mut body = Reader::new(payload.get(3..).unwrap_or_default());
        let ticket = (|| {
            Some(Ticket {
                key_id,
                room: RoomTag(body.array()?),
                order: OrderKey(body.u64()?),
                id: body.array()?,
                issued_at: UnixMs(body.u64()?),
                expires_at: UnixMs(body.u64()?),
            })
        })()
        .ok_or(TokenError::WrongLength)?;
        body.finish().ok_or(TokenError::WrongLength)?;
        check_scope(ticket.room, room, ticket.issued_at, ticket.expires_at, now)?;
        Ok(ticket)
    }
}

impl Pass {
    /// Signs this pass with the ring's newest key.
    pub fn sign(&self, keys: &KeyRing<ForPasses>) -> String {
        let key = keys.signing();
        let payload = Writer::with_capacity(PASS_PAYLOAD_LEN + TAG_LEN)
            .u8(VERSION)
            .u8(KIND_PASS)
            .u8(key.id())
            .bytes(&self.room.0)
            .bytes(&self.ticket_id)
            .u64(self.issued_at.0)
            .u64(self.expires_at.0)
            .into_vec();
        seal(key, payload)
    }

    /// Turns header or cookie text into a pass for `room`, or says why not.
    pub fn verify(
        text: &str,
        keys: &KeyRing<ForPasses>,
        room: RoomTag,
        now: UnixMs,
    ) -> Result<Pass, TokenError> {
        let (key_id, payload) = open(text, KIND_PASS, PASS_PAYLOAD_LEN, keys)?;
        let mut body = Reader::new(payload.get(3..).unwrap_or_default());
        let pass = (|| {
            Some(Pass {
                key_id,
                room: RoomTag(body.array()?),
                ticket_id: body.array()?,
                issued_at: UnixMs(body.u64()?),
                expires_at: UnixMs(body.u64()?),
            })
        })()
        .ok_or(TokenError::WrongLength)?;
        body.finish().ok_or(TokenError::WrongLength)?;
        check_scope(pass.room, room, pass.issued_at, pass.expires_at, now)?;
        Ok(pass)
    }
}

fn seal<P>(key: &Key<P>, mut payload: Vec<u8>) -> String {
    let mut mac = key.mac();
    mac.update(&payload);
    payload.extend_from_slice(&mac.finalize().into_bytes());
    URL_SAFE_NO_PAD.encode(payload)
}

/// Decodes and authenticates a token of `kind`; returns its key id and its payload (header
/// included, tag removed).
fn open<P>(
    text: &str,
    kind: u8,
    payload_len: usize,
    keys: &KeyRing<P>,
) -> Result<(u8, Vec<u8>), TokenError> {
    if text.len() > MAX_TOKEN_CHARS {
        return Err(TokenError::TooLong);
    }
    let mut bytes = URL_SAFE_NO_PAD
        .decode(text)
        .map_err(|_| TokenError::NotBase64)?;
    if bytes.len() != payload_len + TAG_LEN {
        return Err(TokenError::WrongLength);
    }
    let (payload, tag) = bytes.split_at(payload_len);
    let mut header = Reader::new(payload);
    if header.u8() != Some(VERSION) {
        return Err(TokenError::UnknownVersion);
    }
    if header.u8() != Some(kind) {
        return Err(TokenError::WrongKind);
    }
    let key_id = header.u8().ok_or(TokenError::WrongLength)?;
    let key = keys.get(key_id).ok_or(TokenError::UnknownKey)?;
    let mut mac = key.mac();
    mac.update(payload);
    mac.verify_slice(tag).map_err(|_| TokenError::BadMac)?;
    bytes.truncate(payload_len);
    Ok((key_id, bytes))
}

fn check_scope(
    got: RoomTag,
    want: RoomTag,
    issued_at: UnixMs,
    expires_at: UnixMs,
    now: UnixMs,
) -> Result<(), TokenError> {
    if got != want {
        return Err(TokenError::WrongRoom);
    }
    if now >= expires_at {
        return Err(TokenError::Expired);
    }
    if issued_at > now.plus_ms(MAX_SKEW_MS) {
        return Err(TokenError::FromTheFuture);
    }
    Ok(())
}
