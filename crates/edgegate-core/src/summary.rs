//! The queue's arrival counts as the edge receives them: exact near the front, coarser far back,
//! so what the coordinator sends each isolate has a size bounded whatever the backlog.
//!
//! A [`Summary`] is a sorted list of spans `(first second, seconds, people)`. The first
//! [`EXACT_S`] seconds from the cursor are one span each; after them each span is twice as wide
//! as the one before, so a two-hour queue is about 130 spans (a few KB of JSON) and a day-long
//! one under 140. Positions inside a coarse span are counted in proportion, as if its people were
//! spread evenly over it: exact for every citizen near the front, where the count matters most
//! and changes fastest, and within one span's share for those hours back.
//!
//! Position arithmetic works on the order key as one number: a key `(bucket, sub)` is the point
//! `bucket + sub / 2³²` on the time line, so "how many people between the cursor and my key" is
//! the overlap of that interval with each span, times the span's density.

use serde::{Deserialize, Serialize};

use crate::order::{Cursor, OrderKey};

/// Seconds from the front kept one span per second.
pub const EXACT_S: u64 = 120;
/// Width of the first coarse span, in seconds; each later one is twice the one before.
pub const FIRST_COARSE_S: u64 = 60;

/// Arrival counts from the cursor's second onwards, in spans. See the module documentation.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Summary(Vec<Span>);

/// `seconds` seconds from `first`, holding `people` places. On the wire a span is the array
/// `[first, seconds, people]`, which keeps a sync's answer small.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "(u64, u64, u64)", into = "(u64, u64, u64)")]
pub struct Span {
    pub first: u64,
    pub seconds: u64,
    pub people: u64,
}

/// Something that can say how many people stand between the cursor and a key: the exact
/// histogram at the coordinator, the summary at the edge.
pub trait Arrivals: std::fmt::Debug {
    /// People at or after `cursor` and before `key` (0 when `key` is not after `cursor`).
    fn between(&self, cursor: Cursor, key: OrderKey) -> u64;
}

impl Summary {
    /// Summarises per-second counts (sorted by second, as a `BTreeMap` yields them), keeping
    /// only seconds from `from` on.
    pub fn from_counts(counts: impl IntoIterator<Item = (u64, u64)>, from: u64) -> Summary {
        let mut spans: Vec<Span> = Vec::new();
        let mut width = FIRST_COARSE_S / 2;
        let exact_until = from.saturating_add(EXACT_S);
        for (second, people) in counts {
            if second < from || people == 0 {
                continue;
            }
            if second < exact_until {
                spans.push(Span {
                    first: second,
                    seconds: 1,
                    people,
                });
                continue;
            }
            match spans.last_mut() {
                Some(last)
                    if last.first >= exact_until
                        && second < last.first.saturating_add(last.seconds) =>
                {
                    last.people = last.people.saturating_add(people);
                }
                _ => {
                    // A new coarse span starts at this second; widths double from the front so
                    // the list stays short however far back the queue reaches.
                    width = width.saturating_mul(2);
                    spans.push(Span {
                        first: second,
                        seconds: width,
                        people,
                    });
                }
            }
        }
        Summary(spans)
    }

    /// Adds `delta` places in second `bucket` (the isolate laying its own uncounted arrivals over
    /// what the coordinator sent). A second inside a coarse span adds to that span; a count never
    /// goes below zero.
    pub fn add(&mut self, bucket: u64, delta: i64) {
        if delta == 0 {
            return;
        }
        let at = self
            .0
            .partition_point(|s| s.first.saturating_add(s.seconds) <= bucket);
        match self.0.get_mut(at) {
            Some(span) if span.first <= bucket => {
                span.people = span.people.saturating_add_signed(delta);
            }
            _ if delta > 0 => self.0.insert(
                at,
                Span {
                    first: bucket,
                    seconds: 1,
                    people: delta.unsigned_abs(),
                },
            ),
            _ => {}
        }
    }

    pub fn spans(&self) -> &[Span] {
        &self.0
    }

    pub fn total(&self) -> u64 {
        self.0
            .iter()
            .fold(0u64, |sum, s| sum.saturating_add(s.people))
    }

