//! What the citizen's wasm takes from the platform, with no framework: the environment the
//! entry hands over (its settings), the clock, the background tasks of a request
//! (`ctx.waitUntil`), timers, the aggregators' Durable Object namespace, and the console. The
//! only file of this crate that names a JS type.

use std::cell::RefCell;
use std::rc::Rc;

use edgegate_core::sync::{RoomSnapshot, SyncReport};
use edgegate_core::{wire, UnixMs};
use js_sys::{Object, Promise, Reflect};
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;

use edgegate_web::settings::Settings;

#[wasm_bindgen]
extern "C" {
    /// The request's context, for work that outlives the answer.
    pub type Ctx;
    #[wasm_bindgen(method, js_name = waitUntil)]
    fn wait_until(this: &Ctx, promise: &Promise);

    /// A Durable Object namespace (`env.LOCATIONS`).
    type Namespace;
    #[wasm_bindgen(catch, method, js_name = idFromName)]
    fn id_from_name(this: &Namespace, name: &str) -> Result<JsValue, JsValue>;
    #[wasm_bindgen(catch, method)]
    fn get(this: &Namespace, id: &JsValue) -> Result<Stub, JsValue>;

    /// One Durable Object.
    type Stub;
    #[wasm_bindgen(catch, method)]
    fn fetch(this: &Stub, url: &str, init: &JsValue) -> Result<Promise, JsValue>;

    /// A Durable Object's answer.
    type Reply;
    #[wasm_bindgen(method, getter)]
    fn status(this: &Reply) -> u16;
    #[wasm_bindgen(catch, method)]
    fn text(this: &Reply) -> Result<Promise, JsValue>;
    #[wasm_bindgen(catch, method, js_name = arrayBuffer)]
    fn array_buffer(this: &Reply) -> Result<Promise, JsValue>;

    #[wasm_bindgen(js_name = setTimeout)]
    fn set_timeout(f: &js_sys::Function, ms: f64) -> JsValue;

    #[wasm_bindgen(js_namespace = console)]
    pub fn warn(message: &str);
    #[wasm_bindgen(js_namespace = console)]
    pub fn error(message: &str);
}

/// The platform clock, in unix milliseconds: read here and nowhere else in this crate.
pub fn now_ms() -> u64 {
    edgegate_web::whole_ms(js_sys::Date::now())
}

/// The one error of the citizen's edge: the deployment is misconfigured (503), or something
/// inside the gate failed (500). Logged once, answered with a plain page that leaks nothing.
#[derive(Debug)]
pub enum GateError {
    Misconfigured(String),
    Internal(String),
}

impl GateError {
    /// The status and HTML of the page that answers this error (logged here, once).
    pub fn into_page(self) -> (u16, String) {
        let (status, detail) = match &self {
            GateError::Misconfigured(d) => (503, d),
            GateError::Internal(d) => (500, d),
        };
        error(&format!("edgegate: {status}: {detail}"));
        (status, edgegate_web::pages::something_went_wrong())
    }
}

pub mod settings {
    //! The deployment's settings, from the environment the entry hands over, once per isolate.
    use super::{GateError, JsCast, JsValue, Rc, RefCell, Reflect, Settings};
    use edgegate_core::rooms::{Route, ROUTE_FIELDS};

    thread_local! {
        static SETTINGS: RefCell<Option<Rc<Settings>>> = const { RefCell::new(None) };
    }

    /// `env`'s setting `name` as text: a string binding (a `[vars]` value or a secret), or a
    /// JSON value the platform parsed already, as JSON text.
    fn text(env: &JsValue, name: &str) -> Option<String> {
        let value = Reflect::get(env, &name.into()).ok()?;
        if let Some(text) = value.as_string() {
            return Some(text);
        }
        if value.is_object() {
            return js_sys::JSON::stringify(&value).ok()?.as_string();
        }
        None
    }

    /// The settings parsed from `env`, once per isolate.
    pub fn get(env: &JsValue) -> Result<Rc<Settings>, GateError> {
        if let Some(s) = SETTINGS.with_borrow(Clone::clone) {
            return Ok(s);
        }
        let parsed = Rc::new(
            Settings::parse(&|name| text(env, name), routes).map_err(GateError::Misconfigured)?,
        );
        SETTINGS.with_borrow_mut(|s| *s = Some(Rc::clone(&parsed)));
        Ok(parsed)
    }

    /// `ROOM_ROUTES`' JSON text read by the platform's JSON parser, to the same rules as the
    /// room's Worker's (`rooms::routes_from_json`): a list of objects whose fields are text or
    /// `null`, `name` required, no other field. One difference is left: `JSON.parse` keeps the
    /// last of a field written twice in one room, which serde_json refuses, so such a setting
    /// is a 503 at the admin API (logged by name) while the gate serves the last value.
    fn routes(text: &str) -> Result<Vec<Route>, String> {
        let refuse = |why: &str| format!("ROOM_ROUTES: {why}");
        let list = js_sys::JSON::parse(text).map_err(|_| refuse("not JSON"))?;
        if !js_sys::Array::is_array(&list) {
            return Err(refuse("must be a JSON list of rooms"));
        }
        js_sys::Array::from(&list)
            .iter()
            .map(|entry| {
                if !entry.is_object() || js_sys::Array::is_array(&entry) {
                    return Err(refuse("each room must be an object"));
                }
                for key in js_sys::Object::keys(entry.unchecked_ref::<js_sys::Object>()).iter() {
                    let key = key.as_string().unwrap_or_default();
                    if !ROUTE_FIELDS.contains(&key.as_str()) {
                        return Err(refuse(&format!("unknown field {key:?}")));
                    }
                }
                let field = |name: &str| -> Result<Option<String>, String> {
                    let value = Reflect::get(&entry, &name.into()).unwrap_or(JsValue::NULL);
                    if value.is_null() || value.is_undefined() {
                        return Ok(None);
                    }
                    value
                        .as_string()
                        .map(Some)
                        .ok_or_else(|| refuse(&format!("{name} must be text")))
                };
                Ok(Route {
                    name: field("name")?.ok_or_else(|| refuse("each room needs a name"))?,
                    host: field("host")?,
                    prefix: field("prefix")?,
                    origin: field("origin")?,
                })
            })
            .collect()
    }

