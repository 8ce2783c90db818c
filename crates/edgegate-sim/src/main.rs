//! `edgegate-sim SCENARIO.json`: runs one scenario, prints its figures as JSON on stdout
//! (progress on stderr), and writes them with a picture under `target/sim/`.

use std::process::ExitCode;

use edgegate_sim::scenario::Scenario;

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: edgegate-sim SCENARIO.json");
        return ExitCode::from(2);
    };
    let scenario = match std::fs::read_to_string(&path)
        .map_err(|e| e.to_string())
        .and_then(|text| Scenario::from_json(&text))
    {
        Ok(sc) => sc,
        Err(e) => {
            eprintln!("{path}: {e}");
            return ExitCode::from(2);
        }
    };
    eprintln!(
        "simulating {}: {} citizens, {} locations, {}–{} isolates each (one per {} requests/s)",
        scenario.name,
        scenario.citizens(),
        scenario.locations,
        scenario.isolates.min_per_location,
        scenario.isolates.max_per_location,
        scenario.isolates.requests_per_isolate,
    );
    let (summary, picture) = edgegate_sim::simulate(&scenario, true);
    let json = match serde_json::to_string_pretty(&summary) {
        Ok(j) => j,
        Err(e) => {
            eprintln!("summary: {e}");
            return ExitCode::FAILURE;
        }
    };
    println!("{json}");
    let dir = std::path::Path::new("target/sim");
    let written = std::fs::create_dir_all(dir)
        .and_then(|()| std::fs::write(dir.join(format!("{}.json", scenario.name)), &json))
        .and_then(|()| std::fs::write(dir.join(format!("{}.svg", scenario.name)), &picture));
    match written {
        Ok(()) => eprintln!(
            "wrote target/sim/{0}.json and target/sim/{0}.svg",
            scenario.name
        ),
        Err(e) => eprintln!("could not write target/sim: {e}"),
    }
    ExitCode::SUCCESS
}
