//! What a run reports: the figures of issue 10, as a JSON summary, and a picture of the
//! let-through per second against the rate (`svg`).

use serde::Serialize;

use crate::rng::Rng;
use crate::scenario::Scenario;
use crate::sim::Outcome;

/// The JSON summary of one run.
#[derive(Clone, Debug, Serialize)]
pub struct Summary {
    pub scenario: String,
    pub seed: u64,
    pub citizens: u64,
    pub locations: u32,
    pub isolates: u32,
    pub rate_per_minute: u32,
    pub rate: RateFigures,
    pub coordinator: CoordinatorFigures,
    pub order: OrderFigures,
    pub eta: EtaFigures,
    pub crowd: CrowdFigures,
    pub outages: Vec<OutageFigures>,
    pub run: RunFigures,
}

/// Let-throughs against the rate.
#[derive(Clone, Debug, Serialize)]
pub struct RateFigures {
    pub let_through_total: u64,
    /// The most let through in any window `[t, t + 1 s)` of the true clock.
    pub worst_window: u64,
    /// When that window began, ms after midnight.
    pub worst_window_at_ms: i64,
    /// `rate / 60 × 1.1 + 1 + burst`: the one-isolate bound.
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
    /// The most the isolates' shares of the rate added up to at one time, per mille: each
    /// share is computed when its isolate syncs, from the demand the coordinator knew then, so
    /// shares handed out at different times can add up to more than the rate.
    pub worst_share_sum_per_mille: u64,
    pub worst_share_sum_at_ms: i64,
    /// The most the shares added up to from the 10th second after midnight on.
    pub worst_share_sum_after_10_s_per_mille: u64,
    /// The most they added up to in the second the worst window began in.
    pub share_sum_at_worst_window_per_mille: u64,
}

#[derive(Clone, Debug, Serialize)]
pub struct CoordinatorFigures {
    pub worst_requests_per_second: u64,
    pub mean_requests_per_second: f64,
    pub total_requests: u64,
    pub syncs_sent: u64,
    pub syncs_failed: u64,
    pub duplicate_syncs: u64,
    /// The target: at most one per location per second.
    pub target_per_second: u32,
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
    pub stale_answers: u64,
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

/// Kendall's τ-b over pairs `(x, y)`.
#[allow(clippy::cast_precision_loss, reason = "a statistic")]
pub fn kendall_tau_b(pairs: &[(u64, u64)]) -> f64 {
    let (mut concordant, mut discordant, mut tie_x, mut tie_y) = (0i64, 0i64, 0i64, 0i64);
    for (i, a) in pairs.iter().enumerate() {
        for b in pairs.iter().skip(i + 1) {
            match (a.0.cmp(&b.0), a.1.cmp(&b.1)) {
                (std::cmp::Ordering::Equal, std::cmp::Ordering::Equal) => {
                    tie_x += 1;
                    tie_y += 1;
                }
                (std::cmp::Ordering::Equal, _) => tie_x += 1,
                (_, std::cmp::Ordering::Equal) => tie_y += 1,
                (x, y) if x == y => concordant += 1,
                _ => discordant += 1,
            }
        }
    }
    let n = i64::try_from(pairs.len()).unwrap_or(0);
    let n0 = n * (n - 1) / 2;
    let denom = (((n0 - tie_x) as f64) * ((n0 - tie_y) as f64)).sqrt();
    if denom == 0.0 {
        return 1.0;
    }
    (concordant - discordant) as f64 / denom
}

#[allow(clippy::cast_precision_loss, reason = "figures for people")]
fn share(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        return 1.0;
    }
    part as f64 / whole as f64
}

fn ms_after(t: u64, midnight: u64) -> i64 {
    i64::try_from(t).unwrap_or(i64::MAX) - i64::try_from(midnight).unwrap_or(0)
}

