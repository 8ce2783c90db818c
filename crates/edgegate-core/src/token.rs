//! Tickets and passes: the only two tokens the gate issues.
//!
//! A token is `payload || HMAC-SHA256(key, payload)`, base64url without padding. Untrusted text
//! becomes a [`Ticket`] or [`Pass`] only through `verify`, which checks, in this order: size,
//! base64, exact length (a ticket's version byte picks which layout's length), version, kind,
//! key id, MAC (constant time, full length, through `Mac::verify_slice`), a ticket's seat byte,
//! room, expiry, issue time not in the future. Any failure is a
//! [`TokenError`], and callers treat every error alike: as if there were no token.
//!
//! Byte layouts (all integers big-endian). Tickets are at version 2; passes and test keys at 1.
//!
//! | ticket v2 | bytes | | pass v1 | bytes |
//! |---|---|---|---|---|
//! | version = 2 | 1 | | version = 1 | 1 |
//! | kind = `T` | 1 | | kind = `P` | 1 |
//! | key id | 1 | | key id | 1 |
//! | room tag | 8 | | room tag | 8 |
//! | order key | 8 | | ticket id | 16 |
//! | ticket id (random) | 16 | | issued at, unix ms | 8 |
//! | issued at, unix ms | 8 | | expires at, unix ms | 8 |
//! | expires at, unix ms | 8 | | HMAC-SHA256 | 32 |
//! | held until, unix ms | 8 | | | |
//! | seat (0 issued, 1 held, 2 done) | 1 | | | |
//! | HMAC-SHA256 | 32 | | | |
//!
//! A version-1 ticket (the same without `held until` and `seat`) still verifies: it reads as a
//! place issued but not yet counted, held until its expiry, so its holder keeps the order key
//! they were given and is counted when they come back, as any new ticket is.
//!
//! Live cookies outlive a deploy: any change to a layout is a version bump, and the golden
//! vectors in `tests/vectors.json` pin the exact text.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::Mac;

use crate::codec::{Reader, Writer};
use crate::keys::{ForPasses, ForTestKeys, ForTickets, Key, KeyRing, RoomTag};
use crate::order::OrderKey;
use crate::time::UnixMs;

/// The layout version passes and test keys start with (and tickets issued before version 2).
pub const VERSION: u8 = 1;
/// The layout version of tickets issued now.
pub const TICKET_VERSION: u8 = 2;
const KIND_TICKET: u8 = b'T';
const KIND_PASS: u8 = b'P';
const KIND_TEST: u8 = b'X';
const TAG_LEN: usize = 32;
const TICKET_V1_PAYLOAD_LEN: usize = 3 + 8 + 8 + 16 + 8 + 8;
const TICKET_PAYLOAD_LEN: usize = TICKET_V1_PAYLOAD_LEN + 8 + 1;
const PASS_PAYLOAD_LEN: usize = 3 + 8 + 16 + 8 + 8;
const TEST_PAYLOAD_LEN: usize = 3 + 8 + 16 + 1 + 8 + 8 + 8;
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
    /// A field holds a value its layout cannot carry: a ticket's unknown seat, a test key's
    /// unknown mode. Checked after the MAC.
    BadField,
}

/// Where a ticket's place stands in the queue's counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Seat {
    /// Issued, never seen again yet: it costs the queue nothing. Link previews, crawlers,
    /// probes and cookie-refusing clients never get further than this.
    Issued,
    /// Its holder came back, so the place is counted, until `held_until`.
    Held,
    /// The holder was let through and the origin ended the session: the place is used up, and
    /// it is never admitted again.
    Done,
}

impl Seat {
    fn encode(self) -> u8 {
        match self {
            Seat::Issued => 0,
            Seat::Held => 1,
            Seat::Done => 2,
        }
    }

