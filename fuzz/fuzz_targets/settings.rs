//! The deployment's text settings, read once per isolate: `ROOM_ROUTES` (`Rooms::parse`, then
//! the room each request is routed to), `GATE_KEYS` (`SecretRing::parse`) and `PASS_KEYS`
//! (`KeyRing::parse_pass_keys`), and the client address the platform hands over
//! (`Network::parse`), and `ORIGIN_URL` (`origin_url::check`). A bad setting is an error naming
//! it, never a panic. The input is the text alone, read as each setting; each of its lines is
//! also a host and a path to route, and an origin's URL and host.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use edgegate_core::address::normalized;
use edgegate_core::keys::SecretRing;
use edgegate_core::network::Network;
use edgegate_core::origin_url::{self, LocalOrigins, Reach};
use edgegate_core::rooms::{Rooms, Site};
use edgegate_core::KeyRing;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|text: &str| {
    let routes = text;
    let default = Site::default_room("booking", "https://origin.example/");
    if let Ok(rooms) = Rooms::parse(default, Some(routes), LocalOrigins::Allowed) {
        // Each line a request's host and path: routed to a room the deployment has.
        for line in text.lines() {
            let site = rooms.route(line, &normalized(line));
            let named = rooms.named(&site.name).map(|s| s.name.as_str());
            assert_eq!(named, Some(site.name.as_str()));
            assert!(!site.origin_url.ends_with('/'));
        }
        // A room with a prefix and no host claims every path under its prefix, unless a room
        // listed before it claims the path first.
        let entries: Vec<Value> = serde_json::from_str(routes.trim()).unwrap_or_default();
        for (i, entry) in entries.iter().enumerate() {
            let (Some(name), Some(prefix), None) = (
                entry["name"].as_str(),
                entry["prefix"].as_str(),
                entry.get("host"),
            ) else {
                continue;
            };
            let under = normalized(&format!("{prefix}/x"));
            let routed = &rooms.route("any.example", &under).name;
            let earlier = entries
                .iter()
                .take(i)
                .any(|e| e["name"].as_str() == Some(routed));
            assert!(
                routed == name || earlier,
                "{under:?} went to {routed:?}, not {name:?}"
            );
        }
    }

    // GATE_KEYS and PASS_KEYS: what parses gives every ring, and reads back from its own text.
    if let Ok(secrets) = SecretRing::parse(text) {
        assert!(secrets.ticket_keys().is_ok() && secrets.pass_keys().is_ok());
        assert!(secrets.test_keys().is_ok() && secrets.network_keys().is_ok());
    }
    if let Ok(ring) = KeyRing::parse_pass_keys(text) {
        let env = ring.to_env_text();
        let again = KeyRing::parse_pass_keys(&env).expect("its own text parses");
        assert_eq!(again.to_env_text(), env);
    }

    // CF-Connecting-IP: an IPv4 address (also written as IPv6) is an IPv4 network.
    let network = Network::parse(text);
    if text.trim().parse::<Ipv4Addr>().is_ok() {
        assert!(network.is_some_and(Network::is_v4));
    }
    assert_eq!(network.is_some(), text.trim().parse::<IpAddr>().is_ok());

    for line in text.lines() {
        // ORIGIN_URL: a deployment that refuses local origins forwards only to what one that
        // allows them would, and only to a public host.
        let allowed = origin_url::check("ORIGIN_URL", line, LocalOrigins::Allowed);
        let refused = origin_url::check("ORIGIN_URL", line, LocalOrigins::Refused);
        if !line.contains(['\t', '\r']) {
            assert_eq!(allowed.is_ok(), origin_url::host(line).is_some());
            if refused.is_ok() {
                let host = origin_url::host(line).expect("a URL with a host");
                assert_eq!(origin_url::reach(host), Reach::Public);
            }
        }
        assert!(allowed.is_ok() || refused.is_err());
        // An address the standard library reads is placed as it places it.
        let reach = origin_url::reach(line);
        if let Ok(v4) = line.parse::<Ipv4Addr>() {
            assert_eq!(reach == Reach::Loopback, v4.is_loopback(), "{v4}");
            assert_eq!(reach == Reach::LinkLocal, v4.is_link_local(), "{v4}");
            let shared = v4.octets()[0] == 100 && v4.octets()[1] & 0xc0 == 64;
            assert_eq!(reach == Reach::Private, v4.is_private() || shared, "{v4}");
            assert_eq!(reach == Reach::Unspecified, v4.octets()[0] == 0, "{v4}");
        }
        let bracketed = line.strip_prefix('[').and_then(|l| l.strip_suffix(']'));
        if let Some(Ok(v6)) = bracketed.map(str::parse::<Ipv6Addr>) {
            if v6.to_ipv4().is_none() {
                assert_eq!(reach == Reach::Loopback, v6.is_loopback(), "{v6}");
                assert_eq!(reach == Reach::Unspecified, v6.is_unspecified(), "{v6}");
                assert_eq!(
                    reach == Reach::LinkLocal,
                    v6.is_unicast_link_local(),
                    "{v6}"
                );
                if v6.is_unique_local() {
                    assert_eq!(reach, Reach::Private, "{v6}");
                }
            }
        }
    }
});
