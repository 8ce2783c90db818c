//! The citizen's edge, as the JS entry (`src/entry.mjs`) calls it: every citizen request, of
//! any method, is decided in ONE call ([`citizen`]) with plain arguments, and the entry builds
//! the response (or the origin's fetch) from the answer, so neither the request nor the
//! response crosses into wasm as an object and workers-rs builds no headers. The decision is
//! the core's (`edgegate_core::visit::serve`); this file turns text into tokens (`trust`) and
//! the decision back into text. Lists the entry needs (headers to drop, the answers' header
//! sets) come from here once per isolate ([`edge_lists`]); none is written in JS.
//!
//! An answer is one string of `\n`-separated fields (none can hold a newline: JSON escapes it,
//! cookies and tokens are token text, the pages are one line, the context is tab-separated):
//! - `X`: not a citizen's route; the room's Worker answers (the operator's API and console).
//! - `C`: this isolate's book has never met its room: await [`first_sync`], then ask again
//!   with `cold` set. Nothing was counted.
//! - `R`, status, kind, n, then n lines `name\tvalue`, then the body, then `Set-Cookie`
//!   values: a response built by the entry, with the headers of `kind` (`edge_lists().headers`)
//!   and the n extra. For kind `page` the body is the room's name (empty for the default
//!   room) and the entry sends the waiting page.
//! - `F`, context, target URL, deadline ms, body limit, n, then n lines `name\tvalue`, then
//!   `Set-Cookie` values: forward to the target with the request's headers less
//!   `not_forwarded`, plus the n given; bound the body by the limit (413 past it); when the
//!   origin answers (or not), call [`forwarded`] with the context; add the `Set-Cookie`s to
//!   the origin's answer.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use edgegate_core::address::Address;
use edgegate_core::cookies;
use edgegate_core::origin::Outcome;
use edgegate_core::revocation::TicketRef;
use edgegate_core::rooms::valid_name;
use edgegate_core::visit::{self, Answer, Route, Sent, Terms};
use edgegate_core::{keys, work, QueueState, UnixMs};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;

use crate::books::{self, Place};
use crate::fragment;
use crate::platform::now_ms;
use crate::platform::settings;
use crate::platform::GateError;
use crate::trust::Jar;
use edgegate_web::headers::Kind;
use edgegate_web::whole_ms;
use edgegate_web::{client, pages};

/// Largest request body forwarded, in bytes. Booking forms are tiny.
pub const MAX_BODY: usize = 64 * 1024;

/// Headers never forwarded either way: those that describe one connection, not the message
/// (RFC 9110 §7.6.1), and the ones the gate sets itself.
pub const NOT_FORWARDED: &[&str] = &[
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
    "gate-slots",
    "edgegate-test-key",
    "x-forwarded-host",
    "x-forwarded-proto",
    // Who the client is, as the client says it: replaced by what the platform says.
    "x-forwarded-for",
    "forwarded",
    "x-real-ip",
    "true-client-ip",
    // The test setups' own headers, never the origin's business.
    "x-edgegate-client-address",
    "x-edgegate-location",
];

/// The gate's health route: `ok`, without issuing anything.
pub const HEALTH_PATH: &str = "/queue/healthz";

/// Where the static waiting page lives among the assets.
pub const WAITING_PAGE: &str = "https://assets.invalid/queue/static/waiting.html";

/// The header a status answer carries the ticket's ref (`XXXX-XXXX`) in.
pub const TICKET_REF_HEADER: &str = "edgegate-ticket-ref";
/// The header a closed room's status answer carries the operator's words in.
pub const NOTICE_HEADER: &str = "edgegate-notice";
/// The header that names a request's location where the deployment allows it.
pub const LOCATION_HEADER: &str = "x-edgegate-location";
/// The header the waiting page sends the work it found in (`<window>.<key id>.<n>`).
pub const WORK_HEADER: &str = "edgegate-work";

