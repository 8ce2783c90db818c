//! The release cursor: how the coordinator decides who is admitted, knowing only counts.
//!
//! The coordinator holds a [`Histogram`] of arrivals per second and a [`ReleaseState`]. At each
//! sync it calls [`ReleaseState::advance`], a pure function of the config, the histogram, the
//! number of live passes and `now`:
//!
//! - a token bucket refills at `new_users_per_minute`, holding at most ten seconds' worth (and
//!   at least one citizen), so a long idle stretch cannot become a flood;
//! - the cursor moves forward over the histogram, spending one token per citizen it passes and
//!   passing empty seconds for free;
//! - it releases no more than `max_active − active` citizens, and with no budget at all it
//!   does not move (not even over seconds that look empty);
//! - it never passes `now − settle`, so arrivals whose counts are still on their way from an
//!   edge isolate are not skipped;
//! - it does not move at all while paused, closed, or before the scheduled opening, and time
//!   spent frozen earns no tokens.
//!
//! Tokens are kept in units of 2⁻³² citizens, the same unit as the sub-second part of an order
//! key, so releasing "0.3 of second X" is exact integer arithmetic.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::config::RoomConfig;
use crate::order::{Cursor, OrderKey, SUB_RANGE};
use crate::time::UnixMs;

/// A bucket never holds more tokens than this many seconds of the rate.
pub const BURST_S: u64 = 10;

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

/// The coordinator's release state for one room.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseState {
    /// Everyone before this is admitted.
    pub cursor: Cursor,
    /// Unspent admissions, in citizens × 2³²; negative after late arrivals were let through.
    pub allowance: i64,
    /// When the state was last advanced.
    pub updated_at: UnixMs,
}

impl ReleaseState {
    /// A fresh room: the cursor at `now − settle`, no tokens yet.
    pub fn start(now: UnixMs, settle_ms: u64) -> ReleaseState {
        ReleaseState {
            cursor: Cursor::at_time(now.minus_ms(settle_ms)),
            allowance: 0,
            updated_at: now,
        }
    }

    /// Moves the cursor as far as the policy allows at `now`. `active` is the number of passes
    /// still alive. A `now` at or before the last update changes nothing.
    pub fn advance(
        &self,
        config: &RoomConfig,
        arrivals: &Histogram,
        active: u64,
        now: UnixMs,
        settle_ms: u64,
    ) -> ReleaseState {
        if now <= self.updated_at {
            return *self;
        }
        let frozen = config.paused || config.closed || config.before_opening(now);
        let mut next = ReleaseState {
            updated_at: now,
            ..*self
        };
        if frozen {
            return next;
        }
        let rate = u128::from(config.new_users_per_minute);
        let accrued =
            rate * u128::from(now.since(self.updated_at)) * u128::from(SUB_RANGE) / 60_000;
        let allowance = i128::from(self.allowance)
            .saturating_add(i128::try_from(accrued).unwrap_or(i128::MAX))
            .min(burst(config));
        let room_left = u64::from(config.max_active).saturating_sub(active);
        let budget = u128::try_from(allowance.max(0))
            .unwrap_or(0)
            .min(u128::from(room_left) * u128::from(SUB_RANGE));
        let limit = Cursor::at_time(now.minus_ms(settle_ms));
        let (cursor, spent) = sweep(arrivals, self.cursor, limit, budget);
        next.cursor = cursor.max(self.cursor);
        let left = allowance.saturating_sub(i128::try_from(spent).unwrap_or(i128::MAX));
        next.allowance = i64::try_from(left).unwrap_or(if left < 0 { i64::MIN } else { i64::MAX });
        next
    }

    /// Counts `count` arrivals in `bucket` that reached the coordinator late. Those already
    /// behind the cursor were admitted without being paid for, so they are charged to the
    /// allowance now (it may go negative); the policy's rate holds on average.
    pub fn record_arrivals(&mut self, arrivals: &mut Histogram, bucket: u64, count: u64) {
        arrivals.add(bucket, count);
        let behind = match bucket.cmp(&self.cursor.bucket()) {
            std::cmp::Ordering::Less => u128::from(count) * u128::from(SUB_RANGE),
            std::cmp::Ordering::Equal => u128::from(count) * u128::from(self.cursor.sub()),
            std::cmp::Ordering::Greater => 0,
        };
        let charged =
            i128::from(self.allowance).saturating_sub(i128::try_from(behind).unwrap_or(0));
        self.allowance = i64::try_from(charged).unwrap_or(i64::MIN);
    }
}

