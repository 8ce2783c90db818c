//! The admin API over HTTP, and every way a call can fail, sorted into the exit codes scripts
//! branch on.
//!
//! Answers are kept as `serde_json::Value`: the CLI reads the fields it shows and ignores the
//! rest, so a gate that grows new fields never breaks an older CLI.

use std::fmt;
use std::io::ErrorKind;
use std::time::Duration;

use serde_json::{json, Value};
use ureq::Agent;

/// The process exit codes; see [`crate::cli::EXIT_CODES`] for what each means to a script.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    Ok,
    Refused,
    Usage,
    Unreachable,
    Unauthorized,
    NotOffered,
}

impl Exit {
    pub fn code(self) -> u8 {
        match self {
            Exit::Ok => 0,
            Exit::Refused => 1,
            Exit::Usage => 2,
            Exit::Unreachable => 3,
            Exit::Unauthorized => 4,
            Exit::NotOffered => 5,
        }
    }

    /// A short name for `--json` error output, steadier than prose for a script to match.
    pub fn kind(self) -> &'static str {
        match self {
            Exit::Ok => "ok",
            Exit::Refused => "refused",
            Exit::Usage => "usage",
            Exit::Unreachable => "unreachable",
            Exit::Unauthorized => "unauthorized",
            Exit::NotOffered => "not_offered",
        }
    }
}

/// Why a command did not do its work, in words that name the cause.
#[derive(Debug)]
pub struct Failure {
    pub exit: Exit,
    pub message: String,
    /// The HTTP status, when the gate answered.
    pub status: Option<u16>,
    /// The field the gate refused, when it named one.
    pub field: Option<String>,
}

impl Failure {
    pub fn usage(message: impl Into<String>) -> Failure {
        Failure {
            exit: Exit::Usage,
            message: message.into(),
            status: None,
            field: None,
        }
    }

    fn unreachable(message: String) -> Failure {
        Failure {
            exit: Exit::Unreachable,
            message,
            status: None,
            field: None,
        }
    }

    pub fn to_json(&self) -> Value {
        json!({
            "error": self.message,
            "kind": self.exit.kind(),
            "exit": self.exit.code(),
            "status": self.status,
            "field": self.field,
        })
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Put,
    Post,
}

/// One gate, one token, one room.
pub struct Gate {
    base: String,
    token: String,
    room: Option<String>,
    timeout_ms: u64,
    agent: Agent,
    /// Who the audit log names for changes made through this gate handle.
    operator: String,
}

impl Gate {
    /// Checks the URL's scheme up front, so a typo is a usage error rather than a confusing
    /// connection failure.
    pub fn new(
        base: &str,
        token: String,
        room: Option<String>,
        timeout_ms: u64,
    ) -> Result<Gate, Failure> {
        let base = base.trim().trim_end_matches('/').to_owned();
        if !(base.starts_with("http://") || base.starts_with("https://")) {
            return Err(Failure::usage(format!(
                "--gate {base:?} is not a gate URL: it must start with http:// or https://"
            )));
        }
        let config = Agent::config_builder()
            .timeout_global(Some(Duration::from_millis(timeout_ms)))
            // Every status is an answer to classify here, not a transport error.
            .http_status_as_error(false)
            // A redirect is reported, not followed: the admin token should go only where the
            // operator pointed it, and a redirected PUT would not be replayed anyway.
            .max_redirects(0)
            .user_agent(concat!("edgegate-cli/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Gate {
            base,
            token,
            room: room.filter(|r| !r.is_empty()),
            timeout_ms,
            agent: config.into(),
            operator: String::new(),
        })
    }

    /// Names the operator in the gate's audit log (the `Edgegate-Operator` header).
    pub fn with_operator(mut self, name: Option<String>) -> Gate {
        self.operator = name.unwrap_or_default().trim().to_owned();
        self
    }

    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn room(&self) -> Option<&str> {
        self.room.as_deref()
    }

    /// The full URL of an admin route, with the room and any extra query.
    pub fn url(&self, path: &str, query: &[(&str, String)]) -> String {
        let mut url = format!("{}{}", self.base, path);
        let room = self.room.iter().map(|r| ("room", r.clone()));
        let pairs: Vec<(&str, String)> = room.chain(query.iter().cloned()).collect();
        for (i, (key, value)) in pairs.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(key);
            url.push('=');
            url.push_str(&percent_encode(value));
        }
        url
    }

