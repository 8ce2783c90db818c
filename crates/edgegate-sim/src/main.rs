//! `edgegate-sim SCENARIO.json`: runs one scenario, prints its figures as JSON on stdout
//! (progress on stderr), and writes them with a picture under `target/sim/`.
//! `edgegate-sim SCENARIO.json --seeds N`: runs it with seeds 1 to N, and prints and writes
//! (`target/sim/SCENARIO-seeds.json`) every figure's mean, least and greatest.

use std::process::ExitCode;

use edgegate_sim::scenario::Scenario;

const USAGE: &str = "usage: edgegate-sim SCENARIO.json [--seeds N]";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (path, seeds) = match args.as_slice() {
        [path] => (path, None),
        [path, flag, n] if flag == "--seeds" => match n.parse::<u64>() {
            Ok(n) if (1..=1_000).contains(&n) => (path, Some(n)),
            _ => {
                eprintln!("--seeds: a number of runs from 1 to 1000, not {n:?}");
                return ExitCode::from(2);
            }
        },
        _ => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
    };
    let scenario = match std::fs::read_to_string(path)
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
    if let Some(n) = seeds {
        return over_seeds(&scenario, n);
    }
    let (summary, picture) = edgegate_sim::simulate(&scenario, true);
    let Some(json) = printed(&summary) else {
        return ExitCode::FAILURE;
    };
    keep(&[
        (format!("{}.json", scenario.name), &json),
        (format!("{}.svg", scenario.name), &picture),
    ]);
    ExitCode::SUCCESS
}

/// `--seeds N`: the scenario with seeds 1 to `n`, folded ([`edgegate_sim::seeds::spread`]).
fn over_seeds(scenario: &edgegate_sim::scenario::Scenario, n: u64) -> ExitCode {
    let started = std::time::Instant::now();
    let runs = edgegate_sim::seeds::run(scenario, n, &mut |seed, figures| {
        let at = |path: &[&str]| {
            path.iter()
                .try_fold(figures, |v, k| v.get(k))
                .and_then(serde_json::Value::as_f64)
                .unwrap_or(f64::NAN)
        };
        eprintln!(
            "seed {seed}/{n}: used {:.1} % while waiting, γ by second {:.3}, worst window {} \
             (target {}), {:.0} s in all",
            100.0 * at(&["rate", "used_while_waiting"]),
            at(&["order", "gamma_by_second"]),
            at(&["rate", "worst_window"]),
            at(&["rate", "target"]),
            started.elapsed().as_secs_f64(),
        );
    });
    /// What `--seeds` prints: the name and the count first, then the folded figures.
    #[derive(serde::Serialize)]
    struct OverSeeds<'a> {
        scenario: &'a str,
        seeds: u64,
        #[serde(flatten)]
        folded: serde_json::Value,
    }
    let out = OverSeeds {
        scenario: &scenario.name,
        seeds: n,
        folded: edgegate_sim::seeds::spread(&runs),
    };
    let Some(json) = printed(&out) else {
        return ExitCode::FAILURE;
    };
    keep(&[(format!("{}-seeds.json", scenario.name), &json)]);
    ExitCode::SUCCESS
}

/// Writes each `(name, text)` under `target/sim/`, and says so on stderr (or why not: the
/// figures are on stdout already, so a failure here is not the run's).
fn keep(files: &[(String, &str)]) {
    let dir = std::path::Path::new("target/sim");
    let written = std::fs::create_dir_all(dir).and_then(|()| {
        files
            .iter()
            .try_for_each(|(name, text)| std::fs::write(dir.join(name), text))
    });
    match written {
        Ok(()) => {
            let names: Vec<String> = files
                .iter()
                .map(|(n, _)| format!("target/sim/{n}"))
                .collect();
            eprintln!("wrote {}", names.join(" and "));
        }
        Err(e) => eprintln!("could not write target/sim: {e}"),
    }
}

/// `figures` as pretty JSON, printed on stdout; `None` (and why, on stderr) if it cannot be.
fn printed(figures: &impl serde::Serialize) -> Option<String> {
    match serde_json::to_string_pretty(figures) {
        Ok(json) => {
            println!("{json}");
            Some(json)
        }
        Err(e) => {
            eprintln!("figures: {e}");
            None
        }
    }
}
