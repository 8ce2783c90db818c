//! Golden vectors: `tests/vectors.json` pins the exact token text for fixed keys, fields and time,
//! and lists token text that must be refused, each with the `TokenError` it must give.
//! Tickets in live cookies outlive a deploy, so a failure here means the byte
//! layout changed: that is a version bump, not an edit to the JSON.
//!
//! Besides asking the crate, the valid vectors are checked against an independent reading of the
//! layout documented in `src/token.rs` (field by field, tag recomputed with the derived key from
//! the JSON), so the crate cannot drift from its own documentation unnoticed.
//!
//! Vectors of the current layouts (tickets at version 3, passes at 2) must also come out of
//! `sign` exactly. Older layouts can no longer be signed; their vectors stay to prove that
//! cookies issued before still verify, with the documented defaults for the fields they lack:
//! a version-1 ticket as seat issued, held until its expiry; a version-1 or 2 ticket with no
//! network and never let through; a version-1 pass ending when it expires, its ticket issued
//! when it was, bound to no network.

// The whole file is a test: clippy.toml lets tests unwrap, panic and index, but clippy cannot
// tell an integration test's helper functions from library code.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeSet;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use edgegate_core::keys::{
    hex, hmac_sha256, unhex, ForPasses, ForTickets, KeyRing, Purpose, SecretRing,
};
use edgegate_core::network::NetTag;
use edgegate_core::token::{MAX_TOKEN_CHARS, PASS_VERSION, TICKET_VERSION};
use edgegate_core::{OrderKey, Pass, RoomTag, Seat, Ticket, TokenError, UnixMs};
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Vectors {
    #[allow(dead_code)] // prose for the reader of the JSON
    about: Vec<String>,
    secrets: Vec<SecretEntry>,
    hmac_sha256: Vec<HmacCase>,
    valid: Vec<Valid>,
    invalid: Vec<Invalid>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretEntry {
    name: String,
    id: u8,
    secret: String,
    ticket_key: String,
    pass_key: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct HmacCase {
    name: String,
    key: String,
    data: String,
    tag: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Valid {
    name: String,
    room: String,
    room_tag: String,
    sign_with: Vec<String>,
    verify_with: Vec<String>,
    verify_at: Vec<u64>,
    ticket: Option<TicketFields>,
    pass: Option<PassFields>,
    token: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct OrderParts {
    bucket: u64,
    /// The place inside the second, as `verify` gives it back.
    sub: u32,
    /// Version 3 on: the low 32 bits as they stand in the token, `sub` sealed.
    sealed: Option<u32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields, rename_all = "lowercase")]
enum MadeBy {
    Fifo { arrival_ms: u64, random: u32 },
    Lottery { since: u64, random: u32 },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TicketFields {
    /// The layout the token text is in. Version-1 vectors predate the field.
    #[serde(default = "version_1")]
    version: u8,
    key_id: u8,
    order: OrderParts,
    made_by: MadeBy,
    id: String,
    issued_at: u64,
    expires_at: u64,
    /// Version 2 on; a version-1 ticket reads as held until it expires.
    held_until: Option<u64>,
    /// Version 2 on; a version-1 ticket reads as issued.
    seat: Option<SeatName>,
    /// Version 3 on, as 16 hex digits (a tag is opaque, and JSON numbers are doubles); older
    /// tickets read as no network.
    network: Option<String>,
    /// Version 3 on; older tickets read as never let through (0).
    admitted_at: Option<u64>,
}

fn version_1() -> u8 {
    1
}

/// A seat as the JSON names it, with its byte written out here rather than taken from the crate.
#[derive(Deserialize, Clone, Copy)]
#[serde(rename_all = "lowercase")]
enum SeatName {
    Issued,
    Held,
    Done,
    /// Version 3 on: held, and paid with work.
    Worked,
}

impl SeatName {
    fn seat(self) -> Seat {
        match self {
            SeatName::Issued => Seat::Issued,
            SeatName::Held => Seat::Held,
            SeatName::Done => Seat::Done,
            SeatName::Worked => Seat::Worked,
        }
    }

    fn byte(self) -> u8 {
        match self {
            SeatName::Issued => 0,
            SeatName::Held => 1,
            SeatName::Done => 2,
            SeatName::Worked => 3,
        }
    }
}

impl TicketFields {
    /// The ticket these fields verify to in `room`: an older layout with the documented
    /// defaults for the fields it lacks.
    fn ticket(&self, room: RoomTag, name: &str) -> Ticket {
        let (held_until, seat) = match (self.version, self.held_until, self.seat) {
            (1, None, None) => (self.expires_at, Seat::Issued),
            (2 | 3, Some(held_until), Some(seat)) => (held_until, seat.seat()),
            (version, ..) => panic!("{name}: version {version} with the wrong fields"),
        };
        let v3_fields = [
            self.network.is_some(),
            self.admitted_at.is_some(),
            self.order.sealed.is_some(),
        ];
        assert_eq!(
            v3_fields,
            [self.version == 3; 3],
            "{name}: network, admitted_at and sealed are version 3's"
        );
        Ticket {
            key_id: self.key_id,
            room,
            order: OrderKey::new(self.order.bucket, self.order.sub),
            id: array(&self.id),
            issued_at: UnixMs(self.issued_at),
            expires_at: UnixMs(self.expires_at),
            held_until: UnixMs(held_until),
            seat,
            network: NetTag(self.network.as_deref().map_or(0, net_tag)),
            admitted_at: UnixMs(self.admitted_at.unwrap_or(0)),
            readmitted: 0,
        }
    }

    /// The payload as the layout table in `src/token.rs` documents it, built without the crate.
    /// From version 3 the place inside the second is sealed by hand under `ticket_key` (hex),
    /// and must be the JSON's `sealed`.
    fn payload(&self, room: RoomTag, ticket_key: &str, name: &str) -> Vec<u8> {
        let mut payload = vec![self.version, b'T', self.key_id];
        payload.extend_from_slice(&room.0);
        let bucket = u32::try_from(self.order.bucket)
            .unwrap_or_else(|_| panic!("{name}: the bucket fits 32 bits"));
        let place = if self.version >= 3 {
            // "edgegate order" ‖ ticket id ‖ arrival second (u32 BE), under the ticket key; the
            // first four bytes of the tag, big-endian, are the pad.
            let mut message = b"edgegate order".to_vec();
            message.extend_from_slice(&bytes(&self.id));
            message.extend_from_slice(&bucket.to_be_bytes());
            let tag = hmac_sha256(&bytes(ticket_key), &message);
            let pad = u32::from_be_bytes([tag[0], tag[1], tag[2], tag[3]]);
            let sealed = self.order.sub ^ pad;
            assert_eq!(Some(sealed), self.order.sealed, "{name}: the sealed place");
            sealed
        } else {
            self.order.sub
        };
        let order = (u64::from(bucket) << 32) | u64::from(place);
        payload.extend_from_slice(&order.to_be_bytes());
        payload.extend_from_slice(&bytes(&self.id));
        payload.extend_from_slice(&self.issued_at.to_be_bytes());
        payload.extend_from_slice(&self.expires_at.to_be_bytes());
        if let (Some(held_until), Some(seat)) = (self.held_until, self.seat) {
            payload.extend_from_slice(&held_until.to_be_bytes());
            payload.push(seat.byte());
        }
        if let (Some(network), Some(admitted_at)) = (&self.network, self.admitted_at) {
            payload.extend_from_slice(&bytes(network));
            payload.extend_from_slice(&admitted_at.to_be_bytes());
        }
        payload
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PassFields {
    /// The layout the token text is in. Version-1 vectors predate the field.
    #[serde(default = "version_1")]
    version: u8,
    key_id: u8,
    ticket_id: String,
    issued_at: u64,
    expires_at: u64,
    /// Version 2 on: the session's absolute end; a version-1 pass ends when it expires.
    ends_at: Option<u64>,
    /// Version 2 on; a version-1 pass reads as its own issue time.
    ticket_issued_at: Option<u64>,
    /// Version 2 on, as 16 hex digits; a version-1 pass reads as bound to no network (0).
    home: Option<String>,
    away: Option<String>,
}

impl PassFields {
    /// The pass these fields verify to in `room`, with the documented defaults for a version-1
    /// pass.
    fn pass(&self, room: RoomTag, name: &str) -> Pass {
        let (ends_at, ticket_issued_at, home, away) = match (
            self.version,
            self.ends_at,
            self.ticket_issued_at,
            &self.home,
            &self.away,
        ) {
            (1, None, None, None, None) => (self.expires_at, self.issued_at, 0, 0),
            (2, Some(ends_at), Some(ticket_issued_at), Some(home), Some(away)) => {
                (ends_at, ticket_issued_at, net_tag(home), net_tag(away))
            }
            (version, ..) => panic!("{name}: version {version} with the wrong fields"),
        };
        Pass {
            key_id: self.key_id,
            room,
            ticket_id: array(&self.ticket_id),
            issued_at: UnixMs(self.issued_at),
            expires_at: UnixMs(self.expires_at),
            ends_at: UnixMs(ends_at),
            ticket_issued_at: UnixMs(ticket_issued_at),
            home: NetTag(home),
            away: NetTag(away),
        }
    }

    /// The payload as the layout table in `src/token.rs` documents it, built without the crate:
    /// version-1 fields, then (version 2) the session's end, the ticket's issue time and the
    /// two network tags.
    fn payload(&self, room: RoomTag) -> Vec<u8> {
        let mut payload = vec![self.version, b'P', self.key_id];
        payload.extend_from_slice(&room.0);
        payload.extend_from_slice(&bytes(&self.ticket_id));
        payload.extend_from_slice(&self.issued_at.to_be_bytes());
        payload.extend_from_slice(&self.expires_at.to_be_bytes());
        if let (Some(ends_at), Some(ticket_issued_at), Some(home), Some(away)) =
            (self.ends_at, self.ticket_issued_at, &self.home, &self.away)
        {
            payload.extend_from_slice(&ends_at.to_be_bytes());
            payload.extend_from_slice(&ticket_issued_at.to_be_bytes());
            payload.extend_from_slice(&bytes(home));
            payload.extend_from_slice(&bytes(away));
        }
        payload
    }
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Kind {
    Ticket,
    Pass,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Invalid {
    name: String,
    #[allow(dead_code)] // how the token text was made, for the reader of the JSON
    how: String,
    verify_as: Kind,
    room: String,
    verify_with: Vec<String>,
    now: u64,
    token: String,
    error: String,
}

fn vectors() -> Vectors {
    let text = include_str!("vectors.json");
    serde_json::from_str(text).unwrap()
}

fn bytes(hex_text: &str) -> Vec<u8> {
    unhex(hex_text).unwrap_or_else(|| panic!("not hex: {hex_text}"))
}

fn array<const N: usize>(hex_text: &str) -> [u8; N] {
    bytes(hex_text).try_into().unwrap()
}

/// A network tag as the JSON writes it: 8 bytes in hex, big-endian.
fn net_tag(hex_text: &str) -> u64 {
    u64::from_be_bytes(array(hex_text))
}

impl Vectors {
    fn secret(&self, name: &str) -> &SecretEntry {
        self.secrets
            .iter()
            .find(|s| s.name == name)
            .unwrap_or_else(|| panic!("no secret named {name}"))
    }

    /// The gate's `GATE_KEYS` text for these secrets, newest first.
    fn secret_ring(&self, names: &[String]) -> SecretRing {
        let text = names
            .iter()
            .map(|n| format!("{}:{}", self.secret(n).id, self.secret(n).secret))
            .collect::<Vec<_>>()
            .join(",");
        SecretRing::parse(&text).unwrap()
    }

    fn ticket_keys(&self, names: &[String]) -> KeyRing<ForTickets> {
        self.secret_ring(names).ticket_keys().unwrap()
    }

    fn pass_keys(&self, names: &[String]) -> KeyRing<ForPasses> {
        self.secret_ring(names).pass_keys().unwrap()
    }
}

/// Every variant a pass can be refused with, so the coverage check below notices a new one.
/// Tickets can give these and `BadField` too (a seat byte no version knows); passes have no
/// enumerated field.
const PASS_ERRORS: [TokenError; 10] = [
    TokenError::TooLong,
    TokenError::NotBase64,
    TokenError::WrongLength,
    TokenError::UnknownVersion,
    TokenError::WrongKind,
    TokenError::UnknownKey,
    TokenError::BadMac,
    TokenError::WrongRoom,
    TokenError::Expired,
    TokenError::FromTheFuture,
];

fn error_name(error: TokenError) -> &'static str {
    // Exhaustive on purpose: a new variant fails to compile here until someone decides whether
    // `errors` (and so the vectors) must cover it.
    match error {
        TokenError::TooLong => "TooLong",
        TokenError::NotBase64 => "NotBase64",
        TokenError::WrongLength => "WrongLength",
        TokenError::UnknownVersion => "UnknownVersion",
        TokenError::WrongKind => "WrongKind",
        TokenError::UnknownKey => "UnknownKey",
        TokenError::BadMac => "BadMac",
        TokenError::WrongRoom => "WrongRoom",
        TokenError::Expired => "Expired",
        TokenError::FromTheFuture => "FromTheFuture",
        TokenError::BadField => "BadField",
    }
}

/// The errors the vectors of `kind` must cover between them.
fn errors(kind: Kind) -> Vec<TokenError> {
    let mut errors = PASS_ERRORS.to_vec();
    if kind == Kind::Ticket {
        errors.push(TokenError::BadField);
    }
    errors
}

#[test]
fn rfc4231_hmac_sha256_cases() {
    let v = vectors();
    assert!(!v.hmac_sha256.is_empty());
    for case in &v.hmac_sha256 {
        let tag = hmac_sha256(&bytes(&case.key), &bytes(&case.data));
        assert_eq!(hex(&tag), case.tag, "{}", case.name);
    }
}

#[test]
fn derived_keys_are_hmac_of_the_secret_under_the_purpose_label() {
    let v = vectors();
    for s in &v.secrets {
        let secret = bytes(&s.secret);
        assert_eq!(
            hex(&hmac_sha256(&secret, ForTickets::LABEL.as_bytes())),
            s.ticket_key,
            "{}",
            s.name
        );
        assert_eq!(
            hex(&hmac_sha256(&secret, ForPasses::LABEL.as_bytes())),
            s.pass_key,
            "{}",
            s.name
        );
        // The crate's own derivation, as handed to the origin in PASS_KEYS.
        let ring = v.pass_keys(std::slice::from_ref(&s.name));
        assert_eq!(ring.to_env_text(), format!("{}:{}", s.id, s.pass_key));
    }
}

#[test]
fn valid_tickets_verify_back_and_current_ones_sign_to_the_exact_text() {
    let v = vectors();
    let mut seen = BTreeSet::new();
    let mut seen_let_through = BTreeSet::new();
    for case in &v.valid {
        let Some(f) = &case.ticket else { continue };
        let name = &case.name;
        let room = RoomTag::of(&case.room);
        assert_eq!(hex(&room.0), case.room_tag, "{name}: room tag");
        let ticket = f.ticket(room, name);
        let (bucket, sub) = match f.made_by {
            MadeBy::Fifo { arrival_ms, random } => (UnixMs(arrival_ms).secs(), random),
            MadeBy::Lottery { since, random } => (UnixMs(since).secs() + 1, random),
        };
        // The bucket has meant the arrival second (or the second after the pre-queue began) in
        // every version.
        assert_eq!(ticket.order.bucket(), bucket, "{name}: order bucket");
        assert!(
            (1..=TICKET_VERSION).contains(&f.version),
            "{name}: a version this test does not know"
        );
        if f.version >= 2 {
            // Today's key makers must give the stored key; the draw is the sub itself. (A
            // version-1 ticket was made by the fifo of its day, its sub from the arrival
            // millisecond: only its stored key counts.)
            let made = match f.made_by {
                MadeBy::Fifo { arrival_ms, random } => OrderKey::fifo(UnixMs(arrival_ms), random),
                MadeBy::Lottery { since, random } => OrderKey::lottery(UnixMs(since), random),
            };
            assert_eq!(made, ticket.order, "{name}: order key");
            assert_eq!(
                ticket.order.sub(),
                u64::from(sub),
                "{name}: sub is the draw"
            );
        }
        if f.version == TICKET_VERSION {
            // Only the current layout can be signed, and it must be signed to this very text.
            let signing = v.ticket_keys(&case.sign_with);
            assert_eq!(signing.signing().id(), f.key_id, "{name}: signing key id");
            assert_eq!(ticket.sign(&signing), case.token, "{name}: token text");
        }

        let verifying = v.ticket_keys(&case.verify_with);
        for now in &case.verify_at {
            let back = Ticket::verify(&case.token, &verifying, room, UnixMs(*now));
            assert_eq!(back, Ok(ticket.clone()), "{name}: at {now}");
        }
        // Whatever it was read from, a ticket signed again carries on in the current layout.
        let resigned = ticket.sign(&verifying);
        assert_eq!(
            URL_SAFE_NO_PAD.decode(&resigned).unwrap()[0],
            TICKET_VERSION,
            "{name}: re-signed"
        );
        let now = UnixMs(case.verify_at[0]);
        assert_eq!(
            Ticket::verify(&resigned, &verifying, room, now),
            Ok(Ticket {
                key_id: verifying.signing().id(),
                ..ticket.clone()
            }),
            "{name}: re-signed"
        );

        // The documented layout, read independently of the crate.
        let key = &v.secret(&case.sign_with[0]).ticket_key;
        assert_layout(&case.token, f.payload(room, key, name), key);
        seen.insert((
            f.version,
            matches!(f.made_by, MadeBy::Fifo { .. }),
            f.seat.map(SeatName::byte),
        ));
        if ticket.network.is_known() && ticket.admitted_at.0 > 0 {
            seen_let_through.insert(f.version);
        }
    }
    for want in [
        (1, true, None),
        (1, false, None),
        (2, true, Some(1)),
        (2, false, Some(0)),
        (2, true, Some(2)),
        (3, true, Some(1)),
        (3, false, Some(0)),
        (3, true, Some(2)),
    ] {
        assert!(
            seen.contains(&want),
            "no vector for (version, fifo, seat) {want:?}"
        );
    }
    assert!(
        seen_let_through.contains(&TICKET_VERSION),
        "no current ticket with a network and a first let-through"
    );
}

#[test]
fn valid_passes_verify_back_and_current_ones_sign_to_the_exact_text() {
    let v = vectors();
    let mut seen = BTreeSet::new();
    for case in &v.valid {
        let Some(f) = &case.pass else { continue };
        let name = &case.name;
        let room = RoomTag::of(&case.room);
        assert_eq!(hex(&room.0), case.room_tag, "{name}: room tag");
        assert!(
            (1..=PASS_VERSION).contains(&f.version),
            "{name}: a version this test does not know"
        );
        let pass = f.pass(room, name);
        let signing = v.pass_keys(&case.sign_with);
        assert_eq!(signing.signing().id(), f.key_id, "{name}: signing key id");
        if f.version == PASS_VERSION {
            assert_eq!(pass.sign(&signing), case.token, "{name}: token text");
        }

        let verifying = v.pass_keys(&case.verify_with);
        for now in &case.verify_at {
            let back = Pass::verify(&case.token, &verifying, room, UnixMs(*now));
            assert_eq!(back, Ok(pass.clone()), "{name}: at {now}");
        }
        // In scope until the earlier of its idle end and its session's end, and not an instant
        // longer.
        let end = f.expires_at.min(f.ends_at.unwrap_or(u64::MAX));
        assert_eq!(
            Pass::verify(&case.token, &verifying, room, UnixMs(end - 1)),
            Ok(pass.clone()),
            "{name}: the last instant in scope"
        );
        assert_eq!(
            Pass::verify(&case.token, &verifying, room, UnixMs(end)),
            Err(TokenError::Expired),
            "{name}: at its end"
        );
        // Whatever it was read from, a pass signed again carries on in the current layout.
        let resigned = pass.sign(&verifying);
        assert_eq!(
            URL_SAFE_NO_PAD.decode(&resigned).unwrap()[0],
            PASS_VERSION,
            "{name}: re-signed"
        );
        let now = UnixMs(case.verify_at[0]);
        assert_eq!(
            Pass::verify(&resigned, &verifying, room, now),
            Ok(Pass {
                key_id: verifying.signing().id(),
                ..pass.clone()
            }),
            "{name}: re-signed"
        );

        // The documented layout, read independently of the crate.
        assert_layout(
            &case.token,
            f.payload(room),
            &v.secret(&case.sign_with[0]).pass_key,
        );
        seen.insert((f.version, "any"));
        if f.version == PASS_VERSION {
            if f.ends_at.is_some_and(|end| end < f.expires_at) {
                seen.insert((f.version, "ends before its idle end"));
            }
            if pass.home.is_known() && pass.away.is_known() {
                seen.insert((f.version, "home and away"));
            }
            if !case.room.is_ascii() {
                seen.insert((f.version, "room not ASCII"));
            }
            if case.sign_with == ["previous"] {
                seen.insert((f.version, "previous key"));
            }
        }
    }
    for want in [
        (1, "any"),
        (PASS_VERSION, "any"),
        (PASS_VERSION, "ends before its idle end"),
        (PASS_VERSION, "home and away"),
        (PASS_VERSION, "room not ASCII"),
        (PASS_VERSION, "previous key"),
    ] {
        assert!(seen.contains(&want), "no pass vector for {want:?}");
    }
}

/// `token` is exactly base64url(`payload` || HMAC-SHA256(`key_hex`, `payload`)), unpadded.
fn assert_layout(token: &str, mut payload: Vec<u8>, key_hex: &str) {
    let tag = hmac_sha256(&bytes(key_hex), &payload);
    payload.extend_from_slice(&tag);
    assert_eq!(URL_SAFE_NO_PAD.encode(&payload), token, "layout");
    assert!(token.len() <= MAX_TOKEN_CHARS);
}

#[test]
fn invalid_tokens_are_refused_with_the_expected_error() {
    let v = vectors();
    let mut failures = Vec::new();
    for case in &v.invalid {
        let room = RoomTag::of(&case.room);
        let now = UnixMs(case.now);
        let got = match case.verify_as {
            Kind::Ticket => {
                Ticket::verify(&case.token, &v.ticket_keys(&case.verify_with), room, now).err()
            }
            Kind::Pass => {
                Pass::verify(&case.token, &v.pass_keys(&case.verify_with), room, now).err()
            }
        };
        let got = got.map_or("accepted", error_name);
        if got != case.error {
            failures.push(format!("{}: want {}, got {got}", case.name, case.error));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn invalid_vectors_cover_every_error_for_both_kinds() {
    let v = vectors();
    for kind in [Kind::Ticket, Kind::Pass] {
        let named: BTreeSet<&str> = errors(kind).into_iter().map(error_name).collect();
        let covered: BTreeSet<&str> = v
            .invalid
            .iter()
            .filter(|c| c.verify_as == kind)
            .map(|c| c.error.as_str())
            .collect();
        assert!(
            covered.is_subset(&named),
            "unknown error names: {covered:?}"
        );
        let missing: Vec<_> = named.difference(&covered).collect();
        assert!(missing.is_empty(), "no vector gives {missing:?}");
    }
}

#[test]
fn rotation_older_key_verifies_while_listed_then_is_unknown() {
    // The same rule as the JSON's rotation vectors, spelled out in one place, for every ticket
    // and pass layout.
    let v = vectors();
    let both = ["current".to_owned(), "previous".to_owned()];
    let current_only = ["current".to_owned()];
    let mut versions = BTreeSet::new();
    for case in v.valid.iter().filter(|c| c.sign_with == ["previous"]) {
        let Some(f) = &case.ticket else { continue };
        versions.insert(f.version);
        let name = &case.name;
        let room = RoomTag::of(&case.room);
        let now = UnixMs(case.verify_at[0]);
        let old = Ticket::verify(&case.token, &v.ticket_keys(&both), room, now);
        assert_eq!(
            old.as_ref().map(|t| t.key_id),
            Ok(v.secret("previous").id),
            "{name}"
        );
        assert_eq!(
            Ticket::verify(&case.token, &v.ticket_keys(&current_only), room, now),
            Err(TokenError::UnknownKey),
            "{name}"
        );
        // New tokens are signed by the newest key only.
        let resigned = old.unwrap().sign(&v.ticket_keys(&both));
        let again = Ticket::verify(&resigned, &v.ticket_keys(&current_only), room, now).unwrap();
        assert_eq!(again.key_id, v.secret("current").id, "{name}");
    }
    assert_eq!(versions, BTreeSet::from([1, 2, TICKET_VERSION]));

    let mut versions = BTreeSet::new();
    for case in v.valid.iter().filter(|c| c.sign_with == ["previous"]) {
        let Some(f) = &case.pass else { continue };
        versions.insert(f.version);
        let name = &case.name;
        let room = RoomTag::of(&case.room);
        let now = UnixMs(case.verify_at[0]);
        let old = Pass::verify(&case.token, &v.pass_keys(&both), room, now);
        assert_eq!(
            old.as_ref().map(|p| p.key_id),
            Ok(v.secret("previous").id),
            "{name}"
        );
        assert_eq!(
            Pass::verify(&case.token, &v.pass_keys(&current_only), room, now),
            Err(TokenError::UnknownKey),
            "{name}"
        );
        let renewed = old.unwrap().sign(&v.pass_keys(&both));
        let again = Pass::verify(&renewed, &v.pass_keys(&current_only), room, now).unwrap();
        assert_eq!(again.key_id, v.secret("current").id, "{name}");
    }
    assert_eq!(versions, BTreeSet::from([1, PASS_VERSION]));
}
