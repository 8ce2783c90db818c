//! The sync protocol between the three levels: what a sender sends up (a numbered batch of
//! counts, [`SyncReport`]), what comes back down (the room, [`RoomSnapshot`]), what a receiver
//! remembers of each sender ([`Seen`], kept in [`Senders`]), how the rate is shared among
//! senders ([`Senders::grant`]), and how far behind the clock the cursor must stay for every
//! count to have arrived ([`settle_ms`]).
//!
//! Both receivers use it alike: a location's aggregator receiving its isolates' batches
//! (`aggregate`), and the room coordinator receiving the aggregators' (`room`). Neither of those
//! modules imports the other; both import this one, and this one imports neither.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::config::RoomConfig;
pub use crate::limiter::PPM;
use crate::order::Cursor;
use crate::origin::OriginCounts;
use crate::summary::Summary;
use crate::time::UnixMs;

/// Longest a sync may take before it is given up and its batch sent again, in milliseconds,
/// unless the deployment sets another.
pub const DEFAULT_SYNC_TIMEOUT_MS: u64 = 3_000;
/// Clock difference allowed between an isolate and the coordinator, in milliseconds.
pub const CLOCK_MARGIN_MS: u64 = 1_000;
/// Hops a count makes from the isolate that takes it to the coordinator: to its location's
/// aggregator, and from there to the room.
pub const HOPS: u64 = 2;
/// Senders that synced within this long share the rate, in milliseconds.
pub const ACTIVE_MS: u64 = 10_000;
/// How long a sender's limiters may still run at a share after a smaller one was granted, in
/// milliseconds: the answer carrying the cut is on its way (5–80 ms a hop in the simulator).
/// A lost answer outlasts it; that costs one sync of excess at one answer in a hundred.
pub const ANSWER_GRACE_MS: u64 = 250;
/// Senders not heard from for this long are forgotten, in milliseconds. Long, because the
/// batch number is what stops a resent batch from counting twice: a sender cut off for less
/// than this may resend its last batch safely. Six hours of isolates is a few thousand rows.
pub const FORGET_MS: u64 = 6 * 3_600_000;
/// The prefix of an aggregator's sender id at the coordinator.
pub const LOCATION_PREFIX: &str = "loc:";

/// How far behind `now` the cursor stays so that no count still on its way is skipped: at each
/// hop one interval for the count to be cut into a batch and one timeout for the request
/// carrying it, and a margin for clocks. Derived, so a change to the interval or the timeout
/// can never leave it too short.
pub fn settle_ms(sync_interval_ms: u64, sync_timeout_ms: u64) -> u64 {
    sync_interval_ms
        .saturating_add(sync_timeout_ms)
        .saturating_mul(HOPS)
        .saturating_add(CLOCK_MARGIN_MS)
}

/// What a sender sends upstream: counts only, never tickets.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncReport {
    /// The sender's id: an isolate's random id, or an aggregator's `loc:` name.
    pub isolate: String,
    /// Batch number; the receiver applies each number once per sender.
    pub seq: u64,
    /// Place changes: `(second, slot, delta)`.
    pub places: Vec<(u64, u64, i64)>,
    /// Citizens let through, per second.
    pub let_through: Vec<(u64, u64)>,
    /// Sessions the origin ended, per second.
    pub ended: Vec<(u64, u64)>,
    /// Let-throughs the limiters had to refuse since the last batch: demand not yet served.
    pub refused: u64,
    /// Eligible citizens waiting their turn at the sender's limiters when the batch was cut:
    /// still coming, so the cursor must not take them for no-shows.
    #[serde(default)]
    pub waiting: u64,
    /// Isolates behind this sender that synced lately (an aggregator's); `0` means the sender
    /// is one isolate.
    #[serde(default)]
    pub isolates: u64,
    /// Requests forwarded to the origin since the last batch, and how they went.
    #[serde(default, skip_serializing_if = "OriginCounts::is_empty")]
    pub origin: OriginCounts,
    /// The identity of the room as the sender last heard it (`0`: never heard it).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub epoch: u64,
    /// The release cursor as the sender last heard it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_cursor: Option<Cursor>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl SyncReport {
    /// Citizens let through in this batch.
    pub fn let_through_total(&self) -> u64 {
        self.let_through
            .iter()
            .fold(0u64, |sum, &(_, n)| sum.saturating_add(n))
    }
}

