//! What the fuzz targets share: the keys and room they verify tokens under, the clock they
//! start from, and a small hierarchy (room, aggregator, isolate) that checks a receiver still
//! works after whatever a target fed it.
//!
//! The keys are the golden vectors' (`crates/edgegate-core/tests/vectors.json`), so the
//! vectors' tokens, which seed the corpora, verify here and the fuzzer starts from text that
//! gets past the MAC.

use edgegate_core::aggregate::{Aggregator, Upstream};
use edgegate_core::config::ConfigPatch;
use edgegate_core::isolate::{Isolate, Timing};
use edgegate_core::keys::{ForPasses, ForTestKeys, ForTickets, SecretRing};
use edgegate_core::outbox::Outbox;
use edgegate_core::room::Room;
use edgegate_core::sync::{settle_ms, RoomSnapshot, SyncReport};
use edgegate_core::{KeyRing, RoomTag, UnixMs};

/// The vectors' `GATE_KEYS`: "current" (id 2) signs, "previous" (id 1) still verifies.
pub const GATE_KEYS: &str = "2:000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f,\
                             1:202122232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f";
/// The vectors' room.
pub const ROOM: &str = "booking";
/// Midnight, 12 July 2021, Korea: the vectors' clock, in unix ms.
pub const T0: UnixMs = UnixMs(1_626_015_600_000);
/// The deployment defaults (`SYNC_INTERVAL_MS`, `SYNC_TIMEOUT_MS`, `STALE_AFTER_MS`,
/// `FAIL_STATIC_PER_MILLE`).
pub const TIMING: Timing = Timing {
    sync_interval_ms: 1_000,
    sync_timeout_ms: 3_000,
    stale_after_ms: 15_000,
    fail_static_per_mille: 100,
};
/// `TICKET_TTL_S` by default, in ms.
pub const TICKET_TTL_MS: u64 = 6 * 3_600_000;

/// The three rings a citizen's tokens are verified under.
pub struct Rings {
    pub tickets: KeyRing<ForTickets>,
    pub passes: KeyRing<ForPasses>,
    pub tests: KeyRing<ForTestKeys>,
}

/// The rings derived from [`GATE_KEYS`], as the worker derives them.
pub fn rings() -> Rings {
    let secrets = SecretRing::parse(GATE_KEYS).expect("the vectors' secrets parse");
    Rings {
        tickets: secrets.ticket_keys().expect("a ticket ring"),
        passes: secrets.pass_keys().expect("a pass ring"),
        tests: secrets.test_keys().expect("a test-key ring"),
    }
}

pub fn room_tag() -> RoomTag {
    RoomTag::of(ROOM)
}

/// A room, one location's aggregator and one of its isolates, wired as the worker wires them
/// but called directly, with the clock in the caller's hands.
pub struct Hierarchy {
    pub room: Room,
    pub aggregator: Aggregator,
    pub isolate: Isolate,
    /// Honest senders made so far, so each check uses a new id no target could have taken.
    fresh: u32,
}

impl Hierarchy {
    pub fn new(now: UnixMs) -> Hierarchy {
        Hierarchy {
            room: Room::fresh(
                now,
                settle_ms(TIMING.sync_interval_ms, TIMING.sync_timeout_ms),
            ),
            aggregator: aggregator("ICN"),
            isolate: Isolate::new("honest".into(), TIMING),
            fresh: 0,
        }
    }

    /// One round of syncs at `now`, every answer delivered: the isolate's batch to the
    /// aggregator, the aggregator's to the room, and the answers back down.
    pub fn sync(&mut self, now: UnixMs) {
        if let Some(batch) = self.isolate.begin_sync(now) {
            let answer = self.through_aggregator(&batch, now);
            self.isolate.finish_sync(batch.seq, answer, now);
        } else {
            // The aggregator's alarm: what it owes goes up even when no isolate syncs.
            let up = self.aggregator.upstream(now);
            self.deliver(up, now);
        }
    }

    /// An isolate's `batch` at the aggregator, as the worker's aggregator takes it: applied,
    /// sent on to the room when due (first, when the aggregator must hear the room before it
    /// answers), and answered.
    pub fn through_aggregator(&mut self, batch: &SyncReport, now: UnixMs) -> Option<RoomSnapshot> {
        let next = self.aggregator.on_sync(batch, now);
        self.deliver(next.upstream, now);
        self.aggregator
            .answer(&batch.isolate, batch.notices_at, batch.sent_at, now)
    }

    /// The aggregator's batch to the room, if it cut one, and the room's answer.
    fn deliver(&mut self, up: Option<Upstream>, now: UnixMs) {
        if let Some(up) = up {
            let answer = self.room.sync(&up.batch, now).snapshot;
            self.aggregator.finish_sync(up.batch.seq, Some(answer), now);
        }
    }

    /// Panics unless every receiver still does its work at `now`, whatever it was fed before:
    /// the room applies and acknowledges a batch from a sender it never heard from, the
    /// aggregator does the same for an isolate, and a new isolate that syncs through them
    /// learns the room's config as the operator just set it.
    pub fn assert_not_wedged(&mut self, now: UnixMs) {
        // A sender neither receiver has heard from: the input may have named any id at all
        // (a fuzzer found `check-1` with a high batch number).
        let id = loop {
            self.fresh += 1;
            let id = format!("check-{}", self.fresh);
            let known = self.aggregator.sender(&id).is_some()
                || self.room.senders.get(&format!("loc:{id}")).is_some();
            if !known {
                break id;
            }
        };
        let second = now.0 / 1000;

        let batch = SyncReport {
            isolate: format!("loc:{id}"),
            seq: 1,
            places: vec![(second, 0, 1)],
            ..SyncReport::default()
        };
        let synced = self.room.sync(&batch, now);
        assert!(synced.applied, "the room applies a new sender's batch");
        assert_eq!(synced.snapshot.acked, 1, "the room acknowledges it");

        let batch = SyncReport {
            isolate: id.clone(),
            seq: 1,
            places: vec![(second, 0, 1)],
            ..SyncReport::default()
        };
        assert!(
            self.aggregator.on_sync(&batch, now).applied,
            "the aggregator applies a new isolate's batch"
        );

        // The operator sets a rate no target uses; a new isolate must hear it through both
        // hops within a round or two of syncs.
        let rate = 54_321 + self.fresh;
        let patch = ConfigPatch::from_json(&format!(r#"{{"new_users_per_minute": {rate}}}"#))
            .expect("a valid patch");
        self.room
            .configure(&patch, now)
            .expect("the room takes a valid patch");
        let mut book = Isolate::new(format!("{id}-book"), TIMING);
        let mut at = now;
        for _ in 0..3 {
            at = at.plus_ms(TIMING.sync_interval_ms + TIMING.sync_timeout_ms + 1);
            if let Some(batch) = book.begin_sync(at) {
                let answer = self.through_aggregator(&batch, at);
                book.finish_sync(batch.seq, answer, at);
            }
        }
        assert_eq!(
            book.config().map(|c| c.new_users_per_minute),
            Some(rate),
            "a new isolate learns the room's config"
        );
    }
}

/// A location's aggregator as the worker starts one with nothing stored.
pub fn aggregator(location: &str) -> Aggregator {
    Aggregator::restore(
        location,
        (
            TIMING.sync_interval_ms,
            TIMING.sync_timeout_ms,
            TIMING.fail_static_per_mille,
        ),
        Vec::new(),
        Outbox::default(),
        None,
    )
}
