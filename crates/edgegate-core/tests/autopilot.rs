//! The autopilot over adversarial histories: whatever the origin's counts do (floods of
//! failures, silence, slow answers, `Retry-After`, counts bunched into one sync or spread
//! thin), the rate never leaves the operator's floor and ceiling, never rises in a window that
//! breached, and every change reaches the audit log with its reason.

#![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]

use edgegate_core::autopilot::{Pilot, WINDOW_MS};
use edgegate_core::config::{Autopilot, ConfigPatch};
use edgegate_core::origin::{OriginCounts, Outcome};
use edgegate_core::room::Room;
use edgegate_core::sync::SyncReport;
use edgegate_core::UnixMs;
use proptest::prelude::*;

mod common;

const T0: UnixMs = UnixMs(1_700_000_000_000);

/// One sync's worth of what the edges saw: requests, how many failed, how slow, a
/// `Retry-After`, let-throughs, and how long after the last sync it arrives.
#[derive(Clone, Debug)]
struct Batch {
    requests: u64,
    failed: u64,
    latency_ms: u64,
    retry_after_s: u64,
    let_through: u64,
    gap_ms: u64,
}

fn batch() -> impl Strategy<Value = Batch> {
    (
        prop_oneof![Just(0u64), 0u64..50, 0u64..5_000],
        0u64..=100,
        prop_oneof![Just(20u64), 0u64..12_000],
        prop_oneof![8 => Just(0u64), 1 => 1u64..600],
        0u64..400,
        prop_oneof![Just(1u64), 1u64..3_000, 9_000u64..40_000],
    )
        .prop_map(
            |(requests, failed_pct, latency_ms, retry_after_s, let_through, gap_ms)| Batch {
                requests,
                failed: requests * failed_pct / 100,
                latency_ms,
                retry_after_s,
                let_through,
                gap_ms,
            },
        )
}

fn counts(b: &Batch) -> OriginCounts {
    let mut c = OriginCounts::default();
    for i in 0..b.requests {
        let outcome = if i < b.failed {
            Outcome::Answered(503)
        } else {
            Outcome::Answered(200)
        };
        c.record(b.latency_ms, outcome);
    }
    if b.retry_after_s > 0 {
        c.note_retry_after(b.retry_after_s);
    }
    c
}

fn terms() -> impl Strategy<Value = Autopilot> {
    (1u32..5_000, 0u32..5_000, 25u32..5_000, 1u32..500).prop_map(
        |(floor, above, target_p95_ms, max_errors_per_mille)| Autopilot {
            floor_per_minute: floor,
            ceiling_per_minute: floor + above,
            target_p95_ms,
            max_errors_per_mille,
        },
    )
}

proptest! {
    #![proptest_config(common::proptest_config("tests/proptest-regressions/autopilot.txt", 256))]

    #[test]
    fn the_pilot_stays_between_floor_and_ceiling_and_never_raises_on_a_breach(
        terms in terms(),
        start in 0u32..10_000,
        history in prop::collection::vec(batch(), 1..120),
    ) {
        let mut pilot = Pilot::default();
        let mut rate = start.clamp(terms.floor_per_minute, terms.ceiling_per_minute);
        let mut now = T0;
        pilot.steer(&terms, rate, now);
        // The window as the pilot reads it (see `autopilot`): what arrives from its start, judged
        // once it is a window long; after a change the next starts a window later.
        let mut from = T0.plus_ms(WINDOW_MS);
        let mut window = OriginCounts::default();
        let mut hold_until = UnixMs(0);
        for b in &history {
            now = now.plus_ms(b.gap_ms);
            let c = counts(b);
            pilot.observe(&c, b.let_through, now);
            if now >= from {
                window.add(&c);
            }
            if b.retry_after_s > 0 {
                hold_until = hold_until.max(now.plus_ms(b.retry_after_s * 1000));
            }
            let closes = now >= from.plus_ms(WINDOW_MS);
            let change = pilot.steer(&terms, rate, now);
            prop_assert!(change.is_none() || closes, "a change before the window closed");
            if let Some(change) = change {
                prop_assert!(change.to >= terms.floor_per_minute);
                prop_assert!(change.to <= terms.ceiling_per_minute);
                prop_assert_eq!(change.from, rate);
                prop_assert!(!change.why.is_empty());
                if change.to > rate {
                    let failed = window.errors_5xx + window.timeouts;
                    prop_assert!(
                        failed * 1000 <= window.requests * u64::from(terms.max_errors_per_mille),
                        "raised with {failed} of {} failed", window.requests
                    );
                    prop_assert!(now >= hold_until, "raised while the origin asked to wait");
                } else {
                    // A cut leaves at least a quarter, unless the floor says more.
                    prop_assert!(
                        u64::from(change.to) * 4 >= u64::from(rate)
                            || change.to == terms.floor_per_minute
                    );
                }
                rate = change.to;
                from = now.plus_ms(WINDOW_MS);
                window = OriginCounts::default();
            } else if closes {
                from = now;
                window = OriginCounts::default();
            }
        }
    }
}