    /// The end of the last second with anyone in it, as a cursor: nothing after it is known.
    pub fn end(&self) -> Option<Cursor> {
        self.0
            .last()
            .map(|s| Cursor::at_bucket(s.first.saturating_add(s.seconds)))
    }

    /// Moves a cursor from `from` towards `limit` past at most `budget` people (in 2⁻³² units of
    /// a citizen, like the release cursor's), counting coarse spans in proportion. Returns the
    /// new cursor and what was spent. Empty stretches cost nothing, and with no budget the cursor
    /// stays put.
    pub fn sweep(&self, from: Cursor, limit: Cursor, mut budget: u128) -> (Cursor, u128) {
        if from >= limit || budget == 0 {
            return (from, 0);
        }
        let mut spent: u128 = 0;
        for span in &self.0 {
            let (start, end) = span.range();
            let lo = start.max(from.0);
            let hi = end.min(limit.0);
            if hi <= lo || span.people == 0 {
                continue;
            }
            // People in [lo, hi), in 2⁻³² units: people × (hi − lo) / seconds, with (hi − lo)
            // itself in 2⁻³² units of a second.
            let width = u128::from(span.seconds);
            let here = u128::from(span.people) * u128::from(hi - lo) / width;
            if here <= budget {
                budget -= here;
                spent += here;
                continue;
            }
            let step = budget * width / u128::from(span.people);
            spent += budget;
            let to = lo.saturating_add(u64::try_from(step).unwrap_or(u64::MAX));
            return (Cursor(to.min(hi)), spent);
        }
        (limit, spent)
    }
}

impl From<(u64, u64, u64)> for Span {
    fn from((first, seconds, people): (u64, u64, u64)) -> Span {
        // A zero-width span from the wire would divide by zero; it is one second instead.
        Span {
            first,
            seconds: seconds.max(1),
            people,
        }
    }
}

impl From<Span> for (u64, u64, u64) {
    fn from(s: Span) -> Self {
        (s.first, s.seconds, s.people)
    }
}

impl Span {
    /// The span as an interval of order-key values.
    fn range(self) -> (u64, u64) {
        let start = OrderKey::new(self.first, 0).0;
        let end = OrderKey::new(self.first.saturating_add(self.seconds), 0).0;
        (start, end)
    }
}

impl Arrivals for Summary {
    fn between(&self, cursor: Cursor, key: OrderKey) -> u64 {
        if key.0 <= cursor.0 {
            return 0;
        }
        let mut scaled: u128 = 0;
        // Every status poll asks this: the spans wholly before the cursor are skipped by a
        // binary search, and a one-second span (the whole exact front) needs no division,
        // which in wasm is a call into a 128-bit division routine.
        let first = self.0.partition_point(|span| span.range().1 <= cursor.0);
        for span in self.0.get(first..).unwrap_or_default() {
            let (start, end) = span.range();
            if start >= key.0 {
                break;
            }
            let lo = start.max(cursor.0);
            let hi = end.min(key.0);
            if hi > lo {
                let part = u128::from(span.people) * u128::from(hi - lo);
                scaled += if span.seconds == 1 {
                    part
                } else {
                    part / u128::from(span.seconds)
                };
            }
        }
        u64::try_from(scaled >> 32).unwrap_or(u64::MAX)
    }
}

