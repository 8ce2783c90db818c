//! The real `edgegate` binary against a fake gate: what it sends, what it prints, and the exit
//! code a script would see.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    reason = "test code: a broken assumption should fail loudly"
)]

mod fake;

use std::net::TcpListener;
use std::process::{Command, Output, Stdio};

use serde_json::{json, Value};

use fake::FakeGate;

const TOKEN: &str = "s3cret-admin-token";

/// A state as the gate reports it, with a field the CLI does not know (it must not mind).
fn state(rate: u64, let_through: u64, seated: u64, now: u64) -> String {
    json!({
        "config": {
            "new_users_per_minute": rate, "max_active": 500, "session_duration_s": 300,
            "paused": false, "closed": false, "opens_at": null, "test_mode": false,
            "prequeue_since": null, "burst": 0, "place_grace_s": 300,
        },
        "cursor": {"bucket": 1234, "fraction": 0.5},
        "counters": {
            "waiting": 4321, "held": 5000, "seated_total": seated, "let_through_total": let_through,
            "ended_total": 7, "lapsed_total": 3, "duplicate_syncs": 0, "active": 120,
            "unclaimed": 2, "no_show_per_mille": 125, "isolates_last_minute": 3,
        },
        "storage": {"readable": true, "problem": null},
        "settle_ms": 5000,
        "now": now,
        "coordinator": {"sync_calls": 10, "admin_calls": 2},
        "a_field_from_the_future": {"x": 1},
    })
    .to_string()
}

/// Runs the binary with a clean environment (no stray EDGEGATE_* or proxy variables), the
/// token in EDGEGATE_ADMIN_TOKEN, and stdin not a terminal.
fn edgegate(gate: &str, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = bare(gate, args);
    cmd.env("EDGEGATE_ADMIN_TOKEN", TOKEN);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

/// The binary with no token anywhere.
fn bare(gate: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_edgegate"));
    cmd.env_clear()
        .env("EDGEGATE_URL", gate)
        .args(args)
        .stdin(Stdio::null());
    cmd
}

fn code(out: &Output) -> i32 {
    out.status.code().expect("exited, not killed")
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8(out.stderr.clone()).unwrap()
}

#[test]
fn set_maps_the_short_names_to_the_config_fields_and_names_the_room() {
    let gate = FakeGate::start();
    gate.on("GET", "/admin/state", 200, &state(600, 0, 0, 1));
    gate.on(
        "PUT",
        "/admin/config",
        200,
        r#"{"new_users_per_minute": 900, "max_active": 200, "session_duration_s": 600,
            "burst": 10, "place_grace_s": 120, "test_mode": true}"#,
    );
    let out = edgegate(
        &gate.url,
        &[
            "set",
            "rate=900",
            "max_active=200",
            "session=10m",
            "burst=10",
            "grace=120",
            "test_mode=on",
            "--room",
            "night shift",
        ],
        &[("USER", "kim")],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let seen = gate.requests();
    // 900 is less than three times 600: the rate is read, and no confirmation is needed.
    assert_eq!(seen.len(), 2, "{seen:?}");
    assert_eq!(
        (seen[0].method.as_str(), seen[0].path.as_str()),
        ("GET", "/admin/state")
    );
    let put = &seen[1];
    assert_eq!(
        (put.method.as_str(), put.path.as_str()),
        ("PUT", "/admin/config")
    );
    assert_eq!(put.query.as_deref(), Some("room=night%20shift"));
    assert_eq!(
        put.header("authorization"),
        Some(&*format!("Bearer {TOKEN}"))
    );
    assert_eq!(put.header("content-type"), Some("application/json"));
    // The audit log names who made the change: $USER unless --operator says otherwise.
    assert_eq!(put.header("edgegate-operator"), Some("kim"));
    assert_eq!(
        put.json(),
        json!({
            "new_users_per_minute": 900, "max_active": 200, "session_duration_s": 600,
            "burst": 10, "place_grace_s": 120, "test_mode": true,
        })
    );
    let said = stdout(&out);
    assert!(said.contains("new_users_per_minute = 900"), "{said}");
    assert!(said.contains("in room night shift"), "{said}");
}

#[test]
fn a_tenfold_rate_is_refused_without_yes_when_nobody_can_be_asked() {
    let gate = FakeGate::start();
    gate.on("GET", "/admin/state", 200, &state(60, 0, 0, 1));
    gate.on(
        "PUT",
        "/admin/config",
        200,
        r#"{"new_users_per_minute": 600}"#,
    );
    let out = edgegate(&gate.url, &["set", "rate=600"], &[]);
    assert_eq!(code(&out), 2);
    let said = stderr(&out);
    assert!(
        said.contains("--yes") && said.contains("from 60 to 600"),
        "{said}"
    );
    assert!(
        gate.requests().iter().all(|r| r.method != "PUT"),
        "nothing may be changed"
    );

    // With --yes it goes straight through, without even reading the current rate.
    let gate = FakeGate::start();
    gate.on(
        "PUT",
        "/admin/config",
        200,
        r#"{"new_users_per_minute": 600}"#,
    );
    let out = edgegate(&gate.url, &["set", "rate=600", "--yes"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let seen = gate.requests();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].json(), json!({"new_users_per_minute": 600}));
}

#[test]
fn a_wrong_token_exits_4_without_printing_the_token() {
    let gate = FakeGate::start();
    gate.on(
        "GET",
        "/admin/state",
        401,
        r#"{"error":"missing or wrong bearer token"}"#,
    );
    let out = edgegate(&gate.url, &["status"], &[]);
    assert_eq!(code(&out), 4);
    let said = stderr(&out);
    assert!(
        said.contains("unauthorized") && said.contains("401"),
        "{said}"
    );
    assert!(!said.contains(TOKEN) && !stdout(&out).contains(TOKEN));
}

#[test]
fn revoke_on_a_gate_without_it_exits_5_and_says_so_plainly() {
    let gate = FakeGate::start();
    let out = edgegate(&gate.url, &["revoke", "--ticket", "K7Q-2MX"], &[]);
    assert_eq!(code(&out), 5);
    let expected = format!(
        "this gate does not offer revoking tickets yet (404 from {}/admin/revoke)",
        gate.url
    );
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
    let seen = gate.requests();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].json(), json!({"ticket": "K7Q-2MX"}));

    // The same for machines.
    let out = edgegate(
        &gate.url,
        &["--json", "revoke", "--before", "1740787200000"],
        &[],
    );
    assert_eq!(code(&out), 5);
    let error: Value = serde_json::from_str(&stderr(&out)).unwrap();
    assert_eq!(error["kind"], "not_offered");
    assert_eq!(error["status"], 404);
    assert_eq!(
        gate.requests()[1].json(),
        json!({"before": 1_740_787_200_000_u64})
    );
}

