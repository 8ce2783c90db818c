//! What the two Durable Objects' SQLite storage shares: a `meta` table of versioned records
//! (`room::encode`/`decode`), one `senders` table of what a receiver knows of each sender
//! (`sync::Seen`, the coordinator's aggregators and the aggregator's isolates alike), and
//! writes made as one transaction.
//!
//! The objects write exactly what the core decided changed (the places and senders each
//! `take_changes`), never a rule of their own in SQL. A write that fails fails the
//! whole transaction and the call: the object then forgets what it holds in memory, so the
//! next call reads storage again, and the sender, unanswered, sends its batch again. So a
//! batch is acknowledged only after it is stored (ARCHITECTURE.md, invariant 6).

use edgegate_core::places::PlaceKey;
use edgegate_core::room::{decode, encode};
use edgegate_core::sync::{Notice, NoticeKind, Seen};
use edgegate_core::UnixMs;
use serde::de::DeserializeOwned;
use serde::Serialize;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use worker::{SqlCursor, SqlStorage, SqlStorageValue, Storage};

/// The `meta` table's schema.
pub const META_DDL: &str = "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)";

/// The `senders` table's schema: every field of `Seen`, one row a sender.
pub const SENDERS_DDL: &str = "CREATE TABLE IF NOT EXISTS senders (id TEXT PRIMARY KEY, \
     seq INTEGER NOT NULL, at INTEGER NOT NULL, demand INTEGER NOT NULL, \
     waiting INTEGER NOT NULL DEFAULT 0, isolates INTEGER NOT NULL DEFAULT 0, \
     share_ppm INTEGER NOT NULL DEFAULT 0, cut_from_ppm INTEGER NOT NULL DEFAULT 0, \
     cut_until INTEGER NOT NULL DEFAULT 0, after_lease_per_mille INTEGER NOT NULL DEFAULT 0, \
     front INTEGER NOT NULL DEFAULT 0)";

/// The two tables of place counts.
#[derive(Clone, Copy, Debug)]
pub enum PlaceTable {
    /// The coordinator's places held, per arrival second and give-up slot.
    Held,
    /// An aggregator's place changes owed to the coordinator.
    Owed,
}

/// Why a write did not land.
pub type WriteError = String;

/// Creates what is missing of an object's schema, and adds the columns a table created by an
/// earlier version lacks. A statement that fails is logged and the object runs on with what it
/// has: its writes will fail and say why.
pub fn create(sql: &SqlStorage, ddl: &[&str]) {
    for statement in ddl {
        if let Err(e) = run(sql, statement, Vec::new()) {
            worker::console_error!("storage: {e}");
        }
    }
    // `senders` as the aggregator created it before the table was shared lacks the shares, and
    // as it was before shares were leased, what a sender keeps after its lease; the
    // coordinator's `audit` from before the autopilot lacks the reason for a change; and
    // before demand counted the front of the line, the senders' fronts.
    for (table, column, kind) in [
        ("senders", "share_ppm", "INTEGER NOT NULL DEFAULT 0"),
        ("senders", "cut_from_ppm", "INTEGER NOT NULL DEFAULT 0"),
        ("senders", "cut_until", "INTEGER NOT NULL DEFAULT 0"),
        (
            "senders",
            "after_lease_per_mille",
            "INTEGER NOT NULL DEFAULT 0",
        ),
        ("senders", "front", "INTEGER NOT NULL DEFAULT 0"),
        ("audit", "why", "TEXT"),
    ] {
        let exists = sql
            .exec(
                "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
                vec![table.into()],
            )
            .ok()
            .and_then(|c| rows(c).ok())
            .is_some_and(|r| !r.is_empty());
        let has = sql
            .exec(
                "SELECT 1 FROM pragma_table_info(?) WHERE name = ?",
                vec![table.into(), column.into()],
            )
            .ok()
            .and_then(|c| rows(c).ok())
            .is_some_and(|r| !r.is_empty());
        if exists && !has {
            let add = format!("ALTER TABLE {table} ADD COLUMN {column} {kind}");
            if let Err(e) = run(sql, &add, Vec::new()) {
                worker::console_error!("storage: {e}");
            }
        }
    }
}

