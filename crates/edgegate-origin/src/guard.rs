//! The origin's gates: the pass guard, the in-flight cap, and the cross-site check for bookings.
//!
//! The pass guard is the one place where `Gate-Pass` text becomes a trusted [`Pass`]; any failure
//! is a `401` before anything else happens (no database access). The cap answers `503` at once
//! instead of queueing: a small origin that queues only grows its latency until everything
//! times out, which is exactly the 2021 failure the gate is there to prevent.

use axum::extract::{Request, State};
use axum::http::header::{HOST, ORIGIN};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use edgegate_core::keys::ForPasses;
use edgegate_core::{KeyRing, Pass, RoomTag, TokenError, UnixMs};
use tracing::debug;

use crate::AppState;

/// The header the gate sets on every forwarded request.
pub(crate) const GATE_PASS: &str = "gate-pass";
/// How long after its expiry a pass is still accepted, for clock skew between the gate and the
/// origin, in milliseconds. (A pass issued slightly in the future is already tolerated by the
/// core's `MAX_SKEW_MS`.)
pub const CLOCK_SKEW_MS: u64 = 30_000;

/// Verifies a pass for `room` at `now`, accepting one that expired up to [`CLOCK_SKEW_MS`] ago.
pub fn verify_pass(
    text: &str,
    keys: &KeyRing<ForPasses>,
    room: RoomTag,
    now: UnixMs,
) -> Result<Pass, TokenError> {
    match Pass::verify(text, keys, room, now) {
        Err(TokenError::Expired) => Pass::verify(text, keys, room, now.minus_ms(CLOCK_SKEW_MS)),
        other => other,
    }
}

/// The single `Gate-Pass` header of a request, verified. Two headers count as none.
fn pass_of(state: &AppState, headers: &HeaderMap) -> Result<Pass, TokenError> {
    let mut values = headers.get_all(GATE_PASS).iter();
    let (Some(value), None) = (values.next(), values.next()) else {
        return Err(TokenError::WrongLength);
    };
    let text = value.to_str().map_err(|_| TokenError::NotBase64)?;
    verify_pass(
        text.trim(),
        &state.inner.pass_keys,
        state.inner.room,
        state.now(),
    )
}

/// Middleware: `401` unless the request carries a valid pass; otherwise the [`Pass`] goes into
/// the request's extensions for the handlers.
pub(crate) async fn require_pass(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    match pass_of(&state, request.headers()) {
        Ok(pass) => {
            request.extensions_mut().insert(pass);
            next.run(request).await
        }
        Err(reason) => {
            debug!(
                ?reason,
                path = request.uri().path(),
                "refused: no valid pass"
            );
            unauthorized(&state)
        }
    }
}

/// The `401` every refused pass gets: small, plain, uncacheable.
pub(crate) fn unauthorized(state: &AppState) -> Response {
    state.metrics().unauthorized();
    let mut response = (
        StatusCode::UNAUTHORIZED,
        "401: a valid Gate-Pass is required (this site opens only through the waiting room)\n",
    )
        .into_response();
    response.headers_mut().insert(
        axum::http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    response
}

/// Method fallback for the open routes: only their GET skips the guard.
pub(crate) async fn method_not_allowed(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Response {
    match pass_of(&state, &headers) {
        Ok(_) => StatusCode::METHOD_NOT_ALLOWED.into_response(),
        Err(_) => unauthorized(&state),
    }
}

/// Middleware: serve at most `ORIGIN_MAX_IN_FLIGHT` requests at once; answer the rest `503` with
/// `Retry-After: 1` immediately (`try_acquire`, never a queue).
pub(crate) async fn cap_in_flight(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Response {
    let _permit = match &state.inner.limiter {
        None => None,
        Some(semaphore) => match std::sync::Arc::clone(semaphore).try_acquire_owned() {
            Ok(permit) => Some(permit),
            Err(_) => {
                state.metrics().overloaded();
                let mut response = (
                    StatusCode::SERVICE_UNAVAILABLE,
                    "503: the booking service is busy; retry in a second\n",
                )
                    .into_response();
                let headers = response.headers_mut();
                headers.insert(
                    axum::http::header::RETRY_AFTER,
                    HeaderValue::from_static("1"),
                );
                headers.insert(
                    axum::http::header::CACHE_CONTROL,
                    HeaderValue::from_static("no-store"),
                );
                return response;
            }
        },
    };
    let _serving = state.metrics().serving();
    next.run(request).await
}

/// Did a booking POST come from this site? Refuses when `Sec-Fetch-Site` is present and not
/// `same-origin`/`none`, or when `Origin` is present and names another host than the one the
/// request was sent to (`X-Forwarded-Host` from the gate, else `Host`); `Origin: null` is
/// refused. With neither header (curl, tests) the request is allowed: browsers always send at
/// least one of them on a POST.
pub(crate) fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        if !matches!(site.to_str(), Ok("same-origin" | "none")) {
            return false;
        }
    }
    let Some(origin) = headers.get(ORIGIN) else {
        return true;
    };
    let Some((scheme, authority)) = origin.to_str().ok().and_then(split_origin) else {
        return false;
    };
    let expected = headers
        .get("x-forwarded-host")
        .or_else(|| headers.get(HOST))
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(str::trim)
        .filter(|v| !v.is_empty());
    expected.is_some_and(|host| {
        without_default_port(scheme, authority)
            .eq_ignore_ascii_case(without_default_port(scheme, host))
    })
}

/// `scheme://authority` → (scheme, authority); `None` for `null` or anything with a path.
fn split_origin(origin: &str) -> Option<(&str, &str)> {
    let (scheme, authority) = origin.trim().split_once("://")?;
    let scheme_ok = scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https");
    (scheme_ok && !authority.is_empty() && !authority.contains(['/', '?', '#', '@']))
        .then_some((scheme, authority))
}

fn without_default_port<'a>(scheme: &str, authority: &'a str) -> &'a str {
    let default = if scheme.eq_ignore_ascii_case("https") {
        ":443"
    } else {
        ":80"
    };
    authority.strip_suffix(default).unwrap_or(authority)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn same_origin_posts_pass_and_cross_site_ones_do_not() {
        let fwd = ("x-forwarded-host", "127.0.0.1:8787");
        let allowed: &[&[(&str, &str)]] = &[
            &[],
            &[fwd],
            &[
                ("sec-fetch-site", "same-origin"),
                ("origin", "http://127.0.0.1:8787"),
                fwd,
            ],
            &[("sec-fetch-site", "none")],
            &[
                ("origin", "http://localhost:8788"),
                ("host", "localhost:8788"),
            ],
            &[
                ("origin", "https://booking.example"),
                ("x-forwarded-host", "booking.example:443"),
            ],
        ];
        for case in allowed {
            assert!(same_origin(&headers(case)), "{case:?}");
        }
        let refused: &[&[(&str, &str)]] = &[
            &[("sec-fetch-site", "cross-site")],
            &[("sec-fetch-site", "same-site")],
            &[("origin", "http://evil.example"), fwd],
            &[("origin", "null"), fwd],
            &[("origin", "http://127.0.0.1:8787/x"), fwd],
            &[("origin", "http://127.0.0.1:8787")],
            &[
                ("origin", "http://127.0.0.1:8788"),
                fwd,
                ("host", "127.0.0.1:8788"),
            ],
        ];
        for case in refused {
            assert!(!same_origin(&headers(case)), "{case:?}");
        }
    }
}
