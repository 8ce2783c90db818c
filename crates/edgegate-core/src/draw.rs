//! The pre-queue draw, which anyone can check.
//!
//! Everyone who takes a place while an opening is scheduled shares one bucket (the pre-queue
//! lottery, `OrderKey::lottery`), and their order inside it is drawn. A draw the gate makes in
//! secret could be anything; a draw a client can foresee is one it can pick from (mint many
//! tickets, keep the best). So the room commits before the opening and reveals at it:
//!
//! 1. When a pre-queue begins, the coordinator draws a 32-byte **seed** at random and keeps it.
//!    From then on anyone can read its **commitment**, `SHA-256(seed)` in hex, at
//!    `GET /queue/draw`: the seed is fixed before any ticket of the draw is known to anyone but
//!    its holder, and cannot be changed afterwards without the commitment showing it.
//! 2. At the opening the seed is **revealed** there too.
//! 3. A ticket's place in the draw is the first four bytes, big-endian, of
//!    `SHA-256(seed ‖ ticket id)` (`place`): smaller goes first. The holder finds their ticket
//!    id at the same address (`GET /queue/draw` with their ticket cookie), and can check both
//!    the commitment and their place with `edgegate-cli draw` or any SHA-256 tool.
//!
//! Nobody can read their place before the opening (the seed is secret until then, and the
//! ticket's own order is sealed, `token`), and a place can only be had in the draw by a ticket
//! whose holder came back **before** the opening: one first brought back after the seed is out
//! stands in line from the moment it came back, as any later arrival (`Isolate::visit`). So a
//! script that minted many tickets can neither pick the best before the opening (it cannot
//! read them) nor after (those it did not bring back in time are no longer in the draw), and
//! each one it brings back counts against its network's budget (`budget`).
//!
//! The edges hold the seed a little before the opening ([`EDGE_LEAD_MS`]), so each can order
//! the draw the moment the room opens; they never show it, nor any place in the draw, before
//! the opening.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::config::RoomConfig;
use crate::keys::{hex, unhex};
use crate::time::UnixMs;

/// How long before the opening the room hands the seed to its edges (never to anyone else),
/// so every edge can order the draw when the room opens: a sync or two and then some.
pub const EDGE_LEAD_MS: u64 = 10_000;

/// A pre-queue's seed, as the room keeps it: drawn when the pre-queue began (`since`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Seed {
    /// When the pre-queue it orders began (`RoomConfig::prequeue_since`).
    pub since: UnixMs,
    #[serde(with = "hex32")]
    pub bytes: [u8; 32],
}

impl Seed {
    /// `SHA-256(seed)`: what is published before the opening.
    pub fn commitment(&self) -> [u8; 32] {
        Sha256::digest(self.bytes).into()
    }
}

/// A ticket's place in the draw ordered by `seed`: the first four bytes of
/// `SHA-256(seed ‖ ticket id)`, big-endian. Uniform over the bucket, like any other place.
pub fn place(seed: &[u8; 32], ticket_id: &[u8; 16]) -> u32 {
    let mut h = Sha256::new();
    h.update(seed);
    h.update(ticket_id);
    let digest: [u8; 32] = h.finalize().into();
    u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]])
}

/// What an edge is told of the draw: the commitment always, the seed from [`EDGE_LEAD_MS`]
/// before the opening.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DrawView {
    pub since: UnixMs,
    /// Hex of `SHA-256(seed)`.
    pub commitment: String,
    /// Hex of the seed, once the edges may hold it.
    #[serde(default, skip_serializing_if = "crate::wire::omitted")]
    pub seed: Option<String>,
}

impl DrawView {
    /// What the room tells its edges of `seed` at `now` under `config`: nothing if `seed`
    /// orders no pre-queue of this config (a stale one, or none).
    pub fn of(seed: Option<&Seed>, config: &RoomConfig, now: UnixMs) -> Option<DrawView> {
        let seed = seed.filter(|s| config.prequeue_since == Some(s.since))?;
        let handed = !config.before_opening(now.plus_ms(EDGE_LEAD_MS));
        Some(DrawView {
            since: seed.since,
            commitment: hex(&seed.commitment()),
            seed: handed.then(|| hex(&seed.bytes)),
        })
    }

    /// The seed's bytes, if held and well formed.
    pub fn seed_bytes(&self) -> Option<[u8; 32]> {
        unhex(self.seed.as_deref()?)?.try_into().ok()
    }
}

