//! The discrete-event engine: a simulated clock, an event queue, and the hierarchy as deployed —
//! one real [`Room`] as the coordinator, one real [`Aggregator`] per location, and real
//! [`Isolate`]s at the edge — driven by the citizens.
//!
//! Only I/O is simulated. A citizen's fetch is [`Isolate::issue`]; each poll is what
//! `GET /queue/status` does in the worker (`Isolate::visit`, then `admit`, then `status`).
//! After every request the isolate starts a sync with its location's aggregator if one is due
//! (`begin_sync`), as `edge::sync_if_due` does; a cold isolate's first request waits for its
//! first sync, as `edge::sync_first` does. The aggregator applies the batch
//! ([`Aggregator::receive`]), starts its own sync with the coordinator if one is due, and
//! answers at once from what it last heard ([`Aggregator::answer`]); until it has heard the
//! room once it waits for that first sync before answering, and answers other isolates with a
//! failure (the worker's 503), as `aggregator.rs` does. Each hop has its own delay and losses
//! (a lost request or answer is a sync that times out), and either end of the aggregator ↔
//! coordinator hop, or one location's aggregator, can be out of reach. Every isolate and every
//! aggregator sees the true time plus its own fixed skew; the coordinator sees the true time;
//! let-throughs are recorded at the true time.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::time::Instant;

use edgegate_core::aggregate::Aggregator;
use edgegate_core::isolate::{Admission, Isolate, Timing};
use edgegate_core::keys::{ForTickets, Key, KeyRing};
use edgegate_core::limiter::Spent;
use edgegate_core::network::NetTag;
use edgegate_core::origin::Outcome as OriginOutcome;
use edgegate_core::outbox::Outbox;
use edgegate_core::room::Room;
use edgegate_core::status::{page_wait_ms, QueueState};
use edgegate_core::sync::{settle_ms, RoomSnapshot, SyncReport};
use edgegate_core::visit::{self, Answer, Cookie, Route, Sent, Terms, Tokens};
use edgegate_core::{ConfigPatch, OrderKey, RoomTag, UnixMs};

use crate::rng::Rng;
use crate::scenario::{Network, Scenario};

/// The release allowance's units per citizen (a citizen is a whole second's worth of order
/// keys, 2³²).
pub const ALLOWANCE_PER_CITIZEN: i64 = 1 << 32;

/// Millionths: the unit of a share of the rate.
pub const PPM: u64 = 1_000_000;

/// What happened to one citizen, for the report.
#[derive(Clone, Debug)]
pub struct Citizen {
    /// True arrival time, unix ms.
    pub arrive_ms: u64,
    /// The location the citizen is served in (0 is the busiest).
    pub location: u32,
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
    /// The cookies the citizen's browser holds, as the tokens they carry.
    jar: Tokens,
    ends_session: bool,
    /// The round trip of this citizen's last poll, as its page measured it (`0` before one).
    round_trip_ms: u64,
}

/// One edge isolate and where it runs.
struct Node {
    book: Isolate,
    location: u32,
    skew_ms: i64,
    /// The share of the rate this isolate's limiter last took, in millionths.
    share_ppm: u32,
    /// Requests waiting for this cold isolate's first sync.
    parked: Vec<Request>,
}

/// An isolate's sync held until its aggregator's first answer from the coordinator.
#[derive(Debug)]
struct ParkedSync {
    isolate: u32,
    seq: u64,
    /// The isolate's id, as the aggregator knows it.
    id: String,
    /// When it was sent, in true time (for the network).
    sent_at: u64,
    notices_at: u64,
    /// When it was sent by the isolate's clock: its lease runs from then.
    lease_from: UnixMs,
}

/// One location: its aggregator and its isolates.
struct Location {
    agg: Aggregator,
    skew_ms: i64,
    /// Indices into `Sim::nodes`.
    isolates: Vec<u32>,
    /// Requests in the true second `load_second`: what the location's isolates grow with.
    load_second: u64,
    load: u64,
    /// Isolate syncs held until this aggregator's first answer from the coordinator.
    parked: Vec<ParkedSync>,
    /// The share of the rate the coordinator last gave this location, in millionths.
    share_ppm: u32,
    /// Syncs sent to the coordinator in the true second `sent_second`.
    sent_second: u64,
    sent: u64,
}

/// A citizen's request to an isolate: the page's fetch, or a status poll.
#[derive(Clone, Copy, Debug)]
enum Request {
    Fetch(u32),
    Poll(u32),
}

