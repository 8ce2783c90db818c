//! The whole admission model, with one isolate: the core's own `Room` (the coordinator's
//! logic) and `Isolate` (an edge isolate's book), syncing once a second, and citizens whose
//! every request is decided by `visit::serve` exactly as the Worker decides it: they take a
//! ticket, come back with it, poll at their own pace, wait their turn, leave, or have their
//! sessions ended by the origin, under random config histories. Time is simulated; nothing
//! sleeps.
//!
//! A citizen is *let through* when it polls, the isolate's copy of the cursor has passed its
//! key, the room is open as the isolate knows it, and the limiter gives it its turn. What the
//! properties assert, precisely:
//!
//! - **(a) the rate**: in every window `[t, t + 1000 ms)`, let-throughs ≤ `⌊r/60⌋ + 1 + b`,
//!   with `r` the highest rate and `b` the highest burst in force at the isolate at any time in
//!   the window. (A change reaches the isolate at its next sync, so at the coordinator the same
//!   bound holds with the window stretched one sync interval back.)
//! - **(b) frozen rooms**: nobody is let through at `t` unless the room as the isolate knows it
//!   is open at `t`, and that config was in force at the coordinator at some time in
//!   `[t − SYNC_MS, t]` — a pause, a closing or a scheduled opening reaches the edge within one
//!   sync interval, and nobody goes through under it after that. The limiter alone keeps the
//!   door shut (eligible citizens always ask it). And nothing saved survives: after the room
//!   reopens at the isolate at `r`, nobody goes through before `r + ⌈60,000 / rate⌉` ms, the
//!   time one citizen takes to accrue from nothing.
//! - **(c) order**, with a steady config and patient citizens: everyone is let through; the
//!   cursor passes keys strictly in order; and a citizen from a later second (B) goes through
//!   before a waiting citizen from an earlier second (A) only in these cases, which are the
//!   poll timing and nothing else: A had not yet asked while eligible when B went through (or
//!   asked in the same millisecond); or A goes through at its very next poll; or between B's
//!   let-through and that poll (in the order the polls were served, so possibly in B's own
//!   millisecond) someone from A's second or an earlier one asked while eligible (and so stood
//!   with or ahead of A; inside a second the order is a lottery by design).
//! - **(d) throughput**: with patient citizens and 20 % no-shows (gone before they are
//!   released), let-throughs over a long stretch are at least 90 % of the rate; and
//!   eligibility does not run away from what is let through: the citizens the cursor has
//!   passed who are still there, not yet through, never number more than twice the cursor's
//!   cap on pending citizens (`release::unclaimed_cap`).
//!
//! The regression tests replay the issue's two scenarios and assert the worst window.
//!
//! The limiter is also tested alone, under random reconfigurations and a clock that jumps
//! back and forth: every window of its clock within `⌊r/60⌋ + 1 + b`; nothing through
//! after a stricter configuration before one citizen has accrued; at most `1 + r/60` in the
//! second after a looser one (no saved burst); turns answered sensibly.

// The whole file is a test: clippy.toml lets tests unwrap, panic and index, but clippy cannot
// tell an integration test's helper functions from library code.
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use edgegate_core::isolate::{Admission, Isolate, Timing};
use edgegate_core::keys::ForTickets;
use edgegate_core::limiter::{Limiter, Turn, RETRY_MAX_MS, UNITS_PER_CITIZEN};
use edgegate_core::network::NetTag;
use edgegate_core::origin::Outcome as OriginOutcome;
use edgegate_core::release::unclaimed_cap;
use edgegate_core::room::Room;
use edgegate_core::visit::{self, Cookie, Route, Sent, Terms, Tokens};
use edgegate_core::{
    ConfigPatch, Cursor, KeyRing, OrderKey, RoomConfig, RoomTag, TicketKey, UnixMs,
};
use proptest::collection::vec;
use proptest::prelude::*;

mod common;
use common::Rng;

/// Cases per property: each case simulates minutes of a busy room, so few.
const CASES: u32 = 24;

/// The simulation's epoch, on a second boundary.
const T0: u64 = 1_700_000_000_000;
/// How often the isolate syncs with the coordinator.
const SYNC_MS: u64 = 1_000;
/// How far behind `now` the cursor stays: one interval, one sync timeout, a clock margin.
const SETTLE_MS: u64 = 5_000;
/// A citizen told to come back at `retry_at` comes back within this much after it (its timer
/// and a round trip).
const RETRY_JITTER_MS: u64 = 300;
/// How often a citizen polls while the room is paused, closed or not yet open, as the waiting
/// page does.
const FROZEN_POLL_MS: u64 = 30_000;

// ---------------------------------------------------------------------------------------------
// Scenarios

/// One citizen, as the scenario describes it.
#[derive(Clone, Debug)]
struct Citizen {
    /// Arrival, in milliseconds after `T0`.
    arrive_ms: u64,
    /// The uniform random place inside its second.
    sub: u32,
    /// How often it polls while waiting, in milliseconds (spread ±15 % per poll).
    poll_ms: u64,
    /// It stops polling this long after arriving, if ever.
    leave_after_ms: Option<u64>,
    /// It ends its session this long after being let through, if ever.
    session_ms: Option<u64>,
    /// For its own timing noise.
    seed: u64,
}

/// A bunch of arrivals: `count` citizens in second `second`, all within its first `spread_ms`.
#[derive(Clone, Copy, Debug)]
struct Bunch {
    second: u64,
    count: u64,
    spread_ms: u64,
}

