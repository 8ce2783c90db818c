//! The operator's API: `GET /admin/state` and `PUT /admin/config`, behind a bearer token
//! compared in constant time (as SHA-256 digests, so length leaks nothing either), forwarded to
//! the room coordinator. Every change reaches every edge within one sync interval.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use worker::{Env, Method, Request, RequestInit, Response};

use crate::citizen::personal_headers;
use crate::error::GateError;
use crate::settings::Settings;

/// Largest config body accepted, in bytes.
const MAX_BODY: usize = 16 * 1024;

pub async fn handle(
    mut req: Request,
    env: &Env,
    settings: &Settings,
) -> Result<Response, GateError> {
    if !authorized(&req, settings) {
        let resp = json_response(401, r#"{"error":"missing or wrong bearer token"}"#)?;
        resp.headers()
            .set("WWW-Authenticate", "Bearer realm=\"edgegate\"")?;
        return Ok(resp);
    }
    let (method, path) = match (req.method(), req.path().as_str()) {
        (Method::Get, "/admin/state") => (Method::Get, "/state"),
        (Method::Put, "/admin/config") => (Method::Put, "/config"),
        (_, "/admin/state" | "/admin/config") => {
            return json_response(405, r#"{"error":"method not allowed"}"#)
        }
        _ => return json_response(404, r#"{"error":"no such admin route"}"#),
    };
    let mut init = RequestInit::new();
    init.with_method(method.clone());
    if method == Method::Put {
        let body = req.text().await?;
        if body.len() > MAX_BODY {
            return json_response(413, r#"{"error":"body too large","field":"body"}"#);
        }
        init.with_body(Some(body.into()));
    }
    let stub = env
        .durable_object("ROOMS")?
        .id_from_name(&settings.room)?
        .get_stub()?;
    let inner = Request::new_with_init(&format!("https://coordinator{path}"), &init)?;
    let mut resp = stub.fetch_with_request(inner).await?;
    let status = resp.status_code();
    let text = resp.text().await?;
    json_response(status, &text)
}

fn json_response(status: u16, body: &str) -> Result<Response, GateError> {
    let headers = personal_headers("application/json")?;
    Ok(Response::from_bytes(body.as_bytes().to_vec())?
        .with_status(status)
        .with_headers(headers))
}

fn authorized(req: &Request, settings: &Settings) -> bool {
    let Some(expected) = settings.admin_token_digest else {
        return false;
    };
    let header = req
        .headers()
        .get("Authorization")
        .ok()
        .flatten()
        .unwrap_or_default();
    let Some(token) = header.strip_prefix("Bearer ") else {
        return false;
    };
    let given: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
    given.ct_eq(&expected).into()
}
