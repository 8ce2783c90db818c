//! Property tests: every token rule and every invariant of the release cursor, over generated
//! inputs. Time is always an argument, so nothing here sleeps; each block runs a
//! bounded number of cases so the whole file takes a few seconds. Shrunk failures are written to
//! `tests/proptest-regressions/` and belong in git.

// The whole file is a test: clippy.toml lets tests unwrap, panic and index, but clippy cannot
// tell an integration test's helper functions from library code.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use edgegate_core::config::{MAX_ACTIVE, NEW_USERS_PER_MINUTE, SESSION_DURATION_S};
use edgegate_core::keys::{hex, unhex, ForPasses, ForTickets, SecretRing};
use edgegate_core::network::NetTag;
use edgegate_core::recent::Recent;
use edgegate_core::release::{unclaimed_cap, Demand, ALLOWANCE_CAP_MS, OVER_RELEASE};
use edgegate_core::status::{eta_s, RoomView};
use edgegate_core::token::{MAX_SKEW_MS, TICKET_VERSION};
use edgegate_core::{
    ConfigPatch, Cursor, Histogram, KeyRing, OrderKey, Pass, QueueState, ReleaseState, RoomConfig,
    RoomTag, Ticket, TokenError, UnixMs,
};
use proptest::collection::{btree_map, vec};
use proptest::prelude::*;
use proptest::sample::Index;
mod common;

/// Cases per property: enough to find the usual mistakes, few enough for a fast `cargo test`.
const CASES: u32 = 256;

/// Bounded cases (`PROPTEST_CASES=10000` for a deeper run); shrunk failures saved where git will
/// see them. (proptest's default looks for `lib.rs` beside the source file, which an integration
/// test does not have.)
fn config() -> ProptestConfig {
    common::proptest_config("tests/proptest-regressions/properties.txt", CASES)
}

/// 2³²: one citizen in the release cursor's units.
const ONE: u128 = 1 << 32;

// ---------------------------------------------------------------------------------------------
// Strategies

/// One to three secrets with distinct key ids; the first listed signs.
fn secret_ring() -> impl Strategy<Value = SecretRing> {
    btree_map(any::<u8>(), vec(any::<u8>(), 16..48), 1..=3).prop_map(|secrets| {
        let text = secrets
            .iter()
            .map(|(id, bytes)| format!("{id}:{}", hex(bytes)))
            .collect::<Vec<_>>()
            .join(",");
        SecretRing::parse(&text).unwrap()
    })
}

fn rings() -> impl Strategy<Value = (KeyRing<ForTickets>, KeyRing<ForPasses>)> {
    secret_ring().prop_map(|s| (s.ticket_keys().unwrap(), s.pass_keys().unwrap()))
}

/// `(issued_at, expires_at, now)` with `now` inside the validity window: not expired, and the
/// issue time at most `MAX_SKEW_MS` ahead of `now`.
fn window() -> impl Strategy<Value = (UnixMs, UnixMs, UnixMs)> {
    (
        0u64..=4_102_444_800_000,
        1u64..=30 * 86_400_000,
        any::<u64>(),
    )
        .prop_map(|(issued, lifetime, pick)| {
            let expires = issued + lifetime;
            let earliest = issued.saturating_sub(MAX_SKEW_MS);
            let now = earliest + pick % (expires - earliest);
            (UnixMs(issued), UnixMs(expires), UnixMs(now))
        })
}

fn room_name() -> impl Strategy<Value = String> {
    "[a-z0-9-]{1,16}"
}

fn seat() -> impl Strategy<Value = edgegate_core::Seat> {
    use edgegate_core::Seat;
    prop_oneof![
        Just(Seat::Issued),
        Just(Seat::Held),
        Just(Seat::Done),
        Just(Seat::Worked)
    ]
}

/// A ticket and a `now` inside its validity window. `held_until` is any instant: verify does
/// not judge it (a lapsed place still verifies; the caller asks `Ticket::lapsed`).
fn ticket() -> impl Strategy<Value = (Ticket, UnixMs)> {
    (
        (any::<u8>(), room_name(), any::<u64>(), any::<[u8; 16]>()),
        window(),
        (any::<u64>(), seat(), any::<u64>(), any::<u64>(), 0u8..16),
    )
        .prop_map(
            |(
                (key_id, room, order, id),
                (issued_at, expires_at, now),
                (held_until, seat, network, admitted_at, readmitted),
            )| {
                let ticket = Ticket {
                    key_id,
                    room: RoomTag::of(&room),
                    order: OrderKey(order),
                    id,
                    issued_at,
                    expires_at,
                    held_until: UnixMs(held_until),
                    seat,
                    network: NetTag(network),
                    admitted_at: UnixMs(admitted_at),
                    readmitted,
                };
                (ticket, now)
            },
        )
}

/// A ticket key as bytes, and the one-key ring that holds it, so a test can MAC a layout it
/// wrote by hand.
fn ticket_key() -> impl Strategy<Value = ([u8; 32], KeyRing<ForTickets>)> {
    (any::<u8>(), any::<[u8; 32]>()).prop_map(|(id, bytes)| {
        let key = edgegate_core::TicketKey::from_bytes(id, bytes);
        (bytes, KeyRing::new(key, Vec::new()))
    })
}

