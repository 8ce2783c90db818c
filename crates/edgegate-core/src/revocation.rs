//! Tickets the operator has withdrawn, and the short reference a citizen reads out for one.
//!
//! A ticket's *ref* is the first 5 bytes of its 128-bit id as 8 Crockford base32 characters,
//! shown `XXXX-XXXX`: short enough to read to a call centre, and with 2^40 values, a chance of
//! about one in ten thousand that any other of a hundred million tickets shares it (the
//! operator who revokes one ref in a crowd that large may turn away one stranger too).
//!
//! The coordinator keeps the refs revoked (the last [`REVOKED_KEEP`]) and a time before which
//! every ticket is revoked, and sends both in every snapshot, so each edge refuses a withdrawn
//! pass within a sync interval or two.

use std::collections::VecDeque;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::ConfigError;
use crate::time::UnixMs;

/// Refs kept revoked; the oldest are forgotten past it. Revocations are a handful per event,
/// and every snapshot carries them (11 bytes each as JSON).
pub const REVOKED_KEEP: usize = 10_000;

/// Crockford's base32 alphabet: no I, L, O or U, so nothing read aloud is ambiguous.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// A ticket's short reference: the first 40 bits of its id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TicketRef(u64);

impl TicketRef {
    /// The ref of the ticket with `id`.
    pub fn of(id: &[u8; 16]) -> TicketRef {
        let [a, b, c, d, e, ..] = *id;
        TicketRef(u64::from_be_bytes([0, 0, 0, a, b, c, d, e]))
    }

    /// Reads a ref as a person types it: 8 characters, with or without the dash, any case;
    /// Crockford's look-alikes (`O` for 0, `I` and `L` for 1) are read as the digit.
    pub fn parse(text: &str) -> Option<TicketRef> {
        let mut bits = 0u64;
        let mut n = 0usize;
        for (i, c) in text.trim().chars().enumerate() {
            if c == '-' && i == 4 {
                continue;
            }
            bits = (bits << 5) | u64::from(digit(c)?);
            n = n.saturating_add(1);
        }
        (n == 8).then_some(TicketRef(bits))
    }

    /// The 8 characters without the dash, as snapshots carry them.
    pub fn compact(self) -> String {
        (0..8u32)
            .rev()
            .map(|i| {
                let d = (self.0 >> (i * 5)) & 31;
                ALPHABET
                    .get(usize::try_from(d).unwrap_or(0))
                    .map_or('0', |b| char::from(*b))
            })
            .collect()
    }
}

impl fmt::Display for TicketRef {
    /// `XXXX-XXXX`, as the waiting page shows it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = self.compact();
        let (head, tail) = text.split_at(4);
        write!(f, "{head}-{tail}")
    }
}

fn digit(c: char) -> Option<u8> {
    let c = match c.to_ascii_uppercase() {
        'O' => '0',
        'I' | 'L' => '1',
        c => c,
    };
    let byte = u8::try_from(c).ok()?;
    ALPHABET
        .iter()
        .position(|a| *a == byte)
        .and_then(|p| u8::try_from(p).ok())
}

/// What the coordinator has revoked, as it stores it: refs in the order revoked.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocations {
    /// Compact refs, oldest first.
    pub refs: VecDeque<String>,
    /// Every ticket issued before this is revoked.
    pub before: Option<UnixMs>,
}

impl Revocations {
    /// Revokes `r`; false if it already was. Past [`REVOKED_KEEP`] the oldest is forgotten.
    pub fn revoke(&mut self, r: TicketRef) -> bool {
        let text = r.compact();
        if self.refs.contains(&text) {
            return false;
        }
        self.refs.push_back(text);
        while self.refs.len() > REVOKED_KEEP {
            self.refs.pop_front();
        }
        true
    }

    /// Revokes every ticket issued before `at`. It only moves later: a revocation is never
    /// undone by a second one naming an earlier time.
    pub fn revoke_before(&mut self, at: UnixMs) {
        self.before = Some(self.before.map_or(at, |b| b.max(at)));
    }

    /// The refs as a snapshot carries them: sorted, for [`is_revoked`]'s binary search.
    pub fn sorted(&self) -> Vec<String> {
        let mut refs: Vec<String> = self.refs.iter().cloned().collect();
        refs.sort_unstable();
        refs
    }
}

/// An operator's revocation, as `POST /admin/revoke` asks for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revoke {
    /// `{"ticket": "XXXX-XXXX"}`: the one ticket with that ref.
    Ticket(TicketRef),
    /// `{"before": unix_ms}`: every ticket issued before then.
    Before(UnixMs),
}

