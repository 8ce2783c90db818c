//! The sync's binary form (`wire`): both messages come back as sent, JSON keeps leaving empty
//! fields out, the form is the one its version names, and no bytes make the reader panic or
//! misread.

use edgegate_core::config::{Autopilot, Notice as Words};
use edgegate_core::draw::DrawView;
use edgegate_core::origin::OriginCounts;
use edgegate_core::summary::Summary;
use edgegate_core::sync::{Earliest, Notice, NoticeKind, NoticesDelta, RoomSnapshot, SyncReport};
use edgegate_core::wire::{decode, encode, form_of, Form, VERSION};
use edgegate_core::{Cursor, RoomConfig, UnixMs};
use proptest::prelude::*;
use sha2::{Digest, Sha256};

/// A batch with every field set.
fn full_report() -> SyncReport {
    SyncReport {
        isolate: "loc:icn".into(),
        seq: 41,
        places: vec![(1_700_000_000, 3, 2), (1_700_000_001, 0, -1)],
        let_through: vec![(1_700_000_000, 5)],
        ended: vec![(1_700_000_000, 1)],
        refused: 7,
        waiting: 9,
        front: 40,
        earliest: Earliest {
            second: 1_700_000_000,
            citizens: 3 << 16,
        },
        early: true,
        isolates: 3,
        origin: OriginCounts {
            requests: 12,
            errors_5xx: 1,
            timeouts: 1,
            latency: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
            retry_after_s: 30,
            slots: Some((UnixMs(1_700_000_000_500), 88)),
        },
        epoch: 77,
        known_cursor: Some(Cursor(123_456)),
        ended_ids: vec![u64::MAX, 1],
        moves: vec![(5, 6)],
        net_places: vec![(9, 10, -3)],
        notices_at: 4,
        work_asked: 2,
        work_shown: 1,
        sent_at: UnixMs(1_700_000_002_000),
        share_at: UnixMs(1_700_000_001_000),
        after_lease_per_mille: 100,
    }
}

/// An answer with every field set.
fn full_snapshot() -> RoomSnapshot {
    let config = RoomConfig {
        opens_at: Some(UnixMs(1_700_000_100_000)),
        prequeue_since: Some(UnixMs(1_699_999_000_000)),
        close_message: Some(Words {
            ko: "잠시 후".into(),
            en: "Later".into(),
        }),
        autopilot: Some(Autopilot {
            floor_per_minute: 60,
            ceiling_per_minute: 6_000,
            target_p95_ms: 800,
            max_errors_per_mille: 10,
        }),
        slots_remaining: Some(500),
        next_release_at: Some(UnixMs(1_700_000_200_000)),
        ..RoomConfig::default()
    };
    RoomSnapshot {
        config,
        cursor: Cursor(99),
        arrivals: Summary::from_counts([(1_700_000_000, 4), (1_700_000_003, 2)], 1_700_000_000),
        share_ppm: 250_000,
        acked: 41,
        at: UnixMs(1_700_000_002_100),
        settle_ms: 9_000,
        age_ms: 300,
        revoked: vec!["abc".into()],
        revoked_before: Some(UnixMs(1_699_000_000_000)),
        through_per_minute: Some(5_400),
        arrivals_per_minute: Some(90_000),
        epoch: 77,
        notices: Some(NoticesDelta {
            to: 5,
            reset: true,
            set: vec![Notice {
                kind: NoticeKind::Moved,
                key: 3,
                value: 4,
                until: UnixMs(1_700_003_600_000),
            }],
            dropped: vec![(NoticeKind::Full, 8)],
        }),
        draw: Some(DrawView {
            since: UnixMs(1_699_999_000_000),
            commitment: "00ff".into(),
            seed: Some("ff00".into()),
        }),
        lease_from: UnixMs(1_700_000_002_000),
        granted_at: UnixMs(1_700_000_002_050),
        lease_ms: 10_000,
        slots_left: Some(400),
    }
}

/// The same answer with every field that may be empty empty.
fn bare_snapshot() -> RoomSnapshot {
    RoomSnapshot {
        config: RoomConfig::default(),
        cursor: Cursor(0),
        arrivals: Summary::default(),
        share_ppm: 0,
        acked: 0,
        at: UnixMs(0),
        settle_ms: 0,
        age_ms: 0,
        revoked: Vec::new(),
        revoked_before: None,
        through_per_minute: None,
        arrivals_per_minute: None,
        epoch: 0,
        notices: Some(NoticesDelta::default()),
        draw: None,
        lease_from: UnixMs(0),
        granted_at: UnixMs(0),
        lease_ms: 0,
        slots_left: None,
    }
}

