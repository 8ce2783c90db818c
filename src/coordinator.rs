//! The room coordinator: one Durable Object per room, a storage shell around the core's
//! `room::Room`.
//!
//! It never sees a ticket. Edge isolates send it numbered batches of counts about once a second
//! each; it applies each batch once, advances the release cursor with the core's policy, persists
//! what changed in its SQLite storage, and answers with a room snapshot of bounded size. Stored
//! records are versioned; one that cannot be read keeps the room paused and is reported to the
//! operator instead of falling back to an open default.

use std::cell::{Cell, RefCell};

use edgegate_core::audit::{self, AuditEntry, AUDIT_KEEP, OPERATOR_HEADER};
use edgegate_core::history::{self, Minute};
use edgegate_core::isolate::{settle_ms, SyncReport};
use edgegate_core::places::PlaceKey;
use edgegate_core::revocation::Revoke;
use edgegate_core::room::{Restored, Room, Seen, ISOLATE_FORGET_MS, KEEP_BEHIND_CURSOR_S};
use edgegate_core::{ConfigError, ConfigPatch, UnixMs};
use serde_json::{json, Value};

use crate::address::{query_value, Address};
use crate::store::{self, int, read_meta, run, save_meta, META_DDL};
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
    /// The history minute last written, so old minutes are dropped once per minute, not on
    /// every sync.
    written_minute: Cell<u64>,
}

impl DurableObject for RoomCoordinator {
    fn new(state: State, env: Env) -> Self {
        let sql = state.storage().sql();
        crate::store::create(
            &sql,
            &[
            META_DDL,
            "CREATE TABLE IF NOT EXISTS places (second INTEGER NOT NULL, slot INTEGER NOT NULL, \
             n INTEGER NOT NULL, PRIMARY KEY (second, slot))",
            "CREATE TABLE IF NOT EXISTS isolates (id TEXT PRIMARY KEY, seq INTEGER NOT NULL, \
             at INTEGER NOT NULL, demand INTEGER NOT NULL)",
            "CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY AUTOINCREMENT, \
             at INTEGER NOT NULL, who TEXT NOT NULL, what TEXT NOT NULL, \
             from_v TEXT NOT NULL, to_v TEXT NOT NULL)",
            "CREATE TABLE IF NOT EXISTS history (minute INTEGER PRIMARY KEY, \
             arrivals INTEGER NOT NULL, let_through INTEGER NOT NULL, released INTEGER NOT NULL, \
             active INTEGER NOT NULL, waiting INTEGER NOT NULL, rate INTEGER NOT NULL, \
             paused INTEGER NOT NULL)",
            // Counts of the layout before places were counted on return; tickets from then
            // are counted again when their holders come back.
            "DROP TABLE IF EXISTS arrivals",
            "DROP TABLE IF EXISTS passes",
            ],
        );
        RoomCoordinator {
            state,
            env,
            room: RefCell::new(None),
            sync_calls: Cell::new(0),
            admin_calls: Cell::new(0),
            written_minute: Cell::new(0),
        }
    }

    async fn fetch(&self, mut req: Request) -> Result<Response> {
        let now = UnixMs(now_ms());
        let path = req.path();
        // A name a header cannot carry as it is (Korean, say) comes percent-encoded.
        let header = req.headers().get(OPERATOR_HEADER)?.map(|h| {
            if h.contains('%') {
                js_sys::decode_uri_component(&h).map_or(h, String::from)
            } else {
                h
            }
        });
        let who = audit::operator(header.as_deref());
        let query = Address::of(&req)
            .query()
            .map(str::to_owned)
            .unwrap_or_default();
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
                    self.save_minute(sql, &room.minute);
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
                    self.save_minute(sql, &room.minute);
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
                    let before = room.config.clone();
                    let config = room.configure(&patch, now)?.clone();
                    save_meta(sql, "config", &config);
                    save_meta(sql, "problem", &room.problem);
                    save_progress(sql, room, now);
                    self.save_minute(sql, &room.minute);
                    for entry in audit::config_changes(&before, &config, &who, now) {
                        save_audit(sql, &entry);
                    }
                    Ok::<_, ConfigError>(config)
                })?;
                match changed {
                    Ok(config) => Response::from_json(&config),
                    Err(e) => refused(&e),
                }
            }
            (Method::Post, "/revoke") => {
                self.admin_calls
                    .set(self.admin_calls.get().saturating_add(1));
                match Revoke::from_json(&body, now) {
                    Ok(revoke) => Response::from_json(&self.revoke(revoke, &who, now)?),
                    Err(e) => refused(&e),
                }
            }
            (Method::Get, "/audit") => {
                let since = query_value(&query, "since").and_then(|s| s.parse::<u64>().ok());
                let entries = read_audit(&self.state.storage().sql(), since.unwrap_or(0))?;
                Response::from_json(&json!({ "entries": entries }))
            }
            (Method::Get, "/history") => {
                let minutes = read_history(&self.state.storage().sql())?;
                if query_value(&query, "format").as_deref() == Some("csv") {
                    history_csv(&minutes)
                } else {
                    let minutes: Vec<Value> = minutes.iter().map(Minute::report).collect();
                    Response::from_json(&json!({ "minutes": minutes }))
                }
            }
            _ => Response::error("not found", 404),
        }
    }
}

