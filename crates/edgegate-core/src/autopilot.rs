//! The autopilot: the room's rate follows the origin's health, between the operator's floor
//! and ceiling (`config::Autopilot`).
//!
//! Nobody knows an origin's capacity in advance, and a rate set by guess either crushes the
//! origin or wastes it. The edges already measure every forwarded request (`origin`): its
//! latency, and whether it failed (5xx, unreachable, timed out). Their counts reach the
//! coordinator with every batch; the [`Pilot`] reads them one control window at a time and
//! moves the rate, with no agent on the origin:
//!
//! - **Cut fast.** A window in which more than `max_errors_per_mille` of the forwarded requests
//!   failed, or whose p95 latency passed `target_p95_ms`, cuts the rate at once: to the rate
//!   that would bring the origin nine tenths of what it served in that window, going by how
//!   many requests a citizen let through has brought it so far (before that is known, the
//!   rate scaled by the share that did not fail, less a tenth); by [`CUT_LEAST`] at least and
//!   by half at most.
//! - **Honour `Retry-After`.** A `Retry-After` the origin sent (with a `503`) holds every raise
//!   until it has passed, from the moment it arrives.
//! - **Raise slowly, and only what is used.** A healthy window (failures at most half the
//!   allowed share, p95 within the target) raises the rate only if the let-throughs used most
//!   of it ([`USED`]), since a rate nobody uses says nothing about the origin: by a quarter
//!   ([`CLIMB`]) up to what the origin served at the last breach, less a tenth; from there by
//!   a twentieth ([`PROBE`]); and after [`PROBES_TO_FORGET`] such probes without a breach the
//!   origin has more room than it had, the breach is forgotten, and the rate climbs again: by
//!   a tenth and a fifth first ([`RECLIMB`]), since the room it has may be only a little.
//! - **Wait for the answer.** Counts reach the coordinator up to a settle time late, and an
//!   admitted citizen keeps using the origin for a while, so the window after a change is not
//!   read: every change starts a new window one [`WINDOW_MS`] later.
//!
//! The floor and the ceiling are the operator's and are never left; the ceiling is the hard
//! limit. Every change is returned as a [`Change`] with its reason, for the audit log.

use serde::Serialize;

use crate::config::Autopilot;
use crate::origin::OriginCounts;
use crate::time::UnixMs;

/// One control window, in milliseconds: longer than the time counts take to reach the
/// coordinator (a settle time), so one window's counts are mostly its own.
pub const WINDOW_MS: u64 = 10_000;
/// A window with fewer forwarded requests than this says nothing about the origin.
pub const MIN_REQUESTS: u64 = 20;
/// The least a breach cuts the rate by, as a fraction `(n, d)`: to 85 %.
pub const CUT_LEAST: (u64, u64) = (85, 100);
/// The most a breach cuts the rate by: to a quarter.
pub const CUT_MOST: (u64, u64) = (25, 100);
/// A raise near the last breach, as a fraction of the rate: 5 %.
pub const PROBE: (u64, u64) = (5, 100);
/// A raise with no breach known: a quarter.
pub const CLIMB: (u64, u64) = (25, 100);
/// The share of the rate the window's let-throughs must have used for a raise: 60 %.
pub const USED: (u64, u64) = (60, 100);

/// One change of the rate, for the audit log and the operator's view.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Change {
    pub at: UnixMs,
    pub from: u32,
    pub to: u32,
    /// In words an operator reads: what the window showed.
    pub why: String,
}

/// What the pilot holds between windows (in the coordinator's memory; a restart begins a new
/// window and forgets the last breach, which costs at most a cut).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Pilot {
    /// When the window being gathered began; `0` before the first.
    from: UnixMs,
    counts: OriginCounts,
    let_through: u64,
    /// No raise before this: a `Retry-After` the origin sent.
    hold_until: UnixMs,
    /// The rate at the last breach, in citizens per minute.
    breached_at: Option<u32>,
    /// What the origin served per second in the window of the last breach: its capacity, as
    /// far as the gate can tell.
    served_per_s: Option<u64>,
    /// Forwarded requests and let-throughs since the pilot started: how many requests one
    /// citizen let through brings the origin, on average.
    requests_seen: u64,
    let_through_seen: u64,
    /// `let_through_seen` as the last window closed: the citizens whose requests have had a
    /// window to arrive. A citizen let through just now has sent few of its requests yet, and
    /// counting it would make the origin look emptier per citizen than it is.
    let_through_settled: u64,
    /// Windows read since the pilot started that said something of the origin.
    windows_read: u32,
    /// Raises in a row near the last breach without a new one: after [`PROBES_TO_FORGET`],
    /// the origin has more room than it had, and the breach is forgotten.
    probes: u32,
    /// Climbs since a breach was forgotten: the first after it are smaller ([`RECLIMB`]).
    reclimbs: Option<u32>,
    last: Option<Change>,
}

