//! Operator metrics, kept and encoded by `prometheus-client` (the official Rust client).
//!
//! Requests by matched route template, method and status; requests being served now and the
//! cap; bookings made; 401s and 503s; a latency histogram. Counts only, never personal data.
//!
//! The encoder writes OpenMetrics text, where a counter family is declared without its `_total`
//! (`# TYPE origin_requests counter`, then `origin_requests_total{…} 3`). Prometheus offers
//! OpenMetrics in its scrape `Accept` header, so it gets exactly that, with its content type and
//! `# EOF`. Any other client (curl, the tests) gets the same lines, without `# EOF`, as the
//! classic `text/plain; version=0.0.4` this endpoint always declared.

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::text::{encode_eof, encode_registry};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::{ConstGauge, Gauge};
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;
use tracing::{debug, error};

use crate::AppState;

/// Histogram bucket upper bounds, in seconds.
const BUCKETS: [f64; 12] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

const OPENMETRICS_TYPE: &str = "application/openmetrics-text";
const OPENMETRICS: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";
const PROMETHEUS_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The labels of `origin_requests_total`, in the order they are written.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RequestLabels {
    route: String,
    method: String,
    status: u16,
}

/// Handles on the metrics; the registry holds clones of the same counters, for encoding.
#[derive(Debug)]
pub(crate) struct Metrics {
    registry: Registry,
    requests: Family<RequestLabels, Counter>,
    in_flight: Gauge,
    bookings: Counter,
    unauthorized: Counter,
    overloaded: Counter,
    latency: Histogram,
}

/// Counts one request as being served while it lives.
pub(crate) struct Serving<'a>(&'a Gauge);

impl Drop for Serving<'_> {
    fn drop(&mut self) {
        self.0.dec();
    }
}

impl Metrics {
    /// Registers every metric. Help texts carry no full stop: the registry adds one.
    pub(crate) fn new(limit: Option<usize>) -> Metrics {
        let requests = Family::<RequestLabels, Counter>::default();
        let in_flight = Gauge::default();
        let bookings = Counter::default();
        let unauthorized = Counter::default();
        let overloaded = Counter::default();
        let latency = Histogram::new(BUCKETS);
        let mut registry = Registry::default();
        registry.register(
            "origin_requests",
            "Requests answered, by matched route, method and status",
            requests.clone(),
        );
        registry.register(
            "origin_in_flight",
            "Requests being served now (past the pass guard and the cap)",
            in_flight.clone(),
        );
        registry.register(
            "origin_max_in_flight",
            "The cap on requests in flight; 0 means no cap",
            ConstGauge::new(limit.unwrap_or(0)),
        );
        registry.register(
            "origin_bookings",
            "Bookings made by this process",
            bookings.clone(),
        );
        registry.register(
            "origin_unauthorized",
            "Requests refused for want of a valid Gate-Pass (401)",
            unauthorized.clone(),
        );
        registry.register(
            "origin_overloaded",
            "Requests turned away by the in-flight cap (503)",
            overloaded.clone(),
        );
        registry.register(
            "origin_request_duration_seconds",
            "Time to answer a request",
            latency.clone(),
        );
        Metrics {
            registry,
            requests,
            in_flight,
            bookings,
            unauthorized,
            overloaded,
            latency,
        }
    }

    pub(crate) fn serving(&self) -> Serving<'_> {
        self.in_flight.inc();
        Serving(&self.in_flight)
    }

    pub(crate) fn booked(&self) {
        self.bookings.inc();
    }

    pub(crate) fn unauthorized(&self) {
        self.unauthorized.inc();
    }

    pub(crate) fn overloaded(&self) {
        self.overloaded.inc();
    }

    fn observe(&self, labels: &RequestLabels, seconds: f64) {
        self.requests.get_or_create(labels).inc();
        self.latency.observe(seconds);
    }

    /// The exposition, ended with `# EOF` for OpenMetrics (the classic format has no end mark).
    fn text(&self, openmetrics: bool) -> Result<String, std::fmt::Error> {
        let mut out = String::new();
        encode_registry(&mut out, &self.registry)?;
        if openmetrics {
            encode_eof(&mut out)?;
        }
        Ok(out)
    }
}