    fn decode(b: u8) -> Option<Seat> {
        match b {
            0 => Some(Seat::Issued),
            1 => Some(Seat::Held),
            2 => Some(Seat::Done),
            _ => None,
        }
    }
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
    /// When the holder first arrived. Never changes for the life of the place.
    pub issued_at: UnixMs,
    /// When the cookie itself stops being accepted (hours: long enough to tell a holder who
    /// comes back late that their place lapsed).
    pub expires_at: UnixMs,
    /// The place is kept until then; each counted visit moves it on by the room's grace period.
    pub held_until: UnixMs,
    pub seat: Seat,
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
    /// Signs this ticket with the ring's newest key (the `key_id` field is overwritten with it),
    /// in the current layout.
    pub fn sign(&self, keys: &KeyRing<ForTickets>) -> String {
        let key = keys.signing();
        let payload = Writer::with_capacity(TICKET_PAYLOAD_LEN + TAG_LEN)
            .u8(TICKET_VERSION)
            .u8(KIND_TICKET)
            .u8(key.id())
            .bytes(&self.room.0)
            .u64(self.order.0)
            .bytes(&self.id)
            .u64(self.issued_at.0)
            .u64(self.expires_at.0)
            .u64(self.held_until.0)
            .u8(self.seat.encode())
            .into_vec();
        seal(key, payload)
    }

    /// Turns cookie text into a ticket for `room`, or says why not. Reads both layouts.
    pub fn verify(
        text: &str,
        keys: &KeyRing<ForTickets>,
        room: RoomTag,
        now: UnixMs,
    ) -> Result<Ticket, TokenError> {
        let ticket = Ticket::authenticate(text, keys)?;
        ticket.in_scope(room, now)?;
        Ok(ticket)
    }

    /// The half of [`Ticket::verify`] that does not change with time or room: the layout and
    /// the MAC. Its answer for the same text and ring is always the same, so it may be
    /// remembered; [`Ticket::in_scope`] must still be asked on every use.
    pub fn authenticate(text: &str, keys: &KeyRing<ForTickets>) -> Result<Ticket, TokenError> {
        let (version, len) = match peek_version(text) {
            Some(TICKET_VERSION) => (TICKET_VERSION, TICKET_PAYLOAD_LEN),
            _ => (VERSION, TICKET_V1_PAYLOAD_LEN),
        };
        let (key_id, payload) = open_as(text, version, KIND_TICKET, len, keys)?;
        let mut body = Reader::new(payload.get(3..).unwrap_or_default());
        let ticket = (|| {
            let (room, order, id, issued_at, expires_at) = (
                RoomTag(body.array()?),
                OrderKey(body.u64()?),
                body.array()?,
                UnixMs(body.u64()?),
                UnixMs(body.u64()?),
            );
            let (held_until, seat) = if version == TICKET_VERSION {
                (UnixMs(body.u64()?), body.u8()?)
            } else {
                (expires_at, Seat::Issued.encode())
            };
            Some((
                Ticket {
                    key_id,
                    room,
                    order,
                    id,
                    issued_at,
                    expires_at,
                    held_until,
                    seat: Seat::Issued,
                },
                seat,
            ))
        })()
        .ok_or(TokenError::WrongLength)?;
        body.finish().ok_or(TokenError::WrongLength)?;
        let (mut ticket, seat) = ticket;
        ticket.seat = Seat::decode(seat).ok_or(TokenError::BadField)?;
        Ok(ticket)
    }

    /// The other half of [`Ticket::verify`]: is this authenticated ticket for `room`, and
    /// accepted at `now`?
    pub fn in_scope(&self, room: RoomTag, now: UnixMs) -> Result<(), TokenError> {
        check_scope(self.room, room, self.issued_at, self.expires_at, now)
    }

    /// Has the place lapsed at `now` (not seen within the grace period)? A lapsed ticket's
    /// holder is a new arrival, and is told so.
    pub fn lapsed(&self, now: UnixMs) -> bool {
        now >= self.held_until
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
        let pass = Pass::authenticate(text, keys)?;
        pass.in_scope(room, now)?;
        Ok(pass)
    }