/// How the crowd behaves, in shares per mille.
#[derive(Clone, Copy, Debug)]
struct Crowd {
    /// Gone soon after arriving (within `no_show_within_ms`): released, never claimed.
    no_show: u64,
    no_show_within_ms: u64,
    /// Gone at a random time in the run (maybe while waiting at the limiter).
    disconnect: u64,
    /// End their session at a random time after being let through.
    ends_session: u64,
    /// Waiting poll interval range, in milliseconds.
    poll_ms: (u64, u64),
}

const PATIENT: Crowd = Crowd {
    no_show: 0,
    no_show_within_ms: 0,
    disconnect: 0,
    ends_session: 0,
    poll_ms: (1_000, 10_000),
};

fn citizens(
    bunches: &[Bunch],
    stragglers: u64,
    over_ms: u64,
    crowd: Crowd,
    seed: u64,
) -> Vec<Citizen> {
    let mut rng = Rng(seed);
    let mut times = Vec::new();
    for b in bunches {
        for _ in 0..b.count {
            times.push(b.second * 1000 + rng.between(0, b.spread_ms));
        }
    }
    for _ in 0..stragglers {
        times.push(rng.between(0, over_ms));
    }
    times.sort_unstable();
    times
        .into_iter()
        .map(|arrive_ms| {
            let no_show = rng.chance(crowd.no_show);
            let disconnect = !no_show && rng.chance(crowd.disconnect);
            Citizen {
                arrive_ms,
                sub: u32::try_from(rng.next() >> 32).unwrap(),
                poll_ms: rng.between(crowd.poll_ms.0, crowd.poll_ms.1),
                leave_after_ms: if no_show {
                    Some(rng.between(0, crowd.no_show_within_ms))
                } else if disconnect {
                    Some(rng.between(0, 120_000))
                } else {
                    None
                },
                session_ms: rng
                    .chance(crowd.ends_session)
                    .then(|| rng.between(1_000, 60_000)),
                seed: rng.next(),
            }
        })
        .collect()
}

/// A run: the room's first config, the operator's changes (milliseconds after `T0`), the
/// citizens, and how long to simulate.
#[derive(Clone, Debug)]
struct Scenario {
    config: RoomConfig,
    patches: Vec<(u64, ConfigPatch)>,
    citizens: Vec<Citizen>,
    duration_ms: u64,
    /// How often citizens poll while the room is frozen ([`FROZEN_POLL_MS`] as the page
    /// does; shorter to probe the moment a room reopens).
    frozen_poll_ms: u64,
}

// ---------------------------------------------------------------------------------------------
// The simulator: the core's own Room and Isolate, and the citizens' requests decided by
// `visit::serve`, exactly as the Worker decides them.

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Event {
    Sync,
    Patch(usize),
    Arrive(usize),
    Poll(usize),
    End(usize),
}

/// What happened, for the properties to judge.
#[derive(Debug, Default)]
struct Outcome {
    /// `(time, citizen)` of every let-through, in order.
    through: Vec<(u64, usize)>,
    /// For each let-through, the index in `isolate_configs` of the config it happened under.
    through_under: Vec<usize>,
    through_at: Vec<Option<u64>>,
    keys: Vec<OrderKey>,
    /// Every poll at which the citizen was eligible and the room open: `(time, citizen)`, in
    /// order (let through or refused).
    eligible_polls: Vec<(u64, usize)>,
    /// Each citizen's eligible poll times.
    polls_of: Vec<Vec<u64>>,
    /// `(from, config)` in force at the isolate / at the coordinator.
    isolate_configs: Vec<(u64, RoomConfig)>,
    coordinator_configs: Vec<(u64, RoomConfig)>,
    /// The cursors the isolate saw, in order.
    cursors: Vec<(u64, Cursor)>,
    /// At each sync: citizens the cursor has passed who are still there and not let through.
    eligible: Vec<(u64, usize)>,
}

static TICKET_KEYS: std::sync::LazyLock<KeyRing<ForTickets>> =
    std::sync::LazyLock::new(|| KeyRing::new(TicketKey::from_bytes(1, [0x3c; 32]), Vec::new()));

fn terms() -> Terms<'static> {
    Terms {
        room: RoomTag([1; 8]),
        ticket_ttl_ms: 6 * 3_600_000,
        ticket_key_id: 1,
        pass_key_id: 1,
        ticket_keys: &TICKET_KEYS,
    }
}

struct Sim<'a> {
    sc: &'a Scenario,
    now: u64,
    seq: u64,
    events: BinaryHeap<Reverse<(u64, u64, Event)>>,
    room: Room,
    book: Isolate,
    /// Each citizen's cookies, as the tokens they carry.
    jars: Vec<Tokens>,
    rngs: Vec<Rng>,
    out: Outcome,
}