/// What the entry needs once per isolate, as JSON: the headers it drops when forwarding, the
/// header sets of each kind of answer, the request headers it hands over, the waiting page's
/// address among the assets (and, under `read`, the headers it hands over: the request's, and
/// the origin's `Gate-Session`), and the built-in pages it may answer with on its own (a body too
/// large, a waiting page that cannot be read).
#[wasm_bindgen]
pub fn edge_lists() -> String {
    let headers = Kind::ALL.iter().map(|(kind, name)| {
        let set = kind
            .set()
            .into_iter()
            .map(|(n, v)| (n, quoted(v)))
            .collect::<Vec<_>>();
        (*name, object(&set))
    });
    let headers = object(&headers.collect::<Vec<_>>());
    let not_forwarded = NOT_FORWARDED.iter().map(|n| quoted(n)).collect::<Vec<_>>();
    let test_key = cookies::TEST_KEY_HEADER.to_ascii_lowercase();
    let read = [
        ("cookie", "cookie"),
        ("test_key", test_key.as_str()),
        ("location", LOCATION_HEADER),
        ("language", "accept-language"),
        ("client", client::PLATFORM_HEADER),
        ("named_client", client::TEST_HEADER),
        ("session", "gate-session"),
        ("retry_after", "retry-after"),
        ("slots", "gate-slots"),
        ("work", WORK_HEADER),
        ("cut_off", edgegate_web::headers::CUT_OFF_HEADER),
    ]
    .map(|(k, v)| (k, quoted(v)));
    object(&[
        ("not_forwarded", format!("[{}]", not_forwarded.join(","))),
        ("headers", headers),
        ("waiting_page", quoted(WAITING_PAGE)),
        (
            "pages",
            object(&[
                ("too_large", quoted(&pages::too_large())),
                ("failed", quoted(&pages::something_went_wrong())),
            ]),
        ),
        ("read", object(&read)),
    ])
}

