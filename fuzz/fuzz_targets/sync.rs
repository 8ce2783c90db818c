//! Sync messages, as values: hostile or corrupt batches (`SyncReport`) sent to the room
//! (`Room::sync`) and to a location's aggregator (`Aggregator::on_sync`), and hostile or
//! corrupt answers (`RoomSnapshot`) sent to an isolate (`Isolate::finish_sync`) and to the
//! aggregator (`Aggregator::finish_sync`), between honest rounds of syncs. Afterwards every
//! receiver must still work (`Hierarchy::assert_not_wedged`): no batch or answer may panic,
//! hang, or stop a receiver from serving the senders that did nothing wrong.
#![no_main]

use arbitrary::Arbitrary;
use edgegate_core::order::Cursor;
use edgegate_core::sync::{RoomSnapshot, SyncReport};
use edgegate_core::UnixMs;
use edgegate_fuzz::{Hierarchy, T0, TICKET_TTL_MS, TIMING};
use libfuzzer_sys::fuzz_target;

/// A number near what an honest sender would send (`Near`: an offset from a base the step
/// knows, such as now's second or the last batch number) or any at all.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Num {
    Near(i16),
    Any(u64),
}

impl Num {
    fn from(self, base: u64) -> u64 {
        match self {
            Num::Near(d) => base.saturating_add_signed(i64::from(d)),
            Num::Any(n) => n,
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Batch {
    /// Which of a few hostile senders (never an honest one's id: a sender's own id is its own
    /// business, and the receivers trust ids as the worker's transport does).
    sender: u8,
    seq: Num,
    places: Vec<(Num, u64, i64)>,
    let_through: Vec<(Num, u64)>,
    ended: Vec<(Num, u64)>,
    refused: u64,
    waiting: u64,
    isolates: u64,
    epoch: u64,
    known_cursor: Option<Num>,
    to_room: bool,
}

#[derive(Arbitrary, Debug)]
struct Answer {
    at: Num,
    acked: Num,
    age_ms: Num,
    share_ppm: u32,
    settle_ms: Num,
    cursor: Option<Num>,
    arrivals: Vec<(Num, i64)>,
    revoked: Vec<String>,
    revoked_before: Option<Num>,
    epoch: u64,
    new_users_per_minute: u32,
    session_duration_s: u32,
    to_isolate: bool,
}

#[derive(Arbitrary, Debug)]
enum Step {
    /// Honest traffic: `visitors` new places at the honest isolate, then a round of syncs.
    Honest {
        visitors: u8,
    },
    Batch(Batch),
    Answer(Answer),
    Wait(u16),
    /// A long silence, in seconds.
    Silence(u16),
}

fuzz_target!(|steps: Vec<Step>| {
    let mut now = T0;
    let mut world = Hierarchy::new(now);
    world.sync(now);
    let mut draws = 0u32;
    for step in steps.into_iter().take(64) {
        let second = now.0 / 1000;
        match step {
            Step::Honest { visitors } => {
                for _ in 0..visitors % 8 {
                    draws += 1;
                    let mut id = [0u8; 16];
                    id[..4].copy_from_slice(&draws.to_be_bytes());
                    let ticket = world.isolate.issue(
                        id,
                        draws,
                        now,
                        TICKET_TTL_MS,
                        2,
                        edgegate_fuzz::room_tag(),
                    );
                    // Two networks share the visitors, so their budgets fill too.
                    let network = edgegate_core::network::NetTag(u64::from(draws % 2) * 2 + 3);
                    world.isolate.visit(&ticket, now, TICKET_TTL_MS, network);
                }
                world.sync(now);
            }
            Step::Batch(b) => {
                let report = SyncReport {
                    isolate: format!("hostile-{}", b.sender % 4),
                    seq: b.seq.from(1),
                    places: b
                        .places
                        .iter()
                        .map(|&(s, slot, d)| (s.from(second), slot, d))
                        .collect(),
                    let_through: b
                        .let_through
                        .iter()
                        .map(|&(s, n)| (s.from(second), n))
                        .collect(),
                    ended: b.ended.iter().map(|&(s, n)| (s.from(second), n)).collect(),
                    refused: b.refused,
                    waiting: b.waiting,
                    isolates: b.isolates,
                    epoch: b.epoch,
                    known_cursor: b.known_cursor.map(|c| Cursor::at_bucket(c.from(second))),
                    ..SyncReport::default()
                };
                if b.to_room {
                    let report = SyncReport {
                        isolate: format!("loc:{}", report.isolate),
                        ..report
                    };
                    world.room.sync(&report, now);
                } else {
                    world.aggregator.on_sync(&report, now);
                }
            }
            Step::Answer(a) => {
                let honest = world.room.snapshot("loc:ICN", 0, now);
                let snapshot = hostile(honest, &a, now);
                if a.to_isolate {
                    let seq = world.isolate.begin_sync(now).map_or(0, |b| b.seq);
                    world.isolate.finish_sync(seq, Some(snapshot), now);
                } else {
                    let seq = world.aggregator.upstream(now).map_or(0, |u| u.batch.seq);
                    world.aggregator.finish_sync(seq, Some(snapshot), now);
                }
            }
            Step::Wait(ms) => now = now.plus_ms(u64::from(ms)),
            Step::Silence(s) => now = now.plus_ms(u64::from(s) * 1000),
        }
    }
    now = now.plus_ms(1_000);
    world.assert_not_wedged(now);
    // The honest isolate, too, hears the room again within a few rounds.
    let mut at = now;
    for _ in 0..3 {
        at = at.plus_ms(TIMING.sync_interval_ms + TIMING.sync_timeout_ms + 1);
        world.sync(at);
    }
    assert_eq!(
        world.isolate.config().map(|c| c.new_users_per_minute),
        Some(world.room.config.new_users_per_minute),
        "the honest isolate hears the room's config again"
    );
});

/// The honest answer with the step's fields in its place.
fn hostile(mut s: RoomSnapshot, a: &Answer, now: UnixMs) -> RoomSnapshot {
    let second = now.0 / 1000;
    s.at = UnixMs(a.at.from(now.0));
    s.acked = a.acked.from(s.acked);
    s.age_ms = a.age_ms.from(0);
    s.share_ppm = a.share_ppm;
    s.settle_ms = a.settle_ms.from(s.settle_ms);
    if let Some(c) = a.cursor {
        s.cursor = Cursor::at_bucket(c.from(second));
    }
    for &(bucket, delta) in &a.arrivals {
        s.arrivals.add(bucket.from(second), delta);
    }
    s.revoked = a.revoked.clone();
    s.revoked_before = a.revoked_before.map(|t| UnixMs(t.from(now.0)));
    s.epoch = a.epoch;
    s.config.new_users_per_minute = a.new_users_per_minute;
    s.config.session_duration_s = a.session_duration_s;
    s
}
