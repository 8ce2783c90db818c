//! `set KEY=VALUE…`: short names for the config fields, turned into the JSON patch that
//! `PUT /admin/config` takes.
//!
//! Only the shape of a value is checked here (a whole number, a duration, on/off); the bounds
//! belong to the gate, which refuses by field name, so there is one place that knows them.

use serde_json::{Map, Value};

use crate::gate::Failure;
use crate::when::parse_seconds;

#[derive(Clone, Copy)]
enum Kind {
    Count,
    Seconds,
    Switch,
    /// `FLOOR-CEILING` citizens per minute, or `off`.
    Range,
    /// A term of the autopilot's (its field inside `autopilot`), a whole number.
    PilotTerm,
    /// A whole number, or `off` (`null`: not known).
    CountOrOff,
    /// A time (`when::parse_time`), or `off`.
    TimeOrOff,
}

/// (names accepted, the gate's field, what the value is).
const KEYS: &[(&[&str], &str, Kind)] = &[
    (
        &["rate", "new_users_per_minute"],
        "new_users_per_minute",
        Kind::Count,
    ),
    (&["max_active", "max-active"], "max_active", Kind::Count),
    (
        &["session", "session_duration_s"],
        "session_duration_s",
        Kind::Seconds,
    ),
    (&["burst"], "burst", Kind::Count),
    (&["grace", "place_grace_s"], "place_grace_s", Kind::Seconds),
    (&["test_mode", "test-mode"], "test_mode", Kind::Switch),
    (&["autopilot"], "autopilot", Kind::Range),
    (&["p95", "target_p95_ms"], "target_p95_ms", Kind::PilotTerm),
    (
        &["errors", "max_errors_per_mille"],
        "max_errors_per_mille",
        Kind::PilotTerm,
    ),
    (
        &["slots", "slots_remaining"],
        "slots_remaining",
        Kind::CountOrOff,
    ),
    (
        &["next_release", "next_release_at"],
        "next_release_at",
        Kind::TimeOrOff,
    ),
];

const KEY_NAMES: &str =
    "rate, max_active, session, burst, grace, test_mode, autopilot, p95, errors, slots, next_release";

/// The patch for `pairs`, or a usage error naming the pair at fault.
pub fn patch(pairs: &[String]) -> Result<Map<String, Value>, Failure> {
    let mut patch = Map::new();
    let mut terms: Vec<(String, Value, String)> = Vec::new();
    for pair in pairs {
        let Some((key, value)) = pair.split_once('=') else {
            return Err(Failure::usage(format!(
                "{pair:?} is not KEY=VALUE (keys: {KEY_NAMES})"
            )));
        };
        let key = key.trim();
        let value = value.trim();
        let Some((_, field, kind)) = KEYS
            .iter()
            .find(|(names, _, _)| names.iter().any(|n| n.eq_ignore_ascii_case(key)))
        else {
            return Err(Failure::usage(format!(
                "{key:?} is not a setting (keys: {KEY_NAMES})"
            )));
        };
        let parsed = match kind {
            Kind::Count => value
                .parse::<u64>()
                .ok()
                .map(Value::from)
                .ok_or("a whole number"),
            Kind::Seconds => parse_seconds(value)
                .map(Value::from)
                .ok_or("a number of seconds (or 10m, 1h)"),
            Kind::Switch => match value.to_ascii_lowercase().as_str() {
                "on" | "true" | "yes" | "1" => Ok(Value::Bool(true)),
                "off" | "false" | "no" | "0" => Ok(Value::Bool(false)),
                _ => Err("on or off"),
            },
            Kind::Range => range(value).ok_or("FLOOR-CEILING citizens per minute, or off"),
            Kind::PilotTerm => value
                .parse::<u64>()
                .ok()
                .map(Value::from)
                .ok_or("a whole number"),
            Kind::CountOrOff if value.eq_ignore_ascii_case("off") => Ok(Value::Null),
            Kind::CountOrOff => value
                .parse::<u64>()
                .ok()
                .map(Value::from)
                .ok_or("a whole number, or off"),
            Kind::TimeOrOff if value.eq_ignore_ascii_case("off") => Ok(Value::Null),
            Kind::TimeOrOff => crate::when::parse_time(value, crate::when::now_ms())
                .map(Value::from)
                .map_err(|_| "a time (RFC 3339, unix ms, or +10m), or off"),
        }
        .map_err(|want| Failure::usage(format!("{key}={value}: {key} must be {want}")))?;
        if matches!(kind, Kind::PilotTerm) {
            terms.push(((*field).to_owned(), parsed, key.to_owned()));
            continue;
        }
        if patch.insert((*field).to_owned(), parsed).is_some() {
            return Err(Failure::usage(format!("{field} is set twice")));
        }
    }
    // The autopilot's health terms go inside it: only with `autopilot=FLOOR-CEILING`.
    if let Some((_, _, key)) = terms.first() {
        let Some(Value::Object(pilot)) = patch.get_mut("autopilot") else {
            return Err(Failure::usage(format!(
                "{key} is one of the autopilot's terms: give it with autopilot=FLOOR-CEILING"
            )));
        };
        for (field, value, _) in terms {
            if pilot.insert(field.clone(), value).is_some() {
                return Err(Failure::usage(format!("{field} is set twice")));
            }
        }
    }
    Ok(patch)
}

