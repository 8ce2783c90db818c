//! Stored records (`room::decode`), as the coordinator and the aggregators read them back
//! after a restart: any text in any record's place. What reads back re-encodes to itself; a
//! room with an unreadable record comes back paused and says why (it fails closed), and either
//! way the receivers restored from it still take batches and answer.
#![no_main]

use edgegate_core::aggregate::Aggregator;
use edgegate_core::history::Minute;
use edgegate_core::ledger::Ledger;
use edgegate_core::outbox::{Counts, Outbox};
use edgegate_core::release::ReleaseState;
use edgegate_core::revocation::Revocations;
use edgegate_core::room::{decode, encode, Restored, Room, Totals};
use edgegate_core::sync::{settle_ms, SyncReport};
use edgegate_core::{RoomConfig, UnixMs};
use edgegate_fuzz::{Hierarchy, T0, TIMING};
use libfuzzer_sys::fuzz_target;
use serde::de::DeserializeOwned;
use serde::Serialize;

/// Reads `text` as a `T`; what reads back is stored again as the same text would read.
fn read<T: DeserializeOwned + Serialize + PartialEq + std::fmt::Debug>(
    text: &str,
) -> Result<T, String> {
    let value = decode::<T>(text);
    if let Ok(v) = &value {
        assert_eq!(decode::<T>(&encode(v)).as_ref(), Ok(v), "{text:?}");
    }
    value
}

fuzz_target!(|text: &str| {
    for which in 0..7 {
        restore(text, which, T0);
    }
});

/// The coordinator restored with `text` as its record `which`, and the aggregator with it as
/// its own records, at `now`; then both must still take batches and answer.
fn restore(text: &str, which: u8, now: UnixMs) {
    // The coordinator's records, one of them this text (the others as they were stored).
    let mut stored = Restored::default();
    match which % 7 {
        0 => stored.config = Some(read::<RoomConfig>(text)),
        1 => stored.release = Some(read::<ReleaseState>(text)),
        2 => stored.ledger = Some(read::<Ledger>(text)),
        3 => stored.totals = Some(read::<Totals>(text)),
        4 => stored.revocations = Some(read::<Revocations>(text)),
        5 => stored.minute = read::<Minute>(text).ok(),
        _ => stored.epoch = read::<u64>(text).ok(),
    }
    let unreadable = [
        stored.config.as_ref().map(Result::is_err),
        stored.release.as_ref().map(Result::is_err),
        stored.ledger.as_ref().map(Result::is_err),
        stored.totals.as_ref().map(Result::is_err),
        stored.revocations.as_ref().map(Result::is_err),
    ]
    .contains(&Some(true));
    let settle = settle_ms(TIMING.sync_interval_ms, TIMING.sync_timeout_ms);
    let room = Room::restore(stored, now, settle);
    if unreadable {
        assert!(room.config.paused && room.problem.is_some(), "fails closed");
    }
    let mut world = Hierarchy::new(now);
    world.room = room;

    // The aggregator's: its batch in flight and its numbering.
    if let Ok(pending) = read::<Option<SyncReport>>(text) {
        let next_seq = read::<u64>(text).unwrap_or(1);
        let outbox = Outbox::restore(Counts::default(), pending, next_seq);
        world.aggregator = Aggregator::restore(
            "ICN",
            (
                TIMING.sync_interval_ms,
                TIMING.sync_timeout_ms,
                TIMING.fail_static_per_mille,
            ),
            Vec::new(),
            outbox,
            None,
        );
    }
    let _ = read::<Vec<(String, u64)>>(text); // the console's ended sessions
    let _ = read::<Option<String>>(text); // the problem

    world.sync(now);
    world.assert_not_wedged(now.plus_ms(1_000));
}
