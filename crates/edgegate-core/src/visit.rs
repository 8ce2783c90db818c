//! What a visit gets: the one decision on every citizen request, whoever serves it (the Worker's
//! entry, or the simulator).
//!
//! [`serve`] takes the tokens the request carried (already verified by the shell's trust
//! boundary: text becomes a token only there), which of the citizen's routes it took, the
//! isolate's book, `now` and the randomness a new ticket needs, and answers with what the
//! visitor gets ([`Answer`]) and the cookies to set ([`Cookie`]). The shell only turns cookie
//! text into [`Tokens`], signs the tokens the cookies carry, and builds the response. When a
//! forwarded request comes back from the origin, [`forwarded`] records how it went and ends the
//! session if the origin said so.
//!
//! Every count a visitor can cause goes through the book (`isolate`), which counts each ticket
//! once whatever the client replays: a place when its holder first comes back, a let-through
//! when the cursor and the rate allow it, a session end once.

use crate::config::RoomConfig;
use crate::isolate::{Admission, Isolate, Visit};
use crate::keys::{ForTickets, KeyRing, RoomTag};
use crate::network::NetTag;
use crate::origin::Outcome;
use crate::revocation::TicketRef;
use crate::status::{forced, QueueStatus, Rejoined};
use crate::time::UnixMs;
use crate::token::{Pass, Seat, TestKey, TestMode, Ticket};
use crate::work;

/// The citizen's routes: everything but the gate's own pages under `/queue/` and the operator's
/// under `/admin`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Route {
    /// `GET`/`HEAD /queue/status`: the waiting page's poll, answered as JSON.
    Status,
    /// `GET`/`HEAD /queue/status.html`: the same answer as a small page, for browsers without
    /// JavaScript.
    StatusPage,
    /// Any method on any protected path: the origin with a pass, else the waiting page.
    Door,
    /// `GET`/`HEAD /queue/draw`: the pre-queue draw's commitment, its seed from the opening,
    /// and the asker's place in it (`draw`).
    Draw,
}

/// Whom a request is for, as its host says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Audience {
    /// The operator's own host (`OPERATOR_HOST`), which no protected route uses: all of it is
    /// the operator's.
    Operator,
    /// The citizens' host.
    Citizens,
}

/// The admin API's routes, which answer on the citizens' host too (the HTTP contract has
/// `GET /admin/state` there), to a bearer token only: no console session is honoured there.
pub const ADMIN_API: &[&str] = &[
    "/admin/state",
    "/admin/config",
    "/admin/revoke",
    "/admin/audit",
    "/admin/history",
    "/admin/rooms",
    "/admin/test-key",
    "/admin/faults",
];

impl Route {
    /// The citizen's route for a request with `method` (as sent, upper case) to `path` (in its
    /// normalised form, `address::normalized`), or `None` for the gate's own routes, which the
    /// citizen's path never answers: everything on the operator's host; everything else under
    /// `/queue/` (its static files, its health check, any other method on the status); and on
    /// the citizens' host, the admin API ([`ADMIN_API`]). Every other path under `/admin` on
    /// the citizens' host (the console, its sign-in) is a protected path like any other: the
    /// console lives on the operator's host only.
    pub fn of(method: &str, path: &str, audience: Audience) -> Option<Route> {
        if audience == Audience::Operator {
            return None;
        }
        let read = method == "GET" || method == "HEAD";
        match path {
            "/queue/status" if read => Some(Route::Status),
            "/queue/status.html" if read => Some(Route::StatusPage),
            "/queue/draw" if read => Some(Route::Draw),
            p if p.starts_with("/queue/") || ADMIN_API.contains(&p) => None,
            _ => Some(Route::Door),
        }
    }
}

/// The tokens a request carried, each already verified for its room and `now` (or absent).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Tokens {
    pub ticket: Option<Ticket>,
    pub pass: Option<Pass>,
    pub test_key: Option<TestKey>,
}

/// One citizen request, as the decision needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub route: Route,
    pub tokens: Tokens,
    /// The client's network (`NetTag(0)`: none known).
    pub network: NetTag,
    /// The work it shows for a new place (its `Edgegate-Work` header), if any.
    pub work: Option<work::Answer>,
    pub now: UnixMs,
    /// Any `u16`, drawn by the shell: spreads the next poll.
    pub jitter: u16,
}

/// The deployment's terms for the room a request is for.
#[derive(Clone, Copy, Debug)]
pub struct Terms<'a> {
    pub room: RoomTag,
    /// How long a ticket cookie is accepted from when it was last signed, in milliseconds.
    pub ticket_ttl_ms: u64,
    /// The ids of the keys new tickets and passes are signed with (the shell signs them).
    pub ticket_key_id: u8,
    pub pass_key_id: u8,
    /// The ticket keys, which work challenges are drawn under (`work`).
    pub ticket_keys: &'a KeyRing<ForTickets>,
}

/// A cookie the response sets. The shell signs the token and writes the `Set-Cookie` with the
/// contract's flags.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cookie {
    /// The ticket, kept for the deployment's ticket lifetime.
    Ticket(Ticket),
    /// A pass, kept for `max_age_s` (the room's session duration).
    Pass {
        pass: Pass,
        max_age_s: u64,
    },
    ClearTicket,
    ClearPass,
}

/// What the visitor gets.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Answer {
    /// Their place in the queue (the poll's JSON, or the no-JavaScript page).
    Status(QueueStatus),
    /// The waiting page.
    Page,
    /// The pre-queue draw, as anyone may read it.
    Draw(crate::draw::Published),
    /// The origin, with this pass.
    Forward(Forward),
    /// The operator withdrew their ticket: a page that says so, never the origin.
    Withdrawn(TicketRef),
    /// Their session ended (the origin said so, at this edge or another): a page that says so,
    /// never the origin; the pass is cleared and they may queue again.
    Ended,
    /// A pass presented from a network it was not let through from, after its one move: a
    /// page that says so, never the origin. (A copy of someone else's pass.)
    Elsewhere,
    /// No randomness for a new ticket: the shell's plain failure page. Nothing was counted.
    Unavailable,
    /// A pass at an isolate that has never heard from its room (its first sync failed): it
    /// cannot know which passes the operator withdrew, so it forwards none and asks the
    /// citizen to try again in a moment.
    Unconfirmed,
}

/// A request on its way to the origin: what it carries, and what [`forwarded`] needs back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Forward {
    /// The pass the request goes with (`Gate-Pass`), renewed if it was past half its life.
    pub pass: Pass,
    /// A test key's pass: for this request only, never counted, never ended.
    pub test: bool,
    /// The visitor's ticket, if they hold the one the pass is for: marked done when the origin
    /// ends the session.
    pub ticket: Option<Ticket>,
}

/// What [`forwarded`] needs to know of a request sent to the origin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent {
    /// The ticket the pass is for (a test key's own id for a test key's pass).
    pub ticket_id: [u8; 16],
    /// A test key's pass: it ends nothing.
    pub test: bool,
    /// The visitor's ticket, if they hold the one the pass is for.
    pub ticket: Option<Ticket>,
}

impl Forward {
    /// What [`forwarded`] will need when the origin answers.
    pub fn sent(&self) -> Sent {
        Sent {
            ticket_id: self.pass.ticket_id,
            test: self.test,
            ticket: self.ticket.clone(),
        }
    }
}

/// The outcome of [`serve`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Served {
    pub answer: Answer,
    /// In order: a later cookie of the same name overrides an earlier one.
    pub cookies: Vec<Cookie>,
    /// The visitor's ticket after the visit, if any: its ref is the number a citizen reads out.
    pub ticket: Option<Ticket>,
    /// What the book decided when it was asked to let the ticket through (a poll, or a page
    /// view without a pass), for figures and logs.
    pub admission: Option<Admission>,
}

/// How long a citizen without JavaScript waits, from when their ticket was issued, instead of
/// the work their network's budget asks (the no-JavaScript status page's path, in ms): slower
/// than the work, and one such place a network in that time at each edge
/// (`Isolate::no_script_turn`), so a script that minted many tickets gains nothing by it; but
/// never no place at all.
pub const NO_SCRIPT_WAIT_MS: u64 = 90_000;