#[derive(Debug)]
enum Event {
    Poll(u32),
    EndSession(u32),
    /// A citizen let through sends a request to the origin (`OriginModel`), with this many
    /// left to send, this one included.
    OriginRequest(u32, u32),
    /// An isolate's batch reaches its location's aggregator.
    ToAggregator {
        isolate: u32,
        sent_at: u64,
        report: Box<SyncReport>,
    },
    /// The aggregator's answer reaches the isolate (`None`: a failure or a timeout).
    FromAggregator {
        isolate: u32,
        seq: u64,
        answer: Option<Box<RoomSnapshot>>,
    },
    /// A location's batch reaches the coordinator.
    ToRoom {
        location: u32,
        sent_at: u64,
        report: Box<SyncReport>,
    },
    /// The coordinator's answer reaches the aggregator (`None`: a failure or a timeout).
    FromRoom {
        location: u32,
        seq: u64,
        answer: Option<Box<RoomSnapshot>>,
    },
    Progress,
    /// The top of a true second after midnight: what the limiters did with their tokens so
    /// far is noted.
    Second,
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
    /// Syncs that reached the coordinator, per true second (index 0 = the first second of the
    /// run, `start_s`).
    pub coordinator_per_s: Vec<u64>,
    /// For each location, isolate syncs that reached its aggregator per true second (indexed
    /// as `coordinator_per_s`).
    pub aggregator_per_s: Vec<Vec<u32>>,
    /// The most syncs one aggregator sent the coordinator in one true second (resends
    /// included).
    pub most_room_syncs_one_location_s: u64,
    /// The first second the per-second counts start at, relative to midnight (negative).
    pub start_s: i64,
    /// Every ETA range shown to traced citizens: (citizen, low, high) as true times.
    pub traced_etas: HashMap<u32, Vec<(u64, u64)>>,
    pub polls: u64,
    /// Polls answered: not yet eligible at the isolate (and of those, eligible at the
    /// coordinator already), throttled by the limiter.
    pub polls_not_yet: u64,
    pub polls_not_yet_eligible_at_room: u64,
    pub polls_throttled: u64,
    /// Let-throughs the isolates' limiters lost to a full bucket while citizens waited in
    /// their lines (`Limiter::lost_citizens`, summed at the end of the run).
    pub lost_let_throughs: u64,
    /// Polls not let through by an isolate whose last share of the rate was zero.
    pub polls_refused_at_zero_share: u64,
    pub fetches: u64,
    /// Places the room charged as late (a net `+1` in a second behind its cursor), and the
    /// renewals of places behind the cursor (a `−1` and a `+1` in one second of a batch).
    pub late_places_charged: u64,
    pub renewals_behind_cursor: u64,
    /// The lowest the release allowance went (negative: a debt), in the core's units.
    pub lowest_allowance: i64,
    /// Answers marked stale by an isolate that knew the room, per location and true second
    /// after midnight.
    pub stale_per_s: Vec<Vec<u32>>,
    /// Answers from an isolate that had not heard the room yet (a cold isolate whose first
    /// sync was still on its way, or failed).
    pub cold_answers: u64,
    /// Isolate ↔ aggregator syncs: sent, failed (timed out, lost, refused), and batches an
    /// aggregator had applied before.
    pub syncs_sent: u64,
    pub syncs_failed: u64,
    pub duplicate_isolate_syncs: u64,
    /// Aggregator ↔ coordinator syncs: sent, failed, and batches the room had applied before.
    pub room_syncs_sent: u64,
    pub room_syncs_failed: u64,
    pub duplicate_syncs: u64,
    pub lapsed_total: u64,
    /// Isolates each location ran by the end (isolates are never retired: the peak).
    pub isolates_per_location: Vec<u32>,
    /// The most the shares of the rate held by the isolates' limiters added up to at one time,
    /// in millionths (1,000,000 = the rate), and when (true ms).
    pub worst_share_sum_ppm: u64,
    pub worst_share_sum_at: u64,
    /// The same, the most in each second after midnight.
    pub share_sum_per_s: Vec<u64>,
    /// The most the locations' shares, as the coordinator last gave them to each aggregator,
    /// added up to, in millionths, and the most in each second after midnight.
    pub worst_location_share_sum_ppm: u64,
    pub location_share_sum_per_s: Vec<u64>,
    /// At the top of each true second after midnight (index = second), what every isolate's
    /// limiter did with its tokens so far, summed, and the shares handed out so far (see
    /// [`Tally`]): the differences between seconds say where each second's rate went.
    pub tallies: Vec<Tally>,
    pub events: u64,
    pub wall_ms: u128,
    /// True time the run stopped.
    pub end_ms: u64,
    /// Citizens still waiting (not phantom, not given up, not through) when the run stopped.
    pub unresolved: u64,
    /// With an origin model: what the origin got in each true second after midnight (index =
    /// second; the requests it refused with `503` are `errors_5xx`, those the gate gave up on
    /// `timeouts`), as the edges count them.
    pub origin_per_s: Vec<edgegate_core::origin::OriginCounts>,
    /// When the origin last served each of the requests of the last second, true ms.
    pub origin_served: std::collections::VecDeque<u64>,
    /// Every change the room made to its own rate (the autopilot's): true ms, from, to, why.
    pub rate_changes: Vec<(u64, u32, u32, String)>,
}

/// Running totals over the whole run, noted at the top of each second after midnight. Tokens
/// are in `limiter::UNITS_PER_CITIZEN` per citizen; shares in millionths of the rate times
/// milliseconds (1,000,000 × 1,000 is one second of the whole rate).
#[derive(Clone, Copy, Debug, Default)]
pub struct Tally {
    /// Σ over isolates of `Limiter::spent`, and the tokens saved.
    pub spent: Spent,
    pub saved: u64,
    /// The locations' shares as the aggregators last heard them, integrated over time.
    pub location_share_ppm_ms: u128,
}

impl Outcome {
    pub fn isolates(&self) -> u32 {
        self.isolates_per_location.iter().sum()
    }
}

/// A run in progress.
pub struct Sim<'a> {
    sc: &'a Scenario,
    rng: Rng,
    now: u64,
    seq: u64,
    queue: Agenda,
    room: Room,
    timing: Timing,
    nodes: Vec<Node>,
    locations: Vec<Location>,
    /// Cumulative demand weights over locations, for drawing one.
    location_weights: Vec<u64>,
    next_arrival: usize,
    pending_citizens: u64,
    tag: RoomTag,
    ttl_ms: u64,
    /// The gate's ticket keys, which work challenges are drawn under.
    ticket_keys: KeyRing<ForTickets>,
    out: Outcome,
    /// The sums of `Node::share_ppm` and of `Location::share_ppm`.
    share_sum: u64,
    location_share_sum: u64,
    /// The locations' sum integrated over time up to `integrated_at` (millionths × ms).
    location_share_integral: u128,
    integrated_at: u64,
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
    reason = "demand weights: approximate by nature"
)]
fn zipf_weights(locations: u32, exponent: f64) -> Vec<f64> {
    (1..=locations)
        .map(|k| 1.0 / f64::from(k).powf(exponent))
        .collect()
}

