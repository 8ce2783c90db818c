//! The shares of the rate, across the whole hierarchy: the core's own `Room` (the
//! coordinator), `Aggregator`s (one per location) and `Isolate`s, syncing as the Worker makes
//! them sync, over a network that loses, delays past the timeout and so reorders answers,
//! with clocks set apart, coordinator and aggregator outages, isolates that die and are born,
//! demand and the earliest seconds waiting that jump at every batch, and a cut isolate's early
//! batch whenever its next tick falls after it. Time is simulated; nothing sleeps.
//!
//! What is asserted, at every event (shares in force only grow when an answer arrives, so the
//! worst moment is always one):
//!
//! - the shares the isolates' limiters may run at, each by its own clock
//!   (`Isolate::share_in_force_ppm`), add up to at most the whole rate, plus one millionth per
//!   isolate (a busy sender never gets nothing: `Senders::grant`);
//! - the parts the aggregators may share out (`Aggregator::whole_ppm`) add up to at most the
//!   whole, plus one millionth per location.

// The whole file is a test: clippy.toml lets tests unwrap, panic and index, but clippy cannot
// tell an integration test's helper functions from library code.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use edgegate_core::aggregate::Aggregator;
use edgegate_core::isolate::{Isolate, Timing};
use edgegate_core::outbox::Outbox;
use edgegate_core::room::Room;
use edgegate_core::sync::{settle_ms, Earliest, RoomSnapshot, SyncReport, PPM};
use edgegate_core::UnixMs;
use proptest::prelude::*;

mod common;
use common::Rng;

const T0: u64 = 1_700_000_000_000;
const INTERVAL_MS: u64 = 1_000;
const TIMEOUT_MS: u64 = 3_000;
const TIMING: Timing = Timing {
    sync_interval_ms: INTERVAL_MS,
    sync_timeout_ms: TIMEOUT_MS,
    stale_after_ms: 15_000,
    fail_static_per_mille: 100,
};

/// A history to run: the network, the clocks, the outages and who lives when.
#[derive(Clone, Debug)]
struct Night {
    seed: u64,
    locations: usize,
    isolates_per_location: usize,
    loss_per_mille: u64,
    /// Of the answers not lost, how many take longer than the timeout (and so come late, out
    /// of order, after the batch was sent again).
    late_per_mille: u64,
    skew_ms: u64,
    /// The coordinator out of everyone's reach: `(from_s, for_s)`.
    room_outage: (u64, u64),
    /// One location's aggregator out of its isolates' reach, and out of the room's.
    location_outage: (usize, u64, u64),
    /// Per mille of isolates that die at a random moment, and a new one takes its place.
    churn_per_mille: u64,
    seconds: u64,
}

enum Event {
    Tick(usize),
    ToAggregator(usize, Box<SyncReport>),
    FromAggregator(usize, u64, Option<Box<RoomSnapshot>>),
    ToRoom(usize, Box<SyncReport>),
    FromRoom(usize, u64, Option<Box<RoomSnapshot>>),
}

struct Node {
    book: Isolate,
    location: usize,
    skew: i64,
    alive: bool,
}

struct World {
    night: Night,
    rng: Rng,
    now: u64,
    seq: u64,
    queue: BinaryHeap<Reverse<(u64, u64, usize)>>,
    events: Vec<Option<Event>>,
    room: Room,
    aggregators: Vec<(Aggregator, i64)>,
    nodes: Vec<Node>,
    worst_isolates: u64,
    worst_locations: u64,
}

impl World {
    fn new(night: Night) -> World {
        let mut rng = Rng(night.seed);
        let skew = |rng: &mut Rng| {
            i64::try_from(rng.between(0, 2 * night.skew_ms)).unwrap()
                - i64::try_from(night.skew_ms).unwrap()
        };
        let aggregators = (0..night.locations)
            .map(|l| {
                let agg = Aggregator::restore(
                    &format!("L{l}"),
                    (INTERVAL_MS, TIMEOUT_MS, TIMING.fail_static_per_mille),
                    Vec::new(),
                    Outbox::default(),
                    None,
                );
                (agg, skew(&mut rng))
            })
            .collect();
        let mut world = World {
            rng,
            now: T0,
            seq: 0,
            queue: BinaryHeap::new(),
            events: Vec::new(),
            room: Room::fresh(UnixMs(T0), settle_ms(INTERVAL_MS, TIMEOUT_MS)),
            aggregators,
            nodes: Vec::new(),
            worst_isolates: 0,
            worst_locations: 0,
            night,
        };
        for l in 0..world.night.locations {
            for _ in 0..world.night.isolates_per_location {
                world.birth(l);
            }
        }
        world
    }

