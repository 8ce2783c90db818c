//! The operator console at `/admin/`: its page, sign-in and sign-out, and who may use the
//! admin API. The page is static (www/admin/), talks only to the admin API, and authenticates
//! with a short-lived HttpOnly session cookie (see `session`) instead of holding the token.

use std::cell::RefCell;
use std::rc::Rc;

use edgegate_core::UnixMs;
use serde_json::Value;
use worker::{Env, Method, Request, Response, ResponseBuilder};

use edgegate_core::address::Address;
use edgegate_core::cookies;

use crate::operator::session::{self, SessionKey, CONSOLE_HEADER, LIFETIME_S};
use crate::shared::body;
use crate::shared::error::GateError;
use crate::shared::headers::{personal_headers, Kind};
use crate::shared::settings::Settings;

/// Where the console page lives among the assets. Outside `/admin/static/`, so the assets
/// never serve it by themselves: only the worker does, with the headers below.
const CONSOLE_PAGE: &str = "https://assets.invalid/admin/index.html";

/// Largest sign-in body read, in bytes.
const MAX_BODY: usize = 4 * 1024;

thread_local! {
    /// The page's bytes: immutable for a deploy, so fetched once per isolate.
    static PAGE: RefCell<Option<Rc<Vec<u8>>>> = const { RefCell::new(None) };
}

/// Why a call to the admin API is refused.
pub enum Refusal {
    /// No admin token is configured, or none (or a wrong one) was given.
    Unauthorized,
    /// A session cookie came with a change that may not be the console's own (403).
    CrossSite(&'static str),
}

impl Refusal {
    pub fn into_response(self) -> Result<Response, GateError> {
        match self {
            Refusal::Unauthorized => {
                let resp = json(
                    401,
                    &serde_json::json!({"error": "missing or wrong bearer token or console session"}),
                )?;
                resp.headers()
                    .set("WWW-Authenticate", "Bearer realm=\"edgegate\"")?;
                Ok(resp)
            }
            Refusal::CrossSite(why) => json(403, &serde_json::json!({ "error": why })),
        }
    }
}

/// The console's own routes, which need no authorization: the page, its files (when the
/// assets did not serve them first), signing in and out. `None` for every other admin path.
pub async fn route(
    req: &mut Request,
    env: &Env,
    settings: &Settings,
    now: UnixMs,
) -> Result<Option<Response>, GateError> {
    let path = req.path();
    let answer = match (req.method(), path.as_str()) {
        (Method::Get | Method::Head, "/admin" | "/admin/") => page(env).await?,
        (Method::Get | Method::Head, p) if p.starts_with("/admin/static/") => {
            env.assets("ASSETS")?.fetch_request(req.clone()?).await?
        }
        (Method::Post, "/admin/session") => sign_in(req, settings, now).await?,
        (Method::Post, "/admin/session/end") => sign_out(req)?,
        (_, "/admin/session" | "/admin/session/end") => {
            json(405, &serde_json::json!({"error": "method not allowed"}))?
        }
        _ => return Ok(None),
    };
    Ok(Some(answer))
}

/// Is this call to the admin API allowed? A bearer token decides alone when one is given;
/// otherwise a valid console session does, with the cross-site checks for changes.
pub fn authorize(req: &Request, settings: &Settings, now: UnixMs) -> Result<(), Refusal> {
    let Some(digest) = settings.admin_token_digest else {
        return Err(Refusal::Unauthorized);
    };
    let header = |name: &str| req.headers().get(name).ok().flatten();
    if let Some(auth) = header("Authorization") {
        return match auth.strip_prefix("Bearer ") {
            Some(token) if session::token_matches(token, &digest) => Ok(()),
            _ => Err(Refusal::Unauthorized),
        };
    }
    let https = is_https(req);
    let cookie_header = header("Cookie").unwrap_or_default();
    let valid = cookies::read(&cookie_header, &session::cookie_name(https)).is_some_and(|v| {
        SessionKey::derive(&digest, &settings.room).is_some_and(|k| k.verify(v, now.0))
    });
    if !valid {
        return Err(Refusal::Unauthorized);
    }
    let changes_state = !matches!(req.method(), Method::Get | Method::Head | Method::Options);
    match session::cross_site_refusal(
        changes_state,
        header(CONSOLE_HEADER).as_deref(),
        header("Origin").as_deref(),
        &own_origin(req),
    ) {
        Some(why) => Err(Refusal::CrossSite(why)),
        None => Ok(()),
    }
}

/// `POST /admin/session` with `{"token": "..."}`: a session cookie for the right token. It asks
/// for the console's header and origin too, so no other site can sign a browser in.
async fn sign_in(
    req: &mut Request,
    settings: &Settings,
    now: UnixMs,
) -> Result<Response, GateError> {
    if let Some(why) = console_call_refusal(req) {
        return json(403, &serde_json::json!({ "error": why }));
    }
    let Some(body) = body::text(req, MAX_BODY).await? else {
        return json(
            413,
            &serde_json::json!({"error": "body too large", "field": "token"}),
        );
    };
    let token = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v.get("token").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default();
    let key = settings
        .admin_token_digest
        .filter(|digest| !token.trim().is_empty() && session::token_matches(&token, digest))
        .and_then(|digest| SessionKey::derive(&digest, &settings.room));
    let Some(value) = key.and_then(|k| k.mint(now.0)) else {
        return json(
            401,
            &serde_json::json!({"error": "wrong admin token", "field": "token"}),
        );
    };
    let headers = personal_headers("text/plain")?;
    headers.set(
        "Set-Cookie",
        &session::set_cookie(&value, LIFETIME_S, is_https(req)),
    )?;
    Ok(ResponseBuilder::new()
        .with_status(204)
        .with_headers(headers)
        .empty())
}

/// `POST /admin/session/end`: forgets the session in this browser.
fn sign_out(req: &Request) -> Result<Response, GateError> {
    if let Some(why) = console_call_refusal(req) {
        return json(403, &serde_json::json!({ "error": why }));
    }
    let headers = personal_headers("text/plain")?;
    headers.set("Set-Cookie", &session::set_cookie("", 0, is_https(req)))?;
    Ok(ResponseBuilder::new()
        .with_status(204)
        .with_headers(headers)
        .empty())
}

/// The cross-site checks of a change, for the session calls themselves.
fn console_call_refusal(req: &Request) -> Option<&'static str> {
    let header = |name: &str| req.headers().get(name).ok().flatten();
    session::cross_site_refusal(
        true,
        header(CONSOLE_HEADER).as_deref(),
        header("Origin").as_deref(),
        &own_origin(req),
    )
}

