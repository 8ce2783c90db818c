//! The commands that send one change or fetch one list: set, pause/resume, close/open, open-at,
//! revoke, test-key, audit.

use std::io::{self, BufRead, IsTerminal, Write};

use serde_json::{json, Map, Value};

use crate::cli::{AuditArgs, CloseArgs, OpenAtArgs, RevokeArgs, SetArgs, TestKeyArgs};
use crate::gate::{Exit, Failure, Gate, Method};
use crate::output::{self, flag, num, plain, say};
use crate::set::{self, risky_rate};
use crate::when::{now_ms, parse_time, relative, utc};

const CONFIG: &str = "/admin/config";

/// " in room NAME" when a room was named, so output never leaves doubt which room changed.
fn in_room(gate: &Gate) -> String {
    gate.room()
        .map_or_else(String::new, |room| format!(" in room {room}"))
}

/// An answer that is JSON but lacks what the route promises: a gate of another shape, treated
/// like any other answer the CLI cannot use.
fn odd_answer(gate: &Gate, path: &str, missing: &str) -> Failure {
    Failure {
        exit: Exit::Unreachable,
        message: format!(
            "{} answered without {missing}: is --gate an edgegate gate?",
            gate.url(path, &[])
        ),
        status: None,
        field: None,
    }
}

fn configure(gate: &Gate, patch: &Value) -> Result<Value, Failure> {
    gate.call(Method::Put, CONFIG, &[], Some(patch), "the config API")
}

pub fn set(gate: &Gate, args: &SetArgs, json: bool) -> Result<(), Failure> {
    let patch = set::patch(&args.pairs)?;
    if let Some(new) = patch.get("new_users_per_minute").and_then(Value::as_u64) {
        if !args.yes {
            confirm_rate(gate, new)?;
        }
    }
    let answer = configure(gate, &Value::Object(patch.clone()))?;
    if json {
        output::json(&answer);
        return Ok(());
    }
    // What the gate now holds for each field sent: the answer is the config in force.
    let changed: Vec<String> = patch
        .iter()
        .map(|(field, sent)| format!("{field} = {}", plain(answer.get(field).unwrap_or(sent))))
        .collect();
    say(&format!("set {}{}", changed.join(", "), in_room(gate)));
    Ok(())
}

/// Asks before a large rate increase, or refuses when there is no terminal to ask on. The
/// current rate is read from the gate just before; if it cannot be read, the change is treated
/// as large.
fn confirm_rate(gate: &Gate, new: u64) -> Result<(), Failure> {
    let state = gate.call(Method::Get, "/admin/state", &[], None, "the state API")?;
    let current = num(&state, "/config/new_users_per_minute");
    let what = match current {
        Some(current) if !risky_rate(current, new) => return Ok(()),
        Some(0) => format!("raise the rate from 0 to {new} new users per minute"),
        Some(current) => {
            #[allow(clippy::cast_precision_loss, reason = "a factor shown to one decimal")]
            let factor = new as f64 / current as f64;
            format!("raise the rate from {current} to {new} new users per minute (×{factor:.1})")
        }
        None => format!("set the rate to {new} new users per minute (the current rate is unknown)"),
    };
    if !io::stdin().is_terminal() {
        return Err(Failure::usage(format!(
            "refusing to {what} without --yes: more than three times the rate, and no terminal to ask on"
        )));
    }
    eprint!("About to {what}{}. Go ahead? [y/N] ", in_room(gate));
    let _ = io::stderr().flush();
    let mut answer = String::new();
    let read = io::stdin().lock().read_line(&mut answer);
    let yes = read.is_ok() && matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes");
    if yes {
        Ok(())
    } else {
        Err(Failure::usage(
            "nothing changed: the rate increase was not confirmed",
        ))
    }
}

pub fn pause(gate: &Gate, paused: bool, json: bool) -> Result<(), Failure> {
    let answer = configure(gate, &json!({ "paused": paused }))?;
    if json {
        output::json(&answer);
    } else if paused {
        say(&format!(
            "paused{}: nobody new is let through; places in line are kept",
            in_room(gate)
        ));
    } else {
        say(&format!(
            "resumed{}{}",
            in_room(gate),
            still_frozen(&answer)
        ));
    }
    Ok(())
}

