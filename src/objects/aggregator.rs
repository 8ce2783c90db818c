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

use edgegate_core::address::Address;
use edgegate_core::aggregate::{Aggregator, Upstream};
use edgegate_core::outbox::{Counts, Outbox};
use edgegate_core::places::PlaceKey;
use edgegate_core::sync::{RoomSnapshot, SyncReport};
use edgegate_core::{wire, UnixMs};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use worker::{
    durable_object, DurableObject, Env, Method, Request, Response, Result, SqlStorage, State,
};

use crate::objects::store::{self, read_meta, PlaceTable, Writes, META_DDL, SENDERS_DDL};
use crate::shared::body::{self, Body};
use crate::shared::clock::now_ms;
use crate::shared::timeout::with_timeout;

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
    #[serde(default)]
    ended_ids: Vec<u64>,
    #[serde(default)]
    moves: Vec<(u64, u64)>,
    #[serde(default)]
    net_places: Vec<(u64, u64, i64)>,
    #[serde(default)]
    work: (u64, u64),
}

impl DurableObject for LocationAggregator {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        store::create(
            &sql,
            &[
                META_DDL,
                SENDERS_DDL,
                "CREATE TABLE IF NOT EXISTS owed_places (second INTEGER NOT NULL, \
             slot INTEGER NOT NULL, n INTEGER NOT NULL, PRIMARY KEY (second, slot))",
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
        let url = Address::parse(req.inner().url());
        let query = |name: &str| url.query_value(name);
        let body = match body::of_request(&mut req, MAX_BODY).await {
            Ok(Body::Within(bytes)) => bytes,
            Ok(Body::TooLarge) => return Response::error("body too large", 413),
            Err(_) => return Response::error("unreadable body", 400),
        };
        match (req.method(), url.path()) {
            (Method::Post, "/sync") => {
                let (Some(location), Some(room)) = (query("location"), query("room")) else {
                    return Response::error("sync needs location and room", 400);
                };
                // A citizen's isolate speaks the binary form (`wire`); JSON is still read from
                // a sender that names none.
                let binary = match wire::form_of(req.headers().get(wire::HEADER)?.as_deref()) {
                    Ok(form) => form == wire::Form::Binary,
                    Err(why) => return Response::error(why, 409),
                };
                let report = if binary {
                    wire::decode::<SyncReport>(&body)
                } else {
                    serde_json::from_slice::<SyncReport>(&body).map_err(|e| e.to_string())
                };
                let Ok(report) = report else {
                    return Response::error("bad sync report", 400);
                };
                // Stored before anything is acknowledged or sent on.
                let (upstream, room_first) =
                    match self.inner.receive(&location, &room, &report, now) {
                        Ok(next) => next,
                        Err(e) => return Response::error(format!("not stored: {e}"), 503),
                    };
                let inner = Rc::clone(&self.inner);
                if room_first {
                    // A new or restarted aggregator, or one idle for a while: hear from the room
                    // before answering, so the answer is not mistaken for an outage.
                    if let Some(batch) = upstream {
                        inner.send(batch).await;
                    }
                } else if let Some(batch) = upstream {
                    let inner = Rc::clone(&inner);
                    self.inner
                        .state
                        .wait_until(async move { inner.send(batch).await });
                }
                // What is not sent now (not due, or the send fails) waits for the next sync,
                // which no isolate may bring if the location's citizens went quiet: the
                // object's alarm brings it.
                let waker = Rc::clone(&self.inner);
                self.inner
                    .state
                    .wait_until(async move { waker.wake_when_due(UnixMs(now_ms())).await });
                match self.inner.answer(
                    &report.isolate,
                    report.notices_at,
                    report.sent_at,
                    UnixMs(now_ms()),
                ) {
                    Some(snapshot) if binary => {
                        let mut answer = Response::from_bytes(wire::encode(&snapshot))?;
                        answer
                            .headers_mut()
                            .set("Content-Type", wire::CONTENT_TYPE)?;
                        Ok(answer)
                    }
                    Some(snapshot) => Response::from_json(&snapshot),
                    None => Response::error("the room coordinator has not answered yet", 503),
                }
            }
            (Method::Put, "/faults") => {
                let ms = serde_json::from_slice::<serde_json::Value>(&body)
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
    /// Takes in an isolate's batch, loading the book on first use, and stores what it changed
    /// (and the location's batch, if one was cut) in one transaction: the batch that comes
    /// back to send, and whether to hear the room before answering. If the write fails, the
    /// book in memory is dropped, so nothing of the batch counts and its isolate sends it again.
    fn receive(
        &self,
        location: &str,
        room: &str,
        report: &SyncReport,
        now: UnixMs,
    ) -> std::result::Result<(Option<SyncReport>, bool), String> {
        let storage = self.state.storage();
        let mut slot = self.book.borrow_mut();
        let book = match slot.as_mut() {
            Some(book) => book,
            None => {
                *self.room.borrow_mut() = room.to_owned();
                let loaded =
                    load(&storage.sql(), location, &self.env, now).map_err(|e| e.to_string())?;
                slot.insert(loaded)
            }
        };
        let next = book.on_sync(report, now);
        let mut writes = Writes::default();
        for (key, n) in &next.owed_places {
            writes.place_count(PlaceTable::Owed, *key, *n);
        }
        if next.applied {
            writes.meta("owed_rest", &OwedRest::of(&book.outbox().owed));
        }
        writes.senders(&book.senders_mut().take_changes());
        let upstream = next.upstream.map(|Upstream { batch, fresh }| {
            if fresh {
                // Stored before it is sent: a restart sends it again, never its counts anew.
                writes.meta("pending", &Some(&batch));
                writes.meta("next_seq", &book.outbox().next_seq());
                writes.push("DELETE FROM owed_places", Vec::new());
                writes.meta("owed_rest", &OwedRest::default());
            }
            batch
        });
        if let Err(e) = writes.commit(&storage) {
            worker::console_error!("aggregator: a write failed, nothing of it counts: {e}");
            *slot = None;
            return Err(e);
        }
        Ok((upstream, next.room_first))
    }

    fn answer(
        &self,
        isolate: &str,
        notices_at: u64,
        sent_at: UnixMs,
        now: UnixMs,
    ) -> Option<RoomSnapshot> {
        self.book
            .borrow_mut()
            .as_mut()?
            .answer(isolate, notices_at, sent_at, now)
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

    /// Syncs with the room now, if a sync is due, and waits for it. The location's batch, if
    /// cut now, is stored before it goes.
    async fn sync_with_room(self: Rc<Self>, now: UnixMs) {
        let upstream = {
            let mut slot = self.book.borrow_mut();
            let Some(book) = slot.as_mut() else { return };
            let Some(Upstream { batch, fresh }) = book.upstream(now) else {
                return;
            };
            if fresh {
                let mut writes = Writes::default();
                writes.meta("pending", &Some(&batch));
                writes.meta("next_seq", &book.outbox().next_seq());
                writes.push("DELETE FROM owed_places", Vec::new());
                writes.meta("owed_rest", &OwedRest::default());
                if let Err(e) = writes.commit(&self.state.storage()) {
                    worker::console_error!("aggregator: could not store its batch: {e}");
                    *slot = None;
                    return;
                }
            }
            batch
        };
        self.send(upstream).await;
    }

    /// Sends the location's batch to the room coordinator and takes in its answer.
    async fn send(&self, batch: SyncReport) {
        let timeout_ms = crate::shared::settings::sync_timeout_ms(&self.env);
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
        let known = book.known();
        book.finish_sync(batch.seq, answer, UnixMs(now_ms()));
        let mut writes = Writes::default();
        if book.outbox().pending().is_none() {
            writes.meta("pending", &None::<SyncReport>);
        }
        if book.known() != known {
            // The room's identity and cursor, kept across a restart (see `Aggregator::known`).
            writes.meta("known_room", &book.known());
        }
        // If this fails, the batch is stored still and goes again after a restart (the
        // coordinator, which applied it, counts it as a duplicate), and the room is known as
        // it was a sync ago.
        if let Err(e) = writes.commit(&self.state.storage()) {
            worker::console_warn!("aggregator: could not store what the room answered: {e}");
        }
    }

    async fn call_room(&self, batch: &SyncReport) -> Result<RoomSnapshot> {
        let room = self.room.borrow().clone();
        let stub = crate::shared::names::coordinator(&self.env, &room)?;
        crate::shared::names::sync_with(&stub, "https://coordinator/sync", batch).await
    }
}

/// The book as stored. A record that cannot be read is reported and treated as empty: the
/// counts in it are lost to the room's figures, but no place is admitted early by it. The
/// batch numbering, absent or unreadable, starts again from the clock
/// (`outbox::first_seq`), never from 1: the coordinator remembers this location's last
/// number for hours and would take new batches for old copies.
fn load(sql: &SqlStorage, location: &str, env: &Env, now: UnixMs) -> Result<Aggregator> {
    fn readable<T: DeserializeOwned>(sql: &SqlStorage, key: &str) -> Result<Option<T>> {
        Ok(read_meta(sql, key)?.and_then(|r| {
            r.map_err(|e| worker::console_error!("aggregator: stored {key} unreadable: {e}"))
                .ok()
        }))
    }
    let pending: Option<SyncReport> = readable(sql, "pending")?.flatten();
    let next_seq: u64 =
        readable(sql, "next_seq")?.unwrap_or_else(|| edgegate_core::outbox::first_seq(now));
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
    for id in rest.ended_ids {
        owed.ended_ids.insert(id, ());
    }
    owed.moves.extend(rest.moves);
    for (network, slot, n) in rest.net_places {
        owed.add_net_place(network, slot, n);
    }
    (owed.work_asked, owed.work_shown) = rest.work;
    Ok(Aggregator::restore(
        location,
        (
            crate::shared::settings::sync_interval_ms(env),
            crate::shared::settings::sync_timeout_ms(env),
            crate::shared::settings::fail_static_per_mille(env),
        ),
        store::load_senders(sql)?,
        Outbox::restore(owed, pending, next_seq),
        readable(sql, "known_room")?,
    ))
}

impl OwedRest {
    fn of(owed: &Counts) -> OwedRest {
        OwedRest {
            let_through: owed.let_through.iter().map(|(s, n)| (*s, *n)).collect(),
            ended: owed.ended.iter().map(|(s, n)| (*s, *n)).collect(),
            refused: owed.refused,
            ended_ids: owed.ended_ids.keys().copied().collect(),
            moves: owed.moves.iter().map(|(k, v)| (*k, *v)).collect(),
            net_places: owed
                .net_places
                .iter()
                .map(|((network, slot), n)| (*network, *slot, *n))
                .collect(),
            work: (owed.work_asked, owed.work_shown),
        }
    }
}