/// `text` as a JSON string.
fn quoted(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

/// A JSON object of `fields`, each value JSON already.
fn object(fields: &[(&str, String)]) -> String {
    let fields = fields
        .iter()
        .map(|(k, v)| format!("{}:{v}", quoted(k)))
        .collect::<Vec<_>>();
    format!("{{{}}}", fields.join(","))
}

/// One citizen request: `method` and `url` as the runtime has them (the URL whole, split
/// here), the `Cookie`, `Edgegate-Test-Key`, `X-Edgegate-Location`, `Accept-Language`,
/// `CF-Connecting-IP`, `X-Edgegate-Client-Address` and `Edgegate-Work` headers, the
/// platform's `cf.colo`, and `now`, the entry's `Date.now()`. `cold` is set on
/// the second ask after [`first_sync`], when the book is served whether it met its room or not.
#[wasm_bindgen]
#[allow(
    clippy::too_many_arguments,
    reason = "one call with plain arguments is the point: no request object crosses"
)]
pub fn citizen(
    env: &JsValue,
    ctx: &crate::platform::Ctx,
    now: f64,
    method: String,
    url: String,
    cookie: Option<String>,
    test_key: Option<String>,
    location: Option<String>,
    colo: Option<String>,
    language: Option<String>,
    client: Option<String>,
    named_client: Option<String>,
    work: Option<String>,
    cold: bool,
) -> String {
    let settings = match settings::get(env) {
        Ok(s) => s,
        Err(e) => return failure(e),
    };
    let address = Address::parse(url);
    // Normalised once, before any decision: which route, which room.
    let path = address.route_path();
    // For harnesses and load balancers: answers without issuing anything.
    if path == HEALTH_PATH && (method == "GET" || method == "HEAD") {
        return response(200, "text", &[], "ok", &[]);
    }
    let Some(route) = Route::of(&method, &path, settings.audience(&address)) else {
        return "X".into();
    };
    let location = books::location_of(&settings, location, colo);
    let place = Rc::new(Place::at(&settings, &address, &path, location));
    if !cold && !books::knows_room(&place.book) {
        return "C".into();
    }
    let now = UnixMs(whole_ms(now));
    let jar = Jar {
        settings: &settings,
        site: &place.site,
        https: place.https,
    };
    let cookie = cookie.unwrap_or_default();
    let tokens = jar.tokens(&cookie, test_key.as_deref(), now);
    let presented_pass = tokens.pass.clone();
    let terms = Terms {
        room: place.site.tag,
        ticket_ttl_ms: settings.ticket_ttl_ms,
        ticket_key_id: settings.ticket_keys.signing().id(),
        pass_key_id: settings.pass_keys.signing().id(),
        ticket_keys: &settings.ticket_keys,
    };
    let request = visit::Request {
        route,
        tokens,
        network: client::network(&settings, client.as_deref(), named_client.as_deref()),
        work: work.as_deref().and_then(work::Answer::parse),
        now,
        jitter: jitter(),
    };
    let served = books::with_book(&settings, &place.book, |book| {
        visit::serve(book, request, &terms, &mut random_bytes)
    });
    let set_cookies = jar.set_cookies(&served.cookies);
    let answer = match served.answer {
        Answer::Status(status) if route == Route::StatusPage => {
            let korean = prefers_korean(language.as_deref().unwrap_or_default());
            response(
                200,
                "status_page",
                &[],
                &fragment::render(&status, korean),
                &set_cookies,
            )
        }
        Answer::Status(status) => {
            let mut extra = Vec::new();
            if let Some(t) = &served.ticket {
                extra.push((TICKET_REF_HEADER, TicketRef::of(&t.id).to_string()));
            }
            if status.state == QueueState::Closed {
                let words = books::config(&place.book).and_then(|c| c.close_message);
                if let Some(json) = words.and_then(|w| serde_json::to_string(&w).ok()) {
                    // A header carries only ASCII, and the JSON body is fixed.
                    extra.push((NOTICE_HEADER, js_sys::encode_uri_component(&json).into()));
                }
            }
            if status.state == QueueState::Prequeue {
                // The countdown trusts the gate's clock over the phone's.
                extra.push(("date", js_sys::Date::new_0().to_utc_string().into()));
            }
            match status
                .plain_json()
                .map_or_else(|| serde_json::to_string(&status), Ok)
            {
                Ok(body) => response(200, "json", &extra, &body, &set_cookies),
                // Only a map with keys that are not strings fails here, and no answer has one;
                // serde_json's messages for every way would be the citizen's wasm's to carry.
                Err(_) => failure(GateError::Internal(
                    "could not write the status as JSON".into(),
                )),
            }
        }
        Answer::Page => {
            let room = if place.site.cookie_suffix.is_empty() {
                ""
            } else {
                place.site.name.as_str()
            };
            response(200, "page", &[], room, &set_cookies)
        }
        Answer::Draw(published) => match serde_json::to_string(&published) {
            Ok(body) => response(200, "json", &[], &body, &set_cookies),
            Err(_) => failure(GateError::Internal(
                "could not write the draw as JSON".into(),
            )),
        },
        Answer::Withdrawn(r) => response(403, "plain", &[], &pages::withdrawn(r), &set_cookies),
        Answer::Ended => response(403, "plain", &[], &pages::ended(), &set_cookies),
        Answer::Elsewhere => response(403, "plain", &[], &pages::elsewhere(), &set_cookies),
        Answer::Unavailable => failure(GateError::Internal("no randomness for a ticket".into())),
        Answer::Unconfirmed => response(
            503,
            "plain",
            &[("retry-after", "5".into())],
            &pages::unconfirmed(),
            &set_cookies,
        ),
        Answer::Forward(forward) => {
            let pass = jar.gate_pass(&cookie, presented_pass.as_ref(), &forward.pass);
            let context = Handback {
                https: place.https,
                book: &place.book,
                sent: forward.sent(),
            }
            .encode();
            let target = match address.query() {
                Some(q) => format!("{}{}?{q}", place.site.origin_url, address.path()),
                None => format!("{}{}", place.site.origin_url, address.path()),
            };
            let kept = cookies::without_gate_cookies(&cookie);
            let mut headers = vec![
                ("gate-pass", pass),
                ("x-forwarded-host", address.host_port().to_owned()),
                (
                    "x-forwarded-proto",
                    if address.https() { "https" } else { "http" }.to_owned(),
                ),
            ];
            if !kept.is_empty() {
                headers.push(("cookie", kept));
            }
            if let Some(client) =
                client::address(&settings, client.as_deref(), named_client.as_deref())
            {
                headers.push(("x-forwarded-for", client.to_owned()));
                headers.push(("x-real-ip", client.to_owned()));
            }
            let mut out = format!(
                "F\n{context}\n{target}\n{}\n{MAX_BODY}\n{}",
                settings.origin_timeout_ms,
                headers.len()
            );
            push_lines(&mut out, &headers, &set_cookies);
            out
        }
    };
    let answer = if place.https && answer.starts_with("R\n") {
        with_hsts(answer)
    } else {
        answer
    };
    // After the request counted its ticket or pass, a due sync goes in `wait_until`, off the
    // citizen's path.
    books::sync_if_due(env, ctx, &settings, place, now);
    answer
}