/// The ticket payload of layout `version` as the table in `src/token.rs` documents it, written
/// without the crate: version-1 fields, then (from version 2) held-until and the seat byte,
/// then (version 3) the network and the first let-through, with the place inside the second
/// sealed under `key`.
fn ticket_payload(
    version: u8,
    key_id: u8,
    t: &Ticket,
    seat_byte: Option<u8>,
    key: &[u8; 32],
) -> Vec<u8> {
    let mut payload = vec![version, b'T', key_id];
    payload.extend_from_slice(&t.room.0);
    let order = if version >= 3 {
        let bucket = u32::try_from(t.order.0 >> 32).unwrap();
        let mut label = b"edgegate order".to_vec();
        label.extend_from_slice(&t.id);
        label.extend_from_slice(&bucket.to_be_bytes());
        let pad = edgegate_core::keys::hmac_sha256(key, &label);
        let pad = u32::from_be_bytes(pad[..4].try_into().unwrap());
        (u64::from(bucket) << 32) | u64::from(u32::try_from(t.order.0 & 0xffff_ffff).unwrap() ^ pad)
    } else {
        t.order.0
    };
    payload.extend_from_slice(&order.to_be_bytes());
    payload.extend_from_slice(&t.id);
    payload.extend_from_slice(&t.issued_at.0.to_be_bytes());
    payload.extend_from_slice(&t.expires_at.0.to_be_bytes());
    if let Some(seat) = seat_byte {
        payload.extend_from_slice(&t.held_until.0.to_be_bytes());
        payload.push(seat);
    }
    if version >= 3 {
        payload.extend_from_slice(&t.network.0.to_be_bytes());
        payload.extend_from_slice(&t.admitted_at.0.to_be_bytes());
    }
    payload
}

/// `payload || HMAC-SHA256(key, payload)`, base64url without padding.
fn seal_by_hand(key: &[u8; 32], mut payload: Vec<u8>) -> String {
    let tag = edgegate_core::keys::hmac_sha256(key, &payload);
    payload.extend_from_slice(&tag);
    URL_SAFE_NO_PAD.encode(payload)
}

fn pass() -> impl Strategy<Value = (Pass, UnixMs)> {
    (
        (any::<u8>(), room_name(), any::<[u8; 16]>(), window()),
        (any::<u64>(), any::<u64>(), any::<u64>(), any::<u64>()),
    )
        .prop_map(
            |(
                (key_id, room, ticket_id, (issued_at, expires_at, now)),
                (later, first, home, away),
            )| {
                // The session's end is after `now`: the pass is in scope.
                let ends_at = now.plus_ms(1 + later % 86_400_000);
                let pass = Pass {
                    key_id,
                    room: RoomTag::of(&room),
                    ticket_id,
                    issued_at,
                    expires_at,
                    ends_at,
                    ticket_issued_at: UnixMs(first),
                    home: NetTag(home),
                    away: NetTag(away),
                };
                (pass, now)
            },
        )
}

/// A signed ticket and a signed pass, each with a `now` at which it is valid.
#[derive(Debug, Clone)]
struct Signed {
    tickets: KeyRing<ForTickets>,
    passes: KeyRing<ForPasses>,
    ticket: Ticket,
    ticket_text: String,
    ticket_now: UnixMs,
    pass: Pass,
    pass_text: String,
    pass_now: UnixMs,
}

fn signed() -> impl Strategy<Value = Signed> {
    (rings(), ticket(), pass()).prop_map(
        |((tickets, passes), (ticket, ticket_now), (pass, pass_now))| {
            let ticket = Ticket {
                key_id: tickets.signing().id(),
                ..ticket
            };
            let pass = Pass {
                key_id: passes.signing().id(),
                ..pass
            };
            Signed {
                ticket_text: ticket.sign(&tickets),
                pass_text: pass.sign(&passes),
                tickets,
                passes,
                ticket,
                ticket_now,
                pass,
                pass_now,
            }
        },
    )
}

impl Signed {
    fn verify_ticket(&self, text: &str) -> Result<Ticket, TokenError> {
        Ticket::verify(text, &self.tickets, self.ticket.room, self.ticket_now)
    }

    fn verify_pass(&self, text: &str) -> Result<Pass, TokenError> {
        Pass::verify(text, &self.passes, self.pass.room, self.pass_now)
    }
}

/// Text near the shape of a token: the base64url alphabet, around the real lengths.
fn tokenish_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[A-Za-z0-9_-]{0,170}",
        "[A-Za-z0-9_=+/ .-]{95,130}",
        // A ticket's first character for each version, then its exact length (111 or 123).
        "AV[A-Za-z0-9_-]{109}",
        "Al[A-Za-z0-9_-]{121}",
    ]
}

/// The seconds the release scenarios live around.
const BASE_S: u64 = 1_700_000_000;

fn histogram() -> impl Strategy<Value = Histogram> {
    vec((0u64..400, 0u64..2_000), 0..40).prop_map(|counts| {
        let mut h = Histogram::new();
        for (offset, count) in counts {
            h.add(BASE_S - 200 + offset, count);
        }
        h
    })
}

/// A cursor or key somewhere in the histogram's span (and a little beyond it).
fn near_key() -> impl Strategy<Value = OrderKey> {
    (0u64..420, any::<u32>()).prop_map(|(offset, sub)| OrderKey::new(BASE_S - 210 + offset, sub))
}

fn room_config() -> impl Strategy<Value = RoomConfig> {
    (
        prop_oneof![
            1 => Just(0u32),
            3 => 1u32..=120,
            3 => 121u32..=100_000,
            1 => Just(NEW_USERS_PER_MINUTE.1),
        ],
        prop_oneof![1u32..=50, 1u32..=5_000],
        SESSION_DURATION_S.0..=SESSION_DURATION_S.1,
        prop::bool::weighted(0.1),
        prop::bool::weighted(0.05),
        prop::option::weighted(0.3, -100_000i64..200_000),
        prop_oneof![3 => Just(0u32), 1 => 0u32..=20_000],
    )
        .prop_map(
            |(rate, max_active, session, paused, closed, opens_in_ms, burst)| RoomConfig {
                new_users_per_minute: rate,
                max_active,
                session_duration_s: session,
                paused,
                closed,
                opens_at: opens_in_ms.map(|d| UnixMs((BASE_S * 1000).saturating_add_signed(d))),
                burst,
                ..RoomConfig::default()
            },
        )
}

