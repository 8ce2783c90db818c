//! A request's URL in parts, split from the text the runtime hands the Worker.
//!
//! The runtime has parsed and serialized that text already (the WHATWG way: scheme and host in
//! lower case, a default port dropped, `?` and `#` percent-encoded inside the path, never an
//! empty path), so finding the separators is enough. workers-rs's `Request::url` parses it all
//! again with the `url` crate, which took about 35 KB of the wasm for nothing else. Pure, so the
//! Worker's entry, its Durable Objects and the fuzzers split URLs with the same code.

/// The parts of a request's URL.
pub struct Address {
    text: String,
    /// Where the host starts (after `//`), where the path starts, where the query starts (after
    /// the `?`) and where the query ends (a `#`, or the end).
    host_at: usize,
    path_at: usize,
    query_at: Option<usize>,
    end: usize,
}

impl Address {
    /// Splits a serialized absolute URL. Text that is not one still splits, into an empty
    /// host and what it has of a path, rather than failing.
    pub fn parse(text: String) -> Address {
        let host_at = text.find("://").map_or(0, |i| i + 3);
        let end = text.find('#').unwrap_or(text.len()).max(host_at);
        let path_at = text
            .get(host_at..end)
            .and_then(|rest| rest.find(['/', '?']))
            .map_or(end, |i| host_at + i);
        let query_at = text
            .get(path_at..end)
            .and_then(|rest| rest.find('?'))
            .map(|i| path_at + i + 1);
        Address {
            text,
            host_at,
            path_at,
            query_at,
            end,
        }
    }

    /// Whether the scheme is `https`.
    pub fn https(&self) -> bool {
        self.text.starts_with("https://")
    }

    /// `scheme://host[:port]`, as a browser writes it in `Origin`.
    pub fn origin(&self) -> &str {
        self.text.get(..self.path_at).unwrap_or_default()
    }

    /// `host[:port]`, as the request named them.
    pub fn host_port(&self) -> &str {
        self.text
            .get(self.host_at..self.path_at)
            .unwrap_or_default()
    }

    /// The host, without its port.
    pub fn host(&self) -> &str {
        let host_port = self.host_port();
        match host_port.rfind(':') {
            // `[::1]` alone is an IPv6 host without a port.
            Some(colon) if !host_port.ends_with(']') => host_port.get(..colon).unwrap_or_default(),
            _ => host_port,
        }
    }

    /// The path, `/` when the text has none.
    pub fn path(&self) -> &str {
        let path_end = self.query_at.map_or(self.end, |q| q - 1);
        match self.text.get(self.path_at..path_end) {
            Some(p) if !p.is_empty() => p,
            _ => "/",
        }
    }

    /// The path as every decision reads it ([`normalized`]): which of the gate's routes it
    /// is, and which room it belongs to. The origin is sent the path as it came.
    pub fn route_path(&self) -> String {
        normalized(self.path())
    }

    /// The query, without its `?`.
    pub fn query(&self) -> Option<&str> {
        self.text.get(self.query_at?..self.end)
    }

    /// The first value of the query parameter `name`: see [`query_value`].
    pub fn query_value(&self, name: &str) -> Option<String> {
        query_value(self.query()?, name)
    }
}

/// `path` in the one form the gate's decisions compare: every `%XX` that stands for a printable
/// ASCII character decoded (so `/%65vents` is `/events`, and `%2F` a `/`), ASCII letters in
/// lower case, and runs of `/` made one. An origin may well serve `/Events/x` and `/%65vents/x`
/// as `/events/x`; if the gate read them otherwise, a room's prefix could be walked around and
/// its visitors let in by another room's queue. What is not printable ASCII stays as it came.
pub fn normalized(path: &str) -> String {
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        let decoded = (b == b'%')
            .then(|| {
                let hex = bytes.get(i + 1..i + 3)?;
                let text = std::str::from_utf8(hex).ok()?;
                u8::from_str_radix(text, 16).ok()
            })
            .flatten()
            .filter(|c| c.is_ascii_graphic());
        let (c, width) = match decoded {
            Some(c) => (c, 3),
            None => (b, 1),
        };
        if !(c == b'/' && out.ends_with('/')) {
            if c.is_ascii() {
                out.push(char::from(c.to_ascii_lowercase()));
            } else {
                // A byte of a multi-byte character: copy the character whole.
                let rest = path.get(i..).unwrap_or_default();
                let ch = rest.chars().next().unwrap_or('\u{FFFD}');
                out.push(ch);
                i += ch.len_utf8();
                continue;
            }
        }
        i += width;
    }
    out
}

