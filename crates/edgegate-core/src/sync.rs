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
/// Is `kept` (the answer a receiver holds) newer than `answer`, so that `answer` is a late one
/// to drop? Not if `kept` is dated further ahead of `now` than clocks may differ: an answer
/// from the future (a coordinator's clock set back after a jump, or a forged one) must not
/// hold off every honest answer until the receiver's clock reaches its date.
///
/// Of two answers with the same room (an aggregator passes one room on to many syncs), the one
/// granted earlier is the late one: a share granted before the one held, and overtaken by it,
/// is never run again, since the granter may count it given up.
pub fn is_late(kept: Option<&RoomSnapshot>, answer: &RoomSnapshot, now: UnixMs) -> bool {
    kept.is_some_and(|r| {
        (r.at, r.granted_at) > (answer.at, answer.granted_at)
            && r.at <= now.plus_ms(CLOCK_MARGIN_MS)
    })
}

/// Is the share `answer` grants older than the one `kept` granted, while that one is leased
/// (by the receiver's own clock)? Then the receiver takes the answer's room but keeps its
/// share, however far apart the clocks are: an older grant run after a newer one could be a
/// share the granter counts as given up. (An answer from the future holds the share it
/// granted for one lease at most, and the room's config and cursor not at all.)
pub fn share_is_late(kept: Option<&RoomSnapshot>, answer: &RoomSnapshot, now: UnixMs) -> bool {
    kept.is_some_and(|r| {
        (r.at, r.granted_at) > (answer.at, answer.granted_at) && now < r.lease_until()
    })
}

/// Hops a count makes from the isolate that takes it to the coordinator: to its location's
/// aggregator, and from there to the room.
pub const HOPS: u64 = 2;
/// Senders that synced within this long share the rate, in milliseconds.
pub const ACTIVE_MS: u64 = 10_000;
/// How long a granted share holds, in milliseconds: at the sender from the moment it sent the
/// batch the share answers (its own clock), at the receiver from the moment it granted it
/// (which is later). So the sender stops running a share before the receiver stops counting
/// it, whatever their clocks say, and a share the receiver no longer counts is run nowhere.
/// As long as [`ACTIVE_MS`]: a sender the receiver no longer counts as active holds nothing.
pub const LEASE_MS: u64 = ACTIVE_MS;
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
    /// Citizens not yet eligible whose places are among the first [`FRONT_S`] seconds of the
    /// rate in line from the cursor, and who asked the sender lately, when the batch was cut:
    /// eligible next, so a share should already follow them.
    #[serde(default)]
    pub front: u64,
    /// The earliest seconds of the sender's lines ([`Earliest`]): the rate goes first where the
    /// earliest seconds wait ([`Senders::fair_share_ppm`]).
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub earliest: Earliest,
    /// Sent early to say that a cut was heard (`outbox::Outbox::hurry`), a fraction of an
    /// interval after the last batch: its counts are applied, its demand is not taken (a batch
    /// a moment after the last shows a moment's let-throughs).
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub early: bool,
    /// Isolates behind this sender that synced lately (an aggregator's); `0` means the sender
    /// is one isolate.
    #[serde(default)]
    pub isolates: u64,
    /// Requests forwarded to the origin since the last batch, and how they went.
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub origin: OriginCounts,
    /// The identity of the room as the sender last heard it (`0`: never heard it).
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub epoch: u64,
    /// The release cursor as the sender last heard it.
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub known_cursor: Option<Cursor>,
    /// Tickets (short ids) whose sessions the origin ended since the last batch.
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub ended_ids: Vec<u64>,
    /// Tickets (short ids) whose pass moved to another network: `(id, network tag)`.
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub moves: Vec<(u64, u64)>,
    /// Place changes per client network: `(network tag, give-up slot, delta)`.
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub net_places: Vec<(u64, u64, i64)>,
    /// The version of the room's notices the sender holds ([`Notices`]).
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub notices_at: u64,
    /// New places refused until their holder shows work, and places taken with work shown.
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub work_asked: u64,
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub work_shown: u64,
    /// When this copy of the batch was sent, by the sender's clock: the answer echoes it
    /// (`RoomSnapshot::lease_from`), and the share it grants holds from then.
    #[serde(default)]
    pub sent_at: UnixMs,
    /// The grant time (`RoomSnapshot::granted_at`) of the answer whose share the sender's
    /// limiters run at: every share granted before it is given up. For an aggregator, only
    /// once its isolates' shares fit in it. `0`: none yet.
    #[serde(default)]
    pub share_at: UnixMs,
    /// What the sender keeps running of its share, per mille, after the share's lease ran out
    /// with no new one: `0` for an isolate, the fail-static fraction for an aggregator, whose
    /// isolates run fail-static on it while the room is out of reach.
    #[serde(default)]
    pub after_lease_per_mille: u32,
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
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub revoked: Vec<String>,
    /// Every ticket issued before this is revoked.
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub revoked_before: Option<UnixMs>,
    /// Citizens let through per minute, room-wide, as measured over the last minute whose
    /// counts are in (`Ledger::through_per_minute`): what the ETA's far end assumes, since
    /// no-shows and the limiters' slack keep it below the rate.
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub through_per_minute: Option<u64>,
    /// Places taken per minute, room-wide, over the last minute whose counts are all in: how
    /// many may stand ahead of a ticket in the seconds not yet counted.
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub arrivals_per_minute: Option<u64>,
    /// The room's identity (see `Room::epoch`), which senders name in their batches.
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub epoch: u64,
    /// What changed in the room's notices since the version the sender said it holds.
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub notices: Option<NoticesDelta>,
    /// The pre-queue draw: its commitment, and its seed from just before the opening.
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub draw: Option<crate::draw::DrawView>,
    /// The batch's `sent_at`, echoed: `share_ppm` holds from then (the sender's clock) for
    /// `lease_ms`, and no longer.
    #[serde(default)]
    pub lease_from: UnixMs,
    /// When `share_ppm` was granted, by the granter's clock (the coordinator's, or for an
    /// isolate its aggregator's): what a batch names to say it runs this share.
    #[serde(default)]
    pub granted_at: UnixMs,
    #[serde(default)]
    pub lease_ms: u64,
    /// Citizens beyond the cursor the origin's slots can still serve (the room's
    /// `slots_left`), when the room knows its slots: everyone further back is told the slots
    /// are taken.
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub slots_left: Option<u64>,
}

impl RoomSnapshot {
    /// Until when, by the sender's clock, it may run at `share_ppm`.
    pub fn lease_until(&self) -> UnixMs {
        self.lease_from.plus_ms(self.lease_ms.min(LEASE_MS))
    }

    /// This answer with the share `kept` granted in place of its own (see [`share_is_late`]).
    pub fn keeping_share_of(mut self, kept: &RoomSnapshot) -> RoomSnapshot {
        self.share_ppm = kept.share_ppm;
        self.granted_at = kept.granted_at;
        self.lease_from = kept.lease_from;
        self.lease_ms = kept.lease_ms;
        self
    }
}

