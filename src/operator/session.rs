//! The operator console's session cookie, kept free of the Workers API so it can be tested
//! natively. The cookie is `<expiry s>.<id hex>.<hex HMAC-SHA256>`: any isolate checks its MAC
//! and expiry without asking anyone; its key is derived from the admin token, so rotating the
//! token ends every session at once; and its random id is what signing out ends for good (the
//! room coordinator keeps the ended ids until they would have expired, and is asked on every
//! call made with a session), so a copy of the cookie taken before the sign-out is worth
//! nothing after it. The console's cross-site defences (a custom header and an `Origin` match
//! on state-changing calls) are also decided here.

use edgegate_core::keys::{hex, unhex};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// The cookie's base name; on https it carries the `__Secure-` prefix (see [`cookie_name`]).
pub const COOKIE: &str = "edgegate_admin";
/// How long a session lasts, in seconds: short, so a forgotten console tab stops being a key.
pub const LIFETIME_S: u64 = crate::shared::settings::CONSOLE_SESSION_S;
/// The header the console sends on every call. A cross-site form or `no-cors` fetch cannot set
/// it, so a cookie-authenticated change without it did not come from the console.
pub const CONSOLE_HEADER: &str = "X-Edgegate-Console";

/// The key session cookies are signed with, for one room and one admin token.
pub struct SessionKey([u8; 32]);

impl SessionKey {
    /// Derives the key from the admin token's SHA-256 digest (all the gate keeps of the token)
    /// and the room, so one token shared by two rooms does not make their sessions interchangeable.
    pub fn derive(token_digest: &[u8; 32], room: &str) -> Option<SessionKey> {
        let mut mac = Hmac::<Sha256>::new_from_slice(token_digest).ok()?;
        mac.update(b"edgegate admin console session v1\0");
        mac.update(room.as_bytes());
        Some(SessionKey(mac.finalize().into_bytes().into()))
    }

    fn mac(&self, expires_s: u64, id: &[u8; 16]) -> Option<Hmac<Sha256>> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).ok()?;
        mac.update(&expires_s.to_be_bytes());
        mac.update(id);
        Some(mac)
    }

    /// A cookie value for the session `id` (16 random bytes), good for [`LIFETIME_S`] from
    /// `now_ms`.
    pub fn mint(&self, id: [u8; 16], now_ms: u64) -> Option<String> {
        let expires_s = now_ms / 1000 + LIFETIME_S;
        let tag = self.mac(expires_s, &id)?.finalize().into_bytes();
        Some(format!("{expires_s}.{}.{}", hex(&id), hex(&tag)))
    }

    /// The session a cookie value names, if this key minted it and it has not expired: its id
    /// and expiry (unix s). An expiry further ahead than a fresh session's is refused too: no
    /// honest cookie has one.
    pub fn verify(&self, value: &str, now_ms: u64) -> Option<Session> {
        let mut parts = value.split('.');
        let (expires, id, tag) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let expires_s = expires.parse::<u64>().ok()?;
        let now_s = now_ms / 1000;
        if expires_s <= now_s || expires_s > now_s.saturating_add(LIFETIME_S) {
            return None;
        }
        let id: [u8; 16] = unhex(id)?.try_into().ok()?;
        let tag = unhex(tag)?;
        // `verify_slice` compares in constant time.
        self.mac(expires_s, &id)?.verify_slice(&tag).ok()?;
        Some(Session { id, expires_s })
    }
}

/// A console session a cookie proved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Session {
    pub id: [u8; 16],
    /// Unix seconds.
    pub expires_s: u64,
}

/// Does `token` hash to `digest`? Compared as digests, in constant time, so neither the
/// contents nor the length of the real token leak through timing. The token is trimmed as the
/// stored one was (`shared::settings::token_digest`).
pub fn token_matches(token: &str, digest: &[u8; 32]) -> bool {
    let given: [u8; 32] = Sha256::digest(token.trim().as_bytes()).into();
    given.ct_eq(digest).into()
}

/// The cookie's name on this scheme. Not `__Host-`, which browsers accept only with `Path=/`:
/// the session stays under `/admin` so it never travels with a citizen's request to the origin.
pub fn cookie_name(https: bool) -> String {
    if https {
        format!("__Secure-{COOKIE}")
    } else {
        COOKIE.to_owned()
    }
}

/// The `Set-Cookie` value starting a session (`max_age_s` = [`LIFETIME_S`]) or ending one (0).
pub fn set_cookie(value: &str, max_age_s: u64, https: bool) -> String {
    let secure = if https { "; Secure" } else { "" };
    format!(
        "{}={value}; HttpOnly; SameSite=Strict; Path=/admin; Max-Age={max_age_s}{secure}",
        cookie_name(https)
    )
}

