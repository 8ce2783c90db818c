//! Prints what the origin sustains on this machine: bookings per second and latency with the
//! in-flight cap lifted and at the default cap of 8, then how many of a sudden burst the cap
//! turns away with 503. A benchmark that prints figures, not a test:
//! `cargo run --release -p edgegate-origin --example load`.
//!
//! The server runs in-process on 127.0.0.1:0 with a temporary database; the clients share the
//! same machine (and cores), so the figures are a floor. Every phase is bounded in time.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    clippy::cast_precision_loss,
    reason = "a benchmark with fixed inputs; a failure should stop it loudly"
)]

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::http::{header, Method, Request, StatusCode};
use edgegate_core::keys::SecretRing;
use edgegate_core::{Pass, RoomTag};
use edgegate_origin::date::Date;
use edgegate_origin::domain::{SlotId, SLOT_HOURS};
use edgegate_origin::{app, AppState, Clock, IdentityKey, Settings, Store};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tempfile::TempDir;

const GATE_KEYS: &str = "1:0f0e0d0c0b0a09080706050403020100";
/// Longest any phase may run.
const PHASE_LIMIT: Duration = Duration::from_secs(30);

struct Server {
    addr: SocketAddr,
    slots: Vec<String>,
    _dir: TempDir,
}

async fn serve(cap: Option<usize>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("origin.db")).unwrap();
    // Today's slots at centre 1, widened so that capacity never refuses a booking.
    let today = Date::today_in_korea(Clock::System.now());
    let mut slots = Vec::new();
    for hour in SLOT_HOURS {
        let slot = SlotId {
            centre_id: 1,
            date: today,
            hour,
        };
        store.set_slot_capacity(slot, 10_000_000).await.unwrap();
        slots.push(slot.to_string());
    }
    let state = AppState::new(
        store,
        Settings {
            pass_keys: SecretRing::parse(GATE_KEYS).unwrap().pass_keys().unwrap(),
            room: RoomTag::of("booking"),
            identity_key: IdentityKey::from_bytes(vec![5; 32]).unwrap(),
            max_in_flight: cap.and_then(NonZeroUsize::new),
            clock: Clock::System,
        },
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app(state)).await.unwrap() });
    Server {
        addr,
        slots,
        _dir: dir,
    }
}

/// A prepared request: method, path, pass, body.
struct Job {
    method: Method,
    path: &'static str,
    pass: String,
    body: String,
}

/// Passes for tickets `first..first + n`, each distinct.
fn passes(first: u64, n: usize) -> Vec<String> {
    let keys = SecretRing::parse(GATE_KEYS).unwrap().pass_keys().unwrap();
    let now = Clock::System.now();
    (0..n as u64)
        .map(|i| {
            let mut ticket_id = [1u8; 16];
            ticket_id[..8].copy_from_slice(&(first + i).to_be_bytes());
            Pass {
                key_id: 1,
                room: RoomTag::of("booking"),
                ticket_id,
                issued_at: now,
                expires_at: now.plus_ms(3_600_000),
                ends_at: now.plus_ms(3_600_000),
                ..Pass::default()
            }
            .sign(&keys)
        })
        .collect()
}

/// `n` booking requests, each for a different person on a different pass.
fn bookings(server: &Server, first: u64, n: usize) -> Vec<Job> {
    passes(first, n)
        .into_iter()
        .enumerate()
        .map(|(i, pass)| Job {
            method: Method::POST,
            path: "/api/bookings",
            pass,
            body: serde_json::json!({
                "slot_id": server.slots[i % server.slots.len()],
                "name": format!("시민 {}", first + i as u64),
                "birth_date": "1966-07-12",
                "dose": 1,
            })
            .to_string(),
        })
        .collect()
}

fn reads(first: u64, n: usize) -> Vec<Job> {
    passes(first, n)
        .into_iter()
        .map(|pass| Job {
            method: Method::GET,
            path: "/api/centres",
            pass,
            body: String::new(),
        })
        .collect()
}

struct Outcome {
    elapsed: Duration,
    /// (status, latency) of every answered request.
    answers: Vec<(StatusCode, Duration)>,
}