impl Sim<'_> {
    fn at(&self) -> UnixMs {
        UnixMs(T0 + self.now)
    }

    fn schedule(&mut self, at: u64, event: Event) {
        if at <= self.sc.duration_ms {
            self.seq += 1;
            self.events.push(Reverse((at, self.seq, event)));
        }
    }

    /// The isolate's sync, answered by the room at once; then what the isolate now knows.
    fn sync(&mut self) {
        let now = self.at();
        if let Some(report) = self.book.begin_sync(now) {
            let answer = self.room.sync(&report, now).snapshot;
            self.book.finish_sync(report.seq, Some(answer), now);
        }
        let seen = self.book.config().cloned().unwrap_or_default();
        if self
            .out
            .isolate_configs
            .last()
            .is_none_or(|(_, c)| *c != seen)
        {
            self.out.isolate_configs.push((self.now, seen));
        }
        let cursor = self.book.cursor(now).unwrap_or_default();
        if self.out.cursors.last().is_none_or(|(_, c)| *c != cursor) {
            self.out.cursors.push((self.now, cursor));
        }
        let eligible = (0..self.sc.citizens.len())
            .filter(|&c| {
                let citizen = &self.sc.citizens[c];
                citizen.arrive_ms <= self.now
                    && self.out.through_at[c].is_none()
                    && cursor.admits(self.out.keys[c])
                    && citizen
                        .leave_after_ms
                        .is_none_or(|after| self.now < citizen.arrive_ms + after)
            })
            .count();
        self.out.eligible.push((self.now, eligible));
        self.schedule(self.now + SYNC_MS, Event::Sync);
    }

    fn patch(&mut self, i: usize) {
        let now = self.at();
        if let Ok(config) = self.room.configure(&self.sc.patches[i].1, now) {
            self.out
                .coordinator_configs
                .push((self.now, config.clone()));
        }
    }

    /// Citizen `c`'s request on `route`, with the cookies it holds; it keeps what is set.
    fn visit(&mut self, c: usize, route: Route) -> visit::Served {
        let now = self.at();
        let (id, sub) = (c as u64, self.sc.citizens[c].sub);
        let mut draw = || {
            let mut bytes = [0u8; 20];
            bytes[..8].copy_from_slice(&id.to_be_bytes());
            bytes[16..].copy_from_slice(&sub.to_be_bytes());
            Some(bytes)
        };
        let jar = self.jars[c].clone();
        // Every citizen a network of their own, inside its budget.
        let request = visit::Request {
            route,
            tokens: jar,
            network: NetTag((c as u64 + 1) << 1 | 1),
            work: None,
            now,
            jitter: 0,
        };
        let served = visit::serve(&mut self.book, request, &terms(), &mut draw);
        for cookie in &served.cookies {
            let jar = &mut self.jars[c];
            match cookie {
                Cookie::Ticket(t) => jar.ticket = Some(t.clone()),
                Cookie::Pass { pass, .. } => jar.pass = Some(pass.clone()),
                Cookie::ClearTicket => jar.ticket = None,
                Cookie::ClearPass => jar.pass = None,
            }
        }
        if let Some(t) = &self.jars[c].ticket {
            self.out.keys[c] = t.order;
        }
        served
    }

    /// The page's first request: a ticket, which costs the queue nothing until its first poll.
    fn arrive(&mut self, c: usize) {
        self.visit(c, Route::Door);
        let first = self.rngs[c].between(100, 2_000);
        self.schedule(self.now + first, Event::Poll(c));
    }

    fn poll(&mut self, c: usize) {
        let citizen = &self.sc.citizens[c];
        if self.out.through_at[c].is_some() {
            return;
        }
        if citizen
            .leave_after_ms
            .is_some_and(|after| self.now >= citizen.arrive_ms + after)
        {
            return;
        }
        let now = self.at();
        let admission = self.visit(c, Route::Status).admission;
        let citizen = &self.sc.citizens[c];
        match admission {
            Some(Admission::Through { .. }) => {
                self.out.eligible_polls.push((self.now, c));
                self.out.polls_of[c].push(self.now);
                self.out.through_at[c] = Some(self.now);
                self.out.through.push((self.now, c));
                self.out
                    .through_under
                    .push(self.out.isolate_configs.len() - 1);
                if let Some(session) = citizen.session_ms {
                    self.schedule(self.now + session, Event::End(c));
                }
            }
            Some(Admission::Throttled { retry_at }) => {
                // Eligible and refused: the limiter keeps its turn while it comes back.
                self.out.eligible_polls.push((self.now, c));
                self.out.polls_of[c].push(self.now);
                let at = retry_at.0 - T0 + self.rngs[c].between(0, RETRY_JITTER_MS);
                self.schedule(at.max(self.now + 1), Event::Poll(c));
            }
            Some(Admission::NotYet) | None => {
                let frozen = self.book.config().is_some_and(|config| config.frozen(now));
                let base = if frozen {
                    self.sc.frozen_poll_ms
                } else {
                    citizen.poll_ms
                };
                let wait = self.rngs[c].jittered(base);
                self.schedule(self.now + wait, Event::Poll(c));
            }
        }
    }

    /// The origin ends the citizen's session, as the Worker records it.
    fn end(&mut self, c: usize) {
        let jar = &self.jars[c];
        let Some(pass) = &jar.pass else { return };
        let sent = Sent {
            ticket_id: pass.ticket_id,
            test: false,
            ticket: jar.ticket.clone(),
        };
        let now = self.at();
        visit::forwarded(
            &mut self.book,
            &sent,
            OriginOutcome::Answered(200),
            0,
            true,
            now,
        );
    }
}

