//! The SQLite store: schema, seed, and the one transaction that books a seat.
//!
//! Connections: one writer behind a mutex, and a few read-only readers. SQLite admits one writer
//! at a time whatever we do; queueing writers on an in-process mutex (instead of letting several
//! connections race for the file lock and spin in `busy_timeout`) keeps the booking transaction
//! short and fair, while WAL lets the readers serve slot listings concurrently with it. All calls
//! run on `spawn_blocking`, so a slow disk never stalls the async workers.
//!
//! Capacity is enforced inside a `BEGIN IMMEDIATE` transaction (check `booked < capacity`, then
//! insert and increment), and the schema backs it with `CHECK (booked <= capacity)`,
//! `UNIQUE(identity_hash, dose)` and `UNIQUE(ticket_id)`. Idempotency keys are looked up and
//! remembered in that same transaction, so two concurrent requests with one key cannot both book.

use std::fmt;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use edgegate_core::keys::hex;
use edgegate_core::UnixMs;
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use crate::date::Date;
use crate::domain::{seed_centres, Booking, Centre, Slot, SlotId, SLOT_HOURS};

/// Read-only connections kept open beside the writer.
const READERS: usize = 3;
/// The schema this code writes; stored in `PRAGMA user_version`.
const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE centres (
    id INTEGER PRIMARY KEY,
    name_ko TEXT NOT NULL,
    name_en TEXT NOT NULL,
    city_ko TEXT NOT NULL,
    city_en TEXT NOT NULL,
    district_ko TEXT NOT NULL,
    district_en TEXT NOT NULL,
    capacity_per_slot INTEGER NOT NULL CHECK (capacity_per_slot >= 0)
);
-- A row exists once a slot was booked or given its own capacity; see domain.rs.
CREATE TABLE slots (
    id TEXT PRIMARY KEY,
    centre_id INTEGER NOT NULL REFERENCES centres(id),
    date TEXT NOT NULL,
    time TEXT NOT NULL,
    capacity INTEGER NOT NULL CHECK (capacity >= 0),
    booked INTEGER NOT NULL DEFAULT 0 CHECK (booked >= 0 AND booked <= capacity),
    UNIQUE (centre_id, date, time)
);
-- No name, no birth date: the person is only a keyed hash of them.
CREATE TABLE bookings (
    id TEXT PRIMARY KEY,
    slot_id TEXT NOT NULL REFERENCES slots(id),
    identity_hash BLOB NOT NULL,
    dose INTEGER NOT NULL CHECK (dose BETWEEN 1 AND 4),
    ticket_id TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (identity_hash, dose),
    UNIQUE (ticket_id)
);
CREATE TABLE idempotency (
    key TEXT PRIMARY KEY,
    request_hash BLOB NOT NULL,
    status INTEGER NOT NULL,
    body TEXT NOT NULL,
    content_type TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
";

/// A database failure. Logged by the HTTP layer; never shown to a client.
#[derive(Debug)]
pub enum StoreError {
    Sqlite(rusqlite::Error),
    Io(std::io::Error),
    /// A blocking task was cancelled or panicked.
    Join(tokio::task::JoinError),
    /// A stored value this code cannot read back (e.g. a malformed slot id).
    Corrupt(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Sqlite(e) => write!(f, "sqlite: {e}"),
            StoreError::Io(e) => write!(f, "i/o: {e}"),
            StoreError::Join(e) => write!(f, "blocking task failed: {e}"),
            StoreError::Corrupt(what) => write!(f, "unreadable stored value: {what}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e)
    }
}

/// A booking about to be made. `identity_hash` is the keyed hash of the person, never the person.
#[derive(Clone, Debug)]
pub struct NewBooking {
    pub id: String,
    pub slot: SlotId,
    pub identity_hash: [u8; 32],
    pub dose: u8,
    pub ticket_id: [u8; 16],
    pub created_at: UnixMs,
}

/// Why a booking was not made. Each is a permanent answer for that request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The slot's centre does not exist.
    UnknownSlot,
    SlotFull,
    /// This person (identity hash) already holds a booking for this dose.
    AlreadyBooked,
    /// This pass's ticket already made a booking.
    TicketUsed,
}

/// A response as remembered for an idempotency key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    pub status: u16,
    pub content_type: String,
    pub body: String,
}