/// What a receiver knows of one sender.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seen {
    /// The last batch number applied.
    pub seq: u64,
    pub at: UnixMs,
    /// Let-throughs plus refusals per batch, averaged over its recent batches
    /// ([`smoothed_demand`]): how much of the rate it could use.
    pub demand: u64,
    /// Eligible citizens waiting at its limiters when it last reported.
    #[serde(default)]
    pub waiting: u64,
    /// Citizens at its front of the line when it last reported ([`SyncReport::front`]).
    #[serde(default)]
    pub front: u64,
    /// Isolates behind it (an aggregator's count; `0` for a lone isolate).
    #[serde(default)]
    pub isolates: u64,
    /// The share of the rate last granted to it, in millionths, at `at`: in force at its
    /// limiters for at most [`LEASE_MS`] from then.
    #[serde(default)]
    pub share_ppm: u32,
    /// The largest share granted before the last one that it may still be running: granted
    /// but not yet given up (a cut whose answer is on its way or was lost). Cleared when a
    /// batch says it runs the last one (`SyncReport::share_at`); dead by `cut_until` anyway.
    #[serde(default)]
    pub cut_from_ppm: u32,
    #[serde(default)]
    pub cut_until: UnixMs,
    /// What it keeps running of its share once the lease ran out, per mille
    /// (`SyncReport::after_lease_per_mille`).
    #[serde(default)]
    pub after_lease_per_mille: u32,
    /// The earliest seconds of its lines as its last batch gave them (`SyncReport::earliest`).
    /// Not stored: a restored sender weighs by its demand alone until its next batch.
    #[serde(skip)]
    pub earliest: Earliest,
}

/// How many arrival seconds from the earliest in a sender's lines [`Earliest`] counts.
pub const EARLIEST_SECONDS: u64 = 4;

/// What a citizen waiting in the earliest second any sender reports weighs in the shares,
/// beyond the one it counts in demand; one a second later weighs half that, and so on
/// ([`Senders::fair_share_ppm`]).
pub const EARLIEST_WEIGHT: u64 = 1;

/// The earliest seconds of a sender's lines: the earliest arrival second of an eligible
/// citizen waiting at its limiters, and the citizens waiting in it and the
/// [`EARLIEST_SECONDS`] − 1 seconds after, each halved for every second after it, in 2⁻¹⁶
/// of a citizen. Two numbers, so that an aggregator adds up its isolates' and a batch
/// carries them in a few bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Earliest {
    /// The earliest arrival second waiting (meaningless while `citizens` is 0).
    pub second: u64,
    /// The citizens waiting from it on, weighed as above, in 2⁻¹⁶ of a citizen.
    pub citizens: u64,
}

impl crate::wire::Omittable for Earliest {
    fn is_empty_value(&self) -> bool {
        self.citizens == 0
    }
}

impl Earliest {
    /// One citizen in [`Earliest::citizens`].
    pub const ONE: u64 = 1 << 16;

    /// Of the arrival seconds of the citizens waiting in a line, in key order.
    pub fn of(seconds: impl Iterator<Item = u64>) -> Earliest {
        let mut earliest = Earliest::default();
        for second in seconds {
            if earliest.citizens == 0 {
                earliest.second = second;
            }
            let later = second.saturating_sub(earliest.second);
            if later >= EARLIEST_SECONDS {
                break;
            }
            earliest.citizens = earliest.citizens.saturating_add(Earliest::ONE >> later);
        }
        earliest
    }

    /// Both together, counted from the earlier of their seconds.
    pub fn plus(self, other: Earliest) -> Earliest {
        let (first, then) = match (self.citizens, other.citizens) {
            (0, _) => return other,
            (_, 0) => return self,
            _ if self.second <= other.second => (self, other),
            _ => (other, self),
        };
        Earliest {
            second: first.second,
            citizens: first
                .citizens
                .saturating_add(then.citizens_from(first.second)),
        }
    }

    /// Its citizens counted from `second`, at or before its own: halved for every second
    /// between.
    fn citizens_from(self, second: u64) -> u64 {
        let later = self.second.saturating_sub(second);
        if later >= 64 {
            0
        } else {
            self.citizens >> later
        }
    }

    /// What it adds to a sender's weight when the earliest second any sender's lines hold is
    /// `first`: each citizen [`EARLIEST_WEIGHT`], halved for every second after `first`.
    fn weight(self, first: u64) -> u64 {
        self.citizens_from(first).saturating_mul(EARLIEST_WEIGHT) / Earliest::ONE
    }
}

/// How far ahead of the cursor a sender's front reaches ([`SyncReport::front`]), in seconds of
/// the room's rate.
/// Shares follow demand a sync or two late, so demand counted only at the limiters (the
/// citizens already eligible) left the rate at the locations that had just let their line
/// through, while the next seconds' citizens stood elsewhere: on the simulated nights every
/// wave began at equal shares, whatever the locations held. Counting who comes up next puts
/// the shares there first. Over eight seeds of the small night (counting places held, a first
/// version), 5 s of the rate took the rate used while a queue waited from 81.4 % to 85.2 %,
/// 10 s to 87.0 %, 20 s to 86.9 %.
pub const FRONT_S: u64 = 10;

/// Of a sender's demand, the part its newest batch makes up ([`smoothed_demand`]), as
/// `(numerator, denominator)`.
pub const DEMAND_NEWEST: (u64, u64) = (1, 4);

/// What one batch shows its sender could use: the citizens it let through, the eligible
/// citizens waiting their turn at its limiters when the batch was cut (at least one if it
/// refused anyone), and those at its front, who come up next. Citizens, not refusals: a
/// citizen at the front comes back when its token is due, several times a second when the
/// share is small, and counting each refusal gave
/// a location whose citizens asked more often a share it could not use (on the simulated
/// harsh night one location's demand read 3,809 against 46 to 358 for the seven others).
pub fn demand_of(report: &SyncReport) -> u64 {
    let waiting = report.waiting.max(u64::from(report.refused > 0));
    waiting
        .saturating_add(report.front)
        .saturating_add(report.let_through_total())
}

/// A sender's demand after its batch `report` ([`demand_of`]), averaged with what the sender
/// showed before (the newest batch a quarter of it) while it is active; an early batch
/// (`SyncReport::early`) leaves it as it was.
/// One batch's demand is noisy (whoever happened to poll in that second), and every swing of
/// the shares costs the rate: a cut share is free for the others only once its holder says it
/// heard the cut, a sync or two later. On the simulated Korea night the average let through
/// 85 % of the rate while a queue waited, against 76 % when each batch set the shares anew.
fn smoothed_demand(report: &SyncReport, now: UnixMs, before: Option<&Seen>) -> u64 {
    let newest = demand_of(report);
    let (part, whole) = DEMAND_NEWEST;
    match before {
        // An early batch says a cut was heard a moment after the last: a moment's counts.
        Some(b) if b.active(now) && report.early => b.demand,
        Some(b) if b.active(now) => {
            let average = b
                .demand
                .saturating_mul(whole - part)
                .saturating_add(newest.saturating_mul(part))
                / whole;
            // A sender with people to let through now is busy, however small its average.
            if newest > 0 {
                average.max(1)
            } else {
                average
            }
        }
        _ => newest,
    }
}

