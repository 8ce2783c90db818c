//! The trust boundary: the one place where cookie and header text becomes a ticket, a pass or
//! a test key, and where tickets and passes are signed into cookies. Anything that fails to
//! verify is treated as no token. What a visitor's tokens earn them is the core's decision
//! (`edgegate_core::visit`); this file only translates text.
//!
//! A waiting citizen polls with the same ticket every few seconds, and checking its HMAC
//! (SHA-256 in software) was the largest part of deciding a poll. So the texts that
//! authenticated are remembered ([`Recent`]) beside the rings they were checked under, and only
//! the half of verifying that changes with time and room (`in_scope`) is asked on every use. A
//! text that fails is never remembered, so a forgery costs its MAC every time and no memory.

use std::cell::RefCell;

use edgegate_core::cookies;
use edgegate_core::keys::RoomTag;
use edgegate_core::recent::Recent;
use edgegate_core::rooms::Site;
use edgegate_core::visit::{Cookie, Tokens};
use edgegate_core::{Pass, TestKey, Ticket, UnixMs};

use edgegate_web::settings::Settings;

/// Texts remembered per generation, for tickets and for passes each. A remembered ticket is
/// about 230 bytes in wasm with its text (a pass less), so each memory stays under about 4 MB
/// of an isolate's 128 MB, and an isolate keeps every citizen who polls it at least once per
/// 8,192 others.
const RECENT_PER_GENERATION: usize = 8_192;

thread_local! {
    // The settings (and so the rings) never change for an isolate's life, so neither need
    // these memories be dropped with them.
    static RECENT_TICKETS: RefCell<Recent<Ticket>> =
        RefCell::new(Recent::new(RECENT_PER_GENERATION));
    static RECENT_PASSES: RefCell<Recent<Pass>> =
        RefCell::new(Recent::new(RECENT_PER_GENERATION));
}

/// Where a visitor's cookies live: their room's names, on this scheme.
pub struct Jar<'a> {
    pub settings: &'a Settings,
    pub site: &'a Site,
    pub https: bool,
}

impl Jar<'_> {
    /// The verified tokens in a `Cookie` header and an `Edgegate-Test-Key` header, at `now`.
    pub fn tokens(&self, header: &str, test_key_header: Option<&str>, now: UnixMs) -> Tokens {
        let room = self.site.tag;
        let ticket = cookies::read(header, &self.name(cookies::TICKET))
            .and_then(|t| ticket(self.settings, t, room, now));
        let pass = cookies::read(header, &self.name(cookies::PASS))
            .and_then(|t| pass(self.settings, t, room, now));
        let test_key = test_key_header
            .or_else(|| cookies::read(header, cookies::TEST_KEY))
            .and_then(|t| TestKey::verify(t.trim(), &self.settings.test_keys, room, now).ok());
        Tokens {
            ticket,
            pass,
            test_key,
        }
    }

    /// The `Set-Cookie` values for `intents`, in order, each token signed with the newest key.
    pub fn set_cookies(&self, intents: &[Cookie]) -> Vec<String> {
        let https = self.https;
        intents
            .iter()
            .map(|intent| match intent {
                Cookie::Ticket(t) => cookies::set(
                    &self.name(cookies::TICKET),
                    &t.sign(&self.settings.ticket_keys),
                    self.settings.ticket_ttl_ms / 1000,
                    https,
                ),
                Cookie::Pass { pass, max_age_s } => cookies::set(
                    &self.name(cookies::PASS),
                    &sign_pass(self.settings, pass),
                    *max_age_s,
                    https,
                ),
                Cookie::ClearTicket => cookies::set(&self.name(cookies::TICKET), "", 0, https),
                Cookie::ClearPass => cookies::set(&self.name(cookies::PASS), "", 0, https),
            })
            .collect()
    }

    /// The text `Gate-Pass` carries for `pass`: the visitor's own pass cookie in `header` when
    /// it verified as exactly this pass (`presented`), so a pass-through costs no MAC; else
    /// `pass` signed anew (one just minted, renewed or moved).
    pub fn gate_pass(&self, header: &str, presented: Option<&Pass>, pass: &Pass) -> String {
        match (presented, cookies::read(header, &self.name(cookies::PASS))) {
            (Some(held), Some(text)) if held == pass => text.to_owned(),
            _ => sign_pass(self.settings, pass),
        }
    }

    /// The name of the gate's cookie `base` for this room and scheme.
    fn name(&self, base: &str) -> String {
        cookies::name(&format!("{base}{}", self.site.cookie_suffix), self.https)
    }
}

/// The pass's text, signed with the newest key, as its cookie and `Gate-Pass` carry it.
fn sign_pass(settings: &Settings, pass: &Pass) -> String {
    pass.sign(&settings.pass_keys)
}

/// The ticket `text` holds if it is valid for `room` at `now`, as `Ticket::verify` answers,
/// with the MAC checked only the first time this isolate sees the text.
pub fn ticket(settings: &Settings, text: &str, room: RoomTag, now: UnixMs) -> Option<Ticket> {
    let ticket = RECENT_TICKETS
        .with_borrow_mut(|r| {
            r.get_or_authenticate(text, |t| Ticket::authenticate(t, &settings.ticket_keys))
        })
        .ok()?;
    ticket.in_scope(room, now).ok().map(|()| ticket)
}

/// The pass `text` holds if it is valid for `room` at `now`, as [`ticket`].
pub fn pass(settings: &Settings, text: &str, room: RoomTag, now: UnixMs) -> Option<Pass> {
    let pass = RECENT_PASSES
        .with_borrow_mut(|r| {
            r.get_or_authenticate(text, |t| Pass::authenticate(t, &settings.pass_keys))
        })
        .ok()?;
    pass.in_scope(room, now).ok().map(|()| pass)
}
