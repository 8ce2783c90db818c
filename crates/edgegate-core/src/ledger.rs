//! The coordinator's ledger: per-second counts of citizens released by the cursor, let through
//! to the origin, and whose sessions ended. It is what the coordinator itself knows happened,
//! so the numbers that steer the release — live passes ([`Ledger::active`], what `max_active`
//! caps) and released-but-unclaimed places ([`Ledger::unclaimed`]) — move only by counts the
//! coordinator recorded, never by what a client replays or drops.
//!
//! ## Layout and size
//! Counts live per second for the last [`FINE_S`] seconds and per minute before that
//! ([`Ledger::prune`] folds the older seconds into their minute). A window that reaches into
//! the minutes counts each minute it touches in full, so a window longer than [`FINE_S`] is
//! rounded outwards to whole minutes at its far end; the windows that steer the release
//! ([`UNCLAIMED_WINDOW_S`], the no-show window, the default session of 5 minutes) are exact.
//! After `prune(now, keep_s)` the ledger holds at most `FINE_S + ⌈keep_s / 60⌉ + 2` records
//! plus any dated in the future (reports from a fast clock): about 2,100 records, some 60 KB
//! of JSON, for the longest session (24 h). When `keep_s` is under [`FINE_S`] nothing is
//! folded and it holds the last `keep_s` seconds: 300 records for the default session.
//!
//! The stored form carries a layout version (`"v"`); a record of any other version does not
//! parse, so a future change of layout is refused instead of misread.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::time::UnixMs;

/// Seconds kept one by one; older counts are folded into their minute.
pub const FINE_S: u64 = 600;
/// The layout version written in the stored form.
pub const LEDGER_VERSION: u32 = 1;
/// How far back [`Ledger::unclaimed`] looks, in seconds: released citizens not let through
/// within it are taken to be no-shows and stop holding back the release. Three status polls'
/// worth for a citizen at the front (who polls about every 3 s), plus the time to reach the
/// limiter: long enough that a citizen who is coming is almost always counted as coming, short
/// enough that no-shows clear out before they can hold the release back for long.
pub const UNCLAIMED_WINDOW_S: u64 = 10;
/// Width of the window [`Ledger::no_show_per_mille`] measures over, in seconds.
pub const NO_SHOW_WINDOW_S: u64 = 60;
/// Windows reach this many seconds past `now`, for counts an isolate whose clock runs a little
/// ahead has dated in the future.
pub const FUTURE_S: u64 = 5;

/// [`Ledger::through_per_minute`] needs at least this many seconds of let-throughs.
pub const MIN_MEASURED_S: u64 = 5;

/// Counts in one second (or one minute, once folded).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Counts(
    /// Released by the cursor.
    u64,
    /// Let through to the origin (first pass minted for a ticket).
    u64,
    /// Sessions ended.
    u64,
);

impl Counts {
    fn add(&mut self, other: Counts) {
        self.0 = self.0.saturating_add(other.0);
        self.1 = self.1.saturating_add(other.1);
        self.2 = self.2.saturating_add(other.2);
    }
}

/// The coordinator's ledger for one room. See the module documentation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Stored", into = "Stored")]
pub struct Ledger {
    /// Unix second → counts, for recent seconds.
    seconds: BTreeMap<u64, Counts>,
    /// First second of a minute (a multiple of 60) → counts, for seconds folded by `prune`.
    minutes: BTreeMap<u64, Counts>,
}

/// The stored form: the layout version beside the records.
#[derive(Serialize, Deserialize)]
struct Stored {
    v: u32,
    seconds: BTreeMap<u64, Counts>,
    minutes: BTreeMap<u64, Counts>,
}

impl TryFrom<Stored> for Ledger {
    type Error = String;

    fn try_from(stored: Stored) -> Result<Ledger, String> {
        if stored.v != LEDGER_VERSION {
            return Err(format!("unknown ledger layout version {}", stored.v));
        }
        Ok(Ledger {
            seconds: stored.seconds,
            minutes: stored.minutes,
        })
    }
}

impl From<Ledger> for Stored {
    fn from(ledger: Ledger) -> Stored {
        Stored {
            v: LEDGER_VERSION,
            seconds: ledger.seconds,
            minutes: ledger.minutes,
        }
    }
}

