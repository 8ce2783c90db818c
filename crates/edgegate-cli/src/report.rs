//! `report`: the room's per-minute history (`GET /admin/history`) summed up for the evening's
//! write-up, or exported whole as CSV for a spreadsheet.

use serde_json::{json, Value};

use crate::cli::ReportArgs;
use crate::gate::{Exit, Failure, Gate, Method};
use crate::output::{self, grouped, say};
use crate::when::utc;

/// One minute of history as the gate reports it; any field may be missing from an older or
/// newer gate, and is then left out of the sums rather than counted as zero.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
struct Minute {
    minute: Option<u64>,
    arrivals: Option<u64>,
    let_through: Option<u64>,
    active: Option<u64>,
    waiting: Option<u64>,
    rate_per_minute: Option<u64>,
    paused: Option<bool>,
    no_shows: Option<u64>,
}

impl Minute {
    fn of(value: &Value) -> Minute {
        let n = |field: &str| value.get(field).and_then(Value::as_u64);
        Minute {
            minute: n("minute"),
            arrivals: n("arrivals"),
            let_through: n("let_through"),
            active: n("active"),
            waiting: n("waiting"),
            rate_per_minute: n("rate_per_minute"),
            paused: value.get("paused").and_then(Value::as_bool),
            no_shows: n("no_shows"),
        }
    }
}

#[derive(Debug, Default, PartialEq)]
struct Summary {
    minutes: u64,
    from: Option<u64>,
    to: Option<u64>,
    arrivals: u64,
    let_through: u64,
    no_shows: u64,
    /// The highest count and the minute it was seen in.
    peak_waiting: Option<(u64, Option<u64>)>,
    peak_active: Option<(u64, Option<u64>)>,
    paused_minutes: u64,
    /// Over the minutes not paused: what got through, against what the rate allowed. Paused
    /// minutes would drag the mean down for a reason the operator chose.
    open_minutes: u64,
    mean_let_through: Option<f64>,
    mean_rate: Option<f64>,
}

fn peak(
    best: Option<(u64, Option<u64>)>,
    value: Option<u64>,
    minute: Option<u64>,
) -> Option<(u64, Option<u64>)> {
    match (best, value) {
        (Some((top, _)), Some(v)) if v > top => Some((v, minute)),
        (None, Some(v)) => Some((v, minute)),
        (best, _) => best,
    }
}

#[allow(clippy::cast_precision_loss, reason = "means shown to one decimal")]
fn summarise(minutes: &[Minute]) -> Summary {
    let mut s = Summary::default();
    let (mut through_open, mut rate_open) = (0u64, 0u64);
    for m in minutes {
        s.minutes += 1;
        if let Some(at) = m.minute {
            s.from = Some(s.from.map_or(at, |f| f.min(at)));
            s.to = Some(s.to.map_or(at, |t| t.max(at)));
        }
        s.arrivals = s.arrivals.saturating_add(m.arrivals.unwrap_or(0));
        s.let_through = s.let_through.saturating_add(m.let_through.unwrap_or(0));
        s.no_shows = s.no_shows.saturating_add(m.no_shows.unwrap_or(0));
        s.peak_waiting = peak(s.peak_waiting, m.waiting, m.minute);
        s.peak_active = peak(s.peak_active, m.active, m.minute);
        if m.paused == Some(true) {
            s.paused_minutes += 1;
        } else {
            s.open_minutes += 1;
            through_open = through_open.saturating_add(m.let_through.unwrap_or(0));
            rate_open = rate_open.saturating_add(m.rate_per_minute.unwrap_or(0));
        }
    }
    if s.open_minutes > 0 {
        s.mean_let_through = Some(through_open as f64 / s.open_minutes as f64);
        s.mean_rate = Some(rate_open as f64 / s.open_minutes as f64);
    }
    s
}

impl Summary {
    /// Let-through as a share of the rate: how much of the allowance was used.
    fn share_of_rate(&self) -> Option<f64> {
        match (self.mean_let_through, self.mean_rate) {
            (Some(through), Some(rate)) if rate > 0.0 => Some(through / rate),
            _ => None,
        }
    }

    fn to_json(&self) -> Value {
        let at = |peak: Option<(u64, Option<u64>)>| {
            peak.map(|(value, minute)| json!({ "value": value, "minute": minute }))
        };
        json!({
            "minutes": self.minutes,
            "from": self.from,
            "to": self.to,
            "arrivals": self.arrivals,
            "let_through": self.let_through,
            "no_shows": self.no_shows,
            "peak_waiting": at(self.peak_waiting),
            "peak_active": at(self.peak_active),
            "paused_minutes": self.paused_minutes,
            "open_minutes": self.open_minutes,
            "mean_let_through_per_minute": self.mean_let_through,
            "mean_rate_per_minute": self.mean_rate,
            "let_through_share_of_rate": self.share_of_rate(),
        })
    }

