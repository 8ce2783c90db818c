//! One edge isolate's bookkeeping: what it knows of the room, what it owes the coordinator, and
//! every admission decision it makes. Pure: the worker supplies `now`, random bytes and the
//! network; the simulator drives the same code with a simulated clock.
//!
//! ## What it counts, and when
//! - A ticket costs the queue nothing when it is issued. It takes its place when its holder
//!   first comes back ([`Isolate::visit`]): `+1` in its arrival second and give-up slot. Each
//!   visit after half the grace period moves the place to a later slot; a holder who stays away
//!   longer than the grace period has lost it and is a new arrival ([`Visit::Lapsed`]).
//! - A citizen is *let through* when the cursor has passed their ticket and the isolate's
//!   [`Limiter`] grants it ([`Isolate::admit`]); that is what the origin feels, and it is what
//!   the limiter bounds per second. A ticket let through once is never counted again here, so a
//!   replayed ticket or a dropped pass cookie costs nobody a place.
//! - A session the origin ends is reported once per ticket ([`Isolate::end_session`]).
//!
//! ## Syncs that survive the network
//! Counts go into a numbered batch. A batch is sent until the coordinator acknowledges its
//! number; the coordinator applies each number once, so a retry, a duplicate or a request that
//! timed out after it was applied counts nothing twice, and nothing is lost when a request is
//! cancelled half-way (the batch stays here until acknowledged). At most one sync is in flight;
//! one that has not answered within the sync timeout is given up and its batch sent again.
//!
//! ## Fail-static
//! An isolate is stale only when syncs are failing (not merely when it has been idle) and its
//! last good sync is older than `stale_after_ms`. While stale it keeps the order, admits nobody
//! whose second the coordinator had not counted in full (`snapshot.at − settle`), and moves its
//! own cursor over those counted places at `fail_static_per_mille` of the room's rate (it
//! admits only its own citizens among them, and its limiter holds it to its share).
//! On recovery the coordinator's answer takes over, and the isolate's view never moves back
//! past what it already admitted.

use std::collections::{HashMap, HashSet, VecDeque};

use crate::config::RoomConfig;
use crate::limiter::{Limiter, Turn};
use crate::network::NetTag;
use crate::order::{Cursor, OrderKey, SUB_RANGE};
use crate::outbox::Outbox;
use crate::places::{slot_of, PlaceKey};
use crate::revocation::is_revoked;
use crate::status::{after_due, jittered, QueueState, QueueStatus, RoomView, POLL_FLOOR_MS};
use crate::summary::{Arrivals, Summary};
use crate::sync::{NoticeKind, Notices, Replica, RoomSnapshot, SyncReport, FRONT_S, HOPS};
use crate::time::UnixMs;
use crate::token::{Seat, Ticket};

/// Ticket ids each isolate remembers per kind of event, to count each ticket once.
pub const RECENT_IDS: usize = 16_384;
/// How often a page told the slots are taken polls, in milliseconds (jittered): slots come
/// back a cancellation at a time, and the line moves again in order when they do.
pub const SLOTS_TAKEN_POLL_MS: u64 = 15_000;

/// The isolate's timing settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Timing {
    pub sync_interval_ms: u64,
    /// A sync not answered within this long is given up and its batch sent again.
    pub sync_timeout_ms: u64,
    /// Without a good sync for this long, while syncs fail, the isolate is stale.
    pub stale_after_ms: u64,
    /// Share of its rate a stale isolate admits at, per mille.
    pub fail_static_per_mille: u32,
}

/// What a returning ticket's visit changed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Visit {
    /// Nothing to change.
    Keep,
    /// The ticket changed (first counted, renewed, or re-ordered into the pre-queue): sign and
    /// send it again.
    Update(Ticket),
    /// The place was given up (not seen within the grace period): the holder is a new arrival
    /// and must be told so.
    Lapsed,
    /// The place was used up (the origin ended its session): the holder is a new arrival.
    Ended,
}

/// An admission decision for one request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Admission {
    /// The cursor has not reached the ticket.
    NotYet,
    /// Let through. `first` is false for a ticket this isolate let through before (a lost pass
    /// cookie, a replay): it costs the rate nothing again.
    Through { first: bool },
    /// The cursor has passed the ticket but the let-through rate is spent for now; ask again at
    /// `retry_at`.
    Throttled { retry_at: UnixMs },
}

/// A bounded set of recently seen ticket ids (the first 8 bytes suffice: they are random).
#[derive(Clone, Debug, Default)]
struct RecentIds {
    set: HashSet<u64>,
    order: VecDeque<u64>,
}

impl RecentIds {
    /// Forgets `id`, its place in the eviction order too: else, recorded again, it would be in
    /// the order twice, and the older entry's eviction would forget the newer one early. Rare
    /// (an origin fault at admission), so a walk of the order is fine.
    fn remove(&mut self, id: u64) {
        if self.set.remove(&id) {
            if let Some(at) = self.order.iter().position(|&x| x == id) {
                self.order.remove(at);
            }
        }
    }

    /// Records `id`; false if it was there already.
    fn insert(&mut self, id: u64) -> bool {
        if !self.set.insert(id) {
            return false;
        }
        self.order.push_back(id);
        if self.order.len() > RECENT_IDS {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
        true
    }

    fn contains(&self, id: u64) -> bool {
        self.set.contains(&id)
    }
}

/// How soon after an answer that cut its share an isolate sends its next batch, to say it
/// heard the cut ([`Outbox::hurry`]), in milliseconds.
const CUT_HEARD_AFTER_MS: u64 = 150;

/// How lately a citizen at the front must have asked to count in [`SyncReport::front`]: a
/// citizen within a minute of its turn is asked back within 3 s, one further back within 10 s
/// (each spread by up to 15 %).
const ASKED_WITHIN_MS: u64 = 15_000;
/// The most citizens at the front an isolate remembers; beyond it the front reads no higher.
const ASKED_MAX: usize = 65_536;

fn short(id: &[u8; 16]) -> u64 {
    let mut b = [0u8; 8];
    b.copy_from_slice(id.split_first_chunk::<8>().map_or(&[0; 8], |(h, _)| h));
    u64::from_be_bytes(b)
}

/// Networks remembered for the no-JavaScript wait ([`Isolate::no_script_turn`]) before the
/// ones whose wait is over are forgotten.
const NO_SCRIPT_NETWORKS: usize = 4_096;
/// Recent seats kept per network at an isolate ([`Isolate::needs_work`]): more than any
/// budget, which is all they are compared with.
const NET_SEATS_KEPT: usize = 1_024;

/// One isolate's book. See the module documentation.
#[derive(Clone, Debug)]
pub struct Isolate {
    id: String,
    timing: Timing,
    room: Option<RoomSnapshot>,
    /// The coordinator's summary with this isolate's unacknowledged place changes laid over it.
    view: Summary,
    outbox: Outbox,
    /// When the room's view this isolate holds was current (the answer's time less its age).
    last_ok: Option<UnixMs>,
    /// The citizens at the front of the line (not yet eligible) who asked here lately: ticket
    /// (short id) → its arrival second and when it last asked. What [`SyncReport::front`]
    /// counts.
    at_front: HashMap<u64, (u64, UnixMs)>,
    /// The last answer's view was already old: the coordinator is out of reach upstream.
    lagging: bool,
    /// The furthest cursor this isolate has admitted under; its view never moves back past it.
    floor: Cursor,
    limiter: Limiter,
    seated: RecentIds,
    /// The room's notices, as this isolate last heard them (`sync::Notices`).
    notices: Notices<Replica>,
    /// When this isolate seated each network's recent places (at most [`NET_SEATS_KEPT`] a
    /// network): a burst from one network at one isolate meets its budget before the room has
    /// heard of it. A seat counts here until the room's word surely covers it (two settle
    /// times: up to the room, and back down), so it may be counted twice meanwhile, which
    /// asks work a little early of a network already at its budget, never late.
    net_seats: HashMap<NetTag, std::collections::VecDeque<UnixMs>>,
    /// Passes this isolate moved to another network, not yet in the room's notices.
    moved_here: HashMap<u64, u64>,
    /// When each network last took a place here by the no-JavaScript wait.
    no_script: HashMap<NetTag, UnixMs>,
    /// Tickets asked for work, so each is counted once.
    asked: RecentIds,
    renewed: RecentIds,
    through: RecentIds,
    /// Let-throughs handed back by an origin fault (`Isolate::readmit`), by ticket and
    /// let-through time: each counted once.
    readmitted: RecentIds,
    ended: RecentIds,
}

impl Isolate {
    pub fn new(id: String, timing: Timing) -> Isolate {
        Isolate {
            id,
            timing,
            room: None,
            view: Summary::default(),
            outbox: Outbox::default(),
            last_ok: None,
            at_front: HashMap::new(),
            lagging: false,
            floor: Cursor::default(),
            limiter: Limiter::default(),
            seated: RecentIds::default(),
            notices: Notices::last_copy(),
            net_seats: HashMap::new(),
            moved_here: HashMap::new(),
            no_script: HashMap::new(),
            asked: RecentIds::default(),
            renewed: RecentIds::default(),
            through: RecentIds::default(),
            readmitted: RecentIds::default(),
            ended: RecentIds::default(),
        }
    }

    /// The room config as last seen, if this isolate has ever synced.
    pub fn config(&self) -> Option<&RoomConfig> {
        self.room.as_ref().map(|r| &r.config)
    }

    /// Has the operator revoked the ticket `id`, issued at `issued_at`, as of the last snapshot?
    /// Known within a sync interval or two of the revocation; an isolate that has never synced
    /// knows of none.
    pub fn revoked(&self, id: &[u8; 16], issued_at: UnixMs) -> bool {
        self.room
            .as_ref()
            .is_some_and(|r| is_revoked(&r.revoked, r.revoked_before, id, issued_at))
    }

    pub fn knows_room(&self) -> bool {
        self.room.is_some()
    }

