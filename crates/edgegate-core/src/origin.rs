//! The origin's health as the edge sees it: how many forwarded requests, how many answered 5xx
//! or not at all in time, and how long they took. Each isolate counts its own forwards; the
//! counts travel up with its batches like every other count (merged at the aggregator), and
//! the coordinator keeps the last minute of them for the operator.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use crate::time::UnixMs;

/// Upper bounds of the latency buckets, in milliseconds; the last bucket is everything slower.
pub const LATENCY_BOUNDS_MS: [u64; 9] = [10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000];
/// How many seconds of counts the coordinator sums for the operator.
pub const WINDOW_S: u64 = 60;

/// Forwarded requests and their outcomes.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OriginCounts {
    pub requests: u64,
    /// Answered with a status of 500 or more, or not reached at all.
    pub errors_5xx: u64,
    /// Not answered within the gate's origin timeout.
    pub timeouts: u64,
    /// Requests per latency bucket ([`LATENCY_BOUNDS_MS`], then one for slower).
    pub latency: [u64; 10],
    /// The longest `Retry-After` the origin sent, in seconds (`0`: none).
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub retry_after_s: u64,
    /// The latest `Gate-Slots` the origin sent: when it was heard (the edge's clock) and how
    /// many bookings it said it can still take.
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub slots: Option<(UnixMs, u64)>,
}

/// How one forwarded request ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The origin answered with this status.
    Answered(u16),
    /// The origin could not be reached.
    Unreachable,
    /// The origin did not answer in time.
    TimedOut,
}

impl crate::wire::Omittable for OriginCounts {
    fn is_empty_value(&self) -> bool {
        self.is_empty()
    }
}

impl OriginCounts {
    pub fn is_empty(&self) -> bool {
        self.requests == 0 && self.retry_after_s == 0 && self.slots.is_none()
    }

    /// The origin said at `at` that it can take `remaining` more bookings (`Gate-Slots`).
    pub fn note_slots(&mut self, remaining: u64, at: UnixMs) {
        if self.slots.is_none_or(|(then, _)| then <= at) {
            self.slots = Some((at, remaining));
        }
    }

    /// Counts one forwarded request that took `latency_ms`.
    pub fn record(&mut self, latency_ms: u64, outcome: Outcome) {
        self.requests = self.requests.saturating_add(1);
        match outcome {
            Outcome::Answered(status) if status >= 500 => {
                self.errors_5xx = self.errors_5xx.saturating_add(1);
            }
            Outcome::Unreachable => self.errors_5xx = self.errors_5xx.saturating_add(1),
            Outcome::TimedOut => self.timeouts = self.timeouts.saturating_add(1),
            Outcome::Answered(_) => {}
        }
        let bucket = LATENCY_BOUNDS_MS
            .iter()
            .position(|bound| latency_ms < *bound)
            .unwrap_or(LATENCY_BOUNDS_MS.len());
        if let Some(n) = self.latency.get_mut(bucket) {
            *n = n.saturating_add(1);
        }
    }

    /// The origin asked the gate to wait `seconds` (a `Retry-After` on an answer).
    pub fn note_retry_after(&mut self, seconds: u64) {
        self.retry_after_s = self.retry_after_s.max(seconds);
    }

    pub fn add(&mut self, other: &OriginCounts) {
        self.retry_after_s = self.retry_after_s.max(other.retry_after_s);
        if let Some((at, remaining)) = other.slots {
            self.note_slots(remaining, at);
        }
        self.requests = self.requests.saturating_add(other.requests);
        self.errors_5xx = self.errors_5xx.saturating_add(other.errors_5xx);
        self.timeouts = self.timeouts.saturating_add(other.timeouts);
        for (n, m) in self.latency.iter_mut().zip(other.latency) {
            *n = n.saturating_add(m);
        }
    }

    /// The latency below which `per_mille` of the requests fell, as a bucket's upper bound
    /// (`None` without requests; the last bucket reads as its lower bound).
    pub fn latency_at(&self, per_mille: u64) -> Option<u64> {
        let total: u64 = self.latency.iter().sum();
        if total == 0 {
            return None;
        }
        let wanted = total.saturating_mul(per_mille).div_ceil(1000).max(1);
        let mut seen = 0u64;
        for (i, n) in self.latency.iter().enumerate() {
            seen = seen.saturating_add(*n);
            if seen >= wanted {
                return Some(LATENCY_BOUNDS_MS.get(i).copied().unwrap_or(5_000));
            }
        }
        Some(5_000)
    }
}

/// The longest wait a `Retry-After` is taken for, in seconds: an hour.
pub const RETRY_AFTER_MAX_S: u64 = 3_600;

