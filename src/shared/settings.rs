//! The deployment's settings (`edgegate_web::settings`), read from the workers-rs environment
//! once per isolate. A missing or malformed value is a deployment mistake: it is logged by name
//! and every request gets a plain 503, never a panic.

use worker::Env;

pub use edgegate_web::settings::{valid_location, Settings, CONSOLE_SESSION_S};

/// `env`'s setting `name` as text: a string binding (a `[vars]` value or a secret, which the
/// platform hands a Worker alike), or a JSON value it parsed already (`ROOM_ROUTES`), as JSON
/// text. The citizen's wasm reads its environment the same way (`edgegate_edge::platform`).
fn text(env: &Env, name: &str) -> Option<String> {
    let value = js_sys::Reflect::get(env, &name.into()).ok()?;
    if let Some(text) = value.as_string() {
        return Some(text);
    }
    if value.is_object() {
        return js_sys::JSON::stringify(&value).ok()?.as_string();
    }
    None
}

/// `SYNC_TIMEOUT_MS` (`edgegate_web::settings::sync_timeout_ms`).
pub fn sync_timeout_ms(env: &Env) -> u64 {
    edgegate_web::settings::sync_timeout_ms(&|name| text(env, name))
}

/// `FAIL_STATIC_PER_MILLE` (`edgegate_web::settings::fail_static_per_mille`).
pub fn fail_static_per_mille(env: &Env) -> u32 {
    edgegate_web::settings::fail_static_per_mille(&|name| text(env, name))
}

/// `SYNC_INTERVAL_MS` (`edgegate_web::settings::sync_interval_ms`).
pub fn sync_interval_ms(env: &Env) -> u64 {
    edgegate_web::settings::sync_interval_ms(&|name| text(env, name))
}

thread_local! {
    static SETTINGS: std::cell::RefCell<Option<std::rc::Rc<Settings>>> =
        const { std::cell::RefCell::new(None) };
}

/// The settings parsed from `env`, once per isolate.
pub fn get(env: &Env) -> Result<std::rc::Rc<Settings>, crate::shared::error::GateError> {
    if let Some(s) = SETTINGS.with_borrow(|s| s.clone()) {
        return Ok(s);
    }
    let parsed = std::rc::Rc::new(
        Settings::parse(
            &|name| text(env, name),
            edgegate_core::rooms::routes_from_json,
        )
        .map_err(crate::shared::error::GateError::Misconfigured)?,
    );
    SETTINGS.with_borrow_mut(|s| *s = Some(std::rc::Rc::clone(&parsed)));
    Ok(parsed)
}