#[test]
fn both_messages_come_back_as_sent_full_or_empty() {
    for report in [full_report(), SyncReport::default()] {
        assert_eq!(decode::<SyncReport>(&encode(&report)), Ok(report));
    }
    for snapshot in [full_snapshot(), bare_snapshot()] {
        assert_eq!(decode::<RoomSnapshot>(&encode(&snapshot)), Ok(snapshot));
    }
}

#[test]
fn json_still_leaves_empty_fields_out_after_a_binary_encoding() {
    encode(&full_snapshot());
    let json = serde_json::to_string(&bare_snapshot()).unwrap();
    for absent in [
        "revoked",
        "draw",
        "slots_left",
        "epoch",
        "autopilot",
        "reset",
    ] {
        assert!(!json.contains(absent), "{absent} in {json}");
    }
    let json = serde_json::to_string(&SyncReport::default()).unwrap();
    for absent in ["origin", "known_cursor", "ended_ids", "work_asked"] {
        assert!(!json.contains(absent), "{absent} in {json}");
    }
}

/// The binary form of this build, fixed: a change to any type a batch or an answer carries
/// changes these digests. Then bump `VERSION` (an aggregator of the old form refuses the new
/// one instead of misreading it) and put the new digests here.
#[test]
fn the_binary_form_is_the_one_its_version_names() {
    let digest = |bytes: Vec<u8>| {
        Sha256::digest(bytes)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    };
    assert_eq!(
        (
            VERSION,
            digest(encode(&full_report())),
            digest(encode(&full_snapshot()))
        ),
        (
            3,
            "0ef460805140cc40930ea2ad2f37a0fa2039e19082a3452bcdec3c25ac79c46a".to_owned(),
            "67e9a7add997ae679008a30b110c728ed4d63ed2c08f73d31e52c61bbc5774e6".to_owned()
        ),
        "the binary sync changed: bump wire::VERSION and update these digests"
    );
}

#[test]
fn a_cut_short_or_padded_message_is_refused() {
    let bytes = encode(&full_snapshot());
    for end in 0..bytes.len() {
        assert!(
            decode::<RoomSnapshot>(&bytes[..end]).is_err(),
            "{end} bytes"
        );
    }
    let mut padded = bytes.clone();
    padded.push(0);
    assert!(decode::<RoomSnapshot>(&padded).is_err());
    let report = encode(&full_report());
    for end in 0..report.len() {
        assert!(decode::<SyncReport>(&report[..end]).is_err(), "{end} bytes");
    }
}

#[test]
fn a_request_names_its_form_and_a_version_not_spoken_is_refused() {
    assert_eq!(form_of(None), Ok(Form::Json));
    assert_eq!(form_of(Some(&VERSION.to_string())), Ok(Form::Binary));
    assert_eq!(form_of(Some(&format!(" {VERSION} "))), Ok(Form::Binary));
    let next = (VERSION + 1).to_string();
    for other in [next.as_str(), "0", "", "01x", "v1", "1,1"] {
        assert!(form_of(Some(other)).is_err(), "{other:?}");
    }
    let long = "9".repeat(10_000);
    assert!(form_of(Some(&long)).unwrap_err().len() < 100);
}

proptest! {
    /// Whatever arrives, decoding answers, and never with a value that encodes otherwise.
    #[test]
    fn any_bytes_decode_to_an_error_or_to_themselves(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 0..8),
    ) {
        let mut snapshot = encode(&full_snapshot());
        for (at, byte) in &flips {
            let i = at.index(snapshot.len());
            snapshot[i] = *byte;
        }
        for candidate in [&bytes, &snapshot] {
            if let Ok(value) = decode::<RoomSnapshot>(candidate) {
                prop_assert_eq!(decode::<RoomSnapshot>(&encode(&value)), Ok(value));
            }
            if let Ok(value) = decode::<SyncReport>(candidate) {
                prop_assert_eq!(decode::<SyncReport>(&encode(&value)), Ok(value));
            }
        }
    }
}
