//! The operator's API: `GET /admin/state`, `PUT /admin/config`, `POST /admin/revoke`,
//! `GET /admin/audit` and `GET /admin/history`, behind a bearer token compared in constant time
//! (as SHA-256 digests, so length leaks nothing either), forwarded to the room coordinator with
//! the `Edgegate-Operator` header the audit log names. Every change reaches every edge within
//! one sync interval. It also mints test keys (`POST /admin/test-key`) for browser suites that
//! test through the gate.

use std::rc::Rc;

use edgegate_core::audit::OPERATOR_HEADER;
use edgegate_core::{TestKey, TestMode, UnixMs};
use serde_json::{json, Value};
use worker::{Env, Headers, Method, Request, RequestInit, Response};

use edgegate_core::address::Address;
use edgegate_core::cookies;
use edgegate_core::rooms::Site;

use crate::operator::console;
use crate::shared::error::GateError;
use crate::shared::headers::personal_headers;
use crate::shared::settings::Settings;
use crate::shared::{body, names};
use edgegate_web::headers::CUT_OFF_HEADER;

/// Largest config body accepted, in bytes.
const MAX_BODY: usize = 16 * 1024;
/// Longest a test key may live, in seconds.
const MAX_TEST_KEY_TTL_S: u64 = 7 * 24 * 3600;