impl Seen {
    /// What a receiver knows of a sender after applying its batch `report` at `now`, having
    /// known it as `before`: the shares it was granted are still what it holds, less the ones
    /// the batch says it gave up.
    fn after(report: &SyncReport, now: UnixMs, before: Option<&Seen>) -> Seen {
        let mut seen = Seen {
            seq: report.seq,
            at: now,
            demand: smoothed_demand(report, now, before),
            waiting: report.waiting,
            front: report.front,
            isolates: report.isolates,
            share_ppm: before.map_or(0, |s| s.share_ppm),
            cut_from_ppm: before.map_or(0, |s| s.cut_from_ppm),
            cut_until: before.map_or(UnixMs(0), |s| s.cut_until),
            after_lease_per_mille: report.after_lease_per_mille.min(1_000),
            earliest: report.earliest,
        };
        // A batch cut under the grant that cut the share, or a later one, runs nothing larger
        // than the last: after a cut, grants only grow until the next cut (a smaller one is a
        // cut), so the last is the largest of them.
        if seen.cut_until.0 > 0 && report.share_at >= seen.cut_until.minus_ms(LEASE_MS) {
            seen.cut_from_ppm = 0;
            seen.cut_until = UnixMs(0);
        }
        seen
    }

    /// The largest share its limiters may be running at `now`: the last one granted, or an
    /// earlier, larger one not yet given up, while its lease lasts; and what the sender keeps
    /// after a lease ran out (nothing, for an isolate) of any grant it may have run and not
    /// given up, since a lost answer can leave it on an old grant long after this receiver
    /// last heard from it.
    pub fn in_force_ppm(&self, now: UnixMs) -> u32 {
        let held = if now < self.cut_until {
            self.share_ppm.max(self.cut_from_ppm)
        } else {
            self.share_ppm
        };
        let kept = u64::from(self.share_ppm.max(self.cut_from_ppm))
            * u64::from(self.after_lease_per_mille.min(1_000))
            / 1_000;
        let kept = u32::try_from(kept).unwrap_or(u32::MAX);
        if now.since(self.at) < LEASE_MS && now >= self.at {
            held.max(kept)
        } else {
            kept
        }
    }

    /// Has it synced within [`ACTIVE_MS`] of `now`?
    pub fn active(&self, now: UnixMs) -> bool {
        now.since(self.at) < ACTIVE_MS
    }

    /// Its weight in sharing the rate: its demand, plus one so that a sender with none yet
    /// still gets a little, plus its earliest seconds' citizens by how early they are when
    /// `first` is the earliest second any active sender's lines hold ([`Earliest::weight`]).
    fn weight(&self, first: Option<u64>) -> u64 {
        let base = self.demand.saturating_add(1);
        first.map_or(base, |first| {
            base.saturating_add(self.earliest.weight(first))
        })
    }

    /// The earliest second its lines hold, if any.
    fn earliest_second(&self) -> Option<u64> {
        (self.earliest.citizens > 0).then_some(self.earliest.second)
    }
}

/// Every sender a receiver has heard from, by id, with what changed since its storage last
/// took the changes ([`Senders::take_changes`]): the shells write exactly those rows.
#[derive(Clone, Debug, Default)]
pub struct Senders {
    seen: BTreeMap<String, Seen>,
    changed: BTreeSet<String>,
    /// When this receiver last came back from a silence (no sender heard for [`ACTIVE_MS`]: it,
    /// or the way to it, was out), and when it had last heard anyone before it. For
    /// [`ACTIVE_MS`] after, the senders active before the silence are expected back and
    /// weigh as they did ([`Senders::expected`]).
    back: Option<(UnixMs, UnixMs)>,
    /// The latest time it heard any sender.
    latest: UnixMs,
}

