//! Tickets and passes: the only two tokens the gate issues.
//!
//! A token is `payload || HMAC-SHA256(key, payload)`, base64url without padding. Untrusted text
//! becomes a [`Ticket`] or [`Pass`] only through `verify`, which checks, in this order: size,
//! base64, exact length (a ticket's version byte picks which layout's length), version, kind,
//! key id, MAC (constant time, full length, through `Mac::verify_slice`), a ticket's seat byte,
//! room, expiry, issue time not in the future. Any failure is a
//! [`TokenError`], and callers treat every error alike: as if there were no token.
//!
//! Byte layouts (all integers big-endian). Tickets are at version 3, passes at 2, test keys at 1.
//!
//! | ticket v3 | bytes | | pass v2 | bytes |
//! |---|---|---|---|---|
//! | version = 3 | 1 | | version = 2 | 1 |
//! | kind = `T` | 1 | | kind = `P` | 1 |
//! | key id | 1 | | key id | 1 |
//! | room tag | 8 | | room tag | 8 |
//! | arrival second | 4 | | ticket id | 16 |
//! | place in the second, sealed | 4 | | issued at, unix ms | 8 |
//! | ticket id (random) | 16 | | expires at, unix ms (idle) | 8 |
//! | issued at, unix ms | 8 | | ends at, unix ms (absolute) | 8 |
//! | expires at, unix ms | 8 | | the ticket's issue time, unix ms | 8 |
//! | held until, unix ms | 8 | | home network tag | 8 |
//! | seat (0 issued, 1 held, 2 done, 3 held and paid with work) | 1 | | away network tag (0: none) | 8 |
//! | network tag (0: none) | 8 | | HMAC-SHA256 | 32 |
//! | first let through, unix ms (0: never) | 8 | | | |
//! | HMAC-SHA256 | 32 | | | |
//!
//! A ticket's place inside its arrival second is **sealed**: XORed with the first four bytes of
//! HMAC-SHA256 under its key of `"edgegate order" ‖ ticket id ‖ arrival second`, so a client
//! holding any number of tickets cannot read which stands first (and so cannot keep the best of
//! many and throw the rest away). A pre-queue ticket's place is not in it at all: it is drawn
//! from the room's revealed seed at the opening (`draw`).
//!
//! Older layouts still verify, since tickets and passes in live cookies outlive a deploy: a
//! version-2 ticket (its order key in clear, no network, never let through), a version-1
//! ticket (also without `held until` and `seat`: a place issued but not yet counted, held
//! until its expiry), and a version-1 pass (without its absolute end, its ticket's issue time
//! and its networks: it ends when it expires, and is bound to no network).
//!
//! Live cookies outlive a deploy: any change to a layout is a version bump, and the golden
//! vectors in `tests/vectors.json` pin the exact text.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::Mac;

use crate::codec::{Reader, Writer};
use crate::keys::{ForPasses, ForTestKeys, ForTickets, Key, KeyRing, RoomTag};
use crate::network::NetTag;
use crate::order::OrderKey;
use crate::time::UnixMs;

/// The layout version test keys start with (and passes and tickets issued before the
/// current layouts).
pub const VERSION: u8 = 1;
/// The layout version of tickets issued now.
pub const TICKET_VERSION: u8 = 3;
/// The ticket layout before places were sealed and tickets carried their network.
pub const TICKET_V2: u8 = 2;
/// The layout version of passes issued now.
pub const PASS_VERSION: u8 = 2;
const KIND_TICKET: u8 = b'T';
const KIND_PASS: u8 = b'P';
const KIND_TEST: u8 = b'X';
const TAG_LEN: usize = 32;
const TICKET_V1_PAYLOAD_LEN: usize = 3 + 8 + 8 + 16 + 8 + 8;
const TICKET_V2_PAYLOAD_LEN: usize = TICKET_V1_PAYLOAD_LEN + 8 + 1;
const TICKET_PAYLOAD_LEN: usize = TICKET_V2_PAYLOAD_LEN + 8 + 8;
const PASS_V1_PAYLOAD_LEN: usize = 3 + 8 + 16 + 8 + 8;
const PASS_PAYLOAD_LEN: usize = PASS_V1_PAYLOAD_LEN + 8 + 8 + 8 + 8;
/// What the seal of a ticket's place is keyed over, before its id and second.
const ORDER_LABEL: &[u8] = b"edgegate order";
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
    /// Held, and paid for with work (its network was beyond its budget): never asked again.
    Worked,
}

impl Seat {
    fn encode(self) -> u8 {
        match self {
            Seat::Issued => 0,
            Seat::Held => 1,
            Seat::Done => 2,
            Seat::Worked => 3,
        }
    }

