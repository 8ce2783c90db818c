//! What the two Durable Objects share: the sync exchange between the levels, and in their SQLite
//! storage a `meta` table of versioned
//! records (`room::encode`/`decode`), and statements whose failure is logged, not fatal — a
//! write that fails leaves the in-memory state ahead of storage until the next write.

use edgegate_core::isolate::{RoomSnapshot, SyncReport};
use edgegate_core::room::{decode, encode};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use worker::{Method, Request, RequestInit, SqlStorage, SqlStorageValue};

/// The `meta` table's schema.
pub const META_DDL: &str = "CREATE TABLE IF NOT EXISTS meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)";

#[derive(Deserialize)]
struct MetaRow {
    v: String,
}

/// The record `key`: `None` if absent, `Some(Err)` saying why if it cannot be read.
pub fn read_meta<T: DeserializeOwned>(
    sql: &SqlStorage,
    key: &str,
) -> worker::Result<Option<Result<T, String>>> {
    let rows: Vec<MetaRow> = sql
        .exec("SELECT v FROM meta WHERE k = ?", vec![key.into()])?
        .to_array()?;
    Ok(rows.into_iter().next().map(|r| decode(&r.v)))
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
