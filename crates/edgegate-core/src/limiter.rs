//! The let-through limiter: the hard bound on what reaches the origin.
//!
//! Each edge isolate holds one [`Limiter`]. Every *let-through* — the first pass minted for a
//! ticket, a citizen actually sent to the origin — must be granted by it. The release cursor
//! decides who is *eligible* and in what order, but it counts arrivals in proportion and so is
//! right only on average; the limiter is what makes the rate a promise.
//!
//! ## The promise
//! It is a token bucket measured in exact integers, with a cap on every second. Tokens accrue
//! at the configured rate and the bucket holds at most `1 + burst` citizens plus [`SLACK_MS`]
//! of the rate; and a grant is refused while the last 1000 ms already hold
//! [`Limiter::window_cap`] grants. So in any window `[t, t + 1000 ms)` of the limiter's clock
//! the grants number at most
//!
//! > `⌊r/60⌋ + 1 + burst`
//!
//! where `r` is the highest rate (citizens per minute) and `burst` the highest burst configured
//! at any time within the window: each grant found fewer than the cap in force at it in the
//! second before it. Over longer spans the tokens bound it: the rate, plus what was saved.
//! The bucket saves half a second of the rate so that a citizen who comes back a little after
//! its token matured still finds it; the cap, not the bucket, bounds the second.
//!
//! - A fresh limiter holds nothing, and configuring can only keep or remove tokens, never add
//!   them. A reconfigured limiter has no saved burst to spend: a looser configuration (a
//!   higher rate or burst) keeps at most one citizen's worth, so in the second after it at
//!   most `1 + r/60` go through.
//! - Any stricter configuration — a lower rate, a lower burst, or a rate of zero (which is how a
//!   pause, a closing or the time before an opening reach it, see [`Limiter::follow`]) —
//!   forfeits every saved token. Nothing earned under an old config survives.
//! - The limiter's clock is the latest `now` it has been given. An earlier `now` (clock skew)
//!   earns nothing and never panics; the window bound holds on the limiter's clock.
//!
//! ## Turns
//! Who gets a token is decided by [`Limiter::take_turn`], which keeps a short line of the
//! eligible citizens it had to refuse, by order key. A token is granted only if one is left
//! after one for each citizen in the line from an *earlier arrival second*; a refused citizen
//! is told when to come back (`retry_at`: when its turn should come, counting everyone ahead
//! of it by key so that the citizens of one second come back one token apart, but at most
//! [`RETRY_MAX_MS`] away) and keeps its place while it comes back within [`LINE_HOLD_MS`] of
//! that time. So whoever polls first, nobody from a later second takes a token that a waiting
//! citizen from an earlier second needs: FIFO between seconds, as the release cursor is.
//! Inside one second order keys are a uniform lottery, and holding tokens for a peer who comes
//! back late would only waste them: with a bucket of a tenth of a second of slack, a strict
//! order by key lost a fifth of the rate in the simulations (`tests/admission.rs`), and two
//! thirds when seconds were thin, to citizens returning a few hundred milliseconds late.
//! Without the line (a bare bucket and a retry hint) about 40 % of consecutive let-throughs
//! went out of second order. The line only ever refuses; it never grants, so it cannot weaken
//! the bound above.
//!
//! Rates are in thousandths of a citizen per minute, so an isolate's share of a small rate
//! (for example a tenth of 6 per minute) keeps its precision.

use std::collections::{BTreeMap, VecDeque};

use crate::config::RoomConfig;
use crate::order::OrderKey;
use crate::time::UnixMs;

/// One citizen in the bucket's units: a rate of one thousandth of a citizen per minute accrues
/// one unit per millisecond, and a minute has 60,000 of them.
pub const UNITS_PER_CITIZEN: u64 = 60_000_000;
/// The bucket holds, beyond `1 + burst` citizens, this many milliseconds of the rate, so that
/// a grant that falls late (a citizen back after its token matured: a client's timer, a slow
/// round trip) keeps its token instead of losing it to a full bucket. With a tenth of a second
/// the limiters lost, to a full bucket while citizens waited, 44 % of the rate on the simulated
/// small night and 15 % on Korea's (`edgegate-sim`, `lost_let_throughs`); with half a second,
/// 17 % and 4 %. [`Limiter::window_cap`] keeps what a full bucket can spend in one second.
pub const SLACK_MS: u64 = 500;
/// How long after its `retry_at` a refused citizen keeps its place in the line, in
/// milliseconds: covers the client's timer and a slow round trip. A citizen who does not come
/// back within it has left the line, and the tokens held for it go to the next.
pub const LINE_HOLD_MS: u64 = 2_000;
/// A refused citizen is told to come back no later than this, in milliseconds, even when its
/// turn by rank is further off. A rank is only an estimate — those ahead come back late, leave,
/// or are told again — and a token that matures with nobody there to take it is lost once the
/// bucket is full. Told their exact turn, patient citizens at 2 per second got 93 % of the
/// rate; told at most a second, 97 %; at 10 per second and above, 99 % or more (measured when
/// the bucket saved a tenth of a second). It costs at most about one poll a second per citizen in the line, which the
/// cursor keeps to about ten seconds of the rate (`release::UNCLAIMED_CAP_S`).
pub const RETRY_MAX_MS: u64 = 1_000;
/// The line holds at most this many citizens, the earliest keys. A later key that finds it
/// full is refused without a place, and takes one when it comes back and there is room.
pub const LINE_MAX: usize = 4_096;
/// Lapsed places are removed from the line at most this often, in milliseconds (they are
/// skipped when counting in between), so a poll costs a walk of the places ahead of it, not of
/// the whole line.
const PURGE_EVERY_MS: u64 = 250;

