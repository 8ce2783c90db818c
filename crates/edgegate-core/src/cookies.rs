//! The gate's two cookies: reading them from a bounded `Cookie` header, and writing them with the
//! contract's flags (`HttpOnly; SameSite=Lax; Path=/`, plus `Secure` and the `__Host-` prefix on
//! https).

pub const TICKET: &str = "edgegate_ticket";
pub const PASS: &str = "edgegate_pass";
/// Carries a test key for browser suites that cannot set a header (see README).
pub const TEST_KEY: &str = "edgegate_test";
/// The header a browser test sends its test key in (or the [`TEST_KEY`] cookie).
pub const TEST_KEY_HEADER: &str = "Edgegate-Test-Key";

/// The name a cookie carries on this scheme.
pub fn name(base: &str, https: bool) -> String {
    if https {
        format!("__Host-{base}")
    } else {
        base.to_owned()
    }
}

/// The value of cookie `name` in a `Cookie` header of any size the platform accepts (the first,
/// if it is there more than once). A long header full of another site's cookies (a sibling
/// subdomain can set them for the whole domain) must not hide the gate's: that would put its
/// holder at the back of the line. One pass over the text, no copy; a value longer than any
/// token is never looked at twice (the token's own check refuses it).
pub fn read<'a>(header: &'a str, name: &str) -> Option<&'a str> {
    header.split(';').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k.trim() == name).then(|| v.trim().trim_matches('"'))
    })
}

/// A `Set-Cookie` value. `value` is token text (base64url), so it needs no quoting; anything
/// else is refused by the caller before it gets here.
pub fn set(name: &str, value: &str, max_age_s: u64, https: bool) -> String {
    let secure = if https { "; Secure" } else { "" };
    format!("{name}={value}; Max-Age={max_age_s}; Path=/; HttpOnly; SameSite=Lax{secure}")
}

/// The `Cookie` header without the gate's own cookies, for forwarding to the origin.
pub fn without_gate_cookies(header: &str) -> String {
    header
        .split(';')
        .map(str::trim)
        .filter(|pair| {
            let key = pair.split_once('=').map_or(*pair, |(k, _)| k).trim();
            // Every room's cookies: the default room's names, or another's with its suffix.
            ![TICKET, PASS, TEST_KEY]
                .iter()
                .any(|gate| key.contains(gate))
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// Is `line` (a `Set-Cookie` value from the origin) one for the gate's ticket or pass, of any
/// room? The origin may not set those: they are dropped on the way back.
pub fn is_gate_set_cookie(line: &str) -> bool {
    line.split_once('=')
        .is_some_and(|(name, _)| name.contains(TICKET) || name.contains(PASS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_named_cookie_only() {
        let h = "a=1; edgegate_ticket=abc; x_edgegate_ticket=zzz";
        assert_eq!(read(h, "edgegate_ticket"), Some("abc"));
        assert_eq!(read(h, "edgegate_pass"), None);
        // Behind 30 KB of another site's cookies, the gate's is found all the same.
        let crowded = format!(
            "{}; edgegate_ticket=abc",
            "other=1234567890; ".repeat(1_700)
        );
        assert!(crowded.len() > 30_000);
        assert_eq!(read(&crowded, "edgegate_ticket"), Some("abc"));
    }

    #[test]
    fn flags_follow_the_contract() {
        assert_eq!(
            set(&name(TICKET, true), "v", 60, true),
            "__Host-edgegate_ticket=v; Max-Age=60; Path=/; HttpOnly; SameSite=Lax; Secure"
        );
        assert_eq!(
            set(&name(PASS, false), "v", 0, false),
            "edgegate_pass=v; Max-Age=0; Path=/; HttpOnly; SameSite=Lax"
        );
    }

    #[test]
    fn forwarding_strips_gate_cookies() {
        assert_eq!(
            without_gate_cookies("a=1; edgegate_pass=p; __Host-edgegate_ticket=t; b=2"),
            "a=1; b=2"
        );
    }
}