/// The room as the coordinator sends it back on every sync (and an aggregator passes it on).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomSnapshot {
    pub config: RoomConfig,
    pub cursor: Cursor,
    /// Places held from the cursor's second on (exact near the front).
    pub arrivals: Summary,
    /// This sender's share of the room's rate, in millionths.
    pub share_ppm: u32,
    /// The last batch number applied for this sender.
    pub acked: u64,
    /// The coordinator's clock when it answered.
    pub at: UnixMs,
    /// The cursor never passes `at − settle_ms`: counts before it are complete.
    pub settle_ms: u64,
    /// How old the room's view already was when this answer left: `0` from the coordinator,
    /// the time since the coordinator last answered when an aggregator passes it on.
    #[serde(default)]
    pub age_ms: u64,
    /// Refs of tickets the operator revoked, compact and sorted (see `revocation`). Absent
    /// when there are none, so the common snapshot carries nothing more.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub revoked: Vec<String>,
    /// Every ticket issued before this is revoked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revoked_before: Option<UnixMs>,
    /// Citizens let through per minute, room-wide, as measured over the last minute whose
    /// counts are in (`Ledger::through_per_minute`): what the ETA's far end assumes, since
    /// no-shows and the limiters' slack keep it below the rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub through_per_minute: Option<u64>,
    /// Places taken per minute, room-wide, over the last minute whose counts are all in: how
    /// many may stand ahead of a ticket in the seconds not yet counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arrivals_per_minute: Option<u64>,
    /// The room's identity (see `Room::epoch`), which senders name in their batches.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub epoch: u64,
}

/// What a receiver knows of one sender.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// The last batch number applied.
    pub seq: u64,
    pub at: UnixMs,
    /// Let-throughs plus refusals in its last batch: how much of the rate it could use.
    pub demand: u64,
    /// Eligible citizens waiting at its limiters when it last reported.
    #[serde(default)]
    pub waiting: u64,
    /// Isolates behind it (an aggregator's count; `0` for a lone isolate).
    #[serde(default)]
    pub isolates: u64,
    /// The share of the rate last granted to it, in millionths: in force at its limiters until
    /// it syncs again.
    #[serde(default)]
    pub share_ppm: u32,
    /// The larger share it held before its last cut, and until when that one may still be in
    /// force at its limiters ([`ANSWER_GRACE_MS`] after the cut).
    #[serde(default)]
    pub cut_from_ppm: u32,
    #[serde(default)]
    pub cut_until: UnixMs,
}

impl Seen {
    /// What a receiver knows of a sender after applying its batch `report` at `now`, having
    /// known it as `before`: the shares it was granted are still what it holds.
    fn after(report: &SyncReport, now: UnixMs, before: Option<&Seen>) -> Seen {
        Seen {
            seq: report.seq,
            at: now,
            demand: report.refused.saturating_add(report.let_through_total()),
            waiting: report.waiting,
            isolates: report.isolates,
            share_ppm: before.map_or(0, |s| s.share_ppm),
            cut_from_ppm: before.map_or(0, |s| s.cut_from_ppm),
            cut_until: before.map_or(UnixMs(0), |s| s.cut_until),
        }
    }

    /// The largest share its limiters may be running at `now`: the last granted, or the one
    /// before a cut whose answer may still be on its way.
    pub fn in_force_ppm(&self, now: UnixMs) -> u32 {
        if now < self.cut_until {
            self.share_ppm.max(self.cut_from_ppm)
        } else {
            self.share_ppm
        }
    }

    /// Has it synced within [`ACTIVE_MS`] of `now`?
    pub fn active(&self, now: UnixMs) -> bool {
        now.since(self.at) < ACTIVE_MS
    }

    /// Its weight in sharing the rate: its demand, plus one so that a sender with none yet
    /// still gets a little.
    fn weight(&self) -> u64 {
        self.demand.saturating_add(1)
    }
}

