//! The small scenarios, run in the suite: a few thousand citizens over five locations, whose
//! isolates start with the load (about ten in all), at 100 let-throughs a second: once calm,
//! once with the room coordinator out of reach for two minutes, and once with the busiest
//! location's aggregator out of reach for thirty seconds. The bounds are the figures measured
//! on the hierarchy (in the comments), with a little room, so that a regression breaks them.

#![allow(
    clippy::unwrap_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "a test: fail loudly"
)]

use edgegate_sim::report::{
    kendall_tau_b, kendall_tau_b_ceiling, per_second, summarise, worst_window, Pairs, Summary,
};
use edgegate_sim::scenario::Scenario;
use edgegate_sim::sim::Sim;

fn scenario(name: &str) -> Scenario {
    let path = format!("{}/scenarios/{name}.json", env!("CARGO_MANIFEST_DIR"));
    Scenario::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Runs a scenario: its figures, and let-throughs per second after midnight.
fn run(sc: &Scenario) -> (Summary, Vec<u64>) {
    let out = Sim::new(sc, false).run();
    (summarise(sc, &out), per_second(&out, sc.midnight_ms))
}

#[test]
fn the_small_night_keeps_every_place_and_the_coordinator_hears_once_per_location() {
    let sc = scenario("small");
    let (s, seconds) = run(&sc);
    // Everyone patient goes through, nobody who kept polling loses a place.
    assert_eq!(s.crowd.unresolved, 0);
    assert_eq!(s.crowd.places_lost, 0);
    assert_eq!(
        s.rate.let_through_total + s.crowd.phantoms + s.crowd.gave_up,
        s.citizens
    );
    // The isolates grew with the load: the busiest location runs several, the quietest one.
    assert!(s.isolates > sc.locations, "{} isolates", s.isolates);
    assert!(s.aggregators.isolates_most > s.aggregators.isolates_fewest);
    // The coordinator hears from each location's aggregator at most once a second: no
    // aggregator ever sent two syncs in one second, and in no second did more than one per
    // location arrive (plus one for a sync delayed across a second's edge). Measured: 1 and 5.
    assert_eq!(
        s.coordinator.most_from_one_location_per_second, 1,
        "{:?}",
        s.coordinator
    );
    assert!(
        s.coordinator.worst_requests_per_second <= u64::from(sc.locations) + 1,
        "{:?}",
        s.coordinator
    );
    // Each aggregator hears from each of its isolates about once a second, and once more when
    // an answer cut the isolate's share, which it says early (`Outbox::hurry`): measured, 7
    // in the worst second at the location with 4 isolates (4 before cuts were said early).
    assert!(
        s.aggregators.worst_requests_per_second <= 2 * u64::from(s.aggregators.isolates_most) + 1,
        "{:?}",
        s.aggregators
    );
    // The rate. Shares are granted from the headroom the others' shares still in force leave,
    // a cut share stays in force until its holder says it runs the new one, and every share is
    // leased (`sync::Senders::grant`, `sync::LEASE_MS`), so the shares in force never add up to
    // more than the rate, measured at every answer from the first second on (1.0; 2.0 in the
    // first second and 1.036 after the tenth before leases). The worst window is 102 against a
    // target of 106 (measured; 96 to 104 since the leases, 101 before them, 108 when a share
    // given back was free at once, 174 when each share was computed on its own).
    assert!(
        (s.rate.worst_window as f64) <= s.rate.target,
        "worst window {} > {}",
        s.rate.worst_window,
        s.rate.target
    );
    // One millionth more per sender at most: a busy sender never gets nothing.
    let slack = f64::from(s.isolates) / 1e6;
    assert!(s.rate.worst_share_sum <= 1.0 + slack, "{:?}", s.rate);
    assert!(
        s.rate.worst_location_share_sum <= 1.0 + f64::from(sc.locations) / 1e6,
        "{:?}",
        s.rate
    );
    let after_rush = seconds.iter().skip(16).copied().max().unwrap();
    assert!(
        (after_rush as f64) <= s.rate.target,
        "after the rush {after_rush} > {}",
        s.rate.target
    );
    // Order: FIFO between seconds, measured τ = 0.902 (0.897 before the shares weighed the
    // earliest seconds in the lines and cuts were said early, 0.905 and 0.908 over eight seeds;
    // 0.902 before the page came back a
    // round trip early at the front, 0.905 and 0.905 over eight seeds; 0.888 before the
    // shares counted each location's front of the line; 0.890 while the citizens at the front
    // came back a second apart; 0.877 when they came back sooner and the shares still
    // followed refusals). What holds it under 0.99 is in FINDINGS.md: first of all τ-b itself,
    // whose ceiling for these let-throughs is 0.955 (a third of the night arrives in its
    // first second). γ, the pairs from different seconds in order less those out of it, is
    // 0.944: 2.5 % of the pairs out of order.
    assert!(s.order.kendall_tau_by_second >= 0.88, "{:?}", s.order);
    assert!(s.order.kendall_tau_by_second <= s.order.kendall_tau_by_second_ceiling);
    assert!(
        s.order.kendall_tau_by_second_ceiling < 0.97,
        "{:?}",
        s.order
    );
    assert!(s.order.gamma_by_second >= 0.93, "{:?}", s.order);
    // Throughput: the limiters save half a second of the rate, so a citizen back a little late
    // still finds its token, and a citizen at the front comes back when its token is due, even
    // within the second, sent a round trip early: 144 let-throughs lost to a full bucket
    // while citizens waited, for 2,845 let through (187 before the page came back a round
    // trip early, 180 before the shares counted the front, 577 when the page waited at least
    // a second, 2,222 when the bucket also saved only a tenth of a second), and 88 % of the
    // rate used while a queue waited (87 % before the round trip, 82 % before the shares
    // counted the front, 70 % when the page waited a second and the shares followed
    // refusals).
    assert!(
        s.crowd.lost_let_throughs * 8 <= s.rate.let_through_total,
        "{:?}",
        s.crowd
    );
    assert!(s.rate.used_while_waiting >= 0.85, "{:?}", s.rate);
    // ETA: 0.8 % let through before the near end of the first range they were shown, 94.6 %
    // inside it (measured; 0.6 % and 96.8 % before the shares weighed the earliest seconds
    // and cuts were said early, 96.7 % and 96.0 % over eight seeds; 97.0 % inside before the
    // page came back a round trip early at the front,
    // 92.9 % before the shares counted the front, 47 % when the limiters lost two tokens in
    // five, 43 % before the far end followed the measured let-through rate), the rest late.
    assert!(s.eta.first_poll_early <= 0.01, "{:?}", s.eta);
    assert!(s.eta.first_poll_inside >= 0.90, "{:?}", s.eta);
    // An isolate whose fair share grew waits for the others to give theirs back: until each
    // says, at its next sync, that it runs its cut share (`sync::Senders::grant`). Its eligible
    // citizens are told to come back meanwhile (97 polls of the night's 24,789, measured;
    // 88 of 24,876 before cuts were said early;
    // 1,439 of 29,760 before the shares counted the front of the line, 929 when a cut was
    // taken as heard 250 ms after it was made), and every patient one still
    // goes through (above).
    assert!(
        s.crowd.polls_refused_at_zero_share <= 2_000,
        "{:?}",
        s.crowd
    );
    // A calm night shows nobody a stale answer, not even at the opening after a quiet minute:
    // an aggregator that was idle hears from the room before it answers
    // (`Aggregator::needs_room_first`).
    assert_eq!(s.crowd.stale_answers, 0, "{:?}", s.crowd);
    assert_eq!(s.crowd.cold_answers, 0);
}

#[test]
fn a_two_minute_coordinator_outage_loses_no_place_and_admits_at_most_the_rate() {
    let sc = scenario("small-outage");
    let (s, seconds) = run(&sc);
    assert_eq!(s.crowd.unresolved, 0);
    assert_eq!(s.crowd.places_lost, 0, "{:?}", s.crowd);
    // Every location goes stale through its aggregator's failing syncs, and is told so until
    // the coordinator is back (measured: stale answers in all five, until second 131).
    assert_eq!(
        s.crowd.locations_with_stale_answers,
        u64::from(sc.locations)
    );
    assert!(s.crowd.stale_to_s >= Some(130), "{:?}", s.crowd);
    let outage = &s.outages[0];
    // Fail-static: the isolates go on at a tenth of their shares from counted seconds only;
    // nothing is let through beyond the one-isolate bound plus one per isolate during the
    // outage or at the recovery (measured: 82 in the worst second).
    let window: Vec<u64> = seconds
        .iter()
        .skip(usize::try_from(outage.from_s + 15).unwrap())
        .take(usize::try_from(outage.for_s + 45).unwrap())
        .copied()
        .collect();
    let worst = window.iter().copied().max().unwrap();
    assert!(
        (worst as f64) <= s.rate.bound_with_isolates,
        "{worst} in a second of the outage or the recovery"
    );
    assert!(outage.let_through_during > 0, "{outage:?}");
    // The target holds over the whole night, recovery included (measured: 94 in the
    // worst 1-s window, target 106), although the locations' shares add up to 1.8 times the
    // rate in the second the coordinator is back: the senders it has not heard from for two
    // minutes no longer count against the headroom (see FINDINGS.md).
    assert!(
        (s.rate.worst_window as f64) <= s.rate.target,
        "{:?}",
        s.rate
    );
    // The line still moves in order (measured τ = 0.874; 0.911 before cuts were said early and
    // the shares weighed the earliest seconds, 0.884 and 0.884 over eight seeds).
    assert!(s.order.kendall_tau_by_second >= 0.85, "{:?}", s.order);
}

#[test]
fn one_locations_aggregator_out_of_reach_makes_only_that_location_stale() {
    let sc = scenario("small-location-outage");
    let (s, _) = run(&sc);
    assert_eq!(s.crowd.unresolved, 0);
    assert_eq!(s.crowd.places_lost, 0, "{:?}", s.crowd);
    let o = &s.location_outages[0];
    // The busiest location (0) loses its aggregator from 10 s to 40 s: its isolates' syncs
    // fail, they go stale and run fail-static (measured: 5,157 stale answers there, 221 of its
    // citizens let through during the outage). Nobody elsewhere is told anything stale, during
    // the outage or at any other time (measured: all 5,157 stale answers were location 0's).
    assert!(o.stale_answers_there > 1_000, "{o:?}");
    assert_eq!(o.stale_answers_elsewhere_during, 0, "{o:?}");
    assert_eq!(s.crowd.locations_with_stale_answers, 1, "{:?}", s.crowd);
    assert!(o.let_through_there_during > 0, "{o:?}");
    assert_eq!(o.places_lost_there, 0, "{o:?}");
    // Its places were counted at its isolates but could not reach the room, whose cursor went
    // on: they are charged as late when the aggregator is back (618 measured), and those
    // citizens go through after others who came later. The order suffers: τ = 0.587 measured
    // (0.494 before the shares weighed the earliest seconds in the lines and cuts were said
    // early).
    assert!(s.crowd.late_places_charged > 0, "{:?}", s.crowd);
    assert!(s.order.kendall_tau_by_second >= 0.45, "{:?}", s.order);
    // The rest of the room is untouched: the coordinator still hears from every location at
    // most once a second.
    assert_eq!(s.coordinator.most_from_one_location_per_second, 1);
}

#[test]
fn a_run_is_reproducible() {
    let sc = scenario("small");
    let (a, _) = run(&sc);
    let (b, _) = run(&sc);
    let strip = |s: &Summary| {
        let mut v = serde_json::to_value(s).unwrap();
        v["run"]["wall_s"] = serde_json::Value::Null;
        v
    };
    assert_eq!(strip(&a), strip(&b));
}

#[test]
fn the_statistics_are_right_on_small_cases() {
    assert_eq!(kendall_tau_b(&[(1, 1), (2, 2), (3, 3)]), 1.0);
    assert_eq!(kendall_tau_b(&[(1, 3), (2, 2), (3, 1)]), -1.0);
    // Three arrivals in one second let through one after another, then one a second later:
    // every pair from different seconds in order. τ-b counts the three tied pairs in its
    // denominator only, so perfect order reads √(3/6) = 0.707; γ and the ceiling say so.
    let bunched = [(1, 10), (1, 11), (1, 12), (2, 13)];
    let pairs = Pairs::of(&bunched);
    assert_eq!(
        (pairs.concordant, pairs.discordant, pairs.tied_x),
        (3, 0, 3)
    );
    assert!((kendall_tau_b(&bunched) - 0.5f64.sqrt()).abs() < 1e-12);
    assert_eq!(kendall_tau_b_ceiling(&bunched), kendall_tau_b(&bunched));
    assert_eq!(pairs.gamma(), 1.0);
    // One of the three pairs from different seconds out of order: γ (2 − 1) / 3; the
    // ceiling is that of the same points in order.
    let late = [(1, 10), (1, 11), (1, 13), (2, 12)];
    assert_eq!(Pairs::of(&late).gamma(), 1.0 / 3.0);
    assert_eq!(kendall_tau_b_ceiling(&late), kendall_tau_b(&bunched));
    assert!(kendall_tau_b(&late) < kendall_tau_b_ceiling(&late));
    assert_eq!(
        worst_window(&[0, 10, 999, 1000, 1500, 1998], 1000),
        (4, 999)
    );
}

#[test]
fn seeds_run_the_scenario_once_each_and_fold_every_figure() {
    let sc = scenario("small");
    let mut told = Vec::new();
    let runs = edgegate_sim::seeds::run(&sc, 2, &mut |seed, figures| {
        told.push((seed, figures["seed"].clone()));
    });
    assert_eq!(told, [(1, 1.into()), (2, 2.into())]);
    let folded = edgegate_sim::seeds::spread(&runs);
    assert_eq!(folded["mean"]["seed"], serde_json::json!(1.5));
    let used = |k: &str| folded[k]["rate"]["used_while_waiting"].as_f64().unwrap();
    assert!(used("min") <= used("mean") && used("mean") <= used("max"));
    assert!(
        used("min") < used("max"),
        "two crowds, two nights: {folded}"
    );
    assert_eq!(
        folded["max"]["crowd"]["places_lost"],
        serde_json::json!(0.0)
    );
}
