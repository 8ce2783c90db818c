//! The release cursor: how the coordinator decides who is *eligible*, knowing only counts.
//!
//! The coordinator holds a [`Histogram`] of places per arrival second and a [`ReleaseState`].
//! At each sync it calls [`ReleaseState::advance`], a pure function of the config, the
//! histogram, the [`Demand`] read from its ledger and `now`, and records what the step released.
//!
//! ## Eligibility is not admission
//! The cursor releases the first fraction of a second in proportion to that second's count.
//! Order keys spread a second's arrivals uniformly at random, so the number actually passed is
//! right only in expectation (binomial noise), whatever the pattern of arrivals. The rate the
//! origin feels is therefore enforced elsewhere: every let-through must pass an isolate's
//! `Limiter`, which is exact. The cursor's job is to keep *enough* citizens eligible for the
//! limiter to run at the rate, in arrival order, without running far ahead of it:
//!
//! - an allowance accrues at [`OVER_RELEASE`] (×1.5) the rate, so released citizens who never
//!   come back (no-shows) do not stall the queue: up to a third of no-shows is fully made up;
//! - but the cursor only moves while the citizens *pending* — released and not let through:
//!   the ledger's unclaimed count (released in the last ten seconds, not let through) or, if
//!   more, those waiting at the isolates' limiters — are fewer than [`UNCLAIMED_CAP_S`] seconds
//!   of the rate (plus the burst). That caps how far eligibility runs ahead of what is
//!   actually let through, and it is how the release compensates for the no-show share it
//!   measures: each no-show holds back one place of the cap for ten seconds, then stops
//!   counting, and the cursor releases another in its stead; a citizen who is still there,
//!   waiting its turn at a limiter, keeps holding its place;
//! - it releases no more than `max_active − active − pending` citizens, so passes alive plus
//!   passes about to be claimed stay within `max_active`; with no budget at all it does not
//!   move (not even over seconds that look empty);
//! - it never passes `now − settle`, so counts still on their way from an isolate are not
//!   skipped, and empty stretches are passed for free;
//! - it does not move while paused, closed, before the opening, or at a rate of zero.
//!
//! ## Nothing earned survives
//! The allowance holds at most [`ALLOWANCE_CAP_MS`] of the release rate plus the burst. Any
//! positive allowance is forfeit whenever the room is frozen (paused, closed, before its
//! opening), its rate is zero, or its rate is lower than the one the allowance was earned
//! under (kept in the state); time frozen earns nothing. After late arrivals are charged the
//! allowance may be negative, and that debt is kept: it is paid before anyone else is released.
//!
//! Allowance is kept in units of 2⁻³² citizens, the same unit as the sub-second part of an
//! order key, so releasing "0.3 of second X" is exact integer arithmetic. What a step releases
//! is reported in whole citizens; the fraction is carried in the state to the next step.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::RoomConfig;
use crate::order::{Cursor, OrderKey, SUB_RANGE};
use crate::time::UnixMs;

/// The allowance accrues at `rate × OVER_RELEASE.0 / OVER_RELEASE.1`: half as much again as
/// the rate. The limiter bounds what gets through; this only decides how fast eligibility may
/// grow. ×1.5 fully makes up a no-show share of up to a third (1.5 × (1 − ⅓) = 1), with room
/// over the 20 % or so a real queue sees; ×1.25 would break even at exactly 20 % and fall
/// behind on the first unlucky minute. Beyond a third the release degrades to
/// `1.5 × (1 − share)` of the rate rather than flooding eligibility.
pub const OVER_RELEASE: (u64, u64) = (3, 2);
/// The allowance holds at most this many milliseconds of the release rate (×1.5), plus the
/// burst: three seconds of the rate. The coordinator advances once per sync, about every
/// second but later when syncs are slow, and a step's accrual must fit or the over-release is
/// lost exactly when the room is busiest. It bounds how much eligibility a quiet spell can bank
/// (the unclaimed cap bounds it again), and it never reaches the origin: the limiter saves at
/// most one citizen plus the burst and a tenth of a second of the rate.
pub const ALLOWANCE_CAP_MS: u64 = 2_000;
/// The cursor holds back while the pending count ([`Demand::pending`]: the ledger's unclaimed,
/// released in the last `ledger::UNCLAIMED_WINDOW_S` = 10 s and not let through, or those
/// waiting at the limiters if more) reaches this many seconds of the rate, plus the burst.
/// Ten seconds of the rate is room for the citizens just released who have not yet polled (a
/// front-of-line citizen polls about every 3 s), those waiting at the limiter, and the
/// no-shows of the last ten seconds at a share of up to a half — and no more: eligibility runs
/// about ten seconds of the rate ahead of let-throughs (the simulations in
/// `tests/admission.rs` keep the eligible citizens still waiting under twice that).
pub const UNCLAIMED_CAP_S: u64 = 10;
/// The unclaimed cap is never below this many citizens, so a slow room (say 6 per minute, one
/// citizen per ten seconds) is not stalled for ten seconds by each single no-show.
pub const MIN_UNCLAIMED_CAP: u64 = 3;

