//! `status` once, and `status --watch`: the same state redrawn in place with the rates between
//! samples, which the gate's running totals alone do not show.

use std::io::IsTerminal;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::cli::StatusArgs;
use crate::gate::{Exit, Failure, Gate, Method};
use crate::output::{self, count, draw, flag, num, say};
use crate::when::{now_ms, relative, utc};

fn fetch(gate: &Gate) -> Result<Value, Failure> {
    gate.call(Method::Get, "/admin/state", &[], None, "the state API")
}

pub fn once(gate: &Gate, json: bool) -> Result<(), Failure> {
    let state = fetch(gate)?;
    if json {
        output::json(&state);
    } else {
        for (label, value) in rows(gate, &state) {
            say(&format!("{label:<13}{value}"));
        }
    }
    Ok(())
}

/// The gate's clock when it sent the state, else ours: opening times are judged against it.
fn clock(state: &Value) -> u64 {
    num(state, "/now").unwrap_or_else(now_ms)
}

/// Whether the room lets people through, and if not, everything that stops it.
fn room_state(state: &Value) -> String {
    let now = clock(state);
    let mut held = Vec::new();
    if flag(state, "/config/paused") == Some(true) {
        held.push("PAUSED".to_owned());
    }
    if flag(state, "/config/closed") == Some(true) {
        held.push("CLOSED".to_owned());
    }
    match num(state, "/config/opens_at") {
        Some(at) if at > now => held.push(format!(
            "PRE-QUEUE until {} ({})",
            utc(at),
            relative(at, now)
        )),
        _ => {}
    }
    if held.is_empty() {
        "open".to_owned()
    } else {
        held.join(", ")
    }
}

fn storage(state: &Value) -> String {
    match flag(state, "/storage/readable") {
        Some(false) => format!(
            "UNREADABLE: {} (the room stays paused; `edgegate resume` clears it)",
            state
                .pointer("/storage/problem")
                .and_then(Value::as_str)
                .unwrap_or("no reason given")
        ),
        Some(true) => "ok".to_owned(),
        None => "?".to_owned(),
    }
}

fn room_name(gate: &Gate, state: &Value) -> String {
    state
        .get("room")
        .and_then(Value::as_str)
        .or(gate.room())
        .map_or_else(|| "(default)".to_owned(), str::to_owned)
}

fn rows(gate: &Gate, state: &Value) -> Vec<(&'static str, String)> {
    let c = |name: &str| num(state, &format!("/counters/{name}"));
    let cfg = |name: &str| num(state, &format!("/config/{name}"));
    let mut rows = vec![
        ("room", room_name(gate, state)),
        ("state", room_state(state)),
        (
            "waiting",
            format!(
                "{}   (held {}, released but not through {})",
                count(c("waiting")),
                count(c("held")),
                count(c("unclaimed"))
            ),
        ),
        (
            "active",
            format!("{} / {}", count(c("active")), count(cfg("max_active"))),
        ),
        (
            "let through",
            format!(
                "{} total   (seated {}, ended {}, lapsed {})",
                count(c("let_through_total")),
                count(c("seated_total")),
                count(c("ended_total")),
                count(c("lapsed_total"))
            ),
        ),
        (
            "rate",
            format!(
                "{} / min, burst {}",
                count(cfg("new_users_per_minute")),
                count(cfg("burst"))
            ),
        ),
        (
            "session",
            format!(
                "{} s; a place is kept {} s without a visit",
                count(cfg("session_duration_s")),
                count(cfg("place_grace_s"))
            ),
        ),
        (
            "no-shows",
            c("no_show_per_mille").map_or_else(
                || "?".to_owned(),
                |pm| format!("{}.{} % of those released", pm / 10, pm % 10),
            ),
        ),
        ("cursor", cursor(state)),
        (
            "isolates",
            format!(
                "{} synced in the last minute",
                count(c("isolates_last_minute"))
            ),
        ),
        ("storage", storage(state)),
    ];
    rows.push(("autopilot", autopilot(state)));
    if let Some(remaining) = cfg("slots_remaining") {
        let next = num(state, "/config/next_release_at").map_or_else(String::new, |at| {
            format!("; next release {}", crate::when::utc(at))
        });
        rows.push((
            "slots",
            format!(
                "{} left at the origin; {} more in line can be served, the rest are told the slots are taken{next}",
                count(Some(remaining)),
                count(num(state, "/slots_left"))
            ),
        ));
    }
    if flag(state, "/config/test_mode") == Some(true) {
        rows.push(("test mode", "ON: test keys are honoured".to_owned()));
    }
    rows
}