/// A room with the autopilot on moves its own rate from what its senders report, and puts
/// every change in the audit log as the autopilot's, with the reason.
#[test]
fn the_room_follows_the_origin_and_audits_each_change() {
    let mut room = Room::fresh(T0, 5_000);
    let on = ConfigPatch::from_json(
        r#"{"new_users_per_minute": 1200, "autopilot": {"floor_per_minute": 60, "ceiling_per_minute": 3000}}"#,
    )
    .unwrap();
    room.configure(&on, T0).unwrap();
    assert_eq!(room.config.new_users_per_minute, 1_200);
    let mut seq = 0;
    let mut sync = |room: &mut Room, at: UnixMs, requests: u64, failed: u64, let_through: u64| {
        seq += 1;
        let mut report = SyncReport {
            isolate: "loc:ICN".into(),
            seq,
            ..SyncReport::default()
        };
        report.let_through = vec![(at.secs(), let_through)];
        report.origin = counts(&Batch {
            requests,
            failed,
            latency_ms: 40,
            retry_after_s: 0,
            let_through,
            gap_ms: 0,
        });
        room.sync(&report, at);
    };
    // A window of history for the requests per citizen, then a window a third refused.
    for s in 0..10 {
        sync(&mut room, T0.plus_ms(s * 1_000 + 500), 0, 0, 20);
    }
    for s in 10..20 {
        sync(&mut room, T0.plus_ms(s * 1_000 + 500), 90, 30, 20);
    }
    sync(&mut room, T0.plus_ms(20_500), 0, 0, 0);
    assert!(room.config.new_users_per_minute < 1_200);
    let audit = room.take_audit();
    assert_eq!(audit.len(), 1, "{audit:?}");
    let entry = &audit[0];
    assert_eq!(
        (entry.who.as_str(), entry.what.as_str()),
        ("autopilot", "new_users_per_minute")
    );
    assert_eq!(entry.from, serde_json::json!(1_200));
    assert!(entry
        .why
        .as_deref()
        .unwrap_or("")
        .contains("forwarded failed"));
    assert!(room.take_audit().is_empty(), "taken once");
    let report = room.report(T0.plus_ms(20_500));
    let pilot = report.autopilot.unwrap();
    assert_eq!(
        pilot.last_change.unwrap().to,
        room.config.new_users_per_minute
    );
    // Turned off, the rate stays where the pilot left it and nothing moves it.
    let off = ConfigPatch::from_json(r#"{"autopilot": null}"#).unwrap();
    let rate = room.config.new_users_per_minute;
    room.configure(&off, T0.plus_ms(21_000)).unwrap();
    for s in 21..60 {
        sync(&mut room, T0.plus_ms(s * 1_000 + 500), 90, 60, 20);
    }
    assert_eq!(room.config.new_users_per_minute, rate);
    assert!(room.take_audit().is_empty());
}
