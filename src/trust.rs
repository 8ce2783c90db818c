//! The trust boundary: the one place where cookie and header text becomes a ticket, a pass or
//! a test key, and where tickets and passes are issued, counted, renewed and ended.
//!
//! Anything that fails to verify is treated as no token. Every count a visitor can cause goes
//! through the isolate's book (`edge`), which counts each ticket once whatever the client
//! replays: a ticket's place when its holder first comes back, a let-through when the cursor and
//! the rate allow it, a session end once.

use edgegate_core::isolate::{Admission, Visit};
use edgegate_core::revocation::TicketRef;
use edgegate_core::status::Rejoined;
use edgegate_core::{Pass, Seat, TestKey, Ticket, UnixMs};
use std::cell::RefCell;
use std::rc::Rc;

use worker::{Headers, Request};

use crate::cookies;
use crate::edge;
use crate::edge::Place;
use crate::error::GateError;
use crate::settings::Settings;

/// The header a browser test sends its test key in (or the `edgegate_test` cookie).
pub const TEST_KEY_HEADER: &str = "Edgegate-Test-Key";

/// A visitor as the gate sees them after checking their cookies.
pub struct Visitor {
    pub https: bool,
    pub ticket: Option<Ticket>,
    /// A valid pass and its text.
    pub pass: Option<(Pass, String)>,
    /// A valid test key, honoured only while the room's test mode is on.
    pub test_key: Option<TestKey>,
    /// The pass was minted for a test key: it is for this request only.
    pub pass_for_test: bool,
    /// The visitor came back with a place that is gone, and has joined again.
    pub rejoined: Option<Rejoined>,
    /// `Set-Cookie` values to send back.
    pub set_cookies: Vec<String>,
    /// Where the request is served: the room, the location, the book that counts them.
    pub place: Rc<Place>,
    /// The ref of the ticket the operator withdrew, once [`Visitor::withdraw_if_revoked`] has
    /// taken it and its pass away.
    pub revoked: Option<TicketRef>,
}

impl Visitor {
    /// Reads and verifies the visitor's cookies and test-key header.
    pub fn read(req: &Request, settings: &Settings, place: Rc<Place>, now: UnixMs) -> Visitor {
        let header = |name: &str| req.headers().get(name).ok().flatten();
        let cookie = header("Cookie").unwrap_or_default();
        Visitor::from_text(&cookie, header(TEST_KEY_HEADER), settings, place, now)
    }

    /// [`Visitor::read`] from the `Cookie` and `Edgegate-Test-Key` headers' text, as the JS
    /// entry hands them over.
    pub fn from_text(
        header: &str,
        test_key_header: Option<String>,
        settings: &Settings,
        place: Rc<Place>,
        now: UnixMs,
    ) -> Visitor {
        let (https, site) = (place.https, &place.site);
        let cookie = |base: &str| cookies::name(&format!("{base}{}", site.cookie_suffix), https);
        let ticket = cookies::read(header, &cookie(cookies::TICKET))
            .and_then(|t| settings.ticket(t, site.tag, now));
        let pass = cookies::read(header, &cookie(cookies::PASS))
            .and_then(|t| settings.pass(t, site.tag, now).map(|p| (p, t.to_owned())));
        let test_key = test_key_header
            .or_else(|| cookies::read(header, cookies::TEST_KEY).map(str::to_owned))
            .and_then(|t| TestKey::verify(t.trim(), &settings.test_keys, site.tag, now).ok());
        Visitor {
            https,
            ticket,
            pass,
            test_key,
            pass_for_test: false,
            rejoined: None,
            set_cookies: Vec::new(),
            place,
            revoked: None,
        }
    }

