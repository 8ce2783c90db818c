//! The isolate's book (`edgegate_core::isolate`) and the syncs that keep it current: the only
//! I/O the citizen's side of the gate does with the coordinator.
//!
//! Every status poll and page view is answered from the book: no subrequest on the citizen's
//! path. After answering, a request that finds a sync due starts one in `ctx.wait_until`. The
//! book keeps the batch until the coordinator acknowledges it, so a cancelled, failed or timed-out
//! sync loses nothing and a retried one counts nothing twice.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use edgegate_core::isolate::{Isolate, RoomSnapshot, SyncReport, Timing};
use edgegate_core::{RoomConfig, UnixMs};
use worker::{Context, Env, Method, Request, RequestInit};

use crate::coordinator::now_ms;
use crate::settings::Settings;
use crate::timeout::with_timeout;

thread_local! {
    static BOOK: RefCell<Option<Isolate>> = const { RefCell::new(None) };
    /// Until when syncs fail without being sent (fault injection for the stack tests; only
    /// reachable when the deployment enables it).
    static UNREACHABLE_UNTIL: Cell<u64> = const { Cell::new(0) };
}

/// Runs `f` on this isolate's book, creating it on first use.
pub fn with_book<T>(settings: &Settings, f: impl FnOnce(&mut Isolate) -> T) -> T {
    BOOK.with_borrow_mut(|slot| {
        let book = slot.get_or_insert_with(|| {
            let mut id = [0u8; 8];
            // An isolate id only has to differ from the others'; a failed draw leaves zeros,
            // which the coordinator still tells apart by batch numbers.
            let _ = getrandom::fill(&mut id);
            Isolate::new(
                edgegate_core::keys::hex(&id),
                Timing {
                    sync_interval_ms: settings.sync_interval_ms,
                    sync_timeout_ms: settings.sync_timeout_ms,
                    stale_after_ms: settings.stale_after_ms,
                    fail_static_per_mille: settings.fail_static_per_mille,
                },
            )
        });
        f(book)
    })
}

pub fn knows_room() -> bool {
    BOOK.with_borrow(|b| b.as_ref().is_some_and(Isolate::knows_room))
}

/// The room config as last seen, if any.
pub fn config() -> Option<RoomConfig> {
    BOOK.with_borrow(|b| b.as_ref().and_then(|b| b.config().cloned()))
}

/// Makes this isolate's syncs fail for `ms` milliseconds from `now` (stack tests of fail-static).
pub fn cut_off(now: UnixMs, ms: u64) {
    UNREACHABLE_UNTIL.set(now.plus_ms(ms).0);
}

/// Starts a background sync if one is due and none is running.
pub fn sync_if_due(env: &Env, ctx: &Context, settings: &Rc<Settings>, now: UnixMs) {
    if let Some(report) = with_book(settings, |b| b.begin_sync(now)) {
        let env = env.clone();
        let settings = Rc::clone(settings);
        ctx.wait_until(async move { run_sync(&env, &settings, report).await });
    }
}

/// Syncs now and waits: for an isolate that has never seen the room. If the citizen's request
/// is cancelled half-way, the batch stays in the book and goes again after the timeout.
pub async fn sync_first(env: &Env, settings: &Settings, now: UnixMs) {
    if let Some(report) = with_book(settings, |b| b.begin_sync(now)) {
        run_sync(env, settings, report).await;
    }
}

async fn run_sync(env: &Env, settings: &Settings, report: SyncReport) {
    let seq = report.seq;
    let answer = if now_ms() < UNREACHABLE_UNTIL.get() {
        None
    } else {
        match with_timeout(call(env, settings, &report), settings.sync_timeout_ms).await {
            Some(Ok(snapshot)) => Some(snapshot),
            Some(Err(err)) => {
                worker::console_warn!("sync with the coordinator failed: {err}");
                None
            }
            None => {
                worker::console_warn!("sync with the coordinator timed out");
                None
            }
        }
    };
    let now = UnixMs(now_ms());
    with_book(settings, |b| b.finish_sync(seq, answer, now));
}

async fn call(env: &Env, settings: &Settings, report: &SyncReport) -> worker::Result<RoomSnapshot> {
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
