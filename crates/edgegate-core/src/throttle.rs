//! Failed attempts at the operator's doors (a wrong admin token, a wrong console sign-in),
//! counted per client network: past [`ALLOWED`] in a [`WINDOW_MS`], that network is refused
//! until the window is out, before any token is compared. A guesser gets ten tries a minute
//! per network per isolate, against a token of at least 32 characters.

use crate::network::NetTag;
use crate::time::UnixMs;

/// Failed attempts a network may make in one window.
pub const ALLOWED: u32 = 10;
/// The window, in milliseconds.
pub const WINDOW_MS: u64 = 60_000;
/// Networks remembered at most; past it the one whose window began earliest is forgotten.
pub const KEPT: usize = 4_096;

/// Failures per network, each in its own window.
#[derive(Clone, Debug, Default)]
pub struct Throttle {
    /// `(network, window start, failures in it)`.
    failures: Vec<(NetTag, UnixMs, u32)>,
}

impl Throttle {
    /// If `network` is refused at `now`, how many seconds until it may try again.
    pub fn refused(&self, network: NetTag, now: UnixMs) -> Option<u64> {
        let (_, start, n) = self.failures.iter().find(|(t, _, _)| *t == network)?;
        let end = start.plus_ms(WINDOW_MS);
        (*n >= ALLOWED && now < end).then(|| end.since(now).div_ceil(1000))
    }

    /// Counts a failed attempt from `network` at `now`.
    pub fn failed(&mut self, network: NetTag, now: UnixMs) {
        match self.failures.iter_mut().find(|(t, _, _)| *t == network) {
            Some((_, start, n)) if now.since(*start) < WINDOW_MS => *n = n.saturating_add(1),
            Some(entry) => *entry = (network, now, 1),
            None => {
                if self.failures.len() >= KEPT {
                    if let Some(oldest) = self
                        .failures
                        .iter()
                        .enumerate()
                        .min_by_key(|(_, (_, start, _))| *start)
                        .map(|(i, _)| i)
                    {
                        self.failures.swap_remove(oldest);
                    }
                }
                self.failures.push((network, now, 1));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: UnixMs = UnixMs(1_700_000_000_000);

    #[test]
    fn ten_failures_a_minute_then_a_wait_for_that_network_only() {
        let (a, b) = (NetTag(2), NetTag(5));
        let mut t = Throttle::default();
        for i in 0..ALLOWED {
            assert_eq!(t.refused(a, T0.plus_ms(u64::from(i))), None);
            t.failed(a, T0.plus_ms(u64::from(i)));
        }
        assert_eq!(t.refused(a, T0.plus_ms(1_000)), Some(59));
        assert_eq!(
            t.refused(b, T0.plus_ms(1_000)),
            None,
            "another network is not held back"
        );
        assert_eq!(
            t.refused(a, T0.plus_ms(WINDOW_MS)),
            None,
            "the window is out"
        );
        t.failed(a, T0.plus_ms(WINDOW_MS));
        assert_eq!(
            t.refused(a, T0.plus_ms(WINDOW_MS + 1)),
            None,
            "a new window"
        );
    }

    #[test]
    fn memory_is_bounded_whatever_the_networks() {
        let mut t = Throttle::default();
        for n in 0..(KEPT as u64 * 3) {
            t.failed(NetTag(n * 2), T0.plus_ms(n));
        }
        assert_eq!(t.failures.len(), KEPT);
    }
}