    /// A new ticket for an arrival at `now`: FIFO in its second, or in the pre-queue lottery
    /// while an opening is scheduled. It costs the queue nothing until its holder comes back.
    /// `random` places it inside its second (or draws its lottery place).
    pub fn issue(
        &self,
        id: [u8; 16],
        random: u32,
        now: UnixMs,
        ticket_ttl_ms: u64,
        key_id: u8,
        room: crate::keys::RoomTag,
    ) -> Ticket {
        let config = self.config().cloned().unwrap_or_default();
        let order = match config.prequeue_since.filter(|_| config.before_opening(now)) {
            Some(since) => OrderKey::lottery(since, random),
            None => OrderKey::fifo(now, random),
        };
        Ticket {
            key_id,
            room,
            order,
            id,
            issued_at: now,
            expires_at: now.plus_ms(ticket_ttl_ms),
            held_until: now.plus_ms(grace_ms(&config)),
            seat: Seat::Issued,
            network: NetTag(0),
            admitted_at: UnixMs(0),
            readmitted: 0,
        }
    }

    /// A ticket's holder came back at `now`. Counts the place the first time, renews it after
    /// half the grace period, and says when it has lapsed. A ticket issued while this isolate
    /// did not yet know the room is put into the pre-queue lottery here if the room was in one
    /// when it arrived.
    ///
    /// A ticket whose cookie is past half its life (`ticket_ttl_ms`) is signed again with a new
    /// expiry, so a place is kept as long as its holder keeps coming back.
    ///
    /// A ticket takes its place as one of `network`'s (`NetTag(0)`: none known), which holds it
    /// against that network's budget for as long as it is held.
    pub fn visit(
        &mut self,
        ticket: &Ticket,
        now: UnixMs,
        ticket_ttl_ms: u64,
        network: NetTag,
    ) -> Visit {
        let visit = self.count_visit(ticket, now, network);
        let renew = |mut t: Ticket| {
            if t.expires_at.since(now) < ticket_ttl_ms / 2 {
                t.expires_at = now.plus_ms(ticket_ttl_ms);
            }
            t
        };
        match visit {
            Visit::Keep if ticket.expires_at.since(now) < ticket_ttl_ms / 2 => {
                Visit::Update(renew(ticket.clone()))
            }
            Visit::Update(t) => Visit::Update(renew(t)),
            other => other,
        }
    }

    /// [`Isolate::visit`], for a holder who just showed the work their place cost (or waited
    /// it out without JavaScript): the place is marked paid (`Seat::Worked`), and is never
    /// asked for work again.
    pub fn visit_paid(
        &mut self,
        ticket: &Ticket,
        now: UnixMs,
        ticket_ttl_ms: u64,
        network: NetTag,
    ) -> Visit {
        let paid = match ticket.seat {
            Seat::Held => Ticket {
                seat: Seat::Worked,
                ..ticket.clone()
            },
            _ => ticket.clone(),
        };
        let changed = paid.seat != ticket.seat;
        match self.visit(&paid, now, ticket_ttl_ms, network) {
            Visit::Update(mut t) => {
                if t.seat == Seat::Held {
                    t.seat = Seat::Worked;
                }
                Visit::Update(t)
            }
            Visit::Keep if changed => Visit::Update(paid),
            other => other,
        }
    }

    fn count_visit(&mut self, ticket: &Ticket, now: UnixMs, network: NetTag) -> Visit {
        if ticket.seat == Seat::Done {
            return Visit::Ended;
        }
        if ticket.lapsed(now) {
            return Visit::Lapsed;
        }
        let config = self.config().cloned().unwrap_or_default();
        let grace = grace_ms(&config);
        let id = short(&ticket.id);
        match ticket.seat {
            Seat::Issued => {
                let mut seated = ticket.clone();
                seated.seat = Seat::Held;
                seated.held_until = now.plus_ms(grace);
                seated.network = network;
                if let Some(drawn) = into_prequeue(ticket, &config, now) {
                    seated.order = drawn;
                } else if late_to_the_draw(ticket, &config, now) {
                    // Brought back only once the draw's seed is out: its holder could have
                    // picked it from many, so it stands in line from now, as any later
                    // arrival (`draw`).
                    seated.order = OrderKey::fifo(now, ticket.order.sub32());
                }
                // A replay of the same issued ticket is seated again in its cookie, but its
                // place is counted once.
                if self.seated.insert(id) {
                    let slot = slot_of(seated.held_until);
                    self.count_place(seated.order.bucket(), slot, 1);
                    if network.is_known() {
                        self.outbox.owed.add_net_place(network.0, slot, 1);
                        let seats = self.net_seats.entry(network).or_default();
                        seats.push_back(now);
                        if seats.len() > NET_SEATS_KEPT {
                            seats.pop_front();
                        }
                    }
                }
                Visit::Update(seated)
            }
            // Seated while this isolate did not yet know of the pre-queue it arrived in (its
            // ticket and its first poll both came before the isolate's sync): it joins the
            // draw now, as every other arrival of the pre-queue did, its count moving with it
            // as at a renewal.
            Seat::Held | Seat::Worked => {
                let drawn = into_prequeue(ticket, &config, now);
                if drawn.is_none() && ticket.held_until.since(now) >= grace / 2 {
                    return Visit::Keep;
                }
                let mut moved = ticket.clone();
                moved.order = drawn.unwrap_or(ticket.order);
                moved.held_until = now.plus_ms(grace);
                self.move_place(ticket, &moved, id);
                Visit::Update(moved)
            }
            Seat::Done => Visit::Keep,
        }
    }

    /// Moves the count of `from`'s place to `to`'s (a renewal's later give-up slot, or the
    /// draw's bucket), once: the old cookie replayed moves nothing twice.
    fn move_place(&mut self, from: &Ticket, to: &Ticket, id: u64) {
        let (old, new) = (slot_of(from.held_until), slot_of(to.held_until));
        let (was, is) = (from.order.bucket(), to.order.bucket());
        if (old, was) == (new, is) || !self.renewed.insert(id ^ old ^ was.rotate_left(32)) {
            return;
        }
        self.count_place(was, old, -1);
        self.count_place(is, new, 1);
        if from.network.is_known() && old != new {
            self.outbox.owed.add_net_place(from.network.0, old, -1);
            self.outbox.owed.add_net_place(from.network.0, new, 1);
        }
    }

    fn count_place(&mut self, second: u64, slot: u64, delta: i64) {
        self.outbox.owed.add_place(PlaceKey { second, slot }, delta);
        self.view.add(second, delta);
    }

    /// The cursor this isolate admits under at `now`: the coordinator's, or while stale its own
    /// fail-static one; never behind what it already admitted. `None` before it met the room.
    pub fn cursor(&self, now: UnixMs) -> Option<Cursor> {
        let room = self.room.as_ref()?;
        let mut cursor = room.cursor;
        if self.stale(now) && !room.config.frozen(now) {
            if let Some(since) = self.last_ok {
                let stale_from = since.plus_ms(self.timing.stale_after_ms);
                // The cursor moves over the whole room's line, but this isolate admits only its
                // own citizens in the stretch it passes, about its share of them. So it moves
                // at the fail-static fraction of the room's full rate, not of its share: every
                // isolate doing so lets through that fraction of the rate in all (at a share of
                // it, moving at the share would give the room only share² of the rate). Its
                // limiter still holds it to its share.
                let per_minute = u128::from(room.config.new_users_per_minute)
                    * u128::from(self.timing.fail_static_per_mille)
                    / 1_000;
                let budget =
                    per_minute * u128::from(now.since(stale_from)) * u128::from(SUB_RANGE) / 60_000;
                // Only what the coordinator had counted in full: a second it had no complete
                // count for may hold people who arrived elsewhere.
                let settled = Cursor::at_time(room.at.minus_ms(room.settle_ms));
                cursor = self.view.sweep(cursor, settled, budget).0.max(cursor);
            }
        }
        Some(cursor.max(self.floor))
    }

    /// Should this ticket's request go through to the origin now? Counts and limits the
    /// let-through; see [`Admission`].
    pub fn admit(&mut self, ticket: &Ticket, now: UnixMs) -> Admission {
        if ticket.seat == Seat::Done {
            return Admission::NotYet;
        }
        let Some(cursor) = self.cursor(now) else {
            return Admission::NotYet;
        };
        let order = self.order_of(ticket);
        if !cursor.admits(order) {
            return Admission::NotYet;
        }
        if now >= self.lease_until() && self.limiter.rate_milli_per_minute() > 0 {
            self.limiter.lapse(now);
        }
        let id = short(&ticket.id);
        if self.through.contains(id) {
            return Admission::Through { first: false };
        }
        // The limiter holds tokens back only for eligible citizens of earlier seconds who are
        // waiting their turn: FIFO between seconds, and inside one (a draw anyway) whoever asks
        // when a token is there, so the rate is not spent only as fast as one citizen polls.
        // A pre-queue's draw is the exception: its places were drawn to be kept, so inside it
        // the limiter keeps the order key by key.
        let turn = if self.in_draw(ticket) {
            self.limiter.take_turn_drawn(order, now)
        } else {
            self.limiter.take_turn(order, now)
        };
        let retry_at = match turn {
            Turn::Through => {
                self.through.insert(id);
                self.floor = self.floor.max(cursor);
                self.outbox.owed.add_let_through(now.secs(), 1);
                return Admission::Through { first: true };
            }
            Turn::Wait { retry_at } => retry_at,
            // Frozen as this isolate last heard: nobody goes through until a sync says more.
            Turn::Shut if self.room.as_ref().is_some_and(|r| r.config.frozen(now)) => {
                return Admission::NotYet
            }
            // Open, but this isolate's share is nothing: count the refusal, so the demand
            // reaches the coordinator and earns a share, and ask again after a sync.
            Turn::Shut => now.plus_ms(self.timing.sync_interval_ms),
        };
        self.outbox.owed.refused = self.outbox.owed.refused.saturating_add(1);
        Admission::Throttled { retry_at }
    }

    /// Whether `ticket` holds a place in a pre-queue's draw this isolate has heard of.
    fn in_draw(&self, ticket: &Ticket) -> bool {
        self.room
            .as_ref()
            .and_then(|r| r.draw.as_ref())
            .is_some_and(|d| ticket.order.bucket() == OrderKey::lottery(d.since, 0).bucket())
    }

    /// Where `ticket` stands in line: its own order key, or in the pre-queue draw, its place
    /// drawn from the room's seed (`draw::place`). Until this isolate holds the seed, a ticket
    /// of the draw stands at the end of its bucket: nobody of the draw goes through out of
    /// turn while the seed is on its way.
    pub fn order_of(&self, ticket: &Ticket) -> OrderKey {
        let Some(draw) = self.room.as_ref().and_then(|r| r.draw.as_ref()) else {
            return ticket.order;
        };
        let bucket = OrderKey::lottery(draw.since, 0).bucket();
        if ticket.order.bucket() != bucket {
            return ticket.order;
        }
        let place = draw
            .seed_bytes()
            .map_or(u32::MAX, |seed| crate::draw::place(&seed, &ticket.id));
        OrderKey::new(bucket, place)
    }

