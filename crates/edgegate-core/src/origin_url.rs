//! Where an origin's URL leads: the host of `ORIGIN_URL` (or of a room's `origin`) read as the
//! runtime's `fetch` reads it, and whether it names the public internet or a place a deployed
//! gate must never forward to: this machine, a private network, a link, or no address at all.
//!
//! `wrangler.toml`'s local `ORIGIN_URL` is a loopback address. Deployed by mistake, a gate that
//! forwards there would put every admitted citizen in front of a dead (or worse, someone else's)
//! service; so the address is refused unless the deployment says it is local
//! ([`LocalOrigins::Allowed`], `ALLOW_LOCAL_ORIGIN = "on"`), and the gate answers 503 and logs why.
//!
//! Hosts are read the WHATWG way, as the runtime's URL parser does: the scheme in any case,
//! any run of `/` and `\` after it, credentials before the last `@` dropped, `%XX` decoded,
//! letters lowered, one trailing dot ignored, and a name whose last label is a number read as
//! an IPv4 address in any of the forms that parser takes (`2130706433`, `0x7f.1`, `0177.0.0.1`
//! are all `127.0.0.1`). A name that merely starts with digits (`1password.com`,
//! `127.0.0.1.example.org`) is a name. A host the gate cannot place (not ASCII once decoded,
//! whose internationalised mapping could yield an address; a number out of range) is
//! [`Reach::Unreadable`], refused like a local one. The check guards against a mistaken
//! setting; it does not follow DNS, so a public name that resolves to a private address passes.

use std::net::{Ipv4Addr, Ipv6Addr};

/// Whether this deployment may forward to an origin on loopback, a private network or a link:
/// `Allowed` in local development and tests only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LocalOrigins {
    Refused,
    Allowed,
}

impl LocalOrigins {
    /// From `ALLOW_LOCAL_ORIGIN`: `"on"` (spaces around it aside) allows; anything else, or no
    /// value at all, refuses, so a deployment that never heard of the setting is safe.
    pub fn from_setting(value: Option<&str>) -> LocalOrigins {
        if value.is_some_and(|v| v.trim() == "on") {
            LocalOrigins::Allowed
        } else {
            LocalOrigins::Refused
        }
    }
}

/// What a host names, as far as its text tells.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reach {
    /// A name, or an address on the public internet.
    Public,
    /// This machine: `127.0.0.0/8`, `::1`, `localhost` and names under it.
    Loopback,
    /// A private network: `10/8`, `172.16/12`, `192.168/16`, the carriers' shared `100.64/10`,
    /// `fc00::/7` and the old site-local `fec0::/10`.
    Private,
    /// `169.254/16`, `fe80::/10`.
    LinkLocal,
    /// `0.0.0.0/8` (which reaches this machine on most systems) and `::`.
    Unspecified,
    /// Text that is no host the gate can place (see the module's notes).
    Unreadable,
}

impl Reach {
    /// The words the log line uses for it.
    fn described(self) -> &'static str {
        match self {
            Reach::Public => "a public address",
            Reach::Loopback => "a loopback address",
            Reach::Private => "a private address",
            Reach::LinkLocal => "a link-local address",
            Reach::Unspecified => "the unspecified address",
            Reach::Unreadable => "not one the gate can tell is public",
        }
    }
}