/// A `Retry-After` header's wait in seconds, if it gives one as a number of seconds (at most
/// [`RETRY_AFTER_MAX_S`]). A date, or anything else, is not read: the answer's status already
/// counts as a failure.
pub fn retry_after_s(header: &str) -> Option<u64> {
    let text = header.trim();
    if text.is_empty() || text.len() > 12 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u64>().ok().map(|s| s.min(RETRY_AFTER_MAX_S))
}

/// A `Gate-Slots` header's count: the bookings the origin says it can still take (a whole
/// number of at most [`crate::config::SLOTS_REMAINING`]'s bound), or `None` for anything else.
pub fn slots(header: &str) -> Option<u64> {
    let text = header.trim();
    if text.is_empty() || text.len() > 10 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse::<u64>()
        .ok()
        .filter(|n| *n <= u64::from(crate::config::SLOTS_REMAINING.1))
}

/// The coordinator's last minute of counts, by the second they arrived.
#[derive(Clone, Debug, Default)]
pub struct OriginWindow {
    seconds: VecDeque<(u64, OriginCounts)>,
}

impl OriginWindow {
    /// Adds counts that arrived at `now`.
    pub fn add(&mut self, counts: &OriginCounts, now: UnixMs) {
        if counts.is_empty() {
            return;
        }
        let second = now.secs();
        match self.seconds.back_mut() {
            Some((s, c)) if *s == second => c.add(counts),
            _ => self.seconds.push_back((second, counts.clone())),
        }
        self.forget(now);
    }

    fn forget(&mut self, now: UnixMs) {
        let from = now.secs().saturating_sub(WINDOW_S);
        while self.seconds.front().is_some_and(|(s, _)| *s < from) {
            self.seconds.pop_front();
        }
    }

    /// The operator's figures for the minute up to `now`.
    pub fn report(&self, now: UnixMs) -> OriginReport {
        let from = now.secs().saturating_sub(WINDOW_S);
        let mut sum = OriginCounts::default();
        for (_, counts) in self.seconds.iter().filter(|(s, _)| *s >= from) {
            sum.add(counts);
        }
        OriginReport {
            window_s: WINDOW_S,
            requests: sum.requests,
            errors_5xx: sum.errors_5xx,
            timeouts: sum.timeouts,
            latency_ms: Percentiles {
                p50: sum.latency_at(500),
                p90: sum.latency_at(900),
                p99: sum.latency_at(990),
            },
        }
    }
}

/// `GET /admin/state`'s `origin`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OriginReport {
    pub window_s: u64,
    pub requests: u64,
    pub errors_5xx: u64,
    pub timeouts: u64,
    /// Upper bounds of the latency buckets the percentiles fall in, in milliseconds.
    pub latency_ms: Percentiles,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Percentiles {
    pub p50: Option<u64>,
    pub p90: Option<u64>,
    pub p99: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: UnixMs = UnixMs(1_700_000_000_000);

    #[test]
    fn a_retry_after_is_read_as_seconds_only_and_kept_as_the_longest() {
        assert_eq!(retry_after_s(" 120 "), Some(120));
        assert_eq!(retry_after_s("999999999"), Some(RETRY_AFTER_MAX_S));
        for text in [
            "",
            "-5",
            "1.5",
            "Wed, 21 Oct 2026 07:28:00 GMT",
            "12345678901234",
        ] {
            assert_eq!(retry_after_s(text), None, "{text}");
        }
        let mut edge = OriginCounts::default();
        edge.note_retry_after(30);
        edge.note_retry_after(10);
        assert!(!edge.is_empty());
        let mut sum = OriginCounts::default();
        sum.add(&edge);
        assert_eq!(sum.retry_after_s, 30);
    }

    #[test]
    fn outcomes_and_latencies_are_counted_and_summed_over_the_last_minute() {
        let mut edge = OriginCounts::default();
        for ms in [5, 30, 30, 40, 200] {
            edge.record(ms, Outcome::Answered(200));
        }
        edge.record(120, Outcome::Answered(503));
        edge.record(9_000, Outcome::TimedOut);
        edge.record(3, Outcome::Unreachable);
        let mut window = OriginWindow::default();
        window.add(&edge, T0);
        window.add(&edge, T0.plus_ms(30_000));
        let r = window.report(T0.plus_ms(30_000));
        assert_eq!((r.requests, r.errors_5xx, r.timeouts), (16, 4, 2));
        assert_eq!(r.latency_ms.p50, Some(50));
        assert_eq!(r.latency_ms.p99, Some(5_000));
        // A minute later the first batch has left the window.
        let later = window.report(T0.plus_ms(75_000));
        assert_eq!(later.requests, 8);
        assert_eq!(window.report(T0.plus_ms(200_000)).latency_ms.p50, None);
    }
}