/// `FLOOR-CEILING` (or `FLOOR..CEILING`) as the autopilot's range, `off` as `null`.
fn range(value: &str) -> Option<Value> {
    if value.eq_ignore_ascii_case("off") {
        return Some(Value::Null);
    }
    let (floor, ceiling) = value.split_once("..").or_else(|| value.split_once('-'))?;
    let floor = floor.trim().parse::<u64>().ok()?;
    let ceiling = ceiling.trim().parse::<u64>().ok()?;
    Some(serde_json::json!({ "floor_per_minute": floor, "ceiling_per_minute": ceiling }))
}

/// Is going from `current` to `new` citizens per minute a jump big enough to ask first? More
/// than three times the current rate is: that is where a typo (an extra zero) lands, and an
/// origin sized for the old rate falls over. Starting from zero counts too.
pub fn risky_rate(current: u64, new: u64) -> bool {
    new > current.saturating_mul(3)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;
    use serde_json::json;

    fn strings(pairs: &[&str]) -> Vec<String> {
        pairs.iter().map(|p| (*p).to_owned()).collect()
    }

    #[test]
    fn short_names_map_to_the_gate_fields() {
        let patch = patch(&strings(&[
            "rate=600",
            "max_active=200",
            "session=10m",
            "burst=10",
            "grace=300",
            "test_mode=on",
        ]))
        .unwrap();
        assert_eq!(
            Value::Object(patch),
            json!({
                "new_users_per_minute": 600, "max_active": 200, "session_duration_s": 600,
                "burst": 10, "place_grace_s": 300, "test_mode": true,
            })
        );
    }

    #[test]
    fn bad_pairs_are_usage_errors_that_say_what_was_wanted() {
        for (pairs, says) in [
            (&["rate"][..], "KEY=VALUE"),
            (&["colour=red"][..], "not a setting"),
            (&["rate=fast"][..], "whole number"),
            (&["rate=-1"][..], "whole number"),
            (&["test_mode=maybe"][..], "on or off"),
            (&["rate=1", "new_users_per_minute=2"][..], "twice"),
        ] {
            let error = patch(&strings(pairs)).unwrap_err().message;
            assert!(error.contains(says), "{pairs:?}: {error}");
        }
    }

    #[test]
    fn the_autopilot_takes_a_range_and_its_terms_or_off() {
        let on = patch(&strings(&["autopilot=60-6000", "p95=800", "errors=20"])).unwrap();
        assert_eq!(
            Value::Object(on),
            json!({ "autopilot": {
                "floor_per_minute": 60, "ceiling_per_minute": 6000,
                "target_p95_ms": 800, "max_errors_per_mille": 20,
            } })
        );
        let dots = patch(&strings(&["autopilot=10..20"])).unwrap();
        assert_eq!(dots["autopilot"]["ceiling_per_minute"], json!(20));
        let off = patch(&strings(&["autopilot=off"])).unwrap();
        assert_eq!(Value::Object(off), json!({ "autopilot": null }));
        for (pairs, says) in [
            (&["autopilot=fast"][..], "FLOOR-CEILING"),
            (&["p95=800"][..], "autopilot=FLOOR-CEILING"),
            (&["autopilot=off", "p95=800"][..], "autopilot=FLOOR-CEILING"),
            (&["autopilot=1-2", "errors=x"][..], "whole number"),
        ] {
            let error = patch(&strings(pairs)).unwrap_err().message;
            assert!(error.contains(says), "{pairs:?}: {error}");
        }
    }

    #[test]
    fn the_slots_and_the_next_release_take_a_number_or_a_time_or_off() {
        let set = patch(&strings(&["slots=120", "next_release=1796515200000"])).unwrap();
        assert_eq!(
            Value::Object(set),
            json!({ "slots_remaining": 120, "next_release_at": 1_796_515_200_000u64 })
        );
        let off = patch(&strings(&["slots=off", "next_release=off"])).unwrap();
        assert_eq!(
            Value::Object(off),
            json!({ "slots_remaining": null, "next_release_at": null })
        );
        for (pairs, says) in [
            (&["slots=many"][..], "whole number, or off"),
            (&["next_release=soon"][..], "a time"),
        ] {
            let error = patch(&strings(pairs)).unwrap_err().message;
            assert!(error.contains(says), "{pairs:?}: {error}");
        }
    }

    #[test]
    fn more_than_three_times_up_is_risky() {
        assert!(!risky_rate(60, 180));
        assert!(risky_rate(60, 181));
        assert!(risky_rate(60, 600));
        assert!(!risky_rate(600, 60));
        assert!(risky_rate(0, 1));
        assert!(!risky_rate(0, 0));
    }
}
