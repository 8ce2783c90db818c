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
use crate::keys::RoomTag;
use crate::origin::Outcome;
use crate::revocation::TicketRef;
use crate::status::{forced, QueueStatus, Rejoined};
use crate::time::UnixMs;
use crate::token::{Pass, Seat, TestKey, TestMode, Ticket};

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

/// The deployment's terms for the room a request is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Terms {
    pub room: RoomTag,
    /// How long a ticket cookie is accepted from when it was last signed, in milliseconds.
    pub ticket_ttl_ms: u64,
    /// The ids of the keys new tickets and passes are signed with (the shell signs them).
    pub ticket_key_id: u8,
    pub pass_key_id: u8,
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
    /// The origin, with this pass.
    Forward(Forward),
    /// The operator withdrew their ticket: a page that says so, never the origin.
    Withdrawn(TicketRef),
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

/// Decides a citizen's request. `jitter` (any `u16`, drawn by the shell) spreads the next
/// poll; `draw` yields 20 random bytes (a ticket id and its place inside its second) and is
/// called only when a new ticket is issued, `None` if the platform has no randomness.
///
/// The book should know the room (it has synced once); one that does not (its first sync
/// failed) answers without it: waiting, stale, nobody let through.
pub fn serve(
    book: &mut Isolate,
    route: Route,
    tokens: Tokens,
    terms: &Terms,
    now: UnixMs,
    jitter: u16,
    draw: &mut dyn FnMut() -> Option<[u8; 20]>,
) -> Served {
    let mut visitor = Visitor {
        tokens,
        cookies: Vec::new(),
        rejoined: None,
        admission: None,
        terms,
    };
    let answer = match route {
        Route::Door => visitor.door(book, now, draw),
        Route::Status | Route::StatusPage => visitor.status(book, now, jitter, draw),
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
/// the session if asked: once per ticket, counted in the book; the answer's cookies mark the
/// ticket done and clear the pass, so the next visit is a new arrival and a replay frees
/// nothing more. A test key's pass ends nothing.
pub fn forwarded(
    book: &mut Isolate,
    sent: &Sent,
    outcome: Outcome,
    latency_ms: u64,
    ends: bool,
    now: UnixMs,
) -> Vec<Cookie> {
    book.record_origin(latency_ms, outcome);
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

/// A visitor while their request is decided.
struct Visitor<'a> {
    tokens: Tokens,
    cookies: Vec<Cookie>,
    /// They came back with a place that is gone, and have joined again.
    rejoined: Option<Rejoined>,
    admission: Option<Admission>,
    terms: &'a Terms,
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
        // Only a book that has heard from the room knows what was withdrawn.
        if self.tokens.pass.is_some() && !book.knows_room() {
            return Answer::Unconfirmed;
        }
        // A pass holder never waits for the room: their pass is proof enough.
        if self.tokens.pass.is_some() && self.tokens.test_key.is_none() {
            return self.forward(book, now);
        }
        if let Some(mode) = self.honoured_test_key(book) {
            if !mode.goes_through() {
                return Answer::Page;
            }
            return self.test_forward(book, now);
        }
        if self.tokens.pass.is_some() {
            return self.forward(book, now);
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
        let Some(ticket) = self.place(book, now, draw) else {
            return Answer::Unavailable;
        };
        if let Admission::Through { .. } = self.admit(book, &ticket, now) {
            return self.forward(book, now);
        }
        Answer::Page
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
        let Some(ticket) = self.place(book, now, draw) else {
            return Answer::Unavailable;
        };
        let admission = self.admit(book, &ticket, now);
        let mut status = book.status(&ticket, admission, now, jitter);
        status.rejoined = self.rejoined;
        Answer::Status(status)
    }

    /// Drops the visitor's ticket and pass, and clears their cookies, if the operator revoked
    /// the ticket (as the book last heard from the room); answers its ref if so. A pass is
    /// checked against its ticket's issue time when the ticket cookie is there, else its own
    /// (never earlier than the ticket's, so a pass alone is revoked by `before` only if minted
    /// before it). A revoked ticket is never admitted again: its holder starts a new place.
    fn withdraw_if_revoked(&mut self, book: &Isolate) -> Option<TicketRef> {
        // A test key withdrawn by its ref is no key.
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
                .map_or(p.issued_at, |(_, at)| at);
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
    /// costs the queue nothing until they come back with it. `None` without randomness.
    fn place(
        &mut self,
        book: &mut Isolate,
        now: UnixMs,
        draw: &mut dyn FnMut() -> Option<[u8; 20]>,
    ) -> Option<Ticket> {
        if let Some(ticket) = self.tokens.ticket.clone() {
            match book.visit(&ticket, now, self.terms.ticket_ttl_ms) {
                Visit::Keep => return Some(ticket),
                Visit::Update(updated) => {
                    self.set_ticket(updated.clone());
                    return Some(updated);
                }
                Visit::Lapsed => self.rejoined = Some(Rejoined::Lapsed),
                Visit::Ended => self.rejoined = Some(Rejoined::Ended),
            }
        }
        let random = draw()?;
        let (id, sub) = random.split_first_chunk::<16>()?;
        let sub = u32::from_be_bytes(*sub.first_chunk::<4>()?);
        let ticket = book.issue(
            *id,
            sub,
            now,
            self.terms.ticket_ttl_ms,
            self.terms.ticket_key_id,
            self.terms.room,
        );
        self.set_ticket(ticket.clone());
        Some(ticket)
    }

    fn set_ticket(&mut self, ticket: Ticket) {
        self.cookies.push(Cookie::Ticket(ticket.clone()));
        self.tokens.ticket = Some(ticket);
    }

    /// Decides whether `ticket` goes through now, and if so makes sure the visitor holds a pass
    /// for it (a pass already held for this ticket is kept).
    fn admit(&mut self, book: &mut Isolate, ticket: &Ticket, now: UnixMs) -> Admission {
        let admission = book.admit(ticket, now);
        self.admission = Some(admission);
        if let Admission::Through { .. } = admission {
            let held = self
                .tokens
                .pass
                .as_ref()
                .is_some_and(|pass| pass.ticket_id == ticket.id);
            if !held {
                self.mint_pass(ticket.id, session_ms(book), now);
            }
        }
        admission
    }

    /// Mints a pass bound to `ticket_id` and sets its cookie. Passes are not counted: the
    /// coordinator counts let-throughs, which a client cannot repeat.
    fn mint_pass(&mut self, ticket_id: [u8; 16], session_ms: u64, now: UnixMs) -> Pass {
        let pass = Pass {
            key_id: self.terms.pass_key_id,
            room: self.terms.room,
            ticket_id,
            issued_at: now,
            expires_at: now.plus_ms(session_ms),
        };
        self.cookies.push(Cookie::Pass {
            pass: pass.clone(),
            max_age_s: session_ms / 1000,
        });
        self.tokens.pass = Some(pass.clone());
        pass
    }

    /// Forwards with the visitor's pass, renewed past half its life so an active citizen is
    /// not sent back to the queue.
    fn forward(&mut self, book: &Isolate, now: UnixMs) -> Answer {
        let Some(pass) = self.tokens.pass.clone() else {
            return Answer::Page;
        };
        let session_ms = session_ms(book);
        let pass = if pass.expires_at.since(now) < session_ms / 2 {
            self.mint_pass(pass.ticket_id, session_ms, now)
        } else {
            pass
        };
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
        Answer::Forward(Forward {
            pass: Pass {
                key_id: self.terms.pass_key_id,
                room: self.terms.room,
                ticket_id: key.id,
                issued_at: now,
                expires_at: key.expires_at.min(now.plus_ms(session_ms(book))),
            },
            test: true,
            ticket: None,
        })
    }
}

/// The room's session duration as the book last heard it, in milliseconds.
fn session_ms(book: &Isolate) -> u64 {
    book.config().map_or_else(
        || RoomConfig::default().session_duration_ms(),
        |c| c.session_duration_ms(),
    )
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
    const TERMS: Terms = Terms {
        room: RoomTag([7; 8]),
        ticket_ttl_ms: 6 * 3_600_000,
        ticket_key_id: 1,
        pass_key_id: 1,
    };

    /// One room, one isolate, and a clock: the same code the Worker and the simulator run.
    struct World {
        room: Room,
        book: Isolate,
        now: UnixMs,
        draws: u8,
    }

    impl World {
        /// A room at `per_minute`, synced once.
        fn new(per_minute: u32) -> World {
            let mut w = World {
                room: Room::fresh(T0, settle_ms(1_000, 3_000)),
                book: Isolate::new("i".into(), TIMING),
                now: T0,
                draws: 0,
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

        fn serve(&mut self, route: Route, tokens: Tokens) -> Served {
            let draws = &mut self.draws;
            let mut draw = || {
                *draws = draws.wrapping_add(1);
                let mut bytes = [*draws; 20];
                bytes[16] = 0x80;
                Some(bytes)
            };
            serve(
                &mut self.book,
                route,
                tokens,
                &TERMS,
                self.now,
                0,
                &mut draw,
            )
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
            room: TERMS.room,
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
        let served = serve(&mut cold, Route::Door, jar, &TERMS, w.now, 0, &mut || None);
        assert_eq!(served.answer, Answer::Unconfirmed);
    }

    #[test]
    fn a_test_key_withdrawn_by_its_ref_is_no_key_and_its_pass_lasts_a_session_at_most() {
        let mut w = World::new(0);
        w.configure(r#"{"test_mode": true}"#);
        let key = TestKey {
            key_id: 1,
            room: TERMS.room,
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
        let served = serve(
            &mut w.book,
            Route::Status,
            Tokens::default(),
            &TERMS,
            w.now,
            0,
            &mut || None,
        );
        assert_eq!(
            (served.answer, served.cookies),
            (Answer::Unavailable, Vec::new())
        );
        assert!(w.book.owes_nothing());
    }
}
