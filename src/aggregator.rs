//! A location's aggregator: one Durable Object per room and location, a storage shell around
//! the core's `aggregate::Aggregator`.
//!
//! Edge isolates of one location (`request.cf.colo`) sync here instead of with the room
//! coordinator. Each batch is applied once, written to this object's SQLite storage, and
//! answered at once from the room as this object last heard it. About once a second, off the
//! isolates' path, it sends the coordinator one batch for the whole location. The object is
//! created by the first isolate of its location to sync, so it lives near them.
//!
//! Like the coordinator it never sees a ticket. What it stores — the isolates' batch numbers,
//! the counts owed upstream and the batch in flight — is exactly what makes each count reach the
//! coordinator once: an isolate's batch is acknowledged only after it is stored, and the
//! location's batch is stored before it is sent.

use std::cell::{Cell, RefCell};
use std::rc::Rc;

use edgegate_core::aggregate::Aggregator;
use edgegate_core::isolate::{RoomSnapshot, SyncReport};
use edgegate_core::outbox::{Counts, Outbox};
use edgegate_core::places::PlaceKey;
use edgegate_core::room::Seen;
use edgegate_core::UnixMs;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use worker::{
    durable_object, DurableObject, Env, Method, Request, Response, Result, SqlStorage, State,
};

use crate::address::Address;
use crate::coordinator::now_ms;
use crate::store::{self, int, read_meta, run, save_meta, META_DDL};
use crate::timeout::with_timeout;

/// Largest sync body accepted, in bytes.
const MAX_BODY: usize = 1 << 20;

#[durable_object]
pub struct LocationAggregator {
    inner: Rc<Inner>,
}

struct Inner {
    state: State,
    env: Env,
    book: RefCell<Option<Aggregator>>,
    /// The room this location belongs to, as the first isolate named it.
    room: RefCell<String>,
    /// Until when syncs with the coordinator fail without being sent (fault injection).
    unreachable_until: Cell<u64>,
}

/// The counts owed upstream other than places, which have a table of their own.
#[derive(Default, Serialize, Deserialize)]
struct OwedRest {
    let_through: Vec<(u64, u64)>,
    ended: Vec<(u64, u64)>,
    refused: u64,
}

impl DurableObject for LocationAggregator {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        crate::store::create(
            &sql,
            &[
                META_DDL,
                "CREATE TABLE IF NOT EXISTS owed_places (second INTEGER NOT NULL, \
             slot INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (second, slot))",
                "CREATE TABLE IF NOT EXISTS senders (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, \
             at INTEGER NOT NULL, demand INTEGER NOT NULL, waiting INTEGER NOT NULL, \
             isolates INTEGER NOT NULL)",
            ],
        );
        LocationAggregator {
            inner: Rc::new(Inner {
                state,
                env,
                book: RefCell::new(None),
                room: RefCell::new(String::new()),
                unreachable_until: Cell::new(0),
            }),
        }
    }

    /// The sync [`Inner::wake_when_due`] asked for: counts still owed to the room go now, and
    /// another alarm is set if some still wait (the room out of reach, say).
    async fn alarm(&self) -> Result<Response> {
        Rc::clone(&self.inner)
            .sync_with_room(UnixMs(now_ms()))
            .await;
        self.inner.wake_when_due(UnixMs(now_ms())).await;
        Response::ok("")
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let now = UnixMs(now_ms());
        let url = Address::of(&req);
        let query = |name: &str| url.query_value(name);
        let body = req.text().await?;
        if body.len() > MAX_BODY {
            return Response::error("body too large", 413);
        }
        match (req.method(), url.path()) {
            (Method::Post, "/sync") => {
                let (Some(location), Some(room)) = (query("location"), query("room")) else {
                    return Response::error("sync needs location and room", 400);
                };
                let Ok(report) = serde_json::from_str::<SyncReport>(&body) else {
                    return Response::error("bad sync report", 400);
                };
                self.inner.receive(&location, &room, &report, now)?;
                let batch = if self.inner.needs_room_first(now) {
                    // A new or restarted aggregator, or one idle for a while: hear from the room
                    // before answering, so the answer is not mistaken for an outage.
                    Rc::clone(&self.inner).sync_with_room(now).await;
                    None
                } else {
                    self.inner.begin_sync(now)
                };
                // What is not sent now (not due, or the send fails) waits for the next sync,
                // which no isolate may bring if the location's citizens went quiet: the
                // object's alarm brings it.
                let inner = Rc::clone(&self.inner);
                self.inner.state.wait_until(async move {
                    if let Some(batch) = batch {
                        inner.send(batch).await;
                    }
                    inner.wake_when_due(UnixMs(now_ms())).await;
                });
                match self.inner.answer(&report.isolate, UnixMs(now_ms())) {
                    Some(snapshot) => Response::from_json(&snapshot),
                    None => Response::error("the room coordinator has not answered yet", 503),
                }
            }
            (Method::Put, "/faults") => {
                let ms = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v.get("room_unreachable_ms").and_then(|m| m.as_u64()));
                let Some(ms) = ms.filter(|ms| *ms <= 3_600_000) else {
                    return Response::error("room_unreachable_ms: up to an hour in ms", 400);
                };
                self.inner.unreachable_until.set(now.plus_ms(ms).0);
                Response::from_json(&serde_json::json!({ "unreachable_until": now.plus_ms(ms) }))
            }
            _ => Response::error("not found", 404),
        }
    }
}