/// One step of a coordinator run.
#[derive(Debug, Clone, Copy)]
struct Step {
    /// Milliseconds since the last step.
    dt: u64,
    /// What the ledger says: live passes and unclaimed releases.
    demand: Demand,
    /// Paused by the operator for this step.
    paused: bool,
    /// A new rate from this step on, if the operator changed it.
    rate: Option<u32>,
}

/// A run of the coordinator: where it starts, then one [`Step`] after another.
#[derive(Debug, Clone)]
struct Run {
    config: RoomConfig,
    arrivals: Histogram,
    start: ReleaseState,
    settle_ms: u64,
    steps: Vec<Step>,
}

fn step() -> impl Strategy<Value = Step> {
    (
        prop_oneof![0u64..2_000, 0u64..30_000],
        prop_oneof![0u64..60, 0u64..6_000],
        prop_oneof![2 => Just(0u64), 1 => 0u64..200, 1 => 0u64..20_000],
        prop_oneof![2 => Just(0u64), 1 => 0u64..200],
        prop::bool::weighted(0.05),
        prop::option::weighted(0.1, prop_oneof![Just(0u32), 1u32..=120, 121u32..=100_000]),
    )
        .prop_map(|(dt, active, unclaimed, waiting, paused, rate)| Step {
            dt,
            demand: Demand {
                active,
                unclaimed,
                waiting,
                slots_left: None,
            },
            paused,
            rate,
        })
}

fn run() -> impl Strategy<Value = Run> {
    (
        room_config(),
        histogram(),
        // Start mostly behind `now − settle`, where there is something to release.
        (0u64..260, any::<u32>())
            .prop_map(|(offset, sub)| OrderKey::new(BASE_S - 210 + offset, sub)),
        prop_oneof![
            4 => Just(0i64),
            1 => any::<i64>(),
            3 => -(10i64 << 32)..(10i64 << 32),
        ],
        // The rate the start's allowance was earned under (MAX: stored before it was kept).
        prop_oneof![Just(0u32), Just(u32::MAX), 0u32..=1_000_000],
        0u64..5_000,
        0u64..5_000,
        vec(step(), 1..30),
    )
        .prop_map(
            |(
                config,
                arrivals,
                cursor,
                allowance,
                earned_at_rate,
                start_offset,
                settle_ms,
                steps,
            )| {
                Run {
                    config,
                    arrivals,
                    start: ReleaseState {
                        cursor: Cursor(cursor.0),
                        allowance,
                        updated_at: UnixMs(BASE_S * 1000 + start_offset),
                        earned_at_rate,
                        released_carry: 0,
                    },
                    settle_ms,
                    steps,
                }
            },
        )
}

/// Citizens released between two cursors, as the histogram counts them.
fn released(arrivals: &Histogram, from: Cursor, to: Cursor) -> u64 {
    arrivals.between(from, OrderKey(to.0))
}

/// What the allowance may hold, in 2⁻³² citizens, from the documented constants:
/// `ALLOWANCE_CAP_MS` of the release rate (`OVER_RELEASE` × the rate) plus the burst in force,
/// at least one citizen; nothing at a rate of zero.
fn capacity_units(config: &RoomConfig) -> u128 {
    if config.new_users_per_minute == 0 {
        return 0;
    }
    (release_units(config.new_users_per_minute, ALLOWANCE_CAP_MS)
        + u128::from(config.effective_burst()) * ONE)
        .max(ONE)
}

/// What `ms` milliseconds earn at the release rate, in 2⁻³² citizens.
fn release_units(rate: u32, ms: u64) -> u128 {
    u128::from(rate) * u128::from(OVER_RELEASE.0) * u128::from(ms) * ONE
        / (u128::from(OVER_RELEASE.1) * 60_000)
}

// ---------------------------------------------------------------------------------------------
// Tokens

