//! The origin's configuration, read from the environment once at start-up.
//!
//! | variable | meaning | default |
//! |---|---|---|
//! | `ORIGIN_ADDR` | listen address | `127.0.0.1:8788` |
//! | `ORIGIN_METRICS_ADDR` | listen address for `GET /metrics` (operators only), or `off` | off |
//! | `ORIGIN_DB` | SQLite file (parent directory created) | `.edgegate/origin.db` |
//! | `PASS_KEYS` | pass verification keys, `id:hex[,id:hex…]` newest first | required |
//! | `ROOM` | the room whose passes are accepted | `booking` |
//! | `IDENTITY_KEY` | hex, ≥ 16 bytes: key of the citizen-identifier hash | required |
//! | `ORIGIN_MAX_IN_FLIGHT` | requests served at once; `0` or `unlimited` lifts the cap | `8` |
//!
//! Every error names the variable at fault and never echoes a secret's value.

use std::fmt;
use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;
use std::time::{SystemTime, UNIX_EPOCH};

use edgegate_core::keys::{unhex, ForPasses, MIN_SECRET_LEN};
use edgegate_core::{KeyRing, RoomTag, UnixMs};

/// The default cap on requests in flight: small, like the 2021 booking backend.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 8;

/// Everything `main` needs: where to listen, where the data lives, and the app's settings.
#[derive(Clone, Debug)]
pub struct Config {
    pub addr: SocketAddr,
    /// Where `GET /metrics` is served, apart from the citizens' port; `None` serves none.
    pub metrics_addr: Option<SocketAddr>,
    pub db_path: PathBuf,
    pub settings: Settings,
}

/// What the app itself needs (independent of sockets and files), so tests can build it directly.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Verifies `Gate-Pass` headers. The origin never holds a key that could mint a ticket.
    pub pass_keys: KeyRing<ForPasses>,
    /// Passes for other rooms are refused.
    pub room: RoomTag,
    pub identity_key: IdentityKey,
    /// `None`: no cap.
    pub max_in_flight: Option<NonZeroUsize>,
    pub clock: Clock,
}

/// Where `now` comes from. The core never reads a clock; the origin reads it here, and tests pin
/// it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    System,
    Fixed(UnixMs),
}

impl Clock {
    pub fn now(self) -> UnixMs {
        match self {
            Clock::Fixed(now) => now,
            Clock::System => UnixMs(
                SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
                    .unwrap_or(0),
            ),
        }
    }
}

/// The key of the keyed hash over citizen identifiers. `Debug` never prints it.
#[derive(Clone)]
pub struct IdentityKey(Vec<u8>);

impl fmt::Debug for IdentityKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("IdentityKey(<redacted>)")
    }
}

impl IdentityKey {
    /// From hex text of at least 16 bytes.
    pub fn from_hex(text: &str) -> Result<IdentityKey, &'static str> {
        let bytes = unhex(text.trim()).ok_or("is not hex")?;
        IdentityKey::from_bytes(bytes)
    }

    pub fn from_bytes(bytes: Vec<u8>) -> Result<IdentityKey, &'static str> {
        if bytes.len() < MIN_SECRET_LEN {
            return Err("is shorter than 16 bytes");
        }
        Ok(IdentityKey(bytes))
    }

    pub(crate) fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// A configuration mistake: which variable, and what is wrong with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfigError {
    pub variable: &'static str,
    pub problem: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.variable, self.problem)
    }
}

impl std::error::Error for ConfigError {}

fn bad(variable: &'static str, problem: impl Into<String>) -> ConfigError {
    ConfigError {
        variable,
        problem: problem.into(),
    }
}

impl Config {
    /// Reads the process environment.
    pub fn from_env() -> Result<Config, ConfigError> {
        Config::from_vars(|name| std::env::var(name).ok())
    }