/// Every sender a receiver has heard from, by id, with what changed since its storage last
/// took the changes ([`Senders::take_changes`]): the shells write exactly those rows.
#[derive(Clone, Debug, Default)]
pub struct Senders {
    seen: BTreeMap<String, Seen>,
    changed: BTreeSet<String>,
}

impl Senders {
    /// The senders as stored. Nothing is marked changed.
    pub fn restore(stored: impl IntoIterator<Item = (String, Seen)>) -> Senders {
        Senders {
            seen: stored.into_iter().collect(),
            changed: BTreeSet::new(),
        }
    }

    pub fn get(&self, id: &str) -> Option<&Seen> {
        self.seen.get(id)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &Seen)> {
        self.seen.iter().map(|(id, s)| (id.as_str(), s))
    }

    /// The last batch number applied for `id` (`0` for a sender never heard from).
    pub fn acked(&self, id: &str) -> u64 {
        self.seen.get(id).map_or(0, |s| s.seq)
    }

    /// Takes in the batch `report` at `now`: true if its number is new (higher than the last
    /// applied for its sender; numbers only grow, so an old copy is not), and the caller must
    /// then apply its counts, once. A copy only refreshes when the sender was last heard.
    pub fn receive(&mut self, report: &SyncReport, now: UnixMs) -> bool {
        let before = self.seen.get(&report.isolate);
        let new = before.is_none_or(|s| report.seq > s.seq);
        if new {
            let seen = Seen::after(report, now, before);
            self.seen.insert(report.isolate.clone(), seen);
        } else if let Some(seen) = self.seen.get_mut(&report.isolate) {
            seen.at = now;
        }
        self.changed.insert(report.isolate.clone());
        new
    }

    /// Forgets senders not heard from for [`FORGET_MS`]; how many.
    pub fn forget(&mut self, now: UnixMs) -> usize {
        let before = self.seen.len();
        let changed = &mut self.changed;
        self.seen.retain(|id, s| {
            let keep = now.since(s.at) < FORGET_MS;
            if !keep {
                changed.insert(id.clone());
            }
            keep
        });
        before - self.seen.len()
    }

    /// Senders heard from within [`ACTIVE_MS`] of `now`.
    pub fn active(&self, now: UnixMs) -> impl Iterator<Item = &Seen> {
        self.seen.values().filter(move |s| s.active(now))
    }

    /// Eligible citizens waiting at the active senders' limiters, as each last reported.
    pub fn waiting(&self, now: UnixMs) -> u64 {
        self.active(now)
            .fold(0u64, |sum, s| sum.saturating_add(s.waiting))
    }

    /// Isolates behind the active senders (a lone isolate counts as one); at least one.
    pub fn isolates(&self, now: UnixMs) -> u64 {
        self.active(now)
            .fold(0u64, |n, s| n.saturating_add(s.isolates.max(1)))
            .max(1)
    }

    /// The share, in millionths of `whole_ppm`, that `sender` would get among the senders at
    /// `now`: in proportion to what each active one could use. A sender with people to let
    /// through never rounds down to nothing: a share of zero would shut its limiter, and it
    /// could never show the demand that earns more.
    pub fn fair_share_ppm(&self, sender: &str, whole_ppm: u32, now: UnixMs) -> u32 {
        let total = self
            .active(now)
            .fold(0u64, |sum, s| sum.saturating_add(s.weight()));
        let seen = self.seen.get(sender);
        let mine = seen.map_or(1, Seen::weight);
        let total = total.max(mine);
        let share = u128::from(mine) * u128::from(whole_ppm) / u128::from(total);
        let share = u32::try_from(share).unwrap_or(whole_ppm);
        if seen.is_some_and(|s| s.demand > 0) && whole_ppm > 0 {
            share.max(1)
        } else {
            share
        }
    }

