//! The discrete-event engine: a simulated clock, an event queue, one real [`Room`] as the
//! coordinator and a real [`Isolate`] per edge isolate, and the citizens who drive them.
//!
//! Only I/O is simulated. A citizen's fetch is [`Isolate::issue`]; each poll is what
//! `GET /queue/status` does in the worker (`Isolate::visit`, then `admit`, then `status`), and
//! after every request the isolate starts a sync if one is due (`begin_sync`), as
//! `edge::sync_if_due` does. The sync travels with a delay and may be lost; the coordinator
//! applies it with [`Room::sync`] (or is out of reach), and the answer, or `None` for a failure
//! or a timeout, comes back through `finish_sync`. Each isolate sees the true time plus its own
//! fixed skew; the coordinator sees the true time; let-throughs are recorded at the true time.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

use edgegate_core::isolate::{
    settle_ms, Admission, Isolate, RoomSnapshot, SyncReport, Timing, Visit,
};
use edgegate_core::room::Room;
use edgegate_core::status::QueueState;
use edgegate_core::{ConfigPatch, OrderKey, RoomTag, Ticket, UnixMs};

use crate::rng::Rng;
use crate::scenario::Scenario;

/// The release allowance's units per citizen (a citizen is a whole second's worth of order
/// keys, 2³²).
pub const ALLOWANCE_PER_CITIZEN: i64 = 1 << 32;

/// What happened to one citizen, for the report.
#[derive(Clone, Debug)]
pub struct Citizen {
    /// True arrival time, unix ms.
    pub arrive_ms: u64,
    /// The order key of the first ticket (the arrival order the gate promises to keep).
    pub first_key: OrderKey,
    pub phantom: bool,
    /// When this citizen gives up (`u64::MAX`: never).
    pub give_up_at: u64,
    pub gave_up: bool,
    /// True time of the let-through.
    pub through_at: Option<u64>,
    /// The ETA range shown at the first poll that showed one, as true times `[low, high]`.
    pub first_eta: Option<(u64, u64)>,
    /// Times this citizen, still polling, was told its place was gone.
    pub lost: u32,
    pub traced: bool,
    isolate: u32,
    ticket: Option<Ticket>,
    ends_session: bool,
}

/// One edge isolate and where it runs.
struct Node {
    book: Isolate,
    location: u32,
    skew_ms: i64,
    /// The share of the rate this isolate's limiter last took, per mille.
    share_per_mille: u32,
}

#[derive(Debug)]
enum Event {
    Poll(u32),
    EndSession(u32),
    SyncArrive {
        isolate: u32,
        sent_at: u64,
        report: Box<SyncReport>,
    },
    SyncAnswer {
        isolate: u32,
        seq: u64,
        answer: Option<Box<RoomSnapshot>>,
    },
    Progress,
}

