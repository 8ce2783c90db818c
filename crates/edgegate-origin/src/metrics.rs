//! Operator metrics in the Prometheus text format, hand-rolled on atomics.
//!
//! Requests by matched route template, method and status; requests being served now and the
//! cap; bookings made; 401s and 503s; a latency histogram. Counts only, never personal data.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::debug;

use crate::AppState;

/// Histogram bucket upper bounds: the label text and the bound in microseconds.
const BUCKETS: [(&str, u64); 12] = [
    ("0.001", 1_000),
    ("0.0025", 2_500),
    ("0.005", 5_000),
    ("0.01", 10_000),
    ("0.025", 25_000),
    ("0.05", 50_000),
    ("0.1", 100_000),
    ("0.25", 250_000),
    ("0.5", 500_000),
    ("1", 1_000_000),
    ("2.5", 2_500_000),
    ("5", 5_000_000),
];

#[derive(Debug)]
pub(crate) struct Metrics {
    /// (route, method, status) → count. A mutex held for one map update: cheap next to a request.
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    in_flight: AtomicU64,
    limit: Option<usize>,
    bookings: AtomicU64,
    unauthorized: AtomicU64,
    overloaded: AtomicU64,
    /// Non-cumulative counts per bucket; the last slot is "above every bound".
    latency: [AtomicU64; BUCKETS.len() + 1],
    latency_sum_us: AtomicU64,
}

/// Counts one request as being served while it lives.
pub(crate) struct Serving<'a>(&'a AtomicU64);

impl Drop for Serving<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Metrics {
    pub(crate) fn new(limit: Option<usize>) -> Metrics {
        Metrics {
            requests: Mutex::new(BTreeMap::new()),
            in_flight: AtomicU64::new(0),
            limit,
            bookings: AtomicU64::new(0),
            unauthorized: AtomicU64::new(0),
            overloaded: AtomicU64::new(0),
            latency: Default::default(),
            latency_sum_us: AtomicU64::new(0),
        }
    }

    pub(crate) fn serving(&self) -> Serving<'_> {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Serving(&self.in_flight)
    }

    pub(crate) fn booked(&self) {
        self.bookings.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn unauthorized(&self) {
        self.unauthorized.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn overloaded(&self) {
        self.overloaded.fetch_add(1, Ordering::Relaxed);
    }

    fn observe(&self, route: &str, method: &str, status: u16, elapsed: Duration) {
        {
            let mut requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
            *requests
                .entry((route.to_owned(), method.to_owned(), status))
                .or_insert(0) += 1;
        }
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        let bucket = BUCKETS
            .iter()
            .position(|&(_, bound)| us <= bound)
            .unwrap_or(BUCKETS.len());
        if let Some(counter) = self.latency.get(bucket) {
            counter.fetch_add(1, Ordering::Relaxed);
        }
        self.latency_sum_us.fetch_add(us, Ordering::Relaxed);
    }

    fn text(&self) -> String {
        let mut out = String::new();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "# HELP origin_requests_total Requests answered, by matched route, method and status.\n\
             # TYPE origin_requests_total counter"
        );
        {
            let requests = self.requests.lock().unwrap_or_else(PoisonError::into_inner);
            for ((route, method, status), n) in requests.iter() {
                let _ = writeln!(
                    out,
                    "origin_requests_total{{route=\"{}\",method=\"{}\",status=\"{status}\"}} {n}",
                    label(route),
                    label(method)
                );
            }
        }
        let gauges = [
            (
                "origin_in_flight",
                "gauge",
                "Requests being served now (past the pass guard and the cap).",
                load(&self.in_flight),
            ),
            (
                "origin_max_in_flight",
                "gauge",
                "The cap on requests in flight; 0 means no cap.",
                self.limit.and_then(|n| u64::try_from(n).ok()).unwrap_or(0),
            ),
            (
                "origin_bookings_total",
                "counter",
                "Bookings made by this process.",
                load(&self.bookings),
            ),
            (
                "origin_unauthorized_total",
                "counter",
                "Requests refused for want of a valid Gate-Pass (401).",
                load(&self.unauthorized),
            ),
            (
                "origin_overloaded_total",
                "counter",
                "Requests turned away by the in-flight cap (503).",
                load(&self.overloaded),
            ),
        ];
        for (name, kind, help, value) in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP origin_request_duration_seconds Time to answer a request.\n\
             # TYPE origin_request_duration_seconds histogram"
        );
        let mut cumulative = 0u64;
        for (i, (le, _)) in BUCKETS.iter().enumerate() {
            cumulative += self.latency.get(i).map_or(0, load);
            let _ = writeln!(
                out,
                "origin_request_duration_seconds_bucket{{le=\"{le}\"}} {cumulative}"
            );
        }
        cumulative += self.latency.get(BUCKETS.len()).map_or(0, load);
        let sum = load(&self.latency_sum_us);
        let _ = writeln!(
            out,
            "origin_request_duration_seconds_bucket{{le=\"+Inf\"}} {cumulative}\n\
             origin_request_duration_seconds_sum {}.{:06}\n\
             origin_request_duration_seconds_count {cumulative}",
            sum / 1_000_000,
            sum % 1_000_000
        );
        out
    }
}

/// A label value with Prometheus escaping.
fn label(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// Middleware (outermost): times and counts every answer, labelled by the matched route.
pub(crate) async fn record(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("unmatched", MatchedPath::as_str)
        .to_owned();
    let method = request.method().as_str().to_owned();
    let start = Instant::now();
    let response = next.run(request).await;
    let elapsed = start.elapsed();
    let status = response.status().as_u16();
    state.metrics().observe(&route, &method, status, elapsed);
    debug!(%method, %route, status, micros = elapsed.as_micros(), "answered");
    response
}

/// `GET /metrics`.
pub(crate) async fn render(State(state): State<AppState>) -> Response {
    let mut response = state.metrics().text().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}