/// Syncs the book of the room and location a request is for, once, and waits: for an isolate
/// that has never met its room. If the citizen disconnects half-way, the batch stays in the
/// book and goes again after the timeout.
#[wasm_bindgen]
pub async fn first_sync(env: JsValue, url: String, location: Option<String>, colo: Option<String>) {
    let Ok(settings) = settings::get(&env) else {
        return;
    };
    let address = Address::parse(url);
    let location = books::location_of(&settings, location, colo);
    let place = Place::at(&settings, &address, &address.route_path(), location);
    books::sync_first(&env, &settings, &place, UnixMs(now_ms())).await;
}

/// The origin answered the forward whose context this is with `status`, or was unreachable
/// (`0`) or timed out (`1`), after `took_ms`; `gate_session` is its `Gate-Session` header (and
/// only when it has one, `cookie` the request's `Cookie` header, for the ticket a session end
/// marks done), and `origin_cookies` its `Set-Cookie` values, one a line, if it set any.
/// Answers the page's HTML for an origin that did not answer (else an empty line), then every
/// `Set-Cookie` the answer should carry: the origin's own, less any for the gate's (when it set
/// any), and the gate's (a session ended: the ticket marked done, the pass cleared). The common
/// answer (no session command, no cookies) only records the outcome. `retry_after` is the
/// `Retry-After` of a `503`, which holds the autopilot's raises (`autopilot`); `slots` the
/// origin's `Gate-Slots`, the bookings it says it can still take; `safe` whether the request
/// was a `GET` or `HEAD`. A citizen handed back to the front of the line by an origin fault
/// at admission (`visit::answered`) gets the first line `\u{1}ROOM` instead: the entry
/// answers with that room's waiting page (`ROOM` empty for the default room), under the
/// failure's status, which lets them through again in their turn. The request's `Cookie` header comes with a session command
/// and with every failure, for the ticket either changes.
#[wasm_bindgen]
#[allow(
    clippy::too_many_arguments,
    clippy::fn_params_excessive_bools,
    reason = "one call from the JS entry per forward, flat"
)]
pub fn forwarded(
    context: String,
    status: u16,
    took_ms: u32,
    gate_session: Option<String>,
    cookie: Option<String>,
    origin_cookies: Option<String>,
    retry_after: Option<String>,
    slots: Option<String>,
    safe: bool,
) -> String {
    let page = if status < 2 {
        pages::origin_trouble()
    } else {
        String::new()
    };
    let mut lines = vec![page];
    if let Some(theirs) = &origin_cookies {
        lines.extend(
            theirs
                .split('\n')
                .filter(|l| !l.is_empty() && !cookies::is_gate_set_cookie(l))
                .map(str::to_owned),
        );
    }
    let (Some(settings), Some(context)) = (settings::cached(), Handback::decode(&context)) else {
        return lines.join("\n");
    };
    let now = UnixMs(now_ms());
    let outcome = match status {
        0 => Outcome::Unreachable,
        1 => Outcome::TimedOut,
        s => Outcome::Answered(s),
    };
    let word = visit::Handback::of(gate_session.as_deref());
    let failed = !(2..500).contains(&status);
    let site = context
        .book
        .split_once('@')
        .and_then(|(room, _)| settings.rooms.named(room));
    let jar = site.map(|site| Jar {
        settings: &settings,
        site,
        https: context.https,
    });
    let mut sent = context.sent;
    if word != visit::Handback::None || failed {
        sent.ticket = jar.as_ref().and_then(|j| {
            j.tokens(cookie.as_deref().unwrap_or_default(), None, now)
                .ticket
        });
    }
    let wait_s = retry_after
        .as_deref()
        .and_then(edgegate_core::origin::retry_after_s);
    let remaining = slots.as_deref().and_then(edgegate_core::origin::slots);
    let reply = books::with_book(&settings, context.book, |book| {
        if let Some(seconds) = wait_s {
            book.note_retry_after(seconds);
        }
        if let Some(n) = remaining {
            book.note_slots(n, now);
        }
        visit::answered(book, &sent, outcome, u64::from(took_ms), word, safe, now)
    });
    if reply.readmitted {
        let room = site
            .filter(|s| !s.cookie_suffix.is_empty())
            .map_or("", |s| s.name.as_str());
        if let Some(first) = lines.first_mut() {
            *first = format!("\u{1}{room}");
        }
    }
    if let Some(jar) = jar {
        lines.extend(jar.set_cookies(&reply.cookies));
    }
    lines.join("\n")
}

