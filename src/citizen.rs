//! What a citizen meets: the waiting page at any protected path, the status poll, and the
//! no-JavaScript status fragment. Cookies are read through `trust::Visitor`, once per request.

use std::cell::RefCell;
use std::rc::Rc;

use edgegate_core::isolate::Admission;
use edgegate_core::revocation::TicketRef;
use edgegate_core::status::QueueStatus;
use edgegate_core::{QueueState, Seat, UnixMs};
use worker::{Env, Headers, Request, Response, ResponseBuilder};

use crate::edge::{self, Place};
use crate::error::GateError;
use crate::forward;
use crate::settings::Settings;
use crate::trust::Visitor;

/// Where the static waiting page lives among the assets.
const WAITING_PAGE: &str = "https://assets.invalid/queue/static/waiting.html";

/// The status poll's header with the ticket's ref (`XXXX-XXXX`).
pub const TICKET_REF_HEADER: &str = "Edgegate-Ticket-Ref";

/// The header a status answer carries the operator's closing message in.
pub const NOTICE_HEADER: &str = "Edgegate-Notice";

/// The waiting page's security headers: nothing but our own files, never framed.
const PAGE_CSP: &str =
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

thread_local! {
    /// The waiting page's bytes: immutable for a deploy, so fetched once per isolate.
    static PAGE: RefCell<Option<Rc<Vec<u8>>>> = const { RefCell::new(None) };
}

/// What a protected path answers a visitor.
pub enum Door {
    /// Forward to the origin, with the visitor's pass.
    Forward,
    /// The waiting page.
    Page,
    /// The operator withdrew the visitor's ticket: a 403 that says so.
    Withdrawn(TicketRef),
}

/// Any protected path: forward with a valid pass, let through a ticket the cursor has passed
/// (as the rate allows), else the waiting page.
pub async fn protected(
    req: Request,
    env: &Env,
    settings: &Rc<Settings>,
    place: Rc<Place>,
    now: UnixMs,
) -> Result<Response, GateError> {
    let mut visitor = Visitor::read(&req, settings, place, now);
    // Even a pass holder waits for an isolate's first sync, once: only the room knows which
    // passes the operator revoked.
    if !edge::knows_room(&visitor.place.book) {
        edge::sync_first(env, settings, &visitor.place, now).await;
    }
    match door(&mut visitor, settings, now)? {
        Door::Forward => forward::to_origin(req, visitor, settings, now).await,
        Door::Page => waiting_page(env, &visitor).await,
        Door::Withdrawn(r) => Ok(forward::withdrawn(&visitor, r)),
    }
}

/// The decision of [`protected`] once the book knows the room: the same on the workers-rs path
/// and the JS entry's (`hot.rs`).
pub fn door(visitor: &mut Visitor, settings: &Settings, now: UnixMs) -> Result<Door, GateError> {
    if let Some(r) = visitor.withdraw_if_revoked(settings) {
        return Ok(Door::Withdrawn(r));
    }
    // A pass holder never waits for the room: their pass is proof enough.
    if visitor.pass.is_some() && visitor.test_key.is_none() {
        return Ok(Door::Forward);
    }
    if let Some(key) = visitor.honoured_test_key().cloned() {
        if !key.mode.goes_through() {
            return Ok(Door::Page);
        }
        visitor.test_pass(&key, settings, now);
        return Ok(Door::Forward);
    }
    if visitor.pass.is_some() {
        return Ok(Door::Forward);
    }
    // A place that lapsed or was used up is left in its cookie for the page's first status
    // poll to replace, so that answer can tell the citizen why they are starting again.
    if visitor
        .ticket
        .as_ref()
        .is_some_and(|t| t.seat == Seat::Done || t.lapsed(now))
    {
        return Ok(Door::Page);
    }
    let ticket = visitor.place(settings, now)?;
    if let Admission::Through { .. } = visitor.admit(&ticket, settings, now) {
        return Ok(Door::Forward);
    }
    Ok(Door::Page)
}

