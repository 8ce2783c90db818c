//! What a run reports: the figures of issue 10, as a JSON summary, and a picture of the
//! let-through per second against the rate and of the load on the coordinator and the
//! aggregators (`svg`).

use serde::Serialize;

use crate::rng::Rng;
use crate::scenario::Scenario;
use crate::sim::{Outcome, Tally};

/// The JSON summary of one run.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub seed: u64,
    pub citizens: u64,
    pub locations: u32,
    /// Isolates started by the end (never retired during a run: the peak).
    pub isolates: u32,
    pub rate_per_minute: u32,
    pub rate: RateFigures,
    pub coordinator: CoordinatorFigures,
    pub aggregators: AggregatorFigures,
    pub order: OrderFigures,
    pub eta: EtaFigures,
    pub crowd: CrowdFigures,
    /// Where the rate went in the seconds `rate.used_while_waiting` counts.
    pub rate_use: RateUseFigures,
    pub outages: Vec<OutageFigures>,
    pub location_outages: Vec<LocationOutageFigures>,
    pub run: RunFigures,
    /// With an origin model (`scenario.origin`): what the origin got, and what the autopilot
    /// did. Absent otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub origin: Option<OriginFigures>,
}

/// What the origin got, per stretch of constant capacity, and what the autopilot did.
#[derive(Clone, Debug, Serialize)]
pub struct OriginFigures {
    pub requests: u64,
    /// Refused with `503` (beyond the capacity), and given up on by the gate.
    pub refused_503: u64,
    pub timed_out: u64,
    /// The most requests the origin was sent in one second, as a share of its capacity then.
    pub worst_second_over_capacity: f64,
    /// The control window the figures below are cut into, ms (`autopilot::WINDOW_MS`).
    pub window_ms: u64,
    pub stretches: Vec<StretchFigures>,
    /// Calendar seconds that let through more than the target (`rate / 60 × 1.05 + 1`) of the
    /// highest rate in force in the five seconds before (a new rate takes a sync or two to
    /// reach every isolate): the one-second target as the rate moves.
    pub seconds_over_target_in_force: u64,
    /// … and more than `⌊rate / 60⌋ + 1 + burst` plus one citizen per isolate, the bound the
    /// limiters keep today across many isolates (`rate.bound_with_isolates`).
    pub seconds_over_bound_with_isolates_in_force: u64,
    /// The rate's changes by the autopilot: how many, and the first 40 of them.
    pub rate_changes: usize,
    pub changes: Vec<RateChange>,
}

/// One stretch of constant capacity, from its start to the next change or the last request.
#[derive(Clone, Debug, Serialize)]
pub struct StretchFigures {
    pub from_s: u64,
    pub to_s: u64,
    pub capacity_per_s: u32,
    /// Whole control windows from the stretch's start after which no window sent the origin
    /// more than 110 % of its capacity and under 1 % of the requests were refused (`None`:
    /// never).
    pub converged_after_windows: Option<u64>,
    /// After that: the worst window's load as a share of the capacity, the share refused,
    /// and the share of the capacity served (how much of the origin was used).
    pub worst_window_over_capacity: Option<f64>,
    pub refused_share_after: Option<f64>,
    pub served_share_of_capacity_after: Option<f64>,
    /// The rate in force at the stretch's end, per minute.
    pub rate_at_end_per_minute: u32,
}

#[derive(Clone, Debug, Serialize)]
pub struct RateChange {
    pub at_s: f64,
    pub from: u32,
    pub to: u32,
    pub why: String,
}

/// Let-throughs against the rate.
#[derive(Clone, Debug, Serialize)]
pub struct RateFigures {
    pub let_through_total: u64,
    /// The most let through in any window `[t, t + 1 s)` of the true clock.
    pub worst_window: u64,
    /// When that window began, ms after midnight.
    pub worst_window_at_ms: i64,
    /// `⌊rate / 60⌋ + 1 + burst`: the one-isolate bound.
    pub bound_one_isolate: f64,
    /// `rate / 60 × 1.05 + 1`: the target for the whole room.
    pub target: f64,
    /// The one-isolate bound plus one citizen per isolate (each limiter may hold about one
    /// token beyond its share): the bound the code promises today across many isolates.
    pub bound_with_isolates: f64,
    /// 1-second windows (calendar seconds) over the one-isolate bound, and over the target.
    pub seconds_over_bound: u64,
    pub seconds_over_target: u64,
    /// Worst calendar second.
    pub worst_second: u64,
    /// Mean let-through per second from the first let-through to the drain, against rate/60.
    pub mean_per_second_while_draining: f64,
    /// The most the shares of the rate the isolates' limiters may run at added up to at one
    /// time, as a fraction of the rate (1.0 = the rate), each as its isolate's clock has it in
    /// force (a share whose lease ran out counts nothing). Measured at every answer an isolate
    /// hears, which is when the sum can grow.
    pub worst_share_sum: f64,
    pub worst_share_sum_at_ms: i64,
    /// The most the shares added up to from the 10th second after midnight on.
    pub worst_share_sum_after_10_s: f64,
    /// The most they added up to in the second the worst window began in.
    pub share_sum_at_worst_window: f64,
    /// The same for what the aggregators may share out (the coordinator's last share while
    /// its lease holds, the fail-static fraction of it after), measured at every answer an
    /// aggregator hears: the first of the two splits.
    pub worst_location_share_sum: f64,
    pub worst_location_share_sum_after_10_s: f64,
    /// Let through in the calendar seconds outside outages (the room's and every location's)
    /// in which, all second long, at least a second of the rate of citizens waited whose
    /// place the cursor could already pass (their order key at least the settle time old), as
    /// a fraction of the rate over those seconds: the rate used while the gate could use all
    /// of it. No-shows and those who give up count as the gate's to make up for.
    pub used_while_waiting: f64,
    /// How many seconds that counts.
    pub seconds_waiting: u64,
    /// Let through outside the room coordinator's outages from midnight to the last
    /// let-through, as a fraction of the rate over that time (the figure issue 22 quotes).
    pub used_outside_outages: f64,
}