/// An admin request: `path` is the request's path in its normalised form.
pub async fn handle(
    mut req: Request,
    path: &str,
    env: &Env,
    settings: &Settings,
    now: UnixMs,
) -> Result<Response, GateError> {
    if let Some(resp) = console::route(&mut req, path, env, settings, now).await? {
        return Ok(resp);
    }
    if let Err(refusal) = console::authorize(&req, env, settings, now).await {
        return refusal.into_response();
    }
    // Every call acts on one room: the one `?room=` names, or the default.
    let address = Address::parse(req.inner().url());
    let named = address.query_value("room");
    let site = match named {
        None => Rc::clone(settings.rooms.default_room()),
        Some(name) => match settings.rooms.named(&name) {
            Some(site) => Rc::clone(site),
            None => {
                return json_response(
                    404,
                    &json!({ "error": format!("no such room: {name}"), "field": "room" })
                        .to_string(),
                )
            }
        },
    };
    if path == "/admin/rooms" {
        let rooms: Vec<Value> = settings
            .rooms
            .names()
            .map(|n| json!({ "name": n, "default": n == settings.room }))
            .collect();
        return json_response(200, &json!({ "rooms": rooms }).to_string());
    }
    if path == "/admin/test-key" {
        if req.method() != Method::Post {
            return json_response(405, r#"{"error":"method not allowed"}"#);
        }
        let Some(body) = body::text(&mut req, MAX_BODY).await? else {
            return json_response(413, r#"{"error":"body too large","field":"body"}"#);
        };
        return mint_test_key(&body, settings, &site, now);
    }
    if path == "/admin/faults" && settings.faults {
        if req.method() != Method::Put {
            return json_response(405, r#"{"error":"method not allowed"}"#);
        }
        let Some(body) = body::text(&mut req, MAX_BODY).await? else {
            return json_response(413, r#"{"error":"body too large","field":"body"}"#);
        };
        return inject_fault(&body, env, &site, now).await;
    }
    let (method, path) = match (req.method(), path) {
        (Method::Get, "/admin/state") => (Method::Get, "/state"),
        (Method::Put, "/admin/config") => (Method::Put, "/config"),
        (Method::Post, "/admin/revoke") => (Method::Post, "/revoke"),
        (Method::Get, "/admin/audit") => (Method::Get, "/audit"),
        (Method::Get, "/admin/history") => (Method::Get, "/history"),
        (
            _,
            "/admin/state" | "/admin/config" | "/admin/revoke" | "/admin/audit" | "/admin/history",
        ) => return json_response(405, r#"{"error":"method not allowed"}"#),
        _ => return json_response(404, r#"{"error":"no such admin route"}"#),
    };
    let mut init = RequestInit::new();
    init.with_method(method.clone());
    if let Some(who) = req.headers().get(OPERATOR_HEADER)? {
        let headers = Headers::new();
        // A name no header can carry was refused by the platform already; the coordinator
        // decides whether what arrives is readable.
        headers.set(OPERATOR_HEADER, &who)?;
        init.with_headers(headers);
    }
    if matches!(method, Method::Put | Method::Post) {
        let Some(body) = body::text(&mut req, MAX_BODY).await? else {
            return json_response(413, r#"{"error":"body too large","field":"body"}"#);
        };
        init.with_body(Some(body.into()));
    }
    let stub = names::coordinator(env, &site.name)?;
    // The query (`since`, `format`) goes along; the room name in it is the gate's business.
    let query = address.query().map(|q| format!("?{q}")).unwrap_or_default();
    let inner = Request::new_with_init(&format!("https://coordinator{path}{query}"), &init)?;
    let mut resp = stub.fetch_with_request(inner).await?;
    let status = resp.status_code();
    let csv = resp
        .headers()
        .get("Content-Type")?
        .is_some_and(|t| t.starts_with("text/csv"));
    let text = resp.text().await?;
    if csv {
        return typed_response(status, &text, "text/csv; charset=utf-8");
    }
    json_response(status, &text)
}

/// `PUT /admin/faults`, for the stack tests of fail-static (`EDGEGATE_FAULTS = "on"`):
/// `{"coordinator_unreachable_ms": n}` cuts this isolate off from its aggregators for a while
/// (every location, or the one named by `"location"`); `{"room_unreachable_ms": n, "location":
/// l}` cuts location `l`'s aggregator off from the room coordinator.
async fn inject_fault(
    body: &str,
    env: &Env,
    site: &Site,
    now: UnixMs,
) -> Result<Response, GateError> {
    let fault = serde_json::from_str::<Value>(body).unwrap_or_default();
    let location = fault.get("location").and_then(Value::as_str);
    if location.is_some_and(|l| !crate::shared::settings::valid_location(l)) {
        return json_response(
            400,
            r#"{"error":"location: 1-16 letters, digits or -","field":"location"}"#,
        );
    }
    let ms = |field: &str| {
        fault
            .get(field)
            .and_then(Value::as_u64)
            .filter(|ms| *ms <= 3_600_000)
    };
    if let Some(ms) = ms("coordinator_unreachable_ms") {
        // The isolate's syncs are the citizen's wasm's: the entry hands this header to it
        // (`cut_off`) and drops it from the answer.
        let until = now.plus_ms(ms);
        let mut resp = json_response(200, &json!({ "unreachable_until": until }).to_string())?;
        resp.headers_mut().set(
            CUT_OFF_HEADER,
            &format!("{};{}", until.0, location.unwrap_or_default()),
        )?;
        return Ok(resp);
    }
    if let (Some(ms), Some(location)) = (ms("room_unreachable_ms"), location) {
        let stub = names::aggregator(env, &site.name, location)?;
        let mut init = RequestInit::new();
        init.with_method(Method::Put).with_body(Some(
            json!({ "room_unreachable_ms": ms }).to_string().into(),
        ));
        let inner = Request::new_with_init("https://aggregator/faults", &init)?;
        let mut resp = stub.fetch_with_request(inner).await?;
        let status = resp.status_code();
        return json_response(status, &resp.text().await?);
    }
    json_response(
        400,
        r#"{"error":"give coordinator_unreachable_ms, or room_unreachable_ms with a location: whole ms up to an hour","field":"coordinator_unreachable_ms"}"#,
    )
}

/// `POST /admin/test-key` with `{"mode": "through"|"waiting"|"paused"|"closed"|"prequeue"|
/// "admitted", "position": n, "opens_at": unix-ms, "ttl_s": s}` → a signed test key. The key is
/// honoured only while the room's `test_mode` is on.
fn mint_test_key(
    body: &str,
    settings: &Settings,
    site: &Site,
    now: UnixMs,
) -> Result<Response, GateError> {
    let refuse = |field: &str, reason: &str| {
        json_response(
            400,
            &json!({ "error": format!("{field}: {reason}"), "field": field }).to_string(),
        )
    };
    let Ok(Value::Object(map)) = serde_json::from_str::<Value>(body) else {
        return refuse("body", "must be a JSON object");
    };
    let number = |field: &str| map.get(field).and_then(Value::as_u64);
    let position = number("position").unwrap_or(1).max(1);
    let mode = match map.get("mode").and_then(Value::as_str) {
        Some("through") => TestMode::Through,
        Some("waiting") => TestMode::Waiting { position },
        Some("paused") => TestMode::Paused { position },
        Some("closed") => TestMode::Closed,
        Some("admitted") => TestMode::Admitted,
        Some("prequeue") => match number("opens_at") {
            Some(ms) => TestMode::Prequeue {
                opens_at: UnixMs(ms),
            },
            None => return refuse("opens_at", "prequeue needs opens_at in unix ms"),
        },
        _ => {
            return refuse(
                "mode",
                "must be one of through, waiting, paused, closed, prequeue, admitted",
            )
        }
    };
    let ttl_s = number("ttl_s").unwrap_or(3_600);
    if !(1..=MAX_TEST_KEY_TTL_S).contains(&ttl_s) {
        return refuse("ttl_s", "must be from 1 to 604800 seconds");
    }
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|_| GateError::Internal("no randomness".into()))?;
    let key = TestKey {
        key_id: settings.test_keys.signing().id(),
        room: site.tag,
        id,
        mode,
        issued_at: now,
        expires_at: now.plus_ms(ttl_s * 1000),
    };
    json_response(
        200,
        &json!({
            "test_key": key.sign(&settings.test_keys),
            // What `POST /admin/revoke` takes to withdraw this one key.
            "ref": edgegate_core::revocation::TicketRef::of(&key.id).to_string(),
            "expires_at": key.expires_at,
            "header": cookies::TEST_KEY_HEADER,
            "cookie": cookies::TEST_KEY,
        })
        .to_string(),
    )
}

fn json_response(status: u16, body: &str) -> Result<Response, GateError> {
    typed_response(status, body, "application/json")
}

fn typed_response(status: u16, body: &str, content_type: &str) -> Result<Response, GateError> {
    let headers = personal_headers(content_type)?;
    Ok(Response::from_bytes(body.as_bytes().to_vec())?
        .with_status(status)
        .with_headers(headers))
}