/// The whole rate, as a share in millionths.
pub const PPM: u32 = 1_000_000;

/// The answer to one citizen asking to go through ([`Limiter::take_turn`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Turn {
    /// A token was taken: let this citizen through.
    Through,
    /// Not yet: come back at `retry_at` — when a token should be there for this citizen if
    /// those ahead in the line take theirs, or in [`RETRY_MAX_MS`] if sooner. The place is kept
    /// until `retry_at` plus [`LINE_HOLD_MS`].
    Wait { retry_at: UnixMs },
    /// The rate is zero (or the room frozen): nobody goes through, and there is no time to
    /// give.
    Shut,
}

/// One isolate's let-through limiter. See the module documentation.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Limiter {
    /// Thousandths of a citizen per minute; `0` grants nothing.
    rate_milli_per_minute: u64,
    /// Citizens beyond the steady rate the bucket may hold.
    burst: u32,
    /// Saved tokens, in [`UNITS_PER_CITIZEN`] per citizen; at most [`Limiter::capacity`].
    tokens: u64,
    /// The latest `now` seen.
    clock: UnixMs,
    /// The room's rate and burst as [`Limiter::follow`] last applied them, unfrozen: a change of
    /// this isolate's share alone is not a change of configuration.
    followed: Option<(u32, u32)>,
    /// Refused eligible citizens by order key → until when their place is held.
    line: BTreeMap<OrderKey, UnixMs>,
    /// When lapsed places were last removed from the line.
    purged_at: UnixMs,
    /// When each let-through of the last second was granted, oldest first: no more than
    /// [`Limiter::window_cap`] in any second.
    granted: VecDeque<UnixMs>,
    /// Tokens that accrued while someone held a place in the line but found the bucket full,
    /// in [`UNITS_PER_CITIZEN`] per citizen: let-throughs the rate allowed and nobody took.
    lost: u64,
    /// Where every token earned went ([`Spent`]).
    spent: Spent,
}

/// Where the tokens a limiter earned went, in [`UNITS_PER_CITIZEN`] per citizen: a figure for
/// the simulator, which adds them up over every isolate to say where the rate went. Always
/// `earned = granted + lost_waiting + lost_idle + forfeited + the tokens still saved`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Spent {
    /// Accrued at the rate in force (before the bucket's cap).
    pub earned: u64,
    /// Taken by let-throughs.
    pub granted: u64,
    /// Accrued into a full bucket while someone held a place in the line.
    pub lost_waiting: u64,
    /// Accrued into a full bucket while nobody waited in the line: a share this isolate had
    /// nobody to spend on.
    pub lost_idle: u64,
    /// Taken away by a configuration or a share that left less room than was saved.
    pub forfeited: u64,
}

impl Spent {
    /// Both tallies added, field by field (over isolates).
    pub fn plus(self, other: Spent) -> Spent {
        Spent {
            earned: self.earned.saturating_add(other.earned),
            granted: self.granted.saturating_add(other.granted),
            lost_waiting: self.lost_waiting.saturating_add(other.lost_waiting),
            lost_idle: self.lost_idle.saturating_add(other.lost_idle),
            forfeited: self.forfeited.saturating_add(other.forfeited),
        }
    }

    /// What was added since `earlier`, a tally of the same limiters taken before.
    pub fn since(self, earlier: Spent) -> Spent {
        Spent {
            earned: self.earned.saturating_sub(earlier.earned),
            granted: self.granted.saturating_sub(earlier.granted),
            lost_waiting: self.lost_waiting.saturating_sub(earlier.lost_waiting),
            lost_idle: self.lost_idle.saturating_sub(earlier.lost_idle),
            forfeited: self.forfeited.saturating_sub(earlier.forfeited),
        }
    }
}

impl Limiter {
    /// A limiter with a rate of zero and nothing saved.
    pub fn new() -> Limiter {
        Limiter::default()
    }

