//! The citizen's hot paths for the JS entry (`src/entry.mjs`): a status poll, a page view and
//! an admitted request's way to the origin, each decided in ONE call with plain arguments.
//!
//! The entry builds the response (and the origin's fetch) itself, so neither the request nor
//! the response crosses into wasm as an object and workers-rs builds no headers. The decisions
//! are the workers-rs path's own (`citizen::door`, `citizen::status_of`, `trust::Visitor`), so
//! both paths answer alike; whatever the entry does not take (another method, an isolate that
//! has not met its room yet, the gate's own routes) goes to `fetch` in `lib.rs`.
//!
//! An answer is one string of `\n`-separated fields (none of them can hold a newline: JSON
//! escapes it, cookies and passes are token text, the pages are one line):
//! `tag, a, b, c, body, Set-Cookie…`, where the tag says which answer it is:
//! - `X`: not taken here; the entry hands the request to workers-rs (nothing was counted);
//! - `S`: a status poll: `a` the ticket's ref, `b` the closed room's notice, `c` `1` when the
//!   answer needs the gate's `Date`, `body` the JSON;
//! - `P`: the waiting page: `a` the room's name when it is not the default room;
//! - `F`: forward: `a` the handle for [`forwarded`], `b` the room's origin, `c` the pass,
//!   `body` the origin's deadline in ms;
//! - `W`: a built-in page (`pages::plain_html`): `a` its status, `body` its HTML.

use std::cell::RefCell;
use std::rc::Rc;

use edgegate_core::origin::Outcome;
use edgegate_core::UnixMs;
use wasm_bindgen::prelude::wasm_bindgen;
use worker::{Context, Env};

use crate::address::Address;
use crate::citizen::{self, Door, StatusAnswer};
use crate::coordinator::{now_ms, whole_ms};
use crate::edge::{self, Place};
use crate::error::GateError;
use crate::forward;
use crate::settings::Settings;
use crate::trust::Visitor;

/// Forwards under way at once, at most; past it the oldest is forgotten (its origin timing and
/// session end are lost, never the citizen's answer).
const MAX_FORWARDS: usize = 4096;

thread_local! {
    /// Visitors whose request is at the origin, with their handles, oldest first, until
    /// [`forwarded`]. (A vector: an ordered map of visitors was about 5 KB of wasm.)
    static FORWARDS: RefCell<(u32, Vec<(u32, Visitor)>)> = const { RefCell::new((0, Vec::new())) };
}

/// One citizen request on a hot path: `page` for a protected path (`GET`/`HEAD`), else
/// `GET /queue/status`. `now` is the entry's `Date.now()` (one call fewer back into JS); `url`
/// is the request's URL as the runtime serialized it, split here (`address::Address`) rather
/// than sliced into parts in JS, each of which would cross as a string of its own; `location`
/// is the `X-Edgegate-Location` header and `colo` the platform's `cf.colo`, as the request had
/// them.
#[wasm_bindgen]
#[allow(
    clippy::too_many_arguments,
    reason = "one call with plain arguments is the point: no request object crosses"
)]
pub fn citizen(
    env: &Env,
    ctx: worker::worker_sys::Context,
    now: f64,
    page: bool,
    url: String,
    cookie: Option<String>,
    test_key: Option<String>,
    location: Option<String>,
    colo: Option<String>,
) -> String {
    let Ok(settings) = crate::settings(env) else {
        return "X".into();
    };
    let location = edge::location_of(&settings, location, colo);
    let place = Rc::new(Place::at(&settings, &Address::parse(url), location));
    // An isolate that never met the room syncs first, on the workers-rs path.
    if !edge::knows_room(&place.book) {
        return "X".into();
    }
    let now = UnixMs(whole_ms(now));
    let visitor = Visitor::from_text(
        cookie.as_deref().unwrap_or_default(),
        test_key,
        &settings,
        Rc::clone(&place),
        now,
    );
    let answer = if page {
        page_answer(visitor, &settings, now)
    } else {
        status_answer(visitor, &settings, now)
    };
    // As `route` does: after the request counted its ticket or pass, a due sync goes in
    // `wait_until`, off the citizen's path.
    edge::sync_if_due(env, &Context::new(ctx), &settings, place, now);
    answer.unwrap_or_else(|e| {
        let (status, html) = e.into_page();
        answer_text("W", [&status.to_string(), "", ""], &html, &[])
    })
}