async fn waiting_page(env: &Env, visitor: &Visitor) -> Result<Response, GateError> {
    let cached = PAGE.with_borrow(|p| p.clone());
    let body = match cached {
        Some(body) => body,
        None => {
            let mut resp = env.assets("ASSETS")?.fetch(WAITING_PAGE, None).await?;
            if resp.status_code() != 200 {
                return Err(GateError::Internal(format!(
                    "waiting page asset answered {}",
                    resp.status_code()
                )));
            }
            let body = Rc::new(resp.bytes().await?);
            PAGE.with_borrow_mut(|p| *p = Some(Rc::clone(&body)));
            body
        }
    };
    let headers = personal_headers("text/html; charset=utf-8")?;
    headers.set("Content-Security-Policy", PAGE_CSP)?;
    visitor.cookie_headers(&headers)?;
    let body = if visitor.place.site.cookie_suffix.is_empty() {
        body.as_ref().clone()
    } else {
        for_room(&body, &visitor.place.site.name)
    };
    Ok(ResponseBuilder::new()
        .with_status(200)
        .with_headers(headers)
        .fixed(body))
}

/// The waiting page for a room other than the default: it names its room, so its polls (and
/// its no-JavaScript frame) reach that room whatever the page's own path. Room names are
/// letters, digits and `-` (`rooms::valid_name`), so they need no escaping here.
fn for_room(page: &[u8], room: &str) -> Vec<u8> {
    String::from_utf8_lossy(page)
        .replacen("<html ", &format!("<html data-room=\"{room}\" "), 1)
        .replacen(
            "/queue/status.html\"",
            &format!("/queue/status.html?room={room}\""),
            1,
        )
        .into_bytes()
}

/// `GET /queue/status`: the visitor's place, from this isolate's copy of the room.
pub async fn status(
    req: Request,
    env: &Env,
    settings: &Rc<Settings>,
    place: Rc<Place>,
    now: UnixMs,
) -> Result<Response, GateError> {
    let (visitor, status) = evaluate(&req, env, settings, place, now).await?;
    let answer = StatusAnswer::of(&visitor, &status)?;
    let headers = personal_headers("application/json")?;
    if let Some(r) = &answer.ticket_ref {
        headers.set(TICKET_REF_HEADER, r)?;
    }
    if let Some(notice) = &answer.notice {
        headers.set(NOTICE_HEADER, notice)?;
    }
    if answer.date {
        headers.set("Date", &String::from(js_sys::Date::new_0().to_utc_string()))?;
    }
    visitor.cookie_headers(&headers)?;
    Ok(ResponseBuilder::new()
        .with_status(200)
        .with_headers(headers)
        .fixed(answer.body))
}

/// A status answer's parts beyond the personal headers and cookies, whoever builds the response.
pub struct StatusAnswer {
    /// The ticket number a citizen reads to a call centre; a header, as the JSON is fixed.
    pub ticket_ref: Option<String>,
    /// The operator's words for a closed room, as URI-encoded JSON ({"ko", "en"}): a header
    /// carries only ASCII, and the JSON body is fixed.
    pub notice: Option<String>,
    /// Whether to send the gate's clock (`Date`), which the countdown to the opening trusts
    /// over the phone's. Only the countdown reads it, so the common poll is spared it.
    pub date: bool,
    /// The JSON.
    pub body: Vec<u8>,
}

impl StatusAnswer {
    pub fn of(visitor: &Visitor, status: &QueueStatus) -> Result<StatusAnswer, GateError> {
        let ticket_ref = visitor
            .ticket
            .as_ref()
            .map(|t| TicketRef::of(&t.id).to_string());
        let mut notice = None;
        if status.state == QueueState::Closed {
            if let Some(words) = edge::config(&visitor.place.book).and_then(|c| c.close_message) {
                let json = serde_json::to_string(&words)
                    .map_err(|e| GateError::Internal(e.to_string()))?;
                notice = Some(String::from(js_sys::encode_uri_component(&json)));
            }
        }
        let body = serde_json::to_vec(status).map_err(|e| GateError::Internal(e.to_string()))?;
        Ok(StatusAnswer {
            ticket_ref,
            notice,
            date: status.state == QueueState::Prequeue,
            body,
        })
    }
}