fn simulate(sc: &Scenario) -> Outcome {
    let n = sc.citizens.len();
    let start = UnixMs(T0);
    let mut room = Room::fresh(start, SETTLE_MS);
    room.config = sc.config.clone();
    let timing = Timing {
        sync_interval_ms: SYNC_MS,
        sync_timeout_ms: 3_000,
        stale_after_ms: 15_000,
        fail_static_per_mille: 100,
    };
    let mut sim = Sim {
        sc,
        now: 0,
        seq: 0,
        events: BinaryHeap::new(),
        room,
        book: Isolate::new("isolate".into(), timing),
        jars: vec![Tokens::default(); n],
        rngs: sc.citizens.iter().map(|c| Rng(c.seed)).collect(),
        out: Outcome {
            through_at: vec![None; n],
            keys: vec![OrderKey(0); n],
            polls_of: vec![Vec::new(); n],
            coordinator_configs: vec![(0, sc.config.clone())],
            ..Outcome::default()
        },
    };
    // The isolate has met its room before the first citizen comes.
    sim.sync();
    for (i, (at, _)) in sc.patches.iter().enumerate() {
        sim.schedule(*at, Event::Patch(i));
    }
    for (c, citizen) in sc.citizens.iter().enumerate() {
        sim.schedule(citizen.arrive_ms, Event::Arrive(c));
    }
    while let Some(Reverse((at, _, event))) = sim.events.pop() {
        sim.now = at;
        match event {
            Event::Sync => sim.sync(),
            Event::Patch(i) => sim.patch(i),
            Event::Arrive(c) => sim.arrive(c),
            Event::Poll(c) => sim.poll(c),
            Event::End(c) => sim.end(c),
        }
    }
    sim.out
}

// ---------------------------------------------------------------------------------------------
// Judging an outcome

/// The bound of (a) for one config, in citizens × 600 (as it was when the bound had a tenth):
/// `⌊r/60⌋ + 1 + burst`.
fn bound_x600(config: &RoomConfig) -> u64 {
    600 * (u64::from(config.new_users_per_minute) / 60 + 1 + u64::from(config.effective_burst()))
}

/// The configs of `history` in force at any time in `[from, to)`. A config counts as in force
/// through the millisecond it is replaced in, since events of that millisecond may come before
/// the change.
fn in_force(history: &[(u64, RoomConfig)], from: u64, to: u64) -> Vec<&RoomConfig> {
    history
        .iter()
        .enumerate()
        .filter(|(i, (start, _))| {
            let end = history.get(i + 1).map_or(u64::MAX, |(next, _)| *next);
            *start < to && end >= from
        })
        .map(|(_, (_, config))| config)
        .collect()
}

/// The most let-throughs in any 1-second window, and the worst window measured against (a):
/// `(most, start of the window where let-throughs exceed the bound most, excess × 600)`.
fn windows(out: &Outcome, history: &[(u64, RoomConfig)]) -> (u64, u64, i64) {
    let times: Vec<u64> = out.through.iter().map(|(t, _)| *t).collect();
    let mut starts: Vec<u64> = Vec::new();
    for &t in &times {
        starts.extend([t, t.saturating_sub(999)]);
    }
    for (t, _) in history {
        starts.extend([*t, t.saturating_sub(999), t + 1]);
    }
    let (mut most, mut worst_at, mut worst) = (0, 0, i64::MIN);
    for t in starts {
        let count = u64::try_from(
            times.partition_point(|x| *x < t + 1000) - times.partition_point(|x| *x < t),
        )
        .unwrap();
        let bound = in_force(history, t, t + 1000)
            .into_iter()
            .map(bound_x600)
            .max()
            .unwrap();
        let excess = i64::try_from(count * 600).unwrap() - i64::try_from(bound).unwrap();
        most = most.max(count);
        if excess > worst {
            (worst_at, worst) = (t, excess);
        }
    }
    (most, worst_at, worst)
}

/// (a): no window exceeds its bound, with the configs in force at the isolate; and at the
/// coordinator with the window stretched back one sync interval.
fn assert_the_rate(out: &Outcome) -> Result<(), TestCaseError> {
    let (_, at, excess) = windows(out, &out.isolate_configs);
    prop_assert!(
        excess <= 0,
        "window at {} ms: {} over the bound (× 600)",
        at,
        excess
    );
    let times: Vec<u64> = out.through.iter().map(|(t, _)| *t).collect();
    for &t in &times {
        for start in [t, t.saturating_sub(999)] {
            let count = times.partition_point(|x| *x < start + 1000)
                - times.partition_point(|x| *x < start);
            let bound = in_force(
                &out.coordinator_configs,
                start.saturating_sub(SYNC_MS),
                start + 1000,
            )
            .into_iter()
            .map(bound_x600)
            .max()
            .unwrap();
            prop_assert!(
                u64::try_from(count).unwrap() * 600 <= bound,
                "{} in the window at {} ms, coordinator bound {}/600",
                count,
                start,
                bound
            );
        }
    }
    Ok(())
}

/// (b): nobody goes through while the room as the isolate knows it is frozen, nor under a
/// config the coordinator had left more than one sync interval before.
fn assert_frozen_rooms_let_nobody_through(out: &Outcome) -> Result<(), TestCaseError> {
    for (&(t, c), &under) in out.through.iter().zip(&out.through_under) {
        let now = UnixMs(T0 + t);
        let seen = &out.isolate_configs[under].1;
        prop_assert!(
            !seen.frozen(now),
            "citizen {} let through at {} ms while the isolate knew the room frozen",
            c,
            t
        );
        let current = in_force(&out.coordinator_configs, t.saturating_sub(SYNC_MS), t + 1);
        prop_assert!(
            current.iter().any(|config| !config.frozen(now)),
            "citizen {} let through at {} ms under a config the coordinator had frozen",
            c,
            t
        );
    }
    Ok(())
}

