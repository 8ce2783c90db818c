//! The isolate's book (`edgegate_core::isolate`) and the syncs that keep it current: the only
//! I/O the citizen's side of the gate does with the room.
//!
//! Every status poll and page view is answered from the book: no subrequest on the citizen's
//! path. After answering, a request that finds a sync due starts one in `ctx.waitUntil`, with
//! the aggregator of the isolate's location (`src/objects/aggregator.rs`), never with the room
//! coordinator itself. The book keeps the batch until the aggregator acknowledges it, so a cancelled, failed
//! or timed-out sync loses nothing and a retried one counts nothing twice.
//!
//! An isolate keeps one book per room and location it serves. On the platform an isolate runs
//! in one location; locally, the stack tests name several with a header.

use std::cell::RefCell;
use std::rc::Rc;

use edgegate_core::address::Address;
use edgegate_core::isolate::{Isolate, Timing};
use edgegate_core::rooms::Site;
use edgegate_core::sync::SyncReport;
use edgegate_core::{RoomConfig, UnixMs};
use edgegate_web::book_key;
use edgegate_web::settings::{valid_location, Settings};
use wasm_bindgen::JsValue;

use crate::platform::{self, cut_off_now, now_ms, Ctx};

/// Books kept at most, whatever the requests name (only the local header can name more than one).
const MAX_BOOKS: usize = 64;

// A handful of entries each (a book per room and location this isolate serves), so plain
// vectors searched in order: an ordered map per key and value type is kilobytes of wasm each.
thread_local! {
    static BOOKS: RefCell<Vec<(String, Isolate)>> = const { RefCell::new(Vec::new()) };
    /// Books with a follow-up under way ([`sync_if_due`]): one at a time per book.
    static FOLLOWING_UP: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

/// The value filed under `key` in a vector of pairs.
fn find<'a, T>(pairs: &'a [(String, T)], key: &str) -> Option<&'a T> {
    pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v)
}

/// The location a request is served in: its `X-Edgegate-Location` header where the deployment
/// allows it (local stack tests), else the platform's `cf.colo`, else the `LOCATION` setting.
pub fn location_of(settings: &Settings, header: Option<String>, colo: Option<String>) -> String {
    if settings.location_header {
        if let Some(name) = header.filter(|n| valid_location(n)) {
            return name;
        }
    }
    colo.filter(|c| valid_location(c))
        .unwrap_or_else(|| settings.location.clone())
}

/// Where a citizen's request is served: its room, its location, and the book that counts it
/// there. Worked out once per request, and shared by everything that handles it.
pub struct Place {
    pub site: Rc<Site>,
    pub location: String,
    /// The key of this room's book in this location ([`book_key`]), also its aggregator's name.
    pub book: String,
    pub https: bool,
}

impl Place {
    /// The place of a request to `address`: on the gate's own routes the room its `?room=`
    /// names (the waiting page of a room sends it), else the one whose host (without port) or
    /// path prefix it matches, else the default; `location` as [`location`] found it.
    /// `path` is the request's path in its normalised form (`Address::route_path`).
    pub fn at(settings: &Settings, address: &Address, path: &str, location: String) -> Place {
        // Only the gate's own routes read the query: a protected path's belongs to the origin.
        let named = path
            .starts_with("/queue/")
            .then(|| address.query_value("room"))
            .flatten()
            .and_then(|name| settings.rooms.named(&name).cloned());
        let site = named.unwrap_or_else(|| Rc::clone(settings.rooms.route(address.host(), path)));
        Place::of_site(site, location, address.https())
    }

    fn of_site(site: Rc<Site>, location: String, https: bool) -> Place {
        Place {
            book: book_key(&site.name, &location),
            https,
            site,
            location,
        }
    }
}

/// Runs `f` on this isolate's book `key` ([`book_key`]), creating it on first use.
pub fn with_book<T>(settings: &Settings, key: &str, f: impl FnOnce(&mut Isolate) -> T) -> T {
    BOOKS.with_borrow_mut(|books| {
        // The common case, on every request: the book is there, and its key is not copied.
        if let Some((_, book)) = books.iter_mut().find(|(k, _)| k == key) {
            return f(book);
        }
        if books.len() >= MAX_BOOKS {
            // Never reached on the platform; locally, the first book made makes room.
            books.remove(0);
        }
        let mut id = [0u8; 8];
        // An isolate id only has to differ from the others'; a failed draw leaves zeros,
        // which the aggregator still tells apart by batch numbers.
        let _ = getrandom::fill(&mut id);
        let mut book = Isolate::new(
            edgegate_core::keys::hex(&id),
            Timing {
                sync_interval_ms: settings.sync_interval_ms,
                sync_timeout_ms: settings.sync_timeout_ms,
                stale_after_ms: settings.stale_after_ms,
                fail_static_per_mille: settings.fail_static_per_mille,
            },
        );
        let answer = f(&mut book);
        books.push((key.to_owned(), book));
        answer
    })
}