    /// Reads variables through `var` (the environment, or a map in tests). Empty counts as unset.
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Config, ConfigError> {
        let get = |name: &str| var(name).filter(|v| !v.trim().is_empty());

        let addr = match get("ORIGIN_ADDR") {
            None => SocketAddr::from(([127, 0, 0, 1], 8788)),
            Some(text) => text
                .trim()
                .parse()
                .map_err(|_| bad("ORIGIN_ADDR", "is not an address like 127.0.0.1:8788"))?,
        };
        let metrics_addr = match get("ORIGIN_METRICS_ADDR") {
            None => None,
            Some(text) if text.trim() == "off" => None,
            Some(text) => Some(text.trim().parse().map_err(|_| {
                bad(
                    "ORIGIN_METRICS_ADDR",
                    "is not an address like 127.0.0.1:8789 (or \"off\")",
                )
            })?),
        };
        let db_path =
            PathBuf::from(get("ORIGIN_DB").unwrap_or_else(|| ".edgegate/origin.db".to_owned()));
        let pass_keys = get("PASS_KEYS")
            .ok_or_else(|| {
                bad(
                    "PASS_KEYS",
                    "is not set (derive it: GATE_KEYS=… edgegate-origin derive-pass-keys)",
                )
            })
            .and_then(|text| {
                KeyRing::parse_pass_keys(&text)
                    .map_err(|e| bad("PASS_KEYS", format!("is invalid: {e}")))
            })?;
        let room = RoomTag::of(get("ROOM").as_deref().map_or("booking", str::trim));
        let identity_key = get("IDENTITY_KEY")
            .ok_or_else(|| bad("IDENTITY_KEY", "is not set (hex, at least 16 bytes)"))
            .and_then(|text| IdentityKey::from_hex(&text).map_err(|p| bad("IDENTITY_KEY", p)))?;
        let max_in_flight = match get("ORIGIN_MAX_IN_FLIGHT") {
            None => NonZeroUsize::new(DEFAULT_MAX_IN_FLIGHT),
            Some(text) => parse_cap(&text).ok_or_else(|| {
                bad(
                    "ORIGIN_MAX_IN_FLIGHT",
                    "is not a whole number (0 or \"unlimited\" lifts the cap)",
                )
            })?,
        };
        Ok(Config {
            addr,
            metrics_addr,
            db_path,
            settings: Settings {
                pass_keys,
                room,
                identity_key,
                max_in_flight,
                clock: Clock::System,
            },
        })
    }
}

/// `Some(None)` for no cap, `Some(Some(n))` for a cap, `None` if unreadable.
fn parse_cap(text: &str) -> Option<Option<NonZeroUsize>> {
    let text = text.trim();
    if text.eq_ignore_ascii_case("unlimited") {
        return Some(None);
    }
    text.parse::<usize>().ok().map(NonZeroUsize::new)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    const PASS_KEYS: &str = "1:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Config::from_vars(|name| map.get(name).cloned())
    }

    #[test]
    fn defaults_apply_when_only_the_secrets_are_given() {
        let c = config(&[
            ("PASS_KEYS", PASS_KEYS),
            ("IDENTITY_KEY", "00".repeat(16).as_str()),
        ])
        .unwrap();
        assert_eq!(c.addr.to_string(), "127.0.0.1:8788");
        assert_eq!(c.db_path, PathBuf::from(".edgegate/origin.db"));
        assert_eq!(c.settings.room, RoomTag::of("booking"));
        assert_eq!(c.settings.max_in_flight, NonZeroUsize::new(8));
        assert!(!format!("{c:?}").contains("00000000000000"));
    }

    #[test]
    fn mistakes_name_the_variable() {
        let id = "ab".repeat(16);
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("IDENTITY_KEY", &id)], "PASS_KEYS"),
            (&[("PASS_KEYS", "1:00"), ("IDENTITY_KEY", &id)], "PASS_KEYS"),
            (&[("PASS_KEYS", PASS_KEYS)], "IDENTITY_KEY"),
            (
                &[("PASS_KEYS", PASS_KEYS), ("IDENTITY_KEY", "abcd")],
                "IDENTITY_KEY",
            ),
            (
                &[("PASS_KEYS", PASS_KEYS), ("IDENTITY_KEY", "zz")],
                "IDENTITY_KEY",
            ),
            (
                &[
                    ("PASS_KEYS", PASS_KEYS),
                    ("IDENTITY_KEY", &id),
                    ("ORIGIN_ADDR", "nowhere"),
                ],
                "ORIGIN_ADDR",
            ),
            (
                &[
                    ("PASS_KEYS", PASS_KEYS),
                    ("IDENTITY_KEY", &id),
                    ("ORIGIN_MAX_IN_FLIGHT", "-1"),
                ],
                "ORIGIN_MAX_IN_FLIGHT",
            ),
        ];
        for (vars, variable) in cases {
            let err = config(vars).unwrap_err();
            assert_eq!(err.variable, *variable, "{err}");
            assert!(err.to_string().starts_with(variable));
        }
    }

    #[test]
    fn the_cap_can_be_lifted() {
        let id = "ab".repeat(16);
        for (text, want) in [
            ("0", None),
            ("unlimited", None),
            ("1", NonZeroUsize::new(1)),
            ("64", NonZeroUsize::new(64)),
        ] {
            let c = config(&[
                ("PASS_KEYS", PASS_KEYS),
                ("IDENTITY_KEY", &id),
                ("ORIGIN_MAX_IN_FLIGHT", text),
            ])
            .unwrap();
            assert_eq!(c.settings.max_in_flight, want, "{text}");
        }
    }
}
