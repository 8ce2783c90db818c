//! The operator console's outside input (the worker's `src/operator/session.rs`, compiled in
//! here from its own file, and the sign-in body): the session cookie's value
//! (`SessionKey::verify`), the cross-site checks on a change (`cross_site_refusal`), and the
//! `{"token": "…"}` body of `POST /admin/session`. A forged or odd cookie is no session, and
//! only the console's own pages may change anything with one. The input is the text alone,
//! read as each of them.
#![no_main]

use libfuzzer_sys::fuzz_target;
use serde_json::Value;
use sha2::{Digest, Sha256};

// The worker's module, as it is: its tests and the Workers API stay out of it by design
// ("kept free of the Workers API so it can be tested natively"), but the worker's modules are
// private to its crate, so it is compiled here from its path. Not every item is used here.
#[allow(dead_code)]
#[path = "../../src/operator/session.rs"]
mod session;

/// What `session.rs` takes from the worker's settings (`crate::shared::settings`), which takes
/// it from `edgegate_web`: the same constant, so it cannot drift.
mod shared {
    pub mod settings {
        pub use edgegate_web::settings::CONSOLE_SESSION_S;
    }
}

use session::{cross_site_refusal, token_matches, SessionKey, LIFETIME_S};

fuzz_target!(|text: &str| {
    for now_ms in [0, 1_626_015_600_000, u64::MAX] {
        session(text, now_ms, [0x5a; 16]);
    }
    sign_in(text);
    // A change needs the console's header and, when the browser names one, its own origin.
    let own = "https://gate-admin.example.org";
    for (changes_state, console_header, origin) in [
        (true, Some(text), None),
        (true, Some("1"), Some(text)),
        (false, Some(text), Some(text)),
        (true, None, Some(text)),
    ] {
        let refused = cross_site_refusal(changes_state, console_header, origin, own);
        let allowed = !changes_state
            || (console_header.map(str::trim) == Some("1")
                && origin.is_none_or(|o| o.trim() == own));
        assert_eq!(refused.is_none(), allowed);
    }
});

const ADMIN_TOKEN: &str = "an admin token of thirty-two characters or more";

fn digest() -> [u8; 32] {
    Sha256::digest(ADMIN_TOKEN.as_bytes()).into()
}

/// Any cookie value at `now_ms`: a session only within its lifetime from now; and what the
/// gate mints for `id` verifies as the session it names, under its own key only.
fn session(cookie: &str, now_ms: u64, id: [u8; 16]) {
    let key = SessionKey::derive(&digest(), "booking").expect("a key from any digest");
    let now_s = now_ms / 1000;
    if let Some(s) = key.verify(cookie, now_ms) {
        assert!(s.expires_s > now_s && s.expires_s <= now_s.saturating_add(LIFETIME_S));
    }
    if let Some(minted) = key.mint(id, now_ms) {
        let session = key
            .verify(&minted, now_ms)
            .expect("a fresh session verifies");
        assert_eq!(session.id, id);
        let other = SessionKey::derive(&digest(), "pass-check").expect("a key");
        assert_eq!(other.verify(&minted, now_ms), None, "another room's key");
    }
}

/// The sign-in body, read as `console::sign_in` reads it (there, inside the request handler):
/// only the admin token signs in.
fn sign_in(body: &str) {
    let token = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("token").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_default();
    let signs_in = !token.trim().is_empty() && token_matches(&token, &digest());
    assert_eq!(signs_in, token.trim() == ADMIN_TOKEN);
}