    fn lines(&self) -> Vec<String> {
        let span = match (self.from, self.to) {
            (Some(from), Some(to)) => format!(", {} to {}", utc(from), utc(to)),
            _ => String::new(),
        };
        let at = |peak: Option<(u64, Option<u64>)>| match peak {
            Some((value, Some(minute))) => format!("{} at {}", grouped(value), utc(minute)),
            Some((value, None)) => grouped(value),
            None => "?".to_owned(),
        };
        let mut lines = vec![
            format!("history        {} minutes{span}", grouped(self.minutes)),
            format!("arrivals       {}", grouped(self.arrivals)),
            format!("let through    {}", grouped(self.let_through)),
            format!("no-shows       {}", grouped(self.no_shows)),
            format!("peak waiting   {}", at(self.peak_waiting)),
            format!("peak active    {}", at(self.peak_active)),
            format!("time paused    {} min", grouped(self.paused_minutes)),
        ];
        lines.push(match (self.mean_let_through, self.mean_rate) {
            (Some(through), Some(rate)) => format!(
                "per minute     {through:.1} let through against a rate of {rate:.1}{} over the {} minutes not paused",
                self.share_of_rate()
                    .map(|share| format!(" ({:.1} %)", share * 100.0))
                    .unwrap_or_default(),
                grouped(self.open_minutes)
            ),
            _ => "per minute     no minute was unpaused".to_owned(),
        });
        lines
    }
}

const CSV_HEADER: &str =
    "minute,minute_utc,arrivals,let_through,active,waiting,rate_per_minute,paused,no_shows";

fn csv_row(m: &Minute) -> String {
    let n = |v: Option<u64>| v.map(|v| v.to_string()).unwrap_or_default();
    format!(
        "{},{},{},{},{},{},{},{},{}",
        n(m.minute),
        m.minute.map(utc).unwrap_or_default(),
        n(m.arrivals),
        n(m.let_through),
        n(m.active),
        n(m.waiting),
        n(m.rate_per_minute),
        m.paused.map(|p| p.to_string()).unwrap_or_default(),
        n(m.no_shows)
    )
}

pub fn run(gate: &Gate, args: &ReportArgs, json: bool) -> Result<(), Failure> {
    if args.csv && json {
        return Err(Failure::usage("report takes --csv or --json, not both"));
    }
    let path = "/admin/history";
    let answer = gate.call(Method::Get, path, &[], None, "a per-minute history")?;
    let minutes: Vec<Minute> = answer
        .get("minutes")
        .and_then(Value::as_array)
        .ok_or_else(|| Failure {
            exit: Exit::Unreachable,
            message: format!(
                "{} answered without minutes: is --gate an edgegate gate?",
                gate.url(path, &[])
            ),
            status: None,
            field: None,
        })?
        .iter()
        .map(Minute::of)
        .collect();
    if args.csv {
        say(CSV_HEADER);
        for m in &minutes {
            say(&csv_row(m));
        }
    } else if json {
        output::json(&summarise(&minutes).to_json());
    } else if minutes.is_empty() {
        say("no history yet");
    } else {
        for line in summarise(&minutes).lines() {
            say(&line);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing, reason = "test code")]
    use super::*;

    fn minute(at: u64, through: u64, waiting: u64, rate: u64, paused: bool) -> Minute {
        Minute {
            minute: Some(at),
            arrivals: Some(through + 1),
            let_through: Some(through),
            active: Some(through * 5),
            waiting: Some(waiting),
            rate_per_minute: Some(rate),
            paused: Some(paused),
            no_shows: Some(1),
        }
    }

    #[test]
    fn the_summary_adds_up_and_leaves_paused_minutes_out_of_the_means() {
        let minutes = [
            minute(60_000, 50, 900, 60, false),
            minute(120_000, 0, 1_200, 60, true),
            minute(180_000, 40, 700, 60, false),
        ];
        let s = summarise(&minutes);
        assert_eq!((s.minutes, s.from, s.to), (3, Some(60_000), Some(180_000)));
        assert_eq!((s.arrivals, s.let_through, s.no_shows), (93, 90, 3));
        assert_eq!(s.peak_waiting, Some((1_200, Some(120_000))));
        assert_eq!(s.peak_active, Some((250, Some(60_000))));
        assert_eq!((s.paused_minutes, s.open_minutes), (1, 2));
        assert_eq!(s.mean_let_through, Some(45.0));
        assert_eq!(s.share_of_rate(), Some(0.75));
    }

    #[test]
    fn missing_fields_are_blank_in_csv_and_absent_from_sums() {
        let m = Minute::of(&json!({"minute": 60_000, "let_through": 3, "extra": "ignored"}));
        assert_eq!(csv_row(&m), "60000,1970-01-01 00:01:00Z,,3,,,,,");
        assert_eq!(summarise(&[m]).peak_waiting, None);
        assert_eq!(summarise(&[]).to_json()["minutes"], 0);
    }
}