    /// Reads one of the gate's public routes (no token sent) and returns its JSON answer.
    pub fn public(&self, path: &str, feature: &str) -> Result<Value, Failure> {
        let url = self.url(path, &[]);
        let mut response = self
            .agent
            .get(&url)
            .header("Accept", "application/json")
            .call()
            .map_err(|e| self.transport(&url, e))?;
        let status = response.status().as_u16();
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| self.transport(&url, e))?;
        classify(&url, status, None, &text, feature)
    }

    /// Calls an admin route and returns its JSON answer. `feature` names the route in words
    /// for the message when this gate does not have it.
    pub fn call(
        &self,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        feature: &str,
    ) -> Result<Value, Failure> {
        let url = self.url(path, query);
        let auth = format!("Bearer {}", self.token);
        let body = body.map(Value::to_string).unwrap_or_default();
        let sent = match method {
            Method::Get => self
                .agent
                .get(&url)
                .header("Authorization", &auth)
                .header("Edgegate-Operator", &self.operator)
                .header("Accept", "application/json")
                .call(),
            Method::Put => self
                .agent
                .put(&url)
                .header("Authorization", &auth)
                .header("Edgegate-Operator", &self.operator)
                .header("Accept", "application/json")
                .content_type("application/json")
                .send(&body),
            Method::Post => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .header("Edgegate-Operator", &self.operator)
                .header("Accept", "application/json")
                .content_type("application/json")
                .send(&body),
        };
        let mut response = sent.map_err(|e| self.transport(&url, e))?;
        let status = response.status().as_u16();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = response
            .body_mut()
            .read_to_string()
            .map_err(|e| self.transport(&url, e))?;
        classify(&url, status, location.as_deref(), &text, feature)
    }

    fn transport(&self, url: &str, error: ureq::Error) -> Failure {
        let cause = match error {
            ureq::Error::Timeout(_) => format!("no answer within {} ms", self.timeout_ms),
            ureq::Error::Io(e) => match e.kind() {
                ErrorKind::ConnectionRefused => "connection refused".to_owned(),
                ErrorKind::ConnectionReset => "connection reset".to_owned(),
                ErrorKind::ConnectionAborted => "connection aborted".to_owned(),
                ErrorKind::TimedOut => format!("no answer within {} ms", self.timeout_ms),
                ErrorKind::UnexpectedEof => "the connection closed before an answer".to_owned(),
                // rustls reports a failed handshake as invalid data on the socket.
                ErrorKind::InvalidData if url.starts_with("https://") => {
                    format!("TLS failed: {e} (is it http rather than https?)")
                }
                _ => e.to_string(),
            },
            ureq::Error::Tls(e) => format!("TLS failed: {e}"),
            ureq::Error::Rustls(e) => format!("TLS failed: {e}"),
            ureq::Error::HostNotFound => "host not found".to_owned(),
            ureq::Error::ConnectionFailed => "connection failed".to_owned(),
            ureq::Error::BadUri(uri) => {
                return Failure::usage(format!("{uri:?} is not a usable gate URL"))
            }
            ureq::Error::Http(e) => {
                // Only a header can be malformed here, and the only header from the operator
                // is the token (never echoed).
                return Failure::usage(format!(
                    "the admin token cannot be sent as an HTTP header ({e})"
                ));
            }
            other => other.to_string(),
        };
        Failure::unreachable(format!("cannot reach {url}: {cause}"))
    }
}

