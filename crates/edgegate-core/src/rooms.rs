//! Several rooms on one deployment: which room a request is for.
//!
//! The default room (`ROOM`, `ORIGIN_URL`) takes every request no other room claims, so a
//! deployment without `ROOM_ROUTES` behaves exactly as one room. `ROOM_ROUTES` adds rooms, as JSON:
//! `[{"name": "pass-check", "host": "pass.example.org", "prefix": "/pass", "origin": "https://…"}]`.
//! A room claims requests to its `host`, under its path `prefix`, or both when both are given;
//! the first room that claims a request has it. The gate's own routes (`/queue/…`, `/admin/…`)
//! also take `?room=NAME`, which the waiting page of a room sends, so its polls reach its room
//! whatever its path.
//!
//! Each room has its own coordinator and aggregators (named by the room), its own config, its
//! own origin, and its own cookies (the default room's keep the contract's names; another
//! room's carry its name), and tickets and passes are bound to it by their room tag.

use std::rc::Rc;

use crate::keys::RoomTag;
use crate::origin_url::{self, LocalOrigins};
use serde::Deserialize;

/// One room this deployment guards.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Site {
    pub name: String,
    pub tag: RoomTag,
    /// Where its admitted requests go, without a trailing slash.
    pub origin_url: String,
    host: Option<String>,
    prefix: Option<String>,
    /// Appended to its cookies' names: empty for the default room.
    pub cookie_suffix: String,
}

/// One room of `ROOM_ROUTES`, as written: [`Rooms::from_routes`] checks it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub name: String,
    pub host: Option<String>,
    pub prefix: Option<String>,
    pub origin: Option<String>,
}

/// The fields a [`Route`] has: any other is refused, so a misspelt one is not silently dropped.
pub const ROUTE_FIELDS: [&str; 4] = ["name", "host", "prefix", "origin"];

/// `ROOM_ROUTES`' JSON text read into routes, unchecked. (The citizen's wasm reads them with
/// the platform's own JSON parser instead, and hands them to [`Rooms::from_routes`] alike.)
pub fn routes_from_json(text: &str) -> Result<Vec<Route>, String> {
    serde_json::from_str(text).map_err(|e| format!("ROOM_ROUTES: {e}"))
}

/// Is `name` usable as a room name here: 1 to 32 lowercase ASCII letters, digits or `-`?
pub fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl Site {
    /// The default room.
    pub fn default_room(name: &str, origin_url: &str) -> Site {
        Site {
            name: name.to_owned(),
            tag: RoomTag::of(name),
            origin_url: origin_url.trim_end_matches('/').to_owned(),
            host: None,
            prefix: None,
            cookie_suffix: String::new(),
        }
    }

    /// Does this room claim a request to `host` (without port, any case) and `path`?
    fn claims(&self, host: &str, path: &str) -> bool {
        if self.host.is_none() && self.prefix.is_none() {
            return false;
        }
        let host_ok = self
            .host
            .as_deref()
            .is_none_or(|h| h.eq_ignore_ascii_case(host));
        let prefix_ok = self.prefix.as_deref().is_none_or(|p| {
            path.strip_prefix(p)
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        });
        host_ok && prefix_ok
    }
}

/// Every room of the deployment.
#[derive(Clone, Debug)]
pub struct Rooms {
    default: Rc<Site>,
    others: Vec<Rc<Site>>,
}

impl Rooms {
    /// The default room (its origin from `ORIGIN_URL`) and those `ROOM_ROUTES` (JSON text, if
    /// set) adds; errors name the problem. Every room's origin must be an http(s) URL, and under
    /// [`LocalOrigins::Refused`] a public one (`origin_url::check`).
    pub fn parse(default: Site, rooms: Option<&str>, local: LocalOrigins) -> Result<Rooms, String> {
        let routes = match rooms.map(str::trim).filter(|t| !t.is_empty()) {
            Some(text) => routes_from_json(text)?,
            None => Vec::new(),
        };
        Rooms::from_routes(default, routes, local)
    }

    /// The default room and the rooms `routes` add, each checked as [`Rooms::parse`] says.
    pub fn from_routes(
        default: Site,
        routes: Vec<Route>,
        local: LocalOrigins,
    ) -> Result<Rooms, String> {
        origin_url::check("ORIGIN_URL", &default.origin_url, local)?;
        let mut all = Rooms {
            default: Rc::new(default),
            others: Vec::new(),
        };
        for entry in routes {
            let name = entry.name;
            if !valid_name(&name) {
                return Err(format!(
                    "ROOM_ROUTES: room name {name:?} must be 1-32 lowercase letters, digits or -"
                ));
            }
            if all.named(&name).is_some() {
                return Err(format!("ROOM_ROUTES: room {name:?} is named twice"));
            }
            if entry.host.is_none() && entry.prefix.is_none() {
                return Err(format!(
                    "ROOM_ROUTES: room {name:?} needs a host, a prefix or both"
                ));
            }
            let prefix = match entry.prefix {
                // Compared with request paths in their normalised form, so kept in it.
                Some(p) if p.starts_with('/') && p.len() > 1 && !p.ends_with('/') => {
                    Some(crate::address::normalized(&p))
                }
                Some(p) => {
                    return Err(format!(
                    "ROOM_ROUTES: room {name:?}: prefix {p:?} must start with / and not end with /"
                ))
                }
                None => None,
            };
            let origin = match entry.origin {
                Some(origin) => {
                    let setting = format!("ROOM_ROUTES: room {name:?}'s origin");
                    origin_url::check(&setting, &origin, local)?;
                    origin
                }
                None => all.default.origin_url.clone(),
            };
            all.others.push(Rc::new(Site {
                tag: RoomTag::of(&name),
                origin_url: origin.trim_end_matches('/').to_owned(),
                host: entry.host.map(|h| h.to_ascii_lowercase()),
                prefix,
                cookie_suffix: format!("_{name}"),
                name,
            }));
        }
        Ok(all)
    }