/// Where the rate went in the seconds `rate.used_while_waiting` counts, each a fraction of the
/// rate over those seconds; they add up to one (give or take the limiters' lazy accounting:
/// a limiter's tokens are counted when it next hears a request).
#[derive(Clone, Debug, Serialize)]
pub struct RateUseFigures {
    /// Not given to any location: the coordinator's headroom.
    pub not_given_to_locations: f64,
    /// Given to a location, not to its isolates: the aggregators' headroom.
    pub not_given_to_isolates: f64,
    /// At the limiters: spent on let-throughs, lost to a full bucket while someone waited in
    /// its line, lost to a full bucket with nobody in the line (a share where nobody eligible
    /// was waiting), forfeited to a smaller share or a stricter config, and saved (the change
    /// in what the buckets hold).
    pub let_through: f64,
    pub lost_while_waiting: f64,
    pub lost_with_nobody_there: f64,
    pub forfeited: f64,
    pub saved: f64,
}

/// The target for the load on each aggregator, in requests per second.
pub const AGGREGATOR_TARGET_PER_S: u64 = 1_000;

/// The room coordinator's load: the aggregators' syncs.
#[derive(Clone, Debug, Serialize)]
pub struct CoordinatorFigures {
    /// The most syncs that reached it in one calendar second, and which (after midnight).
    pub worst_requests_per_second: u64,
    pub worst_at_s: i64,
    pub mean_requests_per_second: f64,
    pub total_requests: u64,
    /// The most syncs one aggregator sent it in one calendar second.
    pub most_from_one_location_per_second: u64,
    pub syncs_sent: u64,
    pub syncs_failed: u64,
    pub duplicate_syncs: u64,
    /// The target: at most one per location per second.
    pub target_per_second: u32,
}