/// `GET /queue/status.html`: the same answer as a tiny page, for the waiting page's
/// `<noscript>` frame.
pub async fn status_html(
    req: Request,
    env: &Env,
    settings: &Rc<Settings>,
    place: Rc<Place>,
    now: UnixMs,
) -> Result<Response, GateError> {
    let korean = prefers_korean(&req);
    let (visitor, status) = evaluate(&req, env, settings, place, now).await?;
    let headers = personal_headers("text/html; charset=utf-8")?;
    headers.set(
        "Content-Security-Policy",
        "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'",
    )?;
    visitor.cookie_headers(&headers)?;
    let html = crate::fragment::render(&status, korean);
    Ok(ResponseBuilder::new()
        .with_status(200)
        .with_headers(headers)
        .fixed(html.into_bytes()))
}

async fn evaluate(
    req: &Request,
    env: &Env,
    settings: &Rc<Settings>,
    place: Rc<Place>,
    now: UnixMs,
) -> Result<(Visitor, QueueStatus), GateError> {
    let mut visitor = Visitor::read(req, settings, place, now);
    if !edge::knows_room(&visitor.place.book) {
        edge::sync_first(env, settings, &visitor.place, now).await;
    }
    let status = status_of(&mut visitor, settings, now)?;
    Ok((visitor, status))
}

/// The visitor's status once the book knows the room: the same on the workers-rs path and the
/// JS entry's (`hot.rs`).
pub fn status_of(
    visitor: &mut Visitor,
    settings: &Settings,
    now: UnixMs,
) -> Result<QueueStatus, GateError> {
    // A revoked ticket's holder is answered as a newcomer: the status JSON is fixed, and the
    // protected pages say why.
    visitor.withdraw_if_revoked(settings);
    let jitter = jitter();
    if let Some(key) = visitor.honoured_test_key() {
        let config = edge::config(&visitor.place.book).unwrap_or_default();
        return Ok(edgegate_core::status::forced(
            key.mode, &config, now, jitter,
        ));
    }
    let ticket = visitor.place(settings, now)?;
    let admission = visitor.admit(&ticket, settings, now);
    let mut status = edge::with_book(settings, &visitor.place.book, |book| {
        book.status(&ticket, admission, now, jitter)
    });
    status.rejoined = visitor.rejoined;
    Ok(status)
}

thread_local! {
    /// The poll jitter's generator (xorshift64): it only spreads polls in time, so it is seeded
    /// from the platform's randomness once per isolate instead of drawing from it every poll.
    static JITTER: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

fn jitter() -> u16 {
    JITTER.with(|state| {
        let mut x = state.get();
        if x == 0 {
            let mut seed = [0u8; 8];
            // A failed draw leaves a fixed seed: polls are then jittered alike, never unjittered.
            let _ = getrandom::fill(&mut seed);
            x = u64::from_le_bytes(seed) | 1;
        }
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        state.set(x);
        let [a, b, ..] = x.to_be_bytes();
        u16::from_be_bytes([a, b])
    })
}

fn prefers_korean(req: &Request) -> bool {
    let lang = req
        .headers()
        .get("Accept-Language")
        .ok()
        .flatten()
        .unwrap_or_default()
        .to_ascii_lowercase();
    let first = lang.split(',').next().unwrap_or_default().trim();
    first.starts_with("ko") || (first.is_empty() || first == "*")
}

/// Headers for a response meant for one visitor only.
pub fn personal_headers(content_type: &str) -> Result<Headers, GateError> {
    let headers = Headers::new();
    headers.set("Content-Type", content_type)?;
    headers.set("Cache-Control", "no-store")?;
    headers.set("X-Content-Type-Options", "nosniff")?;
    headers.set("Referrer-Policy", "same-origin")?;
    Ok(headers)
}