impl Inner {
    fn needs_room_first(&self, now: UnixMs) -> bool {
        self.book
            .borrow()
            .as_ref()
            .is_none_or(|b| b.needs_room_first(now))
    }

    /// Applies an isolate's batch and stores what it changed, loading the book on first use.
    fn receive(&self, location: &str, room: &str, report: &SyncReport, now: UnixMs) -> Result<()> {
        let sql = self.state.storage().sql();
        let mut slot = self.book.borrow_mut();
        let book = match slot.as_mut() {
            Some(book) => book,
            None => {
                *self.room.borrow_mut() = room.to_owned();
                slot.insert(load(&sql, location, &self.env)?)
            }
        };
        let received = book.receive(report, now);
        if received.applied {
            for (key, delta) in &received.places {
                save_owed_place(&sql, *key, *delta);
            }
            save_owed_rest(&sql, &book.outbox().owed);
            if let Some(seen) = book.sender(&report.isolate) {
                save_sender(&sql, &report.isolate, seen);
            }
        }
        for gone in book.forget(now) {
            run(&sql, "DELETE FROM senders WHERE id = ?", vec![gone.into()]);
        }
        Ok(())
    }

    fn answer(&self, isolate: &str, now: UnixMs) -> Option<RoomSnapshot> {
        self.book.borrow_mut().as_mut()?.answer(isolate, now)
    }

    /// Cuts the location's next batch if a sync is due, and stores it before it is sent.
    fn begin_sync(&self, now: UnixMs) -> Option<SyncReport> {
        let mut slot = self.book.borrow_mut();
        let book = slot.as_mut()?;
        let fresh = book.outbox().pending().is_none();
        let batch = book.begin_sync(now)?;
        if fresh {
            let sql = self.state.storage().sql();
            save_meta(&sql, "pending", &Some(&batch));
            save_meta(&sql, "next_seq", &book.outbox().next_seq());
            run(&sql, "DELETE FROM owed_places", Vec::new());
            save_owed_rest(&sql, &Counts::default());
        }
        Some(batch)
    }

    /// Sets the object's alarm for when the next sync falls due, if counts wait for one and no
    /// alarm is set. (An object the platform evicted before its alarm has no book loaded, and
    /// leaves the counts, stored, to the next isolate's sync, as before alarms.)
    async fn wake_when_due(&self, now: UnixMs) {
        let due = self
            .book
            .borrow()
            .as_ref()
            .and_then(Aggregator::sync_due_at);
        let Some(due) = due else { return };
        let storage = self.state.storage();
        if matches!(storage.get_alarm().await, Ok(Some(_))) {
            return;
        }
        let in_ms = i64::try_from(due.since(now)).unwrap_or(i64::MAX);
        if let Err(e) = storage.set_alarm(in_ms).await {
            worker::console_warn!("aggregator: could not set the sync alarm: {e}");
        }
    }

    /// Syncs with the room now, if a sync is due, and waits for it.
    async fn sync_with_room(self: Rc<Self>, now: UnixMs) {
        if let Some(batch) = self.begin_sync(now) {
            self.send(batch).await;
        }
    }

