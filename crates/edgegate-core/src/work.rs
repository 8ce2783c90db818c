//! Work for volume: what a new place costs beyond a network's budget, or from everyone when the
//! operator asks it.
//!
//! The scheme is deterministic effort (ALTCHA's "deterministic effort mode", done with SHA-256):
//! the gate draws, for the ticket and the current ten-minute window, a secret count `n` in
//! `[EFFORT_LOW, EFFORT_HIGH]` and a salt, and gives the client the salt and
//! `SHA-256(salt ‖ n)`. The client finds `n` by counting up from zero, so every solver does
//! exactly `n` hashes: the effort is fixed by the gate within ±10 %, nobody can be ranked by
//! how fast they solve, and precomputation is useless since the salt is new for each ticket
//! and window. Verification is one HMAC (the gate draws `n` again and compares): a few
//! microseconds, however large the effort. Nothing is stored: the challenge is a function of
//! the ticket, the window and the gate's key.
//!
//! Why this scheme: a counter with a known target has the variance the server chooses (none
//! here but its ±10 % draw), where "find a hash below a target" has a geometric one (a phone
//! unlucky at the 95th percentile does three times the mean); ALTCHA's own key-derivation
//! functions (PBKDF2, scrypt, Argon2) cost the server as much as the client to verify, and the
//! edge must verify for microseconds. SHA-256 runs in every browser, in plain JavaScript, and
//! needs no library on the page.

use hmac::Mac;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::keys::{hex, ForTickets, Key, KeyRing};
use crate::time::UnixMs;

/// The fewest and most hashes a challenge takes: 220 000 ± 10 %, so that a mid-range phone,
/// taken as Chromium under 4× CPU throttling, is done within 2 s at the 95th percentile. Few
/// real citizens meet it at all: they see it only beyond their network's budget.
/// Measured by the waiting page's own clock (from the challenge's arrival to the count found,
/// the solver's download included) for 20 fresh citizens in a row, counting on the page (the
/// throttling reaches no Web Worker), on the 2-core test machine while other builds ran:
/// `EDGEGATE_WORK_CITIZENS=20 npx playwright test --config tests/browser/playwright.config.mjs
/// work.spec -g "CPU 4×"`. Here: min 946, median 1299, p95 1925, max 2182 ms; at 270 000 to
/// 330 000 it was min 1145, median 1753, p95 2336, max 2511 ms. Unthrottled, in a worker:
/// median 837, p95 1233 ms.
pub const EFFORT_LOW: u64 = 198_000;
pub const EFFORT_HIGH: u64 = 242_000;
/// How long a challenge stands: its window, in milliseconds. A solution for the window before
/// is accepted too, so one found across a window's end still counts.
pub const WINDOW_MS: u64 = 600_000;

/// What the client is asked to find, as the status answer carries it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Challenge {
    /// Hex of 16 bytes.
    pub salt: String,
    /// Hex of `SHA-256(salt ‖ n as 8 bytes big-endian)`.
    pub target: String,
    /// The most `n` can be: the client counts from 0 up to it.
    pub most: u64,
    /// The window and the key the answer names back: `<window>.<key id>.<n>`.
    pub window: u64,
    pub key: u8,
}

/// What a client says it found, from its `Edgegate-Work` header (`<window>.<key id>.<n>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Answer {
    pub window: u64,
    pub key: u8,
    pub n: u64,
}

impl Answer {
    /// Reads an answer; `None` for anything that is not one.
    pub fn parse(text: &str) -> Option<Answer> {
        let mut parts = text.trim().split('.');
        let answer = Answer {
            window: parts.next()?.parse().ok()?,
            key: parts.next()?.parse().ok()?,
            n: parts.next()?.parse().ok()?,
        };
        parts.next().is_none().then_some(answer)
    }
}

/// The PRF the challenge comes from: HMAC-SHA256 under the ticket key of `label ‖ id ‖ window`.
/// A token's MAC is over a payload that starts with its version byte, never these labels.
fn draw(key: &Key<ForTickets>, label: &[u8], ticket_id: &[u8; 16], window: u64) -> [u8; 32] {
    let mut mac = key.mac();
    mac.update(label);
    mac.update(ticket_id);
    mac.update(&window.to_be_bytes());
    mac.finalize().into_bytes().into()
}