    /// Sets the rate (thousandths of a citizen per minute) and the burst (whole citizens) from
    /// `now` on. Time before `now` accrues at the old rate first. Setting the same values again
    /// only moves the clock, so this can be called at every sync. A stricter setting (a lower
    /// rate or burst, or a rate of zero) forfeits every saved token. A looser one keeps at most
    /// one citizen's worth — the progress towards the next let-through, so that a share that
    /// creeps up sync after sync loses nothing — and never a saved burst. A rate of zero also
    /// empties the line.
    pub fn configure(&mut self, rate_milli_per_minute: u64, burst: u32, now: UnixMs) {
        self.tick(now);
        let stricter = rate_milli_per_minute < self.rate_milli_per_minute
            || burst < self.burst
            || rate_milli_per_minute == 0;
        let changed = rate_milli_per_minute != self.rate_milli_per_minute || burst != self.burst;
        self.rate_milli_per_minute = rate_milli_per_minute;
        self.burst = burst;
        let saved = self.tokens;
        if stricter {
            self.tokens = 0;
        } else if changed {
            self.tokens = self.tokens.min(UNITS_PER_CITIZEN);
        }
        if rate_milli_per_minute == 0 {
            self.line.clear();
        }
        self.tokens = self.tokens.min(self.capacity());
        self.spent.forfeited = self
            .spent
            .forfeited
            .saturating_add(saved.saturating_sub(self.tokens));
    }

    /// The isolate's share ran out with no new one (its lease, `sync::LEASE_MS`): nothing
    /// more goes through here, and nothing saved survives, until a sync brings a share again.
    pub fn lapse(&mut self, now: UnixMs) {
        self.followed = None;
        self.configure(0, 0, now);
    }

    /// Configures this limiter for an isolate holding `share_ppm` millionths of the room's
    /// rate and burst (1,000,000 when it is the only one): a rate of zero while the room is
    /// frozen at `now` (paused, closed, before its opening), so time frozen earns nothing and
    /// anything saved is forfeit; otherwise `new_users_per_minute × share` thousandths per
    /// minute and `⌊effective_burst × share⌋` burst. Shares above the whole count as the whole.
    /// Millionths, because thousands of isolates share one rate at internet scale.
    pub fn follow(&mut self, config: &RoomConfig, share_ppm: u32, now: UnixMs) {
        let share = u64::from(share_ppm.min(PPM));
        if config.frozen(now) {
            self.followed = None;
            self.configure(0, 0, now);
            return;
        }
        let rate = u64::from(config.new_users_per_minute) * share / 1_000;
        let burst = u64::from(config.effective_burst()) * share / u64::from(PPM);
        let burst = u32::try_from(burst).unwrap_or(u32::MAX);
        let room = (config.new_users_per_minute, config.effective_burst());
        if self.followed.replace(room) == Some(room) {
            self.reshare(rate, burst, now);
        } else {
            self.configure(rate, burst, now);
        }
    }

    /// The same room config at another share: the isolate's part of the rate moves with demand
    /// at almost every sync, and forfeiting the saved tokens at each step down starved the
    /// limiters (about half the rate let through in the simulated Korea night). Saved tokens are
    /// kept up to the new capacity, so the window bound (at the highest rate in the window)
    /// still holds.
    fn reshare(&mut self, rate_milli_per_minute: u64, burst: u32, now: UnixMs) {
        self.tick(now);
        self.rate_milli_per_minute = rate_milli_per_minute;
        self.burst = burst;
        let saved = self.tokens;
        self.tokens = self.tokens.min(self.capacity());
        self.spent.forfeited = self
            .spent
            .forfeited
            .saturating_add(saved.saturating_sub(self.tokens));
        if rate_milli_per_minute == 0 {
            self.line.clear();
        }
    }

    /// The most tokens the bucket holds: `1 + burst` citizens plus [`SLACK_MS`] of the rate,
    /// in [`UNITS_PER_CITIZEN`] per citizen.
    pub fn capacity(&self) -> u64 {
        u64::from(self.burst)
            .saturating_add(1)
            .saturating_mul(UNITS_PER_CITIZEN)
            .saturating_add(self.rate_milli_per_minute.saturating_mul(SLACK_MS))
    }

    /// The rate in force, in thousandths of a citizen per minute.
    pub fn rate_milli_per_minute(&self) -> u64 {
        self.rate_milli_per_minute
    }

    /// The burst in force, in citizens.
    pub fn burst(&self) -> u32 {
        self.burst
    }