struct Entry {
    at: u64,
    seq: u64,
    event: Event,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Entry {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

/// How far ahead the agenda keeps events in one-millisecond buckets, in ms (about 17 minutes:
/// every delay a scenario draws fits; later events wait in a heap).
const WHEEL_MS: u64 = 1 << 20;

/// The events to come, in `(time, sequence)` order: one-millisecond buckets for the next
/// [`WHEEL_MS`] and a heap for anything later or earlier than the buckets' start. A plain
/// binary heap of hundreds of thousands of events spent most of a run in cache misses.
struct Agenda {
    /// Bucket `at % WHEEL_MS` holds the events at `at`, for `at` in `[start, start + WHEEL_MS)`,
    /// in the order they were scheduled (which is sequence order).
    wheel: Vec<Vec<(u64, Event)>>,
    /// The bucket at `start`, taken out of the wheel, being drained from the front.
    current: std::collections::VecDeque<(u64, Event)>,
    in_wheel: usize,
    start: u64,
    far: BinaryHeap<Reverse<Entry>>,
}

impl Agenda {
    fn new(start: u64) -> Agenda {
        Agenda {
            wheel: (0..WHEEL_MS).map(|_| Vec::new()).collect(),
            current: std::collections::VecDeque::new(),
            in_wheel: 0,
            start,
            far: BinaryHeap::new(),
        }
    }

    fn slot(at: u64) -> usize {
        usize::try_from(at % WHEEL_MS).unwrap_or(0)
    }

    fn push(&mut self, at: u64, seq: u64, event: Event) {
        if at >= self.start && at < self.start.saturating_add(WHEEL_MS) {
            if let Some(bucket) = self.wheel.get_mut(Agenda::slot(at)) {
                bucket.push((seq, event));
                self.in_wheel += 1;
                return;
            }
        }
        self.far.push(Reverse(Entry { at, seq, event }));
    }

    /// The `(time, sequence)` of the next event in the wheel, moving `start` on to it.
    fn wheel_front(&mut self) -> Option<(u64, u64)> {
        loop {
            if let Some((seq, _)) = self.current.front() {
                return Some((self.start, *seq));
            }
            let bucket = self.wheel.get_mut(Agenda::slot(self.start))?;
            if !bucket.is_empty() {
                self.current = std::mem::take(bucket).into();
                continue;
            }
            if self.in_wheel == 0 {
                return None;
            }
            self.start += 1;
        }
    }

    /// The time of the next event.
    fn peek(&mut self) -> Option<u64> {
        let near = self.wheel_front();
        let far = self.far.peek().map(|Reverse(e)| (e.at, e.seq));
        match (near, far) {
            (Some(a), Some(b)) => Some(a.min(b).0),
            (a, b) => a.or(b).map(|x| x.0),
        }
    }

    fn pop(&mut self) -> Option<(u64, Event)> {
        let near = self.wheel_front();
        let far = self.far.peek().map(|Reverse(e)| (e.at, e.seq));
        let from_wheel = match (near, far) {
            (Some(a), Some(b)) => a < b,
            (a, _) => a.is_some(),
        };
        if from_wheel {
            let (_, event) = self.current.pop_front()?;
            self.in_wheel -= 1;
            Some((self.start, event))
        } else {
            self.far.pop().map(|Reverse(e)| (e.at, e.event))
        }
    }
}

/// Everything a run measured; [`crate::report`] turns it into figures.
#[derive(Debug, Default)]
pub struct Outcome {
    pub citizens: Vec<Citizen>,
    /// True times of every let-through, in order.
    pub let_through_at: Vec<u64>,
    /// Syncs that reached the coordinator, per true second after midnight (index 0 = the
    /// first second of the run, `start_s`).
    pub coordinator_per_s: Vec<u64>,
    /// The first second `coordinator_per_s` counts, relative to midnight (may be negative).
    pub start_s: i64,
    /// Every ETA range shown to traced citizens: (citizen, low, high) as true times.
    pub traced_etas: HashMap<u32, Vec<(u64, u64)>>,
    pub polls: u64,
    /// Polls answered: not yet eligible at the isolate (and of those, eligible at the
    /// coordinator already), throttled by the limiter.
    pub polls_not_yet: u64,
    pub polls_not_yet_eligible_at_room: u64,
    pub polls_throttled: u64,
    /// Polls not let through by an isolate whose last share of the rate was zero.
    pub polls_refused_at_zero_share: u64,
    pub fetches: u64,
    /// Places the room charged as late (a net `+1` in a second behind its cursor), and the
    /// renewals of places behind the cursor (a `−1` and a `+1` in one second of a batch).
    pub late_places_charged: u64,
    pub renewals_behind_cursor: u64,
    /// The lowest the release allowance went (negative: a debt), in the core's units.
    pub lowest_allowance: i64,
    pub stale_answers: u64,
    pub syncs_sent: u64,
    pub syncs_failed: u64,
    pub duplicate_syncs: u64,
    pub lapsed_total: u64,
    pub isolates: u32,
    /// The most the shares of the rate the isolates' limiters held at one time added up to,
    /// per mille (1000 = the rate), and when (true ms).
    pub worst_share_sum_per_mille: u64,
    pub worst_share_sum_at: u64,
    /// The same, the most in each second after midnight.
    pub share_sum_per_s: Vec<u64>,
    pub events: u64,
    pub wall_ms: u128,
    /// True time the run stopped.
    pub end_ms: u64,
    /// Citizens still waiting (not phantom, not given up, not through) when the run stopped.
    pub unresolved: u64,
}

/// A run in progress.
pub struct Sim<'a> {
    sc: &'a Scenario,
    rng: Rng,
    now: u64,
    seq: u64,
    queue: Agenda,
    room: Room,
    nodes: Vec<Node>,
    /// For each location, the first isolate index and how many it has.
    location_isolates: Vec<(u32, u32)>,
    /// Cumulative demand weights over locations, for drawing one.
    location_weights: Vec<u64>,
    next_arrival: usize,
    pending_citizens: u64,
    tag: RoomTag,
    ttl_ms: u64,
    out: Outcome,
    /// The sum of `Node::share_per_mille`.
    share_sum: u64,
    progress: bool,
    started: Instant,
}

fn to_u64(x: f64) -> u64 {
    if x.is_finite() && x > 0.0 {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            reason = "finite and positive; `as` saturates at u64::MAX"
        )]
        let n = x as u64;
        n
    } else {
        0
    }
}

