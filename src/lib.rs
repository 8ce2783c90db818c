//! edgegate's room: the second of the gate's two Workers (`wrangler.objects.toml`), a thin
//! shell over `edgegate-core` on workers-rs, and the only crate that knows workers-rs (see
//! ARCHITECTURE.md). The gate's Worker (`src/entry.mjs` with the citizen's wasm,
//! `crates/edgegate-edge`) reaches it through two bindings. Its parts:
//! - [`objects`]: the room coordinator and the location aggregators, Durable Objects;
//! - [`operator`]: the admin API and the console;
//! - [`shared`]: what the two use alike.
//!
//! The workers-rs `fetch` here answers what the gate's entry hands it: the operator's routes
//! under `/admin`, and the gate's own under `/queue/` should one come (health, static files).

mod objects;
mod operator;
mod shared;

use edgegate_core::UnixMs;
use worker::{event, Context, Env, Method, Request, Response};

pub use objects::aggregator::LocationAggregator;
pub use objects::coordinator::RoomCoordinator;
use shared::clock::now_ms;
use shared::error::GateError;

#[event(fetch)]
async fn fetch(req: Request, env: Env, _ctx: Context) -> worker::Result<Response> {
    Ok(route(req, &env)
        .await
        .unwrap_or_else(GateError::into_response))
}

/// The gate's own routes, which no citizen's place depends on.
async fn route(req: Request, env: &Env) -> Result<Response, GateError> {
    let settings = shared::settings::get(env)?;
    let now = UnixMs(now_ms());
    let path = edgegate_core::address::Address::parse(req.inner().url()).route_path();
    match (req.method(), path.as_str()) {
        // For harnesses and load balancers: answers without issuing anything.
        (Method::Get | Method::Head, edgegate_web::HEALTH_PATH) => Ok(Response::ok("ok")?),
        (_, p) if p.starts_with("/queue/static/") => {
            Ok(env.assets("ASSETS")?.fetch_request(req).await?)
        }
        (_, p) if p == "/admin" || p.starts_with("/admin/") => {
            operator::admin::handle(req, &path, env, &settings, now).await
        }
        (_, p)
            if edgegate_core::visit::Route::of(
                req.method().as_ref(),
                p,
                settings.audience(&edgegate_core::address::Address::parse(req.inner().url())),
            )
            .is_some() =>
        {
            // A citizen's request reaches here only when the entry could not take it (the wasm
            // had just trapped and is being started afresh): the citizen asks again.
            Err(GateError::Internal(
                "a citizen's request outside the entry".into(),
            ))
        }
        _ => Ok(shared::pages::page(404, shared::pages::not_found())),
    }
}
