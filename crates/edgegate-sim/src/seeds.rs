//! One scenario over many seeds: a single night is one draw of the crowd, and a change that
//! moves a figure by less than the seeds move it among themselves has not moved it.
//! `scripts/simulate SCENARIO --seeds N` runs seeds 1 to N and prints every figure's mean,
//! least and greatest ([`spread`]).

use serde_json::{Map, Value};

use crate::scenario::Scenario;

/// Runs `scenario` with seeds 1 to `n` (its own seed set aside), and gives each run's figures
/// as JSON, in seed order. `each` is told of every run as it ends (seed, figures), for
/// progress.
pub fn run(scenario: &Scenario, n: u64, each: &mut dyn FnMut(u64, &Value)) -> Vec<Value> {
    (1..=n)
        .map(|seed| {
            let mut sc = scenario.clone();
            sc.seed = seed;
            let (summary, _) = crate::simulate(&sc, false);
            let figures = serde_json::to_value(&summary).unwrap_or(Value::Null);
            each(seed, &figures);
            figures
        })
        .collect()
}

/// The figures of several runs folded into one object of the same shape, three times:
/// `mean`, `min` and `max` of every number found at the same place in every run. A place
/// that holds anything else (a name, a list, a `null` in some run) keeps the first run's.
pub fn spread(runs: &[Value]) -> Value {
    let mut out = Map::new();
    for (name, fold) in [("mean", Fold::Mean), ("min", Fold::Min), ("max", Fold::Max)] {
        out.insert(name.into(), folded(runs, fold));
    }
    out.into()
}

#[derive(Clone, Copy)]
enum Fold {
    Mean,
    Min,
    Max,
}

fn folded(runs: &[Value], fold: Fold) -> Value {
    let Some(first) = runs.first() else {
        return Value::Null;
    };
    match first {
        Value::Object(fields) => {
            let mut out = Map::new();
            for name in fields.keys() {
                let at: Vec<Value> = runs
                    .iter()
                    .map(|r| r.get(name).cloned().unwrap_or(Value::Null))
                    .collect();
                out.insert(name.clone(), folded(&at, fold));
            }
            out.into()
        }
        Value::Number(_) => {
            let numbers: Option<Vec<f64>> = runs.iter().map(Value::as_f64).collect();
            let Some(numbers) = numbers else {
                return first.clone();
            };
            let value = match fold {
                #[allow(clippy::cast_precision_loss, reason = "a mean of figures")]
                Fold::Mean => numbers.iter().sum::<f64>() / numbers.len() as f64,
                Fold::Min => numbers.iter().copied().fold(f64::INFINITY, f64::min),
                Fold::Max => numbers.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            };
            serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number)
        }
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn every_number_is_folded_where_it_stands_and_anything_else_kept_from_the_first_run() {
        let runs = [
            json!({"name": "a", "rate": {"used": 0.5, "worst": 100}, "list": [1], "gone": 1}),
            json!({"name": "b", "rate": {"used": 1.0, "worst": 90}, "list": [2], "gone": null}),
        ];
        let s = spread(&runs);
        assert_eq!(s["mean"]["rate"]["used"], json!(0.75));
        assert_eq!(s["min"]["rate"]["worst"], json!(90.0));
        assert_eq!(s["max"]["rate"]["worst"], json!(100.0));
        assert_eq!(s["mean"]["name"], json!("a"));
        assert_eq!(s["max"]["list"], json!([1]));
        // A number that is missing from a run is not averaged with a made-up zero.
        assert_eq!(s["mean"]["gone"], json!(1));
        assert_eq!(spread(&[])["mean"], Value::Null);
    }
}