/// The waiting page for a room other than the default: it names its room, so its polls (and
/// its no-JavaScript frame) reach that room whatever the page's own path. Room names are
/// lowercase letters, digits and `-` (`rooms::valid_name`), so they need no escaping; any
/// other name gets the page unchanged.
#[wasm_bindgen]
pub fn room_page(page: String, room: String) -> String {
    if !valid_name(&room) {
        return page;
    }
    page.replacen("<html ", &format!("<html data-room=\"{room}\" "), 1)
        .replacen(
            "/queue/status.html\"",
            &format!("/queue/status.html?room={room}\""),
            1,
        )
}

/// What [`forwarded`] needs back from the entry, as one tab-separated field.
struct Handback<'a> {
    https: bool,
    /// The book the request was counted in.
    book: &'a str,
    /// The ticket id and whether a test key's (its ticket is read again only at a session end).
    sent: Sent,
}

impl<'a> Handback<'a> {
    fn encode(&self) -> String {
        format!(
            "{}\t{}\t{}\t{}",
            u8::from(self.https),
            self.book,
            u8::from(self.sent.test),
            keys::hex(&self.sent.ticket_id),
        )
    }

    fn decode(text: &'a str) -> Option<Handback<'a>> {
        let mut fields = text.split('\t');
        let https = fields.next()? == "1";
        let book = fields.next()?;
        let test = fields.next()? == "1";
        let ticket_id = keys::unhex(fields.next()?).and_then(|id| <[u8; 16]>::try_from(id).ok())?;
        Some(Handback {
            https,
            book,
            sent: Sent {
                ticket_id,
                test,
                ticket: None,
            },
        })
    }
}

/// What every answer the gate builds on https carries: browsers keep to https for a year.
pub const HSTS: &str = "max-age=31536000";

/// An `R` answer.
fn response(
    status: u16,
    kind: &str,
    extra: &[(&str, String)],
    body: &str,
    set_cookies: &[String],
) -> String {
    let mut out = String::with_capacity(32 + body.len());
    out.push_str(&format!("R\n{status}\n{kind}\n{}", extra.len()));
    for (name, value) in extra {
        out.push('\n');
        out.push_str(name);
        out.push('\t');
        out.push_str(value);
    }
    out.push('\n');
    out.push_str(body);
    for c in set_cookies {
        out.push('\n');
        out.push_str(c);
    }
    out
}

/// An `R` answer with the `Strict-Transport-Security` header added to its extra headers.
fn with_hsts(answer: String) -> String {
    let mut fields = answer.splitn(5, '\n');
    let (Some(tag), Some(status), Some(kind), Some(n), Some(rest)) = (
        fields.next(),
        fields.next(),
        fields.next(),
        fields.next().and_then(|n| n.parse::<usize>().ok()),
        fields.next(),
    ) else {
        return answer;
    };
    format!(
        "{tag}\n{status}\n{kind}\n{}\nstrict-transport-security\t{HSTS}\n{rest}",
        n + 1
    )
}

/// Appends `\n`-separated header lines and cookies to an `F` answer.
fn push_lines(out: &mut String, headers: &[(&str, String)], set_cookies: &[String]) {
    for (name, value) in headers {
        out.push('\n');
        out.push_str(name);
        out.push('\t');
        out.push_str(value);
    }
    for c in set_cookies {
        out.push('\n');
        out.push_str(c);
    }
}

/// A failure inside the gate, answered with the plain page (logged once, detail never sent).
fn failure(e: GateError) -> String {
    let (status, html) = e.into_page();
    response(status, "plain", &[], &html, &[])
}

/// Does the `Accept-Language` header's first choice name Korean (or name nothing)?
fn prefers_korean(header: &str) -> bool {
    let lang = header.to_ascii_lowercase();
    let first = lang.split(',').next().unwrap_or_default().trim();
    first.starts_with("ko") || first.is_empty() || first == "*"
}

thread_local! {
    /// The poll jitter's generator (xorshift64): it only spreads polls in time, so it is seeded
    /// from the platform's randomness once per isolate instead of drawing from it every poll.
    static JITTER: Cell<u64> = const { Cell::new(0) };
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

/// `N` fresh bytes of the platform's randomness, from the isolate's batch; `None` if the
/// platform has none to give.
fn random_bytes<const N: usize>() -> Option<[u8; N]> {
    RANDOM.with_borrow_mut(|(used, batch)| {
        if *used + N > RANDOM_BATCH {
            // A failed draw leaves the batch used up, so the next ticket tries again.
            getrandom::fill(batch).ok()?;
            *used = 0;
        }
        let drawn = batch.get(*used..*used + N)?;
        let mut out = [0u8; N];
        out.copy_from_slice(drawn);
        *used += N;
        Some(out)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lists_are_json_the_entry_can_read() {
        // Written by hand (serde_json's Value is kilobytes of a wasm every citizen loads), so
        // parsed back here: every list the entry reads, with the text escaped.
        let lists: serde_json::Value = serde_json::from_str(&edge_lists()).unwrap();
        let dropped = lists["not_forwarded"].as_array().unwrap();
        assert_eq!(dropped.len(), NOT_FORWARDED.len());
        assert_eq!(dropped[0], NOT_FORWARDED[0]);
        for (kind, name) in Kind::ALL {
            for (header, value) in kind.set() {
                assert_eq!(lists["headers"][name][header], value, "{name} {header}");
            }
        }
        assert_eq!(lists["pages"]["failed"], pages::something_went_wrong());
        assert_eq!(lists["waiting_page"], WAITING_PAGE);
        for key in [
            "cookie",
            "test_key",
            "session",
            "retry_after",
            "slots",
            "cut_off",
        ] {
            assert!(
                lists["read"][key].as_str().is_some_and(|h| !h.is_empty()),
                "{key}"
            );
        }
    }

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

    #[test]
    fn a_forwards_context_comes_back_as_it_went() {
        let sent = Sent {
            ticket_id: [3; 16],
            test: true,
            ticket: None,
        };
        let text = Handback {
            https: true,
            book: "booking@ICN",
            sent: sent.clone(),
        }
        .encode();
        let back = Handback::decode(&text).unwrap();
        assert_eq!(
            (back.https, back.book, back.sent),
            (true, "booking@ICN", sent)
        );
        assert!(Handback::decode("1\tbooking@ICN\t0\tzz").is_none());
    }

    #[test]
    fn an_answer_on_https_says_to_stay_on_https() {
        let plain = response(200, "json", &[("a", "1".into())], "{}", &["c=1".into()]);
        assert_eq!(
            with_hsts(plain),
            format!("R\n200\njson\n2\nstrict-transport-security\t{HSTS}\na\t1\n{{}}\nc=1")
        );
    }

    #[test]
    fn a_rooms_page_names_it_and_only_a_valid_name() {
        let page = "<html lang=\"ko\"><iframe src=\"/queue/status.html\"></iframe>".to_owned();
        let named = room_page(page.clone(), "pass".into());
        assert!(named.contains("data-room=\"pass\"") && named.contains("status.html?room=pass\""));
        assert_eq!(room_page(page.clone(), "\"><script>".into()), page);
    }
}
