//! What a citizen meets: the waiting page at any protected path, the status poll, and the
//! no-JavaScript status fragment. Tickets and passes are read here, once per request, and any
//! token that fails to verify is treated as no token.

use std::cell::RefCell;
use std::rc::Rc;

use edgegate_core::status::QueueStatus;
use edgegate_core::{OrderKey, Pass, QueueState, TestKey, Ticket, UnixMs};
use worker::{Env, Headers, Request, Response, ResponseBuilder};

use crate::cookies;
use crate::edge;
use crate::error::GateError;
use crate::forward;
use crate::settings::Settings;

/// Where the static waiting page lives among the assets.
const WAITING_PAGE: &str = "https://assets.invalid/queue/static/waiting.html";

/// The waiting page's security headers: nothing but our own files, never framed.
const PAGE_CSP: &str =
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

thread_local! {
    /// The waiting page's bytes: immutable for a deploy, so fetched once per isolate.
    static PAGE: RefCell<Option<Rc<Vec<u8>>>> = const { RefCell::new(None) };
}

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
    /// Set for test-key passes, which the live counts never saw.
    pub pass_uncounted: bool,
    /// `Set-Cookie` values to send back.
    pub set_cookies: Vec<String>,
}

impl Visitor {
    pub fn read(req: &Request, settings: &Settings, now: UnixMs) -> Visitor {
        let https = req.url().map(|u| u.scheme() == "https").unwrap_or(false);
        let header = req
            .headers()
            .get("Cookie")
            .ok()
            .flatten()
            .unwrap_or_default();
        let ticket = cookies::read(&header, &cookies::name(cookies::TICKET, https))
            .and_then(|t| Ticket::verify(t, &settings.ticket_keys, settings.room_tag, now).ok());
        let pass = cookies::read(&header, &cookies::name(cookies::PASS, https)).and_then(|t| {
            Pass::verify(t, &settings.pass_keys, settings.room_tag, now)
                .ok()
                .map(|p| (p, t.to_owned()))
        });
        let test_key = req
            .headers()
            .get(TEST_KEY_HEADER)
            .ok()
            .flatten()
            .or_else(|| cookies::read(&header, cookies::TEST_KEY).map(str::to_owned))
            .and_then(|t| {
                TestKey::verify(t.trim(), &settings.test_keys, settings.room_tag, now).ok()
            });
        Visitor {
            https,
            ticket,
            pass,
            test_key,
            pass_uncounted: false,
            set_cookies: Vec::new(),
        }
    }

    /// The visitor's test key, if they have one and the room's test mode is on.
    pub fn honoured_test_key(&self) -> Option<&TestKey> {
        self.test_key
            .as_ref()
            .filter(|_| edge::config().is_some_and(|c| c.test_mode))
    }

    /// The visitor's ticket, issuing (and counting) a new one if they had none, and renewing one
    /// past half its life so a place is kept as long as its holder keeps coming back.
    pub fn ticket(&mut self, settings: &Settings, now: UnixMs) -> Result<Ticket, GateError> {
        if let Some(ticket) = &self.ticket {
            if ticket.expires_at.since(now) > settings.ticket_ttl_ms / 2 {
                return Ok(ticket.clone());
            }
            let renewed = Ticket {
                issued_at: now,
                expires_at: now.plus_ms(settings.ticket_ttl_ms),
                ..ticket.clone()
            };
            self.set_ticket_cookie(&renewed, settings);
            return Ok(renewed);
        }
        let mut random = [0u8; 20];
        getrandom::fill(&mut random).map_err(|_| GateError::Internal("no randomness".into()))?;
        let (id, sub) = random.split_at(16);
        let id: [u8; 16] = id
            .try_into()
            .map_err(|_| GateError::Internal("id".into()))?;
        let sub = u32::from_be_bytes(
            sub.try_into()
                .map_err(|_| GateError::Internal("sub".into()))?,
        );
        let prequeue = edge::config()
            .filter(|c| c.before_opening(now))
            .map(|c| c.prequeue_since.unwrap_or(now));
        let order = match prequeue {
            Some(since) => OrderKey::lottery(since, sub),
            None => OrderKey::fifo(now, sub),
        };
        let ticket = Ticket {
            key_id: settings.ticket_keys.signing().id(),
            room: settings.room_tag,
            order,
            id,
            issued_at: now,
            expires_at: now.plus_ms(settings.ticket_ttl_ms),
        };
        edge::count_arrival(order.bucket());
        self.set_ticket_cookie(&ticket, settings);
        self.ticket = Some(ticket.clone());
        Ok(ticket)
    }

    fn set_ticket_cookie(&mut self, ticket: &Ticket, settings: &Settings) {
        let text = ticket.sign(&settings.ticket_keys);
        self.set_cookies.push(cookies::set(
            &cookies::name(cookies::TICKET, self.https),
            &text,
            settings.ticket_ttl_ms / 1000,
            self.https,
        ));
    }

    /// Mints (and counts) a pass for `ticket` unless the visitor already holds one for it.
    pub fn admit(&mut self, ticket: &Ticket, settings: &Settings, now: UnixMs) -> String {
        if let Some((pass, text)) = &self.pass {
            if pass.ticket_id == ticket.id {
                return text.clone();
            }
        }
        let session_ms = edge::config().unwrap_or_default().session_duration_ms();
        self.mint_pass(ticket.id, settings, now, session_ms)
    }

