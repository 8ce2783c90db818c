//! edgegate, the Worker: routes every request to the waiting page, the status poll, the admin
//! API, or (with a valid pass) the origin. It is a thin shell over `edgegate-core`; this crate
//! is the only one that knows Cloudflare (see ARCHITECTURE.md).

mod address;
mod admin;
mod aggregator;
mod citizen;
mod console;
mod cookies;
mod coordinator;
mod edge;
mod error;
mod forward;
mod fragment;
mod hot;
mod pages;
mod rooms;
mod session;
mod settings;
mod store;
mod timeout;
mod trust;

use std::cell::RefCell;
use std::rc::Rc;

use edgegate_core::UnixMs;
use worker::{event, Context, Env, Method, Request, Response};

pub use aggregator::LocationAggregator;
pub use coordinator::RoomCoordinator;
use error::GateError;
use settings::Settings;

thread_local! {
    static SETTINGS: RefCell<Option<Rc<Settings>>> = const { RefCell::new(None) };
}

#[event(fetch)]
async fn fetch(req: Request, env: Env, ctx: Context) -> worker::Result<Response> {
    Ok(route(req, &env, &ctx)
        .await
        .unwrap_or_else(GateError::into_response))
}

async fn route(req: Request, env: &Env, ctx: &Context) -> Result<Response, GateError> {
    let settings = settings(env)?;
    let now = UnixMs(coordinator::now_ms());
    let path = req.path();
    let citizen_route = matches!(path.as_str(), "/queue/status" | "/queue/status.html")
        || (!path.starts_with("/queue/") && path != "/admin" && !path.starts_with("/admin/"));
    if !citizen_route {
        return gate_route(req, env, &settings, now).await;
    }
    let place = Rc::new(edge::Place::of(&req, &settings));
    let here = Rc::clone(&place);
    let answer = match (req.method(), path.as_str()) {
        (Method::Get | Method::Head, "/queue/status") => {
            citizen::status(req, env, &settings, here, now).await
        }
        (Method::Get | Method::Head, "/queue/status.html") => {
            citizen::status_html(req, env, &settings, here, now).await
        }
        (_, p) if !p.starts_with("/queue/") => {
            citizen::protected(req, env, &settings, here, now).await
        }
        _ => return gate_route(req, env, &settings, now).await,
    };
    // Every citizen request, whatever its path (waiting, forwarded, test key), keeps this
    // isolate in touch with the room, and only after it has counted its ticket or pass, so a
    // due sync carries them at once. The sync runs in `wait_until`, off the citizen's path.
    edge::sync_if_due(env, ctx, &settings, place, now);
    answer
}

/// The gate's own routes under `/queue/` and `/admin/`, which no citizen's place depends on.
async fn gate_route(
    req: Request,
    env: &Env,
    settings: &Settings,
    now: UnixMs,
) -> Result<Response, GateError> {
    let path = req.path();
    match (req.method(), path.as_str()) {
        // For harnesses and load balancers: answers without issuing anything.
        (Method::Get | Method::Head, "/queue/healthz") => Ok(Response::ok("ok")?),
        (_, p) if p.starts_with("/queue/static/") => {
            Ok(env.assets("ASSETS")?.fetch_request(req).await?)
        }
        (_, p) if p == "/admin" || p.starts_with("/admin/") => {
            admin::handle(req, env, settings, now).await
        }
        _ => Ok(pages::plain(
            404,
            "찾을 수 없습니다 · Not found",
            "이 주소에는 페이지가 없습니다. · There is no page at this address.",
        )),
    }
}

/// The settings parsed from `env`, once per isolate.
pub(crate) fn settings(env: &Env) -> Result<Rc<Settings>, GateError> {
    if let Some(s) = SETTINGS.with_borrow(|s| s.clone()) {
        return Ok(s);
    }
    let parsed = Rc::new(Settings::from_env(env).map_err(GateError::Misconfigured)?);
    SETTINGS.with_borrow_mut(|s| *s = Some(Rc::clone(&parsed)));
    Ok(parsed)
}

/// The settings, if a request has parsed them already.
pub(crate) fn cached_settings() -> Option<Rc<Settings>> {
    SETTINGS.with_borrow(|s| s.clone())
}