/// (b), continued: nothing saved survives a freeze. Whenever the room reopens at the isolate
/// (an open config replaces a frozen one, or the opening time passes) at `r`, nobody is let
/// through before one citizen's worth has accrued at the new rate, `r + ⌈60,000 / rate⌉` ms,
/// provided the config stays as it is that long.
fn assert_nothing_saved_survives_a_freeze(out: &Outcome) -> Result<(), TestCaseError> {
    let configs = &out.isolate_configs;
    for (i, (from, config)) in configs.iter().enumerate() {
        let until = configs.get(i + 1).map_or(u64::MAX, |(next, _)| *next);
        let rate = u64::from(config.new_users_per_minute);
        // When this config, while in force, turns from frozen to open.
        let reopened = if i > 0 && configs[i - 1].1.frozen(UnixMs(T0 + from)) {
            Some(*from).filter(|t| !config.frozen(UnixMs(T0 + t)))
        } else {
            None
        }
        .or_else(|| {
            let opens = config.opens_at?.0.checked_sub(T0)?;
            (opens > *from && opens < until && !config.paused && !config.closed).then_some(opens)
        });
        let Some(r) = reopened.filter(|_| rate > 0) else {
            continue;
        };
        let first_token = r + 60_000u64.div_ceil(rate);
        if first_token >= until {
            continue;
        }
        let early = out
            .through
            .iter()
            .find(|(t, _)| (r..first_token).contains(t));
        prop_assert!(
            early.is_none(),
            "{:?} let through before one token accrued after the reopening at {} ms",
            early,
            r
        );
    }
    Ok(())
}

/// (c), for patient citizens under a steady config. See the module documentation.
fn assert_the_order(sc: &Scenario, out: &Outcome) -> Result<(), TestCaseError> {
    // Everyone is let through.
    for (c, at) in out.through_at.iter().enumerate() {
        prop_assert!(
            at.is_some(),
            "citizen {} ({:?}) never let through",
            c,
            sc.citizens[c]
        );
    }
    // The cursor passes keys in order: whenever a citizen is let through, everyone with an
    // earlier key was already eligible (the cursor only grows, and admits a prefix).
    prop_assert!(out.cursors.windows(2).all(|w| w[0].1 <= w[1].1));
    // Let-throughs from a later second ahead of a waiting citizen of an earlier second.
    let second = |c: usize| out.keys[c].bucket();
    for (a, through_a) in out.through_at.iter().enumerate() {
        let through_a = through_a.unwrap();
        let polls = &out.polls_of[a];
        let Some(&asked) = polls.first() else {
            continue;
        };
        // The later-second let-throughs after A first asked (in a later millisecond) and
        // before A went through.
        for &(t_b, b) in out
            .through
            .iter()
            .filter(|(t, b)| *t > asked && *t < through_a && second(*b) > second(a))
        {
            // A's first poll after B went through.
            let next = polls.iter().copied().find(|p| *p > t_b).unwrap();
            if next == through_a {
                continue;
            }
            // Someone from A's second or before asked in between: after B's let-through in
            // the order the polls were served, which may be in B's own millisecond.
            let after_b = out
                .eligible_polls
                .iter()
                .rposition(|&(t, d)| t == t_b && d == b)
                .map_or(0, |i| i + 1);
            let someone_ahead = out.eligible_polls[after_b..]
                .iter()
                .take_while(|(t, _)| *t <= next)
                .filter(|(_, d)| *d != a)
                .any(|(_, d)| second(*d) <= second(a));
            prop_assert!(
                someone_ahead,
                "citizen {} (second {}) let through at {} ms while citizen {} (second {}), \
                 in line since {} ms, was refused at {} ms with nobody ahead of it asking",
                b,
                second(b),
                t_b,
                a,
                second(a),
                asked,
                next
            );
        }
    }
    Ok(())
}

/// Let-throughs in `[from_ms, to_ms)`.
fn let_through_between(out: &Outcome, from_ms: u64, to_ms: u64) -> u64 {
    u64::try_from(
        out.through
            .iter()
            .filter(|(t, _)| (from_ms..to_ms).contains(t))
            .count(),
    )
    .unwrap()
}

// ---------------------------------------------------------------------------------------------
// Strategies

fn bunches(seconds: u64, most: u64) -> impl Strategy<Value = Vec<Bunch>> {
    vec(
        (
            0..seconds,
            1..=most,
            prop_oneof![Just(0u64), 0u64..=5, 0u64..=999],
        )
            .prop_map(|(second, count, spread_ms)| Bunch {
                second,
                count,
                spread_ms,
            }),
        1..8,
    )
}

/// An operator's change.
fn patch() -> impl Strategy<Value = ConfigPatch> {
    prop_oneof![
        3 => prop_oneof![Just(0u32), 1u32..=120, 121u32..=12_000]
            .prop_map(|rate| ConfigPatch { new_users_per_minute: Some(rate), ..ConfigPatch::default() }),
        2 => (0u32..=200).prop_map(|burst| ConfigPatch { burst: Some(burst), ..ConfigPatch::default() }),
        2 => any::<bool>().prop_map(|paused| ConfigPatch { paused: Some(paused), ..ConfigPatch::default() }),
        1 => any::<bool>().prop_map(|closed| ConfigPatch { closed: Some(closed), ..ConfigPatch::default() }),
        1 => prop::option::of(0u64..60_000).prop_map(|opens_in| ConfigPatch {
            // Relative to the patch's own time; made absolute in `history`.
            opens_at: Some(opens_in.map(UnixMs)),
            ..ConfigPatch::default()
        }),
        1 => (1u32..=2_000).prop_map(|max| ConfigPatch { max_active: Some(max), ..ConfigPatch::default() }),
        1 => (30u32..=300).prop_map(|s| ConfigPatch { session_duration_s: Some(s), ..ConfigPatch::default() }),
    ]
}

