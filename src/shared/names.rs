//! The Durable Objects' names: one coordinator per room, one aggregator per room and location.

use edgegate_web::book_key;
use worker::{Env, Stub};

/// The Durable Object of `location`'s aggregator for `room`.
pub fn aggregator(env: &Env, room: &str, location: &str) -> worker::Result<Stub> {
    env.durable_object("LOCATIONS")?
        .id_from_name(&book_key(room, location))?
        .get_stub()
}

/// The Durable Object of `room`'s coordinator.
pub fn coordinator(env: &Env, room: &str) -> worker::Result<Stub> {
    env.durable_object("ROOMS")?.id_from_name(room)?.get_stub()
}

/// Sends a batch of counts to a Durable Object's `/sync` (an aggregator's, or the room
/// coordinator's) and reads its answer: the same exchange at both hops.
pub async fn sync_with(
    stub: &Stub,
    url: &str,
    report: &edgegate_core::sync::SyncReport,
) -> worker::Result<edgegate_core::sync::RoomSnapshot> {
    let mut init = worker::RequestInit::new();
    init.with_method(worker::Method::Post)
        .with_body(Some(serde_json::to_string(report)?.into()));
    let mut resp = stub
        .fetch_with_request(worker::Request::new_with_init(url, &init)?)
        .await?;
    match resp.status_code() {
        200 => resp.json().await,
        status => Err(worker::Error::RustError(format!("{url} answered {status}"))),
    }
}