/// Tokens the bucket may hold: `BURST_S` seconds of the rate, at least one citizen (none at a
/// rate of zero).
fn burst(config: &RoomConfig) -> i128 {
    if config.new_users_per_minute == 0 {
        // A rate of zero admits nobody, not even from an allowance left by an earlier rate.
        return 0;
    }
    let per_burst =
        (u128::from(config.new_users_per_minute) * u128::from(BURST_S) * u128::from(SUB_RANGE)
            / 60)
            .max(u128::from(SUB_RANGE));
    i128::try_from(per_burst).unwrap_or(i128::MAX)
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
        let sub = u32::try_from(start + step).unwrap_or(u32::MAX);
        return (Cursor(OrderKey::new(*bucket, sub).0), spent);
    }
    (limit, spent)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigPatch;

    const T0: u64 = 1_700_000_000_000;
    const SETTLE: u64 = 2_000;

    fn crowd(first_second: u64, seconds: u64, per_second: u64) -> Histogram {
        let mut h = Histogram::new();
        for s in 0..seconds {
            h.add(first_second + s, per_second);
        }
        h
    }

    #[test]
    fn releases_at_the_rate() {
        let config = RoomConfig {
            new_users_per_minute: 600,
            max_active: 1_000_000,
            ..RoomConfig::default()
        };
        let start = UnixMs(T0);
        let arrivals = crowd(start.secs() - 100, 100, 50); // 5,000 waiting
        let mut state = ReleaseState {
            cursor: Cursor::at_bucket(start.secs() - 100),
            allowance: 0,
            updated_at: start,
        };
        for i in 1..=60 {
            state = state.advance(&config, &arrivals, 0, UnixMs(T0 + i * 1000), SETTLE);
        }
        let released = arrivals.between(
            Cursor::at_bucket(start.secs() - 100),
            OrderKey(state.cursor.0),
        );
        assert!((599..=600).contains(&released), "released {released}");
    }

    #[test]
    fn nothing_moves_while_paused_or_before_opening_and_no_burst_after() {
        let arrivals = crowd(T0 / 1000 - 50, 50, 10);
        let state = ReleaseState {
            cursor: Cursor::at_bucket(T0 / 1000 - 50),
            allowance: 0,
            updated_at: UnixMs(T0),
        };
        let paused = RoomConfig {
            paused: true,
            ..RoomConfig::default()
        };
        let later = state.advance(&paused, &arrivals, 0, UnixMs(T0 + 3_600_000), SETTLE);
        assert_eq!(later.cursor, state.cursor);
        let resumed = later.advance(
            &RoomConfig::default(),
            &arrivals,
            0,
            UnixMs(T0 + 3_601_000),
            SETTLE,
        );
        // One second at 60/min releases one citizen, not an hour's worth.
        let released = arrivals.between(state.cursor, OrderKey(resumed.cursor.0));
        assert!(released <= 1, "released {released}");
        let scheduled = RoomConfig {
            opens_at: Some(UnixMs(T0 + 10_000)),
            ..RoomConfig::default()
        };
        assert_eq!(
            state
                .advance(&scheduled, &arrivals, 0, UnixMs(T0 + 9_999), SETTLE)
                .cursor,
            state.cursor
        );
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
        let state = ReleaseState {
            cursor: Cursor::at_time(UnixMs(T0 - SETTLE)),
            allowance: 0,
            updated_at: UnixMs(T0),
        };
        let frozen = state.advance(&scheduled, &arrivals, 0, opened_at, SETTLE);
        assert_eq!(
            frozen.cursor, state.cursor,
            "nothing moves before the opening"
        );
        let open = scheduled.apply(
            &ConfigPatch::from_json(r#"{"opens_at": null, "new_users_per_minute": 6000}"#).unwrap(),
            opened_at,
        );
        let after = frozen.advance(&open, &arrivals, 0, opened_at.plus_ms(10_000), SETTLE);
        // 10 s later the whole pre-queue is through, 50 minutes before the old opening time;
        // of the later arrivals only those settled (before now - settle) may follow.
        assert!(after.cursor.admits(OrderKey::lottery(since, u32::MAX)));
        assert!(!after
            .cursor
            .admits(OrderKey::fifo(opened_at.plus_ms(8_000), 0)));
    }

    #[test]
    fn max_active_caps_releases() {
        let config = RoomConfig {
            new_users_per_minute: 6000,
            max_active: 100,
            ..RoomConfig::default()
        };
        let arrivals = crowd(T0 / 1000 - 100, 100, 100);
        let state = ReleaseState {
            cursor: Cursor::at_bucket(T0 / 1000 - 100),
            allowance: 0,
            updated_at: UnixMs(T0),
        };
        let full = state.advance(&config, &arrivals, 100, UnixMs(T0 + 5_000), SETTLE);
        assert_eq!(full.cursor, state.cursor);
        let some = state.advance(&config, &arrivals, 95, UnixMs(T0 + 5_000), SETTLE);
        assert_eq!(arrivals.between(state.cursor, OrderKey(some.cursor.0)), 5);
    }

    #[test]
    fn an_empty_queue_lets_the_cursor_catch_up_to_now_minus_settle() {
        let state = ReleaseState::start(UnixMs(T0), SETTLE);
        let next = state.advance(
            &RoomConfig::default(),
            &Histogram::new(),
            0,
            UnixMs(T0 + 60_000),
            SETTLE,
        );
        assert_eq!(next.cursor, Cursor::at_time(UnixMs(T0 + 58_000)));
    }

    #[test]
    fn a_rate_of_zero_does_not_move_the_cursor_even_over_empty_seconds() {
        let stopped = RoomConfig {
            new_users_per_minute: 0,
            ..RoomConfig::default()
        };
        let state = ReleaseState::start(UnixMs(T0), SETTLE);
        let next = state.advance(&stopped, &Histogram::new(), 0, UnixMs(T0 + 60_000), SETTLE);
        assert_eq!(next.cursor, state.cursor);
    }

    #[test]
    fn late_arrivals_behind_the_cursor_are_charged() {
        let mut state = ReleaseState {
            cursor: Cursor::at_bucket(100),
            allowance: 0,
            updated_at: UnixMs(T0),
        };
        let mut arrivals = Histogram::new();
        state.record_arrivals(&mut arrivals, 99, 3);
        state.record_arrivals(&mut arrivals, 100, 5);
        assert_eq!(state.allowance, -3 * (1i64 << 32));
        assert_eq!(arrivals.total(), 8);
    }
}
