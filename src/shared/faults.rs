//! The fault switch for the stack tests of fail-static (`EDGEGATE_FAULTS = "on"`, never in
//! production): the admin API turns it, the isolate's syncs obey it. An isolate's own state,
//! so it lives here rather than in either.

use std::cell::RefCell;

use edgegate_core::UnixMs;

use crate::shared::clock::now_ms;

thread_local! {
    /// Until when syncs fail without being sent, for every location (`""`) or one.
    static UNREACHABLE_UNTIL: RefCell<Vec<(String, u64)>> = const { RefCell::new(Vec::new()) };
}

/// Makes this isolate's syncs in `location` (every location for `None`) fail for `ms`
/// milliseconds from `now`, without being sent.
pub fn cut_off(location: Option<&str>, now: UnixMs, ms: u64) {
    let location = location.unwrap_or("");
    UNREACHABLE_UNTIL.with_borrow_mut(|u| {
        u.retain(|(l, _)| l != location);
        u.push((location.to_owned(), now.plus_ms(ms).0));
    });
}

/// Is this isolate cut off from `location`'s aggregator now?
pub fn cut_off_now(location: &str) -> bool {
    let now = now_ms();
    UNREACHABLE_UNTIL.with_borrow(|u| {
        u.iter()
            .any(|(l, until)| (l == location || l.is_empty()) && now < *until)
    })
}