/// Windows the pilot reads before its first raise: the load a rate brings builds up over a
/// citizen's visit, and the first windows of a night look healthier than the rate is.
pub const WARM_UP_WINDOWS: u32 = 2;

/// Raises near the last breach without a new one, after which it is forgotten and the rate
/// climbs again.
pub const PROBES_TO_FORGET: u32 = 4;

/// The first climbs after a breach is forgotten, as fractions of the rate; then [`CLIMB`].
/// Climbing back by a quarter at once overshot an origin with a little more room than at the
/// breach: on the simulated `origin-unknown` night two quarters in a row took the rate from
/// 1,735 to 2,710 a minute and a window with 15 % of the forwarded requests failed. With a
/// tenth and a fifth first, every stretch of eight seeds settled within three windows (two of
/// the 24 did not before: one after 21 windows, one never), with about as many of the
/// origin's requests failed (1.02 % against 0.98 %).
pub const RECLIMB: [(u64, u64); 2] = [(10, 100), (20, 100)];

/// `GET /admin/state`'s `autopilot`: the operator's terms, and what the pilot did last.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct PilotReport {
    #[serde(flatten)]
    pub terms: Autopilot,
    pub rate_per_minute: u32,
    /// The rate at the last breach, if one is known.
    pub breached_at_per_minute: Option<u32>,
    /// Raises wait until then (a `Retry-After`), if later than now.
    pub holding_until: Option<UnixMs>,
    pub last_change: Option<Change>,
}

impl Pilot {
    /// Counts that arrived with a batch at `now`: the origin's side of it, and its
    /// let-throughs. Those that arrive in the window after a change answer to the old rate,
    /// and count only towards the requests per citizen.
    pub fn observe(&mut self, counts: &OriginCounts, let_through: u64, now: UnixMs) {
        // A `Retry-After` holds raises from when it arrives, in any window.
        if counts.retry_after_s > 0 {
            self.hold_until = self
                .hold_until
                .max(now.plus_ms(counts.retry_after_s.saturating_mul(1000)));
        }
        if now >= self.from {
            self.counts.add(counts);
            self.let_through = self.let_through.saturating_add(let_through);
        }
        self.requests_seen = self.requests_seen.saturating_add(counts.requests);
        self.let_through_seen = self.let_through_seen.saturating_add(let_through);
    }

    /// The rate, per minute, that would bring the origin `per_s` requests a second, going by
    /// how many requests a citizen let through has brought it so far (`None` before any).
    fn rate_for(&self, per_s: u64) -> Option<u32> {
        if self.let_through_settled == 0 || self.requests_seen == 0 {
            return None;
        }
        let per_minute = u128::from(per_s) * 60 * u128::from(self.let_through_settled)
            / u128::from(self.requests_seen);
        Some(u32::try_from(per_minute).unwrap_or(u32::MAX))
    }

    /// Starts over at `now`: when the autopilot is turned on, or its terms change. As after a
    /// change, the first window is a window later: the load the rate brings is still building.
    pub fn restart(&mut self, now: UnixMs) {
        *self = Pilot {
            last: self.last.take(),
            ..Pilot::default()
        };
        self.from = now.plus_ms(WINDOW_MS);
    }

    /// The last change made.
    pub fn last(&self) -> Option<&Change> {
        self.last.as_ref()
    }

    /// The operator's view at `rate` and `now`.
    pub fn report(&self, terms: Autopilot, rate: u32, now: UnixMs) -> PilotReport {
        PilotReport {
            terms,
            rate_per_minute: rate,
            breached_at_per_minute: self.breached_at,
            holding_until: (self.hold_until > now).then_some(self.hold_until),
            last_change: self.last.clone(),
        }
    }