/// An idempotency key and the hash of the request it came with.
#[derive(Clone, Debug)]
pub struct Idempotency {
    pub key: String,
    pub request_hash: [u8; 32],
}

/// What [`Store::book`] did.
#[derive(Debug)]
pub enum BookResult {
    /// The request ran. `rendered` is the answer `render` made of the outcome; with a key, it
    /// is also what later requests with that key replay.
    Fresh {
        outcome: Result<Booking, Refusal>,
        rendered: Option<Stored>,
    },
    /// The key was seen before with the same request: here is the first answer.
    Replayed(Stored),
    /// The key was seen before with a different request.
    KeyReused,
}

/// The database. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    inner: Arc<Inner>,
}

struct Inner {
    writer: Mutex<Connection>,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    centres: Vec<Centre>,
}

impl fmt::Debug for Store {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Store {{ centres: {} }}", self.inner.centres.len())
    }
}

impl Store {
    /// Opens (creating the parent directory, schema and seed if the file is new) and loads the
    /// centre list. Blocking: call it at start-up.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(StoreError::Io)?;
        }
        let mut writer = Connection::open(path)?;
        configure(&writer)?;
        writer
            .pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get::<_, String>(0))?;
        migrate(&mut writer)?;
        let centres = load_centres(&writer)?;
        let readers = (0..READERS)
            .map(|_| {
                let conn = Connection::open(path)?;
                configure(&conn)?;
                conn.pragma_update(None, "query_only", true)?;
                Ok(Mutex::new(conn))
            })
            .collect::<Result<Vec<_>, StoreError>>()?;
        Ok(Store {
            inner: Arc::new(Inner {
                writer: Mutex::new(writer),
                readers,
                next_reader: AtomicUsize::new(0),
                centres,
            }),
        })
    }

    /// The centres, in id order. Fixed after the seed, so held in memory.
    pub fn centres(&self) -> &[Centre] {
        &self.inner.centres
    }

    pub fn centre(&self, id: u32) -> Option<&Centre> {
        self.inner.centres.iter().find(|c| c.id == id)
    }

    /// The day's slots at `centre`, in time order, with their seats.
    pub async fn slots(&self, centre: &Centre, date: Date) -> Result<Vec<Slot>, StoreError> {
        let centre_id = centre.id;
        let default_capacity = centre.capacity_per_slot;
        let rows = self
            .read(move |conn| {
                let mut stmt = conn.prepare_cached(
                    "SELECT id, capacity, booked FROM slots WHERE centre_id = ?1 AND date = ?2",
                )?;
                let rows = stmt
                    .query_map(params![centre_id, date.to_string()], |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, u32>(1)?,
                            row.get::<_, u32>(2)?,
                        ))
                    })?
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(rows)
            })
            .await?;
        Ok(SLOT_HOURS
            .map(|hour| {
                let id = SlotId {
                    centre_id,
                    date,
                    hour,
                };
                let text = id.to_string();
                let (capacity, booked) = rows
                    .iter()
                    .find(|(stored, _, _)| *stored == text)
                    .map_or((default_capacity, 0), |&(_, c, b)| (c, b));
                Slot {
                    id,
                    capacity,
                    booked,
                }
            })
            .collect())
    }

    /// The booking with this id, if any.
    pub async fn booking(&self, id: &str) -> Result<Option<Booking>, StoreError> {
        let id = id.to_owned();
        let row = self
            .read(move |conn| {
                conn.prepare_cached("SELECT id, slot_id, dose FROM bookings WHERE id = ?1")?
                    .query_row([&id], |row| {
                        Ok((
                            row.get::<_, String>(0)?,
                            row.get::<_, String>(1)?,
                            row.get::<_, u8>(2)?,
                        ))
                    })
                    .optional()
            })
            .await?;
        row.map(|(id, slot, dose)| {
            let slot =
                SlotId::parse(&slot).ok_or(StoreError::Corrupt(format!("slot id {slot:?}")))?;
            Ok(Booking { id, slot, dose })
        })
        .transpose()
    }

    /// How many bookings exist.
    pub async fn booking_count(&self) -> Result<u64, StoreError> {
        let count: i64 = self
            .read(|conn| conn.query_row("SELECT COUNT(*) FROM bookings", [], |row| row.get(0)))
            .await?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// Gives one slot its own capacity (for operators, tests and the benchmark). Refused by the
    /// schema if it would fall below the seats already booked.
    pub async fn set_slot_capacity(&self, slot: SlotId, capacity: u32) -> Result<(), StoreError> {
        self.write(move |conn| {
            conn.execute(
                "INSERT INTO slots (id, centre_id, date, time, capacity, booked)
                 VALUES (?1, ?2, ?3, ?4, ?5, 0)
                 ON CONFLICT (id) DO UPDATE SET capacity = excluded.capacity",
                params![
                    slot.to_string(),
                    slot.centre_id,
                    slot.date.to_string(),
                    slot.time(),
                    capacity
                ],
            )?;
            Ok(())
        })
        .await
    }

    /// Books a seat, all in one `BEGIN IMMEDIATE` transaction: the idempotency key first (replay or
    /// refuse a reuse), then the ticket, the person and the seat. `render` turns the outcome into
    /// the answer, inside the transaction, so that with a key the answer is remembered atomically
    /// with the booking; it returns `None` for outcomes it does not answer from here (e.g. a page
    /// that would hold personal data and so must not be stored).
    pub async fn book<F>(
        &self,
        booking: NewBooking,
        idempotency: Option<Idempotency>,
        render: F,
    ) -> Result<BookResult, StoreError>
    where
        F: FnOnce(&Result<Booking, Refusal>) -> Option<Stored> + Send + 'static,
    {
        self.write(move |conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if let Some(key) = &idempotency {
                let seen = tx
                    .prepare_cached(
                        "SELECT request_hash, status, content_type, body FROM idempotency
                         WHERE key = ?1",
                    )?
                    .query_row([&key.key], |row| {
                        Ok((
                            row.get::<_, Vec<u8>>(0)?,
                            Stored {
                                status: row.get(1)?,
                                content_type: row.get(2)?,
                                body: row.get(3)?,
                            },
                        ))
                    })
                    .optional()?;
                if let Some((hash, stored)) = seen {
                    return Ok(if hash == key.request_hash {
                        BookResult::Replayed(stored)
                    } else {
                        BookResult::KeyReused
                    });
                }
            }
            let outcome = insert_booking(&tx, &booking)?;
            let rendered = render(&outcome);
            if let (Some(key), Some(stored)) = (&idempotency, &rendered) {
                tx.execute(
                    "INSERT INTO idempotency
                     (key, request_hash, status, body, content_type, created_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    params![
                        key.key,
                        key.request_hash.as_slice(),
                        stored.status,
                        stored.body,
                        stored.content_type,
                        millis(booking.created_at)
                    ],
                )?;
            }
            tx.commit()?;
            Ok(BookResult::Fresh { outcome, rendered })
        })
        .await
    }

    async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let n = inner.next_reader.fetch_add(1, Ordering::Relaxed) % READERS;
            let slot = inner.readers.get(n).unwrap_or(&inner.writer);
            // A poisoned mutex only means another call panicked mid-way; the connection itself
            // is still consistent (SQLite rolls back unfinished transactions).
            let conn = slot.lock().unwrap_or_else(PoisonError::into_inner);
            f(&conn).map_err(StoreError::from)
        })
        .await
        .map_err(StoreError::Join)?
    }

    async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        tokio::task::spawn_blocking(move || {
            let mut conn = inner.writer.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut conn)
        })
        .await
        .map_err(StoreError::Join)?
    }
}