/// The aggregators' load: their isolates' syncs.
#[derive(Clone, Debug, Serialize)]
pub struct AggregatorFigures {
    /// The most isolate syncs that reached one aggregator in one calendar second, which
    /// location's (0 is the busiest) and when (after midnight).
    pub worst_requests_per_second: u64,
    pub worst_location: u32,
    pub worst_at_s: i64,
    /// The target: at most this many per aggregator per second.
    pub target_per_second: u64,
    /// Isolates in the busiest location and in the quietest, by the end.
    pub isolates_most: u32,
    pub isolates_fewest: u32,
    pub syncs_sent: u64,
    pub syncs_failed: u64,
    pub duplicate_syncs: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct OrderFigures {
    /// Kendall τ-b between arrival second and let-through time, over a sample of those let
    /// through: the FIFO-between-seconds the gate promises.
    pub kendall_tau_by_second: f64,
    /// The same against the exact order key (inside a second, a fair draw by design).
    pub kendall_tau_by_key: f64,
    /// Against the arrival millisecond (what a citizen would call first come, first served).
    pub kendall_tau_by_arrival_ms: f64,
    /// The most `kendall_tau_by_second` could be for the same let-throughs, in arrival
    /// order ([`kendall_tau_b_ceiling`]): a night whose first second holds a third of its
    /// citizens cannot reach 1, however well kept its order.
    pub kendall_tau_by_second_ceiling: f64,
    /// Goodman and Kruskal's γ between arrival second and let-through time ([`Pairs::gamma`]):
    /// of the pairs from different seconds, the share let through in order less the share out
    /// of it. 1 exactly when FIFO between seconds held for every pair in the sample.
    pub gamma_by_second: f64,
    pub sample: usize,
}

#[derive(Clone, Debug, Serialize)]
pub struct EtaFigures {
    /// Of those let through who were shown an ETA range, the share let through inside the
    /// range shown at their first poll.
    pub first_poll_inside: f64,
    pub first_poll_early: f64,
    pub first_poll_late: f64,
    pub with_first_eta: u64,
    /// Of every range shown to traced citizens later let through, the share that held.
    pub every_poll_inside: f64,
    pub traced_ranges: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct CrowdFigures {
    pub phantoms: u64,
    pub gave_up: u64,
    /// Citizens still polling who were told their place was gone (lapsed), in all.
    pub places_lost: u64,
    /// Of those, citizens who never gave up (patient).
    pub places_lost_patient: u64,
    pub polls: u64,
    pub polls_not_yet: u64,
    /// Polls told "not yet" by an isolate although the coordinator's cursor had passed them.
    pub polls_not_yet_eligible_at_room: u64,
    pub polls_throttled: u64,
    /// Let-throughs the limiters lost to a full bucket while citizens waited.
    pub lost_let_throughs: u64,
    /// Polls not let through by an isolate whose share of the rate was zero (its limiter shut).
    pub polls_refused_at_zero_share: u64,
    pub fetches: u64,
    /// Places the coordinator charged as late (a net new place in a second behind its cursor),
    /// and renewals of places behind the cursor (before 81fe44e each was charged as late).
    pub late_places_charged: u64,
    pub renewals_behind_cursor: u64,
    /// The lowest the coordinator's release allowance went, in citizens (negative: a debt
    /// that must be paid before the cursor moves).
    pub lowest_allowance_citizens: i64,
    /// Answers marked stale (by an isolate that knew the room), and in how many locations.
    pub stale_answers: u64,
    pub locations_with_stale_answers: u64,
    /// The first and the last second after midnight in which any answer was stale.
    pub stale_from_s: Option<u64>,
    pub stale_to_s: Option<u64>,
    /// Answers from an isolate that had not heard the room yet (no position, no ETA).
    pub cold_answers: u64,
    /// Places the coordinator gave up after the grace period (holders gone).
    pub coordinator_lapsed: u64,
    /// Seconds from midnight to the last let-through.
    pub drain_s: f64,
    /// Patient citizens still waiting when the run stopped.
    pub unresolved: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct OutageFigures {
    pub from_s: u64,
    pub for_s: u64,
    /// Let through during the outage and the minute after it.
    pub let_through_during: u64,
    pub let_through_minute_after: u64,
    /// Worst calendar second from its start to a minute after its end.
    pub worst_second: u64,
}

/// One location's aggregator out of reach.
#[derive(Clone, Debug, Serialize)]
pub struct LocationOutageFigures {
    pub location: u32,
    pub from_s: u64,
    pub for_s: u64,
    pub isolates: u32,
    pub citizens: u64,
    /// Stale answers to citizens of that location, and of every other (in all, and from the
    /// outage's start to a minute after its end).
    pub stale_answers_there: u64,
    pub stale_answers_elsewhere: u64,
    pub stale_answers_elsewhere_during: u64,
    /// That location's citizens let through during the outage and the minute after it.
    pub let_through_there_during: u64,
    pub let_through_there_minute_after: u64,
    /// Places lost by that location's citizens.
    pub places_lost_there: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct RunFigures {
    pub wall_s: f64,
    pub simulated_s: f64,
    pub events: u64,
}

/// Let-throughs per calendar second after midnight (index = second; earlier ones dropped).
pub fn per_second(out: &Outcome, midnight_ms: u64) -> Vec<u64> {
    let mut v: Vec<u64> = Vec::new();
    for t in &out.let_through_at {
        let Some(s) = t.checked_sub(midnight_ms).map(|d| d / 1000) else {
            continue;
        };
        let Ok(i) = usize::try_from(s) else { continue };
        if v.len() <= i {
            v.resize(i + 1, 0);
        }
        if let Some(n) = v.get_mut(i) {
            *n += 1;
        }
    }
    v
}

/// The most entries of the sorted `times` in any window `[t, t + width)`, and where it starts.
pub fn worst_window(times: &[u64], width: u64) -> (u64, u64) {
    let (mut best, mut at, mut lo) = (0u64, 0u64, 0usize);
    for (hi, t) in times.iter().enumerate() {
        while times.get(lo).is_some_and(|s| *s + width <= *t) {
            lo += 1;
        }
        let n = u64::try_from(hi + 1 - lo).unwrap_or(0);
        if n > best {
            best = n;
            at = times.get(lo).copied().unwrap_or(0);
        }
    }
    (best, at)
}

/// The pairs of a sample as Kendall's statistics count them: each pair of points once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pairs {
    /// Ordered the same way by `x` and by `y`.
    pub concordant: u64,
    /// Ordered one way by `x` and the other by `y`.
    pub discordant: u64,
    /// Equal in `x` (whatever `y`).
    pub tied_x: u64,
    /// Equal in `y` (whatever `x`).
    pub tied_y: u64,
    /// All of them: n (n − 1) / 2 for n points.
    pub all: u64,
}

impl Pairs {
    /// Counts every pair of `points`.
    pub fn of(points: &[(u64, u64)]) -> Pairs {
        use std::cmp::Ordering::Equal;
        let n = u64::try_from(points.len()).unwrap_or(u64::MAX);
        let mut p = Pairs {
            all: n.saturating_mul(n.saturating_sub(1)) / 2,
            ..Pairs::default()
        };
        for (i, a) in points.iter().enumerate() {
            for b in points.iter().skip(i + 1) {
                match (a.0.cmp(&b.0), a.1.cmp(&b.1)) {
                    (Equal, Equal) => {
                        p.tied_x += 1;
                        p.tied_y += 1;
                    }
                    (Equal, _) => p.tied_x += 1,
                    (_, Equal) => p.tied_y += 1,
                    (x, y) if x == y => p.concordant += 1,
                    _ => p.discordant += 1,
                }
            }
        }
        p
    }

    /// Kendall's τ-b: 1 when no pair is out of order only if `x` and `y` have the same ties.
    #[allow(clippy::cast_precision_loss, reason = "a statistic")]
    pub fn tau_b(&self) -> f64 {
        let denom = ((self.all.saturating_sub(self.tied_x) as f64)
            * (self.all.saturating_sub(self.tied_y) as f64))
            .sqrt();
        if denom == 0.0 {
            return 1.0;
        }
        (self.concordant as f64 - self.discordant as f64) / denom
    }

    /// Goodman and Kruskal's γ: the pairs in order less those out of order, over both, pairs
    /// tied in either left out. 1 exactly when no pair is out of order.
    #[allow(clippy::cast_precision_loss, reason = "a statistic")]
    pub fn gamma(&self) -> f64 {
        let untied = self.concordant + self.discordant;
        if untied == 0 {
            return 1.0;
        }
        (self.concordant as f64 - self.discordant as f64) / untied as f64
    }
}

/// Kendall's τ-b over pairs `(x, y)`.
pub fn kendall_tau_b(points: &[(u64, u64)]) -> f64 {
    Pairs::of(points).tau_b()
}

/// The τ-b of the same points with the `y` values put in the order of the `x` values: the
/// most τ-b can say of them. Below 1 when many points share an `x` and not a `y` (a third
/// of a night arriving in its first second, let through over the seconds after): τ-b counts
/// those pairs as neither in order nor out of it in its numerator, but in its denominator.
pub fn kendall_tau_b_ceiling(points: &[(u64, u64)]) -> f64 {
    let mut xs: Vec<u64> = points.iter().map(|p| p.0).collect();
    let mut ys: Vec<u64> = points.iter().map(|p| p.1).collect();
    xs.sort_unstable();
    ys.sort_unstable();
    let sorted: Vec<(u64, u64)> = xs.into_iter().zip(ys).collect();
    kendall_tau_b(&sorted)
}

#[allow(clippy::cast_precision_loss, reason = "figures for people")]
fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 1.0;
    }
    part as f64 / whole as f64
}

/// Millionths of the rate as a fraction of it.
#[allow(clippy::cast_precision_loss, reason = "figures for people")]
fn fraction(ppm: u64) -> f64 {
    ppm as f64 / crate::sim::PPM as f64
}

/// The most in any of `per_s` (indexed from `start_s` after midnight) and at which second.
fn worst_second(per_s: &[u64], start_s: i64) -> (u64, i64) {
    per_s.iter().zip(start_s..).fold(
        (0, start_s),
        |best, (n, s)| if *n > best.0 { (*n, s) } else { best },
    )
}

/// The most isolate syncs that reached any one aggregator in each second (indexed as
/// `Outcome::coordinator_per_s`).
pub fn busiest_aggregator_per_second(out: &Outcome) -> Vec<u64> {
    let mut v: Vec<u64> = Vec::new();
    for per_s in &out.aggregator_per_s {
        for (i, n) in per_s.iter().enumerate() {
            if v.len() <= i {
                v.resize(i + 1, 0);
            }
            if let Some(m) = v.get_mut(i) {
                *m = (*m).max(u64::from(*n));
            }
        }
    }
    v
}

/// The seconds after midnight in which, all second long, at least a second of the rate of
/// citizens waited whose place the cursor could pass (their order key at least the settle time
/// old), outside every outage; how many, the rate used in them, and where it went.
#[allow(clippy::cast_precision_loss, reason = "figures for people")]
fn use_while_waiting(sc: &Scenario, out: &Outcome, seconds: &[u64]) -> (u64, f64, RateUseFigures) {
    let midnight = sc.midnight_ms;
    let settle =
        edgegate_core::sync::settle_ms(sc.timing.sync_interval_ms, sc.timing.sync_timeout_ms);
    let n_seconds = out.tallies.len().max(seconds.len()) + 1;
    // Citizens waiting all through each second: +1 at the first whole second, −1 after the last.
    let mut change = vec![0i64; n_seconds + 1];
    for c in out.citizens.iter().filter(|c| !c.phantom) {
        let key = c.first_key;
        let passable_ms = key
            .bucket()
            .saturating_mul(1000)
            .saturating_add((key.sub() * 1000) >> 32)
            .saturating_add(settle);
        let end = match (c.through_at, c.gave_up) {
            (Some(t), _) => t,
            (None, true) => c.give_up_at,
            (None, false) => out.end_ms,
        };
        let from = passable_ms.saturating_sub(midnight).div_ceil(1000);
        let to = end.saturating_sub(midnight) / 1000;
        if let (Ok(from), Ok(to)) = (usize::try_from(from), usize::try_from(to)) {
            if from < to {
                if let Some(x) = change.get_mut(from.min(n_seconds)) {
                    *x += 1;
                }
                if let Some(x) = change.get_mut(to.min(n_seconds)) {
                    *x -= 1;
                }
            }
        }
    }
    let per_second = f64::from(sc.room.new_users_per_minute) / 60.0;
    let enough = i64::try_from(u64::from(sc.room.new_users_per_minute).div_ceil(60)).unwrap_or(0);
    let out_of_reach = |s: u64| {
        sc.outages.iter().any(|o| during(o.from_s, o.for_s, s))
            || (sc.location_outages.iter()).any(|o| during(o.from_s, o.for_s, s))
    };
    let (mut counted, mut through) = (0u64, 0u64);
    let mut total = Tally::default();
    let mut waiting = 0i64;
    for (s, delta) in (0u64..).zip(&change) {
        waiting += delta;
        if waiting < enough.max(1) || out_of_reach(s) {
            continue;
        }
        let i = usize::try_from(s).unwrap_or(usize::MAX);
        let (Some(a), Some(b)) = (out.tallies.get(i), out.tallies.get(i + 1)) else {
            continue;
        };
        counted += 1;
        through += seconds.get(i).copied().unwrap_or(0);
        let t = &mut total;
        t.spent = t.spent.plus(b.spent.since(a.spent));
        t.saved = t.saved.wrapping_add(b.saved.wrapping_sub(a.saved));
        t.location_share_ppm_ms += b.location_share_ppm_ms - a.location_share_ppm_ms;
    }
    let whole = (per_second * counted as f64).max(1.0);
    let citizens = |units: u64| units as f64 / edgegate_core::limiter::UNITS_PER_CITIZEN as f64;
    let seconds_of = |ppm_ms: u128| ppm_ms as f64 / 1e9 * per_second;
    let saved = i64::from_ne_bytes(total.saved.to_ne_bytes());
    let use_figures = RateUseFigures {
        not_given_to_locations: 1.0 - seconds_of(total.location_share_ppm_ms) / whole,
        not_given_to_isolates: (seconds_of(total.location_share_ppm_ms)
            - citizens(total.spent.earned))
            / whole,
        let_through: citizens(total.spent.granted) / whole,
        lost_while_waiting: citizens(total.spent.lost_waiting) / whole,
        lost_with_nobody_there: citizens(total.spent.lost_idle) / whole,
        forfeited: citizens(total.spent.forfeited) / whole,
        saved: saved as f64 / edgegate_core::limiter::UNITS_PER_CITIZEN as f64 / whole,
    };
    (counted, through as f64 / whole, use_figures)
}

/// Is second `s` inside the outage of `for_s` seconds from `from_s`?
fn during(from_s: u64, for_s: u64, s: u64) -> bool {
    s >= from_s && s < from_s.saturating_add(for_s)
}

fn ms_after(t: u64, midnight: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX) - i64::try_from(midnight).unwrap_or(0)
}