impl Senders {
    /// The senders as stored. Nothing is marked changed.
    pub fn restore(stored: impl IntoIterator<Item = (String, Seen)>) -> Senders {
        let seen: BTreeMap<String, Seen> = stored.into_iter().collect();
        let latest = seen.values().map(|s| s.at).max().unwrap_or_default();
        Senders {
            seen,
            changed: BTreeSet::new(),
            back: None,
            latest,
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
        if self.latest.0 > 0 && now.since(self.latest) >= ACTIVE_MS {
            self.back = Some((now, self.latest));
        }
        self.latest = self.latest.max(now);
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

    /// Citizens at the front of the line at the active senders ([`SyncReport::front`]).
    pub fn front(&self, now: UnixMs) -> u64 {
        self.active(now)
            .fold(0u64, |sum, s| sum.saturating_add(s.front))
    }

    /// The earliest seconds of the active senders' lines together (an aggregator's
    /// `SyncReport::earliest`).
    pub fn earliest(&self, now: UnixMs) -> Earliest {
        self.active(now)
            .fold(Earliest::default(), |sum, s| sum.plus(s.earliest))
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
        let earliest = self.active(now).filter_map(Seen::earliest_second).min();
        let total = self
            .seen
            .values()
            .filter(|s| s.active(now) || self.expected(s, now))
            .fold(0u64, |sum, s| sum.saturating_add(s.weight(earliest)));
        let seen = self.seen.get(sender);
        let mine = seen.map_or(1, |s| s.weight(earliest));
        let total = total.max(mine);
        let share = u128::from(mine) * u128::from(whole_ppm) / u128::from(total);
        let share = u32::try_from(share).unwrap_or(whole_ppm);
        if seen.is_some_and(|s| s.demand > 0) && whole_ppm > 0 {
            share.max(1)
        } else {
            share
        }
    }

    /// Is `seen`, not active, still expected back at `now`: active when this receiver fell
    /// silent, which it came back from less than [`ACTIVE_MS`] ago? Without it, the first
    /// sender back after an outage had the whole rate to itself (no other was active), and a
    /// cut holds until its holder says it heard it: on the simulated harsh night, one location
    /// granted 91 % at the coordinator's recovery held it for ten seconds while its answers
    /// were lost, and the room let nobody else through.
    fn expected(&self, seen: &Seen, now: UnixMs) -> bool {
        self.back.is_some_and(|(back, last)| {
            now.since(back) < ACTIVE_MS && now >= back && last.since(seen.at) < ACTIVE_MS
        })
    }

    /// Grants `sender` its share of `whole_ppm` at `now` and records it: its fair share
    /// ([`Senders::fair_share_ppm`]), but never more than the shares still in force at the
    /// other senders leave ([`Seen::in_force_ppm`]). Shares are handed out one sender at a
    /// time, each when it syncs, so shares computed against different moments' demand would
    /// add up to more than the whole while demand moves (more than twice the rate in the
    /// simulated rush); a sender whose fair share grew waits for the others to give theirs
    /// back. A share cut stays in force until the sender says it runs the new one, or its
    /// lease runs out: an answer on its way, lost or overtaken changes nothing. So at every
    /// moment the shares in force add up to at most the whole (a busy sender still gets at
    /// least one millionth).
    pub fn grant(&mut self, sender: &str, whole_ppm: u32, now: UnixMs) -> u32 {
        let target = self.fair_share_ppm(sender, whole_ppm, now);
        let others = self
            .seen
            .iter()
            .filter(|(id, _)| id.as_str() != sender)
            .fold(0u64, |sum, (_, s)| {
                sum.saturating_add(u64::from(s.in_force_ppm(now)))
            });
        let headroom = u32::try_from(u64::from(whole_ppm).saturating_sub(others)).unwrap_or(0);
        let busy = self.seen.get(sender).is_some_and(|s| s.demand > 0);
        let mut share = target.min(headroom);
        if busy && whole_ppm > 0 {
            share = share.max(1);
        }
        if let Some(seen) = self.seen.get(sender) {
            // While a cut is held unheard, no deeper one: the last grant stands (it is in force
            // anyway, counted with the larger share held). A new cut at every sync put the
            // cut's end off each time, and an aggregator whose isolates still ran the cut before
            // never caught up with the room's share to say so: on a simulated night a location
            // cut second after second went on being counted at its share of a minute earlier,
            // a fifth of the rate run nowhere.
            // Never past the headroom, though: an aggregator's whole is the room's share to
            // it, and when that falls its isolates are cut as deep as it takes.
            if now < seen.cut_until && seen.cut_from_ppm > 0 {
                share = share.max(seen.share_ppm.min(headroom));
            }
        }
        if let Some(seen) = self.seen.get_mut(sender) {
            // Less than the last grant is a cut: what may still run is held until the sender
            // says it runs this one. (Less than a cut still held, but not than the last grant,
            // is no new cut: the one held stands.)
            // A cut before the last was heard keeps what that one held too: the sender may
            // still be on a grant from before both (an answer lost), and keep part of it.
            let held = seen.in_force_ppm(now);
            if share < seen.share_ppm && share < held {
                seen.cut_from_ppm = held.max(seen.cut_from_ppm);
                seen.cut_until = now.plus_ms(LEASE_MS);
            }
            if seen.share_ppm != share {
                self.changed.insert(sender.to_owned());
            }
            seen.share_ppm = share;
        }
        share
    }

    /// The shares in force at every sender at `now`, added up ([`Seen::in_force_ppm`]).
    pub fn in_force_ppm(&self, now: UnixMs) -> u64 {
        self.seen.values().fold(0u64, |sum, s| {
            sum.saturating_add(u64::from(s.in_force_ppm(now)))
        })
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

    /// A batch from `sender` with `waiting` eligible citizens in its limiters' lines, each
    /// refused once.
    fn batch(sender: &str, seq: u64, waiting: u64) -> SyncReport {
        SyncReport {
            isolate: sender.into(),
            seq,
            refused: waiting,
            waiting,
            ..SyncReport::default()
        }
    }

    #[test]
    fn demand_counts_citizens_not_refusals() {
        let mut report = batch("a", 1, 3);
        report.refused = 40;
        report.let_through = vec![(7, 2), (8, 1)];
        assert_eq!(demand_of(&report), 6);
        // Refused and gone from the line already: still busy.
        report.waiting = 0;
        assert_eq!(demand_of(&report), 4);
        report.refused = 0;
        assert_eq!(demand_of(&report), 3);
    }

    #[test]
    fn after_a_silence_the_first_sender_back_shares_with_those_expected() {
        let mut s = Senders::default();
        for id in ["a", "b", "c", "d"] {
            s.receive(&batch(id, 1, 10), T0);
            s.grant(id, PPM, T0);
        }
        // The receiver hears nobody for a minute, then "a" first: the others were active
        // when it fell silent, and are expected back, so "a" gets its part, not the whole.
        let back = T0.plus_ms(60_000);
        s.receive(&batch("a", 2, 10), back);
        assert_eq!(s.grant("a", PPM, back), PPM / 4);
        // Those that do not come back within ACTIVE_MS no longer count.
        let later = back.plus_ms(ACTIVE_MS);
        s.receive(&batch("a", 3, 10), later);
        assert_eq!(s.grant("a", PPM, later), PPM);
    }

    /// Two senders granted half each; a second later demand moves to "b", and "a" is cut
    /// (held until "a" says it runs the cut). The senders, then, and the cut.
    fn a_cut_for_b() -> (Senders, UnixMs, u32) {
        let mut s = Senders::default();
        s.receive(&batch("a", 1, 10), T0);
        s.receive(&batch("b", 1, 10), T0);
        assert_eq!(s.grant("a", PPM, T0), PPM / 2);
        let t1 = T0.plus_ms(1_000);
        s.receive(&batch("b", 2, 1_000), t1);
        let cut = s.grant("a", PPM, t1);
        assert!(cut < PPM / 2, "{cut}");
        (s, t1, cut)
    }

    #[test]
    fn a_cut_not_yet_heard_is_not_cut_deeper() {
        let (mut s, t1, cut) = a_cut_for_b();
        // Unheard, a further fall of "a"'s part changes nothing; heard, it is cut again.
        let t2 = t1.plus_ms(1_000);
        s.receive(&batch("b", 3, 5_000), t2);
        assert_eq!(s.grant("a", PPM, t2), cut);
        let t3 = t2.plus_ms(1_000);
        let mut heard = batch("a", 2, 10);
        heard.share_at = t1;
        s.receive(&heard, t3);
        assert!(s.grant("a", PPM, t3) < cut);
        assert!(s.in_force_ppm(t3) <= u64::from(PPM));
    }

    #[test]
    fn the_earliest_seconds_count_each_citizen_halved_for_every_second_after_the_first() {
        let one = Earliest::ONE;
        let e = Earliest::of([7, 7, 8, 9, 10, 11, 11].into_iter());
        // Seconds 7 to 10 count (four from the earliest); 11 is past them.
        assert_eq!(e.second, 7);
        assert_eq!(e.citizens, 2 * one + one / 2 + one / 4 + one / 8);
        assert_eq!(Earliest::of(std::iter::empty()).citizens, 0);
        // Together, counted from the earlier second, in either order.
        let later = Earliest::of([9, 9].into_iter());
        let both = e.plus(later);
        assert_eq!(both, later.plus(e));
        assert_eq!((both.second, both.citizens), (7, e.citizens + one / 2));
        assert_eq!(e.plus(Earliest::default()), e);
        assert_eq!(Earliest::default().plus(e), e);
        // Far apart, the later adds nothing, and nothing overflows.
        let far = Earliest {
            second: u64::MAX,
            citizens: u64::MAX,
        };
        assert_eq!(e.plus(far).citizens, e.citizens);
        assert_eq!(far.weight(0), 0);
        // What it weighs: a citizen each in the earliest second any sender holds, half a
        // second later.
        assert_eq!(
            Earliest::of([5, 5].into_iter()).weight(5),
            2 * EARLIEST_WEIGHT
        );
        assert_eq!(Earliest::of([6, 6].into_iter()).weight(5), EARLIEST_WEIGHT);
    }

    #[test]
    fn the_rate_goes_first_where_the_earliest_seconds_wait() {
        // Two senders with as many citizens waiting, one of them from an earlier second.
        let mut s = Senders::default();
        let mut early = batch("early", 1, 20);
        early.earliest = Earliest::of(std::iter::repeat_n(100, 20));
        let mut late = batch("late", 1, 20);
        late.earliest = Earliest::of(std::iter::repeat_n(103, 20));
        s.receive(&early, T0);
        s.receive(&late, T0);
        let (e, l) = (
            s.fair_share_ppm("early", PPM, T0),
            s.fair_share_ppm("late", PPM, T0),
        );
        assert!(e > l, "{e} against {l}");
        // Weights 21 + 20 and 21 + ⌊20/8⌋ of 64: each sender's demand still counts in full.
        assert_eq!((e, l), (640_625, 359_375));
        // Without earliest seconds reported, demand alone shares the rate.
        let mut s = Senders::default();
        s.receive(&batch("early", 1, 20), T0);
        s.receive(&batch("late", 1, 20), T0);
        assert_eq!(s.fair_share_ppm("early", PPM, T0), PPM / 2);
    }

    #[test]
    fn an_early_batch_frees_the_cut_it_names_and_leaves_the_demand_as_it_was() {
        let (mut s, t1, cut) = a_cut_for_b();
        assert!(s.in_force_ppm(t1) > u64::from(cut + s.get("b").map_or(0, |b| b.share_ppm)));
        let demand = s.get("a").map(|a| a.demand);
        // 150 ms after the cut's answer, "a" says it runs it: the cut is free for "b" now,
        // and a moment's counts do not move "a"'s demand.
        let t2 = t1.plus_ms(160);
        let mut early = batch("a", 2, 0);
        early.share_at = t1;
        early.early = true;
        s.receive(&early, t2);
        assert_eq!(s.get("a").map(|a| a.demand), demand);
        assert_eq!(s.get("a").map(|a| a.in_force_ppm(t2)), Some(cut));
        assert!(s.grant("b", PPM, t2) > PPM / 2);
        assert!(s.in_force_ppm(t2) <= u64::from(PPM));
        // The same batch, not early: its demand is taken.
        let mut s2 = Senders::default();
        s2.receive(&batch("a", 1, 10), T0);
        let mut regular = batch("a", 2, 0);
        regular.share_at = t1;
        s2.receive(&regular, t2);
        assert!(s2.get("a").map(|a| a.demand) < Some(10));
    }

    #[test]
    fn a_held_cut_is_cut_deeper_when_the_whole_falls_under_it() {
        // An aggregator's whole is the room's share to it, and may fall at any sync.
        let mut s = Senders::default();
        s.receive(&batch("a", 1, 10), T0);
        s.receive(&batch("b", 1, 10), T0);
        s.grant("a", PPM, T0);
        s.grant("b", PPM, T0);
        let t1 = T0.plus_ms(1_000);
        s.receive(&batch("b", 2, 1_000), t1);
        let cut = s.grant("a", PPM, t1);
        assert!(cut > 1 && cut < PPM / 2, "{cut}");
        // The room cuts this location to a third: "b" still holds half, so "a" gets what is
        // left of the headroom (nothing, save the millionth a busy sender keeps), not its cut.
        let t2 = t1.plus_ms(500);
        s.receive(&batch("a", 2, 10), t2);
        assert_eq!(s.grant("a", PPM / 3, t2), 1);
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
    fn demand_is_averaged_over_batches_and_dies_away_when_none_comes() {
        let mut s = Senders::default();
        s.receive(&batch("a", 1, 400), T0);
        assert_eq!(
            s.get("a").map(|x| x.demand),
            Some(400),
            "a first batch counts whole"
        );
        // A quiet batch takes a quarter off; a busy one never reads as idle.
        s.receive(&batch("a", 2, 0), T0.plus_ms(1_000));
        assert_eq!(s.get("a").map(|x| x.demand), Some(300));
        s.receive(&batch("a", 3, 1), T0.plus_ms(2_000));
        assert_eq!(s.get("a").map(|x| x.demand), Some(225));
        for seq in 4..40 {
            s.receive(&batch("a", seq, 0), T0.plus_ms(seq * 1_000));
        }
        assert_eq!(
            s.get("a").map(|x| x.demand),
            Some(0),
            "it dies away to nothing"
        );
        // A sender heard again after a silence starts anew.
        s.receive(&batch("a", 40, 8), T0.plus_ms(40_000 + ACTIVE_MS));
        assert_eq!(s.get("a").map(|x| x.demand), Some(8));
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

/// What a notice says.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoticeKind {
    /// The origin ended this ticket's session (key: the ticket's short id): its passes, and
    /// any copy of them, are refused everywhere.
    Ended,
    /// This ticket's pass made its one move to another network (key: the short id; value: the
    /// network's tag): a copy of the pass still bound to its home alone may not move too.
    Moved,
    /// This network holds its budget of places (key: its tag; value: places held): a new
    /// place from it costs work.
    Full,
}

/// One notice: what it says of `key`, its `value`, and until when it stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub kind: NoticeKind,
    pub key: u64,
    pub value: u64,
    pub until: UnixMs,
}

/// Changes a copy of the notices takes to come up to `to` from the version it had; `reset`
/// when it had none the log still covers, and `set` is then every notice there is.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NoticesDelta {
    pub to: u64,
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub reset: bool,
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub set: Vec<Notice>,
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub dropped: Vec<(NoticeKind, u64)>,
}

/// Changes remembered for copies that are behind; one further behind gets everything anew,
/// which on a busy night is every session ended within the hour. So the log holds about a
/// minute of changes at a thousand endings a second (1.5 MB): a copy that syncs within a
/// minute always gets only what changed.
pub const NOTICE_LOG: usize = 65_536;

/// Changes an [`EndedIds`] gathers before it merges them into its sorted ids: each merge
/// walks every id once, so this many changes share one walk. (A handful in the tests, so
/// that they merge often.)
const ENDED_MERGE_AT: usize = if cfg!(test) { 5 } else { 16_384 };

/// The ended sessions a copy of the notices holds: their tickets' short ids alone, eight
/// bytes each in one sorted vector, and the ids added or dropped since it was last merged.
///
/// A copy never expires a notice itself (the room drops it, and the drop reaches the copy),
/// so it needs neither when an ended notice lapses nor an index by it. Every isolate and
/// every aggregator holds one: on Korea's night some 50,000 sessions end a minute and each
/// stands for an hour, millions of ids; kept as notices in ordered maps (about a hundred
/// bytes each) they were more than an isolate should hold, and the simulator, which keeps
/// every copy of that night's 1,029 isolates and 300 aggregators, ran out of 24 GB after
/// 360 s of it (6 to 7 minutes of wall time). As ids it runs the whole night, 790 s, in
/// 8.4 GB and 9.5 minutes.
#[derive(Clone, Debug, Default)]
struct EndedIds {
    sorted: Vec<u64>,
    /// Ids added since the last merge, none of them in `sorted`.
    added: std::collections::HashSet<u64>,
    /// Ids of `sorted` dropped since the last merge.
    dropped: std::collections::HashSet<u64>,
}

impl EndedIds {
    fn contains(&self, id: u64) -> bool {
        self.added.contains(&id)
            || (!self.dropped.contains(&id) && self.sorted.binary_search(&id).is_ok())
    }

    fn insert(&mut self, id: u64) {
        if self.sorted.binary_search(&id).is_ok() {
            self.dropped.remove(&id);
        } else {
            self.added.insert(id);
        }
        self.merge_if_due();
    }

    fn remove(&mut self, id: u64) {
        if !self.added.remove(&id) && self.sorted.binary_search(&id).is_ok() {
            self.dropped.insert(id);
            self.merge_if_due();
        }
    }

    fn len(&self) -> usize {
        (self.sorted.len() - self.dropped.len()).saturating_add(self.added.len())
    }

    fn clear(&mut self) {
        self.sorted.clear();
        self.added.clear();
        self.dropped.clear();
    }

    fn ids(&self) -> impl Iterator<Item = u64> + '_ {
        let kept = self.sorted.iter().filter(|id| !self.dropped.contains(id));
        kept.chain(self.added.iter()).copied()
    }

    fn merge_if_due(&mut self) {
        if self.added.len() + self.dropped.len() < ENDED_MERGE_AT {
            return;
        }
        // One walk: the kept ids in order, each added id slipped in before the first kept one
        // above it.
        let mut added: Vec<u64> = self.added.drain().collect();
        added.sort_unstable();
        let dropped = std::mem::take(&mut self.dropped);
        let old = std::mem::take(&mut self.sorted);
        let mut merged = Vec::with_capacity(old.len() - dropped.len() + added.len());
        let mut added = added.into_iter().peekable();
        for id in old.into_iter().filter(|id| !dropped.contains(id)) {
            while added.peek().is_some_and(|a| *a < id) {
                merged.extend(added.next());
            }
            merged.push(id);
        }
        merged.extend(added);
        self.sorted = merged;
    }
}

/// Whose notices they are: the room's master ([`Master`]) or a copy ([`Replica`]). A type, not a
/// flag, so that a binary that holds only copies (the citizen's wasm) carries none of the
/// master's code.
pub trait Role: Clone + std::fmt::Debug + Default {
    /// A copy keeps the ended sessions as ids alone ([`EndedIds`]), no index by time, and
    /// follows the room's drops.
    const COPY: bool;
}

/// The room's notices: the master, which expires and stores them.
#[derive(Clone, Debug, Default)]
pub struct Master;

/// An aggregator's or an isolate's copy of the room's notices.
#[derive(Clone, Debug, Default)]
pub struct Replica;

impl Role for Master {
    const COPY: bool = false;
}

impl Role for Replica {
    const COPY: bool = true;
}

/// What the room tells every edge beyond the cursor, a sync or two behind: sessions ended,
/// passes moved, networks full. The room keeps the master; each aggregator and each isolate a
/// copy, brought up to date by the changes since its version ([`Notices::since`],
/// [`Notices::apply`]), never the whole set at every sync.
#[derive(Clone, Debug, Default)]
pub struct Notices<R: Role = Master> {
    /// Every notice at the room; at a copy, every one but the ended sessions.
    entries: BTreeMap<(NoticeKind, u64), Notice>,
    /// At a copy, the ended sessions ([`EndedIds`]).
    ended: EndedIds,
    /// `(until, kind, key)` of every entry: what `expire` takes down, found without walking
    /// them all (a busy night ends hundreds of thousands of sessions within the hour). The
    /// room's alone: a copy follows the room's drops.
    by_until: std::collections::BTreeSet<(UnixMs, NoticeKind, u64)>,
    version: u64,
    /// `(version, kind, key)` of each change, oldest first.
    log: std::collections::VecDeque<(u64, NoticeKind, u64)>,
    /// Notices that outlive a restart (ended sessions, moves) changed since the room last
    /// stored them.
    unstored: std::collections::BTreeSet<(NoticeKind, u64)>,
    /// A copy that brings no other up to date (an isolate's) keeps no log.
    last_copy: bool,
    role: std::marker::PhantomData<R>,
}

impl NoticeKind {
    /// Is it kept across a restart of the room? Ended sessions and moves are facts only the
    /// room holds; a full network is judged again from the places as they are renewed.
    pub fn is_stored(self) -> bool {
        matches!(self, NoticeKind::Ended | NoticeKind::Moved)
    }
}

impl Notices<Replica> {
    /// A copy at the end of the chain, which no other asks for changes: an isolate's. It keeps
    /// no log, so its memory is the notices alone.
    pub fn last_copy() -> Notices<Replica> {
        Notices {
            last_copy: true,
            ..Notices::default()
        }
    }

    /// A copy that brings others up to date: an aggregator's. It keeps the log, and the ended
    /// sessions as ids alone ([`EndedIds`]); it never expires a notice itself.
    pub fn copy() -> Notices<Replica> {
        Notices::default()
    }
}

impl<R: Role> Notices<R> {
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Is `kind` kept as ids alone here?
    fn as_ids(kind: NoticeKind) -> bool {
        R::COPY && kind == NoticeKind::Ended
    }

    /// Puts `n` in the entries and their index, in place of any notice of its kind and key.
    fn put(&mut self, n: Notice) {
        if Self::as_ids(n.kind) {
            self.ended.insert(n.key);
            return;
        }
        let old = self.entries.insert((n.kind, n.key), n);
        if R::COPY {
            return;
        }
        if let Some(old) = old {
            self.by_until.remove(&(old.until, old.kind, old.key));
        }
        self.by_until.insert((n.until, n.kind, n.key));
    }

    /// Takes the notice of `kind` about `key` out of the entries and their index.
    fn take(&mut self, kind: NoticeKind, key: u64) -> Option<Notice> {
        if Self::as_ids(kind) {
            let old = self.get(kind, key)?;
            self.ended.remove(key);
            return Some(old);
        }
        let old = self.entries.remove(&(kind, key))?;
        self.by_until.remove(&(old.until, old.kind, old.key));
        Some(old)
    }

    pub fn len(&self) -> usize {
        self.entries.len().saturating_add(self.ended.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The notice of `kind` about `key`, if one stands. A copy does not keep when an ended
    /// session's notice lapses (the room drops it then): it says `until` the end of time.
    pub fn get(&self, kind: NoticeKind, key: u64) -> Option<Notice> {
        if Self::as_ids(kind) {
            return self.ended.contains(key).then(|| Self::ended_notice(key));
        }
        self.entries.get(&(kind, key)).copied()
    }

    /// An ended session's notice as a copy holds it.
    fn ended_notice(key: u64) -> Notice {
        Notice {
            kind: NoticeKind::Ended,
            key,
            value: 0,
            until: UnixMs(u64::MAX),
        }
    }

    /// Every notice of `kind`.
    pub fn of(&self, kind: NoticeKind) -> impl Iterator<Item = Notice> + '_ {
        let entries = self.entries.range((kind, 0)..=(kind, u64::MAX));
        let ids = Self::as_ids(kind)
            .then(|| self.ended.ids())
            .into_iter()
            .flatten();
        entries.map(|(_, n)| *n).chain(ids.map(Self::ended_notice))
    }

    /// What a copy at `version` needs to come up to this one (nothing when it is there).
    pub fn since(&self, version: u64) -> Option<NoticesDelta> {
        if version == self.version {
            return None;
        }
        let covered = version < self.version
            && self
                .log
                .front()
                .is_some_and(|(first, _, _)| *first <= version.saturating_add(1));
        if !covered {
            let ended = self.ended.ids().map(Self::ended_notice);
            return Some(NoticesDelta {
                to: self.version,
                reset: true,
                set: self.entries.values().copied().chain(ended).collect(),
                dropped: Vec::new(),
            });
        }
        // The log is in version order: the copy's changes start where its version ends.
        let from = self.log.partition_point(|(v, _, _)| *v <= version);
        let mut touched: Vec<(NoticeKind, u64)> = self
            .log
            .range(from..)
            .map(|(_, kind, key)| (*kind, *key))
            .collect();
        touched.sort_unstable();
        touched.dedup();
        let mut delta = NoticesDelta {
            to: self.version,
            ..NoticesDelta::default()
        };
        for (kind, key) in touched {
            match self.get(kind, key) {
                Some(n) => delta.set.push(n),
                None => delta.dropped.push((kind, key)),
            }
        }
        Some(delta)
    }

    /// Brings a copy up to date with `delta` (a delta older than the copy changes nothing).
    pub fn apply(&mut self, delta: &NoticesDelta) {
        if delta.reset {
            self.entries.clear();
            self.ended.clear();
            self.by_until.clear();
            self.log.clear();
        } else if delta.to <= self.version {
            return;
        }
        for (kind, key) in &delta.dropped {
            self.take(*kind, *key);
            if !self.last_copy {
                self.log.push_back((delta.to, *kind, *key));
            }
        }
        for n in &delta.set {
            self.put(*n);
            if !self.last_copy {
                self.log.push_back((delta.to, n.kind, n.key));
            }
        }
        while self.log.len() > NOTICE_LOG {
            self.log.pop_front();
        }
        self.version = delta.to;
    }
}

impl Notices<Master> {
    /// The room's notices as stored, at `version`: one no copy can hold (the room's clock in
    /// milliseconds, past any count of changes it made before), so every copy is brought up
    /// to date anew.
    pub fn restore(stored: impl IntoIterator<Item = Notice>, version: u64) -> Notices {
        let mut notices = Notices {
            version,
            ..Notices::default()
        };
        for n in stored.into_iter().filter(|n| n.kind.is_stored()) {
            notices.put(n);
        }
        notices
    }

    /// The stored notices changed since the last call, each as it stands (`None`: taken down).
    pub fn take_changes(&mut self) -> Vec<((NoticeKind, u64), Option<Notice>)> {
        std::mem::take(&mut self.unstored)
            .into_iter()
            .map(|(kind, key)| ((kind, key), self.get(kind, key)))
            .collect()
    }

    fn changed(&mut self, kind: NoticeKind, key: u64) {
        if kind.is_stored() {
            self.unstored.insert((kind, key));
        }
        self.version = self.version.saturating_add(1);
        self.log.push_back((self.version, kind, key));
        if self.log.len() > NOTICE_LOG {
            self.log.pop_front();
        }
    }

    /// Puts up (or changes) a notice.
    pub fn set(&mut self, notice: Notice) {
        if self.get(notice.kind, notice.key) == Some(notice) {
            return;
        }
        self.put(notice);
        self.changed(notice.kind, notice.key);
    }

    /// Takes a notice down.
    pub fn drop(&mut self, kind: NoticeKind, key: u64) {
        if self.take(kind, key).is_some() {
            self.changed(kind, key);
        }
    }

    /// Takes down every notice that stood until before `now`. The room's alone: a copy keeps
    /// no index by time, and follows the room's drops.
    pub fn expire(&mut self, now: UnixMs) {
        let gone: Vec<(NoticeKind, u64)> = self
            .by_until
            .iter()
            .take_while(|(until, _, _)| *until <= now)
            .map(|(_, kind, key)| (*kind, *key))
            .collect();
        for (kind, key) in gone {
            self.drop(kind, key);
        }
    }
}

#[cfg(test)]
mod notice_tests {
    use super::*;

    const T0: UnixMs = UnixMs(1_700_000_000_000);

    fn ended(key: u64) -> Notice {
        Notice {
            kind: NoticeKind::Ended,
            key,
            value: 0,
            until: T0.plus_ms(60_000),
        }
    }

    #[test]
    fn expiry_takes_down_what_ended_by_now_and_follows_a_notice_that_was_moved_on() {
        let mut copy = Notices::<Master>::default();
        let mut room = Notices::<Master>::default();
        room.set(ended(1));
        room.set(ended(2));
        // Moved on: it now stands until later than it did.
        room.set(Notice {
            until: T0.plus_ms(120_000),
            ..ended(2)
        });
        room.set(Notice {
            until: T0.plus_ms(30_000),
            ..ended(3)
        });
        copy.apply(&room.since(0).unwrap());
        for n in [&mut room, &mut copy] {
            n.expire(T0.plus_ms(29_999));
            assert_eq!(n.len(), 3);
            n.expire(T0.plus_ms(60_000));
            assert!(n.get(NoticeKind::Ended, 2).is_some() && n.len() == 1);
            n.expire(T0.plus_ms(120_000));
            assert!(n.is_empty());
        }
        // Taken down by hand, it is not expired again (nor does its index entry linger).
        room.set(ended(4));
        room.drop(NoticeKind::Ended, 4);
        let version = room.version();
        room.expire(T0.plus_ms(60_000));
        assert_eq!(room.version(), version);
    }

    #[test]
    fn a_copy_comes_up_to_date_by_changes_and_anew_when_far_behind() {
        let mut room = Notices::<Master>::default();
        let mut copy = Notices::<Master>::default();
        room.set(ended(1));
        room.set(ended(2));
        copy.apply(&room.since(copy.version()).unwrap());
        assert_eq!((copy.len(), copy.version()), (2, room.version()));
        assert_eq!(room.since(copy.version()), None, "nothing new");
        room.drop(NoticeKind::Ended, 1);
        room.set(ended(3));
        let delta = room.since(copy.version()).unwrap();
        assert!(!delta.reset && delta.set.len() == 1 && delta.dropped.len() == 1);
        copy.apply(&delta);
        assert!(
            copy.get(NoticeKind::Ended, 1).is_none() && copy.get(NoticeKind::Ended, 3).is_some()
        );
        // A copy further behind than the log reaches gets everything anew.
        for k in 10..(10 + NOTICE_LOG as u64 + 5) {
            room.set(ended(k));
        }
        let delta = room.since(copy.version()).unwrap();
        assert!(delta.reset);
        copy.apply(&delta);
        assert_eq!(copy.len(), room.len());
        // Expiry takes notices down, and copies follow.
        room.expire(T0.plus_ms(60_000));
        copy.apply(&room.since(copy.version()).unwrap());
        assert!(copy.is_empty() && room.is_empty());
    }

    #[test]
    fn a_restarted_room_keeps_ended_sessions_and_moves_and_every_copy_takes_them_anew() {
        let mut room = Notices::<Master>::default();
        let mut copy = Notices::<Master>::default();
        room.set(ended(1));
        room.set(Notice {
            kind: NoticeKind::Moved,
            key: 2,
            value: 77,
            until: T0.plus_ms(60_000),
        });
        room.set(Notice {
            kind: NoticeKind::Full,
            key: 3,
            value: 16,
            until: T0.plus_ms(60_000),
        });
        copy.apply(&room.since(0).unwrap());
        // What the store is given: the two that outlive a restart, never the full network.
        let changes = room.take_changes();
        assert_eq!(changes.len(), 2);
        assert!(room.take_changes().is_empty(), "each change is stored once");
        let kept: Vec<Notice> = changes.into_iter().filter_map(|(_, n)| n).collect();
        // The room restarts from the store at its clock: a copy at any earlier version is
        // brought up to date anew, and holds the ended session and the move.
        let restarted = Notices::restore(kept, T0.0);
        let delta = restarted.since(copy.version()).unwrap();
        assert!(delta.reset);
        copy.apply(&delta);
        assert!(copy.get(NoticeKind::Ended, 1).is_some());
        assert_eq!(copy.get(NoticeKind::Moved, 2).map(|n| n.value), Some(77));
        assert!(copy.get(NoticeKind::Full, 3).is_none());
        // A notice taken down is stored as gone.
        room.drop(NoticeKind::Ended, 1);
        assert_eq!(room.take_changes(), vec![((NoticeKind::Ended, 1), None)]);
    }
    #[test]
    fn ended_ids_merge_without_losing_or_keeping_an_id() {
        let mut ids = EndedIds::default();
        let mut truth = std::collections::BTreeSet::new();
        // Inserts, removes and re-inserts across many merges (every five changes here).
        for step in 0u64..600 {
            let id = (step * 7_919) % 97;
            if step % 3 == 2 {
                ids.remove(id);
                truth.remove(&id);
            } else {
                ids.insert(id);
                truth.insert(id);
            }
            assert_eq!(ids.len(), truth.len(), "after step {step}");
        }
        for id in 0..100 {
            assert_eq!(ids.contains(id), truth.contains(&id), "{id}");
        }
        let mut all: Vec<u64> = ids.ids().collect();
        all.sort_unstable();
        assert_eq!(all, truth.into_iter().collect::<Vec<_>>());
        assert!(
            ids.sorted.windows(2).all(|w| w[0] < w[1]),
            "sorted, no twice"
        );
    }

    /// One change to the room's notices, or a sync down the chain.
    #[derive(Clone, Debug)]
    enum Step {
        Set(NoticeKind, u64, u64, u64),
        Drop(NoticeKind, u64),
        Expire(u64),
        Aggregator,
        Isolate,
        NewIsolate,
        RoomRestart,
    }

    fn step() -> impl proptest::strategy::Strategy<Value = Step> {
        use proptest::prelude::*;
        let kind = prop_oneof![
            4 => Just(NoticeKind::Ended),
            1 => Just(NoticeKind::Moved),
            1 => Just(NoticeKind::Full)
        ];
        prop_oneof![
            6 => (kind.clone(), 0u64..40, 0u64..3, 0u64..120)
                .prop_map(|(k, key, value, s)| Step::Set(k, key, value, s)),
            2 => (kind, 0u64..40).prop_map(|(k, key)| Step::Drop(k, key)),
            1 => (0u64..150).prop_map(Step::Expire),
            3 => Just(Step::Aggregator),
            3 => Just(Step::Isolate),
            1 => Just(Step::NewIsolate),
            1 => Just(Step::RoomRestart),
        ]
    }

    proptest::proptest! {
        /// The copies that keep ended sessions as ids alone (an aggregator's, an isolate's)
        /// hold exactly what a copy of the whole notices would, through any history of sets,
        /// drops, expiries, syncs, isolates that join late and restarts of the room.
        #[test]
        fn copies_that_keep_ended_sessions_as_ids_hold_what_the_room_says(
            steps in proptest::collection::vec(step(), 1..300)
        ) {
            let mut room = Notices::<Master>::default();
            let (mut aggregator, mut whole) = (Notices::copy(), Notices::<Master>::default());
            let (mut isolate, mut isolate_whole) = (Notices::last_copy(), Notices::<Master>::default());
            for step in steps {
                match step {
                    Step::Set(kind, key, value, s) => room.set(Notice {
                        kind,
                        key,
                        value: if kind == NoticeKind::Ended { 0 } else { value },
                        until: T0.plus_ms(s * 1_000),
                    }),
                    Step::Drop(kind, key) => room.drop(kind, key),
                    Step::Expire(s) => room.expire(T0.plus_ms(s * 1_000)),
                    Step::Aggregator => {
                        if let Some(delta) = room.since(aggregator.version()) {
                            aggregator.apply(&delta);
                        }
                        if let Some(delta) = room.since(whole.version()) {
                            whole.apply(&delta);
                        }
                    }
                    Step::Isolate => {
                        if let Some(delta) = aggregator.since(isolate.version()) {
                            isolate.apply(&delta);
                        }
                        if let Some(delta) = whole.since(isolate_whole.version()) {
                            isolate_whole.apply(&delta);
                        }
                    }
                    Step::NewIsolate => {
                        isolate = Notices::last_copy();
                        isolate_whole = Notices::<Master>::default();
                    }
                    // From what it stored, at a version no copy holds: every copy is
                    // brought up to date anew, over what it held.
                    Step::RoomRestart => {
                        let stored: Vec<Notice> = room.of(NoticeKind::Ended)
                            .chain(room.of(NoticeKind::Moved))
                            .collect();
                        room = Notices::restore(stored, room.version() + 1_000_000);
                    }
                }
                for (copy, reference) in [(&aggregator, &whole), (&isolate, &isolate_whole)] {
                    proptest::prop_assert_eq!(copy.len(), reference.len());
                    proptest::prop_assert_eq!(copy.version(), reference.version());
                    for kind in [NoticeKind::Ended, NoticeKind::Moved, NoticeKind::Full] {
                        for key in 0..40 {
                            let (a, b) = (copy.get(kind, key), reference.get(kind, key));
                            proptest::prop_assert_eq!(a.is_some(), b.is_some(), "{:?} {}", kind, key);
                            if kind != NoticeKind::Ended {
                                proptest::prop_assert_eq!(a, b);
                            }
                        }
                        proptest::prop_assert_eq!(copy.of(kind).count(), reference.of(kind).count());
                    }
                }
            }
        }
    }
}