/// The checks and writes of one booking, inside the caller's transaction.
fn insert_booking(
    tx: &rusqlite::Transaction<'_>,
    booking: &NewBooking,
) -> Result<Result<Booking, Refusal>, StoreError> {
    let slot_text = booking.slot.to_string();
    let ticket = hex(&booking.ticket_id);
    tx.prepare_cached(
        "INSERT OR IGNORE INTO slots (id, centre_id, date, time, capacity, booked)
         SELECT ?1, id, ?2, ?3, capacity_per_slot, 0 FROM centres WHERE id = ?4",
    )?
    .execute(params![
        slot_text,
        booking.slot.date.to_string(),
        booking.slot.time(),
        booking.slot.centre_id
    ])?;
    let Some((capacity, booked)) = tx
        .prepare_cached("SELECT capacity, booked FROM slots WHERE id = ?1")?
        .query_row([&slot_text], |row| {
            Ok((row.get::<_, u32>(0)?, row.get::<_, u32>(1)?))
        })
        .optional()?
    else {
        return Ok(Err(Refusal::UnknownSlot));
    };
    let ticket_used = tx
        .prepare_cached("SELECT 1 FROM bookings WHERE ticket_id = ?1")?
        .exists([&ticket])?;
    if ticket_used {
        return Ok(Err(Refusal::TicketUsed));
    }
    let already = tx
        .prepare_cached("SELECT 1 FROM bookings WHERE identity_hash = ?1 AND dose = ?2")?
        .exists(params![booking.identity_hash.as_slice(), booking.dose])?;
    if already {
        return Ok(Err(Refusal::AlreadyBooked));
    }
    if booked >= capacity {
        return Ok(Err(Refusal::SlotFull));
    }
    tx.prepare_cached(
        "INSERT INTO bookings (id, slot_id, identity_hash, dose, ticket_id, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        booking.id,
        slot_text,
        booking.identity_hash.as_slice(),
        booking.dose,
        ticket,
        millis(booking.created_at)
    ])?;
    tx.prepare_cached("UPDATE slots SET booked = booked + 1 WHERE id = ?1")?
        .execute([&slot_text])?;
    Ok(Ok(Booking {
        id: booking.id.clone(),
        slot: booking.slot,
        dose: booking.dose,
    }))
}

