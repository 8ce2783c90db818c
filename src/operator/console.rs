//! The operator console at `/admin/`: its page, sign-in and sign-out, and who may use the
//! admin API. The page is static (www/admin/), talks only to the admin API, and authenticates
//! with a short-lived HttpOnly session cookie (see `session`) instead of holding the token.
//!
//! The console lives on an origin of its own (`OPERATOR_HOST`) that no protected route uses:
//! a script on any page the gate forwards (an origin's XSS, a third-party tag) runs on the
//! citizens' origin, and there no console session is honoured, so it can change nothing in the
//! operator's name. The bearer-token API answers on every host, as the HTTP contract has it; it
//! carries no ambient authority a script could borrow. Failed attempts are throttled per client
//! network (`edgegate_core::throttle`), and a sign-out ends the session for good, copies of its
//! cookie included (the coordinator keeps the ended ids until they would have expired).

use std::cell::RefCell;
use std::rc::Rc;

use edgegate_core::address::Address;
use edgegate_core::cookies;
use edgegate_core::keys::hex;
use edgegate_core::network::NetTag;
use edgegate_core::throttle::Throttle;
use edgegate_core::visit::Audience;
use edgegate_core::UnixMs;
use serde_json::{json, Value};
use worker::{Env, Method, Request, RequestInit, Response, ResponseBuilder};

use crate::operator::session::{self, Session, SessionKey, CONSOLE_HEADER, LIFETIME_S};
use crate::shared::error::GateError;
use crate::shared::headers::{personal_headers, Kind};
use crate::shared::settings::Settings;
use crate::shared::{body, client, names};

/// Where the console page lives among the assets. Outside `/admin/static/`, so the assets
/// never serve it by themselves: only the worker does, with the headers below.
const CONSOLE_PAGE: &str = "https://assets.invalid/admin/index.html";

/// Largest sign-in body read, in bytes.
const MAX_BODY: usize = 4 * 1024;

thread_local! {
    /// The page's bytes: immutable for a deploy, so fetched once per isolate.
    static PAGE: RefCell<Option<Rc<Vec<u8>>>> = const { RefCell::new(None) };
    /// Failed token and sign-in attempts in this isolate, per client network.
    static FAILURES: RefCell<Throttle> = RefCell::new(Throttle::default());
}

