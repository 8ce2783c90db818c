//! A location's aggregator: the middle of the hierarchy, between the edge isolates of one
//! location and the room coordinator.
//!
//! Isolates sync with the aggregator of their location about once a second each. It applies
//! each isolate's batch once (by batch number, as the coordinator does), adds the counts to its
//! own [`Outbox`], and answers at once with the room as it last heard it: the coordinator's
//! config, cursor and summary of places, with its own counts not yet acknowledged laid over the
//! summary, and the isolate's part of the location's share of the rate. About once a second it
//! sends the coordinator one batch for the whole location. So the coordinator's load is one
//! sync per location per second whatever the crowd, and an isolate's view is at most about two
//! sync intervals old.
//!
//! ## What it keeps its promises with
//! - **Counts are never lost or doubled.** A batch is acknowledged to its isolate only once its
//!   counts are in the aggregator's outbox (the shell persists both before answering), and the
//!   outbox sends them upstream under its own numbers until acknowledged.
//! - **The rate holds.** The coordinator gives the location a share in proportion to its
//!   demand; the aggregator splits that share among its isolates in proportion to theirs (the
//!   same rule, one level down), so the shares it hands out add up to the location's. Every
//!   share is leased (`sync::LEASE_MS`): an isolate's lease ends no later than the location's,
//!   and the location tells the coordinator it runs a smaller share only once its isolates'
//!   fit in it. When the location's lease runs out (the room is out of reach) it shares only
//!   the fail-static fraction of its last share, which the coordinator counts as in force.
//! - **Fail-static sees through the hop.** Every answer carries the age of the room's view
//!   (`age_ms`). An isolate whose answers grow old while its aggregator cannot reach the
//!   coordinator goes stale just as if its own syncs failed, and runs fail-static; a location
//!   whose aggregator is down degrades alone.

use crate::outbox::Outbox;
use crate::places::PlaceKey;
use crate::sync::{
    Notices, Replica, RoomSnapshot, Seen, Senders, SyncReport, LEASE_MS, LOCATION_PREFIX,
};
use crate::time::UnixMs;

/// What an isolate's sync set in motion ([`Aggregator::on_sync`]), for the shell to carry out
/// in this order: store what changed, then either hear the room first and answer, or answer at
/// once and send the location's batch (if any) in the background.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OnSync {
    /// False for a batch applied before.
    pub applied: bool,
    /// The owed place counts the batch changed, each as it stands now (`0`: none owed).
    pub owed_places: Vec<(PlaceKey, i64)>,
    /// The location's batch to send the coordinator now, if a sync is due.
    pub upstream: Option<Upstream>,
    /// Hear from the room before answering: the aggregator is new or restarted, or was idle so
    /// long that its answer would look like an outage ([`Aggregator::needs_room_first`]).
    pub room_first: bool,
}

/// A batch for the coordinator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Upstream {
    pub batch: SyncReport,
    /// A batch cut now (not one sent again): store it, and that the owed counts went into it,
    /// before it is sent, so a restart never sends the same counts under two numbers.
    pub fresh: bool,
}

/// One location's aggregator. See the module documentation.
#[derive(Clone, Debug)]
pub struct Aggregator {
    id: String,
    interval_ms: u64,
    timeout_ms: u64,
    senders: Senders,
    outbox: Outbox,
    room: Option<RoomSnapshot>,
    /// When the coordinator's last answer arrived, on this aggregator's clock.
    heard_at: UnixMs,
    /// The room's identity and cursor as last heard, kept in storage across restarts: what the
    /// batches name until the room answers again, so a room that lost its records can tell.
    known: Option<(u64, crate::order::Cursor)>,
    /// The room's notices, as last heard: what the isolates' copies are brought up to.
    notices: Notices<Replica>,
    /// What of its share it keeps sharing after the lease ran out, per mille: the fail-static
    /// fraction.
    after_lease_per_mille: u32,
    /// The grant time of the room's answer whose share its isolates' shares fit in: what its
    /// batches confirm (`SyncReport::share_at`).
    confirmed_at: UnixMs,
}

