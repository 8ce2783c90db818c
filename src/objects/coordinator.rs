//! The room coordinator: one Durable Object per room, a storage shell around the core's
//! `room::Room`.
//!
//! It never sees a ticket. Edge isolates send it numbered batches of counts about once a second
//! each; it applies each batch once, advances the release cursor with the core's policy, persists
//! what changed in its SQLite storage, and answers with a room snapshot of bounded size. Stored
//! records are versioned; one that cannot be read keeps the room paused and is reported to the
//! operator instead of falling back to an open default.

use std::cell::{Cell, RefCell};

use edgegate_core::address::{query_value, Address};
use edgegate_core::audit::{self, AuditEntry, AUDIT_KEEP, OPERATOR_HEADER};
use edgegate_core::history::{self, Minute};
use edgegate_core::places::PlaceKey;
use edgegate_core::revocation::Revoke;
use edgegate_core::room::{Restored, Room};
use edgegate_core::sync::{settle_ms, SyncReport};
use edgegate_core::{ConfigError, ConfigPatch, UnixMs};
use serde_json::{json, Value};
use worker::{
    durable_object, DurableObject, Env, Method, Request, Response, Result, SqlStorage,
    SqlStorageValue, State,
};

use crate::objects::store::{self, int, read_meta, PlaceTable, Writes, META_DDL, SENDERS_DDL};
use crate::shared::body;
use crate::shared::clock::now_ms;
use crate::shared::settings::CONSOLE_SESSION_S;

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
        store::create(
            &sql,
            &[
            META_DDL,
            SENDERS_DDL,
            "CREATE TABLE IF NOT EXISTS places (second INTEGER NOT NULL, slot INTEGER NOT NULL, \
             n INTEGER NOT NULL, PRIMARY KEY (second, slot))",
            "CREATE TABLE IF NOT EXISTS audit (id INTEGER PRIMARY KEY AUTOINCREMENT, \
             at INTEGER NOT NULL, who TEXT NOT NULL, what TEXT NOT NULL, \
             from_v TEXT NOT NULL, to_v TEXT NOT NULL, why TEXT)",
            "CREATE TABLE IF NOT EXISTS history (minute INTEGER PRIMARY KEY, \
             arrivals INTEGER NOT NULL, let_through INTEGER NOT NULL, released INTEGER NOT NULL, \
             active INTEGER NOT NULL, waiting INTEGER NOT NULL, rate INTEGER NOT NULL, \
             paused INTEGER NOT NULL)",
            // Sessions ended and passes moved, which every edge refuses by: keys and values
            // are u64 (short ids, network tags), kept as decimal text to keep every bit.
            "CREATE TABLE IF NOT EXISTS notices (kind TEXT NOT NULL, k TEXT NOT NULL, \
             v TEXT NOT NULL, until INTEGER NOT NULL, PRIMARY KEY (kind, k))",
            // Counts of the layout before places were counted on return; tickets from then
            // are counted again when their holders come back.
            "DROP TABLE IF EXISTS arrivals",
            "DROP TABLE IF EXISTS passes",
            ],
        );
        migrate_isolates(&sql);
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
        let address = Address::parse(req.inner().url());
        let query = address.query().map(str::to_owned).unwrap_or_default();
        let body = match req.method() {
            Method::Post | Method::Put => match body::text(&mut req, MAX_BODY).await {
                Ok(Some(text)) => text,
                Ok(None) => return Response::error("body too large", 413),
                Err(_) => return Response::error("unreadable body", 400),
            },
            _ => String::new(),
        };
        match (req.method(), path.as_str()) {
            (Method::Post, "/sync") => {
                self.sync_calls.set(self.sync_calls.get().saturating_add(1));
                let Ok(report) = serde_json::from_str::<SyncReport>(&body) else {
                    return Response::error("bad sync report", 400);
                };
                let snapshot = self.with_room(now, |room, _| room.sync(&report, now).snapshot);
                match snapshot {
                    Ok(snapshot) => Response::from_json(&snapshot),
                    Err(e) => unstored(&e),
                }
            }
            (Method::Get, "/state") => {
                self.admin_calls
                    .set(self.admin_calls.get().saturating_add(1));
                let report = self.with_room(now, |room, _| {
                    room.advance(now);
                    room.report(now)
                });
                let report = match report {
                    Ok(report) => report,
                    Err(e) => return unstored(&e),
                };
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
                    Err(e) => return refused(&e),
                };
                let changed = self.with_room(now, |room, writes| {
                    let before = room.config.clone();
                    let config = room.configure(&patch, now)?.clone();
                    writes.meta("config", &config);
                    writes.meta("problem", &room.problem);
                    for entry in audit::config_changes(&before, &config, &who, now) {
                        audit_writes(writes, &entry);
                    }
                    Ok::<_, ConfigError>(config)
                });
                match changed {
                    Ok(Ok(config)) => Response::from_json(&config),
                    Ok(Err(e)) => refused(&e),
                    Err(e) => unstored(&e),
                }
            }
            (Method::Post, "/revoke") => {
                self.admin_calls
                    .set(self.admin_calls.get().saturating_add(1));
                match Revoke::from_json(&body, now) {
                    Ok(revoke) => match self.revoke(revoke, &who, now) {
                        Ok(said) => Response::from_json(&said),
                        Err(e) => unstored(&e),
                    },
                    Err(e) => refused(&e),
                }
            }
            (Method::Get, "/console/session") => {
                let ended = self.console_ended(now)?;
                let id = query_value(&query, "id").unwrap_or_default();
                let expires = query_value(&query, "expires").and_then(|e| e.parse::<u64>().ok());
                let alive = expires.is_some_and(|expires| {
                    !ended
                        .iter()
                        .any(|(e, until)| *e == id || (e == "*" && expires <= *until))
                });
                if id.len() == 32 && alive {
                    Response::ok("alive")
                } else {
                    Response::error("ended", 401)
                }
            }
            (Method::Post, "/console/end") => {
                let ended = serde_json::from_str::<Value>(&body).ok().and_then(|v| {
                    let id = v.get("id")?.as_str()?.to_owned();
                    let expires_s = v.get("expires_s")?.as_u64()?;
                    (id.len() == 32).then_some((id, expires_s))
                });
                let Some(entry) = ended else {
                    return Response::error("give the session's id and expiry", 400);
                };
                let mut list = self.console_ended(now)?;
                list.push(entry);
                let storage = self.state.storage();
                let mut writes = Writes::default();
                writes.meta("console_ended", &list);
                match writes.commit(&storage) {
                    Ok(()) => Response::ok("ended"),
                    Err(e) => unstored(&e),
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
    /// Console sessions signed out and not yet expired: `(id hex, expiry unix s)`. An entry
    /// `("*", t)` ends every session that expires by `t`: what a record that cannot be read
    /// turns into, since every session alive then expires within one lifetime, and a console
    /// session is a key.
    fn console_ended(&self, now: UnixMs) -> Result<Vec<(String, u64)>> {
        let sql = self.state.storage().sql();
        let list: Vec<(String, u64)> = match read_meta(&sql, "console_ended")? {
            Some(Ok(list)) => list,
            None => Vec::new(),
            Some(Err(e)) => {
                worker::console_error!("coordinator: console sessions unreadable, all ended: {e}");
                vec![("*".to_owned(), now.secs().saturating_add(CONSOLE_SESSION_S))]
            }
        };
        Ok(list
            .into_iter()
            .filter(|(_, until)| *until > now.secs())
            .collect())
    }

    /// Applies a revocation, stores it and audits it: `{"ticket": "XXXX-XXXX"}` or
    /// `{"before": ms}` said back, with whether it was new.
    fn revoke(&self, revoke: Revoke, who: &str, now: UnixMs) -> std::result::Result<Value, String> {
        self.with_room(now, |room, writes| {
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
            writes.meta("revocations", &room.revocations);
            if let Some(entry) = entry {
                audit_writes(writes, &entry);
            }
            json!({ "revoked": said })
        })
    }

    /// The history's row for the minute in progress (one upsert), and, when a new minute
    /// begins, the deletion of minutes past [`history::HISTORY_KEEP_MINUTES`].
    fn minute_writes(&self, writes: &mut Writes, m: &Minute) {
        writes.push(
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
        if self.written_minute.get() != m.minute.0 {
            writes.push(
                "DELETE FROM history WHERE minute < ?",
                vec![int(history::keep_from(m.minute).0)],
            );
        }
    }

    /// Runs `f` on the loaded room (loading it from storage on first use), then stores what it
    /// changed, with what `f` added to the writes, in one transaction. If that fails the room
    /// in memory is dropped, so the next call reads storage again: nothing `f` did counts, and
    /// the caller answers that it was not stored.
    fn with_room<T>(
        &self,
        now: UnixMs,
        f: impl FnOnce(&mut Room, &mut Writes) -> T,
    ) -> std::result::Result<T, String> {
        let storage = self.state.storage();
        let sql = storage.sql();
        let settle = settle_ms(
            crate::shared::settings::sync_interval_ms(&self.env),
            crate::shared::settings::sync_timeout_ms(&self.env),
        );
        let mut slot = self.room.borrow_mut();
        let mut writes = Writes::default();
        let room = match slot.as_mut() {
            Some(room) => room,
            None => {
                let mut room = load(&sql, now, settle).map_err(|e| e.to_string())?;
                if room.epoch == 0 {
                    // A room stored for the first time (or from before identities): it draws
                    // one, and stores it with its config, so that from now on a missing record
                    // is told from a new room.
                    let mut epoch = [0u8; 8];
                    getrandom::fill(&mut epoch).map_err(|_| "no randomness".to_owned())?;
                    room.epoch = u64::from_be_bytes(epoch).max(1);
                    writes.meta("epoch", &room.epoch);
                    writes.meta("config", &room.config);
                }
                if let Some(problem) = &room.problem {
                    worker::console_error!(
                        "coordinator: stored state unreadable, room kept paused: {problem}"
                    );
                    writes.meta("config", &room.config);
                    writes.meta("problem", &room.problem);
                }
                slot.insert(room)
            }
        };
        let epoch = room.epoch;
        let out = f(room, &mut writes);
        if let Some(since) = room.draw_due() {
            // A pre-queue began: its draw's seed is drawn now and stored with the change that
            // began it, so its commitment is published from the start and never changes.
            let mut seed = [0u8; 32];
            match getrandom::fill(&mut seed) {
                Ok(()) => {
                    room.set_seed(since, seed);
                    writes.meta("draw_seed", &room.seed);
                }
                Err(_) => worker::console_error!("coordinator: no randomness for the draw's seed"),
            }
        }
        if room.epoch != epoch {
            // Taken back from a sender after a loss (`Room::sync`), with the pause and why.
            writes.meta("epoch", &room.epoch);
            writes.meta("config", &room.config);
            writes.meta("problem", &room.problem);
        }
        // The room moved its own config (the autopilot's rate, the origin's slots): stored,
        // with the autopilot's audit entries.
        if room.take_config_moved() {
            writes.meta("config", &room.config);
        }
        for entry in &room.take_audit() {
            audit_writes(&mut writes, entry);
        }
        progress_writes(&mut writes, room);
        self.minute_writes(&mut writes, &room.minute);
        let minute = room.minute.minute.0;
        match writes.commit(&storage) {
            Ok(()) => {
                self.written_minute.set(minute);
                Ok(out)
            }
            Err(e) => {
                worker::console_error!("coordinator: a write failed, nothing of it counts: {e}");
                *slot = None;
                Err(e)
            }
        }
    }
}

/// The coordinator's `isolates` table, from before the aggregator's and its own senders were
/// kept alike, moved into `senders` once.
fn migrate_isolates(sql: &SqlStorage) {
    let old = sql
        .exec(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'isolates'",
            None,
        )
        .ok()
        .and_then(|c| store::rows(c).ok())
        .is_some_and(|r| !r.is_empty());
    if !old {
        return;
    }
    for statement in [
        "INSERT OR IGNORE INTO senders (id, seq, at, demand) \
         SELECT id, seq, at, demand FROM isolates",
        "DROP TABLE isolates",
    ] {
        if let Err(e) = store::run(sql, statement, Vec::new()) {
            worker::console_error!("storage: {e}");
            return;
        }
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
    let problem = match read_meta::<Option<String>>(sql, "problem")? {
        Some(Ok(p)) => p,
        Some(Err(e)) => Some(format!("problem: {e}")),
        None => None,
    };
    let minute = read_history_from(sql, history::start_of_minute(now).0)?
        .into_iter()
        .next();
    let epoch = match read_meta::<u64>(sql, "epoch")? {
        Some(Ok(epoch)) => Some(epoch),
        None => None,
        // An identity that cannot be read is as good as one: the room is not new.
        Some(Err(e)) => {
            worker::console_error!("coordinator: stored identity unreadable: {e}");
            Some(u64::MAX)
        }
    };
    let stored = Restored {
        epoch,
        minute,
        revocations: read_meta(sql, "revocations")?,
        config: read_meta(sql, "config")?,
        release: read_meta(sql, "release")?,
        ledger: read_meta(sql, "ledger")?,
        totals: read_meta(sql, "totals")?,
        problem,
        places,
        senders: store::load_senders(sql)?,
        notices: store::load_notices(sql)?,
        seed: read_meta(sql, "draw_seed")?,
    };
    Ok(Room::restore(stored, now, settle_ms))
}

/// What every call may change: the cursor, the ledger, the totals, and the places and senders
/// the core says changed (counted, given up, forgotten).
fn progress_writes(writes: &mut Writes, room: &mut Room) {
    writes.meta("release", &room.release);
    writes.meta("ledger", &room.ledger);
    writes.meta("totals", &room.totals);
    for (key, n) in room.places.take_changes() {
        writes.place_count(PlaceTable::Held, key, i64::try_from(n).unwrap_or(i64::MAX));
    }
    writes.senders(&room.senders.take_changes());
    writes.notices(&room.notices.take_changes());
}

/// The answer to a call whose changes could not be stored: the caller tries again.
fn unstored(why: &str) -> Result<Response> {
    Response::error(format!("not stored: {why}"), 503)
}

/// The 400 answer naming the field an operator got wrong.
fn refused(e: &ConfigError) -> Result<Response> {
    Ok(Response::from_json(&json!({ "error": e.to_string(), "field": e.field }))?.with_status(400))
}

/// Appends an entry and drops those past the last [`AUDIT_KEEP`].
fn audit_writes(writes: &mut Writes, e: &AuditEntry) {
    writes.push(
        "INSERT INTO audit (at, who, what, from_v, to_v, why) VALUES (?, ?, ?, ?, ?, ?)",
        vec![
            int(e.at.0),
            e.who.as_str().into(),
            e.what.as_str().into(),
            e.from.to_string().into(),
            e.to.to_string().into(),
            e.why.as_deref().map_or(SqlStorageValue::Null, Into::into),
        ],
    );
    writes.push(
        "DELETE FROM audit WHERE id <= (SELECT MAX(id) FROM audit) - ?",
        vec![int(AUDIT_KEEP)],
    );
}

/// The entries at or after `since`, oldest first.
fn read_audit(sql: &SqlStorage, since: u64) -> Result<Vec<AuditEntry>> {
    let rows = store::rows(sql.exec(
        "SELECT at, who, what, from_v, to_v, why FROM audit WHERE at >= ? ORDER BY id",
        vec![int(since)],
    )?)?;
    let value = |column| serde_json::from_str(store::text(column)?).ok();
    Ok(rows
        .iter()
        .filter_map(|row| {
            let [at, who, what, from, to, why] = row.as_slice() else {
                return None;
            };
            Some(AuditEntry {
                at: UnixMs(store::count(at).unwrap_or(0)),
                who: store::text(who)?.to_owned(),
                what: store::text(what)?.to_owned(),
                from: value(from).unwrap_or(Value::Null),
                to: value(to).unwrap_or(Value::Null),
                why: store::text(why).map(str::to_owned),
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
