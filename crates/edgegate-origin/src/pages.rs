//! The HTML routes: the centre list, a centre's day with its booking form, the form's POST and
//! the booking page, plus the 404 page for everything else behind the guard.
//!
//! A successful `POST /book` answers `200` with the confirmation page itself, not a redirect: it
//! also ends the gate session (`Gate-Session: end`), so a redirected GET would find no pass and
//! land back in the queue. Errors re-render the form with the message and the citizen's values
//! (never stored: a re-rendered form carries personal data, so only confirmations are remembered
//! under the form's idempotency key; each render gets a fresh key).

use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::response::Response;
use axum::Extension;
use edgegate_core::Pass;
use tracing::error;

use crate::booking::{self, Channel, Field, RawBooking};
use crate::date::Date;
use crate::domain::{in_window, Booking, Centre, SlotId};
use crate::guard;
use crate::html::{self, CentrePage, FormState};
use crate::lang::LangChoice;
use crate::respond::{self, HTML_TYPE};
use crate::store::{BookResult, Refusal, Stored};
use crate::AppState;

/// One query parameter, percent-decoded; the first if repeated; `None` if the query is unreadable.
pub(crate) fn query_param(query: &Option<String>, name: &str) -> Option<String> {
    let pairs: Vec<(String, String)> =
        serde_urlencoded::from_str(query.as_deref().unwrap_or("")).ok()?;
    pairs.into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

fn choice(query: &Option<String>, headers: &HeaderMap) -> LangChoice {
    LangChoice::negotiate(query_param(query, "lang").as_deref(), headers)
}

/// The generic 500 page. The detail goes to the log, never to the citizen.
fn internal(choice: LangChoice, what: &dyn std::fmt::Display) -> Response {
    error!(error = %what, "internal error");
    let t = choice.lang.texts();
    respond::html(
        StatusCode::INTERNAL_SERVER_ERROR,
        choice.lang,
        html::message(choice, t.error_h1, t.internal_body),
    )
}

fn not_found_page(choice: LangChoice) -> Response {
    let t = choice.lang.texts();
    respond::html(
        StatusCode::NOT_FOUND,
        choice.lang,
        html::message(choice, t.not_found_h1, t.not_found_body),
    )
}

/// `GET /`.
pub(crate) async fn home(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let choice = choice(&query, &headers);
    respond::html(
        StatusCode::OK,
        choice.lang,
        html::home(choice, state.store().centres()),
    )
}

/// `GET /centres/{id}?date=YYYY-MM-DD`: a date outside the booking window shows today.
pub(crate) async fn centre(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let choice = choice(&query, &headers);
    let Some(centre) = id
        .parse::<u32>()
        .ok()
        .and_then(|id| state.store().centre(id))
    else {
        return not_found_page(choice);
    };
    let today = state.today();
    let date = query_param(&query, "date")
        .and_then(|d| Date::parse(&d))
        .filter(|d| in_window(*d, today))
        .unwrap_or(today);
    let key = match booking::form_key() {
        Ok(key) => key,
        Err(e) => return internal(choice, &e),
    };
    let form = FormState {
        idempotency_key: key,
        ..FormState::default()
    };
    render_centre(&state, choice, centre, date, form, StatusCode::OK).await
}

async fn render_centre(
    state: &AppState,
    choice: LangChoice,
    centre: &Centre,
    date: Date,
    form: FormState,
    status: StatusCode,
) -> Response {
    match state.store().slots(centre, date).await {
        Ok(slots) => respond::html(
            status,
            choice.lang,
            html::centre(&CentrePage {
                choice,
                centre,
                date,
                today: state.today(),
                slots: &slots,
                form,
            }),
        ),
        Err(e) => internal(choice, &e),
    }
}

/// `POST /book` (form-urlencoded): `slot_id`, `name`, `birth_date`, `dose`, and the hidden
/// `idempotency_key`, `centre` and `date` (the last two only say which page to show again).
pub(crate) async fn book(
    State(state): State<AppState>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    pass: Option<Extension<Pass>>,
    body: Bytes,
) -> Response {
    let choice = choice(&query, &headers);
    let t = choice.lang.texts();
    let Some(Extension(pass)) = pass else {
        return guard::unauthorized(&state);
    };
    if !guard::same_origin(&headers) {
        return respond::html(
            StatusCode::FORBIDDEN,
            choice.lang,
            html::message(choice, t.refused_h1, t.refused_body),
        );
    }
    let Ok(fields) = serde_urlencoded::from_bytes::<Vec<(String, String)>>(&body) else {
        return respond::html(
            StatusCode::BAD_REQUEST,
            choice.lang,
            html::message(choice, t.error_h1, t.bad_request_body),
        );
    };
    let field = |name: &str| {
        fields
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    };
    let raw = RawBooking {
        slot_id: field("slot_id"),
        name: field("name"),
        birth_date: field("birth_date"),
        dose: field("dose"),
    };
    // The page to show again on an error: the slot's centre and day, else the hidden fields.
    let slot = raw.slot_id.as_deref().and_then(SlotId::parse);
    let today = state.today();
    let centre = slot
        .and_then(|s| state.store().centre(s.centre_id))
        .or_else(|| {
            field("centre")
                .and_then(|c| c.parse().ok())
                .and_then(|id| state.store().centre(id))
        });
    let date = slot
        .map(|s| s.date)
        .filter(|d| in_window(*d, today))
        .or_else(|| field("date").and_then(|d| Date::parse(&d)))
        .filter(|d| in_window(*d, today))
        .unwrap_or(today);
    let again = |error: (Option<Field>, String), status: StatusCode| {
        let state = state.clone();
        let raw = raw.clone();
        async move {
            let Some(centre) = centre else {
                // No page to go back to (a hand-made request): say what was wrong, plainly.
                return respond::html(
                    status,
                    choice.lang,
                    html::message(choice, t.error_h1, &error.1),
                );
            };
            let key = match booking::form_key() {
                Ok(key) => key,
                Err(e) => return internal(choice, &e),
            };
            let form = FormState {
                slot_id: raw.slot_id.clone(),
                name: raw.name.clone().unwrap_or_default(),
                birth_date: raw.birth_date.clone().unwrap_or_default(),
                dose: raw.dose.as_deref().and_then(|d| d.trim().parse().ok()),
                error: Some(error),
                idempotency_key: key,
            };
            render_centre(&state, choice, centre, date, form, status).await
        }
    };

    let valid = match booking::validate(&state, &raw) {
        Ok(valid) => valid,
        Err(bad) => {
            return again(
                (Some(bad), bad.message(choice.lang).to_owned()),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    };
    let key = field("idempotency_key").filter(|k| booking::key_is_valid(k));
    let render_state = state.clone();
    let render = move |outcome: &Result<Booking, Refusal>| {
        let booking = outcome.as_ref().ok()?;
        let centre = booking::centre_of(&render_state, &booking.slot)?;
        Some(Stored {
            status: StatusCode::OK.as_u16(),
            content_type: HTML_TYPE.to_owned(),
            body: html::booking(choice, booking, centre, true),
        })
    };
    match booking::book(&state, &pass, &valid, key.as_deref(), Channel::Form, render).await {
        Err(e) => internal(choice, &e),
        Ok(BookResult::Fresh {
            rendered: Some(page),
            ..
        })
        | Ok(BookResult::Replayed(page)) => respond::stored(page),
        Ok(BookResult::Fresh {
            outcome: Ok(booking),
            rendered: None,
        }) => internal(
            choice,
            &format!("no centre for booked slot {}", booking.slot),
        ),
        Ok(BookResult::Fresh {
            outcome: Err(refusal),
            ..
        }) => {
            let (field, status) = match refusal {
                Refusal::UnknownSlot => (Some(Field::SlotId), StatusCode::UNPROCESSABLE_ENTITY),
                _ => (None, StatusCode::CONFLICT),
            };
            again((field, refusal.message(choice.lang).to_owned()), status).await
        }
        Ok(BookResult::KeyReused) => {
            again(
                (None, t.err_key_reused.to_owned()),
                StatusCode::UNPROCESSABLE_ENTITY,
            )
            .await
        }
    }
}

/// `GET /bookings/{id}`.
pub(crate) async fn booking(
    State(state): State<AppState>,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let choice = choice(&query, &headers);
    match state.store().booking(&id).await {
        Err(e) => internal(choice, &e),
        Ok(None) => not_found_page(choice),
        Ok(Some(booking)) => match booking::centre_of(&state, &booking.slot) {
            Some(centre) => respond::html(
                StatusCode::OK,
                choice.lang,
                html::booking(choice, &booking, centre, false),
            ),
            None => internal(
                choice,
                &format!("no centre for booked slot {}", booking.slot),
            ),
        },
    }
}

/// Everything else behind the guard: a 404 page, or a JSON 404 under `/api/`.
pub(crate) async fn not_found(uri: Uri, RawQuery(query): RawQuery, headers: HeaderMap) -> Response {
    if uri.path().starts_with("/api/") {
        return respond::json_error(StatusCode::NOT_FOUND, "not found", None, None);
    }
    not_found_page(choice(&query, &headers))
}