    fn decode(b: u8) -> Option<Seat> {
        match b {
            0 => Some(Seat::Issued),
            1 => Some(Seat::Held),
            2 => Some(Seat::Done),
            3 => Some(Seat::Worked),
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
    /// The client network the place was taken from (`NetTag(0)`: not yet taken, or unknown):
    /// the place counts against that network's budget while it is held.
    pub network: NetTag,
    /// When it was first let through (`UnixMs(0)`: never): a pass minted for it again (a lost
    /// cookie) starts from here, and never outlives the session's absolute end.
    pub admitted_at: UnixMs,
    /// Times its holder was handed back to the front of the line by an origin fault at
    /// admission (`visit::forwarded`), at most 15. Carried in the upper half of the seat's
    /// byte, so the layout is unchanged.
    pub readmitted: u8,
}

/// Proof of admission, bound to the ticket that earned it, its session and its client network.
/// Obtainable from untrusted text only through [`Pass::verify`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pass {
    pub key_id: u8,
    pub room: RoomTag,
    pub ticket_id: [u8; 16],
    pub issued_at: UnixMs,
    /// The idle end: each renewal moves it on, never past [`Pass::ends_at`].
    pub expires_at: UnixMs,
    /// The session's absolute end: no renewal goes past it.
    pub ends_at: UnixMs,
    /// When the ticket it was earned by was issued: what "withdraw every pass issued before"
    /// compares, whatever the renewals.
    pub ticket_issued_at: UnixMs,
    /// The client network it was let through from, and the one it moved to (`NetTag(0)`:
    /// none yet). A pass is good from these two only (`NetTag(0)` home: bound to none).
    pub home: NetTag,
    pub away: NetTag,
}

impl Ticket {
    /// Signs this ticket with the ring's newest key (the `key_id` field is overwritten with it),
    /// in the current layout.
    pub fn sign(&self, keys: &KeyRing<ForTickets>) -> String {
        let key = keys.signing();
        let bucket = u32::try_from(self.order.bucket()).unwrap_or(u32::MAX);
        let sub = self.order.sub32();
        let sealed = sub ^ order_pad(key, &self.id, bucket);
        let payload = Writer::with_capacity(TICKET_PAYLOAD_LEN + TAG_LEN)
            .u8(TICKET_VERSION)
            .u8(KIND_TICKET)
            .u8(key.id())
            .bytes(&self.room.0)
            .u64((u64::from(bucket) << 32) | u64::from(sealed))
            .bytes(&self.id)
            .u64(self.issued_at.0)
            .u64(self.expires_at.0)
            .u64(self.held_until.0)
            .u8(self.seat.encode() | (self.readmitted.min(15) << 4))
            .u64(self.network.0)
            .u64(self.admitted_at.0)
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
            Some(TICKET_V2) => (TICKET_V2, TICKET_V2_PAYLOAD_LEN),
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
            let (held_until, seat) = if version >= TICKET_V2 {
                (UnixMs(body.u64()?), body.u8()?)
            } else {
                (expires_at, Seat::Issued.encode())
            };
            let (network, admitted_at) = if version >= TICKET_VERSION {
                (NetTag(body.u64()?), UnixMs(body.u64()?))
            } else {
                (NetTag(0), UnixMs(0))
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
                    network,
                    admitted_at,
                    readmitted: 0,
                },
                seat,
            ))
        })()
        .ok_or(TokenError::WrongLength)?;
        body.finish().ok_or(TokenError::WrongLength)?;
        let (mut ticket, seat) = ticket;
        ticket.seat = Seat::decode(seat & 0x0f).ok_or(TokenError::BadField)?;
        ticket.readmitted = seat >> 4;
        if version >= TICKET_VERSION {
            // The place inside the second comes sealed: unseal it under the key that signed it.
            let key = keys.get(key_id).ok_or(TokenError::UnknownKey)?;
            let bucket = u32::try_from(ticket.order.bucket()).unwrap_or(u32::MAX);
            let sealed = ticket.order.sub32();
            let sub = sealed ^ order_pad(key, &ticket.id, bucket);
            ticket.order = OrderKey::new(u64::from(bucket), sub);
        }
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
            .u8(PASS_VERSION)
            .u8(KIND_PASS)
            .u8(key.id())
            .bytes(&self.room.0)
            .bytes(&self.ticket_id)
            .u64(self.issued_at.0)
            .u64(self.expires_at.0)
            .u64(self.ends_at.0)
            .u64(self.ticket_issued_at.0)
            .u64(self.home.0)
            .u64(self.away.0)
            .into_vec();
        seal(key, payload)
    }

    /// Is a request from `network` one this pass may go through from: its home, the network it
    /// moved to, or any for a pass bound to none (an old layout's)?
    pub fn from_its_networks(&self, network: NetTag) -> bool {
        !self.home.is_known() || network == self.home || network == self.away
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
        let (version, len) = match peek_version(text) {
            Some(PASS_VERSION) => (PASS_VERSION, PASS_PAYLOAD_LEN),
            _ => (VERSION, PASS_V1_PAYLOAD_LEN),
        };
        let (key_id, payload) = open_as(text, version, KIND_PASS, len, keys)?;
        let mut body = Reader::new(payload.get(3..).unwrap_or_default());
        let pass = (|| {
            let (room, ticket_id, issued_at, expires_at) = (
                RoomTag(body.array()?),
                body.array()?,
                UnixMs(body.u64()?),
                UnixMs(body.u64()?),
            );
            // Version 1 as version 2 reads it: it ends when it expires, bound to no network.
            let mut pass = Pass {
                key_id,
                room,
                ticket_id,
                issued_at,
                expires_at,
                ends_at: expires_at,
                ticket_issued_at: issued_at,
                home: NetTag(0),
                away: NetTag(0),
            };
            if version == PASS_VERSION {
                pass.ends_at = UnixMs(body.u64()?);
                pass.ticket_issued_at = UnixMs(body.u64()?);
                pass.home = NetTag(body.u64()?);
                pass.away = NetTag(body.u64()?);
            }
            Some(pass)
        })()
        .ok_or(TokenError::WrongLength)?;
        body.finish().ok_or(TokenError::WrongLength)?;
        Ok(pass)
    }

    /// The time and room half of [`Pass::verify`]: its room, its idle end, its absolute end, and
    /// an issue time not in the future.
    pub fn in_scope(&self, room: RoomTag, now: UnixMs) -> Result<(), TokenError> {
        check_scope(
            self.room,
            room,
            self.issued_at,
            self.expires_at.min(self.ends_at),
            now,
        )
    }
}