/// After resume or open: what else still keeps the room from letting people through, since
/// "resumed" on a closed room would mislead.
fn still_frozen(config: &Value) -> String {
    let mut held = Vec::new();
    if flag(config, "/paused") == Some(true) {
        held.push("still paused (edgegate resume)".to_owned());
    }
    if flag(config, "/closed") == Some(true) {
        held.push("still closed (edgegate open)".to_owned());
    }
    let now = now_ms();
    if let Some(at) = num(config, "/opens_at").filter(|at| *at > now) {
        held.push(format!("opens at {} ({})", utc(at), relative(at, now)));
    }
    if held.is_empty() {
        String::new()
    } else {
        format!(", but {}", held.join("; "))
    }
}

pub fn close(gate: &Gate, args: &CloseArgs, json: bool) -> Result<(), Failure> {
    let mut patch = Map::new();
    patch.insert("closed".into(), Value::Bool(true));
    let mut message = Map::new();
    if let Some(ko) = &args.message_ko {
        message.insert("ko".into(), Value::from(ko.as_str()));
    }
    if let Some(en) = &args.message_en {
        message.insert("en".into(), Value::from(en.as_str()));
    }
    let languages: Vec<String> = message.keys().cloned().collect();
    if !message.is_empty() {
        patch.insert("close_message".into(), Value::Object(message));
    }
    let answer = configure(gate, &Value::Object(patch)).map_err(|failure| {
        // A gate from before closing messages refuses the field as unknown; that is a feature
        // it lacks, not a bad value.
        if failure.field.as_deref() == Some("close_message")
            && failure.message.contains("is not a setting")
        {
            Failure {
                exit: Exit::NotOffered,
                message: format!(
                    "this gate does not offer closing messages yet ({} from {}); \
                     the room was not closed: close again without --message-ko/--message-en",
                    failure.status.unwrap_or(400),
                    gate.url(CONFIG, &[])
                ),
                ..failure
            }
        } else {
            failure
        }
    })?;
    if json {
        output::json(&answer);
    } else if languages.is_empty() {
        say(&format!(
            "closed{}: the page asks citizens to come back later",
            in_room(gate)
        ));
    } else {
        say(&format!(
            "closed{}, with the message in {}",
            in_room(gate),
            languages.join(" and ")
        ));
    }
    Ok(())
}

pub fn open(gate: &Gate, json: bool) -> Result<(), Failure> {
    let answer = configure(gate, &json!({ "closed": false }))?;
    if json {
        output::json(&answer);
    } else {
        say(&format!("opened{}{}", in_room(gate), still_frozen(&answer)));
    }
    Ok(())
}

pub fn open_at(gate: &Gate, args: &OpenAtArgs, json: bool) -> Result<(), Failure> {
    let now = now_ms();
    let at = match args.time.trim().to_ascii_lowercase().as_str() {
        "none" | "null" | "clear" => None,
        _ => Some(parse_time(&args.time, now).map_err(Failure::usage)?),
    };
    let answer = configure(gate, &json!({ "opens_at": at }))?;
    if json {
        output::json(&answer);
        return Ok(());
    }
    match num(&answer, "/opens_at").or(at) {
        Some(at) => say(&format!(
            "opens at {} ({}){}; until then arrivals join the pre-queue draw",
            utc(at),
            relative(at, now),
            in_room(gate)
        )),
        None => say(&format!("no opening scheduled{}", in_room(gate))),
    }
    Ok(())
}

pub fn revoke(gate: &Gate, args: &RevokeArgs, json: bool) -> Result<(), Failure> {
    let body = match (&args.ticket, &args.before) {
        (Some(ticket), _) => json!({ "ticket": ticket.trim() }),
        (None, Some(before)) => {
            json!({ "before": parse_time(before, now_ms()).map_err(Failure::usage)? })
        }
        (None, None) => return Err(Failure::usage("revoke needs --ticket ID or --before TIME")),
    };
    let answer = gate.call(
        Method::Post,
        "/admin/revoke",
        &[],
        Some(&body),
        "revoking tickets",
    )?;
    if json {
        output::json(&answer);
        return Ok(());
    }
    let revoked = answer.get("revoked").unwrap_or(&Value::Null);
    let line = match revoked {
        Value::Number(n) if n.as_u64() == Some(1) => "revoked 1 ticket".to_owned(),
        Value::Number(n) => format!("revoked {n} tickets"),
        Value::Bool(true) => "revoked".to_owned(),
        Value::Bool(false) => "nothing revoked".to_owned(),
        other => format!("revoked: {}", plain(other)),
    };
    say(&format!("{line}{}", in_room(gate)));
    Ok(())
}

