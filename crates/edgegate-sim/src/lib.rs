//! edgegate-sim: a deterministic discrete-event simulator of a night at the gate that drives the
//! real core (issue 10). Citizens arrive by a scenario's schedule across edge locations, fetch a
//! ticket from a real [`edgegate_core::isolate::Isolate`], poll as the waiting page does, and
//! are let through by the same code the worker runs; the isolates sync with one real
//! [`edgegate_core::room::Room`] over a simulated network that delays, loses, and goes dark.
//! Only I/O is simulated: a seeded random source and a simulated clock make every run
//! reproducible.
//!
//! `scripts/simulate SCENARIO` runs `scenarios/SCENARIO.json` and prints the figures
//! ([`report::Summary`]) as JSON; the picture goes to `target/sim/SCENARIO.svg`.

pub mod report;
pub mod rng;
pub mod scenario;
pub mod sim;
pub mod svg;

/// Runs `scenario` to the end and returns its figures and picture.
pub fn simulate(scenario: &scenario::Scenario, progress: bool) -> (report::Summary, String) {
    let outcome = sim::Sim::new(scenario, progress).run();
    let summary = report::summarise(scenario, &outcome);
    let let_through = report::per_second(&outcome, scenario.midnight_ms);
    // The coordinator's count starts a minute before midnight: drop that minute for the picture.
    let skip = usize::try_from(-outcome.start_s).unwrap_or(0);
    let coordinator: Vec<u64> = outcome
        .coordinator_per_s
        .iter()
        .skip(skip)
        .copied()
        .collect();
    let picture = svg::picture(scenario, &summary, &let_through, &coordinator);
    (summary, picture)
}