/// One citizen in the allowance's units: 2³².
const ONE: u128 = 1 << 32;

/// Arrivals per second: bucket (unix second) → number of tickets issued in it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Histogram(BTreeMap<u64, u64>);

impl Histogram {
    pub fn new() -> Histogram {
        Histogram::default()
    }

    pub fn add(&mut self, bucket: u64, count: u64) {
        if count > 0 {
            let slot = self.0.entry(bucket).or_insert(0);
            *slot = slot.saturating_add(count);
        }
    }

    /// Every bucket from `from` onwards (a copy: what the coordinator sends to the edge).
    pub fn since(&self, from: u64) -> Histogram {
        Histogram(self.0.range(from..).map(|(b, c)| (*b, *c)).collect())
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.0.iter().map(|(b, c)| (*b, *c))
    }

    pub fn total(&self) -> u64 {
        self.0.values().fold(0u64, |sum, c| sum.saturating_add(*c))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many arrivals stand at or after `cursor` and before `key`: the people ahead of the
    /// ticket `key`. Arrivals are taken as spread evenly within their second (they are, by
    /// construction of order keys), so partial seconds count in proportion, rounded down.
    pub fn between(&self, cursor: Cursor, key: OrderKey) -> u64 {
        if !cursor.admits(key) && cursor.0 < key.0 {
            let mut scaled: u128 = 0;
            for (bucket, count) in self.0.range(cursor.bucket()..=key.bucket()) {
                let start = if *bucket == cursor.bucket() {
                    cursor.sub()
                } else {
                    0
                };
                let end = if *bucket == key.bucket() {
                    key.sub()
                } else {
                    SUB_RANGE
                };
                scaled += u128::from(*count) * u128::from(end.saturating_sub(start));
            }
            return u64::try_from(scaled >> 32).unwrap_or(u64::MAX);
        }
        0
    }
}

/// What the coordinator's ledger says about the citizens already released, for one step.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Demand {
    /// Passes alive: let through within the session duration, minus sessions ended
    /// (`Ledger::active`).
    pub active: u64,
    /// Released within the last ten seconds and not let through (`Ledger::unclaimed`).
    pub unclaimed: u64,
    /// Eligible citizens waiting at the isolates' limiters: the sum of each isolate's
    /// `Limiter::waiting` as last reported. It counts those who have waited longer than the
    /// unclaimed window, whom `unclaimed` no longer sees; without it the cursor would take
    /// them for no-shows and keep releasing.
    pub waiting: u64,
    /// Citizens beyond the cursor the origin's slots can still serve, when the room knows its
    /// slots (`Room::slots_left`): the cursor releases no more than that.
    pub slots_left: Option<u64>,
}

impl Demand {
    /// Released citizens who may still come: at least those the ledger has not seen claimed
    /// lately, and at least those waiting at a limiter.
    pub fn pending(&self) -> u64 {
        self.unclaimed.max(self.waiting)
    }
}

/// The outcome of one [`ReleaseState::advance`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub struct Step {
    /// The state after the step.
    pub state: ReleaseState,
    /// Whole citizens released by this step (the fraction is carried in `state`), for the
    /// ledger's `record_released`.
    pub released: u64,
}

