//! The platform's clock, read here and nowhere else in this Worker; the core is handed `now`.

/// The platform clock, in unix milliseconds.
pub fn now_ms() -> u64 {
    edgegate_web::whole_ms(js_sys::Date::now())
}
