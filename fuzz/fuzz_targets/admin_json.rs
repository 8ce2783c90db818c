//! The admin API's bodies and headers: `PUT /admin/config` (`ConfigPatch::from_json`, then
//! applied to a room as the coordinator does), `POST /admin/revoke` (`Revoke::from_json`, and
//! the ticket number a person types, `TicketRef::parse`), and the `Edgegate-Operator` header the
//! audit log names (`audit::operator`). A bad body is a named refusal, never a panic, and what
//! is accepted stays inside the documented bounds. The input is the text alone, read as each
//! of them, so the README's example bodies seed it as they are.
#![no_main]

use edgegate_core::audit::{self, config_changes, ANONYMOUS, OPERATOR_MAX_CHARS};
use edgegate_core::config::{
    ConfigPatch, RoomConfig, MAX_ACTIVE, NEW_USERS_PER_MINUTE, PLACE_GRACE_S, SESSION_DURATION_S,
};
use edgegate_core::revocation::{Revoke, TicketRef};
use edgegate_core::room::{decode, encode, Room};
use edgegate_fuzz::T0;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|body: &str| {
    let (operator, typed_ref, now) = (Some(body), body, T0);

    if let Ok(patch) = ConfigPatch::from_json(body) {
        let mut room = Room::fresh(T0, 9_000);
        // Twice: the second time over a config the first may have changed.
        for at in [now, now.plus_ms(60_000)] {
            let before = room.config.clone();
            match room.configure(&patch, at) {
                Ok(after) => {
                    let after = after.clone();
                    within_bounds(&after);
                    for change in config_changes(&before, &after, "fuzz", at) {
                        assert_ne!(change.from, change.to, "{}", change.what);
                    }
                    // What the coordinator stores reads back as it was.
                    assert_eq!(decode::<RoomConfig>(&encode(&after)), Ok(after));
                }
                Err(e) => assert_eq!(e.field, "burst", "only the burst depends on the room"),
            }
        }
    }

    match Revoke::from_json(body, now) {
        Ok(Revoke::Before(at)) => assert!(at <= now, "a revocation is never in the future"),
        Ok(Revoke::Ticket(r)) => assert_eq!(TicketRef::parse(&r.to_string()), Some(r)),
        // Refused, naming the field as the body named it (even `""`).
        Err(_) => {}
    }

    if let Some(r) = TicketRef::parse(typed_ref) {
        // A ref reads back from both of its written forms.
        assert_eq!(r.compact().chars().count(), 8);
        assert_eq!(TicketRef::parse(&r.compact()), Some(r));
        assert_eq!(TicketRef::parse(&r.to_string()), Some(r));
    }

    let who = audit::operator(operator);
    if who != ANONYMOUS {
        assert_eq!(Some(who.as_str()), operator.map(str::trim));
        assert!(who.chars().count() <= OPERATOR_MAX_CHARS);
        assert!(!who.chars().any(|c| c.is_control() || audit::hidden(c)));
    }
});

/// Every bounded setting within its bounds, and the burst in force within a second of the rate.
fn within_bounds(c: &RoomConfig) {
    let inside = |(low, high): (u32, u32), n: u32| (low..=high).contains(&n);
    assert!(inside(NEW_USERS_PER_MINUTE, c.new_users_per_minute));
    assert!(inside(MAX_ACTIVE, c.max_active));
    assert!(inside(SESSION_DURATION_S, c.session_duration_s));
    assert!(inside(PLACE_GRACE_S, c.place_grace_s));
    assert!(c.effective_burst() <= c.new_users_per_minute / 60);
}
