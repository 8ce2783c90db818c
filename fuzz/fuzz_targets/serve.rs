//! The whole citizen decision (`visit::serve`), as the worker's entry makes it: any method and
//! path (split and normalised, `Route::of`), any `Cookie` header and `Edgegate-Test-Key` header
//! turned into tokens through the real verify (as `crates/edgegate-edge/src/trust.rs` does), at any time, with
//! or without randomness, against an isolate's book that syncs with a room the operator
//! reconfigures and revokes in. The header text is built from the cookies the gate set before
//! (signed as the worker signs them), replayed, cut or changed, and from any text at all.
//!
//! No 5xx path: the only failures a citizen may see are the deliberate ones, and each only
//! for its reason: `Unavailable` exactly when the platform had no randomness for a new ticket,
//! `Unconfirmed` only for a pass at a book that never heard its room, `Withdrawn` only for
//! the ticket the operator revoked. Everything the gate signs verifies at once, as the
//! browser and the origin will verify it.
#![no_main]

use arbitrary::Arbitrary;
use edgegate_core::address::Address;
use edgegate_core::config::ConfigPatch;
use edgegate_core::cookies;
use edgegate_core::isolate::Isolate;
use edgegate_core::network::NetTag;
use edgegate_core::origin::Outcome;
use edgegate_core::revocation::TicketRef;
use edgegate_core::token::{Pass, TestKey, TestMode, Ticket};
use edgegate_core::visit::{
    forwarded, serve, Answer, Audience, Cookie, Request as Asked, Route, Terms, Tokens,
};
use edgegate_core::work;
use edgegate_core::UnixMs;
use edgegate_fuzz::{rings, room_tag, Hierarchy, Rings, T0, TICKET_TTL_MS, TIMING};
use libfuzzer_sys::fuzz_target;

#[derive(Arbitrary, Debug)]
enum Method {
    Get,
    Head,
    Post,
    Other(String),
}

/// One pair of the `Cookie` header.
#[derive(Arbitrary, Debug)]
enum Pair {
    /// The ticket or pass cookie the browser holds, as the gate last set it.
    Held { pass: bool },
    /// One the gate set earlier (a replay), by its place in the history.
    Earlier { pass: bool, back: u8 },
    /// The held one with one byte changed, or cut short.
    Changed {
        pass: bool,
        at: u8,
        byte: u8,
        cut: bool,
    },
    /// A test key the operator minted.
    TestKey {
        mode: u8,
        param: u64,
        ttl_s: u32,
        in_header: bool,
    },
    /// Any name and value.
    Raw(String, String),
    /// Any text between pairs.
    Junk(String),
}

#[derive(Arbitrary, Debug)]
struct Request {
    method: Method,
    /// A URL's text after the host.
    path: String,
    pairs: Vec<Pair>,
    /// The `Edgegate-Test-Key` header, if sent as text of its own.
    test_key_header: Option<String>,
    jitter: u16,
    /// The platform has no randomness this time.
    no_randomness: bool,
    /// Asked of the book that never heard its room (its first sync failed).
    cold: bool,
    /// How the origin answers a forward, and whether it ends the session.
    origin: Option<(u16, bool)>,
    /// The client's network: 0 none known, else one of three (a pass moves between them).
    network: u8,
    /// The `Edgegate-Work` header, if sent.
    work: Option<String>,
}

#[derive(Arbitrary, Debug)]
enum Step {
    Request(Request),
    Wait(u16),
    /// A jump in seconds: places lapse, passes and tickets expire.
    Jump(u16),
    Sync,
    Configure {
        rate: u32,
        paused: bool,
        closed: bool,
        test_mode: bool,
        opens_in_s: Option<u16>,
        session_s: u32,
        work_for_all: bool,
    },
    /// The operator revokes the ticket the browser holds, or every one issued before now.
    Revoke {
        everything: bool,
    },
}

/// What the browser holds: the texts the gate set, newest last.
#[derive(Default)]
struct Browser {
    tickets: Vec<String>,
    passes: Vec<String>,
}

impl Browser {
    fn held(&self, pass: bool) -> &[String] {
        if pass {
            &self.passes
        } else {
            &self.tickets
        }
    }

    /// The `Set-Cookie`s of one answer, signed as `trust::Jar::set_cookies` signs them.
    fn keep(&mut self, keys: &Rings, set: &[Cookie], now: UnixMs) {
        for cookie in set {
            match cookie {
                Cookie::Ticket(t) => {
                    let text = t.sign(&keys.tickets);
                    let back = Ticket::verify(&text, &keys.tickets, room_tag(), now);
                    // Signing stamps the newest key: a place first signed by the previous key
                    // (a citizen who queued before a rotation) comes back under the new one.
                    let signed = Ticket {
                        key_id: keys.tickets.signing().id(),
                        ..t.clone()
                    };
                    assert_eq!(back, Ok(signed), "a ticket the gate sets verifies");
                    self.tickets.push(text);
                }
                Cookie::Pass { pass, max_age_s } => {
                    let text = pass.sign(&keys.passes);
                    let back = Pass::verify(&text, &keys.passes, room_tag(), now);
                    let signed = Pass {
                        key_id: keys.passes.signing().id(),
                        ..pass.clone()
                    };
                    assert_eq!(back, Ok(signed), "a pass the gate sets verifies");
                    assert!(*max_age_s > 0);
                    self.passes.push(text);
                }
                Cookie::ClearTicket => self.tickets.push(String::new()),
                Cookie::ClearPass => self.passes.push(String::new()),
            }
        }
    }
}