/// Turns a run into its figures.
#[allow(clippy::cast_precision_loss, reason = "figures for people")]
pub fn summarise(sc: &Scenario, out: &Outcome) -> Summary {
    let midnight = sc.midnight_ms;
    let rate = f64::from(sc.room.new_users_per_minute);
    let bound = (rate / 60.0).floor() + 1.0 + f64::from(sc.room.burst);
    let target = rate / 60.0 * 1.05 + 1.0;
    let seconds = per_second(out, midnight);
    let (worst, worst_at) = worst_window(&out.let_through_at, 1_000);
    let first_through = out.let_through_at.first().copied().unwrap_or(midnight);
    let last_through = out.let_through_at.last().copied().unwrap_or(midnight);
    let total = u64::try_from(out.let_through_at.len()).unwrap_or(0);
    let draining_s = (last_through.saturating_sub(first_through) as f64 / 1000.0).max(1.0);

    let coordinator_total: u64 = out.coordinator_per_s.iter().sum();
    let busy_seconds = out.coordinator_per_s.iter().filter(|n| **n > 0).count();
    let (coordinator_worst, coordinator_worst_at) =
        worst_second(&out.coordinator_per_s, out.start_s);
    let (mut agg_worst, mut agg_worst_location, mut agg_worst_at) = (0u64, 0u32, out.start_s);
    for (location, per_s) in (0u32..).zip(&out.aggregator_per_s) {
        let widened: Vec<u64> = per_s.iter().map(|n| u64::from(*n)).collect();
        let (n, at) = worst_second(&widened, out.start_s);
        if n > agg_worst {
            (agg_worst, agg_worst_location, agg_worst_at) = (n, location, at);
        }
    }
    let stale_by_location: Vec<u64> = out
        .stale_per_s
        .iter()
        .map(|v| v.iter().map(|n| u64::from(*n)).sum())
        .collect();
    let stale_total: u64 = stale_by_location.iter().sum();
    // The seconds in which any stale answer was given, first and last.
    let stale_seconds = out.stale_per_s.iter().flat_map(|v| {
        v.iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .filter_map(|(i, _)| u64::try_from(i).ok())
    });
    let stale_from_s = stale_seconds.clone().min();
    let stale_to_s = stale_seconds.max();

    // Order: a deterministic sample of those let through.
    let through: Vec<&crate::sim::Citizen> = out
        .citizens
        .iter()
        .filter(|c| c.through_at.is_some())
        .collect();
    let mut rng = Rng::new(sc.seed ^ 0x7a7a);
    let sample: Vec<&crate::sim::Citizen> = if through.len() <= sc.tau_sample {
        through.clone()
    } else {
        (0..sc.tau_sample)
            .filter_map(|_| {
                let i = rng.below(u64::try_from(through.len()).unwrap_or(0));
                through.get(usize::try_from(i).unwrap_or(0)).copied()
            })
            .collect()
    };
    let points = |f: &dyn Fn(&crate::sim::Citizen) -> u64| -> Vec<(u64, u64)> {
        sample
            .iter()
            .map(|c| (f(c), c.through_at.unwrap_or(0)))
            .collect()
    };
    let by = |f: &dyn Fn(&crate::sim::Citizen) -> u64| kendall_tau_b(&points(f));
    let by_second = points(&|c| c.first_key.bucket());
    let order_pairs = Pairs::of(&by_second);

    // ETA honesty.
    let (mut with_eta, mut inside, mut early, mut late) = (0u64, 0u64, 0u64, 0u64);
    for c in &through {
        if let (Some((low, high)), Some(t)) = (c.first_eta, c.through_at) {
            with_eta += 1;
            if t < low {
                early += 1;
            } else if t > high {
                late += 1;
            } else {
                inside += 1;
            }
        }
    }
    let (mut ranges, mut ranges_inside) = (0u64, 0u64);
    for (c, shown) in &out.traced_etas {
        let Some(t) = out.citizens.get(*c as usize).and_then(|c| c.through_at) else {
            continue;
        };
        for (low, high) in shown {
            ranges += 1;
            if (*low..=*high).contains(&t) {
                ranges_inside += 1;
            }
        }
    }

    let outages = sc
        .outages
        .iter()
        .map(|o| {
            let from = midnight + o.from_s * 1000;
            let to = from + o.for_s * 1000;
            let count = |a: u64, b: u64| {
                u64::try_from(
                    out.let_through_at
                        .iter()
                        .filter(|t| **t >= a && **t < b)
                        .count(),
                )
                .unwrap_or(0)
            };
            let worst = seconds
                .iter()
                .skip(usize::try_from(o.from_s).unwrap_or(0))
                .take(usize::try_from(o.for_s + 60).unwrap_or(0))
                .copied()
                .max()
                .unwrap_or(0);
            OutageFigures {
                from_s: o.from_s,
                for_s: o.for_s,
                let_through_during: count(from, to),
                let_through_minute_after: count(to, to + 60_000),
                worst_second: worst,
            }
        })
        .collect();

    let count = |f: &dyn Fn(&crate::sim::Citizen) -> bool| {
        u64::try_from(out.citizens.iter().filter(|c| f(c)).count()).unwrap_or(0)
    };
    let location_outages = sc
        .location_outages
        .iter()
        .map(|o| {
            let from = midnight + o.from_s * 1000;
            let to = from + o.for_s * 1000;
            let there = |c: &crate::sim::Citizen| c.location == o.location;
            let through_there = |a: u64, b: u64| {
                count(&|c| there(c) && c.through_at.is_some_and(|t| t >= a && t < b))
            };
            let stale_there = stale_by_location
                .get(o.location as usize)
                .copied()
                .unwrap_or(0);
            let window = usize::try_from(o.from_s).unwrap_or(usize::MAX)
                ..usize::try_from(o.from_s + o.for_s + 60).unwrap_or(usize::MAX);
            let stale_elsewhere_during = (0u32..)
                .zip(&out.stale_per_s)
                .filter(|(l, _)| *l != o.location)
                .flat_map(|(_, v)| v.get(window.clone()).unwrap_or(&[]))
                .fold(0u64, |n, s| n.saturating_add(u64::from(*s)));
            LocationOutageFigures {
                location: o.location,
                from_s: o.from_s,
                for_s: o.for_s,
                isolates: out
                    .isolates_per_location
                    .get(o.location as usize)
                    .copied()
                    .unwrap_or(0),
                citizens: count(&there),
                stale_answers_there: stale_there,
                stale_answers_elsewhere: stale_total - stale_there,
                stale_answers_elsewhere_during: stale_elsewhere_during,
                let_through_there_during: through_there(from, to),
                let_through_there_minute_after: through_there(to, to + 60_000),
                places_lost_there: out
                    .citizens
                    .iter()
                    .filter(|c| there(c))
                    .fold(0u64, |n, c| n.saturating_add(u64::from(c.lost))),
            }
        })
        .collect();
    let (waiting_seconds, used_while_waiting, rate_use) = use_while_waiting(sc, out, &seconds);
    let coordinator_out = |s: u64| sc.outages.iter().any(|o| during(o.from_s, o.for_s, s));
    let drain_ms = last_through.saturating_sub(midnight);
    let outage_ms: u64 = sc
        .outages
        .iter()
        .map(|o| {
            let from = o.from_s * 1000;
            (from + o.for_s * 1000).min(drain_ms).saturating_sub(from)
        })
        .sum();
    let outside: u64 = (0u64..)
        .zip(&seconds)
        .filter(|(s, _)| !coordinator_out(*s))
        .map(|(_, n)| *n)
        .sum();
    let used_outside_outages = outside as f64
        / (rate / 60.0 * (drain_ms.saturating_sub(outage_ms) as f64 / 1000.0)).max(1.0);
    Summary {
        scenario: sc.name.clone(),
        seed: sc.seed,
        citizens: sc.citizens(),
        locations: sc.locations,
        isolates: out.isolates(),
        rate_per_minute: sc.room.new_users_per_minute,
        rate: RateFigures {
            let_through_total: total,
            worst_window: worst,
            worst_window_at_ms: ms_after(worst_at, midnight),
            bound_one_isolate: bound,
            target,
            bound_with_isolates: bound + f64::from(out.isolates()),
            seconds_over_bound: u64::try_from(
                seconds.iter().filter(|n| **n as f64 > bound).count(),
            )
            .unwrap_or(0),
            seconds_over_target: u64::try_from(
                seconds.iter().filter(|n| **n as f64 > target).count(),
            )
            .unwrap_or(0),
            worst_second: seconds.iter().copied().max().unwrap_or(0),
            mean_per_second_while_draining: total as f64 / draining_s,
            worst_share_sum: fraction(out.worst_share_sum_ppm),
            worst_share_sum_at_ms: ms_after(out.worst_share_sum_at, midnight),
            worst_share_sum_after_10_s: fraction(
                out.share_sum_per_s
                    .iter()
                    .skip(10)
                    .copied()
                    .max()
                    .unwrap_or(0),
            ),
            share_sum_at_worst_window: fraction(
                usize::try_from(worst_at.saturating_sub(midnight) / 1000)
                    .ok()
                    .and_then(|i| out.share_sum_per_s.get(i))
                    .copied()
                    .unwrap_or(0),
            ),
            worst_location_share_sum: fraction(out.worst_location_share_sum_ppm),
            worst_location_share_sum_after_10_s: fraction(
                out.location_share_sum_per_s
                    .iter()
                    .skip(10)
                    .copied()
                    .max()
                    .unwrap_or(0),
            ),
            used_while_waiting,
            seconds_waiting: waiting_seconds,
            used_outside_outages,
        },
        coordinator: CoordinatorFigures {
            worst_requests_per_second: coordinator_worst,
            worst_at_s: coordinator_worst_at,
            mean_requests_per_second: coordinator_total as f64 / (busy_seconds.max(1) as f64),
            total_requests: coordinator_total,
            most_from_one_location_per_second: out.most_room_syncs_one_location_s,
            syncs_sent: out.room_syncs_sent,
            syncs_failed: out.room_syncs_failed,
            duplicate_syncs: out.duplicate_syncs,
            target_per_second: sc.locations,
        },
        aggregators: AggregatorFigures {
            worst_requests_per_second: agg_worst,
            worst_location: agg_worst_location,
            worst_at_s: agg_worst_at,
            target_per_second: AGGREGATOR_TARGET_PER_S,
            isolates_most: out.isolates_per_location.iter().copied().max().unwrap_or(0),
            isolates_fewest: out.isolates_per_location.iter().copied().min().unwrap_or(0),
            syncs_sent: out.syncs_sent,
            syncs_failed: out.syncs_failed,
            duplicate_syncs: out.duplicate_isolate_syncs,
        },
        order: OrderFigures {
            kendall_tau_by_second: order_pairs.tau_b(),
            kendall_tau_by_key: by(&|c| c.first_key.0),
            kendall_tau_by_arrival_ms: by(&|c| c.arrive_ms),
            kendall_tau_by_second_ceiling: kendall_tau_b_ceiling(&by_second),
            gamma_by_second: order_pairs.gamma(),
            sample: sample.len(),
        },
        eta: EtaFigures {
            first_poll_inside: share(inside, with_eta),
            first_poll_early: share(early, with_eta),
            first_poll_late: share(late, with_eta),
            with_first_eta: with_eta,
            every_poll_inside: share(ranges_inside, ranges),
            traced_ranges: ranges,
        },
        crowd: CrowdFigures {
            phantoms: count(&|c| c.phantom),
            gave_up: count(&|c| c.gave_up),
            places_lost: out
                .citizens
                .iter()
                .fold(0u64, |n, c| n.saturating_add(u64::from(c.lost))),
            places_lost_patient: out
                .citizens
                .iter()
                .filter(|c| c.give_up_at == u64::MAX)
                .fold(0u64, |n, c| n.saturating_add(u64::from(c.lost))),
            polls: out.polls,
            polls_not_yet: out.polls_not_yet,
            polls_not_yet_eligible_at_room: out.polls_not_yet_eligible_at_room,
            polls_throttled: out.polls_throttled,
            lost_let_throughs: out.lost_let_throughs,
            polls_refused_at_zero_share: out.polls_refused_at_zero_share,
            fetches: out.fetches,
            late_places_charged: out.late_places_charged,
            renewals_behind_cursor: out.renewals_behind_cursor,
            lowest_allowance_citizens: out.lowest_allowance / crate::sim::ALLOWANCE_PER_CITIZEN,
            stale_answers: stale_total,
            locations_with_stale_answers: u64::try_from(
                stale_by_location.iter().filter(|n| **n > 0).count(),
            )
            .unwrap_or(0),
            stale_from_s,
            stale_to_s,
            cold_answers: out.cold_answers,
            coordinator_lapsed: out.lapsed_total,
            drain_s: ms_after(last_through, midnight) as f64 / 1000.0,
            unresolved: out.unresolved,
        },
        rate_use,
        outages,
        location_outages,
        run: RunFigures {
            wall_s: out.wall_ms as f64 / 1000.0,
            simulated_s: ms_after(out.end_ms, midnight) as f64 / 1000.0,
            events: out.events,
        },
        origin: origin_figures(sc, out, &seconds),
    }
}