/// Decides a citizen's request. `draw` yields 20 random bytes (a ticket id and its place
/// inside its second) and is called only when a new ticket is issued, `None` if the platform
/// has no randomness.
///
/// The book should know the room (it has synced once); one that does not (its first sync
/// failed) answers without it: waiting, stale, nobody let through, no pass forwarded.
pub fn serve(
    book: &mut Isolate,
    request: Request,
    terms: &Terms<'_>,
    draw: &mut dyn FnMut() -> Option<[u8; 20]>,
) -> Served {
    let Request {
        route,
        tokens,
        network,
        work,
        now,
        jitter,
    } = request;
    let mut visitor = Visitor {
        tokens,
        cookies: Vec::new(),
        rejoined: None,
        admission: None,
        terms,
        network,
        work,
        route,
    };
    let answer = match route {
        Route::Door => visitor.door(book, now, draw),
        Route::Status | Route::StatusPage => visitor.status(book, now, jitter, draw),
        // Read only: it places nobody and issues nothing.
        Route::Draw => Answer::Draw(book.published_draw(now, visitor.tokens.ticket.as_ref())),
    };
    Served {
        answer,
        cookies: visitor.cookies,
        ticket: visitor.tokens.ticket,
        admission: visitor.admission,
    }
}

/// The origin answered a forwarded request (`outcome`) after `latency_ms`, saying
/// `Gate-Session: end` when `ends`. Counts it for the operator's view of the origin, and ends
/// the session if asked: once per ticket, counted in the book and told to every edge; the
/// answer's cookies mark the ticket done and clear the pass, so the next visit is a new
/// arrival, and a replay of the cookies from before is refused. A test key's pass ends nothing.
pub fn forwarded(
    book: &mut Isolate,
    sent: &Sent,
    outcome: Outcome,
    latency_ms: u64,
    ends: bool,
    now: UnixMs,
) -> Vec<Cookie> {
    let word = if ends { Handback::End } else { Handback::None };
    answered(book, sent, outcome, latency_ms, word, false, now).cookies
}

/// How long after a ticket's let-through an origin fault hands its holder back to the front
/// of the line, in milliseconds: the first page or two after admission.
pub const READMIT_WINDOW_MS: u64 = 60_000;
/// How many times one ticket is handed back at most.
pub const READMIT_MAX: u8 = 2;

/// What the origin's `Gate-Session` header said.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Handback {
    None,
    /// `end`: the session is over (a booking made).
    End,
    /// `requeue`: the origin could not serve this citizen now and hands them back to the front.
    Requeue,
}

impl Handback {
    /// The `Gate-Session` header's value, read.
    pub fn of(header: Option<&str>) -> Handback {
        match header.map(str::trim) {
            Some(v) if v.eq_ignore_ascii_case("end") => Handback::End,
            Some(v) if v.eq_ignore_ascii_case("requeue") => Handback::Requeue,
            _ => Handback::None,
        }
    }
}

/// What the origin's answer to a forwarded request did ([`answered`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    pub cookies: Vec<Cookie>,
    /// The citizen was handed back to the front of the line: answer with the waiting page,
    /// which lets them through again in their turn, rather than the origin's failure.
    pub readmitted: bool,
}

/// [`forwarded`] in full: the origin's answer (`outcome`, after `latency_ms`) to a request
/// sent with `sent`'s pass, what its `Gate-Session` said (`word`), and whether the request was
/// one a client cannot make fail on purpose (`safe`: a `GET` or `HEAD`, whose answer does not
/// depend on a body the client could trickle in).
///
/// **Readmission.** A citizen let through who meets an origin fault on their first pages is
/// not the one who should pay for it. Within [`READMIT_WINDOW_MS`] of the ticket's let-through,
/// a safe request the origin answered with a `5xx`, could not be reached for, or did not
/// answer in time, or any request the origin hands back with `Gate-Session: requeue`,
/// hands the citizen back to the front of the line: the ticket keeps its place, forgets the
/// let-through (its next one starts a new session, and takes a token of the rate like any
/// other), counts how often this happened (at most [`READMIT_MAX`]), and the pass is cleared;
/// the let-through no longer counts as a pass alive. The citizen cannot trigger it: the fault
/// is the origin's answer, the count is in the signed ticket, and a test key's pass is never
/// handed back.
pub fn answered(
    book: &mut Isolate,
    sent: &Sent,
    outcome: Outcome,
    latency_ms: u64,
    word: Handback,
    safe: bool,
    now: UnixMs,
) -> Reply {
    book.record_origin(latency_ms, outcome);
    let fault = safe
        && matches!(
            outcome,
            Outcome::Answered(500..=599) | Outcome::Unreachable | Outcome::TimedOut
        );
    if (fault || word == Handback::Requeue) && !sent.test {
        let ticket = sent.ticket.as_ref().filter(|t| {
            t.id == sent.ticket_id
                && t.admitted_at.0 > 0
                && now < t.admitted_at.plus_ms(READMIT_WINDOW_MS)
                && t.readmitted < READMIT_MAX
                && t.seat != Seat::Done
        });
        // Once per let-through at this isolate (`Isolate::readmit`).
        if let Some(ticket) = ticket.filter(|t| book.readmit(&t.id, t.admitted_at, now)) {
            let back = Ticket {
                admitted_at: UnixMs(0),
                readmitted: ticket.readmitted.saturating_add(1),
                ..ticket.clone()
            };
            return Reply {
                cookies: vec![Cookie::Ticket(back), Cookie::ClearPass],
                readmitted: true,
            };
        }
    }
    let ends = word == Handback::End;
    Reply {
        cookies: session_end(book, sent, outcome, ends, now),
        readmitted: false,
    }
}

/// The cookies of a session the origin ended (`ends`), after counting it.
fn session_end(
    book: &mut Isolate,
    sent: &Sent,
    outcome: Outcome,
    ends: bool,
    now: UnixMs,
) -> Vec<Cookie> {
    if !ends || sent.test || !matches!(outcome, Outcome::Answered(_)) {
        return Vec::new();
    }
    book.end_session(&sent.ticket_id, now);
    let mut cookies = Vec::new();
    if let Some(ticket) = sent.ticket.as_ref().filter(|t| t.id == sent.ticket_id) {
        cookies.push(Cookie::Ticket(Ticket {
            seat: Seat::Done,
            ..ticket.clone()
        }));
    }
    cookies.push(Cookie::ClearPass);
    cookies
}

/// Where a visitor's place stands after [`Visitor::place`].
enum Placed {
    /// Their ticket, counted (or newly issued).
    Ticket(Ticket),
    /// Their ticket's new place costs work first: this is what to find.
    Work(Ticket, work::Challenge),
    /// No randomness for a new ticket.
    Unavailable,
}

/// A visitor while their request is decided.
struct Visitor<'a> {
    tokens: Tokens,
    cookies: Vec<Cookie>,
    /// They came back with a place that is gone, and have joined again.
    rejoined: Option<Rejoined>,
    admission: Option<Admission>,
    terms: &'a Terms<'a>,
    network: NetTag,
    work: Option<work::Answer>,
    route: Route,
}

