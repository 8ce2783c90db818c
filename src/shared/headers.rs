//! The header sets of every kind of answer (`edgegate_web::headers`), as workers-rs `Headers`.

use worker::Headers;

pub use edgegate_web::headers::{Kind, PERSONAL};

use crate::shared::error::GateError;

/// `kind`'s headers, for a workers-rs response.
pub fn of(kind: Kind) -> Result<Headers, GateError> {
    let headers = Headers::new();
    for (name, value) in kind.set() {
        headers.set(name, value)?;
    }
    Ok(headers)
}

/// Headers for a response meant for one visitor only, of any `content_type`.
pub fn personal_headers(content_type: &str) -> Result<Headers, GateError> {
    let headers = Headers::new();
    headers.set("content-type", content_type)?;
    for (name, value) in PERSONAL {
        headers.set(name, value)?;
    }
    Ok(headers)
}