/// The secret count and the salt for `ticket_id` in `window`.
fn secret(key: &Key<ForTickets>, ticket_id: &[u8; 16], window: u64) -> (u64, [u8; 16]) {
    let n = draw(key, b"edgegate work n", ticket_id, window);
    let span = EFFORT_HIGH - EFFORT_LOW + 1;
    let n = EFFORT_LOW + u64::from_be_bytes(*n.first_chunk::<8>().unwrap_or(&[0; 8])) % span;
    let salt = draw(key, b"edgegate work salt", ticket_id, window);
    (n, *salt.first_chunk::<16>().unwrap_or(&[0; 16]))
}

/// `SHA-256(salt ‖ n)`, what the client compares each count's hash with.
pub fn hash(salt: &[u8; 16], n: u64) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(salt);
    h.update(n.to_be_bytes());
    h.finalize().into()
}

/// The window `now` falls in.
pub fn window(now: UnixMs) -> u64 {
    now.0 / WINDOW_MS
}

/// The challenge for `ticket_id` at `now`, under the ring's signing key.
pub fn challenge(keys: &KeyRing<ForTickets>, ticket_id: &[u8; 16], now: UnixMs) -> Challenge {
    let key = keys.signing();
    let window = window(now);
    let (n, salt) = secret(key, ticket_id, window);
    Challenge {
        salt: hex(&salt),
        target: hex(&hash(&salt, n)),
        most: EFFORT_HIGH,
        window,
        key: key.id(),
    }
}

/// Is `answer` the count of a challenge for `ticket_id` from this window or the one before,
/// under a key the ring still lists? One HMAC; nothing is hashed `n` times.
pub fn verify(
    keys: &KeyRing<ForTickets>,
    ticket_id: &[u8; 16],
    answer: &Answer,
    now: UnixMs,
) -> bool {
    let current = window(now);
    if answer.window != current && answer.window.saturating_add(1) != current {
        return false;
    }
    let Some(key) = keys.get(answer.key) else {
        return false;
    };
    secret(key, ticket_id, answer.window).0 == answer.n
}

/// Solves a challenge by counting, as a browser does (for tests and the simulator).
pub fn solve(challenge: &Challenge) -> Option<Answer> {
    let salt: [u8; 16] = crate::keys::unhex(&challenge.salt)?.try_into().ok()?;
    let target = challenge.target.as_str();
    (0..=challenge.most)
        .find(|n| hex(&hash(&salt, *n)) == target)
        .map(|n| Answer {
            window: challenge.window,
            key: challenge.key,
            n,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::SecretRing;

    const T0: UnixMs = UnixMs(1_700_000_000_000);

    fn ring(hexes: &str) -> KeyRing<ForTickets> {
        SecretRing::parse(hexes)
            .and_then(|r| r.ticket_keys())
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn the_count_found_is_the_gates_and_nothing_else_is() {
        let keys = ring(&format!("1:{}", "ab".repeat(32)));
        let id = [3u8; 16];
        let ch = challenge(&keys, &id, T0);
        assert!((EFFORT_LOW..=EFFORT_HIGH).contains(&ch.most) || ch.most == EFFORT_HIGH);
        let answer = solve(&ch).unwrap_or_else(|| panic!("no count"));
        assert!(
            (EFFORT_LOW..=EFFORT_HIGH).contains(&answer.n),
            "{}",
            answer.n
        );
        assert!(verify(&keys, &id, &answer, T0));
        // Across the window's end, still good; two windows on, not.
        assert!(verify(&keys, &id, &answer, T0.plus_ms(WINDOW_MS)));
        assert!(!verify(&keys, &id, &answer, T0.plus_ms(2 * WINDOW_MS)));
        // Another ticket's, a neighbour count, an unknown key: no.
        assert!(!verify(&keys, &[4; 16], &answer, T0));
        assert!(!verify(
            &keys,
            &id,
            &Answer {
                n: answer.n + 1,
                ..answer
            },
            T0
        ));
        assert!(!verify(&keys, &id, &Answer { key: 9, ..answer }, T0));
        // Another ticket's challenge is another count: effort is per ticket.
        let other = challenge(&keys, &[4; 16], T0);
        assert_ne!(other.salt, ch.salt);
    }

    #[test]
    fn answers_are_read_strictly() {
        assert_eq!(
            Answer::parse(" 283.1.300123 "),
            Some(Answer {
                window: 283,
                key: 1,
                n: 300_123
            })
        );
        for bad in ["", "1.2", "1.2.3.4", "a.1.2", "1.256.2", "1.1.-2"] {
            assert_eq!(Answer::parse(bad), None, "{bad:?}");
        }
    }
}