/// Sorts an answer into success or one of the failure exits.
fn classify(
    url: &str,
    status: u16,
    location: Option<&str>,
    text: &str,
    feature: &str,
) -> Result<Value, Failure> {
    let parsed = serde_json::from_str::<Value>(text).ok();
    let failure = |exit: Exit, message: String, field: Option<String>| Failure {
        exit,
        message,
        status: Some(status),
        field,
    };
    match status {
        200..=299 => parsed.ok_or_else(|| {
            failure(
                Exit::Unreachable,
                format!(
                    "{url} answered {status} but not with JSON ({}): is --gate the gate?",
                    snippet(text)
                ),
                None,
            )
        }),
        300..=399 => Err(failure(
            Exit::Unreachable,
            format!(
                "{url} redirects ({status}) to {}: point --gate at the gate itself",
                location.unwrap_or("nowhere")
            ),
            None,
        )),
        401 | 403 => Err(failure(
            Exit::Unauthorized,
            format!(
                "unauthorized: the gate refused the admin token ({status} from {url}: {})",
                gate_error(parsed.as_ref(), text)
            ),
            None,
        )),
        _ => {
            let field = parsed
                .as_ref()
                .and_then(|v| v.get("field"))
                .and_then(Value::as_str)
                .map(str::to_owned);
            let error = gate_error(parsed.as_ref(), text);
            match (status, field) {
                // A route this CLI knows, answered "no such route": an older gate. A 404 that
                // names a field is a refusal about that field (an unknown room, say).
                (404 | 405, None) => Err(failure(
                    Exit::NotOffered,
                    format!("this gate does not offer {feature} yet ({status} from {url})"),
                    None,
                )),
                (400..=499, Some(field)) => {
                    let reason = error
                        .strip_prefix(&format!("{field}: "))
                        .unwrap_or(&error)
                        .to_owned();
                    Err(failure(
                        Exit::Refused,
                        format!("the gate refused {field}: {reason}"),
                        Some(field),
                    ))
                }
                (400..=499, None) => Err(failure(
                    Exit::Refused,
                    format!("the gate refused the request ({status} from {url}): {error}"),
                    None,
                )),
                _ => Err(failure(
                    Exit::Unreachable,
                    format!("the gate failed ({status} from {url}): {error}"),
                    None,
                )),
            }
        }
    }
}

/// The gate's `error` text, or the start of whatever else it sent.
fn gate_error(parsed: Option<&Value>, text: &str) -> String {
    parsed
        .and_then(|v| v.get("error"))
        .and_then(Value::as_str)
        .map_or_else(|| snippet(text), str::to_owned)
}

/// The first line of a body, cut short: enough to recognise a proxy's error page.
fn snippet(text: &str) -> String {
    let line = text.trim().lines().next().unwrap_or("").trim();
    if line.is_empty() {
        return "empty body".to_owned();
    }
    let mut cut: String = line.chars().take(120).collect();
    if cut.len() < line.len() {
        cut.push('…');
    }
    cut
}

/// Percent-encodes a query value (everything but RFC 3986's unreserved characters).
fn percent_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[test]
    fn answers_sort_into_exit_codes() {
        let exit = |status, body: &str| {
            classify("u", status, None, body, "audit")
                .err()
                .map(|f| f.exit)
        };
        assert_eq!(exit(200, "{}"), None);
        assert_eq!(exit(200, "<html>"), Some(Exit::Unreachable));
        assert_eq!(exit(302, ""), Some(Exit::Unreachable));
        assert_eq!(
            exit(400, r#"{"error":"x: bad","field":"x"}"#),
            Some(Exit::Refused)
        );
        assert_eq!(exit(401, "{}"), Some(Exit::Unauthorized));
        assert_eq!(exit(403, ""), Some(Exit::Unauthorized));
        assert_eq!(exit(404, "not found"), Some(Exit::NotOffered));
        assert_eq!(
            exit(404, r#"{"error":"no such room","field":"room"}"#),
            Some(Exit::Refused)
        );
        assert_eq!(
            exit(413, r#"{"error":"body too large"}"#),
            Some(Exit::Refused)
        );
        assert_eq!(exit(503, "busy"), Some(Exit::Unreachable));
    }

    #[test]
    fn a_refusal_names_the_field_once() {
        let f = classify(
            "u",
            400,
            None,
            r#"{"error":"burst: must be at most one second of the rate","field":"burst"}"#,
            "config",
        )
        .unwrap_err();
        assert_eq!(
            f.message,
            "the gate refused burst: must be at most one second of the rate"
        );
        assert_eq!(f.field.as_deref(), Some("burst"));
    }

    #[test]
    fn query_values_are_encoded() {
        assert_eq!(percent_encode("a b/ü"), "a%20b%2F%C3%BC");
        let gate = Gate::new("http://h:1/", String::new(), Some("r 1".into()), 1).unwrap();
        assert_eq!(
            gate.url("/admin/audit", &[("since", "5".into())]),
            "http://h:1/admin/audit?room=r%201&since=5"
        );
        assert!(Gate::new("h:1", String::new(), None, 1).is_err());
    }
}
