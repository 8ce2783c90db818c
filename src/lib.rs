//! edgegate's room: the second of the gate's two Workers (`wrangler.objects.toml`), a thin
//! shell over `edgegate-core` on workers-rs, and the only crate that knows workers-rs (see
//! ARCHITECTURE.md). The gate's Worker (`src/entry.mjs` with the citizen's wasm,
//! `crates/edgegate-edge`) reaches it through two bindings. Its parts:
//! - [`objects`]: the room coordinator and the location aggregators, Durable Objects;
//! - [`operator`]: the admin API and the console;
//! - [`shared`]: what the two use alike.
//!
//! The workers-rs `fetch` here answers what the gate's entry hands it: the operator's routes
//! under `/admin`, and a static file the assets did not have.

mod objects;
mod operator;
mod shared;

use edgegate_core::UnixMs;
use worker::{event, Context, Env, Request, Response};

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

/// What the gate's entry hands this Worker (its `OBJECTS` binding): the operator's routes, and
/// a static file the assets did not have. Every citizen's route, and the health route, is the
/// citizen's wasm's; this Worker has no address of its own to be asked anything else.
async fn route(req: Request, env: &Env) -> Result<Response, GateError> {
    let settings = shared::settings::get(env)?;
    let now = UnixMs(now_ms());
    let path = edgegate_core::address::Address::parse(req.inner().url()).route_path();
    if path.starts_with("/queue/static/") {
        return Ok(env.assets("ASSETS")?.fetch_request(req).await?);
    }
    if path == "/admin" || path.starts_with("/admin/") {
        return operator::admin::handle(req, &path, env, &settings, now).await;
    }
    Ok(shared::pages::page(404, shared::pages::not_found()))
}