    /// Sends the location's batch to the room coordinator and takes in its answer.
    async fn send(&self, batch: SyncReport) {
        let timeout_ms = crate::settings::sync_timeout_ms(&self.env);
        let answer = if now_ms() < self.unreachable_until.get() {
            None
        } else {
            match with_timeout(self.call_room(&batch), timeout_ms).await {
                Some(Ok(snapshot)) => Some(snapshot),
                Some(Err(err)) => {
                    worker::console_warn!("aggregator: sync with the coordinator failed: {err}");
                    None
                }
                None => {
                    worker::console_warn!("aggregator: sync with the coordinator timed out");
                    None
                }
            }
        };
        let mut slot = self.book.borrow_mut();
        let Some(book) = slot.as_mut() else { return };
        book.finish_sync(batch.seq, answer, UnixMs(now_ms()));
        if book.outbox().pending().is_none() {
            save_meta(&self.state.storage().sql(), "pending", &None::<SyncReport>);
        }
    }

    async fn call_room(&self, batch: &SyncReport) -> Result<RoomSnapshot> {
        let room = self.room.borrow().clone();
        let stub = self
            .env
            .durable_object("ROOMS")?
            .id_from_name(&room)?
            .get_stub()?;
        crate::store::sync_with(&stub, "https://coordinator/sync", batch).await
    }
}

/// The book as stored. A record that cannot be read is reported and treated as empty: the
/// counts in it are lost to the room's figures, but no place is admitted early by it.
fn load(sql: &SqlStorage, location: &str, env: &Env) -> Result<Aggregator> {
    fn readable<T: DeserializeOwned>(sql: &SqlStorage, key: &str) -> Result<Option<T>> {
        Ok(read_meta(sql, key)?.and_then(|r| {
            r.map_err(|e| worker::console_error!("aggregator: stored {key} unreadable: {e}"))
                .ok()
        }))
    }
    let pending: Option<SyncReport> = readable(sql, "pending")?.flatten();
    let next_seq: u64 = readable(sql, "next_seq")?.unwrap_or(1);
    let rest: OwedRest = readable(sql, "owed_rest")?.unwrap_or_default();
    let mut owed = Counts::default();
    for row in store::rows(sql.exec("SELECT second, slot, n FROM owed_places", None)?)? {
        if let [second, slot, n] = row.as_slice() {
            if let (Some(second), Some(slot), Some(n)) =
                (store::count(second), store::count(slot), store::integer(n))
            {
                owed.add_place(PlaceKey { second, slot }, n);
            }
        }
    }
    for (second, n) in rest.let_through {
        owed.add_let_through(second, n);
    }
    for (second, n) in rest.ended {
        owed.add_ended(second, n);
    }
    owed.refused = rest.refused;
    let senders = store::rows(sql.exec(
        "SELECT id, seq, at, demand, waiting, isolates FROM senders",
        None,
    )?)?
    .into_iter()
    .filter_map(|row| {
        let [id, seq, at, demand, waiting, isolates] = row.as_slice() else {
            return None;
        };
        let n = |column| store::count(column).unwrap_or(0);
        let seen = Seen {
            seq: n(seq),
            at: UnixMs(n(at)),
            demand: n(demand),
            waiting: n(waiting),
            isolates: n(isolates),
            // Not stored: for one interval after a restart the shares granted may add up
            // to more than the whole, until every sender has synced again.
            ..Seen::default()
        };
        Some((store::text(id)?.to_owned(), seen))
    });
    Ok(Aggregator::restore(
        location,
        (
            crate::settings::sync_interval_ms(env),
            crate::settings::sync_timeout_ms(env),
        ),
        senders,
        Outbox::restore(owed, pending, next_seq),
    ))
}

fn save_owed_place(sql: &SqlStorage, key: PlaceKey, delta: i64) {
    run(
        sql,
        "INSERT INTO owed_places (second, slot, n) VALUES (?, ?, ?) \
         ON CONFLICT(second, slot) DO UPDATE SET n = n + excluded.n",
        vec![int(key.second), int(key.slot), delta.into()],
    );
}

fn save_owed_rest(sql: &SqlStorage, owed: &Counts) {
    let rest = OwedRest {
        let_through: owed.let_through.iter().map(|(s, n)| (*s, *n)).collect(),
        ended: owed.ended.iter().map(|(s, n)| (*s, *n)).collect(),
        refused: owed.refused,
    };
    save_meta(sql, "owed_rest", &rest);
}

fn save_sender(sql: &SqlStorage, id: &str, seen: &Seen) {
    run(
        sql,
        "INSERT INTO senders (id, seq, at, demand, waiting, isolates) VALUES (?, ?, ?, ?, ?, ?) \
         ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, at = excluded.at, \
         demand = excluded.demand, waiting = excluded.waiting, isolates = excluded.isolates",
        vec![
            id.into(),
            int(seen.seq),
            int(seen.at.0),
            int(seen.demand),
            int(seen.waiting),
            int(seen.isolates),
        ],
    );
}