    /// Drops the visitor's ticket and pass, and clears their cookies, if the operator revoked
    /// the ticket (as this isolate last heard from the room); answers its ref if so. A pass is
    /// checked against its ticket's issue time when the ticket cookie is there, else its own
    /// (never earlier than the ticket's, so a pass alone is revoked by `before` only if minted
    /// before it). A revoked ticket is never admitted again: its holder starts a new place.
    pub fn withdraw_if_revoked(&mut self, settings: &Settings) -> Option<TicketRef> {
        let from_ticket = self.ticket.as_ref().map(|t| (t.id, t.issued_at));
        let from_pass = self.pass.as_ref().map(|(p, _)| {
            let issued = from_ticket
                .filter(|(id, _)| *id == p.ticket_id)
                .map_or(p.issued_at, |(_, at)| at);
            (p.ticket_id, issued)
        });
        let revoked = [from_pass, from_ticket]
            .into_iter()
            .flatten()
            .find(|(id, issued_at)| {
                edge::with_book(settings, &self.place.book, |book| {
                    book.revoked(id, *issued_at)
                })
            })?;
        self.ticket = None;
        self.pass = None;
        for name in [cookies::TICKET, cookies::PASS] {
            self.set_cookies
                .push(cookies::set(&self.cookie(name), "", 0, self.https));
        }
        let r = TicketRef::of(&revoked.0);
        self.revoked = Some(r);
        Some(r)
    }

    /// The visitor's test key, if they have one and the room's test mode is on.
    pub fn honoured_test_key(&self) -> Option<&TestKey> {
        self.test_key
            .as_ref()
            .filter(|_| edge::config(&self.place.book).is_some_and(|c| c.test_mode))
    }

    /// The visitor's place in line. A returning ticket is counted (the first time), renewed or
    /// found lapsed; a visitor without one, or whose place lapsed, gets a new ticket, which
    /// costs the queue nothing until they come back with it.
    pub fn place(&mut self, settings: &Settings, now: UnixMs) -> Result<Ticket, GateError> {
        if let Some(ticket) = self.ticket.clone() {
            let ttl = settings.ticket_ttl_ms;
            match edge::with_book(settings, &self.place.book, |book| {
                book.visit(&ticket, now, ttl)
            }) {
                Visit::Keep => return Ok(ticket),
                Visit::Update(updated) => {
                    self.set_ticket(updated.clone(), settings);
                    return Ok(updated);
                }
                Visit::Lapsed => self.rejoined = Some(Rejoined::Lapsed),
                Visit::Ended => self.rejoined = Some(Rejoined::Ended),
            }
        }
        let random: [u8; 20] = random_bytes()?;
        let (id, sub) = random.split_at(16);
        let id: [u8; 16] = id
            .try_into()
            .map_err(|_| GateError::Internal("id".into()))?;
        let sub = u32::from_be_bytes(
            sub.try_into()
                .map_err(|_| GateError::Internal("sub".into()))?,
        );
        let ticket = edge::with_book(settings, &self.place.book, |book| {
            book.issue(
                id,
                sub,
                now,
                settings.ticket_ttl_ms,
                settings.ticket_keys.signing().id(),
                self.place.site.tag,
            )
        });
        self.set_ticket(ticket.clone(), settings);
        Ok(ticket)
    }

    fn set_ticket(&mut self, ticket: Ticket, settings: &Settings) {
        let text = ticket.sign(&settings.ticket_keys);
        self.set_cookies.push(cookies::set(
            &self.cookie(cookies::TICKET),
            &text,
            settings.ticket_ttl_ms / 1000,
            self.https,
        ));
        self.ticket = Some(ticket);
    }

    /// Decides whether `ticket` goes through now, and if so makes sure the visitor holds a pass
    /// for it (a pass already held for this ticket is kept).
    pub fn admit(&mut self, ticket: &Ticket, settings: &Settings, now: UnixMs) -> Admission {
        let admission = edge::with_book(settings, &self.place.book, |book| book.admit(ticket, now));
        if let Admission::Through { .. } = admission {
            let held = self
                .pass
                .as_ref()
                .is_some_and(|(pass, _)| pass.ticket_id == ticket.id);
            if !held {
                let session_ms = edge::config(&self.place.book)
                    .unwrap_or_default()
                    .session_duration_ms();
                self.mint_pass(ticket.id, settings, now, session_ms);
            }
        }
        admission
    }

    /// A pass for a test key that goes through: for this request only, no cookie, never
    /// counted.
    pub fn test_pass(&mut self, key: &TestKey, settings: &Settings, now: UnixMs) {
        let pass = Pass {
            key_id: settings.pass_keys.signing().id(),
            room: self.place.site.tag,
            ticket_id: key.id,
            issued_at: now,
            expires_at: key.expires_at,
        };
        let text = pass.sign(&settings.pass_keys);
        self.pass = Some((pass, text));
        self.pass_for_test = true;
    }