/// Whether the scraper accepts OpenMetrics: it lists the type, and not with `q=0`.
fn wants_openmetrics(headers: &HeaderMap) -> bool {
    let accept = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    accept.split(',').any(|item| {
        let mut parts = item.split(';').map(str::trim);
        let listed = parts
            .next()
            .is_some_and(|media| media.eq_ignore_ascii_case(OPENMETRICS_TYPE));
        let refused = parts.any(|param| {
            param
                .strip_prefix("q=")
                .and_then(|q| q.parse::<f64>().ok())
                .is_some_and(|q| q <= 0.0)
        });
        listed && !refused
    })
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
    debug!(%method, %route, status, micros = elapsed.as_micros(), "answered");
    let labels = RequestLabels {
        route,
        method,
        status,
    };
    state.metrics().observe(&labels, elapsed.as_secs_f64());
    response
}

/// `GET /metrics`.
pub(crate) async fn render(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let openmetrics = wants_openmetrics(&headers);
    let text = match state.metrics().text(openmetrics) {
        Ok(text) => text,
        Err(e) => {
            error!(error = %e, "could not encode the metrics");
            return StatusCode::INTERNAL_SERVER_ERROR.into_response();
        }
    };
    let content_type = if openmetrics {
        OPENMETRICS
    } else {
        PROMETHEUS_TEXT
    };
    let mut response = text.into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use std::collections::BTreeMap;

    use super::*;

    /// What scrapes have known since the hand-written exposition: each family's type and help
    /// (counters' samples carry `_total` after the family name).
    const FAMILIES: [(&str, &str, &str); 7] = [
        (
            "origin_requests",
            "counter",
            "Requests answered, by matched route, method and status.",
        ),
        (
            "origin_in_flight",
            "gauge",
            "Requests being served now (past the pass guard and the cap).",
        ),
        (
            "origin_max_in_flight",
            "gauge",
            "The cap on requests in flight; 0 means no cap.",
        ),
        (
            "origin_bookings",
            "counter",
            "Bookings made by this process.",
        ),
        (
            "origin_unauthorized",
            "counter",
            "Requests refused for want of a valid Gate-Pass (401).",
        ),
        (
            "origin_overloaded",
            "counter",
            "Requests turned away by the in-flight cap (503).",
        ),
        (
            "origin_request_duration_seconds",
            "histogram",
            "Time to answer a request.",
        ),
    ];

    /// A route label that needs every escape the format has.
    const AWKWARD_ROUTE: &str = "/a\\\"b\nc";

    struct Sample {
        name: String,
        labels: BTreeMap<String, String>,
        value: f64,
    }

    /// The suffixes a sample may add to its family's name, by the family's type.
    fn suffixes(kind: &str) -> &'static [&'static str] {
        match kind {
            "counter" => &["_total"],
            "gauge" => &[""],
            "histogram" => &["_bucket", "_sum", "_count"],
            _ => panic!("unknown type {kind}"),
        }
    }

    /// Reads `{k="v",...}` with the format's escapes; returns the labels and the rest of the line.
    fn labels(text: &str) -> (BTreeMap<String, String>, &str) {
        let mut labels = BTreeMap::new();
        let Some(mut rest) = text.strip_prefix('{') else {
            return (labels, text);
        };
        loop {
            let (key, after) = rest.split_once("=\"").unwrap();
            let mut value = String::new();
            let mut chars = after.char_indices();
            let end = loop {
                match chars.next().unwrap() {
                    (i, '"') => break i,
                    (_, '\\') => match chars.next().unwrap().1 {
                        '\\' => value.push('\\'),
                        '"' => value.push('"'),
                        'n' => value.push('\n'),
                        other => panic!("bad escape \\{other}"),
                    },
                    (_, c) => value.push(c),
                }
            };
            assert!(
                labels.insert(key.to_owned(), value).is_none(),
                "{key} twice"
            );
            rest = after.get(end + 1..).unwrap();
            if let Some(done) = rest.strip_prefix('}') {
                return (labels, done);
            }
            rest = rest.strip_prefix(',').unwrap();
        }
    }

    /// Reads an exposition strictly: every sample follows the `# TYPE` of its own family, each
    /// family is declared once, and nothing else appears. Returns the families and the samples.
    fn parse(text: &str) -> (BTreeMap<String, (String, String)>, Vec<Sample>) {
        let mut families: BTreeMap<String, (String, String)> = BTreeMap::new();
        let mut helps: BTreeMap<String, String> = BTreeMap::new();
        let mut current: Option<(String, String)> = None;
        let mut samples = Vec::new();
        let body = text.strip_suffix('\n').unwrap();
        let body = body.strip_suffix("\n# EOF").unwrap_or(body);
        for line in body.split('\n') {
            if let Some(help) = line.strip_prefix("# HELP ") {
                let (name, help) = help.split_once(' ').unwrap();
                helps.insert(name.to_owned(), help.to_owned());
            } else if let Some(kind) = line.strip_prefix("# TYPE ") {
                let (name, kind) = kind.split_once(' ').unwrap();
                let help = helps.get(name).cloned().unwrap_or_default();
                let again = families.insert(name.to_owned(), (kind.to_owned(), help));
                assert!(again.is_none(), "{name} declared twice");
                current = Some((name.to_owned(), kind.to_owned()));
            } else {
                assert!(!line.starts_with('#'), "unexpected {line:?}");
                let name_end = line.find(['{', ' ']).unwrap();
                let (name, rest) = line.split_at(name_end);
                let (labels, rest) = labels(rest);
                let value: f64 = rest.strip_prefix(' ').unwrap().parse().unwrap();
                let (family, kind) = current.as_ref().unwrap_or_else(|| panic!("{line}"));
                assert!(
                    suffixes(kind)
                        .iter()
                        .any(|s| *name == format!("{family}{s}")),
                    "{name} is not part of the {kind} {family}"
                );
                samples.push(Sample {
                    name: name.to_owned(),
                    labels,
                    value,
                });
            }
        }
        (families, samples)
    }

    fn busy() -> Metrics {
        let metrics = Metrics::new(Some(4));
        for (route, status, seconds) in [("/", 200, 0.003), (AWKWARD_ROUTE, 404, 1.0)] {
            let labels = RequestLabels {
                route: route.to_owned(),
                method: "GET".to_owned(),
                status,
            };
            metrics.observe(&labels, seconds);
        }
        metrics.booked();
        metrics
    }

    fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
        let wanted: BTreeMap<String, String> = labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let mut found = samples
            .iter()
            .filter(|s| s.name == name && s.labels == wanted);
        let sample = found
            .next()
            .unwrap_or_else(|| panic!("no {name} {labels:?}"));
        assert!(found.next().is_none(), "{name} {labels:?} twice");
        sample.value
    }

    #[test]
    fn the_exposition_parses_with_every_sample_in_a_declared_family() {
        let metrics = busy();
        let _serving = metrics.serving();
        for openmetrics in [false, true] {
            let text = metrics.text(openmetrics).unwrap();
            assert_eq!(text.ends_with("\n# EOF\n"), openmetrics, "{text}");
            let (families, samples) = parse(&text);
            let expected: BTreeMap<String, (String, String)> = FAMILIES
                .iter()
                .map(|(n, k, h)| ((*n).to_owned(), ((*k).to_owned(), (*h).to_owned())))
                .collect();
            assert_eq!(families, expected);
            let request = |route, status| {
                value(
                    &samples,
                    "origin_requests_total",
                    &[("route", route), ("method", "GET"), ("status", status)],
                )
            };
            assert_eq!(request("/", "200"), 1.0);
            assert_eq!(request(AWKWARD_ROUTE, "404"), 1.0);
            assert_eq!(value(&samples, "origin_bookings_total", &[]), 1.0);
            assert_eq!(value(&samples, "origin_in_flight", &[]), 1.0);
            assert_eq!(value(&samples, "origin_max_in_flight", &[]), 4.0);
            let bucket = |le| {
                value(
                    &samples,
                    "origin_request_duration_seconds_bucket",
                    &[("le", le)],
                )
            };
            assert_eq!(bucket("0.0025"), 0.0);
            assert_eq!(bucket("0.005"), 1.0);
            assert_eq!(bucket("+Inf"), 2.0);
            assert_eq!(
                value(&samples, "origin_request_duration_seconds_count", &[]),
                2.0
            );
        }
    }

    #[test]
    fn openmetrics_goes_only_to_scrapers_that_accept_it() {
        let accepts = |accept: &str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::ACCEPT, HeaderValue::from_str(accept).unwrap());
            wants_openmetrics(&headers)
        };
        assert!(accepts(
            "application/openmetrics-text;version=1.0.0,application/openmetrics-text;\
             version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
        ));
        assert!(accepts(
            "text/plain;q=0.5, Application/OpenMetrics-Text; q=0.9"
        ));
        assert!(!accepts("text/plain;version=0.0.4"));
        assert!(!accepts("application/openmetrics-text;q=0, text/plain"));
        assert!(!accepts("*/*"));
        assert!(!wants_openmetrics(&HeaderMap::new()));
    }
}