impl Visitor<'_> {
    /// A protected path: forward with a valid pass, let through a ticket the cursor has passed
    /// (as the rate allows), else the waiting page.
    fn door(
        &mut self,
        book: &mut Isolate,
        now: UnixMs,
        draw: &mut dyn FnMut() -> Option<[u8; 20]>,
    ) -> Answer {
        if let Some(r) = self.withdraw_if_revoked(book) {
            return Answer::Withdrawn(r);
        }
        // A pass holder never waits for the room: their pass is proof enough, from its own
        // networks, while its session has not ended.
        if self.tokens.pass.is_some() && self.honoured_test_key(book).is_none() {
            return self.with_pass(book, now);
        }
        if let Some(mode) = self.honoured_test_key(book) {
            if !mode.goes_through() {
                return Answer::Page;
            }
            return self.test_forward(book, now);
        }
        // A place that lapsed or was used up is left in its cookie for the page's first status
        // poll to replace, so that answer can tell the citizen why they are starting again.
        if self
            .tokens
            .ticket
            .as_ref()
            .is_some_and(|t| t.seat == Seat::Done || t.lapsed(now))
        {
            return Answer::Page;
        }
        let ticket = match self.place(book, now, draw) {
            Placed::Ticket(t) => t,
            Placed::Work(..) => return Answer::Page,
            Placed::Unavailable => return Answer::Unavailable,
        };
        match self.admit(book, &ticket, now) {
            Some(Admission::Through { .. }) => self.with_pass(book, now),
            None => Answer::Elsewhere,
            _ => {
                self.asked(book, &ticket, None, now);
                Answer::Page
            }
        }
    }

    /// The visitor's place in line, from the book's copy of the room.
    fn status(
        &mut self,
        book: &mut Isolate,
        now: UnixMs,
        jitter: u16,
        draw: &mut dyn FnMut() -> Option<[u8; 20]>,
    ) -> Answer {
        // A revoked ticket's holder is answered as a newcomer: the status JSON is fixed, and
        // the protected pages say why.
        self.withdraw_if_revoked(book);
        if let Some(mode) = self.honoured_test_key(book) {
            let config = book.config().cloned().unwrap_or_default();
            return Answer::Status(forced(mode, &config, now, jitter));
        }
        let ticket = match self.place(book, now, draw) {
            Placed::Ticket(t) => t,
            Placed::Work(ticket, challenge) => {
                let mut status = book.status(&ticket, Admission::NotYet, now, jitter);
                status.position = None;
                status.ahead = None;
                status.eta_s = None;
                status.work = Some(challenge);
                status.rejoined = self.rejoined;
                return Answer::Status(status);
            }
            Placed::Unavailable => return Answer::Unavailable,
        };
        let admission = self.admit(book, &ticket, now).unwrap_or(Admission::NotYet);
        let mut status = book.status(&ticket, admission, now, jitter);
        self.asked(book, &ticket, status.ahead, now);
        status.rejoined = self.rejoined;
        status.readmitted = ticket.readmitted > 0
            && ticket.admitted_at.0 == 0
            && !matches!(admission, Admission::Through { .. });
        Answer::Status(status)
    }

    /// Drops the visitor's ticket and pass, and clears their cookies, if the operator revoked
    /// the ticket (as the book last heard from the room); answers its ref if so. A pass is
    /// checked against the issue time of the ticket it was earned by (which it carries, so
    /// renewals change nothing), or, an old pass that does not carry it, against the ticket
    /// cookie's, else its own. A revoked ticket is never admitted again: its holder starts a
    /// new place. A test key withdrawn by its ref is no key.
    fn withdraw_if_revoked(&mut self, book: &Isolate) -> Option<TicketRef> {
        if self
            .tokens
            .test_key
            .as_ref()
            .is_some_and(|k| book.revoked(&k.id, k.issued_at))
        {
            self.tokens.test_key = None;
        }
        let from_ticket = self.tokens.ticket.as_ref().map(|t| (t.id, t.issued_at));
        let from_pass = self.tokens.pass.as_ref().map(|p| {
            let issued = from_ticket
                .filter(|(id, _)| *id == p.ticket_id)
                .map_or(p.ticket_issued_at, |(_, at)| at.min(p.ticket_issued_at));
            (p.ticket_id, issued)
        });
        let (id, _) = [from_pass, from_ticket]
            .into_iter()
            .flatten()
            .find(|(id, issued_at)| book.revoked(id, *issued_at))?;
        self.tokens.ticket = None;
        self.tokens.pass = None;
        self.cookies.push(Cookie::ClearTicket);
        self.cookies.push(Cookie::ClearPass);
        Some(TicketRef::of(&id))
    }

    /// The visitor's test key's mode, if they have one and the room's test mode is on.
    fn honoured_test_key(&self, book: &Isolate) -> Option<TestMode> {
        let key = self.tokens.test_key.as_ref()?;
        book.config()
            .is_some_and(|c| c.test_mode)
            .then_some(key.mode)
    }

    /// The visitor's place in line. A returning ticket is counted (the first time), renewed or
    /// found lapsed; a visitor without one, or whose place lapsed, gets a new ticket, which
    /// costs the queue nothing until they come back with it. A ticket taking its place from a
    /// network that holds its budget (or when work is asked of everyone) must show work
    /// first; the no-JavaScript page's holder waits a while instead.
    fn place(
        &mut self,
        book: &mut Isolate,
        now: UnixMs,
        draw: &mut dyn FnMut() -> Option<[u8; 20]>,
    ) -> Placed {
        if let Some(ticket) = self.tokens.ticket.clone() {
            // A new place from a network that holds its budget (or from anyone, when work is
            // asked of all), and a place held unpaid by a network beyond its budget, cost work.
            let owes = !ticket.lapsed(now)
                && match ticket.seat {
                    Seat::Issued => book.needs_work(self.network, now),
                    Seat::Held => book.over_budget(ticket.network),
                    Seat::Worked | Seat::Done => false,
                };
            let mut paid = false;
            if owes {
                let shown = self.work.is_some_and(|answer| {
                    work::verify(self.terms.ticket_keys, &ticket.id, &answer, now)
                });
                let waited = !shown
                    && self.route == Route::StatusPage
                    && now.since(ticket.issued_at) >= NO_SCRIPT_WAIT_MS
                    && book.no_script_turn(self.network, now, NO_SCRIPT_WAIT_MS);
                if !(shown || waited) {
                    book.count_work(&ticket.id, false);
                    let challenge = work::challenge(self.terms.ticket_keys, &ticket.id, now);
                    return Placed::Work(ticket, challenge);
                }
                book.count_work(&ticket.id, true);
                paid = true;
            }
            let ttl = self.terms.ticket_ttl_ms;
            let visit = if paid {
                book.visit_paid(&ticket, now, ttl, self.network)
            } else {
                book.visit(&ticket, now, ttl, self.network)
            };
            match visit {
                Visit::Keep => return Placed::Ticket(ticket),
                Visit::Update(updated) => {
                    self.set_ticket(updated.clone());
                    return Placed::Ticket(updated);
                }
                Visit::Lapsed => self.rejoined = Some(Rejoined::Lapsed),
                Visit::Ended => self.rejoined = Some(Rejoined::Ended),
            }
        }
        let Some(random) = draw() else {
            return Placed::Unavailable;
        };
        let Some((id, rest)) = random.split_first_chunk::<16>() else {
            return Placed::Unavailable;
        };
        let Some(sub) = rest.first_chunk::<4>().map(|s| u32::from_be_bytes(*s)) else {
            return Placed::Unavailable;
        };
        let ticket = book.issue(
            *id,
            sub,
            now,
            self.terms.ticket_ttl_ms,
            self.terms.ticket_key_id,
            self.terms.room,
        );
        self.set_ticket(ticket.clone());
        Placed::Ticket(ticket)
    }

    fn set_ticket(&mut self, ticket: Ticket) {
        self.cookies.push(Cookie::Ticket(ticket.clone()));
        self.tokens.ticket = Some(ticket);
    }

    /// A citizen the book told to wait ([`Isolate::admit`]) asked: the book counts it at the
    /// front if it is there ([`Isolate::asked`]).
    fn asked(&self, book: &mut Isolate, ticket: &Ticket, ahead: Option<u64>, now: UnixMs) {
        if self.admission == Some(Admission::NotYet) {
            book.asked(ticket, ahead, now);
        }
    }

    /// Decides whether `ticket` goes through now, and if so makes sure the visitor holds a pass
    /// for it (a pass already held for this ticket is kept). `None`: the ticket is presented
    /// from a third network (a copy of someone's ticket), and never goes through.
    ///
    /// The first let-through records when it happened in the ticket, so a pass minted for it
    /// again later (a lost cookie) belongs to the same session and ends with it; a ticket whose
    /// session ended, or is past its absolute end, gets no pass again.
    fn admit(&mut self, book: &mut Isolate, ticket: &Ticket, now: UnixMs) -> Option<Admission> {
        if !self.may_come_from_here(book, ticket) {
            return None;
        }
        let config = book.config().cloned().unwrap_or_default();
        let admitted = ticket.admitted_at.0 > 0;
        // Ended by its id, whatever the cookie says: a copy taken before the let-through (it
        // records none) is the same session, and takes no token for a pass it cannot use.
        if book.ended(&ticket.id)
            || (admitted && now >= ticket.admitted_at.plus_ms(config.session_max_ms()))
        {
            // The session is over: the place is used up, and the next visit a new arrival.
            let done = Ticket {
                seat: Seat::Done,
                ..ticket.clone()
            };
            self.set_ticket(done);
            return Some(Admission::NotYet);
        }
        let admission = book.admit(ticket, now);
        self.admission = Some(admission);
        if let Admission::Through { .. } = admission {
            let held = self
                .tokens
                .pass
                .as_ref()
                .is_some_and(|pass| pass.ticket_id == ticket.id);
            if !held {
                let started = if admitted {
                    ticket.admitted_at
                } else {
                    // The session starts now: the ticket says so from here on.
                    let mut let_through = self.tokens.ticket.clone().unwrap_or(ticket.clone());
                    let_through.admitted_at = now;
                    self.set_ticket(let_through);
                    now
                };
                self.mint_pass(ticket, &config, started, now);
            }
        }
        Some(admission)
    }

    /// May `ticket` be let through from the visitor's network: the one it took its place from,
    /// its one move (told to every edge), or any when either is unknown?
    fn may_come_from_here(&mut self, book: &mut Isolate, ticket: &Ticket) -> bool {
        let here = self.network;
        if !here.is_known() || !ticket.network.is_known() || here == ticket.network {
            return true;
        }
        match book.moved(&ticket.id) {
            Some(moved) => moved == here,
            None => {
                book.record_move(&ticket.id, here);
                true
            }
        }
    }

    /// Mints a pass for `ticket`'s session (started at `started`) and sets its cookie, bound to
    /// the visitor's network. Passes are not counted: the coordinator counts let-throughs,
    /// which a client cannot repeat.
    fn mint_pass(&mut self, ticket: &Ticket, config: &RoomConfig, started: UnixMs, now: UnixMs) {
        let ends_at = started.plus_ms(config.session_max_ms());
        let pass = Pass {
            key_id: self.terms.pass_key_id,
            room: self.terms.room,
            ticket_id: ticket.id,
            issued_at: now,
            expires_at: now.plus_ms(config.session_duration_ms()).min(ends_at),
            ends_at,
            ticket_issued_at: ticket.issued_at,
            home: self.network,
            away: NetTag(0),
        };
        self.set_pass(pass, config);
    }

    fn set_pass(&mut self, pass: Pass, config: &RoomConfig) {
        self.cookies.push(Cookie::Pass {
            pass: pass.clone(),
            max_age_s: config.session_duration_ms() / 1000,
        });
        self.tokens.pass = Some(pass);
    }

    /// Forwards with the visitor's pass: refused if its session ended, or if it comes from a
    /// network that is neither its home nor the one it moved to (its one move is made here if
    /// it has none yet and no other edge made it); renewed past half its life, never beyond
    /// its session's absolute end, so an active citizen is not sent back to the queue.
    fn with_pass(&mut self, book: &mut Isolate, now: UnixMs) -> Answer {
        let Some(pass) = self.tokens.pass.clone() else {
            return Answer::Page;
        };
        // Only a book that has heard from the room knows what was withdrawn or ended.
        if !book.knows_room() {
            return Answer::Unconfirmed;
        }
        if book.ended(&pass.ticket_id) {
            self.tokens.pass = None;
            self.cookies.push(Cookie::ClearPass);
            return Answer::Ended;
        }
        let config = book.config().cloned().unwrap_or_default();
        let mut pass = pass;
        let here = self.network;
        if here.is_known() && !pass.from_its_networks(here) {
            let free =
                !pass.away.is_known() && book.moved(&pass.ticket_id).is_none_or(|m| m == here);
            if !free {
                return Answer::Elsewhere;
            }
            // Its one move (a phone leaving Wi-Fi for its carrier's network).
            book.record_move(&pass.ticket_id, here);
            pass.away = here;
            pass.issued_at = now;
            self.set_pass(pass.clone(), &config);
        }
        let session_ms = config.session_duration_ms();
        if pass.expires_at.since(now) < session_ms / 2 && pass.expires_at < pass.ends_at {
            pass.issued_at = now;
            pass.expires_at = now.plus_ms(session_ms).min(pass.ends_at);
            self.set_pass(pass.clone(), &config);
        }
        let ticket = self
            .tokens
            .ticket
            .clone()
            .filter(|t| t.id == pass.ticket_id);
        Answer::Forward(Forward {
            pass,
            test: false,
            ticket,
        })
    }

    /// A test key that goes through: a pass for this request only, no cookie, never counted,
    /// and good at the origin for no longer than a session (a key lives up to a week; the pass
    /// it lends a request must not outlive test mode by that much).
    fn test_forward(&mut self, book: &Isolate, now: UnixMs) -> Answer {
        let Some(key) = self.tokens.test_key.as_ref() else {
            return Answer::Page;
        };
        let config = book.config().cloned().unwrap_or_default();
        let expires_at = key
            .expires_at
            .min(now.plus_ms(config.session_duration_ms()));
        Answer::Forward(Forward {
            pass: Pass {
                key_id: self.terms.pass_key_id,
                room: self.terms.room,
                ticket_id: key.id,
                issued_at: now,
                expires_at,
                ends_at: expires_at,
                ticket_issued_at: key.issued_at,
                home: NetTag(0),
                away: NetTag(0),
            },
            test: true,
            ticket: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ConfigPatch;
    use crate::isolate::Timing;
    use crate::room::Room;
    use crate::status::QueueState;
    use crate::sync::settle_ms;

    const T0: UnixMs = UnixMs(1_700_000_000_000);
    const TIMING: Timing = Timing {
        sync_interval_ms: 1_000,
        sync_timeout_ms: 3_000,
        stale_after_ms: 15_000,
        fail_static_per_mille: 100,
    };
    static TICKET_KEYS: std::sync::LazyLock<KeyRing<ForTickets>> = std::sync::LazyLock::new(|| {
        crate::keys::SecretRing::parse(&format!("1:{}", "5a".repeat(32)))
            .and_then(|ring| ring.ticket_keys())
            .unwrap_or_else(|e| panic!("{e}"))
    });

    fn terms() -> Terms<'static> {
        Terms {
            room: RoomTag([7; 8]),
            ticket_ttl_ms: 6 * 3_600_000,
            ticket_key_id: 1,
            pass_key_id: 1,
            ticket_keys: &TICKET_KEYS,
        }
    }

    /// One room, one isolate, and a clock: the same code the Worker and the simulator run.
    struct World {
        room: Room,
        book: Isolate,
        now: UnixMs,
        draws: u8,
        /// The network the next request comes from, and the work it shows.
        network: NetTag,
        work: Option<work::Answer>,
    }

    impl World {
        /// A room at `per_minute`, synced once.
        fn new(per_minute: u32) -> World {
            let mut w = World {
                room: Room::fresh(T0, settle_ms(1_000, 3_000)),
                book: Isolate::new("i".into(), TIMING),
                now: T0,
                draws: 0,
                network: NetTag(0),
                work: None,
            };
            w.configure(&format!(r#"{{"new_users_per_minute": {per_minute}}}"#));
            w
        }

        fn configure(&mut self, json: &str) {
            let patch = ConfigPatch::from_json(json).unwrap();
            self.room.configure(&patch, self.now).unwrap();
            self.wait(1_000);
        }

        /// The isolate's sync, answered at once.
        fn sync(&mut self) {
            if let Some(report) = self.book.begin_sync(self.now) {
                let answer = self.room.sync(&report, self.now).snapshot;
                self.book.finish_sync(report.seq, Some(answer), self.now);
            }
        }

        /// Moves the clock on, syncing every second.
        fn wait(&mut self, ms: u64) {
            let end = self.now.plus_ms(ms);
            while self.now < end {
                self.now = self.now.plus_ms(1_000).min(end);
                self.sync();
            }
        }

        /// A citizen who took a ticket, came back with it, waited 15 s at this rate and polled
        /// again: admitted, with the cookies they hold.
        fn admitted(&mut self) -> Tokens {
            let jar = keep(
                Tokens::default(),
                &self.serve(Route::Door, Tokens::default()),
            );
            let jar = keep(jar.clone(), &self.serve(Route::Status, jar));
            self.wait(15_000);
            let polled = self.serve(Route::Status, jar.clone());
            assert_eq!(status(&polled).state, QueueState::Admitted);
            keep(jar, &polled)
        }

        fn serve(&mut self, route: Route, mut tokens: Tokens) -> Served {
            // As the shell's trust boundary does: a token out of its scope is no token.
            let room = terms().room;
            tokens.pass = tokens.pass.filter(|p| p.in_scope(room, self.now).is_ok());
            tokens.ticket = tokens.ticket.filter(|t| t.in_scope(room, self.now).is_ok());
            let draws = &mut self.draws;
            let mut draw = || {
                *draws = draws.wrapping_add(1);
                let mut bytes = [*draws; 20];
                bytes[16] = 0x80;
                Some(bytes)
            };
            let request = Request {
                route,
                tokens,
                network: self.network,
                work: self.work,
                now: self.now,
                jitter: 0,
            };
            serve(&mut self.book, request, &terms(), &mut draw)
        }
    }

    /// The tokens a browser holding `served`'s cookies (on top of `jar`) sends next.
    fn keep(mut jar: Tokens, served: &Served) -> Tokens {
        for cookie in &served.cookies {
            match cookie {
                Cookie::Ticket(t) => jar.ticket = Some(t.clone()),
                Cookie::Pass { pass, .. } => jar.pass = Some(pass.clone()),
                Cookie::ClearTicket => jar.ticket = None,
                Cookie::ClearPass => jar.pass = None,
            }
        }
        jar
    }

    fn status(served: &Served) -> &QueueStatus {
        match &served.answer {
            Answer::Status(s) => s,
            other => panic!("not a status: {other:?}"),
        }
    }

    #[test]
    fn routes_are_the_citizens_everywhere_but_the_gates_own_pages() {
        let route = |method, path| Route::of(method, path, Audience::Citizens);
        assert_eq!(route("GET", "/queue/status"), Some(Route::Status));
        assert_eq!(route("HEAD", "/queue/status.html"), Some(Route::StatusPage));
        assert_eq!(route("POST", "/queue/status"), None);
        assert_eq!(route("GET", "/queue/static/app.js"), None);
        // The admin API answers on the citizens' host (a bearer token only); the console and
        // its sign-in are protected paths there.
        assert_eq!(route("PUT", "/admin/config"), None);
        assert_eq!(route("GET", "/admin/state"), None);
        assert_eq!(route("GET", "/admin"), Some(Route::Door));
        assert_eq!(route("GET", "/admin/"), Some(Route::Door));
        assert_eq!(route("POST", "/admin/session"), Some(Route::Door));
        for (method, path) in [("GET", "/"), ("POST", "/book"), ("GET", "/administrator")] {
            assert_eq!(route(method, path), Some(Route::Door), "{method} {path}");
        }
        // The operator's host is the operator's, all of it.
        for path in ["/admin/", "/", "/queue/status", "/book"] {
            assert_eq!(Route::of("GET", path, Audience::Operator), None, "{path}");
        }
    }

    #[test]
    fn a_one_shot_visit_gets_a_ticket_and_costs_the_queue_nothing() {
        let mut w = World::new(60);
        let first = w.serve(Route::Door, Tokens::default());
        assert_eq!(first.answer, Answer::Page);
        let [Cookie::Ticket(ticket)] = first.cookies.as_slice() else {
            panic!("{:?}", first.cookies)
        };
        assert_eq!(ticket.seat, Seat::Issued);
        assert!(w.book.owes_nothing(), "nothing counted for a fetch");
        // The page's poll brings it back: the place is counted once, however often replayed.
        let jar = keep(Tokens::default(), &first);
        for _ in 0..5 {
            let again = w.serve(Route::Status, jar.clone());
            assert_eq!(status(&again).state, QueueState::Waiting);
        }
        w.wait(1_000);
        assert_eq!(w.room.totals.seated, 1);
    }

    #[test]
    fn an_eligible_ticket_gets_one_pass_and_goes_through_once_at_the_rate() {
        let mut w = World::new(60);
        let jar = keep(Tokens::default(), &w.serve(Route::Door, Tokens::default()));
        let jar = keep(jar.clone(), &w.serve(Route::Status, jar));
        w.wait(15_000);
        let through = w.serve(Route::Status, jar.clone());
        assert_eq!(status(&through).state, QueueState::Admitted);
        let jar = keep(jar, &through);
        let pass = jar.pass.clone().expect("a pass was set");
        // With the pass, the door forwards; without it (a lost cookie, a replay) the same
        // ticket is let through again but takes no second let-through.
        let Answer::Forward(forward) = w.serve(Route::Door, jar.clone()).answer else {
            panic!("forwarded")
        };
        assert_eq!(forward.pass, pass);
        let replay = Tokens {
            pass: None,
            ..jar.clone()
        };
        assert!(matches!(
            w.serve(Route::Door, replay).answer,
            Answer::Forward(_)
        ));
        w.wait(1_000);
        assert_eq!(w.room.totals.let_through, 1);
        // Past half its life the pass is renewed on the way through.
        w.now = w.now.plus_ms(200_000);
        let renewed = w.serve(Route::Door, jar);
        let Answer::Forward(f) = &renewed.answer else {
            panic!()
        };
        assert!(f.pass.expires_at > pass.expires_at);
        assert!(matches!(renewed.cookies.as_slice(), [Cookie::Pass { .. }]));
    }

    #[test]
    fn a_session_the_origin_ends_is_counted_once_and_its_place_is_used_up() {
        let mut w = World::new(60);
        let jar = w.admitted();
        let Answer::Forward(forward) = w.serve(Route::Door, jar.clone()).answer else {
            panic!()
        };
        let sent = forward.sent();
        let mut answered = |outcome| forwarded(&mut w.book, &sent, outcome, 30, true, w.now);
        let ends = answered(Outcome::Answered(200));
        let [Cookie::Ticket(done), Cookie::ClearPass] = ends.as_slice() else {
            panic!("{ends:?}")
        };
        assert_eq!(done.seat, Seat::Done);
        // The same request replayed ends nothing more; an origin that failed or timed out
        // ends nothing, whatever it said.
        answered(Outcome::Answered(200));
        assert!(answered(Outcome::TimedOut).is_empty());
        w.wait(1_000);
        assert_eq!(w.room.totals.ended, 1);
        // The holder's next poll is a new arrival, told why.
        let after = Tokens {
            ticket: Some(done.clone()),
            pass: None,
            test_key: None,
        };
        assert_eq!(w.serve(Route::Door, after.clone()).answer, Answer::Page);
        let next = w.serve(Route::Status, after);
        assert_eq!(status(&next).rejoined, Some(Rejoined::Ended));
        assert_ne!(next.ticket.map(|t| t.id), Some(done.id));
    }

    #[test]
    fn an_origin_fault_at_admission_hands_the_citizen_back_to_the_front_a_bounded_number_of_times()
    {
        let mut w = World::new(60);
        let jar = w.admitted();
        let Answer::Forward(forward) = w.serve(Route::Door, jar.clone()).answer else {
            panic!()
        };
        let sent = forward.sent();
        let ticket = jar.ticket.clone().unwrap();
        assert!(ticket.admitted_at.0 > 0);
        // A POST the origin failed hands nobody back (a client could make its body fail); a
        // test key's pass is never handed back.
        let post = answered(
            &mut w.book,
            &sent,
            Outcome::Answered(503),
            30,
            Handback::None,
            false,
            w.now,
        );
        assert!(!post.readmitted && post.cookies.is_empty());
        let test = Sent {
            test: true,
            ..sent.clone()
        };
        let by_key = answered(
            &mut w.book,
            &test,
            Outcome::TimedOut,
            30,
            Handback::None,
            true,
            w.now,
        );
        assert!(!by_key.readmitted);
        // A GET the origin answered with a 5xx: back to the front, the let-through forgotten.
        let back = answered(
            &mut w.book,
            &sent,
            Outcome::Answered(500),
            30,
            Handback::None,
            true,
            w.now,
        );
        assert!(back.readmitted, "{back:?}");
        let [Cookie::Ticket(again), Cookie::ClearPass] = back.cookies.as_slice() else {
            panic!("{:?}", back.cookies)
        };
        assert_eq!(
            (again.readmitted, again.admitted_at, again.order),
            (1, UnixMs(0), ticket.order)
        );
        // Its other requests, failing together, bring the plain failure: a let-through is
        // handed back once, and stops counting as a pass alive once.
        let together = answered(
            &mut w.book,
            &sent,
            Outcome::TimedOut,
            30,
            Handback::None,
            true,
            w.now,
        );
        assert!(!together.readmitted && together.cookies.is_empty());
        w.wait(1_000);
        assert_eq!(w.room.totals.ended, 1);
        let through = w.room.totals.let_through;
        // Its next poll says what happened, and lets it through again, taking a token.
        let jar = Tokens {
            ticket: Some(again.clone()),
            pass: None,
            test_key: None,
        };
        let poll = w.serve(Route::Status, jar.clone());
        let jar = keep(jar, &poll);
        if status(&poll).state != QueueState::Admitted {
            assert!(status(&poll).readmitted, "{:?}", status(&poll));
            w.wait(2_000);
        }
        let jar = keep(jar.clone(), &w.serve(Route::Status, jar));
        assert!(jar.pass.is_some(), "let through again");
        w.wait(1_000);
        assert_eq!(
            w.room.totals.let_through,
            through + 1,
            "the second let-through is counted"
        );
        // A script that kept the cookie from before the handback, and replays it with a
        // failing request, is not handed back again for the same let-through: the count in
        // the cookie it kept says 0, but this isolate knows that let-through went back once.
        let mut replayed = sent.clone();
        replayed.ticket = Some(ticket.clone());
        let again = answered(
            &mut w.book,
            &replayed,
            Outcome::Answered(503),
            30,
            Handback::None,
            true,
            w.now,
        );
        assert!(!again.readmitted && again.cookies.is_empty());
        // The origin may hand back by itself too (`Gate-Session: requeue`), even on a POST; at
        // the bound, or after the window, nobody is handed back any more.
        let Answer::Forward(forward) = w.serve(Route::Door, jar.clone()).answer else {
            panic!()
        };
        let mut sent = forward.sent();
        sent.ticket = jar.ticket.clone();
        let requeued = answered(
            &mut w.book,
            &sent,
            Outcome::Answered(200),
            30,
            Handback::Requeue,
            false,
            w.now,
        );
        assert!(requeued.readmitted);
        let [Cookie::Ticket(twice), ..] = requeued.cookies.as_slice() else {
            panic!()
        };
        assert_eq!(twice.readmitted, 2);
        let mut at_bound = sent.clone();
        at_bound.ticket = Some(Ticket {
            admitted_at: w.now,
            ..twice.clone()
        });
        assert!(
            !answered(
                &mut w.book,
                &at_bound,
                Outcome::TimedOut,
                30,
                Handback::None,
                true,
                w.now
            )
            .readmitted
        );
        let mut late = sent.clone();
        late.ticket = Some(Ticket {
            admitted_at: w.now,
            readmitted: 0,
            ..twice.clone()
        });
        let later = w.now.plus_ms(READMIT_WINDOW_MS);
        assert!(
            !answered(
                &mut w.book,
                &late,
                Outcome::TimedOut,
                30,
                Handback::None,
                true,
                later
            )
            .readmitted
        );
        assert_eq!(Handback::of(Some(" Requeue ")), Handback::Requeue);
        assert_eq!(Handback::of(Some("end")), Handback::End);
        assert_eq!(Handback::of(Some("later")), Handback::None);
    }

    #[test]
    fn a_revoked_ticket_is_withdrawn_with_its_cookies() {
        let mut w = World::new(60);
        let jar = w.admitted();
        let id = jar.ticket.as_ref().unwrap().id;
        w.room.revoke(TicketRef::of(&id), "kim", w.now);
        w.wait(1_000);
        let door = w.serve(Route::Door, jar.clone());
        assert_eq!(door.answer, Answer::Withdrawn(TicketRef::of(&id)));
        assert_eq!(door.cookies, vec![Cookie::ClearTicket, Cookie::ClearPass]);
        // The status poll answers a newcomer: a fresh ticket after the cleared one.
        let poll = w.serve(Route::Status, jar);
        assert!(matches!(
            poll.cookies.as_slice(),
            [Cookie::ClearTicket, Cookie::ClearPass, Cookie::Ticket(t)] if t.id != id
        ));
    }

    #[test]
    fn a_lapsed_place_is_left_for_the_poll_which_says_so() {
        let mut w = World::new(0);
        let jar = keep(Tokens::default(), &w.serve(Route::Door, Tokens::default()));
        let jar = keep(jar.clone(), &w.serve(Route::Status, jar));
        w.now = w.now.plus_ms(301_000);
        let door = w.serve(Route::Door, jar.clone());
        assert_eq!((door.answer, door.cookies), (Answer::Page, Vec::new()));
        let poll = w.serve(Route::Status, jar);
        assert_eq!(status(&poll).rejoined, Some(Rejoined::Lapsed));
    }

    #[test]
    fn a_test_key_counts_for_nothing_and_only_while_test_mode_is_on() {
        let mut w = World::new(0);
        let key = TestKey {
            key_id: 1,
            room: terms().room,
            id: [9; 16],
            mode: TestMode::Through,
            issued_at: T0,
            expires_at: T0.plus_ms(3_600_000),
        };
        let jar = Tokens {
            test_key: Some(key.clone()),
            ..Tokens::default()
        };
        // Off: an ordinary visitor, who waits.
        assert_eq!(w.serve(Route::Door, jar.clone()).answer, Answer::Page);
        w.configure(r#"{"test_mode": true}"#);
        let through = w.serve(Route::Door, jar.clone());
        let Answer::Forward(forward) = &through.answer else {
            panic!()
        };
        assert!(forward.test && through.cookies.is_empty());
        assert!(forwarded(
            &mut w.book,
            &forward.sent(),
            Outcome::Answered(200),
            5,
            true,
            w.now
        )
        .is_empty());
        let waiting = Tokens {
            test_key: Some(TestKey {
                mode: TestMode::Waiting { position: 42 },
                ..key
            }),
            ..Tokens::default()
        };
        assert_eq!(status(&w.serve(Route::Status, waiting)).position, Some(42));
        w.wait(1_000);
        assert_eq!((w.room.totals.seated, w.room.totals.let_through), (0, 0));
    }

    #[test]
    fn a_pass_is_not_forwarded_by_an_isolate_that_never_heard_its_room() {
        let mut w = World::new(60);
        let jar = w.admitted();
        // A new isolate whose first sync failed: it knows no revocations.
        let mut cold = Isolate::new("cold".into(), TIMING);
        let request = Request {
            route: Route::Door,
            tokens: jar,
            network: NetTag(0),
            work: None,
            now: w.now,
            jitter: 0,
        };
        let served = serve(&mut cold, request, &terms(), &mut || None);
        assert_eq!(served.answer, Answer::Unconfirmed);
    }

    #[test]
    fn a_test_key_withdrawn_by_its_ref_is_no_key_and_its_pass_lasts_a_session_at_most() {
        let mut w = World::new(0);
        w.configure(r#"{"test_mode": true}"#);
        let key = TestKey {
            key_id: 1,
            room: terms().room,
            id: [5; 16],
            mode: TestMode::Through,
            issued_at: w.now,
            expires_at: w.now.plus_ms(7 * 24 * 3_600_000),
        };
        let jar = Tokens {
            test_key: Some(key.clone()),
            ..Tokens::default()
        };
        let Answer::Forward(forward) = w.serve(Route::Door, jar.clone()).answer else {
            panic!("a test key goes through")
        };
        let session = u64::from(w.book.config().unwrap().session_duration_s) * 1_000;
        assert_eq!(forward.pass.expires_at, w.now.plus_ms(session));
        w.room.revoke(TicketRef::of(&key.id), "kim", w.now);
        w.wait(1_000);
        assert_eq!(
            w.serve(Route::Door, jar).answer,
            Answer::Page,
            "an ordinary visitor now"
        );
    }

    #[test]
    fn without_randomness_nothing_is_issued_and_nothing_counted() {
        let mut w = World::new(60);
        let request = Request {
            route: Route::Status,
            tokens: Tokens::default(),
            network: NetTag(0),
            work: None,
            now: w.now,
            jitter: 0,
        };
        let served = serve(&mut w.book, request, &terms(), &mut || None);
        assert_eq!(
            (served.answer, served.cookies),
            (Answer::Unavailable, Vec::new())
        );
        assert!(w.book.owes_nothing());
    }

    /// A network of the IPv6 family (its tag's low bit clear), and one of IPv4.
    const HOME: NetTag = NetTag(0x10);
    const PHONE: NetTag = NetTag(0x20);
    const THIRD: NetTag = NetTag(0x30);

    /// The status's work challenge, solved as a browser would.
    fn solved(served: &Served) -> work::Answer {
        let challenge = status(served).work.clone().expect("a work challenge");
        work::solve(&challenge).expect("the count is found")
    }

    #[test]
    fn beyond_its_budget_a_network_shows_work_once_per_place_and_is_never_refused() {
        let mut w = World::new(0);
        w.configure(r#"{"budget_v6": 2}"#);
        w.network = HOME;
        let mut jars = Vec::new();
        for _ in 0..2 {
            let jar = keep(Tokens::default(), &w.serve(Route::Door, Tokens::default()));
            let polled = w.serve(Route::Status, jar.clone());
            assert_eq!(status(&polled).work, None, "inside the budget: no work");
            jars.push(keep(jar, &polled));
        }
        w.wait(2_000);
        // The third place from the same /64 costs work: no position until it is shown.
        let jar = keep(Tokens::default(), &w.serve(Route::Door, Tokens::default()));
        let asked = w.serve(Route::Status, jar.clone());
        assert_eq!(
            (status(&asked).position, status(&asked).state),
            (None, QueueState::Waiting)
        );
        let answer = solved(&asked);
        // Another ticket's answer, or a made-up one, is no answer.
        let other = keep(Tokens::default(), &w.serve(Route::Door, Tokens::default()));
        w.work = Some(answer);
        assert!(status(&w.serve(Route::Status, other)).work.is_some());
        let paid = w.serve(Route::Status, jar);
        assert_eq!(status(&paid).work, None);
        assert!(status(&paid).position.is_some());
        let paid_ticket = paid.ticket.clone().unwrap();
        assert_eq!(paid_ticket.seat, Seat::Worked);
        // Paid once: never asked again, whatever the network holds.
        w.work = None;
        let again = w.serve(Route::Status, keep(Tokens::default(), &paid));
        assert_eq!(status(&again).work, None);
        w.wait(2_000);
        assert_eq!(w.room.totals.seated, 3);
    }

    #[test]
    fn places_taken_unpaid_past_the_budget_pay_before_they_go_through() {
        // Two isolates seat a /64's places before either hears the other's: the room counts
        // three against a budget of two, and every unpaid one must show work to be let
        // through, while one that paid goes on.
        let mut w = World::new(6_000);
        w.configure(r#"{"budget_v6": 2}"#);
        w.network = HOME;
        let mut other = Isolate::new("other".into(), TIMING);
        let sync_other = |w: &mut World, other: &mut Isolate| {
            if let Some(report) = other.begin_sync(w.now) {
                let answer = w.room.sync(&report, w.now).snapshot;
                other.finish_sync(report.seq, Some(answer), w.now);
            }
        };
        sync_other(&mut w, &mut other);
        let here = keep(Tokens::default(), &w.serve(Route::Door, Tokens::default()));
        let here = keep(here.clone(), &w.serve(Route::Status, here));
        let mut draw = || Some([0x42; 20]);
        let mut at_other = |jar: Tokens, w: &World, other: &mut Isolate| {
            let request = Request {
                route: Route::Status,
                tokens: jar.clone(),
                network: HOME,
                work: None,
                now: w.now,
                jitter: 0,
            };
            keep(jar, &serve(other, request, &terms(), &mut draw))
        };
        let there = at_other(Tokens::default(), &w, &mut other);
        let there = at_other(there, &w, &mut other);
        let third = keep(Tokens::default(), &w.serve(Route::Door, Tokens::default()));
        let third = keep(third.clone(), &w.serve(Route::Status, third));
        assert!(third.ticket.as_ref().is_some_and(|t| t.seat == Seat::Held));
        for _ in 0..3 {
            sync_other(&mut w, &mut other);
            w.wait(1_000);
        }
        assert!(
            w.book.over_budget(HOME),
            "the room counts three against two"
        );
        w.wait(15_000);
        let polled = w.serve(Route::Status, here.clone());
        assert!(
            status(&polled).work.is_some(),
            "unpaid: work before it goes through"
        );
        assert_eq!(w.serve(Route::Door, here.clone()).answer, Answer::Page);
        w.work = Some(solved(&polled));
        let paid = w.serve(Route::Status, here);
        assert_eq!(status(&paid).state, QueueState::Admitted);
        let _ = there;
    }

    #[test]
    fn a_pass_moves_once_and_a_copy_from_a_third_network_is_refused() {
        let mut w = World::new(60);
        w.network = HOME;
        let jar = w.admitted();
        let Answer::Forward(home) = w.serve(Route::Door, jar.clone()).answer else {
            panic!("forwarded at home")
        };
        assert_eq!((home.pass.home, home.pass.away), (HOME, NetTag(0)));
        // The phone leaves Wi-Fi: one move, and the pass says so from then on.
        w.network = PHONE;
        let moved = w.serve(Route::Door, jar.clone());
        let Answer::Forward(f) = &moved.answer else {
            panic!("the one move goes through")
        };
        assert_eq!(f.pass.away, PHONE);
        let jar = keep(jar, &moved);
        // Back on Wi-Fi, and on the phone again: both are its own.
        for net in [HOME, PHONE] {
            w.network = net;
            assert!(matches!(
                w.serve(Route::Door, jar.clone()).answer,
                Answer::Forward(_)
            ));
        }
        // A copy elsewhere is refused, never forwarded; the holder's own pass goes on.
        w.network = THIRD;
        assert_eq!(w.serve(Route::Door, jar.clone()).answer, Answer::Elsewhere);
        // A copy taken before the move, bound to home alone, cannot make a second move once
        // the first is known.
        w.wait(2_000);
        let before_move = Tokens {
            pass: Some(home.pass.clone()),
            ..jar
        };
        assert_eq!(w.serve(Route::Door, before_move).answer, Answer::Elsewhere);
    }

    #[test]
    fn a_citizen_told_to_wait_counts_once_at_the_front_whether_it_polls_or_opens_a_page() {
        let mut w = World::new(600);
        // "a" only ever polls, "b" only ever opens pages: each is counted by its own path.
        let take = |w: &mut World, route: Route| {
            let jar = keep(Tokens::default(), &w.serve(route, Tokens::default()));
            keep(jar.clone(), &w.serve(route, jar))
        };
        let (a, b) = (take(&mut w, Route::Status), take(&mut w, Route::Door));
        // What the isolate's next batch says of its front, the batch answered at once.
        let front = |w: &mut World| {
            let report = w.book.begin_sync(w.now)?;
            let answer = w.room.sync(&report, w.now).snapshot;
            w.book.finish_sync(report.seq, Some(answer), w.now);
            Some(report.front)
        };
        w.wait(1_000);
        w.now = w.now.plus_ms(1_000);
        // Neither is eligible yet (the settle time): "a" polls twice, "b" opens a page.
        for _ in 0..2 {
            let polled = w.serve(Route::Status, a.clone());
            assert_eq!(status(&polled).state, QueueState::Waiting);
        }
        assert_eq!(w.serve(Route::Door, b.clone()).answer, Answer::Page);
        assert_eq!(front(&mut w), Some(2));
        // A second later only "a" asks again: both asked within the last 15 s.
        w.now = w.now.plus_ms(1_000);
        let _ = w.serve(Route::Status, a);
        assert_eq!(front(&mut w), Some(2));
    }

    #[test]
    fn an_ended_session_is_refused_at_every_edge_and_its_ticket_mints_no_new_pass() {
        let mut w = World::new(600);
        let jar = w.admitted();
        let Answer::Forward(forward) = w.serve(Route::Door, jar.clone()).answer else {
            panic!()
        };
        // A second edge that let the same citizen through earlier holds copies of the cookies.
        let mut other = Isolate::new("other".into(), TIMING);
        let sync_other = |w: &mut World, other: &mut Isolate| {
            if let Some(report) = other.begin_sync(w.now) {
                let answer = w.room.sync(&report, w.now).snapshot;
                other.finish_sync(report.seq, Some(answer), w.now);
            }
        };
        sync_other(&mut w, &mut other);
        forwarded(
            &mut w.book,
            &forward.sent(),
            Outcome::Answered(200),
            9,
            true,
            w.now,
        );
        // Many other sessions end after it: every copy merges its ended ids over and over
        // (each five changes in the tests), and must still know this one.
        for key in 1..=40u64 {
            w.room.notices.set(crate::sync::Notice {
                kind: crate::sync::NoticeKind::Ended,
                key: key.wrapping_mul(0x9e37_79b9_7f4a_7c15),
                value: 0,
                until: w.now.plus_ms(3_600_000),
            });
        }
        for _ in 0..3 {
            w.wait(1_000);
            sync_other(&mut w, &mut other);
        }
        let mut draw = || None;
        let mut at_other = |tokens: Tokens| {
            let request = Request {
                route: Route::Door,
                tokens,
                network: NetTag(0),
                work: None,
                now: w.now,
                jitter: 0,
            };
            serve(&mut other, request, &terms(), &mut draw)
        };
        // The cookies from before the booking, replayed at the other edge: the pass is refused
        // with a page; the ticket alone (a lost pass cookie) mints none.
        let replay = at_other(jar.clone());
        assert_eq!(replay.answer, Answer::Ended);
        assert!(replay.cookies.contains(&Cookie::ClearPass));
        let ticket_only = Tokens {
            pass: None,
            ..jar.clone()
        };
        let again = at_other(ticket_only);
        assert!(
            !matches!(again.answer, Answer::Forward(_)),
            "{:?}",
            again.answer
        );
        assert!(!again
            .cookies
            .iter()
            .any(|c| matches!(c, Cookie::Pass { .. })));
        // A copy of the ticket taken before its let-through (it records none) is the same
        // session: no pass, no token taken, and its place is used up.
        let before_let_through = Tokens {
            pass: None,
            ticket: jar.ticket.clone().map(|t| Ticket {
                admitted_at: UnixMs(0),
                ..t
            }),
            ..jar.clone()
        };
        let early = at_other(before_let_through);
        assert_eq!(early.answer, Answer::Page);
        assert!(early.cookies.iter().all(|c| match c {
            Cookie::Ticket(t) => t.seat == Seat::Done,
            Cookie::Pass { .. } => false,
            _ => true,
        }));
        // And at the edge that forwarded it.
        assert_eq!(w.serve(Route::Door, jar).answer, Answer::Ended);
    }

    #[test]
    fn a_pass_lives_no_longer_than_its_session_whatever_the_renewals() {
        let mut w = World::new(600);
        w.configure(r#"{"session_duration_s": 300, "session_max_s": 900}"#);
        let jar = w.admitted();
        let Answer::Forward(first) = w.serve(Route::Door, jar.clone()).answer else {
            panic!()
        };
        let ends_at = first.pass.ends_at;
        assert_eq!(ends_at, first.pass.issued_at.plus_ms(900_000));
        // An active citizen renews every two minutes and so keeps the pass to its end...
        let mut jar = jar;
        loop {
            w.now = w.now.plus_ms(120_000);
            if w.now >= ends_at {
                break;
            }
            let served = w.serve(Route::Door, jar.clone());
            let Answer::Forward(f) = &served.answer else {
                panic!(
                    "forwarded before its end, at {}",
                    w.now.since(first.pass.issued_at)
                )
            };
            assert!(f.pass.expires_at <= ends_at);
            jar = keep(jar, &served);
        }
        // ...and not a moment past it: no forward, and its ticket mints no new pass.
        w.sync();
        let after = w.serve(Route::Door, jar.clone());
        assert!(
            !matches!(after.answer, Answer::Forward(_)),
            "{:?}",
            after.answer
        );
        let ticket_only = Tokens { pass: None, ..jar };
        let again = w.serve(Route::Door, ticket_only);
        assert!(!matches!(again.answer, Answer::Forward(_)));
    }

    #[test]
    fn without_javascript_a_place_comes_after_a_wait_one_a_network_at_a_time() {
        let mut w = World::new(0);
        w.configure(r#"{"work_for_all": true}"#);
        w.network = HOME;
        let a = keep(Tokens::default(), &w.serve(Route::Door, Tokens::default()));
        let b = keep(Tokens::default(), &w.serve(Route::Door, Tokens::default()));
        let page = w.serve(Route::StatusPage, a.clone());
        assert!(status(&page).work.is_some(), "not yet: the wait is running");
        w.now = w.now.plus_ms(NO_SCRIPT_WAIT_MS);
        w.sync();
        let placed = w.serve(Route::StatusPage, a);
        assert!(status(&placed).position.is_some(), "placed after the wait");
        // A second ticket of the same network waited as long, but one place a wait per network.
        assert!(status(&w.serve(Route::StatusPage, b.clone()))
            .work
            .is_some());
        // The JSON poll never takes the waiting path.
        assert!(status(&w.serve(Route::Status, b)).work.is_some());
    }

    #[test]
    fn the_pre_queue_goes_through_in_the_order_of_the_draw() {
        let mut w = World::new(0);
        let opens_at = w.now.plus_ms(60_000);
        w.configure(&format!(r#"{{"opens_at": {}}}"#, opens_at.0));
        let since = w.room.draw_due().expect("a pre-queue began");
        w.room.set_seed(since, [9; 32]);
        let mut jars: Vec<Tokens> = (0..30)
            .map(|_| {
                let jar = keep(Tokens::default(), &w.serve(Route::Door, Tokens::default()));
                keep(jar.clone(), &w.serve(Route::Status, jar))
            })
            .collect();
        w.now = opens_at;
        w.sync();
        w.configure(r#"{"new_users_per_minute": 60}"#);
        let place = |jar: &Tokens| {
            let t = jar.ticket.as_ref().unwrap();
            crate::draw::place(&[9; 32], &t.id)
        };
        let mut order = Vec::new();
        for _ in 0..40 {
            w.wait(1_000);
            for jar in &mut jars {
                if order
                    .iter()
                    .any(|(id, _)| *id == jar.ticket.as_ref().unwrap().id)
                {
                    continue;
                }
                let polled = w.serve(Route::Status, jar.clone());
                let admitted = status(&polled).state == QueueState::Admitted;
                *jar = keep(jar.clone(), &polled);
                if admitted {
                    order.push((jar.ticket.as_ref().unwrap().id, place(jar)));
                }
            }
        }
        // In the drawn order: nobody goes ahead of an earlier place.
        let places: Vec<u32> = order.iter().map(|(_, p)| *p).collect();
        let passed = (0..places.len())
            .map(|i| places[i + 1..].iter().filter(|q| **q < places[i]).count())
            .max()
            .unwrap_or(0);
        assert!(order.len() >= 20, "{} admitted", order.len());
        assert_eq!(
            passed, 0,
            "one went ahead of {passed} earlier places: {places:?}"
        );
    }
}