    /// What `GET /queue/draw` shows at `now` (`draw::publish`), with the asker's ticket if it
    /// is in the draw.
    pub fn published_draw(&self, now: UnixMs, ticket: Option<&Ticket>) -> crate::draw::Published {
        let config = self.config().cloned().unwrap_or_default();
        let view = self.room.as_ref().and_then(|r| r.draw.as_ref());
        let in_draw = ticket
            .filter(|t| {
                view.is_some_and(|v| {
                    t.order.bucket() == OrderKey::lottery(v.since, 0).bucket()
                        || into_prequeue(t, &config, now).is_some()
                })
            })
            .map(|t| t.id);
        crate::draw::publish(view, &config, now, in_draw)
    }

    /// What `GET /queue/status` says to this ticket's holder at `now`, given the admission
    /// decision just made for it. `jitter` spreads the next poll.
    pub fn status(
        &self,
        ticket: &Ticket,
        admission: Admission,
        now: UnixMs,
        jitter: u16,
    ) -> QueueStatus {
        let stale = self.stale(now);
        let (Some(room), Some(cursor)) = (self.room.as_ref(), self.cursor(now)) else {
            return QueueStatus {
                state: QueueState::Waiting,
                position: None,
                ahead: None,
                eta_s: None,
                next_poll_ms: jittered(5_000, jitter),
                opens_at: None,
                stale: true,
                rejoined: None,
                work: None,
                slots_taken: None,
                readmitted: false,
            };
        };
        match admission {
            Admission::Through { .. } => RoomView {
                config: &room.config,
                cursor,
                arrivals: &self.view,
                stale,
                settle_ms: room.settle_ms,
                view_lag_ms: self.view_lag_ms(),
                through_per_minute: room.through_per_minute,
                arrivals_per_minute: room.arrivals_per_minute,
            }
            .status(self.order_of(ticket), now, jitter),
            Admission::Throttled { retry_at } => {
                // At the very front, waiting only for the rate: say so, and come back when
                // the token is due (the limiter tells peers of one second one token apart),
                // even within the second. A page held to a second let the tokens that matured
                // meanwhile spill once the bucket's half second was full (`limiter::SLACK_MS`):
                // on the simulated small night 14 % of the rate, against 5 % now.
                let wait_ms = retry_at.since(now);
                QueueStatus {
                    state: QueueState::Waiting,
                    position: Some(1),
                    ahead: Some(0),
                    eta_s: Some([0, wait_ms.div_ceil(1000).saturating_add(2)]),
                    next_poll_ms: after_due(wait_ms.clamp(POLL_FLOOR_MS, 1_500), jitter),
                    opens_at: None,
                    stale,
                    rejoined: None,
                    work: None,
                    slots_taken: None,
                    readmitted: false,
                }
            }
            Admission::NotYet => {
                // The cursor may not have passed the ticket at this isolate, but the view's
                // status must not claim admission that was not granted.
                let mut status = RoomView {
                    config: &room.config,
                    cursor,
                    arrivals: &self.view,
                    stale,
                    settle_ms: room.settle_ms,
                    view_lag_ms: self.view_lag_ms(),
                    through_per_minute: room.through_per_minute,
                    arrivals_per_minute: room.arrivals_per_minute,
                }
                .status(self.order_of(ticket), now, jitter);
                // Beyond what the origin's slots can serve: told so, with the next release,
                // instead of an ETA.
                let beyond = |ahead: u64| room.slots_left.is_some_and(|left| ahead >= left);
                if status.state == QueueState::Waiting && status.ahead.is_some_and(beyond) {
                    status.eta_s = None;
                    status.slots_taken = Some(crate::status::SlotsTaken {
                        next_release_at: room.config.next_release_at,
                    });
                    status.next_poll_ms = jittered(SLOTS_TAKEN_POLL_MS, jitter);
                }
                if status.state == QueueState::Admitted {
                    status.state = if room.config.closed {
                        QueueState::Closed
                    } else if room.config.paused {
                        QueueState::Paused
                    } else {
                        QueueState::Waiting
                    };
                    status.position = Some(1);
                    status.ahead = Some(0);
                    status.eta_s = Some([0, 2]);
                    status.next_poll_ms = jittered(1_000, jitter);
                }
                status
            }
        }
    }

    /// How much later than the coordinator this isolate may learn of the cursor: an interval
    /// at each hop.
    fn view_lag_ms(&self) -> u64 {
        self.timing.sync_interval_ms.saturating_mul(HOPS)
    }

    /// Hands the ticket `ticket_id`'s holder, let through at `admitted_at`, back to the front
    /// of the line after an origin fault at admission (`visit::answered`), once per
    /// let-through: false if this isolate handed that let-through back already (another of its
    /// requests failing together, or a copy of the cookie from before the handback, replayed
    /// to be handed back again). Else this isolate forgets it let it through, so the next
    /// let-through takes a token again, and the let-through no longer counts as a pass alive
    /// (counted as a session ended, without telling the edges, so the ticket stays good).
    pub fn readmit(&mut self, ticket_id: &[u8; 16], admitted_at: UnixMs, now: UnixMs) -> bool {
        let id = short(ticket_id);
        if !self.readmitted.insert(id ^ admitted_at.0.rotate_left(17)) {
            return false;
        }
        self.through.remove(id);
        self.outbox.owed.add_ended(now.secs(), 1);
        true
    }

    /// The origin ended the session of the ticket `ticket_id`. Counted once per ticket here;
    /// false if it was already.
    pub fn end_session(&mut self, ticket_id: &[u8; 16], now: UnixMs) -> bool {
        let id = short(ticket_id);
        if !self.ended.insert(id) {
            return false;
        }
        self.outbox.owed.add_ended(now.secs(), 1);
        // The room tells every edge, so a copy of its pass is refused everywhere.
        self.outbox.owed.ended_ids.insert(id, ());
        true
    }

    /// Has the session of the ticket `ticket_id` ended, here or (as this isolate last heard)
    /// anywhere?
    pub fn ended(&self, ticket_id: &[u8; 16]) -> bool {
        let id = short(ticket_id);
        self.ended.contains(id) || self.notices.get(NoticeKind::Ended, id).is_some()
    }

    /// The network the ticket's pass moved to, if it has made its one move (here, or as this
    /// isolate last heard, anywhere).
    pub fn moved(&self, ticket_id: &[u8; 16]) -> Option<NetTag> {
        let id = short(ticket_id);
        self.moved_here
            .get(&id)
            .copied()
            .or_else(|| self.notices.get(NoticeKind::Moved, id).map(|n| n.value))
            .map(NetTag)
    }

    /// The ticket's pass makes its one move, to `network`: the room tells every edge.
    pub fn record_move(&mut self, ticket_id: &[u8; 16], network: NetTag) {
        let id = short(ticket_id);
        self.moved_here.insert(id, network.0);
        self.outbox.owed.moves.insert(id, network.0);
    }

    /// Does a new place from `network` cost work at `now`: work is asked of everyone, or the
    /// network holds its budget (as the room last said, or by what this isolate seated since)?
    pub fn needs_work(&self, network: NetTag, now: UnixMs) -> bool {
        let config = self.config().cloned().unwrap_or_default();
        if config.work_for_all {
            return true;
        }
        if !network.is_known() {
            return false;
        }
        let room_says = self
            .notices
            .get(NoticeKind::Full, network.0)
            .map_or(0, |n| n.value);
        let window = self.net_seat_window();
        let here = self.net_seats.get(&network).map_or(0, |seats| {
            seats.iter().filter(|t| now.since(**t) < window).count()
        });
        let here = u64::try_from(here).unwrap_or(u64::MAX);
        room_says.saturating_add(here) >= u64::from(config.budget(network))
    }

    /// How long a seat counts at this isolate beyond the room's word: two settle times.
    fn net_seat_window(&self) -> u64 {
        self.room
            .as_ref()
            .map_or(0, |r| r.settle_ms)
            .saturating_mul(2)
    }

    /// Does a place already held from `network`, not paid for with work, cost work now to be
    /// kept and let through? When the room says the network holds more places than its
    /// budget: its unpaid places (those taken while its count was on its way to the room, by
    /// a script spreading its joins over many edges) pay once, as a new place beyond the
    /// budget does.
    pub fn over_budget(&self, network: NetTag) -> bool {
        if !network.is_known() {
            return false;
        }
        let config = self.config().cloned().unwrap_or_default();
        self.notices
            .get(NoticeKind::Full, network.0)
            .is_some_and(|n| n.value > u64::from(config.budget(network)))
    }

    /// May a citizen without JavaScript from `network` take a place by waiting, at `now`? One
    /// such place a network every `wait_ms` at this isolate: the wait is a slower path for a
    /// citizen, never a way round the work for a script that minted many tickets and waits
    /// once for all of them.
    pub fn no_script_turn(&mut self, network: NetTag, now: UnixMs, wait_ms: u64) -> bool {
        let last = self.no_script.get(&network).copied();
        if last.is_some_and(|t| now.since(t) < wait_ms && now >= t) {
            return false;
        }
        if self.no_script.len() >= NO_SCRIPT_NETWORKS {
            self.no_script.retain(|_, t| now.since(*t) < wait_ms);
        }
        self.no_script.insert(network, now);
        true
    }

    /// The ticket `ticket_id`'s new place was refused until its holder shows work (`shown`
    /// false), or taken with work shown: counted for the operator, once per ticket and kind.
    pub fn count_work(&mut self, ticket_id: &[u8; 16], shown: bool) {
        let id = short(ticket_id);
        let owed = &mut self.outbox.owed;
        if shown {
            owed.work_shown = owed.work_shown.saturating_add(1);
        } else if self.asked.insert(id) {
            owed.work_asked = owed.work_asked.saturating_add(1);
        }
    }

    /// A request forwarded to the origin took `latency_ms` and ended as `outcome`: counted for
    /// the operator's view of the origin's health.
    pub fn record_origin(&mut self, latency_ms: u64, outcome: crate::origin::Outcome) {
        self.outbox.owed.origin.record(latency_ms, outcome);
    }

