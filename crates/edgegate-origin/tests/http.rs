//! The origin over real HTTP on loopback: a spawned server (port 0, a fresh temporary database)
//! hit by parallel clients, plus the binary's own start-up contract. No sleeps: every wait is on
//! a response.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    reason = "test code: a broken assumption should fail loudly"
)]

use std::net::SocketAddr;
use std::process::Command;

use axum::body::Bytes;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use edgegate_core::keys::{ForPasses, SecretRing};
use edgegate_core::{KeyRing, Pass, RoomTag, UnixMs};
use edgegate_origin::{app, AppState, Clock, IdentityKey, Settings, Store};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tempfile::TempDir;
use tokio::net::TcpStream;

const GATE_KEYS: &str = "1:000102030405060708090a0b0c0d0e0f";

fn pass_keys() -> KeyRing<ForPasses> {
    SecretRing::parse(GATE_KEYS).unwrap().pass_keys().unwrap()
}

fn now() -> UnixMs {
    Clock::System.now()
}

/// A pass for ticket number `n`, valid for ten minutes.
fn pass(n: u32) -> String {
    let mut ticket_id = [7u8; 16];
    ticket_id[..4].copy_from_slice(&n.to_be_bytes());
    Pass {
        key_id: 1,
        room: RoomTag::of("booking"),
        ticket_id,
        issued_at: now(),
        expires_at: now().plus_ms(600_000),
        ends_at: now().plus_ms(600_000),
        ..Pass::default()
    }
    .sign(&pass_keys())
}

struct TestApp {
    addr: SocketAddr,
    state: AppState,
    _dir: TempDir,
}

/// Serves the app on 127.0.0.1:0 with a fresh database and the given cap (`None`: no cap).
async fn spawn_app(cap: Option<usize>) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("origin.db")).unwrap();
    let state = AppState::new(
        store,
        Settings {
            pass_keys: pass_keys(),
            room: RoomTag::of("booking"),
            identity_key: IdentityKey::from_bytes(vec![9; 32]).unwrap(),
            max_in_flight: cap.and_then(std::num::NonZeroUsize::new),
            clock: Clock::System,
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let service = app(state.clone());
    tokio::spawn(async move { axum::serve(listener, service).await.unwrap() });
    TestApp {
        addr,
        state,
        _dir: dir,
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap()
    }
}

impl TestApp {
    /// One request on its own connection.
    async fn send(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, String)],
        body: &str,
    ) -> Answer {
        let stream = TcpStream::connect(self.addr).await.unwrap();
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, self.addr.to_string());
        for (name, value) in headers {
            request = request.header(*name, value.as_str());
        }
        let request = request
            .body(Full::new(Bytes::from(body.to_owned())))
            .unwrap();
        let response = sender.send_request(request).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: String::from_utf8(bytes.to_vec()).unwrap(),
        }
    }

    async fn book(&self, pass: String, body: &Value, extra: &[(&str, String)]) -> Answer {
        let mut headers = vec![
            ("gate-pass", pass),
            ("content-type", "application/json".to_owned()),
        ];
        headers.extend(extra.iter().cloned());
        self.send(Method::POST, "/api/bookings", &headers, &body.to_string())
            .await
    }

    async fn rows(&self) -> u64 {
        self.state.store().booking_count().await.unwrap()
    }

    /// Today's 09:00 slot at `centre`, as the API lists it.
    async fn first_slot(&self, centre: u32) -> Value {
        let answer = self
            .send(
                Method::GET,
                &format!("/api/centres/{centre}/slots"),
                &[("gate-pass", pass(0))],
                "",
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{}", answer.body);
        answer.json()["slots"][0].clone()
    }
}