    fn birth(&mut self, location: usize) {
        let i = self.nodes.len();
        let skew = i64::try_from(self.rng.between(0, 2 * self.night.skew_ms)).unwrap()
            - i64::try_from(self.night.skew_ms).unwrap();
        self.nodes.push(Node {
            book: Isolate::new(format!("i{i}"), TIMING),
            location,
            skew,
            alive: true,
        });
        let first = self.now + self.rng.between(0, INTERVAL_MS);
        self.schedule(first, Event::Tick(i));
    }

    fn schedule(&mut self, at: u64, event: Event) {
        self.seq += 1;
        self.events.push(Some(event));
        self.queue
            .push(Reverse((at, self.seq, self.events.len() - 1)));
    }

    fn clock(&self, skew: i64) -> UnixMs {
        UnixMs(self.now.saturating_add_signed(skew))
    }

    fn second(&self) -> u64 {
        (self.now - T0) / 1_000
    }

    fn room_out(&self) -> bool {
        let (from, len) = self.night.room_outage;
        (from..from + len).contains(&self.second())
    }

    fn location_out(&self, l: usize) -> bool {
        let (which, from, len) = self.night.location_outage;
        which == l && (from..from + len).contains(&self.second())
    }

    /// When a message sent now arrives, or `None` if it is lost.
    fn trip(&mut self) -> Option<u64> {
        if self.rng.chance(self.night.loss_per_mille) {
            return None;
        }
        let delay = if self.rng.chance(self.night.late_per_mille) {
            self.rng.between(TIMEOUT_MS, 3 * TIMEOUT_MS)
        } else {
            self.rng.between(1, 120)
        };
        Some(self.now + delay)
    }

