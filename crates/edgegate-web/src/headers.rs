//! The headers of every kind of answer the gate builds itself, written once: the workers-rs
//! routes build `Headers` from these, and the JS entry builds its responses from the same sets,
//! which it reads from the wasm once per isolate (`edge::entry::edge_lists`).

/// The waiting page's security headers: nothing but our own files, never framed.
pub const PAGE_CSP: &str =
    "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
/// The built-in pages' (errors, a withdrawn pass): no script, inline style only.
pub const PLAIN_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'";
/// The no-JavaScript status page, shown in a frame of the waiting page.
pub const STATUS_PAGE_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'";
/// The operator console: nothing but the gate's own files and API; never framed.
pub const CONSOLE_CSP: &str = "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; \
     form-action 'none'; object-src 'none'";

const JSON: &str = "application/json";
const HTML: &str = "text/html; charset=utf-8";

/// What every answer meant for one visitor carries: never cached, never sniffed, and no
/// address of ours leaked to another site.
pub const PERSONAL: [(&str, &str); 3] = [
    ("cache-control", "no-store"),
    ("x-content-type-options", "nosniff"),
    ("referrer-policy", "same-origin"),
];

/// The kinds of answer the gate builds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The status poll's JSON, and the admin API's.
    Json,
    /// The waiting page.
    Page,
    /// The no-JavaScript status page.
    StatusPage,
    /// A built-in page: errors, a withdrawn pass, a request too large.
    Plain,
    /// The operator console's page.
    Console,
    /// Plain text: the health answer.
    Text,
}

impl Kind {
    /// Every kind, with the name the JS entry knows it by.
    pub const ALL: [(Kind, &'static str); 6] = [
        (Kind::Json, "json"),
        (Kind::Page, "page"),
        (Kind::StatusPage, "status_page"),
        (Kind::Plain, "plain"),
        (Kind::Console, "console"),
        (Kind::Text, "text"),
    ];

    /// This kind's headers, lower-case names.
    pub fn set(self) -> Vec<(&'static str, &'static str)> {
        let (content_type, csp) = match self {
            Kind::Json => (JSON, None),
            Kind::Page => (HTML, Some(PAGE_CSP)),
            Kind::StatusPage => (HTML, Some(STATUS_PAGE_CSP)),
            Kind::Plain => (HTML, Some(PLAIN_CSP)),
            Kind::Console => (HTML, Some(CONSOLE_CSP)),
            Kind::Text => ("text/plain; charset=utf-8", None),
        };
        let mut set = vec![("content-type", content_type)];
        set.extend(PERSONAL);
        if let Some(csp) = csp {
            set.push(("content-security-policy", csp));
        }
        if self == Kind::Console {
            set.push(("x-frame-options", "DENY"));
        }
        set
    }
}

/// The header on the admin API's answer to `PUT /admin/faults` (stack tests only) that carries
/// a cut-off to the citizen's wasm, which runs the isolate's syncs: `<until ms>;<location>`
/// (no location: every one). The entry hands it over and never lets it out.
pub const CUT_OFF_HEADER: &str = "edgegate-cut-off";
