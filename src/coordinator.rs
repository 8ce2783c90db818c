//! The room coordinator: one Durable Object per room.
//!
//! It never sees a ticket. Edge isolates send it counts (arrivals per second, pass changes per
//! expiry second) at most about once a second each; it adds them to its histogram, advances the
//! release cursor with the core's pure policy, persists everything in its SQLite storage, and
//! answers with the room state the isolates serve every status poll from. Its load is therefore
//! proportional to the number of isolates, not of citizens.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;

use edgegate_core::{ConfigPatch, Histogram, OrderKey, ReleaseState, RoomConfig, UnixMs};
use serde::{Deserialize, Serialize};
use serde_json::json;
use worker::{
    durable_object, DurableObject, Env, Method, Request, Response, Result, SqlStorage, State,
};

use crate::protocol::{RoomSnapshot, SyncRequest};

/// Arrival seconds this far behind the cursor are dropped from storage.
const KEEP_BEHIND_CURSOR_S: u64 = 3_600;
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

/// The coordinator's in-memory copy of its storage.
struct Room {
    config: RoomConfig,
    release: ReleaseState,
    arrivals: Histogram,
    /// Expiry second → passes alive until then.
    passes: BTreeMap<u64, i64>,
    totals: Totals,
    /// Isolate id → when it last synced.
    isolates: BTreeMap<String, UnixMs>,
}

#[derive(Clone, Copy, Debug, Default, Serialize, Deserialize)]
struct Totals {
    arrivals: u64,
    passes_minted: u64,
}

#[derive(Deserialize)]
struct CountRow {
    k: i64,
    n: i64,
}

#[derive(Deserialize)]
struct MetaRow {
    v: String,
}

impl DurableObject for RoomCoordinator {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        for ddl in [
            "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS arrivals (k INTEGER PRIMARY KEY, n INTEGER NOT NULL)",
            "CREATE TABLE IF NOT EXISTS passes (k INTEGER PRIMARY KEY, n INTEGER NOT NULL)",
        ] {
            if let Err(e) = sql.exec(ddl, None) {
                worker::console_error!("coordinator: creating tables failed: {e}");
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
                let Ok(report) = serde_json::from_str::<SyncRequest>(&body) else {
                    return Response::error("bad sync report", 400);
                };
                let snapshot = self.with_room(now, |room, sql, settle| {
                    room.record(sql, &report, now);
                    room.advance(sql, now, settle);
                    room.snapshot(now)
                })?;
                Response::from_json(&snapshot)
            }
            (Method::Get, "/state") => {
                self.admin_calls
                    .set(self.admin_calls.get().saturating_add(1));
                let state = self.with_room(now, |room, sql, settle| {
                    room.advance(sql, now, settle);
                    room.report(now)
                })?;
                Response::from_json(&self.with_calls(state))
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
                let config = self.with_room(now, |room, sql, settle| {
                    // Settle the old policy up to now before the new one takes over, so a
                    // resume does not pay out the time spent paused.
                    room.advance(sql, now, settle);
                    room.config = room.config.apply(&patch, now);
                    save_meta(sql, "config", &room.config);
                    room.config.clone()
                })?;
                Response::from_json(&config)
            }
            _ => Response::error("not found", 404),
        }
    }
}

impl RoomCoordinator {
    /// Runs `f` on the loaded room (loading it from storage on first use).
    fn with_room<T>(
        &self,
        now: UnixMs,
        f: impl FnOnce(&mut Room, &SqlStorage, u64) -> T,
    ) -> Result<T> {
        let sql = self.state.storage().sql();
        let settle = self
            .env
            .var("SETTLE_MS")
            .ok()
            .and_then(|v| v.to_string().parse().ok())
            .unwrap_or(3_000);
        let mut slot = self.room.borrow_mut();
        let room = match slot.as_mut() {
            Some(room) => room,
            None => slot.insert(Room::load(&sql, now, settle)?),
        };
        Ok(f(room, &sql, settle))
    }

    fn with_calls(&self, mut state: serde_json::Value) -> serde_json::Value {
        if let Some(map) = state.as_object_mut() {
            map.insert(
                "coordinator".into(),
                json!({ "sync_calls": self.sync_calls.get(), "admin_calls": self.admin_calls.get() }),
            );
        }
        state
    }
}

impl Room {
    fn load(sql: &SqlStorage, now: UnixMs, settle_ms: u64) -> Result<Room> {
        let meta = |key: &str| -> Result<Option<String>> {
            let rows: Vec<MetaRow> = sql
                .exec("SELECT v FROM meta WHERE k = ?", vec![key.into()])?
                .to_array()?;
            Ok(rows.into_iter().next().map(|r| r.v))
        };
        let parsed = |key: &str| -> Result<Option<serde_json::Value>> {
            Ok(meta(key)?.and_then(|v| serde_json::from_str(&v).ok()))
        };
        let config = parsed("config")?
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let release = parsed("release")?
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_else(|| ReleaseState::start(now, settle_ms));
        let totals = parsed("totals")?
            .and_then(|v| serde_json::from_value(v).ok())
            .unwrap_or_default();
        let mut arrivals = Histogram::new();
        for row in sql
            .exec("SELECT k, n FROM arrivals", None)?
            .to_array::<CountRow>()?
        {
            arrivals.add(
                u64::try_from(row.k).unwrap_or(0),
                u64::try_from(row.n).unwrap_or(0),
            );
        }
        let passes = sql
            .exec("SELECT k, n FROM passes", None)?
            .to_array::<CountRow>()?
            .into_iter()
            .map(|row| (u64::try_from(row.k).unwrap_or(0), row.n))
            .collect();
        Ok(Room {
            config,
            release,
            arrivals,
            passes,
            totals,
            isolates: BTreeMap::new(),
        })
    }