/// Changes at random times in `0..duration_ms`, with openings made absolute.
fn history(duration_ms: u64) -> impl Strategy<Value = Vec<(u64, ConfigPatch)>> {
    vec((0..duration_ms, patch()), 0..14).prop_map(|mut patches| {
        patches.sort_by_key(|(at, _)| *at);
        for (at, patch) in &mut patches {
            if let Some(Some(opens_in)) = patch.opens_at {
                patch.opens_at = Some(Some(UnixMs(T0 + *at + opens_in.0)));
            }
        }
        patches
    })
}

fn first_config() -> impl Strategy<Value = RoomConfig> {
    (
        prop_oneof![1u32..=120, 121u32..=6_000],
        0u32..=50,
        prop_oneof![Just(10_000_000u32), 1u32..=1_000],
    )
        .prop_map(|(rate, burst, max_active)| RoomConfig {
            new_users_per_minute: rate,
            burst: burst.min(rate / 60),
            max_active,
            ..RoomConfig::default()
        })
}

// ---------------------------------------------------------------------------------------------
// Properties

proptest! {
    #![proptest_config(common::proptest_config("tests/proptest-regressions/admission.txt", CASES))]

    /// (a) and (b) under random config histories and a crowd that does everything: bunches
    /// at the top of seconds, stragglers, no-shows, disconnects, sessions ended.
    #[test]
    fn the_rate_holds_through_any_history(
        config in first_config(),
        patches in history(90_000),
        bunches in bunches(60, 300),
        stragglers in 0u64..300,
        seed in any::<u64>(),
    ) {
        let crowd = Crowd {
            no_show: 150,
            no_show_within_ms: 20_000,
            disconnect: 100,
            ends_session: 300,
            poll_ms: (1_000, 10_000),
        };
        let sc = Scenario {
            config,
            patches,
            citizens: citizens(&bunches, stragglers, 60_000, crowd, seed),
            duration_ms: 90_000,
                // Often, so that someone asks in the first moments after each reopening.
            frozen_poll_ms: 500,
        };
        let out = simulate(&sc);
        assert_the_rate(&out)?;
        assert_frozen_rooms_let_nobody_through(&out)?;
        assert_nothing_saved_survives_a_freeze(&out)?;
    }

    /// (c): with a steady config and patient citizens everyone goes through, in order but for
    /// the poll timing.
    #[test]
    fn patient_citizens_all_go_through_in_order(
        rate in prop_oneof![Just(60u32), Just(600u32), 30u32..=3_000],
        bunches in bunches(20, 120),
        stragglers in 0u64..100,
        seed in any::<u64>(),
    ) {
        let config = RoomConfig {
            new_users_per_minute: rate,
            max_active: 10_000_000,
            ..RoomConfig::default()
        };
        let people = citizens(&bunches, stragglers, 20_000, PATIENT, seed);
        let n = u64::try_from(people.len()).unwrap();
        // Long enough for everyone at the rate, plus settle, polls and slack.
        let duration_ms = 20_000 + n * 60_000 / u64::from(rate) * 12 / 10 + 40_000;
        let sc = Scenario {
            config,
            patches: Vec::new(),
            citizens: people,
            duration_ms,
                frozen_poll_ms: FROZEN_POLL_MS,
        };
        let out = simulate(&sc);
        assert_the_rate(&out)?;
        assert_the_order(&sc, &out)?;
    }

    /// (d): no-shows do not stall the queue. A crowd of three minutes of the rate arrives in
    /// the first ten seconds; a fifth are gone within five seconds, long before their turn.
    /// Over the two minutes after the first twenty seconds, at least 90 % of the rate goes
    /// through.
    #[test]
    fn no_shows_do_not_stall_the_queue(
        rate in prop_oneof![Just(600u32), 120u32..=1_200],
        seed in any::<u64>(),
    ) {
        let config = RoomConfig {
            new_users_per_minute: rate,
            max_active: 10_000_000,
            ..RoomConfig::default()
        };
        let crowd = Crowd {
            no_show: 200,
            no_show_within_ms: 5_000,
            poll_ms: (1_000, 10_000),
            ..PATIENT
        };
        let total = u64::from(rate) * 3;
        let bunches: Vec<Bunch> = (0..10)
            .map(|second| Bunch { second, count: total / 10, spread_ms: 20 })
            .collect();
        let sc = Scenario {
            config,
            patches: Vec::new(),
            citizens: citizens(&bunches, 0, 10_000, crowd, seed),
            duration_ms: 160_000,
                frozen_poll_ms: FROZEN_POLL_MS,
        };
        let out = simulate(&sc);
        assert_the_rate(&out)?;
        let got = let_through_between(&out, 20_000, 140_000);
        let due = u64::from(rate) * 2;
        prop_assert!(got * 10 >= due * 9, "{} let through where the rate allows {}", got, due);
        let cap = usize::try_from(unclaimed_cap(&sc.config)).unwrap();
        let (at, most) = out.eligible.iter().copied().max_by_key(|(_, n)| *n).unwrap();
        prop_assert!(most <= 2 * cap, "{} eligible and waiting at {} ms, cap {}", most, at, cap);
    }
}

// ---------------------------------------------------------------------------------------------
// The issue's scenarios

