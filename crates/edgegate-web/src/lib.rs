//! What both of edgegate's wasm modules share, written once and free of any framework: the
//! citizen's edge (`crates/edgegate-edge`, plain wasm-bindgen, loaded by every citizen's
//! isolate) and the room's objects with the operator's API (`src/`, workers-rs). Each turns
//! these into its own platform's types; nothing here reads a clock, an environment or a
//! request.

pub mod client;
pub mod headers;
pub mod pages;
pub mod settings;

/// The key of an isolate's book for `room` in `location`: one per room and location an isolate
/// serves, and the name of that pair's aggregator.
pub fn book_key(room: &str, location: &str) -> String {
    format!("{room}@{location}")
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