/// The autopilot's terms and its last change, or `off`.
fn autopilot(state: &Value) -> String {
    let Some(pilot) = state.pointer("/autopilot").filter(|p| p.is_object()) else {
        return "off".to_owned();
    };
    let n = |path: &str| num(pilot, path);
    let errors = n("/max_errors_per_mille")
        .map_or_else(|| "?".to_owned(), |pm| format!("{}.{} %", pm / 10, pm % 10));
    let mut text = format!(
        "on: {}–{} / min, p95 within {} ms, at most {} failed",
        count(n("/floor_per_minute")),
        count(n("/ceiling_per_minute")),
        count(n("/target_p95_ms")),
        errors
    );
    if let Some(last) = pilot.pointer("/last_change").filter(|l| l.is_object()) {
        let why = last.get("why").and_then(Value::as_str).unwrap_or("");
        text.push_str(&format!(
            "; last {}: {} → {} ({why})",
            num(last, "/at").map_or_else(|| "?".to_owned(), crate::when::utc),
            count(num(last, "/from")),
            count(num(last, "/to")),
        ));
    }
    if let Some(until) = n("/holding_until") {
        text.push_str(&format!(
            "; no raise before {} (the origin asked)",
            crate::when::utc(until)
        ));
    }
    text
}

fn cursor(state: &Value) -> String {
    let bucket = num(state, "/cursor/bucket");
    let fraction = state.pointer("/cursor/fraction").and_then(Value::as_f64);
    match (bucket, fraction) {
        (Some(b), Some(f)) => format!("bucket {b} + {f:.3}"),
        (Some(b), None) => format!("bucket {b}"),
        _ => "?".to_owned(),
    }
}

/// What one sample needs for the rates: the gate's running totals and when they were taken.
#[derive(Clone, Copy)]
struct Sample {
    at_ms: u64,
    let_through: Option<u64>,
    seated: Option<u64>,
}

impl Sample {
    fn of(state: &Value) -> Sample {
        Sample {
            at_ms: clock(state),
            let_through: num(state, "/counters/let_through_total"),
            seated: num(state, "/counters/seated_total"),
        }
    }
}

/// Per-second change of a running total between two samples; none when it went backwards (the
/// coordinator restarted) or no time passed.
#[allow(clippy::cast_precision_loss, reason = "a rate shown to one decimal")]
fn per_second(before: Option<u64>, after: Option<u64>, elapsed_ms: u64) -> Option<f64> {
    let delta = after?.checked_sub(before?)?;
    if elapsed_ms == 0 {
        return None;
    }
    Some(delta as f64 * 1000.0 / elapsed_ms as f64)
}

#[derive(Clone, Copy, Default)]
struct Rates {
    let_through: Option<f64>,
    arrivals: Option<f64>,
}

fn rates(before: Option<Sample>, now: Sample) -> Rates {
    let Some(before) = before else {
        return Rates::default();
    };
    let elapsed = now.at_ms.saturating_sub(before.at_ms);
    Rates {
        let_through: per_second(before.let_through, now.let_through, elapsed),
        arrivals: per_second(before.seated, now.seated, elapsed),
    }
}

fn shown(rate: Option<f64>) -> String {
    rate.map_or_else(|| "—".to_owned(), |r| format!("{r:.1}/s"))
}

/// The compact block redrawn on a terminal. Lines stay short so none wraps, which would throw
/// off the count of lines to move back over.
fn block(gate: &Gate, state: &Value, r: Rates, interval_ms: u64) -> Vec<String> {
    let c = |name: &str| count(num(state, &format!("/counters/{name}")));
    let cfg = |name: &str| count(num(state, &format!("/config/{name}")));
    #[allow(clippy::cast_precision_loss, reason = "seconds shown to one decimal")]
    let every = interval_ms as f64 / 1000.0;
    vec![
        format!(
            "{} · room {} · {} · every {every:.1} s · Ctrl-C stops",
            gate.base(),
            room_name(gate, state),
            utc(clock(state))
        ),
        format!("  state        {}", room_state(state)),
        format!("  waiting      {:>12}   held {}", c("waiting"), c("held")),
        format!(
            "  active       {:>12}   of {}",
            c("active"),
            cfg("max_active")
        ),
        format!(
            "  let through  {:>12}   {:>10}",
            c("let_through_total"),
            shown(r.let_through)
        ),
        format!(
            "  arrivals     {:>12}   {:>10}   (seated)",
            c("seated_total"),
            shown(r.arrivals)
        ),
        format!(
            "  rate         {:>12}   burst {}   ({}/s)",
            format!("{}/min", cfg("new_users_per_minute")),
            cfg("burst"),
            num(state, "/config/new_users_per_minute").map_or_else(
                || "?".to_owned(),
                |r| format!("{:.1}", per_minute_to_second(r))
            )
        ),
        format!(
            "  isolates     {:>12}   cursor {}",
            c("isolates_last_minute"),
            cursor(state)
        ),
        format!(
            "  storage      {}",
            match flag(state, "/storage/readable") {
                Some(false) => "UNREADABLE (edgegate status for why)".to_owned(),
                _ => storage(state),
            }
        ),
    ]
}

#[allow(clippy::cast_precision_loss, reason = "a rate shown to one decimal")]
fn per_minute_to_second(per_minute: u64) -> f64 {
    per_minute as f64 / 60.0
}

