//! Cookie text to token (`token`): any text, verified as a ticket, a pass and a test key under
//! the vectors' keys, for the vectors' room or another, at instants around the vectors' and at
//! the ends of time. A failed token is no token: every failure is an error value, never a
//! panic, and what verifies means what it says. The input is the text alone, so the vectors'
//! tokens seed it as they are.
#![no_main]

use edgegate_core::token::{Pass, TestKey, Ticket};
use edgegate_core::{RoomTag, UnixMs};
use edgegate_fuzz::{rings, room_tag, Rings, T0};
use libfuzzer_sys::fuzz_target;

/// The start and end of time, and instants around the vectors' clock, where their tokens are
/// in scope: a minute before, just after, a minute after, a day after (a ticket's lifetime).
const INSTANTS: [u64; 6] = [
    0,
    T0.0 - 60_000,
    T0.0 + 5_123,
    T0.0 + 61_000,
    T0.0 + 86_400_000,
    u64::MAX,
];

fuzz_target!(|text: &str| {
    let keys = rings();
    for room in [room_tag(), RoomTag::of("pass-check")] {
        for now in INSTANTS.map(UnixMs) {
            check(text, &keys, room, now);
        }
    }
    // Text of one kind never passes for another.
    let ticket = Ticket::authenticate(text, &keys.tickets);
    assert!(ticket.is_err() || Pass::authenticate(text, &keys.passes).is_err());
});

fn check(text: &str, keys: &Rings, room: RoomTag, now: UnixMs) {
    // Verify is exactly its two halves, which the worker asks apart (`crates/edgegate-edge/src/trust.rs`).
    let ticket = Ticket::verify(text, &keys.tickets, room, now);
    let authenticated = Ticket::authenticate(text, &keys.tickets);
    match (&ticket, &authenticated) {
        (Ok(t), Ok(a)) => assert_eq!(t, a),
        (Ok(_), Err(e)) => panic!("verified but not authenticated: {e:?}"),
        (Err(_), Ok(a)) => assert!(a.in_scope(room, now).is_err()),
        (Err(_), Err(_)) => {}
    }
    if let Ok(t) = authenticated {
        // What authenticates was signed by a key of the ring, and signs back to a ticket that
        // authenticates as the same (an older layout is signed anew as the current one, which
        // keeps every field).
        assert!(keys.tickets.get(t.key_id).is_some());
        let again = Ticket {
            key_id: keys.tickets.signing().id(),
            ..t
        };
        let text = again.sign(&keys.tickets);
        assert_eq!(Ticket::authenticate(&text, &keys.tickets), Ok(again));
    }

    let pass = Pass::verify(text, &keys.passes, room, now);
    let authenticated = Pass::authenticate(text, &keys.passes);
    match (&pass, &authenticated) {
        (Ok(p), Ok(a)) => assert_eq!(p, a),
        (Ok(_), Err(e)) => panic!("verified but not authenticated: {e:?}"),
        (Err(_), Ok(a)) => assert!(a.in_scope(room, now).is_err()),
        (Err(_), Err(_)) => {}
    }
    if let Ok(p) = authenticated {
        // Signed with the newest key in the current layout, a pass has one text (base64
        // without padding or slack); an older layout signs anew as the current one, which
        // keeps what it meant. (The first two characters spell the version byte, and the
        // kind's first bits, which are the same.)
        let signed = p.sign(&keys.passes);
        let current = text.starts_with(signed.get(..2).unwrap_or_default());
        if p.key_id == keys.passes.signing().id() && current {
            assert_eq!(signed, text, "a pass has one text");
        }
        assert_eq!(
            Pass::authenticate(&signed, &keys.passes),
            Ok(Pass {
                key_id: keys.passes.signing().id(),
                ..p
            })
        );
    }
    if let Ok(p) = pass {
        assert!(p.expires_at > now && p.ends_at > now && p.room == room);
    }

    if let Ok(k) = TestKey::verify(text, &keys.tests, room, now) {
        assert!(k.expires_at > now && k.room == room);
        let again = TestKey::verify(&k.sign(&keys.tests), &keys.tests, room, now);
        assert_eq!(again, Ok(k));
    }
}
