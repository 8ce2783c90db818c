//! The platform's clock, read here and nowhere else in the Worker; the core is handed `now`.

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
