//! The isolate's copy of the room, and the counts it owes the coordinator.
//!
//! Every status poll and page view is answered from this copy: no subrequest on the citizen's
//! path. After answering, a request that finds the copy older than the sync interval starts one
//! sync in `ctx.wait_until`: it sends the counts gathered since the last sync and takes back a
//! fresh room state. A failed sync puts its counts back, so nothing is lost. While the coordinator
//! stays unreachable the isolate keeps the order and admits on its own at a small share of the
//! last known rate (fail-static), never more.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::rc::Rc;

use edgegate_core::status::RoomView;
use edgegate_core::{ReleaseState, RoomConfig, UnixMs};
use worker::{Context, Env, Method, Request, RequestInit};

use crate::protocol::{RoomSnapshot, SyncRequest};
use crate::settings::Settings;
use crate::timeout::with_timeout;

/// Longest a sync may take before it is abandoned (its counts are kept for the next one).
const SYNC_TIMEOUT_MS: u64 = 3_000;

#[derive(Default)]
struct Edge {
    snapshot: Option<RoomSnapshot>,
    /// Isolate clock at the last successful sync.
    synced_at: UnixMs,
    /// Isolate clock when the last sync started.
    attempted_at: UnixMs,
    in_flight: bool,
    arrivals: BTreeMap<u64, u64>,
    passes: BTreeMap<u64, i64>,
    isolate: String,
}

thread_local! {
    static EDGE: RefCell<Edge> = RefCell::new(Edge::default());
}

/// Counts one ticket issued in arrival second `bucket`. The arrival also enters this isolate's
/// view of the room at once, so the positions it reports never grow when the coordinator's
/// answer catches up.
pub fn count_arrival(bucket: u64) {
    EDGE.with_borrow_mut(|e| {
        *e.arrivals.entry(bucket).or_insert(0) += 1;
        if let Some(snap) = e.snapshot.as_mut() {
            snap.arrivals.add(bucket, 1);
        }
    });
}

/// Counts a pass change: `+1` minted, `−1` retracted, at its expiry second.
pub fn count_pass(expiry_s: u64, delta: i64) {
    EDGE.with_borrow_mut(|e| *e.passes.entry(expiry_s).or_insert(0) += delta);
}

pub fn has_snapshot() -> bool {
    EDGE.with_borrow(|e| e.snapshot.is_some())
}

/// The room config as last seen, if any.
pub fn config() -> Option<RoomConfig> {
    EDGE.with_borrow(|e| e.snapshot.as_ref().map(|s| s.config.clone()))
}

/// Runs `f` on the room as this isolate sees it at `now`, or on `None` before the first sync.
/// When the last sync is older than `stale_after_ms`, the view is marked stale and its cursor is
/// advanced locally at the fail-static share of the rate.
pub fn with_view<T>(
    settings: &Settings,
    now: UnixMs,
    f: impl FnOnce(Option<RoomView<'_>>) -> T,
) -> T {
    EDGE.with_borrow(|e| {
        let Some(snap) = e.snapshot.as_ref() else {
            return f(None);
        };
        let stale = now.since(e.synced_at) > settings.stale_after_ms;
        let cursor = if stale {
            let share = RoomConfig {
                new_users_per_minute: u32::try_from(
                    u64::from(snap.config.new_users_per_minute)
                        * u64::from(settings.fail_static_per_mille)
                        / 1000,
                )
                .unwrap_or(0),
                ..snap.config.clone()
            };
            let since = e.synced_at.plus_ms(settings.stale_after_ms);
            let local = ReleaseState {
                cursor: snap.cursor,
                allowance: 0,
                updated_at: since,
            };
            local
                .advance(&share, &snap.arrivals, snap.active, now, settings.settle_ms)
                .cursor
        } else {
            snap.cursor
        };
        f(Some(RoomView {
            config: &snap.config,
            cursor,
            arrivals: &snap.arrivals,
            stale,
        }))
    })
}

/// Starts a background sync if one is due and none is running.
pub fn sync_if_due(env: &Env, ctx: &Context, settings: &Rc<Settings>, now: UnixMs) {
    if let Some(report) = begin_sync(settings, now) {
        let env = env.clone();
        let settings = Rc::clone(settings);
        ctx.wait_until(async move { finish_sync(&env, &settings, report).await });
    }
}

/// Syncs now and waits for it: for an isolate that has never seen the room. Once an attempt
/// has failed, later requests do not wait again; the background sync keeps trying.
pub async fn sync_first(env: &Env, settings: &Settings, now: UnixMs) {
    if let Some(report) = begin_sync(settings, now) {
        finish_sync(env, settings, report).await;
    }
}

fn begin_sync(settings: &Settings, now: UnixMs) -> Option<SyncRequest> {
    EDGE.with_borrow_mut(|e| {
        let due = now.since(e.attempted_at) >= settings.sync_interval_ms;
        if e.in_flight || !due {
            return None;
        }
        if e.isolate.is_empty() {
            let mut id = [0u8; 8];
            // An isolate id only tells the operator how many isolates report; a fixed one
            // after a failed draw is harmless.
            let _ = getrandom::fill(&mut id);
            e.isolate = edgegate_core::keys::hex(&id);
        }
        e.in_flight = true;
        e.attempted_at = now;
        Some(SyncRequest {
            isolate: e.isolate.clone(),
            arrivals: std::mem::take(&mut e.arrivals).into_iter().collect(),
            passes: std::mem::take(&mut e.passes)
                .into_iter()
                .filter(|(_, n)| *n != 0)
                .collect(),
        })
    })
}

async fn finish_sync(env: &Env, settings: &Settings, report: SyncRequest) {
    let outcome = with_timeout(call(env, settings, &report), SYNC_TIMEOUT_MS).await;
    let now = UnixMs(crate::coordinator::now_ms());
    EDGE.with_borrow_mut(|e| {
        e.in_flight = false;
        match outcome {
            Some(Ok(mut snapshot)) => {
                // The coordinator has seen what this sync sent, not what was counted since.
                for (&bucket, &n) in &e.arrivals {
                    snapshot.arrivals.add(bucket, n);
                }
                e.snapshot = Some(snapshot);
                e.synced_at = now;
            }
            failed => {
                if let Some(Err(err)) = failed {
                    worker::console_warn!("sync with the coordinator failed: {err}");
                } else {
                    worker::console_warn!("sync with the coordinator timed out");
                }
                // Nothing lost: the counts go back for the next attempt.
                for (bucket, n) in report.arrivals {
                    *e.arrivals.entry(bucket).or_insert(0) += n;
                }
                for (expiry, n) in report.passes {
                    *e.passes.entry(expiry).or_insert(0) += n;
                }
            }
        }
    });
}

async fn call(
    env: &Env,
    settings: &Settings,
    report: &SyncRequest,
) -> worker::Result<RoomSnapshot> {
    let stub = env
        .durable_object("ROOMS")?
        .id_from_name(&settings.room)?
        .get_stub()?;
    let body = serde_json::to_string(report)?;
    let mut init = RequestInit::new();
    init.with_method(Method::Post).with_body(Some(body.into()));
    let req = Request::new_with_init("https://coordinator/sync", &init)?;
    let mut resp = stub.fetch_with_request(req).await?;
    if resp.status_code() != 200 {
        return Err(worker::Error::RustError(format!(
            "coordinator answered {}",
            resp.status_code()
        )));
    }
    resp.json().await
}