impl Ledger {
    pub fn new() -> Ledger {
        Ledger::default()
    }

    /// Counts `n` citizens released by the cursor at `now` (what [`ReleaseState::advance`] and
    /// [`ReleaseState::charge_late`] return).
    ///
    /// [`ReleaseState::advance`]: crate::release::ReleaseState::advance
    /// [`ReleaseState::charge_late`]: crate::release::ReleaseState::charge_late
    pub fn record_released(&mut self, now: UnixMs, n: u64) {
        self.add(now.secs(), Counts(n, 0, 0));
    }

    /// Counts `n` citizens let through to the origin in unix second `second` (as an isolate
    /// reports them: first passes minted, each ticket once).
    pub fn record_let_through(&mut self, second: u64, n: u64) {
        self.add(second, Counts(0, n, 0));
    }

    /// Counts `n` sessions ended in unix second `second`. The isolate reports at most one per
    /// ticket let through; [`Ledger::active`] never goes below zero whatever is reported.
    pub fn record_ended(&mut self, second: u64, n: u64) {
        self.add(second, Counts(0, 0, n));
    }

    fn add(&mut self, second: u64, counts: Counts) {
        if counts == Counts::default() {
            return;
        }
        self.seconds.entry(second).or_default().add(counts);
    }

    /// Sums over the seconds `first..=last`. Folded minutes that the span touches count in
    /// full.
    fn span(&self, first: u64, last: u64) -> Counts {
        let mut sum = Counts::default();
        if first > last {
            return sum;
        }
        for counts in self.seconds.range(first..=last).map(|(_, c)| *c) {
            sum.add(counts);
        }
        for counts in self
            .minutes
            .range(first - first % 60..=last)
            .map(|(_, c)| *c)
        {
            sum.add(counts);
        }
        sum
    }

    /// Sums over the last `window_s` seconds up to `now`, and the few after it that a fast
    /// isolate clock may report ([`FUTURE_S`]).
    fn within(&self, now: UnixMs, window_s: u64) -> Counts {
        let now_s = now.secs();
        self.span(
            now_s.saturating_add(1).saturating_sub(window_s),
            now_s.saturating_add(FUTURE_S),
        )
    }

    /// The let-through rate measured over the `window_s` seconds that ended at `until`, in
    /// citizens per minute: from the first second in the window with anyone let through, so a
    /// line that only just started moving is not averaged with the quiet before it. `None`
    /// while fewer than [`MIN_MEASURED_S`] seconds have been measured.
    pub fn through_per_minute(&self, until: UnixMs, window_s: u64) -> Option<u64> {
        let last = until.secs();
        let first = last.saturating_add(1).saturating_sub(window_s);
        let started = self
            .seconds
            .range(first..=last)
            .find(|(_, c)| c.1 > 0)
            .map(|(s, _)| *s)?;
        let measured_s = last.saturating_add(1).saturating_sub(started);
        if measured_s < MIN_MEASURED_S {
            return None;
        }
        Some(self.span(started, last).1.saturating_mul(60) / measured_s)
    }

    /// Live passes as the coordinator counts them: citizens let through within the last
    /// `session_duration_s` seconds, never more than were released in that window, minus the
    /// sessions ended in it; zero rather than negative. This is what `max_active` caps: a
    /// client's replays or repeated session ends cannot move it, since only the isolates'
    /// once-per-ticket counts reach it.
    pub fn active(&self, now: UnixMs, session_duration_s: u64) -> u64 {
        let Counts(released, through, ended) = self.within(now, session_duration_s);
        through.min(released).saturating_sub(ended)
    }

    /// Citizens released within the last [`UNCLAIMED_WINDOW_S`] seconds and not let through:
    /// released minus let through in that window, zero rather than negative. The cursor holds
    /// back while it is high (see `release`), which is how the release keeps pace with the
    /// share of released citizens who never come: their places stop counting once they leave
    /// the window.
    pub fn unclaimed(&self, now: UnixMs) -> u64 {
        let Counts(released, through, _) = self.within(now, UNCLAIMED_WINDOW_S);
        released.saturating_sub(through)
    }

