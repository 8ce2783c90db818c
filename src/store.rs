//! What the two Durable Objects share: the sync exchange between the levels, and in their SQLite
//! storage a `meta` table of versioned
//! records (`room::encode`/`decode`), and statements whose failure is logged, not fatal — a
//! write that fails leaves the in-memory state ahead of storage until the next write.

use edgegate_core::isolate::{RoomSnapshot, SyncReport};
use edgegate_core::room::{decode, encode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use worker::{Method, Request, RequestInit, SqlCursor, SqlStorage, SqlStorageValue};

/// The `meta` table's schema.
pub const META_DDL: &str = "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)";

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

/// Creates what is missing of an object's schema; a statement that fails is logged, and the
/// object runs on with what it has.
pub fn create(sql: &SqlStorage, ddl: &[&str]) {
    for statement in ddl {
        run(sql, statement, Vec::new());
    }
}

/// Sends a batch of counts to a Durable Object's `/sync` (an aggregator's, or the room
/// coordinator's) and reads its answer: the same exchange at both hops.
pub async fn sync_with(
    stub: &worker::Stub,
    url: &str,
    report: &SyncReport,
) -> worker::Result<RoomSnapshot> {
    let mut init = RequestInit::new();
    init.with_method(Method::Post)
        .with_body(Some(serde_json::to_string(report)?.into()));
    let mut resp = stub
        .fetch_with_request(Request::new_with_init(url, &init)?)
        .await?;
    match resp.status_code() {
        200 => resp.json().await,
        status => Err(worker::Error::RustError(format!("{url} answered {status}"))),
    }
}

/// Writes the record `key`, versioned.
pub fn save_meta<T: Serialize>(sql: &SqlStorage, key: &str, value: &T) {
    run(
        sql,
        "INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v",
        vec![key.into(), encode(value).into()],
    );
}

/// Runs a statement, logging a failure.
pub fn run(sql: &SqlStorage, query: &str, args: Vec<SqlStorageValue>) {
    if let Err(e) = sql.exec(query, args) {
        worker::console_error!("storage: {query}: {e}");
    }
}

/// A count as an SQLite integer (saturating: counts never come near 2^63).
pub fn int(n: u64) -> SqlStorageValue {
    i64::try_from(n).unwrap_or(i64::MAX).into()
}
