//! The `Cookie` header (`cookies`): any header text, read for each of the gate's cookies (on
//! both schemes, in the default room and another's), stripped of them for the origin, and each
//! of its lines judged as a `Set-Cookie` the origin sent.
#![no_main]

use edgegate_core::cookies::{self, is_gate_set_cookie, read, without_gate_cookies};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|header: &str| {
    let names = [cookies::TICKET, cookies::PASS, cookies::TEST_KEY]
        .into_iter()
        .flat_map(|base| [base.to_owned(), format!("{base}_pass-check")])
        .flat_map(|base| [cookies::name(&base, false), cookies::name(&base, true)]);
    for name in names {
        if let Some(value) = read(header, &name) {
            // A value is the header's own text, and never carries on into the next pair.
            assert!(header.contains(value));
            assert!(!value.contains(';'));
        }
    }

    // What goes to the origin carries none of the gate's cookies, of any room.
    let forwarded = without_gate_cookies(header);
    for base in [cookies::TICKET, cookies::PASS, cookies::TEST_KEY] {
        for pair in forwarded.split(';') {
            let key = pair.split_once('=').map_or(pair, |(k, _)| k);
            assert!(!key.contains(base), "{base} forwarded in {forwarded:?}");
        }
    }
    // Stripping twice strips nothing more.
    assert_eq!(without_gate_cookies(&forwarded), forwarded);

    // A Set-Cookie for a gate cookie is always caught, whatever the origin adds to it.
    for set_cookie in header.lines() {
        if let Some((name, _)) = set_cookie.split_once('=') {
            let gate = name.contains(cookies::TICKET) || name.contains(cookies::PASS);
            assert_eq!(is_gate_set_cookie(set_cookie), gate, "{set_cookie:?}");
        }
    }
});