    /// Mints a pass bound to `ticket_id` and queues its cookie. Passes are not counted: the
    /// coordinator counts let-throughs, which a client cannot repeat.
    fn mint_pass(
        &mut self,
        ticket_id: [u8; 16],
        settings: &Settings,
        now: UnixMs,
        session_ms: u64,
    ) -> String {
        let pass = Pass {
            key_id: settings.pass_keys.signing().id(),
            room: self.place.site.tag,
            ticket_id,
            issued_at: now,
            expires_at: now.plus_ms(session_ms),
        };
        let text = pass.sign(&settings.pass_keys);
        self.set_cookies.push(cookies::set(
            &self.cookie(cookies::PASS),
            &text,
            session_ms / 1000,
            self.https,
        ));
        self.pass = Some((pass, text.clone()));
        text
    }

    /// The pass to forward with, renewed past half its life so an active citizen is not sent
    /// back to the queue.
    pub fn current_pass(&mut self, settings: &Settings, now: UnixMs) -> Option<String> {
        let (pass, text) = self.pass.clone()?;
        if self.pass_for_test {
            return Some(text);
        }
        let session_ms = edge::config(&self.place.book)
            .unwrap_or_default()
            .session_duration_ms();
        if pass.expires_at.since(now) < session_ms / 2 {
            return Some(self.mint_pass(pass.ticket_id, settings, now, session_ms));
        }
        Some(text)
    }

    /// The origin ended the visitor's session: the place is used up. Counted once per ticket;
    /// the pass cookie is cleared and the ticket marked done, so a replay frees nothing more and
    /// the next visit is a new arrival.
    pub fn end_session(&mut self, settings: &Settings, now: UnixMs) {
        let Some((pass, _)) = self.pass.take() else {
            return;
        };
        if self.pass_for_test {
            return;
        }
        edge::with_book(settings, &self.place.book, |book| {
            book.end_session(&pass.ticket_id, now)
        });
        if let Some(ticket) = self.ticket.clone().filter(|t| t.id == pass.ticket_id) {
            self.set_ticket(
                Ticket {
                    seat: Seat::Done,
                    ..ticket
                },
                settings,
            );
        }
        self.set_cookies
            .push(cookies::set(&self.cookie(cookies::PASS), "", 0, self.https));
    }

    /// The name of the gate's cookie `base` for this visitor's room and scheme.
    fn cookie(&self, base: &str) -> String {
        cookies::name(
            &format!("{base}{}", self.place.site.cookie_suffix),
            self.https,
        )
    }

    /// Appends the queued `Set-Cookie` values to `headers`.
    pub fn cookie_headers(&self, headers: &Headers) -> Result<(), GateError> {
        for c in &self.set_cookies {
            headers.append("Set-Cookie", c)?;
        }
        Ok(())
    }
}

/// Bytes of platform randomness fetched at once: one call out to the runtime's
/// `crypto.getRandomValues` serves 51 new tickets rather than one (the call was 1.3 % of an
/// arrival's samples in `scripts/bench --edge`).
const RANDOM_BATCH: usize = 1024;

thread_local! {
    /// The isolate's unused randomness, and how much of the batch is used. Each byte is handed
    /// out once; what is not handed out never leaves this isolate's memory.
    static RANDOM: RefCell<(usize, [u8; RANDOM_BATCH])> =
        const { RefCell::new((RANDOM_BATCH, [0; RANDOM_BATCH])) };
}

/// `N` fresh bytes of the platform's randomness, from the isolate's batch.
fn random_bytes<const N: usize>() -> Result<[u8; N], GateError> {
    RANDOM.with_borrow_mut(|(used, batch)| {
        if *used + N > RANDOM_BATCH {
            // A failed draw leaves the batch used up, so the next ticket tries again.
            getrandom::fill(batch).map_err(|_| GateError::Internal("no randomness".into()))?;
            *used = 0;
        }
        let drawn = batch
            .get(*used..*used + N)
            .ok_or_else(|| GateError::Internal("a draw larger than the batch".into()))?;
        let mut out = [0u8; N];
        out.copy_from_slice(drawn);
        *used += N;
        Ok(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_draws_never_repeat_across_refills() {
        // 200 tickets' worth spans four batches; a draw handed out twice, or a batch not
        // refilled when used up, repeats an id.
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let drawn: [u8; 20] = random_bytes().unwrap_or_default();
            assert_ne!(drawn, [0; 20]);
            assert!(seen.insert(drawn), "a draw came out twice");
        }
    }
}