    /// The layout and MAC half of [`Pass::verify`], as [`Ticket::authenticate`] is a ticket's.
    pub fn authenticate(text: &str, keys: &KeyRing<ForPasses>) -> Result<Pass, TokenError> {
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
        Ok(pass)
    }

    /// The time and room half of [`Pass::verify`].
    pub fn in_scope(&self, room: RoomTag, now: UnixMs) -> Result<(), TokenError> {
        check_scope(self.room, room, self.issued_at, self.expires_at, now)
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
    open_as(text, VERSION, kind, payload_len, keys)
}

/// The version byte of token text, decoding only the first four characters (three bytes).
fn peek_version(text: &str) -> Option<u8> {
    let head = URL_SAFE_NO_PAD.decode(text.get(..4)?).ok()?;
    head.first().copied()
}

/// [`open`] for a token of layout `version`.
fn open_as<P>(
    text: &str,
    version: u8,
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
    if header.u8() != Some(version) {
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

/// What a test key makes the gate do for the browser that presents it (see README, "Testing
/// through the gate"). None of it touches the live queue's counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TestMode {
    /// Straight through to the origin, with a pass minted for the request.
    Through,
    /// The waiting page at this 1-based position.
    Waiting {
        position: u64,
    },
    Paused {
        position: u64,
    },
    Closed,
    /// The pre-queue, counting down to this opening.
    Prequeue {
        opens_at: UnixMs,
    },
    /// Status says admitted, and protected paths go through as with `Through`.
    Admitted,
}

impl TestMode {
    fn encode(self) -> (u8, u64) {
        match self {
            TestMode::Through => (0, 0),
            TestMode::Waiting { position } => (1, position),
            TestMode::Paused { position } => (2, position),
            TestMode::Closed => (3, 0),
            TestMode::Prequeue { opens_at } => (4, opens_at.0),
            TestMode::Admitted => (5, 0),
        }
    }

    fn decode(mode: u8, param: u64) -> Option<TestMode> {
        Some(match mode {
            0 => TestMode::Through,
            1 => TestMode::Waiting {
                position: param.max(1),
            },
            2 => TestMode::Paused {
                position: param.max(1),
            },
            3 => TestMode::Closed,
            4 => TestMode::Prequeue {
                opens_at: UnixMs(param),
            },
            5 => TestMode::Admitted,
            _ => return None,
        })
    }

    /// Does this mode send protected paths to the origin?
    pub fn goes_through(self) -> bool {
        matches!(self, TestMode::Through | TestMode::Admitted)
    }
}

/// An operator-minted key that lets a browser test force what the gate shows, without joining
/// the live queue. Honoured only while the room's `test_mode` is on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TestKey {
    pub key_id: u8,
    pub room: RoomTag,
    /// Random identity; a pass minted for a `Through` request binds to it like a ticket id.
    pub id: [u8; 16],
    pub mode: TestMode,
    pub issued_at: UnixMs,
    pub expires_at: UnixMs,
}

impl TestKey {
    pub fn sign(&self, keys: &KeyRing<ForTestKeys>) -> String {
        let key = keys.signing();
        let (mode, param) = self.mode.encode();
        let payload = Writer::with_capacity(TEST_PAYLOAD_LEN + TAG_LEN)
            .u8(VERSION)
            .u8(KIND_TEST)
            .u8(key.id())
            .bytes(&self.room.0)
            .bytes(&self.id)
            .u8(mode)
            .u64(param)
            .u64(self.issued_at.0)
            .u64(self.expires_at.0)
            .into_vec();
        seal(key, payload)
    }

