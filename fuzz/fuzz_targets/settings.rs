//! The deployment's text settings, read once per isolate: `ROOM_ROUTES` (`Rooms::parse`, then
//! the room each request is routed to), `GATE_KEYS` (`SecretRing::parse`) and `PASS_KEYS`
//! (`KeyRing::parse_pass_keys`), and the client address the platform hands over
//! (`Network::parse`). A bad setting is an error naming it, never a panic. The input is the
//! text alone, read as each setting; each of its lines is also a host and a path to route.
#![no_main]

use std::net::{IpAddr, Ipv4Addr};

use edgegate_core::address::normalized;
use edgegate_core::keys::SecretRing;
use edgegate_core::network::Network;
use edgegate_core::rooms::{Rooms, Site};
use edgegate_core::KeyRing;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|text: &str| {
    let routes = text;
    let default = Site::default_room("booking", "https://origin.example/");
    if let Ok(rooms) = Rooms::parse(default, Some(routes)) {
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
});