fn status_answer(
    mut visitor: Visitor,
    settings: &Settings,
    now: UnixMs,
) -> Result<String, GateError> {
    let status = citizen::status_of(&mut visitor, settings, now)?;
    let answer = StatusAnswer::of(&visitor, &status)?;
    let body = String::from_utf8(answer.body).map_err(|e| GateError::Internal(e.to_string()))?;
    Ok(answer_text(
        "S",
        [
            answer.ticket_ref.as_deref().unwrap_or_default(),
            answer.notice.as_deref().unwrap_or_default(),
            if answer.date { "1" } else { "" },
        ],
        &body,
        &visitor.set_cookies,
    ))
}

fn page_answer(
    mut visitor: Visitor,
    settings: &Settings,
    now: UnixMs,
) -> Result<String, GateError> {
    match citizen::door(&mut visitor, settings, now)? {
        Door::Page => {
            let site = &visitor.place.site;
            let room = if site.cookie_suffix.is_empty() {
                ""
            } else {
                site.name.as_str()
            };
            Ok(answer_text("P", [room, "", ""], "", &visitor.set_cookies))
        }
        Door::Withdrawn(r) => {
            let (title, message) = forward::withdrawn_words(r);
            let html = crate::pages::plain_html(title, &message);
            Ok(answer_text(
                "W",
                ["403", "", ""],
                &html,
                &visitor.set_cookies,
            ))
        }
        Door::Forward => {
            let pass = visitor
                .current_pass(settings, now)
                .ok_or_else(|| GateError::Internal("forwarding without a pass".into()))?;
            let cookies = std::mem::take(&mut visitor.set_cookies);
            let origin = visitor.place.site.origin_url.clone();
            let handle = FORWARDS.with_borrow_mut(|(next, forwards)| {
                *next = next.wrapping_add(1);
                if forwards.len() >= MAX_FORWARDS {
                    forwards.remove(0);
                }
                forwards.push((*next, visitor));
                *next
            });
            Ok(answer_text(
                "F",
                [&handle.to_string(), &origin, &pass],
                &settings.origin_timeout_ms.to_string(),
                &cookies,
            ))
        }
    }
}

/// The origin answered the forward `handle` (`status`), or was unreachable (`0`) or timed
/// out (`1`), after `took_ms`; `ends` when it said `Gate-Session: end`. Records the outcome in
/// the book, ends the session if asked, and answers the `Set-Cookie` values to add, one a line;
/// for an origin that did not answer, the first line is the page's HTML.
#[wasm_bindgen]
pub fn forwarded(handle: u32, status: u16, took_ms: u32, ends: bool) -> String {
    let taken = FORWARDS.with_borrow_mut(|(_, forwards)| {
        let at = forwards.iter().position(|(h, _)| *h == handle)?;
        Some(forwards.remove(at).1)
    });
    let Some(mut visitor) = taken else {
        return String::new();
    };
    let Some(settings) = crate::cached_settings() else {
        return String::new();
    };
    let outcome = match status {
        0 => Outcome::Unreachable,
        1 => Outcome::TimedOut,
        s => Outcome::Answered(s),
    };
    edge::with_book(&settings, &visitor.place.book, |b| {
        b.record_origin(u64::from(took_ms), outcome)
    });
    let mut lines = Vec::new();
    if status < 2 {
        let (title, message) = forward::ORIGIN_TROUBLE;
        lines.push(crate::pages::plain_html(title, message));
    } else if ends {
        visitor.end_session(&settings, UnixMs(now_ms()));
    }
    lines.extend(visitor.set_cookies);
    lines.join("\n")
}

fn answer_text(tag: &str, fields: [&str; 3], body: &str, cookies: &[String]) -> String {
    let mut out = String::with_capacity(
        16 + body.len()
            + fields.iter().map(|f| f.len()).sum::<usize>()
            + cookies.iter().map(|c| c.len() + 1).sum::<usize>(),
    );
    out.push_str(tag);
    for f in fields {
        out.push('\n');
        out.push_str(f);
    }
    out.push('\n');
    out.push_str(body);
    for c in cookies {
        out.push('\n');
        out.push_str(c);
    }
    out
}