    fn run(mut self) -> World {
        let end = T0 + self.night.seconds * 1_000;
        while let Some(Reverse((at, _, index))) = self.queue.pop() {
            if at > end {
                break;
            }
            self.now = at;
            let event = self.events[index].take().unwrap();
            self.handle(event);
            self.check();
        }
        self
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Tick(i) => {
                if !self.nodes[i].alive {
                    return;
                }
                if self.rng.chance(self.night.churn_per_mille / 30) {
                    self.nodes[i].alive = false;
                    let location = self.nodes[i].location;
                    self.birth(location);
                    return;
                }
                let now = self.clock(self.nodes[i].skew);
                if let Some(mut report) = self.nodes[i].book.begin_sync(now) {
                    // Demand that jumps at every batch, so the shares keep moving: citizens
                    // waiting at the limiter, and at the front of the line, from none to
                    // thousands, and the earliest of them from any of a few seconds.
                    if self.rng.chance(300) {
                        report.refused = 0;
                    } else {
                        report.refused = self.rng.between(1, 500);
                        report.waiting = self.rng.between(0, 500);
                        report.front = self.rng.between(0, 5_000);
                        report.earliest = Earliest {
                            second: 1_700_000_000 + self.rng.between(0, 5),
                            citizens: self.rng.between(0, 500) * Earliest::ONE,
                        };
                    }
                    let l = self.nodes[i].location;
                    match self.trip() {
                        Some(at) if !self.location_out(l) => {
                            self.schedule(at, Event::ToAggregator(i, Box::new(report)));
                        }
                        _ => {
                            let at = self.now + TIMEOUT_MS;
                            self.schedule(at, Event::FromAggregator(i, report.seq, None));
                        }
                    }
                }
                // Mostly an interval on, sometimes sooner: a cut isolate's batch goes early
                // (`Outbox::hurry`) when a tick finds it due.
                let next = if self.rng.chance(200) {
                    self.now + self.rng.between(100, INTERVAL_MS)
                } else {
                    self.now + self.rng.between(INTERVAL_MS, INTERVAL_MS + 200)
                };
                self.schedule(next, Event::Tick(i));
            }
            Event::ToAggregator(i, report) => {
                let l = self.nodes[i].location;
                let now = self.clock(self.aggregators[l].1);
                let on = self.aggregators[l].0.on_sync(&report, now);
                if let Some(up) = on.upstream {
                    match self.trip() {
                        Some(at) if !self.room_out() && !self.location_out(l) => {
                            self.schedule(at, Event::ToRoom(l, Box::new(up.batch)));
                        }
                        _ => {
                            let at = self.now + TIMEOUT_MS;
                            self.schedule(at, Event::FromRoom(l, up.batch.seq, None));
                        }
                    }
                }
                let answer = self.aggregators[l].0.answer(
                    &report.isolate,
                    report.notices_at,
                    report.sent_at,
                    now,
                );
                let at = self.trip().unwrap_or(self.now + TIMEOUT_MS);
                let answer = answer.filter(|_| at < self.now + TIMEOUT_MS || self.rng.chance(500));
                self.schedule(
                    at,
                    Event::FromAggregator(i, report.seq, answer.map(Box::new)),
                );
            }
            Event::FromAggregator(i, seq, answer) => {
                let now = self.clock(self.nodes[i].skew);
                self.nodes[i].book.finish_sync(seq, answer.map(|a| *a), now);
            }
            Event::ToRoom(l, batch) => {
                let synced = self.room.sync(&batch, UnixMs(self.now));
                let snapshot = Box::new(synced.snapshot);
                match self.trip() {
                    Some(at) => self.schedule(at, Event::FromRoom(l, batch.seq, Some(snapshot))),
                    None => {
                        let at = self.now + TIMEOUT_MS;
                        self.schedule(at, Event::FromRoom(l, batch.seq, None));
                    }
                }
            }
            Event::FromRoom(l, seq, answer) => {
                let now = self.clock(self.aggregators[l].1);
                self.aggregators[l]
                    .0
                    .finish_sync(seq, answer.map(|a| *a), now);
            }
        }
    }

    fn check(&mut self) {
        let isolates: u64 = self
            .nodes
            .iter()
            .map(|n| u64::from(n.book.share_in_force_ppm(self.clock(n.skew))))
            .sum();
        let locations: u64 = self
            .aggregators
            .iter()
            .map(|(a, skew)| u64::from(a.whole_ppm(self.clock(*skew))))
            .sum();
        self.worst_isolates = self.worst_isolates.max(isolates);
        self.worst_locations = self.worst_locations.max(locations);
        let whole = u64::from(PPM);
        assert!(
            isolates <= whole + self.nodes.len() as u64,
            "at {} ms the isolates' shares add up to {isolates} ppm",
            self.now - T0
        );
        assert!(
            locations <= whole + self.aggregators.len() as u64,
            "at {} ms the locations' parts add up to {locations} ppm",
            self.now - T0
        );
    }
}

fn night() -> impl Strategy<Value = Night> {
    (
        any::<u64>(),
        1usize..=4,
        1usize..=6,
        0u64..=300,
        0u64..=200,
        0u64..=1_500,
        (0u64..=60, 0u64..=60),
        (0usize..4, 0u64..=60, 0u64..=60),
        0u64..=300,
    )
        .prop_map(
            |(seed, locations, per, loss, late, skew, room_outage, location_outage, churn)| Night {
                seed,
                locations,
                isolates_per_location: per,
                loss_per_mille: loss,
                late_per_mille: late,
                skew_ms: skew,
                room_outage,
                location_outage,
                churn_per_mille: churn,
                seconds: 120,
            },
        )
}

proptest! {
    #![proptest_config(common::proptest_config("tests/proptest-regressions/shares.txt", 1024))]

    #[test]
    fn the_shares_in_force_never_add_up_past_the_rate(night in night()) {
        // `World::check` asserts the sums at every event.
        World::new(night).run();
    }
}

/// Not vacuous: on a calm night the shares handed out do add up to nearly all of the rate.
#[test]
fn a_calm_night_hands_out_nearly_the_whole_rate() {
    let night = Night {
        seed: 7,
        locations: 3,
        isolates_per_location: 4,
        loss_per_mille: 10,
        late_per_mille: 0,
        skew_ms: 300,
        room_outage: (0, 0),
        location_outage: (0, 0, 0),
        churn_per_mille: 0,
        seconds: 60,
    };
    let world = World::new(night).run();
    assert!(world.worst_isolates >= 900_000, "{}", world.worst_isolates);
    assert!(
        world.worst_locations >= 900_000,
        "{}",
        world.worst_locations
    );
}
