//! edgegate-sim: a deterministic discrete-event simulator of a night at the gate that drives the
//! real core (issue 10). Citizens arrive by a scenario's schedule across edge locations, fetch a
//! ticket from a real [`edgegate_core::isolate::Isolate`], poll as the waiting page does, and
//! are let through by the same code the worker runs. The hierarchy is the one deployed: the
//! isolates of each location sync with that location's real
//! [`edgegate_core::aggregate::Aggregator`], and the aggregators with one real
//! [`edgegate_core::room::Room`], over a simulated network that delays, loses, and goes dark.
//! Only I/O is simulated: a seeded random source and a simulated clock make every run
//! reproducible.
//!
//! `scripts/simulate SCENARIO` runs `scenarios/SCENARIO.json` and prints the figures
//! ([`report::Summary`]) as JSON; the picture goes to `target/sim/SCENARIO.svg`.
//! `scripts/simulate SCENARIO --seeds N` runs it with seeds 1 to N instead and prints every
//! figure's mean, least and greatest ([`seeds`]).
//!
//! ## What is modelled, and what is not yet
//! Modelled: locations with Zipf demand; isolates that start as a location's load grows (one
//! per so many requests a second, within a minimum and a maximum), each cold until its first
//! sync, which its first request waits for; one aggregator per location, which waits for the
//! coordinator before its first answer and then answers at once and syncs upstream when due;
//! each isolate's and each aggregator's clock skew; syncs started after requests, as the
//! worker does, with a one-way delay and losses on each hop (a lost request or answer is a sync
//! that times out); the coordinator out of reach from every aggregator, or one location's
//! aggregator out of reach from its isolates; citizens who arrive in bunches at the top of each
//! second, poll at the `next_poll_ms` served (never sooner than a second, as the page does,
//! plus a round trip), move to another isolate of their location, give up, never come back
//! (phantoms), and end their sessions at the origin after a while. With `origin` in the
//! scenario, the origin too: a capacity in requests a second the gate does not know, latency
//! that grows as the load nears it, `503` (with a `Retry-After` if the scenario says) beyond
//! it, timeouts, and a capacity that changes during the run; every citizen let through sends
//! it a few requests, which its isolate records as the Worker does, so the room's autopilot
//! (`room.autopilot`) steers by them.
//!
//! Not yet: isolates that die (losing their unsent counts) or are retired when the load falls;
//! an aggregator that restarts (losing nothing, as it stores before it answers, but syncing
//! first again); hidden tabs, second tabs, cookie-refusing clients. Tickets are kept as values,
//! never signed: signing is tested elsewhere and costs the model nothing.

pub mod report;
pub mod rng;
pub mod scenario;
pub mod seeds;
pub mod sim;
pub mod svg;

/// Runs `scenario` to the end and returns its figures and picture.
pub fn simulate(scenario: &scenario::Scenario, progress: bool) -> (report::Summary, String) {
    let outcome = sim::Sim::new(scenario, progress).run();
    let summary = report::summarise(scenario, &outcome);
    let let_through = report::per_second(&outcome, scenario.midnight_ms);
    // The per-second loads start a minute before midnight: drop that minute for the picture.
    let skip = usize::try_from(-outcome.start_s).unwrap_or(0);
    let coordinator: Vec<u64> = outcome
        .coordinator_per_s
        .iter()
        .skip(skip)
        .copied()
        .collect();
    let aggregator: Vec<u64> = report::busiest_aggregator_per_second(&outcome)
        .into_iter()
        .skip(skip)
        .collect();
    let origin: Vec<u64> = outcome.origin_per_s.iter().map(|c| c.requests).collect();
    let picture = svg::picture(
        scenario,
        &summary,
        &let_through,
        &coordinator,
        &aggregator,
        &origin,
    );
    (summary, picture)
}
