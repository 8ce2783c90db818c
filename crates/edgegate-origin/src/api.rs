//! The JSON API: centres, a day's slots, booking, and reading a booking back.
//!
//! Errors are `{"error": "...", "field": "..."}` (field when one is at fault) with `400` for a
//! body that is not a JSON object, `415` for another content type, `422` for a bad field, `409`
//! (with `"code"`) when the booking conflicts with an existing one, and `404` for unknown ids.

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::Response;
use axum::Extension;
use edgegate_core::Pass;
use serde::Serialize;
use serde_json::Value;
use tracing::error;

use crate::booking::{self, Channel, RawBooking};
use crate::date::Date;
use crate::domain::{in_window, Booking};
use crate::guard;
use crate::pages::query_param;
use crate::respond::{self, JSON_TYPE};
use crate::store::{BookResult, Refusal, Stored};
use crate::AppState;

const IDEMPOTENCY_KEY: &str = "idempotency-key";

fn internal(what: &dyn std::fmt::Display) -> Response {
    error!(error = %what, "internal error");
    respond::json_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal error",
        None,
        None,
    )
}

/// `GET /api/centres`: every centre, in id order.
pub(crate) async fn centres(State(state): State<AppState>) -> Response {
    respond::json(StatusCode::OK, &state.store().centres())
}

#[derive(Serialize)]
struct SlotJson {
    id: String,
    time: String,
    capacity: u32,
    booked: u32,
    remaining: u32,
}

#[derive(Serialize)]
struct SlotsJson {
    centre_id: u32,
    date: String,
    slots: Vec<SlotJson>,
}

/// `GET /api/centres/{id}/slots?date=YYYY-MM-DD` (default today, Korean time).
pub(crate) async fn slots(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(centre) = id
        .parse::<u32>()
        .ok()
        .and_then(|id| state.store().centre(id))
    else {
        return respond::json_error(StatusCode::NOT_FOUND, "no such centre", None, None);
    };
    let today = state.today();
    let date = match query_param(&query, "date") {
        None => today,
        Some(text) => match Date::parse(&text).filter(|d| in_window(*d, today)) {
            Some(date) => date,
            None => {
                return respond::json_error(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "date must be YYYY-MM-DD, from today to 13 days ahead (Korean time)",
                    Some("date"),
                    None,
                )
            }
        },
    };
    match state.store().slots(centre, date).await {
        Err(e) => internal(&e),
        Ok(slots) => respond::json(
            StatusCode::OK,
            &SlotsJson {
                centre_id: centre.id,
                date: date.to_string(),
                slots: slots
                    .iter()
                    .map(|s| SlotJson {
                        id: s.id.to_string(),
                        time: s.id.time(),
                        capacity: s.capacity,
                        booked: s.booked,
                        remaining: s.remaining(),
                    })
                    .collect(),
            },
        ),
    }
}

#[derive(Serialize)]
struct BookingJson {
    id: String,
    slot_id: String,
    centre_id: u32,
    date: String,
    time: String,
    dose: u8,
}

impl From<&Booking> for BookingJson {
    fn from(b: &Booking) -> Self {
        BookingJson {
            id: b.id.clone(),
            slot_id: b.slot.to_string(),
            centre_id: b.slot.centre_id,
            date: b.slot.date.to_string(),
            time: b.slot.time(),
            dose: b.dose,
        }
    }
}

/// Reads one field of the JSON object: strings as they are, `dose` also as an integer; any other
/// type becomes an empty string (which validation refuses, naming the field).
fn text_field(object: &serde_json::Map<String, Value>, name: &str) -> Option<String> {
    object.get(name).map(|value| match value {
        Value::String(s) => s.clone(),
        Value::Number(n) if name == "dose" => n.as_u64().map(|n| n.to_string()).unwrap_or_default(),
        _ => String::new(),
    })
}