/// Adds one to `v[i]`, growing `v` as needed.
fn bump<T: Copy + Default + std::ops::AddAssign + From<u8>>(v: &mut Vec<T>, i: usize) {
    if v.len() <= i {
        v.resize(i + 1, T::default());
    }
    if let Some(n) = v.get_mut(i) {
        *n += T::from(1);
    }
}

/// Raises `v[i]` to at least `x`, growing `v` as needed.
fn raise(v: &mut Vec<u64>, i: usize, x: u64) {
    if v.len() <= i {
        v.resize(i + 1, 0);
    }
    if let Some(n) = v.get_mut(i) {
        *n = (*n).max(x);
    }
}

/// A skew in `±skew_ms`.
fn draw_skew(rng: &mut Rng, skew_ms: u64) -> i64 {
    i64::try_from(rng.between(0, skew_ms.saturating_mul(2)))
        .unwrap_or(0)
        .saturating_sub(i64::try_from(skew_ms).unwrap_or(0))
}

impl<'a> Sim<'a> {
    /// Sets up the room, the aggregators, each location's first isolates (each synced once
    /// before midnight, as isolates warmed by the crowd gathering are) and the crowd.
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
            autopilot: sc.room.autopilot.map(Some),
            ..ConfigPatch::default()
        };
        if let Err(e) = room.configure(&patch, UnixMs(start)) {
            eprintln!("scenario room settings refused: {e}");
        }
        let timing = Timing {
            sync_interval_ms: sc.timing.sync_interval_ms,
            sync_timeout_ms: sc.timing.sync_timeout_ms,
            stale_after_ms: sc.timing.stale_after_ms,
            fail_static_per_mille: sc.timing.fail_static_per_mille,
        };
        let locations: Vec<Location> = (0..sc.locations)
            .map(|l| Location {
                agg: Aggregator::restore(
                    &format!("L{l}"),
                    (
                        sc.timing.sync_interval_ms,
                        sc.timing.sync_timeout_ms,
                        sc.timing.fail_static_per_mille,
                    ),
                    Vec::new(),
                    Outbox::default(),
                    None,
                ),
                skew_ms: draw_skew(&mut rng, sc.skew_ms),
                isolates: Vec::new(),
                load_second: 0,
                load: 0,
                parked: Vec::new(),
                share_ppm: 0,
                sent_second: 0,
                sent: 0,
            })
            .collect();

        let weights = zipf_weights(sc.locations, sc.zipf_exponent);
        let total: f64 = weights.iter().sum();
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
                    location: 0,
                    first_key: OrderKey(0),
                    phantom,
                    give_up_at,
                    gave_up: false,
                    through_at: None,
                    first_eta: None,
                    lost: 0,
                    traced: rng.chance(sc.trace_per_mille),
                    isolate: 0,
                    jar: Tokens::default(),
                    ends_session: rng.chance(sc.crowd.ends_session_per_mille),
                    round_trip_ms: 0,
                }
            })
            .collect();
        let pending_citizens = u64::try_from(citizens.len()).unwrap_or(u64::MAX);
        let n_locations = locations.len();

        let mut sim = Sim {
            sc,
            rng,
            now: start,
            seq: 0,
            queue: Agenda::new(start),
            room,
            timing,
            nodes: Vec::new(),
            locations,
            location_weights,
            next_arrival: 0,
            pending_citizens,
            tag: RoomTag::of("sim"),
            ttl_ms: sc.timing.ticket_ttl_s.saturating_mul(1000),
            ticket_keys: KeyRing::new(Key::from_bytes(1, [0x5a; 32]), Vec::new()),
            out: Outcome {
                citizens,
                start_s: -60,
                aggregator_per_s: vec![Vec::new(); n_locations],
                stale_per_s: vec![Vec::new(); n_locations],
                ..Outcome::default()
            },
            share_sum: 0,
            location_share_sum: 0,
            location_share_integral: 0,
            integrated_at: start,
            progress,
            started: Instant::now(),
        };
        // Each location's first isolates have seen the room once before the crowd comes (their
        // first sync is also their aggregator's first, which waits for the coordinator).
        for l in 0..sc.locations {
            for _ in 0..sc.isolates.min_per_location {
                let i = sim.spawn(l);
                sim.after_request(i);
            }
        }
        sim.schedule(sc.midnight_ms, Event::Progress);
        sim.schedule(sc.midnight_ms, Event::Second);
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

    /// The time the aggregator of `location` reads from its clock.
    fn agg_clock(&self, location: u32) -> UnixMs {
        let skew = self
            .locations
            .get(location as usize)
            .map_or(0, |l| l.skew_ms);
        UnixMs(self.now.saturating_add_signed(skew))
    }

    /// The index of the true second `at` in the per-second counts that start a minute before
    /// midnight.
    fn run_second(&self, at: u64) -> Option<usize> {
        let second = i64::try_from(at / 1000).unwrap_or(i64::MAX)
            - i64::try_from(self.sc.midnight_ms / 1000).unwrap_or(0)
            - self.out.start_s;
        usize::try_from(second).ok()
    }

    fn in_window(&self, at: u64, from_s: u64, for_s: u64) -> bool {
        let from = self
            .sc
            .midnight_ms
            .saturating_add(from_s.saturating_mul(1000));
        at >= from && at < from.saturating_add(for_s.saturating_mul(1000))
    }

    fn coordinator_down(&self, at: u64) -> bool {
        self.sc
            .outages
            .iter()
            .any(|o| self.in_window(at, o.from_s, o.for_s))
    }

    fn aggregator_down(&self, location: u32, at: u64) -> bool {
        self.sc
            .location_outages
            .iter()
            .any(|o| o.location == location && self.in_window(at, o.from_s, o.for_s))
    }

    /// Starts a new (cold) isolate in `location`; returns its index.
    fn spawn(&mut self, location: u32) -> u32 {
        let i = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
        let skew_ms = draw_skew(&mut self.rng, self.sc.skew_ms);
        self.nodes.push(Node {
            book: Isolate::new(format!("L{location}-{i}"), self.timing),
            location,
            skew_ms,
            share_ppm: 0,
            parked: Vec::new(),
        });
        if let Some(loc) = self.locations.get_mut(location as usize) {
            loc.isolates.push(i);
        }
        i
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
        self.out.lost_let_throughs = self.nodes.iter().map(|n| n.book.lost_let_throughs()).sum();
        self.out.unresolved = self.pending_citizens;
        self.out.duplicate_syncs = self.room.totals.duplicate_syncs;
        self.out.lapsed_total = self.room.totals.lapsed;
        self.out.isolates_per_location = self
            .locations
            .iter()
            .map(|l| u32::try_from(l.isolates.len()).unwrap_or(u32::MAX))
            .collect();
        self.out.wall_ms = self.started.elapsed().as_millis();
        self.out
    }

    fn handle(&mut self, event: Event) {
        match event {
            Event::Poll(c) => self.poll(c),
            Event::EndSession(c) => self.end_session(c),
            Event::OriginRequest(c, left) => self.origin_request(c, left),
            Event::ToAggregator {
                isolate,
                sent_at,
                report,
            } => self.aggregator_receives(isolate, sent_at, *report),
            Event::FromAggregator {
                isolate,
                seq,
                answer,
            } => self.isolate_hears(isolate, seq, answer.map(|a| *a)),
            Event::ToRoom {
                location,
                sent_at,
                report,
            } => self.room_receives(location, sent_at, &report),
            Event::FromRoom {
                location,
                seq,
                answer,
            } => self.aggregator_hears(location, seq, answer.map(|a| *a)),
            Event::Progress => self.progress(),
            Event::Second => self.second(),
        }
    }

    /// Brings the locations' share integral up to now (call before their sum changes).
    fn integrate(&mut self) {
        let dt = u128::from(self.now.saturating_sub(self.integrated_at));
        self.location_share_integral = self
            .location_share_integral
            .saturating_add(u128::from(self.location_share_sum) * dt);
        self.integrated_at = self.integrated_at.max(self.now);
    }

    /// The top of a second: notes the running totals of tokens and shares.
    fn second(&mut self) {
        self.integrate();
        let mut tally = Tally {
            location_share_ppm_ms: self.location_share_integral,
            ..Tally::default()
        };
        for node in &self.nodes {
            let limiter = node.book.limiter();
            tally.spent = tally.spent.plus(limiter.spent());
            tally.saved = tally.saved.saturating_add(limiter.saved());
        }
        self.out.tallies.push(tally);
        if self.pending_citizens > 0 || self.next_arrival < self.out.citizens.len() {
            self.schedule(self.now.saturating_add(1_000), Event::Second);
        }
    }

    fn progress(&mut self) {
        if self.progress {
            let report = self.room.report(UnixMs(self.now));
            let coordinator = self
                .run_second(self.now.saturating_sub(1000))
                .and_then(|i| self.out.coordinator_per_s.get(i))
                .copied()
                .unwrap_or(0);
            eprintln!(
                "sim {:>6} s | wall {:>6.1} s | events {:>10} | isolates {:>5} | coordinator {:>4}/s | waiting {:>7} | allowance {:>8} | let through {:>7} | still to resolve {:>7}",
                i128::from(self.now) / 1000 - i128::from(self.sc.midnight_ms / 1000),
                self.started.elapsed().as_secs_f64(),
                self.out.events,
                self.nodes.len(),
                coordinator,
                report.counters.waiting,
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

    /// A request reaches `location`: counts its load, starts an isolate if the load has
    /// outgrown those running, and picks the isolate that serves it.
    fn route(&mut self, location: u32) -> u32 {
        let second = self.now / 1000;
        let (per, max) = (
            self.sc.isolates.requests_per_isolate,
            self.sc.isolates.max_per_location as usize,
        );
        let grow = match self.locations.get_mut(location as usize) {
            Some(loc) => {
                if loc.load_second != second {
                    loc.load_second = second;
                    loc.load = 0;
                }
                loc.load += 1;
                let running = loc.isolates.len();
                running < max && loc.load > per.saturating_mul(u64::try_from(running).unwrap_or(0))
            }
            None => false,
        };
        if grow {
            self.spawn(location);
        }
        let n = self
            .locations
            .get(location as usize)
            .map_or(0, |l| l.isolates.len());
        let k = usize::try_from(self.rng.below(u64::try_from(n).unwrap_or(0))).unwrap_or(0);
        self.locations
            .get(location as usize)
            .and_then(|l| l.isolates.get(k))
            .copied()
            .unwrap_or(0)
    }

    /// The citizen `c`'s request to `isolate` on `route`, decided as the Worker decides it
    /// (`visit::serve`), with the cookies it sets kept in the citizen's jar.
    fn visit(&mut self, c: u32, isolate: u32, route: Route, jitter: u16) -> Option<visit::Served> {
        let now = self.clock(isolate);
        let terms = Terms {
            room: self.tag,
            ticket_ttl_ms: self.ttl_ms,
            ticket_key_id: 1,
            pass_key_id: 1,
            ticket_keys: &self.ticket_keys,
        };
        let jar = self.out.citizens.get(c as usize)?.jar.clone();
        let rng = &mut self.rng;
        let mut draw = || {
            let mut bytes = [0u8; 20];
            bytes[..16].copy_from_slice(&rng.bytes16());
            bytes[16..].copy_from_slice(&rng.u32().to_be_bytes());
            Some(bytes)
        };
        let node = self.nodes.get_mut(isolate as usize)?;
        // Each citizen is a household of its own: an IPv4 network's tag (the low bit set),
        // well inside its budget, as almost every real citizen is.
        let request = visit::Request {
            route,
            tokens: jar,
            network: NetTag((u64::from(c) + 1) << 1 | 1),
            work: None,
            now,
            jitter,
        };
        let served = visit::serve(&mut node.book, request, &terms, &mut draw);
        let citizen = self.out.citizens.get_mut(c as usize)?;
        keep(&mut citizen.jar, &served.cookies);
        Some(served)
    }

    fn arrive(&mut self, c: u32) {
        let location = self.pick_location();
        if let Some(citizen) = self.out.citizens.get_mut(c as usize) {
            citizen.location = location;
        }
        let isolate = self.route(location);
        self.request(isolate, Request::Fetch(c));
    }

    /// A request reaches `isolate`. An isolate that has never heard the room syncs first and
    /// the request waits for it (`edge::sync_first`); a request that finds that first sync
    /// already under way, or failed, is answered without the room, as in the worker.
    fn request(&mut self, isolate: u32, request: Request) {
        let now = self.clock(isolate);
        let cold_sync = match self.nodes.get_mut(isolate as usize) {
            Some(node) if !node.book.knows_room() => node.book.begin_sync(now),
            _ => None,
        };
        match cold_sync {
            Some(report) => {
                if let Some(node) = self.nodes.get_mut(isolate as usize) {
                    node.parked.push(request);
                }
                self.send_to_aggregator(isolate, report);
            }
            None => self.serve(isolate, request),
        }
    }

    fn serve(&mut self, isolate: u32, request: Request) {
        match request {
            Request::Fetch(c) => self.fetch(c, isolate),
            Request::Poll(c) => self.serve_poll(c, isolate),
        }
    }

    /// The page's first request: a ticket.
    fn fetch(&mut self, c: u32, isolate: u32) {
        self.visit(c, isolate, Route::Door, 0);
        self.out.fetches += 1;
        let first_poll = self.rng.between(
            self.sc.crowd.first_poll_ms[0],
            self.sc.crowd.first_poll_ms[1],
        );
        let Some(citizen) = self.out.citizens.get_mut(c as usize) else {
            return;
        };
        citizen.first_key = citizen.jar.ticket.as_ref().map_or(OrderKey(0), |t| t.order);
        citizen.isolate = isolate;
        let phantom = citizen.phantom;
        self.after_request(isolate);
        if phantom {
            self.pending_citizens = self.pending_citizens.saturating_sub(1);
        } else {
            self.schedule(self.now.saturating_add(first_poll), Event::Poll(c));
        }
    }

    /// The page polls: to the isolate it was served by, or another of its location.
    fn poll(&mut self, c: u32) {
        let switch = self.rng.chance(self.sc.crowd.switch_per_mille);
        let Some(citizen) = self.out.citizens.get_mut(c as usize) else {
            return;
        };
        if self.now >= citizen.give_up_at {
            citizen.gave_up = true;
            self.pending_citizens = self.pending_citizens.saturating_sub(1);
            return;
        }
        let (location, current) = (citizen.location, citizen.isolate);
        let chosen = self.route(location);
        let isolate = if switch { chosen } else { current };
        self.request(isolate, Request::Poll(c));
    }

    /// `GET /queue/status`, as the worker answers it.
    fn serve_poll(&mut self, c: u32, isolate: u32) {
        let now_true = self.now;
        if self
            .out
            .citizens
            .get(c as usize)
            .is_none_or(|c| c.jar.ticket.is_none())
        {
            return;
        }
        self.out.polls += 1;
        let now = self.clock(isolate);
        let jitter = self.rng.u16();
        let Some(served) = self.visit(c, isolate, Route::Status, jitter) else {
            return;
        };
        let Answer::Status(status) = served.answer else {
            return;
        };
        let admission = served.admission.unwrap_or(Admission::NotYet);
        let lost = status.rejoined.is_some();
        let Some(ticket_order) = served.ticket.as_ref().map(|t| t.order) else {
            return;
        };
        let latency = self.rng.between(
            self.sc.crowd.poll_latency_ms[0],
            self.sc.crowd.poll_latency_ms[1],
        );
        let session_ms = self
            .rng
            .between(self.sc.crowd.session_ms[0], self.sc.crowd.session_ms[1]);
        let Some(node) = self.nodes.get(isolate as usize) else {
            return;
        };
        let zero_share = node.share_ppm == 0;
        let knows_room = node.book.knows_room();
        let location = node.location;
        let status = match admission {
            Admission::Through { .. } => None,
            _ => Some(status),
        };
        let _ = now;
        let Some(citizen) = self.out.citizens.get_mut(c as usize) else {
            return;
        };
        citizen.isolate = isolate;
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
        if zero_share && knows_room && !matches!(admission, Admission::Through { .. }) {
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
                match self.sc.origin.as_ref() {
                    // The page goes to the origin as soon as the answer reaches it; the last
                    // of its requests ends the session (`origin_request`).
                    Some(model) if first => self.schedule(
                        now_true.saturating_add(latency / 2),
                        Event::OriginRequest(c, model.requests_per_citizen),
                    ),
                    Some(_) => {}
                    None if ends => {
                        self.schedule(now_true.saturating_add(session_ms), Event::EndSession(c))
                    }
                    None => {}
                }
            }
            (_, Some(status)) => {
                if !knows_room {
                    self.out.cold_answers += 1;
                } else if status.stale {
                    let second = now_true.saturating_sub(self.sc.midnight_ms) / 1000;
                    if let (Ok(i), Some(v)) = (
                        usize::try_from(second),
                        self.out.stale_per_s.get_mut(location as usize),
                    ) {
                        bump(v, i);
                    }
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
                // As the page: at the very front, early by the round trip it measured last;
                // never sooner than its floor. A cycle's latency (the answer's way back and
                // the next poll's way out) is one round trip, and the page knows the last one.
                let wait = page_wait_ms(&status, citizen.round_trip_ms);
                citizen.round_trip_ms = latency;
                next = Some(wait.saturating_add(latency));
            }
            (_, None) => {}
        }
        self.after_request(isolate);
        if let Some(wait) = next {
            self.schedule(now_true.saturating_add(wait), Event::Poll(c));
        }
    }

    /// What the Worker sends the origin for citizen `c`'s pass (`None` without one), the
    /// isolate that serves them, and whether they book (their session ends at the origin).
    fn sent_by(&self, c: u32) -> Option<(u32, Sent, bool)> {
        let citizen = self.out.citizens.get(c as usize)?;
        let pass = citizen.jar.pass.as_ref()?;
        let sent = Sent {
            ticket_id: pass.ticket_id,
            test: false,
            ticket: citizen.jar.ticket.clone(),
        };
        Some((citizen.isolate, sent, citizen.ends_session))
    }

    /// The origin answered `Gate-Session: end` for this citizen's request (a pass holder's
    /// request: it never waits for a sync), as the Worker records it (`visit::forwarded`).
    fn end_session(&mut self, c: u32) {
        let Some((isolate, sent, _)) = self.sent_by(c) else {
            return;
        };
        self.record_forward(c, isolate, &sent, OriginOutcome::Answered(200), 50, true, 0);
    }

    /// The citizen `c`'s request through `isolate` came back from the origin as `outcome`
    /// after `latency_ms` (ending the session if `ends`, with a `Retry-After` of
    /// `retry_after_s` if not `0`): recorded as the Worker records it (`visit::forwarded`),
    /// its cookies kept, and a sync started if one is due.
    #[allow(clippy::too_many_arguments, reason = "one forward's outcome, flat")]
    fn record_forward(
        &mut self,
        c: u32,
        isolate: u32,
        sent: &Sent,
        outcome: OriginOutcome,
        latency_ms: u64,
        ends: bool,
        retry_after_s: u64,
    ) {
        let now = self.clock(isolate);
        let Some(node) = self.nodes.get_mut(isolate as usize) else {
            return;
        };
        let cookies = visit::forwarded(&mut node.book, sent, outcome, latency_ms, ends, now);
        if retry_after_s > 0 {
            node.book.note_retry_after(retry_after_s);
        }
        if let Some(citizen) = self.out.citizens.get_mut(c as usize) {
            keep(&mut citizen.jar, &cookies);
        }
        self.after_request(isolate);
    }

    /// A let-through citizen's request reaches the origin (`OriginModel`): served within its
    /// capacity (slower as the load nears it), refused with `503` beyond it, or given up on by
    /// the gate after its timeout; the citizen's isolate records it as the Worker does
    /// (`visit::forwarded`), and the last one ends the session if the citizen books.
    fn origin_request(&mut self, c: u32, left: u32) {
        let Some(model) = self.sc.origin.as_ref() else {
            return;
        };
        let Some((isolate, sent, books)) = self.sent_by(c) else {
            return;
        };
        let ends = books && left <= 1;
        let since_midnight = i64::try_from(self.now).unwrap_or(i64::MAX)
            - i64::try_from(self.sc.midnight_ms).unwrap_or(0);
        let capacity = u64::from(model.capacity_at(since_midnight.div_euclid(1000)));
        let now_true = self.now;
        let served = &mut self.out.origin_served;
        while served
            .front()
            .is_some_and(|t| now_true.saturating_sub(*t) >= 1_000)
        {
            served.pop_front();
        }
        let busy = u64::try_from(served.len()).unwrap_or(u64::MAX);
        let (outcome, latency) = if busy >= capacity {
            (OriginOutcome::Answered(503), model.base_latency_ms)
        } else {
            served.push_back(now_true);
            let latency = model.base_latency_ms.saturating_mul(capacity) / (capacity - busy);
            if latency >= model.timeout_ms {
                (OriginOutcome::TimedOut, model.timeout_ms)
            } else {
                (OriginOutcome::Answered(200), latency)
            }
        };
        if let Ok(second) = usize::try_from(since_midnight.div_euclid(1000)) {
            if self.out.origin_per_s.len() <= second {
                self.out.origin_per_s.resize(second + 1, Default::default());
            }
            if let Some(counts) = self.out.origin_per_s.get_mut(second) {
                counts.record(latency, outcome);
            }
        }
        let retry_after_s = if outcome == OriginOutcome::Answered(503) {
            model.retry_after_s
        } else {
            0
        };
        let (think_ms, booked) = (model.think_ms, outcome == OriginOutcome::Answered(200));
        self.record_forward(
            c,
            isolate,
            &sent,
            outcome,
            latency,
            ends && booked,
            retry_after_s,
        );
        if left > 1 {
            let think = self.rng.between(think_ms[0], think_ms[1]);
            self.schedule(
                now_true.saturating_add(latency).saturating_add(think),
                Event::OriginRequest(c, left - 1),
            );
        }
    }

    /// After any request: a sync with the location's aggregator, if one is due, goes out in
    /// the background.
    fn after_request(&mut self, isolate: u32) {
        let now = self.clock(isolate);
        if let Some(report) = self
            .nodes
            .get_mut(isolate as usize)
            .and_then(|n| n.book.begin_sync(now))
        {
            self.send_to_aggregator(isolate, report);
        }
    }

    /// A one-way trip over `net`: its delay, or `None` if the message is lost.
    fn trip(&mut self, net: &Network) -> Option<u64> {
        if self.rng.chance(net.loss_per_mille) {
            return None;
        }
        Some(self.rng.between(net.delay_ms[0], net.delay_ms[1]))
    }

    /// When an answer leaving now with `answer` reaches a caller that gives up at
    /// `timeout_at`, and what it gets: an answer lost or later than the timeout is a failure
    /// at the timeout; a refusal comes back as a failure as soon as it arrives.
    fn answer_back<T>(
        &mut self,
        net: &Network,
        timeout_at: u64,
        answer: Option<T>,
    ) -> (u64, Option<T>) {
        match (self.trip(net), answer) {
            (Some(delay), Some(a)) if self.now.saturating_add(delay) <= timeout_at => {
                (self.now.saturating_add(delay), Some(a))
            }
            (Some(delay), None) => (self.now.saturating_add(delay).min(timeout_at), None),
            _ => (timeout_at.max(self.now), None),
        }
    }

    fn send_to_aggregator(&mut self, isolate: u32, report: SyncReport) {
        self.out.syncs_sent += 1;
        let net = self.sc.location_network.clone();
        match self.trip(&net) {
            Some(delay) => {
                let sent_at = self.now;
                self.schedule(
                    self.now.saturating_add(delay),
                    Event::ToAggregator {
                        isolate,
                        sent_at,
                        report: Box::new(report),
                    },
                );
            }
            None => self.schedule(
                self.now.saturating_add(self.sc.timing.sync_timeout_ms),
                Event::FromAggregator {
                    isolate,
                    seq: report.seq,
                    answer: None,
                },
            ),
        }
    }

    /// An isolate's batch reaches its location's aggregator (or finds it out of reach).
    fn aggregator_receives(&mut self, isolate: u32, sent_at: u64, report: SyncReport) {
        let location = self.nodes.get(isolate as usize).map_or(0, |n| n.location);
        if self.aggregator_down(location, self.now) {
            self.reply(isolate, report.seq, sent_at, None);
            return;
        }
        if let (Some(i), Some(v)) = (
            self.run_second(self.now),
            self.out.aggregator_per_s.get_mut(location as usize),
        ) {
            bump(v, i);
        }
        let now = self.agg_clock(location);
        let Some(loc) = self.locations.get_mut(location as usize) else {
            return;
        };
        let next = loc.agg.on_sync(&report, now);
        if !next.applied {
            self.out.duplicate_isolate_syncs += 1;
        }
        if next.room_first {
            // A new aggregator, or one idle for a while, hears from the room before answering;
            // while that sync is out, other isolates get what it has (a refusal if nothing).
            if let Some(up) = next.upstream {
                loc.parked.push(ParkedSync {
                    isolate,
                    seq: report.seq,
                    id: report.isolate,
                    sent_at,
                    notices_at: report.notices_at,
                    lease_from: report.sent_at,
                });
                self.send_to_room(location, up.batch);
            } else {
                let answer =
                    loc.agg
                        .answer(&report.isolate, report.notices_at, report.sent_at, now);
                self.reply(isolate, report.seq, sent_at, answer);
            }
            return;
        }
        let answer = loc
            .agg
            .answer(&report.isolate, report.notices_at, report.sent_at, now);
        if let Some(up) = next.upstream {
            self.send_to_room(location, up.batch);
        }
        self.reply(isolate, report.seq, sent_at, answer);
    }

    /// The aggregator's answer (`None`: a refusal) sets off back to the isolate.
    fn reply(&mut self, isolate: u32, seq: u64, sent_at: u64, answer: Option<RoomSnapshot>) {
        let timeout_at = sent_at.saturating_add(self.sc.timing.sync_timeout_ms);
        let net = self.sc.location_network.clone();
        let (at, answer) = self.answer_back(&net, timeout_at, answer.map(Box::new));
        self.schedule(
            at,
            Event::FromAggregator {
                isolate,
                seq,
                answer,
            },
        );
    }

    /// The aggregator's answer reaches the isolate; requests waiting for its first sync go on.
    fn isolate_hears(&mut self, isolate: u32, seq: u64, answer: Option<RoomSnapshot>) {
        let now = self.clock(isolate);
        if answer.is_none() {
            self.out.syncs_failed += 1;
        }
        let share = answer.as_ref().map(|a| a.share_ppm);
        let second = self.second_after_midnight();
        let Some(node) = self.nodes.get_mut(isolate as usize) else {
            return;
        };
        node.book.finish_sync(seq, answer, now);
        if let Some(share) = share {
            node.share_ppm = share;
            // Shares in force only grow when an answer arrives (a lease running out only takes
            // one away), so the worst sum is seen at some answer: measured at every one, each
            // isolate's share as its own clock has it in force now.
            self.share_sum = self.isolate_shares_in_force();
            if let Some(i) = second {
                raise(&mut self.out.share_sum_per_s, i, self.share_sum);
            }
            if self.share_sum > self.out.worst_share_sum_ppm {
                self.out.worst_share_sum_ppm = self.share_sum;
                self.out.worst_share_sum_at = self.now;
            }
        }
        let Some(node) = self.nodes.get_mut(isolate as usize) else {
            return;
        };
        let parked = std::mem::take(&mut node.parked);
        for request in parked {
            self.serve(isolate, request);
        }
    }

    /// The shares in force at every isolate's limiter now, by each one's clock, added up.
    fn isolate_shares_in_force(&self) -> u64 {
        (0..self.nodes.len())
            .filter_map(|i| {
                let now = self.clock(u32::try_from(i).ok()?);
                Some(u64::from(self.nodes.get(i)?.book.share_in_force_ppm(now)))
            })
            .sum()
    }

    /// The shares the aggregators share out now, by each one's clock, added up.
    fn location_shares_in_force(&self) -> u64 {
        (0..self.locations.len())
            .filter_map(|l| {
                let now = self.agg_clock(u32::try_from(l).ok()?);
                Some(u64::from(self.locations.get(l)?.agg.whole_ppm(now)))
            })
            .sum()
    }

    /// The true second after midnight now, if it is after midnight.
    fn second_after_midnight(&self) -> Option<usize> {
        self.now
            .checked_sub(self.sc.midnight_ms)
            .and_then(|ms| usize::try_from(ms / 1000).ok())
    }

    fn send_to_room(&mut self, location: u32, report: SyncReport) {
        self.out.room_syncs_sent += 1;
        let second = self.now / 1000;
        if let Some(loc) = self.locations.get_mut(location as usize) {
            if loc.sent_second != second {
                loc.sent_second = second;
                loc.sent = 0;
            }
            loc.sent += 1;
            self.out.most_room_syncs_one_location_s =
                self.out.most_room_syncs_one_location_s.max(loc.sent);
        }
        let net = self.sc.network.clone();
        match self.trip(&net) {
            Some(delay) => {
                let sent_at = self.now;
                self.schedule(
                    self.now.saturating_add(delay),
                    Event::ToRoom {
                        location,
                        sent_at,
                        report: Box::new(report),
                    },
                );
            }
            None => self.schedule(
                self.now.saturating_add(self.sc.timing.sync_timeout_ms),
                Event::FromRoom {
                    location,
                    seq: report.seq,
                    answer: None,
                },
            ),
        }
    }

    /// A location's batch reaches the coordinator (or finds it out of reach).
    fn room_receives(&mut self, location: u32, sent_at: u64, report: &SyncReport) {
        let timeout_at = sent_at.saturating_add(self.sc.timing.sync_timeout_ms);
        let answer = if self.coordinator_down(self.now) {
            None
        } else {
            if let Some(i) = self.run_second(self.now) {
                bump(&mut self.out.coordinator_per_s, i);
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
            for entry in self.room.take_audit() {
                let (from, to) = (entry.from.as_u64(), entry.to.as_u64());
                let number = |n: Option<u64>| n.and_then(|n| u32::try_from(n).ok()).unwrap_or(0);
                self.out.rate_changes.push((
                    self.now,
                    number(from),
                    number(to),
                    entry.why.unwrap_or_default(),
                ));
            }
            self.out.lowest_allowance = self.out.lowest_allowance.min(self.room.release.allowance);
            Some(Box::new(synced.snapshot))
        };
        let net = self.sc.network.clone();
        let (at, answer) = self.answer_back(&net, timeout_at, answer);
        self.schedule(
            at,
            Event::FromRoom {
                location,
                seq: report.seq,
                answer,
            },
        );
    }

    /// The coordinator's answer reaches the aggregator; isolates held for its first answer
    /// are answered now (refused if it failed).
    fn aggregator_hears(&mut self, location: u32, seq: u64, answer: Option<RoomSnapshot>) {
        self.integrate();
        let now = self.agg_clock(location);
        if answer.is_none() {
            self.out.room_syncs_failed += 1;
        }
        let share = answer.as_ref().map(|a| a.share_ppm);
        let second = self.second_after_midnight();
        let Some(loc) = self.locations.get_mut(location as usize) else {
            return;
        };
        loc.agg.finish_sync(seq, answer, now);
        if let Some(share) = share {
            loc.share_ppm = share;
            self.location_share_sum = self.location_shares_in_force();
            self.out.worst_location_share_sum_ppm = self
                .out
                .worst_location_share_sum_ppm
                .max(self.location_share_sum);
            if let Some(i) = second {
                raise(
                    &mut self.out.location_share_sum_per_s,
                    i,
                    self.location_share_sum,
                );
            }
        }
        let Some(loc) = self.locations.get_mut(location as usize) else {
            return;
        };
        let parked = std::mem::take(&mut loc.parked);
        let answers: Vec<_> = parked
            .into_iter()
            .map(|p| {
                let answer = loc.agg.answer(&p.id, p.notices_at, p.lease_from, now);
                (p.isolate, p.seq, p.sent_at, answer)
            })
            .collect();
        for (isolate, seq, sent_at, answer) in answers {
            self.reply(isolate, seq, sent_at, answer);
        }
    }
}

/// The cookies a browser keeps from an answer, as the tokens they carry.
fn keep(jar: &mut Tokens, cookies: &[Cookie]) {
    for cookie in cookies {
        match cookie {
            Cookie::Ticket(t) => jar.ticket = Some(t.clone()),
            Cookie::Pass { pass, .. } => jar.pass = Some(pass.clone()),
            Cookie::ClearTicket => jar.ticket = None,
            Cookie::ClearPass => jar.pass = None,
        }
    }
}
