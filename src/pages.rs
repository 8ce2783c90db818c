//! Small built-in pages for answers that are not the waiting page: gateway errors and the like.
//! Fixed bilingual text only; nothing from the request is reflected.

use worker::{Headers, Response, ResponseBuilder};

/// The built-in pages' `Content-Security-Policy`.
pub const PLAIN_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";

/// A minimal no-store HTML page with a title, a message and a "try again" link.
pub fn plain(status: u16, title: &str, message: &str) -> Response {
    page(status, plain_html(title, message))
}

/// `html` (a [`plain_html`]) as a response with the built-in pages' headers.
pub fn page(status: u16, html: String) -> Response {
    let headers = Headers::new();
    let _ = headers.set("Content-Type", "text/html; charset=utf-8");
    let _ = headers.set("Cache-Control", "no-store");
    let _ = headers.set("Content-Security-Policy", PLAIN_CSP);
    ResponseBuilder::new()
        .with_status(status)
        .with_headers(headers)
        .fixed(html.into_bytes())
}

/// The HTML of [`plain`], on one line.
pub fn plain_html(title: &str, message: &str) -> String {
    format!(
        "<!doctype html><html lang=\"ko\"><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\
         <title>{title}</title>\
         <body style=\"font:1.1rem/1.5 system-ui,sans-serif;max-width:36rem;margin:2rem auto;padding:0 1rem;color:#111\">\
         <h1 style=\"font-size:1.4rem\">{title}</h1><p>{message}</p>\
         <p><a href=\"\">다시 시도 · Try again</a></p></body></html>"
    )
}