    /// Mints a pass bound to `ticket_id`, counts it, and queues its cookie.
    pub fn mint_pass(
        &mut self,
        ticket_id: [u8; 16],
        settings: &Settings,
        now: UnixMs,
        session_ms: u64,
    ) -> String {
        let pass = Pass {
            key_id: settings.pass_keys.signing().id(),
            room: settings.room_tag,
            ticket_id,
            issued_at: now,
            expires_at: now.plus_ms(session_ms),
        };
        let text = pass.sign(&settings.pass_keys);
        edge::count_pass(pass.expires_at.secs(), 1);
        self.set_cookies.push(cookies::set(
            &cookies::name(cookies::PASS, self.https),
            &text,
            session_ms / 1000,
            self.https,
        ));
        self.pass = Some((pass, text.clone()));
        text
    }

    /// Ends the visitor's pass: uncounts it and expires the cookie.
    pub fn end_pass(&mut self) {
        if let Some((pass, _)) = self.pass.take() {
            if !self.pass_uncounted {
                edge::count_pass(pass.expires_at.secs(), -1);
            }
        }
        self.set_cookies.push(cookies::set(
            &cookies::name(cookies::PASS, self.https),
            "",
            0,
            self.https,
        ));
    }

    pub fn cookie_headers(&self, headers: &Headers) -> Result<(), GateError> {
        for c in &self.set_cookies {
            headers.append("Set-Cookie", c)?;
        }
        Ok(())
    }
}

/// Any protected path: forward with a valid pass, admit a ticket the cursor has passed, else
/// the waiting page.
pub async fn protected(
    req: Request,
    env: &Env,
    settings: &Rc<Settings>,
    now: UnixMs,
) -> Result<Response, GateError> {
    let mut visitor = Visitor::read(&req, settings, now);
    // A pass holder never waits for the room: their pass is proof enough.
    if visitor.pass.is_some() && visitor.test_key.is_none() {
        return forward::to_origin(req, visitor, settings, now).await;
    }
    if !edge::has_snapshot() {
        edge::sync_first(env, settings, now).await;
    }
    if let Some(key) = visitor.honoured_test_key().cloned() {
        if !key.mode.goes_through() {
            return waiting_page(env, &visitor).await;
        }
        // A pass for this request only: no cookie, and never counted as active.
        let pass = Pass {
            key_id: settings.pass_keys.signing().id(),
            room: settings.room_tag,
            ticket_id: key.id,
            issued_at: now,
            expires_at: key.expires_at,
        };
        let text = pass.sign(&settings.pass_keys);
        visitor.pass = Some((pass, text));
        visitor.pass_uncounted = true;
        return forward::to_origin(req, visitor, settings, now).await;
    }
    if visitor.pass.is_some() {
        return forward::to_origin(req, visitor, settings, now).await;
    }
    let ticket = visitor.ticket(settings, now)?;
    let admitted = edge::with_view(settings, now, |view| {
        view.is_some_and(|v| v.cursor.admits(ticket.order))
    });
    if admitted {
        visitor.admit(&ticket, settings, now);
        return forward::to_origin(req, visitor, settings, now).await;
    }
    waiting_page(env, &visitor).await
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
    Ok(ResponseBuilder::new()
        .with_status(200)
        .with_headers(headers)
        .fixed(body.as_ref().clone()))
}

/// `GET /queue/status`: the visitor's place, from this isolate's copy of the room.
pub async fn status(
    req: Request,
    env: &Env,
    settings: &Rc<Settings>,
    now: UnixMs,
) -> Result<Response, GateError> {
    let (visitor, status) = evaluate(&req, env, settings, now).await?;
    let headers = personal_headers("application/json")?;
    if status.state == QueueState::Prequeue {
        // The gate's clock, which the countdown to the opening trusts over the phone's. Only
        // the countdown reads it, so the common poll is spared the clock read and the string.
        headers.set("Date", &String::from(js_sys::Date::new_0().to_utc_string()))?;
    }
    visitor.cookie_headers(&headers)?;
    let body = serde_json::to_vec(&status).map_err(|e| GateError::Internal(e.to_string()))?;
    Ok(ResponseBuilder::new()
        .with_status(200)
        .with_headers(headers)
        .fixed(body))
}

/// `GET /queue/status.html`: the same answer as a tiny page, for the waiting page's
/// `<noscript>` frame.
pub async fn status_html(
    req: Request,
    env: &Env,
    settings: &Rc<Settings>,
    now: UnixMs,
) -> Result<Response, GateError> {
    let korean = prefers_korean(&req);
    let (visitor, status) = evaluate(&req, env, settings, now).await?;
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
    now: UnixMs,
) -> Result<(Visitor, QueueStatus), GateError> {
    let mut visitor = Visitor::read(req, settings, now);
    if !edge::has_snapshot() {
        edge::sync_first(env, settings, now).await;
    }
    let jitter = jitter();
    if let Some(key) = visitor.honoured_test_key() {
        let config = edge::config().unwrap_or_default();
        let status = edgegate_core::status::forced(key.mode, &config, now, jitter);
        return Ok((visitor, status));
    }
    let ticket = visitor.ticket(settings, now)?;
    let status = edge::with_view(settings, now, |view| match view {
        Some(view) => view.status(ticket.order, now, jitter),
        None => QueueStatus {
            state: QueueState::Waiting,
            position: None,
            ahead: None,
            eta_s: None,
            next_poll_ms: edgegate_core::status::jittered(5_000, jitter),
            opens_at: None,
            stale: true,
        },
    });
    if status.state == QueueState::Admitted {
        visitor.admit(&ticket, settings, now);
    }
    Ok((visitor, status))
}

fn jitter() -> u16 {
    let mut b = [0u8; 2];
    // A failed draw only makes this poll's interval unjittered.
    let _ = getrandom::fill(&mut b);
    u16::from_be_bytes(b)
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