async fn page(env: &Env) -> Result<Response, GateError> {
    let cached = PAGE.with_borrow(|p| p.clone());
    let body = match cached {
        Some(body) => body,
        None => {
            let mut resp = env.assets("ASSETS")?.fetch(CONSOLE_PAGE, None).await?;
            if resp.status_code() != 200 {
                return Err(GateError::Internal(format!(
                    "console page asset answered {}",
                    resp.status_code()
                )));
            }
            let body = Rc::new(resp.bytes().await?);
            PAGE.with_borrow_mut(|p| *p = Some(Rc::clone(&body)));
            body
        }
    };
    let headers = Kind::Console.headers()?;
    Ok(ResponseBuilder::new()
        .with_status(200)
        .with_headers(headers)
        .fixed(body.as_ref().clone()))
}

fn is_https(req: &Request) -> bool {
    Address::parse(req.inner().url()).https()
}

/// `scheme://host[:port]` of the request, as a browser writes it in `Origin`.
fn own_origin(req: &Request) -> String {
    Address::parse(req.inner().url()).origin().to_owned()
}

fn json(status: u16, body: &Value) -> Result<Response, GateError> {
    let headers = personal_headers("application/json")?;
    Ok(ResponseBuilder::new()
        .with_status(status)
        .with_headers(headers)
        .fixed(body.to_string().into_bytes()))
}