impl Aggregator {
    /// The aggregator of `location`, with what it had stored: the isolates it has heard from
    /// and its outbox. It knows nothing of the room until its first sync.
    pub fn restore(
        location: &str,
        (interval_ms, timeout_ms, after_lease_per_mille): (u64, u64, u32),
        senders: impl IntoIterator<Item = (String, Seen)>,
        outbox: Outbox,
        known: Option<(u64, crate::order::Cursor)>,
    ) -> Aggregator {
        Aggregator {
            id: format!("{LOCATION_PREFIX}{location}"),
            interval_ms,
            timeout_ms,
            senders: Senders::restore(senders),
            outbox,
            room: None,
            heard_at: UnixMs(0),
            known,
            notices: Notices::copy(),
            after_lease_per_mille: after_lease_per_mille.min(1_000),
            confirmed_at: UnixMs(0),
        }
    }

    /// Until when (this aggregator's clock) the room's share holds
    /// ([`RoomSnapshot::lease_until`]).
    fn lease_until(&self) -> UnixMs {
        self.room
            .as_ref()
            .map_or(UnixMs(0), RoomSnapshot::lease_until)
    }

    /// The part of the rate it may share among its isolates at `now`, in millionths of the
    /// room's: the room's share while its lease holds, the fail-static fraction of it after.
    pub fn whole_ppm(&self, now: UnixMs) -> u32 {
        let Some(room) = &self.room else { return 0 };
        if now < self.lease_until() {
            room.share_ppm
        } else {
            let kept = u64::from(room.share_ppm) * u64::from(self.after_lease_per_mille) / 1_000;
            u32::try_from(kept).unwrap_or(u32::MAX)
        }
    }

    /// The room's identity and cursor as last heard (or as stored), to keep across restarts.
    pub fn known(&self) -> Option<(u64, crate::order::Cursor)> {
        self.known
    }

