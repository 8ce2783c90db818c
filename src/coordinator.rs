//! The room coordinator: one Durable Object per room, a storage shell around the core's
//! `room::Room`.
//!
//! It never sees a ticket. Edge isolates send it numbered batches of counts about once a second
//! each; it applies each batch once, advances the release cursor with the core's policy, persists
//! what changed in its SQLite storage, and answers with a room snapshot of bounded size. Stored
//! records are versioned; one that cannot be read keeps the room paused and is reported to the
//! operator instead of falling back to an open default.

use std::cell::{Cell, RefCell};

use edgegate_core::isolate::{settle_ms, SyncReport};
use edgegate_core::places::PlaceKey;
use edgegate_core::room::{Restored, Room, Seen, ISOLATE_FORGET_MS, KEEP_BEHIND_CURSOR_S};
use edgegate_core::{ConfigPatch, UnixMs};
use serde::Deserialize;
use serde_json::json;

use crate::store::{int, read_meta, run, save_meta, META_DDL};
use worker::{
    durable_object, DurableObject, Env, Method, Request, Response, Result, SqlStorage, State,
};

/// Largest sync or config body accepted, in bytes.
const MAX_BODY: usize = 1 << 20;

#[durable_object]
pub struct RoomCoordinator {
    state: State,
    env: Env,
    room: RefCell<Option<Room>>,
    sync_calls: Cell<u64>,
    admin_calls: Cell<u64>,
}

#[derive(Deserialize)]
struct PlaceRow {
    second: i64,
    slot: i64,
    n: i64,
}

#[derive(Deserialize)]
struct IsolateRow {
    id: String,
    seq: i64,
    at: i64,
    demand: i64,
}

impl DurableObject for RoomCoordinator {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        for ddl in [
            META_DDL,
            "CREATE TABLE IF NOT EXISTS places (second INTEGER NOT NULL, slot INTEGER NOT NULL, \
             n INTEGER NOT NULL, PRIMARY KEY (second, slot))",
            "CREATE TABLE IF NOT EXISTS isolates (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, \
             at INTEGER NOT NULL, demand INTEGER NOT NULL)",
            // Counts of the layout before places were counted on return; tickets from then
            // are counted again when their holders come back.
            "DROP TABLE IF EXISTS arrivals",
            "DROP TABLE IF EXISTS passes",
        ] {
            if let Err(e) = sql.exec(ddl, None) {
                worker::console_error!("coordinator: {ddl}: {e}");
            }
        }
        RoomCoordinator {
            state,
            env,
            room: RefCell::new(None),
            sync_calls: Cell::new(0),
            admin_calls: Cell::new(0),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let now = UnixMs(now_ms());
        let path = req.path();
        let body = match req.method() {
            Method::Post | Method::Put => req.text().await?,
            _ => String::new(),
        };
        if body.len() > MAX_BODY {
            return Response::error("body too large", 413);
        }
        match (req.method(), path.as_str()) {
            (Method::Post, "/sync") => {
                self.sync_calls.set(self.sync_calls.get().saturating_add(1));
                let Ok(report) = serde_json::from_str::<SyncReport>(&body) else {
                    return Response::error("bad sync report", 400);
                };
                let snapshot = self.with_room(now, |room, sql| {
                    let synced = room.sync(&report, now);
                    if synced.applied {
                        for (key, delta) in &synced.places {
                            save_place(sql, *key, *delta);
                        }
                        save_isolate(sql, &report.isolate, room.isolates.get(&report.isolate));
                    }
                    save_progress(sql, room, now);
                    synced.snapshot
                })?;
                Response::from_json(&snapshot)
            }
            (Method::Get, "/state") => {
                self.admin_calls
                    .set(self.admin_calls.get().saturating_add(1));
                let report = self.with_room(now, |room, sql| {
                    room.advance(now);
                    save_progress(sql, room, now);
                    room.report(now)
                })?;
                let mut state = serde_json::to_value(report)?;
                if let Some(map) = state.as_object_mut() {
                    map.insert(
                        "coordinator".into(),
                        json!({
                            "sync_calls": self.sync_calls.get(),
                            "admin_calls": self.admin_calls.get(),
                        }),
                    );
                }
                Response::from_json(&state)
            }
            (Method::Put, "/config") => {
                self.admin_calls
                    .set(self.admin_calls.get().saturating_add(1));
                let patch = match ConfigPatch::from_json(&body) {
                    Ok(p) => p,
                    Err(e) => {
                        return Ok(Response::from_json(&json!({
                            "error": e.to_string(), "field": e.field,
                        }))?
                        .with_status(400))
                    }
                };
                let changed = self.with_room(now, |room, sql| {
                    let config = room.configure(&patch, now)?.clone();
                    save_meta(sql, "config", &config);
                    save_meta(sql, "problem", &room.problem);
                    save_progress(sql, room, now);
                    Ok::<_, edgegate_core::ConfigError>(config)
                })?;
                let config = match changed {
                    Ok(config) => config,
                    Err(e) => {
                        return Ok(Response::from_json(&json!({
                            "error": e.to_string(), "field": e.field,
                        }))?
                        .with_status(400))
                    }
                };
                Response::from_json(&config)
            }
            _ => Response::error("not found", 404),
        }
    }
}

