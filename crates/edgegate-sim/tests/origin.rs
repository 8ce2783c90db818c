//! The origin model and the autopilot (`scenarios/origin-unknown.json`): an origin whose
//! capacity the gate does not know, which drops to about half a few minutes in and then rises
//! to half again as much, behind a crowd that keeps the line long throughout. The autopilot
//! must find the rate, keep the origin under its capacity and nearly free of `503`, and use
//! most of it; the same night without it crushes the origin.

#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    reason = "a test: fail loudly"
)]

use edgegate_sim::report::{summarise, Summary};
use edgegate_sim::scenario::Scenario;
use edgegate_sim::sim::Sim;

fn scenario(name: &str) -> Scenario {
    let path = format!("{}/scenarios/{name}.json", env!("CARGO_MANIFEST_DIR"));
    Scenario::from_json(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn run(sc: &Scenario) -> Summary {
    summarise(sc, &Sim::new(sc, false).run())
}

#[test]
fn the_autopilot_finds_an_unknown_origin_and_follows_it_when_it_changes() {
    let sc = scenario("origin-unknown");
    let s = run(&sc);
    let origin = s.origin.as_ref().unwrap();
    let pilot = sc.room.autopilot.unwrap();
    assert_eq!(origin.stretches.len(), 3, "{origin:?}");
    for stretch in &origin.stretches {
        // Measured over eight seeds: converged within 3 windows, the worst window at most
        // 101.5 % of the capacity, at most 0.96 % refused after, 55–76 % of the capacity
        // served. (Before the autopilot climbed back by a tenth and a fifth after forgetting a
        // breach, two stretches of the 24 overshot late: one settled after 21 windows, one
        // never.)
        let windows = stretch.converged_after_windows.unwrap();
        assert!(windows <= 3, "{stretch:?}");
        assert!(
            stretch.worst_window_over_capacity.unwrap() <= 1.1,
            "{stretch:?}"
        );
        assert!(stretch.refused_share_after.unwrap() < 0.01, "{stretch:?}");
        assert!(
            stretch.served_share_of_capacity_after.unwrap() > 0.5,
            "{stretch:?}"
        );
    }
    // Every change within the operator's terms, each with its reason.
    assert!(origin.rate_changes > 0);
    for change in &origin.changes {
        assert!(change.to >= pilot.floor_per_minute && change.to <= pilot.ceiling_per_minute);
        assert!(!change.why.is_empty());
    }
    // The one-second bound, as the rate moves: within what the limiters keep today across
    // many isolates (each may hold one citizen beyond its share, DESIGN's "Not yet built").
    assert_eq!(
        origin.seconds_over_bound_with_isolates_in_force, 0,
        "{origin:?}"
    );
    assert_eq!(s.crowd.places_lost, 0);
}

#[test]
fn the_same_night_without_the_autopilot_crushes_the_origin() {
    let mut sc = scenario("origin-unknown");
    sc.room.autopilot = None;
    let s = run(&sc);
    let origin = s.origin.as_ref().unwrap();
    assert_eq!(origin.rate_changes, 0);
    let refused = origin.refused_503 as f64 / origin.requests as f64;
    assert!(refused > 0.2, "{refused}: {origin:?}");
}

#[test]
fn a_scenario_without_an_origin_reports_none() {
    let s = run(&scenario("small"));
    assert!(s.origin.is_none());
    assert!(!serde_json::to_string(&s)
        .unwrap()
        .contains("\"origin\":{\"requests\""));
}