/// Statements to run as one transaction ([`Writes::commit`]): built from what the core
/// decided changed, then run together, so all of them land or none does.
#[derive(Default)]
pub struct Writes(Vec<(&'static str, Vec<SqlStorageValue>)>);

impl Writes {
    pub fn push(&mut self, query: &'static str, args: Vec<SqlStorageValue>) {
        self.0.push((query, args));
    }

    /// Writes the record `key`, versioned.
    pub fn meta<T: Serialize>(&mut self, key: &str, value: &T) {
        self.push(
            "INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
            vec![key.into(), encode(value).into()],
        );
    }

    /// Stores a count of places held (`table`: the coordinator's `places`, or the aggregator's
    /// `owed_places`) as it stands now: `0` deletes its row.
    pub fn place_count(&mut self, table: PlaceTable, key: PlaceKey, n: i64) {
        let (delete, upsert) = match table {
            PlaceTable::Held => (
                "DELETE FROM places WHERE second = ? AND slot = ?",
                "INSERT INTO places (second, slot, n) VALUES (?, ?, ?) \
                 ON CONFLICT(second, slot) DO UPDATE SET n = excluded.n",
            ),
            PlaceTable::Owed => (
                "DELETE FROM owed_places WHERE second = ? AND slot = ?",
                "INSERT INTO owed_places (second, slot, n) VALUES (?, ?, ?) \
                 ON CONFLICT(second, slot) DO UPDATE SET n = excluded.n",
            ),
        };
        if n == 0 {
            self.push(delete, vec![int(key.second), int(key.slot)]);
        } else {
            self.push(upsert, vec![int(key.second), int(key.slot), n.into()]);
        }
    }

    /// Stores what changed of the notices that outlive a restart: a row written for each one
    /// put up or changed, deleted for each one taken down.
    pub fn notices(&mut self, changes: &[((NoticeKind, u64), Option<Notice>)]) {
        for ((kind, key), notice) in changes {
            let kind = kind_name(*kind);
            match notice {
                Some(n) => self.push(
                    "INSERT INTO notices (kind, k, v, until) VALUES (?, ?, ?, ?) \
                     ON CONFLICT(kind, k) DO UPDATE SET v = excluded.v, until = excluded.until",
                    vec![
                        kind.into(),
                        key.to_string().into(),
                        n.value.to_string().into(),
                        int(n.until.0),
                    ],
                ),
                None => self.push(
                    "DELETE FROM notices WHERE kind = ? AND k = ?",
                    vec![kind.into(), key.to_string().into()],
                ),
            }
        }
    }

    /// Stores what changed of the senders: a row written for each one changed, deleted for
    /// each one forgotten.
    pub fn senders(&mut self, changes: &[(String, Option<Seen>)]) {
        for (id, seen) in changes {
            match seen {
                Some(s) => self.push(
                    "INSERT INTO senders (id, seq, at, demand, waiting, isolates, share_ppm, \
                     cut_from_ppm, cut_until, after_lease_per_mille, front) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                     ON CONFLICT(id) DO UPDATE SET seq = excluded.seq, at = excluded.at, \
                     demand = excluded.demand, waiting = excluded.waiting, \
                     isolates = excluded.isolates, share_ppm = excluded.share_ppm, \
                     cut_from_ppm = excluded.cut_from_ppm, cut_until = excluded.cut_until, \
                     after_lease_per_mille = excluded.after_lease_per_mille, \
                     front = excluded.front",
                    vec![
                        id.as_str().into(),
                        int(s.seq),
                        int(s.at.0),
                        int(s.demand),
                        int(s.waiting),
                        int(s.isolates),
                        int(u64::from(s.share_ppm)),
                        int(u64::from(s.cut_from_ppm)),
                        int(s.cut_until.0),
                        int(u64::from(s.after_lease_per_mille)),
                        int(s.front),
                    ],
                ),
                None => self.push("DELETE FROM senders WHERE id = ?", vec![id.as_str().into()]),
            }
        }
    }

    /// Runs every statement in one transaction (`storage.transactionSync`): all of them land,
    /// or none does and the error says which failed.
    pub fn commit(self, storage: &Storage) -> Result<(), WriteError> {
        if self.0.is_empty() {
            return Ok(());
        }
        let sql = storage.sql();
        let raw: &JsValue = storage.as_raw().as_ref();
        let transaction = js_sys::Reflect::get(raw, &"transactionSync".into())
            .ok()
            .and_then(|f| f.dyn_into::<js_sys::Function>().ok())
            .ok_or("the storage has no transactionSync")?;
        let statements = self.0;
        let body = Closure::once_into_js(move || -> Result<JsValue, JsValue> {
            for (query, args) in statements {
                run(&sql, query, args).map_err(|e| JsValue::from_str(&e))?;
            }
            Ok(JsValue::UNDEFINED)
        });
        transaction
            .call1(raw, &body)
            .map(|_| ())
            .map_err(|e| e.as_string().unwrap_or_else(|| format!("{e:?}")))
    }
}

/// The record `key`: `None` if absent, `Some(Err)` saying why if it cannot be read.
pub fn read_meta<T: DeserializeOwned>(
    sql: &SqlStorage,
    key: &str,
) -> worker::Result<Option<Result<T, String>>> {
    let rows = rows(sql.exec("SELECT v FROM meta WHERE k = ?", vec![key.into()])?)?;
    Ok(rows.into_iter().next().map(|row| match row.as_slice() {
        [v] => decode(text(v).unwrap_or_default()),
        _ => Err("a meta row without its one column".to_owned()),
    }))
}

/// Every sender stored.
pub fn load_senders(sql: &SqlStorage) -> worker::Result<Vec<(String, Seen)>> {
    Ok(rows(sql.exec(
        "SELECT id, seq, at, demand, waiting, isolates, share_ppm, cut_from_ppm, cut_until, \
         after_lease_per_mille, front FROM senders",
        None,
    )?)?
    .iter()
    .filter_map(|row| {
        let [id, seq, at, demand, waiting, isolates, share, cut_from, cut_until, kept, front] =
            row.as_slice()
        else {
            return None;
        };
        let n = |column| count(column).unwrap_or(0);
        let ppm = |column| u32::try_from(n(column)).unwrap_or(0);
        let seen = Seen {
            seq: n(seq),
            at: UnixMs(n(at)),
            demand: n(demand),
            waiting: n(waiting),
            front: n(front),
            isolates: n(isolates),
            share_ppm: ppm(share),
            cut_from_ppm: ppm(cut_from),
            cut_until: UnixMs(n(cut_until)),
            after_lease_per_mille: ppm(kept),
            earliest: Default::default(),
        };
        Some((text(id)?.to_owned(), seen))
    })
    .collect())
}

/// Every row of `cursor`, each as its columns in the order the query names them. Rows are read
/// as values, not deserialized into a struct per query: workers-rs does that through
/// serde-wasm-bindgen, and one deserializer per row type was about 25 KB of the wasm.
pub fn rows(cursor: SqlCursor) -> worker::Result<Vec<Vec<SqlStorageValue>>> {
    cursor.raw().collect()
}

/// A column's integer, if it holds one.
pub fn integer(column: &SqlStorageValue) -> Option<i64> {
    match column {
        SqlStorageValue::Integer(i) => Some(*i),
        _ => None,
    }
}

/// A column's integer if it holds a count (not negative).
pub fn count(column: &SqlStorageValue) -> Option<u64> {
    u64::try_from(integer(column)?).ok()
}

/// A column's text, if it holds some.
pub fn text(column: &SqlStorageValue) -> Option<&str> {
    match column {
        SqlStorageValue::String(s) => Some(s),
        _ => None,
    }
}

/// Runs a statement; a failure says which.
pub fn run(sql: &SqlStorage, query: &str, args: Vec<SqlStorageValue>) -> Result<(), WriteError> {
    sql.exec(query, args)
        .map(|_| ())
        .map_err(|e| format!("{query}: {e}"))
}

/// A count as an SQLite integer (saturating: counts never come near 2^63).
pub fn int(n: u64) -> SqlStorageValue {
    i64::try_from(n).unwrap_or(i64::MAX).into()
}

fn kind_name(kind: NoticeKind) -> &'static str {
    match kind {
        NoticeKind::Ended => "ended",
        NoticeKind::Moved => "moved",
        NoticeKind::Full => "full",
    }
}

/// The stored notices (the coordinator's `notices` table); a row that cannot be read (none is
/// written so) is left out.
pub fn load_notices(sql: &SqlStorage) -> worker::Result<Vec<Notice>> {
    let rows = rows(sql.exec("SELECT kind, k, v, until FROM notices", None)?)?;
    Ok(rows
        .iter()
        .filter_map(|row| {
            let [kind, key, value, until] = row.as_slice() else {
                return None;
            };
            let kind = [NoticeKind::Ended, NoticeKind::Moved, NoticeKind::Full]
                .into_iter()
                .find(|k| Some(kind_name(*k)) == text(kind))?;
            let notice = Notice {
                kind,
                key: text(key)?.parse().ok()?,
                value: text(value)?.parse().ok()?,
                until: UnixMs(count(until)?),
            };
            Some(notice)
        })
        .collect())
}