pub fn test_key(gate: &Gate, args: &TestKeyArgs, json: bool) -> Result<(), Failure> {
    let mut body = Map::new();
    body.insert("mode".into(), Value::from(args.mode.as_str()));
    if let Some(position) = args.position {
        body.insert("position".into(), Value::from(position));
    }
    if let Some(at) = &args.opens_at {
        let at = parse_time(at, now_ms()).map_err(Failure::usage)?;
        body.insert("opens_at".into(), Value::from(at));
    }
    if let Some(ttl) = args.ttl_s {
        body.insert("ttl_s".into(), Value::from(ttl));
    }
    let path = "/admin/test-key";
    let answer = gate.call(
        Method::Post,
        path,
        &[],
        Some(&Value::Object(body)),
        "test keys",
    )?;
    if json {
        output::json(&answer);
        return Ok(());
    }
    let key = answer
        .get("test_key")
        .and_then(Value::as_str)
        .ok_or_else(|| odd_answer(gate, path, "a test_key"))?;
    // The key alone on stdout, for `KEY=$(edgegate test-key …)`; how to use it goes to a
    // person's terminal only.
    say(key);
    if io::stderr().is_terminal() {
        let now = now_ms();
        let expires = num(&answer, "/expires_at")
            .map(|at| format!("expires {} ({})", utc(at), relative(at, now)))
            .unwrap_or_default();
        let header = answer.get("header").map(plain).unwrap_or_default();
        let cookie = answer.get("cookie").map(plain).unwrap_or_default();
        eprintln!(
            "{expires}; send it as header {header} or cookie {cookie}; honoured only while test_mode is on"
        );
    }
    Ok(())
}

pub fn audit(gate: &Gate, args: &AuditArgs, json: bool) -> Result<(), Failure> {
    let since = args
        .since
        .as_deref()
        .map(|s| parse_time(s, now_ms()))
        .transpose()
        .map_err(Failure::usage)?;
    let path = "/admin/audit";
    let query: Vec<(&str, String)> = since
        .map(|ms| ("since", ms.to_string()))
        .into_iter()
        .collect();
    let answer = gate.call(Method::Get, path, &query, None, "an audit log")?;
    let entries = answer
        .get("entries")
        .and_then(Value::as_array)
        .ok_or_else(|| odd_answer(gate, path, "entries"))?;
    // Filtered here as well, so `--since` holds even on a gate that ignores the parameter.
    let entries: Vec<&Value> = entries
        .iter()
        .filter(|e| since.is_none_or(|since| num(e, "/at").is_none_or(|at| at >= since)))
        .collect();
    if json {
        output::json(&json!({ "entries": entries }));
        return Ok(());
    }
    if entries.is_empty() {
        let since = since
            .map(|ms| format!(" since {}", utc(ms)))
            .unwrap_or_default();
        say(&format!("no audit entries{since}{}", in_room(gate)));
        return Ok(());
    }
    let who_width = entries
        .iter()
        .map(|e| e.get("who").map_or(1, |w| plain(w).chars().count()))
        .max()
        .unwrap_or(1);
    for entry in entries {
        let at = num(entry, "/at").map_or_else(|| "?".to_owned(), utc);
        let who = entry.get("who").map_or_else(|| "?".to_owned(), plain);
        let what = entry.get("what").map_or_else(|| "?".to_owned(), plain);
        let change = match (entry.get("from"), entry.get("to")) {
            (None, None) => String::new(),
            (from, to) => format!(
                "  {} → {}",
                from.map_or_else(|| "?".to_owned(), plain),
                to.map_or_else(|| "?".to_owned(), plain)
            ),
        };
        let why = entry
            .get("why")
            .and_then(Value::as_str)
            .map(|w| format!("  ({w})"))
            .unwrap_or_default();
        say(&format!("{at}  {who:<who_width$}  {what}{change}{why}"));
    }
    Ok(())
}