fn person(slot: &str, n: u32) -> Value {
    json!({"slot_id": slot, "name": format!("시민 {n}"), "birth_date": "1966-07-12", "dose": 1})
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_citizens_race_for_the_last_seat_and_exactly_one_wins() {
    let app = spawn_app(None).await;
    // 세종 (centre 18) has two seats per slot: take one, then race for the other.
    let slot = app.first_slot(18).await;
    assert_eq!(slot["capacity"], 2);
    let slot_id = slot["id"].as_str().unwrap().to_owned();
    let first = app.book(pass(1_000), &person(&slot_id, 1_000), &[]).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);

    let app = std::sync::Arc::new(app);
    let racers: Vec<_> = (0..100u32)
        .map(|n| {
            let app = std::sync::Arc::clone(&app);
            let slot_id = slot_id.clone();
            tokio::spawn(async move { app.book(pass(n), &person(&slot_id, n), &[]).await })
        })
        .collect();
    let mut created = 0;
    let mut full = 0;
    for racer in racers {
        let answer = racer.await.unwrap();
        match answer.status {
            StatusCode::CREATED => {
                assert_eq!(answer.headers["gate-session"], "end");
                created += 1;
            }
            StatusCode::CONFLICT => {
                assert_eq!(answer.json()["code"], "slot_full");
                full += 1;
            }
            other => panic!("unexpected {other}: {}", answer.body),
        }
    }
    assert_eq!((created, full), (1, 99));
    assert_eq!(app.rows().await, 2);
    assert_eq!(app.first_slot(18).await["remaining"], 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_person_with_two_passes_gets_one_booking() {
    let app = std::sync::Arc::new(spawn_app(None).await);
    let slot_id = app.first_slot(1).await["id"].as_str().unwrap().to_owned();
    let same =
        json!({"slot_id": slot_id, "name": "김 민수", "birth_date": "1966-07-12", "dose": 2});
    let tabs: Vec<_> = [1u32, 2]
        .into_iter()
        .map(|n| {
            let app = std::sync::Arc::clone(&app);
            let same = same.clone();
            tokio::spawn(async move { app.book(pass(n), &same, &[]).await })
        })
        .collect();
    let mut statuses = Vec::new();
    for tab in tabs {
        let answer = tab.await.unwrap();
        if answer.status == StatusCode::CONFLICT {
            assert_eq!(answer.json()["code"], "already_booked");
        }
        statuses.push(answer.status);
    }
    statuses.sort();
    assert_eq!(statuses, [StatusCode::CREATED, StatusCode::CONFLICT]);
    assert_eq!(app.rows().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idempotency_key_sent_twice_books_once_and_answers_the_same() {
    let app = std::sync::Arc::new(spawn_app(None).await);
    let slot_id = app.first_slot(2).await["id"].as_str().unwrap().to_owned();
    let body = person(&slot_id, 1);
    let key = [("idempotency-key", "retry-7f3a".to_owned())];
    // Both at once, as a client retrying a timed-out request would.
    let sends: Vec<_> = [1u32, 2]
        .into_iter()
        .map(|n| {
            let app = std::sync::Arc::clone(&app);
            let body = body.clone();
            let key = key.clone();
            tokio::spawn(async move { app.book(pass(n), &body, &key).await })
        })
        .collect();
    let mut answers = Vec::new();
    for send in sends {
        answers.push(send.await.unwrap());
    }
    assert_eq!(
        answers[0].status,
        StatusCode::CREATED,
        "{}",
        answers[0].body
    );
    assert_eq!(
        answers[1].status,
        StatusCode::CREATED,
        "{}",
        answers[1].body
    );
    assert_eq!(answers[0].body, answers[1].body);
    assert_eq!(app.rows().await, 1);

    let different = app.book(pass(3), &person(&slot_id, 2), &key).await;
    assert_eq!(different.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(different.json()["field"], "Idempotency-Key");
    assert_eq!(app.rows().await, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cross_site_posts_are_refused_and_leave_no_row() {
    let app = spawn_app(None).await;
    let slot_id = app.first_slot(3).await["id"].as_str().unwrap().to_owned();
    let gate = ("x-forwarded-host", "127.0.0.1:8787".to_owned());
    let cases: [Vec<(&str, String)>; 3] = [
        vec![("sec-fetch-site", "cross-site".to_owned()), gate.clone()],
        vec![
            ("origin", "http://attacker.example".to_owned()),
            gate.clone(),
        ],
        vec![("origin", "http://127.0.0.1:9999".to_owned()), gate.clone()],
    ];
    for (n, headers) in (1u32..).zip(cases) {
        let answer = app.book(pass(n), &person(&slot_id, n), &headers).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{headers:?}");

        let mut form_headers = headers.clone();
        form_headers.push(("gate-pass", pass(n + 10)));
        form_headers.push((
            "content-type",
            "application/x-www-form-urlencoded".to_owned(),
        ));
        let form = format!("slot_id={slot_id}&name=x&birth_date=1966-07-12&dose=1");
        let answer = app.send(Method::POST, "/book", &form_headers, &form).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "{headers:?}");
    }
    assert_eq!(app.rows().await, 0);

    // What the gate forwards for the citizen's own form is accepted.
    let same_site = [
        ("sec-fetch-site", "same-origin".to_owned()),
        ("origin", "http://127.0.0.1:8787".to_owned()),
        gate,
        ("x-forwarded-proto", "http".to_owned()),
    ];
    let answer = app.book(pass(99), &person(&slot_id, 99), &same_site).await;
    assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_expired_foreign_and_unknown_passes_get_401_everywhere() {
    let app = spawn_app(Some(8)).await;
    let genuine = Pass {
        key_id: 1,
        room: RoomTag::of("booking"),
        ticket_id: [3; 16],
        issued_at: now(),
        expires_at: now().plus_ms(600_000),
        ends_at: now().plus_ms(600_000),
        ..Pass::default()
    };
    let sign_with =
        |secret: &str, p: &Pass| p.sign(&SecretRing::parse(secret).unwrap().pass_keys().unwrap());
    let bad = [
        (
            "forged",
            sign_with("1:ffffffffffffffffffffffffffffffff", &genuine),
        ),
        (
            "expired",
            Pass {
                issued_at: now().minus_ms(900_000),
                expires_at: now().minus_ms(60_000),
                ..genuine.clone()
            }
            .sign(&pass_keys()),
        ),
        (
            "other room",
            Pass {
                room: RoomTag::of("concert"),
                ..genuine.clone()
            }
            .sign(&pass_keys()),
        ),
        (
            "unknown key",
            sign_with("5:000102030405060708090a0b0c0d0e0f", &genuine),
        ),
        ("not a token", "hello".to_owned()),
    ];
    let routes = [
        (Method::GET, "/"),
        (Method::GET, "/centres/1"),
        (Method::GET, "/centres/1?date=2099-01-01"),
        (Method::POST, "/book"),
        (Method::GET, "/bookings/0000000000000000"),
        (Method::GET, "/api/centres"),
        (Method::GET, "/api/centres/1/slots"),
        (Method::POST, "/api/bookings"),
        (Method::GET, "/api/bookings/0000000000000000"),
        (Method::GET, "/anything/else"),
    ];
    for (method, path) in routes {
        for (what, text) in &bad {
            let answer = app
                .send(
                    method.clone(),
                    path,
                    &[
                        ("gate-pass", text.clone()),
                        ("content-type", "application/json".to_owned()),
                    ],
                    r#"{"slot_id":"1-20990101-0900","name":"x","birth_date":"1966-07-12","dose":1}"#,
                )
                .await;
            assert_eq!(
                answer.status,
                StatusCode::UNAUTHORIZED,
                "{method} {path} with a {what} pass"
            );
        }
        let answer = app.send(method.clone(), path, &[], "").await;
        assert_eq!(
            answer.status,
            StatusCode::UNAUTHORIZED,
            "{method} {path} without a pass"
        );
    }
    assert_eq!(app.rows().await, 0);
    let health = app.send(Method::GET, "/healthz", &[], "").await;
    assert_eq!(
        (health.status, health.body.as_str()),
        (StatusCode::OK, "ok")
    );
    let genuine = app
        .send(
            Method::GET,
            "/",
            &[("gate-pass", genuine.sign(&pass_keys()))],
            "",
        )
        .await;
    assert_eq!(genuine.status, StatusCode::OK);
}

#[test]
fn derive_pass_keys_prints_exactly_the_pass_key_line() {
    let out = Command::new(env!("CARGO_BIN_EXE_edgegate-origin"))
        .arg("derive-pass-keys")
        .env_clear()
        .env("GATE_KEYS", GATE_KEYS)
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(printed, format!("{}\n", pass_keys().to_env_text()));
    // What it prints is what the origin reads.
    assert!(KeyRing::parse_pass_keys(printed.trim()).is_ok());

    for gate_keys in [None, Some("1:abcd")] {
        let mut command = Command::new(env!("CARGO_BIN_EXE_edgegate-origin"));
        command.arg("derive-pass-keys").env_clear();
        if let Some(keys) = gate_keys {
            command.env("GATE_KEYS", keys);
        }
        let out = command.output().unwrap();
        assert_eq!(out.status.code(), Some(2));
        assert!(out.stdout.is_empty());
        assert!(String::from_utf8_lossy(&out.stderr).contains("GATE_KEYS"));
    }
}

#[test]
fn the_server_refuses_to_start_without_its_keys_naming_the_variable() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("origin.db");
    let keys = pass_keys().to_env_text();
    let cases: [(&[(&str, &str)], &str); 4] = [
        (
            &[("IDENTITY_KEY", "00112233445566778899aabbccddeeff")],
            "PASS_KEYS",
        ),
        (&[("PASS_KEYS", keys.as_str())], "IDENTITY_KEY"),
        (
            &[
                ("PASS_KEYS", "1:zz"),
                ("IDENTITY_KEY", "00112233445566778899aabbccddeeff"),
            ],
            "PASS_KEYS",
        ),
        (
            &[
                ("PASS_KEYS", keys.as_str()),
                ("IDENTITY_KEY", "00112233445566778899aabbccddeeff"),
                ("ORIGIN_MAX_IN_FLIGHT", "lots"),
            ],
            "ORIGIN_MAX_IN_FLIGHT",
        ),
    ];
    for (vars, variable) in cases {
        let out = Command::new(env!("CARGO_BIN_EXE_edgegate-origin"))
            .env_clear()
            .env("ORIGIN_DB", &db)
            .env("ORIGIN_ADDR", "127.0.0.1:0")
            .envs(vars.iter().copied())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{variable}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(variable), "{variable}: {stderr}");
        assert!(
            !stderr.contains("00112233445566778899aabbccddeeff"),
            "secrets are never echoed"
        );
    }
    assert!(!db.exists(), "nothing is created before the config is good");
}