    /// Its sender id at the coordinator.
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn knows_room(&self) -> bool {
        self.room.is_some()
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    /// What it knows of the isolate `id`.
    pub fn sender(&self, id: &str) -> Option<&Seen> {
        self.senders.get(id)
    }

    /// The isolates it has heard from, and which changed since the storage last took them.
    pub fn senders_mut(&mut self) -> &mut Senders {
        &mut self.senders
    }

    /// An isolate's batch arrived at `now`: applies it once per batch number, forgets
    /// isolates long gone, and says what comes next (see [`OnSync`]).
    pub fn on_sync(&mut self, report: &SyncReport, now: UnixMs) -> OnSync {
        let (applied, owed_places) = self.receive(report, now);
        self.senders.forget(now);
        let room_first = self.needs_room_first(now);
        OnSync {
            applied,
            owed_places,
            upstream: self.upstream(now),
            room_first,
        }
    }

    /// Applies an isolate's batch at `now`, once per batch number: whether it was new, and the
    /// owed place counts it changed, each as it stands now.
    pub fn receive(&mut self, report: &SyncReport, now: UnixMs) -> (bool, Vec<(PlaceKey, i64)>) {
        let applied = self.senders.receive(report, now);
        let mut owed_places = Vec::new();
        if applied {
            self.outbox.owed.add_report(report);
            for &(second, slot, _) in &report.places {
                let key = PlaceKey { second, slot };
                let n = self.outbox.owed.places.get(&key).copied().unwrap_or(0);
                owed_places.push((key, n));
            }
        }
        (applied, owed_places)
    }

    /// The answer for the isolate `sender` at `now`: the room as last heard, its counts still
    /// on their way laid over the summary, the isolate's part of the location's share (granted
    /// from what the location's other isolates leave, see [`grant_share`]), and how old the
    /// view is. `None` until the coordinator has answered once.
    /// `notices_at` is the version of the room's notices the isolate holds; the answer brings
    /// its copy up to this aggregator's. `sent_at` is the batch's, echoed: the isolate's
    /// share holds from then until the location's lease ends, and never longer than a lease.
    pub fn answer(
        &mut self,
        sender: &str,
        notices_at: u64,
        sent_at: UnixMs,
        now: UnixMs,
    ) -> Option<RoomSnapshot> {
        let whole = self.whole_ppm(now);
        let lease_ms = if now < self.lease_until() {
            self.lease_until().since(now).min(LEASE_MS)
        } else {
            // The fail-static part is the coordinator's to count for as long as it lasts.
            LEASE_MS
        };
        let room = self.room.as_ref()?;
        let mut snapshot = room.clone();
        snapshot.notices = self.notices.since(notices_at);
        for (second, delta) in self.outbox.unacked_places() {
            snapshot.arrivals.add(second, delta);
        }
        snapshot.share_ppm = self.senders.grant(sender, whole, now);
        snapshot.lease_from = sent_at;
        snapshot.lease_ms = lease_ms;
        snapshot.granted_at = now;
        snapshot.acked = self.senders.acked(sender);
        // Time spent idle is not an outage: unless this aggregator's syncs are failing, the age
        // it passes on is at most one interval and one timeout, which no isolate takes for
        // one. (Isolates that sync while the first sync after an idle spell is out get this.)
        let idle = now.since(self.heard_at);
        let age = if self.outbox.failing(now, self.timeout_ms) {
            idle
        } else {
            idle.min(self.interval_ms.saturating_add(self.timeout_ms))
        };
        snapshot.age_ms = room.age_ms.saturating_add(age);
        Some(snapshot)
    }

    /// The location's batch for the coordinator, if a sync is due at `now` (see
    /// [`Outbox::begin`]).
    pub fn upstream(&mut self, now: UnixMs) -> Option<Upstream> {
        let fresh = self.outbox.pending().is_none();
        let senders = &self.senders;
        let figures = || (senders.waiting(now), senders.isolates(now));
        let mut batch =
            self.outbox
                .begin(&self.id, now, self.interval_ms, self.timeout_ms, figures)?;
        // What this location knows of the room, so a room that lost its records can tell.
        if let Some((epoch, cursor)) = self.known {
            batch.epoch = epoch;
            batch.known_cursor = Some(cursor);
        }
        batch.notices_at = self.notices.version();
        batch.sent_at = now;
        batch.front = self.senders.front(now);
        batch.earliest = self.senders.earliest(now);
        batch.after_lease_per_mille = self.after_lease_per_mille;
        // It runs the room's last share once its isolates' shares fit in it (a cut waits for
        // the isolates to give theirs back at their next syncs).
        if let Some(room) = &self.room {
            if self.senders.in_force_ppm(now) <= u64::from(room.share_ppm) {
                self.confirmed_at = room.granted_at;
            }
        }
        batch.share_at = self.confirmed_at;
        Some(Upstream { batch, fresh })
    }

    /// When a sync will be due with counts waiting to go up to the room, if any wait: a
    /// location whose citizens went quiet sends no more isolate syncs to carry them.
    pub fn sync_due_at(&self) -> Option<UnixMs> {
        self.outbox.next_due(self.interval_ms, self.timeout_ms)
    }

    /// Should the room be heard before answering an isolate at `now`? When the aggregator has
    /// never heard it, and when it has merely been idle (no isolate synced, so it did not sync
    /// either) for longer than an interval and a timeout: an answer that old would tell the
    /// isolate the coordinator is out of reach when it is not. Not while syncs are failing:
    /// then the age is the truth, and isolates go stale by it.
    pub fn needs_room_first(&self, now: UnixMs) -> bool {
        let idle_too_long =
            now.since(self.heard_at) > self.interval_ms.saturating_add(self.timeout_ms);
        self.room.is_none() || (idle_too_long && !self.outbox.failing(now, self.timeout_ms))
    }

    /// The coordinator's answer to batch `seq` at `now`, or `None` for a failure or timeout.
    pub fn finish_sync(&mut self, seq: u64, answer: Option<RoomSnapshot>, now: UnixMs) {
        self.outbox.finish(seq, answer.as_ref().map(|a| a.acked));
        let Some(snapshot) = answer else { return };
        if crate::sync::is_late(self.room.as_ref(), &snapshot, now) {
            return; // a late answer older than what this aggregator already knows
        }
        let snapshot = match &self.room {
            Some(kept) if crate::sync::share_is_late(Some(kept), &snapshot, now) => {
                snapshot.keeping_share_of(kept)
            }
            _ => snapshot,
        };
        self.known = Some((snapshot.epoch, snapshot.cursor));
        if let Some(delta) = &snapshot.notices {
            self.notices.apply(delta);
        }
        self.room = Some(snapshot);
        self.heard_at = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::RoomConfig;
    use crate::places::slot_of;
    use crate::room::Room;
    use crate::sync::{Earliest, PPM};

    const T0: UnixMs = UnixMs(1_700_000_000_000);
    const SETTLE: u64 = 9_000;

    fn aggregator() -> Aggregator {
        Aggregator::restore(
            "ICN",
            (1_000, 3_000, 100),
            Vec::new(),
            Outbox::default(),
            None,
        )
    }

    fn batch(isolate: &str, seq: u64, places: Vec<(u64, u64, i64)>, through: u64) -> SyncReport {
        SyncReport {
            isolate: isolate.into(),
            seq,
            places,
            let_through: if through > 0 {
                vec![(T0.secs(), through)]
            } else {
                Vec::new()
            },
            ..SyncReport::default()
        }
    }

    /// One aggregator sync with `room` at `now`.
    fn sync(agg: &mut Aggregator, room: &mut Room, now: UnixMs) {
        if let Some(Upstream { batch: report, .. }) = agg.upstream(now) {
            let answer = room.sync(&report, now).snapshot;
            agg.finish_sync(report.seq, Some(answer), now);
        }
    }

    #[test]
    fn counts_reach_the_room_once_however_often_isolates_resend() {
        let mut room = Room::fresh(T0, SETTLE);
        let mut agg = aggregator();
        let slot = slot_of(T0.plus_ms(300_000));
        let a1 = batch("a", 1, vec![(T0.secs(), slot, 3)], 0);
        assert!(agg.receive(&a1, T0).0);
        assert!(!agg.receive(&a1, T0.plus_ms(5)).0, "a resent batch");
        assert!(
            agg.receive(&batch("b", 1, vec![(T0.secs(), slot, 2)], 0), T0)
                .0
        );
        // The coordinator's answer is lost: the location's batch goes again, unchanged.
        let report = agg.upstream(T0).unwrap().batch;
        assert_eq!(report.isolate, "loc:ICN");
        assert_eq!(report.places, vec![(T0.secs(), slot, 5)]);
        room.sync(&report, T0);
        agg.finish_sync(report.seq, None, T0.plus_ms(100));
        agg.receive(
            &batch("a", 2, vec![(T0.secs(), slot, 1)], 0),
            T0.plus_ms(200),
        );
        sync(&mut agg, &mut room, T0.plus_ms(4_000));
        sync(&mut agg, &mut room, T0.plus_ms(5_000));
        assert_eq!(room.places.total(), 6);
        assert_eq!(room.totals.duplicate_syncs, 1);
        assert!(agg.outbox().is_empty());
    }

    #[test]
    fn a_batch_that_arrives_between_syncs_says_when_it_can_go() {
        let mut room = Room::fresh(T0, SETTLE);
        let mut agg = aggregator();
        assert_eq!(agg.sync_due_at(), None, "nothing owed");
        agg.receive(&batch("a", 1, vec![], 1), T0);
        sync(&mut agg, &mut room, T0);
        assert_eq!(agg.sync_due_at(), None, "all sent");
        // A let-through 999 ms after the last sync, and then no isolate syncs again: the
        // aggregator cannot send it yet, and names the moment it can (its alarm's time).
        agg.receive(&batch("a", 2, vec![], 1), T0.plus_ms(999));
        assert!(agg.upstream(T0.plus_ms(999)).is_none());
        let due = agg.sync_due_at().unwrap();
        assert_eq!(due, T0.plus_ms(1_000));
        sync(&mut agg, &mut room, due);
        assert_eq!(room.totals.let_through, 2);
        assert_eq!(agg.sync_due_at(), None);
    }

    #[test]
    fn a_location_passes_up_the_front_of_the_isolates_it_heard_lately() {
        let mut room = Room::fresh(T0, SETTLE);
        let mut agg = aggregator();
        let with_front = |isolate: &str, seq, front| SyncReport {
            front,
            ..batch(isolate, seq, vec![], 0)
        };
        agg.receive(&with_front("a", 1, 30), T0);
        agg.receive(&with_front("b", 1, 10), T0);
        let report = agg.upstream(T0).unwrap().batch;
        assert_eq!(report.front, 40);
        assert_eq!(
            crate::sync::demand_of(&report),
            40,
            "who comes up next is demand"
        );
        agg.finish_sync(report.seq, Some(room.sync(&report, T0).snapshot), T0);
        // `b` went quiet: its front is no longer the location's.
        let later = T0.plus_ms(crate::sync::ACTIVE_MS + 1);
        agg.receive(&with_front("a", 2, 5), later);
        assert_eq!(agg.upstream(later).unwrap().batch.front, 5);
    }

    #[test]
    fn a_location_passes_up_the_earliest_seconds_of_its_isolates_lines() {
        let mut agg = aggregator();
        let with_line = |isolate: &str, seq, seconds: &[u64]| SyncReport {
            earliest: Earliest::of(seconds.iter().copied()),
            ..batch(isolate, seq, vec![], 0)
        };
        agg.receive(&with_line("a", 1, &[12, 12, 13]), T0);
        agg.receive(&with_line("b", 1, &[11]), T0);
        agg.receive(&with_line("c", 1, &[]), T0);
        let location = agg.upstream(T0).unwrap().batch.earliest;
        // From second 11: b's one, a's two a second later halved, and a's one of 13 quartered.
        assert_eq!(location, Earliest::of([11, 12, 12, 13].into_iter()));
        // `b` went quiet: its line is no longer the location's.
        let later = T0.plus_ms(crate::sync::ACTIVE_MS + 1);
        agg.receive(&with_line("a", 2, &[12]), later);
        let location = agg.upstream(later).unwrap().batch.earliest;
        assert_eq!((location.second, location.citizens), (12, Earliest::ONE));
    }

    #[test]
    fn the_locations_share_is_split_by_demand_and_adds_up() {
        let mut room = Room::fresh(T0, SETTLE);
        let (mut icn, mut nrt) = (
            aggregator(),
            Aggregator::restore(
                "NRT",
                (1_000, 3_000, 100),
                Vec::new(),
                Outbox::default(),
                None,
            ),
        );
        icn.receive(&batch("a", 1, vec![], 30), T0);
        icn.receive(&batch("b", 1, vec![], 10), T0);
        nrt.receive(&batch("c", 1, vec![], 40), T0);
        sync(&mut icn, &mut room, T0);
        sync(&mut nrt, &mut room, T0);
        // Demand is what each batch shows: the next seconds look like the first. A share given
        // back counts as in force while the answer cutting it may be on its way, so in the
        // second where ICN gives back half of what it held, NRT, syncing at the same moment,
        // cannot take it yet; a second later it can. The shares never add up to more.
        for (second, seq) in [(1, 2), (2, 3)] {
            let now = T0.plus_ms(1_000 * second);
            icn.receive(&batch("a", seq, vec![], 30), now);
            icn.receive(&batch("b", seq, vec![], 10), now);
            nrt.receive(&batch("c", seq, vec![], 40), now);
            sync(&mut icn, &mut room, now);
            sync(&mut nrt, &mut room, now);
            let (a, b) = (
                icn.answer("a", 0, UnixMs(0), now).unwrap(),
                icn.answer("b", 0, UnixMs(0), now).unwrap(),
            );
            let c = nrt.answer("c", 0, UnixMs(0), now).unwrap();
            let sum = u64::from(a.share_ppm) + u64::from(b.share_ppm) + u64::from(c.share_ppm);
            assert!(sum <= u64::from(PPM), "{sum}");
            assert_eq!(a.acked, seq);
            if seq == 2 {
                assert!(
                    c.share_ppm <= 1,
                    "{}: taken while ICN may hold it",
                    c.share_ppm
                );
            } else {
                assert!(
                    a.share_ppm > b.share_ppm,
                    "{} vs {}",
                    a.share_ppm,
                    b.share_ppm
                );
                assert!(sum > u64::from(PPM) * 9 / 10, "{sum}");
            }
        }
    }

    #[test]
    fn answers_show_sibling_counts_early_and_their_age() {
        let mut room = Room::fresh(T0, SETTLE);
        room.config = RoomConfig {
            new_users_per_minute: 0,
            ..RoomConfig::default()
        };
        let mut agg = aggregator();
        assert_eq!(
            agg.answer("a", 0, UnixMs(0), T0),
            None,
            "nothing to say before the room answered"
        );
        sync(&mut agg, &mut room, T0);
        let slot = slot_of(T0.plus_ms(300_000));
        agg.receive(
            &batch("b", 1, vec![(T0.secs() + 1, slot, 4)], 0),
            T0.plus_ms(300),
        );
        let answer = agg.answer("a", 0, UnixMs(0), T0.plus_ms(700)).unwrap();
        assert_eq!(
            answer.arrivals.total(),
            4,
            "b's places, not yet at the room"
        );
        assert_eq!(answer.age_ms, 700);
        // Idle for a minute is not an outage; a failing sync is.
        let idle = T0.plus_ms(60_000);
        assert_eq!(agg.answer("a", 0, UnixMs(0), idle).unwrap().age_ms, 4_000);
        let batch = agg.upstream(idle).unwrap().batch;
        agg.finish_sync(batch.seq, None, idle.plus_ms(3_000));
        assert_eq!(
            agg.answer("a", 0, UnixMs(0), idle.plus_ms(3_000))
                .unwrap()
                .age_ms,
            63_000
        );
        assert_eq!(answer.cursor, room.release.cursor);
    }
}