/// `POST /api/bookings`: `{slot_id, name, birth_date, dose}` → `201 {id, slot_id, centre_id,
/// date, time, dose}` with `Gate-Session: end`. An `Idempotency-Key` header replays the first
/// answer for the same request and refuses (`422`) a different one.
pub(crate) async fn book(
    State(state): State<AppState>,
    headers: HeaderMap,
    pass: Option<Extension<Pass>>,
    body: Bytes,
) -> Response {
    let Some(Extension(pass)) = pass else {
        return guard::unauthorized(&state);
    };
    if !guard::same_origin(&headers) {
        return respond::json_error(
            StatusCode::FORBIDDEN,
            "cross-site booking requests are refused",
            None,
            Some("cross_site"),
        );
    }
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case(JSON_TYPE));
    if !is_json {
        return respond::json_error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "send the booking as Content-Type: application/json",
            None,
            None,
        );
    }
    let key = match headers.get(IDEMPOTENCY_KEY).map(|v| v.to_str()) {
        None => None,
        Some(Ok(key)) if booking::key_is_valid(key) => Some(key.to_owned()),
        Some(_) => {
            return respond::json_error(
                StatusCode::BAD_REQUEST,
                "Idempotency-Key must be 1 to 200 visible ASCII characters",
                Some("Idempotency-Key"),
                None,
            )
        }
    };
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(&body) else {
        return respond::json_error(
            StatusCode::BAD_REQUEST,
            "the body must be a JSON object {slot_id, name, birth_date, dose}",
            None,
            None,
        );
    };
    let raw = RawBooking {
        slot_id: text_field(&object, "slot_id"),
        name: text_field(&object, "name"),
        birth_date: text_field(&object, "birth_date"),
        dose: text_field(&object, "dose"),
    };
    let valid = match booking::validate(&state, &raw) {
        Ok(valid) => valid,
        Err(field) => {
            return respond::json_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                field.api_message(),
                Some(field.key()),
                None,
            )
        }
    };
    // Every outcome of the JSON API is safe to remember: none of them holds personal data.
    let render = |outcome: &Result<Booking, Refusal>| {
        let (status, body) = match outcome {
            Ok(booking) => (
                StatusCode::CREATED,
                serde_json::to_string(&BookingJson::from(booking)),
            ),
            Err(Refusal::UnknownSlot) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                serde_json::to_string(&serde_json::json!({
                    "error": Refusal::UnknownSlot.api_message(),
                    "field": "slot_id",
                })),
            ),
            Err(refusal) => (
                StatusCode::CONFLICT,
                serde_json::to_string(&serde_json::json!({
                    "error": refusal.api_message(),
                    "code": refusal.code(),
                })),
            ),
        };
        Some(Stored {
            status: status.as_u16(),
            content_type: JSON_TYPE.to_owned(),
            body: body.ok()?,
        })
    };
    match booking::book(&state, &pass, &valid, key.as_deref(), Channel::Api, render).await {
        Err(e) => internal(&e),
        Ok(BookResult::Fresh {
            rendered: Some(answer),
            ..
        })
        | Ok(BookResult::Replayed(answer)) => respond::stored(answer),
        Ok(BookResult::Fresh { rendered: None, .. }) => {
            internal(&"a booking answer could not be serialised")
        }
        Ok(BookResult::KeyReused) => respond::json_error(
            StatusCode::UNPROCESSABLE_ENTITY,
            "this Idempotency-Key was already used with a different request",
            Some("Idempotency-Key"),
            None,
        ),
    }
}

/// `GET /api/bookings/{id}`.
pub(crate) async fn booking(State(state): State<AppState>, Path(id): Path<String>) -> Response {
    match state.store().booking(&id).await {
        Err(e) => internal(&e),
        Ok(None) => respond::json_error(StatusCode::NOT_FOUND, "no such booking", None, None),
        Ok(Some(booking)) => respond::json(StatusCode::OK, &BookingJson::from(&booking)),
    }
}
