//! The simulator's scenario files (`edgegate-sim`, `Scenario::from_json`): any text, read as a
//! scenario, refused with a reason or accepted within the checks the simulator relies on; and
//! an accepted scenario small enough to run in a moment is run, since a scenario the reader
//! accepts must not crash the simulator.
#![no_main]

use edgegate_sim::scenario::Scenario;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    match Scenario::from_json(text) {
        Ok(sc) => {
            assert!(sc.locations > 0);
            let iso = &sc.isolates;
            assert!(0 < iso.min_per_location && iso.min_per_location <= iso.max_per_location);
            assert!(sc.arrivals.iter().all(|s| s.from_s < s.to_s));
            let small = sc.citizens() <= 20
                && sc.locations <= 2
                && iso.max_per_location <= 2
                && sc.max_sim_s <= 30
                && sc.timing.sync_interval_ms >= 100
                && sc.tau_sample <= 100;
            if small {
                edgegate_sim::simulate(&sc, false);
            }
        }
        Err(why) => assert!(!why.is_empty()),
    }
});