/// The coordinator's release state for one room.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseState {
    /// Everyone before this is eligible.
    pub cursor: Cursor,
    /// Unspent release, in citizens × 2³²; negative after late arrivals were charged.
    pub allowance: i64,
    /// When the state was last advanced.
    pub updated_at: UnixMs,
    /// The rate (citizens per minute) the allowance was earned under: a lower rate forfeits
    /// it. A state stored before this field existed reads as "unknown", which forfeits too.
    #[serde(default = "unknown_rate")]
    pub earned_at_rate: u32,
    /// Released but not yet reported, in citizens × 2³² (less than one citizen).
    #[serde(default)]
    pub released_carry: u32,
}

fn unknown_rate() -> u32 {
    u32::MAX
}

impl ReleaseState {
    /// A fresh room: the cursor at `now − settle`, no allowance yet.
    pub fn start(now: UnixMs, settle_ms: u64) -> ReleaseState {
        ReleaseState {
            cursor: Cursor::at_time(now.minus_ms(settle_ms)),
            allowance: 0,
            updated_at: now,
            earned_at_rate: 0,
            released_carry: 0,
        }
    }

    /// Moves the cursor as far as the policy allows at `now` (see the module documentation)
    /// and says how many citizens that released. A `now` at or before the last update changes
    /// nothing and releases nobody.
    pub fn advance(
        &self,
        config: &RoomConfig,
        arrivals: &Histogram,
        demand: Demand,
        now: UnixMs,
        settle_ms: u64,
    ) -> Step {
        let unchanged = Step {
            state: *self,
            released: 0,
        };
        if now <= self.updated_at {
            return unchanged;
        }
        let rate = config.new_users_per_minute;
        let stopped = config.frozen(now) || rate == 0;
        let mut next = ReleaseState {
            updated_at: now,
            earned_at_rate: rate,
            ..*self
        };
        if stopped || rate < self.earned_at_rate {
            next.allowance = next.allowance.min(0);
        }
        if stopped {
            return Step {
                state: next,
                released: 0,
            };
        }
        // Only time since the opening (if it was passed during this step) earns.
        let earning_from = match config.opens_at {
            Some(t) if t > self.updated_at => t,
            _ => self.updated_at,
        };
        let accrued = u128::from(rate)
            * u128::from(OVER_RELEASE.0)
            * u128::from(now.since(earning_from))
            * ONE
            / (u128::from(OVER_RELEASE.1) * 60_000);
        let allowance = i128::from(next.allowance)
            .saturating_add(i128::try_from(accrued).unwrap_or(i128::MAX))
            .min(capacity(config));
        let pending = demand.pending();
        let room_left = u64::from(config.max_active)
            .saturating_sub(demand.active)
            .saturating_sub(pending)
            .min(unclaimed_cap(config).saturating_sub(pending))
            .min(demand.slots_left.unwrap_or(u64::MAX));
        let budget = u128::try_from(allowance.max(0))
            .unwrap_or(0)
            .min(u128::from(room_left) * ONE);
        let limit = Cursor::at_time(now.minus_ms(settle_ms));
        let (cursor, spent) = sweep(arrivals, self.cursor, limit, budget);
        next.cursor = cursor.max(self.cursor);
        let left = allowance.saturating_sub(i128::try_from(spent).unwrap_or(i128::MAX));
        next.allowance = i64::try_from(left).unwrap_or(if left < 0 { i64::MIN } else { i64::MAX });
        let released = next.report(spent);
        Step {
            state: next,
            released,
        }
    }

    /// Charges `count` places in arrival second `bucket` that reached the coordinator late.
    /// Those already behind the cursor are eligible at once without having been paid for, so
    /// they are charged to the allowance now (it may go negative; the debt is paid before
    /// anyone else is released) and reported as released: record the result in the ledger.
    pub fn charge_late(&mut self, bucket: u64, count: u64) -> u64 {
        let behind = match bucket.cmp(&self.cursor.bucket()) {
            std::cmp::Ordering::Less => u128::from(count) * ONE,
            std::cmp::Ordering::Equal => u128::from(count) * u128::from(self.cursor.sub()),
            std::cmp::Ordering::Greater => 0,
        };
        let charged =
            i128::from(self.allowance).saturating_sub(i128::try_from(behind).unwrap_or(0));
        self.allowance = i64::try_from(charged).unwrap_or(i64::MIN);
        self.report(behind)
    }

