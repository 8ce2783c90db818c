//! Building responses: the headers every page and every JSON answer carries, in one place.

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tracing::error;

use crate::lang::Lang;
use crate::store::Stored;

/// The content security policy of every HTML page: no scripts at all, inline styles only, forms
/// post only to this site, never framed.
pub(crate) const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
                              frame-ancestors 'none'; base-uri 'none'";
/// Tells the gate the citizen's session is over (it expires the pass, freeing a place).
pub(crate) const GATE_SESSION: HeaderName = HeaderName::from_static("gate-session");
pub(crate) const HTML_TYPE: &str = "text/html; charset=utf-8";
pub(crate) const JSON_TYPE: &str = "application/json";

/// An HTML page. Every page is personal or about to be (it carries a form), so none is cached.
pub(crate) fn html(status: StatusCode, lang: Lang, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(HTML_TYPE));
    headers.insert(
        header::CONTENT_LANGUAGE,
        HeaderValue::from_static(lang.code()),
    );
    html_headers(&mut response);
    response
}

fn html_headers(response: &mut Response) {
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CSP),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

/// A JSON answer.
pub(crate) fn json(status: StatusCode, value: &impl Serialize) -> Response {
    match serde_json::to_string(value) {
        Ok(body) => json_text(status, body),
        Err(e) => {
            error!(error = %e, "could not serialise a JSON answer");
            json_text(
                StatusCode::INTERNAL_SERVER_ERROR,
                r#"{"error":"internal error"}"#.to_owned(),
            )
        }
    }
}

fn json_text(status: StatusCode, body: String) -> Response {
    let mut response = (status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(JSON_TYPE));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    response
}

#[derive(Serialize)]
struct ApiError<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<&'a str>,
}

/// `{"error": message, "field": field?, "code": code?}`.
pub(crate) fn json_error(
    status: StatusCode,
    message: &str,
    field: Option<&str>,
    code: Option<&str>,
) -> Response {
    json(
        status,
        &ApiError {
            error: message,
            field,
            code,
        },
    )
}

/// A remembered (or freshly rendered) booking answer. A successful one ends the gate session.
pub(crate) fn stored(stored: Stored) -> Response {
    let status = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    let is_html = stored.content_type.starts_with("text/html");
    let content_type = HeaderValue::from_str(&stored.content_type)
        .unwrap_or(HeaderValue::from_static("application/octet-stream"));
    let mut response = (status, stored.body).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, content_type);
    if is_html {
        html_headers(&mut response);
    } else {
        let headers = response.headers_mut();
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
    }
    if status.is_success() {
        response
            .headers_mut()
            .insert(GATE_SESSION, HeaderValue::from_static("end"));
    }
    response
}