fuzz_target!(|steps: Vec<Step>| {
    let keys = rings();
    let terms = Terms {
        room: room_tag(),
        ticket_ttl_ms: TICKET_TTL_MS,
        ticket_key_id: keys.tickets.signing().id(),
        pass_key_id: keys.passes.signing().id(),
        ticket_keys: &keys.tickets,
    };
    let mut now = T0;
    let mut world = Hierarchy::new(now);
    world.sync(now);
    let mut cold = Isolate::new("cold".into(), TIMING);
    let mut browser = Browser::default();
    let mut minted = 0u64;

    for step in steps.into_iter().take(48) {
        match step {
            Step::Wait(ms) => now = now.plus_ms(u64::from(ms)),
            Step::Jump(s) => now = now.plus_ms(u64::from(s) * 1000),
            Step::Sync => world.sync(now),
            Step::Configure {
                rate,
                paused,
                closed,
                test_mode,
                opens_in_s,
                session_s,
                work_for_all,
            } => {
                let opens_at = opens_in_s.map_or("null".to_owned(), |s| {
                    now.plus_ms(u64::from(s) * 1000).0.to_string()
                });
                let json = format!(
                    r#"{{"new_users_per_minute": {}, "paused": {paused}, "closed": {closed},
                        "test_mode": {test_mode}, "opens_at": {opens_at},
                        "session_duration_s": {}, "work_for_all": {work_for_all}}}"#,
                    rate % 1_000_001,
                    30 + session_s % 86_371,
                );
                let patch = ConfigPatch::from_json(&json).expect("a patch within bounds");
                let _ = world.room.configure(&patch, now);
                // As the coordinator does when a pre-queue begins.
                if let Some(since) = world.room.draw_due() {
                    world.room.set_seed(since, [0x5e; 32]);
                }
            }
            Step::Revoke { everything } => {
                if everything {
                    world.room.revoke_before(now, "fuzz", now);
                } else if let Some(t) = browser
                    .tickets
                    .last()
                    .and_then(|text| Ticket::authenticate(text, &keys.tickets).ok())
                {
                    world.room.revoke(TicketRef::of(&t.id), "fuzz", now);
                }
            }
            Step::Request(request) => {
                minted += 1;
                let book = if request.cold {
                    &mut cold
                } else {
                    &mut world.isolate
                };
                visit(book, &keys, &terms, &mut browser, request, now, minted);
            }
        }
    }
});