/// The first value of the parameter `name` in a query string (without `?`), decoded as a form
/// would be.
pub fn query_value(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.into_owned())
}

#[cfg(test)]
mod tests {
    use super::{normalized, Address};

    #[test]
    fn paths_are_compared_in_one_form() {
        for (path, seen) in [
            ("/Events/x", "/events/x"),
            ("/%65vents/x", "/events/x"),
            ("/%45VENTS//x", "/events/x"),
            ("/events%2Fx", "/events/x"),
            ("//events", "/events"),
            ("/%zz/%", "/%zz/%"),
            ("/%00a", "/%00a"),
            ("/예약/%EC%98%88", "/예약/%ec%98%88"),
        ] {
            assert_eq!(normalized(path), seen, "{path}");
        }
    }

    fn parts(url: &str) -> (bool, String, String, String, Option<String>) {
        let a = Address::parse(url.to_owned());
        (
            a.https(),
            a.origin().to_owned(),
            a.host().to_owned(),
            a.path().to_owned(),
            a.query().map(str::to_owned),
        )
    }

    #[test]
    fn splits_what_the_runtime_hands_over() {
        assert_eq!(
            parts("https://gate.example/queue/status?room=b&x=1"),
            (
                true,
                "https://gate.example".into(),
                "gate.example".into(),
                "/queue/status".into(),
                Some("room=b&x=1".into())
            )
        );
        assert_eq!(
            parts("http://127.0.0.1:8787/"),
            (
                false,
                "http://127.0.0.1:8787".into(),
                "127.0.0.1".into(),
                "/".into(),
                None
            )
        );
        assert_eq!(
            parts("http://[::1]:8787/a%3Fb?"),
            (
                false,
                "http://[::1]:8787".into(),
                "[::1]".into(),
                "/a%3Fb".into(),
                Some(String::new())
            )
        );
        assert_eq!(parts("https://[::1]/x").2, "[::1]");
        let a = Address::parse("http://[::1]:8787/".into());
        assert_eq!(a.host_port(), "[::1]:8787");
    }

    #[test]
    fn a_fragment_is_not_part_of_path_or_query() {
        assert_eq!(parts("https://h/p#f?x").3, "/p");
        assert_eq!(parts("https://h/p#f?x").4, None);
        assert_eq!(parts("https://h/p?q=1#f").4, Some("q=1".into()));
    }

    #[test]
    fn odd_text_splits_without_failing() {
        assert_eq!(parts("https://h").3, "/");
        assert_eq!(parts("https://h?q").3, "/");
        assert_eq!(parts("https://h?q").4, Some("q".into()));
        assert_eq!(parts("").3, "/");
        assert_eq!(parts("/just/a/path").3, "/just/a/path");
        assert_eq!(parts("#").3, "/");
    }

    #[test]
    fn query_values_decode_as_forms_do() {
        let a = Address::parse("https://h/admin?room=%EB%B6%80%EC%82%B0+1&room=x&since=5".into());
        assert_eq!(a.query_value("room").as_deref(), Some("부산 1"));
        assert_eq!(a.query_value("since").as_deref(), Some("5"));
        assert_eq!(a.query_value("none"), None);
        assert_eq!(
            Address::parse("https://h/".into()).query_value("room"),
            None
        );
    }
}