    /// Adds `count` arrivals in `bucket` to `arrivals` and charges those behind the cursor
    /// ([`ReleaseState::charge_late`]); returns the citizens that released.
    pub fn record_arrivals(&mut self, arrivals: &mut Histogram, bucket: u64, count: u64) -> u64 {
        arrivals.add(bucket, count);
        self.charge_late(bucket, count)
    }

    /// Settles a config change at `now` (call it after advancing under the old config): a
    /// change to a frozen room, a rate of zero, a lower rate or a lower burst forfeits any
    /// positive allowance, and the allowance counts as earned under the new rate.
    pub fn reconfigured(&mut self, before: &RoomConfig, after: &RoomConfig, now: UnixMs) {
        let stricter = after.frozen(now)
            || after.new_users_per_minute == 0
            || after.new_users_per_minute < before.new_users_per_minute
            || after.effective_burst() < before.effective_burst();
        if stricter {
            self.allowance = self.allowance.min(0);
        }
        self.earned_at_rate = after.new_users_per_minute;
    }

    /// Adds `units` (citizens × 2³²) to the carried fraction; returns the whole citizens.
    fn report(&mut self, units: u128) -> u64 {
        let total = units.saturating_add(u128::from(self.released_carry));
        self.released_carry = u32::try_from(total % ONE).unwrap_or(0);
        u64::try_from(total / ONE).unwrap_or(u64::MAX)
    }
}

/// What the allowance may hold: [`ALLOWANCE_CAP_MS`] of the release rate plus the burst in
/// force, at least one citizen (none at a rate of zero).
fn capacity(config: &RoomConfig) -> i128 {
    if config.new_users_per_minute == 0 {
        return 0;
    }
    let release_ms = u128::from(config.new_users_per_minute)
        * u128::from(OVER_RELEASE.0)
        * u128::from(ALLOWANCE_CAP_MS)
        * ONE
        / (u128::from(OVER_RELEASE.1) * 60_000);
    let cap = (release_ms + u128::from(config.effective_burst()) * ONE).max(ONE);
    i128::try_from(cap).unwrap_or(i128::MAX)
}

/// The unclaimed count at which the cursor holds back, in citizens: [`UNCLAIMED_CAP_S`]
/// seconds of the rate (rounded up) plus the burst in force, at least [`MIN_UNCLAIMED_CAP`].
pub fn unclaimed_cap(config: &RoomConfig) -> u64 {
    (u64::from(config.new_users_per_minute) * UNCLAIMED_CAP_S)
        .div_ceil(60)
        .saturating_add(u64::from(config.effective_burst()))
        .max(MIN_UNCLAIMED_CAP)
}