    /// The settings, if a request has parsed them already in this isolate.
    pub fn cached() -> Option<Rc<Settings>> {
        SETTINGS.with_borrow(Clone::clone)
    }
}

/// Runs `task` after the answer, for as long as it takes (`ctx.waitUntil`).
pub fn in_background(ctx: &Ctx, task: impl std::future::Future<Output = ()> + 'static) {
    ctx.wait_until(&wasm_bindgen_futures::future_to_promise(async move {
        task.await;
        Ok(JsValue::UNDEFINED)
    }));
}

/// A promise that resolves after `ms` milliseconds.
fn timer(ms: u64) -> Promise {
    #[allow(clippy::cast_precision_loss, reason = "a delay of a few seconds")]
    let ms = ms as f64;
    Promise::new(&mut |resolve, _| {
        set_timeout(&resolve, ms);
    })
}

/// Waits `ms` milliseconds.
pub async fn sleep(ms: u64) {
    let _ = JsFuture::from(timer(ms)).await;
}

/// Sends `report` to the aggregator named `name` (`env.LOCATIONS`) at `url` and reads its
/// snapshot, both in the sync's binary form (`wire`), within `timeout_ms`; why not, if it did
/// not answer with one.
pub async fn sync_with_aggregator(
    env: &JsValue,
    name: &str,
    url: &str,
    report: &SyncReport,
    timeout_ms: u64,
) -> Result<RoomSnapshot, String> {
    let call = async {
        let namespace: Namespace = Reflect::get(env, &"LOCATIONS".into())
            .map_err(|_| "no LOCATIONS binding".to_owned())?
            .unchecked_into();
        let id = namespace.id_from_name(name).map_err(describe)?;
        let stub = namespace.get(&id).map_err(describe)?;
        let init = Object::new();
        let headers = Object::new();
        Reflect::set(&headers, &wire::HEADER.into(), &wire::VERSION.into()).map_err(describe)?;
        Reflect::set(&headers, &"content-type".into(), &wire::CONTENT_TYPE.into())
            .map_err(describe)?;
        let body = js_sys::Uint8Array::from(wire::encode(report).as_slice());
        Reflect::set(&init, &"method".into(), &"POST".into()).map_err(describe)?;
        Reflect::set(&init, &"headers".into(), &headers).map_err(describe)?;
        Reflect::set(&init, &"body".into(), &body).map_err(describe)?;
        let reply: Reply = JsFuture::from(stub.fetch(url, &init).map_err(describe)?)
            .await
            .map_err(describe)?
            .unchecked_into();
        let status = reply.status();
        if status != 200 {
            let text = JsFuture::from(reply.text().map_err(describe)?)
                .await
                .map_err(describe)?
                .as_string()
                .unwrap_or_default();
            let text: String = text.chars().take(200).collect();
            return Err(format!("{url} answered {status}: {text}"));
        }
        let bytes = JsFuture::from(reply.array_buffer().map_err(describe)?)
            .await
            .map_err(describe)?;
        wire::decode(&js_sys::Uint8Array::new(&bytes).to_vec())
    };
    let deadline = async {
        sleep(timeout_ms).await;
        Err(format!("no answer within {timeout_ms} ms"))
    };
    let call = std::pin::pin!(call);
    let deadline = std::pin::pin!(deadline);
    match futures_util::future::select(call, deadline).await {
        futures_util::future::Either::Left((out, _))
        | futures_util::future::Either::Right((out, _)) => out,
    }
}

fn describe(e: JsValue) -> String {
    e.as_string()
        .or_else(|| js_sys::JSON::stringify(&e).ok().and_then(|s| s.as_string()))
        .unwrap_or_else(|| "a JS error".into())
}

thread_local! {
    /// Until when syncs fail without being sent, for every location (`""`) or one: the fault
    /// switch of the stack tests of fail-static (`EDGEGATE_FAULTS = "on"`, never in production).
    static UNREACHABLE_UNTIL: RefCell<Vec<(String, u64)>> = const { RefCell::new(Vec::new()) };
}

/// Makes this isolate's syncs in `location` (every location for empty) fail until `until`,
/// without being sent. The admin API decides it (`PUT /admin/faults`, only where the
/// deployment turned faults on) and the entry hands it over from the API's answer.
#[wasm_bindgen]
pub fn cut_off(location: String, until: f64) {
    if !settings::cached().is_some_and(|s| s.faults) {
        return;
    }
    let until = edgegate_web::whole_ms(until);
    UNREACHABLE_UNTIL.with_borrow_mut(|u| {
        u.retain(|(l, _)| *l != location);
        u.push((location, until));
    });
}

/// Is this isolate cut off from `location`'s aggregator at `now`?
pub fn cut_off_now(location: &str, now: UnixMs) -> bool {
    UNREACHABLE_UNTIL.with_borrow(|u| {
        u.iter()
            .any(|(l, until)| (l == location || l.is_empty()) && now.0 < *until)
    })
}