    /// At `now`, with the rate at `rate` under `terms`: the new rate if the window just
    /// closed calls for one. A window closes [`WINDOW_MS`] after it began; the next begins at
    /// once, or a window later after a change (see the module documentation).
    pub fn steer(&mut self, terms: &Autopilot, rate: u32, now: UnixMs) -> Option<Change> {
        if self.from.0 == 0 {
            self.restart(now);
            return None;
        }
        if now < self.from.plus_ms(WINDOW_MS) {
            return None;
        }
        let counts = std::mem::take(&mut self.counts);
        let let_through = std::mem::take(&mut self.let_through);
        let window_ms = now.since(self.from);
        self.from = now;
        let (floor, ceiling) = (terms.floor_per_minute, terms.ceiling_per_minute);
        let health = judge(terms, &counts);
        if !matches!(health, Health::Unknown) {
            self.windows_read = self.windows_read.saturating_add(1);
        }
        let target = match health {
            Health::Unknown => None,
            Health::Breach {
                kept_per_mille,
                served,
                why,
            } => {
                self.breached_at = Some(rate);
                self.reclimbs = None;
                self.probes = 0;
                // What the origin served in the window is what it can take: the rate that
                // brings it nine tenths of that, if the requests per citizen are known; else
                // the rate scaled by the share that did not fail.
                let served_per_s = served.saturating_mul(1000) / window_ms.max(1);
                self.served_per_s = Some(served_per_s);
                let kept = self
                    .rate_for(served_per_s.saturating_mul(9) / 10)
                    .unwrap_or_else(|| scale(rate, (kept_per_mille, 1000)));
                let least = scale_up(rate, CUT_MOST);
                let most = scale(rate, CUT_LEAST).max(least);
                let to = kept.clamp(least, most).min(rate.saturating_sub(1));
                Some((to, why))
            }
            Health::Healthy { p95 } => {
                let used = u64::from(rate)
                    .saturating_mul(window_ms)
                    .saturating_mul(USED.0)
                    / (60_000 * USED.1);
                let warming = self.windows_read <= WARM_UP_WINDOWS;
                if warming || now < self.hold_until || let_through < used.max(1) || rate >= ceiling
                {
                    None
                } else {
                    // Up to what the origin managed at the last breach (less a tenth) at a
                    // quarter a window; beyond it by a twentieth, until a few such probes in a
                    // row say it has more room now.
                    let known = self
                        .served_per_s
                        .and_then(|s| self.rate_for(s.saturating_mul(9) / 10));
                    let near = self.breached_at.is_some()
                        && known.is_none_or(|k| u64::from(rate) * 20 >= u64::from(k) * 19);
                    let to = if near {
                        self.probes = self.probes.saturating_add(1);
                        if self.probes >= PROBES_TO_FORGET {
                            self.breached_at = None;
                            self.served_per_s = None;
                            self.probes = 0;
                            self.reclimbs = Some(0);
                        }
                        rate.saturating_add(scale(rate, PROBE))
                    } else {
                        let step = match self.reclimbs {
                            Some(n) => RECLIMB.get(n as usize).copied().unwrap_or(CLIMB),
                            None => CLIMB,
                        };
                        self.reclimbs = self.reclimbs.map(|n| n.saturating_add(1));
                        let climb = rate.saturating_add(scale(rate, step));
                        known.map_or(climb, |k| climb.min(k))
                    }
                    .max(rate.saturating_add(1));
                    let why = format!(
                        "healthy: p95 {} ms within {} ms, {} of {} forwarded failed; the rate was used",
                        p95.map_or_else(|| "—".to_owned(), |p| p.to_string()),
                        terms.target_p95_ms,
                        counts.errors_5xx.saturating_add(counts.timeouts),
                        counts.requests
                    );
                    Some((to, why))
                }
            }
        };
        self.let_through_settled = self.let_through_seen;
        let (to, why) = target?;
        // The ceiling is the hard limit: it wins over a floor stored above it.
        let to = to.max(floor).min(ceiling);
        if to == rate {
            return None;
        }
        // The window after a change is not read: the origin has not answered to it yet.
        self.from = now.plus_ms(WINDOW_MS);
        let change = Change {
            at: now,
            from: rate,
            to,
            why,
        };
        self.last = Some(change.clone());
        Some(change)
    }
}

enum Health {
    Unknown,
    /// `kept_per_mille`: what the origin managed, less a tenth, as a share of the rate.
    /// `served`: the requests that did not fail.
    Breach {
        kept_per_mille: u64,
        served: u64,
        why: String,
    },
    Healthy {
        p95: Option<u64>,
    },
}

