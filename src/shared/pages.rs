//! The gate's built-in pages (`edgegate_web::pages`), as workers-rs responses.

use worker::{Response, ResponseBuilder};

pub use edgegate_web::pages::*;

use crate::shared::headers::{self, Kind};

/// A built-in page as a workers-rs response.
pub fn page(status: u16, html: String) -> Response {
    let builder = ResponseBuilder::new().with_status(status);
    let builder = match headers::of(Kind::Plain) {
        Ok(headers) => builder.with_headers(headers),
        Err(_) => builder,
    };
    builder.fixed(html.into_bytes())
}