/// What `GET /queue/draw` answers: the commitment before the opening, the seed from it, and
/// the asker's own ticket and place when they hold a ticket of the draw.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Published {
    /// When the pre-queue began and when the room opens (`None`: no draw is scheduled or
    /// kept).
    pub prequeue_since: Option<UnixMs>,
    pub opens_at: Option<UnixMs>,
    pub commitment: Option<String>,
    /// The seed, from the opening on.
    pub seed: Option<String>,
    /// How a place is computed, for whoever checks it.
    pub rule: &'static str,
    /// The asker's ticket, if it is in the draw: its id (hex) and, once the seed is out, its
    /// place.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ticket: Option<TicketInDraw>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct TicketInDraw {
    pub id: String,
    pub place: Option<u32>,
}

/// The rule, as published.
pub const RULE: &str = "commitment = SHA-256(seed); a ticket's place = the first 4 bytes of \
    SHA-256(seed || ticket id), big-endian, smaller first; only tickets brought back before the \
    opening are in the draw";

/// What the public may read of `view` at `now`: the seed only from the opening on.
pub fn publish(
    view: Option<&DrawView>,
    config: &RoomConfig,
    now: UnixMs,
    ticket: Option<[u8; 16]>,
) -> Published {
    let opened = !config.before_opening(now);
    let seed = view.filter(|_| opened).and_then(DrawView::seed_bytes);
    Published {
        prequeue_since: view.map(|v| v.since),
        opens_at: view.and(config.opens_at),
        commitment: view.map(|v| v.commitment.clone()),
        seed: seed.map(|s| hex(&s)),
        rule: RULE,
        ticket: view.zip(ticket).map(|(_, id)| TicketInDraw {
            id: hex(&id),
            place: seed.map(|s| place(&s, &id)),
        }),
    }
}

mod hex32 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::keys::hex(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
        let text = String::deserialize(d)?;
        crate::keys::unhex(&text)
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| serde::de::Error::custom("not 32 bytes of hex"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: UnixMs = UnixMs(1_700_000_000_000);

    fn scheduled(opens_in_ms: u64) -> RoomConfig {
        RoomConfig {
            opens_at: Some(T0.plus_ms(opens_in_ms)),
            prequeue_since: Some(T0),
            ..RoomConfig::default()
        }
    }

    #[test]
    fn the_place_is_sha256_of_seed_and_id() {
        // Checked against a SHA-256 written out independently: sha256(32 × 0x00 ‖ 16 × 0x01).
        let seed = [0u8; 32];
        let id = [1u8; 16];
        let mut h = Sha256::new();
        h.update([0u8; 32]);
        h.update([1u8; 16]);
        let d: [u8; 32] = h.finalize().into();
        assert_eq!(
            place(&seed, &id),
            u32::from_be_bytes([d[0], d[1], d[2], d[3]])
        );
        assert_ne!(place(&seed, &id), place(&seed, &[2; 16]));
        assert_ne!(place(&seed, &id), place(&[9; 32], &id));
    }

    #[test]
    fn the_seed_is_handed_to_edges_just_before_and_published_at_the_opening() {
        let seed = Seed {
            since: T0,
            bytes: [7; 32],
        };
        let config = scheduled(60_000);
        let early = DrawView::of(Some(&seed), &config, T0).unwrap();
        assert_eq!(early.commitment, hex(&Sha256::digest([7u8; 32])));
        assert_eq!(early.seed, None, "a minute before: the commitment only");
        let lead = DrawView::of(Some(&seed), &config, T0.plus_ms(60_000 - EDGE_LEAD_MS)).unwrap();
        assert!(lead.seed.is_some(), "the edges hold it just before");
        // The public sees the seed from the opening only, and the asker's place with it.
        let before = publish(Some(&lead), &config, T0.plus_ms(59_999), Some([3; 16]));
        assert_eq!(
            (
                before.seed.as_deref(),
                before.ticket.as_ref().and_then(|t| t.place)
            ),
            (None, None)
        );
        assert!(before.commitment.is_some());
        let after = publish(Some(&lead), &config, T0.plus_ms(60_000), Some([3; 16]));
        assert_eq!(after.seed, Some(hex(&[7; 32])));
        assert_eq!(
            after.ticket.and_then(|t| t.place),
            Some(place(&[7; 32], &[3; 16]))
        );
        // A seed of an earlier pre-queue orders nothing now.
        let other = RoomConfig {
            prequeue_since: Some(T0.plus_ms(1)),
            ..config
        };
        assert_eq!(DrawView::of(Some(&seed), &other, T0), None);
    }

    #[test]
    fn a_seed_reads_back_from_its_stored_form() {
        let seed = Seed {
            since: T0,
            bytes: [0xab; 32],
        };
        let text = serde_json::to_string(&seed).unwrap();
        assert_eq!(serde_json::from_str::<Seed>(&text).unwrap(), seed);
        assert!(serde_json::from_str::<Seed>(r#"{"since":1,"bytes":"abcd"}"#).is_err());
    }
}