impl RoomCoordinator {
    /// Runs `f` on the loaded room (loading it from storage on first use).
    fn with_room<T>(&self, now: UnixMs, f: impl FnOnce(&mut Room, &SqlStorage) -> T) -> Result<T> {
        let sql = self.state.storage().sql();
        let settle = settle_ms(
            crate::settings::sync_interval_ms(&self.env),
            crate::settings::sync_timeout_ms(&self.env),
        );
        let mut slot = self.room.borrow_mut();
        let room = match slot.as_mut() {
            Some(room) => room,
            None => {
                let room = load(&sql, now, settle)?;
                if let Some(problem) = &room.problem {
                    worker::console_error!(
                        "coordinator: stored state unreadable, room kept paused: {problem}"
                    );
                    save_meta(&sql, "config", &room.config);
                    save_meta(&sql, "problem", &room.problem);
                }
                slot.insert(room)
            }
        };
        Ok(f(room, &sql))
    }
}

fn load(sql: &SqlStorage, now: UnixMs, settle_ms: u64) -> Result<Room> {
    let places = sql
        .exec("SELECT second, slot, n FROM places", None)?
        .to_array::<PlaceRow>()?
        .into_iter()
        .filter_map(|r| {
            Some((
                PlaceKey {
                    second: u64::try_from(r.second).ok()?,
                    slot: u64::try_from(r.slot).ok()?,
                },
                u64::try_from(r.n).ok()?,
            ))
        })
        .collect();
    let isolates = sql
        .exec("SELECT id, seq, at, demand FROM isolates", None)?
        .to_array::<IsolateRow>()?
        .into_iter()
        .map(|r| {
            let seen = Seen {
                seq: u64::try_from(r.seq).unwrap_or(0),
                at: UnixMs(u64::try_from(r.at).unwrap_or(0)),
                demand: u64::try_from(r.demand).unwrap_or(0),
                // Both learnt again at the sender's next sync, within a second.
                waiting: 0,
                isolates: 0,
            };
            (r.id, seen)
        })
        .collect();
    let problem = match read_meta::<Option<String>>(sql, "problem")? {
        Some(Ok(p)) => p,
        Some(Err(e)) => Some(format!("problem: {e}")),
        None => None,
    };
    let stored = Restored {
        config: read_meta(sql, "config")?,
        release: read_meta(sql, "release")?,
        ledger: read_meta(sql, "ledger")?,
        totals: read_meta(sql, "totals")?,
        problem,
        places,
        isolates,
    };
    Ok(Room::restore(stored, now, settle_ms))
}

/// Writes what every call may change: the cursor, the ledger, the totals, and the forgetting of
/// places given up or long behind the cursor.
fn save_progress(sql: &SqlStorage, room: &Room, now: UnixMs) {
    save_meta(sql, "release", &room.release);
    save_meta(sql, "ledger", &room.ledger);
    save_meta(sql, "totals", &room.totals);
    let keep_from = room
        .release
        .cursor
        .bucket()
        .saturating_sub(KEEP_BEHIND_CURSOR_S);
    run(
        sql,
        "DELETE FROM places WHERE slot <= ? OR second < ?",
        vec![int(now.secs()), int(keep_from)],
    );
    run(
        sql,
        "DELETE FROM isolates WHERE at < ?",
        vec![int(now.0.saturating_sub(ISOLATE_FORGET_MS))],
    );
}

fn save_place(sql: &SqlStorage, key: PlaceKey, delta: i64) {
    run(
        sql,
        "INSERT INTO places (second, slot, n) VALUES (?, ?, MAX(?, 0)) \
         ON CONFLICT(second, slot) DO UPDATE SET n = MAX(n + excluded.n, 0)",
        vec![int(key.second), int(key.slot), delta.into()],
    );
    if delta < 0 {
        run(
            sql,
            "DELETE FROM places WHERE second = ? AND slot = ? AND n <= 0",
            vec![int(key.second), int(key.slot)],
        );
    }
}

fn save_isolate(sql: &SqlStorage, id: &str, seen: Option<&Seen>) {
    let Some(seen) = seen else { return };
    run(
        sql,
        "INSERT INTO isolates (id, seq, at, demand) VALUES (?, ?, ?, ?) \
         ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, at = excluded.at, demand = excluded.demand",
        vec![
            id.into(),
            int(seen.seq),
            int(seen.at.0),
            int(seen.demand),
        ],
    );
}

/// The platform clock, in unix milliseconds.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a finite, positive, integral f64 below 2^53"
)]
pub fn now_ms() -> u64 {
    let ms = js_sys::Date::now();
    if ms.is_finite() && ms > 0.0 {
        // Whole milliseconds; Date::now() is already integral.
        ms as u64
    } else {
        0
    }
}
