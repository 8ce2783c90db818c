//! The URL splitter (`address`): any text the runtime could hand the Worker as a request's URL,
//! split into its parts, its path normalised, its query read, and its route found.
#![no_main]

use edgegate_core::address::{normalized, query_value, Address};
use edgegate_core::visit::{Audience, Route};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|url: &str| {
    let a = Address::parse(url.to_owned());
    // Every part is a slice of the text it came from, in order.
    assert!(url.starts_with(a.origin()), "origin {:?}", a.origin());
    assert!(a.origin().ends_with(a.host_port()));
    assert!(a.host_port().starts_with(a.host()));
    let path = a.path();
    assert!(!path.is_empty());
    assert!(path == "/" || url.contains(path), "path {path:?}");
    if let Some(query) = a.query() {
        assert!(url.contains(query));
        assert!(!query.contains('#'), "a fragment is not part of the query");
        for name in ["room", "since", "format", ""] {
            assert_eq!(a.query_value(name), query_value(query, name));
        }
    }
    let _ = a.https();

    // The one form every decision compares: no upper-case ASCII letter, no run of `/`, and
    // a path that starts with `/` still does.
    let route_path = a.route_path();
    assert_eq!(route_path, normalized(path));
    assert!(
        !route_path.bytes().any(|b| b.is_ascii_uppercase()),
        "{route_path:?}"
    );
    assert!(!route_path.contains("//"), "{route_path:?}");
    assert!(!path.starts_with('/') || route_path.starts_with('/'));
    // Any text, not only a path the runtime serialized.
    let any = normalized(url);
    assert!(!any.contains("//") && !any.bytes().any(|b| b.is_ascii_uppercase()));

    // The operator's host is never the citizens'; the gate's own pages never a citizen's route.
    for method in ["GET", "HEAD", "POST", "get"] {
        assert_eq!(Route::of(method, &route_path, Audience::Operator), None);
        if let Some(route) = Route::of(method, &route_path, Audience::Citizens) {
            let status = route_path == "/queue/status" || route_path == "/queue/status.html";
            assert!(
                status || !route_path.starts_with("/queue/"),
                "{route:?} {route_path:?}"
            );
        }
    }
});