/// The rate in force at each second after midnight, per minute: the scenario's, then each
/// change the autopilot made.
fn rate_per_second(sc: &Scenario, out: &Outcome, seconds: usize) -> Vec<u32> {
    let mut rate = vec![sc.room.new_users_per_minute; seconds];
    for &(at, _, to, _) in &out.rate_changes {
        let from = usize::try_from(at.saturating_sub(sc.midnight_ms) / 1000).unwrap_or(0);
        for r in rate.iter_mut().skip(from) {
            *r = to;
        }
    }
    rate
}

#[allow(
    clippy::cast_precision_loss,
    reason = "figures for reading: requests and capacities print fine as f64"
)]
fn origin_figures(sc: &Scenario, out: &Outcome, let_through: &[u64]) -> Option<OriginFigures> {
    let model = sc.origin.as_ref()?;
    let per_s = &out.origin_per_s;
    let failed = |c: &edgegate_core::origin::OriginCounts| c.errors_5xx;
    let capacity = |s: usize| model.capacity_at(i64::try_from(s).unwrap_or(i64::MAX));
    let worst_second_over_capacity = per_s
        .iter()
        .enumerate()
        .map(|(s, c)| c.requests as f64 / f64::from(capacity(s)))
        .fold(0.0, f64::max);
    let window_s = usize::try_from(edgegate_core::autopilot::WINDOW_MS / 1000).unwrap_or(10);
    // The stretches of constant capacity, up to the last second with a request.
    let end = per_s.len();
    let mut starts: Vec<usize> = vec![0];
    for c in &model.changes {
        if let Ok(at) = usize::try_from(c.at_s) {
            if at > 0 && at < end {
                starts.push(at);
            }
        }
    }
    starts.sort_unstable();
    starts.dedup();
    let rates = rate_per_second(sc, out, end.max(let_through.len()));
    let stretches = starts
        .iter()
        .enumerate()
        .map(|(i, &from)| {
            let to = starts.get(i + 1).copied().unwrap_or(end);
            let cap = capacity(from);
            let windows: Vec<(u64, u64, u64)> = (from..to)
                .step_by(window_s.max(1))
                .map(|w| {
                    let slice = per_s.get(w..(w + window_s).min(to)).unwrap_or(&[]);
                    let requests: u64 = slice.iter().map(|c| c.requests).sum();
                    let refused: u64 = slice.iter().map(failed).sum();
                    (requests, refused, u64::try_from(slice.len()).unwrap_or(0))
                })
                .collect();
            // Converged from window k on: no later window sends the origin more than 110 % of
            // its capacity, and under 1 % of all the requests after it are refused.
            let converged = (0..windows.len()).find(|&k| {
                let later = windows.get(k..).unwrap_or(&[]);
                let (requests, refused) = later
                    .iter()
                    .fold((0u64, 0u64), |(r, f), (x, y, _)| (r + x, f + y));
                later
                    .iter()
                    .all(|(r, _, len)| *r as f64 <= f64::from(cap) * *len as f64 * 1.1)
                    && refused as f64 <= requests as f64 * 0.01
            });
            let after = converged.map(|k| windows.get(k..).unwrap_or(&[]));
            let sum = |w: &[(u64, u64, u64)]| {
                w.iter().fold((0u64, 0u64, 0u64), |(a, b, c), (x, y, z)| {
                    (a + x, b + y, c + z)
                })
            };
            StretchFigures {
                from_s: u64::try_from(from).unwrap_or(0),
                to_s: u64::try_from(to).unwrap_or(0),
                capacity_per_s: cap,
                converged_after_windows: converged.map(|k| u64::try_from(k).unwrap_or(0)),
                worst_window_over_capacity: after.map(|w| {
                    w.iter()
                        .map(|(r, _, len)| *r as f64 / (f64::from(cap) * (*len).max(1) as f64))
                        .fold(0.0, f64::max)
                }),
                refused_share_after: after.map(|w| {
                    let (r, f, _) = sum(w);
                    f as f64 / r.max(1) as f64
                }),
                served_share_of_capacity_after: after.map(|w| {
                    let (r, f, len) = sum(w);
                    (r - f) as f64 / (f64::from(cap) * len.max(1) as f64)
                }),
                rate_at_end_per_minute: rates
                    .get(to.saturating_sub(1))
                    .copied()
                    .unwrap_or(sc.room.new_users_per_minute),
            }
        })
        .collect();
    let in_force = |s: usize| {
        rates
            .get(s.saturating_sub(5)..=s)
            .and_then(|r| r.iter().max().copied())
            .unwrap_or(sc.room.new_users_per_minute)
    };
    let seconds_over = |bound: &dyn Fn(u32) -> f64| {
        let over = let_through
            .iter()
            .enumerate()
            .filter(|(s, n)| **n as f64 > bound(in_force(*s)))
            .count();
        u64::try_from(over).unwrap_or(u64::MAX)
    };
    let seconds_over_target_in_force = seconds_over(&|r| f64::from(r) / 60.0 * 1.05 + 1.0);
    let isolates = f64::from(out.isolates());
    let burst = f64::from(sc.room.burst);
    let seconds_over_bound_with_isolates_in_force =
        seconds_over(&|r| (f64::from(r) / 60.0).floor() + 1.0 + burst + isolates);
    Some(OriginFigures {
        requests: per_s.iter().map(|c| c.requests).sum(),
        refused_503: per_s.iter().map(failed).sum(),
        timed_out: per_s.iter().map(|c| c.timeouts).sum(),
        worst_second_over_capacity,
        window_ms: edgegate_core::autopilot::WINDOW_MS,
        stretches,
        seconds_over_target_in_force,
        seconds_over_bound_with_isolates_in_force,
        rate_changes: out.rate_changes.len(),
        changes: out
            .rate_changes
            .iter()
            .take(40)
            .map(|(at, from, to, why)| RateChange {
                at_s: ms_after(*at, sc.midnight_ms) as f64 / 1000.0,
                from: *from,
                to: *to,
                why: why.clone(),
            })
            .collect(),
    })
}