/// One line per sample when stdout is not a terminal (a log file, a pipe).
fn line(state: &Value, r: Rates) -> String {
    let c = |name: &str| count(num(state, &format!("/counters/{name}")));
    format!(
        "{}  waiting {}  active {}/{}  let through {} ({})  arrivals {}  rate {}/min  {}",
        utc(clock(state)),
        c("waiting"),
        c("active"),
        count(num(state, "/config/max_active")),
        c("let_through_total"),
        shown(r.let_through),
        shown(r.arrivals),
        count(num(state, "/config/new_users_per_minute")),
        room_state(state)
    )
}

/// Where the samples go: redrawn in place, appended as lines, or as JSON lines.
enum Screen {
    Live { drawn: usize, last: Vec<String> },
    Lines,
    Json,
}

impl Screen {
    fn show(&mut self, gate: &Gate, state: &Value, r: Rates, interval_ms: u64) {
        match self {
            Screen::Live { drawn, last } => {
                *last = block(gate, state, r, interval_ms);
                *drawn = redraw(*drawn, last);
            }
            Screen::Lines => say(&line(state, r)),
            Screen::Json => say(&json!({
                "let_through_per_s": r.let_through,
                "arrivals_per_s": r.arrivals,
                "state": state,
            })
            .to_string()),
        }
    }

    /// A sample that failed in a way worth retrying: the last good figures stay up, marked.
    fn trouble(&mut self, failure: &Failure) {
        let at = utc(now_ms());
        match self {
            Screen::Live { drawn, last } => {
                let mut lines = last.clone();
                lines.push(format!("  ! {at}: {failure}; retrying"));
                *drawn = redraw(*drawn, &lines);
            }
            Screen::Lines => say(&format!("{at}  {failure}")),
            Screen::Json => say(&json!({ "at": now_ms(), "error": failure.to_json() }).to_string()),
        }
    }
}

/// Moves back over the `drawn` lines, writes `lines` over them and clears what is left below.
/// Returns how many lines are on screen now.
///
/// Auto-wrap is off while drawing, so a line wider than the terminal is clipped instead of
/// taking two rows, which would leave the next redraw a row short. It is switched back on in
/// the same write.
fn redraw(drawn: usize, lines: &[String]) -> usize {
    let mut text = String::from("\x1b[?7l");
    if drawn > 0 {
        text.push_str(&format!("\x1b[{drawn}F"));
    }
    for line in lines {
        text.push_str("\x1b[2K");
        text.push_str(line);
        text.push('\n');
    }
    text.push_str("\x1b[J\x1b[?7h");
    draw(&text);
    lines.len()
}

/// Samples until interrupted (or `--count` samples). A gate that cannot be reached or fails
/// (exit 3) is shown and retried, since a watch is most needed when things go wrong; any other
/// failure (a bad token, a gate without the API) ends the watch at once.
pub fn watch(gate: &Gate, args: &StatusArgs, json: bool) -> Result<(), Failure> {
    let mut screen = if json {
        Screen::Json
    } else if std::io::stdout().is_terminal() {
        Screen::Live {
            drawn: 0,
            last: Vec::new(),
        }
    } else {
        Screen::Lines
    };
    let interval = Duration::from_millis(args.interval_ms);
    let mut before: Option<Sample> = None;
    let mut taken = 0u64;
    loop {
        let started = Instant::now();
        let outcome = match fetch(gate) {
            Ok(state) => {
                let sample = Sample::of(&state);
                screen.show(gate, &state, rates(before, sample), args.interval_ms);
                before = Some(sample);
                Ok(())
            }
            Err(failure) if failure.exit == Exit::Unreachable => {
                screen.trouble(&failure);
                Err(failure)
            }
            Err(failure) => return Err(failure),
        };
        taken += 1;
        if args.count.is_some_and(|n| taken >= n) {
            // A bounded watch ends with the last sample's outcome, for scripts.
            return outcome;
        }
        thread::sleep(interval.saturating_sub(started.elapsed()));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[test]
    fn rates_come_from_the_gate_clock_and_skip_resets() {
        let a = Sample {
            at_ms: 10_000,
            let_through: Some(100),
            seated: Some(200),
        };
        let b = Sample {
            at_ms: 12_000,
            let_through: Some(110),
            seated: Some(190),
        };
        let r = rates(Some(a), b);
        assert_eq!(r.let_through, Some(5.0));
        assert_eq!(r.arrivals, None);
        assert!(rates(None, b).let_through.is_none());
    }

    #[test]
    fn the_room_state_lists_everything_that_holds_it() {
        let state = json!({
            "now": 1_000,
            "config": {"paused": true, "closed": true, "opens_at": 61_000}
        });
        let shown = room_state(&state);
        assert!(
            shown.starts_with("PAUSED, CLOSED, PRE-QUEUE until"),
            "{shown}"
        );
        assert!(shown.ends_with("(in 60 s)"), "{shown}");
        assert_eq!(room_state(&json!({"now": 1, "config": {}})), "open");
    }
}