/// May a cookie-authenticated call go ahead? Reading needs nothing more (`SameSite=Strict`
/// already keeps the cookie off cross-site requests); a change also needs the console's header,
/// and, when the browser names the page it came from, that page must be the gate itself.
pub fn cross_site_refusal(
    changes_state: bool,
    console_header: Option<&str>,
    origin_header: Option<&str>,
    own_origin: &str,
) -> Option<&'static str> {
    if !changes_state {
        return None;
    }
    if console_header.map(str::trim) != Some("1") {
        return Some(
            "a change made with the console's session needs the X-Edgegate-Console: 1 header",
        );
    }
    match origin_header {
        Some(origin) if origin.trim() != own_origin => {
            Some("a change made with the console's session must come from the gate's own pages")
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_700_000_000_000;

    fn key(token: &str) -> SessionKey {
        SessionKey::derive(&Sha256::digest(token.as_bytes()).into(), "booking").unwrap()
    }

    const ID: [u8; 16] = [7; 16];

    #[test]
    fn a_fresh_cookie_is_accepted_until_it_expires() {
        let k = key("secret");
        let cookie = k.mint(ID, NOW).unwrap();
        assert!(cookie.starts_with(&format!("{}.", NOW / 1000 + LIFETIME_S)));
        let session = k.verify(&cookie, NOW).unwrap();
        assert_eq!(session.id, ID);
        assert!(k.verify(&cookie, NOW + (LIFETIME_S - 1) * 1000).is_some());
        assert!(k.verify(&cookie, NOW + LIFETIME_S * 1000).is_none());
    }

    #[test]
    fn a_tampered_or_foreign_cookie_is_refused() {
        let k = key("secret");
        let cookie = k.mint(ID, NOW).unwrap();
        let [exp, id, tag] = cookie.split('.').collect::<Vec<_>>()[..] else {
            panic!("{cookie}")
        };
        // A later expiry, or another session's id, with the old tag.
        let earlier = exp.parse::<u64>().unwrap() - 1;
        assert!(k.verify(&format!("{earlier}.{id}.{tag}"), NOW).is_none());
        let other_id = hex(&[8; 16]);
        assert!(k.verify(&format!("{exp}.{other_id}.{tag}"), NOW).is_none());
        // One flipped digit of the tag.
        let flipped = format!(
            "{}{}",
            if tag.starts_with('0') { '1' } else { '0' },
            &tag[1..]
        );
        assert!(k.verify(&format!("{exp}.{id}.{flipped}"), NOW).is_none());
        // Another token, or another room, signs differently: rotating the token ends sessions.
        assert!(key("rotated").verify(&cookie, NOW).is_none());
        let other_room = SessionKey::derive(&Sha256::digest(b"secret").into(), "other").unwrap();
        assert!(other_room.verify(&cookie, NOW).is_none());
        for junk in [
            "",
            ".",
            "x.y.z",
            "123",
            &format!("{exp}.{id}"),
            &format!("{exp}.{id}.{tag}0"),
            &format!("{exp}.{id}.{tag}.x"),
        ] {
            assert!(k.verify(junk, NOW).is_none(), "{junk:?}");
        }
    }

    #[test]
    fn an_expiry_beyond_a_session_is_refused_even_if_signed() {
        let k = key("secret");
        let far = k.mint(ID, NOW + 10 * LIFETIME_S * 1000).unwrap();
        assert!(k.verify(&far, NOW).is_none());
    }

    #[test]
    fn the_stored_token_is_trimmed_and_long_enough() {
        use edgegate_web::settings::{token_digest, MIN_TOKEN_CHARS};
        let long = "t".repeat(MIN_TOKEN_CHARS);
        let digest = token_digest(Some(&format!("{long}\n"))).unwrap();
        assert!(
            token_matches(&long, &digest),
            "a secret put with a newline still matches"
        );
        assert!(token_digest(Some(&"t".repeat(MIN_TOKEN_CHARS - 1))).is_err());
        assert!(token_digest(Some("  ")).is_err() && token_digest(None).is_err());
    }

    #[test]
    fn tokens_match_only_exactly() {
        let digest: [u8; 32] = Sha256::digest(b"secret").into();
        assert!(token_matches("secret", &digest));
        assert!(token_matches(" secret\n", &digest));
        assert!(!token_matches("secreT", &digest));
        assert!(!token_matches("", &digest));
    }

    #[test]
    fn cookie_flags_follow_the_scheme() {
        assert_eq!(
            set_cookie("v", LIFETIME_S, false),
            "edgegate_admin=v; HttpOnly; SameSite=Strict; Path=/admin; Max-Age=1800"
        );
        assert_eq!(
            set_cookie("", 0, true),
            "__Secure-edgegate_admin=; HttpOnly; SameSite=Strict; Path=/admin; Max-Age=0; Secure"
        );
    }

    #[test]
    fn changes_need_the_header_and_a_matching_origin() {
        let own = "http://127.0.0.1:8787";
        assert_eq!(
            cross_site_refusal(false, None, Some("https://evil.example"), own),
            None
        );
        assert!(cross_site_refusal(true, None, None, own).is_some());
        assert!(cross_site_refusal(true, Some("0"), None, own).is_some());
        assert_eq!(cross_site_refusal(true, Some("1"), None, own), None);
        assert_eq!(cross_site_refusal(true, Some("1"), Some(own), own), None);
        assert!(cross_site_refusal(true, Some("1"), Some("https://evil.example"), own).is_some());
        assert!(cross_site_refusal(true, Some("1"), Some("null"), own).is_some());
    }
}
