//! Forwarding an admitted request to the origin.
//!
//! The worker sets `Gate-Pass` itself (a client-sent one is dropped), strips hop-by-hop headers
//! and the gate's own cookies, bounds the body and the wait, and passes the origin's answer
//! back. A `Gate-Session: end` from the origin ends the visitor's pass, freeing a place for the
//! next citizen. If the origin is down or slow, the admitted citizen gets a clear page, never a
//! hang, and nobody waiting notices.

use edgegate_core::origin::Outcome;
use edgegate_core::revocation::TicketRef;
use edgegate_core::UnixMs;
use worker::{
    AbortController, Fetch, Headers, Method, Request, RequestInit, RequestRedirect, Response,
    ResponseBuilder,
};

use crate::address::Address;
use crate::cookies;
use crate::coordinator::now_ms;
use crate::edge;
use crate::error::GateError;
use crate::pages;
use crate::settings::Settings;
use crate::timeout::with_timeout;
use crate::trust::Visitor;

/// Largest request body forwarded, in bytes. Booking forms are tiny.
pub const MAX_BODY: usize = 64 * 1024;

/// Headers that describe one connection, not the message (RFC 9110 §7.6.1), plus the ones the
/// gate sets itself.
const NOT_FORWARDED: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
    "cookie",
    "gate-pass",
    "gate-session",
    "edgegate-test-key",
    "x-forwarded-host",
    "x-forwarded-proto",
];

pub async fn to_origin(
    mut req: Request,
    mut visitor: Visitor,
    settings: &Settings,
    now: UnixMs,
) -> Result<Response, GateError> {
    let Some(pass_text) = visitor.current_pass(settings, now) else {
        return Err(GateError::Internal("forwarding without a pass".into()));
    };

    let url = Address::of(&req);
    let target = match url.query() {
        Some(q) => format!("{}{}?{}", visitor.place.site.origin_url, url.path(), q),
        None => format!("{}{}", visitor.place.site.origin_url, url.path()),
    };
    let headers = Headers::new();
    for (name, value) in req.headers().entries() {
        if !NOT_FORWARDED.contains(&name.to_ascii_lowercase().as_str()) {
            headers.append(&name, &value)?;
        }
    }
    let cookie = req.headers().get("Cookie")?.unwrap_or_default();
    let cookie = cookies::without_gate_cookies(&cookie);
    if !cookie.is_empty() {
        headers.set("Cookie", &cookie)?;
    }
    headers.set("Gate-Pass", &pass_text)?;
    headers.set("X-Forwarded-Host", url.host_port())?;
    headers.set(
        "X-Forwarded-Proto",
        if url.https() { "https" } else { "http" },
    )?;

    let method = req.method();
    let mut init = RequestInit::new();
    init.with_method(method.clone())
        .with_headers(headers)
        .with_redirect(RequestRedirect::Manual);
    if !matches!(method, Method::Get | Method::Head) {
        let declared = req
            .headers()
            .get("Content-Length")?
            .and_then(|v| v.parse::<usize>().ok())
            .unwrap_or(0);
        if declared > MAX_BODY {
            return Ok(with_cookies(too_large(), &visitor));
        }
        let body = req.bytes().await?;
        if body.len() > MAX_BODY {
            return Ok(with_cookies(too_large(), &visitor));
        }
        init.with_body(Some(js_sys::Uint8Array::from(body.as_slice()).into()));
    }
    let outbound = Request::new_with_init(&target, &init)?;
    let started = now_ms();
    let abort = AbortController::default();
    let signal = abort.signal();
    let outcome = with_timeout(
        Fetch::Request(outbound).send_with_signal(&signal),
        settings.origin_timeout_ms,
    )
    .await;
    // Every forward is counted for the operator's view of the origin's health.
    let record = |outcome: Outcome| {
        let took = now_ms().saturating_sub(started);
        edge::with_book(settings, &visitor.place.book, |b| {
            b.record_origin(took, outcome)
        });
    };
    let resp = match outcome {
        Some(Ok(resp)) => {
            record(Outcome::Answered(resp.status_code()));
            resp
        }
        Some(Err(e)) => {
            record(Outcome::Unreachable);
            worker::console_warn!("origin unreachable: {e}");
            return Ok(with_cookies(origin_trouble(502), &visitor));
        }
        None => {
            record(Outcome::TimedOut);
            abort.abort();
            worker::console_warn!("origin timed out after {} ms", settings.origin_timeout_ms);
            return Ok(with_cookies(origin_trouble(504), &visitor));
        }
    };

    let ends_session = resp
        .headers()
        .get("Gate-Session")?
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("end"));
    if ends_session {
        visitor.end_session(settings, now);
    }
    let status = resp.status_code();
    let out = Headers::new();
    for (name, value) in resp.headers().entries() {
        let lower = name.to_ascii_lowercase();
        let gate_cookie = lower == "set-cookie"
            && value
                .split_once('=')
                .is_some_and(|(k, _)| k.contains(cookies::TICKET) || k.contains(cookies::PASS));
        if !gate_cookie && !NOT_FORWARDED.contains(&lower.as_str()) {
            out.append(&name, &value)?;
        }
    }
    visitor.cookie_headers(&out)?;
    let (_, body) = resp.into_parts();
    Ok(ResponseBuilder::new()
        .with_status(status)
        .with_headers(out)
        .body(body))
}

fn with_cookies(resp: Response, visitor: &Visitor) -> Response {
    // The page's headers are our own and mutable; a failure here only drops a renewal.
    let _ = visitor.cookie_headers(resp.headers());
    resp
}

/// The gate's answer to a ticket or pass the operator revoked: never forwarded, a 403 saying
/// so in both languages, with the cookies cleared so that coming back starts a new place.
pub fn withdrawn(visitor: &Visitor, r: TicketRef) -> Response {
    let (title, message) = withdrawn_words(r);
    with_cookies(pages::plain(403, title, &message), visitor)
}

/// The title and message of [`withdrawn`].
pub fn withdrawn_words(r: TicketRef) -> (&'static str, String) {
    let message = format!(
        "운영자가 이 입장권(접수 번호 {r})을 취소했습니다. 다시 줄을 서려면 이 페이지를 새로 고치세요. \
         잘못된 조치라고 생각되면 접수 번호를 준비해 고객센터에 문의해 주세요. · \
         The operator has withdrawn this pass (ticket number {r}). To queue again, reload this \
         page. If you think this is a mistake, contact the call centre with your ticket number."
    );
    ("입장이 취소되었습니다 · Your pass was withdrawn", message)
}

fn origin_trouble(status: u16) -> Response {
    let (title, message) = ORIGIN_TROUBLE;
    pages::plain(status, title, message)
}

/// The title and message of the page for an origin that does not answer (502) or in time (504).
pub const ORIGIN_TROUBLE: (&str, &str) = (
    "예약 서버가 응답하지 않습니다 · The booking service is not answering",
    "입장은 유효합니다. 잠시 후 다시 시도해 주세요. · Your admission is still valid. Please try again in a moment.",
);

fn too_large() -> Response {
    pages::plain(
        413,
        "요청이 너무 큽니다 · Request too large",
        "보낸 내용이 너무 큽니다. · What was sent is too large.",
    )
}