/// What one window's counts say of the origin, and for a breach, the rate it managed.
fn judge(terms: &Autopilot, counts: &OriginCounts) -> Health {
    if counts.requests < MIN_REQUESTS {
        return Health::Unknown;
    }
    let failed = counts.errors_5xx.saturating_add(counts.timeouts);
    let requests = counts.requests.max(1);
    let per_mille = failed.saturating_mul(1000) / requests;
    let p95 = counts.latency_at(950);
    let slow = p95.is_some_and(|p| p > u64::from(terms.target_p95_ms));
    let failing = per_mille > u64::from(terms.max_errors_per_mille);
    if failing || slow {
        // What the origin managed, less a tenth: the rate scaled by the share that did not
        // fail (a slow origin that fails nothing is cut by the least).
        let ok = requests.saturating_sub(failed);
        let why = if failing {
            format!(
                "{failed} of {} forwarded failed ({}.{} %, more than {}.{} %)",
                counts.requests,
                per_mille / 10,
                per_mille % 10,
                terms.max_errors_per_mille / 10,
                terms.max_errors_per_mille % 10
            )
        } else {
            format!(
                "p95 over {} ms, above the {} ms target",
                p95.map_or(0, previous_bound),
                terms.target_p95_ms
            )
        };
        return Health::Breach {
            kept_per_mille: ok.saturating_mul(900) / requests,
            served: ok,
            why,
        };
    }
    if per_mille.saturating_mul(2) > u64::from(terms.max_errors_per_mille) {
        return Health::Unknown;
    }
    Health::Healthy { p95 }
}

/// The latency bucket below `bound`'s: what a p95 read as `bound` is at least.
fn previous_bound(bound: u64) -> u64 {
    crate::origin::LATENCY_BOUNDS_MS
        .iter()
        .copied()
        .take_while(|b| *b < bound)
        .last()
        .unwrap_or(0)
}

/// `rate × n / d`, rounded up: a cut by at most half leaves at least half.
fn scale_up(rate: u32, (n, d): (u64, u64)) -> u32 {
    u32::try_from(u64::from(rate).saturating_mul(n).div_ceil(d)).unwrap_or(u32::MAX)
}