/// Walks the cursor from `from` towards `limit`, spending `budget` (citizens × 2³²). Returns the
/// new cursor and what was spent. Empty stretches cost nothing.
fn sweep(arrivals: &Histogram, from: Cursor, limit: Cursor, mut budget: u128) -> (Cursor, u128) {
    // With nothing to spend the cursor stays put, even over seconds that look empty: their
    // counts may still be on the way, and a rate of zero must admit nobody.
    if from >= limit || budget == 0 {
        return (from, 0);
    }
    let mut spent: u128 = 0;
    for (bucket, count) in arrivals.0.range(from.bucket()..=limit.bucket()) {
        let start = if *bucket == from.bucket() {
            from.sub()
        } else {
            0
        };
        let end = if *bucket == limit.bucket() {
            limit.sub()
        } else {
            SUB_RANGE
        };
        if end <= start || *count == 0 {
            continue;
        }
        let here = u128::from(*count) * u128::from(end - start);
        if here <= budget {
            budget -= here;
            spent += here;
            continue;
        }
        // Part of this second: move `budget / count` sub-units into it, rounded up so that a
        // budget of exactly n citizens releases n, not n − 2⁻³².
        let step = u64::try_from(budget.div_ceil(u128::from(*count))).unwrap_or(0);
        spent += u128::from(step) * u128::from(*count);
        // Rounded up to the whole rest of the second, the cursor stands at the next one's
        // start: a sub of 2³² does not fit, and one short of it would release a sliver less
        // than was spent and reported.
        return match u32::try_from(start + step) {
            Ok(sub) => (Cursor(OrderKey::new(*bucket, sub).0), spent),
            Err(_) => (Cursor::at_bucket(bucket.saturating_add(1)), spent),
        };
    }
    (limit, spent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigPatch;

    const T0: u64 = 1_700_000_000_000;
    const SETTLE: u64 = 2_000;
    const NONE: Demand = Demand {
        active: 0,
        unclaimed: 0,
        waiting: 0,
        slots_left: None,
    };

    fn crowd(first_second: u64, seconds: u64, per_second: u64) -> Histogram {
        let mut h = Histogram::new();
        for s in 0..seconds {
            h.add(first_second + s, per_second);
        }
        h
    }

    fn state_at(cursor: Cursor, now: u64) -> ReleaseState {
        ReleaseState {
            cursor,
            updated_at: UnixMs(now),
            ..ReleaseState::default()
        }
    }

    fn rate(per_minute: u32) -> RoomConfig {
        RoomConfig {
            new_users_per_minute: per_minute,
            max_active: 1_000_000,
            ..RoomConfig::default()
        }
    }

    #[test]
    fn releases_at_half_again_the_rate_and_reports_it() {
        let config = rate(600);
        let start = UnixMs(T0);
        let arrivals = crowd(start.secs() - 100, 100, 50); // 5,000 waiting
        let from = Cursor::at_bucket(start.secs() - 100);
        let mut state = state_at(from, T0);
        let mut reported = 0;
        for i in 1..=60 {
            let step = state.advance(&config, &arrivals, NONE, UnixMs(T0 + i * 1000), SETTLE);
            reported += step.released;
            state = step.state;
        }
        let released = arrivals.between(from, OrderKey(state.cursor.0));
        // 600 a minute × 1.5; the histogram rounds partial seconds down.
        assert!((899..=900).contains(&released), "released {released}");
        assert_eq!(reported, 900);
    }

    #[test]
    fn the_unclaimed_count_holds_the_cursor_back() {
        let config = rate(600); // cap: 10 s of 10/s = 100
        let arrivals = crowd(T0 / 1000 - 100, 100, 50);
        let state = state_at(Cursor::at_bucket(T0 / 1000 - 100), T0);
        let now = UnixMs(T0 + 1_000);
        let full = Demand {
            unclaimed: 100,
            ..NONE
        };
        let held = state.advance(&config, &arrivals, full, now, SETTLE);
        assert_eq!((held.state.cursor, held.released), (state.cursor, 0));
        // Those waiting at a limiter count even once the ledger's window has let them go.
        let waiting = Demand {
            unclaimed: 3,
            waiting: 100,
            ..NONE
        };
        let held = state.advance(&config, &arrivals, waiting, now, SETTLE);
        assert_eq!((held.state.cursor, held.released), (state.cursor, 0));
        let nearly = Demand {
            unclaimed: 97,
            waiting: 20,
            ..NONE
        };
        assert_eq!(
            state
                .advance(&config, &arrivals, nearly, now, SETTLE)
                .released,
            3
        );
        assert_eq!(unclaimed_cap(&rate(6)), MIN_UNCLAIMED_CAP);
        let bursty = RoomConfig {
            burst: 5,
            ..config.clone()
        };
        assert_eq!(unclaimed_cap(&bursty), 105);
    }

    #[test]
    fn nothing_moves_while_paused_or_before_opening_and_nothing_banked_after() {
        let arrivals = crowd(T0 / 1000 - 50, 50, 10);
        let state = state_at(Cursor::at_bucket(T0 / 1000 - 50), T0);
        let paused = RoomConfig {
            paused: true,
            ..RoomConfig::default()
        };
        let later = state
            .advance(&paused, &arrivals, NONE, UnixMs(T0 + 3_600_000), SETTLE)
            .state;
        assert_eq!(later.cursor, state.cursor);
        let resumed = later.advance(
            &RoomConfig::default(),
            &arrivals,
            NONE,
            UnixMs(T0 + 3_601_000),
            SETTLE,
        );
        // One second at 60/min releases 1.5 citizens' worth, not an hour's.
        assert!(resumed.released <= 2, "released {}", resumed.released);
        let scheduled = RoomConfig {
            opens_at: Some(UnixMs(T0 + 10_000)),
            ..RoomConfig::default()
        };
        let before = state.advance(&scheduled, &arrivals, NONE, UnixMs(T0 + 9_999), SETTLE);
        assert_eq!(before.state.cursor, state.cursor);
        // Opening at T0 + 10 s, advanced at T0 + 10.5 s: only the half second since the
        // opening earns.
        let opened = before.state.advance(
            &scheduled,
            &Histogram::new(),
            NONE,
            UnixMs(T0 + 10_500),
            SETTLE,
        );
        assert_eq!(opened.state.allowance, (3 << 32) / 4); // 0.5 s × 1.5 per second
    }

    #[test]
    fn a_pause_a_closing_or_a_lower_rate_forfeits_the_allowance() {
        let high = rate(6_000);
        let mut state = state_at(Cursor::at_bucket(T0 / 1000), T0);
        state.earned_at_rate = 6_000;
        state.allowance = 100 << 32;
        let empty = Histogram::new();
        for stricter in [
            RoomConfig {
                paused: true,
                ..high.clone()
            },
            RoomConfig {
                closed: true,
                ..high.clone()
            },
            RoomConfig {
                opens_at: Some(UnixMs(T0 + 60_000)),
                ..high.clone()
            },
            rate(1_200),
            rate(0),
        ] {
            // Forfeit, then at most one millisecond's accrual at the new rate.
            let next = state.advance(&stricter, &empty, NONE, UnixMs(T0 + 1), SETTLE);
            assert!(next.state.allowance < 1 << 32, "{stricter:?}");
            let mut hooked = state;
            hooked.reconfigured(&high, &stricter, UnixMs(T0));
            assert!(hooked.allowance <= 0, "{stricter:?}");
        }
        // A higher rate keeps it (it was earned at less than the new rate allows).
        let higher = state.advance(&rate(12_000), &empty, NONE, UnixMs(T0 + 1), SETTLE);
        assert!(higher.state.allowance > 0);
        // Debt is never forgiven.
        let mut owing = state;
        owing.allowance = -(5 << 32);
        let paused = RoomConfig {
            paused: true,
            ..high.clone()
        };
        let next = owing.advance(&paused, &empty, NONE, UnixMs(T0 + 1), SETTLE);
        assert_eq!(next.state.allowance, -(5 << 32));
    }

    #[test]
    fn a_state_stored_before_the_earned_rate_forfeits_its_allowance() {
        let old = r#"{"cursor": 7301443501256867840, "allowance": 42949672960,
                      "updated_at": 1700000000000}"#;
        let state: ReleaseState = serde_json::from_str(old).unwrap();
        assert_eq!(state.earned_at_rate, u32::MAX);
        let next = state.advance(&rate(600), &Histogram::new(), NONE, UnixMs(T0 + 1), SETTLE);
        // Forfeit first, then one millisecond's accrual.
        assert!(next.state.allowance < 1 << 32, "{}", next.state.allowance);
    }

    #[test]
    fn opening_early_releases_the_pre_queue_first_and_at_once() {
        // 200 people gather in the pre-queue for an opening at T0 + 1 h; the operator opens
        // at T0 + 10 min instead. They stand before the 50 who arrive after, and nobody waits
        // for the old opening time.
        let scheduled = RoomConfig::default().apply(
            &ConfigPatch::from_json(&format!(r#"{{"opens_at": {}}}"#, T0 + 3_600_000)).unwrap(),
            UnixMs(T0),
        );
        let since = scheduled.prequeue_since.unwrap();
        let mut arrivals = Histogram::new();
        arrivals.add(OrderKey::lottery(since, 0).bucket(), 200);
        let opened_at = UnixMs(T0 + 600_000);
        for s in 0..50 {
            arrivals.add(opened_at.secs() + s, 1);
        }
        let state = state_at(Cursor::at_time(UnixMs(T0 - SETTLE)), T0);
        let frozen = state
            .advance(&scheduled, &arrivals, NONE, opened_at, SETTLE)
            .state;
        assert_eq!(
            frozen.cursor, state.cursor,
            "nothing moves before the opening"
        );
        let open = scheduled.apply(
            &ConfigPatch::from_json(r#"{"opens_at": null, "new_users_per_minute": 6000}"#).unwrap(),
            opened_at,
        );
        let mut after = frozen;
        for s in 1..=10 {
            after = after
                .advance(&open, &arrivals, NONE, opened_at.plus_ms(s * 1000), SETTLE)
                .state;
        }
        // 10 s later the whole pre-queue is through, 50 minutes before the old opening time;
        // of the later arrivals only those settled (before now - settle) may follow.
        assert!(after.cursor.admits(OrderKey::lottery(since, u32::MAX)));
        assert!(!after.cursor.admits(OrderKey::new(opened_at.secs() + 8, 0)));
    }

    #[test]
    fn max_active_caps_releases_counting_the_unclaimed() {
        let config = RoomConfig {
            new_users_per_minute: 6000,
            max_active: 100,
            ..RoomConfig::default()
        };
        let arrivals = crowd(T0 / 1000 - 100, 100, 100);
        let state = state_at(Cursor::at_bucket(T0 / 1000 - 100), T0);
        let now = UnixMs(T0 + 5_000);
        let full = Demand {
            active: 100,
            ..NONE
        };
        assert_eq!(
            state
                .advance(&config, &arrivals, full, now, SETTLE)
                .state
                .cursor,
            state.cursor
        );
        let some = Demand {
            active: 90,
            unclaimed: 2,
            waiting: 5,
            slots_left: None,
        };
        let step = state.advance(&config, &arrivals, some, now, SETTLE);
        assert_eq!(
            arrivals.between(state.cursor, OrderKey(step.state.cursor.0)),
            5
        );
        assert_eq!(step.released, 5);
    }

    #[test]
    fn an_empty_queue_lets_the_cursor_catch_up_to_now_minus_settle() {
        let state = ReleaseState::start(UnixMs(T0), SETTLE);
        let next = state.advance(
            &RoomConfig::default(),
            &Histogram::new(),
            NONE,
            UnixMs(T0 + 60_000),
            SETTLE,
        );
        assert_eq!(next.state.cursor, Cursor::at_time(UnixMs(T0 + 58_000)));
        assert_eq!(next.released, 0);
    }

    #[test]
    fn a_rate_of_zero_does_not_move_the_cursor_even_over_empty_seconds() {
        let state = ReleaseState::start(UnixMs(T0), SETTLE);
        let next = state.advance(
            &rate(0),
            &Histogram::new(),
            NONE,
            UnixMs(T0 + 60_000),
            SETTLE,
        );
        assert_eq!(next.state.cursor, state.cursor);
    }

    #[test]
    fn a_budget_rounded_up_to_the_rest_of_a_second_moves_the_cursor_to_the_next() {
        let mut arrivals = Histogram::new();
        arrivals.add(100, 3);
        arrivals.add(101, 5);
        // One sub-unit of second 100 left before the cursor, and a budget a third of it: the
        // step rounds up to the whole rest, which is what is spent.
        let from = Cursor(OrderKey::new(100, u32::MAX).0);
        let limit = Cursor::at_bucket(200);
        let (cursor, spent) = sweep(&arrivals, from, limit, 1);
        assert_eq!((cursor, spent), (Cursor::at_bucket(101), 3));
        // What the cursor passed is what was spent, to the sub-unit.
        assert_eq!(
            u128::from(arrivals.between(from, OrderKey(cursor.0))),
            spent >> 32
        );
        let (further, more) = sweep(&arrivals, cursor, limit, 5 << 31);
        assert_eq!(
            (further, more),
            (Cursor(OrderKey::new(101, 1 << 31).0), 5 << 31)
        );
    }

    #[test]
    fn late_arrivals_behind_the_cursor_are_charged_and_reported() {
        let mut state = state_at(Cursor(OrderKey::new(100, 1 << 31).0), T0);
        let mut arrivals = Histogram::new();
        assert_eq!(state.record_arrivals(&mut arrivals, 99, 3), 3);
        // Half of second 100 is behind the cursor: 2.5 of 5, the half carried.
        assert_eq!(state.record_arrivals(&mut arrivals, 100, 5), 2);
        assert_eq!(state.charge_late(100, 1), 1);
        assert_eq!(state.charge_late(101, 7), 0);
        assert_eq!(state.allowance, -6 * (1i64 << 32));
        assert_eq!(arrivals.total(), 8);
    }
}