/// The host of an `http:` or `https:` URL as written (brackets kept around IPv6, no port, no
/// credentials), or `None` for any other text or an empty host.
pub fn host(url: &str) -> Option<&str> {
    let (scheme, rest) = url.trim().split_once(':')?;
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return None;
    }
    let rest = rest.trim_start_matches(['/', '\\']);
    let authority = rest.split(['/', '\\', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if host_port.starts_with('[') {
        host_port
            .find(']')
            .and_then(|end| host_port.get(..=end))
            .unwrap_or(host_port)
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    (!host.is_empty()).then_some(host)
}

/// What `host` (as [`host`] finds it) names.
pub fn reach(host: &str) -> Reach {
    if let Some(inner) = host.strip_prefix('[') {
        return match inner.strip_suffix(']').map(str::parse::<Ipv6Addr>) {
            Some(Ok(address)) => reach_v6(address),
            _ => Reach::Unreadable,
        };
    }
    let Some(name) = percent_decoded(host) else {
        return Reach::Unreadable;
    };
    if !name.is_ascii() || name.bytes().any(forbidden) {
        return Reach::Unreadable;
    }
    let name = name.to_ascii_lowercase();
    let name = name.strip_suffix('.').unwrap_or(&name);
    if name == "localhost" || name.ends_with(".localhost") {
        return Reach::Loopback;
    }
    if !ends_in_a_number(name) {
        return Reach::Public;
    }
    ipv4(name).map_or(Reach::Unreadable, reach_v4)
}

/// `Ok` when the deployment may forward to `url`, else why not, naming `setting` (such as
/// `ORIGIN_URL`) and the fix. Any deployment needs an `http:` or `https:` URL with a host;
/// one that refuses local origins also needs a [`Reach::Public`] host.
pub fn check(setting: &str, url: &str, local: LocalOrigins) -> Result<(), String> {
    // The URL parser drops tabs and line ends wherever they are, so the host is read without.
    let url: String = url
        .chars()
        .filter(|c| !matches!(c, '\t' | '\n' | '\r'))
        .collect();
    let Some(host) = host(&url) else {
        return Err(format!(
            "{setting} must be an http:// or https:// URL with a host, such as https://origin.example.org"
        ));
    };
    let reach = reach(host);
    if local == LocalOrigins::Allowed || reach == Reach::Public {
        return Ok(());
    }
    Err(format!(
        "{setting}: its host {host:?} is {}, which a deployed gate does not forward to. \
         Give it the origin's public address (for ORIGIN_URL, deploy with --env production \
         --var ORIGIN_URL:https://origin.example.org), or, in local development only, run \
         the gate with ALLOW_LOCAL_ORIGIN = \"on\" (scripts/dev does)",
        reach.described()
    ))
}

fn reach_v4(address: Ipv4Addr) -> Reach {
    let [a, b, ..] = address.octets();
    match (a, b) {
        (0, _) => Reach::Unspecified,
        (127, _) => Reach::Loopback,
        (10, _) | (192, 168) => Reach::Private,
        (172, 16..=31) | (100, 64..=127) => Reach::Private,
        (169, 254) => Reach::LinkLocal,
        _ => Reach::Public,
    }
}

fn reach_v6(address: Ipv6Addr) -> Reach {
    if address.is_unspecified() {
        return Reach::Unspecified;
    }
    if address.is_loopback() {
        return Reach::Loopback;
    }
    // `::ffff:a.b.c.d` (mapped) and `::a.b.c.d` (the old compatible form) reach the IPv4 address.
    if let Some(v4) = address.to_ipv4() {
        return reach_v4(v4);
    }
    match address.segments().first().copied().unwrap_or_default() {
        s if s & 0xfe00 == 0xfc00 => Reach::Private,
        s if s & 0xffc0 == 0xfec0 => Reach::Private,
        s if s & 0xffc0 == 0xfe80 => Reach::LinkLocal,
        _ => Reach::Public,
    }
}

/// `text` with every `%XX` decoded, or `None` where a `%` is not followed by two hex digits or
/// the bytes are not UTF-8.
fn percent_decoded(text: &str) -> Option<String> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.bytes();
    while let Some(b) = rest.next() {
        if b == b'%' {
            let high = char::from(rest.next()?).to_digit(16)?;
            let low = char::from(rest.next()?).to_digit(16)?;
            bytes.push(u8::try_from(high * 16 + low).ok()?);
        } else {
            bytes.push(b);
        }
    }
    String::from_utf8(bytes).ok()
}

/// The characters the URL parser refuses in a name (its forbidden domain code points).
fn forbidden(b: u8) -> bool {
    b <= b' ' || b == 0x7f || b"#%/:<>?@[\\]^|".contains(&b)
}

/// Does the URL parser read `name` as an IPv4 address: is its last label (less one empty label
/// after a trailing dot) all digits, or a `0x` hex number?
fn ends_in_a_number(name: &str) -> bool {
    let last = name.rsplit('.').next().unwrap_or_default();
    !last.is_empty() && (last.bytes().all(|b| b.is_ascii_digit()) || ipv4_number(last).is_some())
}

/// `name` as the URL parser's IPv4 parser reads it: one to four numbers, the last filling the
/// bytes the others leave, or `None` where it would fail the URL.
fn ipv4(name: &str) -> Option<Ipv4Addr> {
    let parts: Vec<&str> = name.split('.').collect();
    let (last, first) = parts.split_last()?;
    if parts.len() > 4 {
        return None;
    }
    let mut value: u64 = 0;
    for (i, part) in first.iter().enumerate() {
        let n = ipv4_number(part).filter(|n| *n <= 255)?;
        value |= n << (8 * (3 - i));
    }
    let room = 8 * (4 - first.len());
    let n = ipv4_number(last).filter(|n| *n < 1u64 << room)?;
    u32::try_from(value | n).ok().map(Ipv4Addr::from)
}

/// One number of an IPv4 address: decimal, `0x` hex or `0` octal, as the URL parser takes it.
fn ipv4_number(text: &str) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    let (digits, radix) =
        if let Some(hex) = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")) {
            (hex, 16)
        } else if let Some(octal) = text.strip_prefix('0').filter(|rest| !rest.is_empty()) {
            (octal, 8)
        } else {
            (text, 10)
        };
    digits.chars().try_fold(0u64, |n, c| {
        let digit = c.to_digit(radix)?;
        n.checked_mul(u64::from(radix))?
            .checked_add(u64::from(digit))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_on_allows_local_origins_and_no_setting_refuses_them() {
        assert_eq!(LocalOrigins::from_setting(None), LocalOrigins::Refused);
        for refused in ["", "off", "ON", "yes", "true", "1", "on please"] {
            let local = LocalOrigins::from_setting(Some(refused));
            assert_eq!(local, LocalOrigins::Refused, "{refused:?}");
        }
        for allowed in ["on", " on\n"] {
            let local = LocalOrigins::from_setting(Some(allowed));
            assert_eq!(local, LocalOrigins::Allowed, "{allowed:?}");
        }
    }

    #[test]
    fn the_host_is_found_as_the_url_parser_finds_it() {
        for (url, want) in [
            ("http://127.0.0.1:8788", Some("127.0.0.1")),
            (
                "https://origin.example.org/base/",
                Some("origin.example.org"),
            ),
            ("HTTPS://Origin.Example.org", Some("Origin.Example.org")),
            ("http://[::1]:8788/", Some("[::1]")),
            ("http://[::1]", Some("[::1]")),
            ("http://user:pw@10.0.0.1/", Some("10.0.0.1")),
            ("http://a@b@192.168.1.1", Some("192.168.1.1")),
            ("http:\\\\127.0.0.1\\x", Some("127.0.0.1")),
            ("http:127.0.0.1", Some("127.0.0.1")),
            ("http://host?x", Some("host")),
            ("http://host#x", Some("host")),
            ("  http://host  ", Some("host")),
            ("origin.example.org", None),
            ("ftp://origin.example.org", None),
            ("http://", None),
            ("http://:8080/", None),
            ("", None),
        ] {
            assert_eq!(host(url), want, "{url}");
        }
    }

    #[test]
    fn addresses_on_this_machine_and_private_networks_are_told_apart_from_public_ones() {
        use Reach::*;
        for (host, want) in [
            // IPv4, in the forms the URL parser reads.
            ("127.0.0.1", Loopback),
            ("127.255.255.254", Loopback),
            ("127.0.0.1.", Loopback),
            ("2130706433", Loopback),
            ("0x7f.1", Loopback),
            ("0X7F.0.0.1", Loopback),
            ("0177.0.0.1", Loopback),
            ("127.1", Loopback),
            ("%31%32%37.0.0.1", Loopback),
            ("10.1.2.3", Private),
            ("172.16.0.1", Private),
            ("172.31.255.255", Private),
            ("192.168.0.10", Private),
            ("100.64.0.1", Private),
            ("169.254.169.254", LinkLocal),
            ("0.0.0.0", Unspecified),
            ("0", Unspecified),
            ("172.15.0.1", Public),
            ("172.32.0.1", Public),
            ("192.169.0.1", Public),
            ("100.128.0.1", Public),
            ("8.8.8.8", Public),
            ("1.1.1.1.", Public),
            // IPv6, always bracketed in a URL.
            ("[::1]", Loopback),
            ("[0:0:0:0:0:0:0:1]", Loopback),
            ("[::]", Unspecified),
            ("[::ffff:127.0.0.1]", Loopback),
            ("[::FFFF:7F00:1]", Loopback),
            ("[::ffff:10.0.0.1]", Private),
            ("[::ffff:8.8.8.8]", Public),
            ("[fc00::1]", Private),
            ("[fd12:3456::1]", Private),
            ("[fec0::1]", Private),
            ("[fe80::1]", LinkLocal),
            ("[FE80::1]", LinkLocal),
            ("[2606:4700::1111]", Public),
            ("[::1", Unreadable),
            ("[not-an-address]", Unreadable),
            ("[fe80::1%25eth0]", Unreadable),
            // Names.
            ("localhost", Loopback),
            ("LOCALHOST", Loopback),
            ("localhost.", Loopback),
            ("LocalHost.", Loopback),
            ("gate.localhost", Loopback),
            ("origin.example.org", Public),
            ("ORIGIN.EXAMPLE.ORG.", Public),
            ("localhost.example.org", Public),
            ("notlocalhost", Public),
            // Names that merely start with digits, or hold an address before a name.
            ("1password.com", Public),
            ("127.0.0.1.example.org", Public),
            ("10.example", Public),
            ("0x7f.example", Public),
            ("192.168.1.1.nip.io", Public),
            ("0xg", Public),
            // What the URL parser would reject, or the gate cannot place.
            ("256.0.0.1", Unreadable),
            ("1.2.3.4.5", Unreadable),
            ("example.123", Unreadable),
            ("127.0.0.0x100", Unreadable),
            ("4294967296", Unreadable),
            ("99999999999999999999999", Unreadable),
            ("08.0.0.1", Unreadable),
            ("１２７.０.０.１", Unreadable),
            ("bücher.example", Unreadable),
            ("%zz.example", Unreadable),
            ("%2f.example", Unreadable),
        ] {
            assert_eq!(reach(host), want, "{host}");
        }
    }

    #[test]
    fn a_local_origin_is_refused_unless_the_deployment_allows_it() {
        use LocalOrigins::*;
        for url in [
            "http://127.0.0.1:8788",
            "http://localhost:8788/",
            "http://[::1]:8788",
            "http://[::ffff:127.0.0.1]/",
            "https://10.0.0.5",
            "http://user@192.168.0.2",
            "http://0.0.0.0:80",
            "http://169.254.169.254/latest",
            "http://\t127.0.0.1/",
        ] {
            let err = check("ORIGIN_URL", url, Refused).unwrap_err();
            assert!(err.starts_with("ORIGIN_URL: its host"), "{url}: {err}");
            assert!(err.contains("ALLOW_LOCAL_ORIGIN"), "{url}: {err}");
            assert!(err.contains("--var ORIGIN_URL:https://"), "{url}: {err}");
            assert_eq!(check("ORIGIN_URL", url, Allowed), Ok(()), "{url}");
        }
        let err = check("ORIGIN_URL", "http://localhost", Refused).unwrap_err();
        assert!(err.contains("\"localhost\" is a loopback address"), "{err}");
        // Credentials in the URL never reach the log line.
        let err = check("ORIGIN_URL", "http://me:secret@10.0.0.1", Refused).unwrap_err();
        assert!(!err.contains("secret"), "{err}");
        for url in ["https://origin.example.org", "http://1password.com:8080/"] {
            assert_eq!(check("ORIGIN_URL", url, Refused), Ok(()), "{url}");
        }
        for url in ["origin.example.org", "ftp://origin.example.org", "http://"] {
            for local in [Refused, Allowed] {
                let err = check("ORIGIN_URL", url, local).unwrap_err();
                assert!(err.contains("http:// or https://"), "{url}: {err}");
            }
        }
    }
}