impl RoomCoordinator {
    /// Applies a revocation, stores it and audits it: `{"ticket": "XXXX-XXXX"}` or
    /// `{"before": ms}` said back, with whether it was new.
    fn revoke(&self, revoke: Revoke, who: &str, now: UnixMs) -> Result<Value> {
        self.with_room(now, |room, sql| {
            let (entry, said) = match revoke {
                Revoke::Ticket(r) => {
                    let entry = room.revoke(r, who, now);
                    let new = entry.is_some();
                    (entry, json!({ "ticket": r.to_string(), "new": new }))
                }
                Revoke::Before(at) => {
                    let entry = room.revoke_before(at, who, now);
                    let before = room.revocations.before;
                    (Some(entry), json!({ "before": before }))
                }
            };
            save_meta(sql, "revocations", &room.revocations);
            if let Some(entry) = entry {
                save_audit(sql, &entry);
            }
            json!({ "revoked": said })
        })
    }

    /// Writes the history's row for the minute in progress (one upsert), and drops minutes past
    /// [`history::HISTORY_KEEP_MINUTES`] when a new minute begins.
    fn save_minute(&self, sql: &SqlStorage, m: &Minute) {
        run(
            sql,
            "INSERT INTO history (minute, arrivals, let_through, released, active, waiting, rate, \
             paused) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(minute) DO UPDATE SET \
             arrivals = excluded.arrivals, let_through = excluded.let_through, \
             released = excluded.released, active = excluded.active, \
             waiting = excluded.waiting, rate = excluded.rate, paused = excluded.paused",
            vec![
                int(m.minute.0),
                int(m.arrivals),
                int(m.let_through),
                int(m.released),
                int(m.active),
                int(m.waiting),
                int(u64::from(m.rate_per_minute)),
                i64::from(m.paused).into(),
            ],
        );
        if self.written_minute.replace(m.minute.0) != m.minute.0 {
            run(
                sql,
                "DELETE FROM history WHERE minute < ?",
                vec![int(history::keep_from(m.minute).0)],
            );
        }
    }

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
    let places = store::rows(sql.exec("SELECT second, slot, n FROM places", None)?)?
        .iter()
        .filter_map(|row| {
            let [second, slot, n] = row.as_slice() else {
                return None;
            };
            let (second, slot) = (store::count(second)?, store::count(slot)?);
            Some((PlaceKey { second, slot }, store::count(n)?))
        })
        .collect();
    let isolates = store::rows(sql.exec("SELECT id, seq, at, demand FROM isolates", None)?)?
        .iter()
        .filter_map(|row| {
            let [id, seq, at, demand] = row.as_slice() else {
                return None;
            };
            let n = |column| store::count(column).unwrap_or(0);
            let seen = Seen {
                seq: n(seq),
                at: UnixMs(n(at)),
                demand: n(demand),
                // Not stored: waiting and isolates are learnt again at the sender's next sync,
                // within a second; for one interval after a restart the shares granted may
                // add up to more than the whole, until every sender has synced again.
                ..Seen::default()
            };
            Some((store::text(id)?.to_owned(), seen))
        })
        .collect();
    let problem = match read_meta::<Option<String>>(sql, "problem")? {
        Some(Ok(p)) => p,
        Some(Err(e)) => Some(format!("problem: {e}")),
        None => None,
    };
    let minute = read_history_from(sql, history::start_of_minute(now).0)?
        .into_iter()
        .next();
    let stored = Restored {
        minute,
        revocations: read_meta(sql, "revocations")?,
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

/// The 400 answer naming the field an operator got wrong.
fn refused(e: &ConfigError) -> Result<Response> {
    Ok(Response::from_json(&json!({ "error": e.to_string(), "field": e.field }))?.with_status(400))
}

/// Appends an entry and drops those past the last [`AUDIT_KEEP`].
fn save_audit(sql: &SqlStorage, e: &AuditEntry) {
    run(
        sql,
        "INSERT INTO audit (at, who, what, from_v, to_v) VALUES (?, ?, ?, ?, ?)",
        vec![
            int(e.at.0),
            e.who.as_str().into(),
            e.what.as_str().into(),
            e.from.to_string().into(),
            e.to.to_string().into(),
        ],
    );
    run(
        sql,
        "DELETE FROM audit WHERE id <= (SELECT MAX(id) FROM audit) - ?",
        vec![int(AUDIT_KEEP)],
    );
}

/// The entries at or after `since`, oldest first.
fn read_audit(sql: &SqlStorage, since: u64) -> Result<Vec<AuditEntry>> {
    let rows = store::rows(sql.exec(
        "SELECT at, who, what, from_v, to_v FROM audit WHERE at >= ? ORDER BY id",
        vec![int(since)],
    )?)?;
    let value = |column| serde_json::from_str(store::text(column)?).ok();
    Ok(rows
        .iter()
        .filter_map(|row| {
            let [at, who, what, from, to] = row.as_slice() else {
                return None;
            };
            Some(AuditEntry {
                at: UnixMs(store::count(at).unwrap_or(0)),
                who: store::text(who)?.to_owned(),
                what: store::text(what)?.to_owned(),
                from: value(from).unwrap_or(Value::Null),
                to: value(to).unwrap_or(Value::Null),
            })
        })
        .collect())
}

fn read_history(sql: &SqlStorage) -> Result<Vec<Minute>> {
    read_history_from(sql, 0)
}

/// The minutes from `from` on (unix ms), oldest first.
fn read_history_from(sql: &SqlStorage, from: u64) -> Result<Vec<Minute>> {
    let rows = store::rows(sql.exec(
        "SELECT minute, arrivals, let_through, released, active, waiting, rate, paused \
         FROM history WHERE minute >= ? ORDER BY minute",
        vec![int(from)],
    )?)?;
    let n = |column| store::count(column).unwrap_or(0);
    Ok(rows
        .iter()
        .filter_map(|row| {
            let [minute, arrivals, let_through, released, active, waiting, rate, paused] =
                row.as_slice()
            else {
                return None;
            };
            Some(Minute {
                minute: UnixMs(n(minute)),
                arrivals: n(arrivals),
                let_through: n(let_through),
                released: n(released),
                active: n(active),
                waiting: n(waiting),
                rate_per_minute: u32::try_from(n(rate)).unwrap_or(0),
                paused: store::integer(paused).is_some_and(|p| p != 0),
            })
        })
        .collect())
}

fn history_csv(minutes: &[Minute]) -> Result<Response> {
    let mut text = String::from(history::CSV_HEADER);
    text.push('\n');
    for m in minutes {
        text.push_str(&history::csv_row(m));
        text.push('\n');
    }
    let resp = Response::ok(text)?;
    resp.headers()
        .set("Content-Type", "text/csv; charset=utf-8")?;
    Ok(resp)
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
pub fn now_ms() -> u64 {
    whole_ms(js_sys::Date::now())
}

/// A reading of the platform clock (`Date.now()`, unix ms as a double) in whole milliseconds;
/// 0 for anything that is not one.
#[allow(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "a finite, positive, integral f64 below 2^53"
)]
pub fn whole_ms(ms: f64) -> u64 {
    if ms.is_finite() && ms > 0.0 {
        // Whole milliseconds; Date.now() is already integral.
        ms as u64
    } else {
        0
    }
}