/// "A room that had been open at a high rate was paused; 300 citizens joined; the operator
/// reopened it at 20 per second. All 300 were admitted within 5 seconds." Now: open at
/// 6,000 per minute for a minute with a trickle of arrivals, paused for a minute while 300
/// join (in bunches), reopened at 1,200 per minute. No window lets more than 20 + 1 = 21
/// through, and the 300 still go through at the rate.
#[test]
fn a_room_paused_after_a_high_rate_reopens_at_the_new_rate() {
    let trickle: Vec<Bunch> = (0..60)
        .step_by(3)
        .map(|second| Bunch {
            second,
            count: 2,
            spread_ms: 999,
        })
        .collect();
    let mut people = citizens(&trickle, 0, 0, PATIENT, 1);
    let before_pause = people.len();
    let joiners: Vec<Bunch> = (65..115)
        .step_by(5)
        .map(|second| Bunch {
            second,
            count: 30,
            spread_ms: 5,
        })
        .collect();
    people.extend(citizens(&joiners, 0, 0, PATIENT, 2));
    let patch = |json: &str| ConfigPatch::from_json(json).unwrap();
    let sc = Scenario {
        config: RoomConfig {
            new_users_per_minute: 6_000,
            max_active: 10_000_000,
            ..RoomConfig::default()
        },
        patches: vec![
            (60_000, patch(r#"{"paused": true}"#)),
            (
                120_000,
                patch(r#"{"paused": false, "new_users_per_minute": 1200}"#),
            ),
        ],
        citizens: people,
        duration_ms: 200_000,
        frozen_poll_ms: FROZEN_POLL_MS,
    };
    let out = simulate(&sc);
    assert_the_rate(&out).unwrap();
    assert_frozen_rooms_let_nobody_through(&out).unwrap();
    assert_nothing_saved_survives_a_freeze(&out).unwrap();
    let after_reopening: Vec<u64> = out
        .through
        .iter()
        .filter(|(t, _)| *t >= 120_000)
        .map(|(t, _)| *t)
        .collect();
    let worst = (0..after_reopening.len())
        .map(|i| after_reopening[i..].partition_point(|t| *t < after_reopening[i] + 1000))
        .max()
        .unwrap();
    // At most the bound; and the limiter, not some other stall, is what held it there.
    assert!(
        (20..=23).contains(&worst),
        "worst window after reopening: {worst}"
    );
    // Everyone goes through, and the 300 who joined while paused only after the reopening.
    assert!(out.through_at.iter().all(Option::is_some));
    assert!(out.through_at[before_pause..]
        .iter()
        .all(|t| t.unwrap() >= 120_000));
    // 300 at 20 a second is 15 s; the citizens poll every 30 s while paused.
    assert!(after_reopening.last().unwrap() - 120_000 < 60_000);
}

/// "Arrivals come in tight bunches at the top of each second. At a rate of 10 per second, 60
/// citizens were admitted in one second." Now: 40 arrivals in the first 5 ms of each second
/// for a minute, at 600 per minute: no window lets more than 10 + 1 = 11 through.
#[test]
fn bunched_arrivals_at_ten_a_second_stay_at_ten_a_second() {
    let bunches: Vec<Bunch> = (0..60)
        .map(|second| Bunch {
            second,
            count: 40,
            spread_ms: 5,
        })
        .collect();
    let sc = Scenario {
        config: RoomConfig {
            new_users_per_minute: 600,
            max_active: 10_000_000,
            ..RoomConfig::default()
        },
        patches: Vec::new(),
        citizens: citizens(&bunches, 0, 0, PATIENT, 3),
        duration_ms: 120_000,
        frozen_poll_ms: FROZEN_POLL_MS,
    };
    let out = simulate(&sc);
    assert_the_rate(&out).unwrap();
    let (most, _, _) = windows(&out, &out.isolate_configs);
    assert!((10..=11).contains(&most), "worst window: {most}");
    // And the queue moves at the rate: 110 s after the first settle, about 1,100 through.
    let got = let_through_between(&out, 10_000, 120_000);
    assert!(got >= 1_000, "{got} let through in 110 s");
}

/// Sixty arrivals in the first 5 ms of each second for twenty seconds, at ten a second: the
/// limiter's line keeps them in order of their seconds (the bucket alone would keep the rate,
/// and let whoever polls first through whatever their second).
#[test]
fn bunched_arrivals_go_through_in_the_order_of_their_seconds() {
    let bunches: Vec<Bunch> = (0..20)
        .map(|second| Bunch {
            second,
            count: 60,
            spread_ms: 5,
        })
        .collect();
    let sc = Scenario {
        config: RoomConfig {
            new_users_per_minute: 600,
            max_active: 10_000_000,
            ..RoomConfig::default()
        },
        patches: Vec::new(),
        citizens: citizens(&bunches, 0, 0, PATIENT, 4),
        duration_ms: 200_000,
        frozen_poll_ms: FROZEN_POLL_MS,
    };
    let out = simulate(&sc);
    assert_the_rate(&out).unwrap();
    assert_the_order(&sc, &out).unwrap();
}

// ---------------------------------------------------------------------------------------------
// The limiter alone

/// One thing done to a limiter, `dt` milliseconds after the last (negative: a clock that went
/// back).
#[derive(Clone, Copy, Debug)]
enum LimiterOp {
    Configure { rate_milli: u64, burst: u32 },
    Take,
    Turn { second: u64, sub: u32 },
}

fn limiter_ops() -> impl Strategy<Value = Vec<(i64, LimiterOp)>> {
    let rate = prop_oneof![
        1 => Just(0u64),
        2 => 1u64..=60_000,
        3 => 60_000u64..=6_000_000,
        1 => 6_000_000u64..=1_000_000_000,
    ];
    let op = prop_oneof![
        1 => (rate, prop_oneof![Just(0u32), 0u32..=20])
            .prop_map(|(rate_milli, burst)| LimiterOp::Configure { rate_milli, burst }),
        4 => Just(LimiterOp::Take),
        4 => (0u64..5, any::<u32>()).prop_map(|(second, sub)| LimiterOp::Turn { second, sub }),
    ];
    let dt = prop_oneof![
        6 => 0i64..200,
        3 => 0i64..2_000,
        1 => -3_000i64..0,
        1 => 0i64..120_000,
    ];
    vec((dt, op), 1..400)
}

proptest! {
    #![proptest_config(common::proptest_config("tests/proptest-regressions/admission.txt", 256))]

    #[test]
    fn the_limiter_keeps_its_promise_whatever_is_done_to_it(ops in limiter_ops()) {
        let mut limiter = Limiter::new();
        let mut now = T0;
        // The limiter's clock: the latest `now` it was given (a fresh one's is zero).
        let mut clock = 0;
        // (op index, clock) of each grant; (op index, clock, rate, burst, stricter) of each
        // change of configuration, starting from the fresh limiter's rate of zero.
        let mut grants: Vec<(usize, u64)> = Vec::new();
        let mut changes: Vec<(usize, u64, u64, u32, bool)> = vec![(0, 0, 0, 0, true)];
        for (i, &(dt, op)) in ops.iter().enumerate() {
            now = now.saturating_add_signed(dt).max(T0 - 10_000);
            clock = clock.max(now);
            let at = UnixMs(now);
            match op {
                LimiterOp::Configure { rate_milli, burst } => {
                    let (_, _, old_rate, old_burst, _) = *changes.last().unwrap();
                    limiter.configure(rate_milli, burst, at);
                    if (rate_milli, burst) != (old_rate, old_burst) {
                        let stricter = rate_milli < old_rate || burst < old_burst || rate_milli == 0;
                        changes.push((i, clock, rate_milli, burst, stricter));
                    }
                }
                LimiterOp::Take => {
                    if limiter.try_take(at) {
                        grants.push((i, clock));
                    }
                }
                LimiterOp::Turn { second, sub } => {
                    match limiter.take_turn(OrderKey::new(1_700_000_000 + second, sub), at) {
                        Turn::Through => grants.push((i, clock)),
                        Turn::Wait { retry_at } => {
                            prop_assert!(limiter.rate_milli_per_minute() > 0);
                            prop_assert!(retry_at.0 > clock && retry_at.0 <= clock + RETRY_MAX_MS,
                                "retry at {} with the clock at {}", retry_at.0, clock);
                        }
                        Turn::Shut => prop_assert_eq!(limiter.rate_milli_per_minute(), 0),
                    }
                }
            }
            prop_assert_eq!(limiter.next_at(at).is_none(), limiter.rate_milli_per_minute() == 0);
        }
        // The configuration in force (by op index) over a span of the clock: the one in force
        // at its start and every one made before its end.
        let in_force = |from: u64, to: u64| {
            changes
                .iter()
                .enumerate()
                .filter(|(k, c)| {
                    let end = changes.get(k + 1).map_or(u64::MAX, |next| next.1);
                    c.1 < to && end >= from
                })
                .map(|(_, c)| (c.2, c.3))
                .fold((0u64, 0u32), |(r, b), (r2, b2)| (r.max(r2), b.max(b2)))
        };
        let times: Vec<u64> = grants.iter().map(|g| g.1).collect();
        let count = |from: u64, to: u64| {
            u64::try_from(times.partition_point(|t| *t < to) - times.partition_point(|t| *t < from))
                .unwrap()
        };
        // Every window of the clock: ⌊r/60⌋ + 1 + b (r in thousandths of a citizen a minute).
        let mut starts: Vec<u64> = Vec::new();
        for &t in times.iter().chain(changes.iter().map(|c| &c.1)) {
            starts.extend([t, t.saturating_sub(999), t + 1]);
        }
        for t in starts {
            let (rate, burst) = in_force(t, t + 1000);
            let n = count(t, t + 1000);
            prop_assert!(
                u128::from(n) <= u128::from(rate) / 60_000 + 1 + u128::from(burst),
                "{} through in the window at {} (rate {} milli/min, burst {})", n, t, rate, burst
            );
        }
        // After each change: nothing saved carries over.
        for (k, &(i, c, rate, _, stricter)) in changes.iter().enumerate() {
            let until = changes.get(k + 1).map_or(u64::MAX, |next| next.1);
            let after: Vec<u64> = grants.iter().filter(|g| g.0 > i).map(|g| g.1).collect();
            if stricter {
                // Nothing until one citizen has accrued from nothing.
                if let Some(&first) = after.first() {
                    let accrue = if rate == 0 { u64::MAX } else { UNITS_PER_CITIZEN.div_ceil(rate) };
                    prop_assert!(
                        first >= c.saturating_add(accrue) || first >= until,
                        "through at {} after a stricter change at {} (rate {})", first, c, rate
                    );
                }
            } else {
                // No burst: at most one saved citizen plus what accrues in the second after.
                let end = (c + 1000).min(until);
                let n = u64::try_from(after.iter().filter(|t| **t < end).count()).unwrap();
                prop_assert!(
                    u128::from(n) * u128::from(UNITS_PER_CITIZEN)
                        <= u128::from(UNITS_PER_CITIZEN) + u128::from(rate) * 999,
                    "{} through in the second after a looser change at {} (rate {})", n, c, rate
                );
            }
        }
    }
}