/// The pad a ticket's place inside its second is sealed with: the first four bytes of
/// HMAC-SHA256 under the ticket's key of [`ORDER_LABEL`] ‖ id ‖ second. A token's own MAC is
/// over a payload that starts with its version byte, never with this label, so the two uses of
/// the key cannot be confused.
fn order_pad(key: &Key<ForTickets>, id: &[u8; 16], bucket: u32) -> u32 {
    let mut mac = key.mac();
    mac.update(ORDER_LABEL);
    mac.update(id);
    mac.update(&bucket.to_be_bytes());
    let digest = mac.finalize().into_bytes();
    u32::from_be_bytes(*digest.first_chunk::<4>().unwrap_or(&[0; 4]))
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
            network: NetTag(0),
            admitted_at: UnixMs(0),
            readmitted: 0,
        }
        .sign(&tickets);
        assert!(TestKey::verify(&ticket, &ring, room, NOW).is_err());
    }

    #[test]
    fn a_tickets_place_is_sealed_from_its_holder_and_comes_back_whole() {
        let tickets = SecretRing::parse(&format!("1:{}", "ab".repeat(32)))
            .and_then(|r| r.ticket_keys())
            .unwrap_or_else(|e| panic!("{e}"));
        let room = RoomTag::of("r");
        let ticket = |sub: u32, id: u8| Ticket {
            key_id: 1,
            room,
            order: OrderKey::new(NOW.secs(), sub),
            id: [id; 16],
            issued_at: NOW,
            expires_at: NOW.plus_ms(60_000),
            held_until: NOW.plus_ms(30_000),
            seat: Seat::Held,
            network: NetTag(6),
            admitted_at: UnixMs(0),
            readmitted: 0,
        };
        // What the cookie shows of the place: its arrival second in clear, and 32 bits that
        // are not its place inside the second.
        let shown = |t: &Ticket| {
            let bytes = URL_SAFE_NO_PAD.decode(t.sign(&tickets)).unwrap_or_default();
            let field: [u8; 8] = bytes
                .get(11..19)
                .and_then(|b| b.try_into().ok())
                .unwrap_or_default();
            u64::from_be_bytes(field)
        };
        let (first, last) = (ticket(0, 1), ticket(u32::MAX, 1));
        assert_eq!(shown(&first) >> 32, NOW.secs());
        assert_ne!(shown(&first) & 0xffff_ffff, 0, "the place is not in clear");
        assert_eq!(
            (shown(&first) ^ shown(&last)) & 0xffff_ffff,
            u64::from(u32::MAX),
            "one ticket's pad is its own, so only its holder's xor of two subs shows"
        );
        // Two tickets of the same place show different bits: nothing to rank them by.
        assert_ne!(
            shown(&ticket(7, 2)) & 0xffff_ffff,
            shown(&ticket(7, 3)) & 0xffff_ffff
        );
        for t in [first, last, ticket(12_345, 9)] {
            let back = Ticket::authenticate(&t.sign(&tickets), &tickets);
            assert_eq!(back, Ok(t));
        }
    }
}