    /// Adds an isolate's counts to memory and storage.
    fn record(&mut self, sql: &SqlStorage, report: &SyncRequest, now: UnixMs) {
        for &(bucket, count) in &report.arrivals {
            self.release
                .record_arrivals(&mut self.arrivals, bucket, count);
            self.totals.arrivals = self.totals.arrivals.saturating_add(count);
            upsert(
                sql,
                "arrivals",
                bucket,
                i64::try_from(count).unwrap_or(i64::MAX),
            );
        }
        for &(expiry_s, delta) in &report.passes {
            let slot = self.passes.entry(expiry_s).or_insert(0);
            *slot = slot.saturating_add(delta);
            if delta > 0 {
                self.totals.passes_minted = self
                    .totals
                    .passes_minted
                    .saturating_add(delta.unsigned_abs());
            }
            upsert(sql, "passes", expiry_s, delta);
        }
        save_meta(sql, "totals", &self.totals);
        self.isolates.insert(report.isolate.clone(), now);
        self.isolates.retain(|_, seen| now.since(*seen) < 60_000);
    }

    fn active(&self, now: UnixMs) -> u64 {
        let live: i64 = self
            .passes
            .range(now.secs().saturating_add(1)..)
            .map(|(_, n)| *n)
            .sum();
        u64::try_from(live).unwrap_or(0)
    }

    fn advance(&mut self, sql: &SqlStorage, now: UnixMs, settle_ms: u64) {
        let active = self.active(now);
        let next = self
            .release
            .advance(&self.config, &self.arrivals, active, now, settle_ms);
        if next != self.release {
            self.release = next;
            save_meta(sql, "release", &self.release);
        }
        // Forget what no one will ask about again.
        let keep_from = self
            .release
            .cursor
            .bucket()
            .saturating_sub(KEEP_BEHIND_CURSOR_S);
        if self
            .arrivals
            .iter()
            .next()
            .is_some_and(|(b, _)| b < keep_from)
        {
            self.arrivals = self.arrivals.since(keep_from);
            exec(sql, "DELETE FROM arrivals WHERE k < ?", keep_from);
        }
        if self.passes.keys().next().is_some_and(|k| *k <= now.secs()) {
            self.passes = self.passes.split_off(&now.secs().saturating_add(1));
            exec(sql, "DELETE FROM passes WHERE k <= ?", now.secs());
        }
    }

    fn snapshot(&self, now: UnixMs) -> RoomSnapshot {
        RoomSnapshot {
            config: self.config.clone(),
            cursor: self.release.cursor,
            arrivals: self.arrivals.since(self.release.cursor.bucket()),
            active: self.active(now),
            at: now,
        }
    }

    /// The operator's view: config and live counters.
    fn report(&self, now: UnixMs) -> serde_json::Value {
        let cursor = self.release.cursor;
        let waiting = self.arrivals.between(cursor, OrderKey(u64::MAX));
        let fraction = cursor.sub() as f64 / edgegate_core::order::SUB_RANGE as f64;
        json!({
            "config": self.config,
            "cursor": { "bucket": cursor.bucket(), "fraction": fraction },
            "counters": {
                "arrivals_total": self.totals.arrivals,
                "waiting": waiting,
                "active": self.active(now),
                "passes_minted": self.totals.passes_minted,
                "allowance": self.release.allowance as f64 / edgegate_core::order::SUB_RANGE as f64,
                "isolates_last_minute": self.isolates.len(),
            },
            "now": now,
        })
    }
}

fn upsert(sql: &SqlStorage, table: &str, key: u64, delta: i64) {
    let query = format!(
        "INSERT INTO {table} (k, n) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET n = n + excluded.n"
    );
    let key = i64::try_from(key).unwrap_or(i64::MAX);
    if let Err(e) = sql.exec(&query, vec![key.into(), delta.into()]) {
        worker::console_error!("coordinator: writing {table} failed: {e}");
    }
}

fn exec(sql: &SqlStorage, query: &str, key: u64) {
    let key = i64::try_from(key).unwrap_or(i64::MAX);
    if let Err(e) = sql.exec(query, vec![key.into()]) {
        worker::console_error!("coordinator: {query} failed: {e}");
    }
}

fn save_meta<T: Serialize>(sql: &SqlStorage, key: &str, value: &T) {
    let Ok(text) = serde_json::to_string(value) else {
        return;
    };
    if let Err(e) = sql.exec(
        "INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
        vec![key.into(), text.into()],
    ) {
        worker::console_error!("coordinator: saving {key} failed: {e}");
    }
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