    /// Grants `sender` its share of `whole_ppm` at `now` and records it: its fair share
    /// ([`Senders::fair_share_ppm`]), but never more than the shares still in force at the
    /// other active senders leave. Shares are handed out one sender at a time, each when it
    /// syncs, so shares computed against different moments' demand would add up to more than
    /// the whole while demand moves (more than twice the rate in the simulated rush); a sender
    /// whose fair share grew waits for the others to give theirs back at their next sync,
    /// about one interval. A share given back counts as in force for [`ANSWER_GRACE_MS`] more,
    /// while the answer that cuts it is on its way: without that, answers arriving out of
    /// order let the limiters hold up to 1.12 of the rate for moments on the small simulated
    /// night. (A busy sender still gets at least one millionth.)
    pub fn grant(&mut self, sender: &str, whole_ppm: u32, now: UnixMs) -> u32 {
        let target = self.fair_share_ppm(sender, whole_ppm, now);
        let others = self
            .seen
            .iter()
            .filter(|(id, s)| id.as_str() != sender && s.active(now))
            .fold(0u64, |sum, (_, s)| {
                sum.saturating_add(u64::from(s.in_force_ppm(now)))
            });
        let headroom = u32::try_from(u64::from(whole_ppm).saturating_sub(others)).unwrap_or(0);
        let busy = self.seen.get(sender).is_some_and(|s| s.demand > 0);
        let mut share = target.min(headroom);
        if busy && whole_ppm > 0 {
            share = share.max(1);
        }
        if let Some(seen) = self.seen.get_mut(sender) {
            let held = seen.in_force_ppm(now);
            if share < held {
                seen.cut_from_ppm = held;
                seen.cut_until = now.plus_ms(ANSWER_GRACE_MS);
            }
            if seen.share_ppm != share || share < held {
                self.changed.insert(sender.to_owned());
            }
            seen.share_ppm = share;
        }
        share
    }

    /// Every sender changed since the last call, with what to store (`None`: forgotten, delete
    /// its row).
    pub fn take_changes(&mut self) -> Vec<(String, Option<Seen>)> {
        std::mem::take(&mut self.changed)
            .into_iter()
            .map(|id| {
                let seen = self.seen.get(&id).copied();
                (id, seen)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: UnixMs = UnixMs(1_700_000_000_000);

    fn batch(sender: &str, seq: u64, refused: u64) -> SyncReport {
        SyncReport {
            isolate: sender.into(),
            seq,
            refused,
            ..SyncReport::default()
        }
    }

    #[test]
    fn a_number_is_applied_once_and_old_copies_are_not() {
        let mut s = Senders::default();
        assert!(s.receive(&batch("a", 1, 0), T0));
        assert!(!s.receive(&batch("a", 1, 0), T0.plus_ms(5)));
        assert!(s.receive(&batch("a", 3, 0), T0.plus_ms(6)));
        assert!(!s.receive(&batch("a", 2, 0), T0.plus_ms(7)), "an old copy");
        assert_eq!(s.acked("a"), 3);
        assert_eq!(s.get("a").map(|x| x.at), Some(T0.plus_ms(7)));
    }

    #[test]
    fn storage_is_told_exactly_what_changed_and_what_was_forgotten() {
        let mut s = Senders::default();
        s.receive(&batch("a", 1, 0), T0);
        s.receive(&batch("b", 1, 0), T0.plus_ms(FORGET_MS / 2));
        let changes = s.take_changes();
        assert_eq!(changes.len(), 2);
        assert!(s.take_changes().is_empty(), "taken once");
        assert_eq!(s.forget(T0.plus_ms(FORGET_MS)), 1);
        assert_eq!(s.take_changes(), vec![("a".to_owned(), None)]);
        s.grant("b", PPM, T0.plus_ms(FORGET_MS));
        assert_eq!(s.take_changes().len(), 1, "a new share is stored");
    }

    #[test]
    fn shares_follow_demand_and_never_add_up_past_the_whole() {
        let mut s = Senders::default();
        s.receive(&batch("busy", 1, 9), T0);
        s.receive(&batch("idle", 1, 0), T0);
        let (a, b) = (s.grant("busy", PPM, T0), s.grant("idle", PPM, T0));
        assert!(
            a > b && u64::from(a) + u64::from(b) <= u64::from(PPM),
            "{a} + {b}"
        );
        assert_eq!(Senders::default().fair_share_ppm("alone", PPM, T0), PPM);
    }

    #[test]
    fn the_settle_time_covers_both_hops() {
        assert_eq!(settle_ms(1_000, 3_000), 9_000);
    }
}