    /// The share of released citizens who never came, per mille, for the operator's report:
    /// citizens released in the [`NO_SHOW_WINDOW_S`] seconds that ended [`UNCLAIMED_WINDOW_S`]
    /// ago (so they have had time to come), against those let through in the last
    /// [`NO_SHOW_WINDOW_S`] seconds, the same width shifted by that claim time. `0` when nobody
    /// was released in the window. An estimate: exact only while the release runs steadily.
    pub fn no_show_per_mille(&self, now: UnixMs) -> u32 {
        let lagged_s = now.secs().saturating_sub(UNCLAIMED_WINDOW_S);
        let released = self
            .span(
                lagged_s.saturating_add(1).saturating_sub(NO_SHOW_WINDOW_S),
                lagged_s,
            )
            .0;
        let now_s = now.secs();
        let through = self
            .span(
                now_s.saturating_add(1).saturating_sub(NO_SHOW_WINDOW_S),
                now_s,
            )
            .1;
        if released == 0 {
            return 0;
        }
        let missing = u128::from(released.saturating_sub(through));
        u32::try_from(missing * 1000 / u128::from(released)).unwrap_or(1000)
    }

    /// Forgets what no window will ask about again and folds old seconds into minutes, so the
    /// size stays bounded (see the module documentation). Keeps at least `keep_s` seconds
    /// (pass the session duration) and never less than the windows the ledger itself uses.
    pub fn prune(&mut self, now: UnixMs, keep_s: u64) {
        let keep_s = keep_s.max(NO_SHOW_WINDOW_S + UNCLAIMED_WINDOW_S);
        let now_s = now.secs();
        // Seconds older than the fine horizon go into their minute.
        let fine_from = now_s.saturating_sub(FINE_S);
        let recent = self.seconds.split_off(&fine_from);
        for (second, counts) in std::mem::replace(&mut self.seconds, recent) {
            self.minutes
                .entry(second - second % 60)
                .or_default()
                .add(counts);
        }
        // Anything entirely before the kept span goes.
        let keep_from = now_s.saturating_add(1).saturating_sub(keep_s);
        self.seconds = self.seconds.split_off(&keep_from);
        self.minutes = self.minutes.split_off(&(keep_from - keep_from % 60));
    }