/// Sends `jobs` over `concurrency` keep-alive connections, each request once.
async fn run(addr: SocketAddr, jobs: Vec<Job>, concurrency: usize) -> Outcome {
    let jobs = Arc::new(jobs);
    let next = Arc::new(AtomicUsize::new(0));
    let start = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let jobs = Arc::clone(&jobs);
            let next = Arc::clone(&next);
            tokio::spawn(async move {
                let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
                let (mut sender, connection) =
                    hyper::client::conn::http1::handshake(TokioIo::new(stream))
                        .await
                        .unwrap();
                tokio::spawn(connection);
                let mut answers = Vec::new();
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= jobs.len() || start.elapsed() > PHASE_LIMIT {
                        break;
                    }
                    let job = &jobs[i];
                    let request = Request::builder()
                        .method(job.method.clone())
                        .uri(job.path)
                        .header(header::HOST, addr.to_string())
                        .header("gate-pass", job.pass.as_str())
                        .header(header::CONTENT_TYPE, "application/json")
                        .body(Full::new(Bytes::from(job.body.clone())))
                        .unwrap();
                    let sent = Instant::now();
                    sender.ready().await.unwrap();
                    let response = sender.send_request(request).await.unwrap();
                    let status = response.status();
                    response.into_body().collect().await.unwrap();
                    answers.push((status, sent.elapsed()));
                }
                answers
            })
        })
        .collect();
    let mut answers = Vec::new();
    for worker in workers {
        answers.extend(worker.await.unwrap());
    }
    Outcome {
        elapsed: start.elapsed(),
        answers,
    }
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

fn report(label: &str, outcome: &Outcome, success: StatusCode) {
    let count = |s: StatusCode| outcome.answers.iter().filter(|(st, _)| *st == s).count();
    let ok = count(success);
    let busy = count(StatusCode::SERVICE_UNAVAILABLE);
    let other = outcome.answers.len() - ok - busy;
    let mut latencies: Vec<Duration> = outcome
        .answers
        .iter()
        .filter(|(s, _)| *s == success)
        .map(|(_, d)| *d)
        .collect();
    latencies.sort();
    let secs = outcome.elapsed.as_secs_f64();
    println!(
        "{label:<48} {:>5} sent in {:>6.2} s | {:>5} × {} ({:>7.0}/s) | {:>5} × 503 | {:>3} other | \
         {} latency p50 {:>6.2} ms, p99 {:>6.2} ms",
        outcome.answers.len(),
        secs,
        ok,
        success.as_u16(),
        ok as f64 / secs,
        busy,
        other,
        success.as_u16(),
        percentile(&latencies, 0.50).as_secs_f64() * 1e3,
        percentile(&latencies, 0.99).as_secs_f64() * 1e3,
    );
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    const BOOKINGS: usize = 2_000;
    const BURST: usize = 5_000;
    println!(
        "edgegate-origin load: in-process server on loopback, client on the same {} core(s); \
         each phase capped at {} s",
        std::thread::available_parallelism().map_or(1, NonZeroUsize::get),
        PHASE_LIMIT.as_secs()
    );

    let open = serve(None).await;
    let outcome = run(open.addr, bookings(&open, 0, BOOKINGS), 64).await;
    report(
        "POST /api/bookings, no cap, concurrency 64",
        &outcome,
        StatusCode::CREATED,
    );

    let capped = serve(Some(8)).await;
    let outcome = run(capped.addr, bookings(&capped, 0, BOOKINGS), 64).await;
    report(
        "POST /api/bookings, cap 8, concurrency 64",
        &outcome,
        StatusCode::CREATED,
    );

    let outcome = run(capped.addr, reads(100_000, BURST), 256).await;
    report(
        "burst GET /api/centres, cap 8, concurrency 256",
        &outcome,
        StatusCode::OK,
    );

    let outcome = run(capped.addr, bookings(&capped, 200_000, BURST), 256).await;
    report(
        "burst POST /api/bookings, cap 8, concurrency 256",
        &outcome,
        StatusCode::CREATED,
    );
}