    /// The origin said at `now` it can take `remaining` more bookings (a `Gate-Slots` header):
    /// it goes up with the origin's counts, the latest word winning.
    pub fn note_slots(&mut self, remaining: u64, now: UnixMs) {
        self.outbox.owed.origin.note_slots(remaining, now);
    }

    /// The origin asked the gate to wait `seconds` (a `Retry-After` on a forwarded request's
    /// answer): it goes up with the origin's counts, for the autopilot.
    pub fn note_retry_after(&mut self, seconds: u64) {
        self.outbox.owed.origin.note_retry_after(seconds);
    }

    /// Is this isolate cut off from the coordinator at `now`? Only failing syncs make it so —
    /// its own, or its aggregator's with the coordinator, which its answers show by their
    /// age: an isolate that was merely idle is not stale.
    pub fn stale(&self, now: UnixMs) -> bool {
        let failing = self.lagging || self.outbox.failing(now, self.timing.sync_timeout_ms);
        failing
            && self
                .last_ok
                .is_none_or(|t| now.since(t) > self.timing.stale_after_ms)
    }

    /// Let-throughs this isolate's limiter lost to a full bucket while citizens waited
    /// ([`Limiter::lost_citizens`]).
    pub fn lost_let_throughs(&self) -> u64 {
        self.limiter.lost_citizens()
    }

    /// Until when (this isolate's clock) the share in its room holds: after it, the limiter
    /// runs at nothing until a sync brings a new one ([`RoomSnapshot::lease_until`]).
    fn lease_until(&self) -> UnixMs {
        self.room
            .as_ref()
            .map_or(UnixMs(0), RoomSnapshot::lease_until)
    }

    /// The share of the room's rate its limiter may run at `now`, in millionths: the last
    /// answer's while its lease holds, else nothing.
    pub fn share_in_force_ppm(&self, now: UnixMs) -> u32 {
        match &self.room {
            Some(room) if now < room.lease_until() => room.share_ppm,
            _ => 0,
        }
    }

    /// This isolate's let-through limiter, for figures (what its tokens went to).
    pub fn limiter(&self) -> &Limiter {
        &self.limiter
    }

    /// When a sync will be due with counts waiting to go up, if any wait: so that a book
    /// whose citizens went quiet still sends what it counted (see [`Outbox::next_due`]).
    pub fn sync_due_at(&self) -> Option<UnixMs> {
        self.outbox
            .next_due(self.timing.sync_interval_ms, self.timing.sync_timeout_ms)
    }

    /// The most places at the front ahead of the cursor (`rate × FRONT_S / 60`), for a room.
    fn front_places(room: &RoomSnapshot) -> u64 {
        u64::from(room.config.new_users_per_minute).saturating_mul(FRONT_S) / 60
    }

    /// The holder of `ticket` asked here at `now` and was told [`Admission::NotYet`]: noted
    /// if the cursor has not reached its place and the place is at the front of the line.
    /// `ahead` is the citizens ahead of it as its status already counted them, so a status
    /// poll walks the line once; `None` counts them here.
    pub fn asked(&mut self, ticket: &Ticket, ahead: Option<u64>, now: UnixMs) {
        let (Some(cursor), Some(room)) = (self.cursor(now), self.room.as_ref()) else {
            return;
        };
        let order = self.order_of(ticket);
        if ticket.seat == Seat::Done || cursor.admits(order) {
            return;
        }
        let front = Self::front_places(room);
        let ahead = ahead.unwrap_or_else(|| self.view.between(cursor, order));
        let id = short(&ticket.id);
        if ahead < front && (self.at_front.len() < ASKED_MAX || self.at_front.contains_key(&id)) {
            self.at_front.insert(id, (order.bucket(), now));
        }
    }

    /// The citizens among the first [`FRONT_S`] seconds of the rate in line from the cursor
    /// at `now` who asked here within [`ASKED_WITHIN_MS`]: who comes up next here (a second
    /// that reaches past that is counted in proportion). Citizens, not places: one who
    /// stopped coming, or a script that holds places it will not use, draws no share.
    /// Forgets those the cursor has passed and those who have not asked lately.
    fn front(&mut self, now: UnixMs) -> u64 {
        let (Some(cursor), Some(room)) = (self.cursor(now), self.room.as_ref()) else {
            return 0;
        };
        let since = now.minus_ms(ASKED_WITHIN_MS);
        self.at_front
            .retain(|_, &mut (second, at)| second >= cursor.bucket() && at >= since);
        let mut per_second: Vec<u64> = self.at_front.values().map(|&(second, _)| second).collect();
        per_second.sort_unstable();
        let limit = Self::front_places(room);
        let ahead_of = |second: u64| self.view.between(cursor, OrderKey::new(second, 0));
        let mut front: u64 = 0;
        let mut rest = per_second.as_slice();
        while let Some(&second) = rest.first() {
            let before = ahead_of(second);
            if before >= limit {
                break;
            }
            let same = rest.partition_point(|&s| s == second);
            rest = rest.get(same..).unwrap_or_default();
            let asked = same as u64;
            let in_second = ahead_of(second.saturating_add(1)).saturating_sub(before);
            let room_left = limit - before;
            front = front.saturating_add(if in_second <= room_left {
                asked
            } else {
                u64::try_from(u128::from(asked) * u128::from(room_left) / u128::from(in_second))
                    .unwrap_or(asked)
            });
        }
        front
    }

    /// The next batch to send, if a sync is due at `now` and none is in flight (one in flight
    /// for longer than the sync timeout is given up: its batch goes again, under the same
    /// number).
    pub fn begin_sync(&mut self, now: UnixMs) -> Option<SyncReport> {
        let limiter = &self.limiter;
        let mut report = self.outbox.begin(
            &self.id,
            now,
            self.timing.sync_interval_ms,
            self.timing.sync_timeout_ms,
            || (u64::try_from(limiter.waiting(now)).unwrap_or(u64::MAX), 0),
        )?;
        // What this isolate knows of the room, so a room that lost its records can tell.
        if let Some(room) = &self.room {
            report.epoch = room.epoch;
            report.known_cursor = Some(room.cursor);
        }
        report.notices_at = self.notices.version();
        report.sent_at = now;
        report.front = self.front(now);
        report.earliest = crate::sync::Earliest::of(self.limiter.line_seconds(now));
        // Its limiter runs the last answer's share (or nothing, after the lease): every
        // share granted before that answer is given up.
        report.share_at = self.room.as_ref().map_or(UnixMs(0), |r| r.granted_at);
        Some(report)
    }

    /// The answer to the batch numbered `seq`: the room, or `None` for a failure or a timeout.
    /// An answer to a batch given up earlier is still used if it acknowledges the pending one.
    pub fn finish_sync(&mut self, seq: u64, answer: Option<RoomSnapshot>, now: UnixMs) {
        self.outbox.finish(seq, answer.as_ref().map(|a| a.acked));
        let Some(snapshot) = answer else {
            return;
        };
        if crate::sync::is_late(self.room.as_ref(), &snapshot, now) {
            return; // a late answer older than what this isolate already knows
        }
        let snapshot = match &self.room {
            Some(kept) if crate::sync::share_is_late(Some(kept), &snapshot, now) => {
                snapshot.keeping_share_of(kept)
            }
            _ => snapshot,
        };
        if now < snapshot.lease_until() {
            // A cut is held at the aggregator, in force at the larger share, until this
            // isolate's next batch says it runs it: say so soon, not an interval later.
            if self
                .room
                .as_ref()
                .is_some_and(|r| snapshot.share_ppm < r.share_ppm)
            {
                self.outbox
                    .hurry(now, self.timing.sync_interval_ms, CUT_HEARD_AFTER_MS);
            }
            self.limiter
                .follow(&snapshot.config, snapshot.share_ppm, now);
        } else {
            self.limiter.lapse(now);
        }
        // The view: what the coordinator counted, plus what it has not acknowledged yet.
        self.view = snapshot.arrivals.clone();
        for (second, delta) in self.outbox.unacked_places().collect::<Vec<_>>() {
            self.view.add(second, delta);
        }
        if snapshot.cursor >= self.floor {
            self.floor = Cursor::default();
        }
        self.last_ok = Some(now.minus_ms(snapshot.age_ms));
        self.lagging = snapshot.age_ms > upstream_lag_ms(&self.timing);
        if let Some(delta) = &snapshot.notices {
            self.notices.apply(delta);
        }
        // Seats the room's word surely covers by now are its alone.
        let window = self.net_seat_window();
        self.net_seats.retain(|_, seats| {
            while seats.front().is_some_and(|t| now.since(*t) >= window) {
                seats.pop_front();
            }
            !seats.is_empty()
        });
        // The room's word on moves now covers what this isolate did before it.
        if self.outbox.pending().is_none() {
            self.moved_here
                .retain(|id, _| self.notices.get(NoticeKind::Moved, *id).is_none());
        }
        self.room = Some(snapshot);
    }