pub fn knows_room(key: &str) -> bool {
    BOOKS.with_borrow(|b| find(b, key).is_some_and(Isolate::knows_room))
}

/// The room config as last seen by the book `key`, if any.
pub fn config(key: &str) -> Option<RoomConfig> {
    BOOKS.with_borrow(|b| find(b, key).and_then(|b| b.config().cloned()))
}

/// Follow-up syncs a book runs at most, one interval apart, after its citizens went quiet.
const FOLLOW_UPS: u32 = 4;

/// Starts a background sync of the book of `place` if one is due and none is running. Counts
/// left waiting (a let-through just after a sync, and then no citizen of this book for a
/// while) are not left to the next citizen, who may never come: a follow-up in `wait_until`
/// sends them when a sync is next due, one per book at a time.
pub fn sync_if_due(
    env: &JsValue,
    ctx: &Ctx,
    settings: &Rc<Settings>,
    place: Rc<Place>,
    now: UnixMs,
) {
    let (report, waiting) = with_book(settings, &place.book, |b| {
        (b.begin_sync(now), b.sync_due_at().is_some())
    });
    let follow_up = waiting
        && FOLLOWING_UP.with_borrow_mut(|f| {
            let idle = !f.contains(&place.book);
            if idle {
                f.push(place.book.clone());
            }
            idle
        });
    if report.is_none() && !follow_up {
        return;
    }
    let env = env.clone();
    let settings = Rc::clone(settings);
    platform::in_background(ctx, async move {
        if let Some(report) = report {
            run_sync(&env, &settings, &place, report).await;
        }
        if follow_up {
            send_what_waits(&env, &settings, &place).await;
            FOLLOWING_UP.with_borrow_mut(|f| f.retain(|b| *b != place.book));
        }
    });
}

/// Sends the counts waiting in the book of `place` when each sync falls due, until none wait
/// or [`FOLLOW_UPS`] syncs were made.
async fn send_what_waits(env: &JsValue, settings: &Settings, place: &Place) {
    for _ in 0..FOLLOW_UPS {
        let Some(due) = with_book(settings, &place.book, |b| b.sync_due_at()) else {
            return;
        };
        let wait = due.since(UnixMs(now_ms()));
        if wait > 0 {
            platform::sleep(wait).await;
        }
        let now = UnixMs(now_ms());
        if let Some(report) = with_book(settings, &place.book, |b| b.begin_sync(now)) {
            run_sync(env, settings, place, report).await;
        }
    }
}

/// Syncs now and waits: for an isolate that has never seen the room. If the citizen's request
/// is cancelled half-way, the batch stays in the book and goes again after the timeout.
pub async fn sync_first(env: &JsValue, settings: &Settings, place: &Place, now: UnixMs) {
    if let Some(report) = with_book(settings, &place.book, |b| b.begin_sync(now)) {
        run_sync(env, settings, place, report).await;
    }
}

async fn run_sync(env: &JsValue, settings: &Settings, place: &Place, report: SyncReport) {
    let seq = report.seq;
    let (room, location) = (place.site.name.as_str(), place.location.as_str());
    let answer = if cut_off_now(location, UnixMs(now_ms())) {
        None
    } else {
        let query = form_urlencoded::Serializer::new(String::new())
            .append_pair("location", location)
            .append_pair("room", room)
            .finish();
        let url = format!("https://aggregator/sync?{query}");
        match platform::sync_with_aggregator(
            env,
            &book_key(room, location),
            &url,
            &report,
            settings.sync_timeout_ms,
        )
        .await
        {
            Ok(snapshot) => Some(snapshot),
            Err(err) => {
                platform::warn(&format!(
                    "sync with the {location} aggregator failed: {err}"
                ));
                None
            }
        }
    };
    let now = UnixMs(now_ms());
    with_book(settings, &place.book, |b| b.finish_sync(seq, answer, now));
}