    pub fn default_room(&self) -> &Rc<Site> {
        &self.default
    }

    /// The room named `name`, if any.
    pub fn named(&self, name: &str) -> Option<&Rc<Site>> {
        std::iter::once(&self.default)
            .chain(&self.others)
            .find(|s| s.name == name)
    }

    /// The room a request to `host` and `path` is for: the first that claims it, else the
    /// default.
    pub fn route(&self, host: &str, path: &str) -> &Rc<Site> {
        let host = host.split(':').next().unwrap_or(host);
        self.others
            .iter()
            .find(|s| s.claims(host, path))
            .unwrap_or(&self.default)
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        std::iter::once(&self.default)
            .chain(&self.others)
            .map(|s| s.name.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rooms() -> Rooms {
        Rooms::parse(
            Site::default_room("booking", "http://origin/"),
            Some(
                r#"[{"name": "pass", "host": "Pass.Example.org"},
                    {"name": "events", "prefix": "/events", "origin": "http://events/"},
                    {"name": "both", "host": "b.example.org", "prefix": "/x"}]"#,
            ),
            LocalOrigins::Refused,
        )
        .unwrap()
    }

    #[test]
    fn a_request_goes_to_the_first_room_that_claims_it_else_the_default() {
        let r = rooms();
        assert_eq!(r.route("pass.example.org:443", "/anything").name, "pass");
        assert_eq!(r.route("other.org", "/events").name, "events");
        assert_eq!(r.route("other.org", "/events/today").name, "events");
        // Paths are routed in their normalised form: case and escapes change nothing.
        for path in ["/Events/x", "/%65vents/x", "/EVENTS"] {
            let seen = crate::address::normalized(path);
            assert_eq!(r.route("other.org", &seen).name, "events", "{path}");
        }
        assert_eq!(r.route("other.org", "/eventsx").name, "booking");
        assert_eq!(r.route("b.example.org", "/x/1").name, "both");
        assert_eq!(r.route("b.example.org", "/y").name, "booking");
        assert_eq!(r.route("other.org", "/").name, "booking");
        assert_eq!(r.named("events").unwrap().origin_url, "http://events");
        assert_eq!(r.named("pass").unwrap().origin_url, "http://origin");
        assert_eq!(r.default_room().cookie_suffix, "");
        assert_eq!(r.named("pass").unwrap().cookie_suffix, "_pass");
        assert_ne!(r.named("pass").unwrap().tag, r.default_room().tag);
    }

    #[test]
    fn a_bad_rooms_setting_is_refused_with_its_reason() {
        let parse = |t: &str| {
            let default = Site::default_room("booking", "http://o");
            Rooms::parse(default, Some(t), LocalOrigins::Refused)
        };
        for (bad, says) in [
            ("not json", "ROOM_ROUTES"),
            (r#"[{"name": "Upper", "host": "h"}]"#, "lowercase"),
            (r#"[{"name": "booking", "host": "h"}]"#, "twice"),
            (r#"[{"name": "a"}]"#, "needs a host"),
            (r#"[{"name": "a", "prefix": "x/"}]"#, "prefix"),
            (
                r#"[{"name": "a", "host": "h", "port": 1}]"#,
                "unknown field",
            ),
            (
                r#"[{"name": "a", "host": "h", "origin": "pass.example.org"}]"#,
                "room \"a\"'s origin must be an http:// or https:// URL",
            ),
            (
                r#"[{"name": "a", "host": "h", "origin": "http://[fd00::1]:80"}]"#,
                "room \"a\"'s origin: its host \"[fd00::1]\" is a private address",
            ),
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
        assert_eq!(parse("").unwrap().names().count(), 1);
    }

    #[test]
    fn a_local_origin_is_refused_unless_the_deployment_allows_it() {
        let routes = r#"[{"name": "second", "prefix": "/second", "origin": "http://127.0.0.1:9"}]"#;
        for (origin, routes, says) in [
            (
                "http://127.0.0.1:8788",
                None,
                "ORIGIN_URL: its host \"127.0.0.1\"",
            ),
            (
                "http://LOCALHOST.:8788",
                None,
                "ORIGIN_URL: its host \"LOCALHOST.\"",
            ),
            (
                "https://origin.example.org",
                Some(routes),
                "room \"second\"'s origin",
            ),
        ] {
            let parse = |local| Rooms::parse(Site::default_room("booking", origin), routes, local);
            let err = parse(LocalOrigins::Refused).unwrap_err();
            assert!(err.contains(says), "{origin}: {err}");
            assert!(err.contains("ALLOW_LOCAL_ORIGIN"), "{origin}: {err}");
            assert!(parse(LocalOrigins::Allowed).is_ok(), "{origin}");
        }
        // A room without an origin of its own forwards to the default's, checked once.
        let inherits = r#"[{"name": "second", "prefix": "/second"}]"#;
        let default = Site::default_room("booking", "http://10.0.0.1");
        let rooms = Rooms::parse(default, Some(inherits), LocalOrigins::Allowed).unwrap();
        assert_eq!(rooms.named("second").unwrap().origin_url, "http://10.0.0.1");
    }
}