    pub fn verify(
        text: &str,
        keys: &KeyRing<ForTestKeys>,
        room: RoomTag,
        now: UnixMs,
    ) -> Result<TestKey, TokenError> {
        let (key_id, payload) = open(text, KIND_TEST, TEST_PAYLOAD_LEN, keys)?;
        let mut body = Reader::new(payload.get(3..).unwrap_or_default());
        let (room_got, id, mode, param, issued_at, expires_at) = (|| {
            Some((
                RoomTag(body.array()?),
                body.array()?,
                body.u8()?,
                body.u64()?,
                UnixMs(body.u64()?),
                UnixMs(body.u64()?),
            ))
        })()
        .ok_or(TokenError::WrongLength)?;
        body.finish().ok_or(TokenError::WrongLength)?;
        check_scope(room_got, room, issued_at, expires_at, now)?;
        let mode = TestMode::decode(mode, param).ok_or(TokenError::BadField)?;
        Ok(TestKey {
            key_id,
            room: room_got,
            id,
            mode,
            issued_at,
            expires_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretRing;

    const NOW: UnixMs = UnixMs(1_800_000_000_000);

    fn rings() -> (KeyRing<ForTestKeys>, KeyRing<ForTickets>) {
        let s = SecretRing::parse("1:00112233445566778899aabbccddeeff").unwrap();
        (s.test_keys().unwrap(), s.ticket_keys().unwrap())
    }

    fn key(mode: TestMode) -> TestKey {
        TestKey {
            key_id: 1,
            room: RoomTag::of("booking"),
            id: [3; 16],
            mode,
            issued_at: NOW,
            expires_at: NOW.plus_ms(60_000),
        }
    }

    #[test]
    fn test_keys_round_trip_every_mode() {
        let (ring, _) = rings();
        for mode in [
            TestMode::Through,
            TestMode::Waiting { position: 42 },
            TestMode::Paused { position: 7 },
            TestMode::Closed,
            TestMode::Prequeue {
                opens_at: NOW.plus_ms(5_000),
            },
            TestMode::Admitted,
        ] {
            let text = key(mode).sign(&ring);
            assert_eq!(
                TestKey::verify(&text, &ring, RoomTag::of("booking"), NOW),
                Ok(key(mode))
            );
        }
    }

    #[test]
    fn test_key_layout_is_pinned() {
        // Live test keys outlive a deploy like tickets do: a changed layout is a version bump.
        let (ring, _) = rings();
        let text = key(TestMode::Waiting { position: 42 }).sign(&ring);
        assert_eq!(
            text,
            "AVgBW7tl_sPzwZEDAwMDAwMDAwMDAwMDAwMDAQAAAAAAAAAqAAABoxhcUAAAAAGjGF06YE0yy5GLj0yOeMzaaB2Y44yIWykoSexClox6cCqhb2NN"
        );
    }

    #[test]
    fn test_keys_refuse_expiry_other_rooms_and_other_key_purposes() {
        let (ring, tickets) = rings();
        let text = key(TestMode::Through).sign(&ring);
        let room = RoomTag::of("booking");
        assert_eq!(
            TestKey::verify(&text, &ring, room, NOW.plus_ms(60_000)),
            Err(TokenError::Expired)
        );
        assert_eq!(
            TestKey::verify(&text, &ring, RoomTag::of("other"), NOW),
            Err(TokenError::WrongRoom)
        );
        // Signed with the ticket key (same secret, other purpose): the MAC does not match.
        let forged = {
            let k = tickets.signing();
            let (mode, param) = TestMode::Through.encode();
            let payload = Writer::default()
                .u8(VERSION)
                .u8(KIND_TEST)
                .u8(k.id())
                .bytes(&room.0)
                .bytes(&[3; 16])
                .u8(mode)
                .u64(param)
                .u64(NOW.0)
                .u64(NOW.0 + 60_000)
                .into_vec();
            seal(k, payload)
        };
        assert_eq!(
            TestKey::verify(&forged, &ring, room, NOW),
            Err(TokenError::BadMac)
        );
        // A ticket is not a test key.
        let ticket = Ticket {
            key_id: 1,
            room,
            order: OrderKey(1),
            id: [1; 16],
            issued_at: NOW,
            expires_at: NOW.plus_ms(1),
            held_until: NOW.plus_ms(1),
            seat: Seat::Held,
        }
        .sign(&tickets);
        assert!(TestKey::verify(&ticket, &ring, room, NOW).is_err());
    }
}