/// `rate × n / d`, rounded down.
fn scale(rate: u32, (n, d): (u64, u64)) -> u32 {
    u32::try_from(u64::from(rate).saturating_mul(n) / d).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::origin::Outcome;

    const T0: UnixMs = UnixMs(1_700_000_000_000);

    fn terms() -> Autopilot {
        Autopilot {
            floor_per_minute: 60,
            ceiling_per_minute: 6_000,
            target_p95_ms: 1_000,
            max_errors_per_mille: 10,
        }
    }

    /// `n` forwarded requests taking `ms`, `failed` of them answered 503.
    fn counts(n: u64, failed: u64, ms: u64) -> OriginCounts {
        let mut c = OriginCounts::default();
        for i in 0..n {
            let outcome = if i < failed {
                Outcome::Answered(503)
            } else {
                Outcome::Answered(200)
            };
            c.record(ms, outcome);
        }
        c
    }

    /// A pilot whose window begins at `T0`, past its warm-up: it has read
    /// [`WARM_UP_WINDOWS`] healthy windows that let nobody through.
    fn pilot() -> Pilot {
        let mut p = Pilot::default();
        let start = T0.minus_ms(WINDOW_MS * (u64::from(WARM_UP_WINDOWS) + 1));
        assert_eq!(
            p.steer(&terms(), 1_200, start),
            None,
            "the first call starts a window"
        );
        for w in 1..=u64::from(WARM_UP_WINDOWS) {
            let at = start.plus_ms(WINDOW_MS * (w + 1));
            p.observe(&counts(100, 0, 40), 0, at.minus_ms(1));
            assert_eq!(p.steer(&terms(), 1_200, at), None, "warming up");
        }
        p
    }

    /// `T0` plus `n` windows.
    fn at(n: u64) -> UnixMs {
        T0.plus_ms(n * WINDOW_MS)
    }

    #[test]
    fn no_raise_while_warming_up_however_healthy() {
        let mut p = Pilot::default();
        p.steer(&terms(), 1_200, T0);
        // Started: the first window is a window later, then two are read without a raise.
        for n in 2..=u64::from(WARM_UP_WINDOWS) + 1 {
            p.observe(&counts(500, 0, 40), 500, at(n).minus_ms(1));
            assert_eq!(p.steer(&terms(), 1_200, at(n)), None, "window {n}");
        }
        let n = u64::from(WARM_UP_WINDOWS) + 2;
        p.observe(&counts(500, 0, 40), 500, at(n).minus_ms(1));
        assert!(p
            .steer(&terms(), 1_200, at(n))
            .is_some_and(|c| c.to > 1_200));
    }

    #[test]
    fn a_window_of_failures_cuts_to_what_the_origin_served_and_the_next_is_not_read() {
        let mut p = pilot();
        // A window ago 200 were let through; now 2,000 requests a window arrive (ten per
        // citizen), a fifth of them refused: the origin serves 160 a second.
        p.observe(&OriginCounts::default(), 200, T0);
        let quiet = p.steer(&terms(), 1_200, at(1));
        assert_eq!(quiet, None, "too few requests to say anything");
        p.observe(&counts(2_000, 400, 40), 200, at(2).minus_ms(1));
        let cut = p.steer(&terms(), 1_200, at(2)).unwrap();
        // 160 × 0.9 = 144 requests a second; 2,200 requests so far (the warm-up's too) for
        // the 200 citizens let through a window ago, 11 a citizen: 785 a minute.
        assert_eq!(cut.to, 785, "{cut:?}");
        assert!(cut.why.contains("400 of 2000"), "{}", cut.why);
        // What arrives in the window after the change answers to the old rate: not read (it
        // would cut again).
        p.observe(&counts(2_000, 1_000, 40), 0, at(3).minus_ms(1));
        assert_eq!(p.steer(&terms(), cut.to, at(3)), None);
        p.observe(&counts(100, 0, 40), 150, at(4).minus_ms(1));
        // The window after it is read: healthy and used, up towards what the origin served.
        let up = p.steer(&terms(), cut.to, at(4)).unwrap();
        assert!(up.to > cut.to, "{up:?}");
    }

    #[test]
    fn a_slow_origin_is_cut_and_never_below_the_floor() {
        let mut p = pilot();
        let floor = Autopilot {
            floor_per_minute: 1_000,
            ..terms()
        };
        p.observe(&counts(500, 0, 3_000), 10, at(1).minus_ms(1));
        let cut = p.steer(&floor, 1_100, at(1)).unwrap();
        assert_eq!(cut.to, 1_000, "{cut:?}");
        assert!(cut.why.contains("p95 over 2500 ms"), "{}", cut.why);
        // At the floor, a breach changes nothing.
        p.observe(&counts(500, 0, 3_000), 10, at(3).minus_ms(1));
        assert_eq!(p.steer(&floor, 1_000, at(3)), None);
    }

    #[test]
    fn a_healthy_origin_raises_only_a_rate_that_is_used_and_never_past_the_ceiling() {
        let mut p = pilot();
        // Healthy, but the window let through far less than the rate allowed (12 of 200).
        p.observe(&counts(500, 0, 40), 12, at(1).minus_ms(1));
        assert_eq!(p.steer(&terms(), 1_200, at(1)), None);
        // Used: up a quarter.
        p.observe(&counts(500, 0, 40), 190, at(2).minus_ms(1));
        let up = p.steer(&terms(), 1_200, at(2)).unwrap();
        assert_eq!(up.to, 1_500);
        // Near the ceiling: up to it and no further.
        let mut p = pilot();
        p.observe(&counts(500, 0, 40), 900, at(1).minus_ms(1));
        let up = p.steer(&terms(), 5_500, at(1)).unwrap();
        assert_eq!(up.to, 6_000);
        p.observe(&counts(500, 0, 40), 900, at(3).minus_ms(1));
        assert_eq!(p.steer(&terms(), 6_000, at(3)), None);
    }

    #[test]
    fn a_retry_after_holds_every_raise_until_it_has_passed_without_a_cut_of_its_own() {
        let mut p = pilot();
        // One 503 in 500, asking for a minute: not a breach, but no raise for that minute.
        let mut asked = counts(500, 1, 40);
        asked.note_retry_after(60);
        p.observe(&asked, 500, T0.plus_ms(WINDOW_MS - 1));
        assert_eq!(p.steer(&terms(), 1_200, T0.plus_ms(WINDOW_MS)), None);
        let mut t = T0.plus_ms(WINDOW_MS);
        for _ in 0..4 {
            t = t.plus_ms(WINDOW_MS);
            p.observe(&counts(500, 0, 40), 500, t.minus_ms(1));
            assert_eq!(p.steer(&terms(), 1_200, t), None, "at {}", t.since(T0));
        }
        t = T0.plus_ms(WINDOW_MS + 61_000);
        p.observe(&counts(500, 0, 40), 500, t.minus_ms(1));
        let report = p.report(terms(), 1_200, T0.plus_ms(WINDOW_MS + 30_000));
        assert_eq!(
            report.holding_until,
            Some(T0.plus_ms(WINDOW_MS - 1 + 60_000))
        );
        assert!(p.steer(&terms(), 1_200, t).is_some_and(|c| c.to > 1_200));
    }

    /// A pilot whose origin breached at 1,500 a minute (four requests a citizen, 100 a second
    /// served), and the rate it cut to.
    fn breached() -> (Pilot, u32) {
        let mut p = pilot();
        p.observe(&OriginCounts::default(), 250, T0);
        assert_eq!(p.steer(&terms(), 1_500, T0.plus_ms(WINDOW_MS)), None);
        p.observe(&counts(1_100, 100, 40), 250, T0.plus_ms(2 * WINDOW_MS - 1));
        let cut = p.steer(&terms(), 1_500, T0.plus_ms(2 * WINDOW_MS)).unwrap();
        (p, cut.to)
    }

    #[test]
    fn raises_near_the_last_breach_are_small_until_it_is_forgotten() {
        let (mut p, mut rate) = breached();
        let mut t = T0.plus_ms(3 * WINDOW_MS);
        let mut steps = Vec::new();
        for _ in 0..10 {
            t = t.plus_ms(WINDOW_MS);
            p.observe(&counts(1_000, 0, 40), u64::from(rate) / 6, t.minus_ms(1));
            if let Some(up) = p.steer(&terms(), rate, t) {
                steps.push((up.to - rate) * 100 / rate);
                rate = up.to;
                t = t.plus_ms(WINDOW_MS);
            }
        }
        // Up to what the origin served at the breach, then probes of a twentieth (rounded down
        // here), and once as many as it takes have passed without a breach, climbs of a tenth,
        // a fifth, then a quarter again (rounded down).
        let probes = steps.iter().filter(|s| **s <= 5).count();
        assert_eq!(probes, PROBES_TO_FORGET as usize, "{steps:?}");
        let after = steps
            .get(1 + PROBES_TO_FORGET as usize..)
            .unwrap_or_default();
        assert!(matches!(after, [9..=10, 19..=20, 24..=25, ..]), "{steps:?}");
    }

    /// Healthy windows one after the other from `t` at `rate`, four requests a citizen, for
    /// `windows` windows: the raises, in per cent of the rate (rounded down).
    fn healthy_raises(p: &mut Pilot, rate: &mut u32, t: &mut UnixMs, windows: usize) -> Vec<u32> {
        let mut steps = Vec::new();
        for _ in 0..windows {
            *t = t.plus_ms(WINDOW_MS);
            p.observe(&counts(1_000, 0, 40), u64::from(*rate) / 6, t.minus_ms(1));
            if let Some(up) = p.steer(&terms(), *rate, *t) {
                steps.push((up.to - *rate) * 100 / *rate);
                *rate = up.to;
                *t = t.plus_ms(WINDOW_MS);
            }
        }
        steps
    }

    #[test]
    fn a_breach_after_a_forgotten_one_starts_the_small_climbs_over() {
        let (mut p, mut rate) = breached();
        let mut t = T0.plus_ms(3 * WINDOW_MS);
        // Forgotten, and a tenth, a fifth and a quarter climbed.
        let steps = healthy_raises(&mut p, &mut rate, &mut t, 8);
        assert!(
            matches!(steps.as_slice(), [.., 9..=10, 19..=20, 24..=25]),
            "{steps:?}"
        );
        // The origin breaches again: the climbs after the next forgetting are small again.
        t = t.plus_ms(WINDOW_MS);
        p.observe(&counts(1_100, 100, 40), u64::from(rate) / 6, t.minus_ms(1));
        rate = p.steer(&terms(), rate, t).unwrap().to;
        t = t.plus_ms(WINDOW_MS);
        let steps = healthy_raises(&mut p, &mut rate, &mut t, 10);
        let probes = steps.iter().position(|s| *s <= 5).unwrap_or(steps.len());
        let after = steps
            .get(probes + PROBES_TO_FORGET as usize..)
            .unwrap_or_default();
        assert!(matches!(after, [9..=10, 19..=20, ..]), "{steps:?}");
    }
}
