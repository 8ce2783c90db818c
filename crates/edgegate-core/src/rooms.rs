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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RoomEntry {
    name: String,
    host: Option<String>,
    prefix: Option<String>,
    origin: Option<String>,
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
    /// The default room and those `ROOM_ROUTES` (JSON text, if set) adds; errors name the problem.
    pub fn parse(default: Site, rooms: Option<&str>) -> Result<Rooms, String> {
        let mut all = Rooms {
            default: Rc::new(default),
            others: Vec::new(),
        };
        let Some(text) = rooms.map(str::trim).filter(|t| !t.is_empty()) else {
            return Ok(all);
        };
        let entries: Vec<RoomEntry> =
            serde_json::from_str(text).map_err(|e| format!("ROOM_ROUTES: {e}"))?;
        for entry in entries {
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
            let origin = entry
                .origin
                .unwrap_or_else(|| all.default.origin_url.clone());
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
        let parse = |t: &str| Rooms::parse(Site::default_room("booking", "http://o"), Some(t));
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
        ] {
            let err = parse(bad).unwrap_err();
            assert!(err.contains(says), "{bad}: {err}");
        }
        assert_eq!(parse("").unwrap().names().count(), 1);
    }
}