    /// Counts gathered but not yet acknowledged (for tests and reports).
    pub fn owes_nothing(&self) -> bool {
        self.outbox.is_empty()
    }
}

/// An answer whose view is older than this came through an aggregator that cannot reach the
/// coordinator: one interval for the aggregator's own sync to come due, one timeout for it.
fn upstream_lag_ms(timing: &Timing) -> u64 {
    timing
        .sync_interval_ms
        .saturating_add(timing.sync_timeout_ms)
}

/// The pre-queue lottery key for `ticket` when it belongs in the draw but stands in arrival
/// order: its isolate had not heard of the pre-queue yet when it issued or seated it. A ticket
/// belongs in the draw when it was issued after the pre-queue began and first brought back
/// before the opening (for a held place, `held_until` less the grace period is its last
/// visit, which was before the opening if it has not been back since). Its place was taken
/// before the seed was out, so nobody picked it. `None` when it is where it belongs.
fn into_prequeue(ticket: &Ticket, config: &RoomConfig, now: UnixMs) -> Option<OrderKey> {
    let (since, opens_at) = config.prequeue_since.zip(config.opens_at)?;
    let seated_at = match ticket.seat {
        Seat::Issued => now,
        Seat::Held | Seat::Worked => ticket.held_until.minus_ms(grace_ms(config)),
        Seat::Done => return None,
    };
    let drawn = OrderKey::lottery(since, ticket.order.sub32());
    let belongs = since <= ticket.issued_at && seated_at < opens_at;
    (belongs && ticket.order.bucket() != drawn.bucket()).then_some(drawn)
}

/// Is `ticket`, brought back for the first time at `now`, a ticket of the pre-queue (in the
/// draw, or issued during the pre-queue by an isolate that did not know of it yet, perhaps
/// ahead of the whole draw) that comes back after the opening?
fn late_to_the_draw(ticket: &Ticket, config: &RoomConfig, now: UnixMs) -> bool {
    let Some(since) = config.prequeue_since else {
        return false;
    };
    let drawn = ticket.order.bucket() == OrderKey::lottery(since, 0).bucket();
    let issued_during =
        since <= ticket.issued_at && config.opens_at.is_some_and(|o| ticket.issued_at < o);
    !config.before_opening(now) && (drawn || issued_during)
}

fn grace_ms(config: &RoomConfig) -> u64 {
    u64::from(config.place_grace_s).saturating_mul(1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_forgotten_and_recorded_again_is_kept_its_full_term() {
        let mut recent = RecentIds::default();
        assert!(recent.insert(7));
        recent.remove(7);
        assert!(!recent.contains(7));
        assert!(recent.insert(7), "forgotten, it is new again");
        // Its term counts from when it was recorded again: one short of RECENT_IDS newer ids
        // evict nothing of it.
        for other in 0..u64::try_from(RECENT_IDS).unwrap() - 1 {
            recent.insert(1_000 + other);
        }
        assert!(recent.contains(7));
        assert_eq!(recent.order.len(), RECENT_IDS);
        recent.insert(u64::MAX);
        assert!(!recent.contains(7), "evicted at its turn");
        assert_eq!(recent.set.len(), recent.order.len());
    }
    use crate::keys::RoomTag;
    use crate::summary::Arrivals;
    use crate::sync::settle_ms;

    const T0: UnixMs = UnixMs(1_700_000_000_000);
    const TIMING: Timing = Timing {
        sync_interval_ms: 1_000,
        sync_timeout_ms: 3_000,
        stale_after_ms: 5_000,
        fail_static_per_mille: 500,
    };

    const TTL: u64 = 6 * 3_600_000;

    fn book() -> Isolate {
        Isolate::new("a".into(), TIMING)
    }

    fn ticket(book: &Isolate, n: u8, now: UnixMs) -> Ticket {
        book.issue(
            [n; 16],
            u32::from(n) << 24,
            now,
            6 * 3_600_000,
            1,
            RoomTag::of("r"),
        )
    }

    /// A room whose operator scheduled the opening at `opens_at` at T0, letting `rate` a
    /// minute through after it: a pre-queue since T0.
    fn scheduled(opens_at: UnixMs, rate: u32) -> RoomConfig {
        let patch = format!(
            r#"{{"opens_at": {}, "new_users_per_minute": {rate}}}"#,
            opens_at.0
        );
        RoomConfig::default().apply(&crate::config::ConfigPatch::from_json(&patch).unwrap(), T0)
    }

    /// `b` sends what it owes at `now` and hears its room's `config` and `cursor` in an
    /// answer made at `at`; returns the batch it sent.
    fn hear(
        b: &mut Isolate,
        config: RoomConfig,
        cursor: Cursor,
        at: UnixMs,
        now: UnixMs,
    ) -> SyncReport {
        let r = b.begin_sync(now).unwrap();
        b.finish_sync(
            r.seq,
            Some(answer(&r, config, cursor, Summary::default(), at)),
            now,
        );
        r
    }

    /// The coordinator's answer to `report`, acknowledging it, with `config` and `cursor`.
    fn answer(
        report: &SyncReport,
        config: RoomConfig,
        cursor: Cursor,
        arrivals: Summary,
        at: UnixMs,
    ) -> RoomSnapshot {
        RoomSnapshot {
            config,
            cursor,
            arrivals,
            share_ppm: 1_000_000,
            acked: report.seq,
            at,
            settle_ms: settle_ms(1_000, 3_000),
            age_ms: 0,
            revoked: Vec::new(),
            revoked_before: None,
            through_per_minute: None,
            arrivals_per_minute: None,
            epoch: 0,
            notices: None,
            draw: None,
            lease_from: report.sent_at,
            lease_ms: crate::sync::LEASE_MS,
            granted_at: at,
            slots_left: None,
        }
    }

    fn open_room() -> RoomConfig {
        RoomConfig {
            new_users_per_minute: 600,
            ..RoomConfig::default()
        }
    }

    #[test]
    fn one_shot_fetches_cost_nothing_and_a_return_counts_once() {
        let mut b = book();
        for n in 0..200 {
            let _ = ticket(&b, n, T0);
        }
        assert!(b.owes_nothing(), "issuing counts nothing");
        let t = ticket(&b, 1, T0);
        let Visit::Update(seated) = b.visit(&t, T0.plus_ms(3_000), TTL, NetTag(0)) else {
            panic!("the first return seats the ticket")
        };
        assert_eq!(seated.seat, Seat::Held);
        assert_eq!(seated.held_until, T0.plus_ms(3_000 + 300_000));
        // The same issued ticket replayed: the cookie is seated again, the place is not.
        assert!(matches!(
            b.visit(&t, T0.plus_ms(4_000), TTL, NetTag(0)),
            Visit::Update(_)
        ));
        assert_eq!(
            b.visit(&seated, T0.plus_ms(5_000), TTL, NetTag(0)),
            Visit::Keep
        );
        let report = b.begin_sync(T0.plus_ms(5_000)).unwrap();
        assert_eq!(
            report.places,
            vec![(T0.secs(), slot_of(seated.held_until), 1)]
        );
    }

    #[test]
    fn a_place_is_renewed_by_visits_and_lapses_without_them() {
        let mut b = book();
        let Visit::Update(held) = b.visit(&ticket(&b, 1, T0), T0, TTL, NetTag(0)) else {
            panic!()
        };
        // Before half the grace period: nothing to change.
        assert_eq!(
            b.visit(&held, T0.plus_ms(100_000), TTL, NetTag(0)),
            Visit::Keep
        );
        let Visit::Update(renewed) = b.visit(&held, T0.plus_ms(200_000), TTL, NetTag(0)) else {
            panic!("renewed after half the grace period")
        };
        assert_eq!(renewed.held_until, T0.plus_ms(500_000));
        // The renewal replayed moves nothing twice.
        assert!(matches!(
            b.visit(&held, T0.plus_ms(201_000), TTL, NetTag(0)),
            Visit::Update(_)
        ));
        let report = b.begin_sync(T0.plus_ms(201_000)).unwrap();
        // Seated and moved within one batch: one place, in the later slot.
        assert_eq!(
            report.places,
            vec![(T0.secs(), slot_of(renewed.held_until), 1)]
        );
        assert_eq!(
            b.visit(&renewed, T0.plus_ms(500_000), TTL, NetTag(0)),
            Visit::Lapsed
        );
        let done = Ticket {
            seat: Seat::Done,
            ..renewed
        };
        assert_eq!(
            b.visit(&done, T0.plus_ms(201_000), TTL, NetTag(0)),
            Visit::Ended
        );
        // A holder who keeps coming back keeps the cookie too: past half its life it is signed
        // again with a new expiry.
        let late = T0.plus_ms(4 * 3_600_000);
        let mut b2 = book();
        let kept = Ticket {
            held_until: late.plus_ms(300_000),
            ..renewed.clone()
        };
        let Visit::Update(fresh) = b2.visit(&kept, late, 6 * 3_600_000, NetTag(0)) else {
            panic!("renewed cookie")
        };
        assert_eq!(fresh.expires_at, late.plus_ms(6 * 3_600_000));
    }

    #[test]
    fn a_batch_goes_again_under_its_number_until_acknowledged() {
        let mut b = book();
        let _ = b.visit(&ticket(&b, 1, T0), T0, TTL, NetTag(0));
        let first = b.begin_sync(T0).unwrap();
        assert_eq!(first.seq, 1);
        // Nothing more while it is in flight; more counts wait for the next batch.
        assert_eq!(b.begin_sync(T0.plus_ms(1_500)), None);
        let _ = b.visit(&ticket(&b, 2, T0), T0.plus_ms(1_600), TTL, NetTag(0));
        // The request was cancelled (the citizen disconnected): no answer ever comes. After the
        // timeout the same batch goes again, not a new one, and the new count is not lost.
        // Each copy says when it left, for the lease its answer grants.
        let same = |copy: &SyncReport| SyncReport {
            sent_at: first.sent_at,
            ..copy.clone()
        };
        let again = b.begin_sync(T0.plus_ms(3_100)).unwrap();
        assert_eq!(again.sent_at, T0.plus_ms(3_100));
        assert_eq!(same(&again), first);
        b.finish_sync(again.seq, None, T0.plus_ms(3_200));
        let third = b.begin_sync(T0.plus_ms(4_200)).unwrap();
        assert_eq!(same(&third), first, "a failed batch goes again");
        let snap = answer(
            &third,
            open_room(),
            Cursor::default(),
            Summary::default(),
            T0.plus_ms(4_300),
        );
        b.finish_sync(third.seq, Some(snap), T0.plus_ms(4_300));
        let next = b.begin_sync(T0.plus_ms(5_300)).unwrap();
        assert_eq!(next.seq, 2);
        assert_eq!(
            next.places.len(),
            1,
            "the count taken meanwhile goes in the next batch"
        );
        // The view holds both places: the acknowledged one is the coordinator's to send (here
        // it sent none), the unacknowledged one is laid over.
        assert_eq!(b.view.total(), 1);
    }

    #[test]
    fn an_idle_isolate_is_not_stale_but_a_cut_off_one_is() {
        let mut b = book();
        hear(&mut b, open_room(), Cursor::default(), T0, T0);
        // An hour without a request: not stale.
        assert!(!b.stale(T0.plus_ms(3_600_000)));
        let r = b.begin_sync(T0.plus_ms(3_600_000)).unwrap();
        b.finish_sync(r.seq, None, T0.plus_ms(3_600_100));
        assert!(
            b.stale(T0.plus_ms(3_600_100)),
            "failing, and the last good sync is old"
        );
        // A sync that never answers is a failure too, once its time is up.
        let mut c = book();
        hear(&mut c, open_room(), Cursor::default(), T0, T0);
        let _ = c.begin_sync(T0.plus_ms(4_000)).unwrap();
        assert!(!c.stale(T0.plus_ms(5_000)));
        assert!(c.stale(T0.plus_ms(9_100)));
    }

    #[test]
    fn an_answer_from_the_future_holds_off_no_honest_answer() {
        // One answer dated far ahead (a clock set back after a jump, or a forged answer), then
        // honest ones: each honest answer is taken, and the config it brings is followed.
        let mut b = book();
        let r = b.begin_sync(T0).unwrap();
        let ahead = answer(
            &r,
            open_room(),
            Cursor::default(),
            Summary::default(),
            UnixMs(u64::MAX),
        );
        b.finish_sync(r.seq, Some(ahead), T0);
        let now = T0.plus_ms(1_000);
        let closed = RoomConfig {
            new_users_per_minute: 0,
            ..open_room()
        };
        hear(&mut b, closed, Cursor::default(), now, now);
        assert_eq!(b.config().map(|c| c.new_users_per_minute), Some(0));
        // A late answer, older than one the clocks allow, is still dropped.
        let later = T0.plus_ms(2_000);
        hear(&mut b, open_room(), Cursor::default(), T0, later);
        assert_eq!(b.config().map(|c| c.new_users_per_minute), Some(0));
    }

    #[test]
    fn answers_grown_old_upstream_make_an_isolate_stale() {
        // Its aggregator answers every second, but has not heard from the coordinator since T0.
        let mut b = book();
        for s in 0..=6u64 {
            let now = T0.plus_ms(s * 1_000);
            let r = b.begin_sync(now).unwrap();
            let mut old = answer(&r, open_room(), Cursor::default(), Summary::default(), T0);
            old.age_ms = s * 1_000;
            b.finish_sync(r.seq, Some(old), now);
            assert!(
                b.owes_nothing(),
                "the aggregator acknowledged batch {}",
                r.seq
            );
            // Stale once the view is older than stale_after_ms (5 s here), not before.
            assert_eq!(b.stale(now), s > 5, "after {s} s");
        }
        // The coordinator is back: the next fresh answer ends it.
        let now = T0.plus_ms(7_000);
        hear(&mut b, open_room(), Cursor::default(), now, now);
        assert!(!b.stale(now));
    }

    #[test]
    fn fail_static_keeps_the_order_and_admits_only_counted_seconds_at_a_share() {
        let mut b = book();
        // 20 people wait in second S (counted in full by the coordinator), 20 more in S + 30
        // (not settled when the coordinator was last heard from).
        let s = T0.secs() - 60;
        let arrivals = Summary::from_counts([(s, 20), (s + 30, 20)], s);
        let at = UnixMs((s + 35) * 1000);
        let r = b.begin_sync(at).unwrap();
        let config = RoomConfig {
            new_users_per_minute: 60,
            ..RoomConfig::default()
        };
        let room_then = answer(&r, config, Cursor::at_bucket(s), arrivals, at);
        b.finish_sync(r.seq, Some(room_then.clone()), at);
        // The room goes out of the aggregator's reach. The aggregator still answers every
        // second, with the room as it last heard it, grown older, and the fail-static tenth
        // of the location's share, leased anew each time.
        let aggregator_answers = |b: &mut Isolate, from: UnixMs, to: UnixMs| {
            let mut now = from;
            while now <= to {
                if let Some(r) = b.begin_sync(now) {
                    let mut snap = room_then.clone();
                    snap.age_ms = now.since(at);
                    snap.share_ppm = 100_000;
                    snap.lease_from = r.sent_at;
                    snap.granted_at = now;
                    b.finish_sync(r.seq, Some(snap), now);
                }
                now = now.plus_ms(1_000);
            }
        };
        let down = at.plus_ms(1_000);
        aggregator_answers(&mut b, down, down);
        let front = Ticket {
            order: OrderKey::new(s, 0),
            ..ticket(&b, 1, at)
        };
        let late = Ticket {
            order: OrderKey::new(s + 30, 0),
            ..ticket(&b, 2, at)
        };
        // Not stale yet: the coordinator's cursor, which has not moved.
        assert_eq!(b.admit(&front, down), Admission::NotYet);
        // Stale from at + 5 s; 20 s later at 1/s × 50 % the isolate has moved ten places.
        let later = at.plus_ms(25_000);
        aggregator_answers(&mut b, down.plus_ms(1_000), later);
        assert!(b.stale(later));
        assert!(matches!(
            b.admit(&front, later),
            Admission::Through { first: true }
        ));
        let cursor = b.cursor(later).unwrap();
        let moved = b.view.between(Cursor::at_bucket(s), OrderKey(cursor.0));
        assert!((9..=10).contains(&moved), "{moved}");
        // An hour later the counted second is through, but never the one after the settled
        // limit: its count may be missing people who arrived elsewhere.
        let much_later = at.plus_ms(3_600_000);
        assert!(
            b.cursor(much_later).unwrap() <= Cursor::at_time(at.minus_ms(settle_ms(1_000, 3_000)))
        );
        assert_eq!(b.admit(&late, much_later), Admission::NotYet);
        assert!(b.status(&late, Admission::NotYet, much_later, 0).stale);
    }

    #[test]
    fn an_isolate_cut_off_from_its_aggregator_lets_nobody_through_after_its_lease() {
        let mut b = book();
        let config = RoomConfig {
            new_users_per_minute: 6_000,
            ..RoomConfig::default()
        };
        let front = ticket(&b, 1, T0);
        let second = ticket(&b, 2, T0);
        let _ = b.visit(&front, T0, TTL, NetTag(0));
        let _ = b.visit(&second, T0, TTL, NetTag(0));
        // The answer comes 300 ms after the batch left: the lease runs from the leaving.
        let sent = T0.plus_ms(10_000);
        let r = b.begin_sync(sent).unwrap();
        let cursor = Cursor::at_time(T0.plus_ms(1_000));
        b.finish_sync(
            r.seq,
            Some(answer(&r, config.clone(), cursor, Summary::default(), sent)),
            sent.plus_ms(300),
        );
        let end = sent.plus_ms(crate::sync::LEASE_MS);
        assert_eq!(b.share_in_force_ppm(end.minus_ms(1)), 1_000_000);
        assert!(matches!(
            b.admit(&front, end.minus_ms(1)),
            Admission::Through { first: true }
        ));
        // Every sync after it fails: from the lease's end the share is nothing, whatever was
        // saved, and the refusal still counts as demand for when the aggregator is back.
        for k in 1..10 {
            if let Some(r) = b.begin_sync(sent.plus_ms(k * 1_000)) {
                b.finish_sync(r.seq, None, sent.plus_ms(k * 1_000 + 50));
            }
        }
        assert_eq!(b.share_in_force_ppm(end), 0);
        for later in [end, end.plus_ms(60_000)] {
            assert!(
                matches!(b.admit(&second, later), Admission::Throttled { .. }),
                "{later:?}"
            );
        }
        // A new answer brings a share, and a new lease, again.
        let back = end.plus_ms(61_000);
        let r = b.begin_sync(back).unwrap();
        b.finish_sync(
            r.seq,
            Some(answer(&r, config, cursor, Summary::default(), back)),
            back,
        );
        assert_eq!(b.share_in_force_ppm(back), 1_000_000);
    }

    #[test]
    fn a_larger_share_granted_before_the_cut_it_holds_is_never_run_again() {
        let mut b = book();
        let config = RoomConfig {
            new_users_per_minute: 6_000,
            ..RoomConfig::default()
        };
        // Two copies of one batch: the first's answer (the whole rate) is overtaken by the
        // second's (a cut to a tenth), granted later from the same room.
        let first = b.begin_sync(T0).unwrap();
        let mut whole = answer(
            &first,
            config.clone(),
            Cursor::default(),
            Summary::default(),
            T0,
        );
        whole.granted_at = T0.plus_ms(100);
        let again = b.begin_sync(T0.plus_ms(3_100)).unwrap();
        let mut cut = answer(&again, config, Cursor::default(), Summary::default(), T0);
        cut.share_ppm = 100_000;
        cut.granted_at = T0.plus_ms(3_200);
        b.finish_sync(again.seq, Some(cut), T0.plus_ms(3_300));
        let next = hear(
            &mut b,
            RoomConfig::default(),
            Cursor::default(),
            T0,
            T0.plus_ms(4_300),
        );
        assert_eq!(
            next.share_at,
            T0.plus_ms(3_200),
            "the batch names the cut it runs"
        );
        // The overtaken answer arrives last: its share is not taken up.
        b.finish_sync(first.seq, Some(whole), T0.plus_ms(4_400));
        assert!(b.share_in_force_ppm(T0.plus_ms(4_500)) <= 100_000);
    }

    #[test]
    fn an_answer_that_cuts_the_share_is_said_heard_early_and_one_that_grows_it_is_not() {
        let mut b = book();
        let with_share = |b: &mut Isolate, at: UnixMs, share_ppm: u32| {
            let r = b.begin_sync(at).unwrap();
            assert!(!r.early, "a batch an interval after the last is not early");
            let mut snap = answer(&r, open_room(), Cursor::default(), Summary::default(), at);
            snap.share_ppm = share_ppm;
            snap.granted_at = at.plus_ms(20);
            b.finish_sync(r.seq, Some(snap), at.plus_ms(40));
        };
        with_share(&mut b, T0, 500_000);
        // Grown: the next batch goes an interval after the last, as ever.
        let t1 = T0.plus_ms(1_000);
        with_share(&mut b, t1, 600_000);
        assert!(b.begin_sync(t1.plus_ms(40 + 150)).is_none());
        // Cut: the next batch goes 150 ms after the answer, marked early, naming the cut.
        let t2 = T0.plus_ms(2_000);
        with_share(&mut b, t2, 100_000);
        assert!(b.begin_sync(t2.plus_ms(40 + 149)).is_none());
        let early = b.begin_sync(t2.plus_ms(40 + 150)).unwrap();
        assert!(early.early);
        assert_eq!(early.share_at, t2.plus_ms(20));
    }

    #[test]
    fn a_stale_isolate_with_a_small_share_still_moves_at_the_fail_static_rate() {
        // One isolate of ten (a tenth of the rate): its cursor passes the room's line at the
        // fail-static fraction of the full rate, since it admits only its own tenth of the
        // people it passes. At its share it would give the room a hundredth of that.
        let mut b = book();
        let s = T0.secs() - 60;
        let at = UnixMs((s + 35) * 1000);
        let r = b.begin_sync(at).unwrap();
        let mut snap = answer(
            &r,
            RoomConfig {
                new_users_per_minute: 60,
                ..RoomConfig::default()
            },
            Cursor::at_bucket(s),
            Summary::from_counts([(s, 100)], s),
            at,
        );
        snap.share_ppm = 100_000;
        b.finish_sync(r.seq, Some(snap), at);
        let r = b.begin_sync(at.plus_ms(1_000)).unwrap();
        b.finish_sync(r.seq, None, at.plus_ms(1_000));
        let later = at.plus_ms(25_000);
        let cursor = b.cursor(later).unwrap();
        let moved = b.view.between(Cursor::at_bucket(s), OrderKey(cursor.0));
        assert!((9..=10).contains(&moved), "{moved}");
    }

    /// A book that heard the room open at 600 a minute (so the front is the first 100 places
    /// from the cursor), its line `counts` and its cursor at the start of second `cursor`.
    fn book_with_line(counts: &[(u64, u64)], cursor: u64) -> Isolate {
        let mut b = book();
        let line = Summary::from_counts(counts.iter().copied(), T0.secs());
        let r = b.begin_sync(T0).unwrap();
        let room = answer(&r, open_room(), Cursor::at_bucket(cursor), line, T0);
        b.finish_sync(r.seq, Some(room), T0);
        b
    }

    /// `t` asks at `now`, as a request does: the book decides, and counts a citizen told to
    /// wait at the front if it is there.
    fn ask(b: &mut Isolate, t: &Ticket, now: UnixMs) -> Admission {
        let admission = b.admit(t, now);
        if admission == Admission::NotYet {
            b.asked(t, None, now);
        }
        admission
    }

    #[test]
    fn the_front_counts_the_citizens_who_asked_lately_among_the_next_seconds_of_the_rate() {
        let s0 = T0.secs();
        // 600 a minute: the front reaches FRONT_S = 10 s of it, 100 places, from the cursor,
        // here at the start of s0 + 1. Ahead of s0 + 1: nobody; of s0 + 2: 124; of s0 + 6: 127.
        let mut b = book_with_line(&[(s0 + 1, 124), (s0 + 2, 3), (s0 + 6, 3)], s0 + 1);
        let at = |b: &Isolate, n: u8, second: u64| ticket(b, n, UnixMs(second * 1_000));
        let tickets: Vec<Ticket> = (0..7)
            .map(|n| at(&b, n, if n < 4 { s0 + 1 } else { s0 + 2 }))
            .collect();
        let now = T0.plus_ms(20_000);
        for t in &tickets {
            assert_eq!(ask(&mut b, t, now), Admission::NotYet);
        }
        // Asking twice counts once; a citizen already eligible is not the front, nor is one
        // whose place is beyond it (it is asked, and waits, like any other).
        let (eligible, behind) = (at(&b, 9, s0), at(&b, 10, s0 + 6));
        let _ = ask(&mut b, tickets.first().unwrap(), now.plus_ms(500));
        let _ = ask(&mut b, &eligible, now);
        let _ = ask(&mut b, &behind, now);
        // The 4 of s0 + 1 (124 in it, 100 places of front: 4 × 100 / 124 = 3); none of
        // s0 + 2, whose 124 ahead fill the front.
        let r = b.begin_sync(now.plus_ms(1_000)).unwrap();
        assert_eq!(r.front, 4 * 100 / 124);
        assert_eq!(
            crate::sync::demand_of(&r),
            r.front + 1,
            "and the eligible one, at the limiter"
        );
        // The room passed s0 + 1: the next second leads, and only those who asked lately.
        let later = Summary::from_counts([(s0 + 2, 3), (s0 + 6, 3)], s0 + 2);
        let then = now.plus_ms(1_000);
        let room = answer(&r, open_room(), Cursor::at_bucket(s0 + 2), later, then);
        b.finish_sync(r.seq, Some(room), then);
        assert_eq!(
            b.front(then),
            0,
            "s0 + 2's three asked while 124 stood ahead of them"
        );
        for t in tickets.iter().skip(4) {
            assert_eq!(ask(&mut b, t, then.plus_ms(500)), Admission::NotYet);
        }
        assert_eq!(b.front(then.plus_ms(1_000)), 3);
        // Nobody asks for longer than ASKED_WITHIN_MS: however many places they hold, the
        // front reads nothing (a script holding places it will not use draws no share).
        let quiet = then.plus_ms(ASKED_WITHIN_MS + 1_000);
        let r = b.begin_sync(quiet).unwrap();
        let still = Summary::from_counts([(s0 + 2, 3), (s0 + 6, 3)], s0 + 2);
        let room = answer(&r, open_room(), Cursor::at_bucket(s0 + 2), still, quiet);
        b.finish_sync(r.seq, Some(room), quiet);
        assert_eq!(b.front(quiet), 0);
        assert!(b.at_front.is_empty(), "forgotten");
    }

    #[test]
    fn a_script_cannot_swell_the_earliest_seconds_by_asking_often_copying_or_minting() {
        let s0 = T0.secs();
        // The cursor at s0 + 2: places of s0 and s0 + 1 are eligible, those of s0 + 30 not.
        let mut b = book_with_line(&[(s0, 5), (s0 + 1, 5), (s0 + 30, 5_000)], s0 + 2);
        let kept = ticket(&b, 1, UnixMs(s0 * 1_000));
        let minted: Vec<Ticket> = (2..=255)
            .map(|n| ticket(&b, n, UnixMs((s0 + 30) * 1_000)))
            .collect();
        // One eligible ticket asking a thousand times (or copied to a thousand clients of this
        // isolate: the same ticket), before a token has matured, and 254 minted at the back
        // asking too: the line holds one citizen, and the earliest seconds are that one.
        for _ in 0..1_000 {
            assert!(matches!(
                ask(&mut b, &kept, T0),
                Admission::Throttled { .. }
            ));
        }
        for t in &minted {
            assert_eq!(ask(&mut b, t, T0), Admission::NotYet);
        }
        let r = b.begin_sync(T0.plus_ms(1_000)).unwrap();
        assert_eq!(r.earliest, crate::sync::Earliest::of([s0].into_iter()));
        assert_eq!(r.waiting, 1);
        b.finish_sync(r.seq, None, T0.plus_ms(1_050));
        // It stops asking: within RETRY_MAX_MS and LINE_HOLD_MS its place, and its weight,
        // are gone.
        let gone = T0.plus_ms(crate::limiter::RETRY_MAX_MS + crate::limiter::LINE_HOLD_MS + 1);
        let r = b.begin_sync(gone).unwrap();
        assert_eq!(r.earliest.citizens, 0);
    }

    #[test]
    fn a_script_cannot_swell_the_front_by_asking_often_or_with_tickets_from_the_back() {
        let s0 = T0.secs();
        // 600 a minute: the front is the first 100 places from the cursor (s0 + 1), all within
        // s0 + 1 and s0 + 2.
        let mut b = book_with_line(&[(s0 + 1, 50), (s0 + 2, 100), (s0 + 30, 5_000)], s0 + 1);
        let kept = ticket(&b, 1, UnixMs((s0 + 1) * 1_000));
        let minted: Vec<Ticket> = (2..=255)
            .map(|n| ticket(&b, n, UnixMs((s0 + 30) * 1_000)))
            .collect();
        let now = T0.plus_ms(2_000);
        // One ticket at the front asking a thousand times, and 254 minted at the back asking
        // too: the front is one citizen.
        for i in 0..1_000 {
            assert_eq!(ask(&mut b, &kept, now.plus_ms(i)), Admission::NotYet);
        }
        for t in &minted {
            let _ = ask(&mut b, t, now);
        }
        assert_eq!(b.begin_sync(now.plus_ms(1_000)).map(|r| r.front), Some(1));
        assert_eq!(b.at_front.len(), 1);
    }

    #[test]
    fn a_ticket_let_through_once_costs_the_rate_nothing_again() {
        let mut b = book();
        let config = RoomConfig {
            new_users_per_minute: 60,
            ..RoomConfig::default()
        };
        hear(&mut b, config, Cursor::at_time(T0), T0, T0);
        let early = UnixMs(T0.0 - 10_000);
        let (a, c) = (ticket(&b, 1, early), ticket(&b, 2, early));
        let now = T0.plus_ms(5_000);
        assert_eq!(b.admit(&a, now), Admission::Through { first: true });
        for _ in 0..50 {
            assert_eq!(b.admit(&a, now), Admission::Through { first: false });
        }
        // One a second: the next citizen waits for the rate, and is told when to ask again.
        let Admission::Throttled { retry_at } = b.admit(&c, now) else {
            panic!("throttled")
        };
        assert!(
            retry_at > now && retry_at <= now.plus_ms(1_000),
            "{retry_at:?}"
        );
        let status = b.status(&c, Admission::Throttled { retry_at }, now, 0);
        assert_eq!(
            (status.state, status.position),
            (QueueState::Waiting, Some(1))
        );
        // Back when the token is due, never before it, whatever the jitter.
        let due = retry_at.since(now).max(POLL_FLOOR_MS);
        for jitter in [0, 1, u16::MAX / 2, u16::MAX] {
            let next = b.status(&c, Admission::Throttled { retry_at }, now, jitter);
            assert!(
                (due..=due * 115 / 100).contains(&next.next_poll_ms),
                "{jitter}: {} for a token due in {due} ms",
                next.next_poll_ms
            );
        }
        let report = b.begin_sync(now).unwrap();
        assert_eq!(report.let_through, vec![(now.secs(), 1)]);
        assert_eq!(report.refused, 1);
        assert!(b.end_session(&a.id, now));
        assert!(!b.end_session(&a.id, now), "a session ends once");
    }

    #[test]
    fn a_script_asking_every_10_ms_does_not_pass_a_citizen_of_an_earlier_second_told_when_to_come_back(
    ) {
        let mut b = book();
        let config = RoomConfig {
            new_users_per_minute: 60,
            ..RoomConfig::default()
        };
        hear(&mut b, config, Cursor::at_time(T0), T0, T0);
        let first = ticket(&b, 1, UnixMs(T0.0 - 30_000));
        let honest = ticket(&b, 2, UnixMs(T0.0 - 20_000));
        let script = ticket(&b, 3, UnixMs(T0.0 - 10_000));
        let now = T0.plus_ms(5_000);
        assert_eq!(b.admit(&first, now), Admission::Through { first: true });
        // The honest citizen is refused, told when its token is due, and comes back as late as
        // the spread allows.
        let Admission::Throttled { retry_at } = b.admit(&honest, now) else {
            panic!("throttled")
        };
        let told = b.status(&honest, Admission::Throttled { retry_at }, now, u16::MAX);
        let back = now.plus_ms(told.next_poll_ms);
        // Meanwhile the script, of a later second, asks every 10 ms: the token that matures is
        // held for the earlier second.
        let mut t = now;
        while t < back {
            assert!(
                !matches!(b.admit(&script, t), Admission::Through { .. }),
                "the script went through at +{} ms, before the citizen told to come back at +{} ms",
                t.since(now),
                told.next_poll_ms
            );
            t = t.plus_ms(10);
        }
        assert_eq!(b.admit(&honest, back), Admission::Through { first: true });
    }

    #[test]
    fn a_ticket_from_a_cold_isolate_joins_the_pre_queue_when_it_comes_back() {
        let mut b = book();
        // Issued before this isolate knew the room was gathering a pre-queue: FIFO.
        let t = ticket(&b, 7, T0.plus_ms(500));
        let config = scheduled(T0.plus_ms(600_000), 0);
        hear(
            &mut b,
            config,
            Cursor::at_time(T0),
            T0.plus_ms(600),
            T0.plus_ms(600),
        );
        let Visit::Update(seated) = b.visit(&t, T0.plus_ms(2_000), TTL, NetTag(0)) else {
            panic!()
        };
        assert_eq!(seated.order.bucket(), OrderKey::lottery(T0, 0).bucket());
        // Later arrivals are issued into the lottery directly.
        assert_eq!(
            ticket(&b, 8, T0.plus_ms(3_000)).order.bucket(),
            OrderKey::lottery(T0, 0).bucket()
        );
    }

    #[test]
    fn a_place_seated_before_its_isolate_heard_of_the_pre_queue_joins_the_draw_once() {
        let mut b = book();
        // Issued and brought back while this isolate did not yet know of the pre-queue.
        let t = ticket(&b, 7, T0.plus_ms(500));
        let Visit::Update(fifo) = b.visit(&t, T0.plus_ms(800), TTL, NetTag(0)) else {
            panic!()
        };
        assert_eq!(fifo.order.bucket(), T0.secs());
        let config = scheduled(T0.plus_ms(600_000), 0);
        let r = b.begin_sync(T0.plus_ms(900)).unwrap();
        assert_eq!(r.places, vec![(T0.secs(), slot_of(fifo.held_until), 1)]);
        let mut heard = answer(
            &r,
            config.clone(),
            Cursor::at_time(T0),
            Summary::default(),
            T0.plus_ms(900),
        );
        let seed = crate::draw::Seed {
            since: T0,
            bytes: [5; 32],
        };
        heard.draw = crate::draw::DrawView::of(Some(&seed), &config, T0.plus_ms(900));
        b.finish_sync(r.seq, Some(heard), T0.plus_ms(900));
        let lottery = OrderKey::lottery(T0, 0).bucket();
        let Visit::Update(drawn) = b.visit(&fifo, T0.plus_ms(2_000), TTL, NetTag(0)) else {
            panic!("the held place joins the draw")
        };
        assert_eq!(drawn.order.bucket(), lottery);
        assert_eq!(drawn.order.sub(), fifo.order.sub());
        // The old cookie replayed is moved again in its cookie, but its count moves once.
        assert!(matches!(
            b.visit(&fifo, T0.plus_ms(2_500), TTL, NetTag(0)),
            Visit::Update(_)
        ));
        assert_eq!(
            b.visit(&drawn, T0.plus_ms(3_000), TTL, NetTag(0)),
            Visit::Keep
        );
        let mut report = b.begin_sync(T0.plus_ms(3_000)).unwrap().places;
        report.sort_unstable();
        assert_eq!(
            report,
            vec![
                (T0.secs(), slot_of(fifo.held_until), -1),
                (lottery, slot_of(drawn.held_until), 1)
            ]
        );
        // First back after the opening, a place seated before it (last visit at 400 s) is
        // drawn too: it was taken before the seed was out. One seated after it (a stale
        // isolate's renewal at 601 s) stands where it is.
        let mut before = fifo.clone();
        before.id = [9; 16];
        before.held_until = T0.plus_ms(700_000);
        let Visit::Update(moved) = b.visit(&before, T0.plus_ms(610_000), TTL, NetTag(0)) else {
            panic!("seated before the opening")
        };
        assert_eq!(moved.order.bucket(), lottery);
        let published = b.published_draw(T0.plus_ms(610_000), Some(&before));
        assert!(
            published.ticket.is_some(),
            "the draw names it before it comes back"
        );
        let mut after = before.clone();
        after.held_until = T0.plus_ms(901_000);
        assert_eq!(
            b.visit(&after, T0.plus_ms(610_000), TTL, NetTag(0)),
            Visit::Keep
        );
        assert!(b
            .published_draw(T0.plus_ms(610_000), Some(&after))
            .ticket
            .is_none());
    }

    #[test]
    fn a_ticket_issued_unaware_in_a_pre_queue_and_first_back_after_the_opening_waits_from_then() {
        // Issued in the pre-queue's first second, ahead of the draw's, by an isolate that did
        // not know of it yet.
        let mut b = book();
        let t = ticket(&b, 10, T0.plus_ms(100));
        assert!(t.order.bucket() < OrderKey::lottery(T0, 0).bucket());
        let opens_at = T0.plus_ms(60_000);
        hear(
            &mut b,
            scheduled(opens_at, 600),
            Cursor::at_time(T0),
            T0.plus_ms(200),
            T0.plus_ms(200),
        );
        // First back after the opening: in line from then, as a ticket of the draw brought
        // back late is, not ahead of everyone who took part in it.
        let back = opens_at.plus_ms(1_000);
        let Visit::Update(late) = b.visit(&t, back, TTL, NetTag(0)) else {
            panic!()
        };
        assert_eq!(late.order.bucket(), back.secs());
    }

    #[test]
    fn the_draw_orders_the_pre_queue_by_the_seed_and_a_ticket_brought_back_late_is_not_in_it() {
        let mut b = book();
        let opens_at = T0.plus_ms(60_000);
        let config = scheduled(opens_at, 600);
        let seed = crate::draw::Seed {
            since: T0,
            bytes: [5; 32],
        };
        let sync = |b: &mut Isolate, now: UnixMs| {
            let r = b.begin_sync(now).unwrap();
            let mut a = answer(
                &r,
                config.clone(),
                Cursor::at_time(T0),
                Summary::default(),
                now,
            );
            a.draw = crate::draw::DrawView::of(Some(&seed), &config, now);
            b.finish_sync(r.seq, Some(a), now);
        };
        sync(&mut b, T0.plus_ms(1_000));
        let early = ticket(&b, 1, T0.plus_ms(2_000));
        let Visit::Update(early) = b.visit(&early, T0.plus_ms(3_000), TTL, NetTag(0)) else {
            panic!()
        };
        let late = ticket(&b, 2, T0.plus_ms(4_000));
        let bucket = OrderKey::lottery(T0, 0).bucket();
        assert_eq!(late.order.bucket(), bucket, "issued in the pre-queue");
        // Before the seed reaches this isolate, a ticket of the draw stands at its bucket's end.
        assert_eq!(b.order_of(&early), OrderKey::new(bucket, u32::MAX));
        // Just before the opening the seed is here: the place is the seed's, not the cookie's.
        sync(&mut b, opens_at.minus_ms(5_000));
        assert_eq!(
            b.order_of(&early),
            OrderKey::new(bucket, crate::draw::place(&[5; 32], &early.id))
        );
        // Brought back for the first time after the opening: in line from now, not the draw.
        let Visit::Update(late) = b.visit(&late, opens_at.plus_ms(1_000), TTL, NetTag(0)) else {
            panic!()
        };
        assert_eq!(late.order.bucket(), opens_at.plus_ms(1_000).secs());
        assert_eq!(b.order_of(&late), late.order);
    }

    #[test]
    fn beyond_what_the_slots_can_serve_the_page_is_told_they_are_taken_instead_of_an_eta() {
        let mut b = book();
        let now = T0.plus_ms(30_000);
        let front = ticket(&b, 1, T0.plus_ms(2_000));
        let back = ticket(&b, 2, T0.plus_ms(20_000));
        // One place a second from T0; the slots can serve five beyond the cursor.
        let arrivals = Summary::from_counts((0..25).map(|s| (T0.secs() + s, 1)), T0.secs());
        let mut config = open_room();
        config.next_release_at = Some(T0.plus_ms(3_600_000));
        let r = b.begin_sync(now).unwrap();
        let mut snap = answer(&r, config, Cursor::at_bucket(T0.secs()), arrivals, now);
        snap.slots_left = Some(5);
        b.finish_sync(r.seq, Some(snap.clone()), now);
        let told = b.status(&back, Admission::NotYet, now, 0);
        assert_eq!(told.state, QueueState::Waiting);
        assert_eq!(
            told.slots_taken.map(|t| t.next_release_at),
            Some(Some(T0.plus_ms(3_600_000)))
        );
        assert_eq!(told.eta_s, None);
        assert!(told.position.is_some(), "the place is still said");
        let json = serde_json::to_string(&told).unwrap();
        assert!(
            json.contains(r#""slots_taken":{"next_release_at":"#),
            "{json}"
        );
        let front_told = b.status(&front, Admission::NotYet, now, 0);
        assert_eq!(front_told.slots_taken, None);
        assert!(front_told.eta_s.is_some());
        // Slots come back: the same place is in line again, with an ETA.
        let r = b.begin_sync(now.plus_ms(1_000)).unwrap();
        snap.slots_left = Some(100);
        snap.acked = r.seq;
        snap.at = now.plus_ms(1_000);
        snap.granted_at = now.plus_ms(1_000);
        b.finish_sync(r.seq, Some(snap), now.plus_ms(1_000));
        let again = b.status(&back, Admission::NotYet, now.plus_ms(1_000), 0);
        assert_eq!(again.slots_taken, None);
        assert!(!serde_json::to_string(&again)
            .unwrap()
            .contains("slots_taken"));
    }
}