/// Why a call to the admin API is refused.
pub enum Refusal {
    /// None (or a wrong) bearer token or console session was given.
    Unauthorized,
    /// The admin API is off: no admin token, or one too short (503).
    Off(&'static str),
    /// Too many failed attempts from this network lately (429).
    Throttled { retry_after_s: u64 },
    /// A session cookie came with a change that may not be the console's own (403).
    CrossSite(&'static str),
}

impl Refusal {
    pub fn into_response(self) -> Result<Response, GateError> {
        match self {
            Refusal::Unauthorized => {
                let resp = json(
                    401,
                    &json!({"error": "missing or wrong bearer token or console session"}),
                )?;
                resp.headers()
                    .set("WWW-Authenticate", "Bearer realm=\"edgegate\"")?;
                Ok(resp)
            }
            Refusal::Off(why) => json(503, &json!({ "error": why })),
            Refusal::Throttled { retry_after_s } => {
                let resp = json(
                    429,
                    &json!({"error": "too many failed attempts from this network; wait a minute"}),
                )?;
                resp.headers()
                    .set("Retry-After", &retry_after_s.to_string())?;
                Ok(resp)
            }
            Refusal::CrossSite(why) => json(403, &json!({ "error": why })),
        }
    }
}

/// Does `address` belong to the operator's own host (`OPERATOR_HOST`)?
pub fn on_operator_host(address: &Address, settings: &Settings) -> bool {
    settings.audience(address) == Audience::Operator
}

/// The console's own routes, which need no authorization: the page, its files (when the
/// assets did not serve them first), signing in and out. Only on the operator's host; `None`
/// for every other admin path, and for these anywhere else.
pub async fn route(
    req: &mut Request,
    path: &str,
    env: &Env,
    settings: &Settings,
    now: UnixMs,
) -> Result<Option<Response>, GateError> {
    if !on_operator_host(&Address::parse(req.inner().url()), settings) {
        return Ok(None);
    }
    let answer = match (req.method(), path) {
        (Method::Get | Method::Head, "/admin" | "/admin/") => page(env).await?,
        (Method::Get | Method::Head, p) if p.starts_with("/admin/static/") => {
            env.assets("ASSETS")?.fetch_request(req.clone()?).await?
        }
        (Method::Post, "/admin/session") => sign_in(req, settings, now).await?,
        (Method::Post, "/admin/session/end") => sign_out(req, env, settings, now).await?,
        (_, "/admin/session" | "/admin/session/end") => {
            json(405, &json!({"error": "method not allowed"}))?
        }
        _ => return Ok(None),
    };
    Ok(Some(answer))
}

/// Is this call to the admin API allowed? A bearer token decides alone when one is given, on
/// any host; otherwise a console session does, on the operator's host only, with the
/// cross-site checks for changes, and only if it was not signed out. A network with too many
/// failed attempts lately is refused before anything is compared.
pub async fn authorize(
    req: &Request,
    env: &Env,
    settings: &Settings,
    now: UnixMs,
) -> Result<(), Refusal> {
    let digest = settings.admin_token_digest.map_err(Refusal::Off)?;
    let network = client::of_request(req, settings);
    if let Some(retry_after_s) = FAILURES.with_borrow(|f| f.refused(network, now)) {
        return Err(Refusal::Throttled { retry_after_s });
    }
    let header = |name: &str| req.headers().get(name).ok().flatten();
    if let Some(auth) = header("Authorization") {
        return match auth.strip_prefix("Bearer ") {
            Some(token) if session::token_matches(token, &digest) => Ok(()),
            _ => Err(failed(network, now)),
        };
    }
    let address = Address::parse(req.inner().url());
    if !on_operator_host(&address, settings) {
        return Err(Refusal::Unauthorized);
    }
    let cookie_header = header("Cookie").unwrap_or_default();
    let Some(session) = cookies::read(&cookie_header, &session::cookie_name(address.https()))
        .and_then(|v| SessionKey::derive(&digest, &settings.room)?.verify(v, now.0))
    else {
        return Err(Refusal::Unauthorized);
    };
    let changes_state = !matches!(req.method(), Method::Get | Method::Head | Method::Options);
    if let Some(why) = session::cross_site_refusal(
        changes_state,
        header(CONSOLE_HEADER).as_deref(),
        header("Origin").as_deref(),
        address.origin(),
    ) {
        return Err(Refusal::CrossSite(why));
    }
    if !session_alive(env, settings, &session).await {
        return Err(Refusal::Unauthorized);
    }
    Ok(())
}

/// Counts a failed attempt from `network`: the refusal to answer with.
fn failed(network: NetTag, now: UnixMs) -> Refusal {
    FAILURES.with_borrow_mut(|f| f.failed(network, now));
    Refusal::Unauthorized
}

/// Has `session` not been signed out? The default room's coordinator keeps the ended ones.
/// If it cannot be asked, the session is not honoured: a console session is a key.
async fn session_alive(env: &Env, settings: &Settings, session: &Session) -> bool {
    let ask = async {
        let stub = names::coordinator(env, &settings.room)?;
        let url = format!(
            "https://coordinator/console/session?id={}&expires={}",
            hex(&session.id),
            session.expires_s
        );
        let resp = stub.fetch_with_str(&url).await?;
        Ok::<_, worker::Error>(resp.status_code() == 200)
    };
    ask.await.unwrap_or(false)
}

/// `POST /admin/session` with `{"token": "..."}`: a session cookie for the right token. It asks
/// for the console's header and origin too, so no other site can sign a browser in.
async fn sign_in(
    req: &mut Request,
    settings: &Settings,
    now: UnixMs,
) -> Result<Response, GateError> {
    if let Some(why) = console_call_refusal(req) {
        return json(403, &json!({ "error": why }));
    }
    let digest = match settings.admin_token_digest {
        Ok(digest) => digest,
        Err(why) => return Refusal::Off(why).into_response(),
    };
    let network = client::of_request(req, settings);
    if let Some(retry_after_s) = FAILURES.with_borrow(|f| f.refused(network, now)) {
        return Refusal::Throttled { retry_after_s }.into_response();
    }
    let Some(body) = body::text(req, MAX_BODY).await? else {
        return json(413, &json!({"error": "body too large", "field": "token"}));
    };
    let token = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v.get("token").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default();
    if token.trim().is_empty() || !session::token_matches(&token, &digest) {
        failed(network, now);
        return json(
            401,
            &json!({"error": "wrong admin token", "field": "token"}),
        );
    }
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|_| GateError::Internal("no randomness".into()))?;
    let value = SessionKey::derive(&digest, &settings.room)
        .and_then(|k| k.mint(id, now.0))
        .ok_or_else(|| GateError::Internal("cannot sign a console session".into()))?;
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

/// `POST /admin/session/end`: ends the session for good (the coordinator refuses its id from
/// now on, wherever a copy of the cookie is used) and forgets it in this browser.
async fn sign_out(
    req: &Request,
    env: &Env,
    settings: &Settings,
    now: UnixMs,
) -> Result<Response, GateError> {
    if let Some(why) = console_call_refusal(req) {
        return json(403, &json!({ "error": why }));
    }
    let cookie_header = req.headers().get("Cookie")?.unwrap_or_default();
    let session = settings.admin_token_digest.ok().and_then(|digest| {
        let value = cookies::read(&cookie_header, &session::cookie_name(is_https(req)))?;
        SessionKey::derive(&digest, &settings.room)?.verify(value, now.0)
    });
    if let Some(session) = session {
        let stub = names::coordinator(env, &settings.room)?;
        let mut init = RequestInit::new();
        init.with_method(Method::Post).with_body(Some(
            json!({ "id": hex(&session.id), "expires_s": session.expires_s })
                .to_string()
                .into(),
        ));
        let ended = stub
            .fetch_with_request(Request::new_with_init(
                "https://coordinator/console/end",
                &init,
            )?)
            .await?;
        if ended.status_code() != 200 {
            return Err(GateError::Internal(format!(
                "the coordinator could not end a console session: {}",
                ended.status_code()
            )));
        }
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
        Address::parse(req.inner().url()).origin(),
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
    let headers = crate::shared::headers::of(Kind::Console)?;
    Ok(ResponseBuilder::new()
        .with_status(200)
        .with_headers(headers)
        .fixed(body.as_ref().clone()))
}

fn is_https(req: &Request) -> bool {
    Address::parse(req.inner().url()).https()
}

fn json(status: u16, body: &Value) -> Result<Response, GateError> {
    let headers = personal_headers("application/json")?;
    Ok(ResponseBuilder::new()
        .with_status(status)
        .with_headers(headers)
        .fixed(body.to_string().into_bytes()))
}