impl Arrivals for crate::release::Histogram {
    fn between(&self, cursor: Cursor, key: OrderKey) -> u64 {
        crate::release::Histogram::between(self, cursor, key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::release::Histogram;

    #[test]
    fn the_front_is_exact_and_far_back_is_coarse_but_counted() {
        let from = 1_000_000;
        let counts: Vec<_> = (0..7_200).map(|s| (from + s, 3)).collect();
        let summary = Summary::from_counts(counts.iter().copied(), from);
        assert!(summary.spans().len() < 140, "{}", summary.spans().len());
        assert_eq!(summary.total(), 3 * 7_200);
        let json = serde_json::to_string(&summary).unwrap();
        assert!(json.len() < 4_096, "{} bytes", json.len());
        let mut exact = Histogram::new();
        for (b, c) in &counts {
            exact.add(*b, *c);
        }
        let cursor = Cursor::at_bucket(from);
        // Exact near the front...
        for s in [0, 1, 50, 119] {
            let key = OrderKey::new(from + s, u32::MAX / 2);
            assert_eq!(
                summary.between(cursor, key),
                exact.between(cursor, key),
                "{s}"
            );
        }
        // ...and within one span's people far back.
        let key = OrderKey::new(from + 5_000, 0);
        let (got, want) = (summary.between(cursor, key), exact.between(cursor, key));
        assert!(got.abs_diff(want) <= 3 * 4_000, "{got} vs {want}");
    }

    #[test]
    fn own_arrivals_lay_over_the_summary() {
        let mut summary = Summary::from_counts([(10, 2), (12, 1)], 10);
        summary.add(11, 4);
        summary.add(12, -5);
        assert_eq!(
            summary.spans(),
            &[
                Span {
                    first: 10,
                    seconds: 1,
                    people: 2
                },
                Span {
                    first: 11,
                    seconds: 1,
                    people: 4
                },
                Span {
                    first: 12,
                    seconds: 1,
                    people: 0
                },
            ]
        );
        assert_eq!(
            summary.between(Cursor::at_bucket(10), OrderKey::new(13, 0)),
            6
        );
    }

    #[test]
    fn a_sweep_spends_what_it_passes_and_stops_at_the_limit() {
        let summary = Summary::from_counts([(10, 4), (11, 0), (12, 2)], 10);
        let one = 1u128 << 32;
        let (cursor, spent) = summary.sweep(Cursor::at_bucket(10), Cursor::at_bucket(20), 5 * one);
        assert_eq!(spent, 5 * one);
        assert_eq!(cursor, Cursor(OrderKey::new(12, u32::MAX / 2 + 1).0));
        let (cursor, spent) = summary.sweep(Cursor::at_bucket(10), Cursor::at_bucket(11), 9 * one);
        assert_eq!((cursor, spent), (Cursor::at_bucket(11), 4 * one));
        assert_eq!(
            summary.sweep(Cursor::at_bucket(10), Cursor::at_bucket(20), 0),
            (Cursor::at_bucket(10), 0)
        );
    }

    /// Every span walked and divided, as `between` was before its shortcuts.
    fn between_walked(summary: &Summary, cursor: Cursor, key: OrderKey) -> u64 {
        if key.0 <= cursor.0 {
            return 0;
        }
        let mut scaled: u128 = 0;
        for span in &summary.0 {
            let (start, end) = span.range();
            let (lo, hi) = (start.max(cursor.0), end.min(key.0));
            if hi > lo {
                scaled += u128::from(span.people) * u128::from(hi - lo) / u128::from(span.seconds);
            }
        }
        u64::try_from(scaled >> 32).unwrap_or(u64::MAX)
    }

    proptest::proptest! {
        /// The binary search past the cursor and the undivided one-second spans count exactly
        /// what walking and dividing every span counts, wherever the cursor and the key fall,
        /// inside a span or not, and out at the far end of the seconds.
        #[test]
        fn the_shortcuts_count_what_the_walk_counts(
            counts in proptest::collection::vec((0u64..400, 0u64..50), 0..300),
            from in 0u64..50,
            far in proptest::bool::ANY,
            cursor in (0u64..500, proptest::prelude::any::<u32>()),
            key in (0u64..500, proptest::prelude::any::<u32>()),
        ) {
            let shift = if far { u64::MAX / 2 } else { 0 };
            let mut counts: Vec<_> = counts.into_iter().map(|(s, n)| (s + shift, n)).collect();
            counts.sort_unstable();
            let summary = Summary::from_counts(counts, from + shift);
            let cursor = Cursor(OrderKey::new(cursor.0 + shift, cursor.1).0);
            let key = OrderKey::new(key.0 + shift, key.1);
            proptest::prop_assert_eq!(
                summary.between(cursor, key),
                between_walked(&summary, cursor, key)
            );
        }
    }
}
