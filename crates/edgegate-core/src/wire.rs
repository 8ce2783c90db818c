//! The sync's binary form between an isolate and its location's aggregator.
//!
//! Every citizen's isolate sends a batch and reads the room's answer about once a second. JSON
//! would cost its wasm a text parser, number formatting and error messages (about a third of
//! what a citizen's isolate loads); the same serde types in `postcard`'s compact binary form
//! cost a fraction of that. The aggregator and the coordinator still speak JSON between
//! themselves and keep JSON in storage.
//!
//! Binary has no field names, so both ends must hold the same types: a request names the
//! [`VERSION`] it speaks in [`HEADER`], and an aggregator answers one it does not speak with
//! `409` (the isolate then runs fail-static until its Worker is deployed too). Change any type a
//! batch or an answer carries and bump [`VERSION`]; the golden bytes below fail until you do.
//!
//! JSON leaves out empty fields (`skip_serializing_if`), which a format without field names
//! cannot: every such field of a wire type says [`omitted`], which leaves it out of JSON and
//! keeps it in binary.

use std::cell::Cell;

use serde::de::DeserializeOwned;
use serde::Serialize;

/// The request header naming the binary form a sender speaks; a request without it is JSON.
pub const HEADER: &str = "edgegate-wire";
/// The binary form of this build's batches and answers (`SyncReport`, `RoomSnapshot`).
pub const VERSION: u32 = 3;
/// The content type of a body in binary form.
pub const CONTENT_TYPE: &str = "application/octet-stream";

/// The form a sync request's body is in, and its answer goes back in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Form {
    /// No [`HEADER`]: JSON, as an aggregator sends the coordinator (and isolates of builds
    /// before the binary form sent).
    Json,
    /// This build's binary form.
    Binary,
}

/// The form a request whose [`HEADER`] says `header` is in, or why it cannot be read: a version
/// this build does not speak (answered `409`, never misread).
pub fn form_of(header: Option<&str>) -> Result<Form, String> {
    match header.map(str::trim) {
        None => Ok(Form::Json),
        Some(v) if v.parse::<u32>() == Ok(VERSION) => Ok(Form::Binary),
        Some(v) => Err(format!(
            "this aggregator speaks binary sync {VERSION}, not {:?}",
            v.chars().take(16).collect::<String>()
        )),
    }
}

thread_local! {
    /// Set while [`encode`] runs: every field is written, empty or not.
    static BINARY: Cell<bool> = const { Cell::new(false) };
}

/// `value` in binary form.
pub fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    struct Reset;
    impl Drop for Reset {
        fn drop(&mut self) {
            BINARY.set(false);
        }
    }
    BINARY.set(true);
    let _reset = Reset;
    // Serializing into a vector fails only on a sequence of unknown length, which no wire
    // type has; an empty body is then refused by the reader, never misread.
    postcard::to_allocvec(value).unwrap_or_default()
}

/// The value `bytes` hold, every byte of them used. The error says where the bytes went
/// wrong, not how: postcard's messages for every way would be the citizen's wasm's to carry.
pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    match postcard::take_from_bytes(bytes) {
        Ok((value, [])) => Ok(value),
        Ok((_, rest)) => Err(format!("{} bytes past the end", rest.len())),
        Err(_) => Err(format!("unreadable binary sync of {} bytes", bytes.len())),
    }
}

/// A value JSON may leave out when it is empty.
pub trait Omittable {
    fn is_empty_value(&self) -> bool;
}

impl<T> Omittable for Option<T> {
    fn is_empty_value(&self) -> bool {
        self.is_none()
    }
}

impl<T> Omittable for Vec<T> {
    fn is_empty_value(&self) -> bool {
        self.is_empty()
    }
}

impl Omittable for u64 {
    fn is_empty_value(&self) -> bool {
        *self == 0
    }
}

impl Omittable for bool {
    fn is_empty_value(&self) -> bool {
        !*self
    }
}

/// For `skip_serializing_if`: leave `value` out of JSON when it is empty, never out of binary.
pub fn omitted<T: Omittable>(value: &T) -> bool {
    !BINARY.get() && value.is_empty_value()
}