impl Revoke {
    /// Parses the request body at `now`, refusing by field name: a ref that does not read, a
    /// time that is not a whole number of ms or lies in the future (which would turn away
    /// citizens who have not come yet), or neither or both given.
    pub fn from_json(body: &str, now: UnixMs) -> Result<Revoke, ConfigError> {
        let refuse = |field: &str, reason: &str| ConfigError {
            field: field.to_owned(),
            reason: reason.to_owned(),
        };
        let Ok(Value::Object(map)) = serde_json::from_str::<Value>(body) else {
            return Err(refuse("body", "must be a JSON object"));
        };
        if let Some(other) = map.keys().find(|k| *k != "ticket" && *k != "before") {
            return Err(refuse(
                other,
                "is not a revocation field: give ticket or before",
            ));
        }
        match (map.get("ticket"), map.get("before")) {
            (Some(ticket), None) => ticket
                .as_str()
                .and_then(TicketRef::parse)
                .map(Revoke::Ticket)
                .ok_or_else(|| {
                    refuse("ticket", "must be a ticket number as shown, like 7K3M-Q9TX")
                }),
            (None, Some(before)) => match before.as_u64() {
                Some(ms) if ms <= now.0 => Ok(Revoke::Before(UnixMs(ms))),
                Some(_) => Err(refuse("before", "must not be in the future")),
                None => Err(refuse("before", "must be a time in unix milliseconds")),
            },
            (Some(_), Some(_)) => Err(refuse("body", "give ticket or before, not both")),
            (None, None) => Err(refuse("ticket", "give ticket (a ticket number) or before")),
        }
    }
}

/// Is the ticket `id`, issued at `issued_at`, revoked by the `sorted` refs or `before`?
pub fn is_revoked(
    sorted: &[String],
    before: Option<UnixMs>,
    id: &[u8; 16],
    issued_at: UnixMs,
) -> bool {
    before.is_some_and(|b| issued_at < b)
        || sorted.binary_search(&TicketRef::of(id).compact()).is_ok()
}

#[cfg(test)]
mod tests {
    #![allow(clippy::indexing_slicing, clippy::unwrap_used, reason = "test code")]
    use super::*;
    use proptest::prelude::*;

    const ID: [u8; 16] = [
        0xde, 0xad, 0xbe, 0xef, 0x42, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11,
    ];

    #[test]
    fn a_ref_reads_back_with_or_without_the_dash_in_any_case() {
        let r = TicketRef::of(&ID);
        let shown = r.to_string();
        assert_eq!(shown.len(), 9);
        assert_eq!(shown.chars().nth(4), Some('-'));
        assert_eq!(TicketRef::parse(&shown), Some(r));
        assert_eq!(TicketRef::parse(&r.compact().to_lowercase()), Some(r));
        assert_eq!(TicketRef::parse(&format!("  {shown} ")), Some(r));
    }

    #[test]
    fn look_alikes_are_read_as_digits_and_anything_else_is_refused() {
        assert_eq!(TicketRef::parse("0O1I-L000"), TicketRef::parse("0011-1000"));
        for bad in [
            "",
            "ABCD-EFG",
            "ABCD-EFGHJ",
            "ABCDU-FGH",
            "AB-CDEFGH",
            "ABCD--EFGH",
        ] {
            assert_eq!(TicketRef::parse(bad), None, "{bad}");
        }
    }

    proptest! {
        #[test]
        fn every_ref_round_trips(id in any::<[u8; 16]>()) {
            let r = TicketRef::of(&id);
            prop_assert_eq!(TicketRef::parse(&r.to_string()), Some(r));
            prop_assert_eq!(TicketRef::parse(&r.compact()), Some(r));
        }
    }

    #[test]
    fn revoked_by_ref_or_by_issue_time() {
        let mut revoked = Revocations::default();
        assert!(revoked.revoke(TicketRef::of(&ID)));
        assert!(!revoked.revoke(TicketRef::of(&ID)));
        let t = UnixMs(1_700_000_000_000);
        assert!(is_revoked(&revoked.sorted(), None, &ID, t));
        assert!(!is_revoked(&revoked.sorted(), None, &[0; 16], t));
        revoked.revoke_before(t);
        revoked.revoke_before(t.minus_ms(1));
        assert_eq!(revoked.before, Some(t));
        assert!(is_revoked(&[], revoked.before, &[0; 16], t.minus_ms(1)));
        assert!(!is_revoked(&[], revoked.before, &[0; 16], t));
    }

    #[test]
    fn revocation_requests_are_read_or_refused_by_field() {
        let now = UnixMs(1_700_000_000_000);
        let r = TicketRef::of(&ID);
        let body = format!(r#"{{"ticket": "{}"}}"#, r.compact().to_lowercase());
        assert_eq!(Revoke::from_json(&body, now), Ok(Revoke::Ticket(r)));
        assert_eq!(
            Revoke::from_json(r#"{"before": 1700000000000}"#, now),
            Ok(Revoke::Before(now))
        );
        for (body, field) in [
            (r#"{"ticket": "nope"}"#, "ticket"),
            (r#"{"ticket": 5}"#, "ticket"),
            (r#"{"before": 1700000000001}"#, "before"),
            (r#"{"before": "today"}"#, "before"),
            (r#"{"ticket": "0000-0000", "before": 1}"#, "body"),
            (r#"{}"#, "ticket"),
            (r#"{"who": "me"}"#, "who"),
            ("[]", "body"),
        ] {
            assert_eq!(
                Revoke::from_json(body, now).unwrap_err().field,
                field,
                "{body}"
            );
        }
    }

    #[test]
    fn only_the_latest_refs_are_kept() {
        let mut revoked = Revocations::default();
        for n in 0..=REVOKED_KEEP as u64 {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&(n << 24).to_be_bytes());
            revoked.revoke(TicketRef::of(&id));
        }
        assert_eq!(revoked.refs.len(), REVOKED_KEEP);
        let second = [0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
        assert_eq!(
            revoked.refs.front(),
            Some(&TicketRef::of(&second).compact())
        );
    }
}