#[test]
fn revoke_reports_what_the_gate_revoked() {
    let gate = FakeGate::start();
    gate.on("POST", "/admin/revoke", 200, r#"{"revoked": 42}"#);
    let out = edgegate(
        &gate.url,
        &["revoke", "--before", "2025-03-01T09:00:00+09:00"],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "revoked 42 tickets");
    assert_eq!(
        gate.requests()[0].json(),
        json!({"before": 1_740_787_200_000_u64})
    );
}

#[test]
fn an_unreachable_gate_exits_3_naming_the_url_and_the_cause() {
    // A port that was just free: bound, read, released.
    let url = {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let out = edgegate(&url, &["status"], &[]);
    assert_eq!(code(&out), 3);
    let expected = format!("cannot reach {url}/admin/state: connection refused");
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
}

#[test]
fn a_gate_that_never_answers_exits_3_after_the_timeout() {
    // Connections complete in the listener's backlog, but nobody reads or answers them.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    let out = edgegate(&url, &["status", "--timeout-ms", "300"], &[]);
    assert_eq!(code(&out), 3);
    let expected = format!("cannot reach {url}/admin/state: no answer within 300 ms");
    assert!(stderr(&out).contains(&expected), "{}", stderr(&out));
    drop(silent);
}

#[test]
fn a_failing_gate_exits_3_too() {
    let gate = FakeGate::start();
    gate.on(
        "GET",
        "/admin/state",
        503,
        r#"{"error":"coordinator overloaded"}"#,
    );
    let out = edgegate(&gate.url, &["status"], &[]);
    assert_eq!(code(&out), 3);
    assert!(
        stderr(&out).contains("coordinator overloaded"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn a_refused_field_exits_1_and_the_message_names_it() {
    let gate = FakeGate::start();
    gate.on(
        "PUT",
        "/admin/config",
        400,
        r#"{"error":"burst: must be at most one second of the rate: 1 at 60 new users per minute","field":"burst"}"#,
    );
    let out = edgegate(&gate.url, &["set", "burst=5"], &[]);
    assert_eq!(code(&out), 1);
    assert_eq!(
        stderr(&out).trim(),
        "edgegate: the gate refused burst: must be at most one second of the rate: 1 at 60 new users per minute"
    );

    let out = edgegate(&gate.url, &["set", "burst=5", "--json"], &[]);
    assert_eq!(code(&out), 1);
    let error: Value = serde_json::from_str(&stderr(&out)).unwrap();
    assert_eq!(
        (&error["field"], &error["exit"]),
        (&json!("burst"), &json!(1))
    );
}

#[test]
fn json_output_is_the_gates_answer_and_parses() {
    let gate = FakeGate::start();
    let canned = state(600, 10, 20, 1_740_787_200_000);
    gate.on("GET", "/admin/state", 200, &canned);
    let out = edgegate(&gate.url, &["status", "--json"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let printed: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(printed, serde_json::from_str::<Value>(&canned).unwrap());
    assert_eq!(gate.requests()[0].query, None, "no room: no query");
}

#[test]
fn status_shows_the_room_for_people() {
    let gate = FakeGate::start();
    gate.on(
        "GET",
        "/admin/state",
        200,
        &state(600, 9876, 20, 1_740_787_200_000),
    );
    let out = edgegate(&gate.url, &["status"], &[("EDGEGATE_ROOM", "booking")]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let said = stdout(&out);
    for shown in [
        "booking",
        "open",
        "4,321",
        "120 / 500",
        "9,876 total",
        "600 / min, burst 0",
        "bucket 1234 + 0.500",
        "3 synced in the last minute",
        "12.5 %",
    ] {
        assert!(said.contains(shown), "{shown:?} missing from\n{said}");
    }
    assert_eq!(gate.requests()[0].query.as_deref(), Some("room=booking"));
}

#[test]
fn watch_prints_the_rates_between_samples() {
    let gate = FakeGate::start();
    gate.on("GET", "/admin/state", 200, &state(600, 100, 200, 10_000))
        .on("GET", "/admin/state", 200, &state(600, 110, 230, 12_000));
    let out = edgegate(
        &gate.url,
        &["status", "--watch", "--interval-ms", "100", "--count", "2"],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let said = stdout(&out);
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(lines.len(), 2, "one line a sample off a terminal: {said}");
    assert!(
        lines[1].contains("(5.0/s)") && lines[1].contains("arrivals 15.0/s"),
        "{said}"
    );

    let out = edgegate(
        &gate.url,
        &[
            "status",
            "--watch",
            "--interval-ms",
            "100",
            "--count",
            "1",
            "--json",
        ],
        &[],
    );
    let sample: Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(sample["state"]["counters"]["let_through_total"], 110);
}

#[test]
fn pause_resume_close_open_send_the_flags() {
    let gate = FakeGate::start();
    gate.on(
        "PUT",
        "/admin/config",
        200,
        r#"{"paused": false, "closed": false}"#,
    );
    for args in [
        &["pause"][..],
        &["resume"][..],
        &[
            "close",
            "--message-ko",
            "내일 다시",
            "--message-en",
            "Back tomorrow",
        ][..],
        &["close"][..],
        &["open"][..],
        &["open-at", "2025-03-01T09:00:00+09:00"][..],
        &["open-at", "none"][..],
    ] {
        let out = edgegate(&gate.url, args, &[]);
        assert_eq!(code(&out), 0, "{args:?}: {}", stderr(&out));
    }
    let bodies: Vec<Value> = gate.requests().iter().map(|r| r.json()).collect();
    assert_eq!(
        bodies,
        [
            json!({"paused": true}),
            json!({"paused": false}),
            json!({"closed": true, "close_message": {"ko": "내일 다시", "en": "Back tomorrow"}}),
            json!({"closed": true}),
            json!({"closed": false}),
            json!({"opens_at": 1_740_787_200_000_u64}),
            json!({"opens_at": null}),
        ]
    );
}

#[test]
fn closing_messages_on_a_gate_without_them_exit_5() {
    let gate = FakeGate::start();
    gate.on(
        "PUT",
        "/admin/config",
        400,
        r#"{"error":"close_message: is not a setting","field":"close_message"}"#,
    );
    let out = edgegate(&gate.url, &["close", "--message-en", "Back at nine"], &[]);
    assert_eq!(code(&out), 5);
    assert!(
        stderr(&out).contains("this gate does not offer closing messages yet"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn test_key_prints_the_key_alone_or_the_whole_answer() {
    let gate = FakeGate::start();
    let answer = r#"{"test_key":"tk.abc","expires_at":1740790800000,"header":"Gate-Test-Key","cookie":"gate_test"}"#;
    gate.on("POST", "/admin/test-key", 200, answer);
    let out = edgegate(
        &gate.url,
        &[
            "test-key",
            "--mode",
            "waiting",
            "--position",
            "7",
            "--ttl-s",
            "600",
        ],
        &[],
    );
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(stdout(&out), "tk.abc\n");
    assert_eq!(
        gate.requests()[0].json(),
        json!({"mode": "waiting", "position": 7, "ttl_s": 600})
    );
    let out = edgegate(&gate.url, &["test-key", "--mode", "through", "--json"], &[]);
    let printed: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(printed["cookie"], "gate_test");
}

#[test]
fn audit_asks_from_a_time_and_filters_anyway() {
    let gate = FakeGate::start();
    gate.on(
        "GET",
        "/admin/audit",
        200,
        r#"{"entries":[
            {"at": 1740787100000, "who": "kim", "what": "new_users_per_minute", "from": 60, "to": 600},
            {"at": 1740787300000, "who": "lee", "what": "paused", "from": false, "to": true}
        ]}"#,
    );
    let out = edgegate(&gate.url, &["audit", "--since", "1740787200000"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    assert_eq!(
        stdout(&out),
        "2025-03-01 00:01:40Z  lee  paused  false → true\n"
    );
    assert_eq!(
        gate.requests()[0].query.as_deref(),
        Some("since=1740787200000")
    );
    let out = edgegate(&gate.url, &["audit", "--json"], &[]);
    let printed: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(printed["entries"].as_array().unwrap().len(), 2);
}

#[test]
fn report_sums_the_history_and_exports_csv() {
    let gate = FakeGate::start();
    gate.on(
        "GET",
        "/admin/history",
        200,
        r#"{"minutes":[
            {"minute": 1740787200000, "arrivals": 80, "let_through": 60, "active": 100, "waiting": 900, "rate_per_minute": 60, "paused": false, "no_shows": 2},
            {"minute": 1740787260000, "arrivals": 70, "let_through": 0, "active": 90, "waiting": 970, "rate_per_minute": 60, "paused": true, "no_shows": 0},
            {"minute": 1740787320000, "arrivals": 50, "let_through": 30, "active": 95, "waiting": 940, "rate_per_minute": 60, "paused": false, "no_shows": 1}
        ]}"#,
    );
    let out = edgegate(&gate.url, &["report", "--json"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let summary: Value = serde_json::from_str(&stdout(&out)).unwrap();
    assert_eq!(summary["arrivals"], 200);
    assert_eq!(summary["let_through"], 90);
    assert_eq!(
        summary["peak_waiting"],
        json!({"value": 970, "minute": 1_740_787_260_000_u64})
    );
    assert_eq!(summary["paused_minutes"], 1);
    assert_eq!(summary["let_through_share_of_rate"], 0.75);

    let out = edgegate(&gate.url, &["report", "--csv"], &[]);
    let csv = stdout(&out);
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 4);
    assert!(lines[0].starts_with("minute,minute_utc,arrivals"));
    assert_eq!(
        lines[2],
        "1740787260000,2025-03-01 00:01:00Z,70,0,90,970,60,true,0"
    );

    let out = edgegate(&gate.url, &["report"], &[]);
    assert!(
        stdout(&out).contains("time paused    1 min"),
        "{}",
        stdout(&out)
    );
}

#[test]
fn the_token_comes_from_a_flag_a_file_or_the_environment_and_is_required() {
    let gate = FakeGate::start();
    gate.on("GET", "/admin/state", 200, &state(60, 0, 0, 1));
    let dir = std::env::temp_dir().join(format!("edgegate-cli-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("token");
    std::fs::write(&file, "from-file\n").unwrap();

    let file_arg = file.to_str().unwrap();
    let out = edgegate(&gate.url, &["status", "--token-file", file_arg], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let out = edgegate(&gate.url, &["status", "--token", "from-flag"], &[]);
    assert_eq!(code(&out), 0, "{}", stderr(&out));
    let auth: Vec<String> = gate
        .requests()
        .iter()
        .map(|r| r.header("authorization").unwrap().to_owned())
        .collect();
    assert_eq!(auth, ["Bearer from-file", "Bearer from-flag"]);

    let out = bare(&gate.url, &["status"]).output().unwrap();
    assert_eq!(code(&out), 2);
    assert!(stderr(&out).contains("no admin token"), "{}", stderr(&out));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn usage_errors_exit_2_before_anything_is_sent() {
    let gate = FakeGate::start();
    for args in [
        &["set"][..],
        &["set", "rate=fast"][..],
        &["set", "colour=red"][..],
        &["revoke"][..],
        &["open-at", "1740787200"][..],
        &["test-key", "--mode", "sideways"][..],
        &["report", "--csv", "--json"][..],
        &["frobnicate"][..],
    ] {
        let out = edgegate(&gate.url, args, &[]);
        assert_eq!(code(&out), 2, "{args:?}: {}", stderr(&out));
    }
    let out = edgegate("ftp://example", &["status"], &[]);
    assert_eq!(code(&out), 2);
    assert!(gate.requests().is_empty());
}