/// One request, decided and checked.
fn visit(
    book: &mut Isolate,
    keys: &Rings,
    terms: &Terms,
    browser: &mut Browser,
    request: Request,
    now: UnixMs,
    minted: u64,
) {
    let method = match &request.method {
        Method::Get => "GET",
        Method::Head => "HEAD",
        Method::Post => "POST",
        Method::Other(m) => m.as_str(),
    };
    let address = Address::parse(format!("https://gate.example{}", request.path));
    let Some(route) = Route::of(method, &address.route_path(), Audience::Citizens) else {
        return; // the gate's own routes: workers-rs answers them, not the citizen's path
    };

    // The headers, as the browser sends them.
    let mut header = Vec::new();
    let mut test_key_header = request.test_key_header.clone();
    for pair in &request.pairs {
        let name = |pass: bool| if pass { cookies::PASS } else { cookies::TICKET };
        match pair {
            Pair::Held { pass } => {
                if let Some(text) = browser.held(*pass).last() {
                    header.push(format!("{}={text}", name(*pass)));
                }
            }
            Pair::Earlier { pass, back } => {
                let held = browser.held(*pass);
                let i = held.len().checked_sub(1 + usize::from(*back) % 8);
                if let Some(text) = i.and_then(|i| held.get(i)) {
                    header.push(format!("{}={text}", name(*pass)));
                }
            }
            Pair::Changed {
                pass,
                at,
                byte,
                cut,
            } => {
                if let Some(text) = browser.held(*pass).last() {
                    let mut bytes = text.clone().into_bytes();
                    let at = usize::from(*at) % bytes.len().max(1);
                    if *cut {
                        bytes.truncate(at);
                    } else if let Some(b) = bytes.get_mut(at) {
                        *b = *byte;
                    }
                    header.push(format!(
                        "{}={}",
                        name(*pass),
                        String::from_utf8_lossy(&bytes)
                    ));
                }
            }
            Pair::TestKey {
                mode,
                param,
                ttl_s,
                in_header,
            } => {
                let mode = match mode % 6 {
                    0 => TestMode::Through,
                    1 => TestMode::Waiting {
                        position: (*param).max(1),
                    },
                    2 => TestMode::Paused {
                        position: (*param).max(1),
                    },
                    3 => TestMode::Closed,
                    4 => TestMode::Prequeue {
                        opens_at: UnixMs(*param),
                    },
                    _ => TestMode::Admitted,
                };
                let mut id = [0xee; 16];
                id[..8].copy_from_slice(&minted.to_be_bytes());
                let key = TestKey {
                    key_id: keys.tests.signing().id(),
                    room: room_tag(),
                    id,
                    mode,
                    issued_at: now,
                    expires_at: now.plus_ms(u64::from(*ttl_s) * 1000),
                };
                let text = key.sign(&keys.tests);
                if *in_header {
                    test_key_header = Some(text);
                } else {
                    header.push(format!("{}={text}", cookies::TEST_KEY));
                }
            }
            Pair::Raw(name, value) => header.push(format!("{name}={value}")),
            Pair::Junk(text) => header.push(text.clone()),
        }
    }
    let header = header.join("; ");

    // `trust::Jar::tokens`: text becomes a token only through verify.
    let tokens = Tokens {
        ticket: cookies::read(&header, cookies::TICKET)
            .and_then(|t| Ticket::verify(t, &keys.tickets, terms.room, now).ok()),
        pass: cookies::read(&header, cookies::PASS)
            .and_then(|t| Pass::verify(t, &keys.passes, terms.room, now).ok()),
        test_key: test_key_header
            .as_deref()
            .or_else(|| cookies::read(&header, cookies::TEST_KEY))
            .and_then(|t| TestKey::verify(t.trim(), &keys.tests, terms.room, now).ok()),
    };
    let presented = tokens.clone();

    let mut asked_for_randomness = false;
    let mut draw = || {
        asked_for_randomness = true;
        if request.no_randomness {
            return None;
        }
        let mut bytes = [0u8; 20];
        bytes[..8].copy_from_slice(&minted.to_be_bytes());
        bytes[16..].copy_from_slice(&request.jitter.to_be_bytes().repeat(2));
        Some(bytes)
    };
    let knew_room = book.knows_room();
    let network = NetTag(u64::from(request.network % 4) * 2);
    let work = request.work.as_deref().and_then(work::Answer::parse);
    let asked = Asked {
        route,
        tokens,
        network,
        work,
        now,
        jitter: request.jitter,
    };
    let served = serve(book, asked, terms, &mut draw);

    browser.keep(keys, &served.cookies, now);
    let no_randomness = asked_for_randomness && request.no_randomness;
    match &served.answer {
        Answer::Unavailable => assert!(no_randomness, "Unavailable with randomness"),
        Answer::Unconfirmed => {
            assert!(route == Route::Door && presented.pass.is_some() && !knew_room);
        }
        Answer::Withdrawn(r) => {
            let refs = [
                presented.ticket.as_ref().map(|t| TicketRef::of(&t.id)),
                presented.pass.as_ref().map(|p| TicketRef::of(&p.ticket_id)),
            ];
            assert!(refs.contains(&Some(*r)), "withdrawn {r} was not presented");
            assert!(matches!(
                served.cookies.as_slice(),
                [Cookie::ClearTicket, Cookie::ClearPass]
            ));
        }
        Answer::Ended => {
            assert!(route == Route::Door && presented.pass.is_some());
            assert!(served.cookies.contains(&Cookie::ClearPass));
        }
        Answer::Elsewhere => {
            assert!(route == Route::Door && network.is_known());
            assert!(presented.pass.is_some() || presented.ticket.is_some());
        }
        Answer::Forward(f) => {
            assert_eq!(route, Route::Door);
            assert!(f.pass.room == terms.room && f.pass.expires_at > now);
            if !f.test {
                // Never past its session's end, and only from its own networks.
                assert!(f.pass.ends_at > now && f.pass.expires_at <= f.pass.ends_at);
                assert!(!network.is_known() || f.pass.from_its_networks(network));
            }
            // The origin's guard verifies the pass the gate sends it.
            let text = f.pass.sign(&keys.passes);
            assert_eq!(
                Pass::verify(&text, &keys.passes, terms.room, now).as_ref(),
                Ok(&f.pass)
            );
            if f.test {
                assert!(
                    presented.test_key.is_some(),
                    "a test pass without a test key"
                );
            }
            if let Some((status, ends)) = request.origin {
                let outcome = match status {
                    0 => Outcome::Unreachable,
                    1 => Outcome::TimedOut,
                    s => Outcome::Answered(s),
                };
                let set = forwarded(book, &f.sent(), outcome, 30, ends, now);
                browser.keep(keys, &set, now);
            }
        }
        Answer::Draw(published) => {
            // Read only: nothing issued, and the seed never shown before the opening.
            assert!(route == Route::Draw && served.cookies.is_empty());
            let opening = book.config().and_then(|c| c.opens_at);
            if opening.is_some_and(|t| now < t) {
                assert!(published.seed.is_none(), "the seed before the opening");
            }
        }
        Answer::Status(_) | Answer::Page => {}
    }
    assert!(no_randomness == matches!(served.answer, Answer::Unavailable));
}