    /// Records held: seconds plus minutes (for tests and reports).
    pub fn len(&self) -> usize {
        self.seconds.len() + self.minutes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.seconds.is_empty() && self.minutes.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000_000;

    fn at(s: u64) -> UnixMs {
        UnixMs(T0 + s * 1000)
    }

    #[test]
    fn the_let_through_rate_is_measured_from_when_the_line_began_moving() {
        let mut ledger = Ledger::new();
        assert_eq!(ledger.through_per_minute(at(100), 60), None);
        // Quiet until second 80, then 10 a second.
        for s in 80..=100 {
            ledger.record_let_through(at(s).secs(), 10);
        }
        // Four seconds are too few to say.
        assert_eq!(ledger.through_per_minute(at(83), 60), None);
        assert_eq!(ledger.through_per_minute(at(100), 60), Some(600));
        // Forty seconds later with nobody let through since: the last minute held 200.
        assert_eq!(ledger.through_per_minute(at(140), 60), Some(200));
        assert_eq!(ledger.through_per_minute(at(161), 60), None);
    }

    #[test]
    fn active_counts_let_throughs_in_the_session_minus_ended() {
        let mut ledger = Ledger::new();
        ledger.record_released(at(0), 10);
        ledger.record_let_through(at(1).secs(), 8);
        ledger.record_ended(at(5).secs(), 3);
        assert_eq!(ledger.active(at(10), 300), 5);
        assert_eq!(ledger.active(at(299), 300), 5);
        // Once the release leaves the window, so do the passes it made possible.
        assert_eq!(ledger.active(at(300), 300), 0);
        assert_eq!(ledger.active(at(301), 300), 0);
    }

    #[test]
    fn clients_cannot_push_active_beyond_what_was_released_nor_below_zero() {
        let mut ledger = Ledger::new();
        ledger.record_released(at(0), 4);
        // More let-throughs than released (a misbehaving report) count as at most the released.
        ledger.record_let_through(at(1).secs(), 1_000);
        assert_eq!(ledger.active(at(2), 300), 4);
        // Ends beyond the let-throughs floor at zero.
        ledger.record_ended(at(2).secs(), 10_000);
        assert_eq!(ledger.active(at(3), 300), 0);
    }

    #[test]
    fn unclaimed_is_released_minus_let_through_in_the_window() {
        let mut ledger = Ledger::new();
        ledger.record_released(at(0), 20);
        ledger.record_let_through(at(2).secs(), 15);
        assert_eq!(ledger.unclaimed(at(3)), 5);
        // Once the release leaves the window the five no-shows stop counting (and the
        // let-throughs, still inside, floor the difference at zero).
        assert_eq!(ledger.unclaimed(at(UNCLAIMED_WINDOW_S)), 0);
        assert_eq!(ledger.unclaimed(at(UNCLAIMED_WINDOW_S - 1)), 5);
    }

    #[test]
    fn no_show_share_compares_lagged_releases_with_let_throughs() {
        let mut ledger = Ledger::new();
        assert_eq!(ledger.no_show_per_mille(at(100)), 0);
        // Ten released every second, eight of them let through two seconds later.
        for s in 0..200 {
            ledger.record_released(at(s), 10);
            ledger.record_let_through(at(s + 2).secs(), 8);
        }
        assert_eq!(ledger.no_show_per_mille(at(150)), 200);
        // Everyone comes: none.
        let mut all = Ledger::new();
        for s in 0..200 {
            all.record_released(at(s), 10);
            all.record_let_through(at(s + 2).secs(), 10);
        }
        assert_eq!(all.no_show_per_mille(at(150)), 0);
    }

    #[test]
    fn prune_bounds_the_size_and_keeps_the_windows_exact() {
        let mut ledger = Ledger::new();
        let session_s = 86_400;
        for s in 0..(3 * 86_400) {
            ledger.record_released(at(s), 2);
            ledger.record_let_through(at(s).secs(), 1);
            if s % 97 == 0 {
                ledger.prune(at(s), session_s);
                let bound = usize::try_from(FINE_S + session_s.div_ceil(60) + 2).unwrap();
                assert!(ledger.len() <= bound, "{} records at {s}", ledger.len());
            }
        }
        let now = at(3 * 86_400 - 1);
        ledger.prune(now, session_s);
        // Short windows are exact.
        assert_eq!(ledger.unclaimed(now), UNCLAIMED_WINDOW_S);
        // A day-long window is rounded outwards to whole minutes at its far end: at most one
        // minute's let-throughs too many.
        let active = ledger.active(now, session_s);
        assert!((86_400..86_400 + 60).contains(&active), "{active}");
        // With the default session nothing is folded at all.
        let mut short = Ledger::new();
        for s in 0..2_000 {
            short.record_let_through(at(s).secs(), 1);
            short.prune(at(s), 300);
        }
        assert!(short.len() <= 300, "{}", short.len());
    }

    #[test]
    fn stored_form_round_trips_and_refuses_another_layout() {
        let mut ledger = Ledger::new();
        ledger.record_released(at(0), 3);
        ledger.record_let_through(at(1).secs(), 2);
        ledger.record_ended(at(700).secs(), 1);
        ledger.prune(at(700), 3_600);
        let text = serde_json::to_string(&ledger).unwrap();
        assert!(text.starts_with(r#"{"v":1,"#), "{text}");
        assert_eq!(serde_json::from_str::<Ledger>(&text).unwrap(), ledger);
        let future = text.replacen(r#""v":1"#, r#""v":2"#, 1);
        assert!(serde_json::from_str::<Ledger>(&future).is_err());
        assert!(serde_json::from_str::<Ledger>(r#"{"seconds": {}, "minutes": {}}"#).is_err());
    }

    #[test]
    fn zero_counts_leave_no_record() {
        let mut ledger = Ledger::new();
        ledger.record_released(at(0), 0);
        ledger.record_let_through(1, 0);
        assert!(ledger.is_empty());
    }
}
