//! edgegate-origin: the small vaccination-booking backend that the gate protects.
//!
//! Centres, hourly slots and bookings in SQLite, served as Korean/English HTML pages and a JSON
//! API. Every route but `GET /healthz` demands a `Gate-Pass`
//! header that verifies with the pass keys ([`guard`]); the origin holds only those keys, so it can
//! check a pass but never mint one. It is small on purpose: at most `ORIGIN_MAX_IN_FLIGHT` requests
//! are served at once and the rest get an immediate `503` — the gate exists so that limit is
//! never hit. `main.rs` only reads the config, opens the store and serves [`app`].

pub mod config;
pub mod date;
pub mod domain;
pub mod store;

mod api;
mod booking;
mod guard;
mod html;
mod lang;
mod metrics;
mod pages;
mod respond;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use axum::Router;
use edgegate_core::keys::ForPasses;
use edgegate_core::{KeyRing, RoomTag, UnixMs};
use tokio::sync::Semaphore;

pub use config::{Clock, Config, ConfigError, IdentityKey, Settings};
pub use guard::{verify_pass, CLOCK_SKEW_MS};
pub use store::{Store, StoreError};

use crate::date::Date;
use crate::metrics::Metrics;

/// Largest request body accepted, in bytes (a booking form is a few hundred).
const MAX_BODY_BYTES: usize = 16 * 1024;

/// What every handler shares. Cheap to clone.
#[derive(Clone, Debug)]
pub struct AppState {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    store: Store,
    pass_keys: KeyRing<ForPasses>,
    room: RoomTag,
    identity_key: IdentityKey,
    /// `None`: no cap.
    limiter: Option<Arc<Semaphore>>,
    metrics: Metrics,
    clock: Clock,
}

impl AppState {
    pub fn new(store: Store, settings: Settings) -> AppState {
        let limit = settings.max_in_flight.map(usize::from);
        AppState {
            inner: Arc::new(Shared {
                store,
                pass_keys: settings.pass_keys,
                room: settings.room,
                identity_key: settings.identity_key,
                limiter: limit.map(|n| Arc::new(Semaphore::new(n))),
                metrics: Metrics::new(limit),
                clock: settings.clock,
            }),
        }
    }

    pub fn store(&self) -> &Store {
        &self.inner.store
    }

    pub(crate) fn now(&self) -> UnixMs {
        self.inner.clock.now()
    }

    /// Today in Korea, by this state's clock.
    pub(crate) fn today(&self) -> Date {
        Date::today_in_korea(self.now())
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    pub(crate) fn identity_key(&self) -> &IdentityKey {
        &self.inner.identity_key
    }

    #[cfg(test)]
    pub(crate) fn limiter(&self) -> Option<&Arc<Semaphore>> {
        self.inner.limiter.as_ref()
    }
}

/// The whole service.
///
/// Layers, outermost first: metrics (counts everything, including 401s and 503s) → the pass
/// guard → the in-flight cap → the handler. The guard runs before the cap because it is cheap
/// (one HMAC, no database) and so traffic without a pass can never use up the cap that admitted
/// citizens need. `/healthz` skips both. Metrics are served by [`operator_app`] on a listener of
/// their own, so the citizens' port keeps the contract: nothing answers there without a pass.
pub fn app(state: AppState) -> Router {
    let guarded = Router::new()
        .route("/", get(pages::home))
        .route("/centres/{id}", get(pages::centre))
        .route("/book", post(pages::book))
        .route("/bookings/{id}", get(pages::booking))
        .route("/api/centres", get(api::centres))
        .route("/api/centres/{id}/slots", get(api::slots))
        .route("/api/bookings", post(api::book))
        .route("/api/bookings/{id}", get(api::booking))
        .fallback(pages::not_found)
        .layer(from_fn_with_state(state.clone(), guard::cap_in_flight))
        .layer(from_fn_with_state(state.clone(), guard::require_pass));
    // The one open route. Other methods on it still need a pass.
    let open = Router::new().route("/healthz", get(healthz).fallback(guard::method_not_allowed));
    open.merge(guarded)
        .layer(from_fn_with_state(state.clone(), metrics::record))
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .with_state(state)
}

/// The operator's side: `GET /metrics` in Prometheus text, no pass needed. `main` serves it on
/// `ORIGIN_METRICS_ADDR` (loopback by default), never on the citizens' port.
pub fn operator_app(state: AppState) -> Router {
    Router::new()
        .route("/metrics", get(metrics::render))
        .route("/healthz", get(healthz))
        .with_state(state)
}

async fn healthz() -> &'static str {
    "ok"
}