    /// The arrival second of each citizen waiting in the line at `now` (places still held),
    /// in key order.
    pub fn line_seconds(&self, now: UnixMs) -> impl Iterator<Item = u64> + '_ {
        let now = now.max(self.clock);
        self.line
            .iter()
            .filter(move |(_, hold)| **hold >= now)
            .map(|(key, _)| key.bucket())
    }

    /// Citizens waiting in the line at `now` (places still held).
    pub fn waiting(&self, now: UnixMs) -> usize {
        let now = now.max(self.clock);
        self.line.values().filter(|hold| **hold >= now).count()
    }

    /// Takes a token for a citizen with no place in the line: granted only if a token is left
    /// over after one for everyone waiting in it. `false` at a rate of zero.
    pub fn try_take(&mut self, now: UnixMs) -> bool {
        self.tick(now);
        if self.rate_milli_per_minute == 0 {
            return false;
        }
        let waiting = u64::try_from(self.waiting(now)).unwrap_or(u64::MAX);
        self.take_if_left(waiting)
    }

    /// Asks for a token for the eligible citizen whose order key is `key`, at `now`. Granted
    /// ([`Turn::Through`]) if a token is left after one for each citizen in the line from an
    /// earlier second; otherwise the citizen takes (or keeps) its place in the line and is told
    /// when to come back ([`Turn::Wait`]). [`Turn::Shut`] at a rate of zero. Only eligible
    /// citizens (the cursor has passed their key, the room is open) should ask: a place in the
    /// line holds tokens back from later seconds.
    pub fn take_turn(&mut self, key: OrderKey, now: UnixMs) -> Turn {
        self.turn(key, OrderKey::new(key.bucket(), 0), now)
    }

    /// [`take_turn`](Self::take_turn) for a citizen whose place inside its second was drawn
    /// (a pre-queue's draw, `draw`): tokens are held for every citizen in the line with an
    /// earlier key, not only an earlier second, so the line goes through in the drawn order.
    /// A no-show holds a token only while its place in the line is held.
    pub fn take_turn_drawn(&mut self, key: OrderKey, now: UnixMs) -> Turn {
        self.turn(key, key, now)
    }

    /// One turn: a token goes through if one is left after one for each citizen in the line
    /// before `held_to`.
    fn turn(&mut self, key: OrderKey, held_to: OrderKey, now: UnixMs) -> Turn {
        self.tick(now);
        if self.rate_milli_per_minute == 0 {
            return Turn::Shut;
        }
        let clock = self.clock;
        if clock >= self.purged_at.plus_ms(PURGE_EVERY_MS) {
            self.line.retain(|_, hold| *hold >= clock);
            self.purged_at = clock;
        }
        // Tokens are held for everyone waiting from an earlier second; within a second the
        // order is a lottery anyway (order keys are uniform inside it), so a peer who comes
        // back late never holds a token back from one who is here.
        let held = |to: OrderKey| {
            let n = self
                .line
                .range(..to)
                .filter(|(_, hold)| **hold >= clock)
                .count();
            u64::try_from(n).unwrap_or(u64::MAX)
        };
        let (earlier_seconds, earlier_keys) = (held(held_to), held(key));
        if self.take_if_left(earlier_seconds) {
            self.line.remove(&key);
            return Turn::Through;
        }
        // The time to come back counts everyone ahead by key, so peers of one second are told
        // one token apart instead of all at once.
        let needed = earlier_keys
            .saturating_add(1)
            .saturating_mul(UNITS_PER_CITIZEN)
            .saturating_sub(self.tokens);
        let wait = needed
            .div_ceil(self.rate_milli_per_minute)
            .max(self.window_wait_ms(earlier_keys))
            .max(1);
        let retry_at = clock.plus_ms(wait.min(RETRY_MAX_MS));
        let hold = retry_at.plus_ms(LINE_HOLD_MS);
        if self.line.len() >= LINE_MAX {
            self.line.retain(|_, hold| *hold >= clock);
        }
        if self.line.len() < LINE_MAX || self.line.contains_key(&key) {
            self.line.insert(key, hold);
        } else if let Some((&last, _)) = self.line.last_key_value() {
            if key < last {
                self.line.remove(&last);
                self.line.insert(key, hold);
            }
        }
        Turn::Wait { retry_at }
    }

    /// When a token could next be taken by a citizen at the head of the line: `now` (or the
    /// limiter's clock, if later) when one is there, else when one will have accrued. `None` at
    /// a rate of zero.
    pub fn next_at(&self, now: UnixMs) -> Option<UnixMs> {
        if self.rate_milli_per_minute == 0 {
            return None;
        }
        let clock = now.max(self.clock);
        let accrued = u128::from(self.rate_milli_per_minute) * u128::from(clock.since(self.clock));
        let tokens = u128::from(self.tokens)
            .saturating_add(accrued)
            .min(u128::from(self.capacity()));
        let needed = u128::from(UNITS_PER_CITIZEN).saturating_sub(tokens);
        let wait = needed.div_ceil(u128::from(self.rate_milli_per_minute));
        let token_at = clock.plus_ms(u64::try_from(wait).unwrap_or(u64::MAX));
        // And when the last second has room for one more.
        let recent: Vec<UnixMs> = self
            .granted
            .iter()
            .copied()
            .filter(|t| clock.since(*t) < 1_000)
            .collect();
        let window_at = recent
            .len()
            .checked_sub(self.window_cap())
            .and_then(|i| recent.get(i))
            .map_or(clock, |t| t.plus_ms(1_000));
        Some(token_at.max(window_at))
    }

    /// Let-throughs lost so far: tokens that found the bucket full while the line held
    /// someone (places that lapsed but were not yet purged count too, so it is an upper
    /// bound). A figure for the simulator and the benchmarks.
    pub fn lost_citizens(&self) -> u64 {
        self.lost / UNITS_PER_CITIZEN
    }

    /// Where the tokens earned so far went (see [`Spent`]).
    pub fn spent(&self) -> Spent {
        self.spent
    }

    /// The tokens saved now, in [`UNITS_PER_CITIZEN`] per citizen (as of the limiter's clock).
    pub fn saved(&self) -> u64 {
        self.tokens
    }

    /// The most let-throughs in any second: the rate's whole citizens, plus one and the burst.
    pub fn window_cap(&self) -> usize {
        let per_second = self.rate_milli_per_minute / (UNITS_PER_CITIZEN / 1_000);
        usize::try_from(
            per_second
                .saturating_add(1)
                .saturating_add(u64::from(self.burst)),
        )
        .unwrap_or(usize::MAX)
    }

    /// Forgets grants that left the last second.
    fn slide(&mut self) {
        let clock = self.clock;
        while self
            .granted
            .front()
            .is_some_and(|t| clock.since(*t) >= 1_000)
        {
            self.granted.pop_front();
        }
    }

    /// How long until the last second has room for one let-through beyond `ahead` more, in
    /// milliseconds: `0` if it has room now.
    fn window_wait_ms(&mut self, ahead: u64) -> u64 {
        self.slide();
        let ahead = usize::try_from(ahead).unwrap_or(usize::MAX);
        let must_leave = self
            .granted
            .len()
            .saturating_add(ahead)
            .saturating_add(1)
            .saturating_sub(self.window_cap());
        match must_leave.checked_sub(1) {
            None => 0,
            Some(i) => self
                .granted
                .get(i)
                .map_or(1_000, |t| t.plus_ms(1_000).since(self.clock)),
        }
    }

    /// Takes one token if more than `reserved` citizens' worth are saved and the last second
    /// has room for more than `reserved` let-throughs: those waiting ahead are owed both.
    fn take_if_left(&mut self, reserved: u64) -> bool {
        let needed = reserved.saturating_add(1).saturating_mul(UNITS_PER_CITIZEN);
        self.slide();
        let room = self.window_cap().saturating_sub(self.granted.len());
        let room = u64::try_from(room).unwrap_or(u64::MAX);
        if self.tokens >= needed && room > reserved {
            self.tokens -= UNITS_PER_CITIZEN;
            self.spent.granted = self.spent.granted.saturating_add(UNITS_PER_CITIZEN);
            self.granted.push_back(self.clock);
            return true;
        }
        false
    }

    /// Accrues from the clock to `now`; an earlier `now` changes nothing.
    fn tick(&mut self, now: UnixMs) {
        if now <= self.clock {
            return;
        }
        let accrued = u128::from(self.rate_milli_per_minute) * u128::from(now.since(self.clock));
        let full = u128::from(self.tokens).saturating_add(accrued);
        let tokens = full.min(u128::from(self.capacity()));
        let lost = u64::try_from(full - tokens).unwrap_or(u64::MAX);
        let spent = &mut self.spent;
        spent.earned = spent
            .earned
            .saturating_add(u64::try_from(accrued).unwrap_or(u64::MAX));
        if self.line.is_empty() {
            spent.lost_idle = spent.lost_idle.saturating_add(lost);
        } else {
            self.lost = self.lost.saturating_add(lost);
            spent.lost_waiting = spent.lost_waiting.saturating_add(lost);
        }
        self.tokens = u64::try_from(tokens).unwrap_or(u64::MAX);
        self.clock = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000;

    fn at(ms: u64) -> UnixMs {
        UnixMs(T0 + ms)
    }

    /// 600 citizens per minute for one isolate: ten a second.
    const TEN_A_SECOND: u64 = 600 * 1000;

    fn grants(limiter: &mut Limiter, from_ms: u64, to_ms: u64, every_ms: u64) -> u64 {
        let mut n = 0;
        let mut t = from_ms;
        while t < to_ms {
            while limiter.try_take(at(t)) {
                n += 1;
            }
            t += every_ms;
        }
        n
    }

    #[test]
    fn a_fresh_limiter_has_nothing_saved() {
        let mut limiter = Limiter::new();
        limiter.configure(TEN_A_SECOND, 0, at(0));
        assert!(!limiter.try_take(at(0)));
        assert_eq!(limiter.next_at(at(0)), Some(at(100)));
        assert!(limiter.try_take(at(100)));
        assert!(!limiter.try_take(at(100)));
    }

    /// The most grants in any 1000 ms of `times` (sorted).
    fn worst_second(times: &[u64]) -> usize {
        (0..times.len())
            .map(|i| times[i..].partition_point(|t| *t < times[i] + 1_000))
            .max()
            .unwrap_or(0)
    }

    #[test]
    fn ten_a_second_grants_at_most_eleven_in_any_second() {
        // ⌊r/60⌋ + 1 = 11; the bucket holds 1 + 0.5 s of the rate = 6 citizens.
        let mut limiter = Limiter::new();
        limiter.configure(TEN_A_SECOND, 0, at(0));
        assert_eq!(limiter.window_cap(), 11);
        // Idle for a minute, then everyone at once, every millisecond: a full bucket at once,
        // then the accrual, never more than 11 in any second.
        let mut times = Vec::new();
        for t in 60_000..70_000 {
            while limiter.try_take(at(t)) {
                times.push(t);
            }
        }
        assert_eq!(times.iter().filter(|t| **t == 60_000).count(), 6);
        assert_eq!(worst_second(&times), 11);
        // Ten seconds: the rate, and what was saved, no more.
        assert_eq!(times.len(), 100 + 6 - 1);
    }

    #[test]
    fn a_citizen_back_late_still_finds_the_token_that_matured_for_it() {
        let mut limiter = Limiter::new();
        limiter.configure(TEN_A_SECOND, 0, at(0));
        let key = OrderKey::new(100, 0);
        // The bucket is full at 6; six others take them, and the seventh is told to come back.
        for i in 1..=6 {
            assert_eq!(
                limiter.take_turn(OrderKey::new(99, i), at(60_000)),
                Turn::Through
            );
        }
        let Turn::Wait { retry_at } = limiter.take_turn(key, at(60_000)) else {
            panic!("a token was left");
        };
        assert_eq!(retry_at, at(60_100));
        // It comes back 450 ms late: the token waited for it, and the others' since.
        assert_eq!(limiter.take_turn(key, at(60_550)), Turn::Through);
        assert!(limiter.try_take(at(60_550)));
        assert_eq!(limiter.lost_citizens(), 0);
    }

    #[test]
    fn a_lower_rate_a_lower_burst_or_a_pause_forfeits_what_was_saved() {
        let mut limiter = Limiter::new();
        limiter.configure(TEN_A_SECOND, 10, at(0));
        limiter.configure(TEN_A_SECOND, 10, at(60_000)); // same config: only the clock moves
        assert!(limiter.try_take(at(60_000)));
        limiter.configure(TEN_A_SECOND / 2, 10, at(60_000));
        assert!(!limiter.try_take(at(60_000)));
        limiter.configure(TEN_A_SECOND / 2, 10, at(120_000));
        limiter.configure(TEN_A_SECOND / 2, 9, at(120_000));
        assert!(!limiter.try_take(at(120_000)));
        limiter.configure(TEN_A_SECOND, 10, at(180_000));
        let paused = RoomConfig {
            new_users_per_minute: 600,
            burst: 10,
            paused: true,
            ..RoomConfig::default()
        };
        limiter.follow(&paused, PPM, at(180_000));
        assert!(!limiter.try_take(at(240_000)));
        assert_eq!(limiter.next_at(at(240_000)), None);
        // Reopened after an hour: nothing saved from before or during the pause.
        limiter.follow(
            &RoomConfig {
                paused: false,
                ..paused
            },
            PPM,
            at(3_600_000),
        );
        assert!(!limiter.try_take(at(3_600_000)));
        assert_eq!(limiter.next_at(at(3_600_000)), Some(at(3_600_100)));
    }

    #[test]
    fn a_higher_rate_keeps_one_citizens_worth_and_no_burst() {
        let mut limiter = Limiter::new();
        limiter.configure(TEN_A_SECOND, 5, at(0));
        // Idle: the bucket is full, 1 + 5 + 0.1 s of the rate = 7 citizens.
        limiter.configure(TEN_A_SECOND, 5, at(10_000));
        limiter.configure(TEN_A_SECOND * 10, 10, at(10_000));
        // Only one survives the change, and the higher burst is not a gift.
        assert_eq!(grants(&mut limiter, 10_000, 10_001, 1), 1);
        // Progress towards the next one is kept across a small raise.
        limiter.configure(TEN_A_SECOND, 0, at(20_000));
        assert!(!limiter.try_take(at(20_050)));
        limiter.configure(TEN_A_SECOND + 1, 0, at(20_050));
        assert!(limiter.try_take(at(20_100)));
    }

    #[test]
    fn a_new_share_keeps_saved_tokens_but_a_lower_room_rate_forfeits_them() {
        let config = RoomConfig {
            new_users_per_minute: 600,
            ..RoomConfig::default()
        };
        let mut limiter = Limiter::new();
        limiter.follow(&config, PPM / 2, at(0));
        // Five a second at half the share; after two idle seconds the bucket is full.
        limiter.follow(&config, PPM / 2, at(2_000));
        let full = limiter.tokens;
        assert!(full >= UNITS_PER_CITIZEN, "{full}");
        // The share steps down (the room gave some to another isolate): tokens are kept, up to
        // the smaller bucket.
        limiter.follow(&config, PPM / 4, at(2_000));
        assert_eq!(limiter.tokens, full.min(limiter.capacity()));
        assert!(limiter.try_take(at(2_000)));
        // The operator lowers the room's rate: everything saved is forfeit.
        limiter.follow(&config, PPM / 4, at(4_000));
        let lower = RoomConfig {
            new_users_per_minute: 300,
            ..config
        };
        limiter.follow(&lower, PPM / 4, at(4_000));
        assert_eq!(limiter.tokens, 0);
    }

    #[test]
    fn follow_takes_the_share_of_rate_and_burst() {
        let config = RoomConfig {
            new_users_per_minute: 6,
            burst: 0,
            ..RoomConfig::default()
        };
        let mut limiter = Limiter::new();
        limiter.follow(&config, 100_000, at(0));
        // A tenth of 6 per minute: one citizen every 100 s, exactly.
        assert_eq!(limiter.rate_milli_per_minute(), 600);
        assert_eq!(limiter.next_at(at(0)), Some(at(100_000)));
        let bursty = RoomConfig {
            new_users_per_minute: 6000,
            burst: 100,
            ..RoomConfig::default()
        };
        limiter.follow(&bursty, 250_000, at(0));
        assert_eq!(limiter.burst(), 25);
        let scheduled = RoomConfig {
            opens_at: Some(at(5_000)),
            ..bursty
        };
        limiter.follow(&scheduled, PPM, at(4_999));
        assert_eq!(limiter.rate_milli_per_minute(), 0);
        limiter.follow(&scheduled, PPM, at(5_000));
        assert_eq!(limiter.rate_milli_per_minute(), 6_000_000);
    }

    #[test]
    fn every_token_earned_is_accounted_for() {
        let mut limiter = Limiter::new();
        limiter.configure(TEN_A_SECOND, 0, at(0));
        // Idle: tokens overflow with nobody in the line.
        assert!(limiter.try_take(at(5_000)));
        // Someone waits (and does not come back) while the bucket overflows.
        while limiter.try_take(at(5_000)) {}
        let waiting = limiter.take_turn(OrderKey::new(99, 0), at(5_000));
        assert!(matches!(waiting, Turn::Wait { .. }));
        limiter.take_turn(OrderKey::new(100, 0), at(9_000));
        // A smaller share, then a stricter config.
        limiter.reshare(TEN_A_SECOND / 4, 0, at(9_500));
        limiter.configure(TEN_A_SECOND / 8, 0, at(10_000));
        let s = limiter.spent();
        assert_eq!(
            s.earned,
            s.granted + s.lost_waiting + s.lost_idle + s.forfeited + limiter.saved()
        );
        assert!(
            s.lost_idle > 0 && s.lost_waiting > 0 && s.forfeited > 0,
            "{s:?}"
        );
        assert_eq!(s.lost_waiting, limiter.lost);
    }

    #[test]
    fn a_clock_that_goes_back_earns_nothing() {
        let mut limiter = Limiter::new();
        limiter.configure(TEN_A_SECOND, 0, at(10_000));
        assert!(!limiter.try_take(at(0)));
        assert!(!limiter.try_take(at(10_050)));
        assert!(limiter.try_take(at(10_100)));
        // Back and forth again: no token appears for the time already counted.
        assert!(!limiter.try_take(at(5_000)));
        assert!(!limiter.try_take(at(10_100)));
        assert!(!limiter.try_take(at(10_150)));
        assert_eq!(limiter.next_at(at(0)), Some(at(10_200)));
    }

    #[test]
    fn extreme_values_do_not_overflow() {
        let mut limiter = Limiter::new();
        limiter.configure(u64::MAX, u32::MAX, UnixMs(0));
        assert!(limiter.try_take(UnixMs(u64::MAX)));
        assert_eq!(limiter.next_at(UnixMs(u64::MAX)), Some(UnixMs(u64::MAX)));
        let mut slow = Limiter::new();
        slow.configure(1, 0, UnixMs(0));
        assert_eq!(slow.next_at(UnixMs(0)), Some(UnixMs(UNITS_PER_CITIZEN)));
    }

    #[test]
    fn the_line_goes_in_key_order_whoever_asks_first() {
        let mut limiter = Limiter::new();
        limiter.configure(TEN_A_SECOND, 0, at(0));
        let (early, late) = (OrderKey::new(100, 5), OrderKey::new(101, 5));
        // The early key asks first and must wait; its turn comes at 100 ms.
        assert_eq!(
            limiter.take_turn(early, at(0)),
            Turn::Wait { retry_at: at(100) }
        );
        // The later key is behind it: told to come back after the early key's token.
        assert_eq!(
            limiter.take_turn(late, at(50)),
            Turn::Wait { retry_at: at(200) }
        );
        // At 150 ms a token is there, but it is the early key's.
        assert_eq!(
            limiter.take_turn(late, at(150)),
            Turn::Wait { retry_at: at(200) }
        );
        assert_eq!(limiter.take_turn(early, at(160)), Turn::Through);
        assert_eq!(limiter.take_turn(late, at(200)), Turn::Through);
        assert_eq!(limiter.waiting(at(200)), 0);
        // A key that arrives with no one ahead of it in the line goes at once if a token is
        // there, even before later keys already waiting.
        let later = OrderKey::new(102, 0);
        assert!(matches!(
            limiter.take_turn(later, at(250)),
            Turn::Wait { .. }
        ));
        assert_eq!(
            limiter.take_turn(OrderKey::new(99, 0), at(300)),
            Turn::Through
        );
    }

    #[test]
    fn peers_of_one_second_hold_nothing_for_each_other() {
        let mut limiter = Limiter::new();
        limiter.configure(TEN_A_SECOND, 0, at(0));
        let (first, second, later) = (
            OrderKey::new(100, 1),
            OrderKey::new(100, 2),
            OrderKey::new(101, 0),
        );
        assert_eq!(
            limiter.take_turn(first, at(0)),
            Turn::Wait { retry_at: at(100) }
        );
        // Its peer is told to come one token later...
        assert_eq!(
            limiter.take_turn(second, at(0)),
            Turn::Wait { retry_at: at(200) }
        );
        // ...but if it comes first it takes the token: nothing is held within a second.
        assert_eq!(limiter.take_turn(second, at(100)), Turn::Through);
        // A later second still waits for the first one.
        assert!(matches!(
            limiter.take_turn(later, at(190)),
            Turn::Wait { .. }
        ));
        assert_eq!(limiter.take_turn(first, at(200)), Turn::Through);
    }

    #[test]
    fn the_line_gives_the_seconds_of_the_places_still_held_in_key_order() {
        // One citizen every 100 s: everyone who asks waits.
        let mut limiter = Limiter::new();
        limiter.configure(600, 0, at(0));
        for (second, sub, ms) in [(9, 1, 0), (8, 5, 0), (8, 2, 0), (7, 0, 0), (6, 0, 2_000)] {
            assert!(matches!(
                limiter.take_turn(OrderKey::new(second, sub), at(ms)),
                Turn::Wait { .. }
            ));
        }
        // At 2,000 ms every place is held: in key order, earliest second first.
        let seconds: Vec<u64> = limiter.line_seconds(at(2_000)).collect();
        assert_eq!(seconds, vec![6, 7, 8, 8, 9]);
        // Later, the first four lapsed (told to come back within a second, held two more).
        let seconds: Vec<u64> = limiter.line_seconds(at(4_500)).collect();
        assert_eq!(seconds, vec![6]);
    }

    #[test]
    fn a_place_in_the_line_lapses_when_its_holder_does_not_come_back() {
        // One a second: the bucket holds 1.5 citizens.
        let mut limiter = Limiter::new();
        limiter.configure(60_000, 0, at(0));
        let (gone, next) = (OrderKey::new(100, 0), OrderKey::new(101, 0));
        assert_eq!(
            limiter.take_turn(gone, at(0)),
            Turn::Wait {
                retry_at: at(1_000)
            }
        );
        // Held until 1,000 + LINE_HOLD_MS: until then the token waits for it.
        assert!(matches!(
            limiter.take_turn(next, at(1_000 + LINE_HOLD_MS)),
            Turn::Wait { .. }
        ));
        assert_eq!(
            limiter.take_turn(next, at(1_001 + LINE_HOLD_MS)),
            Turn::Through
        );
        // A raw take stands behind the line too.
        assert!(matches!(
            limiter.take_turn(gone, at(3_500)),
            Turn::Wait { .. }
        ));
        assert!(!limiter.try_take(at(3_950)));
        assert_eq!(limiter.take_turn(gone, at(3_950)), Turn::Through);
    }

    #[test]
    fn a_far_turn_is_asked_again_within_a_second() {
        // One a minute: the turn is a minute away, but the citizen is asked back in a second,
        // and keeps its place as long as it comes.
        let mut limiter = Limiter::new();
        limiter.configure(1_000, 0, at(0));
        let key = OrderKey::new(100, 0);
        let mut now = 0;
        loop {
            match limiter.take_turn(key, at(now)) {
                Turn::Wait { retry_at } => {
                    assert_eq!(retry_at, at(now + RETRY_MAX_MS.min(60_000 - now)));
                    now = retry_at.0 - T0;
                }
                Turn::Through => break,
                Turn::Shut => panic!("the rate is not zero"),
            }
        }
        assert_eq!(now, 60_000);
        // Meanwhile a later second could not take its token.
        assert!(matches!(
            limiter.take_turn(OrderKey::new(101, 0), at(60_000)),
            Turn::Wait { .. }
        ));
    }

    #[test]
    fn the_line_is_bounded_and_keeps_the_earliest_keys() {
        let mut limiter = Limiter::new();
        limiter.configure(1, 0, at(0));
        let total = u64::try_from(LINE_MAX).unwrap() + 10;
        for i in 0..total {
            limiter.take_turn(OrderKey::new(1_000 + i, 0), at(0));
        }
        assert_eq!(limiter.waiting(at(0)), LINE_MAX);
        limiter.take_turn(OrderKey::new(1, 0), at(0));
        assert_eq!(limiter.waiting(at(0)), LINE_MAX);
        assert!(limiter.line.contains_key(&OrderKey::new(1, 0)));
        assert!(!limiter.line.contains_key(&OrderKey::new(
            1_000 + u64::try_from(LINE_MAX).unwrap() - 1,
            0
        )));
    }
}