proptest! {
    #![proptest_config(config())]

    #[test]
    fn tickets_and_passes_round_trip(s in signed()) {
        prop_assert_eq!(s.verify_ticket(&s.ticket_text), Ok(s.ticket.clone()));
        prop_assert_eq!(s.verify_pass(&s.pass_text), Ok(s.pass.clone()));
        // Fixed lengths: 108 (ticket version 3) and 107 bytes (pass version 2), unpadded
        // base64url.
        prop_assert_eq!(s.ticket_text.len(), 144);
        prop_assert_eq!(s.pass_text.len(), 143);
    }

    #[test]
    fn sign_overwrites_the_key_id_with_the_signing_key(
        (keys, _) in rings(),
        (ticket, now) in ticket(),
    ) {
        let back = Ticket::verify(&ticket.sign(&keys), &keys, ticket.room, now).unwrap();
        prop_assert_eq!(back.key_id, keys.signing().id());
    }

    #[test]
    fn any_changed_byte_is_rejected(s in signed(), at in any::<Index>(), flip in 1u8..=255) {
        for (text, is_ticket) in [(&s.ticket_text, true), (&s.pass_text, false)] {
            let mut bytes = URL_SAFE_NO_PAD.decode(text).unwrap();
            let i = at.index(bytes.len());
            bytes[i] ^= flip;
            let changed = URL_SAFE_NO_PAD.encode(&bytes);
            let got = if is_ticket {
                s.verify_ticket(&changed).err()
            } else {
                s.verify_pass(&changed).err()
            };
            // Header bytes fail on their own rule; everything after the key id (a ticket's seat
            // byte included) fails the MAC. The version byte picks the length it expects:
            // another known version has another length, and an unknown one is read at the
            // version-1 length, so a changed version byte on a current token is WrongLength.
            match i {
                0 => prop_assert_eq!(got, Some(TokenError::WrongLength)),
                1 => prop_assert_eq!(got, Some(TokenError::WrongKind)),
                2 => prop_assert!(
                    matches!(got, Some(TokenError::UnknownKey | TokenError::BadMac)),
                    "{:?}", got
                ),
                _ => prop_assert_eq!(got, Some(TokenError::BadMac)),
            }
        }
    }

    #[test]
    fn any_changed_char_is_rejected(s in signed(), at in any::<Index>(), with in any::<char>()) {
        for (text, is_ticket) in [(&s.ticket_text, true), (&s.pass_text, false)] {
            let mut chars: Vec<char> = text.chars().collect();
            let i = at.index(chars.len());
            prop_assume!(chars[i] != with);
            chars[i] = with;
            let changed: String = chars.into_iter().collect();
            if is_ticket {
                prop_assert!(s.verify_ticket(&changed).is_err());
            } else {
                prop_assert!(s.verify_pass(&changed).is_err());
            }
        }
    }

    #[test]
    fn any_cut_or_extension_is_rejected(
        s in signed(),
        at in any::<Index>(),
        tail in "[A-Za-z0-9_=-]{1,60}|.{1,8}",
    ) {
        let cut = &s.ticket_text[..at.index(s.ticket_text.len())];
        let longer = format!("{}{tail}", s.ticket_text);
        prop_assert!(s.verify_ticket(cut).is_err());
        prop_assert!(s.verify_ticket(&longer).is_err());
        let cut = &s.pass_text[..at.index(s.pass_text.len())];
        let longer = format!("{}{tail}", s.pass_text);
        prop_assert!(s.verify_pass(cut).is_err());
        prop_assert!(s.verify_pass(&longer).is_err());
    }

    #[test]
    fn tokens_expire_and_refuse_the_future(s in signed(), late in 0u64..=u64::MAX / 2) {
        let t = &s.ticket;
        let verify = |now: UnixMs| Ticket::verify(&s.ticket_text, &s.tickets, t.room, now);
        prop_assert_eq!(verify(t.expires_at.plus_ms(late)), Err(TokenError::Expired));
        if let Some(early) = t.issued_at.0.checked_sub(MAX_SKEW_MS + 1) {
            let too_early = UnixMs(early.saturating_sub(late));
            if too_early < t.expires_at {
                prop_assert_eq!(verify(too_early), Err(TokenError::FromTheFuture));
            }
        }
    }

    #[test]
    fn arbitrary_text_never_panics_nor_verifies(s in signed(), text in tokenish_text()) {
        prop_assert!(s.verify_ticket(&text).is_err());
        prop_assert!(s.verify_pass(&text).is_err());
    }

    #[test]
    fn arbitrary_bytes_never_panic_nor_verify(s in signed(), bytes in vec(any::<u8>(), 0..130)) {
        let text = URL_SAFE_NO_PAD.encode(&bytes);
        prop_assert!(s.verify_ticket(&text).is_err());
        prop_assert!(s.verify_pass(&text).is_err());
    }

    /// An isolate remembers the texts that authenticated (`recent::Recent`) and asks only
    /// `in_scope` again on each use. Over any replay of real, forged and misplaced texts, at
    /// any time and for either room, and however small the memory, it answers as `verify`.
    #[test]
    fn remembered_tokens_answer_as_verify_does(
        s in signed(),
        asks in vec((0usize..3, any::<bool>(), -(1i64 << 40)..(1i64 << 40)), 1..60),
        per_generation in 1usize..4,
        at in any::<Index>(),
    ) {
        let mut forged = s.ticket_text.clone().into_bytes();
        let i = at.index(forged.len());
        forged[i] = if forged[i] == b'A' { b'B' } else { b'A' };
        let forged = String::from_utf8(forged).unwrap();
        let texts = [&s.ticket_text, &forged, &s.pass_text];
        let other = RoomTag::of("a-room-of-its-own");
        let mut tickets = Recent::new(per_generation);
        let mut passes = Recent::new(per_generation);
        for (which, own_room, shift) in asks {
            let text = texts[which];
            let room = |own: RoomTag| if own_room { own } else { other };
            let now = UnixMs(s.ticket_now.0.saturating_add_signed(shift));
            let remembered = tickets
                .get_or_authenticate(text, |t| Ticket::authenticate(t, &s.tickets))
                .and_then(|t| t.in_scope(room(s.ticket.room), now).map(|()| t));
            prop_assert_eq!(remembered, Ticket::verify(text, &s.tickets, room(s.ticket.room), now));
            let now = UnixMs(s.pass_now.0.saturating_add_signed(shift));
            let remembered = passes
                .get_or_authenticate(text, |t| Pass::authenticate(t, &s.passes))
                .and_then(|p| p.in_scope(room(s.pass.room), now).map(|()| p));
            prop_assert_eq!(remembered, Pass::verify(text, &s.passes, room(s.pass.room), now));
            prop_assert!(tickets.len() <= 2 * per_generation && passes.len() <= 2 * per_generation);
        }
    }

    /// Right version, kind, length and a listed key id, so the bytes reach the MAC check: for
    /// both ticket layouts and for passes.
    #[test]
    fn forged_bodies_under_a_listed_key_fail_the_mac(
        s in signed(),
        ticket_v1_body in vec(any::<u8>(), 80),
        ticket_v2_body in vec(any::<u8>(), 89),
        pass_body in vec(any::<u8>(), 72),
    ) {
        let forge = |version: u8, kind: u8, key_id: u8, body: &[u8]| {
            let mut bytes = vec![version, kind, key_id];
            bytes.extend_from_slice(body);
            URL_SAFE_NO_PAD.encode(bytes)
        };
        let key_id = s.tickets.signing().id();
        let ticket = forge(1, b'T', key_id, &ticket_v1_body);
        prop_assert_eq!(s.verify_ticket(&ticket), Err(TokenError::BadMac));
        let ticket = forge(2, b'T', key_id, &ticket_v2_body);
        prop_assert_eq!(s.verify_ticket(&ticket), Err(TokenError::BadMac));
        let pass = forge(1, b'P', s.passes.signing().id(), &pass_body);
        prop_assert_eq!(s.verify_pass(&pass), Err(TokenError::BadMac));
    }

    /// Cookies issued before version 2 outlive the deploy: a version-1 ticket, written by hand
    /// from the documented layout and MAC, verifies as a place issued but not yet counted, held
    /// until its expiry, and signing it again carries it on in version 2 unchanged.
    #[test]
    fn version_1_tickets_verify_as_issued_and_held_until_expiry(
        (key, keys) in ticket_key(),
        (ticket, now) in ticket(),
    ) {
        let key_id = keys.signing().id();
        let text = seal_by_hand(&key, ticket_payload(1, key_id, &ticket, None, &key));
        prop_assert_eq!(text.len(), 111);
        let want = Ticket {
            key_id,
            held_until: ticket.expires_at,
            seat: edgegate_core::Seat::Issued,
            network: NetTag(0),
            admitted_at: UnixMs(0),
            readmitted: 0,
            ..ticket
        };
        let back = Ticket::verify(&text, &keys, want.room, now);
        prop_assert_eq!(&back, &Ok(want.clone()));
        prop_assert!(!want.lapsed(now));
        let again = want.sign(&keys);
        prop_assert_eq!(URL_SAFE_NO_PAD.decode(&again).unwrap()[0], TICKET_VERSION);
        prop_assert_eq!(Ticket::verify(&again, &keys, want.room, now), Ok(want));
    }

    /// The seat is 0, 1, 2 or 3 in the byte's lower half (the upper half is how many times the
    /// ticket was readmitted); any other lower half is refused even under a valid MAC. The
    /// same hand-written layout (the current one, its place sealed by hand) with a valid seat
    /// is exactly what `sign` writes.
    #[test]
    fn seat_bytes_beyond_worked_are_refused_under_a_valid_mac(
        (key, keys) in ticket_key(),
        (ticket, now) in ticket(),
        seat_byte in any::<u8>(),
    ) {
        use edgegate_core::Seat;
        let key_id = keys.signing().id();
        let text = seal_by_hand(
            &key,
            ticket_payload(TICKET_VERSION, key_id, &ticket, Some(seat_byte), &key),
        );
        let seat = match seat_byte & 0x0f {
            0 => Some(Seat::Issued),
            1 => Some(Seat::Held),
            2 => Some(Seat::Done),
            3 => Some(Seat::Worked),
            _ => None,
        };
        let got = Ticket::verify(&text, &keys, ticket.room, now);
        match seat {
            Some(seat) => {
                let want = Ticket { key_id, seat, readmitted: seat_byte >> 4, ..ticket };
                prop_assert_eq!(&text, &want.sign(&keys));
                prop_assert_eq!(got, Ok(want));
            }
            None => prop_assert_eq!(got, Err(TokenError::BadField)),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Operator input and key lists

/// JSON values of every type, and numbers at and beyond the bounds.
fn json_value() -> impl Strategy<Value = serde_json::Value> {
    use serde_json::Value;
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        (0u64..100_001).prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..4).prop_map(Value::from),
            btree_map(".{0,6}", inner, 0..4).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn patch_body() -> impl Strategy<Value = String> {
    let field = prop_oneof![
        Just("new_users_per_minute".to_owned()),
        Just("max_active".to_owned()),
        Just("session_duration_s".to_owned()),
        Just("paused".to_owned()),
        Just("closed".to_owned()),
        Just("opens_at".to_owned()),
        ".{0,8}",
    ];
    prop_oneof![
        btree_map(field, json_value(), 0..6)
            .prop_map(|m| { serde_json::Value::Object(m.into_iter().collect()).to_string() }),
        json_value().prop_map(|v| v.to_string()),
        any::<String>(),
    ]
}

fn key_list_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        "[0-9]{1,4} ?: ?[0-9a-fA-F]{0,70}( ?, ?[0-9]{1,4}:[0-9a-f]{0,70}){0,3}",
        "([0-9]{1,3}:[0-9a-f+-]{30,66},?){0,3}",
    ]
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn config_patches_never_panic_and_stay_in_bounds(body in patch_body()) {
        if let Ok(patch) = ConfigPatch::from_json(&body) {
            let next = RoomConfig::default().apply(&patch, UnixMs(1_700_000_000_000));
            let within = |v: u32, (lo, hi): (u32, u32)| (lo..=hi).contains(&v);
            prop_assert!(within(next.new_users_per_minute, NEW_USERS_PER_MINUTE));
            prop_assert!(within(next.max_active, MAX_ACTIVE));
            prop_assert!(within(next.session_duration_s, SESSION_DURATION_S));
        }
    }

    #[test]
    fn key_lists_never_panic_and_accepted_ones_round_trip(text in key_list_text()) {
        if let Ok(ring) = KeyRing::parse_pass_keys(&text) {
            let again = KeyRing::parse_pass_keys(&ring.to_env_text()).unwrap();
            prop_assert_eq!(again.to_env_text(), ring.to_env_text());
        }
        if let Ok(secrets) = SecretRing::parse(&text) {
            prop_assert!(secrets.ticket_keys().is_ok());
            prop_assert!(secrets.pass_keys().is_ok());
        }
    }

    #[test]
    fn hex_round_trips(bytes in vec(any::<u8>(), 0..40)) {
        prop_assert_eq!(unhex(&hex(&bytes)), Some(bytes));
    }

    /// Anything `unhex` accepts is an even number of hex digits (parsed strictly).
    #[test]
    fn unhex_accepts_only_hex_digits(text in r"(\+?[0-9a-fA-F]|[ +-]){0,6}|.{0,8}") {
        if unhex(&text).is_some() {
            prop_assert!(text.len() % 2 == 0 && text.bytes().all(|b| b.is_ascii_hexdigit()),
                "unhex accepted {:?}", text);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The release cursor

proptest! {
    #![proptest_config(config())]

    #[test]
    fn the_cursor_obeys_the_policy_at_every_step(r in run()) {
        let mut config = r.config.clone();
        let mut state = r.start;
        let mut now = r.start.updated_at;
        let mut reported = 0u64;
        for s in &r.steps {
            now = now.plus_ms(s.dt);
            if let Some(rate) = s.rate {
                config.new_users_per_minute = rate;
            }
            let config = RoomConfig { paused: config.paused || s.paused, ..config.clone() };
            let rate = config.new_users_per_minute;
            let out = state.advance(&config, &r.arrivals, s.demand, now, r.settle_ms);
            let next = out.state;
            let stopped = config.frozen(now) || rate == 0;

            // Monotone.
            prop_assert!(next.cursor >= state.cursor);
            // A `now` that is not later changes nothing and releases nobody.
            if s.dt == 0 {
                prop_assert_eq!(out.state, state);
                prop_assert_eq!(out.released, 0);
                continue;
            }
            // Stopped (paused, closed, before the opening, rate 0): no movement, nothing
            // earned, and anything saved is forfeit (a debt is kept).
            if stopped {
                prop_assert_eq!(next.cursor, state.cursor);
                prop_assert_eq!(next.allowance, state.allowance.min(0));
                prop_assert_eq!(out.released, 0);
            }
            // What this step could spend: the saved allowance (forfeit if stopped or the rate
            // is lower than the one it was earned under), plus the accrual since the last step
            // (or since the opening, if it fell inside), at most the capacity.
            let saved = if stopped || rate < state.earned_at_rate {
                state.allowance.min(0)
            } else {
                state.allowance
            };
            let earning_from = match config.opens_at {
                Some(t) if t > state.updated_at => t,
                _ => state.updated_at,
            };
            let accrued = if stopped { 0 } else { release_units(rate, now.since(earning_from)) };
            let to_spend = (i128::from(saved) + i128::try_from(accrued).unwrap())
                .min(i128::try_from(capacity_units(&config)).unwrap());
            let step = released(&r.arrivals, state.cursor, next.cursor);
            prop_assert!(
                i128::from(step) <= to_spend.max(0) / i128::try_from(ONE).unwrap() + 1,
                "released {} with {} to spend", step, to_spend
            );
            // Never past `now − settle` (unless it already was, and then it stays put).
            let limit = Cursor::at_time(now.minus_ms(r.settle_ms));
            if next.cursor != state.cursor {
                prop_assert!(next.cursor <= limit, "{:?} past {:?}", next.cursor, limit);
            }
            // No more than the room left under max_active (counting the pending: unclaimed
            // or waiting at a limiter, who may still come) and under the cap on pending, in
            // one step (1 of rounding).
            let pending = s.demand.unclaimed.max(s.demand.waiting);
            let room_left = u64::from(config.max_active)
                .saturating_sub(s.demand.active)
                .saturating_sub(pending)
                .min(unclaimed_cap(&config).saturating_sub(pending));
            prop_assert!(step <= room_left + 1, "released {} with room for {}", step, room_left);
            // Empty seconds are free: with something to spend and nobody waiting up to the
            // limit, the cursor gets there. With nothing to spend it stays put (rate 0 admits
            // nobody, and counts for empty-looking seconds may still be on their way).
            let nobody_waiting = r
                .arrivals
                .iter()
                .all(|(bucket, _)| bucket < state.cursor.bucket() || bucket > limit.bucket());
            if !stopped && nobody_waiting {
                if to_spend > 0 && room_left > 0 {
                    prop_assert_eq!(next.cursor, state.cursor.max(limit));
                } else {
                    prop_assert_eq!(next.cursor, state.cursor);
                }
            }
            prop_assert_eq!(next.updated_at, now);
            prop_assert_eq!(next.earned_at_rate, rate);
            reported += out.released;
            state = next;
        }
        // What the steps reported is exactly what the histogram says was released.
        prop_assert_eq!(reported, released(&r.arrivals, r.start.cursor, state.cursor));
    }

    /// The allowance of a room that was paused, closed, not yet open, stopped or slowed is
    /// gone: the step after never releases more than that step itself earned, however rich the
    /// room was before.
    #[test]
    fn nothing_saved_survives_a_stricter_config(
        r in run(),
        rich in 0i64..(1_000i64 << 32),
        pause_ms in 1u64..600_000,
        after_ms in 1u64..5_000,
        how in 0u8..4,
    ) {
        let open = RoomConfig {
            paused: false,
            closed: false,
            opens_at: None,
            new_users_per_minute: r.config.new_users_per_minute.max(2),
            max_active: MAX_ACTIVE.1,
            ..r.config.clone()
        };
        let start = ReleaseState {
            allowance: rich,
            earned_at_rate: open.new_users_per_minute,
            ..r.start
        };
        let t1 = start.updated_at.plus_ms(pause_ms);
        let (stricter, reopened) = match how {
            0 => (RoomConfig { paused: true, ..open.clone() }, open.clone()),
            1 => (RoomConfig { closed: true, ..open.clone() }, open.clone()),
            2 => (RoomConfig { opens_at: Some(t1.plus_ms(1)), ..open.clone() }, open.clone()),
            _ => {
                let lower = RoomConfig {
                    new_users_per_minute: open.new_users_per_minute / 2,
                    ..open.clone()
                };
                (lower.clone(), lower)
            }
        };
        let during = start.advance(&stricter, &r.arrivals, Demand::default(), t1, r.settle_ms);
        let t2 = t1.plus_ms(after_ms);
        let after = during.state.advance(&reopened, &r.arrivals, Demand::default(), t2, r.settle_ms);
        let earned = release_units(reopened.new_users_per_minute, after_ms) / ONE + 1;
        let total = u128::from(during.released + after.released);
        prop_assert!(
            total <= earned + if how == 3 { release_units(stricter.new_users_per_minute, pause_ms) / ONE + 1 } else { 0 },
            "released {} after {:?}, earned {}", total, how, earned
        );
        if how < 3 {
            prop_assert_eq!(during.released, 0);
        }
    }

    /// While a crowd waits and nothing else binds (no cap, nothing unclaimed, the limit far
    /// ahead, steps no longer than the allowance holds), the cursor releases exactly at
    /// `OVER_RELEASE` × the rate: never slower, never faster (1 citizen of rounding).
    #[test]
    fn a_crowd_is_released_at_the_release_rate(
        rate in 1u32..=6_000,
        crowd in vec(50u64..500, 300),
        settle_ms in 0u64..5_000,
        steps in vec(1u64..=ALLOWANCE_CAP_MS, 1..20),
    ) {
        let mut arrivals = Histogram::new();
        for (i, count) in (0u64..).zip(&crowd) {
            arrivals.add(BASE_S - 300 + i, *count);
        }
        let config = RoomConfig {
            new_users_per_minute: rate,
            max_active: MAX_ACTIVE.1,
            ..RoomConfig::default()
        };
        let start = ReleaseState {
            cursor: Cursor::at_bucket(BASE_S - 300),
            updated_at: UnixMs(BASE_S * 1000),
            earned_at_rate: rate,
            ..ReleaseState::default()
        };
        let (mut state, mut elapsed, mut reported) = (start, 0u64, 0u64);
        for dt in steps {
            let now = state.updated_at.plus_ms(dt);
            elapsed += dt;
            let step = state.advance(&config, &arrivals, Demand::default(), now, settle_ms);
            reported += step.released;
            state = step.state;
        }
        let total = u128::from(released(&arrivals, start.cursor, state.cursor));
        let due = release_units(rate, elapsed) / ONE;
        prop_assert!(
            total + 1 >= due && total <= due + 1,
            "released {} where the release rate allows {}", total, due
        );
        prop_assert_eq!(u128::from(reported), total);
    }

    /// `new_users_per_minute: 0` admits nobody (config.rs), whatever allowance is left over
    /// from before the operator stopped admissions.
    #[test]
    fn a_rate_of_zero_admits_nobody(r in run()) {
        let config = RoomConfig { new_users_per_minute: 0, ..r.config.clone() };
        let mut state = r.start;
        for s in &r.steps {
            let now = state.updated_at.plus_ms(s.dt);
            let step = state.advance(&config, &r.arrivals, s.demand, now, r.settle_ms);
            prop_assert_eq!(step.released, 0);
            state = step.state;
        }
        prop_assert_eq!(released(&r.arrivals, r.start.cursor, state.cursor), 0);
    }

    /// Late places behind the cursor are released at once: charged to the allowance (which
    /// may go negative) and reported, whole citizens with the fraction carried.
    #[test]
    fn late_places_are_charged_and_reported(
        cursor in near_key(),
        late in vec((0u64..420, 0u64..1_000), 0..20),
    ) {
        let mut state = ReleaseState { cursor: Cursor(cursor.0), ..ReleaseState::default() };
        let mut charged: u128 = 0;
        let mut reported = 0u64;
        for (offset, count) in late {
            let bucket = BASE_S - 210 + offset;
            let behind = match bucket.cmp(&state.cursor.bucket()) {
                std::cmp::Ordering::Less => u128::from(count) * ONE,
                std::cmp::Ordering::Equal => u128::from(count) * u128::from(state.cursor.sub()),
                std::cmp::Ordering::Greater => 0,
            };
            charged += behind;
            reported += state.charge_late(bucket, count);
        }
        prop_assert_eq!(u128::from(reported), charged / ONE);
        prop_assert_eq!(i128::from(state.allowance), -i128::try_from(charged).unwrap());
    }

    #[test]
    fn position_never_grows_as_the_cursor_advances(
        arrivals in histogram(),
        config in room_config(),
        a in near_key(),
        b in near_key(),
        key in near_key(),
        jitter in any::<u16>(),
        now_offset_ms in -300_000i64..300_000,
    ) {
        let (c1, c2) = (Cursor(a.0.min(b.0)), Cursor(a.0.max(b.0)));
        prop_assert!(arrivals.between(c1, key) >= arrivals.between(c2, key));
        let now = UnixMs((BASE_S * 1000).saturating_add_signed(now_offset_ms));
        let view = |cursor| RoomView { config: &config, cursor, arrivals: &arrivals, stale: false, settle_ms: 0, view_lag_ms: 0, through_per_minute: None, arrivals_per_minute: None };
        let s1 = view(c1).status(key, now, jitter);
        let s2 = view(c2).status(key, now, jitter);
        if let (Some(p1), Some(p2)) = (s1.position, s2.position) {
            prop_assert!(p1 >= p2, "position {} then {}", p1, p2);
        }
        if s1.state == QueueState::Admitted {
            prop_assert_eq!(s2.state, QueueState::Admitted);
        }
    }

    #[test]
    fn status_is_sane_for_any_room(
        arrivals in histogram(),
        config in room_config(),
        cursor in near_key(),
        key in near_key(),
        jitter in any::<u16>(),
        now_offset_ms in -300_000i64..300_000,
    ) {
        let now = UnixMs((BASE_S * 1000).saturating_add_signed(now_offset_ms));
        let view = RoomView { config: &config, cursor: Cursor(cursor.0), arrivals: &arrivals, stale: true, settle_ms: 0, view_lag_ms: 0, through_per_minute: None, arrivals_per_minute: None };
        let s = view.status(key, now, jitter);
        prop_assert!((1_000..=34_500).contains(&s.next_poll_ms), "{}", s.next_poll_ms);
        prop_assert_eq!(s.state == QueueState::Admitted, Cursor(cursor.0).admits(key));
        if let (Some(position), Some(ahead)) = (s.position, s.ahead) {
            prop_assert!(position == ahead + 1 || (position, ahead) == (0, 0));
        }
        if let Some([low, high]) = s.eta_s {
            prop_assert!(low <= high);
        }
        prop_assert!(s.stale);
    }

    #[test]
    fn eta_never_shrinks_with_more_people_ahead(
        config in room_config(),
        a in 0u64..10_000_000,
        b in 0u64..10_000_000,
    ) {
        let (fewer, more) = (a.min(b), a.max(b));
        match (eta_s(&config, fewer, None), eta_s(&config, more, None)) {
            (Some([l1, h1]), Some([l2, h2])) => prop_assert!(l1 <= l2 && h1 <= h2),
            (None, None) => prop_assert_eq!(config.new_users_per_minute, 0),
            other => prop_assert!(false, "{:?}", other),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Order keys

/// Arrival times whose second still fits an order key's 32-bit bucket (until the year 2106).
fn arrival_ms() -> impl Strategy<Value = u64> {
    0u64..u64::from(u32::MAX) * 1000
}

proptest! {
    #![proptest_config(config())]

    /// First come, first served between seconds; inside one second the draw decides (the sub
    /// is the draw, uniform over the second), whatever the milliseconds.
    #[test]
    fn fifo_keys_follow_arrival_between_seconds_and_the_draw_inside_one(
        a in arrival_ms(),
        other in arrival_ms(),
        same_second in any::<bool>(),
        ms in 0u64..1000,
        ra in any::<u32>(),
        rb in any::<u32>(),
    ) {
        // Half the cases put both arrivals in one second, which independent draws almost never do.
        let b = if same_second { a / 1000 * 1000 + ms } else { other };
        let (ta, tb) = (UnixMs(a), UnixMs(b));
        let (ka, kb) = (OrderKey::fifo(ta, ra), OrderKey::fifo(tb, rb));
        prop_assert_eq!(ka.bucket(), ta.secs());
        prop_assert_eq!(ka.sub(), u64::from(ra));
        if ta.secs() == tb.secs() {
            prop_assert_eq!(ka.cmp(&kb), ra.cmp(&rb));
        } else {
            prop_assert_eq!(ka < kb, a < b);
        }
        // A cursor at time t admits every earlier second whole, nothing of a later one, and of
        // t's own second the draws below the share of it that has elapsed.
        let elapsed = tb.subsec_ms() * (1 << 32) / 1000;
        let admitted = ta.secs() < tb.secs() || (ta.secs() == tb.secs() && u64::from(ra) < elapsed);
        prop_assert_eq!(Cursor::at_time(tb).admits(ka), admitted);
    }

    #[test]
    fn lottery_keys_stand_after_every_cursor_of_their_time_and_before_later_arrivals(
        since in 1_000u64..u64::from(u32::MAX - 100_000) * 1000,
        random in any::<u32>(),
        after in 2_000u64..86_400_000,
        r2 in any::<u32>(),
    ) {
        let drawn = OrderKey::lottery(UnixMs(since), random);
        prop_assert_eq!(drawn.sub(), u64::from(random));
        // A cursor never passes `now`, so none that existed when the pre-queue began admits it.
        prop_assert!(!Cursor::at_time(UnixMs(since)).admits(drawn));
        // Everyone arriving a full second after the pre-queue began stands behind it.
        let later = (since / 1000 * 1000).saturating_add(after).min(u64::from(u32::MAX) * 1000 - 1);
        prop_assert!(drawn < OrderKey::fifo(UnixMs(later), r2));
    }
}

// ---------------------------------------------------------------------------------------------
// The smallest cases the properties above found, as plain examples.

/// `unhex` documents "`None` on … a non-hex character", but `u8::from_str_radix` takes a leading
/// `+`, so `"+a"` reads as 0x0a and a `GATE_KEYS` secret of `+0+1…` is accepted.
#[test]
fn unhex_refuses_a_plus_sign() {
    assert_eq!(unhex("+a"), None);
    assert!(SecretRing::parse("1:+0+1+2+3+4+5+6+7+8+9+a+b+c+d+e+f").is_err());
}

/// An allowance left over from before the operator set the rate to 0 still released a citizen
/// when the bucket's cap was "at least one citizen" even at rate 0.
#[test]
fn a_rate_of_zero_spends_no_leftover_allowance() {
    let mut arrivals = Histogram::new();
    arrivals.add(BASE_S - 10, 100);
    let stopped = RoomConfig {
        new_users_per_minute: 0,
        ..RoomConfig::default()
    };
    let state = ReleaseState {
        cursor: Cursor::at_bucket(BASE_S - 10),
        allowance: 5 << 32, // five citizens' worth, earned at the old rate
        updated_at: UnixMs(BASE_S * 1000),
        earned_at_rate: 60,
        released_carry: 0,
    };
    let next = state.advance(
        &stopped,
        &arrivals,
        Demand::default(),
        UnixMs(BASE_S * 1000 + 1_000),
        2_000,
    );
    assert_eq!(released(&arrivals, state.cursor, next.state.cursor), 0);
    assert_eq!((next.released, next.state.allowance), (0, 0));
}