/// SQLite integers are i64; a `UnixMs` beyond that is clamped (year 292 million).
fn millis(t: UnixMs) -> i64 {
    i64::try_from(t.0).unwrap_or(i64::MAX)
}

fn configure(conn: &Connection) -> Result<(), StoreError> {
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(())
}

/// Creates the schema and seeds the centres on a fresh file; leaves an existing one alone.
fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let version: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    if version != 0 {
        return Err(StoreError::Corrupt(format!(
            "schema version {version}, this build knows {SCHEMA_VERSION}"
        )));
    }
    tx.execute_batch(SCHEMA)?;
    {
        let mut insert = tx.prepare(
            "INSERT INTO centres
             (id, name_ko, name_en, city_ko, city_en, district_ko, district_en, capacity_per_slot)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?;
        for c in seed_centres() {
            insert.execute(params![
                c.id,
                c.name_ko,
                c.name_en,
                c.city_ko,
                c.city_en,
                c.district_ko,
                c.district_en,
                c.capacity_per_slot
            ])?;
        }
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

fn load_centres(conn: &Connection) -> Result<Vec<Centre>, StoreError> {
    let mut stmt = conn.prepare(
        "SELECT id, name_ko, name_en, city_ko, city_en, district_ko, district_en, capacity_per_slot
         FROM centres ORDER BY id",
    )?;
    let centres = stmt
        .query_map([], |row| {
            Ok(Centre {
                id: row.get(0)?,
                name_ko: row.get(1)?,
                name_en: row.get(2)?,
                city_ko: row.get(3)?,
                city_en: row.get(4)?,
                district_ko: row.get(5)?,
                district_en: row.get(6)?,
                capacity_per_slot: row.get(7)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(centres)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn booking(id: &str, slot: SlotId, person: u8, ticket: u8) -> NewBooking {
        NewBooking {
            id: id.to_owned(),
            slot,
            identity_hash: [person; 32],
            dose: 1,
            ticket_id: [ticket; 16],
            created_at: UnixMs(1),
        }
    }

    fn fresh(result: BookResult) -> Result<Booking, Refusal> {
        match result {
            BookResult::Fresh { outcome, .. } => outcome,
            other => panic!("expected a fresh outcome, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn seeds_once_and_enforces_every_rule() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/origin.db");
        let store = Store::open(&path).unwrap();
        assert_eq!(store.centres().len(), 30);
        let date = Date::new(2021, 7, 12).unwrap();
        // 서귀포 (id 30) has one seat per slot.
        let slot = SlotId {
            centre_id: 30,
            date,
            hour: 9,
        };
        let ok = fresh(
            store
                .book(booking("a", slot, 1, 1), None, |_| None)
                .await
                .unwrap(),
        );
        assert_eq!(ok.map(|b| b.id), Ok("a".to_owned()));
        let refusals = [
            (booking("b", slot, 2, 1), Refusal::TicketUsed),
            (booking("c", slot, 1, 2), Refusal::AlreadyBooked),
            (booking("d", slot, 3, 3), Refusal::SlotFull),
            (
                booking(
                    "e",
                    SlotId {
                        centre_id: 99,
                        ..slot
                    },
                    4,
                    4,
                ),
                Refusal::UnknownSlot,
            ),
        ];
        for (b, want) in refusals {
            assert_eq!(
                fresh(store.book(b, None, |_| None).await.unwrap()),
                Err(want)
            );
        }
        assert_eq!(store.booking_count().await.unwrap(), 1);
        let centre = store.centre(30).unwrap().clone();
        let slots = store.slots(&centre, date).await.unwrap();
        assert_eq!(slots.len(), 9);
        assert_eq!(slots.first().map(Slot::remaining), Some(0));
        assert_eq!(slots.get(1).map(Slot::remaining), Some(1));
        assert_eq!(
            store.booking("a").await.unwrap(),
            Some(Booking {
                id: "a".to_owned(),
                slot,
                dose: 1
            })
        );
        assert_eq!(store.booking("zz").await.unwrap(), None);

        // Raising the capacity opens the slot again; lowering it below the booked seats fails.
        store.set_slot_capacity(slot, 2).await.unwrap();
        assert!(fresh(
            store
                .book(booking("d", slot, 3, 3), None, |_| None)
                .await
                .unwrap()
        )
        .is_ok());
        assert!(store.set_slot_capacity(slot, 1).await.is_err());

        // Reopening keeps the data.
        drop(store);
        let again = Store::open(&path).unwrap();
        assert_eq!(again.booking_count().await.unwrap(), 2);
    }

    #[tokio::test]
    async fn idempotency_keys_replay_or_refuse() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("o.db")).unwrap();
        let slot = SlotId {
            centre_id: 1,
            date: Date::new(2021, 7, 12).unwrap(),
            hour: 10,
        };
        let key = |hash: u8| {
            Some(Idempotency {
                key: "k1".to_owned(),
                request_hash: [hash; 32],
            })
        };
        let answer = |outcome: &Result<Booking, Refusal>| {
            Some(Stored {
                status: 201,
                content_type: "text/plain".to_owned(),
                body: format!("{outcome:?}"),
            })
        };
        let first = store
            .book(booking("a", slot, 1, 1), key(7), answer)
            .await
            .unwrap();
        let BookResult::Fresh {
            rendered: Some(first),
            ..
        } = first
        else {
            panic!("expected a fresh, remembered outcome");
        };
        match store
            .book(booking("b", slot, 1, 1), key(7), answer)
            .await
            .unwrap()
        {
            BookResult::Replayed(stored) => assert_eq!(stored, first),
            other => panic!("expected a replay, got {other:?}"),
        }
        assert!(matches!(
            store
                .book(booking("c", slot, 2, 2), key(8), answer)
                .await
                .unwrap(),
            BookResult::KeyReused
        ));
        assert_eq!(store.booking_count().await.unwrap(), 1);
    }
}
