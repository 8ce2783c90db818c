//! Sync messages as the wire carries them: JSON text, one message a line, read as a batch
//! (`SyncReport`, what the aggregator's and the coordinator's `POST /sync` read) or else as an
//! answer (`RoomSnapshot`, what an isolate and an aggregator read back), and handed to the
//! receivers between honest rounds of syncs. Whatever the text, no receiver panics, and each
//! still serves honest senders afterwards (`Hierarchy::assert_not_wedged`).
#![no_main]

use edgegate_core::sync::{RoomSnapshot, SyncReport};
use edgegate_fuzz::{Hierarchy, T0};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|text: &str| {
    let mut now = T0;
    let mut world = Hierarchy::new(now);
    world.sync(now);
    for (i, line) in text.lines().take(16).enumerate() {
        now = now.plus_ms(250);
        if let Ok(batch) = serde_json::from_str::<SyncReport>(line) {
            // Even lines to the room (as a location's batch), odd ones to the aggregator.
            if i % 2 == 0 {
                world.room.sync(&batch, now);
            } else {
                world.aggregator.on_sync(&batch, now);
            }
        } else if let Ok(answer) = serde_json::from_str::<RoomSnapshot>(line) {
            if i % 2 == 0 {
                let seq = world
                    .isolate
                    .begin_sync(now)
                    .map_or(answer.acked, |b| b.seq);
                world.isolate.finish_sync(seq, Some(answer), now);
            } else {
                let seq = world
                    .aggregator
                    .upstream(now)
                    .map_or(answer.acked, |u| u.batch.seq);
                world.aggregator.finish_sync(seq, Some(answer), now);
            }
        }
        world.sync(now);
    }
    world.assert_not_wedged(now.plus_ms(1_000));
});