#[allow(
    clippy::cast_precision_loss,
    reason = "demand weights and shares: approximate by nature"
)]
fn zipf_weights(locations: u32, exponent: f64) -> Vec<f64> {
    (1..=locations)
        .map(|k| 1.0 / f64::from(k).powf(exponent))
        .collect()
}

impl<'a> Sim<'a> {
    /// Sets up the room, the isolates (each synced once, as a cold isolate does before its
    /// first answer) and the crowd.
    pub fn new(sc: &'a Scenario, progress: bool) -> Sim<'a> {
        let mut rng = Rng::new(sc.seed);
        let settle = settle_ms(sc.timing.sync_interval_ms, sc.timing.sync_timeout_ms);
        // The run starts a minute before midnight, with the room configured.
        let start = sc.midnight_ms.saturating_sub(60_000);
        let mut room = Room::fresh(UnixMs(start), settle);
        let patch = ConfigPatch {
            new_users_per_minute: Some(sc.room.new_users_per_minute),
            max_active: Some(sc.room.max_active),
            session_duration_s: Some(sc.room.session_duration_s),
            burst: Some(sc.room.burst),
            place_grace_s: Some(sc.room.place_grace_s),
            ..ConfigPatch::default()
        };
        if let Err(e) = room.configure(&patch, UnixMs(start)) {
            eprintln!("scenario room settings refused: {e}");
        }

        // Isolates: one per location, the rest dealt out by demand (largest share first).
        let weights = zipf_weights(sc.locations, sc.zipf_exponent);
        let total: f64 = weights.iter().sum();
        let spare = f64::from(sc.isolates.saturating_sub(sc.locations));
        let mut per_location: Vec<u32> = weights
            .iter()
            .map(|w| 1 + u32::try_from(to_u64(spare * w / total)).unwrap_or(0))
            .collect();
        // What rounding down left over goes to the busiest locations first.
        let dealt: u32 = per_location.iter().sum();
        let left = sc.isolates.saturating_sub(dealt) as usize;
        for n in per_location.iter_mut().take(left) {
            *n += 1;
        }
        let timing = Timing {
            sync_interval_ms: sc.timing.sync_interval_ms,
            sync_timeout_ms: sc.timing.sync_timeout_ms,
            stale_after_ms: sc.timing.stale_after_ms,
            fail_static_per_mille: sc.timing.fail_static_per_mille,
        };
        let mut nodes = Vec::new();
        let mut location_isolates = Vec::new();
        for (location, n) in (0u32..).zip(per_location.iter()) {
            let first = u32::try_from(nodes.len()).unwrap_or(u32::MAX);
            location_isolates.push((first, *n));
            for _ in 0..*n {
                let skew = i64::try_from(rng.between(0, sc.skew_ms.saturating_mul(2)))
                    .unwrap_or(0)
                    .saturating_sub(i64::try_from(sc.skew_ms).unwrap_or(0));
                let id = format!("loc{location}-{}", nodes.len());
                nodes.push(Node {
                    book: Isolate::new(id, timing),
                    location,
                    skew_ms: skew,
                    share_per_mille: 0,
                });
            }
        }
        let mut cumulative = 0u64;
        let location_weights = weights
            .iter()
            .map(|w| {
                cumulative = cumulative.saturating_add(to_u64(w / total * 1e12).max(1));
                cumulative
            })
            .collect();

        // The crowd, in arrival order.
        let mut times = Vec::new();
        for seg in &sc.arrivals {
            for _ in 0..seg.count {
                let second = rng.between(seg.from_s, seg.to_s.saturating_sub(1));
                let ms = rng.between(0, seg.spread_ms.min(999));
                times.push(
                    sc.midnight_ms
                        .saturating_add(second.saturating_mul(1000))
                        .saturating_add(ms),
                );
            }
        }
        times.sort_unstable();
        let citizens: Vec<Citizen> = times
            .into_iter()
            .map(|arrive_ms| {
                let phantom = rng.chance(sc.crowd.phantom_per_mille);
                let gives_up = !phantom && rng.chance(sc.crowd.give_up_per_mille);
                let give_up_at = if gives_up {
                    arrive_ms.saturating_add(rng.between(0, sc.crowd.give_up_within_s * 1000))
                } else {
                    u64::MAX
                };
                Citizen {
                    arrive_ms,
                    first_key: OrderKey(0),
                    phantom,
                    give_up_at,
                    gave_up: false,
                    through_at: None,
                    first_eta: None,
                    lost: 0,
                    traced: rng.chance(sc.trace_per_mille),
                    isolate: 0,
                    ticket: None,
                    ends_session: rng.chance(sc.crowd.ends_session_per_mille),
                }
            })
            .collect();
        let pending_citizens = u64::try_from(citizens.len()).unwrap_or(u64::MAX);

        let mut sim = Sim {
            sc,
            rng,
            now: start,
            seq: 0,
            queue: Agenda::new(start),
            room,
            nodes,
            location_isolates,
            location_weights,
            next_arrival: 0,
            pending_citizens,
            tag: RoomTag::of("sim"),
            ttl_ms: sc.timing.ticket_ttl_s.saturating_mul(1000),
            out: Outcome {
                citizens,
                start_s: -60,
                isolates: sc.isolates,
                ..Outcome::default()
            },
            share_sum: 0,
            progress,
            started: Instant::now(),
        };
        // Every isolate has seen the room once before the crowd comes.
        for i in 0..sim.nodes.len() {
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            sim.after_request(i);
        }
        sim.schedule(sc.midnight_ms, Event::Progress);
        sim
    }

    fn schedule(&mut self, at: u64, event: Event) {
        self.seq = self.seq.wrapping_add(1);
        self.queue.push(at, self.seq, event);
    }

    /// The time isolate `i` reads from its clock.
    fn clock(&self, i: u32) -> UnixMs {
        let skew = self.nodes.get(i as usize).map_or(0, |n| n.skew_ms);
        UnixMs(self.now.saturating_add_signed(skew))
    }

    fn coordinator_down(&self, at: u64) -> bool {
        let midnight = self.sc.midnight_ms;
        self.sc.outages.iter().any(|o| {
            let from = midnight.saturating_add(o.from_s * 1000);
            at >= from && at < from.saturating_add(o.for_s * 1000)
        })
    }

    /// Runs to the end: every citizen through, gone or given up, or `max_sim_s` reached.
    pub fn run(mut self) -> Outcome {
        let stop = self
            .sc
            .midnight_ms
            .saturating_add(self.sc.max_sim_s.saturating_mul(1000));
        loop {
            let next_arrival = self
                .out
                .citizens
                .get(self.next_arrival)
                .map(|c| c.arrive_ms);
            let next_event = self.queue.peek();
            let arrival_first = match (next_arrival, next_event) {
                (Some(a), Some(e)) => a <= e,
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            if arrival_first {
                let c = self.next_arrival;
                self.next_arrival += 1;
                if let Some(at) = next_arrival {
                    self.now = at;
                }
                self.out.events += 1;
                self.arrive(u32::try_from(c).unwrap_or(u32::MAX));
            } else if let Some((at, event)) = self.queue.pop() {
                self.now = at;
                self.out.events += 1;
                self.handle(event);
            }
            if self.now >= stop || (self.pending_citizens == 0 && next_arrival.is_none()) {
                break;
            }
        }
        self.out.end_ms = self.now;
        self.out.unresolved = self.pending_citizens;
        self.out.duplicate_syncs = self.room.totals.duplicate_syncs;
        self.out.lapsed_total = self.room.totals.lapsed;
        self.out.wall_ms = self.started.elapsed().as_millis();
        self.out
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Poll(c) => self.poll(c),
            Event::EndSession(c) => self.end_session(c),
            Event::SyncArrive {
                isolate,
                sent_at,
                report,
            } => self.sync_arrive(isolate, sent_at, &report),
            Event::SyncAnswer {
                isolate,
                seq,
                answer,
            } => {
                let now = self.clock(isolate);
                if answer.is_none() {
                    self.out.syncs_failed += 1;
                }
                let share = answer.as_ref().map(|a| a.share_ppm / 1_000);
                if let Some(node) = self.nodes.get_mut(isolate as usize) {
                    node.book.finish_sync(seq, answer.map(|a| *a), now);
                    if let Some(share) = share {
                        // What the limiter follows (a late answer older than the isolate's
                        // room is ignored by it; close enough for a diagnostic).
                        self.share_sum = self
                            .share_sum
                            .saturating_sub(u64::from(node.share_per_mille))
                            .saturating_add(u64::from(share));
                        node.share_per_mille = share;
                        let second = self.now.saturating_sub(self.sc.midnight_ms) / 1000;
                        if let (Ok(i), true) =
                            (usize::try_from(second), self.now >= self.sc.midnight_ms)
                        {
                            let v = &mut self.out.share_sum_per_s;
                            if v.len() <= i {
                                v.resize(i + 1, 0);
                            }
                            if let Some(n) = v.get_mut(i) {
                                *n = (*n).max(self.share_sum);
                            }
                        }
                        if self.share_sum > self.out.worst_share_sum_per_mille {
                            self.out.worst_share_sum_per_mille = self.share_sum;
                            self.out.worst_share_sum_at = self.now;
                        }
                    }
                }
            }
            Event::Progress => self.progress(),
        }
    }

    fn progress(&mut self) {
        if self.progress {
            let report = self.room.report(UnixMs(self.now));
            eprintln!(
                "sim {:>6} s | wall {:>6.1} s | events {:>10} | waiting {:>7} | unclaimed {:>7} | allowance {:>8} | let through {:>7} | still to resolve {:>7}",
                i128::from(self.now) / 1000 - i128::from(self.sc.midnight_ms / 1000),
                self.started.elapsed().as_secs_f64(),
                self.out.events,
                report.counters.waiting,
                report.counters.unclaimed,
                self.room.release.allowance / ALLOWANCE_PER_CITIZEN,
                self.out.let_through_at.len(),
                self.pending_citizens,
            );
        }
        if self.pending_citizens > 0 || self.next_arrival < self.out.citizens.len() {
            self.schedule(self.now.saturating_add(60_000), Event::Progress);
        }
    }

    fn pick_location(&mut self) -> u32 {
        let total = self.location_weights.last().copied().unwrap_or(1);
        let x = self.rng.below(total);
        let i = self.location_weights.partition_point(|w| *w <= x);
        u32::try_from(i).unwrap_or(0)
    }

    fn pick_isolate(&mut self, location: u32) -> u32 {
        let (first, n) = self
            .location_isolates
            .get(location as usize)
            .copied()
            .unwrap_or((0, 1));
        first.saturating_add(u32::try_from(self.rng.below(u64::from(n))).unwrap_or(0))
    }

    fn issue(&mut self, isolate: u32) -> Option<Ticket> {
        let now = self.clock(isolate);
        let (id, random) = (self.rng.bytes16(), self.rng.u32());
        let ttl = self.ttl_ms;
        let tag = self.tag;
        let node = self.nodes.get(isolate as usize)?;
        Some(node.book.issue(id, random, now, ttl, 1, tag))
    }

    fn arrive(&mut self, c: u32) {
        let location = self.pick_location();
        let isolate = self.pick_isolate(location);
        let ticket = self.issue(isolate);
        self.out.fetches += 1;
        let first_poll = self.rng.between(
            self.sc.crowd.first_poll_ms[0],
            self.sc.crowd.first_poll_ms[1],
        );
        let Some(citizen) = self.out.citizens.get_mut(c as usize) else {
            return;
        };
        citizen.first_key = ticket.as_ref().map_or(OrderKey(0), |t| t.order);
        citizen.ticket = ticket;
        citizen.isolate = isolate;
        let phantom = citizen.phantom;
        self.after_request(isolate);
        if phantom {
            self.pending_citizens = self.pending_citizens.saturating_sub(1);
        } else {
            self.schedule(self.now.saturating_add(first_poll), Event::Poll(c));
        }
    }

    /// `GET /queue/status`, as the worker answers it.
    fn poll(&mut self, c: u32) {
        let now_true = self.now;
        let switch = self.rng.chance(self.sc.crowd.switch_per_mille);
        let Some(citizen) = self.out.citizens.get(c as usize) else {
            return;
        };
        if now_true >= citizen.give_up_at {
            if let Some(citizen) = self.out.citizens.get_mut(c as usize) {
                citizen.gave_up = true;
            }
            self.pending_citizens = self.pending_citizens.saturating_sub(1);
            return;
        }
        let mut isolate = citizen.isolate;
        let Some(mut ticket) = citizen.ticket.clone() else {
            return;
        };
        if switch {
            let location = self.nodes.get(isolate as usize).map_or(0, |n| n.location);
            isolate = self.pick_isolate(location);
        }
        self.out.polls += 1;
        let now = self.clock(isolate);
        let ttl = self.ttl_ms;
        let visit = match self.nodes.get_mut(isolate as usize) {
            Some(node) => node.book.visit(&ticket, now, ttl),
            None => return,
        };
        let mut lost = false;
        match visit {
            Visit::Keep => {}
            Visit::Update(t) => ticket = t,
            Visit::Lapsed | Visit::Ended => {
                lost = true;
                match self.issue(isolate) {
                    Some(t) => ticket = t,
                    None => return,
                }
            }
        }
        let jitter = self.rng.u16();
        let latency = self.rng.between(
            self.sc.crowd.poll_latency_ms[0],
            self.sc.crowd.poll_latency_ms[1],
        );
        let session_ms = self
            .rng
            .between(self.sc.crowd.session_ms[0], self.sc.crowd.session_ms[1]);
        let Some(node) = self.nodes.get_mut(isolate as usize) else {
            return;
        };
        let admission = node.book.admit(&ticket, now);
        let zero_share = node.share_per_mille == 0;
        let status = match admission {
            Admission::Through { .. } => None,
            _ => Some(node.book.status(&ticket, admission, now, jitter)),
        };
        let Some(citizen) = self.out.citizens.get_mut(c as usize) else {
            return;
        };
        citizen.isolate = isolate;
        let ticket_order = ticket.order;
        citizen.ticket = Some(ticket);
        if lost {
            citizen.lost += 1;
        }
        match admission {
            Admission::NotYet => {
                self.out.polls_not_yet += 1;
                if self.room.release.cursor.admits(ticket_order) {
                    self.out.polls_not_yet_eligible_at_room += 1;
                }
            }
            Admission::Throttled { .. } => self.out.polls_throttled += 1,
            Admission::Through { .. } => {}
        }
        if zero_share && !matches!(admission, Admission::Through { .. }) {
            self.out.polls_refused_at_zero_share += 1;
        }
        let mut next = None;
        match (admission, status) {
            (Admission::Through { first }, _) => {
                citizen.through_at = Some(now_true);
                let ends = citizen.ends_session;
                self.pending_citizens = self.pending_citizens.saturating_sub(1);
                if first {
                    self.out.let_through_at.push(now_true);
                }
                if ends {
                    self.schedule(now_true.saturating_add(session_ms), Event::EndSession(c));
                }
            }
            (_, Some(status)) => {
                if status.stale {
                    self.out.stale_answers += 1;
                }
                if let (QueueState::Waiting, Some([low, high])) = (status.state, status.eta_s) {
                    let range = (
                        now_true.saturating_add(low.saturating_mul(1000)),
                        now_true.saturating_add(high.saturating_mul(1000).saturating_add(999)),
                    );
                    if citizen.first_eta.is_none() {
                        citizen.first_eta = Some(range);
                    }
                    if citizen.traced {
                        self.out.traced_etas.entry(c).or_default().push(range);
                    }
                }
                // The page never polls sooner than a second.
                next = Some(status.next_poll_ms.max(1_000).saturating_add(latency));
            }
            (_, None) => {}
        }
        self.after_request(isolate);
        if let Some(wait) = next {
            self.schedule(now_true.saturating_add(wait), Event::Poll(c));
        }
    }

    /// The origin answered `Gate-Session: end` for this citizen's request.
    fn end_session(&mut self, c: u32) {
        let Some(citizen) = self.out.citizens.get(c as usize) else {
            return;
        };
        let isolate = citizen.isolate;
        let Some(id) = citizen.ticket.as_ref().map(|t| t.id) else {
            return;
        };
        let now = self.clock(isolate);
        if let Some(node) = self.nodes.get_mut(isolate as usize) {
            node.book.end_session(&id, now);
        }
        self.after_request(isolate);
    }

    /// After any request: a sync, if one is due, goes out in the background.
    fn after_request(&mut self, isolate: u32) {
        let now = self.clock(isolate);
        let Some(report) = self
            .nodes
            .get_mut(isolate as usize)
            .and_then(|n| n.book.begin_sync(now))
        else {
            return;
        };
        self.out.syncs_sent += 1;
        let net = &self.sc.network;
        if self.rng.chance(net.loss_per_mille) {
            let at = self.now.saturating_add(self.sc.timing.sync_timeout_ms);
            self.schedule(
                at,
                Event::SyncAnswer {
                    isolate,
                    seq: report.seq,
                    answer: None,
                },
            );
            return;
        }
        let delay = self.rng.between(net.delay_ms[0], net.delay_ms[1]);
        let sent_at = self.now;
        self.schedule(
            self.now.saturating_add(delay),
            Event::SyncArrive {
                isolate,
                sent_at,
                report: Box::new(report),
            },
        );
    }

    /// The coordinator receives a batch (or is out of reach).
    fn sync_arrive(&mut self, isolate: u32, sent_at: u64, report: &SyncReport) {
        let timeout_at = sent_at.saturating_add(self.sc.timing.sync_timeout_ms);
        let delay = self
            .rng
            .between(self.sc.network.delay_ms[0], self.sc.network.delay_ms[1]);
        let answer = if self.coordinator_down(self.now) {
            None
        } else {
            let second = i64::try_from(self.now / 1000).unwrap_or(i64::MAX)
                - i64::try_from(self.sc.midnight_ms / 1000).unwrap_or(0)
                - self.out.start_s;
            if let Ok(i) = usize::try_from(second) {
                if self.out.coordinator_per_s.len() <= i {
                    self.out.coordinator_per_s.resize(i + 1, 0);
                }
                if let Some(n) = self.out.coordinator_per_s.get_mut(i) {
                    *n += 1;
                }
            }
            // What the room will charge as late places (behind its cursor), and how many of
            // those are renewals (the same second given up in another slot in this batch).
            // The room charges each second's net change (a renewal, −1 and +1 in one second,
            // nets to nothing).
            let cursor = self.room.release.cursor.bucket();
            let mut net: std::collections::BTreeMap<u64, i64> = std::collections::BTreeMap::new();
            for &(second, _, delta) in report.places.iter().filter(|p| p.0 < cursor) {
                let n = net.entry(second).or_insert(0);
                *n = n.saturating_add(delta);
                if delta > 0 && report.places.iter().any(|&(s, _, d)| s == second && d < 0) {
                    self.out.renewals_behind_cursor += delta.unsigned_abs();
                }
            }
            for n in net.values().filter(|n| **n > 0) {
                self.out.late_places_charged += n.unsigned_abs();
            }
            let synced = self.room.sync(report, UnixMs(self.now));
            self.out.lowest_allowance = self.out.lowest_allowance.min(self.room.release.allowance);
            if self.rng.chance(self.sc.network.loss_per_mille) {
                None
            } else {
                Some(Box::new(synced.snapshot))
            }
        };
        let back = self.now.saturating_add(delay);
        // An answer that would come after the timeout is given up by the isolate then.
        let (at, answer) = match answer {
            Some(a) if back <= timeout_at => (back, Some(a)),
            Some(_) => (timeout_at, None),
            None if self.coordinator_down(self.now) => (back.min(timeout_at), None),
            None => (timeout_at, None),
        };
        self.schedule(
            at,
            Event::SyncAnswer {
                isolate,
                seq: report.seq,
                answer,
            },
        );
    }
}