/// Turns a run into its figures.
#[allow(clippy::cast_precision_loss, reason = "figures for people")]
pub fn summarise(sc: &Scenario, out: &Outcome) -> Summary {
    let midnight = sc.midnight_ms;
    let rate = f64::from(sc.room.new_users_per_minute);
    let bound = rate / 60.0 * 1.1 + 1.0 + f64::from(sc.room.burst);
    let target = rate / 60.0 * 1.05 + 1.0;
    let seconds = per_second(out, midnight);
    let (worst, worst_at) = worst_window(&out.let_through_at, 1_000);
    let first_through = out.let_through_at.first().copied().unwrap_or(midnight);
    let last_through = out.let_through_at.last().copied().unwrap_or(midnight);
    let total = u64::try_from(out.let_through_at.len()).unwrap_or(0);
    let draining_s = (last_through.saturating_sub(first_through) as f64 / 1000.0).max(1.0);

    let coordinator_total: u64 = out.coordinator_per_s.iter().sum();
    let busy_seconds = out.coordinator_per_s.iter().filter(|n| **n > 0).count();

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
    let by = |f: &dyn Fn(&crate::sim::Citizen) -> u64| -> f64 {
        let pairs: Vec<(u64, u64)> = sample
            .iter()
            .map(|c| (f(c), c.through_at.unwrap_or(0)))
            .collect();
        kendall_tau_b(&pairs)
    };

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
    Summary {
        scenario: sc.name.clone(),
        seed: sc.seed,
        citizens: sc.citizens(),
        locations: sc.locations,
        isolates: out.isolates,
        rate_per_minute: sc.room.new_users_per_minute,
        rate: RateFigures {
            let_through_total: total,
            worst_window: worst,
            worst_window_at_ms: ms_after(worst_at, midnight),
            bound_one_isolate: bound,
            target,
            bound_with_isolates: bound + f64::from(out.isolates),
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
            worst_share_sum_per_mille: out.worst_share_sum_per_mille,
            worst_share_sum_at_ms: ms_after(out.worst_share_sum_at, midnight),
            worst_share_sum_after_10_s_per_mille: out
                .share_sum_per_s
                .iter()
                .skip(10)
                .copied()
                .max()
                .unwrap_or(0),
            share_sum_at_worst_window_per_mille: usize::try_from(
                worst_at.saturating_sub(midnight) / 1000,
            )
            .ok()
            .and_then(|i| out.share_sum_per_s.get(i))
            .copied()
            .unwrap_or(0),
        },
        coordinator: CoordinatorFigures {
            worst_requests_per_second: out.coordinator_per_s.iter().copied().max().unwrap_or(0),
            mean_requests_per_second: coordinator_total as f64 / (busy_seconds.max(1) as f64),
            total_requests: coordinator_total,
            syncs_sent: out.syncs_sent,
            syncs_failed: out.syncs_failed,
            duplicate_syncs: out.duplicate_syncs,
            target_per_second: sc.locations,
        },
        order: OrderFigures {
            kendall_tau_by_second: by(&|c| c.first_key.bucket()),
            kendall_tau_by_key: by(&|c| c.first_key.0),
            kendall_tau_by_arrival_ms: by(&|c| c.arrive_ms),
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
            polls_refused_at_zero_share: out.polls_refused_at_zero_share,
            fetches: out.fetches,
            late_places_charged: out.late_places_charged,
            renewals_behind_cursor: out.renewals_behind_cursor,
            lowest_allowance_citizens: out.lowest_allowance / crate::sim::ALLOWANCE_PER_CITIZEN,
            stale_answers: out.stale_answers,
            coordinator_lapsed: out.lapsed_total,
            drain_s: ms_after(last_through, midnight) as f64 / 1000.0,
            unresolved: out.unresolved,
        },
        outages,
        run: RunFigures {
            wall_s: out.wall_ms as f64 / 1000.0,
            simulated_s: ms_after(out.end_ms, midnight) as f64 / 1000.0,
            events: out.events,
        },
    }
}
