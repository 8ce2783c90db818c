//! The worker's one error type, mapped to HTTP in one place. Internal failures are logged and
//! answered with a plain page that leaks nothing; client mistakes are not errors here at all
//! (a bad cookie is just no cookie).

use worker::Response;

#[derive(Debug)]
pub enum GateError {
    /// The deployment is misconfigured (a secret or var missing or malformed).
    Misconfigured(String),
    /// Anything else that went wrong inside the gate.
    Internal(String),
}

impl From<worker::Error> for GateError {
    fn from(e: worker::Error) -> Self {
        GateError::Internal(e.to_string())
    }
}

impl GateError {
    pub fn into_response(self) -> Response {
        let (status, html) = self.into_page();
        crate::shared::pages::page(status, html)
    }

    /// The status and HTML of the page that answers this error (logged here, once).
    pub fn into_page(self) -> (u16, String) {
        let (status, detail) = match &self {
            GateError::Misconfigured(d) => (503, d),
            GateError::Internal(d) => (500, d),
        };
        worker::console_error!("edgegate: {status}: {detail}");
        (status, crate::shared::pages::something_went_wrong())
    }
}
